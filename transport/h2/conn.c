/* HTTP/2 connections and streams shared by the server and the client: the nghttp2 session,
 * its callbacks, the ripp_xchg implementation, and send coalescing.
 *
 * Re-entrancy: user callbacks may call anything, including deleting the server or client.
 * Every entry point (socket events, the per-iteration flush) holds c->busy; a connection is
 * freed only when busy drops to zero, and once c->closing is set no callback touches a
 * stream again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_internal.h"

static const ripp_xchg_vt stream_vt;

/* ---- send ring ---- */

static int ring_append(h2_ring *r, const uint8_t *d, size_t n)
{
    if (r->len + n > RIPP_XCHG_MAX_BUFFERED) return RIPP_ERR_LIMIT;
    if (r->cap - r->len < n) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap - r->len < n)
            cap *= 2;
        uint8_t *nb = malloc(cap);
        if (!nb) return RIPP_ERR_NOMEM;
        size_t first = r->len < r->cap - r->head ? r->len : r->cap - r->head;
        if (first) memcpy(nb, r->buf + r->head, first);
        if (r->len > first) memcpy(nb + first, r->buf, r->len - first);
        free(r->buf);
        r->buf = nb;
        r->cap = cap;
        r->head = 0;
    }
    size_t tail = (r->head + r->len) % r->cap;
    size_t first = n < r->cap - tail ? n : r->cap - tail;
    memcpy(r->buf + tail, d, first);
    if (n > first) memcpy(r->buf, d + first, n - first);
    r->len += n;
    return 0;
}

static size_t ring_read(h2_ring *r, uint8_t *out, size_t max)
{
    size_t n = max < r->len ? max : r->len;
    if (n == 0) return 0;
    size_t first = n < r->cap - r->head ? n : r->cap - r->head;
    memcpy(out, r->buf + r->head, first);
    if (n > first) memcpy(out + first, r->buf, n - first);
    r->head = (r->head + n) % r->cap;
    r->len -= n;
    if (r->len == 0) {
        r->head = 0;
        /* Give back what a burst grew; keep a small buffer for the steady state. */
        if (r->cap > 64 * 1024) {
            free(r->buf);
            r->buf = NULL;
            r->cap = 0;
        }
    }
    return n;
}

/* ---- owner ---- */

static void conn_process(h2_conn *c);

static void dirty_remove(h2_conn *c)
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

static void on_idle(uv_idle_t *h);

