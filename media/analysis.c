/* analysis.c - comparing a received recording against its reference, and a deterministic
 * speech-like test signal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/media.h"
#include "media_int.h"

#define CMP_BLOCK 8            /* coarse search on 1 ms block sums */
#define CMP_WINDOW (30 * 8000) /* correlate at most the first 30 s of the overlap */
#define CMP_REFINE 32          /* full-resolution search ± this around a coarse peak */
#define CMP_CANDIDATES 4
#define CMP_BRUTE_LIMIT 2000000.0 /* multiply-adds below which every lag is tried */
#define CMP_SNR_CAP 200.0

/* The overlap of ref[i] with test[i + lag] for i in [*i0, *i1), test indices >= skip. */
static size_t overlap_at(size_t nref, size_t ntest, size_t skip, size_t lag, size_t *i0, size_t *i1)
{
    if (lag >= ntest) return 0;
    size_t a = skip > lag ? skip - lag : 0;
    size_t b = ntest - lag < nref ? ntest - lag : nref;
    *i0 = a;
    *i1 = b;
    return b > a ? b - a : 0;
}

/* Normalised correlation of ref[i0..i1) with test[i0+lag..i1+lag); prefix sums of squares
 * give the energies. */
static double xcorr_at(const int16_t *ref, const int16_t *test, const int64_t *pref,
                       const int64_t *ptest, size_t i0, size_t i1, size_t lag)
{
    int64_t dot = 0;
    const int16_t *t = test + lag;
    for (size_t i = i0; i < i1; i++)
        dot += (int32_t)ref[i] * t[i];
    double er = (double)(pref[i1] - pref[i0]);
    double et = (double)(ptest[i1 + lag] - ptest[i0 + lag]);
    if (er <= 0 || et <= 0) return 0;
    return (double)dot / sqrt(er * et);
}

static int64_t *prefix_squares(const int16_t *x, size_t n)
{
    int64_t *p = malloc((n + 1) * sizeof(*p));
    if (!p) return NULL;
    p[0] = 0;
    for (size_t i = 0; i < n; i++)
        p[i + 1] = p[i] + (int32_t)x[i] * x[i];
    return p;
}

typedef struct cmp_ctx {
    const int16_t *ref, *test;
    size_t nref, ntest, skip, min_overlap, max_lag;
    int64_t *pref, *ptest;
    size_t best_lag;
    double best;
    bool found;
} cmp_ctx;

static void try_lag(cmp_ctx *c, size_t lag)
{
    size_t i0, i1;
    if (lag > c->max_lag || overlap_at(c->nref, c->ntest, c->skip, lag, &i0, &i1) < c->min_overlap)
        return;
    if (i1 - i0 > CMP_WINDOW) i1 = i0 + CMP_WINDOW;
    double x = xcorr_at(c->ref, c->test, c->pref, c->ptest, i0, i1, lag);
    if (!c->found || x > c->best) {
        c->found = true;
        c->best = x;
        c->best_lag = lag;
    }
}

static int32_t *block_sums(const int16_t *x, size_t n, size_t *nb)
{
    *nb = n / CMP_BLOCK;
    int32_t *b = malloc((*nb ? *nb : 1) * sizeof(*b));
    if (!b) return NULL;
    for (size_t k = 0; k < *nb; k++) {
        int32_t s = 0;
        for (size_t j = 0; j < CMP_BLOCK; j++)
            s += x[k * CMP_BLOCK + j];
        b[k] = s;
    }
    return b;
}

