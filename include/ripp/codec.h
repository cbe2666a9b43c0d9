/* codec.h - the media types RIPP carries, by their IANA names (SPEC §4.3, §4.6). */
#ifndef RIPP_CODEC_H
#define RIPP_CODEC_H

#include "ripp/ripp.h"

enum ripp_codec {
    RIPP_CODEC_NONE = 0,
    RIPP_CODEC_PCMU,      /* audio/PCMU, G.711 µ-law, 8 kHz */
    RIPP_CODEC_PCMA,      /* audio/PCMA, G.711 A-law, 8 kHz */
    RIPP_CODEC_OPUS,      /* audio/opus, one Opus packet per frame */
    RIPP_CODEC_TEL_EVENT, /* audio/telephone-event, RFC 4733 4-byte event block */
    RIPP_CODEC_CN,        /* audio/CN, RFC 3389 noise level (+ optional spectrum) */
    RIPP_CODEC_COUNT
};

/* "audio/PCMU" etc.; "" for NONE. */
const char *ripp_codec_name(enum ripp_codec c);
/* Case-insensitive match of a media type name; RIPP_CODEC_NONE if unknown. */
enum ripp_codec ripp_codec_from_name(const char *name, size_t len);
/* Voice codecs carry audio; telephone-event and CN are auxiliary. */
bool ripp_codec_is_voice(enum ripp_codec c);

#endif
