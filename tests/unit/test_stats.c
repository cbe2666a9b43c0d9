/* Ack-derived statistics: RTT histogram and quantiles, one-way-delay jitter, late frames,
 * merging and the JSON summary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ripp/stats.h"

#define MS RIPP_NS_PER_MS
#define US RIPP_NS_PER_US

static void test_init_defaults(void **st)
{
    (void)st;
    ripp_stats s;
    memset(&s, 0xab, sizeof s);
    ripp_stats_init(&s);
    assert_int_equal(s.sent, 0);
    assert_int_equal(s.rtt_count, 0);
    assert_int_equal(s.late_threshold_us, 100000);
    assert_false(s.have_owd);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 0.5), 0);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 0.99), 0);
}

static void test_counters(void **st)
{
    (void)st;
    ripp_stats s;
    ripp_stats_init(&s);
    for (int i = 0; i < 5; i++)
        ripp_stats_on_sent(&s);
    ripp_stats_on_lost(&s, 2);
    ripp_stats_on_lost(&s, 1);
    ripp_stats_on_ack(&s, 40 * MS, 1000);
    ripp_stats_on_ack(&s, 40 * MS, 1000);
    assert_int_equal(s.sent, 5);
    assert_int_equal(s.lost, 3);
    assert_int_equal(s.acked, 2);
    assert_int_equal(s.rtt_count, 2);
    assert_int_equal(s.rtt_max_us, 40000);
    assert_int_equal(s.rtt_min_us, 40000);
}

/* A constant RTT is reported exactly (clamped to the seen range). */
static void test_constant_rtt_exact(void **st)
{
    (void)st;
    ripp_stats s;
    ripp_stats_init(&s);
    for (int i = 0; i < 100; i++)
        ripp_stats_on_ack(&s, 40 * MS, 0);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 0.5), 40000);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 0.99), 40000);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 0.0), 40000);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 1.0), 40000);
}

/* Every value from 1 µs to ~100 s is resolved within 1/8 (in fact 1/16). */
static void test_resolution(void **st)
{
    (void)st;
    for (uint64_t v = 1; v < 100000000ULL; v = v * 21 / 20 + 1) {
        ripp_stats s;
        ripp_stats_init(&s);
        /* two samples far apart so that the clamp cannot hide the bucket's midpoint */
        ripp_stats_on_ack(&s, v * US, 0);
        ripp_stats_on_ack(&s, 200ULL * RIPP_NS_PER_SEC, 0);
        uint64_t q = ripp_stats_rtt_quantile_us(&s, 0.5);
        uint64_t err = q > v ? q - v : v - q;
        if (err * 16 > v) {
            fprintf(stderr, "value %llu -> %llu\n", (unsigned long long)v, (unsigned long long)q);
            fail();
        }
    }
}

static void test_quantiles_mixed(void **st)
{
    (void)st;
    ripp_stats s;
    ripp_stats_init(&s);
    /* 90 samples at 10 ms, 9 at 100 ms, 1 at 1 s */
    for (int i = 0; i < 90; i++)
        ripp_stats_on_ack(&s, 10 * MS, 0);
    for (int i = 0; i < 9; i++)
        ripp_stats_on_ack(&s, 100 * MS, 0);
    ripp_stats_on_ack(&s, 1000 * MS, 0);
    uint64_t p50 = ripp_stats_rtt_quantile_us(&s, 0.5);
    uint64_t p90 = ripp_stats_rtt_quantile_us(&s, 0.9);
    uint64_t p95 = ripp_stats_rtt_quantile_us(&s, 0.95);
    uint64_t p99 = ripp_stats_rtt_quantile_us(&s, 0.99);
    uint64_t p100 = ripp_stats_rtt_quantile_us(&s, 1.0);
    assert_in_range(p50, 10000 - 625, 10000 + 625);
    assert_in_range(p90, 10000 - 625, 10000 + 625);
    assert_in_range(p95, 100000 - 6250, 100000 + 6250);
    assert_in_range(p99, 100000 - 6250, 100000 + 6250);
    assert_int_equal(p100, 1000000);
    /* the minimum clamps from below */
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 0.0), 10000);
}

static void test_clamp_huge(void **st)
{
    (void)st;
    ripp_stats s;
    ripp_stats_init(&s);
    ripp_stats_on_ack(&s, 3600ULL * RIPP_NS_PER_SEC, 0); /* beyond the last bucket */
    assert_int_equal(s.rtt_hist[RIPP_STATS_RTT_BUCKETS - 1], 1);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 0.5), 3600000000ULL);
    ripp_stats_on_ack(&s, 0, 0);
    assert_int_equal(s.rtt_hist[0], 1);
    assert_int_equal(ripp_stats_rtt_quantile_us(&s, 0.5), 0);
}

/* RFC 3550 A.8 on the one-way delay: J += (|D| - J) / 16. */
static void test_jitter(void **st)
{
    (void)st;
    ripp_stats s;
    ripp_stats_init(&s);
    /* a huge clock offset between the hosts must not matter */
    const int64_t off = 1700000000000000LL;
    ripp_stats_on_ack(&s, 40 * MS, off + 20000);
    assert_true(s.jitter_us == 0.0);
    ripp_stats_on_ack(&s, 40 * MS, off + 36000); /* D = 16000 */
    assert_true(s.jitter_us == 1000.0);
    ripp_stats_on_ack(&s, 40 * MS, off + 20000); /* D = 16000: J = 1000 + 15000/16 */
    assert_true(s.jitter_us == 1937.5);
    /* constant delay decays the estimate */
    for (int i = 0; i < 200; i++)
        ripp_stats_on_ack(&s, 40 * MS, off + 20000);
    assert_true(s.jitter_us < 1.0);
    assert_int_equal(s.min_owd_us, off + 20000);
}

