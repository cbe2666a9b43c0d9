/* store_suite.h - the behaviour every store backend must show. A test file defines
 * suite_new() and suite_del() and lists STORE_SUITE_TESTS in its cmocka group. */
#ifndef STORE_SUITE_H
#define STORE_SUITE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/store.h"

static ripp_store *suite_new(void);
static void suite_del(ripp_store *s);

static int suite_setup(void **state)
{
    ripp_store *s = suite_new();
    if (!s) return -1;
    *state = s;
    return 0;
}

static int suite_teardown(void **state)
{
    suite_del(*state);
    return 0;
}

/* Fills a string field with n copies of c (n < sizeof field). */
static void fill(char *dst, size_t cap, char c, size_t n)
{
    assert_true(n < cap);
    memset(dst, c, n);
    dst[n] = '\0';
}
#define FILL(field, c, n) fill((field), sizeof(field), (c), (n))

static void make_trunk(ripp_trunk_rec *t, const char *id)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->answer, sizeof t->answer, "play:/var/lib/ripp/%s.wav", id);
    snprintf(t->caps_json, sizeof t->caps_json, "{\"codecs\":[\"opus\",\"pcmu\"],\"id\":\"%s\"}",
             id);
    snprintf(t->identity_pub, sizeof t->identity_pub, "/etc/ripp/%s.pub", id);
    t->created_ms = 1700000000123;
}

static void assert_trunk_eq(const ripp_trunk_rec *a, const ripp_trunk_rec *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->answer, b->answer);
    assert_string_equal(a->caps_json, b->caps_json);
    assert_string_equal(a->identity_pub, b->identity_pub);
    assert_int_equal(a->created_ms, b->created_ms);
}

static void make_call(ripp_call_rec *c, int i)
{
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "5f0c8a1e-7d2b-4c3a-9e1f-%012d", i);
    snprintf(c->trunk_id, sizeof c->trunk_id, "trunk-%d", i % 7);
    snprintf(c->uri, sizeof c->uri, "https://ripp.example.net/trunks/trunk-%d/calls/%s", i % 7,
             c->id);
    snprintf(c->target, sizeof c->target, "+1555%07d@e164.arpa", i);
    snprintf(c->orig_tn, sizeof c->orig_tn, "1202%07d", i);
    c->state = 1 + i % 5;
    c->last_seq_c2s = i % 3 ? i : -1;
    c->last_seq_s2c = -1;
    c->media_seq_c2s = (int64_t)i * 1000003;
    c->media_seq_s2c = INT64_MAX - i;
    snprintf(c->cookies, sizeof c->cookies, "inst=a%d; Path=/; Secure\nlb=x%d; HttpOnly", i, i);
    snprintf(c->next_hop, sizeof c->next_hop, "https://peer.example.org/calls/%d", i);
    fill(c->token_hash, sizeof c->token_hash, "0123456789abcdef"[i % 16], 64);
    c->created_ms = 1700000000000 + i;
    c->updated_ms = 1700000000500 + i;
}

static void assert_call_eq(const ripp_call_rec *a, const ripp_call_rec *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->trunk_id, b->trunk_id);
    assert_string_equal(a->uri, b->uri);
    assert_string_equal(a->target, b->target);
    assert_string_equal(a->orig_tn, b->orig_tn);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->last_seq_c2s, b->last_seq_c2s);
    assert_int_equal(a->last_seq_s2c, b->last_seq_s2c);
    assert_int_equal(a->media_seq_c2s, b->media_seq_c2s);
    assert_int_equal(a->media_seq_s2c, b->media_seq_s2c);
    assert_string_equal(a->cookies, b->cookies);
    assert_string_equal(a->next_hop, b->next_hop);
    assert_string_equal(a->token_hash, b->token_hash);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->updated_ms, b->updated_ms);
}

