/* sched.h - the byway scheduler of one sending direction and channel (SPEC §4.2, §4.4,
 * D20, D21, D33, D38, P7).
 *
 * One sequence space per (direction, channel), shared by every codec (D20). A byway
 * carries one codec and at most one unacknowledged frame at a time. Sending rules:
 *   1. use an idle byway already committed to the frame's codec (least recently used), or an
 *      idle uncommitted one (server reverse byways, committed by their first frame);
 *   2. else, when this side may open byways (client, forward) and fewer than max_byways are
 *      open, open a new one carrying this frame;
 *   3. congestion (75 % rule): while blocked >= 75 % of the ceiling (max_byways for a side
 *      that opens its own byways, else the number open) no new frame is written; frames wait
 *      in a FIFO of at most max_queue frames (D21: 200 ms), the oldest dropped (lost) beyond.
 *      A side that cannot open byways asks for more through want_more_byways (open-reverse),
 *      at most once per open_reverse_interval;
 *   4. a byway whose frame stays unacked for stall_timeout is aborted and its frame counted
 *      lost (D38); the owner may open a replacement.
 * Pure: time is a parameter, writes go out through the ops table. */
#ifndef RIPP_SCHED_H
#define RIPP_SCHED_H

#include "ripp/event.h" /* enum ripp_dir */
#include "ripp/frame.h"
#include "ripp/media_hdr.h"
#include "ripp/stats.h"

#define RIPP_MAX_BYWAYS 20

enum ripp_byway_state {
    RIPP_BYWAY_FREE = 0, /* slot unused */
    RIPP_BYWAY_IDLE,     /* open, nothing in flight */
    RIPP_BYWAY_BLOCKED,  /* one frame in flight, waiting for its ack */
};

typedef struct ripp_byway {
    enum ripp_byway_state state;
    enum ripp_codec codec; /* RIPP_CODEC_NONE until the first frame commits it */
    uint32_t seq_base;
    uint32_t inflight_seq;
    ripp_ts sent_at; /* monotonic send time of the in-flight frame */
    uint64_t sent_wall_us;
    ripp_ts last_used;
    uint64_t frames;
    void *user; /* the owner's handle (the transport exchange) */
} ripp_byway;

typedef struct ripp_sched_ops {
    /* Write one encoded frame record on byway idx. When hdr is non-NULL this is the first
     * frame on the byway and hdr must precede it: a client opens the forward byway now with
     * RIPP-Media = hdr (the slot was FREE, user is NULL: store the new exchange in
     * s->bw[idx].user); a server sends the reverse byway's response headers with
     * RIPP-Media = hdr. hdr and rec are valid during the call only. Returns 0, or a negative
     * error: the sched then frees the slot and counts the frame lost. It must not call
     * other ripp_sched functions. */
    int (*write_frame)(void *ud, int idx, void *user, const ripp_media_hdr *hdr, const uint8_t *rec,
                       size_t len);
    /* More byways are needed (server: send open-reverse with this count). Called when a
     * frame waits or blocked byways reach 75 % of those open, or after stalled byways were
     * aborted; count is enough to get back under 75 % (at least 1, at most max_byways minus
     * those open); at most once per open_reverse_interval. May be NULL. */
    void (*want_more_byways)(void *ud, uint32_t count);
    /* Abort byway idx (stalled, D38). The slot is already FREE when this is called. */
    void (*abort_byway)(void *ud, int idx, void *user);
} ripp_sched_ops;

typedef struct ripp_sched_config {
    enum ripp_dir dir;
    uint32_t channel; /* >= 1 */
    bool multi_channel;
    bool can_open;                 /* this side opens byways itself (client, forward) */
    uint32_t max_byways;           /* <= RIPP_MAX_BYWAYS; default 20 */
    uint32_t frame_ms;             /* 10/20/30/40/60 */
    uint64_t ts0_ms;               /* wall-clock ms of the media timestamp of seq 0 */
    uint32_t max_queue;            /* default 200 / frame_ms (D21) */
    ripp_ts stall_timeout;         /* default 1 s (D38) */
    ripp_ts open_reverse_interval; /* default 100 ms */
} ripp_sched_config;

