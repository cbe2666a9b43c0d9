/* The byway scheduler of one sending direction and channel (SPEC §4.2, §4.4, D20, D21,
 * D33, D38, P7). */
#include <stdlib.h>
#include <string.h>

#include "ripp/sched.h"

struct ripp_sched_qent {
    enum ripp_codec codec;
    uint32_t seq;
    size_t len;
    uint8_t payload[];
};

enum { TRY_SENT, TRY_WAIT, TRY_LOST };

static bool frame_ms_ok(uint32_t ms)
{
    return ms == 10 || ms == 20 || ms == 30 || ms == 40 || ms == 60;
}

int ripp_sched_init(ripp_sched *s, const ripp_sched_config *cfg, const ripp_sched_ops *ops,
                    void *ud)
{
    memset(s, 0, sizeof *s);
    if (!cfg || !ops || !ops->write_frame) return RIPP_ERR_INVAL;
    ripp_sched_config c = *cfg;
    if (!c.channel) c.channel = 1;
    if (!c.max_byways) c.max_byways = RIPP_MAX_BYWAYS;
    if (!c.frame_ms) c.frame_ms = 20;
    if (!frame_ms_ok(c.frame_ms) || c.max_byways > RIPP_MAX_BYWAYS || c.channel > 255)
        return RIPP_ERR_INVAL;
    if (!c.max_queue) c.max_queue = 200 / c.frame_ms;
    if (!c.stall_timeout) c.stall_timeout = RIPP_NS_PER_SEC;
    if (!c.open_reverse_interval) c.open_reverse_interval = 100 * RIPP_NS_PER_MS;
    s->cfg = c;
    s->ops = ops;
    s->ud = ud;
    s->last_more_request = RIPP_TS_NEVER;
    ripp_stats_init(&s->stats);
    return 0;
}

static void queue_clear(ripp_sched *s)
{
    for (uint32_t i = 0; i < s->q_len; i++)
        free(s->queue[(s->q_head + i) % s->cfg.max_queue]);
    s->q_head = 0;
    s->q_len = 0;
}

void ripp_sched_free(ripp_sched *s)
{
    if (s->queue) queue_clear(s);
    free(s->queue);
    s->queue = NULL;
}

unsigned ripp_sched_open_count(const ripp_sched *s)
{
    unsigned n = 0;
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++)
        n += s->bw[i].state != RIPP_BYWAY_FREE;
    return n;
}

unsigned ripp_sched_blocked_count(const ripp_sched *s)
{
    unsigned n = 0;
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++)
        n += s->bw[i].state == RIPP_BYWAY_BLOCKED;
    return n;
}

unsigned ripp_sched_queued(const ripp_sched *s)
{
    return s->q_len;
}

/* The 75 % rule, against max_byways for a side that opens its own byways (it can always
 * add more below that), else against the byways the peer has opened. */
static bool congested(const ripp_sched *s)
{
    unsigned ceiling = s->cfg.can_open ? s->cfg.max_byways : ripp_sched_open_count(s);
    return ripp_sched_blocked_count(s) * 4 >= ceiling * 3;
}

/* An idle byway for this frame: committed to the codec, least recently used first; else an
 * uncommitted one. Ties go to the lowest index. */
static int pick_idle(const ripp_sched *s, enum ripp_codec codec, uint32_t seq)
{
    int best = -1, fresh = -1;
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++) {
        const ripp_byway *b = &s->bw[i];
        if (b->state != RIPP_BYWAY_IDLE) continue;
        if (b->codec == RIPP_CODEC_NONE) {
            if (fresh < 0 || b->last_used < s->bw[fresh].last_used) fresh = i;
        } else if (b->codec == codec && seq >= b->seq_base) {
            if (best < 0 || b->last_used < s->bw[best].last_used) best = i;
        }
    }
    return best >= 0 ? best : fresh;
}

static int free_slot(const ripp_sched *s)
{
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++)
        if (s->bw[i].state == RIPP_BYWAY_FREE) return i;
    return -1;
}

static uint64_t wall_at(const ripp_sched *s, ripp_ts now)
{
    if (now <= s->wall_ref_ts) return s->wall_ref_us;
    return s->wall_ref_us + (now - s->wall_ref_ts) / RIPP_NS_PER_US;
}