static void make_cdr(ripp_cdr *c, int i)
{
    memset(c, 0, sizeof *c);
    snprintf(c->call_id, sizeof c->call_id, "0b9e4c52-1f7a-4d08-8c3e-%012d", i);
    snprintf(c->trunk_id, sizeof c->trunk_id, "trunk-%d", i % 3);
    snprintf(c->target, sizeof c->target, "+1555%07d@e164.arpa", i);
    snprintf(c->orig_tn, sizeof c->orig_tn, "1202%07d", i);
    c->start_ms = 1700000000000 + 10 * i;
    c->answer_ms = i % 2 ? c->start_ms + 2000 : 0;
    c->end_ms = c->start_ms + 60000;
    snprintf(c->outcome, sizeof c->outcome, "%s", i % 2 ? "answered" : "busy");
    c->end_code = i % 2 ? 200 : 486;
    snprintf(c->dtmf, sizeof c->dtmf, "12#*%d", i);
    snprintf(c->recording, sizeof c->recording, "/var/spool/ripp/%d.wav", i);
    snprintf(c->verstat, sizeof c->verstat, "verified %c", "ABC"[i % 3]);
    snprintf(c->stats_json, sizeof c->stats_json, "{\"sent\":%d,\"lost\":0}", i * 50);
}

static void assert_cdr_eq(const ripp_cdr *a, const ripp_cdr *b)
{
    assert_string_equal(a->call_id, b->call_id);
    assert_string_equal(a->trunk_id, b->trunk_id);
    assert_string_equal(a->target, b->target);
    assert_string_equal(a->orig_tn, b->orig_tn);
    assert_int_equal(a->start_ms, b->start_ms);
    assert_int_equal(a->answer_ms, b->answer_ms);
    assert_int_equal(a->end_ms, b->end_ms);
    assert_string_equal(a->outcome, b->outcome);
    assert_int_equal(a->end_code, b->end_code);
    assert_string_equal(a->dtmf, b->dtmf);
    assert_string_equal(a->recording, b->recording);
    assert_string_equal(a->verstat, b->verstat);
    assert_string_equal(a->stats_json, b->stats_json);
}

static void suite_trunk_roundtrip(void **state)
{
    ripp_store *s = *state;
    ripp_trunk_rec t, got;
    make_trunk(&t, "6ha937fjjj9");
    assert_int_equal(s->ops->trunk_put(s->impl, &t), 0);
    memset(&got, 0x55, sizeof got);
    assert_int_equal(s->ops->trunk_get(s->impl, "6ha937fjjj9", &got), 0);
    assert_trunk_eq(&got, &t);

    /* Replace: the second put wins. */
    snprintf(t.answer, sizeof t.answer, "reject:486");
    t.created_ms = -5;
    assert_int_equal(s->ops->trunk_put(s->impl, &t), 0);
    assert_int_equal(s->ops->trunk_get(s->impl, "6ha937fjjj9", &got), 0);
    assert_string_equal(got.answer, "reject:486");
    assert_int_equal(got.created_ms, -5);

    assert_int_equal(s->ops->trunk_get(s->impl, "6ha937fjjj", &got), RIPP_ERR_NOTFOUND);
    assert_int_equal(s->ops->trunk_get(s->impl, "6HA937FJJJ9", &got), RIPP_ERR_NOTFOUND);
}

