/* Whole calls between a client engine and a server engine in virtual time, over the
 * in-memory binding of fake_http.h: setup, events, striped media with acks, playout, the
 * end, the CDR, rejection, and the server hold timer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "fake_http.h"
#include "sim_common.h"
#include "ripp/passport.h"
#include "ripp/store.h"

typedef struct side {
    const char *answer; /* "accept", "reject", "ring" */
    uint64_t frames_out, played, played_present;
    uint32_t next_payload;
    int events[16];
    int nev;
    bool done;
    ripp_ep_call *call; /* valid until on_done */
    char id[40];        /* the call's id, kept by on_done */
    enum ripp_call_outcome outcome;
    ripp_stats stats;
} side;

static side srv, cli;

static void on_call_new(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t)
{
    (void)ud;
    (void)t;
    srv.call = c;
    ripp_event ev;
    if (strcmp(srv.answer, "reject") == 0) {
        ripp_event_init(&ev, RIPP_EV_REJECTED);
    } else {
        ripp_event_init(&ev, RIPP_EV_ALERTING);
        ripp_ep_call_send(c, &ev, fk_current->now);
        ripp_event_init(&ev, RIPP_EV_ACCEPTED);
    }
    ripp_ep_call_send(c, &ev, fk_current->now);
}

static void on_event(void *ud, ripp_ep_call *c, const ripp_event *ev, bool local)
{
    side *s = ud;
    (void)c;
    (void)local;
    if (s->nev < 16 && ev->type != RIPP_EV_OPEN_REVERSE) s->events[s->nev++] = ev->type;
}

static int64_t next_frame(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                          size_t cap)
{
    side *s = ud;
    (void)c;
    (void)cap;
    *codec = RIPP_CODEC_PCMU;
    memset(buf, (uint8_t)s->next_payload++, 160);
    s->frames_out++;
    return 160;
}

static void on_playout(void *ud, ripp_ep_call *c, const ripp_jbuf_out *out)
{
    side *s = ud;
    (void)c;
    if (s->played_present == 0 && !out->present) return; /* before the first frame */
    s->played++;
    s->played_present += out->present;
}

static void on_done(void *ud, ripp_ep_call *c)
{
    side *s = ud;
    s->done = true;
    s->outcome = ripp_ep_call_fsm(c)->outcome;
    snprintf(s->id, sizeof s->id, "%s", ripp_ep_call_id(c));
    s->stats = *ripp_ep_call_stats(c);
}

static const ripp_ep_hooks srv_hooks = {.on_call_new = on_call_new,
                                        .on_event = on_event,
                                        .next_frame = next_frame,
                                        .on_playout = on_playout,
                                        .on_done = on_done,
                                        .token_hash = token_hash,
                                        .verify_sig = verify_sig};
static const ripp_ep_hooks cli_hooks = {
    .on_event = on_event, .next_frame = next_frame, .on_playout = on_playout, .on_done = on_done};

typedef struct world {
    fk_net net;
    ripp_env env;
    ripp_store *store;
    ripp_ep *server, *client;
} world;

static const char *sim_set_cookie;
static bool sim_faulty; /* the server's store can be made to fail (ripp_store_faulty) */

static void world_init(world *w, ripp_ts latency, const char *answer)
{
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    srv.answer = answer;
    fk_init(&w->net, latency, &w->env);
    int err = 0;
    w->store = ripp_store_memory_new(&err);
    assert_non_null(w->store);
    if (sim_faulty) w->store = ripp_store_faulty_new(w->store, 0, &err);
    assert_non_null(w->store);
    ripp_trunk_rec t = {.id = "t1", .answer = "echo", .caps_json = "{}"};
    assert_int_equal(w->store->ops->trunk_put(w->store->impl, &t), 0);
    char h[65];
    token_hash(NULL, TOKEN, h);
    assert_int_equal(w->store->ops->token_add(w->store->impl, "t1", h), 0);
    ripp_ep_config sc = {.role = RIPP_ROLE_SERVER,
                         .env = &w->env,
                         .store = w->store,
                         .require_identity = true,
                         .hold_timeout = 2 * RIPP_NS_PER_SEC,
                         .set_cookie = sim_set_cookie};
    w->server = ripp_ep_new(&sc, &srv_hooks, &srv, &err);
    assert_non_null(w->server);
    w->net.server = w->server;
    ripp_ep_config cc = {.role = RIPP_ROLE_CLIENT, .env = &w->env, .http = &w->net.client};
    w->client = ripp_ep_new(&cc, &cli_hooks, &cli, &err);
    assert_non_null(w->client);
}