static int try_write(ripp_sched *s, enum ripp_codec codec, uint32_t seq, const uint8_t *payload,
                     size_t len, ripp_ts now)
{
    if (congested(s)) return TRY_WAIT;
    int idx = pick_idle(s, codec, seq);
    bool opening = false;
    if (idx < 0) {
        if (!s->cfg.can_open || ripp_sched_open_count(s) >= s->cfg.max_byways) return TRY_WAIT;
        idx = free_slot(s);
        if (idx < 0) return TRY_WAIT;
        opening = true;
        memset(&s->bw[idx], 0, sizeof s->bw[idx]);
    }
    ripp_byway *b = &s->bw[idx];
    ripp_media_hdr hdr, *hdrp = NULL;
    if (b->codec == RIPP_CODEC_NONE) {
        /* This frame commits the byway: its header carries the bases. */
        b->codec = codec;
        b->seq_base = seq;
        memset(&hdr, 0, sizeof hdr);
        hdr.codec = codec;
        const char *name = ripp_codec_name(codec);
        size_t nl = strnlen(name, sizeof hdr.codec_name - 1);
        memcpy(hdr.codec_name, name, nl);
        hdr.seq_base = seq;
        hdr.ts_base = s->cfg.ts0_ms + (uint64_t)seq * s->cfg.frame_ms;
        hdr.frame_ms = s->cfg.frame_ms;
        hdr.channel = s->cfg.channel;
        hdr.multi_channel = s->cfg.multi_channel;
        hdrp = &hdr;
    }
    b->state = RIPP_BYWAY_BLOCKED;
    b->inflight_seq = seq;

    uint8_t rec[RIPP_FRAME_MAX_RECORD];
    int64_t n = ripp_frame_encode(rec, sizeof rec, (uint64_t)(seq - b->seq_base), payload, len);
    int rc = n < 0 ? (int)n : s->ops->write_frame(s->ud, idx, b->user, hdrp, rec, (size_t)n);
    if (rc < 0) {
        ripp_log(RIPP_LOG_WARN, "sched: writing frame %u on byway %d failed: %s", seq, idx,
                 ripp_strerror(rc));
        memset(b, 0, sizeof *b);
        ripp_stats_on_lost(&s->stats, 1);
        return TRY_LOST;
    }
    b->sent_at = now;
    b->sent_wall_us = wall_at(s, now);
    b->last_used = now;
    b->frames++;
    if (opening) s->opened_total++;
    ripp_stats_on_sent(&s->stats);
    return TRY_SENT;
}

static void request_more(ripp_sched *s, ripp_ts now, unsigned at_least)
{
    if (s->cfg.can_open || !s->ops->want_more_byways) return;
    unsigned open = ripp_sched_open_count(s), blocked = ripp_sched_blocked_count(s);
    /* none open yet: the peer opens its byways (ten at once) as the call starts */
    if (open == 0) return;
    bool cong = blocked * 4 >= open * 3;
    if (!at_least && !cong && s->q_len == 0) return;
    if (open >= s->cfg.max_byways) return;
    if (s->last_more_request != RIPP_TS_NEVER &&
        now - s->last_more_request < s->cfg.open_reverse_interval)
        return;
    /* smallest n with blocked < 75 % of (open + n) */
    unsigned need = blocked * 4 / 3 + 1;
    unsigned n = need > open ? need - open : 0;
    if (n < at_least) n = at_least;
    if (n < 1) n = 1;
    if (n > s->cfg.max_byways - open) n = s->cfg.max_byways - open;
    s->last_more_request = now;
    s->ops->want_more_byways(s->ud, n);
}

static void queue_drop_head(ripp_sched *s)
{
    free(s->queue[s->q_head]);
    s->queue[s->q_head] = NULL;
    s->q_head = (s->q_head + 1) % s->cfg.max_queue;
    s->q_len--;
}

static void enqueue(ripp_sched *s, enum ripp_codec codec, uint32_t seq, const uint8_t *payload,
                    size_t len)
{
    if (!s->queue) {
        s->queue = calloc(s->cfg.max_queue, sizeof *s->queue);
        if (!s->queue) {
            ripp_stats_on_lost(&s->stats, 1);
            return;
        }
    }
    ripp_sched_qent *e = malloc(sizeof *e + len);
    if (!e) {
        ripp_stats_on_lost(&s->stats, 1);
        return;
    }
    e->codec = codec;
    e->seq = seq;
    e->len = len;
    memcpy(e->payload, payload, len);
    if (s->q_len == s->cfg.max_queue) {
        /* D21: bounded latency; the oldest frame is the least useful. */
        queue_drop_head(s);
        ripp_stats_on_lost(&s->stats, 1);
    }
    s->queue[(s->q_head + s->q_len) % s->cfg.max_queue] = e;
    s->q_len++;
}

static void pump(ripp_sched *s, ripp_ts now)
{
    while (s->q_len > 0) {
        ripp_sched_qent *e = s->queue[s->q_head];
        if (try_write(s, e->codec, e->seq, e->payload, e->len, now) == TRY_WAIT) break;
        queue_drop_head(s);
    }
}

void ripp_sched_pump(ripp_sched *s, ripp_ts now)
{
    pump(s, now);
    request_more(s, now, 0);
}

