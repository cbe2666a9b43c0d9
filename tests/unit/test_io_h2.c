/* The HTTP/2 binding end to end on loopback: our client against our server, plus raw peers
 * that misbehave (garbage, TLS without ALPN, protocol errors, a reader that stops). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/x509.h>
#include <nghttp2/nghttp2.h>

#include "ripp/io.h"

static char g_dir[64];
static char g_cert[128], g_key[128], g_other_cert[128], g_other_key[128];
static char g_wrong_cert[128], g_wrong_key[128]; /* valid, but for another name */

/* ---- fixture ---- */

typedef struct creq {
    ripp_xchg *x;
    int status;
    char ctype[64];
    uint8_t body[65536];
    size_t blen;
    bool ended, closed;
    int close_err;
    uint32_t close_code;
    int closes;
    ripp_ts t_start, t_resp;
    bool reset_on_response;
} creq;

typedef struct sreq {
    ripp_xchg *x;
    uv_timer_t timer;
    bool timer_used;
    int closes, close_err;
    uint32_t close_code;
    bool ended;
    size_t received;
    int write_err;
    size_t last_buffered;
    int stall_ticks;
} sreq;

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    uv_timer_t poke; /* wakes the loop often, so that flags set before a poll are seen */
    bool timed_out;
    ripp_h2_server *srv;
    ripp_http_client *cli;
    bool cleartext;
    /* server observations */
    int requests;
    char last_method[16], last_path[256], last_query[256], last_authority[256], last_scheme[16],
        last_xtest[64];
    size_t last_nhdrs;
    bool pseudo_in_hdrs;
    sreq sreqs[8];
    int n_sreqs;
    /* duplex */
    uv_timer_t dtimer;
    int dsent;
    uint8_t dbuf[50 * 160];
    size_t live_violations;
    bool dended;
    /* shutdown test */
    bool shutdown_called;
} fx;

static fx *F;

static void on_guard(uv_timer_t *t)
{
    fx *f = t->data;
    f->timed_out = true;
}

static void on_poke(uv_timer_t *t)
{
    (void)t;
}

static void run_until(bool *flag, unsigned ms)
{
    uv_timer_start(&F->guard, on_guard, ms, 0);
    while (!*flag && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    assert_false(F->timed_out);
}

static void run_for(unsigned ms)
{
    bool never = false;
    uv_timer_start(&F->guard, on_guard, ms, 0);
    while (!never && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    F->timed_out = false;
}

/* ---- server side ---- */

static sreq *sreq_new(ripp_xchg *x)
{
    assert_true(F->n_sreqs < 8);
    sreq *s = &F->sreqs[F->n_sreqs++];
    memset(s, 0, sizeof *s);
    s->x = x;
    return s;
}

static void s_on_data_echo(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    sreq *s = ud;
    s->received += len;
    int rv = ripp_xchg_write(x, data, len);
    if (rv < 0) s->write_err = rv;
}

static void s_on_data_count(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    (void)x;
    (void)data;
    sreq *s = ud;
    s->received += len;
}

static void s_on_end_finish(ripp_xchg *x, void *ud)
{
    sreq *s = ud;
    s->ended = true;
    ripp_xchg_end(x);
}

static void s_on_end_note(ripp_xchg *x, void *ud)
{
    (void)x;
    sreq *s = ud;
    s->ended = true;
}

static void s_on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    (void)x;
    sreq *s = ud;
    s->closes++;
    s->close_err = error;
    s->close_code = code;
    s->x = NULL;
}

static const ripp_xchg_cbs echo_cbs = {NULL, s_on_data_echo, s_on_end_finish, s_on_close};
static const ripp_xchg_cbs hold_cbs = {NULL, s_on_data_count, s_on_end_note, s_on_close};

static void on_deferred(uv_timer_t *t)
{
    sreq *s = t->data;
    if (!s->x) return;
    ripp_hdr h[] = {{"content-type", "text/plain"}};
    assert_int_equal(ripp_xchg_respond(s->x, 200, h, 1, false), 0);
    assert_int_equal(ripp_xchg_write(s->x, (const uint8_t *)"later", 5), 0);
    assert_int_equal(ripp_xchg_end(s->x), 0);
}

/* Keep the stream's send buffer half full; once it stops draining for 200 ms (the socket
 * and the binding's queue are full), fill it to the cap to see RIPP_ERR_LIMIT. */
static void on_flood(uv_timer_t *t)
{
    sreq *s = t->data;
    if (!s->x) {
        uv_timer_stop(t);
        return;
    }
    static uint8_t chunk[64 * 1024];
    size_t before = ripp_xchg_buffered(s->x);
    if (before >= s->last_buffered && before > 0)
        s->stall_ticks++;
    else
        s->stall_ticks = 0;
    if (s->stall_ticks >= 40) {
        int rv;
        while ((rv = ripp_xchg_write(s->x, chunk, sizeof chunk)) == 0)
            s->received += sizeof chunk;
        s->write_err = rv;
        uv_timer_stop(t);
        return;
    }
    while (ripp_xchg_buffered(s->x) < 512 * 1024) {
        int rv = ripp_xchg_write(s->x, chunk, sizeof chunk);
        if (rv < 0) {
            s->write_err = rv;
            break;
        }
        s->received += sizeof chunk; /* bytes accepted */
    }
    s->last_buffered = ripp_xchg_buffered(s->x);
}

static void srv_on_request(void *ud, ripp_xchg *x, const ripp_request *req)
{
    fx *f = ud;
    f->requests++;
    snprintf(f->last_method, sizeof f->last_method, "%s", req->method);
    snprintf(f->last_path, sizeof f->last_path, "%s", req->path);
    snprintf(f->last_query, sizeof f->last_query, "%s", req->query);
    snprintf(f->last_authority, sizeof f->last_authority, "%s", req->authority);
    snprintf(f->last_scheme, sizeof f->last_scheme, "%s", req->scheme);
    const char *xt = ripp_request_header(req, "X-Test");
    snprintf(f->last_xtest, sizeof f->last_xtest, "%s", xt ? xt : "");
    f->last_nhdrs = req->n_hdrs;
    for (size_t i = 0; i < req->n_hdrs; i++)
        if (req->hdrs[i].name[0] == ':') f->pseudo_in_hdrs = true;

    if (!strcmp(req->path, "/get")) {
        char body[300];
        int n = snprintf(body, sizeof body, "hello %s", req->query);
        ripp_hdr bad[] = {{"x-bad", "a\r\nb: c"}};
        assert_int_equal(ripp_xchg_respond(x, 200, bad, 1, false), RIPP_ERR_INVAL);
        assert_int_equal(ripp_xchg_respond(x, 101, NULL, 0, false), RIPP_ERR_INVAL);
        ripp_hdr h[] = {
            {"Content-Type", "text/plain"}, {"x-reply", "yes"}, {"connection", "close"}};
        assert_int_equal(ripp_xchg_respond(x, 200, h, 3, false), 0);
        assert_int_equal(ripp_xchg_write(x, (const uint8_t *)body, (size_t)n), 0);
        assert_int_equal(ripp_xchg_end(x), 0);
        assert_int_equal(ripp_xchg_respond(x, 200, NULL, 0, false), RIPP_ERR_STATE);
        assert_int_equal(ripp_xchg_write(x, (const uint8_t *)"x", 1), RIPP_ERR_STATE);
    } else if (!strcmp(req->path, "/echo")) {
        sreq *s = sreq_new(x);
        ripp_xchg_set_handler(x, &echo_cbs, s);
        assert_int_equal(ripp_xchg_respond(x, 200, NULL, 0, false), 0);
    } else if (!strcmp(req->path, "/deferred")) {
        sreq *s = sreq_new(x);
        ripp_xchg_set_handler(x, &hold_cbs, s);
        uv_timer_init(&f->loop, &s->timer);
        s->timer.data = s;
        s->timer_used = true;
        uv_timer_start(&s->timer, on_deferred, 100, 0);
    } else if (!strcmp(req->path, "/hold")) {
        sreq *s = sreq_new(x);
        ripp_xchg_set_handler(x, &hold_cbs, s);
        assert_int_equal(ripp_xchg_respond(x, 200, NULL, 0, false), 0);
    } else if (!strcmp(req->path, "/flood")) {
        sreq *s = sreq_new(x);
        ripp_xchg_set_handler(x, &hold_cbs, s);
        assert_int_equal(ripp_xchg_respond(x, 200, NULL, 0, false), 0);
        uv_timer_init(&f->loop, &s->timer);
        s->timer.data = s;
        s->timer_used = true;
        uv_timer_start(&s->timer, on_flood, 1, 5);
    } else {
        ripp_hdr h[] = {{"content-length", "0"}};
        ripp_xchg_respond(x, 404, h, 1, true);
    }
}

/* ---- client side ---- */

static void c_on_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    creq *r = ud;
    r->status = status;
    r->t_resp = ripp_io_now();
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h[i].name, "content-type"))
            snprintf(r->ctype, sizeof r->ctype, "%s", h[i].value);
    if (r->reset_on_response) assert_int_equal(ripp_xchg_reset(x, RIPP_XCHG_CANCEL), 0);
}

