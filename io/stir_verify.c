/* The STIR verification service (SPEC §6.4): asynchronous PASSporT verification with an x5u
 * certificate cache, shared in-flight fetches, a per-host circuit breaker and trust-anchor
 * validation.
 *
 * Cheap checks (form, ppt, x5u scheme, iat, dest) run before any fetch, so that stale or
 * misdirected PASSporTs never make the verifier fetch anything. Verdicts are always handed
 * over from a zero-delay timer: done never runs inside ripp_stir_verify. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>

#include "ripp/io.h"
#include "stir_internal.h"

#define HOSTS_MAX 256

typedef struct reqlist {
    ripp_stir_req *head, *tail;
} reqlist;

struct ripp_stir_req {
    ripp_stir_verifier *v;
    ripp_stir_req *prev, *next;
    reqlist *list;
    ripp_stir_done_fn done;
    void *ud;
    char identity[RIPP_IDENTITY_MAX + 1];
    size_t len;
    char target[64];
    ripp_stir_result res;
};

typedef struct entry {
    struct entry *prev, *next; /* LRU: most recently used first */
    struct entry *hnext;       /* hash chain */
    char *url;
    ripp_stir_cert cert;
    ripp_ts expires;
    bool pinned;
} entry;

typedef struct host {
    char name[256];
    unsigned failures;
    bool open;    /* open, or half-open once open_until has passed */
    bool probing; /* half-open: the one probe is out */
    ripp_ts open_until;
    ripp_ts last_used;
} host;

typedef struct fetch {
    ripp_stir_verifier *v; /* NULL once the verifier is gone */
    struct fetch *prev, *next;
    char *url;
    char host[256];
    ripp_xchg *x;
    uv_timer_t timer;
    uint8_t *body;
    size_t blen;
    int status;
    uint32_t ttl;
    bool resolved, ended, closing;
    reqlist waiters;
} fetch;

struct ripp_stir_verifier {
    uv_loop_t *loop;
    ripp_http_client *http;
    ripp_stir_config cfg;
    gnutls_x509_trust_list_t tl;
    uv_timer_t kick;
    bool dead;
    reqlist ready;
    entry *lru_head, *lru_tail;
    entry **buckets;
    size_t nbuckets, n_entries;
    fetch *fetches;
    host hosts[HOSTS_MAX];
    size_t n_hosts;
    ripp_stir_stats st;
};

/* ---- small helpers ---- */

static ripp_ts mono(const ripp_stir_verifier *v)
{
    return v->cfg.mono_ns ? v->cfg.mono_ns(v->cfg.clock_ud) : ripp_io_now();
}

static int64_t wall_s(const ripp_stir_verifier *v)
{
    uint64_t us = v->cfg.wall_us ? v->cfg.wall_us(v->cfg.clock_ud) : ripp_io_wall_us();
    return (int64_t)(us / 1000000);
}

static void list_push(reqlist *l, ripp_stir_req *r)
{
    r->list = l;
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
}

static void list_unlink(ripp_stir_req *r)
{
    reqlist *l = r->list;
    if (!l) return;
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    r->list = NULL;
}

static void free_list(reqlist *l)
{
    ripp_stir_req *r;
    while ((r = l->head)) {
        list_unlink(r);
        free(r);
    }
}

static void on_kick(uv_timer_t *t);

/* The verdict is decided: hand it over from the loop. */
__attribute__((format(printf, 3, 4))) static void conclude(ripp_stir_req *r, int code,
                                                           const char *fmt, ...)
{
    ripp_stir_verifier *v = r->v;
    r->res.ok = code == 0;
    r->res.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->res.reason, sizeof r->res.reason, fmt, ap);
    va_end(ap);
    list_unlink(r);
    list_push(&v->ready, r);
    if (!uv_is_active((uv_handle_t *)&v->kick)) uv_timer_start(&v->kick, on_kick, 0, 0);
}

static void on_kick(uv_timer_t *t)
{
    ripp_stir_verifier *v = t->data;
    ripp_stir_req *r;
    while (!v->dead && (r = v->ready.head)) {
        list_unlink(r);
        r->done(r->ud, &r->res);
        free(r);
    }
}

/* "https://host[:port]/..." → "host[:port]", lower case. */
static bool url_host(const char *url, char *out, size_t cap)
{
    if (strncasecmp(url, "https://", 8)) return false;
    const char *h = url + 8;
    size_t n = strcspn(h, "/?#");
    if (!n || n >= cap || memchr(h, '@', n)) return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]);
    out[n] = '\0';
    return true;
}

