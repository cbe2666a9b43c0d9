/* The jitter buffer: ordering, duplicates, late frames, concealment, capacity, delay
 * adaptation, and no allocation after init. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ripp/jbuf.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ALLOC_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ALLOC_HOOKS 1
#endif
#endif
#ifdef HAVE_ALLOC_HOOKS
/* From the sanitizer runtime (declared here: gcc does not ship the header). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
#endif

#define MS RIPP_NS_PER_MS
#define T0 (5000 * MS)

static uint8_t pl[160];

static const uint8_t *payload_for(uint32_t seq)
{
    for (size_t i = 0; i < sizeof pl; i++)
        pl[i] = (uint8_t)(seq * 7 + i);
    return pl;
}

static void check_payload(const ripp_jbuf_out *o)
{
    assert_true(o->present);
    assert_int_equal(o->len, sizeof pl);
    for (size_t i = 0; i < sizeof pl; i++)
        assert_int_equal(o->payload[i], (uint8_t)(o->seq * 7 + i));
}

static int put(ripp_jbuf *jb, uint32_t seq, ripp_ts now)
{
    return ripp_jbuf_put(jb, seq, RIPP_CODEC_PCMU, payload_for(seq), sizeof pl, now);
}

static void test_init(void **st)
{
    (void)st;
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    assert_int_equal(ripp_jbuf_init(&jb, NULL, &s), 0);
    assert_int_equal(jb.cfg.frame_ms, 20);
    assert_int_equal(jb.cfg.capacity, 18);
    assert_int_equal(jb.cfg.slot_size, 1500);
    assert_int_equal(jb.delay, 20 * MS);
    assert_int_equal(ripp_jbuf_next_due(&jb), RIPP_TS_NEVER);
    ripp_jbuf_out o;
    assert_int_equal(ripp_jbuf_pop(&jb, T0, &o), 0);
    assert_int_equal(ripp_jbuf_pop(&jb, UINT64_MAX - 1, &o), 0);
    assert_int_equal(ripp_jbuf_depth(&jb), 0);
    ripp_jbuf_free(&jb);
    ripp_jbuf_free(&jb); /* idempotent */

    ripp_jbuf_config c = {.frame_ms = 25};
    assert_int_equal(ripp_jbuf_init(&jb, &c, NULL), RIPP_ERR_INVAL);
    c = (ripp_jbuf_config){.min_delay = 100 * MS, .max_delay = 50 * MS};
    assert_int_equal(ripp_jbuf_init(&jb, &c, NULL), RIPP_ERR_INVAL);
    c = (ripp_jbuf_config){.slot_size = 1501};
    assert_int_equal(ripp_jbuf_init(&jb, &c, NULL), RIPP_ERR_INVAL);
    c = (ripp_jbuf_config){.capacity = 1};
    assert_int_equal(ripp_jbuf_init(&jb, &c, NULL), RIPP_ERR_INVAL);
    /* delays round to whole frames */
    c = (ripp_jbuf_config){.frame_ms = 30, .min_delay = 50 * MS, .max_delay = 100 * MS};
    assert_int_equal(ripp_jbuf_init(&jb, &c, NULL), 0);
    assert_int_equal(jb.cfg.min_delay, 60 * MS);
    assert_int_equal(jb.cfg.max_delay, 90 * MS);
    assert_int_equal(jb.cfg.capacity, 3 + 8);
    ripp_jbuf_free(&jb);
}

static void test_ordering(void **st)
{
    (void)st;
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    assert_int_equal(ripp_jbuf_init(&jb, NULL, &s), 0);
    assert_int_equal(put(&jb, 100, T0), 0);
    assert_int_equal(ripp_jbuf_next_due(&jb), T0 + 20 * MS);
    assert_int_equal(put(&jb, 102, T0 + 30 * MS), 0);
    assert_int_equal(put(&jb, 101, T0 + 31 * MS), 0);
    assert_int_equal(ripp_jbuf_depth(&jb), 3);
    ripp_jbuf_out o;
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 20 * MS - 1, &o), 0);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 20 * MS, &o), 1);
    assert_int_equal(o.seq, 100);
    assert_int_equal(o.codec, RIPP_CODEC_PCMU);
    check_payload(&o);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 20 * MS, &o), 0);
    assert_int_equal(ripp_jbuf_next_due(&jb), T0 + 40 * MS);
    /* a caller that fell behind drains everything due */
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 60 * MS, &o), 1);
    assert_int_equal(o.seq, 101);
    check_payload(&o);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 60 * MS, &o), 1);
    assert_int_equal(o.seq, 102);
    check_payload(&o);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 60 * MS, &o), 0);
    assert_int_equal(ripp_jbuf_depth(&jb), 0);
    assert_int_equal(s.rx_frames, 3);
    assert_int_equal(s.rx_concealed, 0);
    ripp_jbuf_free(&jb);
}

