/* Comfort noise: level measurement and generation (RFC 3389). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/media.h"

static void test_level_of_known_signals(void **state)
{
    int16_t pcm[800];
    memset(pcm, 0, sizeof(pcm));
    assert_int_equal(ripp_cn_level(pcm, 800), 127);
    assert_int_equal(ripp_cn_level(NULL, 0), 127);
    assert_int_equal(ripp_cn_level(pcm, 0), 127);

    for (int i = 0; i < 800; i++)
        pcm[i] = (i / 4) % 2 ? 32767 : -32767;
    assert_int_equal(ripp_cn_level(pcm, 800), 0); /* the full-scale square wave */

    /* A sine of amplitude A has power A^2/2: level = 20 log10(32767/A) + 3.01. 1 kHz at
     * 8 kHz repeats every 8 samples, so 800 samples hold whole periods. */
    struct {
        double amp;
        int level;
    } cases[] = {
        {32767, 3}, {1000, 33}, {10000, 13}, {100, 53}, {300, 44},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int i = 0; i < 800; i++)
            pcm[i] = (int16_t)lrint(cases[c].amp * sin(2 * M_PI * 1000 * i / 8000.0 + 0.3));
        assert_int_equal(ripp_cn_level(pcm, 800), cases[c].level);
    }
    /* One LSB of DC: 10 log10(32767^2) = 90.3 dB below full scale. */
    for (int i = 0; i < 800; i++)
        pcm[i] = 1;
    assert_int_equal(ripp_cn_level(pcm, 800), 90);
}

static void test_generate_matches_level(void **state)
{
    int16_t pcm[1600];
    uint8_t levels[] = {0, 10, 30, 50, 70, 80};
    for (size_t k = 0; k < sizeof(levels); k++) {
        ripp_cn_gen g = {0};
        ripp_cn_generate(&g, &levels[k], 1, pcm, 1600);
        int got = ripp_cn_level(pcm, 1600);
        print_message("CN level %u generates %d\n", levels[k], got);
        /* Level 0 clips at full scale; the others are exact to within a dB. */
        if (levels[k] == 0)
            assert_true(got <= 2);
        else
            assert_true(abs(got - levels[k]) <= 1);
    }
    uint8_t quiet = 127;
    ripp_cn_gen g = {0};
    ripp_cn_generate(&g, &quiet, 1, pcm, 1600);
    assert_int_equal(ripp_cn_level(pcm, 1600), 127);
    /* A payload without a level plays silence; spectral bytes are tolerated. */
    ripp_cn_generate(&g, NULL, 0, pcm, 1600);
    assert_int_equal(ripp_cn_level(pcm, 1600), 127);
    uint8_t with_spectrum[3] = {40, 10, 20};
    ripp_cn_generate(&g, with_spectrum, 3, pcm, 1600);
    assert_true(abs(ripp_cn_level(pcm, 1600) - 40) <= 1);
}

static void test_generate_deterministic(void **state)
{
    int16_t a[320], b[320], c[320];
    uint8_t lvl = 40;
    ripp_cn_gen g1 = {0}, g2 = {0}, g3 = {.rng = 12345};
    ripp_cn_generate(&g1, &lvl, 1, a, 320);
    ripp_cn_generate(&g2, &lvl, 1, b, 160);
    ripp_cn_generate(&g2, &lvl, 1, b + 160, 160);
    ripp_cn_generate(&g3, &lvl, 1, c, 320);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, c, sizeof(a));
    /* Not a constant or a short cycle: many distinct values, mean near zero. */
    long sum = 0;
    int distinct = 0;
    for (int i = 0; i < 320; i++) {
        sum += a[i];
        if (i > 0 && a[i] != a[i - 1]) distinct++;
    }
    assert_true(distinct > 300);
    assert_true(labs(sum) / 320 < 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_of_known_signals),
        cmocka_unit_test(test_generate_matches_level),
        cmocka_unit_test(test_generate_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
