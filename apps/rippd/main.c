/* rippd - the RIPP trunk server. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ripp/driver.h"
#include "ripp/h3.h"
#include "ripp/problem.h"
#include "ripp/store.h"
#include "rippd.h"

static const char usage[] =
    "usage: rippd [options]\n"
    "       rippd --dev [--port N] [--answer MODE] [--state-dir DIR]\n"
    "       rippd --db FILE --cdrs\n"
    "\n"
    "Serves RIPP trunks over HTTP/3 (QUIC, UDP) and HTTP/2 (TCP) on the same port number,\n"
    "TLS 1.3 on both; HTTP/2 responses advertise HTTP/3 with Alt-Svc.\n"
    "\n"
    "  --config FILE         JSON configuration (see docs/operations.md)\n"
    "  --listen ADDR         listen address (default 127.0.0.1)\n"
    "  --port N              listen port, TCP and UDP (default 8443; --dev: an ephemeral one)\n"
    "  --no-h3               serve HTTP/2 only (no UDP socket, no Alt-Svc)\n"
    "  --cert FILE           TLS certificate chain (PEM)\n"
    "  --key FILE            TLS private key (PEM)\n"
    "  --db FILE|URL         the store: a SQLite file (default rippd.db), or Redis as\n"
    "                        redis://HOST[:PORT][/DB] or unix:/PATH[?db=N] (docs/store.md)\n"
    "  --public-authority H  host[:port] of the call URIs (default: the request's)\n"
    "  --set-cookie VALUE    a Set-Cookie value sent with every call creation and every\n"
    "                        signaling GET, e.g. an instance cookie for a sticky load\n"
    "                        balancer\n"
    "  --max-cps N           calls per second each trunk accepts (token bucket, burst N);\n"
    "                        more get 429 with Retry-After (default: no limit)\n"
    "  --hold-timeout MS     end a call after this long without a signaling byway\n"
    "                        (default 5000; 1000 is the strict -03 value)\n"
    "  --answer MODE         answer mode of the --dev trunk: echo, play:FILE, record:DIR,\n"
    "                        reject:CODE, noanswer[:SECONDS], ring:SECONDS, each optionally\n"
    "                        followed by ,hangup=SECONDS (default echo); or bridge:URL to\n"
    "                        forward every call to that RIPP trunk\n"
    "  --bridge-token T      bearer token of the trunk a bridge:URL answer forwards to\n"
    "  --bridge-ca FILE      trust this certificate (PEM) for that trunk\n"
    "  --identity-pub FILE   public key (PEM) the --dev trunk verifies PASSporTs with\n"
    "                        (default: the one --dev makes), or stir / stir:accept to verify\n"
    "                        them with STIR certificates (the \"stir\" configuration)\n"
    "  --dev                 development mode: makes a self-signed certificate and an\n"
    "                        identity key pair (or reuses those of --state-dir) and a new\n"
    "                        trunk, listens on --listen (default 127.0.0.1, also named in\n"
    "                        a certificate it makes) and prints one JSON\n"
    "                        line {\"trunk\",\"token\",\"ca\",\"identity_key\"} on stdout\n"
    "  --state-dir DIR       where --dev keeps its files (default: a new /tmp/rippd-dev-*);\n"
    "                        a cert.pem + key.pem and an identity.pem + identity.pub.pem\n"
    "                        found there are used as they are, so that instances sharing\n"
    "                        the directory, or a restarted one, serve the same certificate\n"
    "                        (its rippd.db is the default --db)\n"
    "  --cdrs                print the CDRs of --db as JSON lines and exit\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  --help                this text\n"
    "  --version             the version\n"
    "\n"
    "SIGTERM or SIGINT ends every call with an end event and exits. SIGUSR1 (or POST\n"
    "/admin/drain with the configured \"admin_token\") drains: every call is sent migrate\n"
    "(to \"drain_migrate_to\" when configured; spread over \"drain_spread_ms\", default\n"
    "1000), new calls get 503, and rippd exits once no call is left (after\n"
    "\"drain_timeout_ms\", default 30000, the rest are ended).\n";

/* What rippd can receive beyond the defaults of §5.1 (G.711 A-law must be declared). */
#define DEFAULT_CAPS "{\"audio/PCMA\":true}"

