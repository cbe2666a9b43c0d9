/* The client role: placing a call (POST calls), opening the signaling and media byways
 * (SPEC §3.1, §4.2), cookies (§2.2), and closing after the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ep_internal.h"

#define EP_SETUP_BODY_MAX 8192
#define EP_REVERSE_REOPEN_MAX 400 /* reverse byways one call may open in its life */
#define EP_SUSPECT_WAIT (200 * RIPP_NS_PER_MS)
#define EP_BACKOFF_START (50 * RIPP_NS_PER_MS) /* P3: 50 ms, factor 2, cap 1 s, jittered */
#define EP_BACKOFF_CAP RIPP_NS_PER_SEC
#define EP_GONE_WAIT (500 * RIPP_NS_PER_MS)
#define EP_SIG_REOPEN_MAX 10 /* signaling GETs one call may reopen in its life */
/* A handover's media switch waits for the new instance's first frame at most this long
 * after its signaling answered (a server that sends nothing yet, before the answer) */
#define EP_HANDOVER_MAX RIPP_NS_PER_SEC

static const ripp_xchg_cbs client_cbs;
static void handover_old_lost(ripp_ep_call *c);

static void pct_encode(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < cap; in++) {
        unsigned char ch = (unsigned char)*in;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = 0;
}

static ep_bw *client_open(ripp_ep_call *c, const char *method, const char *suffix,
                          enum bw_kind kind, const char *ripp_media, bool end)
{
    /* during a handover the client's frames still go where the call was */
    bool old = c->handover && kind == BW_MEDIA_TX;
    char url[RIPP_URI_MAX + 32];
    snprintf(url, sizeof url, "%s%s", old ? c->old_uri : c->uri, suffix);
    ripp_hdr h[4];
    size_t n = 0;
    h[n++] = (ripp_hdr){"authorization", c->auth};
    if (c->cookie[0] && !(old ? c->old_no_cookies : c->no_cookies))
        h[n++] = (ripp_hdr){"cookie", c->cookie};
    if (ripp_media) h[n++] = (ripp_hdr){"ripp-media", ripp_media};
    if (kind == BW_EV_TX || kind == BW_EV_RX)
        h[n++] = (ripp_hdr){"content-type", "application/json"};
    ep_bw *b = ep_bw_new(c, NULL, kind);
    if (!b) return NULL;
    if (old && b->gen) b->gen--; /* switched with the others of the old instance */
    int err = 0;
    b->x = ripp_http_client_request(c->ep->cfg.http, method, url, h, n, end, &client_cbs, b, &err);
    if (!b->x) {
        ripp_log(RIPP_LOG_WARN, "call %s: %s %s failed: %s", c->id, method, url,
                 ripp_strerror(err));
        ep_bw_free(b);
        return NULL;
    }
    b->ended_local = end;
    return b;
}

ripp_ep_call *ripp_ep_call_place(ripp_ep *ep, const ripp_place_opts *o, ripp_ts now, int *err)
{
    static uint64_t counter;
    char id[40], target[768], url[RIPP_URI_MAX + 800];
    int rv = RIPP_ERR_INVAL;
    ripp_ep_call *c = NULL;
    if (ep->cfg.role != RIPP_ROLE_CLIENT || !o || !o->trunk_url || !o->token || !o->target)
        goto out;
    if (strlen(o->trunk_url) >= RIPP_URI_MAX - 64 || strlen(o->token) > 1000) goto out;
    snprintf(id, sizeof id, "pending-%llu", (unsigned long long)++counter);
    rv = RIPP_ERR_NOMEM;
    c = ep_call_new(ep, id, now);
    if (!c) goto out;
    ripp_call_init(&c->fsm, RIPP_ROLE_CLIENT, "", 0, now);
    snprintf(c->trunk_url, sizeof c->trunk_url, "%s", o->trunk_url);
    size_t tl = strlen(c->trunk_url);
    while (tl && c->trunk_url[tl - 1] == '/')
        c->trunk_url[--tl] = 0;
    snprintf(c->auth, sizeof c->auth, "Bearer %s", o->token);
    snprintf(c->rec.target, sizeof c->rec.target, "%s", o->target);
    if (o->identity && !(c->identity = strdup(o->identity))) goto out;
    pct_encode(o->target, target, sizeof target);
    snprintf(url, sizeof url, "%s/calls?target=%s", c->trunk_url, target);
    ripp_hdr h[2] = {{"authorization", c->auth}};
    size_t n = 1;
    if (o->identity) h[n++] = (ripp_hdr){"identity", o->identity};
    ep_bw *b = ep_bw_new(c, NULL, BW_SETUP);
    if (!b) goto out;
    int e = 0;
    b->x = ripp_http_client_request(ep->cfg.http, "POST", url, h, n, true, &client_cbs, b, &e);
    if (!b->x) {
        ep_bw_free(b);
        rv = e ? e : RIPP_ERR_IO;
        goto out;
    }
    b->ended_local = true;
    ripp_call_setup_sent(&c->fsm);
    rv = 0;
out:
    if (rv < 0 && c) {
        ep_call_free(c);
        c = NULL;
    }
    if (err) *err = rv;
    return c;
}

