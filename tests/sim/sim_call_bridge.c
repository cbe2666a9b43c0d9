/* What the engine offers a bridge (rippd's bridge:URL trunks), in virtual time over the
 * in-memory binding: frames relayed as they arrive (on_frame) into another call's sequence
 * space with gaps kept (ripp_ep_call_send_frame), an end asked for before the 201, the
 * signaling GET reopened after a loss, and the accessors that carry a call onwards. */
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

#define DROP_EVERY 10 /* the server's relay leaves out every 10th frame it receives */

typedef struct side {
    ripp_ep_call *call;
    bool done, relay, silent;
    enum ripp_call_outcome outcome;
    int end_cause;
    uint32_t next_payload;
    uint64_t frames_out;
    /* relay (server): source seq expected next, frames left out */
    int64_t relay_next;
    uint64_t relayed, left_out;
    /* playout (client): payload bytes of the frames played, 0 for a missing one */
    uint8_t played[1024];
    size_t nplayed;
    bool started;
    ripp_stats stats;
} side;

static side srv, cli;

static void on_call_new(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t)
{
    (void)ud;
    (void)t;
    srv.call = c;
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_ACCEPTED);
    ripp_ep_call_send(c, &ev, fk_current->now);
}

static void on_event(void *ud, ripp_ep_call *c, const ripp_event *ev, bool local)
{
    side *s = ud;
    (void)c;
    if (!local && ev->type == RIPP_EV_END && ev->reason.present) s->end_cause = ev->reason.cause;
}

/* The client sends frames numbered in their payload (1, 2, 3, ... wrapping, never 0). */
static int64_t next_frame(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                          size_t cap)
{
    side *s = ud;
    (void)c;
    (void)cap;
    if (s->silent) return 0;
    *codec = RIPP_CODEC_PCMU;
    memset(buf, (uint8_t)(s->next_payload++ % 255 + 1), 160);
    s->frames_out++;
    return 160;
}

static void on_playout(void *ud, ripp_ep_call *c, const ripp_jbuf_out *out)
{
    side *s = ud;
    (void)c;
    if (!s->started && !out->present) return;
    s->started = true;
    if (s->nplayed < sizeof s->played) s->played[s->nplayed++] = out->present ? out->payload[0] : 0;
}

/* The server relays what it receives back to the caller as it arrives, leaving out every
 * DROP_EVERY-th frame: the gap must reach the caller as a gap. */
static void on_frame(void *ud, ripp_ep_call *c, uint32_t seq, enum ripp_codec codec,
                     const uint8_t *payload, size_t len, ripp_ts now)
{
    side *s = ud;
    if (!s->relay || (int64_t)seq < s->relay_next) return;
    uint32_t skip = s->relay_next >= 0 ? (uint32_t)((int64_t)seq - s->relay_next) : 0;
    s->relay_next = (int64_t)seq + 1;
    if (seq % DROP_EVERY == DROP_EVERY - 1) {
        s->left_out++;
        return;
    }
    /* a left-out frame just before counts as a skipped number */
    if (seq && (seq - 1) % DROP_EVERY == DROP_EVERY - 1) skip++;
    assert_int_equal(ripp_ep_call_send_frame(c, codec, payload, len, skip, now), 0);
    s->relayed++;
}

static void on_done(void *ud, ripp_ep_call *c)
{
    side *s = ud;
    s->done = true;
    s->outcome = ripp_ep_call_fsm(c)->outcome;
    s->stats = *ripp_ep_call_stats(c);
}

static const ripp_ep_hooks srv_hooks = {.on_call_new = on_call_new,
                                        .on_event = on_event,
                                        .on_playout = on_playout,
                                        .on_done = on_done,
                                        .token_hash = token_hash,
                                        .verify_sig = verify_sig,
                                        .on_frame = on_frame};
static const ripp_ep_hooks cli_hooks = {
    .on_event = on_event, .next_frame = next_frame, .on_playout = on_playout, .on_done = on_done};

