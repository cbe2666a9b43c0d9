/* HTTP/2 client: one connection per authority (scheme, host, port), made on first use and
 * shared by every request; https is TLS 1.3 with ALPN h2 and a verified certificate, http is
 * h2c with prior knowledge. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "h2_internal.h"
#include "../url.h"

#define DEFAULT_CONNECT_TIMEOUT (5 * RIPP_NS_PER_SEC)
#define MAX_URL 8192

typedef struct h2_client {
    ripp_http_client base; /* first: what users hold */
    h2_owner o;
} h2_client;

static const ripp_http_client_vt client_vt;

static void client_free(h2_owner *o)
{
    h2_client *c = (h2_client *)((char *)o - offsetof(h2_client, o));
    free(c);
}

static h2_conn *conn_for(h2_client *cl, const ripp_url *u, int *err)
{
    char key[300];
    snprintf(key, sizeof key, "%s://%s:%d", u->tls ? "https" : "http", u->host, u->port);
    for (h2_conn *c = cl->o.conns; c; c = c->next)
        if (!c->closing && !c->goaway_recv && !c->stale && strcmp(c->key, key) == 0) return c;
    h2_conn *c = h2_conn_new(&cl->o);
    if (!c) {
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    c->created_at = uv_now(cl->o.loop);
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->host, sizeof c->host, "%s", u->host);
    c->port = u->port;
    c->tls = u->tls;
    ripp_tls_stream_opts opts = {
        .creds = u->tls ? cl->o.creds : NULL,
        .alpn = u->tls ? "h2" : NULL,
        .timeout = cl->o.timeout,
        .rbuf = cl->o.rbuf,
        .rcap = sizeof cl->o.rbuf,
        .cbs = &h2_conn_ts_cbs,
        .ud = c,
    };
    c->ts = ripp_tls_stream_connect(cl->o.loop, u->host, u->port, &opts, err);
    if (!c->ts) {
        h2_conn_free_unused(c);
        return NULL;
    }
    ripp_log(RIPP_LOG_DEBUG, "h2: connecting to %s", key);
    return c;
}

static bool token_ok(const char *t)
{
    if (!t || !*t) return false;
    for (; *t; t++)
        if ((unsigned char)*t <= ' ' || *t == 0x7f || *t == ':') return false;
    return true;
}

