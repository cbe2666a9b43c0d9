/* Clock, randomness and identifiers for the apps and the bindings. */
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "ripp/io.h"

ripp_ts ripp_io_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ripp_ts)ts.tv_sec * RIPP_NS_PER_SEC + (ripp_ts)ts.tv_nsec;
}

uint64_t ripp_io_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int ripp_io_random(uint8_t *buf, size_t n)
{
    if (n == 0) return 0;
    if (!buf) return RIPP_ERR_INVAL;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, buf, n) < 0) return RIPP_ERR_CRYPTO;
    return 0;
}

static uint64_t env_wall_us(void *ud)
{
    (void)ud;
    return ripp_io_wall_us();
}

static int env_random(void *ud, uint8_t *buf, size_t n)
{
    (void)ud;
    return ripp_io_random(buf, n);
}

static ripp_ts env_mono_ns(void *ud)
{
    (void)ud;
    return ripp_io_now();
}

static const ripp_env io_env = {
    .wall_us = env_wall_us, .mono_ns = env_mono_ns, .random = env_random, .ud = NULL};

const ripp_env *ripp_io_env(void)
{
    return &io_env;
}

int ripp_io_uuid4(char out[37])
{
    uint8_t b[16];
    int rv = ripp_io_random(b, sizeof b);
    if (rv < 0) return rv;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return 0;
}

int ripp_io_random_token(char *out, size_t cap, size_t nbytes)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[256];
    if (!out || nbytes == 0 || nbytes > sizeof raw) return RIPP_ERR_INVAL;
    size_t need = (nbytes * 4 + 2) / 3;
    if (cap < need + 1) return RIPP_ERR_LIMIT;
    int rv = ripp_io_random(raw, nbytes);
    if (rv < 0) return rv;
    size_t o = 0, i = 0;
    for (; i + 3 <= nbytes; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
        out[o++] = b64[v & 63];
    }
    if (nbytes - i == 1) {
        uint32_t v = (uint32_t)raw[i] << 16;
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
    } else if (nbytes - i == 2) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8;
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
    }
    out[o] = '\0';
    memset(raw, 0, sizeof raw);
    return 0;
}
