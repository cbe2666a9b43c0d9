/* media.h - codecs, DTMF, comfort noise, concealment, WAV files (SPEC §4.6, D23).
 *
 * PCM inside ripp is 8 kHz, mono, signed 16-bit. One frame interval of frame_ms holds
 * frame_ms * 8 samples. Opus is configured within the receiver's advertised limits
 * (max-bitrate, max-samplerate, force-cbr). */
#ifndef RIPP_MEDIA_H
#define RIPP_MEDIA_H

#include "ripp/codec.h"
#include "ripp/jbuf.h"

#define RIPP_PCM_RATE 8000
#define RIPP_SAMPLES_PER_MS 8
#define RIPP_MAX_FRAME_SAMPLES (60 * RIPP_SAMPLES_PER_MS)

/* ---- G.711 (spandsp) ---- */
/* codec is PCMU or PCMA; n samples in, n bytes out. Return n or RIPP_ERR_INVAL. */
int ripp_g711_encode(enum ripp_codec codec, const int16_t *pcm, size_t n, uint8_t *out);
int ripp_g711_decode(enum ripp_codec codec, const uint8_t *in, size_t n, int16_t *pcm);

/* ---- voice encoders and decoders ---- */
/* Zero fields take defaults. Opus: 8 kHz input, OPUS_APPLICATION_VOIP, bitrate
 * min(max_bitrate, 32000) but at least 6000, bandwidth limited by max_samplerate (8000:
 * narrowband, 12000: mediumband, 16000: wideband, more: fullband; with 8 kHz input it is
 * narrowband in practice), VBR unless cbr, in-band FEC off. A 30 ms interval, which is not
 * an Opus frame size, is sent as one packet of three 10 ms frames. */
typedef struct ripp_enc_params {
    enum ripp_codec codec;   /* PCMU, PCMA or OPUS */
    uint32_t frame_ms;       /* 10, 20, 30, 40 or 60; 0 means 20 */
    uint32_t max_bitrate;    /* receiver's max-bitrate; Opus target = min(this, 32000);
                                0 means no limit */
    uint32_t max_samplerate; /* receiver's max-samplerate; Opus bandwidth limit; 0 = 8000 */
    bool cbr;                /* receiver's force-cbr */
    int complexity;          /* Opus 1..10; 0 means the default 5 */
} ripp_enc_params;

typedef struct ripp_encoder ripp_encoder;
typedef struct ripp_decoder ripp_decoder;

/* Returns NULL and *err (RIPP_ERR_UNSUPPORTED / RIPP_ERR_NOMEM / RIPP_ERR_INVAL). */
ripp_encoder *ripp_encoder_new(const ripp_enc_params *p, int *err);
/* Encode exactly frame_ms*8 samples. Returns payload bytes (>0) or a negative error. */
int64_t ripp_encoder_encode(ripp_encoder *e, const int16_t *pcm, size_t n, uint8_t *out,
                            size_t cap);
void ripp_encoder_del(ripp_encoder *e);

ripp_decoder *ripp_decoder_new(enum ripp_codec codec, uint32_t frame_ms, int *err);
/* Decode one payload into exactly n samples. Returns n or RIPP_ERR_PROTO (corrupt, empty,
 * or not exactly n samples long: G.711 needs n bytes, an Opus packet n samples).
 * RIPP_ERR_INVAL when n is not frame_ms*8. ripp_decoder_new takes frame_ms 0 as 20. */
int ripp_decoder_decode(ripp_decoder *d, const uint8_t *payload, size_t len, int16_t *pcm,
                        size_t n);
/* Packet-loss concealment for one missing frame of n samples (Opus PLC; spandsp PLC for
 * G.711). Returns n. */
int ripp_decoder_conceal(ripp_decoder *d, int16_t *pcm, size_t n);
void ripp_decoder_del(ripp_decoder *d);

/* ---- telephone-event (RFC 4733) ---- */
typedef struct ripp_tel_event {
    uint8_t event; /* 0-9, 10 '*', 11 '#', 12-15 'A'-'D' */
    bool end;
    uint8_t volume;    /* 0..63, -dBm0 */
    uint16_t duration; /* in 8 kHz samples since the event began */
} ripp_tel_event;

int ripp_tel_event_encode(const ripp_tel_event *ev, uint8_t out[4]);
/* Returns 0 or RIPP_ERR_PROTO (length != 4 (extra bytes are tolerated if >= 4), event > 15
 * is accepted as a non-DTMF event). */
int ripp_tel_event_decode(const uint8_t *in, size_t len, ripp_tel_event *ev);
int ripp_dtmf_event_from_char(char c); /* RIPP_ERR_INVAL if not 0-9*#A-D */
char ripp_dtmf_char(uint8_t event);    /* '\0' if not a DTMF event */

/* Digit recognition from a stream of telephone-event frames, one report per event. A frame
 * starts a new event (and its digit is reported on that frame) when no event is in
 * progress, the event code changes, the duration restarts lower, or the previous frame
 * carried E (unless this is a repeated end frame of the same duration). Voice or CN frames
 * end an event: call ripp_dtmf_detect_reset() on them, so that a lost end frame never
 * merges two equal digits ("55"). Missing frames change nothing. Zero-initialise or reset
 * before use. */
