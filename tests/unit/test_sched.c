/* The byway scheduler with a fake ops table that records every write, request and abort:
 * exact records and headers, one frame per byway, opening up to max_byways, the 75 % rule
 * for both sides, the queue, open-reverse rate limiting, stalls, stray acks, seq space. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ripp/sched.h"

#define MS RIPP_NS_PER_MS
#define SEC RIPP_NS_PER_SEC
#define T0 (1000 * SEC)
#define WALL0 1562600000000000ULL /* µs */
#define TS0 1562600000000ULL      /* ms */

#define MAX_REC 64
struct wr {
    int idx;
    void *user;
    bool has_hdr;
    ripp_media_hdr hdr;
    uint8_t rec[RIPP_FRAME_MAX_RECORD];
    size_t len;
};

struct fake {
    ripp_sched *s;
    struct wr w[MAX_REC];
    int nw;
    uint32_t more[MAX_REC];
    ripp_ts more_at[MAX_REC];
    int nmore;
    int abort_idx[MAX_REC];
    void *abort_user[MAX_REC];
    int naborts;
    int fail_next;              /* write_frame returns this once when non-zero */
    ripp_ts now;                /* for recording request times */
    int users;                  /* handles handed out to new client byways */
    bool busy[RIPP_MAX_BYWAYS]; /* a frame written and not yet acked or aborted */
    int handles[RIPP_MAX_BYWAYS * 4];
};

static int f_write(void *ud, int idx, void *user, const ripp_media_hdr *hdr, const uint8_t *rec,
                   size_t len)
{
    struct fake *f = ud;
    if (f->fail_next) {
        int rc = f->fail_next;
        f->fail_next = 0;
        return rc;
    }
    assert_true(f->nw < MAX_REC);
    struct wr *w = &f->w[f->nw++];
    /* one unacknowledged frame per byway */
    assert_false(f->busy[idx]);
    f->busy[idx] = true;
    w->idx = idx;
    w->has_hdr = hdr != NULL;
    if (hdr) w->hdr = *hdr;
    assert_true(len <= sizeof w->rec);
    memcpy(w->rec, rec, len);
    w->len = len;
    if (hdr && f->s->cfg.can_open) {
        /* a client opens the exchange now and records its handle */
        assert_null(user);
        user = &f->handles[f->users++];
        f->s->bw[idx].user = user;
    }
    w->user = user;
    return 0;
}

static void f_more(void *ud, uint32_t count)
{
    struct fake *f = ud;
    f->more_at[f->nmore] = f->now;
    f->more[f->nmore++] = count;
}

static void f_abort(void *ud, int idx, void *user)
{
    struct fake *f = ud;
    assert_int_equal(f->s->bw[idx].state, RIPP_BYWAY_FREE);
    f->busy[idx] = false;
    f->abort_idx[f->naborts] = idx;
    f->abort_user[f->naborts++] = user;
}

static const ripp_sched_ops ops = {f_write, f_more, f_abort};

static uint8_t pl[RIPP_FRAME_MAX_PAYLOAD];

static const uint8_t *payload_for(uint32_t seq)
{
    for (size_t i = 0; i < sizeof pl; i++)
        pl[i] = (uint8_t)(seq + i * 3);
    return pl;
}

/* The expected record, encoded here independently. */
static size_t expect_rec(uint8_t *out, uint64_t off, uint32_t seq, size_t len)
{
    size_t n = 0;
    uint64_t v[2] = {off, len};
    for (int k = 0; k < 2; k++) {
        if (v[k] < 64) {
            out[n++] = (uint8_t)v[k];
        } else if (v[k] < 16384) {
            out[n++] = (uint8_t)(0x40 | (v[k] >> 8));
            out[n++] = (uint8_t)v[k];
        } else {
            out[n++] = (uint8_t)(0x80 | (v[k] >> 24));
            out[n++] = (uint8_t)(v[k] >> 16);
            out[n++] = (uint8_t)(v[k] >> 8);
            out[n++] = (uint8_t)v[k];
        }
    }
    for (size_t i = 0; i < len; i++)
        out[n++] = (uint8_t)(seq + i * 3);
    return n;
}

static void check_rec(const struct wr *w, uint64_t off, uint32_t seq, size_t len)
{
    uint8_t exp[RIPP_FRAME_MAX_RECORD];
    size_t n = expect_rec(exp, off, seq, len);
    assert_int_equal(w->len, n);
    assert_memory_equal(w->rec, exp, n);
}

