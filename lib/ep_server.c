/* The server role: routing of the RIPP resources (SPEC §2.3), authorization (D9, D10),
 * call creation with PASSporT verification, and the server ends of every byway. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static const ripp_xchg_cbs server_cbs;

static void refuse(ripp_ep *ep, ripp_xchg *x, const ripp_request *req, int status, const char *slug,
                   int sip_code, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void refusev(ripp_ep *ep, ripp_xchg *x, const char *method, const char *path, int status,
                    const char *slug, int sip_code, const char *fmt, va_list ap)
{
    char detail[512];
    vsnprintf(detail, sizeof detail, fmt, ap);
    ripp_problem p;
    ripp_problem_set(&p, status, slug, sip_code, "%s", detail);
    ripp_hdr extra[2];
    size_t n = 0;
    if (status == 401) extra[n++] = (ripp_hdr){"www-authenticate", "Bearer realm=\"ripp\""};
    if (status == 405) extra[n++] = (ripp_hdr){"allow", "GET"};
    if (status == 503 && ep->draining) extra[n++] = (ripp_hdr){"retry-after", "1"};
    ripp_xchg_respond_problem(x, &p, extra, n);
    ep->counters.problems++;
    ripp_log(RIPP_LOG_INFO, "%s %s -> %d %s: %s", method, path, status, slug, detail);
}

static void refuse(ripp_ep *ep, ripp_xchg *x, const ripp_request *req, int status, const char *slug,
                   int sip_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    refusev(ep, x, req->method, req->path, status, slug, sip_code, fmt, ap);
    va_end(ap);
}

static void refuse_at(ripp_ep *ep, ripp_xchg *x, const char *method, const char *path, int status,
                      const char *slug, int sip_code, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static void refuse_at(ripp_ep *ep, ripp_xchg *x, const char *method, const char *path, int status,
                      const char *slug, int sip_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    refusev(ep, x, method, path, status, slug, sip_code, fmt, ap);
    va_end(ap);
}

/* A byway whose body turned out malformed: a problem while the status is still ours to
 * choose, a stream reset after that. */
static void byway_fail(ep_bw *b, int status, const char *slug, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void byway_fail(ep_bw *b, int status, const char *slug, const char *fmt, ...)
{
    ripp_ep *ep = b->ep;
    const char *path = b->call ? b->call->path : "-";
    va_list ap;
    va_start(ap, fmt);
    if (!b->responded) {
        refusev(ep, b->x, "byway", path, status, slug, 0, fmt, ap);
        b->responded = true;
        b->ended_local = true;
    } else {
        char detail[256];
        vsnprintf(detail, sizeof detail, fmt, ap);
        ripp_log(RIPP_LOG_INFO, "byway %s: %s (%s); stream reset", path, slug, detail);
        ripp_xchg_reset(b->x, RIPP_XCHG_PROTOCOL_ERROR);
    }
    va_end(ap);
    ep_bw_detach(b);
    b->kind = BW_DISCARD;
}

/* ---- authorization ---- */

/* RFC 6750 §2.3: a GET without an Authorization field may carry the token as the
 * access_token query parameter (for HTTP clients that cannot set fields). Copies the
 * percent-decoded value as "Bearer <token>" into out; false when there is none. */
static bool query_token(const ripp_request *req, char *out, size_t cap)
{
    if (strcmp(req->method, "GET") != 0 || !req->query) return false;
    for (const char *p = req->query; *p;) {
        size_t n = strcspn(p, "&");
        if (n > 13 && strncmp(p, "access_token=", 13) == 0) {
            size_t k = (size_t)snprintf(out, cap, "Bearer ");
            for (size_t i = 13; i < n && k + 1 < cap; i++) {
                unsigned v;
                if (p[i] == '%' && i + 2 < n && sscanf(p + i + 1, "%2x", &v) == 1) {
                    out[k++] = (char)v;
                    i += 2;
                } else {
                    out[k++] = p[i] == '+' ? ' ' : p[i];
                }
            }
            out[k] = '\0';
            return k > 7;
        }
        p += n + (p[n] == '&');
    }
    return false;
}

/* Returns the trunk id of a valid bearer token in out, or answers 401 and returns -1. */
static int authenticate(ripp_ep *ep, ripp_xchg *x, const ripp_request *req, char *trunk_id,
                        size_t cap, char hash[65])
{
    const char *auth = ripp_request_header(req, "authorization");
    char qtok[600];
    if (!auth && query_token(req, qtok, sizeof qtok)) auth = qtok;
    if (!auth) {
        refuse(ep, x, req, 401, "missing-token", 0, "an Authorization: Bearer token is required");
        return -1;
    }
    if (strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        refuse(ep, x, req, 401, "invalid-token", 0, "the Authorization scheme must be Bearer");
        return -1;
    }
    if (ep->hooks.token_hash(ep->ud, auth + 7, hash) < 0) {
        refuse(ep, x, req, 500, "internal", 0, "token hashing failed");
        return -1;
    }
    ripp_ts now = ep_now(ep);
    ep_tok *tc = ep->tokcache ? &ep->tokcache[strtoul(hash + 56, NULL, 16) % EP_TOKCACHE] : NULL;
    if (tc && tc->until > now && strcmp(tc->hash, hash) == 0 && strlen(tc->trunk_id) < cap) {
        snprintf(trunk_id, cap, "%s", tc->trunk_id);
        ep->counters.token_cache_hits++;
        return 0;
    }
    int rv = ep->cfg.store->ops->token_lookup(ep->cfg.store->impl, hash,
                                              (int64_t)(ep_wall_us(ep) / 1000), trunk_id, cap);
    if (rv < 0 && rv != RIPP_ERR_NOTFOUND && tc && tc->until &&
        now < tc->until + EP_TOKEN_STALE_OK && strcmp(tc->hash, hash) == 0 &&
        strlen(tc->trunk_id) < cap) {
        /* the store is away: a token it validated in the last minutes still opens the
         * byways of live calls (and new calls then fail on the trunk read, 503) */
        snprintf(trunk_id, cap, "%s", tc->trunk_id);
        ep->counters.token_cache_hits++;
        return 0;
    }
    if (rv == 0 && tc && strlen(trunk_id) < sizeof tc->trunk_id) {
        snprintf(tc->hash, sizeof tc->hash, "%s", hash);
        snprintf(tc->trunk_id, sizeof tc->trunk_id, "%s", trunk_id);
        tc->until = now + ep->cfg.token_cache;
    }
    if (rv == RIPP_ERR_NOTFOUND) {
        refuse(ep, x, req, 401, "invalid-token", 0, "the bearer token is not valid");
        return -1;
    }
    if (rv < 0) {
        refuse(ep, x, req, 503, "store-unavailable", 0, "the store did not answer");
        return -1;
    }
    return 0;
}

void ripp_ep_forget_tokens(ripp_ep *ep)
{
    if (ep->tokcache) memset(ep->tokcache, 0, EP_TOKCACHE * sizeof *ep->tokcache);
}

/* ---- helpers ---- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Value of a query parameter, percent-decoded ('+' is a space). 0, or -1 when absent or
 * malformed or too long. */
static int query_param(const char *query, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t seglen = amp ? (size_t)(amp - p) : strlen(p);
        if (seglen > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t o = 0;
            for (size_t i = nl + 1; i < seglen; i++) {
                int ch = (unsigned char)p[i];
                if (ch == '%') {
                    if (i + 2 >= seglen) return -1;
                    int h = hexval(p[i + 1]), l = hexval(p[i + 2]);
                    if (h < 0 || l < 0) return -1;
                    ch = h * 16 + l;
                    i += 2;
                } else if (ch == '+') {
                    ch = ' ';
                }
                if (ch == 0 || o + 1 >= cap) return -1;
                out[o++] = (char)ch;
            }
            out[o] = 0;
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

/* A user@domain target (SPEC §3.7): printable, one '@', both sides non-empty. */
static bool target_valid(const char *t)
{
    const char *at = strchr(t, '@');
    if (!at || at == t || !at[1] || strchr(at + 1, '@')) return false;
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) return false;
    return true;
}

static int verify_cb(void *ud, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
    void **pair = ud;
    ripp_ep *ep = pair[0];
    const ripp_trunk_rec *t = pair[1];
    if (!ep->hooks.verify_sig) return RIPP_ERR_AUTH;
    return ep->hooks.verify_sig(ep->ud, t, data, len, sig, siglen);
}

static int format_uuid4(ripp_ep *ep, char out[37])
{
    uint8_t b[16];
    int rv = ep->cfg.env->random(ep->cfg.env->ud, b, sizeof b);
    if (rv < 0) return rv;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

/* ---- trunk resources ---- */

/* Does an If-None-Match value name etag (RFC 9110 §13.1.2: weak comparison, or "*")? */
static bool etag_matches(const char *inm, const char *etag)
{
    size_t el = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '*') return true;
        if (p[0] == 'W' && p[1] == '/') p += 2;
        size_t n = strcspn(p, ",");
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == el && strncmp(p, etag, el) == 0) return true;
        p += strcspn(p, ",");
    }
    return false;
}

