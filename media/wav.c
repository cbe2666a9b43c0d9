/* wav.c - WAV files through libsndfile, read as 8 kHz mono: channels are averaged and
 * integer multiples of 8 kHz are decimated by a linear-phase windowed-sinc low-pass whose
 * delay is compensated, so output sample k is input sample k*M filtered. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "ripp/media.h"

#define WAV_CHUNK 1024    /* input frames per libsndfile read */
#define WAV_MAX_FACTOR 48 /* 384 kHz */
#define WAV_TAPS_PER_FACTOR 48
#define WAV_CUTOFF_HZ 3600.0
#define WAV_KAISER_BETA 7.0 /* about 72 dB of stop-band attenuation */

struct ripp_wav {
    SNDFILE *sf;
    bool writing;
    int channels;
    int factor; /* input rate / 8000 */
    int ntaps, half;
    double *taps;
    double *frames; /* one interleaved read of WAV_CHUNK frames */
    double *in;     /* mono input; in[0] is input sample number base */
    size_t in_len, in_cap;
    int64_t base;
    int64_t next_out; /* next output sample number */
    bool eof;
};

#define SET_ERR(...)                                                                               \
    do {                                                                                           \
        if (errbuf && errcap > 0) snprintf(errbuf, errcap, __VA_ARGS__);                           \
    } while (0)