static void world_free(world *w)
{
    ripp_ep_del(w->client);
    ripp_ep_del(w->server);
    fk_shutdown(&w->net);
    ripp_store_close(w->store);
}

static ripp_ep_call *place(world *w)
{
    ripp_passport pp = {.orig_tn = "14085550100",
                        .dest_tn = "14085551212",
                        .iat = 1795000000,
                        .x5u = "https://sim.example/cert.pem"};
    char identity[RIPP_IDENTITY_MAX];
    assert_true(ripp_passport_sign(&pp, sign_fake, NULL, identity, sizeof identity) > 0);
    ripp_place_opts o = {.trunk_url = "https://sim.example/trunks/t1",
                         .token = TOKEN,
                         .target = "14085551212@e164.arpa",
                         .identity = identity};
    int err = 0;
    ripp_ep_call *c = ripp_ep_call_place(w->client, &o, w->net.now, &err);
    assert_non_null(c);
    cli.call = c;
    return c;
}

static void run_call(ripp_ts latency, double seconds)
{
    world w;
    world_init(&w, latency, "accept");
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + (ripp_ts)(seconds * 1e9));
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + 2 * RIPP_NS_PER_SEC);
    assert_true(cli.done);
    assert_true(srv.done);
    assert_int_equal(cli.outcome, RIPP_OUTCOME_ENDED_LOCAL);
    assert_int_equal(srv.outcome, RIPP_OUTCOME_ENDED_REMOTE);
    /* events the client saw: alerting, accepted, and its own end */
    assert_int_equal(cli.nev, 3);
    assert_int_equal(cli.events[0], RIPP_EV_ALERTING);
    assert_int_equal(cli.events[1], RIPP_EV_ACCEPTED);
    assert_int_equal(cli.events[2], RIPP_EV_END);
    /* media: every frame the client sent was acked, nothing lost, and the server played it */
    /* media starts when the accepted event arrives, about three one-way trips in */
    uint64_t expect = (uint64_t)((seconds - 3.0 * (double)latency / 1e9) * 50);
    assert_true(cli.stats.sent >= expect - 3 && cli.stats.sent <= expect + 3);
    assert_int_equal(cli.stats.acked, cli.stats.sent);
    assert_int_equal(cli.stats.lost, 0);
    assert_true(srv.stats.rx_frames >= cli.stats.sent - 1);
    assert_int_equal(srv.stats.rx_late, 0);
    assert_int_equal(srv.stats.rx_duplicates, 0);
    /* the ack RTT is the two-way latency of the link */
    uint64_t p50 = ripp_stats_rtt_quantile_us(&cli.stats, 0.5);
    uint64_t rtt = 2 * latency / 1000;
    assert_true(p50 + p50 / 8 + 20 >= rtt && p50 <= rtt + rtt / 8 + 20);
    /* the other direction */
    assert_true(srv.stats.sent >= expect - 3);
    assert_true(srv.stats.acked + 2 >= srv.stats.sent);
    /* what was in flight at the end (an RTT of frames) and in the jitter buffer is not played */
    assert_true(cli.played_present + 2 * latency / (20 * RIPP_NS_PER_MS) + 12 >= srv.stats.sent);
    /* the CDR */
    ripp_cdr cdr;
    assert_int_equal(w.store->ops->cdr_get(w.store->impl, srv.id, &cdr), 0);
    assert_string_equal(cdr.outcome, "ended_remote");
    assert_string_equal(cdr.orig_tn, "14085550100");
    assert_true(cdr.answer_ms > 0 && cdr.end_ms >= cdr.answer_ms);
    world_free(&w);
}

static void call_lan(void **state)
{
    (void)state;
    run_call(1 * RIPP_NS_PER_MS, 10);
}

static void call_wan(void **state)
{
    (void)state;
    run_call(80 * RIPP_NS_PER_MS, 10); /* 160 ms RTT: about nine byways in flight */
}

static void call_rejected(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS, "reject");
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + 2 * RIPP_NS_PER_SEC);
    assert_true(cli.done);
    assert_int_equal(cli.outcome, RIPP_OUTCOME_REJECTED);
    assert_int_equal(ripp_ep_call_fsm(c)->answered, false);
    assert_int_equal(cli.stats.sent, 0);
    world_free(&w);
}

