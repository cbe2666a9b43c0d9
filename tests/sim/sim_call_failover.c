/* Calls that survive (SPEC §7, P2, P3, P5, P6) in virtual time: two server engines share one
 * store; the client's requests reach whichever one the "balancer" (net.server) names.
 *   - graceful migration with frames in flight: every frame delivered exactly once;
 *   - crash of the instance: the other takes the call over from the store, the call goes on;
 *   - failure detection timing (no ack, no media);
 *   - jittered reconnects of 100 calls; giving up after the recover window. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fake_http.h"
#include "sim_common.h"
#include "../../lib/ep_internal.h"
#include "ripp/passport.h"
#include "ripp/store.h"

static rxmap to_srv, to_cli;
static int resumed;
static int srv_done, cli_done, cli_lost;
static bool cli_silent;
static bool srv_silent;       /* no server sends media */
static ripp_ep *silent_ep;    /* this server sends no media */

static void accept_call(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t)
{
    (void)ud;
    (void)t;
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_ACCEPTED);
    ripp_ep_call_send(c, &ev, fk_current->now);
}
static void on_resumed(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t)
{
    (void)ud;
    (void)c;
    (void)t;
    resumed++;
}
static int64_t next_frame(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                          size_t cap)
{
    (void)cap;
    if (ud == &to_srv && cli_silent) return 0; /* ud: the map of the peer's receiver */
    if (ud == &to_cli && (srv_silent || c->ep == silent_ep)) return 0;
    *codec = RIPP_CODEC_PCMU;
    memset(buf, 0x55, 160);
    return 160;
}
static void srv_frame(void *ud, ripp_ep_call *c, uint32_t seq, enum ripp_codec codec,
                      const uint8_t *p, size_t len, ripp_ts now)
{
    (void)ud;
    (void)c;
    (void)codec;
    (void)p;
    (void)len;
    rx_note(&to_srv, seq, now);
}
static void cli_frame(void *ud, ripp_ep_call *c, uint32_t seq, enum ripp_codec codec,
                      const uint8_t *p, size_t len, ripp_ts now)
{
    (void)ud;
    (void)c;
    (void)codec;
    (void)p;
    (void)len;
    rx_note(&to_cli, seq, now);
}
static void srv_on_done(void *ud, ripp_ep_call *c)
{
    (void)ud;
    if (!ripp_ep_call_migrated(c)) srv_done++;
}
static void cli_on_done(void *ud, ripp_ep_call *c)
{
    (void)ud;
    cli_done++;
    if (ripp_ep_call_fsm(c)->outcome == RIPP_OUTCOME_TRANSPORT) cli_lost++;
}
static const ripp_ep_hooks srv_hooks = {.on_call_new = accept_call,
                                        .next_frame = next_frame,
                                        .on_frame = srv_frame,
                                        .on_done = srv_on_done,
                                        .token_hash = token_hash,
                                        .on_call_resumed = on_resumed};
static const ripp_ep_hooks cli_hooks = {
    .next_frame = next_frame, .on_frame = cli_frame, .on_done = cli_on_done};

typedef struct world {
    fk_net net;
    ripp_env env;
    ripp_store *store;
    ripp_ep *a, *b, *client;
} world;

static ripp_ep *server_new(world *w)
{
    int err = 0;
    ripp_ep_config sc = {.role = RIPP_ROLE_SERVER,
                         .env = &w->env,
                         .store = w->store,
                         .require_identity = false,
                         .hold_timeout = 5 * RIPP_NS_PER_SEC};
    ripp_ep *ep = ripp_ep_new(&sc, &srv_hooks, &to_cli, &err);
    assert_non_null(ep);
    return ep;
}

static void world_init(world *w, ripp_ts latency)
{
    memset(&to_srv, 0, sizeof to_srv);
    memset(&to_cli, 0, sizeof to_cli);
    resumed = srv_done = cli_done = cli_lost = 0;
    cli_silent = srv_silent = false;
    silent_ep = NULL;
    fk_init(&w->net, latency, &w->env);
    int err = 0;
    w->store = ripp_store_memory_new(&err);
    assert_non_null(w->store);
    ripp_trunk_rec t = {.id = "t1", .answer = "echo", .caps_json = "{}"};
    assert_int_equal(w->store->ops->trunk_put(w->store->impl, &t), 0);
    char h[65];
    token_hash(NULL, TOKEN, h);
    assert_int_equal(w->store->ops->token_add(w->store->impl, "t1", h), 0);
    w->a = server_new(w);
    w->b = server_new(w);
    w->net.server = w->a;
    ripp_ep_config cc = {.role = RIPP_ROLE_CLIENT, .env = &w->env, .http = &w->net.client};
    w->client = ripp_ep_new(&cc, &cli_hooks, &to_srv, &err);
    assert_non_null(w->client);
}