static void c_on_data(ripp_xchg *x, void *ud, const uint8_t *d, size_t len)
{
    (void)x;
    creq *r = ud;
    assert_true(r->blen + len <= sizeof r->body);
    memcpy(r->body + r->blen, d, len);
    r->blen += len;
}

static void c_on_end(ripp_xchg *x, void *ud)
{
    (void)x;
    creq *r = ud;
    r->ended = true;
}

static void c_on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    (void)x;
    creq *r = ud;
    r->closes++;
    r->closed = true;
    r->close_err = error;
    r->close_code = code;
    r->x = NULL;
}

static const ripp_xchg_cbs client_cbs = {c_on_response, c_on_data, c_on_end, c_on_close};

static ripp_xchg *get(creq *r, const char *path)
{
    char url[300];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", F->cleartext ? "http" : "https",
             ripp_h2_server_port(F->srv), path);
    memset(r, 0, sizeof *r);
    r->t_start = ripp_io_now();
    ripp_hdr h[] = {{"x-test", "abc"}, {"authorization", "Bearer secret"}};
    int err = 0;
    r->x = ripp_http_client_request(F->cli, "GET", url, h, 2, true, &client_cbs, r, &err);
    assert_non_null(r->x);
    return r->x;
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/ripp_h2_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_cert, sizeof g_cert, "%s/cert.pem", g_dir);
    snprintf(g_key, sizeof g_key, "%s/key.pem", g_dir);
    snprintf(g_other_cert, sizeof g_other_cert, "%s/other.pem", g_dir);
    snprintf(g_other_key, sizeof g_other_key, "%s/other.key", g_dir);
    const char *names[] = {"localhost", "127.0.0.1", "::1"};
    if (ripp_tls_make_selfsigned(g_cert, g_key, names, 3) != 0) return -1;
    if (ripp_tls_make_selfsigned(g_other_cert, g_other_key, names, 3) != 0) return -1;
    snprintf(g_wrong_cert, sizeof g_wrong_cert, "%s/wrong.pem", g_dir);
    snprintf(g_wrong_key, sizeof g_wrong_key, "%s/wrong.key", g_dir);
    const char *wrong[] = {"example.test", "10.9.8.7"};
    if (ripp_tls_make_selfsigned(g_wrong_cert, g_wrong_key, wrong, 2) != 0) return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(g_cert);
    unlink(g_key);
    unlink(g_other_cert);
    unlink(g_other_key);
    unlink(g_wrong_cert);
    unlink(g_wrong_key);
    rmdir(g_dir);
    return 0;
}

static void log_to_stderr(void *ud, enum ripp_log_level level, const char *msg)
{
    (void)ud;
    fprintf(stderr, "[%d] %s\n", (int)level, msg);
}

static int fx_setup_mode(bool cleartext)
{
    F = calloc(1, sizeof *F);
    if (!F) return -1;
    if (getenv("RIPP_TEST_LOG")) ripp_log_set_handler(log_to_stderr, NULL, RIPP_LOG_DEBUG);
    F->cleartext = cleartext;
    uv_loop_init(&F->loop);
    uv_timer_init(&F->loop, &F->guard);
    F->guard.data = F;
    uv_timer_init(&F->loop, &F->poke);
    uv_timer_start(&F->poke, on_poke, 5, 5);
    ripp_h2_server_config sc = {
        .host = "127.0.0.1",
        .port = 0,
        .tls = {g_cert, g_key},
        .cleartext = cleartext,
    };
    int err = 0;
    char eb[256];
    F->srv = ripp_h2_server_new(&F->loop, &sc, srv_on_request, F, &err, eb, sizeof eb);
    if (!F->srv) {
        fprintf(stderr, "server: %s\n", eb);
        return -1;
    }
    ripp_h2_client_config cc = {.tls = {.ca_file = g_cert}};
    F->cli = ripp_h2_client_new(&F->loop, &cc, &err);
    return F->cli ? 0 : -1;
}

static int fx_setup(void **state)
{
    (void)state;
    return fx_setup_mode(false);
}