typedef struct ripp_dtmf_detect {
    bool active;
    bool end;
    uint8_t event;
    uint16_t duration;
} ripp_dtmf_detect;
void ripp_dtmf_detect_reset(ripp_dtmf_detect *d);
/* Returns the digit character when ev begins a new DTMF event, else '\0' (also for
 * non-DTMF events > 15). */
char ripp_dtmf_detect_feed(ripp_dtmf_detect *d, const ripp_tel_event *ev);

/* ---- comfort noise (RFC 3389) ---- */
/* Noise level of pcm in -dBov (0..127): 0 dBov is the mean power of a full-scale square
 * wave (32767^2); the result is rounded and clamped; all-zero (or n == 0) gives 127. */
uint8_t ripp_cn_level(const int16_t *pcm, size_t n);
/* Generates white noise of the level in payload[0] into n samples (len 0: silence;
 * spectral bytes are ignored). Deterministic: the PRNG state lives in g (zero-initialise;
 * 0 is replaced by a fixed seed). */
typedef struct ripp_cn_gen {
    uint32_t rng;
} ripp_cn_gen;
void ripp_cn_generate(ripp_cn_gen *g, const uint8_t *payload, size_t len, int16_t *pcm, size_t n);

/* ---- the send pipeline of one direction ---- */
typedef struct ripp_media_tx ripp_media_tx;
typedef struct ripp_media_tx_config {
    ripp_enc_params voice;
    uint8_t silence_level; /* a frame at or below this level (-dBov) is sent as CN;
                              default 70; 128 disables CN */
    uint32_t dtmf_tone_ms; /* default 100 */
    uint32_t dtmf_gap_ms;  /* default 100 */
    uint8_t dtmf_volume;   /* default 10 */
} ripp_media_tx_config;

/* Zero fields of cfg take the defaults (voice.frame_ms 20, silence_level 70, tone 100 ms,
 * gap 100 ms, volume 10); voice follows ripp_encoder_new(). Each digit is sent as
 * ceil(dtmf_tone_ms / frame_ms) telephone-event frames whose duration grows by one interval
 * (the first carries one interval), the last with E set, followed by
 * ceil(dtmf_gap_ms / frame_ms) voice (or CN) intervals before the next digit. */
ripp_media_tx *ripp_media_tx_new(const ripp_media_tx_config *cfg, int *err);
void ripp_media_tx_del(ripp_media_tx *tx);
/* Queue DTMF digits (0-9*#A-D, a-d accepted). Returns 0, RIPP_ERR_INVAL (a bad character)
 * or RIPP_ERR_LIMIT (more than 256 digits would be waiting); on error nothing is queued. */
int ripp_media_tx_dtmf(ripp_media_tx *tx, const char *digits);
/* True while a digit is queued or its event frames are still being sent. */
bool ripp_media_tx_dtmf_pending(const ripp_media_tx *tx);
/* The frame for the next interval. pcm has frame_ms*8 samples, or is NULL for silence.
 * A DTMF digit in progress replaces the voice frame (D23); silence becomes CN; otherwise
 * the voice codec. Sets *codec and returns the payload length (> 0) or a negative error. */
int64_t ripp_media_tx_next(ripp_media_tx *tx, const int16_t *pcm, enum ripp_codec *codec,
                           uint8_t *out, size_t cap);

/* ---- the receive pipeline: playout slots to PCM ---- */
typedef struct ripp_media_rx ripp_media_rx;
ripp_media_rx *ripp_media_rx_new(uint32_t frame_ms, int *err);
void ripp_media_rx_del(ripp_media_rx *rx);
/* Turn one playout slot into n = frame_ms*8 samples: voice is decoded (a decoder per codec,
 * made on first use), CN becomes noise, telephone-event plays silence, a missing frame is
 * concealed by the last voice decoder (silence before any). When a DTMF digit is
 * recognised (once per event) *digit is set to it, else to '\0'. Returns n or an error. */
int ripp_media_rx_play(ripp_media_rx *rx, const ripp_jbuf_out *slot, int16_t *pcm, size_t n,
                       char *digit);
/* Details of ripp_media_rx_play: a missing slot right after comfort noise continues the noise
 * (a voice decoder would replay stale speech); after a telephone-event it is silence; after
 * voice it is concealed by that voice decoder. A voice payload that does not decode (corrupt,
 * wrong size or duration) is concealed the same way and counted in `undecodable`; it is not
 * an error. Errors are RIPP_ERR_INVAL (n != frame_ms*8, NULL arguments) and RIPP_ERR_NOMEM
 * (a decoder could not be made; the slot then plays as concealment). digit may be NULL. */
typedef struct ripp_media_rx_counters {
    uint64_t voice;       /* voice frames decoded */
    uint64_t concealed;   /* missing slots and undecodable frames filled in */
    uint64_t undecodable; /* voice, event or CN payloads that could not be decoded */
    uint64_t cn;          /* comfort-noise frames played */
    uint64_t events;      /* telephone-event frames played */
    uint64_t digits;      /* DTMF digits recognised */
} ripp_media_rx_counters;
void ripp_media_rx_get_counters(const ripp_media_rx *rx, ripp_media_rx_counters *out);

