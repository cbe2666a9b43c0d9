/* caps.h - capability advertisement documents (SPEC §5.1, D17, D24, D25). */
#ifndef RIPP_CAPS_H
#define RIPP_CAPS_H

#include "ripp/codec.h"

#define RIPP_CAPS_MAX_BYTES (64 * 1024)
#define RIPP_CAPS_MAX_EXTRA 32

/* What the sender of the document is willing to receive. Defaults per §5.1. */
typedef struct ripp_caps {
    uint32_t max_bitrate;          /* bit/s, default 64000; < 64000 is treated as 64000 (D17) */
    uint32_t max_samplerate;       /* Hz, default 8000, floor 8000 */
    uint32_t max_samplesize;       /* bits, default 16, floor 8 */
    bool force_cbr;                /* default false */
    bool two_channel;              /* default false */
    bool tnt;                      /* default false */
    uint32_t max_channels;         /* D24: default 1 */
    bool non_e164;                 /* D24: default false */
    bool codecs[RIPP_CODEC_COUNT]; /* indexed by enum ripp_codec; defaults: PCMU, opus,
                                      telephone-event, CN true; PCMA false */
    /* Codec names we know nothing about (e.g. "audio/g729"), kept so that a document
     * round-trips and so that validation can report them. */
    size_t n_extra;
    struct {
        char name[64];
        bool value;
    } extra[RIPP_CAPS_MAX_EXTRA];
    /* Members only emitted when explicitly configured (D24). */
    bool emit_max_channels, emit_non_e164;
} ripp_caps;

void ripp_caps_init_default(ripp_caps *c);
/* Lenient parse (D25): c is first set to the defaults; unknown names ignored; a malformed
 * value keeps the default and is logged; numbers below a floor are clamped (max-channels
 * to 1), numbers beyond 32 bits read as UINT32_MAX; booleans accept true/false and the
 * strings "true"/"false" (any case). Codec names match case-insensitively, the last
 * spelling winning; unknown codecs set to true go into `extra` (false is their default,
 * so they are not kept), at most RIPP_CAPS_MAX_EXTRA, names under 64 bytes. A present
 * max-channels / non-e164 sets its emit_ flag. Returns 0, RIPP_ERR_PROTO only when the
 * document is not a JSON object, RIPP_ERR_LIMIT when over 64 KiB. `warnings` (optional)
 * counts malformed members. */
int ripp_caps_parse(ripp_caps *c, const char *json, size_t len, int *warnings);
/* Emit only the members that differ from the defaults (a default trunk emits "{}"), in a
 * stable order: max-bitrate, max-samplerate, max-samplesize, force-cbr, two-channel, tnt,
 * max-channels (if emit_max_channels or != 1), non-e164 (if emit_non_e164 or true), the
 * known codecs in enum order, then the true extras. Returns the length (NUL-terminated),
 * RIPP_ERR_LIMIT, RIPP_ERR_NOMEM, or RIPP_ERR_INVAL for an extra name that is not UTF-8. */
int64_t ripp_caps_emit(const ripp_caps *c, char *out, size_t cap);
/* Strict check of a configured document before we serve it: 0 or RIPP_ERR_INVAL with a
 * reason in err (optional). max-bitrate must be >= 64000 when we send it. */
int ripp_caps_validate(const ripp_caps *c, char *err, size_t errcap);
/* Whether the receiver described by c accepts this codec. */
bool ripp_caps_accepts(const ripp_caps *c, enum ripp_codec codec);

#endif
