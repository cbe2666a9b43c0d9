/* The client after a recovery (SPEC §7.2, §7.3, P3, P6), in virtual time:
 *   - the cookies of the signaling GET's 200 replace those of the same name, and a client
 *     that reconnected without cookies sends the new ones on its PUT and media byways;
 *   - a frame counts as sent and acknowledged once, whatever became of its first sending;
 *   - a second client engine adopts a call the first placed and lost (a bridging instance
 *     that crashed): the server's call goes on with the new client's byways.
 * Two server instances (A, B) share one store; requests reach the one net.server names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "fake_http.h"
#include "sim_common.h"
#include "../../lib/ep_internal.h"
#include "ripp/store.h"

static rxmap to_srv, to_cli;
static int resumed, srv_done, cli_done, cli_lost;
static ripp_ep_call *srv_call; /* the call at the instance that holds it */
static enum ripp_call_outcome srv_outcome;

static void accept_call(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t)
{
    (void)ud;
    (void)t;
    srv_call = c;
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_ACCEPTED);
    ripp_ep_call_send(c, &ev, fk_current->now);
}
static void on_resumed(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t)
{
    (void)ud;
    (void)t;
    srv_call = c;
    resumed++;
}
static int64_t next_frame(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                          size_t cap)
{
    (void)ud;
    (void)c;
    (void)cap;
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
    if (ripp_ep_call_migrated(c)) return;
    srv_done++;
    srv_outcome = ripp_ep_call_fsm(c)->outcome;
    if (c == srv_call) srv_call = NULL;
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

/* Every request the clients make, with the Cookie it carried. */
typedef struct reqlog {
    char what[48]; /* "GET /event", "POST /media-reverse", ... */
    char cookie[256];
} reqlog;
static reqlog reqs[4096];
static size_t nreqs;

typedef struct tap {
    ripp_http_client client; /* first member */
    fk_net *net;
} tap;

static ripp_xchg *tap_request(ripp_http_client *cl, const char *method, const char *url,
                              const ripp_hdr *hdrs, size_t n, bool end, const ripp_xchg_cbs *cbs,
                              void *ud, int *err)
{
    tap *t = (tap *)cl;
    if (nreqs < sizeof reqs / sizeof reqs[0]) {
        reqlog *r = &reqs[nreqs++];
        const char *sub = strrchr(url, '/');
        snprintf(r->what, sizeof r->what, "%s %.30s", method, sub ? sub : url);
        r->cookie[0] = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(hdrs[i].name, "cookie") == 0)
                snprintf(r->cookie, sizeof r->cookie, "%s", hdrs[i].value);
    }
    return fk_request(&t->net->client, method, url, hdrs, n, end, cbs, ud, err);
}
static void tap_del(ripp_http_client *cl)
{
    (void)cl;
}
static const ripp_http_client_vt tap_vt = {.request = tap_request, .del = tap_del};

typedef struct world {
    fk_net net;
    tap tap;
    ripp_env env;
    ripp_store *store;
    ripp_ep *a, *b, *client, *client2;
} world;

static ripp_ep *server_new(world *w, const char *cookie)
{
    int err = 0;
    ripp_ep_config sc = {.role = RIPP_ROLE_SERVER,
                         .env = &w->env,
                         .store = w->store,
                         .require_identity = false,
                         .set_cookie = cookie,
                         .hold_timeout = 5 * RIPP_NS_PER_SEC};
    ripp_ep *ep = ripp_ep_new(&sc, &srv_hooks, NULL, &err);
    assert_non_null(ep);
    return ep;
}

static ripp_ts ack_timeout; /* 0: the default */

static ripp_ep *client_new(world *w)
{
    int err = 0;
    ripp_ep_config cc = {.role = RIPP_ROLE_CLIENT,
                         .env = &w->env,
                         .http = &w->tap.client,
                         .ack_timeout = ack_timeout};
    ripp_ep *ep = ripp_ep_new(&cc, &cli_hooks, NULL, &err);
    assert_non_null(ep);
    return ep;
}