typedef struct opts {
    const char *config, *listen, *cert, *key, *db, *public_authority, *answer, *state_dir;
    const char *set_cookie;
    const char *bridge_token, *bridge_ca, *identity_pub;
    int port;
    long hold_ms;
    double max_cps; /* default calls-per-second limit of every trunk; 0: none */
    bool dev, cdrs, no_h3;
    int log_level;
} opts;

static rippd app;
static ripp_store *store;
static ripp_h2_server *server;
static ripp_h3_server *server3; /* HTTP/3 on the same port number (UDP); NULL with --no-h3 */
static ripp_driver driver;
static uv_signal_t sig_term, sig_int, sig_usr1;
static uv_timer_t stop_timer, drain_timer;
static char admin_token[256], drain_to[300];
static long drain_timeout_ms = 30000;
static long drain_spread_ms; /* migrate events spread over this; 0: the engine's default */
static ripp_ts drain_deadline;
static bool draining;
static ripp_ts stop_deadline;
static bool stopping;

static int die(const char *fmt, const char *arg)
{
    fprintf(stderr, "rippd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

static int add_trunk(const char *id, const char *token, const char *answer,
                     const char *identity_pub, const char *caps_json)
{
    ripp_trunk_rec t;
    memset(&t, 0, sizeof t);
    char err[256];
    answer_spec spec;
    if (answer_parse(answer, &spec, err, sizeof err) < 0) return die("trunk: %s", err);
    if (strlen(id) >= sizeof t.id || strlen(answer) >= sizeof t.answer ||
        strlen(identity_pub) >= sizeof t.identity_pub || strlen(caps_json) >= sizeof t.caps_json)
        return die("trunk %s: a value is too long", id);
    snprintf(t.id, sizeof t.id, "%s", id);
    snprintf(t.answer, sizeof t.answer, "%s", answer);
    snprintf(t.identity_pub, sizeof t.identity_pub, "%s", identity_pub);
    snprintf(t.caps_json, sizeof t.caps_json, "%s", caps_json);
    ripp_caps caps;
    ripp_caps_init_default(&caps);
    if (ripp_caps_parse(&caps, caps_json, strlen(caps_json), NULL) < 0 ||
        ripp_caps_validate(&caps, err, sizeof err) < 0)
        return die("trunk caps: %s", err);
    t.created_ms = (int64_t)(ripp_io_wall_us() / 1000);
    if (store->ops->trunk_put(store->impl, &t) < 0) return die("trunk %s: store write failed", id);
    if (token) {
        char hash[65];
        ripp_sha256_hex(token, strlen(token), hash);
        if (store->ops->token_add(store->impl, id, hash) < 0)
            return die("trunk %s: store write failed", id);
    }
    return 0;
}

static int load_config(opts *o, json_t **root_out)
{
    json_error_t je;
    json_t *root = json_load_file(o->config, 0, &je);
    if (!root || !json_is_object(root)) {
        fprintf(stderr, "rippd: %s:%d: %s\n", o->config, je.line, root ? "not an object" : je.text);
        json_decref(root);
        return 1;
    }
    json_t *v;
#define STR(key, field)                                                                            \
    if ((v = json_object_get(root, key)) && json_is_string(v) && !o->field)                        \
        o->field = json_string_value(v);
    STR("listen", listen)
    STR("cert", cert)
    STR("key", key)
    STR("db", db)
    STR("public_authority", public_authority)
    STR("set_cookie", set_cookie)
#undef STR
    if ((v = json_object_get(root, "port")) && json_is_integer(v) && !o->port)
        o->port = (int)json_integer_value(v);
    if ((v = json_object_get(root, "hold_timeout_ms")) && json_is_integer(v) && !o->hold_ms)
        o->hold_ms = (long)json_integer_value(v);
    if ((v = json_object_get(root, "max_cps")) && json_is_number(v) && !o->max_cps)
        o->max_cps = json_number_value(v);
    if ((v = json_object_get(root, "log_level")) && json_is_string(v) && o->log_level < 0)
        o->log_level = ripp_app_log_level(json_string_value(v));
    /* graceful migration (docs/failover.md) */
    if ((v = json_object_get(root, "admin_token")) && json_is_string(v))
        snprintf(admin_token, sizeof admin_token, "%s", json_string_value(v));
    if ((v = json_object_get(root, "drain_migrate_to")) && json_is_string(v))
        snprintf(drain_to, sizeof drain_to, "%s", json_string_value(v));
    if ((v = json_object_get(root, "drain_timeout_ms")) && json_is_integer(v))
        drain_timeout_ms = (long)json_integer_value(v);
    if ((v = json_object_get(root, "drain_spread_ms")) && json_is_integer(v)) {
        drain_spread_ms = (long)json_integer_value(v);
        if (drain_spread_ms < 10 || drain_spread_ms > 600000) {
            fprintf(stderr, "rippd: %s: \"drain_spread_ms\" must be 10 to 600000\n",
                    o->config);
            json_decref(root);
            return 1;
        }
    }
    *root_out = root;
    return 0;
}

static int config_trunks(json_t *root)
{
    json_t *trunks = json_object_get(root, "trunks"), *t;
    size_t i;
    if (!trunks) return 0;
    if (!json_is_array(trunks)) return die("config: %s must be an array", "trunks");
    json_array_foreach(trunks, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        const char *answer = json_string_value(json_object_get(t, "answer"));
        char bridged[512], berr[128];
        if (rippd_bridge_answer(answer ? answer : "echo",
                                json_string_value(json_object_get(t, "bridge_token")),
                                json_string_value(json_object_get(t, "bridge_ca")), bridged,
                                sizeof bridged, berr, sizeof berr) < 0)
            return die("config: %s", berr);
        answer = bridged;
        /* the caller identity check: a PEM public key, or STIR certificates */
        const char *ik = json_string_value(json_object_get(t, "identity_key"));
        const char *how = json_string_value(json_object_get(t, "identity"));
        if (!ik && how && (!strcmp(how, "stir") || !strcmp(how, "stir:accept"))) ik = how;
        if (!id || !ik)
            return die("config: every trunk needs %s",
                       "\"id\" and \"identity_key\" (or \"identity\": \"stir\" / \"stir:accept\")");
        json_t *cps = json_object_get(t, "max_cps");
        if (cps && (!json_is_number(cps) || json_number_value(cps) < 0))
            return die("trunk %s: max_cps must be a number >= 0", id);
        if (cps && rippd_limits_set(id, json_number_value(cps)) < 0) return die("%s", "no memory");
        json_t *caps = json_object_get(t, "caps");
        char *caps_s = caps ? json_dumps(caps, JSON_COMPACT) : NULL;
        int rv = add_trunk(id, NULL, answer ? answer : "echo", ik, caps_s ? caps_s : DEFAULT_CAPS);
        free(caps_s);
        if (rv) return rv;
        json_t *tokens = json_object_get(t, "tokens"), *tok;
        size_t j;
        json_array_foreach(tokens, j, tok)
        {
            const char *s = json_string_value(tok);
            if (!s || strlen(s) < 16)
                return die("trunk %s: tokens must be strings of at least 16 characters", id);
            char hash[65];
            ripp_sha256_hex(s, strlen(s), hash);
            if (store->ops->token_add(store->impl, id, hash) < 0)
                return die("trunk %s: store write failed", id);
        }
    }
    return 0;
}

static int dev_setup(opts *o, char *trunk_id, size_t idcap, char *token, size_t tokcap, char *dir,
                     size_t dircap)
{
    if (o->state_dir) {
        snprintf(dir, dircap, "%s", o->state_dir);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) return die("cannot create %s", dir);
    } else {
        snprintf(dir, dircap, "/tmp/rippd-dev-XXXXXX");
        if (!mkdtemp(dir)) return die("cannot create %s", dir);
    }
    static char cert[1100], key[1100], ipriv[1100], ipub[1100], db[1100];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(ipriv, sizeof ipriv, "%s/identity.pem", dir);
    snprintf(ipub, sizeof ipub, "%s/identity.pub.pem", dir);
    snprintf(db, sizeof db, "%s/rippd.db", dir);
    /* The certificate also names a --listen address other than loopback (a test's network
     * namespace, say), so that clients can verify it there. */
    const char *names[] = {"127.0.0.1", "::1", "localhost", o->listen};
    size_t n_names = o->listen && strcmp(o->listen, "127.0.0.1") && strcmp(o->listen, "::1") ? 4 : 3;
    /* A certificate and key, or an identity key pair, already in the directory are kept:
     * instances sharing a state directory, or a restarted one, serve the same certificate
     * and accept the same callers. */
    if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
        if (ripp_tls_make_selfsigned(cert, key, names, n_names) < 0)
            return die("cannot make a certificate in %s", dir);
    }
    if (access(ipriv, R_OK) != 0 || access(ipub, R_OK) != 0) {
        if (ripp_es256_generate(ipriv, ipub) < 0)
            return die("cannot make an identity key in %s", dir);
    }
    o->cert = cert;
    o->key = key;
    if (!o->db) o->db = db;
    if (!o->listen) o->listen = "127.0.0.1";
    uint8_t rnd[6];
    if (ripp_io_random(rnd, sizeof rnd) < 0 || ripp_io_random_token(token, tokcap, 32) < 0)
        return die("no randomness%s", "");
    snprintf(trunk_id, idcap, "dev-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5]);
    return 0;
}

static int print_cdr(void *ud, const ripp_cdr *d)
{
    (void)ud;
    json_t *stats = json_loads(d->stats_json, 0, NULL);
    ripp_call_rec rec; /* a bridged call names its downstream call */
    bool hop = store->ops->call_get(store->impl, d->call_id, &rec) == 0 && rec.next_hop[0];
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:i,s:s,s:s,s:o}", "call_id", d->call_id,
                  "trunk_id", d->trunk_id, "target", d->target, "orig_tn", d->orig_tn, "start_ms",
                  (json_int_t)d->start_ms, "answer_ms", (json_int_t)d->answer_ms, "end_ms",
                  (json_int_t)d->end_ms, "outcome", d->outcome, "end_code", d->end_code, "dtmf",
                  d->dtmf, "recording", d->recording, "stats", stats ? stats : json_object());
    if (hop) /* its first line: the downstream call URI (bridge.c keeps more after it) */
        json_object_set_new(o, "next_hop",
                            json_stringn(rec.next_hop, strcspn(rec.next_hop, "\n")));
    if (d->verstat[0]) json_object_set_new(o, "identity", json_string(d->verstat));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    printf("%s\n", s);
    free(s);
    json_decref(o);
    return 0;
}

