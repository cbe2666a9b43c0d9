/* One end of a call's audio: source (WAV, echo or silence) -> send pipeline, and receive
 * pipeline -> sink (recording, echo buffer), plus DTMF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/callmedia.h"

#define ECHO_MAX_SAMPLES (RIPP_PCM_RATE) /* one second of echo backlog at most */

struct ripp_callmedia {
    ripp_callmedia_config cfg;
    ripp_media_tx *tx;
    enum ripp_codec tx_codec;
    ripp_media_rx *rx;
    ripp_wav *play, *rec;
    bool play_done;
    int16_t *echo; /* ring buffer */
    size_t echo_head, echo_len;
    bool echo_started;
    char digits[256];
    size_t ndigits;
    char pending_dtmf[256];
    uint64_t played;
};

ripp_callmedia *ripp_callmedia_new(const ripp_callmedia_config *cfg, int *err, char *errbuf,
                                   size_t errcap)
{
    int rv = RIPP_ERR_NOMEM;
    ripp_callmedia *m = calloc(1, sizeof *m);
    if (!m) goto out;
    m->cfg = *cfg;
    if (!m->cfg.frame_ms) m->cfg.frame_ms = 20;
    m->cfg.play_path = NULL; /* the paths are not kept beyond this call */
    m->cfg.record_path = NULL;
    m->rx = ripp_media_rx_new(m->cfg.frame_ms, &rv);
    if (!m->rx) goto out;
    if (cfg->play_path) {
        m->play = ripp_wav_open_read(cfg->play_path, &rv, errbuf, errcap);
        if (!m->play) goto out;
    }
    if (cfg->record_path) {
        m->rec = ripp_wav_open_write(cfg->record_path, &rv, errbuf, errcap);
        if (!m->rec) goto out;
    }
    if (cfg->echo) {
        m->echo = calloc(ECHO_MAX_SAMPLES, sizeof *m->echo);
        if (!m->echo) {
            rv = RIPP_ERR_NOMEM;
            goto out;
        }
    }
    rv = 0;
out:
    if (rv < 0 && m) {
        ripp_callmedia_del(m);
        m = NULL;
    }
    if (err) *err = rv;
    return m;
}

void ripp_callmedia_del(ripp_callmedia *m)
{
    if (!m) return;
    if (m->tx) ripp_media_tx_del(m->tx);
    if (m->rx) ripp_media_rx_del(m->rx);
    if (m->play) ripp_wav_close(m->play);
    if (m->rec) ripp_wav_close(m->rec);
    free(m->echo);
    free(m);
}

int ripp_callmedia_dtmf(ripp_callmedia *m, const char *digits)
{
    for (const char *p = digits; *p; p++)
        if (ripp_dtmf_event_from_char(*p) < 0) return RIPP_ERR_INVAL;
    if (m->tx) return ripp_media_tx_dtmf(m->tx, digits);
    size_t l = strlen(m->pending_dtmf);
    if (l + strlen(digits) >= sizeof m->pending_dtmf) return RIPP_ERR_LIMIT;
    strcat(m->pending_dtmf, digits);
    return 0;
}

/* The echo ring: at most one second; when full the oldest samples go (bounded latency). */
static void echo_put(ripp_callmedia *m, const int16_t *pcm, size_t n)
{
    if (m->echo_len + n > ECHO_MAX_SAMPLES) {
        size_t drop = m->echo_len + n - ECHO_MAX_SAMPLES;
        m->echo_head = (m->echo_head + drop) % ECHO_MAX_SAMPLES;
        m->echo_len -= drop;
    }
    size_t tail = (m->echo_head + m->echo_len) % ECHO_MAX_SAMPLES;
    size_t first = ECHO_MAX_SAMPLES - tail < n ? ECHO_MAX_SAMPLES - tail : n;
    memcpy(m->echo + tail, pcm, first * sizeof *pcm);
    memcpy(m->echo, pcm + first, (n - first) * sizeof *pcm);
    m->echo_len += n;
}

static void echo_take(ripp_callmedia *m, int16_t *pcm, size_t n)
{
    size_t first = ECHO_MAX_SAMPLES - m->echo_head < n ? ECHO_MAX_SAMPLES - m->echo_head : n;
    memcpy(pcm, m->echo + m->echo_head, first * sizeof *pcm);
    memcpy(pcm + first, m->echo, (n - first) * sizeof *pcm);
    m->echo_head = (m->echo_head + n) % ECHO_MAX_SAMPLES;
    m->echo_len -= n;
}

