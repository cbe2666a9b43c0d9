/* The call engine shared by both roles: the call table, the media clock, events, media
 * frames and acks. Role-specific request handling is in ep_server.c and ep_client.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

uint64_t ep_wall_us(const ripp_ep *ep)
{
    return ep->cfg.env->wall_us(ep->cfg.env->ud);
}
ripp_ts ep_now(const ripp_ep *ep)
{
    return ep->cfg.env->mono_ns(ep->cfg.env->ud);
}

static size_t hash_id(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return (size_t)(h % n);
}

ripp_ep *ripp_ep_new(const ripp_ep_config *cfg, const ripp_ep_hooks *hooks, void *ud, int *err)
{
    int rv = RIPP_ERR_INVAL;
    ripp_ep *ep = NULL;
    if (!cfg || !hooks || !cfg->env || !cfg->env->wall_us || !cfg->env->mono_ns) goto out;
    if (cfg->role == RIPP_ROLE_SERVER && (!cfg->store || !hooks->token_hash)) goto out;
    if (cfg->role == RIPP_ROLE_CLIENT && !cfg->http) goto out;
    rv = RIPP_ERR_NOMEM;
    ep = calloc(1, sizeof *ep);
    if (!ep) goto out;
    ep->cfg = *cfg;
    ep->hooks = *hooks;
    ep->ud = ud;
    if (!ep->cfg.frame_ms) ep->cfg.frame_ms = 20;
    if (!ep->cfg.hold_timeout) ep->cfg.hold_timeout = 5 * RIPP_NS_PER_SEC;
    if (!ep->cfg.drain_spread) ep->cfg.drain_spread = RIPP_NS_PER_SEC;
    if (!ep->cfg.linger) ep->cfg.linger = 30 * RIPP_NS_PER_SEC;
    if (!ep->cfg.reverse_byways) ep->cfg.reverse_byways = 10;
    if (ep->cfg.reverse_byways > RIPP_MAX_BYWAYS) ep->cfg.reverse_byways = RIPP_MAX_BYWAYS;
    if (!ep->cfg.close_grace) ep->cfg.close_grace = 3 * RIPP_NS_PER_SEC;
    if (!ep->cfg.ack_timeout) ep->cfg.ack_timeout = 300 * RIPP_NS_PER_MS;
    if (!ep->cfg.media_timeout) ep->cfg.media_timeout = RIPP_NS_PER_SEC;
    if (!ep->cfg.recover_window) ep->cfg.recover_window = 5 * RIPP_NS_PER_SEC;
    ep->table_size = 4099;
    ep->table = calloc(ep->table_size, sizeof *ep->table);
    ep->tombs = calloc(ep->table_size, sizeof *ep->tombs);
    if (!ep->cfg.token_cache) ep->cfg.token_cache = RIPP_NS_PER_SEC;
    if (ep->cfg.role == RIPP_ROLE_SERVER && !ep->cfg.no_token_cache)
        ep->tokcache = calloc(EP_TOKCACHE, sizeof *ep->tokcache);
    if (!ep->table || !ep->tombs ||
        (ep->cfg.role == RIPP_ROLE_SERVER && !ep->cfg.no_token_cache && !ep->tokcache)) {
        free(ep->table);
        free(ep->tombs);
        free(ep->tokcache);
        free(ep);
        ep = NULL;
        goto out;
    }
    ep->next_tick = RIPP_TS_NEVER;
    for (unsigned i = 0; i < EP_PHASES; i++)
        ep->slot_next[i] = RIPP_TS_NEVER;
    rv = 0;
out:
    if (err) *err = rv;
    return ep;
}

/* Takes a call off its slot of the media clock, or off the linger list. */
static void slot_unlink(ripp_ep_call *c)
{
    ripp_ep *ep = c->ep;
    if (c->sprev)
        c->sprev->snext = c->snext;
    else if (c->lingering)
        ep->linger_head = c->snext;
    else
        ep->slots[c->slot] = c->snext;
    if (c->snext)
        c->snext->sprev = c->sprev;
    else if (c->lingering)
        ep->linger_tail = c->sprev;
    c->snext = c->sprev = NULL;
}

static void tomb_add(ripp_ep *ep, const ripp_ep_call *c, ripp_ts forget_at)
{
    ep_tomb *t = calloc(1, sizeof *t);
    if (!t) return; /* a late request then reads the store, which says ended */
    snprintf(t->id, sizeof t->id, "%s", c->id);
    snprintf(t->trunk_id, sizeof t->trunk_id, "%s", c->rec.trunk_id);
    char body[6144];
    int n = ep_format_call_state(c, body, sizeof body);
    if (n > 0 && (size_t)n < sizeof body) t->state_json = strdup(body);
    const char *id = c->id;
    if (ep->tomb_tail && ep->tomb_tail->forget_at > forget_at) forget_at = ep->tomb_tail->forget_at;
    t->forget_at = forget_at;
    size_t h = hash_id(id, ep->table_size);
    t->hnext = ep->tombs[h];
    ep->tombs[h] = t;
    if (ep->tomb_tail)
        ep->tomb_tail->next = t;
    else
        ep->tomb_head = t;
    ep->tomb_tail = t;
    ep->ntombs++;
}

