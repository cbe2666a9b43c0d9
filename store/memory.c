/* In-memory store for tests: one open-addressing hash table (linear probing, backward-shift
 * deletion) per record kind. Records are copied in and out. */
#include <stdlib.h>

#include "store_int.h"

typedef struct mslot {
    void *rec;    /* NULL: empty */
    uint64_t seq; /* order of the last put */
} mslot;

typedef struct mtab {
    mslot *slots;
    size_t cap; /* power of two */
    size_t n;
    size_t rec_size;
    size_t key_off; /* the key is a NUL-terminated string inside the record */
} mtab;

typedef struct mstore {
    mtab trunks, tokens, calls, cdrs, consumers, provs;
    uint64_t seq;
} mstore;

static uint64_t mtab_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static const char *mtab_key(const mtab *t, const void *rec)
{
    return (const char *)rec + t->key_off;
}

static mslot *mtab_find(const mtab *t, const char *key)
{
    if (!t->cap) return NULL;
    size_t i = (size_t)mtab_hash(key) & (t->cap - 1);
    while (t->slots[i].rec) {
        if (!strcmp(mtab_key(t, t->slots[i].rec), key)) return &t->slots[i];
        i = (i + 1) & (t->cap - 1);
    }
    return NULL;
}

static int mtab_grow(mtab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    mslot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return RIPP_ERR_NOMEM;
    for (size_t k = 0; k < t->cap; k++) {
        if (!t->slots[k].rec) continue;
        size_t i = (size_t)mtab_hash(mtab_key(t, t->slots[k].rec)) & (ncap - 1);
        while (ns[i].rec)
            i = (i + 1) & (ncap - 1);
        ns[i] = t->slots[k];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

/* Insert or replace a copy of rec; the table stays consistent on failure. */
static int mtab_put(mtab *t, const void *rec, uint64_t seq)
{
    const char *key = mtab_key(t, rec);
    mslot *sl = mtab_find(t, key);
    if (sl) {
        memcpy(sl->rec, rec, t->rec_size);
        sl->seq = seq;
        return 0;
    }
    if ((t->n + 1) * 4 > t->cap * 3) {
        int rc = mtab_grow(t);
        if (rc) return rc;
    }
    void *copy = malloc(t->rec_size);
    if (!copy) return RIPP_ERR_NOMEM;
    memcpy(copy, rec, t->rec_size);
    size_t i = (size_t)mtab_hash(key) & (t->cap - 1);
    while (t->slots[i].rec)
        i = (i + 1) & (t->cap - 1);
    t->slots[i].rec = copy;
    t->slots[i].seq = seq;
    t->n++;
    return 0;
}

/* Removes the record of key (if any), shifting the rest of its probe run back. */
static bool mtab_del(mtab *t, const char *key)
{
    mslot *sl = mtab_find(t, key);
    if (!sl) return false;
    size_t mask = t->cap - 1, i = (size_t)(sl - t->slots), j = i;
    free(sl->rec);
    sl->rec = NULL;
    t->n--;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->slots[j].rec) break;
        size_t home = (size_t)mtab_hash(mtab_key(t, t->slots[j].rec)) & mask;
        /* j's record may move to the hole at i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        t->slots[i] = t->slots[j];
        t->slots[j].rec = NULL;
        i = j;
    }
    return true;
}

/* A record by key, copied to out: 0, RIPP_ERR_NOTFOUND or RIPP_ERR_INVAL. */
static int mtab_get(const mtab *t, const char *key, size_t keycap, void *out)
{
    int rc = ripp_store_check_key(key, keycap);
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || !out) return RIPP_ERR_INVAL;
    mslot *sl = mtab_find(t, key);
    if (!sl) return RIPP_ERR_NOTFOUND;
    memcpy(out, sl->rec, t->rec_size);
    return 0;
}

static void mtab_free(mtab *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].rec);
    free(t->slots);
    t->slots = NULL;
    t->cap = t->n = 0;
}

static int mem_trunk_put(void *impl, const ripp_trunk_rec *t)
{
    mstore *m = impl;
    int rc = ripp_store_check_trunk(t);
    return rc ? rc : mtab_put(&m->trunks, t, ++m->seq);
}

static int mem_trunk_get(void *impl, const char *id, ripp_trunk_rec *out)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(id, sizeof out->id);
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || !out) return RIPP_ERR_INVAL;
    mslot *sl = mtab_find(&m->trunks, id);
    if (!sl) return RIPP_ERR_NOTFOUND;
    memcpy(out, sl->rec, sizeof *out);
    return 0;
}

static int mem_token_add(void *impl, const char *trunk_id, const char *hash)
{
    mstore *m = impl;
    ripp_token_rec r;
    int rc = ripp_store_check_key(hash, sizeof r.hash);
    if (!rc) rc = ripp_store_check_key(trunk_id, sizeof r.trunk_id);
    if (rc) return rc;
    memset(&r, 0, sizeof r);
    strcpy(r.hash, hash);
    strcpy(r.trunk_id, trunk_id);
    return mtab_put(&m->tokens, &r, ++m->seq);
}

