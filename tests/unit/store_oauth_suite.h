/* store_oauth_suite.h - the OAuth operations of a store, run the same way on every backend
 * (memory, SQLite, Redis): bearer lookup honouring kind, state and expiry; single-use
 * compare-and-set; family revocation; trunk deletion; consumer and provisioned trunks.
 * Included by the tests of each backend; every function takes the store to run on. */
#ifndef RIPP_TEST_STORE_OAUTH_SUITE_H
#define RIPP_TEST_STORE_OAUTH_SUITE_H

#include <stdio.h>
#include <string.h>

#include "ripp/store.h"

static void hash_of(char out[65], int n)
{
    snprintf(out, 65, "%064x", n);
}

static void tok(ripp_token_rec *t, int n, const char *trunk, int kind, const char *family,
                int64_t expires_ms)
{
    memset(t, 0, sizeof *t);
    hash_of(t->hash, n);
    snprintf(t->trunk_id, sizeof t->trunk_id, "%s", trunk);
    t->kind = kind;
    snprintf(t->family, sizeof t->family, "%s", family);
    snprintf(t->client_id, sizeof t->client_id, "client-1");
    t->created_ms = 1000;
    t->expires_ms = expires_ms;
    snprintf(t->data, sizeof t->data, "{\"redirect_uri\":\"https://c.example/cb\"}");
}

static void trunk(ripp_store *s, const char *id)
{
    ripp_trunk_rec t;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "%s", id);
    snprintf(t.answer, sizeof t.answer, "echo");
    snprintf(t.caps_json, sizeof t.caps_json, "{}");
    assert_int_equal(s->ops->trunk_put(s->impl, &t), 0);
}

static int lookup(ripp_store *s, int n, int64_t now, char *tid)
{
    char h[65];
    hash_of(h, n);
    return s->ops->token_lookup(s->impl, h, now, tid, 64);
}

