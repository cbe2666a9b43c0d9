/* telephone-event payloads, the send-side digit schedule and receive-side recognition. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ripp/media.h"

static void test_payload_layout(void **state)
{
    ripp_tel_event ev = {.event = 11, .end = true, .volume = 10, .duration = 800};
    uint8_t b[4];
    assert_int_equal(ripp_tel_event_encode(&ev, b), 0);
    uint8_t want[4] = {0x0b, 0x8a, 0x03, 0x20};
    assert_memory_equal(b, want, 4);

    ripp_tel_event d;
    uint8_t in[5] = {0x05, 0x40 | 0x3f, 0xff, 0xfe, 0x99};
    assert_int_equal(ripp_tel_event_decode(in, 5, &d), 0); /* extra bytes tolerated */
    assert_int_equal(d.event, 5);
    assert_false(d.end);
    assert_int_equal(d.volume, 63); /* R bit ignored */
    assert_int_equal(d.duration, 0xfffe);
    assert_int_equal(ripp_tel_event_decode(in, 3, &d), RIPP_ERR_PROTO);
    uint8_t other[4] = {200, 0x80, 0, 160};
    assert_int_equal(ripp_tel_event_decode(other, 4, &d), 0);
    assert_int_equal(d.event, 200);
    assert_int_equal(ripp_dtmf_char(d.event), '\0');

    ev.volume = 64;
    assert_int_equal(ripp_tel_event_encode(&ev, b), RIPP_ERR_INVAL);
}

static void test_chars(void **state)
{
    const char *all = "0123456789*#ABCD";
    for (int i = 0; i < 16; i++) {
        assert_int_equal(ripp_dtmf_event_from_char(all[i]), i);
        assert_int_equal(ripp_dtmf_char((uint8_t)i), all[i]);
    }
    assert_int_equal(ripp_dtmf_event_from_char('a'), 12);
    assert_int_equal(ripp_dtmf_event_from_char('E'), RIPP_ERR_INVAL);
    assert_int_equal(ripp_dtmf_event_from_char('\0'), RIPP_ERR_INVAL);
    assert_int_equal(ripp_dtmf_event_from_char(' '), RIPP_ERR_INVAL);
    assert_int_equal(ripp_dtmf_char(16), '\0');
}

static ripp_media_tx *new_tx(uint32_t tone, uint32_t gap)
{
    ripp_media_tx_config cfg = {
        .voice = {.codec = RIPP_CODEC_PCMU, .frame_ms = 20},
        .dtmf_tone_ms = tone,
        .dtmf_gap_ms = gap,
    };
    int err;
    ripp_media_tx *tx = ripp_media_tx_new(&cfg, &err);
    assert_non_null(tx);
    assert_int_equal(err, 0);
    return tx;
}

/* "1#" with 100 ms tones and 100 ms gaps at 20 ms: 5 event frames, 5 voice, 5, 5. */
static void test_tx_schedule_exact(void **state)
{
    ripp_media_tx *tx = new_tx(0, 0); /* defaults: 100 / 100 / volume 10 */
    int16_t voice[160];
    for (int i = 0; i < 160; i++)
        voice[i] = (int16_t)((i % 20) * 800 - 8000);
    assert_false(ripp_media_tx_dtmf_pending(tx));
    assert_int_equal(ripp_media_tx_dtmf(tx, "1#"), 0);
    assert_true(ripp_media_tx_dtmf_pending(tx));

    static const uint8_t want[10][4] = {
        {1, 0x0a, 0x00, 0xa0},  {1, 0x0a, 0x01, 0x40},  {1, 0x0a, 0x01, 0xe0},
        {1, 0x0a, 0x02, 0x80},  {1, 0x8a, 0x03, 0x20},  {11, 0x0a, 0x00, 0xa0},
        {11, 0x0a, 0x01, 0x40}, {11, 0x0a, 0x01, 0xe0}, {11, 0x0a, 0x02, 0x80},
        {11, 0x8a, 0x03, 0x20},
    };
    int ev = 0;
    uint8_t out[400];
    enum ripp_codec c;
    for (int k = 0; k < 25; k++) {
        int64_t len = ripp_media_tx_next(tx, voice, &c, out, sizeof(out));
        bool event_slot = k < 5 || (k >= 10 && k < 15);
        if (event_slot) {
            assert_int_equal(c, RIPP_CODEC_TEL_EVENT);
            assert_int_equal(len, 4);
            assert_memory_equal(out, want[ev], 4);
            ev++;
        } else {
            assert_int_equal(c, RIPP_CODEC_PCMU);
            assert_int_equal(len, 160);
        }
        if (k == 13) assert_true(ripp_media_tx_dtmf_pending(tx));
        if (k == 14) assert_false(ripp_media_tx_dtmf_pending(tx));
    }
    assert_int_equal(ev, 10);
    ripp_media_tx_del(tx);
}

/* Rounding up: a 50 ms tone at 20 ms is 3 frames (480 samples at the end); a 30 ms gap is
 * 2 voice intervals. A digit queued during the gap waits for it. */