/* D13: capAdv carries a strong ETag (a hash of the document) and max-age=3600; a client
 * that re-fetches with If-None-Match gets 304 when nothing changed. */
static void serve_caps(ripp_ep *ep, ripp_xchg *x, const ripp_request *req, const ripp_trunk_rec *t)
{
    (void)ep;
    ripp_caps caps;
    ripp_caps_init_default(&caps);
    if (t->caps_json[0]) ripp_caps_parse(&caps, t->caps_json, strlen(t->caps_json), NULL);
    char body[4096];
    int64_t n = ripp_caps_emit(&caps, body, sizeof body);
    if (n < 0) n = snprintf(body, sizeof body, "{}");
    uint64_t h64 = 14695981039346656037ull; /* FNV-1a: an identity, not a secret */
    for (int64_t i = 0; i < n; i++)
        h64 = (h64 ^ (uint8_t)body[i]) * 1099511628211ull;
    char etag[24];
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)h64);
    /* private: the request may have carried its token in the URI (RFC 6750 §2.3) */
    ripp_hdr h[] = {{"content-type", "application/json"},
                    {"cache-control", "private, max-age=3600"},
                    {"etag", etag}};
    const char *inm = ripp_request_header(req, "if-none-match");
    if (inm && etag_matches(inm, etag)) {
        ripp_xchg_respond(x, 304, h + 1, 2, true);
        return;
    }
    ripp_xchg_respond(x, 200, h, 3, false);
    ripp_xchg_write(x, (const uint8_t *)body, (size_t)n);
    ripp_xchg_end(x);
}

/* What a call creation needs once its identity is decided; kept while a verdict is pending. */
typedef struct ep_pending {
    struct ep_pending *next;
    ripp_ep *ep;
    ripp_xchg *x;
    uint64_t ticket;
    ripp_trunk_rec t;
    char target[256];
    char token_hash[65];
    char authority[300];
    char method[8];
    char path[320];
    char *identity;
} ep_pending;

