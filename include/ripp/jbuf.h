/* jbuf.h - the receiver jitter buffer (SPEC §4.5).
 *
 * Keyed by seq. Bounded and pool-backed: capacity slots of slot_size bytes are allocated at
 * init and nothing after. Duplicates and frames already past their playout point are
 * dropped (and counted); every received frame is still acked by the owner. Playout is
 * paced by the caller's clock: the first frame fixes the playout clock (seq s plays at
 * anchor + (s - s_anchor) * frame_ms + delay); the delay adapts to the measured
 * interarrival jitter between min_delay and max_delay, changing only at a gap or at a
 * comfort-noise frame so that speech is not stretched. */
#ifndef RIPP_JBUF_H
#define RIPP_JBUF_H

#include "ripp/codec.h"
#include "ripp/stats.h"

typedef struct ripp_jbuf_config {
    uint32_t frame_ms; /* default 20 */
    ripp_ts min_delay; /* default 20 ms */
    ripp_ts max_delay; /* default 200 ms */
    uint32_t capacity; /* slots; default max_delay / frame_ms + 8 */
    size_t slot_size;  /* bytes per slot; default 1500 */
} ripp_jbuf_config;

typedef struct ripp_jbuf_slot {
    bool used;
    uint32_t seq;
    enum ripp_codec codec;
    uint16_t len;
    uint8_t *data;
} ripp_jbuf_slot;

typedef struct ripp_jbuf {
    ripp_jbuf_config cfg;
    ripp_jbuf_slot *slots;
    uint8_t *pool;
    bool started;
    uint32_t next_seq; /* next seq to play out */
    ripp_ts next_due;  /* when next_seq plays */
    ripp_ts delay;     /* current playout delay */
    ripp_ts anchor_rx; /* arrival time of the anchor frame */
    uint32_t anchor_seq;
    double jitter_ns;    /* smoothed interarrival jitter */
    double offset_hw_ns; /* decaying maximum of how late frames arrive against the anchor */
    ripp_ts last_rx;
    uint32_t last_rx_seq;
    bool have_last;
    unsigned stored;            /* slots in use */
    bool played;                /* at least one pop returned a frame */
    uint32_t high_seq;          /* highest seq stored so far */
    enum ripp_codec last_codec; /* of the last frame played */
    uint8_t out[1500];          /* copy handed to pop() */
    ripp_stats *stats;          /* receiver counters are written here (may be NULL) */
    uint32_t resync_seq;        /* a frame far ahead of the window (see ripp_jbuf_put) */
    bool resync_pending;
    ripp_jbuf_slot stray; /* that frame, kept: a resync starts from it */
    ripp_ts stray_at;
    uint32_t shift; /* added to the sender's seqs: a jump continues the run (put) */
} ripp_jbuf;

/* Zero fields of cfg take defaults. Returns 0, RIPP_ERR_NOMEM or RIPP_ERR_INVAL (frame_ms
 * not one of 10/20/30/40/60, min_delay > max_delay, slot_size > 1500, capacity < 2).
 * Delays are used as whole multiples of frame_ms: min_delay rounds up, max_delay down.
 *
 * Delay adaptation: the interarrival jitter J is estimated as in RFC 3550 §6.4.1 from each
 * arrival time against the frame's nominal time (seq * frame_ms). A frame is on time when
 * its offset (arrival minus anchor + (seq - s_anchor) * frame_ms) is at most the delay; H
 * is the largest recent offset, decaying towards the current one over ~64 frames, so that a
 * lasting step in the path delay (which J alone forgets) is followed too. The target delay
 * is max(3 J, H + J) rounded up to a multiple of frame_ms (an excess below 1 ms is ignored)
 * and clamped to [min_delay, max_delay]: the anchor's own slot already holds each frame for
 * the delay, so no extra frame is added on top. When the frame due next is missing or comfort
 * noise, the delay grows by one frame by playing a concealed interval before it (the slot keeps
 * waiting), or shrinks by one frame by dropping it and playing the following slot at once. Until
 * the first pop, a frame older than the first one received moves the playout point back to it. */
int ripp_jbuf_init(ripp_jbuf *jb, const ripp_jbuf_config *cfg, ripp_stats *stats);
void ripp_jbuf_free(ripp_jbuf *jb);

/* A frame arrived. Returns 0 (stored), RIPP_ERR_DUP, RIPP_ERR_LATE (behind the playout
 * point), or RIPP_ERR_LIMIT (larger than slot_size, or too far ahead of the playout point
 * to fit).
 *
 * A jump in the sender's numbering (another instance took the call over and numbers past
 * the old one) is two consecutive frames one window or more ahead (RFC 3550 A.1 resyncs
 * likewise; one stray frame changes nothing and counts as late). The new run then continues
 * the old one: its first frame takes the place after the newest frame held (or the playout
 * point, if playout has gone past it), and the sender's numbers are shifted by as much from
 * then on, so that playout goes on without a pause. When the frames held leave no room for
 * it, the buffer starts again from the new run, dropping them. */
int ripp_jbuf_put(ripp_jbuf *jb, uint32_t seq, enum ripp_codec codec, const uint8_t *payload,
                  size_t len, ripp_ts now);

typedef struct ripp_jbuf_out {
    uint32_t seq;           /* in the buffer's numbering: the sender's, shifted by jumps */
    bool present;           /* false: the frame is missing; conceal it */
    enum ripp_codec codec;  /* of the frame, or of the last frame played when missing */
    const uint8_t *payload; /* valid until the next pop */
    size_t len;
} ripp_jbuf_out;

/* When a frame is due at `now`, fills out, advances, and returns 1; else returns 0. Call
 * it until it returns 0. Before the first frame it always returns 0. A missing frame counts
 * in stats->rx_concealed. */
int ripp_jbuf_pop(ripp_jbuf *jb, ripp_ts now, ripp_jbuf_out *out);
/* When the next pop will return 1; RIPP_TS_NEVER before the first frame. */
ripp_ts ripp_jbuf_next_due(const ripp_jbuf *jb);
/* Frames stored and not yet played. */
unsigned ripp_jbuf_depth(const ripp_jbuf *jb);

#endif