/* Coarse correlation on block sums; returns the best few local maxima as sample lags. */
static int coarse_candidates(cmp_ctx *c, size_t *cand, size_t *ncand)
{
    size_t nbr, nbt;
    int rc = 0;
    int32_t *br = block_sums(c->ref, c->nref, &nbr);
    int32_t *bt = block_sums(c->test, c->ntest, &nbt);
    size_t nlag = c->max_lag / CMP_BLOCK + 1;
    double *score = malloc(nlag * sizeof(*score));
    *ncand = 0;
    if (!br || !bt || !score) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    size_t bskip = (c->skip + CMP_BLOCK - 1) / CMP_BLOCK;
    for (size_t l = 0; l < nlag; l++) {
        size_t i0, i1;
        score[l] = -2;
        if (overlap_at(c->nref, c->ntest, c->skip, l * CMP_BLOCK, &i0, &i1) < c->min_overlap)
            continue;
        if (overlap_at(nbr, nbt, bskip, l, &i0, &i1) == 0) continue;
        if (i1 - i0 > CMP_WINDOW / CMP_BLOCK) i1 = i0 + CMP_WINDOW / CMP_BLOCK;
        int64_t dot = 0, er = 0, et = 0;
        for (size_t i = i0; i < i1; i++) {
            dot += (int64_t)br[i] * bt[i + l];
            er += (int64_t)br[i] * br[i];
            et += (int64_t)bt[i + l] * bt[i + l];
        }
        score[l] = (er > 0 && et > 0) ? (double)dot / sqrt((double)er * (double)et) : 0;
    }
    for (size_t l = 0; l < nlag; l++) {
        if (score[l] < -1.5) continue;
        if ((l > 0 && score[l - 1] > score[l]) || (l + 1 < nlag && score[l + 1] >= score[l]))
            continue;
        /* Insert into the sorted candidate list. */
        size_t pos = *ncand;
        while (pos > 0 && score[cand[pos - 1] / CMP_BLOCK] < score[l])
            pos--;
        if (pos >= CMP_CANDIDATES) continue;
        size_t last = *ncand < CMP_CANDIDATES ? *ncand : CMP_CANDIDATES - 1;
        for (size_t k = last; k > pos; k--)
            cand[k] = cand[k - 1];
        cand[pos] = l * CMP_BLOCK;
        if (*ncand < CMP_CANDIDATES) (*ncand)++;
    }
out:
    free(br);
    free(bt);
    free(score);
    return rc;
}

int ripp_audio_compare_skip(const int16_t *ref, size_t nref, const int16_t *test, size_t ntest,
                            long max_lag, size_t test_skip, ripp_audio_cmp *out)
{
    int rc = 0;
    cmp_ctx c;

    if (!ref || !test || !out || max_lag < 0 || nref == 0 || ntest <= test_skip)
        return RIPP_ERR_INVAL;
    memset(&c, 0, sizeof(c));
    c.ref = ref;
    c.test = test;
    c.nref = nref;
    c.ntest = ntest;
    c.skip = test_skip;
    c.max_lag = (size_t)max_lag < ntest ? (size_t)max_lag : ntest - 1;
    size_t shorter = nref < ntest - test_skip ? nref : ntest - test_skip;
    c.min_overlap = shorter / 2 ? shorter / 2 : 1;
    c.pref = prefix_squares(ref, nref);
    c.ptest = prefix_squares(test, ntest);
    if (!c.pref || !c.ptest) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    double window = (double)(shorter < CMP_WINDOW ? shorter : CMP_WINDOW);
    if ((double)(c.max_lag + 1) * window <= CMP_BRUTE_LIMIT || shorter < 64 * CMP_BLOCK) {
        for (size_t l = 0; l <= c.max_lag; l++)
            try_lag(&c, l);
    } else {
        size_t cand[CMP_CANDIDATES], ncand = 0;
        rc = coarse_candidates(&c, cand, &ncand);
        if (rc != 0) goto out;
        for (size_t k = 0; k < ncand; k++) {
            size_t lo = cand[k] > CMP_REFINE ? cand[k] - CMP_REFINE : 0;
            for (size_t l = lo; l <= cand[k] + CMP_REFINE; l++)
                try_lag(&c, l);
        }
    }
    if (!c.found) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    /* Report over the whole overlap at the chosen lag. */
    size_t i0, i1, lag = c.best_lag;
    overlap_at(nref, ntest, test_skip, lag, &i0, &i1);
    double sig = 0, err = 0;
    for (size_t i = i0; i < i1; i++) {
        double r = ref[i], d = r - test[i + lag];
        sig += r * r;
        err += d * d;
    }
    out->lag = (long)lag;
    out->overlap = i1 - i0;
    out->xcorr = xcorr_at(ref, test, c.pref, c.ptest, i0, i1, lag);
    if (err <= 0)
        out->snr_db = CMP_SNR_CAP;
    else if (sig <= 0)
        out->snr_db = -CMP_SNR_CAP;
    else
        out->snr_db = fmin(CMP_SNR_CAP, 10.0 * log10(sig / err));
out:
    free(c.pref);
    free(c.ptest);
    return rc;
}