/* Location may be absolute or relative to the trunk URI. */
static void resolve_location(const ripp_ep_call *c, const char *loc, char *out, size_t cap)
{
    if (strncasecmp(loc, "https://", 8) == 0 || strncasecmp(loc, "http://", 7) == 0) {
        snprintf(out, cap, "%s", loc);
        return;
    }
    const char *p = strstr(c->trunk_url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    size_t origin = p ? (size_t)(p - c->trunk_url) : strlen(c->trunk_url);
    snprintf(out, cap, "%.*s%s%s", (int)origin, c->trunk_url, loc[0] == '/' ? "" : "/", loc);
}

/* Sets one cookie (name=value, l bytes, the name nl of them) in the Cookie header value:
 * a cookie of the same name is replaced where it stands (a balancer's server cookie after
 * a failover names the new instance), another is added. False when it does not fit. */
static bool cookie_set(ripp_ep_call *c, const char *v, size_t l, size_t nl)
{
    char out[sizeof c->cookie];
    size_t o = 0;
    int count = 0;
    bool replaced = false;
    for (const char *p = c->cookie; *p;) {
        const char *e = strstr(p, "; ");
        size_t el = e ? (size_t)(e - p) : strlen(p);
        const char *eq = memchr(p, '=', el);
        size_t enl = eq ? (size_t)(eq - p) : el;
        const char *src = p;
        size_t sl = el;
        bool same = enl == nl && memcmp(p, v, nl) == 0;
        p = e ? e + 2 : p + el;
        if (same) {
            if (replaced) continue; /* a duplicate of the name: keep one */
            src = v;
            sl = l;
            replaced = true;
        }
        if (o + sl + 3 >= sizeof out) return false;
        if (o) {
            memcpy(out + o, "; ", 2);
            o += 2;
        }
        memcpy(out + o, src, sl);
        o += sl;
        count++;
    }
    if (!replaced) {
        if (count >= EP_MAX_COOKIES || o + l + 3 >= sizeof out) return false;
        if (o) {
            memcpy(out + o, "; ", 2);
            o += 2;
        }
        memcpy(out + o, v, l);
        o += l;
    }
    out[o] = 0;
    memcpy(c->cookie, out, o + 1);
    return true;
}

/* Keep up to 10 cookies of at most 5 KiB (RFC 6265 name=value only; attributes dropped).
 * Returns how many Set-Cookie values were taken. */
static int take_cookies(ripp_ep_call *c, const ripp_hdr *hdrs, size_t n)
{
    int taken = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hdrs[i].name, "set-cookie") != 0) continue;
        const char *v = hdrs[i].value;
        size_t l = strcspn(v, ";");
        while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
            l--;
        const char *eq = memchr(v, '=', l);
        if (strlen(v) > EP_MAX_COOKIE_LEN || !eq || eq == v) {
            ripp_log(RIPP_LOG_WARN, "call %s: cookie refused (malformed or over 5 KiB)", c->id);
            continue;
        }
        if (!cookie_set(c, v, l, (size_t)(eq - v))) {
            ripp_log(RIPP_LOG_WARN,
                     "call %s: cookie dropped (more than %d cookies or too much "
                     "cookie data)",
                     c->id, EP_MAX_COOKIES);
            continue;
        }
        taken++;
    }
    return taken;
}

static void open_reverse(ripp_ep_call *c)
{
    if (c->reverse_opened_total >= EP_REVERSE_REOPEN_MAX || c->send_only) return;
    if (client_open(c, "POST", "/media-reverse", BW_MEDIA_RX, NULL, false)) {
        c->reverse_opened_total++;
        c->ep->counters.byways_rev++;
    }
}

static void call_created(ripp_ep_call *c, const char *location, const ripp_hdr *hdrs, size_t n,
                         ripp_ts now)
{
    ripp_ep *ep = c->ep;
    resolve_location(c, location, c->uri, sizeof c->uri);
    ripp_call_created(&c->fsm, c->uri);
    const char *slash = strrchr(c->uri, '/');
    ep_call_rekey(c, slash ? slash + 1 : c->uri);
    snprintf(c->path, sizeof c->path, "%s", slash ? slash : c->uri);
    take_cookies(c, hdrs, n);
    ep_sched_init(c, true, now);
    /* Signaling first, then the reverse media byways, all at once (M56, M60, M61). */
    client_open(c, "GET", "/event", BW_EV_RX, NULL, true);
    c->put = client_open(c, "PUT", "/event", BW_EV_TX, NULL, false);
    if (c->put) {
        ripp_xchg_write(c->put->x, (const uint8_t *)"[", 1);
        for (size_t i = 0; i < c->nclog; i++) {
            if (i) ripp_xchg_write(c->put->x, (const uint8_t *)",", 1);
            ripp_xchg_write(c->put->x, (const uint8_t *)c->clog[i], strlen(c->clog[i]));
            c->put->first_event = false;
        }
    }
    c->sig_get = NULL;
    for (ep_bw *b = c->bws; b; b = b->next)
        if (b->kind == BW_EV_RX) c->sig_get = b;
    ep->counters.byways_sig += 2;
    for (uint32_t i = 0; i < ep->cfg.reverse_byways; i++)
        open_reverse(c);
    if (c->end_pending) /* ended while the POST was under way: cancel now */
        ripp_ep_call_end(c, c->end_pending_reason.present ? &c->end_pending_reason : NULL, now);
}

/* ---- failure detection and recovery (P3, SPEC §7.2-§7.4, docs/failover.md) ---- */

static uint32_t rand32(ripp_ep *ep)
{
    uint32_t r = 0;
    if (ep->cfg.env->random) ep->cfg.env->random(ep->cfg.env->ud, (uint8_t *)&r, sizeof r);
    return r;
}

/* A byway of an older generation: no longer counted, no longer a failure trigger. Graceful
 * (migration): our request bodies end, so that the old instance still gets (and acks) what
 * is in flight; the GET and the reverse byways are the old instance's to end. Else reset. */
