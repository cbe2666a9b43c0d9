/* G.711 against spandsp's own block coder, known values, and round-trip quality. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "ripp/media.h"

#include <spandsp/telephony.h>
#include <spandsp/g711.h>

static double snr_db(const int16_t *a, const int16_t *b, size_t n)
{
    double s = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        s += (double)a[i] * a[i];
        e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    return 10 * log10(s / e);
}

static void test_known_values(void **state)
{
    int16_t pcm[4] = {0, 32767, -32768, -1};
    uint8_t u[4], a[4];
    assert_int_equal(ripp_g711_encode(RIPP_CODEC_PCMU, pcm, 4, u), 4);
    assert_int_equal(ripp_g711_encode(RIPP_CODEC_PCMA, pcm, 4, a), 4);
    assert_int_equal(u[0], 0xFF);
    assert_int_equal(a[0], 0xD5);
    assert_int_equal(u[1], 0x80);
    assert_int_equal(u[2], 0x00);
    assert_int_equal(a[1], 0xAA);
    assert_int_equal(a[2], 0x2A);
    int16_t back[4];
    uint8_t in[2] = {0xFF, 0x7F};
    assert_int_equal(ripp_g711_decode(RIPP_CODEC_PCMU, in, 2, back), 2);
    assert_int_equal(back[0], 0);
    assert_int_equal(back[1], 0);
    uint8_t ain[2] = {0xD5, 0x55};
    assert_int_equal(ripp_g711_decode(RIPP_CODEC_PCMA, ain, 2, back), 2);
    assert_int_equal(back[0], 8);
    assert_int_equal(back[1], -8);
}

static void test_bad_args(void **state)
{
    int16_t pcm[1] = {0};
    uint8_t out[1];
    assert_int_equal(ripp_g711_encode(RIPP_CODEC_OPUS, pcm, 1, out), RIPP_ERR_INVAL);
    assert_int_equal(ripp_g711_decode(RIPP_CODEC_CN, out, 1, pcm), RIPP_ERR_INVAL);
    assert_int_equal(ripp_g711_encode(RIPP_CODEC_PCMU, NULL, 1, out), RIPP_ERR_INVAL);
    assert_int_equal(ripp_g711_encode(RIPP_CODEC_PCMU, NULL, 0, NULL), 0);
}

/* Every 16-bit input gives the byte spandsp's g711_encode gives, and every byte decodes to
 * spandsp's value. */
