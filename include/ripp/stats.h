/* stats.h - ack-derived call quality figures (SPEC P9).
 *
 * Sender side, from acks: frames sent, acked, lost (never acked: dropped by congestion
 * control, or on a byway that stalled or closed, or outstanding at the end), late (acked,
 * but the one-way delay exceeded the lowest seen by more than late_threshold), ack RTT
 * quantiles, and RFC 3550-style interarrival jitter of the one-way delay (the clock offset
 * between the hosts cancels out). Receiver side, from the jitter buffer. */
#ifndef RIPP_STATS_H
#define RIPP_STATS_H

#include "ripp/ripp.h"

/* RTT histogram: log-linear in µs. Values 0..7 have a bucket each; above, every power of
 * two is split into 8 equal sub-buckets, up to 2^27 µs (~134 s); larger values land in the
 * last bucket. A bucket's width is at most 1/8 of its lower bound. */
#define RIPP_STATS_RTT_SUB 8
#define RIPP_STATS_RTT_BUCKETS 200

typedef struct ripp_stats {
    /* sender */
    uint64_t sent, acked, lost, late;
    uint64_t stray_acks;                       /* acks that matched nothing in flight */
    uint32_t rtt_hist[RIPP_STATS_RTT_BUCKETS]; /* log-linear histogram of RTT in µs */
    uint64_t rtt_count;
    uint64_t rtt_max_us;
    uint64_t rtt_min_us; /* meaningful when rtt_count > 0 */
    double jitter_us;    /* smoothed |D| (RFC 3550 A.8) of the one-way delay */
    int64_t last_owd_us;
    bool have_owd;
    int64_t min_owd_us;
    int64_t late_threshold_us; /* default 100 ms */
    /* receiver */
    uint64_t rx_frames, rx_duplicates, rx_late, rx_concealed;
} ripp_stats;

void ripp_stats_init(ripp_stats *s);
void ripp_stats_on_sent(ripp_stats *s);
/* rtt_ns: send to ack arrival (monotonic). owd_us: ack rx_time_us minus our wall-clock send
 * time in µs (includes the clock offset). */
void ripp_stats_on_ack(ripp_stats *s, ripp_ts rtt_ns, int64_t owd_us);
void ripp_stats_on_lost(ripp_stats *s, uint64_t n);
/* q in [0,1]; 0 when there are no samples. Returns the midpoint of the bucket holding the
 * sample of rank ceil(q * count), clamped to the smallest and largest RTT seen (so a
 * constant RTT is reported exactly). The error is at most 1/16 of the value. */
uint64_t ripp_stats_rtt_quantile_us(const ripp_stats *s, double q);
/* Merge b into a (for trunk and process totals). Counters and histograms add up; jitter
 * becomes the mean of both weighted by acks; the one-way-delay state of a is kept (delays
 * measured against different peers do not compare). */
void ripp_stats_add(ripp_stats *a, const ripp_stats *b);
/* {"sent":..,"acked":..,"lost":..,"late":..,"rtt_p50_ms":..,"rtt_p99_ms":..,"jitter_ms":..,
 *  "rx_frames":..,"rx_duplicates":..,"rx_late":..,"rx_concealed":..}
 * Returns the length (NUL-terminated) or RIPP_ERR_LIMIT. */
int64_t ripp_stats_format_json(const ripp_stats *s, char *out, size_t cap);

#endif
