/* ripp - the RIPP command-line client: places calls and reads trunk capabilities. */
#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "ripp/callmedia.h"
#include "ripp/driver.h"
#include "ripp/io.h"
#include "ripp/stir.h"
#include "ripp/transport.h"

static const char usage_main[] =
    "usage: ripp call --trunk URL --token T --to NUMBER [options]\n"
    "       ripp caps --trunk URL --token T [--ca FILE]\n"
    "       ripp trunk provision|refresh|list|delete ...\n"
    "       ripp admin drain --url https://HOST:PORT --token T [--migrate-to AUTHORITY]\n"
    "       ripp help [call|caps]\n"
    "\n"
    "A RIPP client over HTTP/3 or HTTP/2 (TLS 1.3). Run 'ripp help call' for the call options.\n";

static const char usage_call[] =
    "usage: ripp call --trunk URL --token T --to NUMBER [options]\n"
    "\n"
    "Places a call, prints every event as a JSON line as it happens, and on exit prints\n"
    "one JSON summary line. Exits 0 only when the call was answered and ended normally.\n"
    "\n"
    "  --trunk URL           the trunk URI, https://host:port/trunks/ID\n"
    "  --token T             bearer token of the trunk (or env RIPP_TOKEN)\n"
    "  --to NUMBER           the number called: digits (E.164 without '+', or with it) become\n"
    "                        NUMBER@e164.arpa; user@domain is used as it is\n"
    "  --from NUMBER         the calling number signed into the PASSporT (default 0)\n"
    "  --identity-key FILE   PEM private key (P-256) that signs the PASSporT\n"
    "                        (or env RIPP_IDENTITY_KEY); required\n"
    "  --sti-cert FILE       STI certificate (PEM, with TNAuthList) of --identity-key: signs a\n"
    "                        SHAKEN PASSporT that verifiers check against it at --x5u\n"
    "  --attest A|B|C        SHAKEN attestation with --sti-cert (default A)\n"
    "  --x5u URL             certificate URL put in the PASSporT\n"
    "                        (default https://<trunk host>/stir/cert.pem)\n"
    "  --play WAV            audio to send (8 kHz, or 16/24/32/48 kHz, mono or stereo);\n"
    "                        default: silence (comfort noise)\n"
    "  --record WAV          write the received audio to WAV (8 kHz mono)\n"
    "  --duration S          end the call S seconds after it is answered (default 10)\n"
    "  --dtmf DIGITS         send these DTMF digits (0-9*#A-D) once the call is answered\n"
    "  --codec C             pcmu (default), pcma or opus\n"
    "  --ring-timeout S      cancel the call if it is not answered within S seconds\n"
    "                        (default 60)\n"
    "  --ca FILE             trust this certificate (PEM) for the server\n"
    "  --transport T         h2, h3 or auto (default): auto starts on HTTP/2 and moves to\n"
    "                        HTTP/3 when the server advertises it (Alt-Svc) and it answers\n"
    "  --quiet               do not print events, only the summary\n"
    "  --log-level LEVEL     error, warn (default), info or debug (to stderr)\n";

static const char usage_caps[] =
    "usage: ripp caps --trunk URL --token T [--ca FILE] [--transport h2|h3|auto]\n"
    "\n"
    "Prints the trunk's capability document (GET {trunk}/capAdv) as JSON.\n";

typedef struct cli {
    const char *trunk, *token, *to, *from, *identity_key, *x5u, *play, *record, *dtmf, *ca;
    const char *sti_cert, *attest;
    double duration, ring_timeout;
    enum ripp_codec codec;
    bool quiet;
    int log_level;
    ripp_transport transport;
    /* run time */
    uv_loop_t *loop;
    ripp_http_client *http;
    ripp_ep *ep;
    ripp_driver driver;
    ripp_ep_call *call;
    ripp_callmedia *media;
    ripp_caps caps;
    ripp_ts placed_at, answered_at;
    bool ending, finished;
    int exit_status;
    char target[300];
    /* capAdv */
    int caps_status;
    char caps_body[65536];
    size_t caps_len;
    bool caps_done;
    uv_signal_t sigint, sigterm;
} cli;

static cli g;

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "ripp: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

/* ---- capAdv ---- */

static void caps_on_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)x;
    (void)h;
    (void)n;
    ((cli *)ud)->caps_status = status;
}