static void test_late(void **st)
{
    (void)st;
    ripp_stats s;
    ripp_stats_init(&s);
    ripp_stats_on_ack(&s, 40 * MS, 5000000);
    ripp_stats_on_ack(&s, 40 * MS, 5000000 + 100000); /* exactly the threshold: not late */
    assert_int_equal(s.late, 0);
    ripp_stats_on_ack(&s, 40 * MS, 5000000 + 100001);
    assert_int_equal(s.late, 1);
    /* a new minimum raises the bar for the following frames */
    ripp_stats_on_ack(&s, 40 * MS, 4000000);
    assert_int_equal(s.late, 1);
    ripp_stats_on_ack(&s, 40 * MS, 4150000);
    assert_int_equal(s.late, 2);
    s.late_threshold_us = 200000;
    ripp_stats_on_ack(&s, 40 * MS, 4150000);
    assert_int_equal(s.late, 2);
}

static void test_add(void **st)
{
    (void)st;
    ripp_stats a, b;
    ripp_stats_init(&a);
    ripp_stats_init(&b);
    ripp_stats_on_sent(&a);
    ripp_stats_on_ack(&a, 10 * MS, 0);
    a.jitter_us = 100;
    for (int i = 0; i < 3; i++) {
        ripp_stats_on_sent(&b);
        ripp_stats_on_ack(&b, 30 * MS, 0);
    }
    b.jitter_us = 500;
    ripp_stats_on_lost(&b, 4);
    b.rx_frames = 7;
    b.rx_duplicates = 1;
    b.rx_late = 2;
    b.rx_concealed = 3;
    b.stray_acks = 5;
    ripp_stats_add(&a, &b);
    assert_int_equal(a.sent, 4);
    assert_int_equal(a.acked, 4);
    assert_int_equal(a.lost, 4);
    assert_int_equal(a.rtt_count, 4);
    assert_int_equal(a.rtt_min_us, 10000);
    assert_int_equal(a.rtt_max_us, 30000);
    assert_true(a.jitter_us == 400.0); /* (100*1 + 500*3) / 4 */
    assert_int_equal(a.rx_frames, 7);
    assert_int_equal(a.rx_duplicates, 1);
    assert_int_equal(a.rx_late, 2);
    assert_int_equal(a.rx_concealed, 3);
    assert_int_equal(a.stray_acks, 5);
    /* 30000 lies in [28672, 30720): midpoint 29696 */
    assert_int_equal(ripp_stats_rtt_quantile_us(&a, 1.0), 29696);
    /* 10000 lies in [9216, 10240): midpoint 9728, clamped up to the minimum */
    assert_int_equal(ripp_stats_rtt_quantile_us(&a, 0.2), 10000);

    /* merging into an empty one takes b's range */
    ripp_stats e;
    ripp_stats_init(&e);
    ripp_stats_add(&e, &b);
    assert_int_equal(e.rtt_min_us, 30000);
    assert_true(e.jitter_us == 500.0);
}

static void test_json(void **st)
{
    (void)st;
    ripp_stats s;
    ripp_stats_init(&s);
    char out[512];
    int64_t n = ripp_stats_format_json(&s, out, sizeof out);
    const char *empty = "{\"sent\":0,\"acked\":0,\"lost\":0,\"late\":0,\"rtt_p50_ms\":0.000,"
                        "\"rtt_p99_ms\":0.000,\"jitter_ms\":0.000,\"rx_frames\":0,"
                        "\"rx_duplicates\":0,\"rx_late\":0,\"rx_concealed\":0}";
    assert_int_equal(n, (int64_t)strlen(empty));
    assert_string_equal(out, empty);

    for (int i = 0; i < 3; i++)
        ripp_stats_on_sent(&s);
    ripp_stats_on_ack(&s, 40123 * US, 0);
    ripp_stats_on_ack(&s, 40123 * US, 2500);
    ripp_stats_on_lost(&s, 1);
    s.rx_frames = 10;
    s.rx_concealed = 2;
    n = ripp_stats_format_json(&s, out, sizeof out);
    assert_true(n > 0);
    assert_string_equal(out, "{\"sent\":3,\"acked\":2,\"lost\":1,\"late\":0,\"rtt_p50_ms\":40.123,"
                             "\"rtt_p99_ms\":40.123,\"jitter_ms\":0.156,\"rx_frames\":10,"
                             "\"rx_duplicates\":0,\"rx_late\":0,\"rx_concealed\":2}");
    /* too small */
    assert_int_equal(ripp_stats_format_json(&s, out, 20), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_stats_format_json(&s, out, (size_t)n), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_stats_format_json(&s, out, (size_t)n + 1), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_defaults),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_constant_rtt_exact),
        cmocka_unit_test(test_resolution),
        cmocka_unit_test(test_quantiles_mixed),
        cmocka_unit_test(test_clamp_huge),
        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_late),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