static void finish_create(ripp_ep *ep, ripp_xchg *x, const ripp_trunk_rec *t, const char *target,
                          const char *token_hash, const char *authority, const char *identity,
                          const ripp_identity_verdict *v, ripp_ts now)
{
    char id[37];
    if (format_uuid4(ep, id) < 0) {
        refuse_at(ep, x, "POST", t->id, 500, "internal", 0,
                  "no randomness for the call identifier");
        return;
    }
    ripp_ep_call *c = ep_call_new(ep, id, now);
    if (!c) {
        refuse_at(ep, x, "POST", t->id, 503, "overloaded", 503, "out of memory");
        return;
    }
    if (identity) c->identity = strdup(identity); /* forwarded by a bridge; NULL on OOM */
    authority = ep->cfg.public_authority ? ep->cfg.public_authority : authority;
    snprintf(c->uri, sizeof c->uri, "https://%.255s%.64s",
             authority && *authority ? authority : "localhost", c->path);
    ripp_call_init(&c->fsm, RIPP_ROLE_SERVER, c->uri, ep->cfg.hold_timeout, now);
    if (t->caps_json[0]) ripp_caps_parse(&c->own_caps, t->caps_json, strlen(t->caps_json), NULL);
    ep_sched_init(c, false, now);
    int64_t wall_ms = (int64_t)(ep_wall_us(ep) / 1000);
    ripp_call_rec *r = &c->rec;
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->trunk_id, sizeof r->trunk_id, "%s", t->id);
    snprintf(r->uri, sizeof r->uri, "%s", c->uri);
    snprintf(r->target, sizeof r->target, "%s", target);
    snprintf(r->orig_tn, sizeof r->orig_tn, "%s", v->orig_tn);
    snprintf(r->token_hash, sizeof r->token_hash, "%s", token_hash);
    if (ep->cfg.set_cookie) snprintf(r->cookies, sizeof r->cookies, "%s", ep->cfg.set_cookie);
    r->created_ms = wall_ms;
    ripp_cdr *d = &c->cdr;
    snprintf(d->call_id, sizeof d->call_id, "%s", id);
    snprintf(d->trunk_id, sizeof d->trunk_id, "%s", t->id);
    snprintf(d->target, sizeof d->target, "%s", target);
    snprintf(d->orig_tn, sizeof d->orig_tn, "%s", v->orig_tn);
    snprintf(d->verstat, sizeof d->verstat, "%s", v->verstat);
    d->start_ms = wall_ms;
    ep_persist(c, now);
    ep->counters.calls_created++;
    ripp_hdr h[2] = {{"location", c->uri}};
    size_t n = 1;
    if (ep->cfg.set_cookie) h[n++] = (ripp_hdr){"set-cookie", ep->cfg.set_cookie};
    ripp_xchg_respond(x, 201, h, n, true);
    ripp_log(RIPP_LOG_INFO, "call %s created on trunk %s to %s%s%s", id, t->id, target,
             v->verstat[0] ? "; identity " : "", v->verstat);
    if (ep->hooks.on_call_new) ep->hooks.on_call_new(ep->ud, c, t);
}

/* The engine's own check: the PASSporT against the trunk's key (no certificates). */
static void verify_with_trunk_key(ripp_ep *ep, const ripp_trunk_rec *t, const char *identity,
                                  const char *target, ripp_identity_verdict *v)
{
    if (!identity) {
        v->code = 428;
        snprintf(v->reason, sizeof v->reason, "an Identity header with a PASSporT is required");
        return;
    }
    ripp_passport pp;
    memset(&pp, 0, sizeof pp);
    enum ripp_passport_fail fail = RIPP_PASSPORT_OK;
    char why[200] = "";
    void *pair[2] = {ep, (void *)t};
    if (ripp_passport_verify(identity, strlen(identity), verify_cb, pair, &pp, &fail, why,
                             sizeof why) < 0) {
        v->code = (int)fail;
        snprintf(v->reason, sizeof v->reason, "Identity rejected: %s", why);
        return;
    }
    /* dest.tn must be the number called (SPEC §6.4 step 7) */
    char user[256];
    snprintf(user, sizeof user, "%s", target);
    *strchr(user, '@') = 0;
    const char *d = pp.dest_tn[0] == '+' ? pp.dest_tn + 1 : pp.dest_tn;
    const char *u = user[0] == '+' ? user + 1 : user;
    if (strcmp(d, u) != 0) {
        v->code = 438;
        snprintf(v->reason, sizeof v->reason, "the PASSporT dest.tn does not match the target");
        return;
    }
    snprintf(v->orig_tn, sizeof v->orig_tn, "%s", pp.orig_tn);
    snprintf(v->verstat, sizeof v->verstat, "trunk key");
}

static void decide(ripp_ep *ep, ripp_xchg *x, const char *method, const char *path,
                   const ripp_trunk_rec *t, const char *target, const char *token_hash,
                   const char *authority, const char *identity, const ripp_identity_verdict *v,
                   ripp_ts now)
{
    if (v->code) {
        refuse_at(ep, x, method, path, 403, v->code == 428 ? "missing-identity" : "bad-identity",
                  v->code, "%s", v->reason[0] ? v->reason : "Identity rejected");
        return;
    }
    finish_create(ep, x, t, target, token_hash, authority, identity, v, now);
}

static void pending_free(ep_pending *p)
{
    ripp_ep *ep = p->ep;
    for (ep_pending **pp = &ep->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p->identity);
    free(p);
}

/* The client went away while its identity was being verified. */
static void pending_on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    (void)x;
    (void)error;
    (void)code;
    ep_pending *p = ud;
    ripp_ep *ep = p->ep;
    uint64_t ticket = p->ticket;
    pending_free(p);
    if (ep->hooks.identity_cancel) ep->hooks.identity_cancel(ep->ud, ticket);
}

static const ripp_xchg_cbs pending_cbs = {NULL, NULL, NULL, pending_on_close};

void ripp_ep_identity_done(ripp_ep *ep, uint64_t ticket, const ripp_identity_verdict *v,
                           ripp_ts now)
{
    ep_pending *p = ep->pending;
    while (p && p->ticket != ticket)
        p = p->next;
    if (!p || !v) return;
    ripp_xchg *x = p->x;
    ripp_xchg_set_handler(x, NULL, NULL);
    ep_pending copy = *p;
    copy.identity = p->identity;
    p->identity = NULL;
    pending_free(p);
    decide(ep, x, copy.method, copy.path, &copy.t, copy.target, copy.token_hash, copy.authority,
           copy.identity, v, now);
    free(copy.identity);
}