static void owner_flush(h2_owner *o)
{
    size_t budget = 4096;
    while (o->dirty && budget--) {
        h2_conn *c = o->dirty;
        dirty_remove(c);
        conn_process(c);
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
    h2_owner *o = h->data;
    owner_flush(o);
    if (!o->dirty && !o->deleted) uv_idle_stop(h);
}

int h2_owner_init(h2_owner *o, uv_loop_t *loop, bool server)
{
    o->loop = loop;
    o->server = server;
    if (uv_prepare_init(loop, &o->prepare) < 0) return RIPP_ERR_IO;
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

void h2_owner_handle_closed(uv_handle_t *h)
{
    h2_owner *o = h->data;
    if (--o->handles == 0 && o->free_fn) o->free_fn(o);
}

static void conn_unlink(h2_conn *c);
static bool conn_leave(h2_conn *c);
static void conn_teardown(h2_conn *c, bool graceful);

void h2_owner_close(h2_owner *o)
{
    o->deleted = true;
    while (o->conns) {
        h2_conn *c = o->conns;
        c->busy++;
        conn_teardown(c, false);
        if (c->ts) {
            ripp_tls_stream_detach(c->ts);
            c->ts = NULL;
        }
        if (c->owner) conn_unlink(c);
        c->free_pending = true;
        conn_leave(c);
    }
    ripp_tls_creds_del(o->creds);
    o->creds = NULL;
    uv_close((uv_handle_t *)&o->prepare, h2_owner_handle_closed);
    uv_close((uv_handle_t *)&o->check, h2_owner_handle_closed);
    uv_close((uv_handle_t *)&o->idle, h2_owner_handle_closed);
}

/* ---- streams ---- */

static h2_stream *stream_alloc(h2_conn *c)
{
    h2_stream *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->x.vt = &stream_vt;
    st->conn = c;
    st->next = c->streams;
    if (c->streams) c->streams->prev = st;
    c->streams = st;
    c->n_streams++;
    return st;
}

static void stream_free(h2_stream *st)
{
    free(st->out.buf);
    free(st->hblob);
    free(st->nva);
    free(st);
}

static void stream_unlink(h2_stream *st)
{
    h2_conn *c = st->conn;
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    st->prev = st->next = NULL;
    c->n_streams--;
}

/* The exchange is over: tell its user and free it. */
static void stream_finish(h2_stream *st, int err, uint32_t code)
{
    h2_conn *c = st->conn;
    stream_unlink(st);
    if (c->ng && st->id > 0) nghttp2_session_set_stream_user_data(c->ng, st->id, NULL);
    if (st->x.cbs && st->x.cbs->on_close) st->x.cbs->on_close(&st->x, st->x.ud, err, code);
    stream_free(st);
}

static h2_stream *stream_of(h2_conn *c, int32_t id)
{
    return c->ng ? nghttp2_session_get_stream_user_data(c->ng, id) : NULL;
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)ng;
    (void)id;
    h2_conn *c = ud;
    h2_stream *st = src->ptr;
    if (c->closing || !st) return NGHTTP2_ERR_CALLBACK_FAILURE;
    size_t n = ring_read(&st->out, buf, length);
    if (st->out.len == 0 && st->end_queued) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void stream_kick(h2_stream *st)
{
    h2_conn *c = st->conn;
    if (st->deferred && st->has_provider && c->ng) {
        st->deferred = false;
        nghttp2_session_resume_data(c->ng, st->id);
    }
    if (st->has_provider) h2_conn_mark_dirty(c);
}

/* Field names go out lower case (RFC 9113 §8.2.1); others are refused. */
static bool name_ok(const char *n)
{
    if (!n || !*n || *n == ':') return false;
    for (const char *p = n; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
    return true;
}

static bool has_upper(const char *n)
{
    for (; *n; n++)
        if (*n >= 'A' && *n <= 'Z') return true;
    return false;
}

/* Fields HTTP/2 forbids (RFC 9113 §8.2.2); dropping them beats a protocol error. */
static bool hop_by_hop(const char *n)
{
    return !strcmp(n, "connection") || !strcmp(n, "keep-alive") || !strcmp(n, "proxy-connection") ||
           !strcmp(n, "transfer-encoding") || !strcmp(n, "upgrade") || !strcmp(n, "host");
}

static nghttp2_nv make_nv(const char *name, const char *value)
{
    nghttp2_nv nv = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                     NGHTTP2_NV_FLAG_NONE};
    return nv;
}

static int x_respond(ripp_xchg *x, int status, const ripp_hdr *hdrs, size_t n, bool end)
{
    h2_stream *st = (h2_stream *)x;
    h2_conn *c = st->conn;
    if (c->closing || !c->ng) return RIPP_ERR_CLOSED;
    if (!c->owner->server || st->headers_sent) return RIPP_ERR_STATE;
    if (status < 200 || status > 599) return RIPP_ERR_INVAL;
    if (n > RIPP_XCHG_MAX_HEADERS) return RIPP_ERR_LIMIT;
    nghttp2_nv nva[RIPP_XCHG_MAX_HEADERS + 2];
    char sbuf[8];
    snprintf(sbuf, sizeof sbuf, "%d", status);
    size_t k = 0;
    nva[k++] = make_nv(":status", sbuf);
    char lower[2048]; /* lower-cased copies of names that need it */
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = hdrs[i].name;
        if (!name_ok(name) || !hdrs[i].value || strpbrk(hdrs[i].value, "\r\n"))
            return RIPP_ERR_INVAL;
        if (has_upper(name)) {
            size_t len = strlen(name);
            if (used + len + 1 > sizeof lower) return RIPP_ERR_LIMIT;
            char *d = lower + used;
            for (size_t j = 0; j <= len; j++)
                d[j] = (name[j] >= 'A' && name[j] <= 'Z') ? (char)(name[j] - 'A' + 'a') : name[j];
            used += len + 1;
            name = d;
        }
        if (hop_by_hop(name)) continue;
        nva[k++] = make_nv(name, hdrs[i].value);
    }
    if (c->owner->alt_svc[0]) nva[k++] = make_nv("alt-svc", c->owner->alt_svc);
    bool was_end = st->end_queued;
    if (end) st->end_queued = true;
    bool body = !(st->end_queued && st->out.len == 0);
    nghttp2_data_provider prd;
    prd.source.ptr = st;
    prd.read_callback = data_read;
    int rv = nghttp2_submit_response(c->ng, st->id, nva, k, body ? &prd : NULL);
    if (rv < 0) {
        st->end_queued = was_end;
        ripp_log(RIPP_LOG_DEBUG, "h2: respond on stream %d: %s", st->id, nghttp2_strerror(rv));
        return RIPP_ERR_CLOSED;
    }
    st->headers_sent = true;
    st->has_provider = body;
    h2_conn_mark_dirty(c);
    return 0;
}

static int x_write(ripp_xchg *x, const uint8_t *data, size_t len)
{
    h2_stream *st = (h2_stream *)x;
    if (st->conn->closing) return RIPP_ERR_CLOSED;
    if (st->end_queued) return RIPP_ERR_STATE;
    if (len == 0) return 0;
    if (!data) return RIPP_ERR_INVAL;
    int rv = ring_append(&st->out, data, len);
    if (rv < 0) return rv;
    stream_kick(st);
    return 0;
}

static int x_end(ripp_xchg *x)
{
    h2_stream *st = (h2_stream *)x;
    if (st->conn->closing) return RIPP_ERR_CLOSED;
    if (st->end_queued) return 0;
    st->end_queued = true;
    stream_kick(st);
    return 0;
}

static int x_reset(ripp_xchg *x, uint32_t code)
{
    h2_stream *st = (h2_stream *)x;
    h2_conn *c = st->conn;
    if (c->closing) return RIPP_ERR_CLOSED;
    if (st->id == 0) {
        /* Not sent yet: the close is delivered from the next flush, never from here. */
        st->reset_pending = true;
        h2_conn_mark_dirty(c);
        return 0;
    }
    int rv = nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, code);
    if (rv < 0) return RIPP_ERR_CLOSED;
    h2_conn_mark_dirty(c);
    return 0;
}