static void run_tokens(ripp_store *s)
{
    char tid[64], h[65];
    ripp_token_rec t, got;
    trunk(s, "A");
    trunk(s, "B");
    tok(&t, 1, "A", RIPP_TOKEN_ACCESS, "fam1", 5000);
    assert_int_equal(s->ops->token_put(s->impl, &t), 0);
    tok(&t, 2, "A", RIPP_TOKEN_REFRESH, "fam1", 0);
    assert_int_equal(s->ops->token_put(s->impl, &t), 0);
    tok(&t, 3, "A", RIPP_TOKEN_CODE, "fam1", 2000);
    assert_int_equal(s->ops->token_put(s->impl, &t), 0);
    tok(&t, 4, "B", RIPP_TOKEN_ACCESS, "fam2", 0);
    assert_int_equal(s->ops->token_put(s->impl, &t), 0);
    hash_of(h, 5);
    assert_int_equal(s->ops->token_add(s->impl, "B", h), 0); /* static */

    /* a bearer: live access or static tokens, before they expire */
    assert_int_equal(lookup(s, 1, 4999, tid), 0);
    assert_string_equal(tid, "A");
    assert_int_equal(lookup(s, 1, 5000, tid), RIPP_ERR_NOTFOUND);
    assert_int_equal(lookup(s, 2, 0, tid), RIPP_ERR_NOTFOUND); /* refresh */
    assert_int_equal(lookup(s, 3, 0, tid), RIPP_ERR_NOTFOUND); /* code */
    assert_int_equal(lookup(s, 4, INT64_MAX, tid), 0);
    assert_string_equal(tid, "B");
    assert_int_equal(lookup(s, 5, INT64_MAX, tid), 0);
    hash_of(h, 5);
    assert_int_equal(s->ops->token_get(s->impl, h, &got), 0);
    assert_int_equal(got.kind, RIPP_TOKEN_STATIC);
    assert_int_equal(got.state, RIPP_TOKEN_LIVE);
    assert_int_equal(got.expires_ms, 0);

    /* get: everything comes back */
    hash_of(h, 3);
    memset(&got, 0x5a, sizeof got);
    assert_int_equal(s->ops->token_get(s->impl, h, &got), 0);
    tok(&t, 3, "A", RIPP_TOKEN_CODE, "fam1", 2000);
    assert_memory_equal(&got, &t, sizeof t);

    /* single use: compare and set */
    assert_int_equal(s->ops->token_set_state(s->impl, h, RIPP_TOKEN_LIVE, RIPP_TOKEN_USED), 0);
    assert_int_equal(s->ops->token_set_state(s->impl, h, RIPP_TOKEN_LIVE, RIPP_TOKEN_USED),
                     RIPP_ERR_STATE);
    assert_int_equal(s->ops->token_get(s->impl, h, &got), 0);
    assert_int_equal(got.state, RIPP_TOKEN_USED);
    hash_of(h, 99);
    assert_int_equal(s->ops->token_set_state(s->impl, h, RIPP_TOKEN_LIVE, RIPP_TOKEN_USED),
                     RIPP_ERR_NOTFOUND);

    /* the family goes as one: fam1 has three tokens, one of them used */
    assert_int_equal(s->ops->token_revoke_family(s->impl, "fam1"), 3);
    assert_int_equal(s->ops->token_revoke_family(s->impl, "fam1"), 0);
    assert_int_equal(lookup(s, 1, 0, tid), RIPP_ERR_NOTFOUND);
    assert_int_equal(lookup(s, 4, 0, tid), 0); /* other families untouched */
    hash_of(h, 2);
    assert_int_equal(s->ops->token_get(s->impl, h, &got), 0);
    assert_int_equal(got.state, RIPP_TOKEN_REVOKED);

    /* a revoked access token is no bearer even without expiry */
    hash_of(h, 4);
    assert_int_equal(s->ops->token_set_state(s->impl, h, RIPP_TOKEN_LIVE, RIPP_TOKEN_REVOKED), 0);
    assert_int_equal(lookup(s, 4, 0, tid), RIPP_ERR_NOTFOUND);

    /* bad records */
    tok(&t, 6, "", RIPP_TOKEN_ACCESS, "", 0);
    assert_int_equal(s->ops->token_put(s->impl, &t), RIPP_ERR_INVAL);
    tok(&t, 6, "A", 9, "", 0);
    assert_int_equal(s->ops->token_put(s->impl, &t), RIPP_ERR_INVAL);
    tok(&t, 6, "A", RIPP_TOKEN_ACCESS, "", 0);
    memset(t.data, 'x', sizeof t.data);
    assert_int_equal(s->ops->token_put(s->impl, &t), RIPP_ERR_LIMIT);
    assert_int_equal(s->ops->token_revoke_family(s->impl, ""), RIPP_ERR_INVAL);
}

static void run_trunk_del(ripp_store *s)
{
    char tid[64];
    ripp_token_rec t;
    ripp_trunk_rec tr;
    trunk(s, "D");
    trunk(s, "E");
    /* many tokens, so that deletion moves records around in a hash table */
    for (int i = 100; i < 400; i++) {
        tok(&t, i, i % 3 ? "D" : "E", RIPP_TOKEN_ACCESS, "f", 0);
        assert_int_equal(s->ops->token_put(s->impl, &t), 0);
    }
    ripp_consumer_rec c = {.trunk_id = "D",
                           .uri = "https://c.example/trunks/c1",
                           .token = "consumer-token-0123456789",
                           .updated_ms = 7};
    assert_int_equal(s->ops->consumer_put(s->impl, &c), 0);
    assert_int_equal(s->ops->trunk_del(s->impl, "D"), 0);
    assert_int_equal(s->ops->trunk_get(s->impl, "D", &tr), RIPP_ERR_NOTFOUND);
    ripp_consumer_rec gc;
    assert_int_equal(s->ops->consumer_get(s->impl, "D", &gc), RIPP_ERR_NOTFOUND);
    for (int i = 100; i < 400; i++) {
        int rv = lookup(s, i, 0, tid);
        if (i % 3) {
            assert_int_equal(rv, RIPP_ERR_NOTFOUND);
        } else {
            assert_int_equal(rv, 0);
            assert_string_equal(tid, "E");
        }
    }
    assert_int_equal(s->ops->trunk_get(s->impl, "E", &tr), 0);
    assert_int_equal(s->ops->trunk_del(s->impl, "D"), RIPP_ERR_NOTFOUND);
    assert_int_equal(s->ops->trunk_del(s->impl, ""), RIPP_ERR_INVAL);
}