static const char *strip_plus(const char *s)
{
    return s[0] == '+' ? s + 1 : s;
}

uint32_t ripp_stir_cache_ttl(const char *value, uint32_t def_s, uint32_t min_s, uint32_t max_s)
{
    uint64_t ttl = def_s;
    if (value) {
        const char *p = value;
        while (*p) {
            size_t seg = strcspn(p, ","), n = seg;
            const char *d = p;
            while (n && (*d == ' ' || *d == '\t')) {
                d++;
                n--;
            }
            if ((n == 8 && !strncasecmp(d, "no-store", 8)) ||
                (n == 8 && !strncasecmp(d, "no-cache", 8))) {
                ttl = 0;
                break;
            }
            if (n > 8 && !strncasecmp(d, "max-age=", 8)) {
                const char *q = d + 8;
                size_t qn = n - 8;
                if (qn && *q == '"') {
                    q++;
                    qn--;
                }
                uint64_t val = 0;
                size_t i = 0;
                for (; i < qn && q[i] >= '0' && q[i] <= '9'; i++)
                    if (val < UINT32_MAX) val = val * 10 + (uint64_t)(q[i] - '0');
                if (i > 0) ttl = val;
            }
            p += seg;
            if (*p == ',') p++;
        }
    }
    if (ttl < min_s) ttl = min_s;
    if (ttl > max_s) ttl = max_s;
    return (uint32_t)ttl;
}

/* ---- the certificate cache ---- */

static size_t hash(const char *s, size_t nb)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h & (nb - 1));
}

static void lru_unlink(ripp_stir_verifier *v, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        v->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        v->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(ripp_stir_verifier *v, entry *e)
{
    e->next = v->lru_head;
    e->prev = NULL;
    if (v->lru_head) v->lru_head->prev = e;
    v->lru_head = e;
    if (!v->lru_tail) v->lru_tail = e;
}

static void entry_remove(ripp_stir_verifier *v, entry *e)
{
    entry **pp = &v->buckets[hash(e->url, v->nbuckets)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    lru_unlink(v, e);
    ripp_stir_cert_free(&e->cert);
    free(e->url);
    free(e);
    v->n_entries--;
}

static entry *cache_get(ripp_stir_verifier *v, const char *url, ripp_ts now)
{
    entry *e = v->buckets[hash(url, v->nbuckets)];
    while (e && strcmp(e->url, url))
        e = e->hnext;
    if (!e) return NULL;
    if (!e->pinned && now >= e->expires) {
        entry_remove(v, e);
        return NULL;
    }
    lru_unlink(v, e);
    lru_front(v, e);
    return e;
}

/* Takes c over (on success and failure alike). */
static entry *cache_insert(ripp_stir_verifier *v, const char *url, ripp_stir_cert *c,
                           ripp_ts expires, bool pinned)
{
    entry *old = v->buckets[hash(url, v->nbuckets)];
    while (old && strcmp(old->url, url))
        old = old->hnext;
    if (old) entry_remove(v, old);
    while (v->n_entries >= v->cfg.cache_entries) {
        entry *victim = v->lru_tail;
        while (victim && victim->pinned)
            victim = victim->prev;
        if (!victim) break;
        entry_remove(v, victim);
    }
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->url = strdup(url))) {
        free(e);
        ripp_stir_cert_free(c);
        return NULL;
    }
    e->cert = *c;
    e->expires = expires;
    e->pinned = pinned;
    size_t b = hash(url, v->nbuckets);
    e->hnext = v->buckets[b];
    v->buckets[b] = e;
    lru_front(v, e);
    v->n_entries++;
    return e;
}

/* ---- the per-host circuit breaker ---- */

static host *host_get(ripp_stir_verifier *v, const char *name, ripp_ts now)
{
    host *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < v->n_hosts; i++) {
        host *h = &v->hosts[i];
        if (!strcmp(h->name, name)) {
            h->last_used = now;
            return h;
        }
        if (!h->open && !h->failures && !free_slot) free_slot = h;
        if (!oldest || h->last_used < oldest->last_used) oldest = h;
    }
    host *h = v->n_hosts < HOSTS_MAX ? &v->hosts[v->n_hosts++] : free_slot ? free_slot : oldest;
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    h->last_used = now;
    return h;
}

