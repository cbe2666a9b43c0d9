/* HTTP/3 streams: the ripp_xchg implementation over nghttp3, the send buffer that keeps body
 * bytes until QUIC acknowledges them (nghttp3 does not copy), received header blocks, and the
 * nghttp3 callbacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h3_internal.h"

#define CHUNK_MIN 2048
#define CHUNK_MAX (64 * 1024)

/* ---- error codes: ripp_xchg uses the HTTP/2 values ---- */

uint64_t h3_code_to_wire(uint32_t code)
{
    switch (code) {
    case RIPP_XCHG_NO_ERROR:
        return NGHTTP3_H3_NO_ERROR;
    case RIPP_XCHG_PROTOCOL_ERROR:
        return NGHTTP3_H3_GENERAL_PROTOCOL_ERROR;
    case RIPP_XCHG_INTERNAL_ERROR:
        return NGHTTP3_H3_INTERNAL_ERROR;
    case RIPP_XCHG_CANCEL:
        return NGHTTP3_H3_REQUEST_CANCELLED;
    case 0x7:
        return NGHTTP3_H3_REQUEST_REJECTED; /* REFUSED_STREAM */
    default:
        return code >= 0x100 ? code : NGHTTP3_H3_INTERNAL_ERROR;
    }
}

uint32_t h3_code_from_wire(uint64_t code)
{
    switch (code) {
    case NGHTTP3_H3_NO_ERROR:
        return RIPP_XCHG_NO_ERROR;
    case NGHTTP3_H3_GENERAL_PROTOCOL_ERROR:
    case NGHTTP3_H3_MESSAGE_ERROR:
        return RIPP_XCHG_PROTOCOL_ERROR;
    case NGHTTP3_H3_INTERNAL_ERROR:
        return RIPP_XCHG_INTERNAL_ERROR;
    case NGHTTP3_H3_REQUEST_CANCELLED:
        return RIPP_XCHG_CANCEL;
    case NGHTTP3_H3_REQUEST_REJECTED:
        return 0x7;
    default:
        return code > UINT32_MAX ? UINT32_MAX : (uint32_t)code;
    }
}

/* ---- send buffer ---- */

static size_t sendbuf_held(const h3_sendbuf *b)
{
    return (size_t)(b->written - (b->retain ? 0 : b->acked));
}

static int sendbuf_append(h3_sendbuf *b, const uint8_t *d, size_t n)
{
    if (sendbuf_held(b) + n > RIPP_XCHG_MAX_BUFFERED) return RIPP_ERR_LIMIT;
    h3_chunk *t = b->tail;
    size_t room = t ? t->cap - t->len : 0;
    if (room < n) {
        size_t cap = t ? t->cap * 2 : CHUNK_MIN;
        if (cap > CHUNK_MAX) cap = CHUNK_MAX;
        if (cap < n - room) cap = n - room;
        h3_chunk *c = malloc(sizeof *c + cap);
        if (!c) return RIPP_ERR_NOMEM;
        c->next = NULL;
        c->cap = cap;
        c->len = 0;
        if (t)
            t->next = c;
        else
            b->head = c;
        b->tail = c;
        if (!b->send) {
            b->send = c;
            b->send_off = 0;
        }
    }
    if (room) {
        size_t k = room < n ? room : n;
        memcpy(t->data + t->len, d, k);
        t->len += k;
        d += k;
        n -= k;
        b->written += k;
    }
    if (n) {
        memcpy(b->tail->data + b->tail->len, d, n);
        b->tail->len += n;
        b->written += n;
    }
    return 0;
}

static size_t sendbuf_read(h3_sendbuf *b, nghttp3_vec *vec, size_t veccnt)
{
    size_t k = 0;
    while (k < veccnt && b->given < b->written) {
        h3_chunk *c = b->send;
        if (b->send_off == c->len) {
            b->send = c->next;
            b->send_off = 0;
            continue;
        }
        size_t avail = c->len - b->send_off;
        vec[k].base = c->data + b->send_off;
        vec[k].len = avail;
        k++;
        b->send_off += avail;
        b->given += avail;
    }
    return k;
}

