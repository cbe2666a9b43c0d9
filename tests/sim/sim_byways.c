/* Byway striping in virtual time: a sender (ripp_sched, opening its own byways, 20 ms
 * frames) and a receiver (frame parser + jitter buffer + acks) joined by one simulated
 * in-order pipe per byway and direction, with one-way delay, jitter and per-record loss.
 * A lost record stalls its byway for good (an ordered stream that stopped moving), so the
 * sender's stall rule (D38) has to abort and replace it. Each scenario runs 30 s of media. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ripp/frame.h"
#include "ripp/jbuf.h"
#include "ripp/sched.h"

#define MS RIPP_NS_PER_MS
#define FRAME_MS 20
#define MEDIA_SECS 30
#define FRAMES (MEDIA_SECS * 1000 / FRAME_MS)
#define DRAIN_MS 3000
#define PAYLOAD 160
#define WALL_TX 1700000000000000ULL   /* sender's wall clock at t = 0, µs */
#define WALL_RX (WALL_TX + 123456789) /* the receiver's clock is off by ~2 minutes */
#define TS0_MS (WALL_TX / 1000)
#define PIPE_CAP 8

struct item {
    ripp_ts at;
    bool has_hdr;
    ripp_media_hdr hdr;
    size_t len;
    uint8_t data[RIPP_FRAME_MAX_RECORD];
};

/* One direction of one byway: an ordered stream. */
struct pipe {
    struct item q[PIPE_CAP];
    unsigned head, len;
    ripp_ts last_at;
    bool stalled; /* a record was lost: nothing after it is ever delivered */
};

struct sim;
struct lane {
    struct sim *sim;
    int idx;
    struct pipe fwd, rev;
    /* receiver end */
    bool have_hdr;
    ripp_media_hdr hdr;
    ripp_frame_parser fp;
    /* sender end */
    ripp_ack_parser ap;
};

struct scenario {
    unsigned delay_ms, jitter_ms;
    double loss; /* per record, both directions */
    uint64_t seed;
};

struct sim {
    struct scenario sc;
    uint64_t rng;
    ripp_ts now;
    ripp_sched s;
    ripp_jbuf jb;
    ripp_stats rx;
    struct lane lane[RIPP_MAX_BYWAYS];
    /* outcomes */
    uint64_t lost_fwd, lost_rev, aborts, opened;
    uint64_t played, concealed, bad_payload;
    unsigned max_open, max_blocked;
    bool seen[FRAMES]; /* frames that reached the receiver */
};