static void check_hdr(const struct wr *w, enum ripp_codec codec, uint32_t seq_base,
                      uint32_t frame_ms, uint32_t channel)
{
    assert_true(w->has_hdr);
    assert_int_equal(w->hdr.codec, codec);
    assert_string_equal(w->hdr.codec_name, ripp_codec_name(codec));
    assert_int_equal(w->hdr.seq_base, seq_base);
    assert_int_equal(w->hdr.ts_base, TS0 + (uint64_t)seq_base * frame_ms);
    assert_int_equal(w->hdr.frame_ms, frame_ms);
    assert_int_equal(w->hdr.channel, channel);
}

static void mk(ripp_sched *s, struct fake *f, bool can_open, uint32_t max_byways)
{
    memset(f, 0, sizeof *f);
    f->s = s;
    ripp_sched_config c = {.dir = can_open ? RIPP_DIR_C2S : RIPP_DIR_S2C,
                           .can_open = can_open,
                           .max_byways = max_byways,
                           .ts0_ms = TS0};
    assert_int_equal(ripp_sched_init(s, &c, &ops, f), 0);
}

/* Frame n of the test stream is submitted at T0 + n * 20 ms. */
static int sub(ripp_sched *s, struct fake *f, enum ripp_codec codec, uint32_t n, size_t len)
{
    ripp_ts now = T0 + (ripp_ts)n * 20 * MS;
    f->now = now;
    uint32_t seq = 0xdeadbeef;
    int rc = ripp_sched_submit(s, codec, payload_for((uint32_t)s->next_seq), len, now,
                               WALL0 + (uint64_t)n * 20000, &seq);
    if (rc == 0) assert_int_equal(seq, (uint32_t)s->next_seq - 1);
    return rc;
}

static int ack(ripp_sched *s, struct fake *f, int idx, uint64_t seq, ripp_ts now)
{
    f->now = now;
    ripp_ack a = {.seq = seq, .channel = 1, .rx_time_us = WALL0 + 7777};
    /* the ack may write a queued frame on this very byway */
    bool was = idx >= 0 && idx < RIPP_MAX_BYWAYS && f->busy[idx];
    if (was) f->busy[idx] = false;
    int rc = ripp_sched_on_ack(s, idx, &a, now);
    if (rc != 0 && was) f->busy[idx] = true;
    return rc;
}

static void test_init(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f = {0};
    ripp_sched_config c = {0};
    assert_int_equal(ripp_sched_init(&s, &c, &ops, &f), 0);
    assert_int_equal(s.cfg.channel, 1);
    assert_int_equal(s.cfg.max_byways, 20);
    assert_int_equal(s.cfg.frame_ms, 20);
    assert_int_equal(s.cfg.max_queue, 10);
    assert_int_equal(s.cfg.stall_timeout, 1 * SEC);
    assert_int_equal(s.cfg.open_reverse_interval, 100 * MS);
    assert_null(s.queue);
    assert_int_equal(ripp_sched_open_count(&s), 0);
    assert_int_equal(ripp_sched_expiry(&s), RIPP_TS_NEVER);
    assert_int_equal(ripp_sched_oldest_inflight(&s), RIPP_TS_NEVER);
    ripp_sched_free(&s);
    c.frame_ms = 10;
    assert_int_equal(ripp_sched_init(&s, &c, &ops, &f), 0);
    assert_int_equal(s.cfg.max_queue, 20);

    c = (ripp_sched_config){.frame_ms = 25};
    assert_int_equal(ripp_sched_init(&s, &c, &ops, &f), RIPP_ERR_INVAL);
    c = (ripp_sched_config){.max_byways = 21};
    assert_int_equal(ripp_sched_init(&s, &c, &ops, &f), RIPP_ERR_INVAL);
    c = (ripp_sched_config){.channel = 256};
    assert_int_equal(ripp_sched_init(&s, &c, &ops, &f), RIPP_ERR_INVAL);
    c = (ripp_sched_config){0};
    assert_int_equal(ripp_sched_init(&s, &c, NULL, &f), RIPP_ERR_INVAL);
    ripp_sched_ops none = {0};
    assert_int_equal(ripp_sched_init(&s, &c, &none, &f), RIPP_ERR_INVAL);
}