static void world_init(world *w, ripp_ts latency)
{
    memset(&to_srv, 0, sizeof to_srv);
    memset(&to_cli, 0, sizeof to_cli);
    resumed = srv_done = cli_done = cli_lost = 0;
    srv_call = NULL;
    srv_outcome = RIPP_OUTCOME_NONE;
    nreqs = 0;
    fk_init(&w->net, latency, &w->env);
    w->tap.client.vt = &tap_vt;
    w->tap.net = &w->net;
    int err = 0;
    w->store = ripp_store_memory_new(&err);
    assert_non_null(w->store);
    ripp_trunk_rec t = {.id = "t1", .answer = "echo", .caps_json = "{}"};
    assert_int_equal(w->store->ops->trunk_put(w->store->impl, &t), 0);
    char h[65];
    token_hash(NULL, TOKEN, h);
    assert_int_equal(w->store->ops->token_add(w->store->impl, "t1", h), 0);
    w->a = server_new(w, "SERVERID=a; Path=/");
    w->b = server_new(w, "SERVERID=b; Path=/");
    w->net.server = w->a;
    w->client = client_new(w);
    w->client2 = NULL;
}

static void world_free(world *w)
{
    (void)fk_run;
    if (w->client) ripp_ep_del(w->client);
    if (w->client2) ripp_ep_del(w->client2);
    if (w->a) ripp_ep_del(w->a);
    if (w->b) ripp_ep_del(w->b);
    fk_shutdown(&w->net);
    ripp_store_close(w->store);
}

