/* STIR verification end to end on loopback: test STI certificates from ripp_sticert_make,
 * served at https x5u URLs by an in-process HTTP/2 server, verified by ripp_stir_verifier
 * through the HTTP/2 client, with injected wall and monotonic clocks. Plus TNAuthList DER,
 * coverage and Cache-Control parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ripp/io.h"
#include "ripp/stir.h"

#define ORIG "15551234567"
#define DEST "15557654321"

static char g_dir[64];
static char g_tls_cert[128], g_tls_key[128];
static int64_t g_real_now;

/* ---- clocks ---- */

static int64_t g_wall_s;
static ripp_ts g_mono;

static uint64_t fake_wall(void *ud)
{
    (void)ud;
    return (uint64_t)g_wall_s * 1000000 + 500000;
}

static ripp_ts fake_mono(void *ud)
{
    (void)ud;
    return g_mono;
}

/* ---- certificates ---- */

static void path_of(char *out, size_t cap, const char *name, const char *file)
{
    snprintf(out, cap, "%s/%s/%s", g_dir, name, file);
}

static int make(const char *name, const char *issuer, bool ca, const ripp_tnauth *tn, int64_t nb,
                int64_t na)
{
    char dir[256], idir[256];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
    snprintf(idir, sizeof idir, "%s/%s", g_dir, issuer ? issuer : "");
    if (mkdir(dir, 0755) < 0) return -1;
    ripp_sticert_opts o = {issuer ? idir : NULL, ca, NULL, tn, nb, na};
    char err[256];
    int rc = ripp_sticert_make(&o, dir, err, sizeof err);
    if (rc) fprintf(stderr, "sticert %s: %s\n", name, err);
    return rc;
}

static ripp_tnauth tn_one(const char *tn)
{
    ripp_tnauth t;
    memset(&t, 0, sizeof t);
    t.n = 1;
    t.e[0].kind = RIPP_TNAUTH_ONE;
    snprintf(t.e[0].value, sizeof t.e[0].value, "%s", tn);
    return t;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/ripp_stir_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_tls_cert, sizeof g_tls_cert, "%s/tls.pem", g_dir);
    snprintf(g_tls_key, sizeof g_tls_key, "%s/tls.key", g_dir);
    const char *names[] = {"localhost", "127.0.0.1"};
    if (ripp_tls_make_selfsigned(g_tls_cert, g_tls_key, names, 2)) return -1;
    g_real_now = (int64_t)time(NULL);
    int64_t nb = g_real_now - 3600, na = g_real_now + 365 * 86400;
    ripp_tnauth good = tn_one(ORIG);
    good.n = 2;
    good.e[1].kind = RIPP_TNAUTH_RANGE;
    snprintf(good.e[1].value, sizeof good.e[1].value, "1555987000");
    good.e[1].count = 1000;
    ripp_tnauth other = tn_one("15550000000");
    ripp_tnauth spc;
    memset(&spc, 0, sizeof spc);
    spc.n = 1;
    spc.e[0].kind = RIPP_TNAUTH_SPC;
    snprintf(spc.e[0].value, sizeof spc.e[0].value, "709J");
    ripp_tnauth one = tn_one(ORIG);
    if (make("ca", NULL, true, NULL, nb, na) || make("inter", "ca", true, NULL, nb, na) ||
        make("good", "ca", false, &good, nb, na) || make("chain", "inter", false, &one, nb, na) ||
        make("notn", "ca", false, NULL, nb, na) || make("other", "ca", false, &other, nb, na) ||
        make("spc", "ca", false, &spc, nb, na) ||
        make("expired", "ca", false, &one, g_real_now - 10 * 86400, g_real_now - 86400) ||
        make("rogue_ca", NULL, true, NULL, nb, na) ||
        make("rogue", "rogue_ca", false, &one, nb, na))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- fixture: loop, x5u server, client, verifier ---- */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    uv_timer_t poke; /* libuv runs timers before it polls: flags set by a timer need a wakeup */
    bool timed_out;
    ripp_h2_server *srv;
    ripp_http_client *cli;
    ripp_stir_verifier *v;
    uv_tcp_t blackhole; /* listens, never accepts: an unreachable x5u */
    int blackhole_port;
    int requests;
    char last_path[128];
} fx;

static fx *F;

static void on_guard(uv_timer_t *t)
{
    ((fx *)t->data)->timed_out = true;
}

static void on_poke(uv_timer_t *t)
{
    (void)t;
}