static void test_first_frames_exact(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 0, 160), 0);
    assert_int_equal(f.nw, 1);
    assert_int_equal(f.w[0].idx, 0);
    check_hdr(&f.w[0], RIPP_CODEC_PCMU, 0, 20, 1);
    assert_false(f.w[0].hdr.multi_channel);
    /* offset 0, length 160 = 0x40 0xa0, then the payload */
    assert_int_equal(f.w[0].rec[0], 0x00);
    assert_int_equal(f.w[0].rec[1], 0x40);
    assert_int_equal(f.w[0].rec[2], 0xa0);
    check_rec(&f.w[0], 0, 0, 160);
    assert_int_equal(s.bw[0].state, RIPP_BYWAY_BLOCKED);
    assert_int_equal(s.bw[0].inflight_seq, 0);
    assert_ptr_equal(s.bw[0].user, &f.handles[0]);
    assert_int_equal(s.opened_total, 1);
    assert_int_equal(s.stats.sent, 1);

    /* byway 0 is blocked: frame 1 opens byway 1 */
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 1, 160), 0);
    assert_int_equal(f.nw, 2);
    assert_int_equal(f.w[1].idx, 1);
    check_hdr(&f.w[1], RIPP_CODEC_PCMU, 1, 20, 1);
    check_rec(&f.w[1], 0, 1, 160);
    assert_int_equal(ripp_sched_open_count(&s), 2);
    assert_int_equal(ripp_sched_blocked_count(&s), 2);

    /* ack of frame 0 (RTT 40 ms): byway 0 carries frame 2 at offset 2, without a header */
    assert_int_equal(ack(&s, &f, 0, 0, T0 + 40 * MS), 0);
    assert_int_equal(s.stats.acked, 1);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s.stats, 0.5), 40000);
    assert_int_equal(s.stats.min_owd_us, 7777);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 2, 160), 0);
    assert_int_equal(f.nw, 3);
    assert_int_equal(f.w[2].idx, 0);
    assert_false(f.w[2].has_hdr);
    assert_ptr_equal(f.w[2].user, &f.handles[0]);
    check_rec(&f.w[2], 2, 2, 160);
    /* a frame of another codec never rides a PCMU byway */
    assert_int_equal(ack(&s, &f, 1, 1, T0 + 60 * MS), 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_CN, 3, 1), 0);
    assert_int_equal(f.w[3].idx, 2);
    check_hdr(&f.w[3], RIPP_CODEC_CN, 3, 20, 1);
    check_rec(&f.w[3], 0, 3, 1);
    assert_int_equal(s.bw[1].state, RIPP_BYWAY_IDLE);
    /* large offsets use longer varints */
    s.next_seq = 70000;
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 4, 1500), 0);
    assert_int_equal(f.w[4].idx, 1);
    check_rec(&f.w[4], 70000 - 1, 70000, 1500);
    assert_int_equal(s.stats.sent, 5);
    ripp_sched_free(&s);
}

/* Every byway carries at most one unacknowledged frame, whatever the traffic. */
static void test_one_frame_per_byway(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    uint32_t n = 0;
    for (int round = 0; round < 10; round++) {
        for (int k = 0; k < 5; k++, n++) {
            int before = f.nw;
            assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 80), 0);
            assert_int_equal(f.nw, before + 1);
            int idx = f.w[before].idx;
            /* no other write since this byway's last ack */
            assert_int_equal(s.bw[idx].inflight_seq, n);
        }
        /* ack all but the newest */
        for (int i = 0; i < RIPP_MAX_BYWAYS; i++)
            if (s.bw[i].state == RIPP_BYWAY_BLOCKED && s.bw[i].inflight_seq != n - 1)
                assert_int_equal(ack(&s, &f, i, s.bw[i].inflight_seq, T0 + n * 20 * MS), 0);
    }
    /* f_write checked that every write went to a byway with no frame in flight */
    assert_int_equal(s.stats.sent, 50);
    assert_true(ripp_sched_open_count(&s) <= 6);
    ripp_sched_free(&s);
}