static bool host_allow(ripp_stir_verifier *v, const char *name, ripp_ts now)
{
    host *h = host_get(v, name, now);
    if (!h->open) return true;
    if (now < h->open_until || h->probing) {
        v->st.breaker_fast_fails++;
        return false;
    }
    h->probing = true; /* half-open: this fetch is the probe */
    return true;
}

static void host_report(ripp_stir_verifier *v, const char *name, bool ok, ripp_ts now)
{
    host *h = host_get(v, name, now);
    if (ok) {
        h->failures = 0;
        h->open = h->probing = false;
        return;
    }
    if (h->failures < UINT32_MAX) h->failures++;
    if (h->open || h->failures >= v->cfg.breaker_failures) {
        h->open = true;
        h->probing = false;
        h->open_until = now + v->cfg.breaker_cooldown;
        v->st.breaker_opens++;
    }
}

/* ---- verdicts ---- */

static int check_sig(void *ud, const uint8_t *data, size_t len, const uint8_t *sig, size_t n)
{
    return ripp_stir_es256_check(ud, data, len, sig, n);
}

static void finish(ripp_stir_req *r, const entry *e)
{
    const ripp_stir_cert *c = &e->cert;
    if (c->code) {
        conclude(r, c->code, "%s", c->why);
        return;
    }
    int64_t now = wall_s(r->v);
    if (now < c->not_before) {
        conclude(r, RIPP_PASSPORT_UNSUPPORTED, "certificate not yet valid");
        return;
    }
    if (now > c->not_after) {
        conclude(r, RIPP_PASSPORT_UNSUPPORTED, "certificate expired");
        return;
    }
    if (!c->has_tn) {
        conclude(r, RIPP_PASSPORT_UNSUPPORTED, "certificate has no TNAuthList");
        return;
    }
    enum ripp_tnauth_cover cover = ripp_tnauth_covers(&c->tn, r->res.orig_tn);
    if (cover == RIPP_TNAUTH_NOT_COVERED) {
        conclude(r, RIPP_PASSPORT_INVALID, "TNAuthList does not cover orig.tn");
        return;
    }
    enum ripp_passport_fail fail = RIPP_PASSPORT_OK;
    char why[128];
    if (ripp_passport_verify(r->identity, r->len, check_sig, c->pub, NULL, &fail, why,
                             sizeof why)) {
        conclude(r, fail ? (int)fail : RIPP_PASSPORT_INVALID, "%s", why);
        return;
    }
    r->res.tn_checked = cover == RIPP_TNAUTH_COVERED;
    for (size_t i = 0; i < c->tn.n; i++)
        if (c->tn.e[i].kind == RIPP_TNAUTH_SPC) {
            memcpy(r->res.spc, c->tn.e[i].value, sizeof r->res.spc);
            break;
        }
    conclude(r, 0, "%s", r->res.tn_checked ? "verified" : "verified (SPC-only certificate)");
}

/* ---- fetching ---- */

static void fetch_closed(uv_handle_t *h)
{
    fetch *f = h->data;
    free(f->body);
    free(f->url);
    free(f);
}

static void fetch_release(fetch *f)
{
    if (f->resolved && !f->x && !f->closing) {
        f->closing = true;
        uv_close((uv_handle_t *)&f->timer, fetch_closed);
    }
}

static void fetch_unlink(ripp_stir_verifier *v, fetch *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else if (v->fetches == f)
        v->fetches = f->next;
    if (f->next) f->next->prev = f->prev;
    f->prev = f->next = NULL;
    v->st.inflight--;
}