int ripp_audio_compare(const int16_t *ref, size_t nref, const int16_t *test, size_t ntest,
                       long max_lag, ripp_audio_cmp *out)
{
    return ripp_audio_compare_skip(ref, nref, test, ntest, max_lag, 0, out);
}

/* ---- speech-like signal ---- */

#define SYL_MAX_SAMPLES (300 * RIPP_SAMPLES_PER_MS)

static double gen_uniform(uint32_t *rng, double lo, double hi)
{
    return lo + (hi - lo) * ((double)ripp_media_xorshift32(rng) / 4294967296.0);
}

/* One glottal period: a smooth opening, a faster closing, then the closed phase. */
static double glottal(double phase)
{
    const double open = 0.4, close = 0.16;
    if (phase < open) return 0.5 * (1 - cos(M_PI * phase / open));
    if (phase < open + close) return cos(M_PI * (phase - open) / (2 * close));
    return 0;
}

typedef struct resonator {
    double y1, y2;
} resonator;

/* Two-pole resonance at f Hz with bandwidth bw Hz, unity gain at DC. */
static double resonate(resonator *r, double x, double f, double bw)
{
    double rad = exp(-M_PI * bw / RIPP_PCM_RATE);
    double a1 = 2 * rad * cos(2 * M_PI * f / RIPP_PCM_RATE);
    double a2 = -rad * rad;
    double y = (1 - a1 - a2) * x + a1 * r->y1 + a2 * r->y2;
    r->y2 = r->y1;
    r->y1 = y;
    return y;
}

static size_t gen_syllable(uint32_t *rng, double *buf)
{
    size_t len = (size_t)gen_uniform(rng, 120, 300) * RIPP_SAMPLES_PER_MS;
    double f0a = gen_uniform(rng, 90, 220);
    double f0b = fmin(220, fmax(90, f0a + gen_uniform(rng, -40, 40)));
    double fa[3] = {gen_uniform(rng, 300, 800), gen_uniform(rng, 900, 2200),
                    gen_uniform(rng, 2300, 3200)};
    double fb[3] = {gen_uniform(rng, 300, 800), gen_uniform(rng, 900, 2200),
                    gen_uniform(rng, 2300, 3200)};
    static const double bw[3] = {80, 100, 140};
    double peak_db = gen_uniform(rng, -12, -6);
    size_t attack = 25 * RIPP_SAMPLES_PER_MS, release = 60 * RIPP_SAMPLES_PER_MS;
    resonator res[3] = {{0, 0}, {0, 0}, {0, 0}};
    double phase = 0, prev = 0, peak = 0;

    for (size_t i = 0; i < len; i++) {
        double t = (double)i / (double)len;
        phase += (f0a + (f0b - f0a) * t) / RIPP_PCM_RATE;
        phase -= floor(phase);
        double g = glottal(phase);
        /* Radiation at the lips differentiates the glottal flow; a little breath noise. */
        double x = (g - prev) + gen_uniform(rng, -0.002, 0.002);
        prev = g;
        for (int k = 0; k < 3; k++)
            x = resonate(&res[k], x, fa[k] + (fb[k] - fa[k]) * t, bw[k]);
        double env = 1;
        if (i < attack)
            env = 0.5 * (1 - cos(M_PI * (double)i / attack));
        else if (len - i < release)
            env = 0.5 * (1 - cos(M_PI * (double)(len - i) / release));
        buf[i] = x * env;
        peak = fmax(peak, fabs(buf[i]));
    }
    double gain = peak > 0 ? 32767.0 * pow(10, peak_db / 20) / peak : 0;
    for (size_t i = 0; i < len; i++)
        buf[i] *= gain;
    return len;
}

