/* Calls-per-second limits per trunk: a token bucket each (rate N/s, burst N), refilled in
 * monotonic time. Trunks without a limit of their own get the default (0: unlimited). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rippd.h"

typedef struct bucket {
    struct bucket *next;
    char trunk[64];
    double rate; /* calls per second; 0: unlimited */
    double tokens;
    ripp_ts last;
    bool configured; /* a limit of its own */
} bucket;

static bucket *buckets;
static double default_rate;

void rippd_limits_set_default(double cps)
{
    default_rate = cps > 0 ? cps : 0;
}

static bucket *find(const char *trunk, bool create)
{
    for (bucket *b = buckets; b; b = b->next)
        if (strcmp(b->trunk, trunk) == 0) return b;
    if (!create) return NULL;
    bucket *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    snprintf(b->trunk, sizeof b->trunk, "%s", trunk);
    b->rate = default_rate;
    b->tokens = default_rate;
    b->next = buckets;
    buckets = b;
    return b;
}

int rippd_limits_set(const char *trunk, double cps)
{
    bucket *b = find(trunk, true);
    if (!b) return RIPP_ERR_NOMEM;
    b->rate = cps > 0 ? cps : 0;
    b->tokens = b->rate;
    b->configured = true;
    return 0;
}

int rippd_limits_admit(const char *trunk, ripp_ts now, uint32_t *retry_after_s)
{
    bucket *b = find(trunk, default_rate > 0);
    if (!b || b->rate <= 0) return 0;
    if (b->last) {
        b->tokens += (double)(now - b->last) / RIPP_NS_PER_SEC * b->rate;
        if (b->tokens > b->rate) b->tokens = b->rate;
    }
    b->last = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    double wait = (1.0 - b->tokens) / b->rate;
    *retry_after_s = (uint32_t)(wait + 0.999);
    if (*retry_after_s == 0) *retry_after_s = 1;
    return RIPP_ERR_LIMIT;
}

void rippd_limits_free(void)
{
    while (buckets) {
        bucket *b = buckets;
        buckets = b->next;
        free(b);
    }
}