static void serve_file(ripp_xchg *x, const char *name, const char *cache_control)
{
    char path[256];
    path_of(path, sizeof path, name, "cert.pem");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ripp_hdr h[2] = {{"content-type", "application/pem-certificate-chain"},
                     {"cache-control", cache_control ? cache_control : ""}};
    assert_int_equal(ripp_xchg_respond(x, 200, h, cache_control ? 2 : 1, false), 0);
    assert_int_equal(ripp_xchg_write(x, buf, n), 0);
    assert_int_equal(ripp_xchg_end(x), 0);
}

static const ripp_xchg_cbs hold_cbs = {NULL, NULL, NULL, NULL};

static void on_request(void *ud, ripp_xchg *x, const ripp_request *req)
{
    fx *f = ud;
    f->requests++;
    snprintf(f->last_path, sizeof f->last_path, "%s", req->path);
    const char *p = req->path;
    if (!strcmp(p, "/slow.pem")) {
        ripp_xchg_set_handler(x, &hold_cbs, NULL); /* never answers */
    } else if (!strcmp(p, "/big.pem")) {
        static uint8_t big[100 * 1024];
        memset(big, 'A', sizeof big);
        assert_int_equal(ripp_xchg_respond(x, 200, NULL, 0, false), 0);
        assert_int_equal(ripp_xchg_write(x, big, sizeof big), 0);
        assert_int_equal(ripp_xchg_end(x), 0);
    } else if (!strcmp(p, "/ttl.pem")) {
        serve_file(x, "good", "public, max-age=120");
    } else if (strlen(p) > 5 && !strcmp(p + strlen(p) - 4, ".pem") && !strchr(p + 1, '/')) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(p) - 5), p + 1);
        char path[256];
        path_of(path, sizeof path, name, "cert.pem");
        if (access(path, R_OK) == 0) {
            serve_file(x, name, NULL);
            return;
        }
        ripp_xchg_respond(x, 404, NULL, 0, true);
    } else {
        ripp_xchg_respond(x, 404, NULL, 0, true);
    }
}

static void on_blackhole(uv_stream_t *s, int status)
{
    (void)s;
    (void)status; /* never accepted: the TCP handshake completes, TLS never starts */
}

static ripp_stir_verifier *make_verifier(const ripp_stir_config *extra)
{
    char ca[256];
    path_of(ca, sizeof ca, "ca", "cert.pem");
    ripp_stir_config cfg = extra ? *extra : (ripp_stir_config){0};
    cfg.ca_file = ca;
    cfg.wall_us = fake_wall;
    cfg.mono_ns = fake_mono;
    int err = 0;
    char eb[256];
    ripp_stir_verifier *v = ripp_stir_verifier_new(&F->loop, F->cli, &cfg, &err, eb, sizeof eb);
    if (!v) fprintf(stderr, "verifier: %s\n", eb);
    return v;
}

static int fx_setup(void **state)
{
    (void)state;
    F = calloc(1, sizeof *F);
    if (!F) return -1;
    g_wall_s = g_real_now;
    g_mono = 1000 * RIPP_NS_PER_SEC;
    uv_loop_init(&F->loop);
    uv_timer_init(&F->loop, &F->guard);
    F->guard.data = F;
    uv_timer_init(&F->loop, &F->poke);
    uv_timer_start(&F->poke, on_poke, 5, 5);
    ripp_h2_server_config sc = {.host = "127.0.0.1", .tls = {g_tls_cert, g_tls_key}};
    int err = 0;
    char eb[256];
    F->srv = ripp_h2_server_new(&F->loop, &sc, on_request, F, &err, eb, sizeof eb);
    if (!F->srv) return -1;
    ripp_h2_client_config cc = {.tls = {.ca_file = g_tls_cert}};
    F->cli = ripp_h2_client_new(&F->loop, &cc, &err);
    if (!F->cli) return -1;
    uv_tcp_init(&F->loop, &F->blackhole);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_bind(&F->blackhole, (const struct sockaddr *)&a, 0) ||
        uv_listen((uv_stream_t *)&F->blackhole, 8, on_blackhole))
        return -1;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&F->blackhole, (struct sockaddr *)&ss, &len);
    F->blackhole_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    F->v = make_verifier(NULL);
    return F->v ? 0 : -1;
}

static int fx_teardown(void **state)
{
    (void)state;
    ripp_stir_verifier_del(F->v);
    ripp_http_client_del(F->cli);
    ripp_h2_server_del(F->srv);
    uv_close((uv_handle_t *)&F->guard, NULL);
    uv_close((uv_handle_t *)&F->poke, NULL);
    uv_close((uv_handle_t *)&F->blackhole, NULL);
    uv_run(&F->loop, UV_RUN_DEFAULT);
    int rv = uv_loop_close(&F->loop);
    free(F);
    return rv == 0 ? 0 : -1;
}