static void caps_on_data(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    cli *c = ud;
    (void)x;
    if (c->caps_len + len < sizeof c->caps_body) {
        memcpy(c->caps_body + c->caps_len, data, len);
        c->caps_len += len;
        c->caps_body[c->caps_len] = 0;
    }
}

static void caps_on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    cli *c = ud;
    (void)x;
    (void)error;
    (void)code;
    c->caps_done = true;
    uv_stop(c->loop);
}

static const ripp_xchg_cbs caps_cbs = {
    .on_response = caps_on_response, .on_data = caps_on_data, .on_close = caps_on_close};

/* GET capAdv; returns 0 with the body in g.caps_body, or 1 after printing the error. */
static int fetch_caps(void)
{
    char url[2048], auth[1200];
    snprintf(url, sizeof url, "%s/capAdv", g.trunk);
    snprintf(auth, sizeof auth, "Bearer %s", g.token);
    ripp_hdr h[] = {{"authorization", auth}, {"accept", "application/json"}};
    int err = 0;
    if (!ripp_http_client_request(g.http, "GET", url, h, 2, true, &caps_cbs, &g, &err))
        return fail("cannot request the capabilities: %s", ripp_strerror(err));
    uv_run(g.loop, UV_RUN_DEFAULT);
    if (g.caps_status == 0)
        return fail("no answer from %s (connection or TLS failure; see --ca)", g.trunk);
    if (g.caps_status != 200) {
        fprintf(stderr, "ripp: capAdv answered %d: %s\n", g.caps_status, g.caps_body);
        return 1;
    }
    return 0;
}

/* ---- the call ---- */

static void print_summary(void)
{
    const ripp_call *f = ripp_ep_call_fsm(g.call);
    const ripp_stats *s = ripp_ep_call_stats(g.call);
    char stats[1024];
    ripp_stats_format_json(s, stats, sizeof stats);
    json_t *o = json_object();
    json_object_set_new(o, "call", json_string(ripp_ep_call_uri(g.call)));
    json_object_set_new(o, "state", json_string(ripp_call_state_name(f->state)));
    json_object_set_new(o, "outcome", json_string(ripp_call_outcome_name(f->outcome)));
    json_object_set_new(o, "answered", json_boolean(f->answered));
    if (f->end_code && (f->outcome == RIPP_OUTCOME_FAILED || f->outcome == RIPP_OUTCOME_REJECTED))
        json_object_set_new(o, "code", json_integer(f->end_code));
    char detail[512];
    int st = ripp_ep_call_setup_status(g.call, detail, sizeof detail);
    if (st) {
        json_object_set_new(o, "http_status", json_integer(st));
        json_object_set_new(o, "detail", json_string(detail));
    }
    json_object_set_new(o, "codec", json_string(ripp_codec_name(g.codec)));
    json_object_set_new(o, "transport", json_string(ripp_transport_client_kind(g.http)));
    double talk = g.answered_at ? (double)(ripp_io_now() - g.answered_at) / 1e9 : 0;
    json_object_set_new(o, "talk_s", json_real(talk));
    json_t *js = json_loads(stats, 0, NULL);
    if (js) json_object_update(o, js);
    json_decref(js);
    if (g.media)
        json_object_set_new(o, "dtmf_received", json_string(ripp_callmedia_digits(g.media)));
    if (g.record) json_object_set_new(o, "recording", json_string(g.record));
    char *str = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    printf("%s\n", str);
    fflush(stdout);
    free(str);
    json_decref(o);
}

static void end_call(const char *why)
{
    if (g.ending || !g.call) return;
    g.ending = true;
    ripp_log(RIPP_LOG_INFO, "ending the call: %s", why);
    ripp_ep_call_end(g.call, NULL, ripp_io_now());
    ripp_driver_kick(&g.driver);
}

static void on_event(void *ud, ripp_ep_call *c, const ripp_event *ev, bool local)
{
    (void)ud;
    if (ev->type == RIPP_EV_ACCEPTED && !g.answered_at) {
        g.answered_at = ripp_io_now();
        if (g.dtmf && g.media) ripp_callmedia_dtmf(g.media, g.dtmf);
    }
    if (g.quiet) return;
    char buf[4096];
    if (ripp_event_encode(ev, buf, sizeof buf) > 0) printf("%s\n", buf);
    fflush(stdout);
    (void)c;
    (void)local;
}

static void on_tick(void *ud, ripp_ep_call *c, ripp_ts now)
{
    (void)ud;
    (void)c;
    if (g.answered_at && now >= g.answered_at + (ripp_ts)(g.duration * 1e9))
        end_call("duration reached");
    else if (!g.answered_at && now >= g.placed_at + (ripp_ts)(g.ring_timeout * 1e9))
        end_call("not answered within the ring timeout");
}