static void world_free(world *w)
{
    (void)fk_run; /* the two-engine runner of fake_http.h; three run here */
    ripp_ep_del(w->client);
    if (w->a) ripp_ep_del(w->a);
    ripp_ep_del(w->b);
    fk_shutdown(&w->net);
    ripp_store_close(w->store);
}

/* Runs the client and whichever servers are alive. */
static void run(world *w, ripp_ts dt)
{
    ripp_ts until = w->net.now + dt;
    while (w->net.now < until) {
        ripp_ts t = fk_next(&w->net), e;
        if ((e = ripp_ep_expiry(w->client)) < t) t = e;
        if (w->a && (e = ripp_ep_expiry(w->a)) < t) t = e;
        if ((e = ripp_ep_expiry(w->b)) < t) t = e;
        if (t > until) t = until;
        if (t > w->net.now) w->net.now = t;
        fk_run_due(&w->net);
        ripp_ep_handle_expiry(w->client, w->net.now);
        if (w->a) ripp_ep_handle_expiry(w->a, w->net.now);
        ripp_ep_handle_expiry(w->b, w->net.now);
        fk_run_due(&w->net);
    }
}

static ripp_ep_call *place(world *w)
{
    ripp_place_opts o = {.trunk_url = "https://sim.example/trunks/t1",
                         .token = TOKEN,
                         .target = "14085551212@e164.arpa"};
    int err = 0;
    ripp_ep_call *c = ripp_ep_call_place(w->client, &o, w->net.now, &err);
    assert_non_null(c);
    return c;
}

static void end_and_check(world *w, ripp_ep_call *c)
{
    ripp_ep_call_end(c, NULL, w->net.now);
    run(w, 2500 * RIPP_NS_PER_MS); /* the client forgets it close_grace (3 s) after */
    assert_int_equal(cli_done, 1);
    assert_int_equal(cli_lost, 0);
    assert_int_equal(srv_done, 1); /* ended and recorded at B (A released it, no CDR) */
}

/* Graceful migration with frames in flight, 20 ms one way: every frame of both directions
 * is delivered exactly once, none is lost, and no gap exceeds 200 ms. */
