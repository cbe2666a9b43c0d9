/* One-way-delay histogram: quantiles, late counts against min + depth, merging, range. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ripp/owdhist.h"

static void test_empty(void **st)
{
    (void)st;
    ripp_owdhist h;
    assert_int_equal(ripp_owdhist_init(&h, 0), 0);
    assert_int_equal(ripp_owdhist_quantile_us(&h, 0.5), 0);
    assert_int_equal(ripp_owdhist_count_above(&h, 0), 0);
    char buf[512];
    assert_true(ripp_owdhist_format_json(&h, 60000, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "\"count\":0"));
    ripp_owdhist_free(&h);
    ripp_owdhist_free(&h); /* idempotent */
}

static void test_constant_is_exact(void **st)
{
    (void)st;
    ripp_owdhist h;
    assert_int_equal(ripp_owdhist_init(&h, 0), 0);
    for (int i = 0; i < 100; i++)
        ripp_owdhist_add(&h, 20123);
    assert_int_equal(ripp_owdhist_quantile_us(&h, 0.5), 20123);
    assert_int_equal(ripp_owdhist_quantile_us(&h, 0.99), 20123);
    assert_int_equal(ripp_owdhist_count_above(&h, 20123), 0);
    assert_int_equal(ripp_owdhist_count_above(&h, 20122), 100);
    ripp_owdhist_free(&h);
}

static void test_quantiles_and_late(void **st)
{
    (void)st;
    ripp_owdhist h;
    assert_int_equal(ripp_owdhist_init(&h, -1000000), 0);
    /* 980 frames at 20 ms, 20 frames stuck behind a retransmission: 20 ms + 100..290 ms */
    for (int i = 0; i < 980; i++)
        ripp_owdhist_add(&h, 20000 + i % 7);
    for (int i = 0; i < 20; i++)
        ripp_owdhist_add(&h, 120000 + i * 10000);
    int64_t p50 = ripp_owdhist_quantile_us(&h, 0.5);
    assert_true(p50 >= 20000 && p50 <= 20100);
    int64_t p99 = ripp_owdhist_quantile_us(&h, 0.99);
    /* rank 990: the 10th of the delayed frames, 210 ms */
    assert_true(p99 >= 210000 && p99 <= 210100);
    assert_int_equal(ripp_owdhist_quantile_us(&h, 1.0), 310000);
    /* later than min + 60 ms: the 20 delayed frames */
    assert_int_equal(ripp_owdhist_count_above(&h, h.min_us + 60000), 20);
    assert_int_equal(ripp_owdhist_count_above(&h, 200000), 11);
    char buf[512];
    assert_true(ripp_owdhist_format_json(&h, 60000, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "\"late\":20}"));
    assert_non_null(strstr(buf, "\"min_ms\":20.000"));
    assert_int_equal(ripp_owdhist_format_json(&h, 60000, buf, 10), RIPP_ERR_LIMIT);
    ripp_owdhist_free(&h);
}

static void test_range_and_merge(void **st)
{
    (void)st;
    ripp_owdhist a, b, c;
    assert_int_equal(ripp_owdhist_init(&a, 0), 0);
    assert_int_equal(ripp_owdhist_init(&b, 0), 0);
    assert_int_equal(ripp_owdhist_init(&c, 5), 0);
    ripp_owdhist_add(&a, -50); /* under the base */
    ripp_owdhist_add(&a, 1000);
    ripp_owdhist_add(&b, 60 * 1000 * 1000); /* beyond the range */
    assert_int_equal(a.under, 1);
    assert_int_equal(b.over, 1);
    assert_int_equal(ripp_owdhist_merge(&a, &b), 0);
    assert_int_equal(ripp_owdhist_merge(&a, &c), RIPP_ERR_INVAL);
    assert_int_equal(a.count, 3);
    assert_int_equal(a.min_us, -50);
    assert_int_equal(a.max_us, 60 * 1000 * 1000);
    assert_int_equal(ripp_owdhist_quantile_us(&a, 1.0), 60 * 1000 * 1000);
    assert_int_equal(ripp_owdhist_quantile_us(&a, 0.0), -50);
    assert_int_equal(ripp_owdhist_count_above(&a, 10000), 1);
    ripp_owdhist_reset(&a);
    assert_int_equal(a.count, 0);
    assert_int_equal(ripp_owdhist_quantile_us(&a, 0.5), 0);
    ripp_owdhist_free(&a);
    ripp_owdhist_free(&b);
    ripp_owdhist_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_constant_is_exact),
        cmocka_unit_test(test_quantiles_and_late),
        cmocka_unit_test(test_range_and_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
