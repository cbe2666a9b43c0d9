/* callmedia.h - what one end of a call does with audio: play a WAV (once or looped) or echo
 * what it hears, record what it hears to a WAV, send DTMF digits, collect received digits.
 * It turns the engine's per-interval hooks (next_frame, on_playout) into audio through the
 * media pipelines of media.h. */
#ifndef RIPP_CALLMEDIA_H
#define RIPP_CALLMEDIA_H

#include "ripp/caps.h"
#include "ripp/media.h"

typedef struct ripp_callmedia ripp_callmedia;

typedef struct ripp_callmedia_config {
    enum ripp_codec codec;   /* voice codec to send; NONE: the codec the peer sends (or PCMU) */
    ripp_caps peer_caps;     /* what the peer accepts: Opus limits, force-cbr */
    uint32_t frame_ms;       /* default 20 */
    const char *play_path;   /* WAV to send; NULL: silence (or echo) */
    bool loop;               /* restart the WAV at its end */
    bool echo;               /* send back what is received (after the jitter buffer) */
    const char *record_path; /* WAV of what is received; NULL: not recorded */
} ripp_callmedia_config;

/* Returns NULL with *err and a reason in errbuf (unreadable WAV, bad codec ...). */
ripp_callmedia *ripp_callmedia_new(const ripp_callmedia_config *cfg, int *err, char *errbuf,
                                   size_t errcap);
/* Finishes the recording. */
void ripp_callmedia_del(ripp_callmedia *m);
/* Queue DTMF digits to send. */
int ripp_callmedia_dtmf(ripp_callmedia *m, const char *digits);
/* The engine's next_frame hook; rx_codec is the codec the peer sends voice in. */
int64_t ripp_callmedia_next_frame(ripp_callmedia *m, enum ripp_codec rx_codec,
                                  enum ripp_codec *codec, uint8_t *buf, size_t cap);
/* The engine's on_playout hook. */
void ripp_callmedia_playout(ripp_callmedia *m, const ripp_jbuf_out *out);
/* Digits received so far (NUL-terminated). */
const char *ripp_callmedia_digits(const ripp_callmedia *m);
/* A non-looping WAV has been sent completely, and no DTMF is pending. */
bool ripp_callmedia_done(const ripp_callmedia *m);
uint64_t ripp_callmedia_frames_played(const ripp_callmedia *m);

#endif
