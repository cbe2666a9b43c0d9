/* Ack-derived call quality figures (SPEC P9). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ripp/stats.h"

#define LATE_THRESHOLD_DEFAULT_US 100000
/* log2 of RIPP_STATS_RTT_SUB: the first octave split into sub-buckets starts at 2^SUB_BITS */
#define SUB_BITS 3

void ripp_stats_init(ripp_stats *s)
{
    memset(s, 0, sizeof *s);
    s->late_threshold_us = LATE_THRESHOLD_DEFAULT_US;
}

void ripp_stats_on_sent(ripp_stats *s)
{
    s->sent++;
}

void ripp_stats_on_lost(ripp_stats *s, uint64_t n)
{
    s->lost += n;
}

static unsigned floor_log2(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

static unsigned bucket_of(uint64_t us)
{
    if (us < RIPP_STATS_RTT_SUB) return (unsigned)us;
    unsigned k = floor_log2(us);
    unsigned sub = (unsigned)(us >> (k - SUB_BITS)) & (RIPP_STATS_RTT_SUB - 1);
    unsigned idx = RIPP_STATS_RTT_SUB + (k - SUB_BITS) * RIPP_STATS_RTT_SUB + sub;
    return idx < RIPP_STATS_RTT_BUCKETS ? idx : RIPP_STATS_RTT_BUCKETS - 1;
}

/* Midpoint of bucket idx. */
static uint64_t bucket_mid(unsigned idx)
{
    if (idx < RIPP_STATS_RTT_SUB) return idx;
    unsigned k = (idx - RIPP_STATS_RTT_SUB) / RIPP_STATS_RTT_SUB + SUB_BITS;
    unsigned sub = (idx - RIPP_STATS_RTT_SUB) % RIPP_STATS_RTT_SUB;
    uint64_t width = (uint64_t)1 << (k - SUB_BITS);
    return ((uint64_t)(RIPP_STATS_RTT_SUB + sub) << (k - SUB_BITS)) + width / 2;
}

void ripp_stats_on_ack(ripp_stats *s, ripp_ts rtt_ns, int64_t owd_us)
{
    s->acked++;
    uint64_t rtt_us = (rtt_ns + RIPP_NS_PER_US / 2) / RIPP_NS_PER_US;
    s->rtt_hist[bucket_of(rtt_us)]++;
    if (s->rtt_count == 0 || rtt_us < s->rtt_min_us) s->rtt_min_us = rtt_us;
    if (rtt_us > s->rtt_max_us) s->rtt_max_us = rtt_us;
    s->rtt_count++;

    if (s->have_owd) {
        /* Differences of one-way delays: the unknown clock offset between the hosts cancels. */
        double d = fabs((double)owd_us - (double)s->last_owd_us);
        s->jitter_us += (d - s->jitter_us) / 16.0;
        if (owd_us < s->min_owd_us) s->min_owd_us = owd_us;
    } else {
        s->have_owd = true;
        s->min_owd_us = owd_us;
    }
    s->last_owd_us = owd_us;
    if (owd_us - s->min_owd_us > s->late_threshold_us) s->late++;
}

uint64_t ripp_stats_rtt_quantile_us(const ripp_stats *s, double q)
{
    if (s->rtt_count == 0) return 0;
    if (!(q > 0.0)) q = 0.0;
    if (q > 1.0) q = 1.0;
    uint64_t rank = (uint64_t)ceil(q * (double)s->rtt_count);
    if (rank < 1) rank = 1;
    if (rank > s->rtt_count) rank = s->rtt_count;
    uint64_t seen = 0;
    unsigned idx = RIPP_STATS_RTT_BUCKETS - 1;
    for (unsigned i = 0; i < RIPP_STATS_RTT_BUCKETS; i++) {
        seen += s->rtt_hist[i];
        if (seen >= rank) {
            idx = i;
            break;
        }
    }
    uint64_t v = bucket_mid(idx);
    if (v < s->rtt_min_us) v = s->rtt_min_us;
    if (v > s->rtt_max_us) v = s->rtt_max_us;
    return v;
}

void ripp_stats_add(ripp_stats *a, const ripp_stats *b)
{
    uint64_t a_acked = a->acked;
    a->sent += b->sent;
    a->acked += b->acked;
    a->lost += b->lost;
    a->late += b->late;
    a->stray_acks += b->stray_acks;
    for (unsigned i = 0; i < RIPP_STATS_RTT_BUCKETS; i++)
        a->rtt_hist[i] += b->rtt_hist[i];
    if (b->rtt_count > 0) {
        if (a->rtt_count == 0 || b->rtt_min_us < a->rtt_min_us) a->rtt_min_us = b->rtt_min_us;
        if (b->rtt_max_us > a->rtt_max_us) a->rtt_max_us = b->rtt_max_us;
    }
    a->rtt_count += b->rtt_count;
    if (a->acked > 0)
        a->jitter_us =
            (a->jitter_us * (double)a_acked + b->jitter_us * (double)b->acked) / (double)a->acked;
    a->rx_frames += b->rx_frames;
    a->rx_duplicates += b->rx_duplicates;
    a->rx_late += b->rx_late;
    a->rx_concealed += b->rx_concealed;
}

int64_t ripp_stats_format_json(const ripp_stats *s, char *out, size_t cap)
{
    uint64_t p50 = ripp_stats_rtt_quantile_us(s, 0.50);
    uint64_t p99 = ripp_stats_rtt_quantile_us(s, 0.99);
    int n = snprintf(out, cap,
                     "{\"sent\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"lost\":%" PRIu64
                     ",\"late\":%" PRIu64 ",\"rtt_p50_ms\":%" PRIu64 ".%03" PRIu64
                     ",\"rtt_p99_ms\":%" PRIu64 ".%03" PRIu64 ",\"jitter_ms\":%.3f"
                     ",\"rx_frames\":%" PRIu64 ",\"rx_duplicates\":%" PRIu64 ",\"rx_late\":%" PRIu64
                     ",\"rx_concealed\":%" PRIu64 "}",
                     s->sent, s->acked, s->lost, s->late, p50 / 1000, p50 % 1000, p99 / 1000,
                     p99 % 1000, s->jitter_us / 1000.0, s->rx_frames, s->rx_duplicates, s->rx_late,
                     s->rx_concealed);
    if (n < 0 || (size_t)n >= cap) return RIPP_ERR_LIMIT;
    return n;
}
