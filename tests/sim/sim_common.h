/* What the call simulations share: the trunk token, stand-ins for the server's token hash
 * and the PASSporT signature (the engine's hooks; real crypto is tested elsewhere), and a
 * map of the frames one direction delivered (duplicates, gaps). Included after
 * fake_http.h. */
#ifndef SIM_COMMON_H
#define SIM_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ripp/endpoint.h"

#define TOKEN "sim-token-0123456789"

/* FNV-1a of the token, as 64 hex digits (a real server uses SHA-256). */
static inline int token_hash(void *ud, const char *token, char out[65])
{
    (void)ud;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = token; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    snprintf(out, 65, "%064llx", (unsigned long long)h);
    return 0;
}

/* A "signature" of 64 bytes 0x42: sign_fake makes it, verify_sig accepts only it. */
static inline int verify_sig(void *ud, const ripp_trunk_rec *t, const uint8_t *d, size_t len,
                             const uint8_t *sig, size_t siglen)
{
    (void)ud;
    (void)t;
    (void)d;
    (void)len;
    return siglen == 64 && sig[0] == 0x42 ? 0 : RIPP_ERR_AUTH;
}
static inline int sign_fake(void *ud, const uint8_t *d, size_t len, uint8_t sig[64])
{
    (void)ud;
    (void)d;
    (void)len;
    memset(sig, 0x42, 64);
    return 0;
}

#define MAXSEQ 65536

/* Frames of one direction as the receivers saw them (every receiver of that direction
 * counts into one map: a frame delivered to two server instances is a duplicate). */
typedef struct rxmap {
    uint8_t seen[MAXSEQ];
    uint64_t unique, dups, beyond;
    ripp_ts last_at, max_gap;
} rxmap;

static inline void rx_note(rxmap *m, uint32_t seq, ripp_ts now)
{
    if (seq >= MAXSEQ) {
        m->beyond++;
        return;
    }
    if (m->seen[seq]) {
        m->dups++;
        return;
    }
    m->seen[seq] = 1;
    m->unique++;
    if (m->last_at && now - m->last_at > m->max_gap) m->max_gap = now - m->last_at;
    m->last_at = now;
}

#endif
