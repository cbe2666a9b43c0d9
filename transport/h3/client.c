/* HTTP/3 client: one QUIC connection per authority (host, port), made on first use and
 * shared by every request; certificate checked against the host; session tickets and the
 * server's transport parameters remembered per authority, so that a new connection resumes
 * and sends the requests early_ok allows in 0-RTT (a 425 answer is retried after the
 * handshake without the user seeing it). */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "h3_internal.h"
#include "../url.h"

#define MAX_URL 8192
#define MAX_TICKETS 256

typedef struct h3_ticket {
    struct h3_ticket *next;
    char key[300];
    gnutls_datum_t data; /* gnutls session data (the ticket), or size 0 */
    ngtcp2_transport_params tp;
    bool has_tp;
} h3_ticket;

typedef struct h3_client {
    ripp_http_client base; /* first: what users hold */
    ripp_h3_early_ok_fn early_ok;
    bool no_early_data;
    h3_ticket *tickets;
    size_t ntickets;
    h3_owner o;
} h3_client;

static const ripp_http_client_vt client_vt;

static h3_client *client_of(h3_owner *o)
{
    return (h3_client *)((char *)o - offsetof(h3_client, o));
}

/* ---- remembered tickets ---- */

static h3_ticket *ticket_find(h3_client *cl, const char *key, bool create)
{
    for (h3_ticket *t = cl->tickets; t; t = t->next)
        if (strcmp(t->key, key) == 0) return t;
    if (!create || cl->ntickets >= MAX_TICKETS) return NULL;
    h3_ticket *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    snprintf(t->key, sizeof t->key, "%s", key);
    t->next = cl->tickets;
    cl->tickets = t;
    cl->ntickets++;
    return t;
}

static int ticket_hook(gnutls_session_t sess, unsigned htype, unsigned when, unsigned incoming,
                       const gnutls_datum_t *msg)
{
    (void)htype;
    (void)when;
    (void)incoming;
    (void)msg;
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(sess);
    h3_conn *c = ref ? ref->user_data : NULL;
    if (!c || !c->owner) return 0;
    h3_ticket *t = ticket_find(client_of(c->owner), c->key, true);
    if (!t) return 0;
    gnutls_datum_t d;
    if (gnutls_session_get_data2(sess, &d) < 0) return 0;
    if (t->data.data) gnutls_free(t->data.data);
    t->data = d;
    ripp_log(RIPP_LOG_DEBUG, "h3: session ticket from %s (%u bytes)", c->key, d.size);
    return 0;
}

static int role_handshake_done(h3_conn *c)
{
    h3_client *cl = client_of(c->owner);
    if (gnutls_session_is_resumed(c->tls)) cl->o.resumed++;
    const ngtcp2_transport_params *p = ngtcp2_conn_get_remote_transport_params(c->qc);
    h3_ticket *t = ticket_find(cl, c->key, true);
    if (p && t) {
        /* Only the values 0-RTT needs; no pointers into the connection. */
        ngtcp2_transport_params_default(&t->tp);
        t->tp.initial_max_streams_bidi = p->initial_max_streams_bidi;
        t->tp.initial_max_streams_uni = p->initial_max_streams_uni;
        t->tp.initial_max_stream_data_bidi_local = p->initial_max_stream_data_bidi_local;
        t->tp.initial_max_stream_data_bidi_remote = p->initial_max_stream_data_bidi_remote;
        t->tp.initial_max_stream_data_uni = p->initial_max_stream_data_uni;
        t->tp.initial_max_data = p->initial_max_data;
        t->tp.active_connection_id_limit = p->active_connection_id_limit;
        t->tp.max_datagram_frame_size = p->max_datagram_frame_size;
        t->has_tp = true;
    }
    ripp_log(RIPP_LOG_DEBUG, "h3: connected to %s%s", c->key,
             gnutls_session_is_resumed(c->tls) ? " (resumed)" : "");
    return 0;
}