static void migrate_in_flight(void **state)
{
    (void)state;
    world w;
    world_init(&w, 20 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC + 7 * RIPP_NS_PER_MS);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_true(ripp_sched_blocked_count(&c->tx) > 0); /* frames in flight at the migrate */
    char path[128];
    snprintf(path, sizeof path, "%s", strstr(ripp_ep_call_uri(c), "/call/"));
    w.net.server = w.b; /* new requests reach B */
    assert_int_equal(ripp_ep_drain(w.a, "b.sim.example", w.net.now), 1);
    run(&w, 3 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    char want[256];
    snprintf(want, sizeof want, "https://b.sim.example%s", path);
    assert_string_equal(ripp_ep_call_uri(c), want);
    assert_int_equal(resumed, 1);
    assert_int_equal(ripp_ep_call_count(w.a), 0); /* released */
    assert_int_equal(ripp_ep_live_count(w.b), 1);
    ripp_ep_failover fo;
    ripp_ep_call_failover(c, &fo);
    assert_int_equal(fo.migrations, 1);
    assert_int_equal(fo.recoveries, 0);
    /* the client's frames: each seq reached exactly one instance, none lost */
    const ripp_stats *st = ripp_ep_call_stats(c);
    assert_int_equal(to_srv.dups, 0);
    assert_int_equal(st->lost, 0);
    assert_int_equal(st->sent - st->acked, ripp_sched_blocked_count(&c->tx)); /* in flight */
    /* the servers' frames: B goes on after A's last number, no duplicates */
    assert_int_equal(to_cli.dups, 0);
    print_message("migrate: client frames %llu (resent %llu), gap to B %lld ms, max arrival gap "
                  "at the servers %lld ms, at the client %lld ms\n",
                  (unsigned long long)st->sent, (unsigned long long)fo.resent,
                  (long long)(fo.max_gap / RIPP_NS_PER_MS),
                  (long long)(to_srv.max_gap / RIPP_NS_PER_MS),
                  (long long)(to_cli.max_gap / RIPP_NS_PER_MS));
    assert_true(fo.max_gap <= 100 * RIPP_NS_PER_MS); /* migrate to GET 200: 2 one-way trips */
    assert_true(to_srv.max_gap <= 200 * RIPP_NS_PER_MS);
    end_and_check(&w, c);
    ripp_ep_call_failover(c, &fo);
    print_message("migrate, at the end: produced %llu, sent %llu, acked %llu, lost %llu, "
                  "received by A and B %llu, duplicates %llu\n",
                  (unsigned long long)fo.frames, (unsigned long long)st->sent,
                  (unsigned long long)st->acked, (unsigned long long)st->lost,
                  (unsigned long long)to_srv.unique, (unsigned long long)to_srv.dups);
    assert_int_equal(st->lost, 0);
    assert_int_equal(st->sent, st->acked);
    assert_int_equal(to_srv.unique, st->sent);
    assert_int_equal(fo.frames, st->sent);
    assert_int_equal(to_srv.dups, 0);
    assert_int_equal(to_cli.dups, 0);
    world_free(&w);
}

static int warnings, malformed;
static void count_warnings(void *ud, enum ripp_log_level level, const char *msg)
{
    (void)ud;
    if (level > RIPP_LOG_WARN) return;
    warnings++;
    if (strstr(msg, "malformed")) malformed++;
    print_message("warning: %s\n", msg);
}

/* A forward byway the client opened just before the migrate reached it arrives at the old
 * instance after the drain. The old instance is handing the call over and takes the byway
 * like the others: every frame arrives exactly once, nothing is logged. With `released` it
 * has let the call go at once (as at the end of its hold time, or a crash) and answers 503
 * with a problem body: that body is not acks (no ack invented from its bytes, no "malformed
 * data"); the client recovers to the new instance and nothing is lost. */
static void crossing_byway(bool released)
{
    world w;
    world_init(&w, 20 * RIPP_NS_PER_MS);
    warnings = malformed = 0;
    ripp_log_set_handler(count_warnings, NULL, RIPP_LOG_WARN);
    ripp_ep_call *c = place(&w);
    /* the moment a new forward byway is on its way to A (media starting up) */
    bool crossing = false;
    uint64_t opened = 0; /* forward byways opened so far */
    for (int i = 0; i < 3000 && !crossing; i++) {
        run(&w, RIPP_NS_PER_MS);
        crossing = ripp_ep_call_fsm(c)->state == RIPP_CALL_ACTIVE &&
                   w.client->counters.byways_fwd > opened && opened > 0;
        opened = w.client->counters.byways_fwd;
    }
    assert_true(crossing);
    assert_int_equal(ripp_ep_drain(w.a, "b.sim.example", w.net.now), 1);
    if (released) ep_call_release(w.a->calls); /* as at the end of its hold time */
    run(&w, 25 * RIPP_NS_PER_MS); /* the POST reaches A */
    assert_int_equal(w.a->counters.problems, released ? 1 : 0);
    w.net.server = w.b; /* what the client opens after the migrate reaches B */
    run(&w, 3 * RIPP_NS_PER_SEC);
    assert_int_equal(w.a->counters.problems, released ? 1 : 0);
    assert_int_equal(ripp_ep_call_count(w.a), 0); /* released */
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(resumed, 1);
    const ripp_stats *st = ripp_ep_call_stats(c);
    print_message("migrate crossing a new byway (%s): sent %llu acked %llu lost %llu, stray "
                  "acks %llu, warnings %d, received by A and B %llu, twice %llu\n",
                  released ? "refused" : "taken", (unsigned long long)st->sent,
                  (unsigned long long)st->acked, (unsigned long long)st->lost,
                  (unsigned long long)st->stray_acks, warnings,
                  (unsigned long long)to_srv.unique, (unsigned long long)to_srv.dups);
    assert_int_equal(st->stray_acks, 0);
    ripp_log_set_handler(NULL, NULL, RIPP_LOG_INFO);
    assert_int_equal(malformed, 0); /* before: "malformed data from the server" */
    /* released: the failure it is ("a byway was reset") */
    assert_int_equal(warnings, released ? 1 : 0);
    end_and_check(&w, c);
    assert_int_equal(st->lost, 0);
    assert_int_equal(st->sent, st->acked);
    assert_int_equal(to_srv.unique, st->sent);
    /* released: the frames A took whose acks the reset lost came again, to B */
    if (!released) assert_int_equal(to_srv.dups, 0);
    world_free(&w);
}

static void migrate_crosses_new_byway(void **state)
{
    (void)state;
    crossing_byway(true);
}

static void handover_takes_crossing_byway(void **state)
{
    (void)state;
    crossing_byway(false);
}

/* Make-before-break against an old instance that stops its media at the migrate (SPEC 7.2
 * read literally), or sends none at all: the client's frames stay with the old instance until
 * the new one's first frame, or, without any, until 1 s after the new GET's answer. Either
 * way: no failure declared, every client frame once, none lost, the old instance lets go. */
static void handover_switch(bool no_media)
{
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    srv_silent = no_media;
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    w.net.server = w.b;
    silent_ep = w.a; /* A's media stops at the migrate */
    assert_int_equal(ripp_ep_drain(w.a, "b.sim.example", w.net.now), 1);
    run(&w, 500 * RIPP_NS_PER_MS);
    /* with B's frames the switch came at the first of them; without, not yet */
    assert_int_equal(ripp_ep_call_count(w.a), no_media ? 1 : 0);
    run(&w, 1500 * RIPP_NS_PER_MS);
    assert_int_equal(ripp_ep_call_count(w.a), 0);
    ripp_ep_failover fo;
    ripp_ep_call_failover(c, &fo);
    assert_int_equal(fo.migrations, 1);
    assert_int_equal(fo.recoveries, 0);
    assert_non_null(w.b->calls);
    const ripp_stats *bst = ripp_ep_call_stats(w.b->calls);
    print_message("handover (%s): B received %llu frames, client received %llu\n",
                  no_media ? "no server media" : "A silent after the migrate",
                  (unsigned long long)bst->rx_frames,
                  (unsigned long long)ripp_ep_call_stats(c)->rx_frames);
    assert_true(bst->rx_frames >= (no_media ? 40u : 80u)); /* the client's frames reach B */
    end_and_check(&w, c);
    const ripp_stats *st = ripp_ep_call_stats(c);
    assert_int_equal(st->lost, 0);
    assert_int_equal(st->sent, st->acked);
    assert_int_equal(to_srv.unique, st->sent);
    assert_int_equal(to_srv.dups, 0);
    world_free(&w);
}

static void handover_old_instance_silent(void **state)
{
    (void)state;
    handover_switch(false);
}

static void handover_without_media(void **state)
{
    (void)state;
    handover_switch(true);
}

/* The old instance crashes in the middle of a handover. `answered`: the client's signaling
 * is with B already, its frames still go to A (B sends no media yet, so nothing switches
 * them); otherwise B has not answered the client's GET yet. A's streams are reset: the
 * client moves its media to B at once (or at B's answer), without a reconnect, and the
 * frames A took but never acked go again, to B. The call goes on; nothing the client
 * produced is missing at the servers; none is lost; nothing is logged as a failure. */
static void old_instance_dies(bool answered, bool released)
{
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC + 7 * RIPP_NS_PER_MS);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    w.net.server = w.b;
    if (answered) silent_ep = w.b; /* B sends nothing yet: the switch would wait 1 s */
    assert_int_equal(ripp_ep_drain(w.a, "b.sim.example", w.net.now), 1);
    run(&w, answered ? 200 * RIPP_NS_PER_MS : 15 * RIPP_NS_PER_MS);
    ripp_ep_failover fo;
    ripp_ep_call_failover(c, &fo);
    assert_int_equal(fo.migrations, 1);           /* the client has the migrate */
    assert_int_equal(ripp_ep_call_count(w.a), 1); /* A still carries the media */
    assert_int_equal(resumed, answered ? 1 : 0);  /* B holds the signaling, or not yet */
    if (answered) assert_int_equal(ripp_ep_call_stats(w.b->calls)->rx_frames, 0);
    assert_true(ripp_sched_blocked_count(&c->tx) > 0); /* frames in flight to A */
    warnings = malformed = 0;
    ripp_log_set_handler(count_warnings, NULL, RIPP_LOG_WARN);
    if (released) {
        ep_call_release(w.a->calls); /* as at the end of its hold time */
    } else {
        ripp_ep_del(w.a);
        w.a = NULL;
        w.net.dead = "https://sim.example/"; /* A's call URI */
    }
    run(&w, 300 * RIPP_NS_PER_MS);
    silent_ep = NULL; /* (silent for 1 s, it would be a failure: no media, D31) */
    run(&w, 1700 * RIPP_NS_PER_MS);
    ripp_log_set_handler(NULL, NULL, RIPP_LOG_INFO);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(resumed, 1);
    uint64_t b_rx = ripp_ep_call_stats(w.b->calls)->rx_frames;
    end_and_check(&w, c);
    const ripp_stats *st = ripp_ep_call_stats(c);
    ripp_ep_call_failover(c, &fo);
    uint64_t missing = 0;
    for (uint64_t s = 0; s < fo.frames; s++)
        missing += !to_srv.seen[s];
    print_message("old instance %s in a handover (%s): recoveries %u, resent %llu, missing "
                  "at the servers %llu, twice %llu, lost %llu, B received %llu, largest arrival "
                  "gap at the servers %lld ms\n",
                  released ? "lets go" : "dies", answered ? "B answered" : "before B's answer",
                  fo.recoveries,
                  (unsigned long long)fo.resent, (unsigned long long)missing,
                  (unsigned long long)to_srv.dups, (unsigned long long)st->lost,
                  (unsigned long long)b_rx, (long long)(to_srv.max_gap / RIPP_NS_PER_MS));
    assert_int_equal(warnings, 0);
    assert_int_equal(fo.recoveries, 0); /* no reconnect: B has the call */
    assert_true(fo.resent > 0);         /* the frames A never acked went to B */
    assert_int_equal(missing, 0);
    assert_true(b_rx >= 90);
    assert_true(to_srv.max_gap <= (answered ? 40 : 60) * RIPP_NS_PER_MS);
    assert_true(to_cli.unique > 0);
    assert_int_equal(st->lost, 0);
    assert_int_equal(st->sent, st->acked);
    world_free(&w);
}