void ripp_audio_gen_speechlike(int16_t *pcm, size_t n, uint32_t seed)
{
    double buf[SYL_MAX_SAMPLES];
    uint32_t rng = (seed * 2654435761u) ^ 0x9e3779b9u;
    size_t pos = 0;

    if (!pcm) return;
    if (rng == 0) rng = 1;
    while (pos < n) {
        size_t len = gen_syllable(&rng, buf);
        for (size_t i = 0; i < len && pos < n; i++)
            pcm[pos++] = (int16_t)floor(buf[i] + 0.5);
        size_t pause = (size_t)gen_uniform(&rng, 100, 400) * RIPP_SAMPLES_PER_MS;
        bool faint = gen_uniform(&rng, 0, 1) < 0.5;
        for (size_t i = 0; i < pause && pos < n; i++)
            pcm[pos++] = faint ? (int16_t)((int)(ripp_media_xorshift32(&rng) % 9) - 4) : 0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int ripp_audio_compare_segments(const int16_t *ref, size_t nref, const int16_t *test,
                                size_t ntest, long max_lag, size_t seg, long drift,
                                ripp_audio_segcmp *out)
{
    ripp_audio_cmp g;
    if (!out || seg < 80 || drift < 0)
        return RIPP_ERR_INVAL;
    int rc = ripp_audio_compare(ref, nref, test, ntest, max_lag, &g);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof *out);
    out->xcorr_min = 1;
    double *snrs = malloc((nref / seg + 1) * sizeof *snrs);
    if (!snrs)
        return RIPP_ERR_NOMEM;
    double sig = 0, err = 0, xsum = 0;
    long prev = g.lag;
    bool first = true;
    const double floor_rms = 32768.0 * pow(10.0, -50.0 / 20.0);
    for (size_t s0 = 0; s0 + seg <= nref; s0 += seg) {
        out->segments++;
        double e = 0;
        for (size_t i = s0; i < s0 + seg; i++)
            e += (double)ref[i] * ref[i];
        if (sqrt(e / (double)seg) < floor_rms)
            continue;
        long best_lag = -1;
        double best = -2, best_err = 0;
        for (long l = prev - drift; l <= prev + drift; l++) {
            if (l < 0 || (size_t)l + s0 + seg > ntest)
                continue;
            double num = 0, et = 0;
            const int16_t *t = test + s0 + (size_t)l;
            for (size_t i = 0; i < seg; i++) {
                num += (double)ref[s0 + i] * t[i];
                et += (double)t[i] * t[i];
            }
            double c = et > 0 ? num / sqrt(e * et) : 0;
            if (c > best) {
                best = c;
                best_lag = l;
            }
        }
        if (best_lag < 0)
            continue; /* the test signal ends before this segment */
        const int16_t *t = test + s0 + (size_t)best_lag;
        for (size_t i = 0; i < seg; i++) {
            double d = (double)ref[s0 + i] - t[i];
            best_err += d * d;
        }
        if (first)
            out->lag_first = best_lag;
        else if (best_lag != prev)
            out->lag_changes++;
        first = false;
        prev = best_lag;
        out->lag_last = best_lag;
        snrs[out->speech_segments] = best_err > 0 ? 10 * log10(e / best_err) : 200;
        out->speech_segments++;
        sig += e;
        err += best_err;
        xsum += best;
        if (best < out->xcorr_min)
            out->xcorr_min = best;
    }
    if (!out->speech_segments) {
        free(snrs);
        return RIPP_ERR_INVAL;
    }
    qsort(snrs, out->speech_segments, sizeof *snrs, cmp_double);
    size_t m = out->speech_segments;
    out->snr_median_db = m % 2 ? snrs[m / 2] : (snrs[m / 2 - 1] + snrs[m / 2]) / 2;
    if (out->snr_median_db > 200)
        out->snr_median_db = 200;
    free(snrs);
    out->xcorr_mean = xsum / (double)out->speech_segments;
    out->snr_db = err > 0 ? 10 * log10(sig / err) : 200;
    if (out->snr_db > 200)
        out->snr_db = 200;
    return 0;
}