static bool role_early_response(h3_stream *st, int status)
{
    h3_conn *c = st->conn;
    if (status != 425 || st->retried || !st->nva) return false;
    ripp_log(RIPP_LOG_DEBUG, "h3: %s answered 425 to an early request; sending it again", c->key);
    ngtcp2_conn_shutdown_stream(c->qc, st->id, NGHTTP3_H3_REQUEST_CANCELLED);
    h3_stream_requeue(st);
    c->owner->too_early_retries++;
    h3_conn_mark_dirty(c);
    return true;
}

static const h3_role client_role = {
    .handshake_done = role_handshake_done,
    .early_response = role_early_response,
};

/* ---- connections ---- */

static void on_datagram(h3_sock *sock, const struct sockaddr *from, socklen_t fromlen, uint8_t *pkt,
                        size_t len)
{
    if (sock->conn)
        h3_conn_on_datagram(sock->conn, from, fromlen, (struct sockaddr *)&sock->local,
                            sock->locallen, pkt, len);
}

/* Nothing listens on the server's UDP port: fail the connection at once rather than after
 * the handshake timeout (an established connection ignores it: ICMP is not authenticated). */
static void on_refused(h3_sock *sock)
{
    h3_conn *c = sock->conn;
    if (!c || c->handshake_done || c->closing) return;
    ripp_log(RIPP_LOG_INFO, "h3: connection to %s refused", c->key);
    h3_conn_abort(c);
}

static int conn_start(h3_client *cl, h3_conn *c, const struct sockaddr *remote, socklen_t rlen)
{
    h3_owner *o = &cl->o;
    char errbuf[128];
    int rv = h3_sock_open(&c->sock, o, NULL, 0, remote, rlen, o->no_gso, on_datagram, errbuf,
                          sizeof errbuf);
    if (rv < 0) {
        ripp_log(RIPP_LOG_INFO, "h3: connect to %s: %s", c->key, errbuf);
        return rv;
    }
    c->sock->conn = c;
    c->sock->on_refused = on_refused;
    memcpy(&c->remote, remote, rlen);
    c->remotelen = rlen;
    ngtcp2_cid scid, dcid;
    scid.datalen = 17;
    dcid.datalen = 18;
    gnutls_rnd(GNUTLS_RND_NONCE, scid.data, scid.datalen);
    gnutls_rnd(GNUTLS_RND_NONCE, dcid.data, dcid.datalen);
    ngtcp2_settings st;
    ngtcp2_settings_default(&st);
    st.initial_ts = h3_now();
    st.cc_algo = H3_CC_ALGO;
    st.handshake_timeout = o->handshake_timeout;
    st.max_stream_window = 6 * (uint64_t)o->stream_window;
    st.max_window = 4 * (uint64_t)H3_CONN_WINDOW;
    ngtcp2_transport_params p;
    ngtcp2_transport_params_default(&p);
    p.initial_max_stream_data_bidi_local = o->stream_window;
    p.initial_max_stream_data_bidi_remote = o->stream_window;
    p.initial_max_stream_data_uni = o->stream_window;
    p.initial_max_data = H3_CONN_WINDOW;
    p.initial_max_streams_bidi = 0;
    p.initial_max_streams_uni = 3;
    p.max_idle_timeout = o->idle_timeout;
    p.active_connection_id_limit = 7;
    ngtcp2_path path = {
        {(ngtcp2_sockaddr *)&c->sock->local, (ngtcp2_socklen)c->sock->locallen},
        {(ngtcp2_sockaddr *)&c->remote, (ngtcp2_socklen)c->remotelen},
        NULL,
    };
    ngtcp2_callbacks cb;
    h3_conn_callbacks(&cb, false);
    rv = ngtcp2_conn_client_new(&c->qc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &st, &p,
                                NULL, c);
    if (rv != 0) {
        c->qc = NULL;
        ripp_log(RIPP_LOG_WARN, "h3: new connection: %s", ngtcp2_strerror(rv));
        return RIPP_ERR_NOMEM;
    }
    if (h3_conn_tls_setup(c, c->host) < 0) return RIPP_ERR_CRYPTO;
    gnutls_handshake_set_hook_function(c->tls, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
                                       GNUTLS_HOOK_POST, ticket_hook);
    h3_ticket *t = ticket_find(cl, c->key, false);
    if (t && t->data.size && gnutls_session_set_data(c->tls, t->data.data, t->data.size) == 0 &&
        t->has_tp && !cl->no_early_data) {
        ngtcp2_conn_set_early_remote_transport_params(c->qc, &t->tp);
        c->early_attempt = true;
        if (h3_conn_setup_http(c) < 0) {
            /* The remembered limits do not allow HTTP/3 in 0-RTT: wait for the handshake. */
            c->early_attempt = false;
            if (c->h3) nghttp3_conn_del(c->h3);
            c->h3 = NULL;
        }
    }
    h3_conn_start_timer(c);
    h3_conn_mark_dirty(c);
    ripp_log(RIPP_LOG_DEBUG, "h3: connecting to %s%s", c->key, c->early_attempt ? " (0-RTT)" : "");
    return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    h3_conn *c = (h3_conn *)((char *)req - offsetof(h3_conn, gai));
    c->resolving = false;
    if (c->destroyed || !c->owner) {
        if (res) uv_freeaddrinfo(res);
        h3_conn_handle_done(c);
        return;
    }
    c->handles--;
    int rv = status < 0 || !res ? RIPP_ERR_IO : 0;
    if (rv == 0) rv = conn_start(client_of(c->owner), c, res->ai_addr, (socklen_t)res->ai_addrlen);
    if (res) uv_freeaddrinfo(res);
    if (rv < 0) {
        ripp_log(RIPP_LOG_INFO, "h3: connection to %s failed: %s", c->key,
                 status < 0 ? uv_strerror(status) : ripp_strerror(rv));
        h3_conn_abort(c);
    }
}