static ripp_xchg *client_request(ripp_http_client *hc, const char *method, const char *url,
                                 const ripp_hdr *hdrs, size_t n, bool end, const ripp_xchg_cbs *cbs,
                                 void *ud, int *err)
{
    int dummy;
    if (!err) err = &dummy;
    h2_client *cl = (h2_client *)hc;
    if (cl->o.deleted) {
        *err = RIPP_ERR_CLOSED;
        return NULL;
    }
    if (!token_ok(method) || !url || strlen(url) >= MAX_URL || n > RIPP_XCHG_MAX_HEADERS ||
        (n && !hdrs)) {
        *err = RIPP_ERR_INVAL;
        return NULL;
    }
    ripp_url *u = malloc(sizeof *u);
    if (!u) {
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    ripp_xchg *x = NULL;
    int rv = ripp_url_parse(url, u);
    if (rv < 0) {
        *err = rv;
        goto out;
    }
    nghttp2_nv nva[RIPP_XCHG_MAX_HEADERS + 4];
    size_t k = 0;
#define NV(nm, val)                                                                                \
    nva[k++] = (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(val), strlen(nm), strlen(val),            \
                            NGHTTP2_NV_FLAG_NONE}
    NV(":method", method);
    NV(":scheme", u->tls ? "https" : "http");
    NV(":authority", u->authority);
    NV(":path", u->pathq);
    for (size_t i = 0; i < n; i++) {
        const char *nm = hdrs[i].name, *val = hdrs[i].value;
        if (!nm || !*nm || nm[0] == ':' || !val || strchr(val, '\n') || strchr(val, '\r')) {
            *err = RIPP_ERR_INVAL;
            goto out;
        }
        if (!strcasecmp(nm, "host") || !strcasecmp(nm, "connection") ||
            !strcasecmp(nm, "keep-alive") || !strcasecmp(nm, "proxy-connection") ||
            !strcasecmp(nm, "transfer-encoding") || !strcasecmp(nm, "upgrade"))
            continue;
        NV(nm, val);
    }
#undef NV
    h2_conn *c = conn_for(cl, u, err);
    if (!c) goto out;
    h2_stream *st = h2_stream_new_request(c, nva, k, end, cbs, ud, err);
    if (st) x = &st->x;
out:
    free(u);
    return x;
}

static void client_del(ripp_http_client *hc)
{
    h2_client *cl = (h2_client *)hc;
    if (cl->o.deleted) return;
    h2_owner_close(&cl->o);
}

static void client_refresh(ripp_http_client *hc, const char *url, ripp_ts quiet)
{
    h2_client *cl = (h2_client *)hc;
    char key[300];
    if (cl->o.deleted || ripp_url_conn_key(url, true, key, sizeof key) != 0) return;
    uint64_t now = uv_now(cl->o.loop), quiet_ms = (uint64_t)quiet / 1000000;
    for (h2_conn *c = cl->o.conns; c; c = c->next) {
        if (c->closing || c->goaway_recv || c->stale || strcmp(c->key, key) != 0) continue;
        uint64_t heard = c->last_rx > c->created_at ? c->last_rx : c->created_at;
        if (now - heard < quiet_ms) continue;
        c->stale = true;
        ripp_log(RIPP_LOG_INFO,
                 "h2: nothing from %s:%d for %llu ms; new requests go on a new connection", c->host,
                 c->port, (unsigned long long)(now - heard));
    }
}

static const ripp_http_client_vt client_vt = {client_request, client_del, client_refresh};

ripp_http_client *ripp_h2_client_new(uv_loop_t *loop, const ripp_h2_client_config *cfg, int *err)
{
    int dummy;
    if (!err) err = &dummy;
    if (!loop) {
        *err = RIPP_ERR_INVAL;
        return NULL;
    }
    char errbuf[256] = "";
    ripp_tls_client_config none = {NULL, false};
    ripp_tls_creds *creds =
        ripp_tls_creds_client_new(cfg ? &cfg->tls : &none, err, errbuf, sizeof errbuf);
    if (!creds) {
        ripp_log(RIPP_LOG_ERROR, "h2: client TLS setup: %s", errbuf);
        return NULL;
    }
    h2_client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        ripp_tls_creds_del(creds);
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    cl->base.vt = &client_vt;
    if (h2_owner_init(&cl->o, loop, false) < 0) {
        ripp_tls_creds_del(creds);
        free(cl);
        *err = RIPP_ERR_IO;
        return NULL;
    }
    cl->o.free_fn = client_free;
    cl->o.creds = creds;
    cl->o.initial_window = cfg && cfg->initial_window ? cfg->initial_window : H2_DEFAULT_WINDOW;
    cl->o.timeout = cfg && cfg->connect_timeout ? cfg->connect_timeout : DEFAULT_CONNECT_TIMEOUT;
    *err = 0;
    return &cl->base;
}

uint64_t ripp_h2_client_connection_count(const ripp_http_client *hc)
{
    if (!hc || hc->vt != &client_vt) return 0;
    return ((const h2_client *)hc)->o.total_conns;
}

size_t ripp_h2_client_open_connections(const ripp_http_client *hc)
{
    if (!hc || hc->vt != &client_vt) return 0;
    return ((const h2_client *)hc)->o.n_conns;
}

int ripp_h2_client_alt_h3_port(const ripp_http_client *hc, const char *host, int port)
{
    if (!hc || hc->vt != &client_vt || !host) return 0;
    const h2_client *c = (const h2_client *)hc;
    for (const h2_conn *k = c->o.conns; k; k = k->next)
        if (k->tls && k->port == port && strcmp(k->host, host) == 0 && k->alt_h3_port)
            return k->alt_h3_port;
    return 0;
}