static void compare_all(enum ripp_codec codec, int mode)
{
    int16_t *pcm = malloc(65536 * sizeof(*pcm));
    uint8_t *ours = malloc(65536), *theirs = malloc(65536);
    assert_non_null(pcm);
    assert_non_null(ours);
    assert_non_null(theirs);
    for (int i = 0; i < 65536; i++)
        pcm[i] = (int16_t)(i - 32768);
    g711_state_t *g = g711_init(NULL, mode);
    assert_non_null(g);
    assert_int_equal(ripp_g711_encode(codec, pcm, 65536, ours), 65536);
    assert_int_equal(g711_encode(g, theirs, pcm, 65536), 65536);
    assert_memory_equal(ours, theirs, 65536);

    uint8_t bytes[256];
    int16_t d1[256], d2[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (uint8_t)i;
    assert_int_equal(ripp_g711_decode(codec, bytes, 256, d1), 256);
    assert_int_equal(g711_decode(g, d2, bytes, 256), 256);
    assert_memory_equal(d1, d2, sizeof(d1));
    /* Decoding then encoding is the identity, except the two zero codes. */
    uint8_t re[256];
    ripp_g711_encode(codec, d1, 256, re);
    for (int i = 0; i < 256; i++) {
        if (codec == RIPP_CODEC_PCMU && i == 0x7F) continue; /* -0 encodes as +0 (0xFF) */
        assert_int_equal(re[i], i);
    }
    g711_free(g);
    free(pcm);
    free(ours);
    free(theirs);
}

static void test_matches_spandsp_ulaw(void **state)
{
    compare_all(RIPP_CODEC_PCMU, G711_ULAW);
}

static void test_matches_spandsp_alaw(void **state)
{
    compare_all(RIPP_CODEC_PCMA, G711_ALAW);
}

static void test_round_trip_snr(void **state)
{
    size_t n = 5 * 8000;
    int16_t *pcm = malloc(n * sizeof(*pcm)), *back = malloc(n * sizeof(*back));
    uint8_t *enc = malloc(n);
    assert_non_null(pcm);
    assert_non_null(back);
    assert_non_null(enc);
    ripp_audio_gen_speechlike(pcm, n, 7);
    enum ripp_codec codecs[2] = {RIPP_CODEC_PCMU, RIPP_CODEC_PCMA};
    for (int c = 0; c < 2; c++) {
        assert_int_equal(ripp_g711_encode(codecs[c], pcm, n, enc), (int)n);
        assert_int_equal(ripp_g711_decode(codecs[c], enc, n, back), (int)n);
        double snr = snr_db(pcm, back, n);
        print_message("G.711 %s round trip SNR %.2f dB\n", c ? "A-law" : "mu-law", snr);
        assert_true(snr > 35.0);
    }
    free(pcm);
    free(back);
    free(enc);
}

static void test_encoder_object(void **state)
{
    ripp_enc_params p = {.codec = RIPP_CODEC_PCMA, .frame_ms = 20};
    int err = 1;
    ripp_encoder *e = ripp_encoder_new(&p, &err);
    assert_non_null(e);
    assert_int_equal(err, 0);
    int16_t pcm[160] = {0};
    uint8_t out[160];
    assert_int_equal(ripp_encoder_encode(e, pcm, 160, out, sizeof(out)), 160);
    for (int i = 0; i < 160; i++)
        assert_int_equal(out[i], 0xD5);
    assert_int_equal(ripp_encoder_encode(e, pcm, 80, out, sizeof(out)), RIPP_ERR_INVAL);
    assert_int_equal(ripp_encoder_encode(e, pcm, 160, out, 100), RIPP_ERR_LIMIT);
    ripp_encoder_del(e);

    ripp_decoder *d = ripp_decoder_new(RIPP_CODEC_PCMA, 20, &err);
    assert_non_null(d);
    int16_t back[160];
    assert_int_equal(ripp_decoder_decode(d, out, 160, back, 160), 160);
    assert_int_equal(back[0], 8);
    assert_int_equal(ripp_decoder_decode(d, out, 159, back, 160), RIPP_ERR_PROTO);
    ripp_decoder_del(d);

    p.codec = RIPP_CODEC_TEL_EVENT;
    assert_null(ripp_encoder_new(&p, &err));
    assert_int_equal(err, RIPP_ERR_UNSUPPORTED);
    p.codec = RIPP_CODEC_PCMU;
    p.frame_ms = 25;
    assert_null(ripp_encoder_new(&p, &err));
    assert_int_equal(err, RIPP_ERR_INVAL);
    assert_null(ripp_decoder_new(RIPP_CODEC_CN, 20, &err));
    assert_int_equal(err, RIPP_ERR_UNSUPPORTED);
}

/* spandsp's PLC repeats the recent pitch period: a steady tone continues through a loss. */
static void test_g711_plc(void **state)
{
    int err;
    ripp_decoder *d = ripp_decoder_new(RIPP_CODEC_PCMU, 20, &err);
    assert_non_null(d);
    int16_t pcm[160], out[160];
    uint8_t enc[160];
    double ph = 0;
    for (int f = 0; f < 10; f++) {
        for (int i = 0; i < 160; i++, ph += 2 * M_PI * 200 / 8000)
            pcm[i] = (int16_t)(8000 * sin(ph));
        ripp_g711_encode(RIPP_CODEC_PCMU, pcm, 160, enc);
        assert_int_equal(ripp_decoder_decode(d, enc, 160, out, 160), 160);
    }
    assert_int_equal(ripp_decoder_conceal(d, out, 160), 160);
    double e = 0;
    for (int i = 0; i < 160; i++)
        e += (double)out[i] * out[i];
    double rms = sqrt(e / 160);
    print_message("G.711 PLC rms after a 8000-peak tone: %.0f\n", rms);
    assert_true(rms > 3000);
    ripp_decoder_del(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_matches_spandsp_ulaw),
        cmocka_unit_test(test_matches_spandsp_alaw),
        cmocka_unit_test(test_round_trip_snr),
        cmocka_unit_test(test_encoder_object),
        cmocka_unit_test(test_g711_plc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