/* Least recently used idle byway of the codec first; ties to the lowest index. */
static void test_lru(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    for (uint32_t n = 0; n < 3; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 10), 0);
    /* byways 0,1,2 used at T0, T0+20, T0+40; acked in reverse order */
    assert_int_equal(ack(&s, &f, 2, 2, T0 + 60 * MS), 0);
    assert_int_equal(ack(&s, &f, 1, 1, T0 + 61 * MS), 0);
    assert_int_equal(ack(&s, &f, 0, 0, T0 + 62 * MS), 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 4, 10), 0);
    assert_int_equal(f.w[3].idx, 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 5, 10), 0);
    assert_int_equal(f.w[4].idx, 1);
    assert_int_equal(ack(&s, &f, 0, 3, T0 + 110 * MS), 0);
    /* byway 2 (used at T0+40) is older than byway 0 (used at T0+80) */
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 6, 10), 0);
    assert_int_equal(f.w[5].idx, 2);
    ripp_sched_free(&s);

    /* uncommitted reverse byways: lowest index; committed ones are preferred */
    mk(&s, &f, false, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ripp_sched_add_byway(&s, &f.handles[i]), i);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 0, 10), 0);
    assert_int_equal(f.w[0].idx, 0);
    check_hdr(&f.w[0], RIPP_CODEC_PCMU, 0, 20, 1);
    assert_ptr_equal(f.w[0].user, &f.handles[0]);
    assert_int_equal(ack(&s, &f, 0, 0, T0 + 10 * MS), 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 1, 10), 0);
    assert_int_equal(f.w[1].idx, 0);
    assert_false(f.w[1].has_hdr);
    check_rec(&f.w[1], 1, 1, 10);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 2, 10), 0);
    assert_int_equal(f.w[2].idx, 1);
    check_hdr(&f.w[2], RIPP_CODEC_PCMU, 2, 20, 1);
    assert_ptr_equal(f.w[2].user, &f.handles[1]);
    assert_int_equal(s.opened_total, 10);
    ripp_sched_free(&s);
}

/* A client opens byways on demand up to max_byways and never more. */
static void test_open_up_to_max(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    uint32_t n = 0;
    /* 10 comfort-noise byways, all acked: open and idle */
    for (; n < 10; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_CN, n, 1), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ack(&s, &f, i, (uint64_t)i, T0 + 300 * MS), 0);
    /* 10 voice frames without acks: 10 more byways (blocked 10 < 15) */
    for (; n < 20; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 160), 0);
    assert_int_equal(ripp_sched_open_count(&s), 20);
    assert_int_equal(ripp_sched_blocked_count(&s), 10);
    assert_int_equal(s.opened_total, 20);
    for (int i = 10; i < 20; i++) {
        assert_int_equal(f.w[i].idx, i);
        check_hdr(&f.w[i], RIPP_CODEC_PCMU, (uint32_t)i, 20, 1);
    }
    /* the 21st byway is never opened: the frame waits */
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n++, 160), 0);
    assert_int_equal(f.nw, 20);
    assert_int_equal(ripp_sched_queued(&s), 1);
    assert_int_equal(ripp_sched_open_count(&s), 20);
    assert_int_equal(f.nmore, 0); /* a client never asks */
    /* an ack frees a voice byway: the queued frame goes out on it */
    assert_int_equal(ack(&s, &f, 13, 13, T0 + 500 * MS), 0);
    assert_int_equal(f.nw, 21);
    assert_int_equal(f.w[20].idx, 13);
    check_rec(&f.w[20], 20 - 13, 20, 160);
    assert_int_equal(ripp_sched_queued(&s), 0);
    /* a closed byway frees a slot for a new one */
    ripp_sched_remove_byway(&s, 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n++, 160), 0);
    assert_int_equal(f.w[21].idx, 0);
    check_hdr(&f.w[21], RIPP_CODEC_PCMU, 21, 20, 1);
    ripp_sched_free(&s);
}

/* can_open: the ceiling is max_byways; 15 of 20 blocked stops writing. */
static void test_75_client(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    uint32_t n = 0;
    for (; n < 15; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 20), 0);
    assert_int_equal(ripp_sched_blocked_count(&s), 15);
    assert_int_equal(f.nw, 15);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n++, 20), 0);
    assert_int_equal(f.nw, 15);
    assert_int_equal(ripp_sched_queued(&s), 1);
    assert_int_equal(ripp_sched_open_count(&s), 15);
    assert_int_equal(s.stats.lost, 0);
    /* one ack: 14 blocked, the queued frame is written, back to 15 */
    assert_int_equal(ack(&s, &f, 4, 4, T0 + 320 * MS), 0);
    assert_int_equal(f.nw, 16);
    assert_int_equal(f.w[15].idx, 4);
    check_rec(&f.w[15], 15 - 4, 15, 20);
    assert_int_equal(ripp_sched_blocked_count(&s), 15);
    ripp_sched_free(&s);

    /* a smaller ceiling: max 4 -> 3 blocked is 75 % */
    mk(&s, &f, true, 4);
    for (n = 0; n < 3; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 20), 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n++, 20), 0);
    assert_int_equal(f.nw, 3);
    assert_int_equal(ripp_sched_open_count(&s), 3);
    assert_int_equal(ripp_sched_queued(&s), 1);
    ripp_sched_free(&s);
}