static void retire(ripp_ep_call *c, ep_bw *b, bool graceful)
{
    if (b->retired || b->kind == BW_SETUP || b->kind == BW_DISCARD) return;
    if (b->kind == BW_MEDIA_TX && b->sched_idx >= 0) {
        const ripp_byway *sb = &c->tx.bw[b->sched_idx];
        if (sb->state == RIPP_BYWAY_BLOCKED) {
            if (graceful) {
                b->draining = true;
                b->drain_seq = sb->inflight_seq;
                b->drain_sent_at = sb->sent_at;
                b->drain_wall_us = sb->sent_wall_us;
                ripp_sched_remove_byway(&c->tx, b->sched_idx);
                if (c->tx.stats.lost) c->tx.stats.lost--; /* not lost: still on its way */
            } else {
                ep_ring_mark_resend(c, sb->inflight_seq);
                ripp_sched_remove_byway(&c->tx, b->sched_idx);
            }
        } else {
            ripp_sched_remove_byway(&c->tx, b->sched_idx);
        }
        b->sched_idx = -1;
    }
    if (c->nkind[b->kind]) c->nkind[b->kind]--;
    b->retired = true;
    if (c->put == b) c->put = NULL;
    if (c->sig_get == b) c->sig_get = NULL;
    if (graceful) {
        if ((b->kind == BW_EV_TX || b->kind == BW_MEDIA_TX) && !b->ended_local) {
            ripp_xchg_end(b->x);
            b->ended_local = true;
        }
    } else {
        b->self_reset = true;
        ripp_xchg_reset(b->x, RIPP_XCHG_CANCEL);
    }
}

/* Frames the scheduler had queued (not written) are the newest ones submitted to it: they
 * are taken back into the failover buffer. */
static void requeue_sched(ripp_ep_call *c)
{
    unsigned q = ripp_sched_queued(&c->tx);
    if (!q) return;
    uint64_t hi = c->tx.next_seq;
    uint32_t marked = 0;
    for (uint64_t s = hi; s-- > 0 && marked < q && hi - s <= c->ring_cap;) {
        ep_ring_ent *e = c->ring ? &c->ring[s % c->ring_cap] : NULL;
        if (!e || e->seq != s || e->state != RE_SENT) continue;
        ep_ring_mark_unsent(c, (uint32_t)s);
        marked++;
    }
    ripp_sched_finish(&c->tx); /* counts them lost; the resend takes that back */
}

/* How a new byway generation treats the old one: reset it (a failure), end it gracefully
 * (our request bodies end, the old instance acks what is in flight), or, for a handover,
 * end only the signaling and keep the media with the old instance until the switch. */
enum gen_mode { GEN_RESET, GEN_GRACEFUL, GEN_HANDOVER };

static void new_generation(ripp_ep_call *c, enum gen_mode mode, ripp_ts now)
{
    c->gen++;
    c->recovering = true;
    c->handover = mode == GEN_HANDOVER;
    c->holding = !c->handover; /* a handover's frames go on to the old instance */
    c->suspect_at = 0;
    c->gone_at = 0;
    ep_bw *next;
    for (ep_bw *b = c->bws; b; b = next) {
        next = b->next;
        if (mode != GEN_HANDOVER || b->kind == BW_EV_TX || b->kind == BW_EV_RX)
            retire(c, b, mode != GEN_RESET);
    }
    if (!c->handover) requeue_sched(c);
    c->fail_at = now;
    c->recover_deadline = now + c->ep->cfg.recover_window;
    c->attempts = 0;
    c->next_attempt = RIPP_TS_NEVER;
}

static void give_up(ripp_ep_call *c, const char *why, ripp_ts now)
{
    ripp_log(RIPP_LOG_WARN, "call %s: %s: the call is lost", c->id, why);
    c->ep->counters.recovery_failed++;
    c->recovering = false;
    c->holding = false;
    ripp_call_abandon(&c->fsm, RIPP_OUTCOME_TRANSPORT);
    ep_call_ended(c, now);
    for (ep_bw *b = c->bws; b; b = b->next) {
        b->self_reset = true;
        ripp_xchg_reset(b->x, RIPP_XCHG_CANCEL);
    }
}

static void schedule_retry(ripp_ep_call *c, ripp_ts now)
{
    unsigned k = c->attempts ? c->attempts - 1 : 0;
    ripp_ts d = k > 5 ? EP_BACKOFF_CAP : EP_BACKOFF_START << k;
    if (d > EP_BACKOFF_CAP) d = EP_BACKOFF_CAP;
    /* "equal jitter": half fixed, half random, so that retries neither synchronise nor
     * come back at once */
    ripp_ts j =
        d / 2 + (ripp_ts)(rand32(c->ep) % (uint32_t)(d / 2 / RIPP_NS_PER_US + 1)) * RIPP_NS_PER_US;
    if (now + j >= c->recover_deadline) {
        give_up(c, "no instance answered within the recover window", now);
        return;
    }
    c->next_attempt = now + j;
}

/* One reconnect attempt: the signaling GET to the call URI. Its 200 re-establishes the
 * call (recovered); anything else schedules the next attempt. */
static void attempt(ripp_ep_call *c, ripp_ts now)
{
    c->attempts++;
    c->fo.attempts++;
    c->next_attempt = RIPP_TS_NEVER;
    /* A retry goes without the cookies: a sticky balancer may pin them to a dead instance. */
    if (c->attempts > 1) c->no_cookies = true;
    ep_bw *b = client_open(c, "GET", "/event", BW_EV_RX, NULL, true);
    if (b) {
        c->sig_get = b;
        return;
    }
    schedule_retry(c, now);
}