int ripp_sched_submit(ripp_sched *s, enum ripp_codec codec, const uint8_t *payload, size_t len,
                      ripp_ts now, uint64_t wall_us, uint32_t *seq_out)
{
    if (len == 0 || len > RIPP_FRAME_MAX_PAYLOAD || !payload) return RIPP_ERR_INVAL;
    if (s->next_seq > UINT32_MAX) return RIPP_ERR_LIMIT;
    uint32_t seq = (uint32_t)s->next_seq++;
    if (seq_out) *seq_out = seq;
    s->wall_ref_us = wall_us;
    s->wall_ref_ts = now;

    pump(s, now);
    if (s->q_len > 0 || try_write(s, codec, seq, payload, len, now) == TRY_WAIT)
        enqueue(s, codec, seq, payload, len);
    request_more(s, now, 0);
    return 0;
}

int ripp_sched_add_byway(ripp_sched *s, void *user)
{
    if (ripp_sched_open_count(s) >= s->cfg.max_byways) return RIPP_ERR_LIMIT;
    int idx = free_slot(s);
    if (idx < 0) return RIPP_ERR_LIMIT;
    ripp_byway *b = &s->bw[idx];
    memset(b, 0, sizeof *b);
    b->state = RIPP_BYWAY_IDLE;
    b->codec = RIPP_CODEC_NONE;
    b->user = user;
    s->opened_total++;
    return idx;
}

void ripp_sched_remove_byway(ripp_sched *s, int idx)
{
    if (idx < 0 || idx >= RIPP_MAX_BYWAYS) return;
    if (s->bw[idx].state == RIPP_BYWAY_BLOCKED) ripp_stats_on_lost(&s->stats, 1);
    memset(&s->bw[idx], 0, sizeof s->bw[idx]);
}

int ripp_sched_on_ack(ripp_sched *s, int idx, const ripp_ack *ack, ripp_ts now)
{
    ripp_byway *b = idx >= 0 && idx < RIPP_MAX_BYWAYS ? &s->bw[idx] : NULL;
    if (!b || b->state != RIPP_BYWAY_BLOCKED || ack->seq != b->inflight_seq ||
        ack->channel != s->cfg.channel) {
        s->stats.stray_acks++;
        return RIPP_ERR_PROTO;
    }
    ripp_ts rtt = now > b->sent_at ? now - b->sent_at : 0;
    int64_t owd = (int64_t)ack->rx_time_us - (int64_t)b->sent_wall_us;
    ripp_stats_on_ack(&s->stats, rtt, owd);
    b->state = RIPP_BYWAY_IDLE;
    pump(s, now);
    request_more(s, now, 0);
    return 0;
}

ripp_ts ripp_sched_expiry(const ripp_sched *s)
{
    ripp_ts oldest = ripp_sched_oldest_inflight(s);
    return oldest == RIPP_TS_NEVER ? RIPP_TS_NEVER : oldest + s->cfg.stall_timeout;
}

void ripp_sched_handle_expiry(ripp_sched *s, ripp_ts now)
{
    unsigned aborted = 0;
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++) {
        ripp_byway *b = &s->bw[i];
        if (b->state != RIPP_BYWAY_BLOCKED || now < b->sent_at ||
            now - b->sent_at < s->cfg.stall_timeout)
            continue;
        /* D38: the ack will never come on an ordered stream that stopped moving. */
        void *user = b->user;
        ripp_log(RIPP_LOG_INFO, "sched: byway %d stalled on frame %u, aborting it", i,
                 b->inflight_seq);
        memset(b, 0, sizeof *b);
        ripp_stats_on_lost(&s->stats, 1);
        aborted++;
        if (s->ops->abort_byway) s->ops->abort_byway(s->ud, i, user);
    }
    pump(s, now);
    request_more(s, now, aborted);
}

ripp_ts ripp_sched_oldest_inflight(const ripp_sched *s)
{
    ripp_ts oldest = RIPP_TS_NEVER;
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++)
        if (s->bw[i].state == RIPP_BYWAY_BLOCKED && s->bw[i].sent_at < oldest)
            oldest = s->bw[i].sent_at;
    return oldest;
}

unsigned ripp_sched_drop_queued(ripp_sched *s)
{
    unsigned n = s->q_len;
    if (s->queue) queue_clear(s);
    ripp_stats_on_lost(&s->stats, n);
    return n;
}

void ripp_sched_finish(ripp_sched *s)
{
    uint64_t n = s->q_len;
    for (int i = 0; i < RIPP_MAX_BYWAYS; i++) {
        if (s->bw[i].state == RIPP_BYWAY_BLOCKED) {
            s->bw[i].state = RIPP_BYWAY_IDLE;
            n++;
        }
    }
    if (s->queue) queue_clear(s);
    ripp_stats_on_lost(&s->stats, n);
}