static uint64_t rnd(struct sim *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static double rnd01(struct sim *m)
{
    return (double)(rnd(m) >> 11) / (double)(1ULL << 53);
}

static uint8_t pattern(uint32_t seq, size_t i)
{
    return (uint8_t)(seq * 13 + i);
}

/* Queues a record on a pipe. Returns false when the record is lost. */
static bool pipe_push(struct sim *m, struct pipe *p, const ripp_media_hdr *hdr, const uint8_t *data,
                      size_t len, uint64_t *lost_counter)
{
    if (p->stalled) return false;
    if (m->sc.loss > 0 && rnd01(m) < m->sc.loss) {
        p->stalled = true;
        (*lost_counter)++;
        return false;
    }
    assert_true(p->len < PIPE_CAP);
    struct item *it = &p->q[(p->head + p->len) % PIPE_CAP];
    ripp_ts at = m->now + (ripp_ts)m->sc.delay_ms * MS;
    if (m->sc.jitter_ms) at += (rnd(m) % (m->sc.jitter_ms + 1)) * MS;
    if (at < p->last_at) /* in order within the stream */
        at = p->last_at;
    p->last_at = at;
    it->at = at;
    it->has_hdr = hdr != NULL;
    if (hdr) it->hdr = *hdr;
    memcpy(it->data, data, len);
    it->len = len;
    p->len++;
    return true;
}

static void lane_reset(struct sim *m, int idx)
{
    struct lane *l = &m->lane[idx];
    memset(l, 0, sizeof *l);
    l->sim = m;
    l->idx = idx;
    ripp_frame_parser_init(&l->fp);
    ripp_ack_parser_init(&l->ap);
}

/* Sender side of the transport. */
static int t_write(void *ud, int idx, void *user, const ripp_media_hdr *hdr, const uint8_t *rec,
                   size_t len)
{
    struct sim *m = ud;
    (void)user;
    if (hdr) {
        /* a new request: fresh streams both ways */
        lane_reset(m, idx);
        m->opened++;
        m->s.bw[idx].user = &m->lane[idx];
    }
    pipe_push(m, &m->lane[idx].fwd, hdr, rec, len, &m->lost_fwd);
    return 0;
}

static void t_abort(void *ud, int idx, void *user)
{
    struct sim *m = ud;
    assert_ptr_equal(user, &m->lane[idx]);
    m->aborts++;
    lane_reset(m, idx); /* the stream is reset: whatever was in flight is gone */
}

static const ripp_sched_ops sim_ops = {t_write, NULL, t_abort};

/* Receiver: one complete frame on lane l. */
static int on_frame(void *ud, uint64_t off, const uint8_t *payload, size_t len)
{
    struct lane *l = ud;
    struct sim *m = l->sim;
    assert_true(l->have_hdr);
    uint64_t seq = l->hdr.seq_base + off;
    assert_true(seq < FRAMES);
    for (size_t i = 0; i < len; i++)
        if (payload[i] != pattern((uint32_t)seq, i)) m->bad_payload++;
    m->seen[seq] = true;
    int rc = ripp_jbuf_put(&m->jb, (uint32_t)seq, l->hdr.codec, payload, len, m->now);
    assert_true(rc == 0 || rc == RIPP_ERR_LATE || rc == RIPP_ERR_DUP);
    /* every frame is acked on its own byway, late or not */
    ripp_ack a = {
        .seq = seq, .channel = l->hdr.channel, .rx_time_us = WALL_RX + m->now / RIPP_NS_PER_US};
    uint8_t buf[RIPP_ACK_MAX_RECORD];
    int64_t n = ripp_ack_encode(buf, sizeof buf, &a);
    assert_true(n > 0);
    pipe_push(m, &l->rev, NULL, buf, (size_t)n, &m->lost_rev);
    return 0;
}

static int on_ack(void *ud, const ripp_ack *a)
{
    struct lane *l = ud;
    assert_int_equal(ripp_sched_on_ack(&l->sim->s, l->idx, a, l->sim->now), 0);
    return 0;
}

static void deliver(struct sim *m)
{
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++) {
        struct lane *l = &m->lane[i];
        while (l->fwd.len && l->fwd.q[l->fwd.head].at <= m->now) {
            struct item *it = &l->fwd.q[l->fwd.head];
            if (it->has_hdr) {
                /* the request headers precede the body */
                assert_int_equal(it->hdr.frame_ms, FRAME_MS);
                l->have_hdr = true;
                l->hdr = it->hdr;
            }
            /* split each record in two to exercise the incremental parser */
            size_t half = it->len / 2;
            assert_int_equal(ripp_frame_parser_feed(&l->fp, it->data, half, on_frame, l), 0);
            assert_int_equal(
                ripp_frame_parser_feed(&l->fp, it->data + half, it->len - half, on_frame, l), 0);
            l->fwd.head = (l->fwd.head + 1) % PIPE_CAP;
            l->fwd.len--;
        }
    }
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++) {
        struct lane *l = &m->lane[i];
        while (l->rev.len && l->rev.q[l->rev.head].at <= m->now) {
            struct item it = l->rev.q[l->rev.head];
            l->rev.head = (l->rev.head + 1) % PIPE_CAP;
            l->rev.len--;
            assert_int_equal(ripp_ack_parser_feed(&l->ap, it.data, it.len, on_ack, l), 0);
        }
    }
}