/* ---- helpers ---- */

typedef struct got {
    int calls;
    ripp_stir_result r;
    ripp_ts at;
} got;

static void on_done(void *ud, const ripp_stir_result *r)
{
    got *g = ud;
    g->calls++;
    g->r = *r;
    g->at = ripp_io_now();
}

static void run_until_done(got *g, int n, unsigned ms)
{
    F->timed_out = false;
    uv_timer_start(&F->guard, on_guard, ms, 0);
    for (;;) {
        bool all = true;
        for (int i = 0; i < n; i++)
            if (!g[i].calls) all = false;
        if (all || F->timed_out) break;
        uv_run(&F->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&F->guard);
    assert_false(F->timed_out);
}

static void run_for(unsigned ms)
{
    F->timed_out = false;
    uv_timer_start(&F->guard, on_guard, ms, 0);
    while (!F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
}

static void url(char *out, size_t cap, const char *scheme, const char *name)
{
    snprintf(out, cap, "%s://127.0.0.1:%d/%s.pem", scheme, ripp_h2_server_port(F->srv), name);
}

/* Signs with the signer API: the certificate and key of dir, x5u as given. */
static void sign_with(const char *dir, const char *x5u, const char *orig, const char *dest,
                      int64_t iat, char *out)
{
    char cert[256], key[256], eb[256];
    path_of(cert, sizeof cert, dir, "cert.pem");
    path_of(key, sizeof key, dir, "key.pem");
    int err = 0;
    ripp_stir_signer *s = ripp_stir_signer_new(cert, key, x5u, &err, eb, sizeof eb);
    if (!s) fprintf(stderr, "signer: %s\n", eb);
    assert_non_null(s);
    ripp_stir_claims c = {orig, dest, "A", NULL, iat};
    assert_true(ripp_stir_sign(s, &c, out, RIPP_IDENTITY_MAX + 1) > 0);
    ripp_stir_signer_del(s);
}

static int raw_sign(void *ud, const uint8_t *data, size_t len, uint8_t sig[64])
{
    return ripp_es256_sign(ud, data, len, sig);
}

/* Signs below the signer (no x5u or coverage checks), with the key of dir. */
static void sign_raw(const char *dir, const char *x5u, const char *orig, int64_t iat, char *out)
{
    char key[256];
    path_of(key, sizeof key, dir, "key.pem");
    int err = 0;
    ripp_es256_key *k = ripp_es256_load(key, &err, NULL, 0);
    assert_non_null(k);
    ripp_passport pp;
    memset(&pp, 0, sizeof pp);
    snprintf(pp.orig_tn, sizeof pp.orig_tn, "%s", orig);
    snprintf(pp.dest_tn, sizeof pp.dest_tn, "%s", DEST);
    snprintf(pp.x5u, sizeof pp.x5u, "%s", x5u);
    snprintf(pp.ppt, sizeof pp.ppt, "shaken");
    snprintf(pp.attest, sizeof pp.attest, "B");
    snprintf(pp.origid, sizeof pp.origid, "0d6f3c52-8a43-4b8e-9d2c-6a2f1b9e7c11");
    pp.iat = iat;
    assert_true(ripp_passport_sign(&pp, raw_sign, k, out, RIPP_IDENTITY_MAX + 1) > 0);
    ripp_es256_free(k);
}

static got verify1(const char *identity, const char *target)
{
    got g = {0};
    assert_int_equal(ripp_stir_verify(F->v, identity, identity ? strlen(identity) : 0, target,
                                      on_done, &g, NULL),
                     0);
    assert_int_equal(g.calls, 0); /* never from inside the call */
    run_until_done(&g, 1, 10000);
    assert_int_equal(g.calls, 1);
    return g;
}

static void expect(const got *g, int code, const char *reason_part)
{
    if (g->r.code != code || !strstr(g->r.reason, reason_part))
        fprintf(stderr, "got %d \"%s\", wanted %d \"%s\"\n", g->r.code, g->r.reason, code,
                reason_part);
    assert_int_equal(g->r.code, code);
    assert_int_equal(g->r.ok, code == 0);
    assert_non_null(strstr(g->r.reason, reason_part));
}

/* ---- verification ---- */

static void test_valid(void **state)
{
    (void)state;
    char x5u[256], id[RIPP_IDENTITY_MAX + 1];
    url(x5u, sizeof x5u, "https", "good");
    sign_with("good", x5u, "+" ORIG, DEST, g_wall_s, id);
    assert_non_null(strstr(id, ";info=<"));
    assert_non_null(strstr(id, ">;alg=ES256;ppt=shaken"));
    got g = verify1(id, "+" DEST);
    expect(&g, 0, "verified");
    assert_string_equal(g.r.attest, "A");
    assert_string_equal(g.r.orig_tn, "+" ORIG);
    assert_string_equal(g.r.dest_tn, DEST);
    assert_string_equal(g.r.x5u, x5u);
    assert_int_equal(strlen(g.r.origid), 36);
    assert_int_equal(g.r.iat, g_wall_s);
    assert_true(g.r.tn_checked);
    assert_int_equal(F->requests, 1);
    assert_string_equal(F->last_path, "/good.pem");

    /* A number of the range entry, and a chain through an intermediate CA. */
    sign_with("good", x5u, "1555987999", DEST, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 0, "verified");
    url(x5u, sizeof x5u, "https", "chain");
    sign_with("chain", x5u, ORIG, DEST, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 0, "verified");

    /* SPC-only certificate: accepted, coverage not decided here, attestation recorded. */
    url(x5u, sizeof x5u, "https", "spc");
    sign_with("spc", x5u, ORIG, DEST, g_wall_s, id);
    g = verify1(id, DEST);
    expect(&g, 0, "SPC-only");
    assert_false(g.r.tn_checked);
    assert_string_equal(g.r.spc, "709J");
    assert_string_equal(g.r.attest, "A");
}

static void test_refusals_before_fetch(void **state)
{
    (void)state;
    char x5u[256], id[RIPP_IDENTITY_MAX + 1], bad[RIPP_IDENTITY_MAX + 1];
    got g = verify1(NULL, DEST);
    expect(&g, 428, "no Identity");
    g = verify1("", DEST);
    expect(&g, 428, "no Identity");

    url(x5u, sizeof x5u, "https", "good");
    sign_with("good", x5u, ORIG, DEST, g_wall_s, id);
    /* compact form: the claims part left out */
    const char *d1 = strchr(id, '.'), *d2 = strchr(d1 + 1, '.');
    snprintf(bad, sizeof bad, "%.*s.%s", (int)(d1 - id), id, d2);
    g = verify1(bad, DEST);
    expect(&g, 438, "compact form");

    /* http:// x5u: refused without fetching */
    url(x5u, sizeof x5u, "http", "good");
    sign_raw("good", x5u, ORIG, g_wall_s, id);
    g = verify1(id, DEST);
    expect(&g, 436, "not an https URL");

    /* iat: 60 s either way is fine, 61 s is not */
    url(x5u, sizeof x5u, "https", "good");
    sign_with("good", x5u, ORIG, DEST, g_wall_s - 61, id);
    expect((g = verify1(id, DEST), &g), 438, "61 s old");
    sign_with("good", x5u, ORIG, DEST, g_wall_s + 61, id);
    expect((g = verify1(id, DEST), &g), 438, "61 s ahead");
    assert_int_equal(F->requests, 0);
    sign_with("good", x5u, ORIG, DEST, g_wall_s - 60, id);
    expect((g = verify1(id, DEST), &g), 0, "verified");
    sign_with("good", x5u, ORIG, DEST, g_wall_s + 60, id);
    expect((g = verify1(id, DEST), &g), 0, "verified");

    /* dest not the target */
    g = verify1(id, "15550009999");
    expect(&g, 438, "dest.tn is not the target");
    assert_int_equal(F->requests, 1);
}

static void test_refusals_of_credentials(void **state)
{
    (void)state;
    char x5u[256], id[RIPP_IDENTITY_MAX + 1];
    got g;
    /* bad signature: signed by another key than the x5u certificate's */
    url(x5u, sizeof x5u, "https", "good");
    sign_raw("other", x5u, ORIG, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 438, "signature");

    /* certificate without TNAuthList */
    url(x5u, sizeof x5u, "https", "notn");
    sign_with("notn", x5u, ORIG, DEST, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 437, "no TNAuthList");

    /* TNAuthList not covering orig: the signer refuses to make it, so sign below it */
    char cert[256], key[256], eb[256];
    path_of(cert, sizeof cert, "other", "cert.pem");
    path_of(key, sizeof key, "other", "key.pem");
    url(x5u, sizeof x5u, "https", "other");
    int err = 0;
    ripp_stir_signer *s = ripp_stir_signer_new(cert, key, x5u, &err, eb, sizeof eb);
    assert_non_null(s);
    ripp_stir_claims c = {ORIG, DEST, "A", NULL, 0};
    assert_int_equal(ripp_stir_sign(s, &c, id, sizeof id), RIPP_ERR_AUTH);
    ripp_stir_signer_del(s);
    sign_raw("other", x5u, ORIG, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 438, "does not cover orig.tn");

    /* chain not from a trusted anchor */
    url(x5u, sizeof x5u, "https", "rogue");
    sign_with("rogue", x5u, ORIG, DEST, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 437, "not trusted");

    /* expired certificate */
    url(x5u, sizeof x5u, "https", "expired");
    sign_with("expired", x5u, ORIG, DEST, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 437, "expired");
    /* the same certificate was valid two weeks ago (the injected wall clock) */
    g_wall_s = g_real_now - 5 * 86400;
    sign_with("expired", x5u, ORIG, DEST, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 0, "verified");
    g_wall_s = g_real_now;

    /* a key and a certificate that do not belong together */
    path_of(key, sizeof key, "good", "key.pem");
    assert_null(ripp_stir_signer_new(cert, key, x5u, &err, eb, sizeof eb));
    assert_int_equal(err, RIPP_ERR_AUTH);
    url(x5u, sizeof x5u, "http", "other");
    path_of(key, sizeof key, "other", "key.pem");
    assert_null(ripp_stir_signer_new(cert, key, x5u, &err, eb, sizeof eb));
    assert_int_equal(err, RIPP_ERR_INVAL);
}

static void test_fetch_failures(void **state)
{
    (void)state;
    ripp_stir_verifier_del(F->v);
    ripp_stir_config cfg = {.fetch_timeout = 400 * RIPP_NS_PER_MS, .breaker_failures = 100};
    F->v = make_verifier(&cfg);
    assert_non_null(F->v);
    char x5u[256], id[RIPP_IDENTITY_MAX + 1];
    got g;

    /* unreachable x5u: a listener that never answers; bounded by the fetch timeout */
    snprintf(x5u, sizeof x5u, "https://127.0.0.1:%d/cert.pem", F->blackhole_port);
    sign_raw("good", x5u, ORIG, g_wall_s, id);
    ripp_ts t0 = ripp_io_now();
    g = verify1(id, DEST);
    ripp_ts waited = g.at - t0;
    fprintf(stderr, "unreachable x5u refused after %.1f ms (timeout 400 ms)\n",
            (double)waited / 1e6);
    expect(&g, 436, "timed out");
    assert_true(waited >= 300 * RIPP_NS_PER_MS);
    assert_true(waited < 400 * RIPP_NS_PER_MS + 250 * RIPP_NS_PER_MS);

    /* a server that never answers the request */
    url(x5u, sizeof x5u, "https", "slow");
    sign_raw("good", x5u, ORIG, g_wall_s, id);
    t0 = ripp_io_now();
    g = verify1(id, DEST);
    expect(&g, 436, "timed out");
    assert_true(g.at - t0 < 650 * RIPP_NS_PER_MS);

    /* 404, too large, not a certificate */
    url(x5u, sizeof x5u, "https", "missing");
    sign_raw("good", x5u, ORIG, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 436, "HTTP 404");
    url(x5u, sizeof x5u, "https", "big");
    sign_raw("good", x5u, ORIG, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 436, "larger than 65536");

    /* nothing listening at all */
    uv_tcp_t probe;
    uv_tcp_init(&F->loop, &probe);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&probe, (const struct sockaddr *)&a, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&probe, (struct sockaddr *)&ss, &len);
    int closed_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&probe, NULL);
    snprintf(x5u, sizeof x5u, "https://127.0.0.1:%d/cert.pem", closed_port);
    sign_raw("good", x5u, ORIG, g_wall_s, id);
    expect((g = verify1(id, DEST), &g), 436, "x5u fetch");

    ripp_stir_stats st;
    ripp_stir_verifier_stats(F->v, &st);
    assert_int_equal(st.fetch_failures, 5);
    assert_int_equal(st.inflight, 0);
}

