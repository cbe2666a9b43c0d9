/* The client's failover buffer (SPEC §7.4): every media frame it produces is kept for
 * EP_RING_MS by sequence number, so that frames produced while the byways are down
 * (migration, recovery) wait with their original seq, and frames whose byway was lost
 * before their ack are sent again on the new byways. The receiver drops duplicates.
 *
 * Accounting: stats.sent counts distinct frames written, stats.lost frames never
 * acknowledged. A frame in flight on a lost byway is counted lost by the scheduler; when
 * it is sent again, that loss (and the second "sent") is taken back. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static ep_ring_ent *ent_of(ripp_ep_call *c, uint64_t seq)
{
    if (!c->ring) return NULL;
    ep_ring_ent *e = &c->ring[seq % c->ring_cap];
    return e->state != RE_FREE && e->seq == seq ? e : NULL;
}

static bool waiting(const ep_ring_ent *e)
{
    return e->state == RE_PENDING;
}

int ep_tx_submit(ripp_ep_call *c, enum ripp_codec codec, const uint8_t *payload, size_t len,
                 ripp_ts now)
{
    ripp_ep *ep = c->ep;
    uint64_t wall = ep_wall_us(ep);
    if (c->fsm.role == RIPP_ROLE_SERVER)
        return ripp_sched_submit(&c->tx, codec, payload, len, now, wall, NULL);
    if (len == 0 || len > RIPP_FRAME_MAX_PAYLOAD || !payload) return RIPP_ERR_INVAL;
    if (c->tx.next_seq > UINT32_MAX) return RIPP_ERR_LIMIT;
    if (!c->ring) {
        uint32_t cap = EP_RING_MS / (ep->cfg.frame_ms ? ep->cfg.frame_ms : 20);
        if (cap < 64) cap = 64;
        c->ring = calloc(cap, sizeof *c->ring);
        if (!c->ring) /* no buffer: straight to the scheduler, as without failover */
            return ripp_sched_submit(&c->tx, codec, payload, len, now, wall, NULL);
        c->ring_cap = cap;
        c->flush_from = c->tx.next_seq;
    }
    uint32_t seq = (uint32_t)c->tx.next_seq;
    ep_ring_ent *e = &c->ring[seq % c->ring_cap];
    if (e->state == RE_PENDING) { /* fell out of the 5 s buffer unsent */
        c->ring_waiting--;
        c->fo.dropped++;
        if (!e->resend) ripp_stats_on_lost(&c->tx.stats, 1);
    }
    e->unsent = false;
    if (e->cap < len) {
        uint8_t *np = realloc(e->payload, len);
        if (!np) {
            e->state = RE_FREE;
            return ripp_sched_submit(&c->tx, codec, payload, len, now, wall, NULL);
        }
        e->payload = np;
        e->cap = (uint16_t)len;
    }
    memcpy(e->payload, payload, len);
    e->seq = seq;
    e->codec = (uint8_t)codec;
    e->len = (uint16_t)len;
    e->resend = false;
    c->fo.frames++;
    if (!c->holding && c->ring_waiting == 0) {
        e->state = RE_SENT;
        if (c->flush_from <= seq) c->flush_from = (uint64_t)seq + 1;
        return ripp_sched_submit(&c->tx, codec, payload, len, now, wall, NULL);
    }
    e->state = RE_PENDING;
    c->tx.next_seq++;
    c->ring_waiting++;
    if (c->ring_waiting > c->fo.buffered_max) c->fo.buffered_max = c->ring_waiting;
    ep_ring_flush(c, now);
    return 0;
}

/* Waiting frames go out in seq order, as fast as the scheduler takes them without queueing
 * (its queue holds 200 ms; a 5 s backlog would overflow it). */
