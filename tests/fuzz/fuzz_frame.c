/* Frame and ack parsers: the incremental parsers, fed the input in chunks whose sizes come
 * from the input itself, must agree with a whole-buffer reference decode, and re-encoding a
 * minimally encoded record must reproduce its bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/frame.h"

#define MAX_RECS 4096

struct ref {
    uint64_t a, b, c; /* frame: seq_offset, len; ack: seq, channel, rx time */
    size_t off, hlen; /* record start and header length */
    size_t rlen;      /* whole record length */
    int minimal;
};

struct check {
    const uint8_t *data;
    const struct ref *refs;
    size_t nrefs, seen;
};

static size_t ref_frames(const uint8_t *d, size_t n, struct ref *r, int *end)
{
    size_t pos = 0, k = 0;
    for (;;) {
        if (pos == n) {
            *end = 0;
            return k;
        }
        uint64_t so, len;
        int a = ripp_varint_decode(d + pos, n - pos, &so);
        if (a < 0) {
            *end = RIPP_ERR_TRUNCATED;
            return k;
        }
        if (so > UINT32_MAX) {
            *end = RIPP_ERR_PROTO;
            return k;
        }
        int b = ripp_varint_decode(d + pos + a, n - pos - a, &len);
        if (b < 0) {
            *end = RIPP_ERR_TRUNCATED;
            return k;
        }
        if (len == 0 || len > RIPP_FRAME_MAX_PAYLOAD) {
            *end = len == 0 ? RIPP_ERR_PROTO : RIPP_ERR_LIMIT;
            return k;
        }
        size_t h = (size_t)a + (size_t)b;
        if (n - pos - h < len) {
            *end = RIPP_ERR_TRUNCATED;
            return k;
        }
        if (k == MAX_RECS) {
            *end = 1;
            return k;
        }
        r[k] = (struct ref){so,
                            len,
                            0,
                            pos,
                            h,
                            h + len,
                            ripp_varint_len(so) == (size_t)a && ripp_varint_len(len) == (size_t)b};
        k++;
        pos += h + len;
    }
}

static size_t ref_acks(const uint8_t *d, size_t n, struct ref *r, int *end)
{
    size_t pos = 0, k = 0;
    for (;;) {
        if (pos == n) {
            *end = 0;
            return k;
        }
        uint64_t seq, ch;
        int a = ripp_varint_decode(d + pos, n - pos, &seq);
        if (a < 0) {
            *end = RIPP_ERR_TRUNCATED;
            return k;
        }
        if (seq > UINT32_MAX) {
            *end = RIPP_ERR_PROTO;
            return k;
        }
        int b = ripp_varint_decode(d + pos + a, n - pos - a, &ch);
        if (b < 0) {
            *end = RIPP_ERR_TRUNCATED;
            return k;
        }
        if (ch == 0 || ch > 255) {
            *end = RIPP_ERR_PROTO;
            return k;
        }
        size_t h = (size_t)a + (size_t)b;
        if (n - pos - h < 8) {
            *end = RIPP_ERR_TRUNCATED;
            return k;
        }
        if (k == MAX_RECS) {
            *end = 1;
            return k;
        }
        uint64_t t = 0;
        for (int i = 0; i < 8; i++)
            t = (t << 8) | d[pos + h + i];
        r[k] = (struct ref){seq,
                            ch,
                            t,
                            pos,
                            h,
                            h + 8,
                            ripp_varint_len(seq) == (size_t)a && ripp_varint_len(ch) == (size_t)b};
        k++;
        pos += h + 8;
    }
}

static int on_frame(void *ud, uint64_t so, const uint8_t *payload, size_t len)
{
    struct check *c = ud;
    if (c->seen >= c->nrefs) abort();
    const struct ref *r = &c->refs[c->seen++];
    if (r->a != so || r->b != len || memcmp(payload, c->data + r->off + r->hlen, len) != 0) abort();
    uint8_t out[RIPP_FRAME_MAX_RECORD];
    int64_t n = ripp_frame_encode(out, sizeof out, so, payload, len);
    if (n <= 0) abort();
    if (r->minimal && ((size_t)n != r->rlen || memcmp(out, c->data + r->off, r->rlen) != 0))
        abort();
    return 0;
}

static int on_ack(void *ud, const ripp_ack *ack)
{
    struct check *c = ud;
    if (c->seen >= c->nrefs) abort();
    const struct ref *r = &c->refs[c->seen++];
    if (r->a != ack->seq || r->b != ack->channel || r->c != ack->rx_time_us) abort();
    uint8_t out[RIPP_ACK_MAX_RECORD];
    int64_t n = ripp_ack_encode(out, sizeof out, ack);
    if (n <= 0) abort();
    if (r->minimal && ((size_t)n != r->rlen || memcmp(out, c->data + r->off, r->rlen) != 0))
        abort();
    return 0;
}

/* Chunk sizes: a walk over the input bytes, so the fuzzer controls the splits. */
static size_t chunk_size(const uint8_t *d, size_t n, size_t k)
{
    uint8_t b = d[(k * 7) % n];
    if (b >= 0xf0) return 256 + (size_t)(b & 0x0f) * 200;
    return 1 + (b & 0x1f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ref refs[MAX_RECS];
    static ripp_frame_parser fp;
    if (size == 0) return 0;
    int want_end;

    size_t nr = ref_frames(data, size, refs, &want_end);
    if (want_end != 1) {
        struct check c = {data, refs, nr, 0};
        ripp_frame_parser_init(&fp);
        int rc = 0;
        for (size_t pos = 0, k = 0; pos < size && rc == 0; k++) {
            size_t m = chunk_size(data, size, k);
            if (m > size - pos) m = size - pos;
            rc = ripp_frame_parser_feed(&fp, data + pos, m, on_frame, &c);
            pos += m;
        }
        if (rc == 0) rc = ripp_frame_parser_finish(&fp);
        if (rc != want_end || c.seen != nr || fp.frames != nr) abort();
        /* Feed errors are sticky. */
        if (rc && rc != RIPP_ERR_TRUNCATED &&
            ripp_frame_parser_feed(&fp, data, size, on_frame, &c) != rc)
            abort();
    }

    nr = ref_acks(data, size, refs, &want_end);
    if (want_end != 1) {
        struct check c = {data, refs, nr, 0};
        ripp_ack_parser ap;
        ripp_ack_parser_init(&ap);
        int rc = 0;
        for (size_t pos = 0, k = 0; pos < size && rc == 0; k++) {
            size_t m = chunk_size(data, size, k + 3);
            if (m > size - pos) m = size - pos;
            rc = ripp_ack_parser_feed(&ap, data + pos, m, on_ack, &c);
            pos += m;
        }
        if (rc == 0) rc = ripp_ack_parser_finish(&ap);
        if (rc != want_end || c.seen != nr || ap.acks != nr) abort();
    }
    return 0;
}