static void test_cache(void **state)
{
    (void)state;
    char x5u[256], id[RIPP_IDENTITY_MAX + 1];
    url(x5u, sizeof x5u, "https", "ttl");
    sign_with("good", x5u, ORIG, DEST, g_wall_s, id);
    got g = verify1(id, DEST);
    expect(&g, 0, "verified");
    assert_int_equal(F->requests, 1);
    /* cache hit: no second fetch */
    g = verify1(id, DEST);
    expect(&g, 0, "verified");
    assert_int_equal(F->requests, 1);
    ripp_stir_stats st;
    ripp_stir_verifier_stats(F->v, &st);
    assert_int_equal(st.fetches, 1);
    assert_int_equal(st.cache_hits, 1);
    assert_int_equal(st.cached, 1);
    /* max-age=120: still cached at 119 s, fetched again at 121 s */
    g_mono += 119 * RIPP_NS_PER_SEC;
    g = verify1(id, DEST);
    assert_int_equal(F->requests, 1);
    g_mono += 2 * RIPP_NS_PER_SEC;
    g = verify1(id, DEST);
    expect(&g, 0, "verified");
    assert_int_equal(F->requests, 2);

    /* a pinned certificate needs no fetch at all */
    char cert[256];
    path_of(cert, sizeof cert, "good", "cert.pem");
    FILE *f = fopen(cert, "rb");
    assert_non_null(f);
    uint8_t pem[8192];
    size_t n = fread(pem, 1, sizeof pem, f);
    fclose(f);
    assert_int_equal(ripp_stir_cache_put(F->v, "https://sti.invalid/pinned.pem", pem, n), 0);
    assert_int_equal(
        ripp_stir_cache_put(F->v, "https://sti.invalid/x.pem", (const uint8_t *)"x", 1),
        RIPP_ERR_PROTO);
    sign_with("good", "https://sti.invalid/pinned.pem", ORIG, DEST, g_wall_s, id);
    g_mono += 100000 * RIPP_NS_PER_SEC;
    g = verify1(id, DEST);
    expect(&g, 0, "verified");
    assert_int_equal(F->requests, 2);
}

