/* An in-memory HTTP binding for simulations: a client-side and a server-side ripp_xchg per
 * stream, with every action delivered to the other side after a fixed one-way latency of
 * virtual time. Included by the sim_*.c files that need it. */
#ifndef FAKE_HTTP_H
#define FAKE_HTTP_H

#include <stdlib.h>
#include <string.h>

#include "ripp/endpoint.h"
#include "ripp/xchg.h"

typedef struct fk_stream fk_stream;

typedef struct fk_side {
    ripp_xchg x; /* first member */
    fk_stream *s;
    bool is_client;
    bool ended;      /* this side ended its body */
    bool peer_ended; /* delivered: the other side ended its body */
    bool closed;     /* on_close delivered to this side */
} fk_side;

struct fk_stream {
    fk_side c, sv;
    bool reset;
    int refs;
    char method[16], path[512], query[512];
    ripp_hdr hdrs[16];
    char hbuf[16][2][1200];
    size_t nh;
};

enum fk_kind { FK_REQUEST, FK_RESPONSE, FK_DATA, FK_END, FK_RESET };

typedef struct fk_msg {
    ripp_ts at;
    uint64_t order;
    enum fk_kind kind;
    fk_side *to;
    int status;
    ripp_hdr hdrs[8];
    char hbuf[8][2][1200];
    size_t nh;
    uint8_t *data;
    size_t len;
} fk_msg;

typedef struct fk_net {
    ripp_http_client client; /* first member */
    ripp_ts now, latency;
    uint64_t order;
    fk_msg **q;
    size_t nq, capq;
    ripp_ep *server;
    size_t streams_open;
    uint64_t call_requests, call_requests_with_cookie; /* requests to call URIs */
    char cookie_seen[256];
    fk_stream **all;
    size_t nall;
    uint64_t wall_base_us;
    uint64_t rnd;
    bool refuse;      /* the client's network is down: new requests fail at once */
    const char *dead; /* requests to URLs that begin so fail at once (an instance gone) */
} fk_net;

static fk_net *fk_of_side(fk_side *s);
static fk_net *fk_current;

static fk_net *fk_of_side(fk_side *s)
{
    (void)s;
    return fk_current;
}

static void fk_push(fk_net *n, fk_msg *m)
{
    m->at = n->now + n->latency;
    m->order = n->order++;
    if (n->nq == n->capq) {
        n->capq = n->capq ? n->capq * 2 : 256;
        n->q = realloc(n->q, n->capq * sizeof *n->q);
    }
    n->q[n->nq++] = m;
    m->to->s->refs++;
}

static fk_msg *fk_msg_new(enum fk_kind kind, fk_side *to, const ripp_hdr *h, size_t nh)
{
    fk_msg *m = calloc(1, sizeof *m);
    m->kind = kind;
    m->to = to;
    for (size_t i = 0; i < nh && i < 8; i++) {
        snprintf(m->hbuf[i][0], sizeof m->hbuf[i][0], "%s", h[i].name);
        snprintf(m->hbuf[i][1], sizeof m->hbuf[i][1], "%s", h[i].value);
        m->hdrs[i] = (ripp_hdr){m->hbuf[i][0], m->hbuf[i][1]};
        m->nh++;
    }
    return m;
}

static fk_side *fk_peer(fk_side *s)
{
    return s->is_client ? &s->s->sv : &s->s->c;
}

static int fk_respond(ripp_xchg *x, int status, const ripp_hdr *hdrs, size_t n, bool end)
{
    fk_side *s = (fk_side *)x;
    if (s->s->reset) return RIPP_ERR_CLOSED;
    fk_msg *m = fk_msg_new(FK_RESPONSE, fk_peer(s), hdrs, n);
    m->status = status;
    fk_push(fk_of_side(s), m);
    if (end) {
        s->ended = true;
        fk_push(fk_of_side(s), fk_msg_new(FK_END, fk_peer(s), NULL, 0));
    }
    return 0;
}

static int fk_write(ripp_xchg *x, const uint8_t *data, size_t len)
{
    fk_side *s = (fk_side *)x;
    if (s->s->reset) return RIPP_ERR_CLOSED;
    if (s->ended) return RIPP_ERR_STATE;
    fk_msg *m = fk_msg_new(FK_DATA, fk_peer(s), NULL, 0);
    m->data = malloc(len);
    memcpy(m->data, data, len);
    m->len = len;
    fk_push(fk_of_side(s), m);
    return 0;
}