static void handover_old_instance_dies(void **state)
{
    (void)state;
    old_instance_dies(true, false);
}

static void migrate_old_instance_dies(void **state)
{
    (void)state;
    old_instance_dies(false, false);
}

static void handover_old_instance_lets_go(void **state)
{
    (void)state;
    old_instance_dies(true, true);
}

/* A client call made send-only (a bridge's leg about to be handed over): its reverse
 * byways end and none opens again, the server's frames stop reaching it, its own frames go
 * on and are acked, and the silence is no failure (no D31). */
static void send_only(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_true(to_cli.unique > 0);
    assert_true(c->nkind[BW_MEDIA_RX] >= 10);
    ripp_ep_call_send_only(c);
    assert_int_equal(c->nkind[BW_MEDIA_RX], 0);
    run(&w, 100 * RIPP_NS_PER_MS); /* what was on its way */
    uint64_t rx = to_cli.unique, srv_rx = to_srv.unique;
    run(&w, 2 * RIPP_NS_PER_SEC);
    print_message("send-only: the client received %llu frames after, the server %llu; reverse "
                  "byways open %u\n",
                  (unsigned long long)(to_cli.unique - rx),
                  (unsigned long long)(to_srv.unique - srv_rx), c->nkind[BW_MEDIA_RX]);
    assert_int_equal(to_cli.unique, rx);
    assert_int_equal(c->nkind[BW_MEDIA_RX], 0);
    assert_true(to_srv.unique - srv_rx >= 95); /* 2 s of the client's frames */
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(w.client->counters.recoveries, 0);
    end_and_check(&w, c);
    const ripp_stats *st = ripp_ep_call_stats(c);
    assert_int_equal(st->lost, 0);
    assert_int_equal(st->sent, st->acked);
    world_free(&w);
}