/* Frees the oldest tomb (the head of the FIFO). */
static void tomb_pop(ripp_ep *ep)
{
    ep_tomb *t = ep->tomb_head;
    ep_tomb **pp = &ep->tombs[hash_id(t->id, ep->table_size)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp) *pp = t->hnext;
    ep->tomb_head = t->next;
    if (!ep->tomb_head) ep->tomb_tail = NULL;
    ep->ntombs--;
    free(t->state_json);
    free(t);
}

const ep_tomb *ep_tomb_find(const ripp_ep *ep, const char *id)
{
    for (const ep_tomb *t = ep->tombs[hash_id(id, ep->table_size)]; t; t = t->hnext)
        if (strcmp(t->id, id) == 0) return t;
    return NULL;
}

/* An ended server call that is done needs no media clock any more. When its client has
 * the ending event, only its id is kept (a tomb) to answer late requests; otherwise the call
 * waits on the linger list for the client's GET. Both lists are in the order of forgetting
 * (the max with the tail keeps them FIFOs; an entry is kept at most close_grace longer than
 * linger that way). Walking 30 s of ended calls on every interval cost a fifth of the CPU
 * at a few hundred call setups a second, and keeping them whole 40 KiB each. */
static void linger_push(ripp_ep_call *c)
{
    ripp_ep *ep = c->ep;
    if (c->final_delivered) {
        tomb_add(ep, c, c->ended_at + ep->cfg.linger);
        ep_call_free(c);
        return;
    }
    slot_unlink(c);
    c->forget_at = c->ended_at + ep->cfg.linger;
    if (ep->linger_tail && ep->linger_tail->forget_at > c->forget_at)
        c->forget_at = ep->linger_tail->forget_at;
    c->lingering = true;
    c->sprev = ep->linger_tail;
    if (ep->linger_tail)
        ep->linger_tail->snext = c;
    else
        ep->linger_head = c;
    ep->linger_tail = c;
}

/* Released: the call is another instance's (it moved there, or was taken over), which
 * writes the record and the CDR; forgotten here without either. */
void ep_call_release(ripp_ep_call *c)
{
    c->migrated = true;
    c->done = true;
    if (c->ep->hooks.on_done) c->ep->hooks.on_done(c->ep->ud, c);
    ep_call_free(c);
}

void ep_call_free(ripp_ep_call *c)
{
    ripp_ep *ep = c->ep;
    /* unlink from the hash chain and the list */
    ripp_ep_call **pp = &ep->table[hash_id(c->id, ep->table_size)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp) *pp = c->hnext;
    if (c->prev)
        c->prev->next = c->next;
    else
        ep->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    slot_unlink(c);
    ep->ncalls--;
    if (c->fsm.state != RIPP_CALL_ENDED && ep->nlive) ep->nlive--;
    while (c->bws) {
        ep_bw *b = c->bws;
        ep_bw_detach(b);
        ripp_xchg_reset(b->x, RIPP_XCHG_CANCEL);
    }
    for (size_t i = 0; i < c->nlog; i++)
        free(c->log[i]);
    free(c->log);
    for (size_t i = 0; i < c->npending; i++)
        free(c->pending[i]);
    free(c->pending);
    for (size_t i = 0; i < c->nclog; i++)
        free(c->clog[i]);
    free(c->clog);
    ep_ring_free(c);
    ripp_sched_free(&c->tx);
    if (c->rx_init) ripp_jbuf_free(&c->rx);
    free(c->identity);
    free(c);
}

void ripp_ep_del(ripp_ep *ep)
{
    if (!ep) return;
    ep_server_drop_pending(ep);
    while (ep->calls)
        ep_call_free(ep->calls);
    while (ep->tomb_head)
        tomb_pop(ep);
    free(ep->tombs);
    free(ep->tokcache);
    free(ep->table);
    free(ep);
}

ripp_ep_call *ep_call_new(ripp_ep *ep, const char *id, ripp_ts now)
{
    ripp_ep_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ep = ep;
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->path, sizeof c->path, "/call/%s", id);
    c->rx_seq_max = -1;
    ripp_caps_init_default(&c->peer_caps);
    ripp_caps_init_default(&c->own_caps);
    size_t h = hash_id(c->id, ep->table_size);
    c->hnext = ep->table[h];
    ep->table[h] = c;
    c->next = ep->calls;
    if (ep->calls) ep->calls->prev = c;
    ep->calls = c;
    ep->ncalls++;
    ep->nlive++;
    /* Calls take turns over EP_PHASES slots of the interval, so that a thousand calls do
     * not all send (and their peers all answer) in one burst per interval. */
    ripp_ts step = ep->cfg.frame_ms * RIPP_NS_PER_MS, sub = step / EP_PHASES;
    c->slot = ep->phase++ % EP_PHASES;
    c->next_tick = now - now % step + step + c->slot * sub;
    c->snext = ep->slots[c->slot];
    if (c->snext) c->snext->sprev = c;
    ep->slots[c->slot] = c;
    if (c->next_tick < ep->slot_next[c->slot]) ep->slot_next[c->slot] = c->next_tick;
    if (c->next_tick < ep->next_tick) ep->next_tick = c->next_tick;
    return c;
}