/* !can_open: the ceiling is the number open; frames wait and open-reverse is requested. */
static void test_75_server(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, false, 0);
    /* no reverse byway yet: the frame waits; nothing is requested, since the peer opens
     * its byways (ten at once) as the call starts */
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 0, 20), 0);
    assert_int_equal(f.nw, 0);
    assert_int_equal(ripp_sched_queued(&s), 1);
    assert_int_equal(f.nmore, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ripp_sched_add_byway(&s, &f.handles[i]), i);
    f.now = T0 + 5 * MS;
    ripp_sched_pump(&s, T0 + 5 * MS);
    assert_int_equal(f.nw, 1);
    assert_int_equal(f.w[0].idx, 0);
    check_hdr(&f.w[0], RIPP_CODEC_PCMU, 0, 20, 1);
    assert_int_equal(ripp_sched_queued(&s), 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 5, 20), 0);
    assert_int_equal(f.nmore, 0);
    /* seq 2 makes 3 of 4 blocked: 75 %: ask for one more (3 < 75 % of 5) */
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 6, 20), 0);
    assert_int_equal(f.nw, 3);
    assert_int_equal(f.nmore, 1);
    assert_int_equal(f.more[0], 1);
    assert_int_equal(f.more_at[0], T0 + 120 * MS);
    /* seq 3 waits although byway 3 is idle */
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 7, 20), 0);
    assert_int_equal(f.nw, 3);
    assert_int_equal(s.bw[3].state, RIPP_BYWAY_IDLE);
    assert_int_equal(ripp_sched_queued(&s), 1);
    /* rate limit: nothing more until 100 ms after the last request */
    for (uint32_t n = 8; n <= 10; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 20), 0);
    assert_int_equal(f.nmore, 1);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 11, 20), 0); /* T0+220: 100 ms later */
    assert_int_equal(f.nmore, 2);
    assert_int_equal(f.more_at[1], T0 + 220 * MS);
    assert_int_equal(f.more[1], 1);
    assert_int_equal(ripp_sched_queued(&s), 5);
    /* the requested byway arrives: the queue drains until 75 % again */
    assert_int_equal(ripp_sched_add_byway(&s, &f.handles[4]), 4);
    f.now = T0 + 221 * MS;
    ripp_sched_pump(&s, T0 + 221 * MS);
    /* 5 open: 3 blocked < 3.75 -> seq 3 goes to byway 3 (uncommitted, lowest index);
     * then 4 blocked >= 3.75 stops */
    assert_int_equal(f.nw, 4);
    assert_int_equal(f.w[3].idx, 3);
    check_hdr(&f.w[3], RIPP_CODEC_PCMU, 3, 20, 1);
    check_rec(&f.w[3], 0, 3, 20);
    assert_int_equal(ripp_sched_queued(&s), 4);
    assert_int_equal(f.nmore, 2);
    /* an ack on byway 0: seq 4 goes there (a committed byway before an uncommitted one) */
    assert_int_equal(ack(&s, &f, 0, 0, T0 + 230 * MS), 0);
    assert_int_equal(f.nw, 5);
    assert_int_equal(f.w[4].idx, 0);
    check_rec(&f.w[4], 4, 4, 20);
    assert_int_equal(ripp_sched_queued(&s), 3);
    ripp_sched_free(&s);
}

/* The request asks for enough byways to get under 75 %, capped at max_byways - open. */
static void test_more_count(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, false, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ripp_sched_add_byway(&s, &f.handles[i]), i);
    for (uint32_t n = 0; n < 3; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 20), 0);
    assert_int_equal(f.nmore, 1);
    assert_int_equal(f.more[0], 1);
    /* the idle byway goes away: 3 of 3 blocked; need 5 open for 3 < 75 % */
    ripp_sched_remove_byway(&s, 3);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 10, 20), 0);
    assert_int_equal(f.nmore, 2);
    assert_int_equal(f.more[1], 2);
    ripp_sched_free(&s);

    /* capped by max_byways */
    mk(&s, &f, false, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ripp_sched_add_byway(&s, &f.handles[i]), i);
    assert_int_equal(ripp_sched_add_byway(&s, &f.handles[4]), RIPP_ERR_LIMIT);
    for (uint32_t n = 0; n < 3; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 20), 0);
    /* 4 open = max: no request possible */
    assert_int_equal(f.nmore, 0);
    ripp_sched_remove_byway(&s, 3);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 10, 20), 0);
    assert_int_equal(f.nmore, 1);
    assert_int_equal(f.more[0], 1);
    ripp_sched_free(&s);

    /* no callback: nothing happens */
    ripp_sched_ops no_more = {f_write, NULL, f_abort};
    memset(&f, 0, sizeof f);
    f.s = &s;
    ripp_sched_config c = {.ts0_ms = TS0};
    assert_int_equal(ripp_sched_init(&s, &c, &no_more, &f), 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 0, 20), 0);
    assert_int_equal(ripp_sched_queued(&s), 1);
    ripp_sched_free(&s);
}