typedef struct world {
    fk_net net;
    ripp_env env;
    ripp_store *store;
    ripp_ep *server, *client;
    char identity[RIPP_IDENTITY_MAX];
} world;

static void world_init(world *w, ripp_ts latency)
{
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    srv.relay_next = -1;
    fk_init(&w->net, latency, &w->env);
    int err = 0;
    w->store = ripp_store_memory_new(&err);
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
                         .hold_timeout = 2 * RIPP_NS_PER_SEC};
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
    assert_true(ripp_passport_sign(&pp, sign_fake, NULL, w->identity, sizeof w->identity) > 0);
    ripp_place_opts o = {.trunk_url = "https://sim.example/trunks/t1",
                         .token = TOKEN,
                         .target = "14085551212@e164.arpa",
                         .identity = w->identity};
    int err = 0;
    ripp_ep_call *c = ripp_ep_call_place(w->client, &o, w->net.now, &err);
    assert_non_null(c);
    cli.call = c;
    return c;
}

/* Frames relayed as they arrive keep their order, and a frame left out is a concealed slot
 * at exactly its place: the relayed sequence space has a gap there. */
static void relay_keeps_gaps(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS);
    srv.relay = true;
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + 6 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    cli.silent = true; /* stop sending, let the relayed frames drain, then end */
    fk_run(&w.net, w.client, w.server, w.net.now + 500 * RIPP_NS_PER_MS);
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + 2 * RIPP_NS_PER_SEC);
    assert_true(cli.done && srv.done);
    assert_true(cli.frames_out >= 280);
    assert_int_equal(srv.relayed + srv.left_out, cli.frames_out);
    assert_int_equal(cli.stats.rx_frames, srv.relayed);
    /* the server's own sequence space counts the gaps as numbers never sent */
    assert_int_equal(srv.stats.sent, srv.relayed);
    assert_int_equal(srv.stats.lost, 0);
    /* playout: frame k (payload k % 255 + 1) in slot k, a missing slot at every 10th */
    size_t missing = 0;
    for (size_t k = 0; k < cli.nplayed && k < cli.frames_out; k++) {
        if (k % DROP_EVERY == DROP_EVERY - 1) {
            assert_int_equal(cli.played[k], 0);
            missing++;
        } else {
            assert_int_equal(cli.played[k], (uint8_t)(k % 255 + 1));
        }
    }
    assert_true(missing >= srv.left_out - 1);
    assert_true(cli.stats.rx_concealed >= missing);
    world_free(&w);
}

/* An end asked for before the 201 is sent once the call exists: the server sees a cancel
 * with SIP 487. */
static void end_before_created(void **state)
{
    (void)state;
    world w;
    world_init(&w, 50 * RIPP_NS_PER_MS);
    srv.relay = false;
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + 10 * RIPP_NS_PER_MS);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_SETUP_SENT);
    assert_int_equal(ripp_ep_call_end(c, NULL, w.net.now), 0);
    fk_run(&w.net, w.client, w.server, w.net.now + 2 * RIPP_NS_PER_SEC);
    assert_true(cli.done && srv.done);
    assert_int_equal(cli.outcome, RIPP_OUTCOME_CANCELLED);
    /* the server had answered at once (accepted) before the end arrived */
    assert_int_equal(srv.outcome, RIPP_OUTCOME_ENDED_REMOTE);
    assert_int_equal(srv.end_cause, 487);
    world_free(&w);
}