void ep_call_rekey(ripp_ep_call *c, const char *id)
{
    ripp_ep *ep = c->ep;
    ripp_ep_call **pp = &ep->table[hash_id(c->id, ep->table_size)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp) *pp = c->hnext;
    snprintf(c->id, sizeof c->id, "%s", id);
    size_t h = hash_id(c->id, ep->table_size);
    c->hnext = ep->table[h];
    ep->table[h] = c;
}

ripp_ep_call *ep_call_find(ripp_ep *ep, const char *id)
{
    for (ripp_ep_call *c = ep->table[hash_id(id, ep->table_size)]; c; c = c->hnext)
        if (strcmp(c->id, id) == 0) return c;
    return NULL;
}

ep_bw *ep_bw_new(ripp_ep_call *c, ripp_xchg *x, enum bw_kind kind)
{
    ep_bw *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->call = c;
    b->ep = c->ep;
    b->x = x;
    b->kind = b->pkind = kind;
    b->sched_idx = -1;
    b->first_event = true;
    b->gen = c->gen;
    switch (kind) {
    case BW_MEDIA_RX:
        b->p.fp = malloc(sizeof *b->p.fp);
        if (!b->p.fp) {
            free(b);
            return NULL;
        }
        ripp_frame_parser_init(b->p.fp);
        break;
    case BW_MEDIA_TX:
        ripp_ack_parser_init(&b->p.ap);
        break;
    case BW_EV_RX:
        ripp_event_parser_init(&b->p.ev);
        break;
    default:
        break;
    }
    b->next = c->bws;
    if (c->bws) c->bws->prev = b;
    c->bws = b;
    c->nkind[kind]++;
    return b;
}

/* Detach a byway from its call (the exchange itself lives on until its on_close, which
 * frees b). Scheduler slots and counters are released here. */
void ep_bw_detach(ep_bw *b)
{
    ripp_ep_call *c = b->call;
    if (!c) return;
    if (b->prev)
        b->prev->next = b->next;
    else
        c->bws = b->next;
    if (b->next) b->next->prev = b->prev;
    b->next = b->prev = NULL;
    if (!b->retired && c->nkind[b->kind]) c->nkind[b->kind]--;
    if (b->kind == BW_MEDIA_TX && b->sched_idx >= 0) {
        /* a client's frame in flight on a lost byway is sent again (SPEC §7.4) */
        const ripp_byway *sb = &c->tx.bw[b->sched_idx];
        if (c->fsm.role == RIPP_ROLE_CLIENT && sb->state == RIPP_BYWAY_BLOCKED)
            ep_ring_mark_resend(c, sb->inflight_seq);
        ripp_sched_remove_byway(&c->tx, b->sched_idx);
        b->sched_idx = -1;
    }
    if (b->draining) { /* retired by a migration, gone before its last ack */
        b->draining = false;
        ripp_stats_on_lost(&c->tx.stats, 1);
        ep_ring_mark_resend(c, b->drain_seq);
    }
    if (c->sig_get == b) c->sig_get = NULL;
    if ((b->kind == BW_EV_RX || b->kind == BW_EV_TX) && !b->retired) {
        if (c->fsm.role == RIPP_ROLE_SERVER) ripp_call_sig_byway_closed(&c->fsm, ep_now(c->ep));
    }
    if (c->put == b) c->put = NULL;
    b->call = NULL;
}

void ep_bw_free(ep_bw *b)
{
    ep_bw_detach(b);
    if (b->pkind == BW_MEDIA_RX)
        free(b->p.fp);
    else if (b->pkind == BW_EV_RX)
        ripp_event_parser_free(&b->p.ev);
    free(b->body);
    free(b);
}

/* ---- events ---- */

void ep_call_ended(ripp_ep_call *c, ripp_ts now)
{
    ripp_ep *ep = c->ep;
    if (c->closing) return;
    c->closing = true;
    if (c->fsm.outcome == RIPP_OUTCOME_HOLD_TIMEOUT) /* no client left to tell */
        c->final_delivered = true;
    c->ended_at = now;
    if (ep->nlive) ep->nlive--;
    ep->counters.calls_ended++;
    if (c->fsm.role == RIPP_ROLE_SERVER)
        ep_server_close_call(c);
    else
        ep_client_close_call(c);
}

void ep_call_applied(ripp_ep_call *c, const ripp_event *ev, bool local, ripp_ts now)
{
    ripp_ep *ep = c->ep;
    int64_t wall_ms = (int64_t)(ep_wall_us(ep) / 1000);
    if (ev->type == RIPP_EV_ACCEPTED && !c->cdr.answer_ms) c->cdr.answer_ms = wall_ms;
    if (ep->hooks.on_event) ep->hooks.on_event(ep->ud, c, ev, local);
    /* A migrated call that ends here after all (the client's end crossed the migrate) is
     * this instance's to close. */
    if (c->migrated && c->fsm.state == RIPP_CALL_ENDED) c->migrated = false;
    /* The record follows every event: the seqs of both directions must be current for an
     * instance that takes the call over, or it would reuse or replay seqs (D19). */
    if (c->fsm.role == RIPP_ROLE_SERVER) ep_persist(c, now);
    if (c->fsm.state == RIPP_CALL_ENDED) ep_call_ended(c, now);
}