static int fk_end(ripp_xchg *x)
{
    fk_side *s = (fk_side *)x;
    if (s->s->reset || s->ended) return 0;
    s->ended = true;
    fk_push(fk_of_side(s), fk_msg_new(FK_END, fk_peer(s), NULL, 0));
    return 0;
}

static int fk_reset(ripp_xchg *x, uint32_t code)
{
    fk_side *s = (fk_side *)x;
    (void)code;
    if (s->s->reset) return 0;
    s->s->reset = true;
    fk_push(fk_of_side(s), fk_msg_new(FK_RESET, s, NULL, 0));
    fk_push(fk_of_side(s), fk_msg_new(FK_RESET, fk_peer(s), NULL, 0));
    return 0;
}

static size_t fk_buffered(const ripp_xchg *x)
{
    (void)x;
    return 0;
}

static const ripp_xchg_vt fk_vt = {fk_respond, fk_write, fk_end, fk_reset, fk_buffered};

static ripp_xchg *fk_request(ripp_http_client *c, const char *method, const char *url,
                             const ripp_hdr *hdrs, size_t n, bool end, const ripp_xchg_cbs *cbs,
                             void *ud, int *err)
{
    fk_net *net = (fk_net *)c;
    if (net->refuse || (net->dead && strncmp(url, net->dead, strlen(net->dead)) == 0)) {
        *err = RIPP_ERR_CLOSED;
        return NULL;
    }
    fk_stream *s = calloc(1, sizeof *s);
    s->c.x.vt = s->sv.x.vt = &fk_vt;
    s->c.s = s->sv.s = s;
    s->c.is_client = true;
    s->c.x.cbs = cbs;
    s->c.x.ud = ud;
    snprintf(s->method, sizeof s->method, "%s", method);
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : url;
    const char *q = strchr(p, '?');
    snprintf(s->path, sizeof s->path, "%.*s", (int)(q ? q - p : (long)strlen(p)), p);
    snprintf(s->query, sizeof s->query, "%s", q ? q + 1 : "");
    for (size_t i = 0; i < n && i < 16; i++) {
        snprintf(s->hbuf[i][0], sizeof s->hbuf[i][0], "%s", hdrs[i].name);
        snprintf(s->hbuf[i][1], sizeof s->hbuf[i][1], "%s", hdrs[i].value);
        s->hdrs[i] = (ripp_hdr){s->hbuf[i][0], s->hbuf[i][1]};
        s->nh++;
    }
    net->streams_open++;
    net->all = realloc(net->all, (net->nall + 1) * sizeof *net->all);
    net->all[net->nall++] = s;
    fk_push(net, fk_msg_new(FK_REQUEST, &s->sv, NULL, 0));
    if (end) {
        s->c.ended = true;
        fk_push(net, fk_msg_new(FK_END, &s->sv, NULL, 0));
    }
    *err = 0;
    return &s->c.x;
}

static void fk_del(ripp_http_client *c)
{
    (void)c;
}
static const ripp_http_client_vt fk_client_vt = {.request = fk_request, .del = fk_del};

static void fk_close_side(fk_side *s, int error)
{
    if (s->closed) return;
    s->closed = true;
    if (s->x.cbs && s->x.cbs->on_close) s->x.cbs->on_close(&s->x, s->x.ud, error, 0);
}

static void fk_maybe_free(fk_net *n, fk_stream *s)
{
    if (s->c.closed && s->sv.closed && s->refs == 0) {
        n->streams_open--;
        for (size_t i = 0; i < n->nall; i++)
            if (n->all[i] == s) {
                n->all[i] = n->all[--n->nall];
                break;
            }
        free(s);
    }
}