void h3_sendbuf_release(h3_sendbuf *b)
{
    if (b->retain) return;
    while (b->head && b->head_pos < b->acked) {
        h3_chunk *h = b->head;
        size_t avail = h->len - b->head_off;
        uint64_t want = b->acked - b->head_pos;
        if (want < avail) {
            b->head_off += (size_t)want;
            b->head_pos += want;
            break;
        }
        b->head_pos += avail;
        b->head_off = h->len;
        if (h == b->tail) {
            /* Everything written is acknowledged: reuse the chunk from its start. */
            if (b->send == h && b->send_off == h->len) {
                h->len = 0;
                b->head_off = 0;
                b->send_off = 0;
            }
            break;
        }
        if (b->send == h) {
            b->send = h->next;
            b->send_off = 0;
        }
        b->head = h->next;
        b->head_off = 0;
        free(h);
    }
}

void h3_sendbuf_ack(h3_sendbuf *b, uint64_t n)
{
    b->acked += n;
    if (b->acked > b->given) b->acked = b->given;
    h3_sendbuf_release(b);
}

/* Hand everything out again from the first byte (the request is sent anew). */
void h3_sendbuf_rewind(h3_sendbuf *b)
{
    b->send = b->head;
    b->send_off = b->head_off;
    b->given = b->acked = b->head_pos;
}

static void sendbuf_free(h3_sendbuf *b)
{
    h3_chunk *c = b->head;
    while (c) {
        h3_chunk *n = c->next;
        free(c);
        c = n;
    }
    memset(b, 0, sizeof *b);
}

/* ---- streams ---- */

h3_stream *h3_stream_alloc(h3_conn *c)
{
    h3_stream *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->x.vt = &h3_stream_vt;
    st->conn = c;
    st->id = -1;
    st->next = c->streams;
    if (c->streams) c->streams->prev = st;
    c->streams = st;
    c->n_streams++;
    return st;
}

/* The connection's queues of unopened client requests: doubly linked, O(1) both ways. */
static void queue_heads(h3_conn *c, uint8_t q, h3_stream ***head, h3_stream ***tail)
{
    *head = q == H3_Q_RESET ? &c->rst_head : &c->pend_head;
    *tail = q == H3_Q_RESET ? &c->rst_tail : &c->pend_tail;
}

static void queue_remove(h3_stream *st)
{
    if (st->qlist == H3_Q_NONE) return;
    h3_stream **head, **tail;
    queue_heads(st->conn, st->qlist, &head, &tail);
    if (st->qprev)
        st->qprev->qnext = st->qnext;
    else
        *head = st->qnext;
    if (st->qnext)
        st->qnext->qprev = st->qprev;
    else
        *tail = st->qprev;
    st->qprev = st->qnext = NULL;
    st->qlist = H3_Q_NONE;
}

static void queue_push(h3_stream *st, uint8_t q, bool front)
{
    h3_stream **head, **tail;
    queue_heads(st->conn, q, &head, &tail);
    st->qlist = q;
    if (front) {
        st->qprev = NULL;
        st->qnext = *head;
        if (*head)
            (*head)->qprev = st;
        else
            *tail = st;
        *head = st;
    } else {
        st->qnext = NULL;
        st->qprev = *tail;
        if (*tail)
            (*tail)->qnext = st;
        else
            *head = st;
        *tail = st;
    }
}

void h3_stream_unlink(h3_stream *st)
{
    h3_conn *c = st->conn;
    queue_remove(st);
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    st->prev = st->next = NULL;
    c->n_streams--;
}

void h3_stream_free(h3_stream *st)
{
    sendbuf_free(&st->out);
    free(st->hblob);
    free(st->nva);
    free(st);
}

void h3_stream_finish(h3_stream *st, int err, uint32_t code)
{
    h3_conn *c = st->conn;
    h3_stream_unlink(st);
    if (c->h3 && st->id >= 0) nghttp3_conn_set_stream_user_data(c->h3, st->id, NULL);
    if (st->delivered && st->x.cbs && st->x.cbs->on_close)
        st->x.cbs->on_close(&st->x, st->x.ud, err, code);
    h3_stream_free(st);
}

static void stream_kick(h3_stream *st)
{
    h3_conn *c = st->conn;
    if (st->wouldblock && st->has_reader && c->h3 && st->id >= 0) {
        st->wouldblock = false;
        nghttp3_conn_resume_stream(c->h3, st->id);
    }
    h3_conn_mark_dirty(c);
}