void ep_server_drop_pending(ripp_ep *ep)
{
    while (ep->pending) {
        ep_pending *p = ep->pending;
        ripp_xchg_set_handler(p->x, NULL, NULL);
        ripp_xchg_reset(p->x, RIPP_XCHG_CANCEL);
        pending_free(p);
    }
}

static void create_call(ripp_ep *ep, ripp_xchg *x, const ripp_request *req, const ripp_trunk_rec *t,
                        const char *token_hash, ripp_ts now)
{
    if (ep->draining) {
        refuse(ep, x, req, 503, "draining", 503,
               "this instance is draining and takes no new calls; retry elsewhere");
        return;
    }
    if (req->early_data) { /* D28: call creation is not idempotent */
        refuse(ep, x, req, 425, "too-early", 0, "call creation is refused in early data");
        return;
    }
    char target[256];
    if (query_param(req->query, "target", target, sizeof target) < 0) {
        refuse(ep, x, req, 400, "missing-target", 0,
               "the target query parameter (user@domain) is missing or malformed");
        return;
    }
    if (!target_valid(target)) {
        refuse(ep, x, req, 400, "bad-target", 484, "target must be user@domain");
        return;
    }
    uint32_t retry_after = 1;
    if (ep->hooks.admit_call && ep->hooks.admit_call(ep->ud, t, now, &retry_after) < 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after ? retry_after : 1);
        ripp_problem p;
        ripp_problem_set(&p, 429, "too-many-calls", 503,
                         "trunk %s: the calls-per-second limit is reached", t->id);
        ripp_hdr h = {"retry-after", ra};
        ripp_xchg_respond_problem(x, &p, &h, 1);
        ep->counters.problems++;
        ripp_log(RIPP_LOG_INFO, "%s %s -> 429 too-many-calls: retry after %s s", req->method,
                 req->path, ra);
        return;
    }
    const char *identity = ripp_request_header(req, "identity");
    const char *authority = req->authority ? req->authority : "";
    ripp_identity_verdict v;
    memset(&v, 0, sizeof v);
    if (!ep->cfg.require_identity) {
        finish_create(ep, x, t, target, token_hash, authority, identity, &v, now);
        return;
    }
    uint64_t ticket = ++ep->next_ticket;
    int rv = ep->hooks.identity_check
                 ? ep->hooks.identity_check(ep->ud, t, identity, target, ticket, &v)
                 : RIPP_ERR_NOTFOUND;
    if (rv == RIPP_ERR_NOTFOUND) {
        memset(&v, 0, sizeof v);
        verify_with_trunk_key(ep, t, identity, target, &v);
        decide(ep, x, req->method, req->path, t, target, token_hash, authority, identity, &v, now);
        return;
    }
    if (rv == 0) {
        decide(ep, x, req->method, req->path, t, target, token_hash, authority, identity, &v, now);
        return;
    }
    if (rv != RIPP_ERR_AGAIN) {
        refuse(ep, x, req, 500, "internal", 0, "identity verification failed: %s",
               ripp_strerror(rv));
        return;
    }
    ep_pending *p = calloc(1, sizeof *p);
    if (!p || (identity && !(p->identity = strdup(identity)))) {
        free(p);
        if (ep->hooks.identity_cancel) ep->hooks.identity_cancel(ep->ud, ticket);
        refuse(ep, x, req, 503, "overloaded", 503, "out of memory");
        return;
    }
    p->ep = ep;
    p->x = x;
    p->ticket = ticket;
    p->t = *t;
    snprintf(p->target, sizeof p->target, "%s", target);
    snprintf(p->token_hash, sizeof p->token_hash, "%s", token_hash);
    snprintf(p->authority, sizeof p->authority, "%s", authority);
    snprintf(p->method, sizeof p->method, "%s", req->method);
    snprintf(p->path, sizeof p->path, "%s", req->path);
    p->next = ep->pending;
    ep->pending = p;
    ripp_xchg_set_handler(x, &pending_cbs, p);
}

/* ---- call resources ---- */

static unsigned count_kind(const ripp_ep_call *c, enum bw_kind k)
{
    return c->nkind[k];
}

int ep_format_call_state(const ripp_ep_call *c, char *body, size_t cap)
{
    char ev[4096], stats[1024];
    int64_t n = 0;
    if (c->fsm.last_event.type != RIPP_EV_UNKNOWN)
        n = ripp_event_encode(&c->fsm.last_event, ev, sizeof ev);
    if (n <= 1) n = snprintf(ev, sizeof ev, "{\"call\":\"%s\"}", c->uri);
    ev[n - 1] = 0; /* drop the closing brace to extend the object */
    ripp_stats_format_json(&c->tx.stats, stats, sizeof stats);
    return snprintf(body, cap, "%s,\"state\":\"%s\",\"stats\":%s}", ev,
                    ripp_call_state_name(c->fsm.state), stats);
}

static void respond_call_state(ripp_xchg *x, const char *body)
{
    ripp_hdr h[] = {{"content-type", "application/json"}, {"cache-control", "no-store"}};
    ripp_xchg_respond(x, 200, h, 2, false);
    ripp_xchg_write(x, (const uint8_t *)body, strlen(body));
    ripp_xchg_end(x);
}

static void serve_call_state(ripp_xchg *x, ripp_ep_call *c)
{
    char body[6144];
    int n = ep_format_call_state(c, body, sizeof body);
    if (n < 0 || (size_t)n >= sizeof body) {
        ripp_xchg_reset(x, RIPP_XCHG_INTERNAL_ERROR);
        return;
    }
    respond_call_state(x, body);
}