/* ok: the body is in f. Otherwise why says what went wrong; every waiter gets 436. */
__attribute__((format(printf, 3, 4))) static void fetch_resolve(fetch *f, bool ok, const char *fmt,
                                                                ...)
{
    if (f->resolved) return;
    f->resolved = true;
    uv_timer_stop(&f->timer);
    ripp_stir_verifier *v = f->v;
    char why[160] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
    }
    ripp_ts now = mono(v);
    fetch_unlink(v, f);
    entry *e = NULL;
    if (ok) {
        ripp_stir_cert c;
        int rc = ripp_stir_cert_load(&c, f->body, f->blen, v->tl);
        if (rc) {
            ok = false;
            snprintf(why, sizeof why, "%s", rc == RIPP_ERR_NOMEM ? "out of memory" : c.why);
            ripp_stir_cert_free(&c);
        } else {
            e = cache_insert(v, f->url, &c, now + (ripp_ts)f->ttl * RIPP_NS_PER_SEC, false);
            if (!e) {
                ok = false;
                snprintf(why, sizeof why, "out of memory");
            }
        }
    }
    if (!ok) v->st.fetch_failures++;
    host_report(v, f->host, ok, now);
    ripp_stir_req *r;
    while ((r = f->waiters.head)) {
        if (e)
            finish(r, e);
        else
            conclude(r, RIPP_PASSPORT_BAD_INFO, "%s", why);
    }
    if (f->x && !f->ended) ripp_xchg_reset(f->x, RIPP_XCHG_CANCEL);
    fetch_release(f);
}

static void f_on_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)x;
    fetch *f = ud;
    f->status = status;
    if (status != 200) {
        fetch_resolve(f, false, "x5u answered HTTP %d", status);
        return;
    }
    const char *cc = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h[i].name, "cache-control")) cc = h[i].value;
    const ripp_stir_config *cfg = &f->v->cfg;
    f->ttl = ripp_stir_cache_ttl(cc, cfg->cache_ttl_s, cfg->cache_min_ttl_s, cfg->cache_max_ttl_s);
}

static void f_on_data(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    (void)x;
    fetch *f = ud;
    if (f->resolved || f->status != 200) return;
    size_t cap = f->v->cfg.max_body;
    if (len > cap - f->blen) {
        fetch_resolve(f, false, "x5u resource larger than %zu bytes", cap);
        return;
    }
    if (!f->body && !(f->body = malloc(cap))) {
        fetch_resolve(f, false, "out of memory");
        return;
    }
    memcpy(f->body + f->blen, data, len);
    f->blen += len;
}

static void f_on_end(ripp_xchg *x, void *ud)
{
    (void)x;
    fetch *f = ud;
    f->ended = true;
    if (f->status == 200) fetch_resolve(f, true, NULL);
}

static void f_on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    (void)x;
    fetch *f = ud;
    f->x = NULL;
    fetch_resolve(f, false, "x5u fetch failed: %s", error ? ripp_strerror(error) : "no response");
    (void)code;
    fetch_release(f);
}

static const ripp_xchg_cbs fetch_cbs = {f_on_response, f_on_data, f_on_end, f_on_close};

static void f_on_timeout(uv_timer_t *t)
{
    fetch *f = t->data;
    fetch_resolve(f, false, "x5u fetch timed out after %llu ms",
                  (unsigned long long)(f->v->cfg.fetch_timeout / RIPP_NS_PER_MS));
}

/* Starts a fetch of url with r as its first waiter; false when it cannot start. */
static bool fetch_start(ripp_stir_verifier *v, ripp_stir_req *r, const char *url,
                        const char *hostname)
{
    fetch *f = calloc(1, sizeof *f);
    if (!f || !(f->url = strdup(url))) {
        free(f);
        return false;
    }
    f->v = v;
    snprintf(f->host, sizeof f->host, "%s", hostname);
    uv_timer_init(v->loop, &f->timer);
    f->timer.data = f;
    static const ripp_hdr hdrs[] = {
        {"accept", "application/pem-certificate-chain, application/x-pem-file, */*"}};
    int err = 0;
    f->x = ripp_http_client_request(v->http, "GET", url, hdrs, 1, true, &fetch_cbs, f, &err);
    if (!f->x) {
        f->resolved = true;
        fetch_release(f);
        return false;
    }
    f->next = v->fetches;
    if (v->fetches) v->fetches->prev = f;
    v->fetches = f;
    v->st.inflight++;
    v->st.fetches++;
    uint64_t ms = v->cfg.fetch_timeout / RIPP_NS_PER_MS;
    uv_timer_start(&f->timer, f_on_timeout, ms ? ms : 1, 0);
    list_push(&f->waiters, r);
    return true;
}

/* ---- the API ---- */

