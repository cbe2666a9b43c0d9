/* The send pipeline (voice / CN / DTMF per interval) and the receive pipeline (slots to
 * PCM, concealment). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/media.h"

static ripp_media_tx *make_tx(enum ripp_codec codec, uint8_t silence_level)
{
    ripp_media_tx_config cfg = {.voice = {.codec = codec, .frame_ms = 20},
                                .silence_level = silence_level};
    int err = 1;
    ripp_media_tx *tx = ripp_media_tx_new(&cfg, &err);
    assert_non_null(tx);
    assert_int_equal(err, 0);
    return tx;
}

static void tone(int16_t *pcm, size_t n, double amp, double hz)
{
    for (size_t i = 0; i < n; i++)
        pcm[i] = (int16_t)lrint(amp * sin(2 * M_PI * hz * (double)i / 8000.0));
}

static void test_tx_silence_is_cn(void **state)
{
    ripp_media_tx *tx = make_tx(RIPP_CODEC_PCMU, 0); /* default threshold 70 */
    enum ripp_codec c = RIPP_CODEC_NONE;
    uint8_t out[400];
    int16_t pcm[160];

    assert_int_equal(ripp_media_tx_next(tx, NULL, &c, out, sizeof(out)), 1);
    assert_int_equal(c, RIPP_CODEC_CN);
    assert_int_equal(out[0], 127);
    memset(pcm, 0, sizeof(pcm));
    assert_int_equal(ripp_media_tx_next(tx, pcm, &c, out, sizeof(out)), 1);
    assert_int_equal(c, RIPP_CODEC_CN);
    assert_int_equal(out[0], 127);
    /* Level 73 (amplitude 10): quieter than the threshold, CN carrying that level. */
    tone(pcm, 160, 10, 1000);
    assert_int_equal(ripp_cn_level(pcm, 160), 73);
    assert_int_equal(ripp_media_tx_next(tx, pcm, &c, out, sizeof(out)), 1);
    assert_int_equal(c, RIPP_CODEC_CN);
    assert_int_equal(out[0], 73);
    /* Exactly at the threshold is still CN; one dB louder is voice. */
    tone(pcm, 160, 14.2, 1000);
    assert_int_equal(ripp_cn_level(pcm, 160), 70);
    assert_int_equal(ripp_media_tx_next(tx, pcm, &c, out, sizeof(out)), 1);
    assert_int_equal(c, RIPP_CODEC_CN);
    tone(pcm, 160, 16, 1000);
    assert_int_equal(ripp_cn_level(pcm, 160), 69);
    assert_int_equal(ripp_media_tx_next(tx, pcm, &c, out, sizeof(out)), 160);
    assert_int_equal(c, RIPP_CODEC_PCMU);
    ripp_media_tx_del(tx);
}