static int fx_setup_clear(void **state)
{
    (void)state;
    return fx_setup_mode(true);
}

static void close_if(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

static int fx_teardown(void **state)
{
    (void)state;
    ripp_http_client_del(F->cli);
    ripp_h2_server_del(F->srv);
    for (int i = 0; i < F->n_sreqs; i++)
        if (F->sreqs[i].timer_used) close_if((uv_handle_t *)&F->sreqs[i].timer);
    close_if((uv_handle_t *)&F->guard);
    close_if((uv_handle_t *)&F->poke);
    if (F->dtimer.loop) close_if((uv_handle_t *)&F->dtimer);
    uv_run(&F->loop, UV_RUN_DEFAULT);
    int rv = uv_loop_close(&F->loop);
    ripp_log_set_handler(NULL, NULL, RIPP_LOG_ERROR);
    free(F);
    F = NULL;
    assert_int_equal(rv, 0); /* every handle closed */
    return 0;
}

/* ---- tests ---- */

static void test_get(void **state)
{
    (void)state;
    creq r;
    get(&r, "/get?q=1");
    run_until(&r.closed, 5000);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain");
    assert_int_equal(r.blen, 9);
    assert_memory_equal(r.body, "hello q=1", 9);
    assert_true(r.ended);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.close_err, 0);
    assert_string_equal(F->last_method, "GET");
    assert_string_equal(F->last_path, "/get");
    assert_string_equal(F->last_query, "q=1");
    assert_string_equal(F->last_scheme, "https");
    char auth[64];
    snprintf(auth, sizeof auth, "127.0.0.1:%d", ripp_h2_server_port(F->srv));
    assert_string_equal(F->last_authority, auth);
    assert_string_equal(F->last_xtest, "abc");
    assert_false(F->pseudo_in_hdrs);
    assert_int_equal(F->last_nhdrs, 2);
    /* A second request reuses the connection. */
    creq r2;
    get(&r2, "/nothing");
    run_until(&r2.closed, 5000);
    assert_int_equal(r2.status, 404);
    assert_int_equal(r2.close_err, 0);
    assert_int_equal(ripp_h2_client_connection_count(F->cli), 1);
    assert_int_equal(ripp_h2_server_connection_count(F->srv), 1);
}

/* The server advertises h3 with Alt-Svc; the client remembers it for the same host only. */
static void test_alt_svc(void **state)
{
    (void)state;
    int port = ripp_h2_server_port(F->srv);
    char v[64];
    snprintf(v, sizeof v, "h3=\":%d\"; ma=86400", port);
    ripp_h2_server_set_alt_svc(F->srv, v);
    assert_int_equal(ripp_h2_client_alt_h3_port(F->cli, "127.0.0.1", port), 0);
    creq r;
    get(&r, "/get");
    run_until(&r.closed, 5000);
    assert_int_equal(r.status, 200);
    assert_int_equal(ripp_h2_client_alt_h3_port(F->cli, "127.0.0.1", port), port);
    assert_int_equal(ripp_h2_client_alt_h3_port(F->cli, "localhost", port), 0);
    /* another host's alternative is not taken */
    ripp_h2_server_set_alt_svc(F->srv, "h3=\"evil.example:443\"");
    creq r2;
    get(&r2, "/get");
    run_until(&r2.closed, 5000);
    assert_int_equal(ripp_h2_client_alt_h3_port(F->cli, "127.0.0.1", port), port);
    /* clear forgets */
    ripp_h2_server_set_alt_svc(F->srv, "clear");
    creq r3;
    get(&r3, "/get");
    run_until(&r3.closed, 5000);
    assert_int_equal(ripp_h2_client_alt_h3_port(F->cli, "127.0.0.1", port), 0);
}

static void duplex_tick(uv_timer_t *t)
{
    creq *r = t->data;
    if (!r->x) return;
    if (F->dsent < 50) {
        /* Earlier records come back while we keep sending: allow a lag of a few records
         * (a loaded machine), never a wait for the end of the body. */
        if (F->dsent >= 5 && r->blen < (size_t)(F->dsent - 4) * 160) F->live_violations++;
        uint8_t *rec = F->dbuf + F->dsent * 160;
        for (int j = 0; j < 160; j++)
            rec[j] = (uint8_t)(F->dsent * 7 + j * 13);
        rec[0] = (uint8_t)F->dsent;
        assert_int_equal(ripp_xchg_write(r->x, rec, 160), 0);
        F->dsent++;
        return;
    }
    if (r->blen == sizeof F->dbuf && !F->dended) {
        /* All echoed while our body is still open: true full duplex. */
        assert_false(r->ended);
        assert_int_equal(F->n_sreqs, 1);
        assert_false(F->sreqs[0].ended);
        assert_int_equal(F->sreqs[0].received, sizeof F->dbuf);
        assert_int_equal(ripp_xchg_end(r->x), 0);
        assert_int_equal(ripp_xchg_write(r->x, (const uint8_t *)"x", 1), RIPP_ERR_STATE);
        F->dended = true;
        uv_timer_stop(t);
    }
}

static void test_duplex(void **state)
{
    (void)state;
    creq *r = calloc(1, sizeof *r);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/echo", ripp_h2_server_port(F->srv));
    int err = 0;
    ripp_hdr h[] = {{"content-type", "application/octet-stream"}};
    r->x = ripp_http_client_request(F->cli, "POST", url, h, 1, false, &client_cbs, r, &err);
    assert_non_null(r->x);
    uv_timer_init(&F->loop, &F->dtimer);
    F->dtimer.data = r;
    uv_timer_start(&F->dtimer, duplex_tick, 20, 20);
    run_until(&r->closed, 10000);
    assert_true(F->dended);
    assert_int_equal(F->dsent, 50);
    assert_int_equal(F->live_violations, 0);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->blen, sizeof F->dbuf);
    assert_memory_equal(r->body, F->dbuf, sizeof F->dbuf);
    assert_true(r->ended);
    assert_int_equal(r->close_err, 0);
    run_for(50);
    assert_int_equal(F->n_sreqs, 1);
    assert_int_equal(F->sreqs[0].received, sizeof F->dbuf);
    assert_true(F->sreqs[0].ended);
    assert_int_equal(F->sreqs[0].write_err, 0);
    assert_int_equal(F->sreqs[0].closes, 1);
    assert_int_equal(F->sreqs[0].close_err, 0);
    free(r);
}