/* ---- WAV files (libsndfile) ---- */
typedef struct ripp_wav ripp_wav;
/* Open for reading, converted to 8 kHz mono (mixing down channels; 16/48 kHz and other
 * integer multiples of 8 kHz are decimated through a low-pass filter; other rates are
 * RIPP_ERR_UNSUPPORTED). errbuf (optional) receives a reason. */
ripp_wav *ripp_wav_open_read(const char *path, int *err, char *errbuf, size_t errcap);
/* Reads up to n samples; returns the count (0 at end of file) or RIPP_ERR_IO. Decimation
 * is by a linear-phase windowed-sinc FIR (cut-off 3.6 kHz, about 70 dB stop band) whose
 * delay is compensated: output sample k lines up with input sample k*M, and an input of F
 * frames gives ceil(F/M) samples. An 8 kHz mono file is returned bit-exact. */
int64_t ripp_wav_read(ripp_wav *w, int16_t *pcm, size_t n);
int ripp_wav_rewind(ripp_wav *w);
/* Create an 8 kHz mono 16-bit PCM WAV file (replacing an existing one). Errors:
 * RIPP_ERR_IO (errbuf says why), RIPP_ERR_NOMEM, RIPP_ERR_INVAL. */
ripp_wav *ripp_wav_open_write(const char *path, int *err, char *errbuf, size_t errcap);
int ripp_wav_write(ripp_wav *w, const int16_t *pcm, size_t n);
/* Closes (and finalises a written file). Returns 0 or RIPP_ERR_IO. */
int ripp_wav_close(ripp_wav *w);
/* Whole-file helpers for tests and tools: *pcm is malloc'ed (caller frees; NULL when the
 * file holds no samples). Errors as for open_read/open_write, and RIPP_ERR_IO. */
int ripp_wav_load(const char *path, int16_t **pcm, size_t *n);
int ripp_wav_save(const char *path, const int16_t *pcm, size_t n);

/* ---- audio analysis and test signals ---- */
typedef struct ripp_audio_cmp {
    long lag;       /* samples by which `test` lags `ref` at the best match */
    double xcorr;   /* normalised cross-correlation at that lag, -1..1 */
    double snr_db;  /* 10 log10(sum ref^2 / sum (ref - test)^2) over the overlap */
    size_t overlap; /* samples compared */
} ripp_audio_cmp;
/* Finds the lag in [0, max_lag] maximising the correlation of ref against test and reports
 * SNR there. Returns 0 or RIPP_ERR_INVAL (too short). */
int ripp_audio_compare(const int16_t *ref, size_t nref, const int16_t *test, size_t ntest,
                       long max_lag, ripp_audio_cmp *out);
/* Details: lags are searched coarsely on 1 ms block means, then at full resolution around
 * the best few coarse peaks; only lags whose overlap is at least half of the shorter signal
 * count. snr_db is capped at 200 (identical signals). With test_skip, the first test_skip
 * samples of test are left out of every overlap (start-up transients); the lag is still
 * measured from the start of test. */
int ripp_audio_compare_skip(const int16_t *ref, size_t nref, const int16_t *test, size_t ntest,
                            long max_lag, size_t test_skip, ripp_audio_cmp *out);
/* Segmental comparison, for paths with an adaptive jitter buffer whose playout delay may
 * step by whole frames during a call (at a pause, by design): ref is cut into segments of
 * seg samples; each segment with speech (RMS above -50 dBFS) is matched at its own lag,
 * searched within +-drift samples of the previous segment's lag (the first one around the
 * global lag of ripp_audio_compare). snr_db = 10 log10(sum ref^2 / sum err^2) over those
 * segments, and snr_median_db the median of the segments' own SNRs (robust to a few damaged
 * segments, e.g. frames concealed on a starved CPU); xcorr_mean/xcorr_min of their
 * correlations; lag_changes counts segments whose lag differs from the previous speech
 * segment's. */
typedef struct ripp_audio_segcmp {
    double snr_db, snr_median_db, xcorr_mean, xcorr_min;
    size_t segments, speech_segments;
    long lag_first, lag_last;
    int lag_changes;
} ripp_audio_segcmp;
int ripp_audio_compare_segments(const int16_t *ref, size_t nref, const int16_t *test,
                                size_t ntest, long max_lag, size_t seg, long drift,
                                ripp_audio_segcmp *out);

/* A deterministic speech-like test signal: voiced syllables with moving pitch and
 * formant-like harmonics, with pauses. Syllables of 120-300 ms (pitch gliding within
 * 90-220 Hz through three formant resonators, peaks between -12 and -6 dBFS) alternate with
 * 100-400 ms pauses, some of them digital silence and some faint noise (about -80 dBov).
 * The same seed gives the same samples, and a shorter n gives a prefix of a longer one. */
void ripp_audio_gen_speechlike(int16_t *pcm, size_t n, uint32_t seed);

#endif