static void test_tx_voice_and_no_cn(void **state)
{
    ripp_media_tx *tx = make_tx(RIPP_CODEC_PCMA, 128); /* CN disabled */
    enum ripp_codec c;
    uint8_t out[400], want[160];
    int16_t pcm[160];
    tone(pcm, 160, 8000, 440);
    assert_int_equal(ripp_media_tx_next(tx, pcm, &c, out, sizeof(out)), 160);
    assert_int_equal(c, RIPP_CODEC_PCMA);
    ripp_g711_encode(RIPP_CODEC_PCMA, pcm, 160, want);
    assert_memory_equal(out, want, 160);
    /* Silence is sent as coded zeros when CN is off. */
    assert_int_equal(ripp_media_tx_next(tx, NULL, &c, out, sizeof(out)), 160);
    assert_int_equal(c, RIPP_CODEC_PCMA);
    for (int i = 0; i < 160; i++)
        assert_int_equal(out[i], 0xD5);
    assert_int_equal(ripp_media_tx_next(tx, pcm, &c, out, 3), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_media_tx_next(tx, pcm, &c, out, 100), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_media_tx_next(tx, pcm, NULL, out, 100), RIPP_ERR_INVAL);
    ripp_media_tx_del(tx);

    /* Opus: voice becomes Opus, a digit replaces it, silence is CN. */
    tx = make_tx(RIPP_CODEC_OPUS, 0);
    int64_t len = ripp_media_tx_next(tx, pcm, &c, out, sizeof(out));
    assert_true(len > 3 && len <= 80);
    assert_int_equal(c, RIPP_CODEC_OPUS);
    assert_int_equal(ripp_media_tx_dtmf(tx, "7"), 0);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(ripp_media_tx_next(tx, pcm, &c, out, sizeof(out)), 4);
        assert_int_equal(c, RIPP_CODEC_TEL_EVENT);
        assert_int_equal(out[0], 7);
    }
    len = ripp_media_tx_next(tx, pcm, &c, out, sizeof(out));
    assert_int_equal(c, RIPP_CODEC_OPUS);
    assert_int_equal(ripp_media_tx_next(tx, NULL, &c, out, sizeof(out)), 1);
    assert_int_equal(c, RIPP_CODEC_CN);
    ripp_media_tx_del(tx);

    int err;
    ripp_media_tx_config bad = {.voice = {.codec = RIPP_CODEC_CN}};
    assert_null(ripp_media_tx_new(&bad, &err));
    assert_int_equal(err, RIPP_ERR_UNSUPPORTED);
    assert_null(ripp_media_tx_new(NULL, &err));
    assert_int_equal(err, RIPP_ERR_INVAL);
}

static int play(ripp_media_rx *rx, uint32_t seq, bool present, enum ripp_codec c, const uint8_t *p,
                size_t len, int16_t *pcm)
{
    ripp_jbuf_out slot = {.seq = seq, .present = present, .codec = c, .payload = p, .len = len};
    char d;
    return ripp_media_rx_play(rx, &slot, pcm, 160, &d);
}

static bool all_zero(const int16_t *pcm, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pcm[i] != 0) return false;
    return true;
}

static void test_rx_conceal(void **state)
{
    int err;
    ripp_media_rx *rx = ripp_media_rx_new(20, &err);
    assert_non_null(rx);
    int16_t pcm[160], src[160];
    uint8_t enc[160];

    /* A missing slot before any voice is silence. */
    for (int i = 0; i < 160; i++)
        pcm[i] = 1;
    assert_int_equal(play(rx, 0, false, RIPP_CODEC_NONE, NULL, 0, pcm), 160);
    assert_true(all_zero(pcm, 160));

    /* Voice, then a lost frame: spandsp's PLC continues the tone. */
    uint32_t seq = 1;
    for (int f = 0; f < 5; f++, seq++) {
        for (int i = 0; i < 160; i++)
            src[i] = (int16_t)lrint(6000 * sin(2 * M_PI * 250 * (f * 160 + i) / 8000.0));
        ripp_g711_encode(RIPP_CODEC_PCMU, src, 160, enc);
        assert_int_equal(play(rx, seq, true, RIPP_CODEC_PCMU, enc, 160, pcm), 160);
    }
    assert_int_equal(play(rx, seq++, false, RIPP_CODEC_PCMU, NULL, 0, pcm), 160);
    print_message("G.711 PLC level after a level-18 tone: %u\n", ripp_cn_level(pcm, 160));
    assert_true(ripp_cn_level(pcm, 160) < 25);
    /* A frame of the wrong size is concealed and counted, not an error. */
    assert_int_equal(play(rx, seq++, true, RIPP_CODEC_PCMU, enc, 100, pcm), 160);
    assert_true(ripp_cn_level(pcm, 160) < 30);
    /* Garbage Opus: its decoder is made, the payload refused and concealed. */
    uint8_t junk[2] = {0xff, 0x00};
    assert_int_equal(play(rx, seq++, true, RIPP_CODEC_OPUS, junk, 2, pcm), 160);
    /* An unknown codec in a present slot. */
    assert_int_equal(play(rx, seq++, true, RIPP_CODEC_NONE, junk, 2, pcm), 160);

    /* CN plays noise at its level, and a loss right after it continues the noise. */
    uint8_t lvl = 50;
    assert_int_equal(play(rx, seq++, true, RIPP_CODEC_CN, &lvl, 1, pcm), 160);
    assert_true(abs(ripp_cn_level(pcm, 160) - 50) <= 1);
    assert_int_equal(play(rx, seq++, false, RIPP_CODEC_CN, NULL, 0, pcm), 160);
    assert_true(abs(ripp_cn_level(pcm, 160) - 50) <= 1);

    ripp_media_rx_counters cnt;
    ripp_media_rx_get_counters(rx, &cnt);
    assert_int_equal(cnt.voice, 5);
    assert_int_equal(cnt.cn, 1);
    assert_int_equal(cnt.undecodable, 3);
    assert_int_equal(cnt.concealed, 6);

    ripp_jbuf_out slot = {.present = false};
    assert_int_equal(ripp_media_rx_play(rx, &slot, pcm, 80, NULL), RIPP_ERR_INVAL);
    assert_int_equal(ripp_media_rx_play(rx, NULL, pcm, 160, NULL), RIPP_ERR_INVAL);
    ripp_media_rx_del(rx);
    assert_null(ripp_media_rx_new(25, &err));
    assert_int_equal(err, RIPP_ERR_INVAL);
}

