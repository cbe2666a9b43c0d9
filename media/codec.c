/* codec.c - voice encoder and decoder objects: G.711 (with spandsp concealment) and Opus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <opus/opus.h>
#include <spandsp/telephony.h>
#include <spandsp/plc.h>

#include "ripp/media.h"
#include "media_int.h"

/* Opus packs at most 1275 bytes per frame; three frames for 30 ms intervals. */
#define OPUS_SUB_MAX 1275

struct ripp_encoder {
    enum ripp_codec codec;
    uint32_t frame_ms;
    size_t n;
    OpusEncoder *opus;
    OpusRepacketizer *rp; /* only for intervals Opus cannot encode as one frame (30 ms) */
    uint8_t *sub;         /* sub-packet storage for the repacketizer */
};

struct ripp_decoder {
    enum ripp_codec codec;
    size_t n;
    OpusDecoder *opus;
    plc_state_t *plc;
};

bool ripp_media_frame_ms_ok(uint32_t ms)
{
    return ms == 10 || ms == 20 || ms == 30 || ms == 40 || ms == 60;
}

static int opus_bandwidth_for(uint32_t max_samplerate)
{
    if (max_samplerate <= 8000) return OPUS_BANDWIDTH_NARROWBAND;
    if (max_samplerate <= 12000) return OPUS_BANDWIDTH_MEDIUMBAND;
    if (max_samplerate <= 16000) return OPUS_BANDWIDTH_WIDEBAND;
    return OPUS_BANDWIDTH_FULLBAND;
}

static int enc_opus_setup(ripp_encoder *e, const ripp_enc_params *p)
{
    int oerr = 0;
    e->opus = opus_encoder_create(RIPP_PCM_RATE, 1, OPUS_APPLICATION_VOIP, &oerr);
    if (!e->opus) return oerr == OPUS_ALLOC_FAIL ? RIPP_ERR_NOMEM : RIPP_ERR_UNSUPPORTED;
    /* max_bitrate 0 means the receiver set no limit. */
    opus_int32 rate = 32000;
    if (p->max_bitrate != 0 && p->max_bitrate < (uint32_t)rate) rate = (opus_int32)p->max_bitrate;
    if (rate < 6000) rate = 6000;
    uint32_t max_sr = p->max_samplerate ? p->max_samplerate : RIPP_PCM_RATE;
    int cx = p->complexity ? p->complexity : 5;
    if (opus_encoder_ctl(e->opus, OPUS_SET_BITRATE(rate)) != OPUS_OK ||
        opus_encoder_ctl(e->opus, OPUS_SET_MAX_BANDWIDTH(opus_bandwidth_for(max_sr))) != OPUS_OK ||
        opus_encoder_ctl(e->opus, OPUS_SET_VBR(p->cbr ? 0 : 1)) != OPUS_OK ||
        opus_encoder_ctl(e->opus, OPUS_SET_COMPLEXITY(cx)) != OPUS_OK ||
        opus_encoder_ctl(e->opus, OPUS_SET_INBAND_FEC(0)) != OPUS_OK)
        return RIPP_ERR_INVAL;
    if (e->frame_ms == 30) {
        e->rp = opus_repacketizer_create();
        e->sub = malloc(3 * OPUS_SUB_MAX);
        if (!e->rp || !e->sub) return RIPP_ERR_NOMEM;
    }
    return 0;
}