int ep_call_on_peer_event(ripp_ep_call *c, const ripp_event *ev, ripp_ts now)
{
    int rv = ripp_call_on_event(&c->fsm, ev, now);
    if (rv == RIPP_ERR_DUP || rv == RIPP_ERR_STATE)
        return 0; /* dropped (D19) or ignored and logged (D18) */
    if (rv < 0) return rv;
    if (ev->type == RIPP_EV_OPEN_REVERSE && c->fsm.role == RIPP_ROLE_CLIENT)
        c->reverse_wanted += ev->count ? ev->count : 1;
    if (c->fsm.state == RIPP_CALL_ENDED) /* the peer made the ending: it knows */
        c->final_delivered = true;
    ep_call_applied(c, ev, false, now);
    if (ev->type == RIPP_EV_MIGRATE && c->fsm.role == RIPP_ROLE_CLIENT)
        ep_client_migrate(c, ev->uri, now);
    return 0;
}

int ripp_ep_call_send(ripp_ep_call *c, ripp_event *ev, ripp_ts now)
{
    ripp_ep *ep = c->ep;
    if (c->migrated) return RIPP_ERR_STATE; /* the call is another instance's now */
    int64_t wall_ms = (int64_t)(ep_wall_us(ep) / 1000);
    int rv = ripp_call_prepare_event(&c->fsm, ev, wall_ms);
    if (rv < 0) return rv;
    char buf[4096];
    int64_t len = ripp_event_encode(ev, buf, sizeof buf);
    if (len < 0) return (int)len;
    if (c->fsm.role == RIPP_ROLE_SERVER)
        ep_server_broadcast(c, buf, (size_t)len);
    else
        ep_client_send_json(c, buf, (size_t)len);
    ep_call_applied(c, ev, true, now);
    return 0;
}

int ripp_ep_call_end(ripp_ep_call *c, const ripp_reason *reason, ripp_ts now)
{
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_END);
    if (c->fsm.role == RIPP_ROLE_CLIENT &&
        (c->fsm.state == RIPP_CALL_SETUP_SENT || c->fsm.state == RIPP_CALL_IDLE)) {
        /* no call resource to send it on yet: kept until the 201 (ep_client.c) */
        if (!c->end_pending) {
            c->end_pending = true;
            c->end_pending_at = now;
            memset(&c->end_pending_reason, 0, sizeof c->end_pending_reason);
            if (reason) c->end_pending_reason = *reason;
        }
        return 0;
    }
    if (reason) {
        ev.reason = *reason;
    } else if (!c->fsm.answered && c->fsm.role == RIPP_ROLE_CLIENT) {
        /* a CANCEL, as SIP would say it */
        ev.reason.present = true;
        snprintf(ev.reason.protocol, sizeof ev.reason.protocol, "SIP");
        ev.reason.cause = 487;
        snprintf(ev.reason.text, sizeof ev.reason.text, "Request Terminated");
    } else {
        ev.reason.present = true;
        snprintf(ev.reason.protocol, sizeof ev.reason.protocol, "Q.850");
        ev.reason.cause = 16;
        snprintf(ev.reason.text, sizeof ev.reason.text, "normal clearing");
    }
    return ripp_ep_call_send(c, &ev, now);
}

void ripp_ep_shutdown(ripp_ep *ep, ripp_ts now)
{
    ripp_reason r = {.present = true, .cause = 16};
    snprintf(r.protocol, sizeof r.protocol, "Q.850");
    snprintf(r.text, sizeof r.text, "shutdown");
    for (ripp_ep_call *c = ep->calls; c; c = c->next)
        if (c->fsm.state != RIPP_CALL_ENDED && c->fsm.state != RIPP_CALL_IDLE &&
            c->fsm.state != RIPP_CALL_SETUP_SENT)
            ripp_ep_call_end(c, &r, now);
}

size_t ripp_ep_end_trunk_calls(ripp_ep *ep, const char *trunk_id, ripp_ts now)
{
    ripp_reason r = {.present = true, .cause = 16};
    snprintf(r.protocol, sizeof r.protocol, "Q.850");
    snprintf(r.text, sizeof r.text, "trunk deleted");
    size_t n = 0;
    for (ripp_ep_call *c = ep->calls; c; c = c->next)
        if (c->fsm.state != RIPP_CALL_ENDED && c->fsm.state != RIPP_CALL_IDLE &&
            c->fsm.state != RIPP_CALL_SETUP_SENT && strcmp(c->rec.trunk_id, trunk_id) == 0 &&
            ripp_ep_call_end(c, &r, now) == 0)
            n++;
    return n;
}

/* ---- media ---- */

void ep_sched_init(ripp_ep_call *c, bool can_open, ripp_ts now)
{
    ripp_sched_config sc = {
        .dir = c->fsm.role == RIPP_ROLE_SERVER ? RIPP_DIR_S2C : RIPP_DIR_C2S,
        .channel = 1,
        .can_open = can_open,
        .frame_ms = c->ep->cfg.frame_ms,
        .ts0_ms = ep_wall_us(c->ep) / 1000,
    };
    ripp_sched_init(&c->tx, &sc, can_open ? &ep_sched_ops_client : &ep_sched_ops_server, c);
}

int ep_media_write_ack(ep_bw *b, uint32_t seq)
{
    uint8_t rec[RIPP_ACK_MAX_RECORD];
    ripp_ack ack = {.seq = seq,
                    .channel = b->hdr.channel ? b->hdr.channel : 1,
                    .rx_time_us = ep_wall_us(b->ep)};
    int64_t n = ripp_ack_encode(rec, sizeof rec, &ack);
    if (n < 0) return (int)n;
    return ripp_xchg_write(b->x, rec, (size_t)n);
}