static void test_dup_late(void **st)
{
    (void)st;
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    assert_int_equal(ripp_jbuf_init(&jb, NULL, &s), 0);
    assert_int_equal(put(&jb, 10, T0), 0);
    assert_int_equal(put(&jb, 10, T0 + MS), RIPP_ERR_DUP);
    assert_int_equal(put(&jb, 11, T0 + 20 * MS), 0);
    assert_int_equal(put(&jb, 11, T0 + 21 * MS), RIPP_ERR_DUP);
    assert_int_equal(s.rx_duplicates, 2);
    assert_int_equal(s.rx_frames, 2);
    ripp_jbuf_out o;
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 20 * MS, &o), 1);
    assert_int_equal(o.seq, 10);
    /* played: now late, not a duplicate */
    assert_int_equal(put(&jb, 10, T0 + 22 * MS), RIPP_ERR_LATE);
    assert_int_equal(put(&jb, 3, T0 + 22 * MS), RIPP_ERR_LATE);
    assert_int_equal(s.rx_late, 2);
    assert_int_equal(s.rx_duplicates, 2);
    assert_int_equal(s.rx_frames, 2);
    /* bad sizes */
    assert_int_equal(ripp_jbuf_put(&jb, 12, RIPP_CODEC_PCMU, pl, 0, T0), RIPP_ERR_INVAL);
    static uint8_t big[1501];
    assert_int_equal(ripp_jbuf_put(&jb, 12, RIPP_CODEC_PCMU, big, sizeof big, T0), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_jbuf_put(&jb, 12, RIPP_CODEC_PCMU, big, 1500, T0 + 30 * MS), 0);
    ripp_jbuf_free(&jb);
}

/* Striping may deliver seq n+1 before seq n; before playout starts n still plays first. */
static void test_early_reorder(void **st)
{
    (void)st;
    ripp_jbuf jb;
    assert_int_equal(ripp_jbuf_init(&jb, NULL, NULL), 0);
    assert_int_equal(put(&jb, 11, T0), 0);
    assert_int_equal(put(&jb, 10, T0 + 5 * MS), 0);
    assert_int_equal(ripp_jbuf_next_due(&jb), T0);
    ripp_jbuf_out o;
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 5 * MS, &o), 1);
    assert_int_equal(o.seq, 10);
    check_payload(&o);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 5 * MS, &o), 0);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 20 * MS, &o), 1);
    assert_int_equal(o.seq, 11);
    check_payload(&o);
    ripp_jbuf_free(&jb);
}

static void test_conceal_gap(void **st)
{
    (void)st;
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    assert_int_equal(ripp_jbuf_init(&jb, NULL, &s), 0);
    /* perfectly paced arrivals: no jitter, so the delay stays at the minimum */
    assert_int_equal(put(&jb, 0, T0), 0);
    assert_int_equal(put(&jb, 1, T0 + 20 * MS), 0);
    assert_int_equal(put(&jb, 3, T0 + 60 * MS), 0);
    assert_int_equal(put(&jb, 4, T0 + 80 * MS), 0);
    uint32_t want_seq[] = {0, 1, 2, 3, 4};
    bool want_present[] = {true, true, false, true, true};
    ripp_jbuf_out o;
    for (int i = 0; i < 5; i++) {
        ripp_ts due = T0 + (ripp_ts)(i + 1) * 20 * MS;
        assert_int_equal(ripp_jbuf_pop(&jb, due - 1, &o), 0);
        assert_int_equal(ripp_jbuf_pop(&jb, due, &o), 1);
        assert_int_equal(o.seq, want_seq[i]);
        assert_int_equal(o.present, want_present[i]);
        if (o.present)
            check_payload(&o);
        else {
            assert_int_equal(o.codec, RIPP_CODEC_PCMU); /* of the last frame played */
            assert_null(o.payload);
            assert_int_equal(o.len, 0);
        }
    }
    assert_int_equal(s.rx_concealed, 1);
    assert_int_equal(jb.delay, 20 * MS);
    /* the stream stopped: playout keeps concealing, paced */
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 120 * MS, &o), 1);
    assert_false(o.present);
    assert_int_equal(o.seq, 5);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 120 * MS, &o), 0);
    assert_int_equal(s.rx_concealed, 2);
    /* the frame of a concealed slot is late when it finally comes */
    assert_int_equal(put(&jb, 2, T0 + 121 * MS), RIPP_ERR_LATE);
    ripp_jbuf_free(&jb);
}

