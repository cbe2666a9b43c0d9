/* The fault-injecting store: operation counting, failure from a chosen operation on,
 * failures that never reach the inner store, and run-time changes. */
#include "store_suite.h"

static ripp_store *suite_new(void)
{
    int err = 1;
    ripp_store *inner = ripp_store_memory_new(&err);
    if (!inner) return NULL;
    /* fail_at 0: a transparent wrapper must show the full store behaviour. */
    return ripp_store_faulty_new(inner, 0, &err);
}

static void suite_del(ripp_store *s)
{
    ripp_store_close(s);
}

static ripp_store *new_faulty(ripp_store **inner_out, int fail_at)
{
    int err = 1;
    ripp_store *inner = ripp_store_memory_new(&err);
    assert_non_null(inner);
    ripp_store *f = ripp_store_faulty_new(inner, fail_at, &err);
    assert_non_null(f);
    assert_int_equal(err, 0);
    if (inner_out) *inner_out = inner;
    return f;
}

static void test_fails_from_op_n(void **state)
{
    (void)state;
    ripp_store *inner;
    ripp_store *f = new_faulty(&inner, 3);
    ripp_call_rec c, got;
    make_call(&c, 1);
    assert_int_equal(ripp_store_faulty_count(f), 0);
    assert_int_equal(f->ops->call_put(f->impl, &c), 0);         /* op 1 */
    assert_int_equal(f->ops->call_get(f->impl, c.id, &got), 0); /* op 2 */
    assert_call_eq(&got, &c);
    c.state = 5;
    assert_int_equal(f->ops->call_put(f->impl, &c), RIPP_ERR_STORE);         /* op 3 */
    assert_int_equal(f->ops->call_get(f->impl, c.id, &got), RIPP_ERR_STORE); /* op 4 */
    assert_int_equal(ripp_store_faulty_count(f), 4);
    /* The failed put never reached the inner store. */
    ripp_call_rec orig;
    make_call(&orig, 1);
    assert_int_equal(inner->ops->call_get(inner->impl, c.id, &got), 0);
    assert_int_equal(got.state, orig.state);

    /* Healing at run time: the count goes on, operations pass again. */
    ripp_store_faulty_set(f, 0);
    assert_int_equal(f->ops->call_put(f->impl, &c), 0);         /* op 5 */
    assert_int_equal(f->ops->call_get(f->impl, c.id, &got), 0); /* op 6 */
    assert_int_equal(got.state, 5);
    assert_int_equal(ripp_store_faulty_count(f), 6);

    /* Breaking again two operations ahead. */
    ripp_store_faulty_set(f, 8);
    assert_int_equal(f->ops->call_get(f->impl, c.id, &got), 0);              /* op 7 */
    assert_int_equal(f->ops->call_get(f->impl, c.id, &got), RIPP_ERR_STORE); /* op 8 */
    assert_int_equal(ripp_store_faulty_count(f), 8);
    ripp_store_close(f);
}

static int never_cb(void *ud, const ripp_cdr *cdr)
{
    (void)cdr;
    ++*(int *)ud;
    return 0;
}

static void test_every_op_fails(void **state)
{
    (void)state;
    ripp_store *inner;
    ripp_store *f = new_faulty(&inner, 1);
    ripp_trunk_rec t;
    ripp_call_rec c;
    ripp_cdr cdr;
    char tid[64];
    int n = 0;
    make_trunk(&t, "t");
    make_call(&c, 1);
    make_cdr(&cdr, 1);
    assert_int_equal(f->ops->trunk_put(f->impl, &t), RIPP_ERR_STORE);
    assert_int_equal(f->ops->trunk_get(f->impl, "t", &t), RIPP_ERR_STORE);
    assert_int_equal(f->ops->token_add(f->impl, "t", "abcd"), RIPP_ERR_STORE);
    assert_int_equal(f->ops->token_lookup(f->impl, "abcd", 0, tid, sizeof tid), RIPP_ERR_STORE);
    assert_int_equal(f->ops->call_put(f->impl, &c), RIPP_ERR_STORE);
    assert_int_equal(f->ops->call_get(f->impl, c.id, &c), RIPP_ERR_STORE);
    assert_int_equal(f->ops->cdr_put(f->impl, &cdr), RIPP_ERR_STORE);
    assert_int_equal(f->ops->cdr_get(f->impl, cdr.call_id, &cdr), RIPP_ERR_STORE);
    assert_int_equal(f->ops->cdr_each(f->impl, never_cb, &n), RIPP_ERR_STORE);
    assert_int_equal(n, 0);
    assert_int_equal(ripp_store_faulty_count(f), 9);

    /* Nothing reached the inner store. */
    assert_int_equal(inner->ops->trunk_get(inner->impl, "t", &t), RIPP_ERR_NOTFOUND);
    assert_int_equal(inner->ops->token_lookup(inner->impl, "abcd", 0, tid, sizeof tid),
                     RIPP_ERR_NOTFOUND);
    assert_int_equal(inner->ops->call_get(inner->impl, c.id, &c), RIPP_ERR_NOTFOUND);
    assert_int_equal(inner->ops->cdr_get(inner->impl, cdr.call_id, &cdr), RIPP_ERR_NOTFOUND);

    /* Passing through, every op reaches the inner store and returns its result. */
    ripp_store_faulty_set(f, 0);
    assert_int_equal(f->ops->trunk_put(f->impl, &t), 0);
    assert_int_equal(f->ops->token_add(f->impl, "t", "abcd"), 0);
    assert_int_equal(f->ops->token_lookup(f->impl, "abcd", 0, tid, sizeof tid), 0);
    assert_string_equal(tid, "t");
    assert_int_equal(f->ops->cdr_put(f->impl, &cdr), 0);
    assert_int_equal(f->ops->cdr_each(f->impl, never_cb, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(f->ops->call_get(f->impl, c.id, &c), RIPP_ERR_NOTFOUND);
    assert_int_equal(ripp_store_faulty_count(f), 15);
    ripp_store_close(f);
}

static void test_misuse(void **state)
{
    (void)state;
    int err = 0;
    assert_null(ripp_store_faulty_new(NULL, 1, &err));
    assert_int_equal(err, RIPP_ERR_INVAL);

    ripp_store *m = ripp_store_memory_new(&err);
    assert_non_null(m);
    assert_int_equal(ripp_store_faulty_count(m), RIPP_ERR_INVAL);
    assert_int_equal(ripp_store_faulty_count(NULL), RIPP_ERR_INVAL);
    /* Setting a fault on a store that is not faulty changes nothing. */
    ripp_store_faulty_set(m, 1);
    ripp_trunk_rec t;
    make_trunk(&t, "t");
    assert_int_equal(m->ops->trunk_put(m->impl, &t), 0);
    ripp_store_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS,
        cmocka_unit_test(test_fails_from_op_n),
        cmocka_unit_test(test_every_op_fails),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