static void test_concurrent(void **state)
{
    (void)state;
    enum { N = 200 };
    creq *r = calloc(N, sizeof *r);
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof path, "/get?i=%d", i);
        get(&r[i], path);
    }
    bool all = false;
    uv_timer_start(&F->guard, on_guard, 10000, 0);
    while (!all && !F->timed_out) {
        uv_run(&F->loop, UV_RUN_ONCE);
        all = true;
        for (int i = 0; i < N; i++)
            all = all && r[i].closed;
    }
    uv_timer_stop(&F->guard);
    assert_false(F->timed_out);
    for (int i = 0; i < N; i++) {
        char want[64];
        int n = snprintf(want, sizeof want, "hello i=%d", i);
        assert_int_equal(r[i].status, 200);
        assert_int_equal(r[i].blen, (size_t)n);
        assert_memory_equal(r[i].body, want, (size_t)n);
        assert_int_equal(r[i].close_err, 0);
        assert_int_equal(r[i].closes, 1);
    }
    assert_int_equal(F->requests, N);
    assert_int_equal(ripp_h2_client_connection_count(F->cli), 1);
    assert_int_equal(ripp_h2_server_connection_count(F->srv), 1);
    free(r);
}

static void test_deferred(void **state)
{
    (void)state;
    creq r;
    get(&r, "/deferred");
    run_until(&r.closed, 5000);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, 5);
    assert_memory_equal(r.body, "later", 5);
    assert_int_equal(r.close_err, 0);
    assert_true(r.t_resp - r.t_start >= 90 * RIPP_NS_PER_MS);
    run_for(20);
    assert_int_equal(F->sreqs[0].closes, 1);
    assert_int_equal(F->sreqs[0].close_err, 0);
}

static void test_reset(void **state)
{
    (void)state;
    creq *r = calloc(1, sizeof *r);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hold", ripp_h2_server_port(F->srv));
    int err = 0;
    r->reset_on_response = true;
    r->x = ripp_http_client_request(F->cli, "POST", url, NULL, 0, false, &client_cbs, r, &err);
    assert_non_null(r->x);
    assert_int_equal(ripp_xchg_write(r->x, (const uint8_t *)"abc", 3), 0);
    run_until(&r->closed, 5000);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->close_err, RIPP_ERR_CLOSED);
    assert_int_equal(r->close_code, RIPP_XCHG_CANCEL);
    /* The server sees the reset. */
    uv_timer_start(&F->guard, on_guard, 5000, 0);
    while (F->sreqs[0].closes == 0 && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    assert_int_equal(F->sreqs[0].closes, 1);
    assert_int_equal(F->sreqs[0].close_err, RIPP_ERR_CLOSED);
    assert_int_equal(F->sreqs[0].close_code, RIPP_XCHG_CANCEL);
    assert_int_equal(F->sreqs[0].received, 3);

    /* A reset right after the request, before it went out, on a live connection. */
    memset(r, 0, sizeof *r);
    r->x = ripp_http_client_request(F->cli, "POST", url, NULL, 0, false, &client_cbs, r, &err);
    assert_non_null(r->x);
    assert_int_equal(ripp_xchg_reset(r->x, RIPP_XCHG_CANCEL), 0);
    assert_false(r->closed);
    run_until(&r->closed, 5000);
    assert_int_equal(r->close_err, RIPP_ERR_CLOSED);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->closes, 1);
    /* The connection is still good. */
    creq g;
    get(&g, "/get?after=reset");
    run_until(&g.closed, 5000);
    assert_int_equal(g.close_err, 0);
    assert_int_equal(ripp_h2_client_connection_count(F->cli), 1);

    /* A reset before the connection exists closes asynchronously, never from inside. */
    ripp_http_client_del(F->cli);
    int e2 = 0;
    ripp_h2_client_config cc = {.tls = {.ca_file = g_cert}};
    F->cli = ripp_h2_client_new(&F->loop, &cc, &e2);
    assert_non_null(F->cli);
    memset(r, 0, sizeof *r);
    r->x = ripp_http_client_request(F->cli, "GET", url, NULL, 0, true, &client_cbs, r, &err);
    assert_non_null(r->x);
    assert_int_equal(ripp_xchg_reset(r->x, RIPP_XCHG_CANCEL), 0);
    assert_false(r->closed);
    run_until(&r->closed, 5000);
    assert_int_equal(r->close_err, RIPP_ERR_CLOSED);
    assert_int_equal(r->status, 0);
    free(r);
}

static void test_bad_ca(void **state)
{
    (void)state;
    ripp_http_client_del(F->cli);
    int err = 0;
    ripp_h2_client_config cc = {.tls = {.ca_file = g_other_cert}};
    F->cli = ripp_h2_client_new(&F->loop, &cc, &err);
    assert_non_null(F->cli);
    creq r1, r2;
    get(&r1, "/get");
    get(&r2, "/get");
    run_until(&r2.closed, 5000);
    run_until(&r1.closed, 5000);
    assert_int_equal(r1.close_err, RIPP_ERR_CLOSED);
    assert_int_equal(r2.close_err, RIPP_ERR_CLOSED);
    assert_int_equal(r1.status, 0);
    assert_int_equal(F->requests, 0);
    /* The failed connection left the pool: the next request connects again. */
    creq r3;
    get(&r3, "/get");
    run_until(&r3.closed, 5000);
    assert_int_equal(r3.close_err, RIPP_ERR_CLOSED);
    assert_int_equal(ripp_h2_client_connection_count(F->cli), 2);
    assert_int_equal(ripp_h2_client_open_connections(F->cli), 0);

    /* A trusted certificate for another name fails too. */
    ripp_http_client_del(F->cli);
    ripp_h2_server_config sc = {.host = "127.0.0.1", .tls = {g_wrong_cert, g_wrong_key}};
    char eb[128];
    ripp_h2_server *s2 = ripp_h2_server_new(&F->loop, &sc, srv_on_request, F, &err, eb, sizeof eb);
    assert_non_null(s2);
    ripp_h2_client_config wc = {.tls = {.ca_file = g_wrong_cert}};
    F->cli = ripp_h2_client_new(&F->loop, &wc, &err);
    assert_non_null(F->cli);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/get", ripp_h2_server_port(s2));
    memset(&r1, 0, sizeof r1);
    r1.x = ripp_http_client_request(F->cli, "GET", url, NULL, 0, true, &client_cbs, &r1, &err);
    assert_non_null(r1.x);
    run_until(&r1.closed, 5000);
    assert_int_equal(r1.close_err, RIPP_ERR_CLOSED);
    assert_int_equal(F->requests, 0);
    ripp_h2_server_del(s2);
    ripp_http_client_del(F->cli);
    ripp_h2_client_config ok = {.tls = {.ca_file = g_cert}};
    F->cli = ripp_h2_client_new(&F->loop, &ok, &err);
    /* localhost is a DNS SAN. */
    snprintf(url, sizeof url, "https://localhost:%d/get?n=1", ripp_h2_server_port(F->srv));
    memset(&r2, 0, sizeof r2);
    r2.x = ripp_http_client_request(F->cli, "GET", url, NULL, 0, true, &client_cbs, &r2, &err);
    assert_non_null(r2.x);
    run_until(&r2.closed, 5000);
    assert_int_equal(r2.close_err, 0);
    assert_int_equal(r2.status, 200);
}

