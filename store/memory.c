/* In-memory store for tests: one open-addressing hash table per record kind. Records are
 * never deleted, so a record keeps its address until the store is closed. */
#include <stdlib.h>

#include "store_int.h"

typedef struct token_rec {
    char hash[65];
    char trunk_id[64];
} token_rec;

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
    mtab trunks, tokens, calls, cdrs;
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
    token_rec r;
    int rc = ripp_store_check_key(hash, sizeof r.hash);
    if (!rc) rc = ripp_store_check_key(trunk_id, sizeof r.trunk_id);
    if (rc) return rc;
    memset(&r, 0, sizeof r);
    strcpy(r.hash, hash);
    strcpy(r.trunk_id, trunk_id);
    return mtab_put(&m->tokens, &r, ++m->seq);
}

static int mem_token_lookup(void *impl, const char *hash, char *trunk_id, size_t cap)
{
    mstore *m = impl;
    int rc = ripp_store_check_key(hash, sizeof(((token_rec *)0)->hash));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || !trunk_id || !cap) return RIPP_ERR_INVAL;
    mslot *sl = mtab_find(&m->tokens, hash);
    if (!sl) return RIPP_ERR_NOTFOUND;
    const token_rec *r = sl->rec;
    ripp_store_copy(trunk_id, cap, r->trunk_id, strlen(r->trunk_id));
    return 0;
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

static int mem_cdr_each(void *impl, int (*cb)(void *ud, const ripp_cdr *cdr), void *ud)
{
    mstore *m = impl;
    if (!cb) return RIPP_ERR_INVAL;
    size_t n = m->cdrs.n;
    if (!n) return 0;
    /* A sorted snapshot, so that the callback may use the store while we walk. */
    mslot *order = malloc(n * sizeof *order);
    if (!order) return RIPP_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < m->cdrs.cap; i++)
        if (m->cdrs.slots[i].rec) order[k++] = m->cdrs.slots[i];
    qsort(order, n, sizeof *order, slot_cmp_seq);
    ripp_cdr *tmp = malloc(sizeof *tmp);
    if (!tmp) {
        free(order);
        return RIPP_ERR_NOMEM;
    }
    for (k = 0; k < n; k++) {
        memcpy(tmp, order[k].rec, sizeof *tmp);
        if (cb(ud, tmp)) break;
    }
    free(tmp);
    free(order);
    return 0;
}

static void mem_close(void *impl)
{
    mstore *m = impl;
    if (!m) return;
    mtab_free(&m->trunks);
    mtab_free(&m->tokens);
    mtab_free(&m->calls);
    mtab_free(&m->cdrs);
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
    m->tokens.rec_size = sizeof(token_rec);
    m->tokens.key_off = offsetof(token_rec, hash);
    m->calls.rec_size = sizeof(ripp_call_rec);
    m->calls.key_off = offsetof(ripp_call_rec, id);
    m->cdrs.rec_size = sizeof(ripp_cdr);
    m->cdrs.key_off = offsetof(ripp_cdr, call_id);
    ripp_store *s = ripp_store_wrap(&mem_ops, m, err);
    if (!s) mem_close(m);
    return s;
}