/* A drain spreads the migrate events over drain_spread (default 1 s) in steps of 10 ms, at
 * least one call a step, the rest from the media clock; every call moves, none fails. */
static void drain_paced(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    enum { N = 25 };
    ripp_ep_call *cs[N];
    for (int i = 0; i < N; i++)
        cs[i] = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_live_count(w.a), N);
    w.net.server = w.b;
    assert_int_equal(ripp_ep_drain(w.a, "b.sim.example", w.net.now), N);
    assert_int_equal(w.a->counters.calls_migrated, 1); /* 25 calls over 1 s: one a step */
    run(&w, 10 * RIPP_NS_PER_MS);
    assert_int_equal(w.a->counters.calls_migrated, 2);
    run(&w, 200 * RIPP_NS_PER_MS); /* 20 more steps, give or take the clock's phase */
    assert_in_range(w.a->counters.calls_migrated, 21, 23);
    run(&w, 100 * RIPP_NS_PER_MS);
    assert_int_equal(w.a->counters.calls_migrated, N);
    run(&w, 2 * RIPP_NS_PER_SEC);
    assert_int_equal(resumed, N);
    assert_int_equal(ripp_ep_call_count(w.a), 0);
    assert_int_equal(ripp_ep_live_count(w.b), N);
    assert_int_equal(w.client->counters.recoveries, 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ripp_ep_call_fsm(cs[i])->state, RIPP_CALL_ACTIVE);
        assert_int_equal(ripp_ep_call_stats(cs[i])->lost, 0);
    }
    world_free(&w);
}