static size_t x_buffered(const ripp_xchg *x)
{
    const h2_stream *st = (const h2_stream *)x;
    return st->out.len;
}

static const ripp_xchg_vt stream_vt = {x_respond, x_write, x_end, x_reset, x_buffered};

static int stream_submit_request(h2_stream *st)
{
    h2_conn *c = st->conn;
    nghttp2_data_provider prd;
    prd.source.ptr = st;
    prd.read_callback = data_read;
    bool body = !(st->end_queued && st->out.len == 0);
    int32_t id = nghttp2_submit_request(c->ng, NULL, st->nva, st->nnv, body ? &prd : NULL, st);
    free(st->nva);
    st->nva = NULL;
    st->nnv = 0;
    if (id < 0) {
        ripp_log(RIPP_LOG_INFO, "h2: request to %s: %s", c->host, nghttp2_strerror(id));
        return RIPP_ERR_CLOSED;
    }
    st->id = id;
    st->headers_sent = true;
    st->has_provider = body;
    return 0;
}

h2_stream *h2_stream_new_request(h2_conn *c, const nghttp2_nv *nva, size_t nnv, bool end,
                                 const ripp_xchg_cbs *cbs, void *ud, int *err)
{
    size_t total = nnv * sizeof(nghttp2_nv);
    for (size_t i = 0; i < nnv; i++)
        total += nva[i].namelen + nva[i].valuelen + 2;
    h2_stream *st = stream_alloc(c);
    if (!st) {
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    st->nva = malloc(total);
    if (!st->nva) {
        stream_unlink(st);
        stream_free(st);
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    char *p = (char *)(st->nva + nnv);
    for (size_t i = 0; i < nnv; i++) {
        nghttp2_nv *d = &st->nva[i];
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
        d->flags = NGHTTP2_NV_FLAG_NONE;
    }
    st->nnv = nnv;
    st->x.cbs = cbs;
    st->x.ud = ud;
    st->end_queued = end;
    if (c->ng && !c->closing) {
        if (stream_submit_request(st) < 0) {
            stream_unlink(st);
            stream_free(st);
            *err = RIPP_ERR_CLOSED;
            return NULL;
        }
        h2_conn_mark_dirty(c);
    }
    return st;
}

/* ---- received headers ---- */

typedef struct hdr_view {
    char *method, *path, *scheme, *authority, *status, *host;
    ripp_hdr h[RIPP_XCHG_MAX_HEADERS];
    size_t n;
} hdr_view;

static void hdr_parse(h2_stream *st, hdr_view *v)
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

static void hdr_reset(h2_stream *st)
{
    free(st->hblob);
    st->hblob = NULL;
    st->hlen = st->hcap = st->hcount = 0;
    st->hdr_overflow = false;
}

static void respond_plain_error(h2_stream *st, int status)
{
    ripp_hdr h[] = {{"content-length", "0"}};
    x_respond(&st->x, status, h, 1, true);
}

static void deliver_request(h2_conn *c, h2_stream *st)
{
    if (st->hdr_overflow) {
        ripp_log(RIPP_LOG_INFO, "h2: stream %d: request header block too large", st->id);
        hdr_reset(st);
        respond_plain_error(st, 431);
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
        .early_data = false,
    };
    ripp_log(RIPP_LOG_DEBUG, "h2: stream %d: %s %s", st->id, req.method, req.path);
    if (c->owner->on_request) c->owner->on_request(c->owner->on_request_ud, &st->x, &req);
    if (c->closing) return;
    hdr_reset(st);
}

/* Client: an Alt-Svc field advertising h3 on the same host (RFC 7838, SPEC P1) is remembered
 * on the connection; alternatives on other hosts are ignored, "clear" forgets. */
static void note_alt_svc(h2_conn *c, const hdr_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->h[i].name, "alt-svc") != 0) continue;
        const char *a = v->h[i].value;
        if (strncmp(a, "clear", 5) == 0) {
            c->alt_h3_port = 0;
            return;
        }
        for (const char *p = strstr(a, "h3=\""); p; p = strstr(p + 4, "h3=\"")) {
            if (p != a && p[-1] != ' ' && p[-1] != ',') continue;
            const char *q = p + 4, *colon = strrchr(q, ':'), *close = strchr(q, '"');
            if (!close || !colon || colon > close) continue;
            size_t hl = (size_t)(colon - q);
            if (hl && (hl != strlen(c->host) || strncmp(q, c->host, hl) != 0)) continue;
            int port = 0;
            for (const char *d = colon + 1; d < close && port <= 65535; d++)
                port = (*d >= '0' && *d <= '9') ? port * 10 + (*d - '0') : 65536;
            if (port >= 1 && port <= 65535) {
                c->alt_h3_port = port;
                return;
            }
        }
    }
}