static void recovered(ripp_ep_call *c, ripp_ts now)
{
    ripp_ep *ep = c->ep;
    c->recovering = false;
    c->fo.last_gap = now - c->fail_at;
    if (c->fo.last_gap > c->fo.max_gap) c->fo.max_gap = c->fo.last_gap;
    ep->counters.reconnects++;
    /* a handover: the old instance keeps the media until the new one's first frame
     * arrives on the reverse byways opened below (client_frame_cb) */
    if (c->handover) c->handover_until = now + EP_HANDOVER_MAX;
    if (c->last_rx_at) c->last_rx_at = now;
    c->last_ack_at = now;
    c->put = client_open(c, "PUT", "/event", BW_EV_TX, NULL, false);
    if (c->put) {
        ripp_xchg_write(c->put->x, (const uint8_t *)"[", 1);
        for (size_t i = 0; i < c->nclog; i++) { /* the server drops what it has (D19) */
            if (i) ripp_xchg_write(c->put->x, (const uint8_t *)",", 1);
            ripp_xchg_write(c->put->x, (const uint8_t *)c->clog[i], strlen(c->clog[i]));
            c->put->first_event = false;
        }
    }
    ep->counters.byways_sig += 2;
    for (uint32_t i = 0; i < ep->cfg.reverse_byways; i++)
        open_reverse(c);
    c->holding = false;
    ripp_log(RIPP_LOG_INFO,
             "call %s: signaling re-established at %s after %lld ms (attempt %u); %llu frames "
             "waiting",
             c->id, c->uri, (long long)(c->fo.last_gap / RIPP_NS_PER_MS), c->attempts,
             (unsigned long long)c->ring_waiting);
    ep_ring_flush(c, now);
}

void ep_client_recover(ripp_ep_call *c, const char *why, ripp_ts now)
{
    if (c->fsm.state < RIPP_CALL_CREATED || c->fsm.state == RIPP_CALL_ENDED || c->recovering)
        return;
    c->fo.recoveries++;
    c->ep->counters.recoveries++;
    if (c->ep->cfg.no_recovery) {
        give_up(c, why, now);
        return;
    }
    ripp_log(RIPP_LOG_WARN, "call %s: failure (%s); reconnecting", c->id, why);
    /* a peer silent as long as the failure timer goes on a new connection (SPEC 7.3: a
     * fresh connection for the retry); one that still talks (a balancer in front of the
     * instance that failed) keeps carrying the other calls and this one's reconnect */
    ripp_http_client_refresh(c->ep->cfg.http, c->uri, c->ep->cfg.ack_timeout);
    new_generation(c, GEN_RESET, now);
    /* "at once" (P3), within a few ms of jitter so that the calls of a dead instance do not
     * all come back in the same instant */
    c->next_attempt = now + (ripp_ts)(rand32(c->ep) % 20000) * RIPP_NS_PER_US;
    c->attempts = 0;
}

ripp_ep_call *ripp_ep_call_adopt(ripp_ep *ep, const ripp_adopt_opts *o, ripp_ts now, int *err)
{
    int rv = RIPP_ERR_INVAL;
    ripp_ep_call *c = NULL;
    if (ep->cfg.role != RIPP_ROLE_CLIENT || !o || !o->call_uri || !o->token || !o->token[0])
        goto out;
    const char *uri = o->call_uri, *host = uri + 8;
    const char *slash = strrchr(uri, '/');
    if (strncasecmp(uri, "https://", 8) != 0 || strlen(uri) >= RIPP_URI_MAX ||
        strlen(o->token) > 1000 || !slash || slash < host || !strchr(host, '/') ||
        strchr(host, '/') == host || !slash[1] || strlen(slash + 1) >= sizeof c->id ||
        strchr(uri, '?') || o->state < RIPP_CALL_CREATED || o->state > RIPP_CALL_ACTIVE)
        goto out;
    rv = RIPP_ERR_STATE;
    if (ep_call_find(ep, slash + 1)) goto out;
    rv = RIPP_ERR_NOMEM;
    c = ep_call_new(ep, slash + 1, now);
    if (!c) goto out;
    ripp_call_init(&c->fsm, RIPP_ROLE_CLIENT, uri, 0, now);
    c->fsm.state = o->state;
    c->fsm.answered = o->state == RIPP_CALL_ACTIVE;
    c->fsm.last_seq_in = o->last_seq_in < -1 ? -1 : o->last_seq_in;
    c->fsm.next_seq_out = o->next_seq_out;
    snprintf(c->uri, sizeof c->uri, "%s", uri);
    snprintf(c->path, sizeof c->path, "%s", strchr(host, '/'));
    snprintf(c->trunk_url, sizeof c->trunk_url, "%.*s", (int)(strchr(host, '/') - uri), uri);
    snprintf(c->auth, sizeof c->auth, "Bearer %s", o->token);
    if (o->target) snprintf(c->rec.target, sizeof c->rec.target, "%s", o->target);
    if (o->cookies && strlen(o->cookies) < sizeof c->cookie)
        snprintf(c->cookie, sizeof c->cookie, "%s", o->cookies);
    ep_sched_init(c, true, now);
    c->tx.next_seq = o->media_seq;
    /* a client call whose byways are all gone: it reconnects at once */
    new_generation(c, GEN_RESET, now);
    ripp_log(RIPP_LOG_INFO,
             "call %s adopted at %s (%s; events to it from seq %llu, from it after %lld; media "
             "from seq %llu); reconnecting",
             c->id, c->uri, ripp_call_state_name(c->fsm.state),
             (unsigned long long)c->fsm.next_seq_out, (long long)c->fsm.last_seq_in,
             (unsigned long long)c->tx.next_seq);
    attempt(c, now);
    rv = 0;
out:
    if (err) *err = rv;
    return rv == 0 ? c : NULL;
}