/* A jump in the sender's numbering (a call taken over by another instance) is followed
 * after two consecutive frames; a single stray frame far ahead is not. */
static void test_resync(void **st)
{
    (void)st;
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    ripp_jbuf_config c = {.capacity = 4, .min_delay = 20 * MS, .max_delay = 20 * MS};
    assert_int_equal(ripp_jbuf_init(&jb, &c, &s), 0);
    assert_int_equal(put(&jb, 1000, T0), 0);
    assert_int_equal(put(&jb, 1001, T0 + 20 * MS), 0);
    /* one stray frame far ahead, then normal ones: nothing changes; the stray counts late */
    assert_int_equal(put(&jb, 5000, T0 + 20 * MS), RIPP_ERR_LIMIT);
    assert_int_equal(put(&jb, 1002, T0 + 40 * MS), 0);
    assert_int_equal(ripp_jbuf_depth(&jb), 3);
    assert_int_equal(s.rx_late, 1);
    assert_int_equal(s.rx_frames, 3);
    /* a jump: 2000, 2001 ...: the new run starts at 2000, the frame that announced it */
    assert_int_equal(put(&jb, 2000, T0 + 60 * MS), RIPP_ERR_LIMIT);
    assert_int_equal(put(&jb, 2001, T0 + 80 * MS), 0);
    assert_int_equal(put(&jb, 2002, T0 + 100 * MS), 0);
    assert_int_equal(s.rx_frames + s.rx_late, 7); /* every frame counted once */
    ripp_jbuf_out o;
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 100 * MS, &o), 1);
    assert_int_equal(o.seq, 2000);
    assert_true(o.present);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 120 * MS, &o), 1);
    assert_int_equal(o.seq, 2001);
    assert_true(o.present);
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 140 * MS, &o), 1);
    assert_int_equal(o.seq, 2002);
    assert_true(o.present);
    ripp_jbuf_free(&jb);
}

/* A jump with room after the frames held (a call moved to another instance, whose numbers
 * start 50 frames on): the frames held play first, the new run follows at once, nothing is
 * concealed, and the stray that announced the jump is not lost. */
static void test_jump_continues(void **st)
{
    (void)st;
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    ripp_jbuf_config c = {.capacity = 10, .min_delay = 40 * MS, .max_delay = 40 * MS};
    assert_int_equal(ripp_jbuf_init(&jb, &c, &s), 0);
    ripp_jbuf_out o;
    unsigned played = 0, concealed = 0;
    uint32_t last = 0;
    /* frames 100..109 from the old instance, then 160.. from the new one, one every 20 ms */
    for (uint32_t k = 0; k < 30; k++) {
        ripp_ts now = T0 + (ripp_ts)k * 20 * MS;
        uint32_t seq = k < 10 ? 100 + k : 150 + k;
        int rv = put(&jb, seq, now);
        assert_int_equal(rv, k == 10 ? RIPP_ERR_LIMIT : 0); /* the stray, kept */
        while (ripp_jbuf_pop(&jb, now, &o) == 1) {
            if (!o.present) {
                concealed++;
                continue;
            }
            if (played) assert_int_equal(o.seq, last + 1); /* one run, no pause */
            last = o.seq;
            played++;
            /* the payload is the sender's frame: 100..109, then 160.. */
            uint32_t want = o.seq < 110 ? o.seq : o.seq + 50;
            assert_memory_equal(o.payload, payload_for(want), sizeof pl);
        }
    }
    assert_int_equal(concealed, 0);
    assert_int_equal(played, 28); /* 30 sent, two still held for the 40 ms delay */
    assert_int_equal(s.rx_frames, 30);
    assert_int_equal(s.rx_late, 0);
    /* a straggler of the old numbering is behind the playout point now */
    assert_int_equal(put(&jb, 109, T0 + 600 * MS), RIPP_ERR_LATE);
    ripp_jbuf_free(&jb);
}

/* A backlog larger than the window flushed into a fresh buffer (a failover burst), then
 * live frames: the buffer resyncs on the first two frames beyond its window, and every live
 * frame after the burst is stored and played (once refused for the rest of the call). */