static void run(struct sim *m, const struct scenario *sc)
{
    memset(m, 0, sizeof *m);
    m->sc = *sc;
    m->rng = sc->seed ? sc->seed : 0x2545f4914f6cdd1dULL;
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++)
        lane_reset(m, i);
    ripp_sched_config c = {
        .dir = RIPP_DIR_C2S, .can_open = true, .frame_ms = FRAME_MS, .ts0_ms = TS0_MS};
    assert_int_equal(ripp_sched_init(&m->s, &c, &sim_ops, m), 0);
    ripp_stats_init(&m->rx);
    assert_int_equal(ripp_jbuf_init(&m->jb, NULL, &m->rx), 0);

    uint8_t payload[PAYLOAD];
    uint32_t next = 0;
    for (ripp_ts t = 0; t <= (ripp_ts)(MEDIA_SECS * 1000 + DRAIN_MS) * MS; t += MS) {
        m->now = t;
        if (next < FRAMES && t == (ripp_ts)next * FRAME_MS * MS) {
            for (size_t i = 0; i < PAYLOAD; i++)
                payload[i] = pattern(next, i);
            uint32_t seq;
            assert_int_equal(ripp_sched_submit(&m->s, RIPP_CODEC_PCMU, payload, PAYLOAD, t,
                                               WALL_TX + t / RIPP_NS_PER_US, &seq),
                             0);
            assert_int_equal(seq, next);
            next++;
        }
        deliver(m);
        if (ripp_sched_expiry(&m->s) <= t) ripp_sched_handle_expiry(&m->s, t);
        ripp_jbuf_out o;
        while (ripp_jbuf_pop(&m->jb, t, &o) == 1) {
            if (o.seq >= FRAMES) continue; /* after the end of the media */
            if (o.present) {
                m->played++;
                assert_int_equal(o.len, PAYLOAD);
                for (size_t i = 0; i < o.len; i++)
                    if (o.payload[i] != pattern(o.seq, i)) m->bad_payload++;
            } else {
                m->concealed++;
            }
        }
        unsigned open = ripp_sched_open_count(&m->s), blocked = ripp_sched_blocked_count(&m->s);
        if (open > m->max_open) m->max_open = open;
        if (blocked > m->max_blocked) m->max_blocked = blocked;
    }
    ripp_sched_finish(&m->s);
    ripp_sched_free(&m->s);
    ripp_jbuf_free(&m->jb);
}

static void report(const char *name, const struct sim *m)
{
    char js[512];
    ripp_stats_format_json(&m->s.stats, js, sizeof js);
    fprintf(stderr, "[%s] tx %s\n", name, js);
    fprintf(stderr,
            "[%s] open max %u blocked max %u opened %llu aborts %llu lost records %llu+%llu "
            "played %llu concealed %llu rx_late %llu jbuf delay %llu ms\n",
            name, m->max_open, m->max_blocked, (unsigned long long)m->opened,
            (unsigned long long)m->aborts, (unsigned long long)m->lost_fwd,
            (unsigned long long)m->lost_rev, (unsigned long long)m->played,
            (unsigned long long)m->concealed, (unsigned long long)m->rx.rx_late,
            (unsigned long long)(m->jb.delay / MS));
}

static struct sim g; /* large: keep it off the stack */

/* (a) clean link, 20 ms each way: everything acked, nothing lost, RTT 40 ms. */
static void test_clean(void **st)
{
    (void)st;
    struct scenario sc = {.delay_ms = 20};
    run(&g, &sc);
    report("clean", &g);
    assert_int_equal(g.s.stats.sent, FRAMES);
    assert_int_equal(g.s.stats.acked, FRAMES);
    assert_int_equal(g.s.stats.lost, 0);
    assert_int_equal(g.s.stats.stray_acks, 0);
    assert_int_equal(g.s.stats.late, 0);
    uint64_t p50 = ripp_stats_rtt_quantile_us(&g.s.stats, 0.5);
    assert_in_range(p50, 39000, 41000);
    assert_in_range(ripp_stats_rtt_quantile_us(&g.s.stats, 0.99), 39000, 41000);
    assert_true(g.s.stats.jitter_us < 1.0);
    /* the clock offset between the hosts shows in the one-way delay only */
    assert_int_equal(g.s.stats.min_owd_us, 20000 + 123456789);
    /* RTT / frame + 1 byways, plus one for the frame sent in the ms its ack arrives */
    assert_in_range(g.max_open, 2, 4);
    assert_int_equal(g.aborts, 0);
    assert_int_equal(g.played, FRAMES);
    assert_int_equal(g.concealed, 0);
    assert_int_equal(g.rx.rx_frames, FRAMES);
    assert_int_equal(g.bad_payload, 0);
}

