/* QUIC connections shared by the HTTP/3 server and client: the ngtcp2 connection and its
 * callbacks, the GnuTLS session, the write loop (nghttp3 → ngtcp2 → GSO batches), the
 * per-connection timer, closing and draining, and send coalescing per loop iteration.
 *
 * Re-entrancy: user callbacks may call anything, including deleting the server or client.
 * Every entry point (datagrams, the timer, the per-iteration flush) holds c->busy; library
 * objects are destroyed only when busy drops to zero, and once c->closing is set no callback
 * reaches a stream again. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h3_internal.h"

#define WRITE_BATCHES 4 /* GSO batches per flush before yielding to the loop */

ngtcp2_tstamp h3_now(void)
{
    return ripp_io_now();
}

/* ---- owner ---- */

static void dirty_remove(h3_conn *c)
{
    if (!c->dirty || !c->owner) return;
    if (c->dprev)
        c->dprev->dnext = c->dnext;
    else
        c->owner->dirty = c->dnext;
    if (c->dnext) c->dnext->dprev = c->dprev;
    c->dprev = c->dnext = NULL;
    c->dirty = false;
}

void h3_conn_mark_dirty(h3_conn *c)
{
    h3_owner *o = c->owner;
    if (c->dirty || c->closing || !o) return;
    c->dirty = true;
    c->dprev = NULL;
    c->dnext = o->dirty;
    if (o->dirty) o->dirty->dprev = c;
    o->dirty = c;
}

static void on_idle(uv_idle_t *h);

static void owner_flush(h3_owner *o)
{
    size_t budget = 4096;
    while (o->dirty && budget--) {
        h3_conn *c = o->dirty;
        dirty_remove(c);
        h3_conn_flush(c);
        if (o->deleted) return;
    }
    if (o->dirty && !uv_is_active((uv_handle_t *)&o->idle)) uv_idle_start(&o->idle, on_idle);
}

static void on_prepare(uv_prepare_t *h)
{
    owner_flush(h->data);
}

static void on_check(uv_check_t *h)
{
    owner_flush(h->data);
}

static void on_idle(uv_idle_t *h)
{
    h3_owner *o = h->data;
    owner_flush(o);
    if (!o->dirty && !o->deleted) uv_idle_stop(h);
}

int h3_owner_init(h3_owner *o, uv_loop_t *loop, bool server)
{
    o->loop = loop;
    o->server = server;
    o->rxbuf = malloc((size_t)H3_RX_MSGS * H3_RX_BUF);
    if (!o->rxbuf) return RIPP_ERR_NOMEM;
    if (ripp_io_random(o->secret, sizeof o->secret) < 0) {
        free(o->rxbuf);
        o->rxbuf = NULL;
        return RIPP_ERR_CRYPTO;
    }
    if (uv_prepare_init(loop, &o->prepare) < 0) {
        free(o->rxbuf);
        o->rxbuf = NULL;
        return RIPP_ERR_IO;
    }
    o->prepare.data = o;
    o->handles++;
    uv_check_init(loop, &o->check);
    o->check.data = o;
    o->handles++;
    uv_idle_init(loop, &o->idle);
    o->idle.data = o;
    o->handles++;
    uv_prepare_start(&o->prepare, on_prepare);
    uv_check_start(&o->check, on_check);
    /* They only flush; they must not keep the loop alive. */
    uv_unref((uv_handle_t *)&o->prepare);
    uv_unref((uv_handle_t *)&o->check);
    return 0;
}

void h3_owner_handle_closed(uv_handle_t *h)
{
    h3_owner *o = h->data;
    if (--o->handles > 0) return;
    free(o->rxbuf);
    o->rxbuf = NULL;
    if (o->cred) gnutls_certificate_free_credentials(o->cred);
    if (o->prio) gnutls_priority_deinit(o->prio);
    if (o->anti_replay) gnutls_anti_replay_deinit(o->anti_replay);
    if (o->ticket_key.data) gnutls_free(o->ticket_key.data);
    if (o->free_fn) o->free_fn(o);
}

static void conn_teardown_streams(h3_conn *c);
static void conn_release(h3_conn *c);
static bool conn_leave(h3_conn *c);
static void send_close(h3_conn *c);
static void unblock(h3_conn *c);

void h3_owner_close(h3_owner *o)
{
    o->deleted = true;
    while (o->conns) {
        h3_conn *c = o->conns;
        c->busy++;
        conn_teardown_streams(c);
        if (!c->free_pending) {
            if (c->cerr.error_code == 0 &&
                c->cerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT)
                ngtcp2_connection_close_error_set_application_error(&c->cerr, NGHTTP3_H3_NO_ERROR,
                                                                    NULL, 0);
            send_close(c);
            conn_release(c);
        }
        conn_leave(c);
    }
    uv_close((uv_handle_t *)&o->prepare, h3_owner_handle_closed);
    uv_close((uv_handle_t *)&o->check, h3_owner_handle_closed);
    uv_close((uv_handle_t *)&o->idle, h3_owner_handle_closed);
}

/* ---- connection lifetime ---- */