static void test_shared_fetch_and_cancel(void **state)
{
    (void)state;
    char x5u[256], id[RIPP_IDENTITY_MAX + 1];
    url(x5u, sizeof x5u, "https", "good");
    sign_with("good", x5u, ORIG, DEST, g_wall_s, id);
    got g[5];
    memset(g, 0, sizeof g);
    ripp_stir_req *reqs[5];
    for (int i = 0; i < 5; i++)
        assert_int_equal(ripp_stir_verify(F->v, id, strlen(id), DEST, on_done, &g[i], &reqs[i]), 0);
    ripp_stir_cancel(reqs[4]); /* its caller went away */
    run_until_done(g, 4, 10000);
    for (int i = 0; i < 4; i++)
        expect(&g[i], 0, "verified");
    run_for(50);
    assert_int_equal(g[4].calls, 0);
    assert_int_equal(F->requests, 1);
    ripp_stir_stats st;
    ripp_stir_verifier_stats(F->v, &st);
    assert_int_equal(st.fetches, 1);
    assert_int_equal(st.shared, 4);

    /* the only waiter cancels: no callback; the fetch still fills the cache */
    url(x5u, sizeof x5u, "https", "chain");
    sign_with("chain", x5u, ORIG, DEST, g_wall_s, id);
    got c = {0};
    ripp_stir_req *r = NULL;
    assert_int_equal(ripp_stir_verify(F->v, id, strlen(id), DEST, on_done, &c, &r), 0);
    ripp_stir_cancel(r);
    run_for(300);
    assert_int_equal(c.calls, 0);
    assert_int_equal(F->requests, 2);
    c = verify1(id, DEST);
    expect(&c, 0, "verified");
    assert_int_equal(F->requests, 2);

    /* the verifier goes away with requests pending: no callbacks, no leaks */
    url(x5u, sizeof x5u, "https", "slow");
    sign_raw("good", x5u, ORIG, g_wall_s, id);
    got p = {0};
    assert_int_equal(ripp_stir_verify(F->v, id, strlen(id), DEST, on_done, &p, NULL), 0);
    run_for(50);
    ripp_stir_verifier_del(F->v);
    F->v = NULL;
    run_for(50);
    assert_int_equal(p.calls, 0);
}