static int mem_token_lookup(void *impl, const char *hash, int64_t now_ms, char *trunk_id,
                            size_t cap)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(hash, sizeof(((ripp_token_rec *)0)->hash));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || !trunk_id || !cap) return RIPP_ERR_INVAL;
    mslot *sl = mtab_find(&m->tokens, hash);
    if (!sl) return RIPP_ERR_NOTFOUND;
    const ripp_token_rec *r = sl->rec;
    if ((r->kind != RIPP_TOKEN_STATIC && r->kind != RIPP_TOKEN_ACCESS) ||
        r->state != RIPP_TOKEN_LIVE || (r->expires_ms && now_ms >= r->expires_ms))
        return RIPP_ERR_NOTFOUND;
    ripp_store_copy(trunk_id, cap, r->trunk_id, strlen(r->trunk_id));
    return 0;
}

static int mem_token_put(void *impl, const ripp_token_rec *t)
{
    mstore *m = impl;
    int rc = ripp_store_check_token(t);
    return rc ? rc : mtab_put(&m->tokens, t, ++m->seq);
}

static int mem_token_get(void *impl, const char *hash, ripp_token_rec *out)
{
    mstore *m = impl;
    return mtab_get(&m->tokens, hash, sizeof out->hash, out);
}

static int mem_token_set_state(void *impl, const char *hash, int from, int to)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(hash, sizeof(((ripp_token_rec *)0)->hash));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || to < RIPP_TOKEN_LIVE || to > RIPP_TOKEN_REVOKED) return RIPP_ERR_INVAL;
    mslot *sl = mtab_find(&m->tokens, hash);
    if (!sl) return RIPP_ERR_NOTFOUND;
    ripp_token_rec *r = sl->rec;
    if (r->state != from) return RIPP_ERR_STATE;
    r->state = to;
    return 0;
}

static int mem_token_revoke_family(void *impl, const char *family)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(family, sizeof(((ripp_token_rec *)0)->family));
    if (rc == RIPP_ERR_LIMIT) return 0;
    if (rc) return RIPP_ERR_INVAL;
    int n = 0;
    for (size_t i = 0; i < m->tokens.cap; i++) {
        ripp_token_rec *r = m->tokens.slots[i].rec;
        if (r && r->state != RIPP_TOKEN_REVOKED && strcmp(r->family, family) == 0) {
            r->state = RIPP_TOKEN_REVOKED;
            n++;
        }
    }
    return n;
}

static int mem_trunk_del(void *impl, const char *id)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(id, sizeof(((ripp_trunk_rec *)0)->id));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc) return rc;
    /* deleting shifts records back, so rescan a slot after a deletion */
    for (size_t i = 0; i < m->tokens.cap;) {
        ripp_token_rec *r = m->tokens.slots[i].rec;
        if (r && strcmp(r->trunk_id, id) == 0) {
            char hash[sizeof r->hash];
            memcpy(hash, r->hash, sizeof hash);
            mtab_del(&m->tokens, hash);
            continue;
        }
        i++;
    }
    mtab_del(&m->consumers, id);
    return mtab_del(&m->trunks, id) ? 0 : RIPP_ERR_NOTFOUND;
}

static int mem_consumer_put(void *impl, const ripp_consumer_rec *c)
{
    mstore *m = impl;
    int rc = ripp_store_check_consumer(c);
    return rc ? rc : mtab_put(&m->consumers, c, ++m->seq);
}

static int mem_consumer_get(void *impl, const char *trunk_id, ripp_consumer_rec *out)
{
    mstore *m = impl;
    return mtab_get(&m->consumers, trunk_id, sizeof out->trunk_id, out);
}

static int mem_prov_put(void *impl, const ripp_prov_rec *p)
{
    mstore *m = impl;
    int rc = ripp_store_check_prov(p);
    if (rc) return rc;
    /* creation order: a replaced record keeps its place */
    mslot *sl = mtab_find(&m->provs, p->provider_trunk);
    return mtab_put(&m->provs, p, sl ? sl->seq : ++m->seq);
}

static int mem_prov_get(void *impl, const char *key, ripp_prov_rec *out)
{
    mstore *m = impl;
    return mtab_get(&m->provs, key, sizeof out->provider_trunk, out);
}

static int mem_prov_del(void *impl, const char *key)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(key, sizeof(((ripp_prov_rec *)0)->provider_trunk));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc) return rc;
    return mtab_del(&m->provs, key) ? 0 : RIPP_ERR_NOTFOUND;
}

static int mem_call_put(void *impl, const ripp_call_rec *c)
{
    mstore *m = impl;
    int rc = ripp_store_check_call(c);
    return rc ? rc : mtab_put(&m->calls, c, ++m->seq);
}

static int mem_call_get(void *impl, const char *id, ripp_call_rec *out)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(id, sizeof out->id);
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || !out) return RIPP_ERR_INVAL;
    mslot *sl = mtab_find(&m->calls, id);
    if (!sl) return RIPP_ERR_NOTFOUND;
    memcpy(out, sl->rec, sizeof *out);
    return 0;
}