typedef struct ripp_sched_qent ripp_sched_qent; /* private */

typedef struct ripp_sched {
    ripp_sched_config cfg;
    const ripp_sched_ops *ops;
    void *ud;
    ripp_byway bw[RIPP_MAX_BYWAYS];
    uint64_t next_seq;       /* next sequence number to assign */
    ripp_sched_qent **queue; /* ring of max_queue pointers, allocated on first congestion */
    uint32_t q_head, q_len;
    ripp_ts last_more_request; /* RIPP_TS_NEVER before the first request */
    /* wall clock at a known monotonic time, to stamp frames written later from the queue */
    uint64_t wall_ref_us;
    ripp_ts wall_ref_ts;
    uint64_t opened_total;
    ripp_stats stats;
} ripp_sched;

/* Zero fields of cfg take their defaults (channel 1, max_byways 20, frame_ms 20, ...).
 * Returns 0 or RIPP_ERR_INVAL (frame_ms not 10/20/30/40/60, max_byways > 20, channel
 * > 255, no ops or no write_frame). Allocates nothing. */
int ripp_sched_init(ripp_sched *s, const ripp_sched_config *cfg, const ripp_sched_ops *ops,
                    void *ud);
/* Frees queued frames. Byways are the owner's to close. */
void ripp_sched_free(ripp_sched *s);

/* A byway opened by the peer (server: a media-reverse request arrived). Returns the slot
 * index, or RIPP_ERR_LIMIT when max_byways are open (answer the request with an error).
 * The byway is idle and uncommitted; call ripp_sched_pump to write waiting frames on it. */
int ripp_sched_add_byway(ripp_sched *s, void *user);
/* Write queued frames as far as the rules allow now (after add_byway or remove_byway;
 * submit, on_ack and handle_expiry do it themselves). */
void ripp_sched_pump(ripp_sched *s, ripp_ts now);
/* Frames waiting in the queue. */
unsigned ripp_sched_queued(const ripp_sched *s);
/* A byway went away (closed, reset). An in-flight frame on it is counted lost. */
void ripp_sched_remove_byway(ripp_sched *s, int idx);

/* Submit the next frame of this direction: it takes the next sequence number (returned
 * through seq_out when non-NULL), and is written now or queued. payload is copied when
 * queued. Returns 0, RIPP_ERR_LIMIT when the sequence space is exhausted (the call must
 * end, M75), or RIPP_ERR_INVAL (len 0 or > 1500). Drops under congestion are not errors:
 * they are counted in stats.lost. */
int ripp_sched_submit(ripp_sched *s, enum ripp_codec codec, const uint8_t *payload, size_t len,
                      ripp_ts now, uint64_t wall_us, uint32_t *seq_out);

/* An ack arrived on byway idx. Returns 0, or RIPP_ERR_PROTO when it matches nothing in
 * flight on that byway (counted as stray, otherwise ignored). Unblocking may write queued
 * frames. */
int ripp_sched_on_ack(ripp_sched *s, int idx, const ripp_ack *ack, ripp_ts now);

/* Stall detection: a byway blocked for stall_timeout (inclusive) is aborted. */
ripp_ts ripp_sched_expiry(const ripp_sched *s);
void ripp_sched_handle_expiry(ripp_sched *s, ripp_ts now);

/* Counts for the owner's decisions and for the 75 % rule. */
unsigned ripp_sched_open_count(const ripp_sched *s);
unsigned ripp_sched_blocked_count(const ripp_sched *s);
/* Oldest in-flight send time, or RIPP_TS_NEVER (for the P3 "no ack" failure trigger). */
ripp_ts ripp_sched_oldest_inflight(const ripp_sched *s);
/* Drops the frames waiting for a byway, counted lost (a call that has ended sends no more;
 * frames in flight still get their acks). Returns how many. */
unsigned ripp_sched_drop_queued(ripp_sched *s);
/* At call end: count everything still in flight or queued as lost. */
void ripp_sched_finish(ripp_sched *s);

#endif