/* A POST that is never answered is given up after close_grace (3 s). */
static void end_before_created_unanswered(void **state)
{
    (void)state;
    world w;
    world_init(&w, 10 * RIPP_NS_PER_SEC); /* the 201 would take 20 s */
    ripp_ep_call *c = place(&w);
    ripp_ts t0 = w.net.now;
    assert_int_equal(ripp_ep_call_end(c, NULL, w.net.now), 0);
    while (ripp_ep_call_fsm(c)->state != RIPP_CALL_ENDED && w.net.now < t0 + 5 * RIPP_NS_PER_SEC)
        fk_run(&w.net, w.client, w.server, w.net.now + 20 * RIPP_NS_PER_MS);
    assert_int_equal(ripp_ep_call_fsm(c)->outcome, RIPP_OUTCOME_CANCELLED);
    assert_true(w.net.now - t0 >= 3 * RIPP_NS_PER_SEC && w.net.now - t0 <= 3100 * RIPP_NS_PER_MS);
    /* the reset POST closes after a one-way trip at the latest close_grace later */
    fk_run(&w.net, w.client, w.server, w.net.now + 3100 * RIPP_NS_PER_MS);
    assert_true(cli.done);
    assert_int_equal(cli.outcome, RIPP_OUTCOME_CANCELLED);
    world_free(&w);
}

/* The signaling GET is reset: the client reopens it, the call goes on (the server's hold
 * timer does not fire), and it ends normally. */
static void signaling_reopened(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    fk_run(&w.net, w.client, w.server, w.net.now + RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    int resets = 0;
    for (size_t i = 0; i < w.net.nall; i++) {
        fk_stream *s = w.net.all[i];
        if (strcmp(s->method, "GET") == 0 && strstr(s->path, "/event") && !s->reset) {
            fk_reset(&s->c.x, RIPP_XCHG_CANCEL);
            resets++;
        }
    }
    assert_int_equal(resets, 1);
    fk_run(&w.net, w.client, w.server, w.net.now + 4 * RIPP_NS_PER_SEC);
    assert_int_equal(ripp_ep_call_fsm(c)->state, RIPP_CALL_ACTIVE);
    assert_int_equal(ripp_ep_call_fsm(srv.call)->state, RIPP_CALL_ACTIVE);
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + 2 * RIPP_NS_PER_SEC);
    assert_int_equal(cli.outcome, RIPP_OUTCOME_ENDED_LOCAL);
    assert_int_equal(srv.outcome, RIPP_OUTCOME_ENDED_REMOTE);
    world_free(&w);
}

/* What a bridge carries to the next hop: target, caller, Identity; and the next hop's
 * call URI lands in the call record. */
static void accessors(void **state)
{
    (void)state;
    world w;
    world_init(&w, 5 * RIPP_NS_PER_MS);
    ripp_ep_call *c = place(&w);
    assert_string_equal(ripp_ep_call_identity(c), w.identity);
    assert_string_equal(ripp_ep_call_target(c), "14085551212@e164.arpa");
    fk_run(&w.net, w.client, w.server, w.net.now + 200 * RIPP_NS_PER_MS);
    assert_non_null(srv.call);
    assert_string_equal(ripp_ep_call_identity(srv.call), w.identity);
    assert_string_equal(ripp_ep_call_target(srv.call), "14085551212@e164.arpa");
    assert_string_equal(ripp_ep_call_orig_tn(srv.call), "14085550100");
    assert_ptr_equal(ripp_ep_store(ripp_ep_call_ep(srv.call)), w.store);
    ripp_ep_call_set_next_hop(srv.call, "https://next.example/call/abc", w.net.now);
    ripp_call_rec rec;
    assert_int_equal(w.store->ops->call_get(w.store->impl, ripp_ep_call_id(srv.call), &rec), 0);
    assert_string_equal(rec.next_hop, "https://next.example/call/abc");
    ripp_ep_call_end(c, NULL, w.net.now);
    fk_run(&w.net, w.client, w.server, w.net.now + 2 * RIPP_NS_PER_SEC);
    /* a frame on an ended call is refused */
    uint8_t f[160] = {0};
    assert_int_equal(ripp_ep_call_send_frame(c, RIPP_CODEC_PCMU, f, sizeof f, 0, w.net.now),
                     RIPP_ERR_STATE);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relay_keeps_gaps),
        cmocka_unit_test(end_before_created),
        cmocka_unit_test(end_before_created_unanswered),
        cmocka_unit_test(signaling_reopened),
        cmocka_unit_test(accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