h3_conn *h3_conn_alloc(h3_owner *o)
{
    h3_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->owner = o;
    c->next = o->conns;
    if (o->conns) o->conns->prev = c;
    o->conns = c;
    o->n_open++;
    o->total_conns++;
    c->open_counted = true;
    ngtcp2_connection_close_error_default(&c->cerr);
    snprintf(c->host, sizeof c->host, "peer");
    return c;
}

static void conn_handle_closed(uv_handle_t *h)
{
    h3_conn *c = h->data;
    if (--c->handles == 0 && c->destroyed) free(c);
}

void h3_conn_handle_done(h3_conn *c)
{
    if (--c->handles == 0 && c->destroyed) free(c);
}

void h3_conn_abort(h3_conn *c)
{
    c->busy++;
    conn_teardown_streams(c);
    conn_release(c);
    conn_leave(c);
}

static void conn_destroy(h3_conn *c)
{
    if (c->destroyed) return;
    c->destroyed = true;
    while (c->streams) {
        h3_stream *st = c->streams;
        h3_stream_unlink(st);
        h3_stream_free(st);
    }
    if (c->h3) nghttp3_conn_del(c->h3);
    c->h3 = NULL;
    if (c->qc) ngtcp2_conn_del(c->qc);
    c->qc = NULL;
    if (c->tls) gnutls_deinit(c->tls);
    c->tls = NULL;
    free(c->cids);
    c->cids = NULL;
    free(c->closebuf);
    c->closebuf = NULL;
    if (c->sock && c->sock->conn == c) h3_sock_close(c->sock);
    c->sock = NULL;
    if (c->resolving) uv_cancel((uv_req_t *)&c->gai);
    if (c->timer_live) {
        c->timer_live = false;
        uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    }
    if (c->handles == 0) free(c);
}

/* Unlink from the owner and schedule destruction (at once when nothing is on the stack). */
static void conn_release(h3_conn *c)
{
    if (c->free_pending) return;
    c->free_pending = true;
    c->closing = true;
    h3_owner *o = c->owner;
    if (o) {
        dirty_remove(c);
        if (c->open_counted) o->n_open--;
        c->open_counted = false;
        if (o->role && o->role->conn_free) o->role->conn_free(c);
        if (c->prev)
            c->prev->next = c->next;
        else
            o->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        c->prev = c->next = NULL;
        c->owner = NULL;
    }
    if (c->timer_live) uv_timer_stop(&c->timer);
    unblock(c);
    if (c->busy == 0) conn_destroy(c);
}

/* Returns true when c was destroyed. */
static bool conn_leave(h3_conn *c)
{
    if (--c->busy > 0 || !c->free_pending) return false;
    if (c->close_deferred) {
        c->close_deferred = false;
        send_close(c);
    }
    conn_destroy(c);
    return true;
}

void h3_conn_discard(h3_conn *c)
{
    c->busy++;
    c->closing = true;
    conn_release(c);
    conn_leave(c);
}

static void conn_teardown_streams(h3_conn *c)
{
    if (c->closing) return;
    c->closing = true;
    dirty_remove(c);
    if (c->open_counted && c->owner) {
        c->owner->n_open--;
        c->open_counted = false;
    }
    while (c->streams)
        h3_stream_finish(c->streams, RIPP_ERR_CLOSED, 0);
}

/* ---- sending ---- */

static const struct sockaddr *peer_of(h3_conn *c, const ngtcp2_path *p, socklen_t *len)
{
    if (p && p->remote.addrlen) {
        *len = (socklen_t)p->remote.addrlen;
        return p->remote.addr;
    }
    *len = c->remotelen;
    return (const struct sockaddr *)&c->remote;
}

static void block_on_socket(h3_conn *c)
{
    if (c->blocked_listed) return;
    c->blocked_listed = true;
    c->bnext = c->sock->blocked;
    c->sock->blocked = c;
    h3_sock_want_write(c->sock, true);
}

static void unblock(h3_conn *c)
{
    if (c->blocked_listed && c->sock) {
        for (h3_conn **pp = &c->sock->blocked; *pp; pp = &(*pp)->bnext) {
            if (*pp == c) {
                *pp = c->bnext;
                break;
            }
        }
    }
    c->blocked_listed = false;
    c->bnext = NULL;
    for (int i = 0; i < c->npend; i++)
        free(c->pend[i].data);
    c->npend = 0;
}

static void pend_add(h3_conn *c, const struct sockaddr *to, socklen_t tolen, const uint8_t *d,
                     size_t len, size_t gso)
{
    uint8_t *copy = c->npend < 2 ? malloc(len) : NULL;
    if (!copy) {
        if (c->owner) c->owner->udp.tx_dropped += gso ? (len + gso - 1) / gso : 1;
        return; /* QUIC recovers it as a loss */
    }
    memcpy(copy, d, len);
    c->pend[c->npend++] = (h3_pend){copy, len, gso};
    memcpy(&c->pend_to, to, tolen);
    c->pend_tolen = tolen;
}