static void test_burst_beyond_window(void **st)
{
    (void)st;
    ripp_jbuf jb;
    ripp_jbuf_config c = {.capacity = 4, .min_delay = 20 * MS, .max_delay = 20 * MS};
    assert_int_equal(ripp_jbuf_init(&jb, &c, NULL), 0);
    for (uint32_t s = 1000; s < 1004; s++)
        assert_int_equal(put(&jb, s, T0), 0);
    assert_int_equal(put(&jb, 1004, T0), RIPP_ERR_LIMIT);
    assert_int_equal(put(&jb, 1005, T0), 0); /* the resync */
    ripp_jbuf_out o;
    unsigned played = 0;
    for (uint32_t k = 1; k <= 40; k++) {
        ripp_ts now = T0 + (ripp_ts)k * 20 * MS;
        assert_int_equal(put(&jb, 1005 + k, now), 0);
        while (ripp_jbuf_pop(&jb, now, &o) == 1)
            played += o.present;
    }
    assert_true(played >= 38);
    ripp_jbuf_free(&jb);
}

static void test_capacity(void **st)
{
    (void)st;
    ripp_jbuf jb;
    /* a fixed delay: this test is about the window, not adaptation */
    ripp_jbuf_config c = {.capacity = 4, .min_delay = 20 * MS, .max_delay = 20 * MS};
    assert_int_equal(ripp_jbuf_init(&jb, &c, NULL), 0);
    assert_int_equal(put(&jb, 1000, T0), 0);
    assert_int_equal(put(&jb, 1003, T0), 0);
    assert_int_equal(put(&jb, 1004, T0), RIPP_ERR_LIMIT);
    assert_int_equal(put(&jb, 0xffffffffu, T0), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_jbuf_depth(&jb), 2);
    ripp_jbuf_out o;
    assert_int_equal(ripp_jbuf_pop(&jb, T0 + 20 * MS, &o), 1);
    assert_int_equal(o.seq, 1000);
    /* the window moved by one */
    assert_int_equal(put(&jb, 1004, T0 + 20 * MS), 0);
    assert_int_equal(put(&jb, 1005, T0 + 20 * MS), RIPP_ERR_LIMIT);
    /* slots are reused modulo capacity without confusion */
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(ripp_jbuf_pop(&jb, T0 + (ripp_ts)(i + 1) * 20 * MS, &o), 1);
        assert_int_equal(o.seq, 1000 + (uint32_t)i);
        assert_int_equal(o.present, i >= 3);
        if (o.present) check_payload(&o);
    }
    ripp_jbuf_free(&jb);
}

/* Deterministic pseudo-random numbers. */
static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

struct run {
    ripp_ts delay_end, delay_max;
    uint64_t late, concealed, played;
};

/* Frames every 20 ms for `secs` seconds, each delayed by a uniform random [0, jitter_ms];
 * every 25th frame is comfort noise, the rest voice. Pops every millisecond. */
static struct run run_jitter(ripp_jbuf *jb, ripp_stats *s, uint32_t first_seq, ripp_ts start,
                             unsigned jitter_ms, unsigned secs, unsigned tail_ms)
{
    struct run r = {0};
    unsigned frames = secs * 50;
    ripp_ts arrive[2000];
    assert_true(frames <= 2000);
    for (unsigned i = 0; i < frames; i++)
        arrive[i] = start + (ripp_ts)i * 20 * MS + (jitter_ms ? rnd() % (jitter_ms + 1) : 0) * MS;
    uint64_t late0 = s->rx_late, conc0 = s->rx_concealed;
    ripp_ts end = start + (ripp_ts)(secs * 1000 + tail_ms) * MS;
    for (ripp_ts t = start; t < end; t += MS) {
        for (unsigned i = 0; i < frames; i++) {
            if (arrive[i] != t) continue;
            uint32_t seq = first_seq + i;
            enum ripp_codec codec = i % 25 == 0 ? RIPP_CODEC_CN : RIPP_CODEC_PCMU;
            int rc = ripp_jbuf_put(jb, seq, codec, payload_for(seq), sizeof pl, t);
            assert_true(rc == 0 || rc == RIPP_ERR_LATE);
        }
        ripp_jbuf_out o;
        while (ripp_jbuf_pop(jb, t, &o) == 1) {
            r.played++;
            if (o.present) {
                assert_int_equal(o.len, sizeof pl);
                assert_int_equal(o.payload[0], (uint8_t)(o.seq * 7));
            }
        }
        if (jb->delay > r.delay_max) r.delay_max = jb->delay;
        assert_true(jb->delay >= jb->cfg.min_delay);
        assert_true(jb->delay <= jb->cfg.max_delay);
    }
    r.delay_end = jb->delay;
    r.late = s->rx_late - late0;
    r.concealed = s->rx_concealed - conc0;
    return r;
}