static void open_event_get(ripp_ep_call *c, ripp_xchg *x, ripp_ts now)
{
    ep_bw *b = ep_bw_new(c, x, BW_EV_TX);
    if (!b) {
        ripp_xchg_reset(x, RIPP_XCHG_INTERNAL_ERROR);
        return;
    }
    ripp_xchg_set_handler(x, &server_cbs, b);
    ripp_call_sig_byway_opened(&c->fsm, now);
    c->ep->counters.byways_sig++;
    /* The instance cookie goes on every signaling GET too: a client that reconnected without
     * cookies (P6, failure recovery) learns which instance holds the call now, and its PUT
     * and media byways follow the GET there (SPEC 7.2: they wait for this response). */
    const char *cookie = c->ep->cfg.set_cookie;
    ripp_hdr h[3] = {{"content-type", "application/json"}, {"cache-control", "no-store"}};
    size_t nh = 2;
    if (cookie) h[nh++] = (ripp_hdr){"set-cookie", cookie};
    ripp_xchg_respond(x, 200, h, nh, false);
    b->responded = true;
    ripp_xchg_write(x, (const uint8_t *)"[", 1);
    /* The whole history: a reconnecting client dedups by seq (D19). */
    for (size_t i = 0; i < c->nlog; i++) {
        if (!b->first_event) ripp_xchg_write(x, (const uint8_t *)",", 1);
        ripp_xchg_write(x, (const uint8_t *)c->log[i], strlen(c->log[i]));
        b->first_event = false;
    }
}

int ep_server_broadcast(ripp_ep_call *c, const char *json, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, json, len);
        copy[len] = 0;
        if (c->nlog == EP_MAX_LOG) {
            free(c->log[0]);
            memmove(c->log, c->log + 1, (EP_MAX_LOG - 1) * sizeof *c->log);
            c->nlog--;
        }
        if (!c->log) c->log = calloc(EP_MAX_LOG, sizeof *c->log);
        if (c->log)
            c->log[c->nlog++] = copy;
        else
            free(copy);
    }
    for (ep_bw *b = c->bws; b; b = b->next) {
        if (b->kind != BW_EV_TX || b->ended_local) continue;
        if (!b->first_event) ripp_xchg_write(b->x, (const uint8_t *)",", 1);
        ripp_xchg_write(b->x, (const uint8_t *)json, len);
        b->first_event = false;
        if (c->fsm.state == RIPP_CALL_ENDED) c->final_delivered = true;
    }
    return 0;
}

static void open_byway(ripp_ep *ep, ripp_ep_call *c, ripp_xchg *x, const ripp_request *req,
                       bool forward, ripp_ts now)
{
    const char *mh = ripp_request_header(req, "ripp-media");
    if (!forward) {
        if (mh) {
            refuse(ep, x, req, 400, "unexpected-ripp-media", 0,
                   "a media-reverse request must not carry RIPP-Media");
            return;
        }
        ep_bw *b = ep_bw_new(c, x, BW_MEDIA_TX);
        if (!b) {
            refuse(ep, x, req, 503, "overloaded", 0, "out of memory");
            return;
        }
        int idx = ripp_sched_add_byway(&c->tx, b);
        if (idx < 0) {
            ep_bw_free(b);
            refuse(ep, x, req, 429, "too-many-byways", 0, "at most %d reverse byways per call",
                   RIPP_MAX_BYWAYS);
            return;
        }
        b->sched_idx = idx;
        ripp_xchg_set_handler(x, &server_cbs, b);
        ep->counters.byways_rev++;
        return;
    }
    if (!mh) {
        refuse(ep, x, req, 400, "missing-ripp-media", 0,
               "a media-forward request must carry RIPP-Media");
        return;
    }
    ripp_media_hdr hdr;
    int rv = ripp_media_hdr_parse(&hdr, mh, strlen(mh));
    if (rv < 0) {
        refuse(ep, x, req, 400, "bad-ripp-media", 0, "RIPP-Media is not valid: %s",
               rv == RIPP_ERR_LIMIT ? "longer than 1 KiB" : "unparsable or incomplete");
        return;
    }
    if (hdr.codec == RIPP_CODEC_NONE || !ripp_caps_accepts(&c->own_caps, hdr.codec)) {
        refuse(ep, x, req, 415, "unsupported-codec", 488, "codec %s is not accepted",
               hdr.codec_name);
        return;
    }
    if (hdr.channel != 1) {
        refuse(ep, x, req, 400, "bad-channel", 0, "channel %u: this trunk takes one channel",
               hdr.channel);
        return;
    }
    if (count_kind(c, BW_MEDIA_RX) >= RIPP_MAX_BYWAYS) {
        refuse(ep, x, req, 429, "too-many-byways", 0, "at most %d forward byways per call",
               RIPP_MAX_BYWAYS);
        return;
    }
    ep_bw *b = ep_bw_new(c, x, BW_MEDIA_RX);
    if (!b) {
        refuse(ep, x, req, 503, "overloaded", 0, "out of memory");
        return;
    }
    b->hdr = hdr;
    b->have_hdr = true;
    ripp_xchg_set_handler(x, &server_cbs, b);
    ep->counters.byways_fwd++;
    (void)now;
}

