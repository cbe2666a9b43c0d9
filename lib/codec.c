/* Media type names. */
#include <string.h>
#include <strings.h>

#include "ripp/codec.h"

static const char *const codec_names[RIPP_CODEC_COUNT] = {
    [RIPP_CODEC_NONE] = "",
    [RIPP_CODEC_PCMU] = "audio/PCMU",
    [RIPP_CODEC_PCMA] = "audio/PCMA",
    [RIPP_CODEC_OPUS] = "audio/opus",
    [RIPP_CODEC_TEL_EVENT] = "audio/telephone-event",
    [RIPP_CODEC_CN] = "audio/CN",
};

const char *ripp_codec_name(enum ripp_codec c)
{
    if ((int)c < 0 || c >= RIPP_CODEC_COUNT) return "";
    return codec_names[c];
}

enum ripp_codec ripp_codec_from_name(const char *name, size_t len)
{
    if (!name || len == 0) return RIPP_CODEC_NONE;
    for (int c = RIPP_CODEC_NONE + 1; c < RIPP_CODEC_COUNT; c++) {
        if (strlen(codec_names[c]) == len && strncasecmp(codec_names[c], name, len) == 0)
            return (enum ripp_codec)c;
    }
    return RIPP_CODEC_NONE;
}

bool ripp_codec_is_voice(enum ripp_codec c)
{
    return c == RIPP_CODEC_PCMU || c == RIPP_CODEC_PCMA || c == RIPP_CODEC_OPUS;
}