static void unauthorised(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS, "accept");
    ripp_place_opts o = {.trunk_url = "https://sim.example/trunks/t1",
                         .token = "wrong",
                         .target = "1@e164.arpa",
                         .identity = "x.y.z"};
    int err = 0;
    ripp_ep_call *c = ripp_ep_call_place(w.client, &o, w.net.now, &err);
    assert_non_null(c);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    assert_true(cli.done);
    assert_int_equal(cli.outcome, RIPP_OUTCOME_FAILED);
    assert_int_equal(ripp_ep_call_setup_status(c, NULL, 0), 401);
    world_free(&w);
}

/* The client vanishes (every exchange reset): the server ends the call after the hold time. */
static void hold_timer(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS, "accept");
    place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    assert_non_null(srv.call);
    w.net.refuse = true; /* gone: it cannot reopen its signaling byway either */
    for (size_t i = 0; i < w.net.nall; i++)
        fk_reset(&w.net.all[i]->c.x, 0);
    ripp_ts cut = w.net.now;
    while (!srv.done && w.net.now < cut + 5 * RIPP_NS_PER_SEC)
        fk_run(&w.net, w.client, w.server, w.net.now + 20 * RIPP_NS_PER_MS);
    assert_int_equal(srv.outcome, RIPP_OUTCOME_HOLD_TIMEOUT);
    ripp_ts took = w.net.now - cut;
    assert_true(took >= 2 * RIPP_NS_PER_SEC && took <= 2 * RIPP_NS_PER_SEC + 100 * RIPP_NS_PER_MS);
    /* the client could not reopen its signaling byway and gave up the call */
    fk_run(&w.net, w.client, w.server, w.net.now + 4 * RIPP_NS_PER_SEC);
    assert_true(srv.done);
    assert_true(cli.done);
    assert_int_equal(cli.outcome, RIPP_OUTCOME_TRANSPORT);
    world_free(&w);
}

/* A cookie set with the 201 goes back on every request to the call (M50, M62). */
static void cookies(void **state)
{
    (void)state;
    world w;
    sim_set_cookie = "ripp_node=a1b2; Path=/; Secure; HttpOnly";
    world_init(&w, 5 * RIPP_NS_PER_MS, "accept");
    sim_set_cookie = NULL;
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    assert_true(w.net.call_requests >= 13); /* GET, PUT, 10 reverse, >= 1 forward */
    assert_int_equal(w.net.call_requests_with_cookie, w.net.call_requests);
    assert_string_equal(w.net.cookie_seen, "ripp_node=a1b2");
    world_free(&w);
}

/* A request of the test itself to the server, outside any call's machinery. */
static int probe_status;
static char probe_cookie[256];
static void probe_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)x;
    (void)ud;
    probe_status = status;
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, "set-cookie") == 0)
            snprintf(probe_cookie, sizeof probe_cookie, "%s", h[i].value);
}
static void probe_data(ripp_xchg *x, void *ud, const uint8_t *d, size_t len)
{
    (void)x;
    (void)ud;
    (void)d;
    (void)len;
}
static void probe_end(ripp_xchg *x, void *ud)
{
    (void)x;
    (void)ud;
}
static void probe_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    (void)x;
    (void)ud;
    (void)error;
    (void)code;
}
static const ripp_xchg_cbs probe_cbs = {probe_response, probe_data, probe_end, probe_close};

/* GET {call}SUFFIX: the status answered. */
static int probe_at(world *w, const char *id, const char *suffix)
{
    char url[256];
    snprintf(url, sizeof url, "https://sim.example/call/%s%s", id, suffix);
    ripp_hdr h[] = {{"authorization", "Bearer " TOKEN}};
    int err = 0;
    probe_status = 0;
    probe_cookie[0] = 0;
    assert_non_null(fk_request(&w->net.client, "GET", url, h, 1, true, &probe_cbs, NULL, &err));
    fk_run(&w->net, w->client, w->server, w->net.now + 100 * RIPP_NS_PER_MS);
    return probe_status;
}

static int probe(world *w, const char *id)
{
    return probe_at(w, id, "/event");
}

/* An ended call whose client has the ending event is freed at once; its id stays for the
 * linger time to answer late requests with 404 (GET {call} with 200 and the ended state, as
 * before the call was freed), off the media clock (the server's next
 * wakeup is when it is forgotten, not the next interval), and is forgotten then; the
 * store's record still answers 404 and the call is not taken over again. */