/* Queue of max_queue frames; beyond it the oldest is dropped and counted lost. */
static void test_queue_overflow(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 4);
    uint32_t n = 0;
    for (; n < 3; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 20), 0);
    for (; n < 16; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 20), 0);
    assert_int_equal(ripp_sched_queued(&s), 10);
    assert_int_equal(s.stats.lost, 3); /* frames 3, 4, 5 */
    assert_int_equal(s.stats.sent, 3);
    /* acks write the queue in order, oldest surviving first: 6, 7, 8 */
    assert_int_equal(ack(&s, &f, 1, 1, T0 + 400 * MS), 0);
    assert_int_equal(ack(&s, &f, 0, 0, T0 + 401 * MS), 0);
    assert_int_equal(ack(&s, &f, 2, 2, T0 + 402 * MS), 0);
    assert_int_equal(f.nw, 6);
    assert_int_equal(f.w[3].idx, 1);
    check_rec(&f.w[3], 6 - 1, 6, 20);
    assert_int_equal(f.w[4].idx, 0);
    check_rec(&f.w[4], 7, 7, 20);
    assert_int_equal(f.w[5].idx, 2);
    check_rec(&f.w[5], 8 - 2, 8, 20);
    assert_int_equal(ripp_sched_queued(&s), 7);
    /* a queued frame's send time is when it was written; its wall clock is extrapolated */
    assert_int_equal(s.bw[1].sent_at, T0 + 400 * MS);
    assert_int_equal(s.bw[1].sent_wall_us, WALL0 + 400000);
    /* a new frame goes behind the queue, not before it */
    assert_int_equal(ack(&s, &f, 1, 6, T0 + 410 * MS), 0);
    assert_int_equal(f.w[6].idx, 1);
    check_rec(&f.w[6], 9 - 1, 9, 20);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 25, 20), 0);
    assert_int_equal(f.nw, 7);
    assert_int_equal(ripp_sched_queued(&s), 7);
    /* at the end: 3 in flight + 7 queued are lost */
    ripp_sched_finish(&s);
    assert_int_equal(s.stats.lost, 3 + 3 + 7);
    assert_int_equal(ripp_sched_queued(&s), 0);
    assert_int_equal(ripp_sched_blocked_count(&s), 0);
    ripp_sched_finish(&s);
    assert_int_equal(s.stats.lost, 13);
    /* every submitted frame is accounted for */
    assert_int_equal(s.stats.acked, 4);
    assert_int_equal(s.stats.acked + s.stats.lost, s.next_seq);
    ripp_sched_free(&s);
}

/* At a call's end the queue is dropped: the acks of the frames in flight then write
 * nothing more (the byways they free are being ended), and every frame is accounted for. */
static void test_drop_queued(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 3);
    for (uint32_t n = 0; n < 8; n++)
        assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, n, 20), 0);
    assert_int_equal(f.nw, 3);
    assert_int_equal(ripp_sched_queued(&s), 5);
    assert_int_equal(ripp_sched_drop_queued(&s), 5);
    assert_int_equal(ripp_sched_queued(&s), 0);
    assert_int_equal(s.stats.lost, 5);
    assert_int_equal(ack(&s, &f, 0, 0, T0 + 200 * MS), 0);
    assert_int_equal(ack(&s, &f, 1, 1, T0 + 201 * MS), 0);
    assert_int_equal(ack(&s, &f, 2, 2, T0 + 202 * MS), 0);
    assert_int_equal(f.nw, 3); /* nothing written after the drop */
    assert_int_equal(ripp_sched_blocked_count(&s), 0);
    assert_int_equal(ripp_sched_drop_queued(&s), 0);
    assert_int_equal(s.stats.acked + s.stats.lost, s.next_seq);
    ripp_sched_free(&s);
}

