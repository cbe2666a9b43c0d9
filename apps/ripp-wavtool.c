/* ripp-wavtool - writes the speech-like test signal and compares recordings, for media
 * tests that run real endpoints. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/media.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: ripp-wavtool gen OUT.wav [--seconds S] [--seed N]\n"
    "       ripp-wavtool compare REF.wav TEST.wav [--max-lag-ms MS] [--skip-ms MS]\n"
    "                    [--segment-ms MS]\n"
    "\n"
    "gen      writes S seconds (default 10) of a deterministic speech-like signal as an\n"
    "         8 kHz mono 16-bit WAV file; N (default 1) selects the signal.\n"
    "compare  reads both files (as 8 kHz mono), finds the delay of TEST against REF within\n"
    "         0..MS ms (default 1000), ignoring the first MS ms of TEST with --skip-ms\n"
    "         (default 0), and prints one JSON line:\n"
    "         "
    "{\"lag_ms\":..,\"xcorr\":..,\"snr_db\":..,\"overlap_s\":..,\"ref_s\":..,\"test_s\":..}\n"
    "         With --segment-ms, each speech segment of MS ms is also matched at its own\n"
    "         delay (a jitter buffer may step its playout delay during a call), adding\n"
    "         seg_snr_db, seg_snr_median_db, seg_xcorr_mean, seg_xcorr_min,\n"
    "         speech_segments, segments,\n"
    "         lag_changes, lag_first_ms and lag_last_ms.\n"
    "\n"
    "Exit status: 0 success, 1 file or analysis error, 2 usage error.\n";

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "ripp-wavtool: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

static int cmd_gen(int argc, char **argv)
{
    const char *out = NULL;
    double seconds = 10, seed = 1;

    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--seconds") == 0 || strcmp(argv[i], "--seed") == 0) {
            bool secs = strcmp(argv[i], "--seconds") == 0;
            if (i + 1 >= argc) return usage_error("missing value for", argv[i]);
            bool ok = secs ? parse_double(argv[i + 1], 0.01, 24 * 3600, &seconds)
                           : parse_double(argv[i + 1], 0, 4294967295.0, &seed);
            if (!ok || (!secs && seed != floor(seed))) return usage_error("bad value", argv[i + 1]);
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("unknown option", argv[i]);
        } else if (!out) {
            out = argv[i];
        } else {
            return usage_error("unexpected argument", argv[i]);
        }
    }
    if (!out) return usage_error("gen needs an output file", NULL);

    size_t n = (size_t)llround(seconds * RIPP_PCM_RATE);
    int16_t *pcm = malloc(n * sizeof(*pcm));
    if (!pcm) {
        fprintf(stderr, "ripp-wavtool: out of memory\n");
        return 1;
    }
    ripp_audio_gen_speechlike(pcm, n, (uint32_t)seed);
    int err = 0;
    char eb[512];
    ripp_wav *w = ripp_wav_open_write(out, &err, eb, sizeof(eb));
    if (!w) {
        fprintf(stderr, "ripp-wavtool: %s\n", eb[0] ? eb : ripp_strerror(err));
        free(pcm);
        return 1;
    }
    err = ripp_wav_write(w, pcm, n);
    int cerr = ripp_wav_close(w);
    free(pcm);
    if (err != 0 || cerr != 0) {
        fprintf(stderr, "ripp-wavtool: %s: write failed\n", out);
        return 1;
    }
    return 0;
}

static int load(const char *path, int16_t **pcm, size_t *n)
{
    int err = 0;
    char eb[512];
    int16_t *buf = NULL;
    size_t len = 0, cap = 0;
    ripp_wav *w = ripp_wav_open_read(path, &err, eb, sizeof(eb));
    if (!w) {
        fprintf(stderr, "ripp-wavtool: %s\n", eb[0] ? eb : ripp_strerror(err));
        return -1;
    }
    for (;;) {
        if (cap - len < 8000) {
            size_t ncap = cap ? cap * 2 : 80000;
            int16_t *p = realloc(buf, ncap * sizeof(*p));
            if (!p) {
                err = RIPP_ERR_NOMEM;
                break;
            }
            buf = p;
            cap = ncap;
        }
        int64_t got = ripp_wav_read(w, buf + len, cap - len);
        if (got <= 0) {
            err = (int)got;
            break;
        }
        len += (size_t)got;
    }
    ripp_wav_close(w);
    if (err != 0) {
        fprintf(stderr, "ripp-wavtool: %s: %s\n", path, ripp_strerror(err));
        free(buf);
        return -1;
    }
    *pcm = buf;
    *n = len;
    return 0;
}

static int cmd_compare(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL};
    int nfiles = 0;
    double max_lag_ms = 1000, skip_ms = 0, segment_ms = 0;

    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--max-lag-ms") == 0 || strcmp(argv[i], "--skip-ms") == 0 ||
            strcmp(argv[i], "--segment-ms") == 0) {
            if (i + 1 >= argc) return usage_error("missing value for", argv[i]);
            double *dst = strcmp(argv[i], "--max-lag-ms") == 0 ? &max_lag_ms
                          : strcmp(argv[i], "--skip-ms") == 0  ? &skip_ms
                                                               : &segment_ms;
            if (!parse_double(argv[i + 1], 0, 3600 * 1000.0, dst))
                return usage_error("bad value", argv[i + 1]);
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("unknown option", argv[i]);
        } else if (nfiles < 2) {
            files[nfiles++] = argv[i];
        } else {
            return usage_error("unexpected argument", argv[i]);
        }
    }
    if (nfiles != 2) return usage_error("compare needs REF.wav and TEST.wav", NULL);

    int rc = 1;
    int16_t *ref = NULL, *test = NULL;
    size_t nref = 0, ntest = 0;
    if (load(files[0], &ref, &nref) != 0 || load(files[1], &test, &ntest) != 0) goto out;
    size_t skip = (size_t)llround(skip_ms * RIPP_SAMPLES_PER_MS);
    long max_lag = (long)llround(max_lag_ms * RIPP_SAMPLES_PER_MS);
    ripp_audio_cmp c;
    int err = ripp_audio_compare_skip(ref, nref, test, ntest, max_lag, skip, &c);
    if (err != 0) {
        fprintf(stderr, "ripp-wavtool: cannot compare (%s: %zu and %zu samples, skip %zu)\n",
                ripp_strerror(err), nref, ntest, skip);
        goto out;
    }
    printf("{\"lag_ms\":%.3f,\"xcorr\":%.6f,\"snr_db\":%.3f,\"overlap_s\":%.3f,\"ref_s\":%.3f,"
           "\"test_s\":%.3f",
           (double)c.lag / RIPP_SAMPLES_PER_MS, c.xcorr, c.snr_db,
           (double)c.overlap / RIPP_PCM_RATE, (double)nref / RIPP_PCM_RATE,
           (double)ntest / RIPP_PCM_RATE);
    if (segment_ms > 0) {
        ripp_audio_segcmp sc;
        size_t seg = (size_t)llround(segment_ms * RIPP_SAMPLES_PER_MS);
        /* a playout delay may step by a few frames between segments */
        err = ripp_audio_compare_segments(ref, nref, test, ntest, max_lag, seg,
                                          60 * RIPP_SAMPLES_PER_MS, &sc);
        if (err != 0) {
            fprintf(stderr, "ripp-wavtool: cannot compare segments (%s)\n", ripp_strerror(err));
            goto out;
        }
        printf(",\"seg_snr_db\":%.3f,\"seg_snr_median_db\":%.3f,\"seg_xcorr_mean\":%.6f,\"seg_xcorr_min\":%.6f,"
               "\"speech_segments\":%zu,\"segments\":%zu,\"lag_changes\":%d,"
               "\"lag_first_ms\":%.3f,\"lag_last_ms\":%.3f",
               sc.snr_db, sc.snr_median_db, sc.xcorr_mean, sc.xcorr_min, sc.speech_segments, sc.segments,
               sc.lag_changes, (double)sc.lag_first / RIPP_SAMPLES_PER_MS,
               (double)sc.lag_last / RIPP_SAMPLES_PER_MS);
    }
    printf("}\n");
    rc = 0;
out:
    free(ref);
    free(test);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage_error("missing command", NULL);
    if (is_help(argv[1])) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(argv[1], "gen") == 0) return cmd_gen(argc - 2, argv + 2);
    if (strcmp(argv[1], "compare") == 0) return cmd_compare(argc - 2, argv + 2);
    return usage_error("unknown command", argv[1]);
}