static void run_consumer(ripp_store *s)
{
    ripp_consumer_rec c = {.trunk_id = "A",
                           .uri = "https://c.example/trunks/c1",
                           .token = "consumer-token-0123456789",
                           .updated_ms = 7};
    ripp_consumer_rec got;
    assert_int_equal(s->ops->consumer_get(s->impl, "A", &got), RIPP_ERR_NOTFOUND);
    assert_int_equal(s->ops->consumer_put(s->impl, &c), 0);
    assert_int_equal(s->ops->consumer_get(s->impl, "A", &got), 0);
    assert_memory_equal(&got, &c, sizeof c);
    /* D26: a repeated PUT replaces */
    snprintf(c.token, sizeof c.token, "second-token-abcdefghijkl");
    c.updated_ms = 8;
    assert_int_equal(s->ops->consumer_put(s->impl, &c), 0);
    assert_int_equal(s->ops->consumer_get(s->impl, "A", &got), 0);
    assert_string_equal(got.token, "second-token-abcdefghijkl");
    assert_int_equal(got.updated_ms, 8);
    c.trunk_id[0] = 0;
    assert_int_equal(s->ops->consumer_put(s->impl, &c), RIPP_ERR_INVAL);
}

static int prov_order_cb(void *ud, const ripp_prov_rec *p)
{
    char *order = ud;
    strcat(order, p->consumer_trunk_id);
    return 0;
}

static void prov(ripp_prov_rec *p, int n)
{
    memset(p, 0, sizeof *p);
    snprintf(p->provider_trunk, sizeof p->provider_trunk, "https://p.example/trunks/p%d", n);
    snprintf(p->provider, sizeof p->provider, "https://p.example");
    snprintf(p->client_id, sizeof p->client_id, "client-1");
    snprintf(p->client_secret, sizeof p->client_secret, "secret-secret-secret");
    snprintf(p->consumer_trunk_id, sizeof p->consumer_trunk_id, "c%d", n);
    snprintf(p->consumer_trunk_uri, sizeof p->consumer_trunk_uri, "https://c.example/trunks/c%d",
             n);
    snprintf(p->consumer_token, sizeof p->consumer_token, "ct-%d", n);
    snprintf(p->access_token, sizeof p->access_token, "at-%d", n);
    snprintf(p->refresh_token, sizeof p->refresh_token, "rt-%d", n);
    p->access_expires_ms = 1000 + n;
    p->created_ms = n;
}

static void run_prov(ripp_store *s)
{
    ripp_prov_rec p, got;
    char order[64] = "";
    assert_int_equal(s->ops->prov_each(s->impl, prov_order_cb, order), 0);
    assert_string_equal(order, "");
    for (int i = 1; i <= 3; i++) {
        prov(&p, i);
        assert_int_equal(s->ops->prov_put(s->impl, &p), 0);
    }
    prov(&p, 2);
    assert_int_equal(s->ops->prov_get(s->impl, p.provider_trunk, &got), 0);
    assert_memory_equal(&got, &p, sizeof p);
    /* a refresh rewrites the record; it keeps its place */
    snprintf(p.refresh_token, sizeof p.refresh_token, "rt-2b");
    assert_int_equal(s->ops->prov_put(s->impl, &p), 0);
    assert_int_equal(s->ops->prov_get(s->impl, p.provider_trunk, &got), 0);
    assert_string_equal(got.refresh_token, "rt-2b");
    assert_int_equal(s->ops->prov_each(s->impl, prov_order_cb, order), 0);
    assert_string_equal(order, "c1c2c3");
    assert_int_equal(s->ops->prov_del(s->impl, p.provider_trunk), 0);
    assert_int_equal(s->ops->prov_del(s->impl, p.provider_trunk), RIPP_ERR_NOTFOUND);
    assert_int_equal(s->ops->prov_get(s->impl, p.provider_trunk, &got), RIPP_ERR_NOTFOUND);
    order[0] = 0;
    assert_int_equal(s->ops->prov_each(s->impl, prov_order_cb, order), 0);
    assert_string_equal(order, "c1c3");
    assert_int_equal(s->ops->prov_each(s->impl, NULL, NULL), RIPP_ERR_INVAL);

#endif