static bool admin_on_request(ripp_xchg *x, const ripp_request *req);

static void on_request(void *ud, ripp_xchg *x, const ripp_request *req)
{
    (void)ud;
    if (admin_on_request(x, req)) return;
    if (rippd_health_on_request(x, req)) return;
    if (rippd_stir_on_request(x, req)) return;
    if (rippd_oauth_on_request(x, req)) return;
    ripp_ep_on_request(app.ep, x, req, ripp_io_now());
}

static void finish_stop(void)
{
    ripp_log(RIPP_LOG_INFO, "stopped");
    uv_timer_stop(&stop_timer);
    uv_close((uv_handle_t *)&stop_timer, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    ripp_driver_close(&driver);
    /* the engine first: it resets what is still open while the binding can take it */
    ripp_ep_del(app.ep);
    app.ep = NULL;
    rippd_oauth_set_engine(NULL);
    rippd_stir_free();
    rippd_bridge_free();
    ripp_h2_server_del(server);
    server = NULL;
    ripp_h3_server_del(server3);
    server3 = NULL;
    /* last: the engine's final records are written (a Redis store flushes what it has
     * queued and closes its connections, which lets the loop end) */
    ripp_store_close(store);
    store = NULL;
}

static void on_stop_timer(uv_timer_t *t)
{
    (void)t;
    if (ripp_ep_undone_count(app.ep) == 0 || ripp_io_now() >= stop_deadline) finish_stop();
}

static void begin_stop(const char *why)
{
    if (stopping) return;
    stopping = true;
    uv_timer_stop(&drain_timer);
    uv_close((uv_handle_t *)&drain_timer, NULL);
    uv_close((uv_handle_t *)&sig_usr1, NULL);
    ripp_log(RIPP_LOG_INFO, "%s: ending %zu calls", why, ripp_ep_live_count(app.ep));
    ripp_ep_shutdown(app.ep, ripp_io_now());
    ripp_h2_server_shutdown(server);
    if (server3) ripp_h3_server_shutdown(server3);
    stop_deadline = ripp_io_now() + 3 * RIPP_NS_PER_SEC;
    uv_timer_start(&stop_timer, on_stop_timer, 20, 20);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    char why[32];
    snprintf(why, sizeof why, "signal %d", signum);
    begin_stop(why);
}

/* ---- drain (SPEC §7.2, P6; docs/failover.md) ---- */

static void on_drain_timer(uv_timer_t *t)
{
    (void)t;
    if (ripp_ep_undone_count(app.ep) == 0)
        begin_stop("drained");
    else if (ripp_io_now() >= drain_deadline)
        begin_stop("drain timeout");
}

/* Returns how many calls are to be sent migrate (spread over "drain_spread_ms"), or -1
 * when a drain is under way already. */
static int start_drain(const char *authority)
{
    if (draining || stopping) return -1;
    draining = true;
    rippd_health_set_draining(true);
    int n = ripp_ep_drain(app.ep, authority && *authority ? authority : NULL, ripp_io_now());
    ripp_log(RIPP_LOG_INFO, "draining: %d calls to be sent migrate%s%s", n,
             authority && *authority ? " to " : " (no URI)", authority ? authority : "");
    drain_deadline = ripp_io_now() + (ripp_ts)drain_timeout_ms * RIPP_NS_PER_MS;
    uv_timer_start(&drain_timer, on_drain_timer, 50, 50);
    return n;
}

static void on_usr1(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    start_drain(drain_to);
}

static void admin_problem(ripp_xchg *x, int status, const char *slug, const char *detail)
{
    ripp_problem p;
    ripp_problem_set(&p, status, slug, 0, "%s", detail);
    ripp_hdr h[] = {{"www-authenticate", "Bearer realm=\"rippd-admin\""}};
    ripp_xchg_respond_problem(x, &p, h, status == 401 ? 1 : 0);
}

/* POST /admin/drain[?migrate_to=AUTHORITY] with Authorization: Bearer <admin_token>. */
static bool admin_on_request(ripp_xchg *x, const ripp_request *req)
{
    if (strncmp(req->path, "/admin/", 7) != 0) return false;
    const char *auth = ripp_request_header(req, "authorization");
    if (!admin_token[0]) {
        admin_problem(x, 403, "admin-disabled", "no admin_token is configured");
        return true;
    }
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        admin_problem(x, 401, "missing-token", "an Authorization: Bearer admin token is required");
        return true;
    }
    const char *tok = auth + 7;
    size_t tl = strlen(tok), al = strlen(admin_token);
    unsigned diff = (unsigned)(tl ^ al);
    for (size_t i = 0; i < tl; i++) /* constant time in the secret's length */
        diff |= (unsigned)(tok[i] ^ admin_token[i % al]);
    if (diff) {
        admin_problem(x, 403, "invalid-token", "the admin token is not valid");
        return true;
    }
    if (strcmp(req->path, "/admin/drain") != 0) {
        admin_problem(x, 404, "not-found", "no such admin resource");
        return true;
    }
    if (strcmp(req->method, "POST") != 0) {
        admin_problem(x, 405, "method-not-allowed", "POST /admin/drain");
        return true;
    }
    char to[300] = "";
    snprintf(to, sizeof to, "%s", drain_to);
    if (req->query && strncmp(req->query, "migrate_to=", 11) == 0) {
        size_t n = strcspn(req->query + 11, "&");
        if (n >= sizeof to) n = sizeof to - 1;
        memcpy(to, req->query + 11, n);
        to[n] = 0;
    }
    int n = start_drain(to);
    if (n < 0) {
        admin_problem(x, 409, "already-draining", "a drain is under way");
        return true;
    }
    char body[400];
    int len = snprintf(body, sizeof body, "{\"draining\":true,\"calls\":%d,\"migrate_to\":\"%s\"}",
                       n, to);
    ripp_hdr h[] = {{"content-type", "application/json"}};
    ripp_xchg_respond(x, 202, h, 1, false);
    ripp_xchg_write(x, (const uint8_t *)body, (size_t)len);
    ripp_xchg_end(x);
    return true;
}

