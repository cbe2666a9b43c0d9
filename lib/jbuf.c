/* The receiver jitter buffer (SPEC §4.5). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/jbuf.h"

static bool frame_ms_ok(uint32_t ms)
{
    return ms == 10 || ms == 20 || ms == 30 || ms == 40 || ms == 60;
}

int ripp_jbuf_init(ripp_jbuf *jb, const ripp_jbuf_config *cfg, ripp_stats *stats)
{
    int rc = RIPP_ERR_INVAL;
    memset(jb, 0, sizeof *jb);
    ripp_jbuf_config c = cfg ? *cfg : (ripp_jbuf_config){0};
    if (!c.frame_ms) c.frame_ms = 20;
    if (!c.min_delay) c.min_delay = 20 * RIPP_NS_PER_MS;
    if (!c.max_delay) c.max_delay = 200 * RIPP_NS_PER_MS;
    if (!c.slot_size) c.slot_size = sizeof jb->out;
    if (!frame_ms_ok(c.frame_ms) || c.min_delay > c.max_delay || c.slot_size > sizeof jb->out)
        goto out;
    ripp_ts frame = (ripp_ts)c.frame_ms * RIPP_NS_PER_MS;
    c.min_delay = (c.min_delay + frame - 1) / frame * frame;
    c.max_delay = c.max_delay / frame * frame;
    if (c.max_delay < c.min_delay) c.max_delay = c.min_delay;
    if (!c.capacity) c.capacity = (uint32_t)(c.max_delay / frame) + 8;
    if (c.capacity < 2 || c.capacity > (1u << 20)) goto out;

    rc = RIPP_ERR_NOMEM;
    jb->slots = calloc(c.capacity, sizeof *jb->slots);
    jb->pool = malloc(((size_t)c.capacity + 1) * c.slot_size); /* + the stray frame */
    if (!jb->slots || !jb->pool) {
        free(jb->slots);
        free(jb->pool);
        jb->slots = NULL;
        jb->pool = NULL;
        goto out;
    }
    for (uint32_t i = 0; i < c.capacity; i++)
        jb->slots[i].data = jb->pool + (size_t)i * c.slot_size;
    jb->stray.data = jb->pool + (size_t)c.capacity * c.slot_size;
    jb->cfg = c;
    jb->stats = stats;
    jb->delay = c.min_delay;
    jb->last_codec = RIPP_CODEC_NONE;
    rc = 0;
out:
    return rc;
}

void ripp_jbuf_free(ripp_jbuf *jb)
{
    free(jb->slots);
    free(jb->pool);
    jb->slots = NULL;
    jb->pool = NULL;
    jb->stored = 0;
}

static ripp_ts frame_ns(const ripp_jbuf *jb)
{
    return (ripp_ts)jb->cfg.frame_ms * RIPP_NS_PER_MS;
}

/* RFC 3550 §6.4.1, with the frame's nominal time standing in for the RTP timestamp. */
static void update_jitter(ripp_jbuf *jb, uint32_t seq, ripp_ts now)
{
    double frame = (double)frame_ns(jb);
    /* A burst of old frames (a flush after a reconnect) says little about the path: bound
     * what one arrival can do to the estimates to what the delay could ever absorb. */
    double cap = (double)jb->cfg.max_delay + frame;
    double offset =
        (double)now - (double)jb->anchor_rx - ((double)seq - (double)jb->anchor_seq) * frame;
    if (offset > cap) offset = cap;
    if (jb->have_last) {
        double arrival = (double)now - (double)jb->last_rx;
        double nominal = ((double)seq - (double)jb->last_rx_seq) * frame;
        double d = fabs(arrival - nominal);
        if (d > cap) d = cap;
        jb->jitter_ns += (d - jb->jitter_ns) / 16.0;
        if (offset > jb->offset_hw_ns)
            jb->offset_hw_ns = offset;
        else
            jb->offset_hw_ns += (offset - jb->offset_hw_ns) / 64.0;
    } else {
        jb->offset_hw_ns = offset;
    }
    jb->have_last = true;
    jb->last_rx = now;
    jb->last_rx_seq = seq;
}

/* The anchor frame's own slot already gives every frame a cushion of the whole delay: a
 * frame is on time while its offset stays within it. So the cushion needed is the larger
 * of the recent offset high-water mark and three times the jitter; the first millisecond
 * above a frame boundary is ignored, since clock granularity alone causes that much. */