/* P5: a call this instance does not hold is rebuilt from its record, when it is live. */
static ripp_ep_call *take_over(ripp_ep *ep, const ripp_call_rec *rec, const ripp_request *req,
                               const ripp_trunk_rec *t, ripp_ts now)
{
    ripp_ep_call *c = ep_call_new(ep, rec->id, now);
    if (!c) return NULL;
    c->rec = *rec;
    c->resumed = true;
    /* from now on the client is sent this instance's cookie (open_event_get) */
    if (ep->cfg.set_cookie)
        snprintf(c->rec.cookies, sizeof c->rec.cookies, "%s", ep->cfg.set_cookie);
    const char *authority = ep->cfg.public_authority ? ep->cfg.public_authority : req->authority;
    snprintf(c->uri, sizeof c->uri, "https://%.255s%.64s",
             authority && *authority ? authority : "localhost", c->path);
    snprintf(c->rec.uri, sizeof c->rec.uri, "%s", c->uri);
    ripp_call_init(&c->fsm, RIPP_ROLE_SERVER, c->uri, ep->cfg.hold_timeout, now);
    c->fsm.state = (enum ripp_call_state)rec->state;
    c->fsm.answered = rec->state == RIPP_CALL_ACTIVE;
    c->fsm.last_seq_in = rec->last_seq_c2s;
    c->fsm.next_seq_out = rec->last_seq_s2c >= 0 ? (uint64_t)rec->last_seq_s2c + 1 : 0;
    if (t->caps_json[0]) ripp_caps_parse(&c->own_caps, t->caps_json, strlen(t->caps_json), NULL);
    ep_sched_init(c, false, now);
    /* The old instance may have sent frames after its last write of the record (every 5 s):
     * the sequence space goes on past every number it can have used, one per interval since
     * the write, plus a second for relayed frames that skipped numbers. The receiver sees a
     * gap, which it conceals. */
    int64_t wall_ms = (int64_t)(ep_wall_us(ep) / 1000);
    int64_t since =
        rec->updated_ms > 0 && wall_ms > rec->updated_ms ? wall_ms - rec->updated_ms : 0;
    uint64_t skip = (uint64_t)(since / ep->cfg.frame_ms) + 1000 / ep->cfg.frame_ms;
    c->tx.next_seq = (uint64_t)(rec->media_seq_s2c + 1) + skip;
    c->rx_seq_max = rec->media_seq_c2s;
    ripp_cdr *d = &c->cdr;
    snprintf(d->call_id, sizeof d->call_id, "%s", rec->id);
    snprintf(d->trunk_id, sizeof d->trunk_id, "%s", rec->trunk_id);
    snprintf(d->target, sizeof d->target, "%s", rec->target);
    snprintf(d->orig_tn, sizeof d->orig_tn, "%s", rec->orig_tn);
    d->start_ms = rec->created_ms;
    if (c->fsm.answered) d->answer_ms = rec->created_ms; /* not in the record: approximated */
    ep_persist(c, now);
    ep->counters.calls_resumed++;
    ripp_log(RIPP_LOG_INFO,
             "call %s taken over from the store (state %s, event seqs c2s %lld s2c %lld, media "
             "s2c from %llu)",
             rec->id, ripp_call_state_name(c->fsm.state), (long long)rec->last_seq_c2s,
             (long long)rec->last_seq_s2c, (unsigned long long)c->tx.next_seq);
    if (ep->hooks.on_call_resumed) ep->hooks.on_call_resumed(ep->ud, c, t);
    return c;
}

static void serve_call(ripp_ep *ep, ripp_xchg *x, const ripp_request *req, const char *id,
                       const char *sub, const char *trunk_id, ripp_ts now)
{
    ripp_ep_call *c = ep_call_find(ep, id);
    if (c && !c->migrated && c->fsm.state >= RIPP_CALL_CREATED && c->fsm.state != RIPP_CALL_ENDED &&
        !c->fsm.sig_byways && ep_call_owned_elsewhere(c)) {
        /* fencing: while the client was away another instance took the call over; what is
         * held here is stale, and the store has the call as it is now */
        ripp_log(RIPP_LOG_INFO,
                 "call %s: taken over by another instance while its client was away; read "
                 "again from the store",
                 id);
        ep_call_release(c);
        c = NULL;
    }
    if (c && c->migrated &&
        !(c->handover && strcmp(req->method, "POST") == 0 &&
          (strcmp(sub, "media-forward") == 0 || strcmp(sub, "media-reverse") == 0))) {
        /* during the handover the client's media byways are still served here */
        refuse(ep, x, req, 503, "migrated", 0, "the call has moved to another instance");
        return;
    }
    const ep_tomb *tomb = c ? NULL : ep_tomb_find(ep, id);
    if (tomb) {
        /* GET {call} still tells how the call ended, as it did before the call was freed */
        if ((!*sub || strcmp(sub, "prevEvent") == 0) && strcmp(req->method, "GET") == 0 &&
            tomb->state_json && strcmp(tomb->trunk_id, trunk_id) == 0) {
            respond_call_state(x, tomb->state_json);
            return;
        }
        refuse(ep, x, req, 404, "call-ended", 481, "the call has ended");
        return;
    }
    if (!c) {
        ripp_call_rec rec;
        ripp_trunk_rec t;
        int rv = ep->cfg.store->ops->call_get(ep->cfg.store->impl, id, &rec);
        if (rv == RIPP_ERR_NOTFOUND || (rv == 0 && rec.state == RIPP_CALL_ENDED)) {
            refuse(ep, x, req, 404, "unknown-call", 481, "no such call");
            return;
        }
        if (rv < 0) {
            refuse(ep, x, req, 503, "store-unavailable", 0, "the store did not answer");
            return;
        }
        if (strcmp(rec.trunk_id, trunk_id) != 0) { /* D10 */
            refuse(ep, x, req, 403, "wrong-trunk", 0,
                   "the token does not belong to this call's trunk");
            return;
        }
        if (ep->draining) {
            refuse(ep, x, req, 503, "draining", 0, "this instance is draining");
            return;
        }
        if (rec.state < RIPP_CALL_CREATED ||
            ep->cfg.store->ops->trunk_get(ep->cfg.store->impl, rec.trunk_id, &t) < 0) {
            refuse(ep, x, req, 404, "unknown-call", 481, "no such call");
            return;
        }
        c = take_over(ep, &rec, req, &t, now);
        if (!c) {
            refuse(ep, x, req, 503, "overloaded", 0, "out of memory");
            return;
        }
    }
    if (strcmp(c->rec.trunk_id, trunk_id) != 0) {
        refuse(ep, x, req, 403, "wrong-trunk", 0, "the token does not belong to this call's trunk");
        return;
    }
    const char *m = req->method;
    if (!*sub || strcmp(sub, "prevEvent") == 0) {
        if (strcmp(m, "GET") == 0)
            serve_call_state(x, c);
        else
            refuse(ep, x, req, 405, "method-not-allowed", 0,
                   "a call ends only with the end event; only GET is allowed here");
        return;
    }
    bool ev = strcmp(sub, "event") == 0 || strcmp(sub, "events") == 0;
    bool fwd = strcmp(sub, "media-forward") == 0, rev = strcmp(sub, "media-reverse") == 0;
    if (!ev && !fwd && !rev) {
        refuse(ep, x, req, 404, "not-found", 0, "no such resource");
        return;
    }
    if (c->fsm.state == RIPP_CALL_ENDED) {
        /* The resource stays (its state is ended) until the client has the event that
         * ended it: a call refused before the client opened its GET still tells it why. */
        if (ev && strcmp(m, "GET") == 0 && !c->final_delivered) {
            open_event_get(c, x, now);
            c->final_delivered = true;
            ep_server_close_call(c);
            return;
        }
        refuse(ep, x, req, 404, "call-ended", 481, "the call has ended");
        return;
    }
    if (ev && (strcmp(m, "GET") == 0 || strcmp(m, "PUT") == 0) &&
        count_kind(c, m[0] == 'G' ? BW_EV_TX : BW_EV_RX) >= EP_MAX_SIG_BYWAYS) {
        refuse(ep, x, req, 429, "too-many-byways", 0, "at most %d signaling %ss per call",
               EP_MAX_SIG_BYWAYS, m);
        return;
    }
    if (ev && strcmp(m, "GET") == 0) {
        open_event_get(c, x, now);
    } else if (ev && strcmp(m, "PUT") == 0) {
        ep_bw *b = ep_bw_new(c, x, BW_EV_RX);
        if (!b) {
            refuse(ep, x, req, 503, "overloaded", 0, "out of memory");
            return;
        }
        ripp_xchg_set_handler(x, &server_cbs, b);
        ripp_call_sig_byway_opened(&c->fsm, now);
        ep->counters.byways_sig++;
    } else if ((fwd || rev) && strcmp(m, "POST") == 0) {
        open_byway(ep, c, x, req, fwd, now);
    } else {
        refuse(ep, x, req, 405, "method-not-allowed", 0, "%s is not allowed on %s", m, sub);
    }
}