static h3_conn *conn_for(h3_client *cl, const ripp_url *u, int *err)
{
    char key[300];
    snprintf(key, sizeof key, "%s:%d", u->host, u->port);
    for (h3_conn *c = cl->o.conns; c; c = c->next)
        if (!c->closing && !c->goaway_recv && !c->stale && strcmp(c->key, key) == 0) return c;
    h3_conn *c = h3_conn_alloc(&cl->o);
    if (!c) {
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    c->created_at = h3_now();
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->host, sizeof c->host, "%s", u->host);
    snprintf(c->authority, sizeof c->authority, "%s", u->authority);
    c->port = u->port;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sslen = 0;
    if (uv_ip4_addr(u->host, u->port, (struct sockaddr_in *)&ss) == 0)
        sslen = sizeof(struct sockaddr_in);
    else if (uv_ip6_addr(u->host, u->port, (struct sockaddr_in6 *)&ss) == 0)
        sslen = sizeof(struct sockaddr_in6);
    if (sslen) {
        int rv = conn_start(cl, c, (struct sockaddr *)&ss, sslen);
        if (rv < 0) {
            h3_conn_discard(c);
            *err = rv;
            return NULL;
        }
        return c;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", u->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    c->resolving = true;
    c->handles++;
    if (uv_getaddrinfo(cl->o.loop, &c->gai, on_resolved, u->host, portstr, &hints) < 0) {
        c->resolving = false;
        c->handles--;
        h3_conn_discard(c);
        *err = RIPP_ERR_IO;
        return NULL;
    }
    return c;
}

static bool default_early_ok(const char *method, const char *path)
{
    size_t n = strlen(path);
    return !(strcmp(method, "POST") == 0 && n >= 6 && strcmp(path + n - 6, "/calls") == 0);
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
    h3_client *cl = (h3_client *)hc;
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
    if (rv == 0 && !u->tls) rv = RIPP_ERR_INVAL; /* QUIC is always TLS */
    if (rv < 0) {
        *err = rv;
        goto out;
    }
    nghttp3_nv nva[RIPP_XCHG_MAX_HEADERS + 4];
    size_t k = 0;
#define NV(nm, val)                                                                                \
    nva[k++] = (nghttp3_nv){(uint8_t *)(nm), (uint8_t *)(val), strlen(nm), strlen(val),            \
                            NGHTTP3_NV_FLAG_NONE}
    NV(":method", method);
    NV(":scheme", "https");
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
    char path[MAX_URL];
    snprintf(path, sizeof path, "%s", u->pathq);
    path[strcspn(path, "?")] = '\0';
    bool early = !cl->no_early_data &&
                 (cl->early_ok ? cl->early_ok(method, path) : default_early_ok(method, path));
    h3_conn *c = conn_for(cl, u, err);
    if (!c) goto out;
    h3_stream *st = h3_stream_new_request(c, nva, k, end, early, cbs, ud, err);
    if (st) x = &st->x;
out:
    free(u);
    return x;
}

static void client_free(h3_owner *o)
{
    h3_client *cl = client_of(o);
    h3_ticket *t = cl->tickets;
    while (t) {
        h3_ticket *n = t->next;
        if (t->data.data) gnutls_free(t->data.data);
        free(t);
        t = n;
    }
    free(cl);
}

static void client_del(ripp_http_client *hc)
{
    h3_client *cl = (h3_client *)hc;
    if (cl->o.deleted) return;
    h3_owner_close(&cl->o);
}

static void client_refresh(ripp_http_client *hc, const char *url, ripp_ts quiet)
{
    h3_client *cl = (h3_client *)hc;
    char key[300];
    if (cl->o.deleted || ripp_url_conn_key(url, false, key, sizeof key) != 0) return;
    ngtcp2_tstamp now = h3_now();
    for (h3_conn *c = cl->o.conns; c; c = c->next) {
        if (c->closing || c->goaway_recv || c->stale || strcmp(c->key, key) != 0) continue;
        ngtcp2_tstamp heard = c->last_rx > c->created_at ? c->last_rx : c->created_at;
        if (now - heard < (ngtcp2_tstamp)quiet) continue;
        c->stale = true;
        ripp_log(RIPP_LOG_INFO,
                 "h3: nothing from %s for %llu ms; new requests go on a new connection", c->key,
                 (unsigned long long)((now - heard) / NGTCP2_MILLISECONDS));
    }
}

static const ripp_http_client_vt client_vt = {client_request, client_del, client_refresh};

ripp_http_client *ripp_h3_client_new(uv_loop_t *loop, const ripp_h3_client_config *cfg, int *err)
{
    int dummy;
    if (!err) err = &dummy;
    if (!loop) {
        *err = RIPP_ERR_INVAL;
        return NULL;
    }
    h3_client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    cl->base.vt = &client_vt;
    h3_owner *o = &cl->o;
    int rv = gnutls_certificate_allocate_credentials(&o->cred);
    if (rv < 0) {
        free(cl);
        *err = RIPP_ERR_CRYPTO;
        return NULL;
    }
    const char *ca = cfg ? cfg->tls.ca_file : NULL;
    if (ca) {
        rv = gnutls_certificate_set_x509_trust_file(o->cred, ca, GNUTLS_X509_FMT_PEM);
        if (rv <= 0) {
            ripp_log(RIPP_LOG_ERROR, "h3: client CA file %s: %s", ca,
                     rv < 0 ? gnutls_strerror(rv) : "no certificate");
            gnutls_certificate_free_credentials(o->cred);
            free(cl);
            *err = RIPP_ERR_CRYPTO;
            return NULL;
        }
    } else {
        rv = gnutls_certificate_set_x509_system_trust(o->cred);
        if (rv < 0)
            ripp_log(RIPP_LOG_WARN, "h3: system trust store unavailable: %s", gnutls_strerror(rv));
    }
    if (gnutls_priority_init(&o->prio, H3_TLS_PRIORITY, NULL) < 0) {
        gnutls_certificate_free_credentials(o->cred);
        free(cl);
        *err = RIPP_ERR_CRYPTO;
        return NULL;
    }
    rv = h3_owner_init(o, loop, false);
    if (rv < 0) {
        gnutls_priority_deinit(o->prio);
        gnutls_certificate_free_credentials(o->cred);
        free(cl);
        *err = rv;
        return NULL;
    }
    o->free_fn = client_free;
    o->role = &client_role;
    o->insecure = cfg && cfg->tls.insecure;
    if (o->insecure) ripp_log(RIPP_LOG_WARN, "h3: certificate verification is OFF (insecure)");
    o->no_gso = cfg && cfg->no_gso;
    o->stream_window = cfg && cfg->stream_window ? cfg->stream_window : H3_DEFAULT_WINDOW;
    o->idle_timeout = cfg && cfg->idle_timeout ? cfg->idle_timeout : H3_DEFAULT_IDLE;
    o->handshake_timeout = cfg && cfg->connect_timeout ? cfg->connect_timeout : H3_DEFAULT_CONNECT;
    cl->early_ok = cfg ? cfg->early_ok : NULL;
    cl->no_early_data = cfg && cfg->no_early_data;
    *err = 0;
    return &cl->base;
}

static h3_client *h3c(const ripp_http_client *hc)
{
    return hc && hc->vt == &client_vt ? (h3_client *)hc : NULL;
}

uint64_t ripp_h3_client_connection_count(const ripp_http_client *hc)
{
    h3_client *cl = h3c(hc);
    return cl ? cl->o.total_conns : 0;
}

size_t ripp_h3_client_open_connections(const ripp_http_client *hc)
{
    h3_client *cl = h3c(hc);
    return cl ? cl->o.n_open : 0;
}

uint64_t ripp_h3_client_resumed_count(const ripp_http_client *hc)
{
    h3_client *cl = h3c(hc);
    return cl ? cl->o.resumed : 0;
}

uint64_t ripp_h3_client_early_sent(const ripp_http_client *hc)
{
    h3_client *cl = h3c(hc);
    return cl ? cl->o.early_sent : 0;
}

uint64_t ripp_h3_client_too_early_retries(const ripp_http_client *hc)
{
    h3_client *cl = h3c(hc);
    return cl ? cl->o.too_early_retries : 0;
}

void ripp_h3_client_udp_stats(const ripp_http_client *hc, ripp_h3_udp_stats *out)
{
    memset(out, 0, sizeof *out);
    h3_client *cl = h3c(hc);
    if (!cl) return;
    out->tx_bytes = cl->o.udp.tx_bytes;
    out->tx_datagrams = cl->o.udp.tx_dgrams;
    out->rx_bytes = cl->o.udp.rx_bytes;
    out->rx_datagrams = cl->o.udp.rx_dgrams;
    out->tx_dropped = cl->o.udp.tx_dropped;
    out->tx_syscalls = cl->o.udp.tx_syscalls;
}

void ripp_h3_client_close_idle(ripp_http_client *hc)
{
    h3_client *cl = h3c(hc);
    if (!cl || cl->o.deleted) return;
    h3_conn *next;
    for (h3_conn *c = cl->o.conns; c; c = next) {
        next = c->next;
        if (!c->closing && c->n_streams == 0) {
            if (c->qc)
                h3_conn_close(c, true, NGHTTP3_H3_NO_ERROR);
            else
                h3_conn_abort(c);
        }
    }
}

bool ripp_h3_client_is(const ripp_http_client *hc)
{
    return h3c(hc) != NULL;
}