#define JITTER_SLACK RIPP_NS_PER_MS

static ripp_ts target_delay(const ripp_jbuf *jb)
{
    ripp_ts frame = frame_ns(jb);
    double want = 3.0 * jb->jitter_ns;
    if (jb->offset_hw_ns + jb->jitter_ns > want) want = jb->offset_hw_ns + jb->jitter_ns;
    want -= (double)JITTER_SLACK;
    if (want < 0) want = 0;
    if (want >= (double)jb->cfg.max_delay) return jb->cfg.max_delay;
    ripp_ts t = ((ripp_ts)want + frame - 1) / frame * frame;
    if (t < jb->cfg.min_delay) t = jb->cfg.min_delay;
    if (t > jb->cfg.max_delay) t = jb->cfg.max_delay;
    return t;
}

static void store(ripp_jbuf *jb, uint32_t seq, enum ripp_codec codec, const uint8_t *payload,
                  size_t len)
{
    ripp_jbuf_slot *sl = &jb->slots[seq % jb->cfg.capacity];
    sl->used = true;
    sl->seq = seq;
    sl->codec = codec;
    sl->len = (uint16_t)len;
    memcpy(sl->data, payload, len);
    jb->stored++;
    if (seq > jb->high_seq) jb->high_seq = seq;
    if (jb->stats) jb->stats->rx_frames++;
}

/* A frame held as the start of a possible jump, and no jump followed: it arrived, but will
 * never be played (counted as late). */
static void drop_stray(ripp_jbuf *jb)
{
    if (!jb->resync_pending) return;
    jb->resync_pending = false;
    if (jb->stats) jb->stats->rx_late++;
}

/* seq is in the buffer's numbering: the sender's plus jb->shift (see the jump below). */
static int put_at(ripp_jbuf *jb, uint32_t seq, enum ripp_codec codec, const uint8_t *payload,
                  size_t len, ripp_ts now)
{
    if (len == 0 || !payload) return RIPP_ERR_INVAL;
    if (len > jb->cfg.slot_size) return RIPP_ERR_LIMIT;
    if (!jb->started) {
        jb->started = true;
        jb->anchor_rx = now;
        jb->anchor_seq = seq;
        jb->next_seq = seq;
        jb->high_seq = seq;
        jb->next_due = now + jb->delay;
        update_jitter(jb, seq, now);
        store(jb, seq, codec, payload, len);
        return 0;
    }
    uint32_t cap = jb->cfg.capacity;
    if (seq < jb->next_seq) {
        /* Striping may deliver a frame before its predecessor; until playout has begun
         * the earlier one can still take its place at the front. */
        if (!jb->played && (uint64_t)jb->high_seq - seq < cap) {
            ripp_ts back = (ripp_ts)(jb->next_seq - seq) * frame_ns(jb);
            jb->next_due = jb->next_due > back ? jb->next_due - back : 0;
            jb->next_seq = seq;
        } else {
            update_jitter(jb, seq, now);
            if (jb->stats) jb->stats->rx_late++;
            return RIPP_ERR_LATE;
        }
    }
    if ((uint64_t)seq - jb->next_seq >= cap) {
        /* Two consecutive frames beyond the window are a jump in the sender's numbering
         * (another instance took the call over and numbers past the old one) or a backlog
         * larger than the window (flushed after an outage): start again from them, as RFC
         * 3550 A.1 resyncs after a jump; the older frames held are dropped, being late.
         * Without it, frames between one and two windows ahead were refused for the rest of
         * the call, since playout and arrivals advance alike. One stray frame alone changes
         * nothing. */
        if (jb->resync_pending && seq == jb->resync_seq + 1) {
            /* The new run continues the old one: its first frame takes the place right
             * after the newest frame held (or the playout point, if playout has gone past
             * it), so the frames held play out first and the new ones follow without a
             * pause: a call moved to another instance sounds continuous. The sender's
             * numbers are shifted from then on. When the held frames leave no room (a
             * backlog beyond the window), the buffer starts again from the new run. */
            uint32_t base = jb->high_seq + 1;
            if ((int32_t)(jb->next_seq - base) > 0) base = jb->next_seq;
            if (jb->started && base + 1 - jb->next_seq < cap) {
                uint32_t delta = base - jb->resync_seq;
                jb->shift += delta;
                jb->resync_pending = false;
                jb->have_last = false; /* the jump says nothing about the path's jitter */
                put_at(jb, jb->resync_seq + delta, (enum ripp_codec)jb->stray.codec,
                       jb->stray.data, jb->stray.len, jb->stray_at);
                return put_at(jb, seq + delta, codec, payload, len, now);
            }
            for (uint32_t i = 0; i < cap; i++)
                jb->slots[i].used = false;
            jb->stored = 0;
            jb->started = false;
            jb->played = false;
            jb->have_last = false;
            jb->resync_pending = false;
            /* the frame that announced the jump first: it is part of the new run */
            put_at(jb, jb->resync_seq, (enum ripp_codec)jb->stray.codec, jb->stray.data,
                   jb->stray.len, jb->stray_at);
            return put_at(jb, seq, codec, payload, len, now);
        }
        drop_stray(jb);
        jb->resync_pending = true;
        jb->resync_seq = seq;
        jb->stray.codec = codec;
        jb->stray.len = (uint16_t)len;
        memcpy(jb->stray.data, payload, len);
        jb->stray_at = now;
        return RIPP_ERR_LIMIT;
    }
    drop_stray(jb);
    ripp_jbuf_slot *sl = &jb->slots[seq % cap];
    if (sl->used && sl->seq == seq) {
        if (jb->stats) jb->stats->rx_duplicates++;
        return RIPP_ERR_DUP;
    }
    update_jitter(jb, seq, now);
    store(jb, seq, codec, payload, len);
    return 0;
}

