/* The client role: placing a call (POST calls), opening the signaling and media byways
 * (SPEC §3.1, §4.2), cookies (§2.2), and closing after the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ep_internal.h"

#define EP_SETUP_BODY_MAX 8192
#define EP_REVERSE_REOPEN_MAX 200 /* reverse byways one call may open in its life */
#define EP_GONE_WAIT (500 * RIPP_NS_PER_MS)
#define EP_SIG_REOPEN_MAX 10 /* signaling GETs one call may reopen in its life */

static const ripp_xchg_cbs client_cbs;

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
    char url[RIPP_URI_MAX + 32];
    snprintf(url, sizeof url, "%s%s", c->uri, suffix);
    ripp_hdr h[4];
    size_t n = 0;
    h[n++] = (ripp_hdr){"authorization", c->auth};
    if (c->cookie[0]) h[n++] = (ripp_hdr){"cookie", c->cookie};
    if (ripp_media) h[n++] = (ripp_hdr){"ripp-media", ripp_media};
    if (kind == BW_EV_TX || kind == BW_EV_RX)
        h[n++] = (ripp_hdr){"content-type", "application/json"};
    ep_bw *b = ep_bw_new(c, NULL, kind);
    if (!b) return NULL;
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

/* Keep up to 10 cookies of at most 5 KiB (RFC 6265 name=value only; attributes dropped). */
static void take_cookies(ripp_ep_call *c, const ripp_hdr *hdrs, size_t n)
{
    int count = 0;
    size_t o = 0;
    for (size_t i = 0; i < n && count < EP_MAX_COOKIES; i++) {
        if (strcasecmp(hdrs[i].name, "set-cookie") != 0) continue;
        const char *v = hdrs[i].value;
        size_t l = strcspn(v, ";");
        if (strlen(v) > EP_MAX_COOKIE_LEN || !memchr(v, '=', l) || l == 0) {
            ripp_log(RIPP_LOG_WARN, "call %s: cookie refused (malformed or over 5 KiB)", c->id);
            continue;
        }
        if (o + l + 3 >= sizeof c->cookie) {
            ripp_log(RIPP_LOG_WARN, "call %s: cookie dropped (too much cookie data)", c->id);
            continue;
        }
        if (o) o += (size_t)snprintf(c->cookie + o, sizeof c->cookie - o, "; ");
        memcpy(c->cookie + o, v, l);
        o += l;
        c->cookie[o] = 0;
        count++;
    }
}

static void open_reverse(ripp_ep_call *c)
{
    if (c->reverse_opened_total >= EP_REVERSE_REOPEN_MAX) return;
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
        for (size_t i = 0; i < c->npending; i++) {
            ep_client_send_json(c, c->pending[i], strlen(c->pending[i]));
            free(c->pending[i]);
        }
        c->npending = 0;
    }
    ep->counters.byways_sig += 2;
    for (uint32_t i = 0; i < ep->cfg.reverse_byways; i++)
        open_reverse(c);
    if (c->end_pending) /* ended while the POST was under way: cancel now */
        ripp_ep_call_end(c, c->end_pending_reason.present ? &c->end_pending_reason : NULL, now);
}

/* The signaling GET of a live call is gone (the connection was lost, or the stream reset or
 * ended by the server): it is reopened once (SPEC §7.3, one reconnect attempt); when the
 * attempt fails too, the call is lost, ends locally, and what is left of it is reset. */
