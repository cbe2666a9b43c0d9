/* Media frames and acks on byways: QUIC varints and the incremental record parsers. */
#include <string.h>

#include "ripp/frame.h"

/* Encoded length of a varint, from the 2-bit prefix of its first byte. */
static size_t varint_len_first(uint8_t b)
{
    return (size_t)1 << (b >> 6);
}

size_t ripp_varint_len(uint64_t v)
{
    if (v < 64) return 1;
    if (v < 16384) return 2;
    if (v < 1073741824) return 4;
    if (v <= RIPP_VARINT_MAX) return 8;
    return 0;
}

int ripp_varint_encode(uint8_t *out, size_t cap, uint64_t v)
{
    size_t n = ripp_varint_len(v);
    if (n == 0) return RIPP_ERR_INVAL;
    if (cap < n || !out) return RIPP_ERR_LIMIT;
    static const uint8_t prefix[9] = {[1] = 0x00, [2] = 0x40, [4] = 0x80, [8] = 0xc0};
    for (size_t i = 0; i < n; i++)
        out[n - 1 - i] = (uint8_t)(v >> (8 * i));
    out[0] |= prefix[n];
    return (int)n;
}

int ripp_varint_decode(const uint8_t *in, size_t len, uint64_t *v)
{
    if (len == 0) return RIPP_ERR_TRUNCATED;
    size_t n = varint_len_first(in[0]);
    if (len < n) return RIPP_ERR_TRUNCATED;
    uint64_t x = in[0] & 0x3f;
    for (size_t i = 1; i < n; i++)
        x = (x << 8) | in[i];
    if (v) *v = x;
    return (int)n;
}