static void deliver_response(h2_conn *c, h2_stream *st)
{
    hdr_view v;
    hdr_parse(st, &v);
    int status = v.status ? atoi(v.status) : 0;
    if (status >= 100 && status < 200) {
        hdr_reset(st); /* interim; the final response follows */
        return;
    }
    if (st->hdr_overflow || status < 200 || status > 999) {
        ripp_log(RIPP_LOG_INFO, "h2: stream %d: bad response header block", st->id);
        hdr_reset(st);
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        h2_conn_mark_dirty(c);
        return;
    }
    st->got_response = true;
    if (!c->owner->server) note_alt_svc(c, &v);
    if (st->x.cbs && st->x.cbs->on_response)
        st->x.cbs->on_response(&st->x, st->x.ud, status, v.h, v.n);
    if (c->closing) return;
    hdr_reset(st);
}

/* ---- nghttp2 callbacks ---- */

static int cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    h2_conn *c = ud;
    if (c->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    h2_stream *st = stream_of(c, f->hd.stream_id);
    if (!st && c->owner->server && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        st = stream_alloc(c);
        if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        st->id = f->hd.stream_id;
        st->headers_sent = false;
        nghttp2_session_set_stream_user_data(ng, st->id, st);
    }
    if (st) hdr_reset(st);
    return 0;
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)ng;
    (void)flags;
    h2_conn *c = ud;
    if (c->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    h2_stream *st = stream_of(c, f->hd.stream_id);
    if (!st || st->hdr_overflow) return 0;
    size_t need = namelen + valuelen + 2;
    bool regular = namelen == 0 || name[0] != ':';
    if (st->hlen + need > H2_MAX_HEADER_BYTES || (regular && st->hcount >= RIPP_XCHG_MAX_HEADERS)) {
        st->hdr_overflow = true;
        return 0;
    }
    if (st->hcap - st->hlen < need) {
        size_t cap = st->hcap ? st->hcap : 1024;
        while (cap - st->hlen < need)
            cap *= 2;
        char *nb = realloc(st->hblob, cap);
        if (!nb) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        st->hblob = nb;
        st->hcap = cap;
    }
    memcpy(st->hblob + st->hlen, name, namelen);
    st->hlen += namelen;
    st->hblob[st->hlen++] = '\0';
    if (valuelen) memcpy(st->hblob + st->hlen, value, valuelen);
    st->hlen += valuelen;
    st->hblob[st->hlen++] = '\0';
    if (regular) st->hcount++;
    return 0;
}