/* The state of the call's record in the store. */
static int record_state(world *w, ripp_ep_call *c)
{
    ripp_call_rec r;
    assert_int_equal(
        w->store->ops->call_get(w->store->impl, strrchr(ripp_ep_call_uri(c), '/') + 1, &r), 0);
    return r.state;
}

/* A call up on A; then the client reconnects while A is alive, and the balancer sends the
 * reconnect to B (no cookies): B takes the call over while A still holds its copy. */
static ripp_ep_call *split_to_b(world *w)
{
    world_init(w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(w);
    run(w, RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    w->net.server = w->b;
    ep_client_recover(c, "a reconnect the balancer sends to B", w->net.now);
    return c;
}

/* Fencing (P5), after split_to_b: the client comes back to A, whose copy is stale: A reads
 * the call again from the store instead of serving its own copy. B, left holding a copy
 * with no client, neither ends the call at its hold time (no CDR, no ended record under a
 * live call) nor keeps it. */
static void split_brain_fenced(void **state)
{
    (void)state;
    world w;
    ripp_ep_call *c = split_to_b(&w);
    run(&w, 500 * RIPP_NS_PER_MS);
    assert_int_equal(resumed, 1); /* B took it over; A still holds its copy */
    assert_int_equal(ripp_ep_call_count(w.a), 1);
    w.net.server = w.a;
    ep_client_recover(c, "a reconnect the balancer sends back to A", w.net.now);
    run(&w, 500 * RIPP_NS_PER_MS);
    assert_int_equal(resumed, 2); /* A read it again: B's seqs, not its own */
    run(&w, 6 * RIPP_NS_PER_SEC); /* B's hold time passes */
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(ripp_ep_call_count(w.b), 0); /* released, not ended */
    assert_int_equal(srv_done, 0);
    assert_int_equal(record_state(&w, c), RIPP_CALL_ACTIVE);
    const ripp_stats *st = ripp_ep_call_stats(c);
    print_message("split brain: taken over %d times, client sent %llu acked %llu, B released "
                  "its copy\n",
                  resumed, (unsigned long long)st->sent, (unsigned long long)st->acked);
    end_and_check(&w, c); /* one CDR, A's */
    assert_int_equal(to_cli.dups, 0);
    world_free(&w);
}

/* Fencing at the hold time alone, after split_to_b: when A's hold time passes it releases
 * its copy (no CDR, the record stays B's, active). */
static void split_brain_hold_time(void **state)
{
    (void)state;
    world w;
    ripp_ep_call *c = split_to_b(&w);
    run(&w, 6 * RIPP_NS_PER_SEC);
    assert_int_equal(resumed, 1);
    assert_int_equal(ripp_ep_call_count(w.a), 0);
    assert_int_equal(srv_done, 0);
    assert_int_equal(record_state(&w, c), RIPP_CALL_ACTIVE);
    end_and_check(&w, c); /* one CDR, B's */
    world_free(&w);
}

/* The drain refuses new calls with 503. */
static void drain_refuses_new_calls(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS);
    ripp_ep_drain(w.a, NULL, w.net.now);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ENDED);
    assert_int_equal(ripp_ep_call_setup_status(c, NULL, 0), 503);
    world_free(&w);
}

