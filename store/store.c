/* Store handle and the record checks every backend applies before writing. */
#include <stdlib.h>

#include "store_int.h"

void ripp_store_close(ripp_store *s)
{
    if (!s) return;
    if (s->ops && s->ops->close) s->ops->close(s->impl);
    free(s);
}

ripp_store *ripp_store_wrap(const ripp_store_ops *ops, void *impl, int *err)
{
    ripp_store *s = calloc(1, sizeof *s);
    if (!s) {
        if (err) *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    s->ops = ops;
    s->impl = impl;
    if (err) *err = 0;
    return s;
}

int ripp_store_check_key(const char *key, size_t cap)
{
    if (!key || !key[0]) return RIPP_ERR_INVAL;
    if (!memchr(key, 0, cap)) return RIPP_ERR_LIMIT;
    return 0;
}

void ripp_store_copy(char *dst, size_t cap, const char *src, size_t len)
{
    if (cap == 0) return;
    if (!src) len = 0;
    if (len > cap - 1) len = cap - 1;
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

int ripp_store_check_trunk(const ripp_trunk_rec *t)
{
    if (!t) return RIPP_ERR_INVAL;
    if (!STORE_FITS(t->id) || !STORE_FITS(t->answer) || !STORE_FITS(t->caps_json) ||
        !STORE_FITS(t->identity_pub))
        return RIPP_ERR_LIMIT;
    return t->id[0] ? 0 : RIPP_ERR_INVAL;
}

int ripp_store_check_call(const ripp_call_rec *c)
{
    if (!c) return RIPP_ERR_INVAL;
    if (!STORE_FITS(c->id) || !STORE_FITS(c->trunk_id) || !STORE_FITS(c->uri) ||
        !STORE_FITS(c->target) || !STORE_FITS(c->orig_tn) || !STORE_FITS(c->cookies) ||
        !STORE_FITS(c->next_hop) || !STORE_FITS(c->token_hash))
        return RIPP_ERR_LIMIT;
    return c->id[0] ? 0 : RIPP_ERR_INVAL;
}

int ripp_store_check_cdr(const ripp_cdr *cdr)
{
    if (!cdr) return RIPP_ERR_INVAL;
    if (!STORE_FITS(cdr->call_id) || !STORE_FITS(cdr->trunk_id) || !STORE_FITS(cdr->target) ||
        !STORE_FITS(cdr->orig_tn) || !STORE_FITS(cdr->outcome) || !STORE_FITS(cdr->dtmf) ||
        !STORE_FITS(cdr->recording) || !STORE_FITS(cdr->stats_json) ||
        !STORE_FITS(cdr->verstat))
        return RIPP_ERR_LIMIT;
    return cdr->call_id[0] ? 0 : RIPP_ERR_INVAL;
}

int ripp_store_check_token(const ripp_token_rec *t)
{
    if (!t) return RIPP_ERR_INVAL;
    if (!STORE_FITS(t->hash) || !STORE_FITS(t->trunk_id) || !STORE_FITS(t->family) ||
        !STORE_FITS(t->client_id) || !STORE_FITS(t->data))
        return RIPP_ERR_LIMIT;
    if (t->kind < RIPP_TOKEN_STATIC || t->kind > RIPP_TOKEN_CODE || t->state < RIPP_TOKEN_LIVE ||
        t->state > RIPP_TOKEN_REVOKED)
        return RIPP_ERR_INVAL;
    return t->hash[0] && t->trunk_id[0] ? 0 : RIPP_ERR_INVAL;
}

int ripp_store_check_consumer(const ripp_consumer_rec *c)
{
    if (!c) return RIPP_ERR_INVAL;
    if (!STORE_FITS(c->trunk_id) || !STORE_FITS(c->uri) || !STORE_FITS(c->token))
        return RIPP_ERR_LIMIT;
    return c->trunk_id[0] ? 0 : RIPP_ERR_INVAL;
}

int ripp_store_check_prov(const ripp_prov_rec *p)
{
    if (!p) return RIPP_ERR_INVAL;
    if (!STORE_FITS(p->provider_trunk) || !STORE_FITS(p->provider) || !STORE_FITS(p->ca_file) ||
        !STORE_FITS(p->client_id) || !STORE_FITS(p->client_secret) ||
        !STORE_FITS(p->consumer_trunk_id) || !STORE_FITS(p->consumer_trunk_uri) ||
        !STORE_FITS(p->consumer_token) || !STORE_FITS(p->access_token) ||
        !STORE_FITS(p->refresh_token))
        return RIPP_ERR_LIMIT;
    return p->provider_trunk[0] ? 0 : RIPP_ERR_INVAL;
}

ripp_store *ripp_store_open(const char *spec, int *err, char *errbuf, size_t errcap)
{
    if (spec && (!strncmp(spec, "redis://", 8) || !strncmp(spec, "unix:", 5)))
        return ripp_store_redis_open(spec, err, errbuf, errcap);
    return ripp_store_sqlite_open(spec, err, errbuf, errcap);
}

int ripp_store_sync(ripp_store *s)
{
    if (!s) return RIPP_ERR_INVAL;
    return s->ops->sync ? s->ops->sync(s->impl) : 0;
}

int ripp_store_attach_loop(ripp_store *s, struct uv_loop_s *loop)
{
    if (!s || !loop) return RIPP_ERR_INVAL;
    if (ripp_store_redis_is(s)) return ripp_store_redis_attach(s, loop);
    if (ripp_store_sqlite_is(s)) return ripp_store_sqlite_attach(s, loop);
    return 0;
}

int ripp_store_status_get(const ripp_store *s, ripp_store_status *out)
{
    if (!s || !out) return RIPP_ERR_INVAL;
    if (ripp_store_redis_is(s)) {
        ripp_store_redis_status(s, out);
    } else {
        memset(out, 0, sizeof *out);
        out->reachable = true;
    }
    return 0;
}
