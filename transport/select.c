/* Transport selection for clients: h2, h3, or auto (SPEC P1). Auto starts every authority on
 * HTTP/2; once the server has advertised h3 on the same host and port with Alt-Svc, new
 * requests go over HTTP/3. An HTTP/3 request that fails before any response (handshake
 * refused, UDP blocked) marks the authority's h3 as broken for a while, and new requests go
 * back to HTTP/2. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ripp/h3.h"
#include "ripp/transport.h"
#include "url.h"

#define AUTO_MAX_AUTHORITIES 64
#define H3_BROKEN_FOR (60 * RIPP_NS_PER_SEC)

int ripp_transport_parse(const char *s, ripp_transport *out)
{
    if (!s || !out) return RIPP_ERR_INVAL;
    if (strcmp(s, "h2") == 0)
        *out = RIPP_TRANSPORT_H2;
    else if (strcmp(s, "h3") == 0)
        *out = RIPP_TRANSPORT_H3;
    else if (strcmp(s, "auto") == 0)
        *out = RIPP_TRANSPORT_AUTO;
    else
        return RIPP_ERR_INVAL;
    return 0;
}

const char *ripp_transport_name(ripp_transport t)
{
    switch (t) {
    case RIPP_TRANSPORT_H2: return "h2";
    case RIPP_TRANSPORT_H3: return "h3";
    case RIPP_TRANSPORT_AUTO: return "auto";
    }
    return "?";
}

typedef struct authority {
    char host[256];
    int port;
    bool h3;             /* advertised and not known broken */
    ripp_ts broken_until; /* h3 failed: h2 only until then */
    uint64_t used;       /* LRU clock */
} authority;

typedef struct auto_client {
    ripp_http_client base; /* first */
    ripp_http_client *h2, *h3;
    authority auth[AUTO_MAX_AUTHORITIES];
    size_t n_auth;
    uint64_t clock;
    uint64_t h3_requests, h2_requests;
} auto_client;

/* An HTTP/3 exchange seen through auto: it forwards everything and watches for failure. */
typedef struct auto_x {
    ripp_xchg x; /* first: what the user holds */
    ripp_xchg *inner;
    auto_client *c;
    char host[256];
    int port;
    bool got_response;
} auto_x;

static const ripp_http_client_vt auto_vt;

static int host_port(const char *url, char *host, size_t cap, int *port)
{
    ripp_url *u = malloc(sizeof *u);
    if (!u) return RIPP_ERR_NOMEM;
    int rv = ripp_url_parse(url, u);
    if (rv == 0 && (!u->tls || strlen(u->host) >= cap)) rv = RIPP_ERR_INVAL;
    if (rv == 0) {
        snprintf(host, cap, "%s", u->host);
        *port = u->port;
    }
    free(u);
    return rv;
}

static authority *find_auth(auto_client *c, const char *host, int port, bool create)
{
    authority *lru = NULL;
    for (size_t i = 0; i < c->n_auth; i++) {
        authority *a = &c->auth[i];
        if (a->port == port && strcmp(a->host, host) == 0) {
            a->used = ++c->clock;
            return a;
        }
        if (!lru || a->used < lru->used) lru = a;
    }
    if (!create) return NULL;
    authority *a = c->n_auth < AUTO_MAX_AUTHORITIES ? &c->auth[c->n_auth++] : lru;
    memset(a, 0, sizeof *a);
    snprintf(a->host, sizeof a->host, "%s", host);
    a->port = port;
    a->used = ++c->clock;
    return a;
}

static void ax_on_response(ripp_xchg *inner, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)inner;
    auto_x *ax = ud;
    ax->got_response = true;
    if (ax->x.cbs && ax->x.cbs->on_response) ax->x.cbs->on_response(&ax->x, ax->x.ud, status, h, n);
}

static void ax_on_data(ripp_xchg *inner, void *ud, const uint8_t *d, size_t len)
{
    (void)inner;
    auto_x *ax = ud;
    if (ax->x.cbs && ax->x.cbs->on_data) ax->x.cbs->on_data(&ax->x, ax->x.ud, d, len);
}

static void ax_on_end(ripp_xchg *inner, void *ud)
{
    (void)inner;
    auto_x *ax = ud;
    if (ax->x.cbs && ax->x.cbs->on_end) ax->x.cbs->on_end(&ax->x, ax->x.ud);
}

static void ax_on_close(ripp_xchg *inner, void *ud, int error, uint32_t code)
{
    (void)inner;
    auto_x *ax = ud;
    if (error && !ax->got_response && ax->c) {
        authority *a = find_auth(ax->c, ax->host, ax->port, false);
        if (a && a->h3) {
            a->h3 = false;
            a->broken_until = ripp_io_now() + H3_BROKEN_FOR;
            ripp_log(RIPP_LOG_WARN, "auto: HTTP/3 to %s:%d failed; using HTTP/2", ax->host,
                     ax->port);
        }
    }
    if (ax->x.cbs && ax->x.cbs->on_close) ax->x.cbs->on_close(&ax->x, ax->x.ud, error, code);
    free(ax);
}