/* HTTP/2 on TCP and HTTP/3 on UDP with the same port number, so that one authority names
 * both (Alt-Svc h3=":PORT"). With an ephemeral port, the UDP port the TCP listener got may be
 * taken: then both are tried again. */
static int listen_both(uv_loop_t *loop, ripp_h2_server_config *sc, const opts *o, char *err,
                       size_t errcap)
{
    int rv = 0;
    for (int attempt = 0; attempt < 20; attempt++) {
        server = ripp_h2_server_new(loop, sc, on_request, &app, &rv, err, errcap);
        if (!server) return -1;
        if (o->no_h3) return 0;
        int port = ripp_h2_server_port(server);
        ripp_h3_server_config qc = {
            .host = sc->host,
            .port = port,
            .tls = sc->tls,
            .max_streams_bidi = 100000,
        };
        server3 = ripp_h3_server_new(loop, &qc, on_request, &app, &rv, err, errcap);
        if (server3) {
            char alt[64];
            snprintf(alt, sizeof alt, "h3=\":%d\"; ma=86400", port);
            ripp_h2_server_set_alt_svc(server, alt);
            return 0;
        }
        ripp_h2_server_del(server);
        server = NULL;
        if (sc->port != 0) return -1; /* a fixed port: report why */
        uv_run(loop, UV_RUN_NOWAIT);
    }
    return -1;
}