/* Returns false when the socket is full (the rest waits for it to be writable). */
static bool send_batch(h3_conn *c, const ngtcp2_path *p, const uint8_t *buf, size_t len, size_t gso)
{
    /* A closing socket still sends until the loop closes it (a last CONNECTION_CLOSE). */
    if (!len || !c->sock) return true;
    socklen_t alen;
    const struct sockaddr *to = peer_of(c, p, &alen);
    if (c->npend) { /* keep the order */
        pend_add(c, to, alen, buf, len, gso);
        return false;
    }
    size_t sent = 0;
    if (h3_sock_send(c->sock, to, alen, buf, len, gso, &sent) != RIPP_ERR_AGAIN) return true;
    pend_add(c, to, alen, buf + sent, len - sent, gso);
    block_on_socket(c);
    return false;
}

/* Send what the kernel refused before; true when nothing is left. */
static bool flush_pend(h3_conn *c)
{
    while (c->npend) {
        h3_pend *p = &c->pend[0];
        size_t sent = 0;
        if (h3_sock_send(c->sock, (struct sockaddr *)&c->pend_to, c->pend_tolen, p->data, p->len,
                         p->gso, &sent) == RIPP_ERR_AGAIN) {
            memmove(p->data, p->data + sent, p->len - sent);
            p->len -= sent;
            block_on_socket(c);
            return false;
        }
        free(p->data);
        c->pend[0] = c->pend[1];
        c->npend--;
    }
    return true;
}

static void send_close(h3_conn *c)
{
    if (!c->qc || !c->sock) return;
    if (ngtcp2_conn_is_in_closing_period(c->qc) || ngtcp2_conn_is_in_draining_period(c->qc)) return;
    if (c->in_lib) {
        c->close_deferred = true;
        return;
    }
    uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->qc, &ps.path, &pi, buf, sizeof buf,
                                                        &c->cerr, h3_now());
    if (n <= 0) return;
    free(c->closebuf);
    c->closebuf = malloc((size_t)n);
    if (c->closebuf) {
        memcpy(c->closebuf, buf, (size_t)n);
        c->closelen = (size_t)n;
    }
    /* Straight to the socket: a connection going away never waits for writability. */
    socklen_t alen;
    const struct sockaddr *to = peer_of(c, &ps.path, &alen);
    h3_sock_send(c->sock, to, alen, buf, (size_t)n, 0, NULL);
}

static void on_timer(uv_timer_t *t);