void ripp_ep_call_release(ripp_ep_call *c, ripp_ts now)
{
    if (c->fsm.role != RIPP_ROLE_CLIENT || c->fsm.state == RIPP_CALL_ENDED) return;
    if (c->fsm.state < RIPP_CALL_CREATED) {
        ripp_ep_call_end(c, NULL, now);
        return;
    }
    ripp_log(RIPP_LOG_INFO, "call %s: handed over to another client", c->id);
    c->recovering = false;
    c->holding = false;
    ripp_call_abandon(&c->fsm, RIPP_OUTCOME_TRANSPORT);
    ep_call_ended(c, now);
    for (ep_bw *b = c->bws; b; b = b->next) {
        b->self_reset = true;
        ripp_xchg_reset(b->x, RIPP_XCHG_CANCEL);
    }
}

void ripp_ep_call_send_only(ripp_ep_call *c)
{
    if (c->fsm.role != RIPP_ROLE_CLIENT || c->fsm.state == RIPP_CALL_ENDED || c->send_only) return;
    c->send_only = true;
    ep_bw *next;
    for (ep_bw *b = c->bws; b; b = next) {
        next = b->next;
        if (b->kind != BW_MEDIA_RX || b->self_reset) continue;
        if (!b->ended_local) ripp_xchg_end(b->x);
        b->ended_local = true;
        ep_bw_detach(b);
        b->kind = BW_DISCARD;
    }
}

uint64_t ripp_ep_call_next_media_seq(const ripp_ep_call *c)
{
    return c->tx.next_seq;
}

const char *ripp_ep_call_cookies(const ripp_ep_call *c)
{
    return c->cookie;
}

/* D30: https, a host name (not an IP literal), the same path, another authority. */
static bool migrate_uri_ok(const char *cur, const char *nu)
{
    if (strncasecmp(nu, "https://", 8) != 0) return false;
    const char *a = nu + 8, *p = strchr(a, '/');
    if (!p || p == a || *a == '[') return false;
    const char *colon = memchr(a, ':', (size_t)(p - a));
    size_t hl = colon ? (size_t)(colon - a) : (size_t)(p - a);
    bool ip = true;
    for (size_t i = 0; i < hl; i++)
        if (!((a[i] >= '0' && a[i] <= '9') || a[i] == '.')) ip = false;
    if (ip) return false;
    const char *ca = strstr(cur, "://");
    if (!ca) return false;
    ca += 3;
    const char *cp = strchr(ca, '/');
    if (!cp || strcmp(cp, p) != 0) return false;
    return !((size_t)(cp - ca) == (size_t)(p - a) && strncasecmp(ca, a, (size_t)(p - a)) == 0);
}

void ep_client_migrate(ripp_ep_call *c, const char *uri, ripp_ts now)
{
    if (c->fsm.state < RIPP_CALL_CREATED || c->fsm.state == RIPP_CALL_ENDED) return;
    char target[RIPP_URI_MAX];
    bool cookies = true;
    if (!uri || !*uri) {
        snprintf(target, sizeof target, "%s", c->uri);
        cookies = false; /* P6: the balancer picks an instance */
    } else if (!migrate_uri_ok(c->uri, uri)) {
        ripp_log(RIPP_LOG_WARN,
                 "call %s: migrateToURI %s refused (D30: https, host name, same path, other "
                 "authority); reconnecting to %s",
                 c->id, uri, c->uri);
        snprintf(target, sizeof target, "%s", c->uri);
    } else {
        snprintf(target, sizeof target, "%s", uri);
    }
    c->fo.migrations++;
    if (c->recovering) {
        /* the byways are gone already: this is a reconnect to another URI */
        new_generation(c, GEN_RESET, now);
    } else {
        /* Make-before-break: the signaling moves now (events wait for the new PUT), the
         * media stays with the old instance, which goes on sending, receiving and acking
         * until the new instance's first frame (reverse_switch). */
        snprintf(c->old_uri, sizeof c->old_uri, "%s", c->uri);
        c->old_no_cookies = c->no_cookies;
        new_generation(c, GEN_HANDOVER, now);
    }
    snprintf(c->uri, sizeof c->uri, "%s", target);
    snprintf(c->fsm.uri, sizeof c->fsm.uri, "%s", target);
    c->no_cookies = !cookies;
    ripp_log(RIPP_LOG_INFO, "call %s: migrating to %s", c->id, c->uri);
    attempt(c, now);
}

static void setup_failed(ep_bw *b, ripp_ts now)
{
    ripp_ep_call *c = b->call;
    if (!c || c->fsm.state != RIPP_CALL_SETUP_SENT) return;
    int code = b->status;
    c->setup_status = b->status;
    if (b->status == 0) {
        snprintf(c->setup_detail, sizeof c->setup_detail, "no response (connection failed)");
        ripp_call_abandon(&c->fsm, RIPP_OUTCOME_TRANSPORT);
    } else {
        ripp_problem p;
        if (b->body && ripp_problem_decode(&p, b->body, b->body_len) == 0) {
            snprintf(c->setup_detail, sizeof c->setup_detail, "%s", p.detail);
            if (p.sip_code) code = p.sip_code;
        } else {
            snprintf(c->setup_detail, sizeof c->setup_detail, "%s", ripp_http_reason(b->status));
        }
        ripp_call_setup_failed(&c->fsm, code);
    }
    ripp_log(RIPP_LOG_INFO, "call setup refused: %d %s", b->status, c->setup_detail);
    ep_call_ended(c, now);
}

