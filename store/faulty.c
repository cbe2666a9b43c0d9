/* Fault-injecting store: counts operations and fails from a chosen one on, without
 * reaching the inner store, so tests can see how callers survive a broken database. */
#include <stdlib.h>

#include "store_int.h"

typedef struct fstore {
    ripp_store *inner;
    int fail_at;
    int count;
} fstore;

/* Counts this operation; non-zero when it must fail. */
static int faulty_hit(fstore *f, const char *op)
{
    f->count++;
    if (f->fail_at > 0 && f->count >= f->fail_at) {
        ripp_log(RIPP_LOG_DEBUG, "store: injected failure of %s (operation %d)", op, f->count);
        return 1;
    }
    return 0;
}

static int f_trunk_put(void *impl, const ripp_trunk_rec *t)
{
    fstore *f = impl;
    if (faulty_hit(f, "trunk_put")) return RIPP_ERR_STORE;
    return f->inner->ops->trunk_put(f->inner->impl, t);
}

static int f_trunk_get(void *impl, const char *id, ripp_trunk_rec *out)
{
    fstore *f = impl;
    if (faulty_hit(f, "trunk_get")) return RIPP_ERR_STORE;
    return f->inner->ops->trunk_get(f->inner->impl, id, out);
}

static int f_token_add(void *impl, const char *trunk_id, const char *hash)
{
    fstore *f = impl;
    if (faulty_hit(f, "token_add")) return RIPP_ERR_STORE;
    return f->inner->ops->token_add(f->inner->impl, trunk_id, hash);
}

static int f_token_lookup(void *impl, const char *hash, int64_t now_ms, char *trunk_id, size_t cap)
{
    fstore *f = impl;
    if (faulty_hit(f, "token_lookup")) return RIPP_ERR_STORE;
    return f->inner->ops->token_lookup(f->inner->impl, hash, now_ms, trunk_id, cap);
}

/* The forwarding wrappers of the OAuth operations all have the same shape. */
#define FWD(name, params, args)                                                                    \
    static int f_##name params                                                                     \
    {                                                                                              \
        fstore *f = impl;                                                                          \
        if (faulty_hit(f, #name)) return RIPP_ERR_STORE;                                           \
        return f->inner->ops->name args;                                                           \
    }
FWD(token_put, (void *impl, const ripp_token_rec *t), (f->inner->impl, t))
FWD(token_get, (void *impl, const char *h, ripp_token_rec *o), (f->inner->impl, h, o))
FWD(token_set_state, (void *impl, const char *h, int from, int to), (f->inner->impl, h, from, to))
FWD(token_revoke_family, (void *impl, const char *fam), (f->inner->impl, fam))
FWD(trunk_del, (void *impl, const char *id), (f->inner->impl, id))
FWD(consumer_put, (void *impl, const ripp_consumer_rec *c), (f->inner->impl, c))
FWD(consumer_get, (void *impl, const char *id, ripp_consumer_rec *o), (f->inner->impl, id, o))
FWD(prov_put, (void *impl, const ripp_prov_rec *p), (f->inner->impl, p))
FWD(prov_get, (void *impl, const char *k, ripp_prov_rec *o), (f->inner->impl, k, o))
FWD(prov_del, (void *impl, const char *k), (f->inner->impl, k))
FWD(prov_each, (void *impl, int (*cb)(void *, const ripp_prov_rec *), void *ud),
    (f->inner->impl, cb, ud))
#undef FWD

static int f_call_put(void *impl, const ripp_call_rec *c)
{
    fstore *f = impl;
    if (faulty_hit(f, "call_put")) return RIPP_ERR_STORE;
    return f->inner->ops->call_put(f->inner->impl, c);
}

static int f_call_get(void *impl, const char *id, ripp_call_rec *out)
{
    fstore *f = impl;
    if (faulty_hit(f, "call_get")) return RIPP_ERR_STORE;
    return f->inner->ops->call_get(f->inner->impl, id, out);
}

static int f_cdr_put(void *impl, const ripp_cdr *cdr)
{
    fstore *f = impl;
    if (faulty_hit(f, "cdr_put")) return RIPP_ERR_STORE;
    return f->inner->ops->cdr_put(f->inner->impl, cdr);
}

static int f_cdr_get(void *impl, const char *call_id, ripp_cdr *out)
{
    fstore *f = impl;
    if (faulty_hit(f, "cdr_get")) return RIPP_ERR_STORE;
    return f->inner->ops->cdr_get(f->inner->impl, call_id, out);
}

static int f_cdr_each(void *impl, int (*cb)(void *ud, const ripp_cdr *cdr), void *ud)
{
    fstore *f = impl;
    if (faulty_hit(f, "cdr_each")) return RIPP_ERR_STORE;
    return f->inner->ops->cdr_each(f->inner->impl, cb, ud);
}

static void f_close(void *impl)
{
    fstore *f = impl;
    if (!f) return;
    ripp_store_close(f->inner);
    free(f);
}

static const ripp_store_ops faulty_ops = {
    .trunk_put = f_trunk_put,
    .trunk_get = f_trunk_get,
    .token_add = f_token_add,
    .token_lookup = f_token_lookup,
    .call_put = f_call_put,
    .call_get = f_call_get,
    .cdr_put = f_cdr_put,
    .cdr_get = f_cdr_get,
    .cdr_each = f_cdr_each,
    .token_put = f_token_put,
    .token_get = f_token_get,
    .token_set_state = f_token_set_state,
    .token_revoke_family = f_token_revoke_family,
    .trunk_del = f_trunk_del,
    .consumer_put = f_consumer_put,
    .consumer_get = f_consumer_get,
    .prov_put = f_prov_put,
    .prov_get = f_prov_get,
    .prov_del = f_prov_del,
    .prov_each = f_prov_each,
    .close = f_close,
};

ripp_store *ripp_store_faulty_new(ripp_store *inner, int fail_at, int *err)
{
    if (!inner) {
        if (err) *err = RIPP_ERR_INVAL;
        return NULL;
    }
    fstore *f = calloc(1, sizeof *f);
    if (!f) {
        if (err) *err = RIPP_ERR_NOMEM;
        ripp_store_close(inner);
        return NULL;
    }
    f->inner = inner;
    f->fail_at = fail_at;
    ripp_store *s = ripp_store_wrap(&faulty_ops, f, err);
    if (!s) f_close(f);
    return s;
}

void ripp_store_faulty_set(ripp_store *faulty, int fail_at)
{
    if (faulty && faulty->ops == &faulty_ops) ((fstore *)faulty->impl)->fail_at = fail_at;
}

int ripp_store_faulty_count(const ripp_store *faulty)
{
    if (!faulty || faulty->ops != &faulty_ops) return RIPP_ERR_INVAL;
    return ((const fstore *)faulty->impl)->count;
}