static nghttp3_ssize cb_read_data(nghttp3_conn *h3, int64_t id, nghttp3_vec *vec, size_t veccnt,
                                  uint32_t *pflags, void *cud, void *sud)
{
    (void)h3;
    (void)id;
    (void)cud;
    h3_stream *st = sud;
    if (!st) {
        *pflags |= NGHTTP3_DATA_FLAG_EOF;
        return 0;
    }
    size_t k = sendbuf_read(&st->out, vec, veccnt);
    if (st->end_queued && st->out.given == st->out.written) {
        *pflags |= NGHTTP3_DATA_FLAG_EOF;
        st->eof_given = true;
        return (nghttp3_ssize)k;
    }
    if (k == 0) {
        st->wouldblock = true;
        return NGHTTP3_ERR_WOULDBLOCK;
    }
    return (nghttp3_ssize)k;
}

static const nghttp3_data_reader data_reader = {cb_read_data};

/* Field names go out lower case; others are refused. */
static bool name_ok(const char *n)
{
    if (!n || !*n || *n == ':') return false;
    for (const char *p = n; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
    return true;
}

static bool hop_by_hop(const char *n)
{
    return !strcmp(n, "connection") || !strcmp(n, "keep-alive") || !strcmp(n, "proxy-connection") ||
           !strcmp(n, "transfer-encoding") || !strcmp(n, "upgrade") || !strcmp(n, "host");
}

static nghttp3_nv make_nv(const char *name, const char *value)
{
    nghttp3_nv nv = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                     NGHTTP3_NV_FLAG_NONE};
    return nv;
}

static int x_respond(ripp_xchg *x, int status, const ripp_hdr *hdrs, size_t n, bool end)
{
    h3_stream *st = (h3_stream *)x;
    h3_conn *c = st->conn;
    if (c->closing || !c->h3 || st->reset_local) return RIPP_ERR_CLOSED;
    if (!c->owner->server || st->headers_sent) return RIPP_ERR_STATE;
    if (status < 200 || status > 599) return RIPP_ERR_INVAL;
    if (n > RIPP_XCHG_MAX_HEADERS) return RIPP_ERR_LIMIT;
    nghttp3_nv nva[RIPP_XCHG_MAX_HEADERS + 1];
    char sbuf[8];
    snprintf(sbuf, sizeof sbuf, "%d", status);
    size_t k = 0;
    nva[k++] = make_nv(":status", sbuf);
    char lower[2048];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = hdrs[i].name;
        if (!name_ok(name) || !hdrs[i].value || strpbrk(hdrs[i].value, "\r\n"))
            return RIPP_ERR_INVAL;
        size_t len = strlen(name);
        if (used + len + 1 > sizeof lower) return RIPP_ERR_LIMIT;
        char *d = lower + used;
        for (size_t j = 0; j <= len; j++)
            d[j] = (name[j] >= 'A' && name[j] <= 'Z') ? (char)(name[j] - 'A' + 'a') : name[j];
        used += len + 1;
        if (hop_by_hop(d)) continue;
        nva[k++] = make_nv(d, hdrs[i].value);
    }
    bool was_end = st->end_queued;
    if (end) st->end_queued = true;
    bool body = !(st->end_queued && st->out.written == 0);
    int rv = nghttp3_conn_submit_response(c->h3, st->id, nva, k, body ? &data_reader : NULL);
    if (rv != 0) {
        st->end_queued = was_end;
        ripp_log(RIPP_LOG_DEBUG, "h3: respond on stream %lld: %s", (long long)st->id,
                 nghttp3_strerror(rv));
        return RIPP_ERR_CLOSED;
    }
    st->headers_sent = true;
    st->has_reader = body;
    if (!body) st->eof_given = true;
    h3_conn_mark_dirty(c);
    return 0;
}

static int x_write(ripp_xchg *x, const uint8_t *data, size_t len)
{
    h3_stream *st = (h3_stream *)x;
    if (st->conn->closing || st->reset_local || st->reset_pending) return RIPP_ERR_CLOSED;
    if (st->end_queued) return RIPP_ERR_STATE;
    if (len == 0) return 0;
    if (!data) return RIPP_ERR_INVAL;
    int rv = sendbuf_append(&st->out, data, len);
    if (rv < 0) return rv;
    stream_kick(st);
    return 0;
}

static int x_end(ripp_xchg *x)
{
    h3_stream *st = (h3_stream *)x;
    if (st->conn->closing || st->reset_local || st->reset_pending) return RIPP_ERR_CLOSED;
    if (st->end_queued) return 0;
    st->end_queued = true;
    stream_kick(st);
    return 0;
}

