/* pipeline.c - one direction of media: PCM intervals to frames (voice, CN or DTMF events)
 * on the send side, playout slots to PCM on the receive side. */
#include <stdlib.h>
#include <string.h>

#include "ripp/media.h"
#include "media_int.h"

struct ripp_media_tx {
    ripp_encoder *enc;
    enum ripp_codec voice_codec;
    ripp_dtmf_tx dtmf;
    size_t n;
    uint8_t silence_level; /* 128 and above: never CN */
    int16_t zeros[RIPP_MAX_FRAME_SAMPLES];
};

ripp_media_tx *ripp_media_tx_new(const ripp_media_tx_config *cfg, int *err)
{
    int rc = 0;
    ripp_media_tx *tx = NULL;

    if (!cfg) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    tx = calloc(1, sizeof(*tx));
    if (!tx) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    ripp_enc_params vp = cfg->voice;
    if (vp.frame_ms == 0) vp.frame_ms = 20;
    tx->enc = ripp_encoder_new(&vp, &rc);
    if (!tx->enc) goto out;
    tx->voice_codec = vp.codec;
    tx->n = (size_t)vp.frame_ms * RIPP_SAMPLES_PER_MS;
    tx->silence_level = cfg->silence_level ? cfg->silence_level : 70;
    ripp_dtmf_tx_init(&tx->dtmf, vp.frame_ms, cfg->dtmf_tone_ms ? cfg->dtmf_tone_ms : 100,
                      cfg->dtmf_gap_ms ? cfg->dtmf_gap_ms : 100,
                      cfg->dtmf_volume ? cfg->dtmf_volume : 10);
out:
    if (rc != 0) {
        ripp_media_tx_del(tx);
        tx = NULL;
    }
    if (err) *err = rc;
    return tx;
}

void ripp_media_tx_del(ripp_media_tx *tx)
{
    if (!tx) return;
    ripp_encoder_del(tx->enc);
    free(tx);
}

int ripp_media_tx_dtmf(ripp_media_tx *tx, const char *digits)
{
    if (!tx) return RIPP_ERR_INVAL;
    return ripp_dtmf_tx_queue(&tx->dtmf, digits);
}

bool ripp_media_tx_dtmf_pending(const ripp_media_tx *tx)
{
    return tx && ripp_dtmf_tx_pending(&tx->dtmf);
}

int64_t ripp_media_tx_next(ripp_media_tx *tx, const int16_t *pcm, enum ripp_codec *codec,
                           uint8_t *out, size_t cap)
{
    if (!tx || !codec || !out) return RIPP_ERR_INVAL;
    /* Checked before the scheduler moves, so that a short buffer loses no event frame. */
    if (cap < 4) return RIPP_ERR_LIMIT;
    if (ripp_dtmf_tx_next(&tx->dtmf, out) == 1) {
        *codec = RIPP_CODEC_TEL_EVENT;
        return 4;
    }
    if (tx->silence_level <= 127) {
        uint8_t level = pcm ? ripp_cn_level(pcm, tx->n) : 127;
        if (level >= tx->silence_level) {
            out[0] = level;
            *codec = RIPP_CODEC_CN;
            return 1;
        }
    }
    int64_t len = ripp_encoder_encode(tx->enc, pcm ? pcm : tx->zeros, tx->n, out, cap);
    if (len > 0) *codec = tx->voice_codec;
    return len;
}

/* ---- receive side ---- */

enum rx_kind { RX_NONE, RX_VOICE, RX_CN, RX_EVENT };

struct ripp_media_rx {
    size_t n;
    uint32_t frame_ms;
    ripp_decoder *dec[RIPP_CODEC_COUNT];
    enum ripp_codec last_voice;
    enum rx_kind last_kind;
    uint8_t cn_level;
    ripp_cn_gen cn;
    ripp_dtmf_detect det;
    ripp_media_rx_counters count;
};

ripp_media_rx *ripp_media_rx_new(uint32_t frame_ms, int *err)
{
    int rc = 0;
    ripp_media_rx *rx = NULL;
    uint32_t ms = frame_ms ? frame_ms : 20;

    if (!ripp_media_frame_ms_ok(ms)) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    rx = calloc(1, sizeof(*rx));
    if (!rx) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    rx->frame_ms = ms;
    rx->n = (size_t)ms * RIPP_SAMPLES_PER_MS;
    rx->cn_level = 127;
out:
    if (err) *err = rc;
    return rx;
}