static void test_tx_rounding_and_queueing(void **state)
{
    ripp_media_tx *tx = new_tx(50, 30);
    enum ripp_codec c;
    uint8_t out[400];
    assert_int_equal(ripp_media_tx_dtmf(tx, "9"), 0);
    uint16_t durs[3] = {160, 320, 480};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(ripp_media_tx_next(tx, NULL, &c, out, sizeof(out)), 4);
        assert_int_equal(c, RIPP_CODEC_TEL_EVENT);
        assert_int_equal((out[2] << 8) | out[3], durs[k]);
        assert_int_equal(out[1] & 0x80, k == 2 ? 0x80 : 0);
    }
    assert_int_equal(ripp_media_tx_dtmf(tx, "*"), 0);
    assert_int_equal(ripp_media_tx_next(tx, NULL, &c, out, sizeof(out)), 1);
    assert_int_equal(c, RIPP_CODEC_CN);
    assert_int_equal(ripp_media_tx_next(tx, NULL, &c, out, sizeof(out)), 1);
    assert_int_equal(c, RIPP_CODEC_CN);
    assert_int_equal(ripp_media_tx_next(tx, NULL, &c, out, sizeof(out)), 4);
    assert_int_equal(c, RIPP_CODEC_TEL_EVENT);
    assert_int_equal(out[0], 10);

    /* Bad characters queue nothing; too many digits are refused whole. */
    assert_int_equal(ripp_media_tx_dtmf(tx, "12x"), RIPP_ERR_INVAL);
    assert_int_equal(ripp_media_tx_dtmf(tx, NULL), RIPP_ERR_INVAL);
    char many[300];
    memset(many, '5', 299);
    many[299] = '\0';
    assert_int_equal(ripp_media_tx_dtmf(tx, many), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_media_tx_dtmf(tx, ""), 0);
    /* Finish '*': 2 more frames, then 2 gap intervals, and nothing more is pending. */
    for (int k = 0; k < 4; k++)
        ripp_media_tx_next(tx, NULL, &c, out, sizeof(out));
    assert_false(ripp_media_tx_dtmf_pending(tx));
    assert_int_equal(ripp_media_tx_next(tx, NULL, &c, out, sizeof(out)), 1);
    assert_int_equal(c, RIPP_CODEC_CN);
    ripp_media_tx_del(tx);
}

/* Receive side: the frames of "1#55" from the scheduler, with some losses. */
static void test_rx_detection(void **state)
{
    ripp_media_tx *tx = new_tx(100, 60);
    int err;
    ripp_media_rx *rx = ripp_media_rx_new(20, &err);
    assert_non_null(rx);
    assert_int_equal(ripp_media_tx_dtmf(tx, "1#55"), 0);
    int16_t voice[160], pcm[160];
    for (int i = 0; i < 160; i++)
        voice[i] = (int16_t)((i % 16) * 1000 - 8000);
    char got[16] = {0};
    int ngot = 0, events_seen = 0;
    uint8_t out[400];
    for (uint32_t seq = 0; seq < 60; seq++) {
        enum ripp_codec c;
        int64_t len = ripp_media_tx_next(tx, voice, &c, out, sizeof(out));
        assert_true(len > 0);
        ripp_jbuf_out slot = {
            .seq = seq, .present = true, .codec = c, .payload = out, .len = (size_t)len};
        if (c == RIPP_CODEC_TEL_EVENT) {
            events_seen++;
            /* Lose the E frame of the first '5', and the first frame of the second '5'. */
            if (events_seen == 15 || events_seen == 16) {
                slot.present = false;
                slot.payload = NULL;
                slot.len = 0;
            }
        }
        char d = 'x';
        assert_int_equal(ripp_media_rx_play(rx, &slot, pcm, 160, &d), 160);
        /* Events play silence, and so does a gap right after one; the lost first frame of
         * the second '5' follows voice and is concealed from it. */
        if (c == RIPP_CODEC_TEL_EVENT && events_seen != 16) {
            for (int i = 0; i < 160; i++)
                assert_int_equal(pcm[i], 0);
        }
        if (events_seen == 16 && !slot.present) assert_true(ripp_cn_level(pcm, 160) < 40);
        if (d != '\0') got[ngot++] = d;
    }
    assert_int_equal(events_seen, 20);
    assert_string_equal(got, "1#55");
    ripp_media_rx_counters cnt;
    ripp_media_rx_get_counters(rx, &cnt);
    assert_int_equal(cnt.digits, 4);
    assert_int_equal(cnt.events, 18);
    assert_int_equal(cnt.concealed, 2);
    ripp_media_rx_del(rx);
    ripp_media_tx_del(tx);
}

/* Directly on the detector: back-to-back equal digits without voice in between, repeated
 * end packets, a restart with a lower duration, non-DTMF events. */
static void test_detector_rules(void **state)
{
    ripp_dtmf_detect d;
    memset(&d, 0, sizeof(d));
    ripp_tel_event e = {.event = 5, .duration = 160};
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '5');
    e.duration = 320;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '\0');
    e.end = true;
    e.duration = 480;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '\0');
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '\0'); /* a repeated end packet */
    e.end = false;
    e.duration = 160;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '5'); /* the next 5 after an end */
    e.duration = 320;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '\0');
    e.duration = 160;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '5'); /* end lost, duration restarted */
    e.event = 6;
    e.duration = 320;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '6'); /* the event changed */
    e.event = 6;
    e.duration = 480;
    e.end = true;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '\0');
    e.end = true;
    e.duration = 800;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '6'); /* after an end, a new end-only */
    e.event = 32;
    e.end = false;
    e.duration = 160;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '\0'); /* not DTMF */
    ripp_dtmf_detect_reset(&d);
    e.event = 6;
    e.duration = 960;
    assert_int_equal(ripp_dtmf_detect_feed(&d, &e), '6'); /* after voice: new */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_layout),    cmocka_unit_test(test_chars),
        cmocka_unit_test(test_tx_schedule_exact), cmocka_unit_test(test_tx_rounding_and_queueing),
        cmocka_unit_test(test_rx_detection),      cmocka_unit_test(test_detector_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