static void suite_trunk_limits(void **state)
{
    ripp_store *s = *state;
    ripp_trunk_rec t, got;

    /* Exactly full fields (cap - 1 characters) fit and come back byte for byte. */
    make_trunk(&t, "x");
    FILL(t.id, 'i', sizeof t.id - 1);
    FILL(t.answer, 'a', sizeof t.answer - 1);
    FILL(t.caps_json, 'c', sizeof t.caps_json - 1);
    FILL(t.identity_pub, 'p', sizeof t.identity_pub - 1);
    assert_int_equal(s->ops->trunk_put(s->impl, &t), 0);
    assert_int_equal(s->ops->trunk_get(s->impl, t.id, &got), 0);
    assert_trunk_eq(&got, &t);
    assert_int_equal(strlen(got.caps_json), sizeof got.caps_json - 1);

    /* A field without its NUL does not fit: nothing is written. */
    make_trunk(&t, "over");
    memset(t.answer, 'a', sizeof t.answer);
    assert_int_equal(s->ops->trunk_put(s->impl, &t), RIPP_ERR_LIMIT);
    make_trunk(&t, "over");
    memset(t.identity_pub, 'p', sizeof t.identity_pub);
    assert_int_equal(s->ops->trunk_put(s->impl, &t), RIPP_ERR_LIMIT);
    assert_int_equal(s->ops->trunk_get(s->impl, "over", &got), RIPP_ERR_NOTFOUND);
    memset(t.id, 'i', sizeof t.id);
    assert_int_equal(s->ops->trunk_put(s->impl, &t), RIPP_ERR_LIMIT);

    /* A key longer than any stored one is simply not there. */
    char longkey[200];
    memset(longkey, 'i', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(s->ops->trunk_get(s->impl, longkey, &got), RIPP_ERR_NOTFOUND);

    /* Bad arguments. */
    assert_int_equal(s->ops->trunk_put(s->impl, NULL), RIPP_ERR_INVAL);
    make_trunk(&t, "");
    assert_int_equal(s->ops->trunk_put(s->impl, &t), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->trunk_get(s->impl, NULL, &got), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->trunk_get(s->impl, "", &got), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->trunk_get(s->impl, "x", NULL), RIPP_ERR_INVAL);
}

static void suite_tokens(void **state)
{
    ripp_store *s = *state;
    char hash1[65], hash2[65], tid[64];
    fill(hash1, sizeof hash1, 'a', 64);
    fill(hash2, sizeof hash2, 'b', 64);
    assert_int_equal(s->ops->token_add(s->impl, "trunk-1", hash1), 0);
    assert_int_equal(s->ops->token_add(s->impl, "trunk-2", hash2), 0);
    assert_int_equal(s->ops->token_lookup(s->impl, hash1, 0, tid, sizeof tid), 0);
    assert_string_equal(tid, "trunk-1");
    assert_int_equal(s->ops->token_lookup(s->impl, hash2, 0, tid, sizeof tid), 0);
    assert_string_equal(tid, "trunk-2");

    /* Re-adding a hash moves it to the new trunk. */
    assert_int_equal(s->ops->token_add(s->impl, "trunk-3", hash1), 0);
    assert_int_equal(s->ops->token_lookup(s->impl, hash1, 0, tid, sizeof tid), 0);
    assert_string_equal(tid, "trunk-3");

    /* A small buffer gets a terminated prefix. */
    char small[4];
    assert_int_equal(s->ops->token_lookup(s->impl, hash2, 0, small, sizeof small), 0);
    assert_string_equal(small, "tru");

    hash1[10] = 'z';
    assert_int_equal(s->ops->token_lookup(s->impl, hash1, 0, tid, sizeof tid), RIPP_ERR_NOTFOUND);

    char toolong[80];
    fill(toolong, sizeof toolong, 'c', 65);
    assert_int_equal(s->ops->token_add(s->impl, "trunk-1", toolong), RIPP_ERR_LIMIT);
    assert_int_equal(s->ops->token_lookup(s->impl, toolong, 0, tid, sizeof tid), RIPP_ERR_NOTFOUND);
    char longtrunk[80];
    fill(longtrunk, sizeof longtrunk, 't', 64);
    assert_int_equal(s->ops->token_add(s->impl, longtrunk, hash2), RIPP_ERR_LIMIT);
    assert_int_equal(s->ops->token_lookup(s->impl, hash2, 0, tid, sizeof tid), 0);
    assert_string_equal(tid, "trunk-2");

    assert_int_equal(s->ops->token_add(s->impl, NULL, hash2), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->token_add(s->impl, "t", ""), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->token_lookup(s->impl, hash2, 0, NULL, 10), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->token_lookup(s->impl, hash2, 0, tid, 0), RIPP_ERR_INVAL);
}

static void suite_call_roundtrip(void **state)
{
    ripp_store *s = *state;
    ripp_call_rec c, got;
    make_call(&c, 42);
    c.last_seq_c2s = -1;
    c.media_seq_c2s = INT64_MIN;
    /* Characters that a careless backend would mangle. */
    snprintf(c.next_hop, sizeof c.next_hop, "'; DROP TABLE calls; -- \"q\" \\ \xc3\xa9");
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    memset(&got, 0x5a, sizeof got);
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);

    /* The update path of a live call: new state and seq high-water marks. */
    c.state = 4;
    c.last_seq_c2s = 17;
    c.last_seq_s2c = 9;
    c.media_seq_s2c = 123456789012345;
    c.updated_ms += 1000;
    c.cookies[0] = '\0';
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);
    assert_string_equal(got.cookies, "");

    assert_int_equal(s->ops->call_get(s->impl, "00000000-0000-4000-8000-000000000000", &got),
                     RIPP_ERR_NOTFOUND);

    /* Full fields fit; overfull ones do not. */
    make_call(&c, 43);
    FILL(c.id, 'd', sizeof c.id - 1);
    FILL(c.uri, 'u', sizeof c.uri - 1);
    FILL(c.cookies, 'k', sizeof c.cookies - 1);
    FILL(c.next_hop, 'n', sizeof c.next_hop - 1);
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);

    const size_t offs[] = {offsetof(ripp_call_rec, trunk_id), offsetof(ripp_call_rec, target),
                           offsetof(ripp_call_rec, orig_tn), offsetof(ripp_call_rec, cookies),
                           offsetof(ripp_call_rec, token_hash)};
    const size_t lens[] = {sizeof c.trunk_id, sizeof c.target, sizeof c.orig_tn, sizeof c.cookies,
                           sizeof c.token_hash};
    for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
        make_call(&c, 44);
        memset((char *)&c + offs[k], 'x', lens[k]);
        assert_int_equal(s->ops->call_put(s->impl, &c), RIPP_ERR_LIMIT);
    }
    make_call(&c, 44);
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), RIPP_ERR_NOTFOUND);

    assert_int_equal(s->ops->call_put(s->impl, NULL), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->call_get(s->impl, NULL, &got), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->call_get(s->impl, c.id, NULL), RIPP_ERR_INVAL);
}