static void test_breaker(void **state)
{
    (void)state;
    ripp_stir_verifier_del(F->v);
    ripp_stir_config cfg = {.breaker_failures = 2, .breaker_cooldown = 10 * RIPP_NS_PER_SEC};
    F->v = make_verifier(&cfg);
    assert_non_null(F->v);
    char bad[256], good[256], id_bad[RIPP_IDENTITY_MAX + 1], id_good[RIPP_IDENTITY_MAX + 1];
    url(bad, sizeof bad, "https", "missing");
    url(good, sizeof good, "https", "good");
    sign_raw("good", bad, ORIG, g_wall_s, id_bad);
    sign_with("good", good, ORIG, DEST, g_wall_s, id_good);
    got g;
    expect((g = verify1(id_bad, DEST), &g), 436, "HTTP 404");
    expect((g = verify1(id_bad, DEST), &g), 436, "HTTP 404");
    assert_int_equal(F->requests, 2);
    /* open: the host is not asked again, whatever the URL */
    expect((g = verify1(id_good, DEST), &g), 436, "circuit open");
    expect((g = verify1(id_bad, DEST), &g), 436, "circuit open");
    assert_int_equal(F->requests, 2);
    ripp_stir_stats st;
    ripp_stir_verifier_stats(F->v, &st);
    assert_int_equal(st.breaker_opens, 1);
    assert_int_equal(st.breaker_fast_fails, 2);
    /* half-open after the cooldown: one failing probe opens it again */
    g_mono += 11 * RIPP_NS_PER_SEC;
    expect((g = verify1(id_bad, DEST), &g), 436, "HTTP 404");
    assert_int_equal(F->requests, 3);
    expect((g = verify1(id_good, DEST), &g), 436, "circuit open");
    /* a successful probe closes it */
    g_mono += 11 * RIPP_NS_PER_SEC;
    expect((g = verify1(id_good, DEST), &g), 0, "verified");
    assert_int_equal(F->requests, 4);
    expect((g = verify1(id_bad, DEST), &g), 436, "HTTP 404");
    assert_int_equal(F->requests, 5);
}