/* Migrate without a URI (P6): same URI, no cookies; the balancer (net.server) picks B. */
static void migrate_same_uri(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    char uri[256];
    snprintf(uri, sizeof uri, "%s", ripp_ep_call_uri(c));
    w.net.server = w.b;
    ripp_ep_drain(w.a, NULL, w.net.now);
    run(&w, 2 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_string_equal(ripp_ep_call_uri(c), uri);
    assert_int_equal(resumed, 1);
    assert_int_equal(to_srv.dups, 0);
    assert_int_equal(ripp_ep_call_stats(c)->lost, 0);
    end_and_check(&w, c);
    world_free(&w);
}

/* A crash: instance A is gone (its streams reset). The client reconnects, B takes the call
 * over from the store, the call goes on; frames lost in the gap are counted. */
static void crash_takeover(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, 2 * RIPP_NS_PER_SEC + 3 * RIPP_NS_PER_MS);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    uint64_t before = to_cli.unique;
    w.net.server = w.b;
    ripp_ep_del(w.a);
    w.a = NULL;
    run(&w, 3 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(resumed, 1);
    ripp_ep_failover fo;
    ripp_ep_call_failover(c, &fo);
    assert_int_equal(fo.recoveries, 1);
    assert_true(to_cli.unique > before + 100); /* B's media reaches the client */
    assert_true(fo.max_gap <= 100 * RIPP_NS_PER_MS);
    end_and_check(&w, c);
    ripp_ep_call_failover(c, &fo);
    const ripp_stats *st = ripp_ep_call_stats(c);
    uint64_t missing = 0;
    for (uint64_t s = 0; s < fo.frames; s++)
        missing += !to_srv.seen[s];
    print_message("crash: client frames %llu, sent %llu, acked %llu, resent %llu, missing at "
                  "the servers %llu, duplicates %llu, lost %llu; reconnected after %lld ms; "
                  "server frames at the client: %llu, duplicates %llu\n",
                  (unsigned long long)fo.frames, (unsigned long long)st->sent,
                  (unsigned long long)st->acked, (unsigned long long)fo.resent,
                  (unsigned long long)missing, (unsigned long long)to_srv.dups,
                  (unsigned long long)st->lost, (long long)(fo.max_gap / RIPP_NS_PER_MS),
                  (unsigned long long)to_cli.unique, (unsigned long long)to_cli.dups);
    assert_true(fo.resent > 0);   /* the frames in flight went again */
    assert_int_equal(missing, 0); /* nothing the client produced in the gap was lost */
    assert_int_equal(st->lost, 0);
    assert_int_equal(st->sent, st->acked);
    assert_int_equal(to_cli.dups, 0); /* B numbers its frames past A's */
    world_free(&w);
}

static ripp_ts time_to_recovery(world *w, ripp_ts limit)
{
    ripp_ts t0 = w->net.now;
    uint64_t r0 = ripp_ep_counters_get(w->client)->recoveries;
    while (ripp_ep_counters_get(w->client)->recoveries == r0 && w->net.now < t0 + limit)
        run(w, RIPP_NS_PER_MS);
    return w->net.now - t0;
}

/* P3 timing: no ack for 300 ms while frames are outstanding; no media for 1 s (D31). The
 * path turns into a black hole (everything takes 100 s). */
static void detection_timing(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    w.net.latency = 100 * RIPP_NS_PER_SEC;
    ripp_ts t = time_to_recovery(&w, 3 * RIPP_NS_PER_SEC);
    print_message("no ack: failure declared %lld ms after the path died\n",
                  (long long)(t / RIPP_NS_PER_MS));
    /* the last frame acked left up to 10 ms + one interval before */
    assert_true(t >= 270 * RIPP_NS_PER_MS && t <= 320 * RIPP_NS_PER_MS);
    ripp_ep_call_end(c, NULL, w.net.now);
    world_free(&w);

    world_init(&w, 10 * RIPP_NS_PER_MS);
    cli_silent = true; /* nothing outstanding: only the media guard can tell */
    c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    w.net.latency = 100 * RIPP_NS_PER_SEC;
    t = time_to_recovery(&w, 3 * RIPP_NS_PER_SEC);
    print_message("no media: failure declared %lld ms after the path died\n",
                  (long long)(t / RIPP_NS_PER_MS));
    assert_true(t >= 970 * RIPP_NS_PER_MS && t <= 1030 * RIPP_NS_PER_MS);
    ripp_ep_call_end(c, NULL, w.net.now);
    world_free(&w);
}

/* 100 calls lose their instance; for 1 s nothing answers. Their attempts spread out
 * (jittered back-off), and every call comes back once B answers. */
static void reconnect_jitter(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS);
    enum { N = 100 };
    ripp_ep_call *calls[N];
    for (int i = 0; i < N; i++)
        calls[i] = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    for (int i = 0; i < N; i++)
        assert_int_equal(ripp_ep_call_fsm(calls[i])->state, RIPP_CALL_ACTIVE);
    w.net.server = w.b;
    w.net.refuse = true;
    ripp_ep_del(w.a);
    w.a = NULL;
    unsigned buckets[100] = {0}; /* attempts per 10 ms over the first second */
    unsigned last = 0;
    ripp_ts t0 = w.net.now;
    for (int k = 0; k < 100; k++) {
        run(&w, 10 * RIPP_NS_PER_MS);
        unsigned sum = 0;
        for (int i = 0; i < N; i++) {
            ripp_ep_failover fo;
            ripp_ep_call_failover(calls[i], &fo);
            sum += fo.attempts;
        }
        buckets[k] = sum - last;
        last = sum;
    }
    (void)t0;
    unsigned peak = 0, busy = 0;
    for (int k = 0; k < 100; k++) {
        if (buckets[k] > peak) peak = buckets[k];
        busy += buckets[k] > 0;
    }
    print_message("jitter: %u attempts in 1 s by %d calls; peak %u per 10 ms; %u of 100 "
                  "10-ms slots used\n",
                  last, N, peak, busy);
    assert_true(last >= 4 * N); /* back-off: 50, 100, 200, 400 ms ... */
    assert_true(peak <= N / 2); /* never all at once */
    assert_true(busy >= 40);    /* spread over the window */
    w.net.refuse = false;
    run(&w, 2 * RIPP_NS_PER_SEC);
    int active = 0;
    for (int i = 0; i < N; i++)
        active += ripp_ep_call_fsm(calls[i])->state == RIPP_CALL_ACTIVE;
    assert_int_equal(active, N);
    assert_int_equal(resumed, N);
    world_free(&w);
}