static void suite_many_calls(void **state)
{
    ripp_store *s = *state;
    enum { N = 3000 };
    ripp_call_rec c, got;
    for (int i = 0; i < N; i++) {
        make_call(&c, i);
        assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    }
    /* Update every third call, then read them all back. */
    for (int i = 0; i < N; i += 3) {
        make_call(&c, i);
        c.state = 6;
        c.last_seq_s2c = i * 2;
        assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    }
    for (int i = N - 1; i >= 0; i--) {
        make_call(&c, i);
        if (i % 3 == 0) {
            c.state = 6;
            c.last_seq_s2c = i * 2;
        }
        assert_int_equal(s->ops->call_get(s->impl, c.id, &got), 0);
        assert_call_eq(&got, &c);
    }
}

typedef struct walk {
    ripp_store *s;
    int n, stop_after;
    char ids[16][40];
    int nested; /* walk the CDRs again from inside the callback */
    int nested_n;
} walk;

static int count_cb(void *ud, const ripp_cdr *cdr)
{
    (void)cdr;
    ++*(int *)ud;
    return 0;
}

static int walk_cb(void *ud, const ripp_cdr *cdr)
{
    walk *w = ud;
    if (w->n < 16) snprintf(w->ids[w->n], sizeof w->ids[0], "%s", cdr->call_id);
    w->n++;
    /* The callback may read the store. */
    ripp_cdr again;
    assert_int_equal(w->s->ops->cdr_get(w->s->impl, cdr->call_id, &again), 0);
    assert_cdr_eq(&again, cdr);
    if (w->nested) {
        int k = 0;
        assert_int_equal(w->s->ops->cdr_each(w->s->impl, count_cb, &k), 0);
        w->nested_n += k;
    }
    return w->stop_after && w->n >= w->stop_after;
}