int64_t ripp_frame_encode(uint8_t *out, size_t cap, uint64_t seq_offset, const uint8_t *payload,
                          size_t len)
{
    if (len == 0 || len > RIPP_FRAME_MAX_PAYLOAD || !payload || seq_offset > UINT32_MAX)
        return RIPP_ERR_INVAL;
    size_t l1 = ripp_varint_len(seq_offset), l2 = ripp_varint_len(len);
    if (!out || cap < l1 + l2 + len) return RIPP_ERR_LIMIT;
    ripp_varint_encode(out, cap, seq_offset);
    ripp_varint_encode(out + l1, cap - l1, len);
    memcpy(out + l1 + l2, payload, len);
    return (int64_t)(l1 + l2 + len);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int64_t ripp_ack_encode(uint8_t *out, size_t cap, const ripp_ack *ack)
{
    if (!ack || ack->seq > UINT32_MAX || ack->channel == 0 || ack->channel > 255)
        return RIPP_ERR_INVAL;
    size_t l1 = ripp_varint_len(ack->seq), l2 = ripp_varint_len(ack->channel);
    if (!out || cap < l1 + l2 + 8) return RIPP_ERR_LIMIT;
    ripp_varint_encode(out, cap, ack->seq);
    ripp_varint_encode(out + l1, cap - l1, ack->channel);
    put_be64(out + l1 + l2, ack->rx_time_us);
    return (int64_t)(l1 + l2 + 8);
}

/* ---- frame parser ---- */

void ripp_frame_parser_init(ripp_frame_parser *p)
{
    memset(p, 0, offsetof(ripp_frame_parser, payload));
}

/* Header bytes needed to finish the record header given what is buffered so far. */
static size_t frame_hdr_want(const ripp_frame_parser *p)
{
    if (p->hdr_len == 0) return 1;
    size_t l1 = varint_len_first(p->hdr[0]);
    if (p->hdr_len < l1) return l1;
    if (p->hdr_len == l1) return l1 + 1;
    return l1 + varint_len_first(p->hdr[l1]);
}

/* Checks a length value once its varint is complete, so that an oversized record is
 * refused before any of its payload is buffered. */
static int frame_check(uint64_t seq_offset, uint64_t length)
{
    if (seq_offset > UINT32_MAX) return RIPP_ERR_PROTO;
    if (length == 0) return RIPP_ERR_PROTO;
    if (length > RIPP_FRAME_MAX_PAYLOAD) return RIPP_ERR_LIMIT;
    return 0;
}

static int frame_fail(ripp_frame_parser *p, int rc)
{
    p->failed = rc;
    return rc;
}

int ripp_frame_parser_feed(ripp_frame_parser *p, const uint8_t *in, size_t len, ripp_frame_cb cb,
                           void *ud)
{
    if (p->failed) return p->failed;
    while (len > 0) {
        if (!p->in_payload && p->hdr_len == 0) {
            /* Whole record in this chunk: deliver it without copying. */
            uint64_t so, n;
            int a = ripp_varint_decode(in, len, &so);
            if (a > 0 && so > UINT32_MAX) return frame_fail(p, RIPP_ERR_PROTO);
            int b = a > 0 ? ripp_varint_decode(in + a, len - (size_t)a, &n) : RIPP_ERR_TRUNCATED;
            if (b > 0) {
                int rc = frame_check(so, n);
                if (rc) return frame_fail(p, rc);
                size_t h = (size_t)a + (size_t)b;
                if (len - h >= n) {
                    p->frames++;
                    if (cb && (rc = cb(ud, so, in + h, (size_t)n)) != 0) return frame_fail(p, rc);
                    in += h + n;
                    len -= h + n;
                    continue;
                }
            }
        }
        if (!p->in_payload) {
            size_t want = frame_hdr_want(p);
            size_t l1 = p->hdr_len ? varint_len_first(p->hdr[0]) : 0;
            size_t take = want - p->hdr_len;
            if (take > len) take = len;
            memcpy(p->hdr + p->hdr_len, in, take);
            p->hdr_len += take;
            in += take;
            len -= take;
            if (l1 == 0) l1 = varint_len_first(p->hdr[0]);
            if (p->hdr_len == l1) {
                ripp_varint_decode(p->hdr, l1, &p->seq_offset);
                if (p->seq_offset > UINT32_MAX) return frame_fail(p, RIPP_ERR_PROTO);
            }
            if (p->hdr_len > l1 && p->hdr_len == frame_hdr_want(p)) {
                uint64_t n;
                ripp_varint_decode(p->hdr + l1, p->hdr_len - l1, &n);
                int rc = frame_check(p->seq_offset, n);
                if (rc) return frame_fail(p, rc);
                p->in_payload = 1;
                p->need = (size_t)n;
                p->got = 0;
            }
            continue;
        }
        size_t take = p->need - p->got;
        if (take > len) take = len;
        memcpy(p->payload + p->got, in, take);
        p->got += take;
        in += take;
        len -= take;
        if (p->got == p->need) {
            p->in_payload = 0;
            p->hdr_len = 0;
            p->frames++;
            int rc;
            if (cb && (rc = cb(ud, p->seq_offset, p->payload, p->need)) != 0)
                return frame_fail(p, rc);
        }
    }
    return 0;
}

int ripp_frame_parser_finish(const ripp_frame_parser *p)
{
    if (p->failed) return p->failed;
    return (p->in_payload || p->hdr_len) ? RIPP_ERR_TRUNCATED : 0;
}

/* ---- ack parser ---- */

void ripp_ack_parser_init(ripp_ack_parser *p)
{
    memset(p, 0, sizeof *p);
}

static size_t ack_want(const ripp_ack_parser *p)
{
    if (p->len == 0) return 1;
    size_t l1 = varint_len_first(p->buf[0]);
    if (p->len < l1) return l1;
    if (p->len == l1) return l1 + 1;
    return l1 + varint_len_first(p->buf[l1]) + 8;
}

static int ack_fail(ripp_ack_parser *p, int rc)
{
    p->failed = rc;
    return rc;
}

int ripp_ack_parser_feed(ripp_ack_parser *p, const uint8_t *in, size_t len, ripp_ack_cb cb,
                         void *ud)
{
    if (p->failed) return p->failed;
    while (len > 0) {
        size_t l1_before = p->len ? varint_len_first(p->buf[0]) : 0;
        size_t want = ack_want(p);
        size_t take = want - p->len;
        if (take > len) take = len;
        memcpy(p->buf + p->len, in, take);
        size_t old = p->len;
        p->len += take;
        in += take;
        len -= take;
        size_t l1 = l1_before ? l1_before : varint_len_first(p->buf[0]);
        uint64_t v;
        /* Range checks fire as soon as each varint completes. */
        if (old < l1 && p->len >= l1) {
            ripp_varint_decode(p->buf, l1, &v);
            if (v > UINT32_MAX) return ack_fail(p, RIPP_ERR_PROTO);
        }
        if (p->len > l1) {
            size_t l2 = varint_len_first(p->buf[l1]);
            if (old < l1 + l2 && p->len >= l1 + l2) {
                ripp_varint_decode(p->buf + l1, l2, &v);
                if (v == 0 || v > 255) return ack_fail(p, RIPP_ERR_PROTO);
            }
            if (p->len == l1 + l2 + 8) {
                ripp_ack ack;
                ripp_varint_decode(p->buf, l1, &ack.seq);
                ripp_varint_decode(p->buf + l1, l2, &ack.channel);
                ack.rx_time_us = get_be64(p->buf + l1 + l2);
                p->len = 0;
                p->acks++;
                int rc;
                if (cb && (rc = cb(ud, &ack)) != 0) return ack_fail(p, rc);
            }
        }
    }
    return 0;
}

int ripp_ack_parser_finish(const ripp_ack_parser *p)
{
    if (p->failed) return p->failed;
    return p->len ? RIPP_ERR_TRUNCATED : 0;
}
