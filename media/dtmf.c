/* dtmf.c - RFC 4733 telephone-event payloads, the digit scheduler of the send side and
 * digit recognition on the receive side. */
#include <string.h>

#include "ripp/media.h"
#include "media_int.h"

static const char dtmf_chars[16] = "0123456789*#ABCD";

int ripp_tel_event_encode(const ripp_tel_event *ev, uint8_t out[4])
{
    if (!ev || !out || ev->volume > 63) return RIPP_ERR_INVAL;
    out[0] = ev->event;
    out[1] = (uint8_t)((ev->end ? 0x80 : 0) | (ev->volume & 0x3f));
    out[2] = (uint8_t)(ev->duration >> 8);
    out[3] = (uint8_t)(ev->duration & 0xff);
    return 0;
}

int ripp_tel_event_decode(const uint8_t *in, size_t len, ripp_tel_event *ev)
{
    if (!ev || (len > 0 && !in)) return RIPP_ERR_INVAL;
    if (len < 4) return RIPP_ERR_PROTO;
    ev->event = in[0];
    ev->end = (in[1] & 0x80) != 0;
    ev->volume = in[1] & 0x3f; /* the R bit (0x40) is reserved and ignored */
    ev->duration = (uint16_t)((in[2] << 8) | in[3]);
    return 0;
}

int ripp_dtmf_event_from_char(char c)
{
    if (c >= 'a' && c <= 'd') c = (char)(c - 'a' + 'A');
    if (c == '\0') return RIPP_ERR_INVAL;
    const char *p = memchr(dtmf_chars, c, sizeof(dtmf_chars));
    return p ? (int)(p - dtmf_chars) : RIPP_ERR_INVAL;
}

char ripp_dtmf_char(uint8_t event)
{
    return event < 16 ? dtmf_chars[event] : '\0';
}

/* ---- send side ---- */

void ripp_dtmf_tx_init(ripp_dtmf_tx *s, uint32_t frame_ms, uint32_t tone_ms, uint32_t gap_ms,
                       uint8_t volume)
{
    memset(s, 0, sizeof(*s));
    s->frame_ms = frame_ms;
    s->tone_frames = (tone_ms + frame_ms - 1) / frame_ms;
    if (s->tone_frames == 0) s->tone_frames = 1;
    s->gap_frames = (gap_ms + frame_ms - 1) / frame_ms;
    s->volume = volume > 63 ? 63 : volume;
    s->event = -1;
}

int ripp_dtmf_tx_queue(ripp_dtmf_tx *s, const char *digits)
{
    if (!s || !digits) return RIPP_ERR_INVAL;
    size_t n = strlen(digits);
    for (size_t i = 0; i < n; i++)
        if (ripp_dtmf_event_from_char(digits[i]) < 0) return RIPP_ERR_INVAL;
    if (n > RIPP_DTMF_QUEUE_MAX - s->qlen) return RIPP_ERR_LIMIT;
    for (size_t i = 0; i < n; i++) {
        size_t at = (s->qhead + s->qlen) % RIPP_DTMF_QUEUE_MAX;
        s->queue[at] = (uint8_t)ripp_dtmf_event_from_char(digits[i]);
        s->qlen++;
    }
    return 0;
}

bool ripp_dtmf_tx_pending(const ripp_dtmf_tx *s)
{
    return s && (s->qlen > 0 || s->event >= 0);
}

int ripp_dtmf_tx_next(ripp_dtmf_tx *s, uint8_t out[4])
{
    if (s->gap_left > 0) {
        s->gap_left--;
        return 0;
    }
    if (s->event < 0) {
        if (s->qlen == 0) return 0;
        s->event = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % RIPP_DTMF_QUEUE_MAX;
        s->qlen--;
        s->index = 0;
    }
    uint32_t dur = (s->index + 1) * s->frame_ms * RIPP_SAMPLES_PER_MS;
    ripp_tel_event ev = {
        .event = (uint8_t)s->event,
        .end = s->index + 1 >= s->tone_frames,
        .volume = s->volume,
        .duration = dur > UINT16_MAX ? UINT16_MAX : (uint16_t)dur,
    };
    ripp_tel_event_encode(&ev, out);
    s->index++;
    if (ev.end) {
        s->event = -1;
        s->gap_left = s->gap_frames;
    }
    return 1;
}

/* ---- receive side ---- */

void ripp_dtmf_detect_reset(ripp_dtmf_detect *d)
{
    d->active = false;
    d->end = false;
    d->event = 0;
    d->duration = 0;
}

char ripp_dtmf_detect_feed(ripp_dtmf_detect *d, const ripp_tel_event *ev)
{
    bool fresh;
    if (!d->active || ev->event != d->event || ev->duration < d->duration)
        fresh = true;
    else if (d->end)
        /* After the end, only a repeated end packet of the same event is not new. */
        fresh = !(ev->end && ev->duration == d->duration);
    else
        fresh = false;
    d->active = true;
    d->event = ev->event;
    d->end = ev->end;
    d->duration = ev->duration;
    return fresh ? ripp_dtmf_char(ev->event) : '\0';
}
