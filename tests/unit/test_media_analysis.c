/* Audio comparison (lag, correlation, SNR) and the speech-like test signal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ripp/media.h"

#define TEN_S (10 * 8000)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int16_t *delayed(const int16_t *ref, size_t n, size_t lag, size_t extra)
{
    int16_t *t = calloc(n + lag + extra, sizeof(*t));
    assert_non_null(t);
    memcpy(t + lag, ref, n * sizeof(*ref));
    return t;
}

static void test_known_lag_exact(void **state)
{
    int16_t *ref = malloc(TEN_S * sizeof(*ref));
    assert_non_null(ref);
    ripp_audio_gen_speechlike(ref, TEN_S, 21);
    size_t lags[5] = {0, 1, 777, 1234, 7999};
    for (int k = 0; k < 5; k++) {
        int16_t *test = delayed(ref, TEN_S, lags[k], 100);
        ripp_audio_cmp c;
        double t0 = now_s();
        assert_int_equal(ripp_audio_compare(ref, TEN_S, test, TEN_S + lags[k] + 100, 8000, &c), 0);
        print_message("lag %zu found %ld in %.3f s\n", lags[k], c.lag, now_s() - t0);
        assert_int_equal(c.lag, (long)lags[k]);
        assert_true(c.xcorr > 0.999999);
        assert_true(c.snr_db >= 200.0);
        assert_int_equal(c.overlap, TEN_S);
        free(test);
    }
    free(ref);
}

/* Added noise at a known ratio is measured back; gain is not corrected. */
static void test_snr_measured(void **state)
{
    size_t n = 4 * 8000, lag = 333;
    int16_t *ref = malloc(n * sizeof(*ref));
    assert_non_null(ref);
    ripp_audio_gen_speechlike(ref, n, 4);
    int16_t *test = delayed(ref, n, lag, 0);
    double es = 0;
    for (size_t i = 0; i < n; i++)
        es += (double)ref[i] * ref[i];
    double noise_rms = sqrt(es / n / 100.0); /* 20 dB below the signal */
    uint32_t r = 99;
    double en = 0;
    for (size_t i = 0; i < n; i++) {
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        int v = (int)lrint(((double)r / 4294967296.0 * 2 - 1) * noise_rms * sqrt(3));
        test[lag + i] = (int16_t)(test[lag + i] + v);
        en += (double)v * v;
    }
    double want = 10 * log10(es / en);
    ripp_audio_cmp c;
    assert_int_equal(ripp_audio_compare(ref, n, test, n + lag, 1000, &c), 0);
    print_message("SNR want %.2f got %.2f, xcorr %.4f\n", want, c.snr_db, c.xcorr);
    assert_int_equal(c.lag, (long)lag);
    assert_true(fabs(c.snr_db - want) < 0.01);
    assert_true(c.xcorr > 0.99 && c.xcorr < 0.999);

    /* Half the amplitude: correlation stays 1, the SNR is 6 dB (no gain correction). */
    for (size_t i = 0; i < n; i++)
        test[lag + i] = (int16_t)(ref[i] / 2);
    assert_int_equal(ripp_audio_compare(ref, n, test, n + lag, 1000, &c), 0);
    assert_int_equal(c.lag, (long)lag);
    assert_true(c.xcorr > 0.9999);
    assert_true(fabs(c.snr_db - 6.02) < 0.05);
    free(test);
    free(ref);
}