static void test_shutdown(void **state)
{
    (void)state;
    creq *r = calloc(1, sizeof *r);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/echo", ripp_h2_server_port(F->srv));
    int err = 0;
    r->x = ripp_http_client_request(F->cli, "POST", url, NULL, 0, false, &client_cbs, r, &err);
    assert_non_null(r->x);
    assert_int_equal(ripp_xchg_write(r->x, (const uint8_t *)"one", 3), 0);
    uv_timer_start(&F->guard, on_guard, 5000, 0);
    while (r->blen < 3 && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    assert_int_equal(r->blen, 3);

    ripp_h2_server_shutdown(F->srv);
    run_for(800); /* notice, then the final GOAWAY */
    assert_false(r->closed);
    /* The stream still works both ways after GOAWAY. */
    assert_int_equal(ripp_xchg_write(r->x, (const uint8_t *)"two", 3), 0);
    uv_timer_start(&F->guard, on_guard, 5000, 0);
    while (r->blen < 6 && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    assert_int_equal(r->blen, 6);
    assert_memory_equal(r->body, "onetwo", 6);

    /* A new request does not use the draining connection: it opens another, which fails
     * because the listener is gone. */
    creq r2;
    get(&r2, "/get");
    run_until(&r2.closed, 5000);
    assert_int_equal(r2.close_err, RIPP_ERR_CLOSED);
    assert_int_equal(ripp_h2_client_connection_count(F->cli), 2);

    assert_int_equal(ripp_xchg_end(r->x), 0);
    run_until(&r->closed, 5000);
    assert_int_equal(r->close_err, 0);
    assert_true(r->ended);
    /* With its last stream done, the server closes the connection. */
    uv_timer_start(&F->guard, on_guard, 5000, 0);
    while (ripp_h2_server_open_connections(F->srv) > 0 && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    assert_int_equal(ripp_h2_server_open_connections(F->srv), 0);
    assert_int_equal(F->sreqs[0].close_err, 0);
    free(r);
}

static void test_cleartext(void **state)
{
    (void)state;
    creq r;
    get(&r, "/get?c=1");
    run_until(&r.closed, 5000);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, 9);
    assert_memory_equal(r.body, "hello c=1", 9);
    assert_int_equal(r.close_err, 0);
    assert_string_equal(F->last_scheme, "http");
}

/* ---- misbehaving raw peers ---- */

typedef struct raw {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    bool connected, eof, closed, read;
    size_t got;
    uint8_t *out;
    size_t outlen;
    char rb[65536];
} raw;

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)s;
    raw *r = h->data;
    b->base = r->rb;
    b->len = sizeof r->rb;
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    raw *r = s->data;
    if (n < 0)
        r->eof = true;
    else
        r->got += (size_t)n;
}

static void raw_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void raw_connected(uv_connect_t *c, int status)
{
    raw *r = c->data;
    assert_int_equal(status, 0);
    r->connected = true;
    if (r->read) uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
    if (r->outlen) {
        uv_buf_t b = uv_buf_init((char *)r->out, (unsigned)r->outlen);
        uv_write(&r->wreq, (uv_stream_t *)&r->tcp, &b, 1, raw_written);
    }
}

static void raw_closed(uv_handle_t *h)
{
    raw *r = h->data;
    r->closed = true;
}

static void raw_open(raw *r, const uint8_t *out, size_t len, bool read)
{
    memset(r, 0, sizeof *r);
    r->out = malloc(len ? len : 1);
    memcpy(r->out, out, len);
    r->outlen = len;
    r->read = read;
    uv_tcp_init(&F->loop, &r->tcp);
    r->tcp.data = r;
    r->creq.data = r;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", ripp_h2_server_port(F->srv), &a);
    assert_int_equal(uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&a, raw_connected), 0);
}

static void raw_close(raw *r)
{
    uv_close((uv_handle_t *)&r->tcp, raw_closed);
    run_until(&r->closed, 2000);
    free(r->out);
}

static void test_garbage(void **state)
{
    (void)state;
    raw *r = calloc(1, sizeof *r);
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\xff\xff garbage";
    raw_open(r, (const uint8_t *)junk, sizeof junk - 1, true);
    run_until(&r->eof, 5000);
    raw_close(r);
    assert_int_equal(F->requests, 0);
    /* The server is unharmed. */
    creq c;
    get(&c, "/get");
    run_until(&c.closed, 5000);
    assert_int_equal(c.close_err, 0);
    assert_int_equal(c.status, 200);
    free(r);
}

