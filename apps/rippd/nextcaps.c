/* The next trunk's capabilities, for the bridge (SPEC §5.1, D13, D25).
 *
 * Before the bridge places leg B it must know that the next trunk can receive what leg A
 * may carry, since the bridge relays frames in the caller's codec and never transcodes.
 * The next trunk's capAdv document is fetched on the bridge's own HTTP client and cached
 * per trunk URL with its ETag:
 *   - the first call to a next trunk waits for the fetch (at most WAIT_FOR); a fetch that
 *     fails or is late lets the call through unchecked (with a warning) and is retried
 *     after RETRY_AFTER at the earliest: capAdv is optional and advisory, the next trunk
 *     still refuses what it cannot take, and a slow document server must not cost calls;
 *   - a cached document is revalidated with If-None-Match (a 304 keeps it) when it is
 *     older than its max-age (at most one hour), and when the client has made a new
 *     connection since the last validation or holds none (so the next request opens one).
 *     Calls meanwhile use the cached document: a side must tolerate calls that follow the
 *     previous document for a short time (M25);
 *   - a 404 means the trunk serves no document: the defaults apply.
 * The check: the voice codecs leg A's trunk advertises (what its callers may send) against
 * those the next trunk accepts. None in common: leg A is refused (failed 488) and leg B is
 * not placed (D25: fail locally instead of sending POST /calls). Some in common but not all:
 * the call goes on and the mismatch is logged once per document (M33: the bridge trunk
 * declares a codec it cannot carry). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ripp/h3.h"
#include "ripp/io.h"
#include "rippd.h"

#define WAIT_FOR (2 * RIPP_NS_PER_SEC)     /* a first fetch holds calls this long at most */
#define RETRY_AFTER (10 * RIPP_NS_PER_SEC) /* after a failed fetch, calls go unchecked */
#define MAX_AGE (3600 * RIPP_NS_PER_SEC)   /* revalidate at least hourly (D13) */
#define MAX_ENTRIES 256
#define MAX_DOC (64 * 1024)

typedef struct entry entry;

struct rippd_nextcaps_wait {
    rippd_nextcaps_wait *next;
    entry *e;
    rippd_nextcaps_fn fn;
    void *ud;
    ripp_caps offer; /* what leg A's trunk advertises */
    char call_id[40];
};

/* One GET {trunk}/capAdv in flight. It outlives its entry when the cache is freed first. */
typedef struct fetch {
    entry *e; /* NULL once orphaned */
    ripp_xchg *x;
    uv_timer_t timer;
    bool timer_on, done;
    int status;
    char etag[128];
    int64_t max_age_s; /* -1: none given */
    size_t len;
    bool overflow;
    char body[MAX_DOC + 1];
} fetch;

struct entry {
    entry *next;
    char url[600];
    ripp_http_client *http;
    bool have; /* a document (or the defaults, after a 404) */
    ripp_caps caps;
    char etag[128];
    ripp_ts validated; /* when the document was last fetched or confirmed (304) */
    ripp_ts fresh_for;
    uint64_t conn_gen; /* the client's connection count at that time */
    ripp_ts failed_at; /* last failed fetch; 0: none */
    bool warned;       /* partial codec mismatch logged for this document */
    ripp_ts used;
    fetch *f; /* in flight */
    rippd_nextcaps_wait *waits;
};

static entry *entries;
static size_t n_entries;

static const enum ripp_codec voice[] = {RIPP_CODEC_PCMU, RIPP_CODEC_PCMA, RIPP_CODEC_OPUS};

/* Connections the client has opened since its creation; 0 when it cannot tell (auto). */
static uint64_t conn_gen(const ripp_http_client *h)
{
    return ripp_h2_client_connection_count(h) + ripp_h3_client_connection_count(h);
}

static size_t conns_open(const ripp_http_client *h)
{
    return ripp_h2_client_open_connections(h) + ripp_h3_client_open_connections(h);
}