void ripp_media_rx_del(ripp_media_rx *rx)
{
    if (!rx) return;
    for (int i = 0; i < RIPP_CODEC_COUNT; i++)
        ripp_decoder_del(rx->dec[i]);
    free(rx);
}

void ripp_media_rx_get_counters(const ripp_media_rx *rx, ripp_media_rx_counters *out)
{
    if (!out) return;
    if (!rx) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = rx->count;
}

/* Fills an interval for which there is no usable frame, continuing what played before. */
static void rx_fill_in(ripp_media_rx *rx, int16_t *pcm)
{
    rx->count.concealed++;
    switch (rx->last_kind) {
    case RX_VOICE:
        if (rx->dec[rx->last_voice]) {
            ripp_decoder_conceal(rx->dec[rx->last_voice], pcm, rx->n);
            return;
        }
        break;
    case RX_CN:
        ripp_cn_generate(&rx->cn, &rx->cn_level, 1, pcm, rx->n);
        return;
    case RX_NONE:
    case RX_EVENT:
        break;
    }
    memset(pcm, 0, rx->n * sizeof(*pcm));
}

static int rx_voice(ripp_media_rx *rx, const ripp_jbuf_out *slot, int16_t *pcm)
{
    enum ripp_codec c = slot->codec;
    int rc = 0;
    if (!rx->dec[c]) {
        rx->dec[c] = ripp_decoder_new(c, rx->frame_ms, &rc);
        if (!rx->dec[c]) {
            rx_fill_in(rx, pcm);
            return rc;
        }
    }
    ripp_dtmf_detect_reset(&rx->det);
    rx->last_voice = c;
    rx->last_kind = RX_VOICE;
    if (ripp_decoder_decode(rx->dec[c], slot->payload, slot->len, pcm, rx->n) == (int)rx->n) {
        rx->count.voice++;
        return 0;
    }
    rx->count.undecodable++;
    rx_fill_in(rx, pcm);
    return 0;
}

static void rx_cn(ripp_media_rx *rx, const ripp_jbuf_out *slot, int16_t *pcm)
{
    ripp_dtmf_detect_reset(&rx->det);
    rx->last_kind = RX_CN;
    if (slot->len < 1 || !slot->payload) {
        rx->count.undecodable++;
        rx_fill_in(rx, pcm);
        return;
    }
    rx->cn_level = slot->payload[0] > 127 ? 127 : slot->payload[0];
    rx->count.cn++;
    ripp_cn_generate(&rx->cn, &rx->cn_level, 1, pcm, rx->n);
}

static char rx_event(ripp_media_rx *rx, const ripp_jbuf_out *slot, int16_t *pcm)
{
    ripp_tel_event ev;
    char d = '\0';
    memset(pcm, 0, rx->n * sizeof(*pcm));
    rx->last_kind = RX_EVENT;
    if (!slot->payload || ripp_tel_event_decode(slot->payload, slot->len, &ev) != 0) {
        rx->count.undecodable++;
        return '\0';
    }
    rx->count.events++;
    d = ripp_dtmf_detect_feed(&rx->det, &ev);
    if (d) rx->count.digits++;
    return d;
}

int ripp_media_rx_play(ripp_media_rx *rx, const ripp_jbuf_out *slot, int16_t *pcm, size_t n,
                       char *digit)
{
    if (digit) *digit = '\0';
    if (!rx || !slot || !pcm || n != rx->n) return RIPP_ERR_INVAL;
    int rc = 0;
    if (!slot->present) {
        rx_fill_in(rx, pcm);
        return (int)n;
    }
    switch (slot->codec) {
    case RIPP_CODEC_PCMU:
    case RIPP_CODEC_PCMA:
    case RIPP_CODEC_OPUS:
        rc = rx_voice(rx, slot, pcm);
        break;
    case RIPP_CODEC_CN:
        rx_cn(rx, slot, pcm);
        break;
    case RIPP_CODEC_TEL_EVENT: {
        char d = rx_event(rx, slot, pcm);
        if (digit) *digit = d;
        break;
    }
    default:
        rx->count.undecodable++;
        rx_fill_in(rx, pcm);
        break;
    }
    return rc < 0 ? rc : (int)n;
}