static void test_garbage_h2c(void **state)
{
    (void)state;
    raw *r = calloc(1, sizeof *r);
    /* Right preface, then a DATA frame on stream 0: a connection error. */
    uint8_t msg[64];
    size_t n = 0;
    memcpy(msg, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
    n += NGHTTP2_CLIENT_MAGIC_LEN;
    const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    memcpy(msg + n, settings, sizeof settings);
    n += sizeof settings;
    const uint8_t data0[] = {0, 0, 4, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 'd'};
    memcpy(msg + n, data0, sizeof data0);
    n += sizeof data0;
    raw_open(r, msg, n, true);
    run_until(&r->eof, 5000);
    assert_true(r->got > 0); /* SETTINGS and GOAWAY came back before the close */
    raw_close(r);
    /* Not even a preface. */
    raw *r2 = calloc(1, sizeof *r2);
    raw_open(r2, (const uint8_t *)"hello there, this is not http/2 at all\r\n\r\n", 42, true);
    run_until(&r2->eof, 5000);
    raw_close(r2);
    assert_int_equal(F->requests, 0);
    creq c;
    get(&c, "/get");
    run_until(&c.closed, 5000);
    assert_int_equal(c.close_err, 0);
    free(r);
    free(r2);
}

typedef struct tcli {
    bool opened, closed;
    int err;
} tcli;

static void t_open(ripp_tls_stream *s, void *ud)
{
    (void)s;
    ((tcli *)ud)->opened = true;
}

static void t_close(ripp_tls_stream *s, void *ud, int err)
{
    (void)s;
    tcli *t = ud;
    t->closed = true;
    t->err = err;
}

static const ripp_tls_stream_cbs tcli_cbs = {t_open, NULL, NULL, t_close};

static void test_no_alpn(void **state)
{
    (void)state;
    int err = 0;
    char eb[128];
    ripp_tls_client_config tc = {g_cert, false};
    ripp_tls_creds *cr = ripp_tls_creds_client_new(&tc, &err, eb, sizeof eb);
    assert_non_null(cr);
    tcli t = {0};
    ripp_tls_stream_opts o = {.creds = cr, .alpn = NULL, .cbs = &tcli_cbs, .ud = &t};
    ripp_tls_stream *s =
        ripp_tls_stream_connect(&F->loop, "127.0.0.1", ripp_h2_server_port(F->srv), &o, &err);
    assert_non_null(s);
    ripp_tls_creds_del(cr); /* the stream keeps its reference */
    run_until(&t.closed, 5000);
    assert_int_not_equal(t.err, 0);
    assert_int_equal(F->requests, 0);
    uv_timer_start(&F->guard, on_guard, 2000, 0);
    while (ripp_h2_server_open_connections(F->srv) > 0 && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    assert_int_equal(ripp_h2_server_open_connections(F->srv), 0);

    /* The wrong protocol is refused the same way. */
    ripp_tls_creds *cr2 = ripp_tls_creds_client_new(&tc, &err, eb, sizeof eb);
    tcli t2 = {0};
    ripp_tls_stream_opts o2 = {.creds = cr2, .alpn = "http/1.1", .cbs = &tcli_cbs, .ud = &t2};
    s = ripp_tls_stream_connect(&F->loop, "127.0.0.1", ripp_h2_server_port(F->srv), &o2, &err);
    assert_non_null(s);
    ripp_tls_creds_del(cr2);
    run_until(&t2.closed, 5000);
    assert_false(t2.opened);
    assert_int_not_equal(t2.err, 0);
}

/* A client that asks for a huge window and then never reads: the server must neither hang
 * nor grow without bound, and must say RIPP_ERR_LIMIT to the writer. */
static ssize_t raw_ng_send(nghttp2_session *s, const uint8_t *d, size_t len, int flags, void *ud)
{
    (void)s;
    (void)flags;
    raw *r = ud;
    r->out = realloc(r->out, r->outlen + len);
    memcpy(r->out + r->outlen, d, len);
    r->outlen += len;
    return (ssize_t)len;
}

static void test_stalled_reader(void **state)
{
    (void)state;
    raw *r = calloc(1, sizeof *r);
    raw stage = {0};
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, raw_ng_send);
    nghttp2_session *ng;
    nghttp2_session_client_new(&ng, cb, &stage);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (1u << 31) - 1}};
    nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, 1);
    nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, (1 << 30));
    char auth[64];
    snprintf(auth, sizeof auth, "127.0.0.1:%d", ripp_h2_server_port(F->srv));
    nghttp2_nv nva[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), 0},
        {(uint8_t *)":path", (uint8_t *)"/flood", 5, 6, 0},
    };
    assert_true(nghttp2_submit_request(ng, NULL, nva, 4, NULL, NULL) > 0);
    assert_int_equal(nghttp2_session_send(ng), 0);
    nghttp2_session_del(ng);
    nghttp2_session_callbacks_del(cb);
    raw_open(r, stage.out, stage.outlen, false);
    free(stage.out);
    uv_timer_start(&F->guard, on_guard, 20000, 0);
    while ((F->n_sreqs == 0 || F->sreqs[0].write_err == 0) && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    assert_false(F->timed_out);
    assert_int_equal(F->sreqs[0].write_err, RIPP_ERR_LIMIT);
    assert_true(ripp_xchg_buffered(F->sreqs[0].x) > RIPP_XCHG_MAX_BUFFERED - 64 * 1024);
    assert_true(ripp_xchg_buffered(F->sreqs[0].x) <= RIPP_XCHG_MAX_BUFFERED);
    /* What the server took before it stopped: the socket buffers, the binding's write queue
     * (high-water mark) and the stream buffer; bounded. */
    if (getenv("RIPP_TEST_LOG"))
        fprintf(stderr, "stalled reader: server accepted %zu bytes\n", F->sreqs[0].received);
    assert_true(F->sreqs[0].received >= RIPP_TLS_STREAM_HIGH_WATER);
    assert_true(F->sreqs[0].received < 64u * 1024 * 1024);
    /* Meanwhile the server serves others. */
    creq c;
    get(&c, "/get?other=1");
    run_until(&c.closed, 5000);
    assert_int_equal(c.close_err, 0);
    assert_int_equal(c.status, 200);
    uv_timer_stop(&F->sreqs[0].timer);
    raw_close(r);
    uv_timer_start(&F->guard, on_guard, 5000, 0);
    while (F->sreqs[0].closes == 0 && !F->timed_out)
        uv_run(&F->loop, UV_RUN_ONCE);
    uv_timer_stop(&F->guard);
    assert_int_equal(F->sreqs[0].closes, 1);
    assert_int_equal(F->sreqs[0].close_err, RIPP_ERR_CLOSED);
    free(r);
}

/* A peer that accepts TCP and then says nothing: the client gives up after its timeout. */
typedef struct mute {
    uv_tcp_t listener;
    uv_tcp_t conn;
    bool accepted, conn_used;
    int port;
} mute;

static void mute_on_conn(uv_stream_t *l, int status)
{
    mute *m = l->data;
    assert_int_equal(status, 0);
    assert_false(m->conn_used);
    uv_tcp_init(l->loop, &m->conn);
    m->conn_used = true;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&m->conn), 0);
    m->accepted = true;
}

static void test_connect_timeout(void **state)
{
    (void)state;
    mute *m = calloc(1, sizeof *m);
    uv_tcp_init(&F->loop, &m->listener);
    m->listener.data = m;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&m->listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&m->listener, 8, mute_on_conn), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&m->listener, (struct sockaddr *)&ss, &len);
    m->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

    ripp_http_client_del(F->cli);
    int err = 0;
    ripp_h2_client_config cc = {.tls = {.ca_file = g_cert},
                                .connect_timeout = 200 * RIPP_NS_PER_MS};
    F->cli = ripp_h2_client_new(&F->loop, &cc, &err);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/get", m->port);
    creq r;
    memset(&r, 0, sizeof r);
    ripp_ts t0 = ripp_io_now();
    r.x = ripp_http_client_request(F->cli, "GET", url, NULL, 0, true, &client_cbs, &r, &err);
    assert_non_null(r.x);
    run_until(&r.closed, 3000);
    ripp_ts took = ripp_io_now() - t0;
    assert_true(m->accepted);
    assert_int_equal(r.close_err, RIPP_ERR_CLOSED);
    assert_true(took >= 150 * RIPP_NS_PER_MS);
    assert_true(took < 2 * RIPP_NS_PER_SEC);
    uv_close((uv_handle_t *)&m->listener, NULL);
    if (m->conn_used) uv_close((uv_handle_t *)&m->conn, NULL);
    run_for(20);
    free(m);
}