/* The voice codecs of offer that next accepts; names of those it does not into miss. */
static int relayable(const ripp_caps *offer, const ripp_caps *next, char *miss, size_t cap,
                     int *n_offered)
{
    int n = 0;
    size_t m = 0;
    *n_offered = 0;
    if (cap) miss[0] = 0;
    for (size_t i = 0; i < sizeof voice / sizeof voice[0]; i++) {
        if (!ripp_caps_accepts(offer, voice[i])) continue;
        (*n_offered)++;
        if (ripp_caps_accepts(next, voice[i])) {
            n++;
        } else if (m < cap) {
            int w = snprintf(miss + m, cap - m, "%s%s", m ? ", " : "", ripp_codec_name(voice[i]));
            if (w > 0) m += (size_t)w;
        }
    }
    return n;
}

/* true: leg A may be bridged with this document */
static bool decide(entry *e, const ripp_caps *offer, const char *call_id)
{
    char miss[128];
    int offered = 0;
    int n = relayable(offer, &e->caps, miss, sizeof miss, &offered);
    if (offered && n == 0) {
        ripp_log(RIPP_LOG_WARN,
                 "call %s: bridge: the next trunk %s accepts none of the voice codecs this trunk "
                 "offers (%s): refused with 488, no call placed there",
                 call_id, e->url, miss);
        return false;
    }
    if (n < offered && !e->warned) {
        e->warned = true;
        ripp_log(RIPP_LOG_WARN,
                 "bridge: the next trunk %s does not accept %s, which the bridge trunk "
                 "advertises: callers that send it will not be heard (declare only what the "
                 "next trunk takes)",
                 e->url, miss);
    }
    return true;
}

static void entry_unlink(entry *e)
{
    for (entry **pp = &entries; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            n_entries--;
            return;
        }
}

static entry *entry_find(const char *url, ripp_http_client *http)
{
    for (entry *e = entries; e; e = e->next)
        if (e->http == http && strcmp(e->url, url) == 0) return e;
    return NULL;
}

static entry *entry_new(const char *url, ripp_http_client *http)
{
    if (n_entries >= MAX_ENTRIES) { /* evict the least recently used idle entry */
        entry *victim = NULL;
        for (entry *e = entries; e; e = e->next)
            if (!e->f && !e->waits && (!victim || e->used < victim->used)) victim = e;
        if (!victim) return NULL;
        entry_unlink(victim);
        free(victim);
    }
    entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    snprintf(e->url, sizeof e->url, "%s", url);
    e->http = http;
    e->next = entries;
    entries = e;
    n_entries++;
    return e;
}

/* Every waiting call goes on: checked against the document when there is one. */
static void release_waits(entry *e, ripp_ts now)
{
    (void)now;
    while (e->waits) {
        rippd_nextcaps_wait *w = e->waits;
        e->waits = w->next;
        bool ok = true;
        if (e->have) {
            ok = decide(e, &w->offer, w->call_id);
        } else {
            ripp_log(RIPP_LOG_WARN,
                     "call %s: bridge: the capabilities of %s are unknown; placing the call "
                     "unchecked",
                     w->call_id, e->url);
        }
        rippd_nextcaps_fn fn = w->fn;
        void *ud = w->ud;
        free(w);
        fn(ud, ok);
    }
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The fetch is over for the cache (answered, failed or late): detach it from its entry. */
static void fetch_finish(fetch *f, bool ok, ripp_ts now)
{
    if (f->done) return;
    f->done = true;
    if (f->timer_on) uv_timer_stop(&f->timer);
    entry *e = f->e;
    if (!e) return;
    e->f = NULL;
    f->e = NULL;
    if (!ok) e->failed_at = now ? now : 1;
    release_waits(e, now);
}

static void on_timeout(uv_timer_t *t)
{
    fetch *f = t->data;
    entry *e = f->e;
    if (e)
        ripp_log(RIPP_LOG_WARN, "bridge: GET %s/capAdv: no answer within %d ms", e->url,
                 (int)(WAIT_FOR / RIPP_NS_PER_MS));
    fetch_finish(f, false, ripp_io_now());
    if (f->x) ripp_xchg_reset(f->x, RIPP_XCHG_CANCEL); /* on_close follows and frees */
}

static void on_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)x;
    fetch *f = ud;
    f->status = status;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(h[i].name, "etag") == 0) {
            snprintf(f->etag, sizeof f->etag, "%s", h[i].value);
        } else if (strcmp(h[i].name, "cache-control") == 0) {
            const char *m = strstr(h[i].value, "max-age=");
            if (m) f->max_age_s = strtoll(m + 8, NULL, 10);
            if (strstr(h[i].value, "no-cache") || strstr(h[i].value, "no-store")) f->max_age_s = 0;
        }
    }
}