/* D38: blocked for stall_timeout (inclusive) -> aborted, frame lost, slot reusable. */
static void test_stall(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 0, 20), 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 1, 20), 0);
    assert_int_equal(ripp_sched_oldest_inflight(&s), T0);
    assert_int_equal(ripp_sched_expiry(&s), T0 + 1 * SEC);
    assert_int_equal(ack(&s, &f, 1, 1, T0 + 60 * MS), 0);
    ripp_sched_handle_expiry(&s, T0 + 1 * SEC - 1);
    assert_int_equal(f.naborts, 0);
    assert_int_equal(s.bw[0].state, RIPP_BYWAY_BLOCKED);
    void *user0 = s.bw[0].user;
    ripp_sched_handle_expiry(&s, T0 + 1 * SEC);
    assert_int_equal(f.naborts, 1);
    assert_int_equal(f.abort_idx[0], 0);
    assert_ptr_equal(f.abort_user[0], user0);
    assert_int_equal(s.bw[0].state, RIPP_BYWAY_FREE);
    assert_int_equal(s.stats.lost, 1);
    assert_int_equal(ripp_sched_expiry(&s), RIPP_TS_NEVER);
    /* the late ack of the aborted frame is stray */
    assert_int_equal(ack(&s, &f, 0, 0, T0 + 1 * SEC + 1), RIPP_ERR_PROTO);
    assert_int_equal(s.stats.stray_acks, 1);
    /* byway 1 is idle: it carries the next frame; then slot 0 is reopened */
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 51, 20), 0);
    assert_int_equal(f.w[2].idx, 1);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 52, 20), 0);
    assert_int_equal(f.w[3].idx, 0);
    check_hdr(&f.w[3], RIPP_CODEC_PCMU, 3, 20, 1);
    ripp_sched_free(&s);

    /* server: an abort asks for a replacement */
    mk(&s, &f, false, 0);
    for (int i = 0; i < 10; i++)
        ripp_sched_add_byway(&s, &f.handles[i]);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 0, 20), 0);
    assert_int_equal(f.nmore, 0);
    f.now = T0 + 1 * SEC;
    ripp_sched_handle_expiry(&s, T0 + 1 * SEC);
    assert_int_equal(f.naborts, 1);
    assert_ptr_equal(f.abort_user[0], &f.handles[0]);
    assert_int_equal(f.nmore, 1);
    assert_int_equal(f.more[0], 1);
    assert_int_equal(ripp_sched_open_count(&s), 9);
    ripp_sched_free(&s);
}

static void test_stray_acks(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 0, 20), 0);
    ripp_ack a = {.seq = 0, .channel = 1, .rx_time_us = WALL0};
    assert_int_equal(ripp_sched_on_ack(&s, -1, &a, T0), RIPP_ERR_PROTO);
    assert_int_equal(ripp_sched_on_ack(&s, RIPP_MAX_BYWAYS, &a, T0), RIPP_ERR_PROTO);
    assert_int_equal(ripp_sched_on_ack(&s, 5, &a, T0), RIPP_ERR_PROTO); /* FREE slot */
    a.seq = 1;
    assert_int_equal(ripp_sched_on_ack(&s, 0, &a, T0), RIPP_ERR_PROTO); /* wrong seq */
    a.seq = 0;
    a.channel = 2;
    assert_int_equal(ripp_sched_on_ack(&s, 0, &a, T0), RIPP_ERR_PROTO); /* wrong channel */
    assert_int_equal(s.stats.stray_acks, 5);
    assert_int_equal(s.bw[0].state, RIPP_BYWAY_BLOCKED);
    assert_int_equal(s.stats.acked, 0);
    a.channel = 1;
    assert_int_equal(ripp_sched_on_ack(&s, 0, &a, T0 + 30 * MS), 0);
    assert_int_equal(ripp_sched_on_ack(&s, 0, &a, T0 + 31 * MS), RIPP_ERR_PROTO); /* twice */
    assert_int_equal(s.stats.stray_acks, 6);
    assert_int_equal(s.stats.acked, 1);
    ripp_sched_free(&s);
}