static void test_ipv6(void **state)
{
    (void)state;
    ripp_h2_server_config sc = {.host = "::1", .tls = {g_cert, g_key}};
    int err = 0;
    char eb[128];
    ripp_h2_server *s6 = ripp_h2_server_new(&F->loop, &sc, srv_on_request, F, &err, eb, sizeof eb);
    if (!s6) {
        run_for(10);
        skip(); /* no IPv6 loopback here */
    }
    char url[128];
    snprintf(url, sizeof url, "https://[::1]:%d/get?v=6", ripp_h2_server_port(s6));
    creq r;
    memset(&r, 0, sizeof r);
    r.x = ripp_http_client_request(F->cli, "GET", url, NULL, 0, true, &client_cbs, &r, &err);
    assert_non_null(r.x);
    run_until(&r.closed, 5000);
    assert_int_equal(r.close_err, 0);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "hello v=6", 9);
    char auth[64];
    snprintf(auth, sizeof auth, "[::1]:%d", ripp_h2_server_port(s6));
    assert_string_equal(F->last_authority, auth);
    ripp_h2_server_del(s6);
}

/* A raw nghttp2 client over cleartext, to send what our client refuses to. */
typedef struct rawng {
    raw r;
    nghttp2_session *ng;
    int status;
    bool closed;
} rawng;

static ssize_t rawng_send(nghttp2_session *s, const uint8_t *d, size_t len, int flags, void *ud)
{
    (void)s;
    (void)flags;
    rawng *g = ud;
    g->r.out = realloc(g->r.out, g->r.outlen + len);
    memcpy(g->r.out + g->r.outlen, d, len);
    g->r.outlen += len;
    return (ssize_t)len;
}

static int rawng_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *ud)
{
    (void)s;
    (void)f;
    (void)flags;
    (void)valuelen;
    rawng *g = ud;
    if (namelen == 7 && !memcmp(name, ":status", 7)) g->status = atoi((const char *)value);
    return 0;
}

static int rawng_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    (void)s;
    (void)id;
    (void)code;
    ((rawng *)ud)->closed = true;
    return 0;
}

static void rawng_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    rawng *g = st->data;
    if (n < 0) {
        g->r.eof = true;
        return;
    }
    nghttp2_session_mem_recv(g->ng, (const uint8_t *)b->base, (size_t)n);
}

static void rawng_connected(uv_connect_t *c, int status)
{
    rawng *g = c->data;
    assert_int_equal(status, 0);
    uv_read_start((uv_stream_t *)&g->r.tcp, raw_alloc, rawng_read);
    uv_buf_t b = uv_buf_init((char *)g->r.out, (unsigned)g->r.outlen);
    uv_write(&g->r.wreq, (uv_stream_t *)&g->r.tcp, &b, 1, raw_written);
}

static void test_big_headers(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/get", ripp_h2_server_port(F->srv));
    /* 40 fields of 2000 bytes: our client (nghttp2) will not send a block this large. */
    static char big[2001];
    memset(big, '0', 2000);
    static char names[70][16];
    ripp_hdr h[70];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "x-big-%d", i);
        h[i] = (ripp_hdr){names[i], big};
    }
    int err = 0;
    creq r;
    memset(&r, 0, sizeof r);
    r.x = ripp_http_client_request(F->cli, "GET", url, h, 40, true, &client_cbs, &r, &err);
    assert_non_null(r.x);
    run_until(&r.closed, 5000);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.close_err, RIPP_ERR_CLOSED);
    assert_int_equal(F->requests, 0);

    /* Another client that does send it gets 431 from the server. */
    rawng *g = calloc(1, sizeof *g);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, rawng_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, rawng_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, rawng_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024);
    nghttp2_session_client_new2(&g->ng, cb, g, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(g->ng, NGHTTP2_FLAG_NONE, NULL, 0);
    char auth[64];
    snprintf(auth, sizeof auth, "127.0.0.1:%d", ripp_h2_server_port(F->srv));
    nghttp2_nv nva[44] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), 0},
        {(uint8_t *)":path", (uint8_t *)"/get", 5, 4, 0},
    };
    for (int i = 0; i < 40; i++)
        nva[4 + i] = (nghttp2_nv){(uint8_t *)names[i], (uint8_t *)big, strlen(names[i]), 2000, 0};
    assert_true(nghttp2_submit_request(g->ng, NULL, nva, 44, NULL, NULL) > 0);
    assert_int_equal(nghttp2_session_send(g->ng), 0);
    uv_tcp_init(&F->loop, &g->r.tcp);
    g->r.tcp.data = g;
    g->r.creq.data = g;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", ripp_h2_server_port(F->srv), &a);
    assert_int_equal(uv_tcp_connect(&g->r.creq, &g->r.tcp, (struct sockaddr *)&a, rawng_connected),
                     0);
    run_until(&g->closed, 5000);
    assert_int_equal(g->status, 431);
    assert_int_equal(F->requests, 0);
    g->r.tcp.data = &g->r;
    raw_close(&g->r);
    nghttp2_session_del(g->ng);
    free(g);

    /* More fields than RIPP_XCHG_MAX_HEADERS: refused by the client before sending. */
    for (int i = 0; i < 65; i++) {
        snprintf(names[i], sizeof names[i], "x-n-%d", i);
        h[i] = (ripp_hdr){names[i], "1"};
    }
    assert_null(ripp_http_client_request(F->cli, "GET", url, h, 65, true, &client_cbs, &r, &err));
    assert_int_equal(err, RIPP_ERR_INVAL);
    /* Exactly the maximum passes, and the server sees them all. */
    memset(&r, 0, sizeof r);
    r.x = ripp_http_client_request(F->cli, "GET", url, h, 64, true, &client_cbs, &r, &err);
    assert_non_null(r.x);
    run_until(&r.closed, 5000);
    assert_int_equal(r.status, 200);
    assert_int_equal(F->last_nhdrs, 64);
}

/* Deleting the client or the server from inside their own callbacks. */
static void c_on_response_del(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)x;
    (void)h;
    (void)n;
    creq *r = ud;
    r->status = status;
    ripp_http_client_del(F->cli);
    F->cli = NULL;
}