static void on_data(ripp_xchg *x, void *ud, const uint8_t *d, size_t len)
{
    (void)x;
    fetch *f = ud;
    if (f->len + len > MAX_DOC) {
        f->overflow = true;
        return;
    }
    memcpy(f->body + f->len, d, len);
    f->len += len;
}

static void on_end(ripp_xchg *x, void *ud)
{
    (void)x;
    (void)ud;
}

static void on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    (void)x;
    (void)code;
    fetch *f = ud;
    f->x = NULL;
    entry *e = f->e;
    ripp_ts now = ripp_io_now();
    if (e && !f->done) {
        bool ok = false;
        if (error == 0 && (f->status == 200 || f->status == 404) && !f->overflow) {
            ripp_caps c;
            int warnings = 0;
            if (f->status == 404 || ripp_caps_parse(&c, f->body, f->len, &warnings) == 0) {
                if (f->status == 404) ripp_caps_init_default(&c);
                e->caps = c;
                e->have = true;
                e->warned = false;
                snprintf(e->etag, sizeof e->etag, "%s", f->status == 200 ? f->etag : "");
                ok = true;
            }
        } else if (error == 0 && f->status == 304 && e->have) {
            ok = true;
        }
        if (ok) {
            e->validated = now;
            e->fresh_for = f->max_age_s >= 0 && (ripp_ts)f->max_age_s * RIPP_NS_PER_SEC < MAX_AGE
                               ? (ripp_ts)f->max_age_s * RIPP_NS_PER_SEC
                               : MAX_AGE;
            e->conn_gen = conn_gen(e->http);
            e->failed_at = 0;
        }
        ripp_log(ok ? RIPP_LOG_INFO : RIPP_LOG_WARN, "bridge: GET %s/capAdv -> %d%s%s", e->url,
                 error ? 0 : f->status,
                 error              ? " (no answer)"
                 : f->status == 304 ? " not modified, cached document kept"
                                    : "",
                 ok || error ? "" : "; calls go unchecked");
        fetch_finish(f, ok, now);
    }
    if (f->timer_on) {
        uv_close((uv_handle_t *)&f->timer, timer_closed);
    } else {
        free(f);
    }
}

static const ripp_xchg_cbs fetch_cbs = {
    .on_response = on_response, .on_data = on_data, .on_end = on_end, .on_close = on_close};