static void suite_cdrs(void **state)
{
    ripp_store *s = *state;
    ripp_cdr c[4], got;
    walk w;

    memset(&w, 0, sizeof w);
    w.s = s;
    assert_int_equal(s->ops->cdr_each(s->impl, walk_cb, &w), 0);
    assert_int_equal(w.n, 0);

    for (int i = 0; i < 4; i++) {
        make_cdr(&c[i], i);
        assert_int_equal(s->ops->cdr_put(s->impl, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        memset(&got, 0x33, sizeof got);
        assert_int_equal(s->ops->cdr_get(s->impl, c[i].call_id, &got), 0);
        assert_cdr_eq(&got, &c[i]);
    }
    assert_int_equal(s->ops->cdr_get(s->impl, "nope", &got), RIPP_ERR_NOTFOUND);

    memset(&w, 0, sizeof w);
    w.s = s;
    assert_int_equal(s->ops->cdr_each(s->impl, walk_cb, &w), 0);
    assert_int_equal(w.n, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(w.ids[i], c[i].call_id);

    /* Rewriting a CDR (the call ended later than first written) moves it last. */
    c[1].end_ms += 5000;
    snprintf(c[1].outcome, sizeof c[1].outcome, "failed");
    assert_int_equal(s->ops->cdr_put(s->impl, &c[1]), 0);
    assert_int_equal(s->ops->cdr_get(s->impl, c[1].call_id, &got), 0);
    assert_cdr_eq(&got, &c[1]);
    memset(&w, 0, sizeof w);
    w.s = s;
    w.nested = 1;
    assert_int_equal(s->ops->cdr_each(s->impl, walk_cb, &w), 0);
    assert_int_equal(w.n, 4);
    assert_string_equal(w.ids[0], c[0].call_id);
    assert_string_equal(w.ids[1], c[2].call_id);
    assert_string_equal(w.ids[2], c[3].call_id);
    assert_string_equal(w.ids[3], c[1].call_id);
    assert_int_equal(w.nested_n, 16);

    /* Non-zero from the callback stops the walk. */
    memset(&w, 0, sizeof w);
    w.s = s;
    w.stop_after = 2;
    assert_int_equal(s->ops->cdr_each(s->impl, walk_cb, &w), 0);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.ids[1], c[2].call_id);

    /* Limits and bad arguments. */
    make_cdr(&got, 9);
    memset(got.stats_json, '{', sizeof got.stats_json);
    assert_int_equal(s->ops->cdr_put(s->impl, &got), RIPP_ERR_LIMIT);
    make_cdr(&got, 9);
    memset(got.outcome, 'o', sizeof got.outcome);
    assert_int_equal(s->ops->cdr_put(s->impl, &got), RIPP_ERR_LIMIT);
    make_cdr(&got, 9);
    assert_int_equal(s->ops->cdr_get(s->impl, got.call_id, &got), RIPP_ERR_NOTFOUND);
    assert_int_equal(s->ops->cdr_put(s->impl, NULL), RIPP_ERR_INVAL);
    assert_int_equal(s->ops->cdr_each(s->impl, NULL, NULL), RIPP_ERR_INVAL);
}

static int order_cb(void *ud, const ripp_cdr *cdr)
{
    int *next = ud;
    char want[40];
    snprintf(want, sizeof want, "0b9e4c52-1f7a-4d08-8c3e-%012d", *next);
    assert_string_equal(cdr->call_id, want);
    ++*next;
    return 0;
}

static void suite_many_cdrs(void **state)
{
    ripp_store *s = *state;
    enum { N = 2000 };
    ripp_cdr c;
    for (int i = 0; i < N; i++) {
        make_cdr(&c, i);
        assert_int_equal(s->ops->cdr_put(s->impl, &c), 0);
    }
    int next = 0;
    assert_int_equal(s->ops->cdr_each(s->impl, order_cb, &next), 0);
    assert_int_equal(next, N);
}

#define STORE_SUITE_TEST(f) cmocka_unit_test_setup_teardown(f, suite_setup, suite_teardown)
#define STORE_SUITE_TESTS                                                                          \
    STORE_SUITE_TEST(suite_trunk_roundtrip), STORE_SUITE_TEST(suite_trunk_limits),                 \
        STORE_SUITE_TEST(suite_tokens), STORE_SUITE_TEST(suite_call_roundtrip),                    \
        STORE_SUITE_TEST(suite_many_calls), STORE_SUITE_TEST(suite_cdrs),                          \
        STORE_SUITE_TEST(suite_many_cdrs)

#endif