static void begin(ripp_stir_verifier *v, ripp_stir_req *r)
{
    ripp_stir_result *res = &r->res;
    if (!r->len) {
        conclude(r, RIPP_PASSPORT_MISSING, "no Identity value");
        return;
    }
    ripp_passport pp;
    enum ripp_passport_fail fail = RIPP_PASSPORT_OK;
    char why[128];
    if (ripp_passport_parse(r->identity, r->len, &pp, &fail, why, sizeof why)) {
        conclude(r, fail ? (int)fail : RIPP_PASSPORT_INVALID, "%s", why);
        return;
    }
    memcpy(res->orig_tn, pp.orig_tn, sizeof res->orig_tn);
    memcpy(res->dest_tn, pp.dest_tn, sizeof res->dest_tn);
    memcpy(res->attest, pp.attest, sizeof res->attest);
    memcpy(res->origid, pp.origid, sizeof res->origid);
    memcpy(res->x5u, pp.x5u, sizeof res->x5u);
    res->iat = pp.iat;
    if (strcmp(pp.ppt, "shaken")) {
        conclude(r, RIPP_PASSPORT_UNSUPPORTED, "ppt is not shaken");
        return;
    }
    if (!pp.attest[0] || !pp.origid[0]) {
        conclude(r, RIPP_PASSPORT_INVALID, "SHAKEN PASSporT without attest or origid");
        return;
    }
    char hostname[256];
    if (!url_host(pp.x5u, hostname, sizeof hostname)) {
        conclude(r, RIPP_PASSPORT_BAD_INFO, "x5u is not an https URL");
        return;
    }
    int64_t now = wall_s(v);
    if (pp.iat < now - v->cfg.iat_window_s) {
        conclude(r, RIPP_PASSPORT_INVALID, "iat is %lld s old", (long long)(now - pp.iat));
        return;
    }
    if (pp.iat > now + v->cfg.iat_window_s) {
        conclude(r, RIPP_PASSPORT_INVALID, "iat is %lld s ahead", (long long)(pp.iat - now));
        return;
    }
    if (strcmp(strip_plus(pp.dest_tn), strip_plus(r->target))) {
        conclude(r, RIPP_PASSPORT_INVALID, "dest.tn is not the target");
        return;
    }
    ripp_ts mnow = mono(v);
    entry *e = cache_get(v, pp.x5u, mnow);
    if (e) {
        v->st.cache_hits++;
        finish(r, e);
        return;
    }
    for (fetch *f = v->fetches; f; f = f->next)
        if (!strcmp(f->url, pp.x5u)) {
            v->st.shared++;
            list_push(&f->waiters, r);
            return;
        }
    if (!v->http) {
        conclude(r, RIPP_PASSPORT_BAD_INFO, "x5u certificate unknown and fetching disabled");
        return;
    }
    if (!host_allow(v, hostname, mnow)) {
        conclude(r, RIPP_PASSPORT_BAD_INFO, "x5u host failing: circuit open");
        return;
    }
    if (!fetch_start(v, r, pp.x5u, hostname)) {
        v->st.fetch_failures++;
        host_report(v, hostname, false, mnow);
        conclude(r, RIPP_PASSPORT_BAD_INFO, "x5u fetch could not start");
    }
}

int ripp_stir_verify(ripp_stir_verifier *v, const char *identity, size_t len, const char *target_tn,
                     ripp_stir_done_fn done, void *ud, ripp_stir_req **req)
{
    if (req) *req = NULL;
    if (!v || v->dead || !done || !target_tn || (!identity && len)) return RIPP_ERR_INVAL;
    ripp_stir_req *r = calloc(1, sizeof *r);
    if (!r) return RIPP_ERR_NOMEM;
    r->v = v;
    r->done = done;
    r->ud = ud;
    snprintf(r->target, sizeof r->target, "%s", target_tn);
    v->st.verifications++;
    if (req) *req = r;
    if (len > RIPP_IDENTITY_MAX) {
        conclude(r, RIPP_PASSPORT_INVALID, "Identity value too long");
        return 0;
    }
    if (len) memcpy(r->identity, identity, len);
    r->len = len;
    begin(v, r);
    return 0;
}

void ripp_stir_cancel(ripp_stir_req *req)
{
    if (!req) return;
    list_unlink(req);
    free(req);
}

int ripp_stir_cache_put(ripp_stir_verifier *v, const char *x5u, const uint8_t *data, size_t len)
{
    if (!v || !x5u || !data || !len) return RIPP_ERR_INVAL;
    ripp_stir_cert c;
    int rc = ripp_stir_cert_load(&c, data, len, v->tl);
    if (rc) {
        ripp_stir_cert_free(&c);
        return rc;
    }
    return cache_insert(v, x5u, &c, RIPP_TS_NEVER, true) ? 0 : RIPP_ERR_NOMEM;
}

