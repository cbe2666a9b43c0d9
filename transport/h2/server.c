/* HTTP/2 server: a TCP listener whose connections speak h2 over TLS 1.3 (ALPN h2), or h2c
 * with prior knowledge behind a load balancer. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_internal.h"

/* Time between the shutdown notice and the final GOAWAY: streams the peer opened meanwhile
 * are still served. */
#define GOAWAY_DELAY_MS 500
#define HANDSHAKE_TIMEOUT (10 * RIPP_NS_PER_SEC)

struct ripp_h2_server {
    h2_owner o; /* first: the owner's handles carry &o as their data */
    uv_tcp_t listener;
    uv_timer_t goaway_timer;
    bool listening, shut_down;
    int port;
};

static void server_free(h2_owner *o)
{
    free((ripp_h2_server *)o);
}

static void on_connection(uv_stream_t *l, int status)
{
    h2_owner *o = l->data;
    if (status < 0) {
        ripp_log(RIPP_LOG_WARN, "h2: accept: %s", uv_strerror(status));
        return;
    }
    h2_conn *c = h2_conn_new(o);
    if (!c) {
        ripp_log(RIPP_LOG_ERROR, "h2: accept: out of memory");
        return;
    }
    ripp_tls_stream_opts opts = {
        .creds = o->creds,
        .alpn = o->creds ? "h2" : NULL,
        .timeout = o->timeout,
        .rbuf = o->rbuf,
        .rcap = sizeof o->rbuf,
        .cbs = &h2_conn_ts_cbs,
        .ud = c,
    };
    int err = 0;
    c->ts = ripp_tls_stream_accept(l, &opts, &err);
    if (!c->ts) {
        ripp_log(RIPP_LOG_WARN, "h2: accept: %s", ripp_strerror(err));
        h2_conn_free_unused(c);
        return;
    }
    ripp_tls_stream_peer(c->ts, c->host, sizeof c->host);
}

static int bind_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) return 0;
    /* A name: resolved once, at start-up, so blocking is acceptable. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return RIPP_ERR_INVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

ripp_h2_server *ripp_h2_server_new(uv_loop_t *loop, const ripp_h2_server_config *cfg,
                                   ripp_on_request_fn on_request, void *ud, int *err, char *errbuf,
                                   size_t errcap)
{
    int dummy;
    if (!err) err = &dummy;
    char dummybuf[8];
    if (!errbuf || !errcap) {
        errbuf = dummybuf;
        errcap = sizeof dummybuf;
    }
    errbuf[0] = '\0';
    if (!loop || !cfg || !on_request || cfg->port < 0 || cfg->port > 65535) {
        *err = RIPP_ERR_INVAL;
        snprintf(errbuf, errcap, "invalid server configuration");
        return NULL;
    }
    struct sockaddr_storage ss;
    const char *host = cfg->host && *cfg->host ? cfg->host : "0.0.0.0";
    if (bind_addr(host, cfg->port, &ss) < 0) {
        *err = RIPP_ERR_INVAL;
        snprintf(errbuf, errcap, "cannot use listen address %s", host);
        return NULL;
    }
    ripp_tls_creds *creds = NULL;
    if (!cfg->cleartext) {
        creds = ripp_tls_creds_server_new(&cfg->tls, err, errbuf, errcap);
        if (!creds) return NULL;
    }
    ripp_h2_server *s = calloc(1, sizeof *s);
    if (!s) {
        ripp_tls_creds_del(creds);
        *err = RIPP_ERR_NOMEM;
        snprintf(errbuf, errcap, "out of memory");
        return NULL;
    }
    h2_owner *o = &s->o;
    if (h2_owner_init(o, loop, true) < 0) {
        ripp_tls_creds_del(creds);
        free(s);
        *err = RIPP_ERR_IO;
        snprintf(errbuf, errcap, "event loop");
        return NULL;
    }
    o->free_fn = server_free;
    o->creds = creds;
    if (cfg->alt_svc) snprintf(o->alt_svc, sizeof o->alt_svc, "%s", cfg->alt_svc);
    o->initial_window = cfg->initial_window ? cfg->initial_window : H2_DEFAULT_WINDOW;
    o->max_streams =
        cfg->max_concurrent_streams ? cfg->max_concurrent_streams : H2_DEFAULT_MAX_STREAMS;
    o->timeout = HANDSHAKE_TIMEOUT;
    o->on_request = on_request;
    o->on_request_ud = ud;
    uv_timer_init(loop, &s->goaway_timer);
    s->goaway_timer.data = o;
    o->handles++;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = o;
    o->handles++;
    s->listening = true;

    int rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rv == 0) rv = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rv < 0) {
        *err = RIPP_ERR_IO;
        snprintf(errbuf, errcap, "listen on %s:%d: %s", host, cfg->port, uv_strerror(rv));
        goto fail;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len) == 0)
        s->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                   : ((struct sockaddr_in6 *)&bound)->sin6_port);
    ripp_log(RIPP_LOG_INFO, "h2: listening on %s port %d (%s)", host, s->port,
             cfg->cleartext ? "h2c" : "TLS 1.3, h2");
    return s;
fail:
    /* Freed once the loop has closed the handles. */
    ripp_h2_server_del(s);
    return NULL;
}

int ripp_h2_server_port(const ripp_h2_server *s)
{
    return s ? s->port : 0;
}

static void on_goaway_timer(uv_timer_t *t)
{
    h2_owner *o = t->data;
    for (h2_conn *c = o->conns; c; c = c->next)
        h2_conn_goaway(c);
}

void ripp_h2_server_shutdown(ripp_h2_server *s)
{
    if (!s || s->shut_down) return;
    s->shut_down = true;
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, h2_owner_handle_closed);
    }
    ripp_log(RIPP_LOG_INFO, "h2: shutting down (%zu connections)", s->o.n_conns);
    h2_conn *next;
    for (h2_conn *c = s->o.conns; c; c = next) {
        next = c->next;
        h2_conn_shutdown_notice(c);
    }
    uv_timer_start(&s->goaway_timer, on_goaway_timer, GOAWAY_DELAY_MS, 0);
}

void ripp_h2_server_del(ripp_h2_server *s)
{
    if (!s) return;
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, h2_owner_handle_closed);
    }
    uv_close((uv_handle_t *)&s->goaway_timer, h2_owner_handle_closed);
    h2_owner_close(&s->o);
}

uint64_t ripp_h2_server_connection_count(const ripp_h2_server *s)
{
    return s ? s->o.total_conns : 0;
}

size_t ripp_h2_server_open_connections(const ripp_h2_server *s)
{
    return s ? s->o.n_conns : 0;
}

void ripp_h2_server_set_alt_svc(ripp_h2_server *s, const char *value)
{
    if (!s) return;
    snprintf(s->o.alt_svc, sizeof s->o.alt_svc, "%s", value ? value : "");
}
