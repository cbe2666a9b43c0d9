/* RIPP-Media: whatever parses must format, and the formatted value must parse back to the
 * same header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/media_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ripp_media_hdr h, back;
    int rc = ripp_media_hdr_parse(&h, (const char *)data, size);
    if (size > RIPP_MEDIA_HDR_MAX && rc != RIPP_ERR_LIMIT) abort();
    if (rc != 0) {
        if (rc != RIPP_ERR_PROTO && rc != RIPP_ERR_LIMIT) abort();
        return 0;
    }
    if (h.frame_ms % 10 != 0 || h.channel < 1 || h.channel > 255) abort();
    char out[RIPP_MEDIA_HDR_MAX];
    int64_t n = ripp_media_hdr_format(&h, out, sizeof out);
    if (n <= 0 || (size_t)n != strlen(out)) abort();
    if (ripp_media_hdr_parse(&back, out, (size_t)n) != 0) abort();
    if (back.codec != h.codec || back.seq_base != h.seq_base || back.ts_base != h.ts_base ||
        back.frame_ms != h.frame_ms || back.channel != h.channel ||
        back.multi_channel != h.multi_channel)
        abort();
    /* A known codec is written under its canonical name. */
    if (h.codec == RIPP_CODEC_NONE ? strcmp(back.codec_name, h.codec_name) != 0
                                   : strcmp(back.codec_name, ripp_codec_name(h.codec)) != 0)
        abort();
    return 0;
}
