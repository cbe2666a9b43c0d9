/* media_hdr.h - the RIPP-Media header field (SPEC §4.3, D6, D29, D34, D35).
 *
 *   RIPP-Media: codec="audio/opus", seq-base=4711, ts-base=1562600000000, frame-ms=20, channel=1
 *
 * An RFC 8941 Dictionary. Required members: codec (sf-string), seq-base (0..2^32-1),
 * ts-base (ms since the epoch), frame-ms (10/20/30/40/60). Optional: channel (1..255,
 * default 1), multi-channel (boolean, default false). Unknown members are ignored, as
 * RFC 8941 asks; duplicates take the last value. The value is at most 1 KiB. */
#ifndef RIPP_MEDIA_HDR_H
#define RIPP_MEDIA_HDR_H

#include "ripp/codec.h"

#define RIPP_MEDIA_HDR_MAX 1024

typedef struct ripp_media_hdr {
    enum ripp_codec codec; /* RIPP_CODEC_NONE when the name is not one we know */
    char codec_name[64];   /* the name as received (for 415 errors and logs) */
    uint32_t seq_base;
    uint64_t ts_base; /* ms since the Unix epoch */
    uint32_t frame_ms;
    uint32_t channel; /* >= 1 */
    bool multi_channel;
} ripp_media_hdr;

/* Parse a header value (surrounding whitespace allowed; parameters on members are
 * accepted and ignored; a codec name longer than codec_name is truncated there). Returns 0,
 * RIPP_ERR_LIMIT (longer than 1 KiB) or RIPP_ERR_PROTO (not a valid dictionary, a required member
 * missing, a value of the wrong type or out of range). An unknown codec is NOT an error here: codec
 * == RIPP_CODEC_NONE and the caller answers 415. */
int ripp_media_hdr_parse(ripp_media_hdr *h, const char *value, size_t len);
/* Serialize: codec (the canonical name when codec is known, else codec_name), seq-base,
 * ts-base, frame-ms, channel, and multi-channel when true. Returns the string length
 * (NUL-terminated in out), RIPP_ERR_LIMIT, or RIPP_ERR_INVAL when a value is out of range
 * (frame-ms, channel, ts-base beyond 15 digits, a codec name byte outside 0x20..0x7e). */
int64_t ripp_media_hdr_format(const ripp_media_hdr *h, char *out, size_t cap);

#endif