static void stream_remote_end(h2_stream *st)
{
    st->remote_ended = true;
    if (st->x.cbs && st->x.cbs->on_end) st->x.cbs->on_end(&st->x, st->x.ud);
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ng;
    h2_conn *c = ud;
    if (c->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    h2_stream *st;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        st = stream_of(c, f->hd.stream_id);
        if (!st) return 0;
        if (c->owner->server) {
            if (f->headers.cat == NGHTTP2_HCAT_REQUEST) deliver_request(c, st);
        } else if (!st->got_response) {
            deliver_response(c, st);
        }
        if (c->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            st = stream_of(c, f->hd.stream_id);
            if (st) stream_remote_end(st);
        }
        break;
    case NGHTTP2_DATA:
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            st = stream_of(c, f->hd.stream_id);
            if (st) stream_remote_end(st);
        }
        break;
    case NGHTTP2_GOAWAY:
        c->goaway_recv = true;
        ripp_log(RIPP_LOG_INFO, "h2: GOAWAY from %s (last stream %d, code %u)", c->host,
                 f->goaway.last_stream_id, f->goaway.error_code);
        break;
    default:
        break;
    }
    return c->closing ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)ng;
    (void)flags;
    h2_conn *c = ud;
    if (c->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    h2_stream *st = stream_of(c, id);
    if (st && st->x.cbs && st->x.cbs->on_data) st->x.cbs->on_data(&st->x, st->x.ud, data, len);
    return c->closing ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    (void)ng;
    h2_conn *c = ud;
    if (c->closing) return 0;
    h2_stream *st = stream_of(c, id);
    if (!st) return 0;
    int err = code == NGHTTP2_NO_ERROR && st->local_ended && st->remote_ended ? 0 : RIPP_ERR_CLOSED;
    if (err) ripp_log(RIPP_LOG_DEBUG, "h2: stream %d closed (code %u)", id, code);
    stream_finish(st, err, code);
    return 0;
}

static int cb_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ng;
    h2_conn *c = ud;
    if (c->closing) return 0;
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        h2_stream *st = stream_of(c, f->hd.stream_id);
        if (st) st->local_ended = true;
    }
    return 0;
}

static int cb_frame_not_send(nghttp2_session *ng, const nghttp2_frame *f, int lib_error, void *ud)
{
    h2_conn *c = ud;
    if (c->closing || c->owner->server || f->hd.type != NGHTTP2_HEADERS) return 0;
    /* A request that never opened its stream gets no stream close from nghttp2. */
    if (nghttp2_session_find_stream(ng, f->hd.stream_id)) return 0;
    for (h2_stream *st = c->streams; st; st = st->next) {
        if (st->id == f->hd.stream_id) {
            ripp_log(RIPP_LOG_DEBUG, "h2: request not sent to %s: %s", c->host,
                     nghttp2_strerror(lib_error));
            stream_finish(st, RIPP_ERR_CLOSED, NGHTTP2_REFUSED_STREAM);
            break;
        }
    }
    return 0;
}