/* (b) 100 ms each way: about RTT / frame + 1 = 11 byways, still nothing lost. */
static void test_long_delay(void **st)
{
    (void)st;
    struct scenario sc = {.delay_ms = 100};
    run(&g, &sc);
    report("delay100", &g);
    assert_int_equal(g.s.stats.acked, FRAMES);
    assert_int_equal(g.s.stats.lost, 0);
    assert_in_range(ripp_stats_rtt_quantile_us(&g.s.stats, 0.5), 199000, 201000);
    assert_in_range(g.max_open, 10, 12);
    assert_true(g.max_blocked < 15);
    assert_int_equal(g.played, FRAMES);
    assert_int_equal(g.concealed, 0);
    assert_int_equal(g.bad_payload, 0);
}

/* (c) 2 % of records lost: each loss stalls one byway, which is aborted after 1 s and
 * replaced; exactly the stranded frames are lost and playout conceals the missing ones. */
static void test_loss(void **st)
{
    (void)st;
    struct scenario sc = {.delay_ms = 20, .loss = 0.02, .seed = 7};
    run(&g, &sc);
    report("loss2", &g);
    uint64_t losses = g.lost_fwd + g.lost_rev;
    /* ~2 % of ~3000 records */
    assert_in_range(losses, 30, 100);
    /* each lost record strands exactly one frame: the only losses */
    assert_int_equal(g.s.stats.lost, losses);
    assert_int_equal(g.s.stats.acked + g.s.stats.lost, FRAMES);
    /* stalls in the last second are counted at the end instead of being aborted */
    assert_in_range(g.aborts, losses - 3, losses);
    assert_true(g.opened >= g.aborts + 2);
    assert_true(g.max_blocked < 15);
    /* a frame whose ack was lost was still played */
    assert_int_equal(g.played, FRAMES - g.lost_fwd);
    /* every missing frame is concealed, except a lost first frame: playout starts after */
    assert_int_equal(g.concealed, g.lost_fwd - (g.seen[0] ? 0 : 1));
    assert_int_equal(g.bad_payload, 0);
}

/* (d) 200 ms each way: a 400 ms RTT needs ~21 byways; at 15 blocked (75 % of 20) frames
 * queue, the queue overflows and the dropped frames are counted. */
static void test_congestion(void **st)
{
    (void)st;
    struct scenario sc = {.delay_ms = 200};
    run(&g, &sc);
    report("rtt400", &g);
    assert_true(g.max_blocked <= 15);
    assert_true(g.max_open <= 20);
    assert_in_range(ripp_stats_rtt_quantile_us(&g.s.stats, 0.5), 399000, 401000);
    /* 15 byways at one frame per 400 ms carry 37.5 of the 50 frames per second */
    assert_true(g.s.stats.lost > FRAMES / 5);
    assert_true(g.s.stats.lost < FRAMES / 3);
    assert_int_equal(g.s.stats.acked + g.s.stats.lost, FRAMES);
    assert_int_equal(g.s.stats.sent, g.s.stats.acked);
    assert_int_equal(g.aborts, 0);
    /* what arrived was played or was too late for playout; the rest was concealed */
    assert_true(g.played > FRAMES / 2);
    assert_true(g.played + g.concealed >= FRAMES);
    assert_int_equal(g.bad_payload, 0);
}

/* (e) 20 ms + up to 30 ms of jitter: nothing lost; the jitter shows in the stats and the
 * jitter buffer grows its delay to keep late frames rare. */
static void test_jitter(void **st)
{
    (void)st;
    struct scenario sc = {.delay_ms = 20, .jitter_ms = 30, .seed = 99};
    run(&g, &sc);
    report("jitter30", &g);
    assert_int_equal(g.s.stats.acked, FRAMES);
    assert_int_equal(g.s.stats.lost, 0);
    assert_true(g.s.stats.jitter_us > 3000.0);
    assert_true(g.jb.delay > 20 * MS);
    assert_true(g.jb.delay <= 200 * MS);
    assert_true(g.rx.rx_late < FRAMES / 50);
    assert_true(g.played > FRAMES - FRAMES / 50);
    assert_int_equal(g.bad_payload, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),  cmocka_unit_test(test_long_delay),
        cmocka_unit_test(test_loss),   cmocka_unit_test(test_congestion),
        cmocka_unit_test(test_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