void ripp_ep_on_request(ripp_ep *ep, ripp_xchg *x, const ripp_request *req, ripp_ts now)
{
    ep->counters.requests++;
    char trunk_id[64], hash[65];
    if (authenticate(ep, x, req, trunk_id, sizeof trunk_id, hash) < 0) return;
    const char *path = req->path;
    char seg[3][128] = {"", "", ""};
    int nseg = 0;
    for (const char *p = path; *p && nseg < 4;) {
        while (*p == '/')
            p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (nseg == 3 || l >= sizeof seg[0]) {
            nseg = 4;
            break;
        }
        memcpy(seg[nseg], p, l);
        seg[nseg][l] = 0;
        nseg++;
        p += l;
    }
    if (nseg >= 2 && nseg <= 3 && strcmp(seg[0], "trunks") == 0) {
        if (strcmp(seg[1], trunk_id) != 0) {
            refuse(ep, x, req, 403, "wrong-trunk", 0, "the token does not belong to this trunk");
            return;
        }
        ripp_trunk_rec t;
        int trv = ep->cfg.store->ops->trunk_get(ep->cfg.store->impl, trunk_id, &t);
        if (trv == RIPP_ERR_NOTFOUND) {
            refuse(ep, x, req, 404, "unknown-trunk", 404, "no such trunk");
            return;
        }
        if (trv < 0) {
            refuse(ep, x, req, 503, "store-unavailable", 0, "the store did not answer");
            return;
        }
        if (nseg == 3 && strcmp(seg[2], "capAdv") == 0 && strcmp(req->method, "GET") == 0)
            serve_caps(ep, x, req, &t);
        else if (nseg == 3 && strcmp(seg[2], "calls") == 0 && strcmp(req->method, "POST") == 0)
            create_call(ep, x, req, &t, hash, now);
        else if (nseg == 3 && (strcmp(seg[2], "capAdv") == 0 || strcmp(seg[2], "calls") == 0))
            refuse(ep, x, req, 405, "method-not-allowed", 0, "%s is not allowed here", req->method);
        else
            refuse(ep, x, req, 404, "not-found", 0, "no such resource");
        return;
    }
    if ((nseg == 2 || nseg == 3) && strcmp(seg[0], "call") == 0) {
        serve_call(ep, x, req, seg[1], seg[2], trunk_id, now);
        return;
    }
    refuse(ep, x, req, 404, "not-found", 0, "no such resource");
}

/* ---- byway callbacks ---- */

static int server_event_cb(void *ud, const ripp_event *ev)
{
    ep_ctx *ctx = ud;
    if (!ctx->b->call) return 0;
    return ep_call_on_peer_event(ctx->b->call, ev, ctx->now);
}

static int server_frame_cb(void *ud, uint64_t seq_offset, const uint8_t *payload, size_t len)
{
    ep_ctx *ctx = ud;
    ep_bw *b = ctx->b;
    if (b->kind != BW_MEDIA_RX) return 0;
    if ((uint64_t)b->hdr.seq_base + seq_offset > UINT32_MAX) return RIPP_ERR_PROTO;
    if (!b->responded) {
        /* The byway is accepted with its first good frame; until then a malformed body
         * can still be answered with a problem. */
        ripp_hdr h[] = {{"content-type", "application/octet-stream"}};
        ripp_xchg_respond(b->x, 200, h, 1, false);
        b->responded = true;
    }
    ep_media_on_frame(b, seq_offset, payload, len, ctx->now);
    return 0;
}