void ep_media_on_frame(ep_bw *b, uint64_t seq_offset, const uint8_t *payload, size_t len,
                       ripp_ts now)
{
    ripp_ep_call *c = b->call;
    uint64_t seq = (uint64_t)b->hdr.seq_base + seq_offset;
    if (!c || seq > UINT32_MAX) return;
    ep_media_write_ack(b, (uint32_t)seq); /* every frame is acked, even late ones */
    if (c->fsm.state == RIPP_CALL_ENDED) return;
    c->last_rx_at = now;
    if (!c->rx_init) {
        /* 40 ms to start: enough for a LAN or loopback without an early adaptation */
        ripp_jbuf_config jc = {.frame_ms = b->hdr.frame_ms,
                               .slot_size = EP_JBUF_SLOT,
                               .min_delay = 40 * RIPP_NS_PER_MS};
        if (ripp_jbuf_init(&c->rx, &jc, &c->tx.stats) < 0) return;
        c->rx_init = true;
        c->rx_frame_ms = b->hdr.frame_ms;
    }
    if ((int64_t)seq > c->rx_seq_max) c->rx_seq_max = (int64_t)seq;
    if (ripp_codec_is_voice(b->hdr.codec)) c->rx_codec = b->hdr.codec;
    ripp_jbuf_put(&c->rx, (uint32_t)seq, b->hdr.codec, payload, len, now);
    if (c->ep->hooks.on_frame)
        c->ep->hooks.on_frame(c->ep->ud, c, (uint32_t)seq, b->hdr.codec, payload, len, now);
}

int ep_frame_cb(void *ud, uint64_t seq_offset, const uint8_t *payload, size_t len)
{
    ep_ctx *ctx = ud;
    ep_media_on_frame(ctx->b, seq_offset, payload, len, ctx->now);
    return 0;
}

int ep_ack_cb(void *ud, const ripp_ack *ack)
{
    ep_ctx *ctx = ud;
    ep_bw *b = ctx->b;
    ripp_ep_call *c = b->call;
    if (!c) return 0;
    if (b->sched_idx >= 0) {
        if (ripp_sched_on_ack(&c->tx, b->sched_idx, ack, ctx->now) == 0 &&
            c->fsm.role == RIPP_ROLE_CLIENT) {
            c->last_ack_at = ctx->now;
            ep_ring_on_ack(c, ack->seq);
            ep_ring_flush(c, ctx->now);
        }
    } else if (b->draining) {
        ep_drain_ack(b, ack, ctx->now);
    }
    return 0;
}

/* A frame written on a byway. When the write fails (the peer stopped reading and the send
 * buffer is full, or the stream is gone), the scheduler frees the slot and counts the frame
 * lost; the byway must let go of the slot too, and is aborted. */
int ep_byway_write(ep_bw *b, const uint8_t *rec, size_t len)
{
    int rv = ripp_xchg_write(b->x, rec, len);
    if (rv < 0) {
        ripp_log(RIPP_LOG_WARN, "call %s: a media byway cannot take more (%s); reset",
                 b->call ? b->call->id : "-", ripp_strerror(rv));
        b->sched_idx = -1;
        b->self_reset = true;
        ripp_xchg_reset(b->x, RIPP_XCHG_INTERNAL_ERROR);
    }
    return rv;
}

/* Server: the scheduler writes on a reverse byway; the first frame sends the response
 * headers with RIPP-Media (D22). */
static int server_write_frame(void *ud, int idx, void *user, const ripp_media_hdr *hdr,
                              const uint8_t *rec, size_t len)
{
    ep_bw *b = user;
    (void)ud;
    (void)idx;
    if (!b) return RIPP_ERR_STATE;
    if (hdr) {
        char val[RIPP_MEDIA_HDR_MAX];
        if (ripp_media_hdr_format(hdr, val, sizeof val) < 0) return RIPP_ERR_LIMIT;
        ripp_hdr h[] = {{"ripp-media", val}, {"content-type", "application/octet-stream"}};
        int rv = ripp_xchg_respond(b->x, 200, h, 2, false);
        if (rv < 0) return rv;
        b->responded = true;
    }
    return ep_byway_write(b, rec, len);
}

static void server_want_more(void *ud, uint32_t count)
{
    ripp_ep_call *c = ud;
    if (c->fsm.state == RIPP_CALL_ENDED) return; /* its queue was dropped at the end */
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_OPEN_REVERSE);
    ev.count = count;
    ripp_ep_call_send(c, &ev, ep_now(c->ep));
}

static void abort_byway(void *ud, int idx, void *user)
{
    ep_bw *b = user;
    (void)ud;
    (void)idx;
    if (!b) return;
    b->sched_idx = -1;
    b->self_reset = true;
    ripp_xchg_reset(b->x, RIPP_XCHG_CANCEL);
}

const ripp_sched_ops ep_sched_ops_server = {
    .write_frame = server_write_frame,
    .want_more_byways = server_want_more,
    .abort_byway = abort_byway,
};

const ripp_sched_ops ep_sched_ops_client = {
    .write_frame = ep_client_write_frame,
    .want_more_byways = NULL,
    .abort_byway = abort_byway,
};

