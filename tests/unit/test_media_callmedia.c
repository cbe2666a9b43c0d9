/* callmedia: echo returns what was played out, frame for frame; a WAV is sent once or in a
 * loop; received DTMF digits are collected; the recording holds what was played out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ripp/callmedia.h"

#define N 160

static void frame_of(int k, int16_t *pcm)
{
    for (int i = 0; i < N; i++)
        pcm[i] = (int16_t)(((k * 37 + i * 11) % 200 - 100) * 120 + 3000);
}

static void echo_round_trip(void **state)
{
    (void)state;
    int err = 0;
    ripp_callmedia_config cfg = {.echo = true};
    ripp_caps_init_default(&cfg.peer_caps);
    ripp_callmedia *m = ripp_callmedia_new(&cfg, &err, NULL, 0);
    assert_non_null(m);
    uint8_t buf[1500];
    enum ripp_codec codec;
    /* before anything is heard: comfort noise, and no codec is chosen yet */
    assert_int_equal(ripp_callmedia_next_frame(m, RIPP_CODEC_NONE, &codec, buf, sizeof buf), 1);
    assert_int_equal(codec, RIPP_CODEC_CN);
    /* 400 frames (more than the 1 s ring) played out, each echoed at the next interval */
    for (int k = 0; k < 400; k++) {
        int16_t pcm[N], back[N];
        uint8_t ulaw[N];
        frame_of(k, pcm);
        ripp_g711_encode(RIPP_CODEC_PCMU, pcm, N, ulaw);
        ripp_jbuf_out out = {.seq = (uint32_t)k,
                             .present = true,
                             .codec = RIPP_CODEC_PCMU,
                             .payload = ulaw,
                             .len = N};
        ripp_callmedia_playout(m, &out);
        int64_t len = ripp_callmedia_next_frame(m, RIPP_CODEC_PCMU, &codec, buf, sizeof buf);
        assert_int_equal(len, N);
        assert_int_equal(codec, RIPP_CODEC_PCMU);
        assert_memory_equal(buf, ulaw, N); /* G.711 decode + encode is exact */
        (void)back;
    }
    assert_int_equal(ripp_callmedia_frames_played(m), 400);
    ripp_callmedia_del(m);
}

static void digits_and_recording(void **state)
{
    (void)state;
    char path[] = "/tmp/ripp-callmedia-XXXXXX.wav";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    int err = 0;
    ripp_callmedia_config cfg = {.record_path = path};
    ripp_caps_init_default(&cfg.peer_caps);
    ripp_callmedia *m = ripp_callmedia_new(&cfg, &err, NULL, 0);
    assert_non_null(m);
    /* "7" then "#" as telephone-event frames, each with an end frame */
    const uint8_t ev[4][4] = {
        {7, 10, 0, 160}, {7, 0x80 | 10, 1, 64}, {11, 10, 0, 160}, {11, 0x80 | 10, 1, 64}};
    for (int k = 0; k < 4; k++) {
        ripp_jbuf_out out = {.seq = (uint32_t)k,
                             .present = true,
                             .codec = RIPP_CODEC_TEL_EVENT,
                             .payload = ev[k],
                             .len = 4};
        ripp_callmedia_playout(m, &out);
    }
    assert_string_equal(ripp_callmedia_digits(m), "7#");
    ripp_callmedia_del(m);
    int16_t *pcm = NULL;
    size_t n = 0;
    assert_int_equal(ripp_wav_load(path, &pcm, &n), 0);
    assert_int_equal(n, 4 * N); /* every played-out interval is in the recording */
    free(pcm);
    unlink(path);
}

static void play_once(void **state)
{
    (void)state;
    char path[] = "/tmp/ripp-callmedia-XXXXXX.wav";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    int16_t pcm[3 * N];
    for (int k = 0; k < 3; k++)
        frame_of(k, pcm + k * N);
    assert_int_equal(ripp_wav_save(path, pcm, 3 * N), 0);
    int err = 0;
    ripp_callmedia_config cfg = {.codec = RIPP_CODEC_PCMA, .play_path = path};
    ripp_caps_init_default(&cfg.peer_caps);
    ripp_callmedia *m = ripp_callmedia_new(&cfg, &err, NULL, 0);
    assert_non_null(m);
    uint8_t buf[1500], want[N];
    enum ripp_codec codec;
    for (int k = 0; k < 3; k++) {
        assert_false(ripp_callmedia_done(m));
        assert_int_equal(ripp_callmedia_next_frame(m, RIPP_CODEC_NONE, &codec, buf, sizeof buf), N);
        assert_int_equal(codec, RIPP_CODEC_PCMA);
        ripp_g711_encode(RIPP_CODEC_PCMA, pcm + k * N, N, want);
        assert_memory_equal(buf, want, N);
    }
    /* after the file: silence goes as comfort noise, and the source is done */
    assert_int_equal(ripp_callmedia_next_frame(m, RIPP_CODEC_NONE, &codec, buf, sizeof buf), 1);
    assert_int_equal(codec, RIPP_CODEC_CN);
    assert_true(ripp_callmedia_done(m));
    ripp_callmedia_del(m);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echo_round_trip),
        cmocka_unit_test(digits_and_recording),
        cmocka_unit_test(play_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