ripp_encoder *ripp_encoder_new(const ripp_enc_params *p, int *err)
{
    int rc = 0;
    ripp_encoder *e = NULL;

    if (!p) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    uint32_t ms = p->frame_ms ? p->frame_ms : 20;
    if (!ripp_media_frame_ms_ok(ms) || p->complexity < 0 || p->complexity > 10) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    if (p->codec != RIPP_CODEC_PCMU && p->codec != RIPP_CODEC_PCMA && p->codec != RIPP_CODEC_OPUS) {
        rc = (p->codec > RIPP_CODEC_NONE && p->codec < RIPP_CODEC_COUNT) ? RIPP_ERR_UNSUPPORTED
                                                                         : RIPP_ERR_INVAL;
        goto out;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    e->codec = p->codec;
    e->frame_ms = ms;
    e->n = (size_t)ms * RIPP_SAMPLES_PER_MS;
    if (e->codec == RIPP_CODEC_OPUS) rc = enc_opus_setup(e, p);
out:
    if (rc != 0) {
        ripp_encoder_del(e);
        e = NULL;
    }
    if (err) *err = rc;
    return e;
}

void ripp_encoder_del(ripp_encoder *e)
{
    if (!e) return;
    if (e->opus) opus_encoder_destroy(e->opus);
    if (e->rp) opus_repacketizer_destroy(e->rp);
    free(e->sub);
    free(e);
}

/* 30 ms is not an Opus frame size: three 10 ms frames are joined into one packet. */
static int64_t enc_opus_split(ripp_encoder *e, const int16_t *pcm, uint8_t *out, size_t cap)
{
    size_t sub_n = 10 * RIPP_SAMPLES_PER_MS;
    opus_repacketizer_init(e->rp);
    for (int i = 0; i < 3; i++) {
        uint8_t *sub = e->sub + (size_t)i * OPUS_SUB_MAX;
        opus_int32 len =
            opus_encode(e->opus, pcm + (size_t)i * sub_n, (int)sub_n, sub, OPUS_SUB_MAX);
        if (len < 0) return RIPP_ERR_INVAL;
        if (opus_repacketizer_cat(e->rp, sub, len) != OPUS_OK)
            return RIPP_ERR_UNSUPPORTED; /* the three frames chose different modes */
    }
    opus_int32 cap32 = cap > 3 * OPUS_SUB_MAX + 8 ? 3 * OPUS_SUB_MAX + 8 : (opus_int32)cap;
    opus_int32 len = opus_repacketizer_out(e->rp, out, cap32);
    if (len == OPUS_BUFFER_TOO_SMALL) return RIPP_ERR_LIMIT;
    return len > 0 ? len : RIPP_ERR_INVAL;
}

int64_t ripp_encoder_encode(ripp_encoder *e, const int16_t *pcm, size_t n, uint8_t *out, size_t cap)
{
    if (!e || !pcm || !out || n != e->n) return RIPP_ERR_INVAL;
    if (e->codec != RIPP_CODEC_OPUS) {
        if (cap < n) return RIPP_ERR_LIMIT;
        return ripp_g711_encode(e->codec, pcm, n, out);
    }
    if (cap < 3) return RIPP_ERR_LIMIT;
    if (e->rp) return enc_opus_split(e, pcm, out, cap);
    opus_int32 cap32 = cap > 4000 ? 4000 : (opus_int32)cap;
    opus_int32 len = opus_encode(e->opus, pcm, (int)n, out, cap32);
    if (len == OPUS_BUFFER_TOO_SMALL) return RIPP_ERR_LIMIT;
    return len > 0 ? len : RIPP_ERR_INVAL;
}

ripp_decoder *ripp_decoder_new(enum ripp_codec codec, uint32_t frame_ms, int *err)
{
    int rc = 0;
    ripp_decoder *d = NULL;
    uint32_t ms = frame_ms ? frame_ms : 20;

    if (!ripp_media_frame_ms_ok(ms)) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    if (codec != RIPP_CODEC_PCMU && codec != RIPP_CODEC_PCMA && codec != RIPP_CODEC_OPUS) {
        rc = (codec > RIPP_CODEC_NONE && codec < RIPP_CODEC_COUNT) ? RIPP_ERR_UNSUPPORTED
                                                                   : RIPP_ERR_INVAL;
        goto out;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    d->codec = codec;
    d->n = (size_t)ms * RIPP_SAMPLES_PER_MS;
    if (codec == RIPP_CODEC_OPUS) {
        int oerr = 0;
        d->opus = opus_decoder_create(RIPP_PCM_RATE, 1, &oerr);
        if (!d->opus) rc = oerr == OPUS_ALLOC_FAIL ? RIPP_ERR_NOMEM : RIPP_ERR_UNSUPPORTED;
    } else {
        d->plc = plc_init(NULL);
        if (!d->plc) rc = RIPP_ERR_NOMEM;
    }
out:
    if (rc != 0) {
        ripp_decoder_del(d);
        d = NULL;
    }
    if (err) *err = rc;
    return d;
}

void ripp_decoder_del(ripp_decoder *d)
{
    if (!d) return;
    if (d->opus) opus_decoder_destroy(d->opus);
    if (d->plc) plc_free(d->plc);
    free(d);
}

int ripp_decoder_decode(ripp_decoder *d, const uint8_t *payload, size_t len, int16_t *pcm, size_t n)
{
    if (!d || !pcm || n != d->n || (len > 0 && !payload)) return RIPP_ERR_INVAL;
    if (len == 0) return RIPP_ERR_PROTO;
    if (d->codec != RIPP_CODEC_OPUS) {
        if (len != n) return RIPP_ERR_PROTO;
        ripp_g711_decode(d->codec, payload, n, pcm);
        /* The PLC keeps a history of good audio and smooths the return after a loss. */
        plc_rx(d->plc, pcm, (int)n);
        return (int)n;
    }
    if (len > 65535) return RIPP_ERR_PROTO;
    int ns = opus_packet_get_nb_samples(payload, (opus_int32)len, RIPP_PCM_RATE);
    if (ns != (int)n) return RIPP_ERR_PROTO;
    int got = opus_decode(d->opus, payload, (opus_int32)len, pcm, (int)n, 0);
    if (got != (int)n) return RIPP_ERR_PROTO;
    return (int)n;
}

/* On the first concealed frame spandsp 0.0.6 rotates its history ring to start at index 0
 * with an overlapping memcpy (undefined behaviour, caught by the address sanitizer).
 * Rotating it here first, the same way, turns that copy into a no-op. */
static void plc_unwrap_history(plc_state_t *s)
{
    if (s->missing_samples != 0 || s->buf_ptr <= 0) return;
    int k = s->buf_ptr % PLC_HISTORY_LEN;
    if (k != 0) {
        int16_t tmp[PLC_HISTORY_LEN];
        memcpy(tmp, s->history + k, sizeof(int16_t) * (size_t)(PLC_HISTORY_LEN - k));
        memcpy(tmp + (PLC_HISTORY_LEN - k), s->history, sizeof(int16_t) * (size_t)k);
        memcpy(s->history, tmp, sizeof(tmp));
    }
    s->buf_ptr = 0;
}

int ripp_decoder_conceal(ripp_decoder *d, int16_t *pcm, size_t n)
{
    if (!d || !pcm || n != d->n) return RIPP_ERR_INVAL;
    if (d->codec != RIPP_CODEC_OPUS) {
        plc_unwrap_history(d->plc);
        plc_fillin(d->plc, pcm, (int)n);
        return (int)n;
    }
    int got = opus_decode(d->opus, NULL, 0, pcm, (int)n, 0);
    if (got != (int)n) memset(pcm, 0, n * sizeof(*pcm));
    return (int)n;
}