static void arm_timer(h3_conn *c, bool soon)
{
    if (!c->timer_live || c->free_pending) return;
    uint64_t ms = 0;
    if (!soon) {
        ngtcp2_tstamp exp = ngtcp2_conn_get_expiry(c->qc);
        if (exp == UINT64_MAX) {
            uv_timer_stop(&c->timer);
            return;
        }
        ngtcp2_tstamp now = h3_now();
        if (exp > now) ms = (exp - now + RIPP_NS_PER_MS - 1) / RIPP_NS_PER_MS;
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* The closing or draining period: keep the connection IDs routed here (so the peer's late
 * packets meet our CONNECTION_CLOSE, not a new connection) for three PTOs. */
static void start_closing_period(h3_conn *c)
{
    if (!c->timer_live || c->free_pending) {
        conn_release(c);
        return;
    }
    ngtcp2_duration pto = c->qc ? ngtcp2_conn_get_pto(c->qc) : 0;
    uint64_t ms = (3 * pto) / RIPP_NS_PER_MS + 1;
    if (ms > 3000) ms = 3000;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

void h3_conn_close_with(h3_conn *c, const ngtcp2_connection_close_error *e)
{
    if (c->closing) return;
    c->busy++;
    conn_teardown_streams(c);
    if (!c->free_pending) {
        c->cerr = *e;
        send_close(c);
        start_closing_period(c);
    }
    conn_leave(c);
}

void h3_conn_close(h3_conn *c, bool app, uint64_t code)
{
    ngtcp2_connection_close_error e;
    ngtcp2_connection_close_error_default(&e);
    if (app)
        ngtcp2_connection_close_error_set_application_error(&e, code, NULL, 0);
    else
        ngtcp2_connection_close_error_set_transport_error(&e, code, NULL, 0);
    h3_conn_close_with(c, &e);
}

static void close_liberr(h3_conn *c, int liberr)
{
    ngtcp2_connection_close_error e;
    ngtcp2_connection_close_error_default(&e);
    ngtcp2_connection_close_error_set_transport_error_liberr(&e, liberr, NULL, 0);
    if (liberr == NGTCP2_ERR_CALLBACK_FAILURE && c->fail_why[0])
        ripp_log(RIPP_LOG_INFO, "h3: %s: %s (%s); closing", c->host, ngtcp2_strerror(liberr),
                 c->fail_why);
    else
        ripp_log(RIPP_LOG_INFO, "h3: %s: %s; closing", c->host, ngtcp2_strerror(liberr));
    h3_conn_close_with(c, &e);
}

static void close_h3err(h3_conn *c, int h3err)
{
    ngtcp2_connection_close_error e;
    ngtcp2_connection_close_error_default(&e);
    ngtcp2_connection_close_error_set_application_error(
        &e, nghttp3_err_infer_quic_app_error_code(h3err), NULL, 0);
    ripp_log(RIPP_LOG_INFO, "h3: %s: %s; closing", c->host, nghttp3_strerror(h3err));
    h3_conn_close_with(c, &e);
}

/* Returns true when there is more to send than one flush may write. */
static bool write_loop(h3_conn *c)
{
    h3_owner *o = c->owner;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    nghttp3_vec vec[16];
    size_t maxudp = ngtcp2_conn_get_max_tx_udp_payload_size(c->qc);
    if (maxudp > H3_MAX_UDP_PAYLOAD) maxudp = H3_MAX_UDP_PAYLOAD;
    size_t maxpkts = ngtcp2_conn_get_send_quantum(c->qc) / maxudp;
    if (maxpkts < 1) maxpkts = 1;
    if (maxpkts > H3_MAX_GSO_SEGMENTS) maxpkts = H3_MAX_GSO_SEGMENTS;
    ngtcp2_tstamp ts = h3_now();
    uint8_t *buf = o->txbuf;
    size_t off = 0, npkts = 0, gso = 0;
    int batches = 0;
    for (;;) {
        int64_t sid = -1;
        int fin = 0;
        nghttp3_ssize nv = 0;
        if (c->h3 && ngtcp2_conn_get_max_data_left(c->qc)) {
            nv = nghttp3_conn_writev_stream(c->h3, &sid, &fin, vec, 16);
            if (nv < 0) {
                send_batch(c, &ps.path, buf, off, gso);
                close_h3err(c, (int)nv);
                return false;
            }
        }
        ngtcp2_ssize ndatalen = -1;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        if (fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        c->in_lib++;
        ngtcp2_ssize nw =
            ngtcp2_conn_writev_stream(c->qc, &ps.path, &pi, buf + off, maxudp, &ndatalen, flags,
                                      sid, (const ngtcp2_vec *)vec, (size_t)nv, ts);
        c->in_lib--;
        if (c->closing) return false;
        if (nw < 0) {
            switch (nw) {
            case NGTCP2_ERR_STREAM_DATA_BLOCKED:
                nghttp3_conn_block_stream(c->h3, sid);
                continue;
            case NGTCP2_ERR_STREAM_SHUT_WR:
            case NGTCP2_ERR_STREAM_NOT_FOUND:
                nghttp3_conn_shutdown_stream_write(c->h3, sid);
                continue;
            case NGTCP2_ERR_WRITE_MORE: {
                int rv = nghttp3_conn_add_write_offset(c->h3, sid, (size_t)ndatalen);
                if (rv != 0) {
                    send_batch(c, &ps.path, buf, off, gso);
                    close_h3err(c, rv);
                    return false;
                }
                continue;
            }
            default:
                send_batch(c, &ps.path, buf, off, gso);
                close_liberr(c, (int)nw);
                return false;
            }
        }
        if (ndatalen >= 0) {
            int rv = nghttp3_conn_add_write_offset(c->h3, sid, (size_t)ndatalen);
            if (rv != 0) {
                send_batch(c, &ps.path, buf, off, gso);
                close_h3err(c, rv);
                return false;
            }
        }
        if (nw == 0) {
            send_batch(c, &ps.path, buf, off, gso); /* (blocked: the rest waits either way) */
            /* No pacing before the handshake completes: with the default initial RTT it
             * would hold the client's Finished and first request for ~20 ms. */
            if (c->handshake_done) ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
            return false;
        }
        if (npkts == 0) {
            gso = (size_t)nw;
            off = (size_t)nw;
            npkts = 1;
        } else if ((size_t)nw > gso) {
            /* A bigger packet cannot join the batch: send the batch, start a new one. */
            if (!send_batch(c, &ps.path, buf, off, gso)) {
                send_batch(c, &ps.path, buf + off, (size_t)nw, (size_t)nw);
                if (c->handshake_done) ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
                return false;
            }
            memmove(buf, buf + off, (size_t)nw);
            off = gso = (size_t)nw;
            npkts = 1;
            batches++;
        } else {
            off += (size_t)nw;
            npkts++;
        }
        if (npkts >= maxpkts || (size_t)nw < gso) {
            bool ok = send_batch(c, &ps.path, buf, off, gso);
            off = npkts = gso = 0;
            if (c->handshake_done) ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
            if (!ok) return false; /* the socket's writability resumes us */
            if (++batches >= WRITE_BATCHES) return true;
        }
    }
}

void h3_conn_flush(h3_conn *c)
{
    if (c->closing || c->free_pending || !c->qc) return;
    if (ngtcp2_conn_is_in_closing_period(c->qc) || ngtcp2_conn_is_in_draining_period(c->qc)) return;
    c->busy++;
    c->rx_unflushed = 0;
    h3_owner *o = c->owner;
    if (!o->server) h3_conn_open_pending(c); /* only the queues of unopened requests */
    bool more = false;
    if (!c->closing && flush_pend(c)) more = write_loop(c);
    if (!c->closing && c->sock && c->sock->refused && c->sock->on_refused) {
        c->sock->refused = false;
        c->sock->on_refused(c->sock);
    }
    if (!c->closing && !c->free_pending) {
        if (o->server && c->goaway_final && c->n_streams == 0)
            h3_conn_close(c, true, NGHTTP3_H3_NO_ERROR);
        else
            arm_timer(c, more);
    }
    conn_leave(c);
}

static void on_timer(uv_timer_t *t)
{
    h3_conn *c = t->data;
    c->busy++;
    if (c->closing) {
        conn_release(c);
    } else {
        c->in_lib++;
        int rv = ngtcp2_conn_handle_expiry(c->qc, h3_now());
        c->in_lib--;
        if (c->closing) {
            /* a callback closed it */
        } else if (rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
            ripp_log(rv == NGTCP2_ERR_IDLE_CLOSE ? RIPP_LOG_DEBUG : RIPP_LOG_INFO, "h3: %s: %s",
                     c->host, rv == NGTCP2_ERR_IDLE_CLOSE ? "idle timeout" : "handshake timeout");
            conn_teardown_streams(c);
            conn_release(c);
        } else if (rv != 0) {
            close_liberr(c, rv);
        } else {
            h3_conn_flush(c);
        }
    }
    conn_leave(c);
}

void h3_conn_start_timer(h3_conn *c)
{
    if (c->timer_live || !c->owner) return;
    uv_timer_init(c->owner->loop, &c->timer);
    c->timer.data = c;
    c->timer_live = true;
    c->handles++;
}

/* ---- receiving ---- */

void h3_conn_on_datagram(h3_conn *c, const struct sockaddr *from, socklen_t fromlen,
                         const struct sockaddr *local, socklen_t locallen, uint8_t *pkt, size_t len)
{
    c->busy++;
    if (c->free_pending || !c->qc) goto out;
    if (c->closing) {
        /* Closing period: answer with our CONNECTION_CLOSE, a bounded number of times. */
        if (c->closebuf && c->close_sends < 8 && c->sock && !c->sock->closing) {
            c->close_sends++;
            h3_sock_send(c->sock, from, fromlen, c->closebuf, c->closelen, 0, NULL);
        }
        goto out;
    }
    ngtcp2_path path = {
        {(ngtcp2_sockaddr *)local, (ngtcp2_socklen)locallen},
        {(ngtcp2_sockaddr *)from, (ngtcp2_socklen)fromlen},
        NULL,
    };
    ngtcp2_pkt_info pi = {0};
    c->in_lib++;
    ngtcp2_tstamp now = h3_now();
    int rv = ngtcp2_conn_read_pkt(c->qc, &path, &pi, pkt, len, now);
    c->in_lib--;
    if (c->closing || c->free_pending) goto out;
    if (rv == 0) {
        c->last_rx = now;
        h3_conn_mark_dirty(c);
        if (++c->rx_unflushed >= H3_RX_FLUSH_EVERY) h3_conn_flush(c);
        goto out;
    }
    switch (rv) {
    case NGTCP2_ERR_DRAINING:
        ripp_log(RIPP_LOG_DEBUG, "h3: %s closed the connection", c->host);
        conn_teardown_streams(c);
        if (!c->free_pending) start_closing_period(c);
        break;
    case NGTCP2_ERR_DROP_CONN:
        conn_teardown_streams(c);
        conn_release(c);
        break;
    case NGTCP2_ERR_CRYPTO: {
        ngtcp2_connection_close_error e;
        ngtcp2_connection_close_error_default(&e);
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &e, ngtcp2_conn_get_tls_alert(c->qc), NULL, 0);
        ripp_log(RIPP_LOG_INFO, "h3: %s: TLS handshake failed (alert %u)", c->host,
                 ngtcp2_conn_get_tls_alert(c->qc));
        h3_conn_close_with(c, &e);
        break;
    }
    default:
        if (c->cerr.error_code) {
            /* a callback chose the code */
            ripp_log(RIPP_LOG_INFO, "h3: %s: %s%s%s%s; closing", c->host, ngtcp2_strerror(rv),
                     c->fail_why[0] ? " (" : "", c->fail_why, c->fail_why[0] ? ")" : "");
            h3_conn_close_with(c, &c->cerr);
        } else
            close_liberr(c, rv);
        break;
    }
out:
    conn_leave(c);
}

/* ---- TLS ---- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    h3_conn *c = ref->user_data;
    return c->qc;
}

int h3_conn_tls_setup(h3_conn *c, const char *host)
{
    h3_owner *o = c->owner;
    unsigned flags = o->server
                         ? GNUTLS_SERVER | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_AUTO_SEND_TICKET |
                               GNUTLS_NO_END_OF_EARLY_DATA
                         : GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA;
    if (gnutls_init(&c->tls, flags) < 0) {
        c->tls = NULL;
        return RIPP_ERR_CRYPTO;
    }
    if (gnutls_priority_set(c->tls, o->prio) < 0) return RIPP_ERR_CRYPTO;
    if (o->server) {
        if (ngtcp2_crypto_gnutls_configure_server_session(c->tls) != 0) return RIPP_ERR_CRYPTO;
        if (gnutls_session_ticket_enable_server(c->tls, &o->ticket_key) < 0) return RIPP_ERR_CRYPTO;
        if (!o->no_early_data) {
            gnutls_anti_replay_enable(c->tls, o->anti_replay);
            gnutls_record_set_max_early_data_size(c->tls, 0xffffffffu);
        }
        gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_IGNORE);
    } else {
        if (ngtcp2_crypto_gnutls_configure_client_session(c->tls) != 0) return RIPP_ERR_CRYPTO;
    }
    if (gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, o->cred) < 0) return RIPP_ERR_CRYPTO;
    gnutls_datum_t alpn = {(unsigned char *)"h3", 2};
    unsigned aflags = GNUTLS_ALPN_MANDATORY | (o->server ? GNUTLS_ALPN_SERVER_PRECEDENCE : 0);
    if (gnutls_alpn_set_protocols(c->tls, &alpn, 1, aflags) < 0) return RIPP_ERR_CRYPTO;
    if (!o->server) {
        uint8_t ip[16];
        bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
        if (!literal && gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, host, strlen(host)) < 0)
            return RIPP_ERR_CRYPTO;
        if (!o->insecure) gnutls_session_set_verify_cert(c->tls, host, 0);
    }
    c->ref.get_conn = get_conn;
    c->ref.user_data = c;
    gnutls_session_set_ptr(c->tls, &c->ref);
    ngtcp2_conn_set_tls_native_handle(c->qc, c->tls);
    return 0;
}

/* ---- HTTP/3 layer ---- */

int h3_conn_setup_http(h3_conn *c)
{
    if (c->h3) return 0;
    h3_owner *o = c->owner;
    if (ngtcp2_conn_get_max_local_streams_uni(c->qc) < 3) return RIPP_ERR_PROTO;
    nghttp3_settings s;
    nghttp3_settings_default(&s);
    s.max_field_section_size = H3_MAX_HEADER_BYTES;
    s.qpack_max_dtable_capacity = 4096;
    s.qpack_blocked_streams = 100;
    int rv =
        o->server
            ? nghttp3_conn_server_new(&c->h3, &h3_http_callbacks, &s, nghttp3_mem_default(), c)
            : nghttp3_conn_client_new(&c->h3, &h3_http_callbacks, &s, nghttp3_mem_default(), c);
    if (rv != 0) {
        c->h3 = NULL;
        return RIPP_ERR_NOMEM;
    }
    if (o->server) {
        const ngtcp2_transport_params *p = ngtcp2_conn_get_local_transport_params(c->qc);
        nghttp3_conn_set_max_client_streams_bidi(c->h3, p->initial_max_streams_bidi);
    }
    /* nghttp3 bounds the QPACK decoder instructions waiting to be written (section
     * acknowledgements, stream cancellations) at 20 bytes per concurrent stream, at least 100
     * streams, and fails the whole connection with QPACK_FATAL beyond. Requests that start
     * and are reset by the hundred between two writes (byways aborted under load) pass 2000
     * bytes: size it for the streams a connection really carries. */
    size_t maxconc =
        o->max_streams > H3_DEFAULT_MAX_STREAMS ? o->max_streams : H3_DEFAULT_MAX_STREAMS;
    nghttp3_conn_set_max_concurrent_streams(c->h3, maxconc);
    int64_t ctrl, qenc, qdec;
    if (ngtcp2_conn_open_uni_stream(c->qc, &ctrl, NULL) != 0 ||
        nghttp3_conn_bind_control_stream(c->h3, ctrl) != 0 ||
        ngtcp2_conn_open_uni_stream(c->qc, &qenc, NULL) != 0 ||
        ngtcp2_conn_open_uni_stream(c->qc, &qdec, NULL) != 0 ||
        nghttp3_conn_bind_qpack_streams(c->h3, qenc, qdec) != 0)
        return RIPP_ERR_PROTO;
    return 0;
}

void h3_conn_shutdown_notice(h3_conn *c)
{
    if (c->closing) return;
    if (!c->h3) {
        h3_conn_close(c, true, NGHTTP3_H3_NO_ERROR);
        return;
    }
    if (nghttp3_conn_submit_shutdown_notice(c->h3) == 0) c->shutdown_notice = true;
    h3_conn_mark_dirty(c);
}

void h3_conn_goaway(h3_conn *c)
{
    if (c->closing) return;
    if (c->h3 && !c->goaway_final) nghttp3_conn_shutdown(c->h3);
    c->goaway_final = true;
    h3_conn_mark_dirty(c);
}

/* ---- ngtcp2 callbacks ---- */

/* Every callback failure says why (it closes the connection with ERR_CALLBACK_FAILURE): at
 * debug level at once, and in the closing message. */
static int cb_fail(h3_conn *c, const char *cb, int64_t id, const char *why)
{
    snprintf(c->fail_why, sizeof c->fail_why, "%s, stream %lld: %s", cb, (long long)id, why);
    ripp_log(RIPP_LOG_DEBUG, "h3: %s: callback failure: %s", c->host, c->fail_why);
    return NGTCP2_ERR_CALLBACK_FAILURE;
}

static int cb_recv_stream_data(ngtcp2_conn *qc, uint32_t flags, int64_t id, uint64_t offset,
                               const uint8_t *data, size_t len, void *ud, void *sud)
{
    (void)offset;
    (void)sud;
    h3_conn *c = ud;
    if (c->closing) return cb_fail(c, "recv_stream_data", id, "connection closing");
    if (!c->h3) {
        ngtcp2_conn_extend_max_stream_offset(qc, id, len);
        ngtcp2_conn_extend_max_offset(qc, len);
        return 0;
    }
    nghttp3_ssize n =
        nghttp3_conn_read_stream(c->h3, id, data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    if (c->closing) return cb_fail(c, "recv_stream_data", id, "closed by a stream callback");
    if (n < 0) {
        ripp_log(RIPP_LOG_INFO, "h3: %s: stream %lld: %s", c->host, (long long)id,
                 nghttp3_strerror((int)n));
        ngtcp2_connection_close_error_set_application_error(
            &c->cerr, nghttp3_err_infer_quic_app_error_code((int)n), NULL, 0);
        return cb_fail(c, "recv_stream_data", id, nghttp3_strerror((int)n));
    }
    /* Body bytes are counted in recv_data; this is the framing nghttp3 consumed. */
    ngtcp2_conn_extend_max_stream_offset(qc, id, (uint64_t)n);
    ngtcp2_conn_extend_max_offset(qc, (uint64_t)n);
    return 0;
}

static int cb_acked_stream_data_offset(ngtcp2_conn *qc, int64_t id, uint64_t offset,
                                       uint64_t datalen, void *ud, void *sud)
{
    (void)qc;
    (void)offset;
    (void)sud;
    h3_conn *c = ud;
    if (!c->h3) return 0;
    int rv = nghttp3_conn_add_ack_offset(c->h3, id, datalen);
    return rv == 0 ? 0 : cb_fail(c, "acked_stream_data_offset", id, nghttp3_strerror(rv));
}

static int cb_stream_close(ngtcp2_conn *qc, uint32_t flags, int64_t id, uint64_t code, void *ud,
                           void *sud)
{
    (void)sud;
    h3_conn *c = ud;
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
    if (!c->h3) return 0;
    int rv = nghttp3_conn_close_stream(c->h3, id, code);
    if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
        if (c->owner && c->owner->server && ngtcp2_is_bidi_stream(id) &&
            !ngtcp2_conn_is_local_stream(qc, id))
            ngtcp2_conn_extend_max_streams_bidi(qc, 1);
        return 0;
    }
    if (rv == 0) return 0;
    if (rv == NGHTTP3_ERR_H3_CLOSED_CRITICAL_STREAM) /* a connection error (RFC 9114 6.2.1) */
        ngtcp2_connection_close_error_set_application_error(
            &c->cerr, nghttp3_err_infer_quic_app_error_code(rv), NULL, 0);
    return cb_fail(c, "stream_close", id, nghttp3_strerror(rv));
}

/* The peer reset the stream or asked us to stop sending: nghttp3 stops reading it and queues
 * a QPACK Stream Cancellation. Only running out of memory is worth the connection; anything
 * else concerns this stream alone, which is going away anyway. */
static int shutdown_read(h3_conn *c, const char *cb, int64_t id)
{
    if (!c->h3) return 0;
    int rv = nghttp3_conn_shutdown_stream_read(c->h3, id);
    if (rv == 0) return 0;
    if (rv == NGHTTP3_ERR_NOMEM) return cb_fail(c, cb, id, nghttp3_strerror(rv));
    ripp_log(RIPP_LOG_DEBUG, "h3: %s: %s, stream %lld: %s (ignored)", c->host, cb, (long long)id,
             nghttp3_strerror(rv));
    return 0;
}

static int cb_stream_reset(ngtcp2_conn *qc, int64_t id, uint64_t final_size, uint64_t code,
                           void *ud, void *sud)
{
    (void)qc;
    (void)final_size;
    (void)code;
    (void)sud;
    return shutdown_read(ud, "stream_reset", id);
}

static int cb_stream_stop_sending(ngtcp2_conn *qc, int64_t id, uint64_t code, void *ud, void *sud)
{
    (void)qc;
    (void)code;
    (void)sud;
    return shutdown_read(ud, "stream_stop_sending", id);
}

static int cb_extend_max_remote_streams_bidi(ngtcp2_conn *qc, uint64_t max, void *ud)
{
    (void)qc;
    h3_conn *c = ud;
    if (c->h3) nghttp3_conn_set_max_client_streams_bidi(c->h3, max);
    return 0;
}

static int cb_extend_max_local_streams_bidi(ngtcp2_conn *qc, uint64_t max, void *ud)
{
    (void)qc;
    (void)max;
    h3_conn_mark_dirty(ud);
    return 0;
}

static int cb_extend_max_stream_data(ngtcp2_conn *qc, int64_t id, uint64_t max, void *ud, void *sud)
{
    (void)qc;
    (void)max;
    (void)sud;
    h3_conn *c = ud;
    int rv = c->h3 ? nghttp3_conn_unblock_stream(c->h3, id) : 0;
    return rv == 0 ? 0 : cb_fail(c, "extend_max_stream_data", id, nghttp3_strerror(rv));
}

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    gnutls_rnd(GNUTLS_RND_NONCE, dest, len);
}

static int cb_get_new_connection_id(ngtcp2_conn *qc, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
                                    void *ud)
{
    (void)qc;
    h3_conn *c = ud;
    if (!c->owner) return cb_fail(c, "get_new_connection_id", -1, "no owner");
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) < 0)
        return cb_fail(c, "get_new_connection_id", -1, "random");
    cid->datalen = cidlen;
    if (ngtcp2_crypto_generate_stateless_reset_token(token, c->owner->secret,
                                                     sizeof c->owner->secret, cid) != 0)
        return cb_fail(c, "get_new_connection_id", -1, "stateless reset token");
    if (c->owner->role->cid_new && c->owner->role->cid_new(c, cid) < 0)
        return cb_fail(c, "get_new_connection_id", -1, "out of memory");
    return 0;
}