/* Nothing answers for longer than the recover window (5 s): the call ends as a transport
 * failure, within the window plus the last back-off step. */
static void give_up_after_window(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    w.net.refuse = true;
    ripp_ep_del(w.a);
    w.a = NULL;
    ripp_ts t0 = w.net.now;
    while (ripp_ep_call_fsm(c)->state != RIPP_CALL_ENDED && w.net.now < t0 + 10 * RIPP_NS_PER_SEC)
        run(&w, 5 * RIPP_NS_PER_MS);
    ripp_ts took = w.net.now - t0;
    print_message("give up: the call ended %lld ms after the crash\n",
                  (long long)(took / RIPP_NS_PER_MS));
    assert_int_equal(ripp_ep_call_fsm(c)->outcome, RIPP_OUTCOME_TRANSPORT);
    assert_true(took >= 4 * RIPP_NS_PER_SEC && took <= 5100 * RIPP_NS_PER_MS);
    run(&w, 4 * RIPP_NS_PER_SEC);
    assert_int_equal(cli_lost, 1);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrate_in_flight),       cmocka_unit_test(migrate_crosses_new_byway),
        cmocka_unit_test(handover_takes_crossing_byway),
        cmocka_unit_test(handover_old_instance_silent),
        cmocka_unit_test(handover_without_media),
        cmocka_unit_test(handover_old_instance_dies),
        cmocka_unit_test(migrate_old_instance_dies),
        cmocka_unit_test(handover_old_instance_lets_go),
        cmocka_unit_test(send_only),
        cmocka_unit_test(drain_paced),
        cmocka_unit_test(split_brain_fenced),      cmocka_unit_test(split_brain_hold_time),
        cmocka_unit_test(drain_refuses_new_calls), cmocka_unit_test(migrate_same_uri),
        cmocka_unit_test(crash_takeover),          cmocka_unit_test(detection_timing),
        cmocka_unit_test(reconnect_jitter),        cmocka_unit_test(give_up_after_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