static void on_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *hdrs, size_t n)
{
    ep_bw *b = ud;
    ripp_ep_call *c = b->call;
    (void)x;
    b->status = status;
    b->responded = true;
    if (!c) return;
    /* a handover's old instance refusing a media byway: it no longer has the call */
    bool old_path = status != 200 && c->handover && b->gen != c->gen && !b->retired &&
                    (b->kind == BW_MEDIA_TX || b->kind == BW_MEDIA_RX);
    ripp_ts now = ep_now(c->ep);
    const char *loc = NULL, *media = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hdrs[i].name, "location") == 0)
            loc = hdrs[i].value;
        else if (strcasecmp(hdrs[i].name, "ripp-media") == 0)
            media = hdrs[i].value;
    }
    if (status == 404 && b->kind != BW_SETUP && c->fsm.state != RIPP_CALL_ENDED && !b->retired &&
        !c->recovering) {
        /* M90: the server no longer has the call. The event that ended it may still be on
         * its way on the signaling GET (responses of other streams can overtake it), so
         * give that a moment unless it is the GET itself that is refused. */
        if (b->kind == BW_EV_RX)
            c->gone_at = now;
        else if (!c->gone_at)
            c->gone_at = now + EP_GONE_WAIT;
    }
    switch (b->kind) {
    case BW_SETUP:
        if (status >= 200 && status < 300 && loc && c->fsm.state == RIPP_CALL_SETUP_SENT)
            call_created(c, loc, hdrs, n, now);
        /* else: the problem body follows; judged at its end */
        break;
    case BW_EV_RX:
        if (b == c->sig_get && c->recovering && c->fsm.state != RIPP_CALL_ENDED) {
            if (status == 200) {
                /* SPEC 7.2 [T00]: the instance that answered may set cookies (a balancer's
                 * server cookie, the instance's own); the PUT and the media byways opened
                 * next carry them, so that they reach the same instance. A reconnect made
                 * without cookies sends them again once it has new ones; without any it
                 * stays without (the old ones may name another instance). */
                if (take_cookies(c, hdrs, n) > 0) c->no_cookies = false;
                recovered(c, now);
            } else if (status == 404 || status == 401 || status == 403) {
                c->sig_get = NULL;
                give_up(c,
                        status == 404 ? "the call is unknown to the instance reached"
                                      : "the instance reached refuses the token",
                        now);
                return;
            } else {
                ripp_log(RIPP_LOG_INFO, "call %s: reconnect attempt answered %d", c->id, status);
                c->sig_get = NULL;
                retire(c, b, true);
                schedule_retry(c, now);
                return;
            }
        }
        goto other;
    case BW_MEDIA_RX:
        if (status == 200 && media && ripp_media_hdr_parse(&b->hdr, media, strlen(media)) == 0) {
            b->have_hdr = true;
        } else if (b->retired) {
            if (!b->ended_local) ripp_xchg_end(b->x);
            b->ended_local = true;
        } else {
            if (status != 204 && c->fsm.state != RIPP_CALL_ENDED)
                ripp_log(status == 404 ? RIPP_LOG_INFO : RIPP_LOG_WARN,
                         "call %s: reverse byway answered %d%s", c->id, status,
                         status == 200 ? " with a bad RIPP-Media" : "");
            if (status == 200)
                ripp_xchg_reset(b->x, RIPP_XCHG_PROTOCOL_ERROR);
            else if (!b->ended_local)
                ripp_xchg_end(b->x);
            b->ended_local = true;
            ep_bw_detach(b);
            b->kind = BW_DISCARD;
        }
        break;
    default:
    other:
        /* A refusal carries a problem body, not events or acks. A retired byway is refused
         * by an instance the call has left (a request that crossed the migrate: 503): what
         * it carried was not taken there, and a frame in flight on it is sent again. */
        if (status != 200) {
            if (c->fsm.state != RIPP_CALL_ENDED && !b->retired)
                ripp_log(status == 404 ? RIPP_LOG_INFO : RIPP_LOG_WARN,
                         "call %s: byway answered %d", c->id, status);
            if (!b->ended_local) ripp_xchg_end(b->x);
            b->ended_local = true;
            ep_bw_detach(b);
            b->kind = BW_DISCARD;
        }
        break;
    }
    if (old_path && c->handover) handover_old_lost(c); /* the old instance let the call go */
}

static int client_event_cb(void *ud, const ripp_event *ev)
{
    ep_ctx *ctx = ud;
    if (!ctx->b->call) return 0;
    return ep_call_on_peer_event(ctx->b->call, ev, ctx->now);
}

/* The media switch of a handover: the client's frames go to the new instance from now on;
 * the old one acks those in flight (draining byways); its reverse byways play until the new
 * instance's first frame (reverse_switch). */
static void handover_switch(ripp_ep_call *c)
{
    c->handover = false;
    ep_bw *next;
    for (ep_bw *b = c->bws; b; b = next) {
        next = b->next;
        if (b->gen != c->gen && (b->kind == BW_MEDIA_TX || b->kind == BW_MEDIA_RX))
            retire(c, b, true);
    }
}

/* A byway to the old instance was reset during a handover (it crashed, or let the call go):
 * the media switches to the new instance now, without a reconnect; frames that instance
 * never acked go again. Before the new instance's answer they wait for it. */
static void handover_old_lost(ripp_ep_call *c)
{
    ripp_log(RIPP_LOG_INFO,
             "call %s: a media byway of the old instance was reset or refused during the "
             "handover; media moves to %s now",
             c->id, c->uri);
    if (c->recovering) c->holding = true;
    handover_switch(c);
}