static int cb_remove_connection_id(ngtcp2_conn *qc, const ngtcp2_cid *cid, void *ud)
{
    (void)qc;
    h3_conn *c = ud;
    if (c->owner && c->owner->role->cid_retire) c->owner->role->cid_retire(c, cid);
    return 0;
}

static int cb_handshake_completed(ngtcp2_conn *qc, void *ud)
{
    h3_conn *c = ud;
    c->handshake_done = true;
    if (!c->owner) return cb_fail(c, "handshake_completed", -1, "no owner");
    if (!c->owner->server && c->early_attempt &&
        !(gnutls_session_get_flags(c->tls) & GNUTLS_SFLAGS_EARLY_DATA)) {
        ripp_log(RIPP_LOG_INFO, "h3: %s refused early data; sending again", c->host);
        if (ngtcp2_conn_early_data_rejected(qc) != 0)
            return cb_fail(c, "handshake_completed", -1, "early data rejection");
        if (h3_conn_setup_http(c) < 0)
            return cb_fail(c, "handshake_completed", -1, "HTTP/3 setup after 0-RTT refusal");
    }
    if (c->owner->role->handshake_done && c->owner->role->handshake_done(c) < 0)
        return cb_fail(c, "handshake_completed", -1, "role hook");
    h3_conn_mark_dirty(c);
    return 0;
}

