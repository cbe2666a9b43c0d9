/* capAdv: whatever parses must emit, and the emitted document must parse back to the same
 * capabilities, with no warnings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/caps.h"

static bool same(const ripp_caps *a, const ripp_caps *b)
{
    if (a->max_bitrate != b->max_bitrate || a->max_samplerate != b->max_samplerate ||
        a->max_samplesize != b->max_samplesize || a->force_cbr != b->force_cbr ||
        a->two_channel != b->two_channel || a->tnt != b->tnt ||
        a->max_channels != b->max_channels || a->non_e164 != b->non_e164 ||
        memcmp(a->codecs, b->codecs, sizeof a->codecs) != 0 || a->n_extra != b->n_extra)
        return false;
    for (size_t i = 0; i < a->n_extra; i++) {
        if (strcmp(a->extra[i].name, b->extra[i].name) || a->extra[i].value != b->extra[i].value)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ripp_caps c, back;
    static char out[RIPP_CAPS_MAX_BYTES];
    int warn = 0;
    int rc = ripp_caps_parse(&c, (const char *)data, size, &warn);
    if (rc != 0) {
        if (rc != RIPP_ERR_PROTO && rc != RIPP_ERR_LIMIT) abort();
        return 0;
    }
    if (c.max_bitrate < 64000 || c.max_samplerate < 8000 || c.max_samplesize < 8 ||
        c.max_channels < 1 || c.n_extra > RIPP_CAPS_MAX_EXTRA)
        abort();
    int64_t n = ripp_caps_emit(&c, out, sizeof out);
    if (n <= 0 || (size_t)n != strlen(out)) abort();
    if (ripp_caps_parse(&back, out, (size_t)n, &warn) != 0 || warn != 0 || !same(&c, &back))
        abort();
    /* Validation never fails on the floors of a parsed document. */
    char err[128];
    bool voice =
        c.codecs[RIPP_CODEC_PCMU] || c.codecs[RIPP_CODEC_PCMA] || c.codecs[RIPP_CODEC_OPUS];
    if ((ripp_caps_validate(&c, err, sizeof err) == 0) != voice) abort();
    return 0;
}
