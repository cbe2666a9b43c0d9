/* owdhist.h - a histogram of one-way delays, for benchmarks that compare transports frame
 * by frame: quantiles, and how many frames a jitter buffer of a given depth would have
 * received too late.
 *
 * Linear buckets of RIPP_OWDHIST_BUCKET_US from `base_us` up; values below the base land in
 * bucket 0 and are counted in `under`, values beyond the range in the last bucket (counted
 * in `over`). Quantiles are exact to one bucket width; the extremes are exact. The delays
 * may include a constant clock offset between two hosts: every figure that matters here
 * (quantiles relative to the minimum, frames later than min + depth) is offset-free when
 * the caller subtracts the minimum. Pure: no clock, no I/O. */
#ifndef RIPP_OWDHIST_H
#define RIPP_OWDHIST_H

#include "ripp/ripp.h"

#define RIPP_OWDHIST_BUCKET_US 100
#define RIPP_OWDHIST_BUCKETS 50000 /* 5 s above the base */

typedef struct ripp_owdhist {
    uint32_t *b; /* RIPP_OWDHIST_BUCKETS counters, owned */
    int64_t base_us;
    uint64_t count, under, over;
    int64_t min_us, max_us; /* meaningful when count > 0 */
    double sum_us;
} ripp_owdhist;

/* Allocates the buckets. Returns 0 or RIPP_ERR_NOMEM (h is then empty and safe to free). */
int ripp_owdhist_init(ripp_owdhist *h, int64_t base_us);
void ripp_owdhist_free(ripp_owdhist *h);
void ripp_owdhist_reset(ripp_owdhist *h);
void ripp_owdhist_add(ripp_owdhist *h, int64_t owd_us);
/* q in [0,1]: the value of rank ceil(q * count), as its bucket's midpoint clamped to the
 * extremes seen (a constant delay is reported exactly); 0 when empty. */
int64_t ripp_owdhist_quantile_us(const ripp_owdhist *h, double q);
/* Samples strictly greater than limit_us (to one bucket width: a bucket counts when its
 * lower bound is at least limit_us + 1; the maximum is exact). */
uint64_t ripp_owdhist_count_above(const ripp_owdhist *h, int64_t limit_us);
/* Adds b into a (same base). Returns 0 or RIPP_ERR_INVAL when the bases differ. */
int ripp_owdhist_merge(ripp_owdhist *a, const ripp_owdhist *b);
/* {"count":..,"min_ms":..,"p50_ms":..,"p90_ms":..,"p99_ms":..,"p999_ms":..,"max_ms":..,
 *  "mean_ms":..,"late_ms":L,"late":..} where late counts samples above min + late_ms.
 * Returns the length or RIPP_ERR_LIMIT. */
int64_t ripp_owdhist_format_json(const ripp_owdhist *h, int64_t late_us, char *out, size_t cap);

#endif