static void on_data(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    ep_bw *b = ud;
    (void)x;
    if (!b->call) return;
    ep_ctx ctx = {b, ep_now(b->ep)};
    int rv;
    switch (b->kind) {
    case BW_EV_RX:
        rv = ripp_event_parser_feed(&b->p.ev, data, len, server_event_cb, &ctx);
        if (rv == RIPP_ERR_LIMIT)
            byway_fail(b, 413, "event-too-large", "an event is larger than %d bytes",
                       RIPP_EVENT_MAX_BYTES);
        else if (rv < 0)
            byway_fail(b, 400, "malformed-event", "the event stream is not valid: %s",
                       ripp_strerror(rv));
        break;
    case BW_MEDIA_RX:
        rv = ripp_frame_parser_feed(b->p.fp, data, len, server_frame_cb, &ctx);
        if (rv == RIPP_ERR_LIMIT)
            byway_fail(b, 400, "frame-too-large", "a frame payload is larger than %d bytes",
                       RIPP_FRAME_MAX_PAYLOAD);
        else if (rv < 0)
            byway_fail(b, 400, "malformed-frame", "the media stream is not valid: %s",
                       rv == RIPP_ERR_PROTO ? "zero-length frame or bad sequence offset"
                                            : ripp_strerror(rv));
        break;
    case BW_MEDIA_TX:
        rv = ripp_ack_parser_feed(&b->p.ap, data, len, ep_ack_cb, &ctx);
        if (rv < 0)
            byway_fail(b, 400, "malformed-ack", "the ack stream is not valid: %s",
                       ripp_strerror(rv));
        break;
    default:
        break;
    }
}

static void on_end(ripp_xchg *x, void *ud)
{
    ep_bw *b = ud;
    if (!b->call) return;
    switch (b->kind) {
    case BW_EV_RX:
        if (ripp_event_parser_finish(&b->p.ev) < 0) {
            byway_fail(b, 400, "malformed-event", "the event stream ended inside an event");
            return;
        }
        if (!b->responded) {
            ripp_xchg_respond(x, 200, NULL, 0, true);
            b->responded = b->ended_local = true;
        }
        ep_bw_detach(b);
        break;
    case BW_MEDIA_RX:
        if (ripp_frame_parser_finish(b->p.fp) < 0) {
            byway_fail(b, 400, "truncated-frame", "the media stream ended inside a frame");
            return;
        }
        if (!b->responded)
            ripp_xchg_respond(x, 200, NULL, 0, true);
        else if (!b->ended_local)
            ripp_xchg_end(x);
        b->responded = b->ended_local = true;
        ep_bw_detach(b);
        break;
    case BW_MEDIA_TX:
        if (ripp_ack_parser_finish(&b->p.ap) < 0) {
            byway_fail(b, 400, "truncated-ack", "the ack stream ended inside an ack");
            return;
        }
        if (!b->responded)
            ripp_xchg_respond(x, 204, NULL, 0, true);
        else if (!b->ended_local)
            ripp_xchg_end(x);
        b->responded = b->ended_local = true;
        ep_bw_detach(b);
        break;
    default:
        break; /* a GET's request has no body */
    }
}

static void on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    ep_bw *b = ud;
    (void)x;
    (void)error;
    (void)code;
    ep_bw_free(b);
}

static const ripp_xchg_cbs server_cbs = {
    .on_data = on_data,
    .on_end = on_end,
    .on_close = on_close,
};

/* Graceful migration of one call (SPEC §7.2): the record is written with the migrate
 * event's seq (ep_call_applied), then the client is told. The signaling GETs are ended after
 * it, so the client sees migrate before the end of the stream; the media goes on until the
 * client, having reached the new instance, ends its media byways here (make-before-break). */
void ep_server_migrate(ripp_ep_call *c, const char *authority, ripp_ts now)
{
    if (c->migrated || c->fsm.state < RIPP_CALL_CREATED || c->fsm.state == RIPP_CALL_ENDED) return;
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_MIGRATE);
    if (authority && *authority)
        snprintf(ev.uri, sizeof ev.uri, "https://%.255s%.200s", authority, c->path);
    if (ripp_ep_call_send(c, &ev, now) < 0) return;
    c->migrated = true;
    c->handover = true; /* media goes on until the client has switched (call_tick) */
    c->migrated_at = now;
    c->ep->counters.calls_migrated++;
    for (ep_bw *b = c->bws; b; b = b->next)
        if (b->kind == BW_EV_TX && !b->ended_local) {
            ripp_xchg_end(b->x);
            b->ended_local = true;
        }
    ripp_log(RIPP_LOG_INFO, "call %s: migrate sent%s%s", c->id, ev.uri[0] ? " to " : "", ev.uri);
}

/* End every byway of an ended call from our side; the client closes its side. Forward
 * byways and the signaling PUT are answered when the client ends them, so that frames
 * already on their way are still acked; close_grace bounds the wait. */
void ep_server_close_call(ripp_ep_call *c)
{
    bool gone = c->fsm.outcome == RIPP_OUTCOME_HOLD_TIMEOUT; /* nobody to wait for */
    /* Frames still waiting for a byway would go out on the reverse byways ended below as the
     * acks of the frames in flight free them: the call is over, they are dropped. */
    unsigned dropped = ripp_sched_drop_queued(&c->tx);
    if (dropped)
        ripp_log(RIPP_LOG_DEBUG, "call %s: %u queued frames dropped at the end", c->id, dropped);
    for (ep_bw *b = c->bws; b; b = b->next) {
        if (b->ended_local || (!gone && (b->kind == BW_MEDIA_RX || b->kind == BW_EV_RX))) continue;
        if (!b->responded)
            ripp_xchg_respond(b->x, b->kind == BW_EV_RX ? 200 : 204, NULL, 0, true);
        else
            ripp_xchg_end(b->x);
        b->responded = b->ended_local = true;
    }
}
