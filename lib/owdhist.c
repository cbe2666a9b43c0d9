/* One-way-delay histogram for the loss benchmarks. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/owdhist.h"

int ripp_owdhist_init(ripp_owdhist *h, int64_t base_us)
{
    memset(h, 0, sizeof *h);
    h->base_us = base_us;
    h->b = calloc(RIPP_OWDHIST_BUCKETS, sizeof *h->b);
    return h->b ? 0 : RIPP_ERR_NOMEM;
}

void ripp_owdhist_free(ripp_owdhist *h)
{
    free(h->b);
    h->b = NULL;
}

void ripp_owdhist_reset(ripp_owdhist *h)
{
    uint32_t *b = h->b;
    int64_t base = h->base_us;
    memset(h, 0, sizeof *h);
    h->b = b;
    h->base_us = base;
    if (b) memset(b, 0, RIPP_OWDHIST_BUCKETS * sizeof *b);
}

static size_t bucket_of(const ripp_owdhist *h, int64_t v)
{
    if (v < h->base_us) return 0;
    uint64_t i = (uint64_t)(v - h->base_us) / RIPP_OWDHIST_BUCKET_US;
    return i < RIPP_OWDHIST_BUCKETS ? (size_t)i : RIPP_OWDHIST_BUCKETS - 1;
}

void ripp_owdhist_add(ripp_owdhist *h, int64_t v)
{
    if (!h->b) return;
    if (v < h->base_us) h->under++;
    if (v >= h->base_us + (int64_t)RIPP_OWDHIST_BUCKETS * RIPP_OWDHIST_BUCKET_US) h->over++;
    h->b[bucket_of(h, v)]++;
    if (h->count == 0 || v < h->min_us) h->min_us = v;
    if (h->count == 0 || v > h->max_us) h->max_us = v;
    h->count++;
    h->sum_us += (double)v;
}

int64_t ripp_owdhist_quantile_us(const ripp_owdhist *h, double q)
{
    if (!h->b || h->count == 0) return 0;
    if (!(q > 0.0)) q = 0.0;
    if (q > 1.0) q = 1.0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1) rank = 1;
    if (rank >= h->count) return h->max_us;
    if (rank == 1) return h->min_us;
    uint64_t seen = 0;
    size_t idx = RIPP_OWDHIST_BUCKETS - 1;
    for (size_t i = 0; i < RIPP_OWDHIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            idx = i;
            break;
        }
    }
    if (idx == RIPP_OWDHIST_BUCKETS - 1) return h->max_us; /* the overflow bucket */
    if (idx == 0 && h->under) return h->min_us;            /* and the underflow */
    int64_t v = h->base_us + (int64_t)idx * RIPP_OWDHIST_BUCKET_US + RIPP_OWDHIST_BUCKET_US / 2;
    if (v < h->min_us) v = h->min_us;
    if (v > h->max_us) v = h->max_us;
    return v;
}

uint64_t ripp_owdhist_count_above(const ripp_owdhist *h, int64_t limit)
{
    if (!h->b || h->count == 0 || h->max_us <= limit) return 0;
    if (h->min_us > limit) return h->count;
    uint64_t n = 0;
    for (size_t i = RIPP_OWDHIST_BUCKETS; i-- > 0;) {
        int64_t lo = h->base_us + (int64_t)i * RIPP_OWDHIST_BUCKET_US;
        if (lo <= limit) break;
        n += h->b[i];
    }
    return n;
}

int ripp_owdhist_merge(ripp_owdhist *a, const ripp_owdhist *b)
{
    if (a->base_us != b->base_us || !a->b || !b->b) return RIPP_ERR_INVAL;
    if (b->count == 0) return 0;
    for (size_t i = 0; i < RIPP_OWDHIST_BUCKETS; i++)
        a->b[i] += b->b[i];
    if (a->count == 0 || b->min_us < a->min_us) a->min_us = b->min_us;
    if (a->count == 0 || b->max_us > a->max_us) a->max_us = b->max_us;
    a->count += b->count;
    a->under += b->under;
    a->over += b->over;
    a->sum_us += b->sum_us;
    return 0;
}

int64_t ripp_owdhist_format_json(const ripp_owdhist *h, int64_t late_us, char *out, size_t cap)
{
    double ms[6];
    static const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (int i = 0; i < 4; i++)
        ms[i] = (double)ripp_owdhist_quantile_us(h, qs[i]) / 1000.0;
    ms[4] = h->count ? (double)h->min_us / 1000.0 : 0;
    ms[5] = h->count ? (double)h->max_us / 1000.0 : 0;
    uint64_t late = h->count ? ripp_owdhist_count_above(h, h->min_us + late_us) : 0;
    int n = snprintf(out, cap,
                     "{\"count\":%" PRIu64 ",\"min_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
                     "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
                     "\"late_ms\":%.1f,\"late\":%" PRIu64 "}",
                     h->count, ms[4], ms[0], ms[1], ms[2], ms[3], ms[5],
                     h->count ? h->sum_us / (double)h->count / 1000.0 : 0.0,
                     (double)late_us / 1000.0, late);
    if (n < 0 || (size_t)n >= cap) return RIPP_ERR_LIMIT;
    return n;
}