static void sig_lost(ripp_ep_call *c, bool attempt_failed, ripp_ts now)
{
    if (c->fsm.state < RIPP_CALL_CREATED || c->fsm.state == RIPP_CALL_ENDED) return;
    if ((!c->sig_reopening || !attempt_failed) && c->sig_reopens < EP_SIG_REOPEN_MAX) {
        c->sig_reopening = true;
        c->sig_reopens++;
        ripp_log(RIPP_LOG_INFO, "call %s: the signaling byway was lost; reopening it", c->id);
        if (client_open(c, "GET", "/event", BW_EV_RX, NULL, true)) return;
    }
    ripp_log(RIPP_LOG_WARN, "call %s: the signaling byway cannot be reopened: the call is lost",
             c->id);
    ripp_call_abandon(&c->fsm, RIPP_OUTCOME_TRANSPORT);
    ep_call_ended(c, now);
    for (ep_bw *b = c->bws; b; b = b->next)
        ripp_xchg_reset(b->x, RIPP_XCHG_CANCEL);
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
    ripp_ts now = ep_now(c->ep);
    const char *loc = NULL, *media = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hdrs[i].name, "location") == 0)
            loc = hdrs[i].value;
        else if (strcasecmp(hdrs[i].name, "ripp-media") == 0)
            media = hdrs[i].value;
    }
    if (status == 404 && b->kind != BW_SETUP && c->fsm.state != RIPP_CALL_ENDED) {
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
        if (status == 200) c->sig_reopening = false; /* (re)connected */
        goto other;
    case BW_MEDIA_RX:
        if (status == 200 && media && ripp_media_hdr_parse(&b->hdr, media, strlen(media)) == 0) {
            b->have_hdr = true;
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
        if (status != 200) {
            if (c->fsm.state != RIPP_CALL_ENDED)
                ripp_log(status == 404 ? RIPP_LOG_INFO : RIPP_LOG_WARN,
                         "call %s: byway answered %d", c->id, status);
            if (!b->ended_local) ripp_xchg_end(b->x);
            b->ended_local = true;
            ep_bw_detach(b);
            b->kind = BW_DISCARD;
        }
        break;
    }
}

static int client_event_cb(void *ud, const ripp_event *ev)
{
    ep_ctx *ctx = ud;
    if (!ctx->b->call) return 0;
    return ep_call_on_peer_event(ctx->b->call, ev, ctx->now);
}

static int client_frame_cb(void *ud, uint64_t seq_offset, const uint8_t *payload, size_t len)
{
    ep_ctx *ctx = ud;
    if (ctx->b->kind == BW_MEDIA_RX) ep_media_on_frame(ctx->b, seq_offset, payload, len, ctx->now);
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
        ripp_log(RIPP_LOG_WARN, "call %s: malformed data from the server (%s); byway reset",
                 b->call->id, ripp_strerror(rv));
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
    if (c && c->fsm.state != RIPP_CALL_ENDED)
        ripp_log(RIPP_LOG_WARN, "call %s: the server ended a byway of a live call", c->id);
    /* whatever the byway was, end our side so that the stream closes */
    if (!b->ended_local) {
        ripp_xchg_end(x);
        b->ended_local = true;
    }
    bool sig = c && b->kind == BW_EV_RX;
    ep_bw_detach(b);
    if (sig) sig_lost(c, false, ep_now(c->ep));
}

static void on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    ep_bw *b = ud;
    ripp_ep_call *c = b->call;
    (void)x;
    (void)code;
    bool sig = c && b->kind == BW_EV_RX, answered = b->status == 200;
    if (c && b->kind == BW_SETUP && !(b->status >= 200 && b->status < 300))
        setup_failed(b, ep_now(b->ep));
    else if (c && error && c->fsm.state != RIPP_CALL_ENDED)
        ripp_log(RIPP_LOG_WARN, "call %s: a byway was reset", c->id);
    ep_bw_free(b);
    if (sig) sig_lost(c, !answered, ep_now(c->ep));
}

static const ripp_xchg_cbs client_cbs = {
    .on_response = on_response,
    .on_data = on_data,
    .on_end = on_end,
    .on_close = on_close,
};

int ep_client_send_json(ripp_ep_call *c, const char *json, size_t len)
{
    if (!c->put) {
        char **np = realloc(c->pending, (c->npending + 1) * sizeof *np);
        if (!np) return RIPP_ERR_NOMEM;
        c->pending = np;
        np[c->npending] = strndup(json, len);
        if (!np[c->npending]) return RIPP_ERR_NOMEM;
        c->npending++;
        return 0;
    }
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
    return ep_byway_write(b, rec, len);
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
    if (c->gone_at && now >= c->gone_at) {
        ripp_log(RIPP_LOG_WARN, "call %s: the server answers 404: the call is gone", c->id);
        ripp_call_abandon(&c->fsm, RIPP_OUTCOME_TRANSPORT);
        ep_call_ended(c, now);
        return;
    }
    unsigned open = c->nkind[BW_MEDIA_RX];
    unsigned want = c->ep->cfg.reverse_byways + c->reverse_wanted;
    if (want > RIPP_MAX_BYWAYS) want = RIPP_MAX_BYWAYS;
    while (open < want && c->reverse_opened_total < EP_REVERSE_REOPEN_MAX) {
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