int ripp_ep_call_send_frame(ripp_ep_call *c, enum ripp_codec codec, const uint8_t *payload,
                            size_t len, uint32_t skip, ripp_ts now)
{
    if (!c->tx.ops || c->fsm.state == RIPP_CALL_ENDED || (c->migrated && !c->handover))
        return RIPP_ERR_STATE;
    if (!len || len > RIPP_FRAME_MAX_PAYLOAD) return RIPP_ERR_INVAL;
    if (c->tx.next_seq + skip > UINT32_MAX) return RIPP_ERR_LIMIT;
    c->tx.next_seq += skip; /* the receiver conceals the numbers never sent */
    int rv = ep_tx_submit(c, codec, payload, len, now);
    if (rv == RIPP_ERR_LIMIT) ripp_ep_call_end(c, NULL, now);
    return rv;
}

/* ---- persistence ---- */

void ep_persist(ripp_ep_call *c, ripp_ts now)
{
    ripp_ep *ep = c->ep;
    if (!ep->cfg.store || c->migrated) return;
    ripp_call_rec *r = &c->rec;
    r->state = c->fsm.state;
    r->last_seq_c2s = c->fsm.last_seq_in;
    r->last_seq_s2c = (int64_t)c->fsm.next_seq_out - 1;
    r->media_seq_c2s = c->rx_seq_max;
    r->media_seq_s2c = (int64_t)c->tx.next_seq - 1;
    r->updated_ms = (int64_t)(ep_wall_us(ep) / 1000);
    if (ep->cfg.store->ops->call_put(ep->cfg.store->impl, r) < 0)
        ripp_log(RIPP_LOG_WARN, "call %s: store write failed", c->id);
    else
        c->persisted_ms = r->updated_ms;
    c->next_persist = now + EP_PERSIST_EVERY;
}

/* Fencing (P5). While a call's client is away (no signaling byway), its reconnect may have
 * reached another instance (a balancer routing it without cookies), which took the call
 * over from the store and wrote the record. This instance does not write the record while
 * the client is away, so a record that is no longer its last write means the call is
 * another instance's now: this copy must neither end it (a second CDR, an ended record
 * under a live call) nor serve it with stale seqs. Read only at those two moments: the
 * hold timer's expiry, and a request for a call in that state. When the store cannot be
 * read the call is treated as ours. */
bool ep_call_owned_elsewhere(ripp_ep_call *c)
{
    ripp_ep *ep = c->ep;
    if (!ep->cfg.store || !c->persisted_ms) return false;
    ripp_call_rec r;
    if (ep->cfg.store->ops->call_get(ep->cfg.store->impl, c->id, &r) != 0) return false;
    return r.updated_ms != c->persisted_ms;
}

static void write_cdr(ripp_ep_call *c)
{
    ripp_ep *ep = c->ep;
    ripp_cdr *d = &c->cdr;
    snprintf(d->call_id, sizeof d->call_id, "%s", c->id);
    d->end_ms = (int64_t)(ep_wall_us(ep) / 1000);
    snprintf(d->outcome, sizeof d->outcome, "%s", ripp_call_outcome_name(c->fsm.outcome));
    d->end_code = c->fsm.end_code;
    ripp_stats_format_json(&c->tx.stats, d->stats_json, sizeof d->stats_json);
    if (ep->cfg.store && ep->cfg.store->ops->cdr_put(ep->cfg.store->impl, d) < 0)
        ripp_log(RIPP_LOG_ERROR, "call %s: CDR write failed", c->id);
}

/* ---- the media clock ---- */

ripp_ts ripp_ep_expiry(const ripp_ep *ep)
{
    return ep->ncalls || ep->ntombs ? ep->next_tick : RIPP_TS_NEVER;
}

