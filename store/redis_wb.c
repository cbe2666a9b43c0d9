/* Write-behind for the Redis store: call records and CDRs are queued, newest per key, and an
 * asynchronous hiredis connection on the caller's libuv loop sends them. A record leaves the
 * queue only when Redis acknowledged its newest version, so a Redis restart loses nothing
 * while the process lives. hiredis 0.14 has no timeouts of its own: one timer watches the
 * connect, the oldest unanswered command, and the reconnect backoff. */
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libuv.h>
#include <uv.h>

#include "store_int.h"

#define WB_WINDOW 256 /* commands in flight at once */
#define WB_TICK_MS 25
#define WB_HOLD_MS 200  /* pause after an error reply (Redis loading its data, ...) */
#define WB_MAX_ERRORS 5 /* error replies in a row before a record is given up */

typedef struct wb_entry {
    struct wb_entry *hnext;       /* hash chain */
    struct wb_entry *prev, *next; /* the send list, by `order` */
    uint64_t order;               /* stamp of the latest put: the send order */
    uint64_t version;             /* of the newest put */
    bool inflight, listed;
    int kind, errors;
    char *cmd; /* formatted, from redisFormatCommandArgv */
    size_t len;
    char id[40];
} wb_entry;

typedef struct wb_flight {
    struct wb_flight *next;
    struct rwb *w;
    wb_entry *e;
    uint64_t version;
    int64_t sent_ms;
} wb_flight;

enum { WB_DOWN, WB_CONNECTING, WB_UP };

struct rwb {
    rstore *q;
    uv_loop_t *loop;
    uv_timer_t timer;
    redisAsyncContext *ac;
    int state, fails;
    int64_t since, reconnect_at, hold_until;
    wb_entry **tab;
    size_t tabn, count;
    wb_entry *head, *tail; /* waiting to be sent */
    wb_flight *fhead, *ftail;
    int64_t inflight, written, refused, reconnects;
    uint64_t order;
    bool closing;
};

static size_t wb_hash(int kind, const char *id)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return (size_t)h;
}

static wb_entry **wb_slot(struct rwb *w, int kind, const char *id)
{
    wb_entry **p = &w->tab[wb_hash(kind, id) & (w->tabn - 1)];
    while (*p && ((*p)->kind != kind || strcmp((*p)->id, id)))
        p = &(*p)->hnext;
    return p;
}

static int wb_grow(struct rwb *w)
{
    size_t n = w->tabn ? w->tabn * 2 : 1024;
    wb_entry **t = calloc(n, sizeof *t);
    if (!t) return RIPP_ERR_NOMEM;
    for (size_t i = 0; i < w->tabn; i++) {
        wb_entry *e = w->tab[i], *nx;
        for (; e; e = nx) {
            nx = e->hnext;
            size_t b = wb_hash(e->kind, e->id) & (n - 1);
            e->hnext = t[b];
            t[b] = e;
        }
    }
    free(w->tab);
    w->tab = t;
    w->tabn = n;
    return 0;
}

static void list_remove(struct rwb *w, wb_entry *e)
{
    if (!e->listed) return;
    if (e->prev)
        e->prev->next = e->next;
    else
        w->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        w->tail = e->prev;
    e->prev = e->next = NULL;
    e->listed = false;
}

/* Keeps the list in `order`: a record sent again after a failure goes back before the ones
 * put after it (CDR end order depends on it). */
static void list_insert(struct rwb *w, wb_entry *e)
{
    wb_entry *after = w->tail;
    if (after && after->order > e->order) {
        after = NULL;
        for (wb_entry *x = w->head; x && x->order < e->order; x = x->next)
            after = x;
    }
    e->prev = after;
    e->next = after ? after->next : w->head;
    if (e->next)
        e->next->prev = e;
    else
        w->tail = e;
    if (after)
        after->next = e;
    else
        w->head = e;
    e->listed = true;
}

static void wb_forget(struct rwb *w, wb_entry *e)
{
    list_remove(w, e);
    wb_entry **p = wb_slot(w, e->kind, e->id);
    if (*p == e) *p = e->hnext;
    redisFreeCommand(e->cmd);
    free(e);
    w->count--;
}

static void wb_tick(uv_timer_t *t);