int ripp_jbuf_put(ripp_jbuf *jb, uint32_t seq, enum ripp_codec codec, const uint8_t *payload,
                  size_t len, ripp_ts now)
{
    return put_at(jb, seq + jb->shift, codec, payload, len, now);
}

static ripp_jbuf_slot *slot_of(ripp_jbuf *jb, uint32_t seq)
{
    ripp_jbuf_slot *sl = &jb->slots[seq % jb->cfg.capacity];
    return sl->used && sl->seq == seq ? sl : NULL;
}

static void drop_slot(ripp_jbuf *jb, ripp_jbuf_slot *sl)
{
    if (sl) {
        sl->used = false;
        jb->stored--;
    }
}

static void conceal(ripp_jbuf *jb, ripp_jbuf_out *out)
{
    out->seq = jb->next_seq;
    out->present = false;
    out->codec = jb->last_codec;
    out->payload = NULL;
    out->len = 0;
    if (jb->stats) jb->stats->rx_concealed++;
}

int ripp_jbuf_pop(ripp_jbuf *jb, ripp_ts now, ripp_jbuf_out *out)
{
    if (!jb->started || now < jb->next_due) return 0;
    ripp_ts frame = frame_ns(jb);
    jb->played = true;
    ripp_jbuf_slot *sl = slot_of(jb, jb->next_seq);
    if (!sl || sl->codec == RIPP_CODEC_CN) {
        ripp_ts target = target_delay(jb);
        if (target > jb->delay) {
            /* Grow: an extra concealed interval; the slot waits one more frame. */
            jb->delay += frame;
            jb->next_due += frame;
            conceal(jb, out);
            return 1;
        }
        if (target < jb->delay) {
            /* Shrink: drop the gap or the noise frame and play the next slot now. */
            jb->delay -= frame;
            drop_slot(jb, sl);
            jb->next_seq++;
            sl = slot_of(jb, jb->next_seq);
        }
    }
    if (sl) {
        memcpy(jb->out, sl->data, sl->len);
        out->seq = jb->next_seq;
        out->present = true;
        out->codec = sl->codec;
        out->payload = jb->out;
        out->len = sl->len;
        jb->last_codec = sl->codec;
        drop_slot(jb, sl);
    } else {
        conceal(jb, out);
    }
    jb->next_seq++;
    jb->next_due += frame;
    return 1;
}

ripp_ts ripp_jbuf_next_due(const ripp_jbuf *jb)
{
    return jb->started ? jb->next_due : RIPP_TS_NEVER;
}

unsigned ripp_jbuf_depth(const ripp_jbuf *jb)
{
    return jb->stored;
}
