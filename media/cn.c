/* cn.c - RFC 3389 comfort noise: measuring a frame's level and generating noise for one. */
#include <math.h>

#include "ripp/media.h"
#include "media_int.h"

#define CN_FULL_SCALE 32767.0

uint8_t ripp_cn_level(const int16_t *pcm, size_t n)
{
    if (!pcm || n == 0) return 127;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)pcm[i] * pcm[i];
    if (sum == 0) return 127;
    double dbov = 10.0 * log10(sum / (double)n / (CN_FULL_SCALE * CN_FULL_SCALE));
    double level = floor(-dbov + 0.5);
    if (level < 0) return 0;
    if (level > 127) return 127;
    return (uint8_t)level;
}

void ripp_cn_generate(ripp_cn_gen *g, const uint8_t *payload, size_t len, int16_t *pcm, size_t n)
{
    if (!g || !pcm) return;
    double rms = 0;
    if (payload && len > 0) {
        uint8_t level = payload[0] > 127 ? 127 : payload[0];
        rms = CN_FULL_SCALE * pow(10.0, -(double)level / 20.0);
    }
    if (g->rng == 0) g->rng = 0x2545f491u;
    /* A uniform variable on [-1, 1) has rms 1/sqrt(3). */
    double scale = rms * sqrt(3.0);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = ripp_media_xorshift32(&g->rng);
        double u = (double)r / 2147483648.0 - 1.0;
        double v = floor(u * scale + 0.5);
        if (v > 32767) v = 32767;
        if (v < -32768) v = -32768;
        pcm[i] = (int16_t)v;
    }
}