static int fetch_start(entry *e, const char *token, ripp_ts now)
{
    fetch *f = calloc(1, sizeof *f);
    if (!f) return RIPP_ERR_NOMEM;
    f->e = e;
    f->max_age_s = -1;
    char url[700], auth[320];
    snprintf(url, sizeof url, "%s/capAdv", e->url);
    snprintf(auth, sizeof auth, "Bearer %s", token ? token : "");
    ripp_hdr h[3] = {{"authorization", auth}, {"accept", "application/json"}};
    size_t n = 2;
    if (e->have && e->etag[0]) h[n++] = (ripp_hdr){"if-none-match", e->etag};
    int err = 0;
    e->f = f;
    f->x = ripp_http_client_request(e->http, "GET", url, h, n, true, &fetch_cbs, f, &err);
    if (!f->x) {
        e->f = NULL;
        e->failed_at = now ? now : 1;
        free(f);
        ripp_log(RIPP_LOG_WARN, "bridge: GET %s/capAdv: %s", e->url, ripp_strerror(err));
        return err ? err : RIPP_ERR_IO;
    }
    if (uv_timer_init(uv_default_loop(), &f->timer) == 0) {
        f->timer.data = f;
        f->timer_on = true;
        uv_timer_start(&f->timer, on_timeout, WAIT_FOR / RIPP_NS_PER_MS, 0);
    }
    return 0;
}

/* What leg A's trunk advertises: the voice codecs its callers may send. */
static void offer_of(ripp_ep_call *a, ripp_caps *offer)
{
    ripp_caps_init_default(offer);
    ripp_store *st = ripp_ep_store(ripp_ep_call_ep(a));
    ripp_trunk_rec t;
    if (st && st->ops->trunk_get &&
        st->ops->trunk_get(st->impl, ripp_ep_call_cdr(a)->trunk_id, &t) == 0 && t.caps_json[0])
        ripp_caps_parse(offer, t.caps_json, strlen(t.caps_json), NULL);
}

int rippd_nextcaps_gate(ripp_http_client *http, ripp_ep_call *a, const char *trunk_url,
                        const char *token, rippd_nextcaps_fn fn, void *ud,
                        rippd_nextcaps_wait **wait, ripp_ts now)
{
    *wait = NULL;
    entry *e = entry_find(trunk_url, http);
    if (!e && !(e = entry_new(trunk_url, http))) return RIPPD_NEXTCAPS_OK; /* no room: unchecked */
    e->used = now;
    ripp_caps offer;
    offer_of(a, &offer);
    if (e->have) {
        /* revalidate in the background: stale, or a new connection (D13) */
        uint64_t gen = conn_gen(http);
        bool new_conn = gen && (gen != e->conn_gen || conns_open(http) == 0);
        bool resting = e->failed_at && now - e->failed_at < RETRY_AFTER; /* it just failed */
        if (!e->f && !resting && (now - e->validated >= e->fresh_for || new_conn))
            fetch_start(e, token, now);
        return decide(e, &offer, ripp_ep_call_id(a)) ? RIPPD_NEXTCAPS_OK : RIPPD_NEXTCAPS_REFUSE;
    }
    if (!e->f && e->failed_at && now - e->failed_at < RETRY_AFTER) return RIPPD_NEXTCAPS_OK;
    if (!e->f && fetch_start(e, token, now) < 0) return RIPPD_NEXTCAPS_OK;
    rippd_nextcaps_wait *w = calloc(1, sizeof *w);
    if (!w) return RIPPD_NEXTCAPS_OK;
    w->e = e;
    w->fn = fn;
    w->ud = ud;
    w->offer = offer;
    snprintf(w->call_id, sizeof w->call_id, "%s", ripp_ep_call_id(a));
    w->next = e->waits;
    e->waits = w;
    *wait = w;
    return RIPPD_NEXTCAPS_WAIT;
}

void rippd_nextcaps_cancel(rippd_nextcaps_wait *w)
{
    if (!w) return;
    for (rippd_nextcaps_wait **pp = &w->e->waits; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
}

void rippd_nextcaps_free(void)
{
    while (entries) {
        entry *e = entries;
        entries = e->next;
        while (e->waits) {
            rippd_nextcaps_wait *w = e->waits;
            e->waits = w->next;
            free(w);
        }
        if (e->f) { /* its exchange closes with the client; then the fetch is freed */
            e->f->done = true;
            e->f->e = NULL;
            if (e->f->timer_on) uv_timer_stop(&e->f->timer);
        }
        free(e);
    }
    n_entries = 0;
}