static void call_tick(ripp_ep_call *c, ripp_ts now)
{
    ripp_ep *ep = c->ep;
    if (c->migrated) {
        /* Make-before-break: migrate was sent; the media goes on, both ways, until the
         * client has switched to the new instance and ends the byways here. Neither events
         * nor records: the call is the new instance's. */
        if (!c->handover || c->fsm.state != RIPP_CALL_ACTIVE) return;
        if (c->tx.ops) ripp_sched_handle_expiry(&c->tx, now);
        if (ep->hooks.next_frame) {
            uint8_t buf[RIPP_FRAME_MAX_PAYLOAD];
            enum ripp_codec codec = RIPP_CODEC_NONE;
            int64_t n = ep->hooks.next_frame(ep->ud, c, &codec, buf, sizeof buf);
            if (n > 0) ep_tx_submit(c, codec, buf, (size_t)n, now);
        }
        if (c->rx_init && ep->hooks.on_playout) {
            ripp_jbuf_out out;
            while (ripp_jbuf_pop(&c->rx, now, &out) == 1)
                ep->hooks.on_playout(ep->ud, c, &out);
        }
        return;
    }
    if (c->fsm.state != RIPP_CALL_ENDED) {
        if (c->fsm.role == RIPP_ROLE_SERVER && ripp_call_expiry(&c->fsm) <= now &&
            ep_call_owned_elsewhere(c)) {
            ripp_log(RIPP_LOG_INFO,
                     "call %s: taken over by another instance while its client was away; "
                     "released",
                     c->id);
            c->migrated = true; /* released below, in run_slot, without record or CDR */
            c->migrated_at = now - ep->cfg.hold_timeout;
            return;
        }
        if (ripp_call_handle_expiry(&c->fsm, now)) {
            ripp_log(RIPP_LOG_INFO, "call %s: no signaling byway for the hold time; ended", c->id);
            ep_call_applied(c, &c->fsm.last_event, true, now);
            return;
        }
        if (ep->hooks.on_tick) ep->hooks.on_tick(ep->ud, c, now);
        if (c->fsm.state == RIPP_CALL_ENDED) return;
        if (c->tx.ops) /* set up once the call exists (client: after the 201) */
            ripp_sched_handle_expiry(&c->tx, now);
        if (c->fsm.role == RIPP_ROLE_CLIENT) ep_client_tick(c, now);
        if (c->fsm.state == RIPP_CALL_ACTIVE && ep->hooks.next_frame) {
            uint8_t buf[RIPP_FRAME_MAX_PAYLOAD];
            enum ripp_codec codec = RIPP_CODEC_NONE;
            int64_t n = ep->hooks.next_frame(ep->ud, c, &codec, buf, sizeof buf);
            if (n > 0) {
                int rv = ep_tx_submit(c, codec, buf, (size_t)n, now);
                if (rv == RIPP_ERR_LIMIT) /* sequence space exhausted (M75) */
                    ripp_ep_call_end(c, NULL, now);
            }
        }
        if (c->rx_init && ep->hooks.on_playout) {
            ripp_jbuf_out out;
            while (ripp_jbuf_pop(&c->rx, now, &out) == 1)
                ep->hooks.on_playout(ep->ud, c, &out);
        }
        /* not while the client is away: the record would no longer tell whether another
         * instance took the call over (ep_call_owned_elsewhere) */
        if (c->fsm.role == RIPP_ROLE_SERVER && now >= c->next_persist && c->fsm.sig_byways)
            ep_persist(c, now);
    }
}

/* One slot of the media clock: its calls' intervals, and the end of ended calls. Returns
 * when the slot is next due. */
static ripp_ts run_slot(ripp_ep *ep, unsigned slot, ripp_ts now)
{
    ripp_ts step = ep->cfg.frame_ms * RIPP_NS_PER_MS, due = RIPP_TS_NEVER;
    ripp_ep_call *next;
    for (ripp_ep_call *c = ep->slots[slot]; c; c = next) {
        next = c->snext;
        /* Every interval gets its frame (the no-gap rule): a late wakeup catches up on the
         * intervals it missed, up to EP_MAX_CATCHUP of them; beyond that the clock jumps. */
        for (unsigned i = 0; c->next_tick <= now && i < EP_MAX_CATCHUP; i++) {
            c->next_tick += step;
            if (c->fsm.state != RIPP_CALL_ENDED) call_tick(c, now);
        }
        if (c->next_tick <= now) c->next_tick += ((now - c->next_tick) / step + 1) * step;
        if (c->migrated && (!c->bws || now >= c->migrated_at + ep->cfg.hold_timeout)) {
            ep_call_release(c);
            continue;
        }
        if (c->fsm.state == RIPP_CALL_ENDED) {
            if (!c->done && (!c->bws || now >= c->ended_at + ep->cfg.close_grace)) {
                c->done = true;
                /* frames still unacknowledged now will never be: count them lost */
                ripp_sched_finish(&c->tx);
                ep_ring_finish(c);
                if (c->fsm.role == RIPP_ROLE_SERVER) write_cdr(c);
                if (ep->hooks.on_done) ep->hooks.on_done(ep->ud, c);
            }
            if (c->done && c->fsm.role == RIPP_ROLE_SERVER) {
                linger_push(c);
                continue;
            }
            if (c->done && now >= c->ended_at + ep->cfg.close_grace) {
                ep_call_free(c);
                continue;
            }
        }
        if (c->next_tick < due) due = c->next_tick;
    }
    return due;
}

static void drain_step(ripp_ep *ep, ripp_ts now);

void ripp_ep_handle_expiry(ripp_ep *ep, ripp_ts now)
{
    if (ep->next_tick == RIPP_TS_NEVER || now < ep->next_tick) return;
    ep->next_tick = RIPP_TS_NEVER;
    /* only the slots that are due are walked: a quarter of the calls per wakeup */
    for (unsigned s = 0; s < EP_PHASES; s++) {
        if (ep->slot_next[s] <= now) ep->slot_next[s] = run_slot(ep, s, now);
        if (ep->slot_next[s] < ep->next_tick) ep->next_tick = ep->slot_next[s];
    }
    if (ep->drain_pending && now >= ep->drain_next) drain_step(ep, now);
    if (ep->drain_pending && ep->drain_next < ep->next_tick) ep->next_tick = ep->drain_next;
    while (ep->linger_head && ep->linger_head->forget_at <= now)
        ep_call_free(ep->linger_head);
    while (ep->tomb_head && ep->tomb_head->forget_at <= now)
        tomb_pop(ep);
    if (ep->linger_head && ep->linger_head->forget_at < ep->next_tick)
        ep->next_tick = ep->linger_head->forget_at;
    if (ep->tomb_head && ep->tomb_head->forget_at < ep->next_tick)
        ep->next_tick = ep->tomb_head->forget_at;
}

/* ---- accessors ---- */