static int cb_error(nghttp2_session *ng, int lib_error, const char *msg, size_t len, void *ud)
{
    (void)ng;
    h2_conn *c = ud;
    ripp_log(RIPP_LOG_DEBUG, "h2: %s: %.*s (%s)", c->host, (int)len, msg,
             nghttp2_strerror(lib_error));
    return 0;
}

static int conn_session_new(h2_conn *c)
{
    h2_owner *o = c->owner;
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) return RIPP_ERR_NOMEM;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cb_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, cb_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, cb_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, cb_frame_not_send);
    nghttp2_session_callbacks_set_error_callback2(cb, cb_error);
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return RIPP_ERR_NOMEM;
    }
    /* Resetting a stalled byway is part of normal operation (D38), and one connection
     * carries the byways of hundreds of calls: nghttp2's default allowance against rapid
     * reset (1000, then 33/s) would tear down every call of a busy connection. */
    nghttp2_option_set_stream_reset_rate_limit(opt, 20000, 2000);
    int rv = o->server ? nghttp2_session_server_new2(&c->ng, cb, c, opt)
                       : nghttp2_session_client_new2(&c->ng, cb, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        c->ng = NULL;
        return RIPP_ERR_NOMEM;
    }
    nghttp2_settings_entry iv[4];
    size_t n = 0;
    if (o->server)
        iv[n++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, o->max_streams};
    iv[n++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, o->initial_window};
    iv[n++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    iv[n++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_BYTES};
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, n) != 0 ||
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0)
        return RIPP_ERR_NOMEM;
    return 0;
}

/* ---- connections ---- */

h2_conn *h2_conn_new(h2_owner *o)
{
    h2_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->owner = o;
    c->next = o->conns;
    if (o->conns) o->conns->prev = c;
    o->conns = c;
    o->n_conns++;
    o->total_conns++;
    snprintf(c->host, sizeof c->host, "peer");
    return c;
}

static void conn_unlink(h2_conn *c)
{
    h2_owner *o = c->owner;
    dirty_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        o->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    o->n_conns--;
    c->owner = NULL;
}

static void conn_destroy(h2_conn *c)
{
    if (c->ng) nghttp2_session_del(c->ng);
    free(c);
}

/* Returns true when c was freed. */
static bool conn_leave(h2_conn *c)
{
    if (--c->busy > 0 || !c->free_pending) return false;
    conn_destroy(c);
    return true;
}

void h2_conn_free_unused(h2_conn *c)
{
    conn_unlink(c);
    conn_destroy(c);
}

void h2_conn_mark_dirty(h2_conn *c)
{
    h2_owner *o = c->owner;
    if (c->dirty || c->closing || !o) return;
    c->dirty = true;
    c->dprev = NULL;
    c->dnext = o->dirty;
    if (o->dirty) o->dirty->dprev = c;
    o->dirty = c;
}

/* Callers hold c->busy, so c outlives this even if a callback deletes the owner. */
static void conn_teardown(h2_conn *c, bool graceful)
{
    if (c->closing) return;
    dirty_remove(c);
    c->closing = true;
    while (c->streams)
        stream_finish(c->streams, RIPP_ERR_CLOSED, 0);
    if (c->ts) ripp_tls_stream_close(c->ts, graceful);
}

void h2_conn_teardown(h2_conn *c, bool graceful)
{
    c->busy++;
    conn_teardown(c, graceful);
    conn_leave(c);
}

static void conn_send(h2_conn *c)
{
    if (c->closing || !c->ng || !c->ts) return;
    size_t batch = 0;
    for (;;) {
        if (ripp_tls_stream_queued(c->ts) >= RIPP_TLS_STREAM_HIGH_WATER)
            break; /* on_drain resumes */
        const uint8_t *d;
        ssize_t n = nghttp2_session_mem_send(c->ng, &d);
        if (c->closing) return;
        if (n < 0) {
            ripp_log(RIPP_LOG_INFO, "h2: %s: send: %s", c->host, nghttp2_strerror((int)n));
            conn_teardown(c, false);
            return;
        }
        if (n == 0) break;
        if (ripp_tls_stream_write(c->ts, d, (size_t)n) < 0) {
            conn_teardown(c, false);
            return;
        }
        batch += (size_t)n;
        if (batch >= H2_FLUSH_BATCH) {
            ripp_tls_stream_flush(c->ts);
            batch = 0;
        }
    }
    if (batch) ripp_tls_stream_flush(c->ts);
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
        ripp_log(RIPP_LOG_DEBUG, "h2: %s: session done; closing", c->host);
        conn_teardown(c, true);
    }
}