/* The first frame on a byway of a newer generation (the instance the call moved to): the
 * new path works end to end, so a handover switches; the old instance's reverse byways,
 * which played until now, are ended, and what they still carry is ignored. */
static void reverse_switch(ripp_ep_call *c, unsigned gen)
{
    c->rx_gen = gen;
    if (c->handover && !c->recovering) handover_switch(c);
    ep_bw *next;
    for (ep_bw *b = c->bws; b; b = next) {
        next = b->next;
        if (b->kind != BW_MEDIA_RX || b->gen >= gen || b->self_reset) continue;
        if (!b->ended_local) ripp_xchg_end(b->x);
        b->ended_local = true;
        ep_bw_detach(b);
        b->kind = BW_DISCARD;
    }
}

static int client_frame_cb(void *ud, uint64_t seq_offset, const uint8_t *payload, size_t len)
{
    ep_ctx *ctx = ud;
    ep_bw *b = ctx->b;
    if (b->kind != BW_MEDIA_RX || !b->call) return 0;
    if (b->gen > b->call->rx_gen && !b->retired) reverse_switch(b->call, b->gen);
    ep_media_on_frame(b, seq_offset, payload, len, ctx->now);
    return 0;
}

static void on_data(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    ep_bw *b = ud;
    (void)x;
    if (!b->call) return;
    ep_ctx ctx = {b, ep_now(b->ep)};
    int rv = 0;
    switch (b->kind) {
    case BW_SETUP:
        if (b->body_len + len <= EP_SETUP_BODY_MAX) {
            char *nb = realloc(b->body, b->body_len + len + 1);
            if (nb) {
                memcpy(nb + b->body_len, data, len);
                b->body = nb;
                b->body_len += len;
                nb[b->body_len] = 0;
            }
        }
        break;
    case BW_EV_RX:
        rv = ripp_event_parser_feed(&b->p.ev, data, len, client_event_cb, &ctx);
        break;
    case BW_MEDIA_RX:
        if (b->have_hdr) rv = ripp_frame_parser_feed(b->p.fp, data, len, client_frame_cb, &ctx);
        break;
    case BW_MEDIA_TX:
        rv = ripp_ack_parser_feed(&b->p.ap, data, len, ep_ack_cb, &ctx);
        break;
    default:
        break;
    }
    if (rv < 0 && b->call) {
        ripp_log(RIPP_LOG_WARN, "call %s: malformed data from the server on %s (%s); byway reset",
                 b->call->id,
                 b->kind == BW_EV_RX      ? "the signaling GET"
                 : b->kind == BW_MEDIA_RX ? "a reverse media byway"
                 : b->kind == BW_MEDIA_TX ? "a forward media byway's acks"
                                          : "a byway",
                 ripp_strerror(rv));
        ripp_xchg_reset(b->x, RIPP_XCHG_PROTOCOL_ERROR);
        ep_bw_detach(b);
        b->kind = BW_DISCARD;
    }
}

static void on_end(ripp_xchg *x, void *ud)
{
    ep_bw *b = ud;
    ripp_ep_call *c = b->call;
    if (c && b->kind == BW_SETUP) {
        if (!(b->status >= 200 && b->status < 300)) setup_failed(b, ep_now(c->ep));
        return;
    }
    bool live =
        c && c->fsm.state >= RIPP_CALL_CREATED && c->fsm.state != RIPP_CALL_ENDED && !b->retired;
    enum bw_kind kind = b->kind;
    /* whatever the byway was, end our side so that the stream closes */
    if (!b->ended_local) {
        ripp_xchg_end(x);
        b->ended_local = true;
    }
    if (b->draining) return; /* its ack may still come */
    ep_bw_detach(b);
    if (!live) return;
    ripp_ts now = ep_now(c->ep);
    if (kind == BW_EV_RX) {
        if (c->recovering) {
            schedule_retry(c, now);
        } else {
            /* the event that ended the call would have come before the end of this stream */
            ep_client_recover(c, "the server ended the signaling byway", now);
        }
    } else if ((kind == BW_MEDIA_RX || kind == BW_MEDIA_TX) && !c->recovering && !c->suspect_at) {
        /* a balancer ending idle streams, or the end of the call whose event is still on its
         * way on another stream: judged a moment later */
        c->suspect_at = now + EP_SUSPECT_WAIT;
    }
}

static void on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    ep_bw *b = ud;
    ripp_ep_call *c = b->call;
    (void)x;
    (void)code;
    bool attempt_gone = c && b == c->sig_get && c->recovering;
    bool failure = c && error && !b->self_reset && !b->retired && b->kind != BW_SETUP &&
                   b->kind != BW_DISCARD && c->fsm.state >= RIPP_CALL_CREATED &&
                   c->fsm.state != RIPP_CALL_ENDED;
    /* a media byway of the instance a handover leaves: that path is gone, not the call */
    bool old_path = failure && c->handover && b->gen != c->gen &&
                    (b->kind == BW_MEDIA_TX || b->kind == BW_MEDIA_RX);
    if (c && b->kind == BW_SETUP && !(b->status >= 200 && b->status < 300))
        setup_failed(b, ep_now(b->ep));
    ep_bw_free(b); /* its frame in flight, if any, is to be sent again */
    if (attempt_gone) {
        if (c->sig_get == NULL && c->fsm.state != RIPP_CALL_ENDED) schedule_retry(c, ep_now(c->ep));
    } else if (old_path) {
        handover_old_lost(c);
    } else if (failure) {
        ep_client_recover(c, "a byway was reset", ep_now(c->ep));
    }
}