/* Zeroth-order modified Bessel function of the first kind, by its power series. */
static double bessel_i0(double x)
{
    double sum = 1, term = 1, q = x * x / 4;
    for (int k = 1; k < 64; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

static int design_filter(ripp_wav *w)
{
    if (w->factor == 1) {
        w->ntaps = 1;
        w->half = 0;
        w->taps = malloc(sizeof(double));
        if (!w->taps) return RIPP_ERR_NOMEM;
        w->taps[0] = 1.0;
        return 0;
    }
    w->half = WAV_TAPS_PER_FACTOR / 2 * w->factor;
    w->ntaps = 2 * w->half + 1;
    w->taps = malloc((size_t)w->ntaps * sizeof(double));
    if (!w->taps) return RIPP_ERR_NOMEM;
    double fc = WAV_CUTOFF_HZ / (RIPP_PCM_RATE * (double)w->factor); /* cycles per sample */
    double i0b = bessel_i0(WAV_KAISER_BETA), sum = 0;
    for (int j = 0; j < w->ntaps; j++) {
        double t = j - w->half;
        double x = 2 * fc * t;
        double sinc = t == 0 ? 1.0 : sin(M_PI * x) / (M_PI * x);
        double r = t / w->half;
        double win = bessel_i0(WAV_KAISER_BETA * sqrt(fmax(0.0, 1 - r * r))) / i0b;
        w->taps[j] = 2 * fc * sinc * win;
        sum += w->taps[j];
    }
    for (int j = 0; j < w->ntaps; j++)
        w->taps[j] /= sum; /* unity gain at DC */
    return 0;
}

ripp_wav *ripp_wav_open_read(const char *path, int *err, char *errbuf, size_t errcap)
{
    int rc = 0;
    ripp_wav *w = NULL;
    SF_INFO info;

    if (errbuf && errcap > 0) errbuf[0] = '\0';
    if (!path) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    memset(&info, 0, sizeof(info));
    w->sf = sf_open(path, SFM_READ, &info);
    if (!w->sf) {
        SET_ERR("%s: %s", path, sf_strerror(NULL));
        rc = RIPP_ERR_IO;
        goto out;
    }
    if (info.samplerate <= 0 || info.samplerate % RIPP_PCM_RATE != 0 ||
        info.samplerate / RIPP_PCM_RATE > WAV_MAX_FACTOR) {
        SET_ERR("%s: sample rate %ld Hz is not supported (8000 Hz or an integer multiple of "
                "it up to 384000 Hz is needed)",
                path, (long)info.samplerate);
        rc = RIPP_ERR_UNSUPPORTED;
        goto out;
    }
    if (info.channels < 1 || info.channels > 64) {
        SET_ERR("%s: %ld channels are not supported", path, (long)info.channels);
        rc = RIPP_ERR_UNSUPPORTED;
        goto out;
    }
    w->channels = info.channels;
    w->factor = info.samplerate / RIPP_PCM_RATE;
    rc = design_filter(w);
    if (rc != 0) goto out;
    w->in_cap = (size_t)w->ntaps + 2 * WAV_CHUNK;
    w->in = malloc(w->in_cap * sizeof(double));
    w->frames = malloc((size_t)WAV_CHUNK * (size_t)w->channels * sizeof(double));
    if (!w->in || !w->frames) rc = RIPP_ERR_NOMEM;
out:
    if (rc != 0) {
        ripp_wav_close(w);
        w = NULL;
    }
    if (err) *err = rc;
    return w;
}

/* Appends up to WAV_CHUNK mixed-down input samples; sets eof when the file is spent. */
static int wav_fill(ripp_wav *w)
{
    if (w->in_len + WAV_CHUNK > w->in_cap) {
        /* Samples before the window of the next output sample are no longer needed. */
        int64_t keep_from = w->next_out * w->factor - w->half;
        if (keep_from > w->base) {
            size_t drop = (size_t)(keep_from - w->base);
            if (drop > w->in_len) drop = w->in_len;
            memmove(w->in, w->in + drop, (w->in_len - drop) * sizeof(double));
            w->in_len -= drop;
            w->base += (int64_t)drop;
        }
        if (w->in_len + WAV_CHUNK > w->in_cap) {
            size_t cap = w->in_cap * 2;
            double *p = realloc(w->in, cap * sizeof(double));
            if (!p) return RIPP_ERR_NOMEM;
            w->in = p;
            w->in_cap = cap;
        }
    }
    sf_count_t got = sf_readf_double(w->sf, w->frames, WAV_CHUNK);
    if (got <= 0) {
        if (sf_error(w->sf) != SF_ERR_NO_ERROR) return RIPP_ERR_IO;
        w->eof = true;
        return 0;
    }
    for (sf_count_t i = 0; i < got; i++) {
        double s = 0;
        for (int c = 0; c < w->channels; c++)
            s += w->frames[i * w->channels + c];
        w->in[w->in_len++] = s / w->channels;
    }
    return 0;
}

static int16_t to_pcm(double v)
{
    double s = floor(v * 32768.0 + 0.5);
    if (s > 32767) return 32767;
    if (s < -32768) return -32768;
    return (int16_t)s;
}

int64_t ripp_wav_read(ripp_wav *w, int16_t *pcm, size_t n)
{
    if (!w || w->writing || (n > 0 && !pcm)) return RIPP_ERR_INVAL;
    size_t done = 0;
    while (done < n) {
        int64_t center = w->next_out * w->factor;
        while (!w->eof && w->base + (int64_t)w->in_len <= center + w->half) {
            int rc = wav_fill(w);
            if (rc != 0) return rc;
        }
        int64_t end = w->base + (int64_t)w->in_len; /* input samples known so far */
        if (w->eof && center >= end) break;
        double y = 0;
        for (int j = 0; j < w->ntaps; j++) {
            int64_t i = center + w->half - j;
            if (i < w->base || i >= end) continue; /* before the start or after the end: zero */
            y += w->taps[j] * w->in[i - w->base];
        }
        pcm[done++] = to_pcm(y);
        w->next_out++;
    }
    return (int64_t)done;
}

int ripp_wav_rewind(ripp_wav *w)
{
    if (!w || w->writing) return RIPP_ERR_INVAL;
    if (sf_seek(w->sf, 0, SEEK_SET) < 0) return RIPP_ERR_IO;
    w->in_len = 0;
    w->base = 0;
    w->next_out = 0;
    w->eof = false;
    return 0;
}

ripp_wav *ripp_wav_open_write(const char *path, int *err, char *errbuf, size_t errcap)
{
    int rc = 0;
    ripp_wav *w = NULL;
    SF_INFO info;

    if (errbuf && errcap > 0) errbuf[0] = '\0';
    if (!path) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    w->writing = true;
    memset(&info, 0, sizeof(info));
    info.samplerate = RIPP_PCM_RATE;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    w->sf = sf_open(path, SFM_WRITE, &info);
    if (!w->sf) {
        SET_ERR("%s: %s", path, sf_strerror(NULL));
        rc = RIPP_ERR_IO;
    }
out:
    if (rc != 0) {
        ripp_wav_close(w);
        w = NULL;
    }
    if (err) *err = rc;
    return w;
}

int ripp_wav_write(ripp_wav *w, const int16_t *pcm, size_t n)
{
    if (!w || !w->writing || (n > 0 && !pcm)) return RIPP_ERR_INVAL;
    if (n == 0) return 0;
    if (sf_writef_short(w->sf, pcm, (sf_count_t)n) != (sf_count_t)n) return RIPP_ERR_IO;
    return 0;
}

int ripp_wav_close(ripp_wav *w)
{
    int rc = 0;
    if (!w) return 0;
    if (w->sf && sf_close(w->sf) != 0) rc = RIPP_ERR_IO;
    free(w->taps);
    free(w->frames);
    free(w->in);
    free(w);
    return rc;
}

int ripp_wav_load(const char *path, int16_t **pcm, size_t *n)
{
    int rc = 0;
    int16_t *buf = NULL;
    size_t len = 0, cap = 0;

    if (!pcm || !n) return RIPP_ERR_INVAL;
    *pcm = NULL;
    *n = 0;
    ripp_wav *w = ripp_wav_open_read(path, &rc, NULL, 0);
    if (!w) return rc;
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 65536;
            int16_t *p = realloc(buf, ncap * sizeof(*p));
            if (!p) {
                rc = RIPP_ERR_NOMEM;
                goto out;
            }
            buf = p;
            cap = ncap;
        }
        int64_t got = ripp_wav_read(w, buf + len, cap - len);
        if (got < 0) {
            rc = (int)got;
            goto out;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
out:
    ripp_wav_close(w);
    if (rc != 0 || len == 0) {
        free(buf);
        buf = NULL;
        len = 0;
    }
    *pcm = buf;
    *n = len;
    return rc;
}

int ripp_wav_save(const char *path, const int16_t *pcm, size_t n)
{
    int rc = 0;
    ripp_wav *w = ripp_wav_open_write(path, &rc, NULL, 0);
    if (!w) return rc;
    rc = ripp_wav_write(w, pcm, n);
    int crc = ripp_wav_close(w);
    return rc != 0 ? rc : crc;
}