/* ---- TNAuthList ---- */

static void test_tnauth_der(void **state)
{
    (void)state;
    /* SHAKEN's usual extension value: SEQUENCE { [0] EXPLICIT IA5String "709J" } */
    static const uint8_t spc_der[] = {0x30, 0x08, 0xa0, 0x06, 0x16, 0x04, '7', '0', '9', 'J'};
    ripp_tnauth t;
    assert_int_equal(ripp_tnauth_parse(spc_der, sizeof spc_der, &t), 0);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.e[0].kind, RIPP_TNAUTH_SPC);
    assert_string_equal(t.e[0].value, "709J");
    uint8_t out[256];
    assert_int_equal(ripp_tnauth_encode(&t, out, sizeof out), sizeof spc_der);
    assert_memory_equal(out, spc_der, sizeof spc_der);
    assert_int_equal(ripp_tnauth_encode(&t, out, 4), RIPP_ERR_LIMIT);

    ripp_tnauth in;
    memset(&in, 0, sizeof in);
    in.n = 3;
    in.e[0] = (ripp_tnauth_entry){RIPP_TNAUTH_ONE, "15551234567", 0};
    in.e[1] = (ripp_tnauth_entry){RIPP_TNAUTH_RANGE, "1555000", 300};
    in.e[2] = (ripp_tnauth_entry){RIPP_TNAUTH_SPC, "ABCD", 0};
    int64_t n = ripp_tnauth_encode(&in, out, sizeof out);
    assert_true(n > 0);
    /* range: [1] EXPLICIT SEQUENCE { IA5String, INTEGER 300 } */
    static const uint8_t range[] = {0xa1, 0x0f, 0x30, 0x0d, 0x16, 0x07, '1',  '5', '5',
                                    '5',  '0',  '0',  '0',  0x02, 0x02, 0x01, 0x2c};
    assert_non_null(memmem(out, (size_t)n, range, sizeof range));
    assert_int_equal(ripp_tnauth_parse(out, (size_t)n, &t), 0);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.e[1].kind, RIPP_TNAUTH_RANGE);
    assert_string_equal(t.e[1].value, "1555000");
    assert_int_equal(t.e[1].count, 300);

    /* malformed: trailing byte, empty list, implicit instead of explicit tag, bad TN */
    uint8_t trail[sizeof spc_der + 1];
    memcpy(trail, spc_der, sizeof spc_der);
    trail[sizeof spc_der] = 0;
    assert_int_equal(ripp_tnauth_parse(trail, sizeof trail, &t), RIPP_ERR_PROTO);
    static const uint8_t empty[] = {0x30, 0x00};
    assert_int_equal(ripp_tnauth_parse(empty, sizeof empty, &t), RIPP_ERR_PROTO);
    static const uint8_t implicit[] = {0x30, 0x06, 0x80, 0x04, '7', '0', '9', 'J'};
    assert_int_equal(ripp_tnauth_parse(implicit, sizeof implicit, &t), RIPP_ERR_PROTO);
    static const uint8_t letters[] = {0x30, 0x08, 0xa2, 0x06, 0x16, 0x04, '1', 'x', '3', '4'};
    assert_int_equal(ripp_tnauth_parse(letters, sizeof letters, &t), RIPP_ERR_PROTO);
    assert_int_equal(ripp_tnauth_parse(NULL, 0, &t), RIPP_ERR_PROTO);
    in.e[0].value[0] = 'x';
    assert_int_equal(ripp_tnauth_encode(&in, out, sizeof out), RIPP_ERR_INVAL);

    /* more entries than the cap */
    memset(&in, 0, sizeof in);
    in.n = RIPP_TNAUTH_MAX_ENTRIES;
    for (size_t i = 0; i < in.n; i++)
        in.e[i] = (ripp_tnauth_entry){RIPP_TNAUTH_SPC, "1234", 0};
    uint8_t big[2048];
    n = ripp_tnauth_encode(&in, big, sizeof big);
    assert_true(n > 0);
    assert_int_equal(ripp_tnauth_parse(big, (size_t)n, &t), 0);
    /* one more entry, appended by hand: 30 82 LL LL then the entries */
    uint8_t more[2048];
    size_t body = (size_t)n - 4 + 8;
    assert_int_equal(big[0], 0x30);
    assert_int_equal(big[1], 0x82);
    more[0] = 0x30;
    more[1] = 0x82;
    more[2] = (uint8_t)(body >> 8);
    more[3] = (uint8_t)body;
    memcpy(more + 4, big + 4, (size_t)n - 4);
    memcpy(more + n, spc_der + 2, 8);
    assert_int_equal(ripp_tnauth_parse(more, (size_t)n + 8, &t), RIPP_ERR_LIMIT);
}