static int mem_cdr_put(void *impl, const ripp_cdr *cdr)
{
    mstore *m = impl;
    int rc = ripp_store_check_cdr(cdr);
    return rc ? rc : mtab_put(&m->cdrs, cdr, ++m->seq);
}

static int mem_cdr_get(void *impl, const char *call_id, ripp_cdr *out)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(call_id, sizeof out->call_id);
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || !out) return RIPP_ERR_INVAL;
    mslot *sl = mtab_find(&m->cdrs, call_id);
    if (!sl) return RIPP_ERR_NOTFOUND;
    memcpy(out, sl->rec, sizeof *out);
    return 0;
}

static int slot_cmp_seq(const void *a, const void *b)
{
    uint64_t x = ((const mslot *)a)->seq, y = ((const mslot *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Walks a table in put order over a sorted snapshot, so that the callback may use the
 * store while we walk; each record is copied before the callback sees it. */
static int mtab_each(const mtab *t, int (*cb)(void *ud, const void *rec), void *ud)
{
    size_t n = t->n;
    if (!n) return 0;
    mslot *order = malloc(n * sizeof *order);
    if (!order) return RIPP_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].rec) order[k++] = t->slots[i];
    qsort(order, n, sizeof *order, slot_cmp_seq);
    void *tmp = malloc(t->rec_size);
    if (!tmp) {
        free(order);
        return RIPP_ERR_NOMEM;
    }
    for (k = 0; k < n; k++) {
        memcpy(tmp, order[k].rec, t->rec_size);
        if (cb(ud, tmp)) break;
    }
    free(tmp);
    free(order);
    return 0;
}

typedef struct each_cdr {
    int (*cb)(void *ud, const ripp_cdr *cdr);
    void *ud;
} each_cdr;

static int each_cdr_cb(void *ud, const void *rec)
{
    each_cdr *e = ud;
    return e->cb(e->ud, rec);
}

static int mem_cdr_each(void *impl, int (*cb)(void *ud, const ripp_cdr *cdr), void *ud)
{
    mstore *m = impl;
    if (!cb) return RIPP_ERR_INVAL;
    each_cdr e = {cb, ud};
    return mtab_each(&m->cdrs, each_cdr_cb, &e);
}

typedef struct each_prov {
    int (*cb)(void *ud, const ripp_prov_rec *p);
    void *ud;
} each_prov;

static int each_prov_cb(void *ud, const void *rec)
{
    each_prov *e = ud;
    return e->cb(e->ud, rec);
}

static int mem_prov_each(void *impl, int (*cb)(void *ud, const ripp_prov_rec *p), void *ud)
{
    mstore *m = impl;
    if (!cb) return RIPP_ERR_INVAL;
    each_prov e = {cb, ud};
    return mtab_each(&m->provs, each_prov_cb, &e);
}

static void mem_close(void *impl)
{
    mstore *m = impl;
    if (!m) return;
    mtab_free(&m->trunks);
    mtab_free(&m->tokens);
    mtab_free(&m->calls);
    mtab_free(&m->cdrs);
    mtab_free(&m->consumers);
    mtab_free(&m->provs);
    free(m);
}

static const ripp_store_ops mem_ops = {
    .trunk_put = mem_trunk_put,
    .trunk_get = mem_trunk_get,
    .token_add = mem_token_add,
    .token_lookup = mem_token_lookup,
    .call_put = mem_call_put,
    .call_get = mem_call_get,
    .cdr_put = mem_cdr_put,
    .cdr_get = mem_cdr_get,
    .cdr_each = mem_cdr_each,
    .token_put = mem_token_put,
    .token_get = mem_token_get,
    .token_set_state = mem_token_set_state,
    .token_revoke_family = mem_token_revoke_family,
    .trunk_del = mem_trunk_del,
    .consumer_put = mem_consumer_put,
    .consumer_get = mem_consumer_get,
    .prov_put = mem_prov_put,
    .prov_get = mem_prov_get,
    .prov_del = mem_prov_del,
    .prov_each = mem_prov_each,
    .close = mem_close,
};

ripp_store *ripp_store_memory_new(int *err)
{
    mstore *m = calloc(1, sizeof *m);
    if (!m) {
        if (err) *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    m->trunks.rec_size = sizeof(ripp_trunk_rec);
    m->trunks.key_off = offsetof(ripp_trunk_rec, id);
    m->tokens.rec_size = sizeof(ripp_token_rec);
    m->tokens.key_off = offsetof(ripp_token_rec, hash);
    m->calls.rec_size = sizeof(ripp_call_rec);
    m->calls.key_off = offsetof(ripp_call_rec, id);
    m->cdrs.rec_size = sizeof(ripp_cdr);
    m->cdrs.key_off = offsetof(ripp_cdr, call_id);
    m->consumers.rec_size = sizeof(ripp_consumer_rec);
    m->consumers.key_off = offsetof(ripp_consumer_rec, trunk_id);
    m->provs.rec_size = sizeof(ripp_prov_rec);
    m->provs.key_off = offsetof(ripp_prov_rec, provider_trunk);
    ripp_store *s = ripp_store_wrap(&mem_ops, m, err);
    if (!s) mem_close(m);
    return s;
}