/* The whole path for 4 s of speech-like audio: tx (G.711 + CN in the pauses, then Opus)
 * into rx, with one frame in 25 lost; the result stays close to the source. */
static void loop(enum ripp_codec codec, double min_snr, double min_xcorr)
{
    size_t n = 4 * 8000;
    int16_t *src = malloc(n * sizeof(*src)), *dst = malloc(n * sizeof(*dst));
    assert_non_null(src);
    assert_non_null(dst);
    ripp_audio_gen_speechlike(src, n, 5);
    ripp_media_tx *tx = make_tx(codec, 0);
    int err;
    ripp_media_rx *rx = ripp_media_rx_new(20, &err);
    assert_non_null(rx);
    uint8_t out[1500];
    size_t cn = 0, voice = 0;
    for (size_t off = 0, seq = 0; off + 160 <= n; off += 160, seq++) {
        enum ripp_codec c;
        int64_t len = ripp_media_tx_next(tx, src + off, &c, out, sizeof(out));
        assert_true(len > 0);
        if (c == RIPP_CODEC_CN)
            cn++;
        else if (c == codec)
            voice++;
        else
            fail();
        bool lost = seq % 25 == 13;
        assert_int_equal(
            play(rx, (uint32_t)seq, !lost, c, lost ? NULL : out, lost ? 0 : (size_t)len, dst + off),
            160);
    }
    ripp_audio_cmp cmp;
    assert_int_equal(ripp_audio_compare(src, n, dst, n, 200, &cmp), 0);
    print_message("loop %d: %zu voice, %zu CN; lag %ld, xcorr %.3f, SNR %.2f dB\n", codec, voice,
                  cn, cmp.lag, cmp.xcorr, cmp.snr_db);
    assert_true(cn > 20);
    assert_true(voice > 60);
    assert_true(cmp.xcorr > min_xcorr);
    assert_true(cmp.snr_db > min_snr);
    ripp_media_rx_del(rx);
    ripp_media_tx_del(tx);
    free(src);
    free(dst);
}

static void test_loop_pcmu(void **state)
{
    loop(RIPP_CODEC_PCMU, 20.0, 0.98);
}

static void test_loop_opus(void **state)
{
    loop(RIPP_CODEC_OPUS, 7.0, 0.9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_silence_is_cn), cmocka_unit_test(test_tx_voice_and_no_cn),
        cmocka_unit_test(test_rx_conceal),       cmocka_unit_test(test_loop_pcmu),
        cmocka_unit_test(test_loop_opus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