static int make_tx(ripp_callmedia *m, enum ripp_codec codec)
{
    ripp_media_tx_config tc = {
        .voice =
            {
                .codec = codec,
                .frame_ms = m->cfg.frame_ms,
                .max_bitrate = m->cfg.peer_caps.max_bitrate,
                .max_samplerate = m->cfg.peer_caps.max_samplerate,
                .cbr = m->cfg.peer_caps.force_cbr,
            },
    };
    int err = 0;
    m->tx = ripp_media_tx_new(&tc, &err);
    if (!m->tx) return err;
    m->tx_codec = codec;
    if (m->pending_dtmf[0]) {
        ripp_media_tx_dtmf(m->tx, m->pending_dtmf);
        m->pending_dtmf[0] = 0;
    }
    return 0;
}

int64_t ripp_callmedia_next_frame(ripp_callmedia *m, enum ripp_codec rx_codec,
                                  enum ripp_codec *codec, uint8_t *buf, size_t cap)
{
    size_t n = (size_t)m->cfg.frame_ms * RIPP_SAMPLES_PER_MS;
    int16_t pcm[RIPP_MAX_FRAME_SAMPLES];
    const int16_t *src = NULL;
    if (!m->tx) {
        enum ripp_codec want = m->cfg.codec;
        if (want == RIPP_CODEC_NONE)
            want = ripp_codec_is_voice(rx_codec) ? rx_codec : RIPP_CODEC_PCMU;
        if (m->cfg.codec == RIPP_CODEC_NONE && rx_codec == RIPP_CODEC_NONE && m->cfg.echo) {
            /* echo: wait for the peer's codec; send comfort noise meanwhile */
            *codec = RIPP_CODEC_CN;
            buf[0] = 127;
            return 1;
        }
        if (make_tx(m, want) < 0) return RIPP_ERR_UNSUPPORTED;
    }
    if (m->play && !m->play_done) {
        int64_t got = ripp_wav_read(m->play, pcm, n);
        if (got < (int64_t)n && m->cfg.loop) {
            ripp_wav_rewind(m->play);
            int64_t more =
                ripp_wav_read(m->play, pcm + (got > 0 ? got : 0), n - (size_t)(got > 0 ? got : 0));
            got = (got > 0 ? got : 0) + (more > 0 ? more : 0);
        }
        if (got <= 0) {
            m->play_done = true;
        } else {
            for (size_t i = (size_t)got; i < n; i++)
                pcm[i] = 0;
            src = pcm;
            if (got < (int64_t)n) m->play_done = true;
        }
    } else if (m->echo && m->echo_started && m->echo_len >= n) {
        echo_take(m, pcm, n);
        src = pcm;
    }
    return ripp_media_tx_next(m->tx, src, codec, buf, cap);
}

void ripp_callmedia_playout(ripp_callmedia *m, const ripp_jbuf_out *out)
{
    size_t n = (size_t)m->cfg.frame_ms * RIPP_SAMPLES_PER_MS;
    int16_t pcm[RIPP_MAX_FRAME_SAMPLES];
    char digit = 0;
    if (ripp_media_rx_play(m->rx, out, pcm, n, &digit) < 0) memset(pcm, 0, n * sizeof *pcm);
    m->played++;
    if (digit && m->ndigits + 1 < sizeof m->digits) {
        m->digits[m->ndigits++] = digit;
        m->digits[m->ndigits] = 0;
    }
    if (m->rec) ripp_wav_write(m->rec, pcm, n);
    if (m->echo) {
        m->echo_started = true;
        echo_put(m, pcm, n);
    }
}

const char *ripp_callmedia_digits(const ripp_callmedia *m)
{
    return m->digits;
}

bool ripp_callmedia_done(const ripp_callmedia *m)
{
    return m->play_done && !(m->tx && ripp_media_tx_dtmf_pending(m->tx)) && !m->pending_dtmf[0];
}

uint64_t ripp_callmedia_frames_played(const ripp_callmedia *m)
{
    return m->played;
}