static void run(world *w, ripp_ts dt)
{
    ripp_ep *eps[4] = {w->client, w->client2, w->a, w->b};
    ripp_ts until = w->net.now + dt;
    while (w->net.now < until) {
        ripp_ts t = fk_next(&w->net), e;
        for (int i = 0; i < 4; i++)
            if (eps[i] && (e = ripp_ep_expiry(eps[i])) < t) t = e;
        if (t > until) t = until;
        if (t > w->net.now) w->net.now = t;
        fk_run_due(&w->net);
        for (int i = 0; i < 4; i++)
            if (eps[i]) ripp_ep_handle_expiry(eps[i], w->net.now);
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

/* The requests from index `from` on that reopened the call after the first signaling GET
 * among them: how many, and how many carried exactly `cookie`. */
static void cookies_after_get(size_t from, const char *cookie, unsigned *n, unsigned *with)
{
    *n = *with = 0;
    bool get = false;
    for (size_t i = from; i < nreqs; i++) {
        if (!get) {
            get = strcmp(reqs[i].what, "GET /event") == 0;
            continue;
        }
        (*n)++;
        if (strcmp(reqs[i].cookie, cookie) == 0) (*with)++;
    }
}

/* A crash: the reconnect GET carries the dead instance's cookie (SERVERID=a); B takes the
 * call over and sets SERVERID=b on the GET's 200. Every request after it carries
 * SERVERID=b alone (the value replaced, not appended). */
static void cookie_replaced_after_crash(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_string_equal(ripp_ep_call_cookies(c), "SERVERID=a");
    size_t mark = nreqs;
    w.net.server = w.b;
    ripp_ep_del(w.a);
    w.a = NULL;
    run(&w, 2 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(resumed, 1);
    assert_true(nreqs > mark);
    assert_string_equal(reqs[mark].what, "GET /event");
    assert_string_equal(reqs[mark].cookie, "SERVERID=a"); /* the first attempt: as it was */
    unsigned n, with;
    cookies_after_get(mark, "SERVERID=b", &n, &with);
    print_message("crash: %u requests after the reconnect GET, %u with SERVERID=b alone; "
                  "cookie now \"%s\"\n",
                  n, with, ripp_ep_call_cookies(c));
    assert_true(n >= 11); /* the PUT and ten reverse byways at least */
    assert_int_equal(with, n);
    assert_string_equal(ripp_ep_call_cookies(c), "SERVERID=b");
    ripp_ep_call_end(c, NULL, w.net.now);
    run(&w, 2500 * RIPP_NS_PER_MS);
    assert_int_equal(cli_lost, 0);
    assert_int_equal(srv_done, 1);
    world_free(&w);
}

/* Migrate without a URI (P6): the GET goes without cookies; B answers it with SERVERID=b;
 * the PUT and the media byways that follow carry it (before: they went without cookies, and
 * a balancer could send each to another instance). */
static void cookies_again_after_migrate(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    size_t mark = nreqs;
    w.net.server = w.b;
    assert_int_equal(ripp_ep_drain(w.a, NULL, w.net.now), 1);
    run(&w, 2 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(resumed, 1);
    assert_true(nreqs > mark);
    assert_string_equal(reqs[mark].what, "GET /event");
    assert_string_equal(reqs[mark].cookie, ""); /* P6: the GET goes without */
    unsigned n, with;
    cookies_after_get(mark, "SERVERID=b", &n, &with);
    print_message("migrate without URI: %u requests after the GET, %u with SERVERID=b\n", n, with);
    assert_true(n >= 11);
    assert_int_equal(with, n);
    ripp_ep_call_end(c, NULL, w.net.now);
    run(&w, 2500 * RIPP_NS_PER_MS);
    assert_int_equal(cli_lost, 0);
    assert_int_equal(srv_done, 1);
    world_free(&w);
}

/* The path turns into a black hole: byways block, frames queue in the scheduler, no ack
 * comes for 1 s (more than the 20 byways hold) and the client declares the failure; B
 * answers the reconnect. Frames that were queued (never written) and frames in flight are
 * sent on the new byways: each counts once as sent and once as acknowledged (before: acked
 * exceeded sent by the queued frames, whose resend took back a "sent" never counted). */
static void acked_never_exceeds_sent(void **state)
{
    (void)state;
    world w;
    ack_timeout = RIPP_NS_PER_SEC;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ack_timeout = 0;
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    w.net.latency = 100 * RIPP_NS_PER_SEC;
    uint64_t r0 = ripp_ep_counters_get(w.client)->recoveries;
    unsigned queued_max = 0;
    for (int i = 0; i < 1500 && ripp_ep_counters_get(w.client)->recoveries == r0; i++) {
        unsigned q = ripp_sched_queued(&c->tx);
        if (q > queued_max) queued_max = q;
        run(&w, RIPP_NS_PER_MS);
    }
    assert_true(ripp_ep_counters_get(w.client)->recoveries > r0);
    w.net.latency = 10 * RIPP_NS_PER_MS;
    w.net.server = w.b;
    run(&w, 2 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(resumed, 1);
    ripp_ep_call_end(c, NULL, w.net.now);
    run(&w, 2500 * RIPP_NS_PER_MS);
    const ripp_stats *st = ripp_ep_call_stats(c);
    ripp_ep_failover fo;
    ripp_ep_call_failover(c, &fo);
    print_message("black hole: %u frames queued at most; produced %llu, sent %llu, acked %llu, "
                  "lost %llu, resent %llu; received by B %llu (A's are in the hole)\n",
                  queued_max, (unsigned long long)fo.frames, (unsigned long long)st->sent,
                  (unsigned long long)st->acked, (unsigned long long)st->lost,
                  (unsigned long long)fo.resent, (unsigned long long)to_srv.unique);
    assert_true(queued_max > 0); /* the case: frames waited in the scheduler's queue */
    assert_true(st->acked <= st->sent);
    assert_true(st->sent <= fo.frames);
    /* every frame is acknowledged or lost, once (the scheduler's queue of 200 ms dropped
     * the oldest of the second it was blocked: D21) */
    assert_int_equal(st->acked + st->lost, fo.frames);
    assert_true(to_srv.unique >= st->acked);
    assert_int_equal(to_srv.dups, 0);
    assert_int_equal(cli_lost, 0);
    world_free(&w);
}

/* An acknowledgement that comes twice for one frame (the old path and the new) counts once. */
static void duplicate_ack_counts_once(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    const ripp_stats *st = ripp_ep_call_stats(c);
    uint64_t acked = st->acked;
    uint32_t seq = 0;
    bool found = false;
    for (uint32_t i = 0; i < c->ring_cap && !found; i++)
        if (c->ring[i].state == RE_ACKED) {
            seq = c->ring[i].seq;
            found = true;
        }
    assert_true(found);
    c->tx.stats.acked++; /* what the scheduler counts for an ack of its byway */
    ep_ring_on_ack(c, seq);
    assert_int_equal(st->acked, acked);
    ripp_ep_call_end(c, NULL, w.net.now);
    run(&w, 2500 * RIPP_NS_PER_MS);
    assert_true(st->acked <= st->sent);
    world_free(&w);
}

/* A client engine (a bridging instance) places a call on A and dies; another engine adopts
 * the call from what the first had stored: its URI, cookies, event seqs and the next media
 * number. The server (the call is still held, waiting for its client) takes the new byways
 * and the call goes on: frames of the new client reach the server past the jump, the
 * server's frames reach the new client, and the new client's end ends the call at the
 * server normally. */
static void adopt_lost_call(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, 2 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    char uri[256], cookie[256], id[40];
    snprintf(uri, sizeof uri, "%s", ripp_ep_call_uri(c));
    snprintf(cookie, sizeof cookie, "%s", ripp_ep_call_cookies(c));
    snprintf(id, sizeof id, "%s", ripp_ep_call_id(c));
    uint64_t next_media = ripp_ep_call_next_media_seq(c);
    int64_t last_in = ripp_ep_call_fsm(c)->last_seq_in;
    uint64_t next_out = ripp_ep_call_fsm(c)->next_seq_out;
    uint64_t srv_rx_before = to_srv.unique;
    assert_true(next_media >= 90);
    assert_true(last_in >= 0); /* accepted came */
    ripp_ep_del(w.client);     /* the client dies: its streams reset */
    w.client = NULL;
    run(&w, 300 * RIPP_NS_PER_MS); /* the server holds the call without a signaling byway */
    assert_non_null(srv_call);
    assert_int_equal(ripp_ep_call_fsm(srv_call)->state, RIPP_CALL_ACTIVE);
    uint64_t cli_rx_before = to_cli.unique;

    w.client2 = client_new(&w);
    size_t mark = nreqs;
    ripp_adopt_opts o = {.call_uri = uri,
                         .token = TOKEN,
                         .cookies = cookie,
                         .state = RIPP_CALL_ACTIVE,
                         .last_seq_in = last_in,
                         .next_seq_out = next_out,
                         .media_seq = next_media + 100};
    int err = 0;
    ripp_ep_call *c2 = ripp_ep_call_adopt(w.client2, &o, w.net.now, &err);
    assert_non_null(c2);
    assert_int_equal(err, 0);
    assert_string_equal(ripp_ep_call_id(c2), id);
    assert_int_equal(ripp_ep_call_adopt(w.client2, &o, w.net.now, &err) == NULL, 1);
    assert_int_equal(err, RIPP_ERR_STATE);
    ripp_adopt_opts bad = o;
    bad.call_uri = "http://sim.example/call/x";
    assert_null(ripp_ep_call_adopt(w.client2, &bad, w.net.now, &err));
    assert_int_equal(err, RIPP_ERR_INVAL);
    run(&w, 2 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c2)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(resumed, 0); /* A held it all along */
    assert_string_equal(reqs[mark].what, "GET /event");
    assert_string_equal(reqs[mark].cookie, "SERVERID=a");
    const ripp_stats *st = ripp_ep_call_stats(c2);
    ripp_ep_failover fo;
    ripp_ep_call_failover(c2, &fo);
    uint64_t from_new = 0;
    for (uint64_t s = next_media + 100; s < next_media + 300 && s < MAXSEQ; s++)
        from_new += to_srv.seen[s];
    print_message("adopt: reconnected after %lld ms; new client sent %llu acked %llu lost %llu; "
                  "server got %llu of the new client's first 200 numbers, %llu frames before; "
                  "client got %llu server frames after the adoption; duplicate events %llu\n",
                  (long long)(fo.last_gap / RIPP_NS_PER_MS), (unsigned long long)st->sent,
                  (unsigned long long)st->acked, (unsigned long long)st->lost,
                  (unsigned long long)from_new, (unsigned long long)srv_rx_before,
                  (unsigned long long)(to_cli.unique - cli_rx_before),
                  (unsigned long long)ripp_ep_call_fsm(c2)->duplicate_events);
    assert_true(fo.last_gap <= 100 * RIPP_NS_PER_MS);
    assert_true(st->sent >= 90);
    assert_true(st->acked + 2 >= st->sent); /* the last ones may be in flight */
    assert_true(st->acked <= st->sent);
    assert_true(from_new >= 90);
    assert_int_equal(to_srv.dups, 0);
    assert_true(to_cli.unique - cli_rx_before >= 90);
    assert_int_equal(ripp_ep_call_fsm(c2)->illegal_events, 0); /* the replay was dropped */
    ripp_ep_call_end(c2, NULL, w.net.now);
    run(&w, 2500 * RIPP_NS_PER_MS);
    assert_int_equal(srv_done, 1);
    assert_int_equal(srv_outcome, RIPP_OUTCOME_ENDED_REMOTE);
    assert_int_equal(cli_lost, 0);
    world_free(&w);
}

/* A client hands its call over (a drained bridge): it ends without an event and resets its
 * byways; the server keeps the call for the hold time, and the engine that adopts it goes
 * on with it. */
static void release_then_adopt(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    run(&w, RIPP_NS_PER_SEC);
    char uri[256];
    snprintf(uri, sizeof uri, "%s", ripp_ep_call_uri(c));
    ripp_adopt_opts o = {.call_uri = uri,
                         .token = TOKEN,
                         .state = RIPP_CALL_ACTIVE,
                         .last_seq_in = ripp_ep_call_fsm(c)->last_seq_in,
                         .next_seq_out = ripp_ep_call_fsm(c)->next_seq_out,
                         .media_seq = ripp_ep_call_next_media_seq(c) + 60};
    ripp_ep_call_release(c, w.net.now);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ENDED);
    assert_int_equal(ripp_ep_call_fsm(c)->next_seq_out, o.next_seq_out); /* no end sent */
    run(&w, 500 * RIPP_NS_PER_MS);
    assert_int_equal(cli_done, 1);
    assert_non_null(srv_call);
    assert_int_equal(ripp_ep_call_fsm(srv_call)->state, RIPP_CALL_ACTIVE);
    uint64_t rx = to_srv.unique;
    w.client2 = client_new(&w);
    int err = 0;
    ripp_ep_call *c2 = ripp_ep_call_adopt(w.client2, &o, w.net.now, &err);
    assert_non_null(c2);
    run(&w, RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c2)->state, RIPP_CALL_ACTIVE);
    print_message("release, then adopt: the server received %llu frames of the new client\n",
                  (unsigned long long)(to_srv.unique - rx));
    assert_true(to_srv.unique - rx >= 40);
    ripp_ep_call_end(c2, NULL, w.net.now);
    run(&w, 2500 * RIPP_NS_PER_MS);
    assert_int_equal(srv_done, 1);
    assert_int_equal(srv_outcome, RIPP_OUTCOME_ENDED_REMOTE);
    world_free(&w);
}

/* Adopting a call the server no longer has ends it (404: the call is gone). */
static void adopt_unknown_call(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS);
    ripp_adopt_opts o = {.call_uri =
                             "https://sim.example/call/6f1e0a4c-2c57-4d0e-9b7a-5b1c1e0f9d21",
                         .token = TOKEN,
                         .state = RIPP_CALL_ACTIVE,
                         .last_seq_in = 1};
    int err = 0;
    ripp_ep_call *c = ripp_ep_call_adopt(w.client, &o, w.net.now, &err);
    assert_non_null(c);
    run(&w, RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ENDED);
    assert_int_equal(ripp_ep_call_fsm(c)->outcome, RIPP_OUTCOME_TRANSPORT);
    run(&w, 4 * RIPP_NS_PER_SEC);
    assert_int_equal(cli_lost, 1);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cookie_replaced_after_crash),
        cmocka_unit_test(cookies_again_after_migrate),
        cmocka_unit_test(acked_never_exceeds_sent),
        cmocka_unit_test(duplicate_ack_counts_once),
        cmocka_unit_test(adopt_lost_call),
        cmocka_unit_test(release_then_adopt),
        cmocka_unit_test(adopt_unknown_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
