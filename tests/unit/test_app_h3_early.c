/* 0-RTT with the real call engine over HTTP/3 (SPEC §6.5, D28): on a resumed connection, a
 * call creation sent in early data is answered 425 Too Early by the engine and sent again by
 * the client after the handshake (the user sees only the 201); re-establishing a call's
 * signaling byway in early data is accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ripp/driver.h"
#include "ripp/endpoint.h"
#include "ripp/h3.h"
#include "ripp/store.h"

#define TOKEN "early-data-test-token-0123456789"

typedef struct creq {
    int status, responses;
    char location[512];
    bool closed;
    int close_err;
} creq;

static uv_loop_t loop;
static uv_timer_t guard;
static bool timed_out;
static ripp_ep *ep;
static ripp_store *store;
static ripp_h3_server *srv;
static ripp_http_client *cli;
static ripp_driver driver;
static char dir[64], cert[128], key[128], base[64];

static void on_guard(uv_timer_t *t)
{
    (void)t;
    timed_out = true;
}

static void run_until(bool (*done)(void *), void *ud, unsigned ms)
{
    timed_out = false;
    uv_timer_start(&guard, on_guard, ms, 0);
    while (!done(ud) && !timed_out)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&guard);
    assert_false(timed_out);
}

static bool closed(void *ud)
{
    return ((creq *)ud)->closed;
}

static bool responded(void *ud)
{
    return ((creq *)ud)->status != 0;
}

static bool no_connections(void *ud)
{
    (void)ud;
    return ripp_h3_client_open_connections(cli) == 0;
}

static void on_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)x;
    creq *r = ud;
    r->status = status;
    r->responses++;
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, "location") == 0)
            snprintf(r->location, sizeof r->location, "%s", h[i].value);
}

static void on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    (void)x;
    (void)code;
    creq *r = ud;
    r->closed = true;
    r->close_err = error;
}

static const ripp_xchg_cbs cbs = {on_response, NULL, NULL, on_close};

static ripp_xchg *request(creq *r, const char *method, const char *path)
{
    memset(r, 0, sizeof *r);
    char url[600];
    snprintf(url, sizeof url, "%s%s", base, path);
    ripp_hdr h[] = {{"authorization", "Bearer " TOKEN}};
    int err = 0;
    ripp_xchg *x = ripp_http_client_request(cli, method, url, h, 1, true, &cbs, r, &err);
    assert_non_null(x);
    return x;
}

static void on_request(void *ud, ripp_xchg *x, const ripp_request *req)
{
    (void)ud;
    ripp_ep_on_request(ep, x, req, ripp_io_now());
}

static int token_hash(void *ud, const char *token, char out[65])
{
    (void)ud;
    return ripp_sha256_hex(token, strlen(token), out);
}

static const ripp_ep_hooks hooks = {.token_hash = token_hash};

static bool all_early(const char *method, const char *path)
{
    (void)method;
    (void)path;
    return true;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ripp-h3early-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    const char *names[] = {"127.0.0.1"};
    assert_int_equal(ripp_tls_make_selfsigned(cert, key, names, 1), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &guard);
    int err = 0;
    store = ripp_store_memory_new(&err);
    assert_non_null(store);
    ripp_trunk_rec t = {.id = "t1", .answer = "echo", .caps_json = "{}"};
    assert_int_equal(store->ops->trunk_put(store->impl, &t), 0);
    char h[65];
    token_hash(NULL, TOKEN, h);
    assert_int_equal(store->ops->token_add(store->impl, "t1", h), 0);
    ripp_ep_config ec = {.role = RIPP_ROLE_SERVER,
                         .env = ripp_io_env(),
                         .store = store,
                         .require_identity = false};
    ep = ripp_ep_new(&ec, &hooks, NULL, &err);
    assert_non_null(ep);
    assert_int_equal(ripp_driver_init(&driver, &loop, ep), 0);
    ripp_h3_server_config sc = {.host = "127.0.0.1", .tls = {.cert_file = cert, .key_file = key}};
    char errbuf[256];
    srv = ripp_h3_server_new(&loop, &sc, on_request, NULL, &err, errbuf, sizeof errbuf);
    assert_non_null(srv);
    snprintf(base, sizeof base, "https://127.0.0.1:%d", ripp_h3_server_port(srv));
    ripp_h3_client_config cc = {.tls = {.ca_file = cert}, .early_ok = all_early};
    cli = ripp_h3_client_new(&loop, &cc, &err);
    assert_non_null(cli);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ripp_http_client_del(cli);
    ripp_ep_del(ep);
    ripp_driver_close(&driver);
    ripp_h3_server_del(srv);
    uv_close((uv_handle_t *)&guard, NULL);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    ripp_store_close(store);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    return 0;
}

static void fresh_connection(void)
{
    uv_timer_start(&guard, on_guard, 50, 0); /* the session ticket follows the handshake */
    timed_out = false;
    while (!timed_out)
        uv_run(&loop, UV_RUN_ONCE);
    ripp_h3_client_close_idle(cli);
    run_until(no_connections, NULL, 5000);
}

static void test_early_data(void **state)
{
    (void)state;
    creq caps;
    request(&caps, "GET", "/trunks/t1/capAdv");
    run_until(closed, &caps, 5000);
    assert_int_equal(caps.status, 200);
    fresh_connection();

    /* call creation in early data: 425 inside, 201 outside */
    creq post;
    request(&post, "POST", "/trunks/t1/calls?target=14085551212@e164.arpa");
    run_until(closed, &post, 5000);
    assert_int_equal(post.status, 201);
    assert_int_equal(post.responses, 1);
    assert_int_equal(ripp_h3_client_resumed_count(cli), 1);
    assert_int_equal(ripp_h3_client_too_early_retries(cli), 1);
    uint64_t early = ripp_h3_server_early_requests(srv);
    assert_true(early >= 1);
    const char *path = strstr(post.location, "/call/");
    assert_non_null(path);
    char call_path[300];
    snprintf(call_path, sizeof call_path, "%s", path);
    assert_int_equal(ripp_ep_live_count(ep), 1);
    fresh_connection();

    /* the call's signaling byway re-established in early data: accepted */
    char ev[320];
    snprintf(ev, sizeof ev, "%s/event", call_path);
    creq get;
    ripp_xchg *x = request(&get, "GET", ev);
    run_until(responded, &get, 5000);
    assert_int_equal(get.status, 200);
    assert_int_equal(ripp_h3_client_resumed_count(cli), 2);
    assert_int_equal(ripp_h3_client_too_early_retries(cli), 1); /* no second 425 */
    assert_true(ripp_h3_server_early_requests(srv) > early);
    ripp_xchg_reset(x, RIPP_XCHG_CANCEL);
    run_until(closed, &get, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_early_data, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