static void wb_watch(struct rwb *w)
{
    if (!w->closing && !uv_is_active((uv_handle_t *)&w->timer))
        uv_timer_start(&w->timer, wb_tick, WB_TICK_MS, WB_TICK_MS);
}

static void wb_reply(redisAsyncContext *ac, void *reply, void *priv);

static void wb_pump(struct rwb *w)
{
    int64_t now = 0;
    while (w->state == WB_UP && w->ac && w->head && w->inflight < WB_WINDOW && !w->closing) {
        if (!now) {
            now = ripp_rs_mono_ms();
            if (now < w->hold_until) break;
        }
        wb_entry *e = w->head;
        wb_flight *f = calloc(1, sizeof *f);
        if (!f) break;
        if (redisAsyncFormattedCommand(w->ac, wb_reply, f, e->cmd, e->len) != REDIS_OK) {
            free(f);
            break;
        }
        list_remove(w, e);
        e->inflight = true;
        f->w = w;
        f->e = e;
        f->version = e->version;
        f->sent_ms = now;
        if (w->ftail)
            w->ftail->next = f;
        else
            w->fhead = f;
        w->ftail = f;
        w->inflight++;
    }
    if (w->head || w->fhead || w->state != WB_UP) wb_watch(w);
}

static void wb_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    wb_flight *f = priv;
    struct rwb *w = f->w;
    redisReply *r = reply;
    /* replies come in order: f is the head, unless the connection is being torn down */
    wb_flight **p = &w->fhead, *prev = NULL;
    while (*p && *p != f) {
        prev = *p;
        p = &(*p)->next;
    }
    if (*p) {
        *p = f->next;
        if (w->ftail == f) w->ftail = prev;
    }
    w->inflight--;
    wb_entry *e = f->e;
    e->inflight = false;
    if (r && r->type != REDIS_REPLY_ERROR) {
        w->written++;
        e->errors = 0;
        if (e->version == f->version)
            wb_forget(w, e);
        else
            list_insert(w, e);
    } else if (r) {
        /* Redis answered no (loading its data after a restart, out of memory, a foreign key
         * of another type): try again a little later, then give up on this record */
        int64_t now = ripp_rs_mono_ms();
        if (now >= w->hold_until) ripp_log(RIPP_LOG_WARN, "store: redis write-behind: %s", r->str);
        w->hold_until = now + WB_HOLD_MS;
        if (++e->errors >= WB_MAX_ERRORS && e->version == f->version) {
            ripp_log(RIPP_LOG_ERROR, "store: redis write-behind: record %s given up: %s", e->id,
                     r->str);
            wb_forget(w, e);
        } else {
            list_insert(w, e);
        }
    } else {
        list_insert(w, e); /* the connection went away: sent again after the reconnect */
    }
    free(f);
    if (r && !w->closing) wb_pump(w);
}

static void wb_schedule(struct rwb *w)
{
    w->state = WB_DOWN;
    w->fails++;
    w->reconnect_at = ripp_rs_mono_ms() + ripp_rs_backoff_ms(&w->q->rnd, w->fails);
    wb_watch(w);
}

/* Gives up the current connection. The pending replies come back NULL, which requeues their
 * records; inside a hiredis callback, hiredis frees the context when the callback returns. */
static void wb_drop(struct rwb *w, const char *why)
{
    redisAsyncContext *ac = w->ac;
    bool was_up = w->state == WB_UP;
    w->ac = NULL;
    wb_schedule(w);
    ripp_log(was_up ? RIPP_LOG_WARN : RIPP_LOG_DEBUG,
             "store: redis write-behind: %s (%zu records queued)", why, w->count);
    if (ac) redisAsyncFree(ac);
}

/* Connected is not answering (a stopped Redis still accepts connections): the writer is up
 * once a PING comes back. */
static void wb_hello(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rwb *w = ac->data;
    redisReply *r = reply;
    (void)priv;
    if (!w || ac != w->ac || w->closing || !r) return; /* the disconnect path handles NULL */
    if (r->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof why, "not ready: %s", r->str);
        wb_drop(w, why); /* freed by hiredis once this callback returns */
        return;
    }
    w->state = WB_UP;
    w->fails = 0;
    w->reconnects++;
    w->hold_until = 0;
    ripp_log(w->reconnects > 1 ? RIPP_LOG_INFO : RIPP_LOG_DEBUG,
             "store: redis write-behind connected (%zu records queued)", w->count);
    ripp_rs_breaker_reset(w->q);
    wb_pump(w);
}