int main(int argc, char **argv)
{
    opts o = {.log_level = -1};
    static const struct option longopts[] = {{"config", required_argument, 0, 'c'},
                                             {"listen", required_argument, 0, 'l'},
                                             {"port", required_argument, 0, 'p'},
                                             {"cert", required_argument, 0, 'C'},
                                             {"key", required_argument, 0, 'K'},
                                             {"db", required_argument, 0, 'd'},
                                             {"public-authority", required_argument, 0, 'A'},
                                             {"hold-timeout", required_argument, 0, 'H'},
                                             {"max-cps", required_argument, 0, 'M'},
                                             {"set-cookie", required_argument, 0, 'S'},
                                             {"answer", required_argument, 0, 'a'},
                                             {"bridge-token", required_argument, 0, 'T'},
                                             {"bridge-ca", required_argument, 0, 'B'},
                                             {"identity-pub", required_argument, 0, 'I'},
                                             {"dev", no_argument, 0, 'D'},
                                             {"no-h3", no_argument, 0, '3'},
                                             {"state-dir", required_argument, 0, 's'},
                                             {"cdrs", no_argument, 0, 'R'},
                                             {"log-level", required_argument, 0, 'L'},
                                             {"help", no_argument, 0, 'h'},
                                             {"version", no_argument, 0, 'V'},
                                             {0, 0, 0, 0}};
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o.config = optarg;
            break;
        case 'l':
            o.listen = optarg;
            break;
        case 'p':
            o.port = (int)strtol(optarg, &end, 10);
            if (*end || o.port < 0 || o.port > 65535)
                return die("--port: not a port number: %s", optarg);
            break;
        case 'C':
            o.cert = optarg;
            break;
        case 'K':
            o.key = optarg;
            break;
        case 'd':
            o.db = optarg;
            break;
        case 'A':
            o.public_authority = optarg;
            break;
        case 'M': {
            char *rest;
            o.max_cps = strtod(optarg, &rest);
            if (*rest || o.max_cps < 0) return die("--max-cps: a number >= 0, not %s", optarg);
            break;
        }
        case 'H':
            o.hold_ms = strtol(optarg, &end, 10);
            if (*end || o.hold_ms < 100)
                return die("--hold-timeout: milliseconds >= 100, not %s", optarg);
            break;
        case 'a':
            o.answer = optarg;
            break;
        case 'T':
            o.bridge_token = optarg;
            break;
        case 'B':
            o.bridge_ca = optarg;
            break;
        case 'I':
            o.identity_pub = optarg;
            break;
        case 'S':
            o.set_cookie = optarg;
            break;
        case '3':
            o.no_h3 = true;
            break;
        case 'D':
            o.dev = true;
            break;
        case 's':
            o.state_dir = optarg;
            break;
        case 'R':
            o.cdrs = true;
            break;
        case 'L':
            o.log_level = ripp_app_log_level(optarg);
            if (o.log_level < 0)
                return die("--log-level: error, warn, info or debug, not %s", optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("rippd 0.1.0\n");
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rippd: unexpected argument: %s\n%s", argv[optind], usage);
        return 2;
    }
    json_t *config = NULL;
    if (o.config && load_config(&o, &config)) return 1;
    ripp_app_log_init("rippd", o.log_level >= 0 ? (enum ripp_log_level)o.log_level : RIPP_LOG_INFO);
    signal(SIGPIPE, SIG_IGN);

    char trunk_id[64] = "", token[128] = "", dir[1024] = "";
    if (o.dev && dev_setup(&o, trunk_id, sizeof trunk_id, token, sizeof token, dir, sizeof dir))
        return 1;
    if (!o.db) o.db = "rippd.db";
    char err[512] = "";
    int rv = 0;
    store = ripp_store_open(o.db, &rv, err, sizeof err); /* a SQLite path or a Redis URL */
    if (!store) return die("database: %s", err);
    if (o.cdrs) {
        store->ops->cdr_each(store->impl, print_cdr, NULL);
        ripp_store_close(store);
        return 0;
    }
    int status = 1;
    rippd_limits_set_default(o.max_cps);
    if (config && config_trunks(config)) goto out;
    if (rippd_oauth_config(config, store)) goto out;
    if (o.dev) {
        char ipub[1100];
        snprintf(ipub, sizeof ipub, "%s", o.identity_pub ? o.identity_pub : "");
        if (!o.identity_pub) snprintf(ipub, sizeof ipub, "%s/identity.pub.pem", dir);
        char answer[512], berr[128];
        if (rippd_bridge_answer(o.answer ? o.answer : "echo", o.bridge_token, o.bridge_ca, answer,
                                sizeof answer, berr, sizeof berr) < 0) {
            die("--answer: %s", berr);
            goto out;
        }
        if (add_trunk(trunk_id, token, answer, ipub, DEFAULT_CAPS)) goto out;
    } else if (o.answer) {
        fprintf(stderr, "rippd: --answer applies to the --dev trunk; configure trunks with "
                        "--config\n");
        goto out;
    }
    if (!o.cert || !o.key) {
        die("a TLS certificate and key are needed (--cert, --key, or --dev)%s", "");
        goto out;
    }
    uv_loop_t *loop = uv_default_loop();
    ripp_store_attach_loop(store, loop); /* Redis: call records and CDRs written behind */
    rippd_health_set_store(store);
    if (rippd_stir_config(config, loop)) goto out;
    ripp_ep_config ec = {
        .role = RIPP_ROLE_SERVER,
        .env = ripp_io_env(),
        .store = store,
        .public_authority = o.public_authority,
        .hold_timeout = o.hold_ms ? (ripp_ts)o.hold_ms * RIPP_NS_PER_MS : 0,
        .drain_spread = (ripp_ts)drain_spread_ms * RIPP_NS_PER_MS,
        .require_identity = true,
        .set_cookie = o.set_cookie,
    };
    if (o.set_cookie && (strlen(o.set_cookie) > 5 * 1024 || !strchr(o.set_cookie, '='))) {
        die("--set-cookie: NAME=VALUE[; attributes] of at most 5 KiB, not %s", o.set_cookie);
        goto out;
    }
    app.ep = ripp_ep_new(&ec, &rippd_hooks, &app, &rv);
    if (!app.ep) {
        die("engine: %s", ripp_strerror(rv));
        goto out;
    }
    rippd_stir_set_engine(app.ep);
    rippd_oauth_set_engine(app.ep);
    ripp_h2_server_config sc = {
        .host = o.listen ? o.listen : "127.0.0.1",
        .port = o.dev && !o.port ? 0 : (o.port ? o.port : 8443),
        .tls = {.cert_file = o.cert, .key_file = o.key},
        /* a client instance carries all its calls on one connection: ~13 streams a call */
        .max_concurrent_streams = 100000,
    };
    if (listen_both(loop, &sc, &o, err, sizeof err) < 0) {
        die("listen: %s", err);
        goto out;
    }
    ripp_driver_init(&driver, loop, app.ep);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_init(loop, &sig_usr1);
    uv_signal_start(&sig_usr1, on_usr1, SIGUSR1);
    uv_timer_init(loop, &drain_timer);
    uv_timer_init(loop, &stop_timer);
    int port = ripp_h2_server_port(server);
    const char *host = sc.host;
    bool v6 = strchr(host, ':') != NULL;
    ripp_log(RIPP_LOG_INFO, "listening on %s%s%s:%d (%s, TLS 1.3)", v6 ? "[" : "", host,
             v6 ? "]" : "", port, server3 ? "h3 on UDP + h2 on TCP" : "h2");
    if (o.dev) {
        char url[1200], ipriv[1100];
        snprintf(url, sizeof url, "https://%s%s%s:%d/trunks/%s", v6 ? "[" : "", host, v6 ? "]" : "",
                 port, trunk_id);
        snprintf(ipriv, sizeof ipriv, "%s/identity.pem", dir);
        json_t *line = json_object();
        json_object_set_new(line, "trunk", json_string(url));
        json_object_set_new(line, "token", json_string(token));
        json_object_set_new(line, "ca", json_string(o.cert));
        json_object_set_new(line, "identity_key", json_string(ipriv));
        char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        fflush(stdout);
        free(s);
        json_decref(line);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_run(loop, UV_RUN_NOWAIT);
    status = 0;
out:
    if (app.ep) ripp_ep_del(app.ep);
    rippd_stir_free();
    rippd_bridge_free();
    rippd_keys_free(app.keys);
    rippd_oauth_free();
    rippd_limits_free();
    if (server) ripp_h2_server_del(server);
    ripp_h3_server_del(server3);
    ripp_store_close(store);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT); /* the store's handles close */
    json_decref(config);
    if (uv_loop_close(uv_default_loop()) == UV_EBUSY)
        ripp_log(RIPP_LOG_DEBUG, "loop handles still open at exit");
    return status;
}
