/* g711.c - G.711 µ-law and A-law through spandsp's reference conversions, so that ripp
 * produces the same bytes as every spandsp-based gateway. */
#include "ripp/media.h"

#include <spandsp/telephony.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>

int ripp_g711_encode(enum ripp_codec codec, const int16_t *pcm, size_t n, uint8_t *out)
{
    if ((codec != RIPP_CODEC_PCMU && codec != RIPP_CODEC_PCMA) || n > INT32_MAX)
        return RIPP_ERR_INVAL;
    if (n > 0 && (!pcm || !out)) return RIPP_ERR_INVAL;
    if (codec == RIPP_CODEC_PCMU) {
        for (size_t i = 0; i < n; i++)
            out[i] = linear_to_ulaw(pcm[i]);
    } else {
        for (size_t i = 0; i < n; i++)
            out[i] = linear_to_alaw(pcm[i]);
    }
    return (int)n;
}

int ripp_g711_decode(enum ripp_codec codec, const uint8_t *in, size_t n, int16_t *pcm)
{
    if ((codec != RIPP_CODEC_PCMU && codec != RIPP_CODEC_PCMA) || n > INT32_MAX)
        return RIPP_ERR_INVAL;
    if (n > 0 && (!pcm || !in)) return RIPP_ERR_INVAL;
    if (codec == RIPP_CODEC_PCMU) {
        for (size_t i = 0; i < n; i++)
            pcm[i] = ulaw_to_linear(in[i]);
    } else {
        for (size_t i = 0; i < n; i++)
            pcm[i] = alaw_to_linear(in[i]);
    }
    return (int)n;
}