static void test_seq_exhaustion(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    s.next_seq = UINT32_MAX;
    uint32_t seq = 0;
    assert_int_equal(
        ripp_sched_submit(&s, RIPP_CODEC_PCMU, payload_for(UINT32_MAX), 20, T0, WALL0, &seq), 0);
    assert_int_equal(seq, UINT32_MAX);
    assert_int_equal(f.nw, 1);
    assert_int_equal(f.w[0].hdr.seq_base, UINT32_MAX);
    assert_int_equal(f.w[0].hdr.ts_base, TS0 + (uint64_t)UINT32_MAX * 20);
    check_rec(&f.w[0], 0, UINT32_MAX, 20);
    assert_int_equal(ripp_sched_submit(&s, RIPP_CODEC_PCMU, pl, 20, T0 + 20 * MS, WALL0, &seq),
                     RIPP_ERR_LIMIT);
    assert_int_equal(ripp_sched_submit(&s, RIPP_CODEC_PCMU, pl, 20, T0 + 40 * MS, WALL0, NULL),
                     RIPP_ERR_LIMIT);
    assert_int_equal(f.nw, 1);
    assert_int_equal(s.stats.sent, 1);
    assert_int_equal(s.stats.lost, 0);
    ripp_sched_free(&s);
}

static void test_bad_input_and_write_failure(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    mk(&s, &f, true, 0);
    assert_int_equal(ripp_sched_submit(&s, RIPP_CODEC_PCMU, pl, 0, T0, WALL0, NULL),
                     RIPP_ERR_INVAL);
    assert_int_equal(ripp_sched_submit(&s, RIPP_CODEC_PCMU, pl, 1501, T0, WALL0, NULL),
                     RIPP_ERR_INVAL);
    assert_int_equal(ripp_sched_submit(&s, RIPP_CODEC_PCMU, NULL, 10, T0, WALL0, NULL),
                     RIPP_ERR_INVAL);
    assert_int_equal(s.next_seq, 0);
    /* the transport refuses: the slot is freed and the frame lost */
    f.fail_next = RIPP_ERR_CLOSED;
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 0, 20), 0);
    assert_int_equal(s.next_seq, 1);
    assert_int_equal(ripp_sched_open_count(&s), 0);
    assert_int_equal(s.stats.lost, 1);
    assert_int_equal(s.stats.sent, 0);
    assert_int_equal(s.opened_total, 0);
    assert_int_equal(sub(&s, &f, RIPP_CODEC_PCMU, 1, 20), 0);
    assert_int_equal(f.w[0].idx, 0);
    check_hdr(&f.w[0], RIPP_CODEC_PCMU, 1, 20, 1);
    /* a byway closing with a frame in flight loses it */
    ripp_sched_remove_byway(&s, 0);
    assert_int_equal(s.stats.lost, 2);
    ripp_sched_remove_byway(&s, 0);
    ripp_sched_remove_byway(&s, -3);
    ripp_sched_remove_byway(&s, 99);
    assert_int_equal(s.stats.lost, 2);
    ripp_sched_free(&s);
}

static void test_channel_header(void **st)
{
    (void)st;
    ripp_sched s;
    struct fake f;
    memset(&f, 0, sizeof f);
    f.s = &s;
    ripp_sched_config c = {
        .can_open = true, .channel = 2, .multi_channel = true, .frame_ms = 10, .ts0_ms = TS0};
    assert_int_equal(ripp_sched_init(&s, &c, &ops, &f), 0);
    s.next_seq = 5;
    assert_int_equal(sub(&s, &f, RIPP_CODEC_OPUS, 0, 60), 0);
    check_hdr(&f.w[0], RIPP_CODEC_OPUS, 5, 10, 2);
    assert_true(f.w[0].hdr.multi_channel);
    ripp_ack a = {.seq = 5, .channel = 2, .rx_time_us = WALL0};
    assert_int_equal(ripp_sched_on_ack(&s, 0, &a, T0 + 10 * MS), 0);
    ripp_sched_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_first_frames_exact),
        cmocka_unit_test(test_one_frame_per_byway),
        cmocka_unit_test(test_lru),
        cmocka_unit_test(test_open_up_to_max),
        cmocka_unit_test(test_75_client),
        cmocka_unit_test(test_75_server),
        cmocka_unit_test(test_more_count),
        cmocka_unit_test(test_queue_overflow),
        cmocka_unit_test(test_drop_queued),
        cmocka_unit_test(test_stall),
        cmocka_unit_test(test_stray_acks),
        cmocka_unit_test(test_seq_exhaustion),
        cmocka_unit_test(test_bad_input_and_write_failure),
        cmocka_unit_test(test_channel_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