static void wb_on_connect(const redisAsyncContext *ac, int status)
{
    struct rwb *w = ac->data;
    if (!w || ac != w->ac) return;
    if (status != REDIS_OK) {
        ripp_log(RIPP_LOG_DEBUG, "store: redis write-behind connect: %s", ac->errstr);
        w->ac = NULL; /* hiredis frees it after this callback */
        wb_schedule(w);
    }
}

static void wb_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rwb *w = ac->data;
    (void)status;
    if (!w || ac != w->ac) return; /* one we dropped ourselves */
    w->ac = NULL;
    bool was_up = w->state == WB_UP;
    wb_schedule(w);
    if (!was_up) return;
    w->reconnect_at = ripp_rs_mono_ms(); /* a restart: try again at once */
    ripp_log(RIPP_LOG_WARN, "store: redis write-behind connection lost: %s (%zu queued)",
             ac->errstr[0] ? ac->errstr : "closed", w->count);
}

static void wb_select_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    redisReply *r = reply;
    struct rwb *w = ac->data;
    if (r && r->type == REDIS_REPLY_ERROR && w && ac == w->ac)
        ripp_log(RIPP_LOG_ERROR, "store: redis write-behind SELECT: %s", r->str);
}

static void wb_connect(struct rwb *w)
{
    rstore *q = w->q;
    redisAsyncContext *ac =
        q->port ? redisAsyncConnect(q->host, q->port) : redisAsyncConnectUnix(q->path);
    if (!ac || ac->err) {
        ripp_log(RIPP_LOG_DEBUG, "store: redis write-behind connect: %s",
                 ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        wb_schedule(w);
        return;
    }
    ac->data = w;
    if (redisLibuvAttach(ac, w->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        wb_schedule(w);
        return;
    }
    redisAsyncSetConnectCallback(ac, wb_on_connect);
    redisAsyncSetDisconnectCallback(ac, wb_on_disconnect);
    w->ac = ac;
    w->state = WB_CONNECTING;
    w->since = ripp_rs_mono_ms();
    /* queued by hiredis, sent once connected */
    if (q->db) redisAsyncCommand(ac, wb_select_reply, NULL, "SELECT %d", q->db);
    redisAsyncCommand(ac, wb_hello, NULL, "PING");
    wb_watch(w);
}

static void wb_tick(uv_timer_t *t)
{
    struct rwb *w = t->data;
    int64_t now = ripp_rs_mono_ms();
    switch (w->state) {
    case WB_DOWN:
        if (now >= w->reconnect_at) wb_connect(w);
        break;
    case WB_CONNECTING:
        if (now - w->since > w->q->wb_timeout_ms) wb_drop(w, "connect timed out");
        break;
    default:
        if (w->fhead && now - w->fhead->sent_ms > w->q->wb_timeout_ms)
            wb_drop(w, "no answer in time");
        else
            wb_pump(w);
        if (w->state == WB_UP && !w->fhead && !w->head) uv_timer_stop(t);
    }
}

int ripp_rwb_attach(rstore *q, uv_loop_t *loop)
{
    struct rwb *w = calloc(1, sizeof *w);
    if (!w) return RIPP_ERR_NOMEM;
    if (wb_grow(w) || uv_timer_init(loop, &w->timer)) {
        free(w->tab);
        free(w);
        return RIPP_ERR_NOMEM;
    }
    w->q = q;
    w->loop = loop;
    w->timer.data = w;
    /* the store does not keep a loop alive by itself */
    uv_unref((uv_handle_t *)&w->timer);
    q->wb = w;
    wb_connect(w);
    return 0;
}

int ripp_rwb_put(struct rwb *w, int kind, const char *id, char *cmd, size_t len)
{
    wb_entry **p = wb_slot(w, kind, id), *e = *p;
    if (!e) {
        if (w->count >= (size_t)w->q->queue_max) {
            if (w->refused++ == 0 || w->refused % 1000 == 0)
                ripp_log(RIPP_LOG_ERROR,
                         "store: redis write-behind queue full (%zu records): %lld refused",
                         w->count, (long long)w->refused);
            redisFreeCommand(cmd);
            return RIPP_ERR_STORE;
        }
        if (w->count >= w->tabn && wb_grow(w) == 0) p = wb_slot(w, kind, id);
        e = calloc(1, sizeof *e);
        if (!e) {
            redisFreeCommand(cmd);
            return RIPP_ERR_NOMEM;
        }
        e->kind = kind;
        snprintf(e->id, sizeof e->id, "%s", id);
        *p = e;
        w->count++;
    }
    redisFreeCommand(e->cmd);
    e->cmd = cmd;
    e->len = len;
    e->version++;
    e->order = ++w->order;
    if (!e->inflight) {
        list_remove(w, e);
        list_insert(w, e);
    }
    wb_pump(w);
    return 0;
}

bool ripp_rwb_find(struct rwb *w, int kind, const char *id, const char **cmd, size_t *len)
{
    wb_entry *e = *wb_slot(w, kind, id);
    if (!e) return false;
    *cmd = e->cmd;
    *len = e->len;
    return true;
}

static int by_order(const void *a, const void *b)
{
    const wb_entry *x = *(wb_entry *const *)a, *y = *(wb_entry *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Every queued entry of one kind (-1: all), sorted by put order. */
static int wb_sorted(struct rwb *w, int kind, wb_entry ***out, size_t *n)
{
    *n = 0;
    *out = malloc((w->count + 1) * sizeof **out);
    if (!*out) return RIPP_ERR_NOMEM;
    for (size_t i = 0; i < w->tabn; i++)
        for (wb_entry *e = w->tab[i]; e; e = e->hnext)
            if (kind < 0 || e->kind == kind) (*out)[(*n)++] = e;
    qsort(*out, *n, sizeof **out, by_order);
    return 0;
}

int ripp_rwb_cdrs(struct rwb *w, const char ***cmds, size_t **lens, size_t *n)
{
    wb_entry **es;
    *cmds = NULL;
    *lens = NULL;
    if (wb_sorted(w, RWB_CDR, &es, n)) return RIPP_ERR_NOMEM;
    *cmds = malloc((*n + 1) * sizeof **cmds);
    *lens = malloc((*n + 1) * sizeof **lens);
    if (!*cmds || !*lens) {
        free(es);
        free(*cmds);
        free(*lens);
        *cmds = NULL;
        *lens = NULL;
        return RIPP_ERR_NOMEM;
    }
    for (size_t i = 0; i < *n; i++) {
        (*cmds)[i] = es[i]->cmd;
        (*lens)[i] = es[i]->len;
    }
    free(es);
    return 0;
}

void ripp_rwb_status(struct rwb *w, ripp_store_status *out)
{
    out->writer_up = w->state == WB_UP;
    out->pending = (int64_t)w->count;
    out->in_flight = w->inflight;
    out->written = w->written;
    out->refused = w->refused;
    out->reconnects = w->reconnects;
}

static void wb_closed(uv_handle_t *h)
{
    struct rwb *w = h->data;
    free(w->q);
    free(w);
}

void ripp_rwb_close(struct rwb *w)
{
    w->closing = true;
    if (w->ac) {
        redisAsyncContext *ac = w->ac;
        w->ac = NULL;
        redisAsyncFree(ac); /* in-flight records come back to the list */
    }
    /* What is still queued goes out synchronously, in put order: the process is ending. */
    wb_entry **es = NULL;
    size_t n = 0, done = 0;
    if (w->count && wb_sorted(w, -1, &es, &n) == 0) {
        const char **cmds = malloc((n + 1) * sizeof *cmds);
        size_t *lens = malloc((n + 1) * sizeof *lens);
        if (cmds && lens) {
            for (size_t i = 0; i < n; i++) {
                cmds[i] = es[i]->cmd;
                lens[i] = es[i]->len;
            }
            ripp_rs_write_formatted(w->q, cmds, lens, n, &done);
        }
        free(cmds);
        free(lens);
    }
    if (w->count > done)
        ripp_log(RIPP_LOG_ERROR, "store: redis: %zu queued records not written at close",
                 w->count - done);
    free(es);
    for (size_t i = 0; i < w->tabn; i++) {
        wb_entry *e = w->tab[i], *nx;
        for (; e; e = nx) {
            nx = e->hnext;
            redisFreeCommand(e->cmd);
            free(e);
        }
    }
    free(w->tab);
    w->tab = NULL;
    w->count = 0;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, wb_closed);
}