void ripp_stir_verifier_stats(const ripp_stir_verifier *v, ripp_stir_stats *out)
{
    if (!v || !out) return;
    *out = v->st;
    out->cached = v->n_entries;
}

static void kick_closed(uv_handle_t *h)
{
    free(h->data);
}

ripp_stir_verifier *ripp_stir_verifier_new(uv_loop_t *loop, ripp_http_client *http,
                                           const ripp_stir_config *cfg, int *err, char *errbuf,
                                           size_t errcap)
{
    int rc = RIPP_ERR_INVAL;
    ripp_stir_verifier *v = NULL;
    if (errbuf && errcap) errbuf[0] = '\0';
    if (!loop || !cfg || !cfg->ca_file) {
        if (errbuf && errcap) snprintf(errbuf, errcap, "a loop and a CA file are required");
        goto fail;
    }
    if (!(v = calloc(1, sizeof *v))) {
        rc = RIPP_ERR_NOMEM;
        goto fail;
    }
    v->loop = loop;
    v->http = http;
    v->cfg = *cfg;
    v->cfg.ca_file = NULL; /* not kept: the anchors are loaded now */
    ripp_stir_config *c = &v->cfg;
    if (!c->fetch_timeout) c->fetch_timeout = 2 * RIPP_NS_PER_SEC;
    if (!c->max_body) c->max_body = 64 * 1024;
    if (!c->cache_entries) c->cache_entries = 1024;
    if (!c->cache_min_ttl_s) c->cache_min_ttl_s = 60;
    if (!c->cache_max_ttl_s) c->cache_max_ttl_s = 86400;
    if (!c->cache_ttl_s) c->cache_ttl_s = 3600;
    if (c->cache_max_ttl_s < c->cache_min_ttl_s) c->cache_max_ttl_s = c->cache_min_ttl_s;
    if (!c->breaker_failures) c->breaker_failures = 3;
    if (!c->breaker_cooldown) c->breaker_cooldown = 30 * RIPP_NS_PER_SEC;
    if (!c->iat_window_s) c->iat_window_s = 60;
    v->nbuckets = 16;
    while (v->nbuckets < 2 * c->cache_entries && v->nbuckets < (1u << 20))
        v->nbuckets <<= 1;
    if (!(v->buckets = calloc(v->nbuckets, sizeof *v->buckets))) {
        rc = RIPP_ERR_NOMEM;
        goto fail;
    }
    int g = gnutls_x509_trust_list_init(&v->tl, 0);
    if (g >= 0)
        g = gnutls_x509_trust_list_add_trust_file(v->tl, cfg->ca_file, NULL, GNUTLS_X509_FMT_PEM, 0,
                                                  0);
    if (g <= 0) {
        if (errbuf && errcap)
            snprintf(errbuf, errcap, "%s: %s", cfg->ca_file,
                     g < 0 ? gnutls_strerror(g) : "no certificate");
        rc = g == GNUTLS_E_FILE_ERROR ? RIPP_ERR_IO : RIPP_ERR_CRYPTO;
        goto fail;
    }
    uv_timer_init(loop, &v->kick);
    v->kick.data = v;
    if (err) *err = 0;
    return v;
fail:
    if (v) {
        if (v->tl) gnutls_x509_trust_list_deinit(v->tl, 1);
        free(v->buckets);
        free(v);
    }
    if (err) *err = rc;
    return NULL;
}

void ripp_stir_verifier_del(ripp_stir_verifier *v)
{
    if (!v || v->dead) return;
    v->dead = true;
    fetch *f;
    while ((f = v->fetches)) {
        fetch_unlink(v, f);
        f->v = NULL;
        free_list(&f->waiters);
        if (f->x) {
            ripp_xchg_set_handler(f->x, NULL, NULL);
            ripp_xchg_reset(f->x, RIPP_XCHG_CANCEL);
            f->x = NULL;
        }
        f->resolved = true;
        uv_timer_stop(&f->timer);
        fetch_release(f);
    }
    free_list(&v->ready);
    while (v->lru_head)
        entry_remove(v, v->lru_head);
    free(v->buckets);
    v->buckets = NULL;
    gnutls_x509_trust_list_deinit(v->tl, 1);
    v->tl = NULL;
    uv_close((uv_handle_t *)&v->kick, kick_closed);
}
