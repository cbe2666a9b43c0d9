/* WAV files: exact round trip at 8 kHz, decimation of 16 and 48 kHz input, channel mixing,
 * errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>

#include "ripp/media.h"

static char dir[256];

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/ripp-wav-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    static const char *names[] = {"a.wav",    "b.wav",  "r16.wav", "r48.wav",
                                  "r48b.wav", "st.wav", "r44.wav", "st2.wav"};
    char p[300];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static const char *path(const char *name)
{
    static char p[300];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

/* Writes frames x channels of interleaved doubles with libsndfile directly. */
static void write_raw(const char *file, int rate, int channels, int format, const double *x,
                      size_t frames)
{
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = SF_FORMAT_WAV | format};
    SNDFILE *sf = sf_open(file, SFM_WRITE, &info);
    assert_non_null(sf);
    assert_int_equal(sf_writef_double(sf, x, (sf_count_t)frames), (sf_count_t)frames);
    assert_int_equal(sf_close(sf), 0);
}

static void test_round_trip_exact(void **state)
{
    size_t n = 3 * 8000 + 17;
    int16_t *pcm = malloc(n * sizeof(*pcm));
    assert_non_null(pcm);
    ripp_audio_gen_speechlike(pcm, n, 3);
    pcm[5] = 32767;
    pcm[6] = -32768;
    assert_int_equal(ripp_wav_save(path("a.wav"), pcm, n), 0);
    int16_t *back = NULL;
    size_t nb = 0;
    assert_int_equal(ripp_wav_load(path("a.wav"), &back, &nb), 0);
    assert_int_equal(nb, n);
    assert_memory_equal(back, pcm, n * sizeof(*pcm));
    free(back);

    /* The file really is 8 kHz mono 16-bit. */
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path("a.wav"), SFM_READ, &info);
    assert_non_null(sf);
    assert_int_equal(info.samplerate, 8000);
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    assert_int_equal(info.frames, (sf_count_t)n);
    sf_close(sf);

    /* Streaming: several writes, reads in odd sizes, rewind. */
    int err;
    char eb[200];
    ripp_wav *w = ripp_wav_open_write(path("b.wav"), &err, eb, sizeof(eb));
    assert_non_null(w);
    assert_int_equal(ripp_wav_write(w, pcm, 1000), 0);
    assert_int_equal(ripp_wav_write(w, pcm + 1000, n - 1000), 0);
    int16_t tmp[10];
    assert_int_equal(ripp_wav_read(w, tmp, 10), RIPP_ERR_INVAL);
    assert_int_equal(ripp_wav_close(w), 0);
    ripp_wav *r = ripp_wav_open_read(path("b.wav"), &err, eb, sizeof(eb));
    assert_non_null(r);
    int16_t *got = malloc(n * sizeof(*got));
    assert_non_null(got);
    for (int pass = 0; pass < 2; pass++) {
        size_t have = 0;
        int64_t k;
        while ((k = ripp_wav_read(r, got + have, n - have < 777 ? n - have : 777)) > 0)
            have += (size_t)k;
        assert_int_equal(k, 0);
        assert_int_equal(have, n);
        assert_memory_equal(got, pcm, n * sizeof(*pcm));
        assert_int_equal(ripp_wav_read(r, got, 10), 0);
        assert_int_equal(ripp_wav_rewind(r), 0);
    }
    assert_int_equal(ripp_wav_write(r, pcm, 10), RIPP_ERR_INVAL);
    assert_int_equal(ripp_wav_close(r), 0);
    free(got);
    free(pcm);
}

/* The level (dB relative to amp/sqrt2) and the frequency (by zero crossings) of the middle
 * of an 8 kHz tone. */
static void measure(const int16_t *pcm, size_t n, double amp, double *db, double *hz)
{
    size_t a = n / 4, b = 3 * n / 4;
    double e = 0;
    int crossings = 0;
    for (size_t i = a; i < b; i++) {
        e += (double)pcm[i] * pcm[i];
        if (i > a && ((pcm[i - 1] < 0) != (pcm[i] < 0))) crossings++;
    }
    double rms = sqrt(e / (double)(b - a));
    *db = 20 * log10(rms / (amp / sqrt(2)));
    *hz = crossings / 2.0 / ((double)(b - a) / 8000.0);
}

static void decimation_case(const char *name, int rate, int format, double hz, double amp,
                            int16_t **out, size_t *nout)
{
    size_t frames = (size_t)rate * 2;
    double *x = malloc(frames * sizeof(*x));
    assert_non_null(x);
    for (size_t i = 0; i < frames; i++)
        x[i] = amp / 32768.0 * sin(2 * M_PI * hz * (double)i / rate + 0.25);
    write_raw(path(name), rate, 1, format, x, frames);
    free(x);
    assert_int_equal(ripp_wav_load(path(name), out, nout), 0);
    assert_int_equal(*nout, 16000);
}