void ep_ring_flush(ripp_ep_call *c, ripp_ts now)
{
    if (c->holding || !c->ring_waiting || !c->tx.ops || c->fsm.state == RIPP_CALL_ENDED) return;
    uint64_t hi = c->tx.next_seq;
    uint64_t lo = hi > c->ring_cap ? hi - c->ring_cap : 0;
    if (c->flush_from > lo) lo = c->flush_from;
    uint64_t wall = ep_wall_us(c->ep);
    for (uint64_t s = lo; s < hi && c->ring_waiting; s++) {
        ep_ring_ent *e = ent_of(c, s);
        if (!e || !waiting(e)) {
            if (s == c->flush_from) c->flush_from = s + 1;
            continue;
        }
        if (ripp_sched_queued(&c->tx) ||
            ripp_sched_blocked_count(&c->tx) * 4 >= c->tx.cfg.max_byways * 3)
            break;
        uint64_t saved = c->tx.next_seq, sent0 = c->tx.stats.sent;
        c->tx.next_seq = s;
        ripp_sched_submit(&c->tx, (enum ripp_codec)e->codec, e->payload, e->len, now, wall, NULL);
        c->tx.next_seq = saved;
        if (e->resend) {
            /* its first loss is taken back; so is the second "sent", unless the first
             * attempt never reached a byway (then this is its first) */
            if (!e->unsent) {
                c->fo.resent++;
                if (c->tx.stats.sent > sent0) c->tx.stats.sent--;
            }
            if (c->tx.stats.lost) c->tx.stats.lost--;
        }
        e->state = RE_SENT;
        e->resend = false;
        e->unsent = false;
        c->ring_waiting--;
        if (s == c->flush_from) c->flush_from = s + 1;
    }
}

/* The scheduler has counted the ack; a frame counts as acknowledged once, whichever path
 * (old byway, new byway after a resend) its acks come by. */
void ep_ring_on_ack(ripp_ep_call *c, uint32_t seq)
{
    ep_ring_ent *e = ent_of(c, seq);
    if (!e) return;
    if (e->state == RE_SENT) {
        e->state = RE_ACKED;
    } else if (e->state == RE_ACKED || (e->state == RE_PENDING && e->resend)) {
        if (c->tx.stats.acked) c->tx.stats.acked--;
        c->tx.stats.stray_acks++;
        if (e->state == RE_PENDING) { /* delivered after all: not to be sent again */
            e->state = RE_ACKED;
            e->resend = false;
            c->ring_waiting--;
            if (c->tx.stats.lost) c->tx.stats.lost--;
            if (!e->unsent) c->tx.stats.acked++; /* its first sending was counted */
            e->unsent = false;
        }
    }
}

static void mark(ripp_ep_call *c, uint32_t seq, bool unsent)
{
    ep_ring_ent *e = ent_of(c, seq);
    if (!e || e->state != RE_SENT) return;
    e->state = RE_PENDING;
    e->resend = true;
    e->unsent = unsent;
    c->ring_waiting++;
    if (seq < c->flush_from) c->flush_from = seq;
}

/* Written on a byway that was lost before its ack: counted sent (once) and lost (until it
 * is sent again). */
void ep_ring_mark_resend(ripp_ep_call *c, uint32_t seq)
{
    mark(c, seq, false);
}

/* Taken back before it reached a byway (queued in the scheduler, or its write failed):
 * counted lost, not sent. */
void ep_ring_mark_unsent(ripp_ep_call *c, uint32_t seq)
{
    mark(c, seq, true);
}

/* At the end: what still waits was never delivered. */
void ep_ring_finish(ripp_ep_call *c)
{
    if (!c->ring) return;
    for (uint32_t i = 0; i < c->ring_cap; i++) {
        ep_ring_ent *e = &c->ring[i];
        if (e->state == RE_PENDING && !e->resend) ripp_stats_on_lost(&c->tx.stats, 1);
        if (e->state == RE_PENDING) e->state = RE_SENT;
    }
    c->ring_waiting = 0;
}

void ep_ring_free(ripp_ep_call *c)
{
    if (!c->ring) return;
    for (uint32_t i = 0; i < c->ring_cap; i++)
        free(c->ring[i].payload);
    free(c->ring);
    c->ring = NULL;
}

/* An ack on a forward byway retired by a migration: its last frame reached the old
 * instance after all. */
void ep_drain_ack(ep_bw *b, const ripp_ack *ack, ripp_ts now)
{
    ripp_ep_call *c = b->call;
    if (!c || !b->draining || ack->seq != b->drain_seq) {
        if (c) c->tx.stats.stray_acks++;
        return;
    }
    ripp_ts rtt = now > b->drain_sent_at ? now - b->drain_sent_at : 0;
    ripp_stats_on_ack(&c->tx.stats, rtt, (int64_t)ack->rx_time_us - (int64_t)b->drain_wall_us);
    ep_ring_on_ack(c, ack->seq);
    b->draining = false;
    if (!b->ended_local) {
        ripp_xchg_end(b->x);
        b->ended_local = true;
    }
}

void ripp_ep_call_failover(const ripp_ep_call *c, ripp_ep_failover *out)
{
    *out = c->fo;
}