static int64_t next_frame(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                          size_t cap)
{
    (void)ud;
    return ripp_callmedia_next_frame(g.media, ripp_ep_call_rx_codec(c), codec, buf, cap);
}

static void on_playout(void *ud, ripp_ep_call *c, const ripp_jbuf_out *out)
{
    (void)ud;
    (void)c;
    ripp_callmedia_playout(g.media, out);
}

static void on_done(void *ud, ripp_ep_call *c)
{
    (void)ud;
    const ripp_call *f = ripp_ep_call_fsm(c);
    g.exit_status = f->answered && (f->outcome == RIPP_OUTCOME_ENDED_LOCAL ||
                                    f->outcome == RIPP_OUTCOME_ENDED_REMOTE)
                        ? 0
                        : 1;
    char detail[512];
    int st = ripp_ep_call_setup_status(c, detail, sizeof detail);
    if (st) fprintf(stderr, "ripp: call refused: %d %s\n", st, detail);
    print_summary();
    ripp_callmedia_del(g.media); /* finishes the recording */
    g.media = NULL;
    g.finished = true;
    uv_stop(g.loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    if (g.call)
        end_call("interrupted");
    else
        uv_stop(g.loop);
}

static const ripp_ep_hooks hooks = {
    .on_event = on_event,
    .next_frame = next_frame,
    .on_playout = on_playout,
    .on_tick = on_tick,
    .on_done = on_done,
};

static int make_target(const char *to, char *out, size_t cap)
{
    if (strchr(to, '@')) {
        snprintf(out, cap, "%s", to);
        return 0;
    }
    const char *p = to[0] == '+' ? to + 1 : to;
    if (!*p || strlen(p) > 20) return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return -1;
    snprintf(out, cap, "%s@e164.arpa", p);
    return 0;
}

static int sign_cb(void *ud, const uint8_t *data, size_t len, uint8_t sig[64])
{
    return ripp_es256_sign(ud, data, len, sig);
}

/* A SHAKEN PASSporT signed with an STI certificate's key (SPEC §6.4). */
static int make_shaken(char *out, size_t cap, const char *x5u)
{
    char err[256] = "";
    int rv = 0;
    ripp_stir_signer *s = ripp_stir_signer_new(g.sti_cert, g.identity_key, x5u, &rv, err, sizeof err);
    if (!s) return fail("--sti-cert: %s", err);
    char orig[64], dest[64];
    snprintf(orig, sizeof orig, "%s", g.from[0] == '+' ? g.from + 1 : g.from);
    snprintf(dest, sizeof dest, "%.*s", (int)strcspn(g.target, "@"), g.target);
    ripp_stir_claims c = {.orig_tn = orig, .dest_tn = dest, .attest = g.attest ? g.attest : "A"};
    int64_t n = ripp_stir_sign(s, &c, out, cap);
    ripp_stir_signer_del(s);
    if (n < 0)
        return fail("cannot sign the PASSporT: %s",
                    n == RIPP_ERR_AUTH ? "the certificate's TNAuthList does not cover --from"
                                       : ripp_strerror((int)n));
    return 0;
}

static int make_identity(char *out, size_t cap)
{
    char err[256] = "";
    int rv = 0;
    if (g.sti_cert) {
        char x5u[512];
        const char *h = strstr(g.trunk, "://");
        h = h ? h + 3 : g.trunk;
        snprintf(x5u, sizeof x5u, "https://%.*s/stir/cert.pem", (int)strcspn(h, "/"), h);
        return make_shaken(out, cap, g.x5u ? g.x5u : x5u);
    }
    ripp_es256_key *key = ripp_es256_load(g.identity_key, &rv, err, sizeof err);
    if (!key) return fail("identity key: %s", err);
    ripp_passport pp;
    memset(&pp, 0, sizeof pp);
    snprintf(pp.orig_tn, sizeof pp.orig_tn, "%s", g.from[0] == '+' ? g.from + 1 : g.from);
    snprintf(pp.dest_tn, sizeof pp.dest_tn, "%.*s", (int)strcspn(g.target, "@"), g.target);
    pp.iat = (int64_t)(ripp_io_wall_us() / 1000000);
    if (g.x5u) {
        snprintf(pp.x5u, sizeof pp.x5u, "%s", g.x5u);
    } else {
        const char *h = strstr(g.trunk, "://");
        h = h ? h + 3 : g.trunk;
        snprintf(pp.x5u, sizeof pp.x5u, "https://%.*s/stir/cert.pem", (int)strcspn(h, "/"), h);
    }
    int64_t n = ripp_passport_sign(&pp, sign_cb, key, out, cap);
    ripp_es256_free(key);
    if (n < 0) return fail("cannot sign the PASSporT: %s", ripp_strerror((int)n));
    return 0;
}

static int run_call(void)
{
    char identity[RIPP_IDENTITY_MAX];
    if (make_identity(identity, sizeof identity)) return 1;
    if (fetch_caps()) return 1;
    ripp_caps_init_default(&g.caps);
    ripp_caps_parse(&g.caps, g.caps_body, g.caps_len, NULL);
    if (!ripp_caps_accepts(&g.caps, g.codec))
        return fail("the trunk does not accept %s (see 'ripp caps'); choose another --codec",
                    ripp_codec_name(g.codec));
    char err[512] = "";
    int rv = 0;
    ripp_callmedia_config mc = {
        .codec = g.codec, .peer_caps = g.caps, .play_path = g.play, .record_path = g.record};
    g.media = ripp_callmedia_new(&mc, &rv, err, sizeof err);
    if (!g.media) return fail("media: %s", err);
    if (g.dtmf) {
        for (const char *p = g.dtmf; *p; p++)
            if (ripp_dtmf_event_from_char(*p) < 0)
                return fail("--dtmf: not a DTMF digit string: %s", g.dtmf);
    }
    ripp_ep_config ec = {.role = RIPP_ROLE_CLIENT, .env = ripp_io_env(), .http = g.http};
    g.ep = ripp_ep_new(&ec, &hooks, &g, &rv);
    if (!g.ep) return fail("engine: %s", ripp_strerror(rv));
    ripp_driver_init(&g.driver, g.loop, g.ep);
    ripp_place_opts po = {
        .trunk_url = g.trunk, .token = g.token, .target = g.target, .identity = identity};
    g.placed_at = ripp_io_now();
    g.call = ripp_ep_call_place(g.ep, &po, g.placed_at, &rv);
    if (!g.call) return fail("cannot place the call: %s", ripp_strerror(rv));
    uv_signal_init(g.loop, &g.sigint);
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    ripp_driver_kick(&g.driver);
    uv_run(g.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&g.sigint, NULL);
    uv_close((uv_handle_t *)&g.sigterm, NULL);
    ripp_driver_close(&g.driver);
    return g.finished ? g.exit_status : 1;
}

static enum ripp_codec parse_codec(const char *s)
{
    if (strcasecmp(s, "pcmu") == 0) return RIPP_CODEC_PCMU;
    if (strcasecmp(s, "pcma") == 0) return RIPP_CODEC_PCMA;
    if (strcasecmp(s, "opus") == 0) return RIPP_CODEC_OPUS;
    return RIPP_CODEC_NONE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        const char *topic = argc > 2 ? argv[2] : "";
        fputs(strcmp(topic, "call") == 0   ? usage_call
              : strcmp(topic, "caps") == 0 ? usage_caps
                                           : usage_main,
              stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("ripp 0.1.0\n");
        return 0;
    }
    if (strcmp(cmd, "trunk") == 0) return ripp_cmd_trunk(argc - 1, argv + 1);
    if (strcmp(cmd, "admin") == 0) return ripp_cmd_admin(argc - 1, argv + 1);
    bool is_call = strcmp(cmd, "call") == 0, is_caps = strcmp(cmd, "caps") == 0;
    if (!is_call && !is_caps) {
        fprintf(stderr, "ripp: unknown command '%s'\n%s", cmd, usage_main);
        return 2;
    }
    g.from = "0";
    g.duration = 10;
    g.ring_timeout = 60;
    g.codec = RIPP_CODEC_PCMU;
    g.transport = RIPP_TRANSPORT_AUTO;
    g.log_level = RIPP_LOG_WARN;
    g.token = getenv("RIPP_TOKEN");
    g.identity_key = getenv("RIPP_IDENTITY_KEY");
    static const struct option longopts[] = {{"trunk", required_argument, 0, 't'},
                                             {"token", required_argument, 0, 'T'},
                                             {"to", required_argument, 0, 'o'},
                                             {"from", required_argument, 0, 'f'},
                                             {"identity-key", required_argument, 0, 'i'},
                                             {"x5u", required_argument, 0, 'x'},
                                             {"sti-cert", required_argument, 0, 'C'},
                                             {"attest", required_argument, 0, 'A'},
                                             {"play", required_argument, 0, 'p'},
                                             {"record", required_argument, 0, 'r'},
                                             {"duration", required_argument, 0, 'd'},
                                             {"dtmf", required_argument, 0, 'D'},
                                             {"codec", required_argument, 0, 'c'},
                                             {"ring-timeout", required_argument, 0, 'R'},
                                             {"ca", required_argument, 0, 'a'},
                                             {"quiet", no_argument, 0, 'q'},
                                             {"transport", required_argument, 0, 'X'},
                                             {"log-level", required_argument, 0, 'L'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int ch;
    char *end;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            g.trunk = optarg;
            break;
        case 'T':
            g.token = optarg;
            break;
        case 'o':
            g.to = optarg;
            break;
        case 'f':
            g.from = optarg;
            break;
        case 'i':
            g.identity_key = optarg;
            break;
        case 'x':
            g.x5u = optarg;
            break;
        case 'C':
            g.sti_cert = optarg;
            break;
        case 'A':
            if (strcmp(optarg, "A") && strcmp(optarg, "B") && strcmp(optarg, "C"))
                return fail("--attest: A, B or C, not %s", optarg);
            g.attest = optarg;
            break;
        case 'p':
            g.play = optarg;
            break;
        case 'r':
            g.record = optarg;
            break;
        case 'd':
            g.duration = strtod(optarg, &end);
            if (*end || g.duration <= 0) return fail("--duration: seconds > 0, not %s", optarg);
            break;
        case 'D':
            g.dtmf = optarg;
            break;
        case 'c':
            g.codec = parse_codec(optarg);
            if (g.codec == RIPP_CODEC_NONE)
                return fail("--codec: pcmu, pcma or opus, not %s", optarg);
            break;
        case 'R':
            g.ring_timeout = strtod(optarg, &end);
            if (*end || g.ring_timeout <= 0)
                return fail("--ring-timeout: seconds > 0, not %s", optarg);
            break;
        case 'a':
            g.ca = optarg;
            break;
        case 'q':
            g.quiet = true;
            break;
        case 'X':
            if (ripp_transport_parse(optarg, &g.transport) < 0)
                return fail("--transport: h2, h3 or auto, not %s", optarg);
            break;
        case 'L':
            g.log_level = ripp_app_log_level(optarg);
            if (g.log_level < 0)
                return fail("--log-level: error, warn, info or debug, not %s", optarg);
            break;
        case 'h':
            fputs(is_call ? usage_call : usage_caps, stdout);
            return 0;
        default:
            fputs(is_call ? usage_call : usage_caps, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ripp: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    if (!g.trunk || !g.token) return fail("--trunk and --token are required%s", "");
    if (strncmp(g.trunk, "https://", 8) != 0)
        return fail("--trunk must be an https URL: %s", g.trunk);
    if (is_call) {
        if (!g.to) return fail("--to is required%s", "");
        if (make_target(g.to, g.target, sizeof g.target) < 0)
            return fail("--to: digits or user@domain, not %s", g.to);
        if (!g.identity_key)
            return fail("--identity-key (or RIPP_IDENTITY_KEY) is required: every call carries "
                        "a signed PASSporT%s",
                        "");
    }
    ripp_app_log_init("ripp", (enum ripp_log_level)g.log_level);
    signal(SIGPIPE, SIG_IGN);
    g.loop = uv_default_loop();
    ripp_transport_client_config hc = {.transport = g.transport, .tls = {.ca_file = g.ca}};
    int rv = 0;
    g.http = ripp_transport_client_new(g.loop, &hc, &rv);
    if (!g.http) return fail("HTTP client (--transport): %s", ripp_strerror(rv));
    int status;
    if (is_caps) {
        status = fetch_caps();
        if (!status) {
            json_t *doc = json_loadb(g.caps_body, g.caps_len, 0, NULL);
            char *s = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
            printf("%s\n", s ? s : g.caps_body);
            free(s);
            json_decref(doc);
        }
    } else {
        status = run_call();
    }
    if (g.ep) ripp_ep_del(g.ep);
    ripp_http_client_del(g.http);
    uv_run(g.loop, UV_RUN_DEFAULT);
    ripp_callmedia_del(g.media);
    uv_loop_close(g.loop);
    return status;
}
