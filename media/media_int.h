/* media_int.h - declarations shared between the files of the media library only. */
#ifndef RIPP_MEDIA_INT_H
#define RIPP_MEDIA_INT_H

#include "ripp/media.h"

/* Frame intervals the media path supports: 10, 20, 30, 40 or 60 ms. */
bool ripp_media_frame_ms_ok(uint32_t ms);

/* xorshift32; state must not be 0. */
static inline uint32_t ripp_media_xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* The digit scheduler of the send side: each digit is ceil(tone/frame) event frames with a
 * growing duration, the last with E set, followed by ceil(gap/frame) voice intervals. */
#define RIPP_DTMF_QUEUE_MAX 256
typedef struct ripp_dtmf_tx {
    uint8_t queue[RIPP_DTMF_QUEUE_MAX]; /* events waiting, a ring */
    size_t qhead, qlen;
    int event;         /* in progress, or -1 */
    uint32_t index;    /* event frames of it sent so far */
    uint32_t gap_left; /* voice intervals still owed after the last digit */
    uint32_t frame_ms, tone_frames, gap_frames;
    uint8_t volume;
} ripp_dtmf_tx;

void ripp_dtmf_tx_init(ripp_dtmf_tx *s, uint32_t frame_ms, uint32_t tone_ms, uint32_t gap_ms,
                       uint8_t volume);
/* Validates all of digits first: RIPP_ERR_INVAL or RIPP_ERR_LIMIT queue nothing. */
int ripp_dtmf_tx_queue(ripp_dtmf_tx *s, const char *digits);
bool ripp_dtmf_tx_pending(const ripp_dtmf_tx *s);
/* 1 and out filled when this interval carries an event frame; 0 for a voice interval. */
int ripp_dtmf_tx_next(ripp_dtmf_tx *s, uint8_t out[4]);

#endif