static const ripp_xchg_cbs ax_cbs = {ax_on_response, ax_on_data, ax_on_end, ax_on_close};

static int ax_respond(ripp_xchg *x, int status, const ripp_hdr *h, size_t n, bool end)
{
    return ripp_xchg_respond(((auto_x *)x)->inner, status, h, n, end);
}
static int ax_write(ripp_xchg *x, const uint8_t *d, size_t len)
{
    return ripp_xchg_write(((auto_x *)x)->inner, d, len);
}
static int ax_end(ripp_xchg *x)
{
    return ripp_xchg_end(((auto_x *)x)->inner);
}
static int ax_reset(ripp_xchg *x, uint32_t code)
{
    return ripp_xchg_reset(((auto_x *)x)->inner, code);
}
static size_t ax_buffered(const ripp_xchg *x)
{
    return ripp_xchg_buffered(((const auto_x *)x)->inner);
}
static const ripp_xchg_vt ax_vt = {ax_respond, ax_write, ax_end, ax_reset, ax_buffered};

static ripp_xchg *auto_request(ripp_http_client *hc, const char *method, const char *url,
                               const ripp_hdr *hdrs, size_t n, bool end, const ripp_xchg_cbs *cbs,
                               void *ud, int *err)
{
    auto_client *c = (auto_client *)hc;
    char host[256];
    int port = 0;
    if (host_port(url, host, sizeof host, &port) < 0) {
        if (err) *err = RIPP_ERR_INVAL;
        return NULL;
    }
    authority *a = find_auth(c, host, port, true);
    ripp_ts now = ripp_io_now();
    if (!a->h3 && now >= a->broken_until &&
        ripp_h2_client_alt_h3_port(c->h2, host, port) == port) {
        a->h3 = true;
        ripp_log(RIPP_LOG_INFO, "auto: %s:%d advertises HTTP/3; moving to it", host, port);
    }
    if (!a->h3) {
        c->h2_requests++;
        return ripp_http_client_request(c->h2, method, url, hdrs, n, end, cbs, ud, err);
    }
    auto_x *ax = calloc(1, sizeof *ax);
    if (!ax) {
        if (err) *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    ax->x.vt = &ax_vt;
    ax->x.cbs = cbs;
    ax->x.ud = ud;
    ax->c = c;
    snprintf(ax->host, sizeof ax->host, "%s", host);
    ax->port = port;
    ax->inner = ripp_http_client_request(c->h3, method, url, hdrs, n, end, &ax_cbs, ax, err);
    if (!ax->inner) {
        free(ax);
        return NULL;
    }
    c->h3_requests++;
    return &ax->x;
}

static void auto_del(ripp_http_client *hc)
{
    auto_client *c = (auto_client *)hc;
    /* exchanges still open get on_close now and must not touch the table afterwards */
    ripp_http_client *h3 = c->h3;
    c->h3 = NULL;
    ripp_http_client_del(h3);
    ripp_http_client_del(c->h2);
    free(c);
}

static void auto_refresh(ripp_http_client *hc, const char *url, ripp_ts quiet)
{
    auto_client *c = (auto_client *)hc;
    ripp_http_client_refresh(c->h2, url, quiet);
    ripp_http_client_refresh(c->h3, url, quiet);
}

static const ripp_http_client_vt auto_vt = {auto_request, auto_del, auto_refresh};

ripp_http_client *ripp_transport_client_new(uv_loop_t *loop, const ripp_transport_client_config *cfg,
                                            int *err)
{
    if (!loop || !cfg) {
        if (err) *err = RIPP_ERR_INVAL;
        return NULL;
    }
    ripp_h2_client_config h2c = {.tls = cfg->tls, .connect_timeout = cfg->connect_timeout};
    ripp_h3_client_config h3c = {.tls = cfg->tls, .connect_timeout = cfg->connect_timeout};
    if (cfg->transport == RIPP_TRANSPORT_H2) return ripp_h2_client_new(loop, &h2c, err);
    if (cfg->transport == RIPP_TRANSPORT_H3) return ripp_h3_client_new(loop, &h3c, err);
    auto_client *c = calloc(1, sizeof *c);
    if (!c) {
        if (err) *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    c->base.vt = &auto_vt;
    c->h2 = ripp_h2_client_new(loop, &h2c, err);
    c->h3 = c->h2 ? ripp_h3_client_new(loop, &h3c, err) : NULL;
    if (!c->h3) {
        ripp_http_client_del(c->h2);
        free(c);
        return NULL;
    }
    return &c->base;
}

const char *ripp_transport_client_kind(const ripp_http_client *hc)
{
    if (!hc) return "?";
    if (hc->vt == &auto_vt) {
        const auto_client *c = (const auto_client *)hc;
        return c->h3_requests && c->h2_requests ? "h2+h3" : c->h3_requests ? "h3" : "h2";
    }
    return ripp_h3_client_is(hc) ? "h3" : "h2";
}