static int x_reset(ripp_xchg *x, uint32_t code)
{
    h3_stream *st = (h3_stream *)x;
    h3_conn *c = st->conn;
    if (c->closing) return RIPP_ERR_CLOSED;
    if (st->reset_local || st->reset_pending) return 0;
    st->reset_code = code;
    if (st->id < 0) {
        /* Not opened yet: the close is delivered from the next flush, never from here. */
        queue_remove(st);
        queue_push(st, H3_Q_RESET, false);
        st->reset_pending = true;
        h3_conn_mark_dirty(c);
        return 0;
    }
    st->reset_local = true;
    if (c->qc) ngtcp2_conn_shutdown_stream(c->qc, st->id, h3_code_to_wire(code));
    h3_conn_mark_dirty(c);
    return 0;
}

static size_t x_buffered(const ripp_xchg *x)
{
    const h3_stream *st = (const h3_stream *)x;
    return sendbuf_held(&st->out);
}

const ripp_xchg_vt h3_stream_vt = {x_respond, x_write, x_end, x_reset, x_buffered};

/* ---- client requests ---- */

h3_stream *h3_stream_new_request(h3_conn *c, const nghttp3_nv *nva, size_t nnv, bool end,
                                 bool early_ok, const ripp_xchg_cbs *cbs, void *ud, int *err)
{
    size_t total = nnv * sizeof(nghttp3_nv);
    for (size_t i = 0; i < nnv; i++)
        total += nva[i].namelen + nva[i].valuelen + 2;
    h3_stream *st = h3_stream_alloc(c);
    if (!st) {
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    st->nva = malloc(total);
    if (!st->nva) {
        h3_stream_unlink(st);
        h3_stream_free(st);
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    char *p = (char *)(st->nva + nnv);
    for (size_t i = 0; i < nnv; i++) {
        nghttp3_nv *d = &st->nva[i];
        d->name = (uint8_t *)p;
        for (size_t j = 0; j < nva[i].namelen; j++) {
            char ch = (char)nva[i].name[j];
            *p++ = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        }
        *p++ = '\0';
        d->value = (uint8_t *)p;
        memcpy(p, nva[i].value, nva[i].valuelen);
        p += nva[i].valuelen;
        *p++ = '\0';
        d->namelen = nva[i].namelen;
        d->valuelen = nva[i].valuelen;
        d->flags = NGHTTP3_NV_FLAG_NONE;
    }
    st->nnv = nnv;
    st->x.cbs = cbs;
    st->x.ud = ud;
    st->end_queued = end;
    st->early_ok = early_ok;
    st->delivered = true; /* the user holds it from now on */
    queue_push(st, H3_Q_OPEN, false);
    h3_conn_mark_dirty(c);
    return st;
}

void h3_stream_requeue(h3_stream *st)
{
    h3_conn *c = st->conn;
    if (c->h3 && st->id >= 0) nghttp3_conn_set_stream_user_data(c->h3, st->id, NULL);
    st->id = -1;
    st->headers_sent = st->eof_given = st->wouldblock = st->has_reader = false;
    st->remote_ended = st->early = false;
    st->early_ok = false; /* the second attempt waits for the handshake */
    st->retried = true;
    h3_sendbuf_rewind(&st->out);
    free(st->hblob);
    st->hblob = NULL;
    st->hlen = st->hcap = st->hcount = 0;
    st->hdr_overflow = false;
    if (st->qlist != H3_Q_NONE) return;
    queue_push(st, H3_Q_OPEN, true);
}

static bool may_open(h3_conn *c, const h3_stream *st)
{
    if (c->handshake_done) return true;
    return st->early_ok && c->early_attempt && !ngtcp2_conn_get_early_data_rejected(c->qc);
}

void h3_conn_open_pending(h3_conn *c)
{
    while (c->rst_head && !c->closing) {
        h3_stream *st = c->rst_head;
        h3_stream_finish(st, RIPP_ERR_CLOSED, st->reset_code); /* unlinks it */
    }
    if (c->goaway_recv) {
        while (c->pend_head && !c->closing)
            h3_stream_finish(c->pend_head, RIPP_ERR_CLOSED, 0x7); /* refused: never sent */
        return;
    }
    if (!c->h3 || c->closing) return;
    h3_stream *st = c->pend_head;
    while (st && !c->closing) {
        h3_stream *next = st->qnext;
        if (!may_open(c, st)) {
            st = next;
            continue;
        }
        int64_t id;
        int rv = ngtcp2_conn_open_bidi_stream(c->qc, &id, st);
        if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) break;
        queue_remove(st);
        if (rv != 0) {
            h3_stream_finish(st, RIPP_ERR_CLOSED, 0);
            st = c->pend_head; /* its on_close may have changed the queue */
            continue;
        }
        bool body = !(st->end_queued && st->out.written == 0);
        rv = nghttp3_conn_submit_request(c->h3, id, st->nva, st->nnv, body ? &data_reader : NULL,
                                         st);
        if (rv != 0) {
            ripp_log(RIPP_LOG_INFO, "h3: request to %s: %s", c->host, nghttp3_strerror(rv));
            ngtcp2_conn_shutdown_stream(c->qc, id, NGHTTP3_H3_INTERNAL_ERROR);
            h3_stream_finish(st, RIPP_ERR_CLOSED, 0);
            st = c->pend_head;
            continue;
        }
        st->id = id;
        st->headers_sent = true;
        st->has_reader = body;
        if (!body) st->eof_given = true;
        if (!c->handshake_done) {
            st->early = true;
            st->out.retain = true;
            c->owner->early_sent++;
        } else {
            /* Sent in 1-RTT: it will never be sent again. */
            st->out.retain = false;
            h3_sendbuf_release(&st->out);
            free(st->nva);
            st->nva = NULL;
            st->nnv = 0;
        }
        st = next;
    }
}

/* ---- received header blocks ---- */

typedef struct hdr_view {
    char *method, *path, *scheme, *authority, *status, *host;
    ripp_hdr h[RIPP_XCHG_MAX_HEADERS];
    size_t n;
} hdr_view;

static void hdr_parse(h3_stream *st, hdr_view *v)
{
    memset(v, 0, sizeof *v);
    char *p = st->hblob, *end = st->hblob ? st->hblob + st->hlen : NULL;
    while (p && p < end) {
        char *name = p;
        char *value = name + strlen(name) + 1;
        p = value + strlen(value) + 1;
        if (name[0] == ':') {
            if (!strcmp(name, ":method"))
                v->method = value;
            else if (!strcmp(name, ":path"))
                v->path = value;
            else if (!strcmp(name, ":scheme"))
                v->scheme = value;
            else if (!strcmp(name, ":authority"))
                v->authority = value;
            else if (!strcmp(name, ":status"))
                v->status = value;
            continue;
        }
        if (!strcmp(name, "host") && !v->host) v->host = value;
        if (v->n < RIPP_XCHG_MAX_HEADERS) v->h[v->n++] = (ripp_hdr){name, value};
    }
}

static void hdr_reset(h3_stream *st)
{
    free(st->hblob);
    st->hblob = NULL;
    st->hlen = st->hcap = st->hcount = 0;
    st->hdr_overflow = false;
}

static void deliver_request(h3_conn *c, h3_stream *st)
{
    h3_owner *o = c->owner;
    if (st->hdr_overflow) {
        ripp_log(RIPP_LOG_INFO, "h3: stream %lld: request header block too large",
                 (long long)st->id);
        hdr_reset(st);
        ripp_hdr h[] = {{"content-length", "0"}};
        x_respond(&st->x, 431, h, 1, true);
        return;
    }
    hdr_view v;
    hdr_parse(st, &v);
    char *path = v.path ? v.path : (char *)"";
    const char *query = "";
    char *q = strchr(path, '?');
    if (q) {
        *q = '\0';
        query = q + 1;
    }
    bool early = !ngtcp2_conn_get_handshake_completed(c->qc);
    if (early) o->early_requests++;
    ripp_request req = {
        .method = v.method ? v.method : "",
        .path = path,
        .query = query,
        .authority = v.authority ? v.authority
                     : v.host    ? v.host
                                 : "",
        .scheme = v.scheme ? v.scheme : "",
        .hdrs = v.h,
        .n_hdrs = v.n,
        .early_data = early,
    };
    ripp_log(RIPP_LOG_DEBUG, "h3: stream %lld: %s %s%s", (long long)st->id, req.method, req.path,
             early ? " (0-RTT)" : "");
    st->delivered = true;
    if (o->on_request) o->on_request(o->on_request_ud, &st->x, &req);
    if (c->closing) return;
    hdr_reset(st);
}

static void deliver_response(h3_conn *c, h3_stream *st)
{
    hdr_view v;
    hdr_parse(st, &v);
    int status = v.status ? atoi(v.status) : 0;
    if (status >= 100 && status < 200) {
        hdr_reset(st);
        return;
    }
    if (st->hdr_overflow || status < 200 || status > 999) {
        ripp_log(RIPP_LOG_INFO, "h3: stream %lld: bad response header block", (long long)st->id);
        hdr_reset(st);
        st->reset_local = true;
        st->reset_code = RIPP_XCHG_PROTOCOL_ERROR;
        ngtcp2_conn_shutdown_stream(c->qc, st->id, NGHTTP3_H3_GENERAL_PROTOCOL_ERROR);
        h3_conn_mark_dirty(c);
        return;
    }
    if (st->early && c->owner->role->early_response && c->owner->role->early_response(st, status))
        return;
    st->got_response = true;
    st->early = false;
    st->out.retain = false;
    h3_sendbuf_release(&st->out);
    free(st->nva);
    st->nva = NULL;
    st->nnv = 0;
    if (st->x.cbs && st->x.cbs->on_response)
        st->x.cbs->on_response(&st->x, st->x.ud, status, v.h, v.n);
    if (c->closing) return;
    hdr_reset(st);
}

/* ---- nghttp3 callbacks ---- */

static int cb_acked_stream_data(nghttp3_conn *h3, int64_t id, uint64_t datalen, void *cud,
                                void *sud)
{
    (void)h3;
    (void)id;
    (void)cud;
    h3_stream *st = sud;
    if (st) h3_sendbuf_ack(&st->out, datalen);
    return 0;
}

static int cb_stream_close(nghttp3_conn *h3, int64_t id, uint64_t code, void *cud, void *sud)
{
    (void)h3;
    h3_conn *c = cud;
    h3_stream *st = sud;
    if (c->owner && c->owner->server && ngtcp2_is_bidi_stream(id) &&
        !ngtcp2_conn_is_local_stream(c->qc, id))
        ngtcp2_conn_extend_max_streams_bidi(c->qc, 1);
    if (!st || c->closing) return 0;
    int err = code == NGHTTP3_H3_NO_ERROR && st->remote_ended && st->eof_given && !st->reset_local
                  ? 0
                  : RIPP_ERR_CLOSED;
    uint32_t xcode = st->reset_local ? st->reset_code : h3_code_from_wire(code);
    if (err)
        ripp_log(RIPP_LOG_DEBUG, "h3: stream %lld closed (code 0x%llx)", (long long)id,
                 (unsigned long long)code);
    h3_stream_finish(st, err, xcode);
    return 0;
}

static void consume(h3_conn *c, int64_t id, size_t n)
{
    ngtcp2_conn_extend_max_stream_offset(c->qc, id, n);
    ngtcp2_conn_extend_max_offset(c->qc, n);
}

static int cb_recv_data(nghttp3_conn *h3, int64_t id, const uint8_t *data, size_t len, void *cud,
                        void *sud)
{
    (void)h3;
    h3_conn *c = cud;
    h3_stream *st = sud;
    consume(c, id, len);
    if (!st || c->closing || st->reset_local) return 0;
    if (st->x.cbs && st->x.cbs->on_data) st->x.cbs->on_data(&st->x, st->x.ud, data, len);
    return c->closing ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int cb_deferred_consume(nghttp3_conn *h3, int64_t id, size_t n, void *cud, void *sud)
{
    (void)h3;
    (void)sud;
    consume(cud, id, n);
    return 0;
}

static int cb_begin_headers(nghttp3_conn *h3, int64_t id, void *cud, void *sud)
{
    h3_conn *c = cud;
    h3_stream *st = sud;
    if (c->closing) return NGHTTP3_ERR_CALLBACK_FAILURE;
    if (!st && c->owner->server) {
        st = h3_stream_alloc(c);
        if (!st) return NGHTTP3_ERR_CALLBACK_FAILURE;
        st->id = id;
        nghttp3_conn_set_stream_user_data(h3, id, st);
    }
    if (st) hdr_reset(st);
    return 0;
}

static int cb_recv_header(nghttp3_conn *h3, int64_t id, int32_t token, nghttp3_rcbuf *name,
                          nghttp3_rcbuf *value, uint8_t flags, void *cud, void *sud)
{
    (void)h3;
    (void)id;
    (void)token;
    (void)flags;
    h3_conn *c = cud;
    h3_stream *st = sud;
    if (c->closing) return NGHTTP3_ERR_CALLBACK_FAILURE;
    if (!st || st->hdr_overflow) return 0;
    nghttp3_vec nm = nghttp3_rcbuf_get_buf(name), val = nghttp3_rcbuf_get_buf(value);
    size_t need = nm.len + val.len + 2;
    bool regular = nm.len == 0 || nm.base[0] != ':';
    if (st->hlen + need > H3_MAX_HEADER_BYTES || (regular && st->hcount >= RIPP_XCHG_MAX_HEADERS)) {
        st->hdr_overflow = true;
        return 0;
    }
    if (st->hcap - st->hlen < need) {
        size_t cap = st->hcap ? st->hcap : 1024;
        while (cap - st->hlen < need)
            cap *= 2;
        char *nb = realloc(st->hblob, cap);
        if (!nb) return NGHTTP3_ERR_CALLBACK_FAILURE;
        st->hblob = nb;
        st->hcap = cap;
    }
    if (nm.len) memcpy(st->hblob + st->hlen, nm.base, nm.len);
    st->hlen += nm.len;
    st->hblob[st->hlen++] = '\0';
    if (val.len) memcpy(st->hblob + st->hlen, val.base, val.len);
    st->hlen += val.len;
    st->hblob[st->hlen++] = '\0';
    if (regular) st->hcount++;
    return 0;
}

static int cb_end_headers(nghttp3_conn *h3, int64_t id, int fin, void *cud, void *sud)
{
    (void)h3;
    (void)id;
    (void)fin;
    h3_conn *c = cud;
    h3_stream *st = sud;
    if (c->closing) return NGHTTP3_ERR_CALLBACK_FAILURE;
    if (!st || st->reset_local) return 0;
    if (c->owner->server) {
        if (!st->delivered) deliver_request(c, st);
    } else if (!st->got_response) {
        deliver_response(c, st);
    }
    return c->closing ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int cb_end_stream(nghttp3_conn *h3, int64_t id, void *cud, void *sud)
{
    (void)h3;
    (void)id;
    h3_conn *c = cud;
    h3_stream *st = sud;
    if (c->closing) return NGHTTP3_ERR_CALLBACK_FAILURE;
    if (!st || st->reset_local) return 0;
    st->remote_ended = true;
    if (st->x.cbs && st->x.cbs->on_end) st->x.cbs->on_end(&st->x, st->x.ud);
    return c->closing ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int cb_stop_sending(nghttp3_conn *h3, int64_t id, uint64_t code, void *cud, void *sud)
{
    (void)h3;
    (void)sud;
    h3_conn *c = cud;
    return ngtcp2_conn_shutdown_stream_read(c->qc, id, code) == 0 ? 0
                                                                  : NGHTTP3_ERR_CALLBACK_FAILURE;
}

static int cb_reset_stream(nghttp3_conn *h3, int64_t id, uint64_t code, void *cud, void *sud)
{
    (void)h3;
    (void)sud;
    h3_conn *c = cud;
    return ngtcp2_conn_shutdown_stream_write(c->qc, id, code) == 0 ? 0
                                                                   : NGHTTP3_ERR_CALLBACK_FAILURE;
}

static int cb_shutdown(nghttp3_conn *h3, int64_t id, void *cud)
{
    (void)h3;
    h3_conn *c = cud;
    if (c->owner && !c->owner->server) {
        c->goaway_recv = true;
        h3_conn_mark_dirty(c); /* requests still queued on it end as refused */
        ripp_log(RIPP_LOG_INFO, "h3: GOAWAY from %s (id %lld)", c->host, (long long)id);
    }
    return 0;
}

const nghttp3_callbacks h3_http_callbacks = {
    .acked_stream_data = cb_acked_stream_data,
    .stream_close = cb_stream_close,
    .recv_data = cb_recv_data,
    .deferred_consume = cb_deferred_consume,
    .begin_headers = cb_begin_headers,
    .recv_header = cb_recv_header,
    .end_headers = cb_end_headers,
    .stop_sending = cb_stop_sending,
    .end_stream = cb_end_stream,
    .reset_stream = cb_reset_stream,
    .shutdown = cb_shutdown,
};