static void test_decimate_passband(void **state)
{
    int rates[2] = {16000, 48000};
    int formats[2] = {SF_FORMAT_PCM_16, SF_FORMAT_FLOAT};
    const char *names[2] = {"r16.wav", "r48.wav"};
    for (int k = 0; k < 2; k++) {
        int16_t *pcm;
        size_t n;
        decimation_case(names[k], rates[k], formats[k], 1000, 10000, &pcm, &n);
        double db, hz;
        measure(pcm, n, 10000, &db, &hz);
        print_message("%d Hz, 1 kHz tone: %.3f dB, %.1f Hz\n", rates[k], db, hz);
        assert_true(fabs(db) < 1.0);
        assert_true(fabs(hz - 1000) < 5);
        /* No delay: the output matches the tone sampled at 8 kHz at the same instants. */
        double s = 0, e = 0;
        for (size_t i = 1000; i < n - 1000; i++) {
            double want = 10000 * sin(2 * M_PI * 1000 * (double)i / 8000 + 0.25);
            s += want * want;
            e += (want - pcm[i]) * (want - pcm[i]);
        }
        assert_true(10 * log10(s / e) > 40);
        free(pcm);
    }
}

static void test_decimate_stopband(void **state)
{
    int16_t *pcm;
    size_t n;
    decimation_case("r48b.wav", 48000, SF_FORMAT_PCM_16, 6000, 16000, &pcm, &n);
    double db, hz;
    measure(pcm, n, 16000, &db, &hz);
    print_message("48 kHz, 6 kHz tone: %.1f dB\n", db);
    assert_true(db < -30);
    free(pcm);
}

static void test_stereo_mixdown(void **state)
{
    size_t frames = 4000;
    double *x = malloc(2 * frames * sizeof(*x));
    assert_non_null(x);
    for (size_t i = 0; i < frames; i++) {
        x[2 * i] = (double)((int)(i * 37 % 2000) - 1000) / 32768.0;
        x[2 * i + 1] = x[2 * i];
    }
    write_raw(path("st.wav"), 8000, 2, SF_FORMAT_PCM_16, x, frames);
    int16_t *pcm;
    size_t n;
    assert_int_equal(ripp_wav_load(path("st.wav"), &pcm, &n), 0);
    assert_int_equal(n, frames);
    for (size_t i = 0; i < frames; i++)
        assert_int_equal(pcm[i], (int)(i * 37 % 2000) - 1000);
    free(pcm);
    for (size_t i = 0; i < frames; i++)
        x[2 * i + 1] = -x[2 * i];
    write_raw(path("st2.wav"), 8000, 2, SF_FORMAT_PCM_16, x, frames);
    assert_int_equal(ripp_wav_load(path("st2.wav"), &pcm, &n), 0);
    for (size_t i = 0; i < frames; i++)
        assert_int_equal(pcm[i], 0);
    free(pcm);
    free(x);
}

static void test_errors(void **state)
{
    double x[441] = {0};
    write_raw(path("r44.wav"), 44100, 1, SF_FORMAT_PCM_16, x, 441);
    int err = 0;
    char eb[256];
    assert_null(ripp_wav_open_read(path("r44.wav"), &err, eb, sizeof(eb)));
    assert_int_equal(err, RIPP_ERR_UNSUPPORTED);
    print_message("%s\n", eb);
    assert_non_null(strstr(eb, "44100"));
    int16_t *pcm = (int16_t *)1;
    size_t n = 5;
    assert_int_equal(ripp_wav_load(path("r44.wav"), &pcm, &n), RIPP_ERR_UNSUPPORTED);
    assert_null(pcm);
    assert_int_equal(n, 0);

    assert_null(ripp_wav_open_read(path("missing.wav"), &err, eb, sizeof(eb)));
    assert_int_equal(err, RIPP_ERR_IO);
    assert_non_null(strstr(eb, "missing.wav"));
    assert_null(ripp_wav_open_write("/nonexistent-dir/x.wav", &err, eb, sizeof(eb)));
    assert_int_equal(err, RIPP_ERR_IO);
    assert_int_equal(ripp_wav_save("/nonexistent-dir/x.wav", NULL, 0), RIPP_ERR_IO);
    assert_null(ripp_wav_open_read(NULL, &err, NULL, 0));
    assert_int_equal(err, RIPP_ERR_INVAL);
    assert_int_equal(ripp_wav_close(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_exact),
        cmocka_unit_test(test_decimate_passband),
        cmocka_unit_test(test_decimate_stopband),
        cmocka_unit_test(test_stereo_mixdown),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