static void test_tnauth_cover(void **state)
{
    (void)state;
    ripp_tnauth t;
    memset(&t, 0, sizeof t);
    t.n = 3;
    t.e[0] = (ripp_tnauth_entry){RIPP_TNAUTH_SPC, "709J", 0};
    t.e[1] = (ripp_tnauth_entry){RIPP_TNAUTH_ONE, "15551234567", 0};
    t.e[2] = (ripp_tnauth_entry){RIPP_TNAUTH_RANGE, "1555999990", 20};
    assert_int_equal(ripp_tnauth_covers(&t, "15551234567"), RIPP_TNAUTH_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "+15551234567"), RIPP_TNAUTH_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "15551234568"), RIPP_TNAUTH_NOT_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "1555999990"), RIPP_TNAUTH_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "1555999999"), RIPP_TNAUTH_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "1556000009"), RIPP_TNAUTH_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "1556000010"), RIPP_TNAUTH_NOT_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "1555999989"), RIPP_TNAUTH_NOT_COVERED);
    /* a range holds numbers of its start's length only */
    assert_int_equal(ripp_tnauth_covers(&t, "15559999900"), RIPP_TNAUTH_NOT_COVERED);
    /* start + count - 1 carries past 10 digits: the range runs to the last 10-digit number */
    t.e[2] = (ripp_tnauth_entry){RIPP_TNAUTH_RANGE, "9999999990", 20};
    assert_int_equal(ripp_tnauth_covers(&t, "9999999999"), RIPP_TNAUTH_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "9999999989"), RIPP_TNAUTH_NOT_COVERED);
    t.e[2] = (ripp_tnauth_entry){RIPP_TNAUTH_RANGE, "1555000100", 100};
    assert_int_equal(ripp_tnauth_covers(&t, "1555000199"), RIPP_TNAUTH_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "1555000200"), RIPP_TNAUTH_NOT_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "1555000099"), RIPP_TNAUTH_NOT_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "abc"), RIPP_TNAUTH_NOT_COVERED);
    assert_int_equal(ripp_tnauth_covers(&t, "1234567890123456"), RIPP_TNAUTH_NOT_COVERED);
    t.n = 1;
    assert_int_equal(ripp_tnauth_covers(&t, "15551234567"), RIPP_TNAUTH_SPC_ONLY);
}

static void test_cache_ttl(void **state)
{
    (void)state;
    assert_int_equal(ripp_stir_cache_ttl(NULL, 3600, 60, 86400), 3600);
    assert_int_equal(ripp_stir_cache_ttl("public, max-age=600", 3600, 60, 86400), 600);
    assert_int_equal(ripp_stir_cache_ttl("MAX-AGE=\"900\"", 3600, 60, 86400), 900);
    assert_int_equal(ripp_stir_cache_ttl("max-age=5", 3600, 60, 86400), 60);
    assert_int_equal(ripp_stir_cache_ttl("max-age=99999999999", 3600, 60, 86400), 86400);
    assert_int_equal(ripp_stir_cache_ttl("no-store", 3600, 60, 86400), 60);
    assert_int_equal(ripp_stir_cache_ttl("private", 3600, 60, 86400), 3600);
    assert_int_equal(ripp_stir_cache_ttl("max-age=", 3600, 60, 86400), 3600);
    assert_int_equal(ripp_stir_cache_ttl(" , max-age=300,", 3600, 60, 86400), 300);
    assert_int_equal(ripp_stir_cache_ttl(" ", 3600, 60, 86400), 3600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tnauth_der),
        cmocka_unit_test(test_tnauth_cover),
        cmocka_unit_test(test_cache_ttl),
        cmocka_unit_test_setup_teardown(test_valid, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_before_fetch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_of_credentials, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fetch_failures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_shared_fetch_and_cancel, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_breaker, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