static const ripp_xchg_cbs client_cbs = {
    .on_response = on_response,
    .on_data = on_data,
    .on_end = on_end,
    .on_close = on_close,
};

/* Every event sent is kept (EP_CLOG_MAX newest) and written again on each new PUT; the
 * server drops those it has processed (D19). */
int ep_client_send_json(ripp_ep_call *c, const char *json, size_t len)
{
    char *copy = strndup(json, len);
    if (!copy) return RIPP_ERR_NOMEM;
    if (c->nclog == EP_CLOG_MAX) {
        free(c->clog[0]);
        memmove(c->clog, c->clog + 1, (EP_CLOG_MAX - 1) * sizeof *c->clog);
        c->nclog--;
    }
    if (!c->clog && !(c->clog = calloc(EP_CLOG_MAX, sizeof *c->clog))) {
        free(copy);
        return RIPP_ERR_NOMEM;
    }
    c->clog[c->nclog++] = copy;
    if (!c->put) return 0;
    if (!c->put->first_event) ripp_xchg_write(c->put->x, (const uint8_t *)",", 1);
    c->put->first_event = false;
    return ripp_xchg_write(c->put->x, (const uint8_t *)json, len);
}

int ep_client_write_frame(void *ud, int idx, void *user, const ripp_media_hdr *hdr,
                          const uint8_t *rec, size_t len)
{
    ripp_ep_call *c = ud;
    ep_bw *b = user;
    if (hdr) {
        char val[RIPP_MEDIA_HDR_MAX];
        if (ripp_media_hdr_format(hdr, val, sizeof val) < 0) return RIPP_ERR_LIMIT;
        b = client_open(c, "POST", "/media-forward", BW_MEDIA_TX, val, false);
        if (!b) return RIPP_ERR_CLOSED;
        b->sched_idx = idx;
        c->tx.bw[idx].user = b;
        c->ep->counters.byways_fwd++;
    }
    if (!b) return RIPP_ERR_STATE;
    int rv = ep_byway_write(b, rec, len);
    /* the stream is gone (reset under us): the frame waits for the next byways */
    if (rv < 0) ep_ring_mark_unsent(c, c->tx.bw[idx].inflight_seq);
    return rv;
}

void ep_client_tick(ripp_ep_call *c, ripp_ts now)
{
    if (c->end_pending && c->fsm.state == RIPP_CALL_SETUP_SENT &&
        now >= c->end_pending_at + c->ep->cfg.close_grace) {
        /* the POST was never answered: give it up (a call the server made meanwhile ends
         * on its hold timer) */
        ripp_log(RIPP_LOG_INFO, "call %s: no answer to the call creation; cancelled", c->id);
        for (ep_bw *b = c->bws; b; b = b->next)
            if (b->kind == BW_SETUP) ripp_xchg_reset(b->x, RIPP_XCHG_CANCEL);
        ripp_call_abandon(&c->fsm, RIPP_OUTCOME_CANCELLED);
        ep_call_ended(c, now);
        return;
    }
    if (c->fsm.state < RIPP_CALL_CREATED || c->fsm.state == RIPP_CALL_ENDED) return;
    if (c->recovering) {
        if (c->next_attempt != RIPP_TS_NEVER && now >= c->next_attempt)
            attempt(c, now);
        else if (now >= c->recover_deadline)
            give_up(c, "no instance answered within the recover window", now);
        return;
    }
    /* no frame from the new instance in time: switch all the same, and let the old one go */
    if (c->handover && now >= c->handover_until) reverse_switch(c, c->gen);
    ripp_ts oldest = ripp_sched_oldest_inflight(&c->tx);
    if (oldest != RIPP_TS_NEVER) {
        ripp_ts since = oldest > c->last_ack_at ? oldest : c->last_ack_at;
        if (now >= since + c->ep->cfg.ack_timeout) {
            ep_client_recover(c, "no ack while frames are outstanding", now);
            return;
        }
    }
    if (c->last_rx_at && !c->send_only &&
        now >= c->last_rx_at + c->ep->cfg.media_timeout) { /* D31 */
        ep_client_recover(c, "no media from the server", now);
        return;
    }
    if (c->suspect_at && now >= c->suspect_at) {
        c->suspect_at = 0;
        ep_client_recover(c, "the server ended a media byway", now);
        return;
    }
    if (c->gone_at && now >= c->gone_at) {
        ripp_log(RIPP_LOG_WARN, "call %s: the server answers 404: the call is gone", c->id);
        ripp_call_abandon(&c->fsm, RIPP_OUTCOME_TRANSPORT);
        ep_call_ended(c, now);
        return;
    }
    unsigned open = c->nkind[BW_MEDIA_RX];
    unsigned want = c->ep->cfg.reverse_byways + c->reverse_wanted;
    if (want > RIPP_MAX_BYWAYS) want = RIPP_MAX_BYWAYS;
    while (open < want && c->reverse_opened_total < EP_REVERSE_REOPEN_MAX && !c->send_only) {
        open_reverse(c);
        open++;
    }
}

/* After the end: end our side of every byway; the server ends its side. Reverse byways
 * stay open until the server ends them, so that frames already on their way are still
 * acked (they were not lost: the call ended while they travelled). */
void ep_client_close_call(ripp_ep_call *c)
{
    for (ep_bw *b = c->bws; b; b = b->next) {
        if (b->ended_local || b->kind == BW_MEDIA_RX) continue;
        ripp_xchg_end(b->x);
        b->ended_local = true;
    }
}