static void test_adaptation(void **st)
{
    (void)st;
    ripp_ts delays[4];
    const unsigned jit[4] = {0, 30, 80, 400};
    uint64_t late[4];
    for (int k = 0; k < 4; k++) {
        rng_state = 0x9e3779b97f4a7c15ULL;
        ripp_jbuf jb;
        ripp_stats s;
        ripp_stats_init(&s);
        assert_int_equal(ripp_jbuf_init(&jb, NULL, &s), 0);
        struct run r = run_jitter(&jb, &s, 0, T0, jit[k], 20, 300);
        delays[k] = r.delay_end;
        late[k] = r.late;
        ripp_jbuf_free(&jb);
    }
    /* no jitter: the minimum, nothing late */
    assert_int_equal(delays[0], 20 * MS);
    assert_int_equal(late[0], 0);
    /* the delay grows with the jitter and never passes the maximum */
    assert_true(delays[1] > delays[0]);
    assert_true(delays[2] > delays[1]);
    assert_int_equal(delays[3], 200 * MS);
    /* with 30 ms of jitter the adapted buffer plays nearly everything */
    assert_true(late[1] < 1000 / 50);
}

/* After the jitter goes away, the delay comes back down (at CN frames and gaps). */
static void test_adaptation_shrinks(void **st)
{
    (void)st;
    rng_state = 42;
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    assert_int_equal(ripp_jbuf_init(&jb, NULL, &s), 0);
    struct run r = run_jitter(&jb, &s, 0, T0, 100, 20, 0);
    assert_true(r.delay_end >= 100 * MS);
    /* continue the same stream with no jitter; frames keep their schedule */
    ripp_ts start2 = T0 + (ripp_ts)20 * 1000 * MS;
    struct run r2 = run_jitter(&jb, &s, 1000, start2, 0, 30, 300);
    assert_int_equal(r2.delay_end, 20 * MS);
    assert_int_equal(r2.late, 0);
    ripp_jbuf_free(&jb);
}

/* A burst of old frames (a flush after a reconnect) is dropped as late and does not keep
 * the delay up for long. */
static void test_burst_recovers(void **st)
{
    (void)st;
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    assert_int_equal(ripp_jbuf_init(&jb, NULL, &s), 0);
    struct run r = run_jitter(&jb, &s, 0, T0, 0, 2, 0);
    assert_int_equal(r.delay_end, 20 * MS);
    ripp_ts t = T0 + 2000 * MS;
    for (uint32_t seq = 0; seq < 50; seq++)
        assert_int_equal(put(&jb, seq, t), RIPP_ERR_LATE);
    assert_int_equal(s.rx_late, 50);
    struct run r2 = run_jitter(&jb, &s, 100, t, 0, 10, 0);
    assert_int_equal(r2.late, 0);
    assert_true(r2.delay_max <= 200 * MS);
    assert_int_equal(r2.delay_end, 20 * MS);
    ripp_jbuf_free(&jb);
}

#ifdef HAVE_ALLOC_HOOKS
static unsigned long allocs;
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    allocs++;
}
static void on_free(const volatile void *p)
{
    (void)p;
}
#endif

static void test_no_alloc_after_init(void **st)
{
    (void)st;
#ifdef HAVE_ALLOC_HOOKS
    ripp_jbuf jb;
    ripp_stats s;
    ripp_stats_init(&s);
    assert_int_equal(ripp_jbuf_init(&jb, NULL, &s), 0);
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    allocs = 0;
    unsigned long before = allocs;
    ripp_jbuf_out o;
    int bad = 0;
    for (uint32_t i = 0; i < 500; i++) {
        ripp_ts t = T0 + (ripp_ts)i * 20 * MS;
        bad += put(&jb, i, t + (i % 3) * MS) != 0;
        bad += put(&jb, i, t + 2 * MS) != RIPP_ERR_DUP;
        while (ripp_jbuf_pop(&jb, t + 3 * MS, &o) == 1)
            ;
    }
    unsigned long after = allocs;
    __sanitizer_install_malloc_and_free_hooks(NULL, NULL);
    assert_int_equal(bad, 0);
    assert_int_equal(after, before);
    assert_int_equal(s.rx_frames, 500);
    ripp_jbuf_free(&jb);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),           cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_dup_late),       cmocka_unit_test(test_early_reorder),
        cmocka_unit_test(test_conceal_gap),    cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_resync), cmocka_unit_test(test_jump_continues),         cmocka_unit_test(test_burst_beyond_window),
        cmocka_unit_test(test_adaptation),     cmocka_unit_test(test_adaptation_shrinks),
        cmocka_unit_test(test_burst_recovers), cmocka_unit_test(test_no_alloc_after_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