static void fk_deliver(fk_net *n, fk_msg *m)
{
    fk_side *to = m->to;
    fk_stream *s = to->s;
    s->refs--;
    if (to->closed) goto out;
    if (m->kind == FK_RESET) {
        fk_close_side(to, RIPP_ERR_CLOSED);
        goto out;
    }
    if (s->reset) goto out;
    const ripp_xchg_cbs *cb = to->x.cbs;
    switch (m->kind) {
    case FK_REQUEST: {
        if (strncmp(s->path, "/call/", 6) == 0) {
            n->call_requests++;
            for (size_t i = 0; i < s->nh; i++)
                if (strcmp(s->hdrs[i].name, "cookie") == 0) {
                    n->call_requests_with_cookie++;
                    snprintf(n->cookie_seen, sizeof n->cookie_seen, "%s", s->hdrs[i].value);
                }
        }
        ripp_request req = {.method = s->method,
                            .path = s->path,
                            .query = s->query,
                            .authority = "sim.example",
                            .scheme = "https",
                            .hdrs = s->hdrs,
                            .n_hdrs = s->nh};
        ripp_ep_on_request(n->server, &to->x, &req, n->now);
        break;
    }
    case FK_RESPONSE:
        if (cb && cb->on_response) cb->on_response(&to->x, to->x.ud, m->status, m->hdrs, m->nh);
        break;
    case FK_DATA:
        if (cb && cb->on_data) cb->on_data(&to->x, to->x.ud, m->data, m->len);
        break;
    case FK_END:
        to->peer_ended = true;
        if (cb && cb->on_end) cb->on_end(&to->x, to->x.ud);
        break;
    default:
        break;
    }
    /* both bodies ended on both sides: the stream closes cleanly */
    if (s->c.ended && s->sv.ended && s->c.peer_ended && s->sv.peer_ended) {
        fk_close_side(&s->c, 0);
        fk_close_side(&s->sv, 0);
    }
out:
    free(m->data);
    free(m);
    fk_maybe_free(n, s);
}

static int fk_cmp(const void *a, const void *b)
{
    const fk_msg *x = *(fk_msg *const *)a, *y = *(fk_msg *const *)b;
    if (x->at != y->at) return x->at < y->at ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Deliver everything due at n->now, in order. */
static void fk_run_due(fk_net *n)
{
    for (;;) {
        if (!n->nq) return;
        qsort(n->q, n->nq, sizeof *n->q, fk_cmp);
        if (n->q[0]->at > n->now) return;
        fk_msg *m = n->q[0];
        memmove(n->q, n->q + 1, (n->nq - 1) * sizeof *n->q);
        n->nq--;
        fk_deliver(n, m);
    }
}

static ripp_ts fk_next(const fk_net *n)
{
    ripp_ts t = RIPP_TS_NEVER;
    for (size_t i = 0; i < n->nq; i++)
        if (n->q[i]->at < t) t = n->q[i]->at;
    return t;
}

static uint64_t fk_wall_us(void *ud)
{
    fk_net *n = ud;
    return n->wall_base_us + n->now / 1000;
}
static ripp_ts fk_mono(void *ud)
{
    return ((fk_net *)ud)->now;
}
static int fk_random(void *ud, uint8_t *buf, size_t len)
{
    fk_net *n = ud;
    for (size_t i = 0; i < len; i++) {
        n->rnd = n->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (uint8_t)(n->rnd >> 56);
    }
    return 0;
}

static void fk_init(fk_net *n, ripp_ts latency, ripp_env *env)
{
    memset(n, 0, sizeof *n);
    n->client.vt = &fk_client_vt;
    n->latency = latency;
    n->now = 1000 * RIPP_NS_PER_SEC;
    n->wall_base_us = 1795000000ULL * 1000000ULL;
    n->rnd = 42;
    *env = (ripp_env){.wall_us = fk_wall_us, .mono_ns = fk_mono, .random = fk_random, .ud = n};
    fk_current = n;
}

/* Advance virtual time to `until`, running deliveries and both engines' timers. */
static void fk_run(fk_net *n, ripp_ep *a, ripp_ep *b, ripp_ts until)
{
    while (n->now < until) {
        ripp_ts t = fk_next(n);
        ripp_ts ea = ripp_ep_expiry(a), eb = ripp_ep_expiry(b);
        if (ea < t) t = ea;
        if (eb < t) t = eb;
        if (t > until) t = until;
        if (t > n->now) n->now = t;
        fk_run_due(n);
        ripp_ep_handle_expiry(a, n->now);
        ripp_ep_handle_expiry(b, n->now);
        fk_run_due(n);
    }
}

/* After the engines are deleted: drop what is in flight and close every stream side that
 * is still open, so that nothing leaks. */
static void fk_shutdown(fk_net *n)
{
    for (size_t i = 0; i < n->nq; i++) {
        n->q[i]->to->s->refs--;
        free(n->q[i]->data);
        free(n->q[i]);
    }
    n->nq = 0;
    while (n->nall) {
        fk_stream *s = n->all[0];
        s->reset = true;
        fk_close_side(&s->c, RIPP_ERR_CLOSED);
        fk_close_side(&s->sv, RIPP_ERR_CLOSED);
        fk_maybe_free(n, s);
    }
    free(n->all);
    free(n->q);
}

#endif