static void conn_process(h2_conn *c)
{
    c->busy++;
    if (c->streams && !c->ng) {
        /* Requests reset before their connection was ready. */
        h2_stream *st = c->streams;
        while (st && !c->closing) {
            h2_stream *next = st->next;
            if (st->reset_pending) stream_finish(st, RIPP_ERR_CLOSED, RIPP_XCHG_CANCEL);
            st = next;
        }
    }
    conn_send(c);
    conn_leave(c);
}

void h2_conn_shutdown_notice(h2_conn *c)
{
    if (c->closing) return;
    if (!c->ng) {
        h2_conn_teardown(c, false);
        return;
    }
    if (nghttp2_submit_shutdown_notice(c->ng) == 0) c->shutdown_sent = true;
    h2_conn_mark_dirty(c);
}

void h2_conn_goaway(h2_conn *c)
{
    if (c->closing || !c->ng) return;
    nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    h2_conn_mark_dirty(c);
}

/* ---- socket events ---- */

static void ts_open(ripp_tls_stream *ts, void *ud)
{
    h2_conn *c = ud;
    if (c->closing) return;
    c->busy++;
    if (c->owner->server) ripp_tls_stream_peer(ts, c->host, sizeof c->host);
    if (conn_session_new(c) < 0) {
        ripp_log(RIPP_LOG_WARN, "h2: %s: cannot create a session", c->host);
        conn_teardown(c, false);
    } else {
        ripp_log(RIPP_LOG_DEBUG, "h2: connection with %s open", c->host);
        /* Requests that waited for the connection, oldest first. */
        h2_stream *st = c->streams;
        while (st && st->next)
            st = st->next;
        while (st && !c->closing) {
            h2_stream *prev = st->prev;
            if (st->id == 0) {
                if (st->reset_pending)
                    stream_finish(st, RIPP_ERR_CLOSED, RIPP_XCHG_CANCEL);
                else if (stream_submit_request(st) < 0)
                    stream_finish(st, RIPP_ERR_CLOSED, 0);
            }
            st = prev;
        }
        h2_conn_mark_dirty(c);
    }
    conn_leave(c);
}

static void ts_read(ripp_tls_stream *ts, void *ud, const uint8_t *data, size_t len)
{
    (void)ts;
    h2_conn *c = ud;
    if (c->closing || !c->ng) return;
    if (c->owner) c->last_rx = uv_now(c->owner->loop); /* the loop's time: no clock read */
    c->busy++;
    ssize_t rv = nghttp2_session_mem_recv(c->ng, data, len);
    if (!c->closing) {
        if (rv < 0) {
            ripp_log(RIPP_LOG_INFO, "h2: %s: %s; closing", c->host, nghttp2_strerror((int)rv));
            conn_teardown(c, false);
        } else {
            h2_conn_mark_dirty(c);
        }
    }
    conn_leave(c);
}

static void ts_drain(ripp_tls_stream *ts, void *ud)
{
    (void)ts;
    h2_conn_mark_dirty(ud);
}

static void ts_close(ripp_tls_stream *ts, void *ud, int err)
{
    (void)ts;
    h2_conn *c = ud;
    c->ts = NULL;
    c->busy++;
    if (err && !c->ng && c->owner && !c->owner->server)
        ripp_log(RIPP_LOG_INFO, "h2: connection to %s:%d failed: %s", c->host, c->port,
                 ripp_strerror(err));
    else if (err)
        ripp_log(RIPP_LOG_DEBUG, "h2: connection with %s lost: %s", c->host, ripp_strerror(err));
    conn_teardown(c, false);
    if (c->owner) conn_unlink(c);
    c->free_pending = true;
    conn_leave(c);
}

const ripp_tls_stream_cbs h2_conn_ts_cbs = {ts_open, ts_read, ts_drain, ts_close};