size_t ripp_ep_call_count(const ripp_ep *ep)
{
    return ep->ncalls;
}
size_t ripp_ep_live_count(const ripp_ep *ep)
{
    return ep->nlive;
}
size_t ripp_ep_undone_count(const ripp_ep *ep)
{
    size_t n = 0;
    for (const ripp_ep_call *c = ep->calls; c; c = c->next)
        n += !c->done;
    return n;
}
void ripp_ep_call_set_user(ripp_ep_call *c, void *user)
{
    c->user = user;
}
void *ripp_ep_call_user(const ripp_ep_call *c)
{
    return c->user;
}
const ripp_call *ripp_ep_call_fsm(const ripp_ep_call *c)
{
    return &c->fsm;
}
const ripp_stats *ripp_ep_call_stats(const ripp_ep_call *c)
{
    return &c->tx.stats;
}
const char *ripp_ep_call_id(const ripp_ep_call *c)
{
    return c->id;
}
const char *ripp_ep_call_uri(const ripp_ep_call *c)
{
    return c->uri;
}
enum ripp_codec ripp_ep_call_rx_codec(const ripp_ep_call *c)
{
    return c->rx_codec;
}
void ripp_ep_call_set_peer_caps(ripp_ep_call *c, const ripp_caps *caps)
{
    c->peer_caps = *caps;
}
const ripp_caps *ripp_ep_call_peer_caps(const ripp_ep_call *c)
{
    return &c->peer_caps;
}
ripp_cdr *ripp_ep_call_cdr(ripp_ep_call *c)
{
    return &c->cdr;
}
const char *ripp_ep_call_target(const ripp_ep_call *c)
{
    return c->rec.target;
}
const char *ripp_ep_call_orig_tn(const ripp_ep_call *c)
{
    return c->rec.orig_tn;
}
const char *ripp_ep_call_identity(const ripp_ep_call *c)
{
    return c->identity ? c->identity : "";
}
ripp_ep *ripp_ep_call_ep(const ripp_ep_call *c)
{
    return c->ep;
}
ripp_store *ripp_ep_store(const ripp_ep *ep)
{
    return ep->cfg.store;
}
void ripp_ep_call_set_next_hop(ripp_ep_call *c, const char *uri, ripp_ts now)
{
    snprintf(c->rec.next_hop, sizeof c->rec.next_hop, "%s", uri ? uri : "");
    if (c->fsm.role == RIPP_ROLE_SERVER) ep_persist(c, now);
}
const ripp_ep_counters *ripp_ep_counters_get(const ripp_ep *ep)
{
    return &ep->counters;
}

bool ripp_ep_call_migrated(const ripp_ep_call *c)
{
    return c->migrated;
}
const ripp_call_rec *ripp_ep_call_record(const ripp_ep_call *c)
{
    return &c->rec;
}
bool ripp_ep_draining(const ripp_ep *ep)
{
    return ep->draining;
}

#define EP_DRAIN_STEP (10 * RIPP_NS_PER_MS)

static bool drain_candidate(const ripp_ep_call *c)
{
    return !c->migrated && !c->drain_skip && c->fsm.state >= RIPP_CALL_CREATED &&
           c->fsm.state != RIPP_CALL_ENDED;
}

/* One step of a drain: migrate to the next drain_batch calls. */
static void drain_step(ripp_ep *ep, ripp_ts now)
{
    uint32_t batch = ep->drain_batch ? ep->drain_batch : 1, n = 0;
    ep->drain_pending = false;
    for (ripp_ep_call *c = ep->calls; c; c = c->next) {
        if (!drain_candidate(c)) continue;
        if (n == batch) {
            ep->drain_pending = true;
            break;
        }
        ep_server_migrate(c, ep->drain_to[0] ? ep->drain_to : NULL, now);
        if (c->migrated)
            n++;
        else
            c->drain_skip = true;
    }
    ep->drain_next = now + EP_DRAIN_STEP;
    /* the records with the migrate events are where the next instance reads them before
     * the events leave (the transports send at the end of this turn of the loop) */
    const ripp_store *st = ep->cfg.store;
    if (n && st->ops->sync && st->ops->sync(st->impl) < 0)
        ripp_log(RIPP_LOG_WARN, "drain: the store did not take the migrated calls' records");
}

int ripp_ep_drain(ripp_ep *ep, const char *migrate_to_authority, ripp_ts now)
{
    ep->draining = true;
    if (ep->cfg.role != RIPP_ROLE_SERVER) return 0;
    snprintf(ep->drain_to, sizeof ep->drain_to, "%s",
             migrate_to_authority ? migrate_to_authority : "");
    int n = 0;
    for (ripp_ep_call *c = ep->calls; c; c = c->next)
        n += drain_candidate(c);
    uint64_t steps = ep->cfg.drain_spread / EP_DRAIN_STEP;
    if (!steps) steps = 1;
    ep->drain_batch = (uint32_t)(((uint64_t)n + steps - 1) / steps);
    drain_step(ep, now);
    if (ep->drain_pending && ep->drain_next < ep->next_tick) ep->next_tick = ep->drain_next;
    return n;
}

int ripp_ep_call_setup_status(const ripp_ep_call *c, char *detail, size_t cap)
{
    if (detail && cap) snprintf(detail, cap, "%s", c->setup_detail);
    return c->setup_status;
}