static int cb_recv_tx_key(ngtcp2_conn *qc, ngtcp2_crypto_level level, void *ud)
{
    (void)qc;
    if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION) return 0;
    return h3_conn_setup_http(ud) < 0 ? cb_fail(ud, "recv_tx_key", -1, "HTTP/3 setup") : 0;
}

static int cb_recv_rx_key(ngtcp2_conn *qc, ngtcp2_crypto_level level, void *ud)
{
    h3_conn *c = ud;
    if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION) return 0;
    if (c->h3 && !ngtcp2_conn_get_early_data_rejected(qc)) return 0;
    return h3_conn_setup_http(c) < 0 ? cb_fail(c, "recv_rx_key", -1, "HTTP/3 setup") : 0;
}

/* The server refused 0-RTT: the streams sent early are gone; send them again. */
static int cb_early_data_rejected(ngtcp2_conn *qc, void *ud)
{
    (void)qc;
    h3_conn *c = ud;
    if (c->h3) nghttp3_conn_del(c->h3);
    c->h3 = NULL;
    /* Requeueing pushes to the head of the queue: walk newest first so that the oldest
     * request ends up first. */
    for (h3_stream *st = c->streams; st; st = st->next) {
        if (st->id < 0) continue;
        h3_stream_requeue(st);
        if (c->owner && c->owner->early_sent) c->owner->early_sent--; /* not sent early after all */
    }
    return 0;
}

void h3_conn_callbacks(ngtcp2_callbacks *cb, bool server)
{
    memset(cb, 0, sizeof *cb);
    if (server) {
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
        cb->extend_max_remote_streams_bidi = cb_extend_max_remote_streams_bidi;
        cb->remove_connection_id = cb_remove_connection_id;
        cb->recv_tx_key = cb_recv_tx_key;
    } else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
        cb->extend_max_local_streams_bidi = cb_extend_max_local_streams_bidi;
        cb->recv_rx_key = cb_recv_rx_key;
        cb->early_data_rejected = cb_early_data_rejected;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->handshake_completed = cb_handshake_completed;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->recv_stream_data = cb_recv_stream_data;
    cb->acked_stream_data_offset = cb_acked_stream_data_offset;
    cb->stream_close = cb_stream_close;
    cb->rand = cb_rand;
    cb->get_new_connection_id = cb_get_new_connection_id;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->stream_reset = cb_stream_reset;
    cb->extend_max_stream_data = cb_extend_max_stream_data;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->stream_stop_sending = cb_stream_stop_sending;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
}