static const ripp_xchg_cbs del_cbs = {c_on_response_del, c_on_data, c_on_end, c_on_close};

static void srv_on_request_del(void *ud, ripp_xchg *x, const ripp_request *req)
{
    fx *f = ud;
    (void)req;
    f->requests++;
    ripp_xchg_set_handler(x, &hold_cbs, sreq_new(x));
    ripp_h2_server_del(f->srv);
    f->srv = NULL;
}

static void test_del_inside_callbacks(void **state)
{
    (void)state;
    creq r[3];
    memset(r, 0, sizeof r);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hold", ripp_h2_server_port(F->srv));
    int err = 0;
    r[0].x = ripp_http_client_request(F->cli, "POST", url, NULL, 0, false, &del_cbs, &r[0], &err);
    r[1].x =
        ripp_http_client_request(F->cli, "POST", url, NULL, 0, false, &client_cbs, &r[1], &err);
    assert_non_null(r[0].x);
    assert_non_null(r[1].x);
    run_until(&r[0].closed, 5000);
    assert_null(F->cli);
    assert_int_equal(r[0].status, 200);
    assert_int_equal(r[0].close_err, RIPP_ERR_CLOSED);
    assert_true(r[1].closed); /* closed by the same del */
    assert_int_equal(r[1].close_err, RIPP_ERR_CLOSED);

    /* Now the server deletes itself from on_request. */
    ripp_h2_server_config sc = {.host = "127.0.0.1", .tls = {g_cert, g_key}};
    char eb[128];
    ripp_h2_server *s2 =
        ripp_h2_server_new(&F->loop, &sc, srv_on_request_del, F, &err, eb, sizeof eb);
    assert_non_null(s2);
    ripp_h2_server_del(F->srv);
    F->srv = s2;
    ripp_h2_client_config cc = {.tls = {.ca_file = g_cert}};
    F->cli = ripp_h2_client_new(&F->loop, &cc, &err);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/x", ripp_h2_server_port(s2));
    int before = F->n_sreqs;
    r[2].x = ripp_http_client_request(F->cli, "GET", url, NULL, 0, true, &client_cbs, &r[2], &err);
    assert_non_null(r[2].x);
    run_until(&r[2].closed, 5000);
    assert_null(F->srv);
    assert_int_equal(r[2].close_err, RIPP_ERR_CLOSED);
    assert_int_equal(F->n_sreqs, before + 1);
    assert_int_equal(F->sreqs[before].closes, 1);
    assert_int_equal(F->sreqs[before].close_err, RIPP_ERR_CLOSED);
}

/* ---- pieces without a peer ---- */

static void test_bad_requests(void **state)
{
    (void)state;
    int err = 0;
    const char *bad[] = {"ftp://x/",      "https://",         "https:///p",
                         "https://h:0/",  "https://h:99999/", "https://u@h/",
                         "https://[::1/", "https://h:8x/",    "https://h/a b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = 0;
        assert_null(ripp_http_client_request(F->cli, "GET", bad[i], NULL, 0, true, &client_cbs,
                                             NULL, &err));
        assert_int_equal(err, RIPP_ERR_INVAL);
    }
    assert_null(ripp_http_client_request(F->cli, "G T", "https://h/", NULL, 0, true, &client_cbs,
                                         NULL, &err));
    assert_int_equal(err, RIPP_ERR_INVAL);
    assert_int_equal(ripp_h2_client_connection_count(F->cli), 0);
}

static void test_selfsigned_sans(void **state)
{
    (void)state;
    FILE *fp = fopen(g_cert, "r");
    assert_non_null(fp);
    char pem[8192];
    size_t n = fread(pem, 1, sizeof pem, fp);
    fclose(fp);
    gnutls_x509_crt_t crt;
    gnutls_x509_crt_init(&crt);
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)n};
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    assert_true(gnutls_x509_crt_check_hostname(crt, "localhost"));
    assert_true(gnutls_x509_crt_check_ip(crt, (const unsigned char *)"\x7f\0\0\x01", 4, 0));
    unsigned char v6[16] = {0};
    v6[15] = 1;
    assert_true(gnutls_x509_crt_check_ip(crt, v6, 16, 0));
    assert_false(gnutls_x509_crt_check_hostname(crt, "example.com"));
    unsigned char ip[16];
    size_t iplen = sizeof ip;
    unsigned critical;
    int type = gnutls_x509_crt_get_subject_alt_name(crt, 1, ip, &iplen, &critical);
    assert_int_equal(type, GNUTLS_SAN_IPADDRESS);
    assert_int_equal(iplen, 4);
    gnutls_x509_crt_deinit(crt);
}

static void test_ids(void **state)
{
    (void)state;
    char u[37], u2[37];
    assert_int_equal(ripp_io_uuid4(u), 0);
    assert_int_equal(ripp_io_uuid4(u2), 0);
    assert_int_equal(strlen(u), 36);
    assert_string_not_equal(u, u2);
    assert_int_equal(u[14], '4');
    assert_true(strchr("89ab", u[19]) != NULL);
    assert_int_equal(u[8], '-');
    char tok[64];
    assert_int_equal(ripp_io_random_token(tok, sizeof tok, 32), 0);
    assert_int_equal(strlen(tok), 43);
    assert_null(strpbrk(tok, "+/="));
    assert_int_equal(ripp_io_random_token(tok, 43, 32), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_io_random_token(tok, sizeof tok, 1), 0);
    assert_int_equal(strlen(tok), 2);
    ripp_ts a = ripp_io_now(), b = ripp_io_now();
    assert_true(b >= a);
    assert_true(ripp_io_wall_us() > 1600000000ull * 1000000ull);
    const ripp_env *env = ripp_io_env();
    uint8_t r1[16] = {0}, r2[16] = {0};
    assert_int_equal(env->random(env->ud, r1, sizeof r1), 0);
    assert_int_equal(env->random(env->ud, r2, sizeof r2), 0);
    assert_memory_not_equal(r1, r2, sizeof r1);
    assert_true(env->mono_ns(env->ud) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_selfsigned_sans),
        cmocka_unit_test_setup_teardown(test_get, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_alt_svc, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_duplex, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deferred, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reset, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_ca, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cleartext, fx_setup_clear, fx_teardown),
        cmocka_unit_test_setup_teardown(test_garbage, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_h2c, fx_setup_clear, fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_alpn, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stalled_reader, fx_setup_clear, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ipv6, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_big_headers, fx_setup_clear, fx_teardown),
        cmocka_unit_test_setup_teardown(test_del_inside_callbacks, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