static void test_skip_and_short(void **state)
{
    size_t n = 3 * 8000, lag = 400;
    int16_t *ref = malloc(n * sizeof(*ref));
    assert_non_null(ref);
    ripp_audio_gen_speechlike(ref, n, 8);
    int16_t *test = delayed(ref, n, lag, 0);
    /* A loud start-up click in the first 20 ms of test is skipped. */
    for (size_t i = 0; i < 160; i++)
        test[i] = (int16_t)(i % 2 ? 30000 : -30000);
    ripp_audio_cmp c;
    assert_int_equal(ripp_audio_compare_skip(ref, n, test, n + lag, 2000, 160, &c), 0);
    assert_int_equal(c.lag, (long)lag);
    assert_true(c.snr_db >= 200);
    /* Skipping beyond the lag drops the start of ref from the overlap. */
    assert_int_equal(ripp_audio_compare_skip(ref, n, test, n + lag, 2000, 1000, &c), 0);
    assert_int_equal(c.lag, (long)lag);
    assert_int_equal(c.overlap, n - (1000 - lag));

    /* Small inputs take the exhaustive path and still find the lag. */
    size_t at = 1000;
    while (ripp_cn_level(ref + at, 800) > 30)
        at += 80;
    assert_int_equal(ripp_audio_compare(ref + at, 300, test + at + lag - 100, 450, 150, &c), 0);
    assert_int_equal(c.lag, 100);
    assert_int_equal(c.overlap, 300);

    assert_int_equal(ripp_audio_compare(ref, 0, test, n, 10, &c), RIPP_ERR_INVAL);
    assert_int_equal(ripp_audio_compare(ref, n, test, 0, 10, &c), RIPP_ERR_INVAL);
    assert_int_equal(ripp_audio_compare(ref, n, test, n, -1, &c), RIPP_ERR_INVAL);
    assert_int_equal(ripp_audio_compare_skip(ref, n, test, 100, 10, 100, &c), RIPP_ERR_INVAL);
    assert_int_equal(ripp_audio_compare(NULL, n, test, n, 10, &c), RIPP_ERR_INVAL);
    free(test);
    free(ref);
}

static void test_speechlike_properties(void **state)
{
    size_t n = TEN_S;
    int16_t *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b));
    assert_non_null(a);
    assert_non_null(b);
    ripp_audio_gen_speechlike(a, n, 1);
    ripp_audio_gen_speechlike(b, n, 1);
    assert_memory_equal(a, b, n * sizeof(*a));
    ripp_audio_gen_speechlike(b, 12345, 1); /* a shorter run is a prefix */
    assert_memory_equal(a, b, 12345 * sizeof(*a));
    ripp_audio_gen_speechlike(b, n, 2);
    assert_memory_not_equal(a, b, n * sizeof(*a));

    int peak = 0;
    for (size_t i = 0; i < n; i++)
        peak = abs(a[i]) > peak ? abs(a[i]) : peak;
    double peak_db = 20 * log10(peak / 32767.0);
    print_message("peak %.2f dBFS\n", peak_db);
    assert_true(peak_db > -8 && peak_db <= -5.9);

    /* Interval kinds: digital silence, faint noise (CN-worthy), voice. */
    int silent = 0, faint = 0, loud = 0;
    for (size_t off = 0; off + 160 <= n; off += 160) {
        uint8_t lvl = ripp_cn_level(a + off, 160);
        if (lvl == 127)
            silent++;
        else if (lvl >= 70)
            faint++;
        else if (lvl < 40)
            loud++;
    }
    print_message("20 ms frames: %d silent, %d faint, %d loud of %zu\n", silent, faint, loud,
                  n / 160);
    assert_true(silent >= 20);
    assert_true(faint >= 20);
    assert_true(loud >= 100);

    /* Voiced: the autocorrelation of a loud stretch peaks at a pitch period of 36-89
     * samples (90-220 Hz). */
    size_t at = 0;
    for (size_t off = 0; off + 400 <= n; off += 80)
        if (ripp_cn_level(a + off, 400) < 25) {
            at = off;
            break;
        }
    double best = -1;
    int best_lag = 0;
    for (int lag = 20; lag <= 120; lag++) {
        double s = 0;
        for (size_t i = 0; i < 240; i++)
            s += (double)a[at + i] * a[at + i + (size_t)lag];
        if (s > best) {
            best = s;
            best_lag = lag;
        }
    }
    print_message("pitch period %d samples\n", best_lag);
    assert_true(best_lag >= 34 && best_lag <= 92);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_lag_exact),
        cmocka_unit_test(test_snr_measured),
        cmocka_unit_test(test_skip_and_short),
        cmocka_unit_test(test_speechlike_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