static void ended_call_lingers(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS, "accept");
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + 2 * RIPP_NS_PER_SEC);
    assert_true(srv.done);
    const char *id = srv.id;
    ripp_ts ended = w.net.now;
    assert_int_equal(ripp_ep_call_count(w.server), 0);
    assert_true(ripp_ep_expiry(w.server) >= ended + 25 * RIPP_NS_PER_SEC);
    assert_int_equal(probe(&w, id), 404);
    assert_int_equal(probe_at(&w, id, ""), 200);
    assert_int_equal(ripp_ep_call_count(w.server), 0);
    fk_run(&w.net, w.client, w.server, ended + 31 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_count(w.server), 0);
    assert_int_equal(ripp_ep_expiry(w.server), RIPP_TS_NEVER);
    assert_int_equal(probe(&w, id), 404);
    assert_int_equal(ripp_ep_call_count(w.server), 0); /* not taken over again */
    world_free(&w);
}

/* The instance cookie comes with every signaling GET's 200 as well as the 201: a client
 * that reconnected without cookies learns where the call is held now (P6). */
static void signaling_get_sets_cookie(void **state)
{
    (void)state;
    world w;
    sim_set_cookie = "SERVERID=s2";
    world_init(&w, 5 * RIPP_NS_PER_MS, "accept");
    sim_set_cookie = NULL;
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    assert_int_equal(probe(&w, ripp_ep_call_id(srv.call)), 200);
    assert_string_equal(probe_cookie, "SERVERID=s2");
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    world_free(&w);
}

/* A validated token is not looked up again for a second (a call setup makes some 14
 * requests with it); ripp_ep_forget_tokens drops what was validated, so a revocation made
 * here takes effect at once. */
static void token_cache(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS, "accept");
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + 500 * RIPP_NS_PER_MS);
    const ripp_ep_counters *k = ripp_ep_counters_get(w.server);
    assert_true(k->requests >= 13);
    assert_true(k->token_cache_hits >= k->requests - 2);
    /* the trunk and its tokens are deleted: the cache still knows the token ... */
    assert_int_equal(w.store->ops->trunk_del(w.store->impl, "t1"), 0);
    assert_int_equal(probe(&w, ripp_ep_call_id(srv.call)), 200);
    /* ... until it is told to forget */
    ripp_ep_forget_tokens(w.server);
    assert_int_equal(probe(&w, ripp_ep_call_id(srv.call)), 401);
    /* and a token validated once is asked for again after a second */
    assert_int_equal(
        w.store->ops->trunk_put(w.store->impl, &(ripp_trunk_rec){.id = "t1", .answer = "echo"}), 0);
    char h[65];
    token_hash(NULL, TOKEN, h);
    assert_int_equal(w.store->ops->token_add(w.store->impl, "t1", h), 0);
    assert_int_equal(probe(&w, ripp_ep_call_id(srv.call)), 200);
    assert_int_equal(w.store->ops->trunk_del(w.store->impl, "t1"), 0);
    fk_run(&w.net, w.client, w.server, w.net.now + 1100 * RIPP_NS_PER_MS);
    assert_int_equal(probe(&w, ripp_ep_call_id(srv.call)), 401);
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    world_free(&w);
}

/* While the store fails, a token it validated in the last minutes still opens byways of a
 * live call (stale if error); a new call on the trunk gets 503, not 404. */
static void token_cache_store_down(void **state)
{
    (void)state;
    world w;
    sim_faulty = true;
    world_init(&w, 5 * RIPP_NS_PER_MS, "accept");
    sim_faulty = false;
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + 1500 * RIPP_NS_PER_MS); /* cache expired */
    ripp_store_faulty_set(w.store, ripp_store_faulty_count(w.store) + 1);
    assert_int_equal(probe(&w, ripp_ep_call_id(srv.call)), 200);
    int err = 0;
    probe_status = 0;
    ripp_hdr h[] = {{"authorization", "Bearer " TOKEN}};
    assert_non_null(fk_request(&w.net.client, "GET", "https://sim.example/trunks/t1/capAdv", h, 1,
                               true, &probe_cbs, NULL, &err));
    fk_run(&w.net, w.client, w.server, w.net.now + 100 * RIPP_NS_PER_MS);
    assert_int_equal(probe_status, 503);
    ripp_store_faulty_set(w.store, 0);
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    assert_true(srv.done);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(call_lan),           cmocka_unit_test(call_wan),
        cmocka_unit_test(call_rejected),      cmocka_unit_test(unauthorised),
        cmocka_unit_test(hold_timer),         cmocka_unit_test(cookies),
        cmocka_unit_test(ended_call_lingers), cmocka_unit_test(signaling_get_sets_cookie),
        cmocka_unit_test(token_cache),        cmocka_unit_test(token_cache_store_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
