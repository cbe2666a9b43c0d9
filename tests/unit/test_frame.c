/* Varints, media frames, acks and codec names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ripp/codec.h"
#include "ripp/frame.h"

/* ---- varints ---- */

static void check_varint(uint64_t v, const uint8_t *want, size_t n)
{
    uint8_t buf[8];
    assert_int_equal(ripp_varint_len(v), n);
    assert_int_equal(ripp_varint_encode(buf, sizeof buf, v), (int)n);
    assert_memory_equal(buf, want, n);
    uint64_t back = 0;
    assert_int_equal(ripp_varint_decode(buf, n, &back), (int)n);
    assert_true(back == v);
    /* Any shorter input is truncated. */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ripp_varint_decode(buf, i, &back), RIPP_ERR_TRUNCATED);
    /* Too small an output buffer. */
    assert_int_equal(ripp_varint_encode(buf, n - 1, v), RIPP_ERR_LIMIT);
}

static void test_varint_boundaries(void **state)
{
    (void)state;
    check_varint(0, (const uint8_t[]){0x00}, 1);
    check_varint(37, (const uint8_t[]){0x25}, 1);
    check_varint(63, (const uint8_t[]){0x3f}, 1);
    check_varint(64, (const uint8_t[]){0x40, 0x40}, 2);
    check_varint(15293, (const uint8_t[]){0x7b, 0xbd}, 2);
    check_varint(16383, (const uint8_t[]){0x7f, 0xff}, 2);
    check_varint(16384, (const uint8_t[]){0x80, 0x00, 0x40, 0x00}, 4);
    check_varint(494878333, (const uint8_t[]){0x9d, 0x7f, 0x3e, 0x7d}, 4);
    check_varint((1u << 30) - 1, (const uint8_t[]){0xbf, 0xff, 0xff, 0xff}, 4);
    check_varint(1u << 30, (const uint8_t[]){0xc0, 0, 0, 0, 0x40, 0, 0, 0}, 8);
    check_varint(151288809941952652ULL,
                 (const uint8_t[]){0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}, 8);
    check_varint(RIPP_VARINT_MAX, (const uint8_t[]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                 8);
    uint8_t buf[8];
    assert_int_equal(ripp_varint_len(RIPP_VARINT_MAX + 1), 0);
    assert_int_equal(ripp_varint_encode(buf, sizeof buf, RIPP_VARINT_MAX + 1), RIPP_ERR_INVAL);
    assert_int_equal(ripp_varint_encode(buf, sizeof buf, UINT64_MAX), RIPP_ERR_INVAL);
}

static void test_varint_nonminimal(void **state)
{
    (void)state;
    uint64_t v = 99;
    /* 37 in two bytes (RFC 9000 A.1 example) and 0 in eight. */
    assert_int_equal(ripp_varint_decode((const uint8_t[]){0x40, 0x25}, 2, &v), 2);
    assert_true(v == 37);
    assert_int_equal(ripp_varint_decode((const uint8_t[]){0xc0, 0, 0, 0, 0, 0, 0, 0}, 8, &v), 8);
    assert_true(v == 0);
    /* Extra bytes after a varint are not consumed. */
    assert_int_equal(ripp_varint_decode((const uint8_t[]){0x05, 0xff}, 2, &v), 1);
    assert_true(v == 5);
}

/* ---- frames ---- */

struct rec {
    uint64_t seq;
    size_t len;
    uint8_t data[RIPP_FRAME_MAX_PAYLOAD];
};

struct sink {
    struct rec recs[16];
    int n;
    int stop_at; /* return an error from the callback for this record index (or -1) */
};

static int on_frame(void *ud, uint64_t seq, const uint8_t *payload, size_t len)
{
    struct sink *s = ud;
    assert_true(s->n < 16);
    s->recs[s->n].seq = seq;
    s->recs[s->n].len = len;
    memcpy(s->recs[s->n].data, payload, len);
    if (s->n++ == s->stop_at) return 42;
    return 0;
}

static void test_frame_encode_bytes(void **state)
{
    (void)state;
    uint8_t out[64];
    const uint8_t pl[3] = {0xaa, 0xbb, 0xcc};
    assert_int_equal(ripp_frame_encode(out, sizeof out, 0, pl, 3), 5);
    assert_memory_equal(out, ((const uint8_t[]){0x00, 0x03, 0xaa, 0xbb, 0xcc}), 5);
    assert_int_equal(ripp_frame_encode(out, sizeof out, 64, pl, 1), 4);
    assert_memory_equal(out, ((const uint8_t[]){0x40, 0x40, 0x01, 0xaa}), 4);
    assert_int_equal(ripp_frame_encode(out, sizeof out, UINT32_MAX, pl, 2), 8 + 1 + 2);
    assert_memory_equal(out, ((const uint8_t[]){0xc0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x02}), 9);

    static uint8_t big[RIPP_FRAME_MAX_PAYLOAD + 1];
    static uint8_t rec[RIPP_FRAME_MAX_RECORD + 8];
    assert_int_equal(ripp_frame_encode(rec, sizeof rec, 7, big, 1500), 1 + 2 + 1500);
    assert_memory_equal(rec, ((const uint8_t[]){0x07, 0x45, 0xdc}), 3);
    assert_int_equal(ripp_frame_encode(rec, sizeof rec, 7, big, 1501), RIPP_ERR_INVAL);
    assert_int_equal(ripp_frame_encode(rec, sizeof rec, 7, big, 0), RIPP_ERR_INVAL);
    assert_int_equal(ripp_frame_encode(rec, sizeof rec, (uint64_t)UINT32_MAX + 1, big, 1),
                     RIPP_ERR_INVAL);
    assert_int_equal(ripp_frame_encode(out, 4, 0, pl, 3), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_frame_encode(out, 5, 0, pl, 3), 5);
}

/* Three records of varied header widths. */
static size_t build_stream(uint8_t *buf, size_t cap)
{
    static uint8_t p1[1], p2[200], p3[1500];
    memset(p1, 0x11, sizeof p1);
    for (size_t i = 0; i < sizeof p2; i++)
        p2[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof p3; i++)
        p3[i] = (uint8_t)(i * 7);
    size_t n = 0;
    n += (size_t)ripp_frame_encode(buf + n, cap - n, 0, p1, sizeof p1);
    n += (size_t)ripp_frame_encode(buf + n, cap - n, 16384, p2, sizeof p2);
    n += (size_t)ripp_frame_encode(buf + n, cap - n, 1u << 30, p3, sizeof p3);
    return n;
}

static void check_stream_recs(const struct sink *s)
{
    assert_int_equal(s->n, 3);
    assert_true(s->recs[0].seq == 0);
    assert_int_equal(s->recs[0].len, 1);
    assert_int_equal(s->recs[0].data[0], 0x11);
    assert_true(s->recs[1].seq == 16384);
    assert_int_equal(s->recs[1].len, 200);
    for (size_t i = 0; i < 200; i++)
        assert_int_equal(s->recs[1].data[i], (uint8_t)i);
    assert_true(s->recs[2].seq == (1u << 30));
    assert_int_equal(s->recs[2].len, 1500);
    for (size_t i = 0; i < 1500; i++)
        assert_int_equal(s->recs[2].data[i], (uint8_t)(i * 7));
}

static void test_frame_parse_bytewise(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    size_t n = build_stream(buf, sizeof buf);
    static ripp_frame_parser p;
    static struct sink s;
    memset(&s, 0, sizeof s);
    s.stop_at = -1;
    ripp_frame_parser_init(&p);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ripp_frame_parser_feed(&p, buf + i, 1, on_frame, &s), 0);
        /* Record boundaries at 3, 3+206 and n bytes; everything else is mid-record. */
        size_t fed = i + 1;
        bool boundary = fed == 3 || fed == 3 + 206 || fed == n;
        assert_int_equal(ripp_frame_parser_finish(&p), boundary ? 0 : RIPP_ERR_TRUNCATED);
        assert_int_equal(s.n, fed >= n ? 3 : fed >= 209 ? 2 : fed >= 3 ? 1 : 0);
    }
    assert_int_equal(ripp_frame_parser_finish(&p), 0);
    check_stream_recs(&s);
    assert_true(p.frames == 3);
}

static void test_frame_parse_every_split(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    size_t n = build_stream(buf, sizeof buf);
    static ripp_frame_parser p;
    static struct sink s;
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += (b < a + 24 || b > n - 24) ? 1 : 97) {
            memset(&s, 0, sizeof s);
            s.stop_at = -1;
            ripp_frame_parser_init(&p);
            assert_int_equal(ripp_frame_parser_feed(&p, buf, a, on_frame, &s), 0);
            assert_int_equal(ripp_frame_parser_feed(&p, buf + a, b - a, on_frame, &s), 0);
            assert_int_equal(ripp_frame_parser_feed(&p, buf + b, n - b, on_frame, &s), 0);
            assert_int_equal(ripp_frame_parser_finish(&p), 0);
            check_stream_recs(&s);
        }
    }
}

static int parse_all(const uint8_t *in, size_t len, struct sink *s, ripp_frame_parser *p,
                     size_t chunk)
{
    memset(s, 0, sizeof *s);
    s->stop_at = -1;
    ripp_frame_parser_init(p);
    for (size_t i = 0; i < len; i += chunk) {
        size_t k = len - i < chunk ? len - i : chunk;
        int rc = ripp_frame_parser_feed(p, in + i, k, on_frame, s);
        if (rc) return rc;
    }
    return ripp_frame_parser_finish(p);
}

static void test_frame_errors(void **state)
{
    (void)state;
    static ripp_frame_parser p;
    static struct sink s;
    for (size_t chunk = 1; chunk <= 4; chunk++) {
        /* length 0 */
        assert_int_equal(parse_all((const uint8_t[]){0x01, 0x00, 0xaa}, 3, &s, &p, chunk),
                         RIPP_ERR_PROTO);
        /* length 0 written non-minimally */
        assert_int_equal(parse_all((const uint8_t[]){0x01, 0x40, 0x00}, 3, &s, &p, chunk),
                         RIPP_ERR_PROTO);
        /* length 1501 refused from the header alone, with no payload following */
        assert_int_equal(parse_all((const uint8_t[]){0x01, 0x45, 0xdd}, 3, &s, &p, chunk),
                         RIPP_ERR_LIMIT);
        assert_int_equal(s.n, 0);
        /* seq_offset 2^32 */
        assert_int_equal(
            parse_all((const uint8_t[]){0xc0, 0, 0, 1, 0, 0, 0, 0, 0x01, 0xaa}, 10, &s, &p, chunk),
            RIPP_ERR_PROTO);
        /* truncated varints and payloads */
        assert_int_equal(parse_all((const uint8_t[]){0x80, 0x00}, 2, &s, &p, chunk),
                         RIPP_ERR_TRUNCATED);
        assert_int_equal(parse_all((const uint8_t[]){0x01, 0x40}, 2, &s, &p, chunk),
                         RIPP_ERR_TRUNCATED);
        assert_int_equal(parse_all((const uint8_t[]){0x01}, 1, &s, &p, chunk), RIPP_ERR_TRUNCATED);
        assert_int_equal(parse_all((const uint8_t[]){0x01, 0x03, 0xaa, 0xbb}, 4, &s, &p, chunk),
                         RIPP_ERR_TRUNCATED);
        /* one good record then garbage length */
        assert_int_equal(
            parse_all((const uint8_t[]){0x00, 0x01, 0x55, 0x02, 0x00}, 5, &s, &p, chunk),
            RIPP_ERR_PROTO);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.recs[0].data[0], 0x55);
    }
    /* Non-minimal encodings parse. */
    assert_int_equal(
        parse_all((const uint8_t[]){0x40, 0x05, 0x80, 0, 0, 2, 0xaa, 0xbb}, 8, &s, &p, 3), 0);
    assert_int_equal(s.n, 1);
    assert_true(s.recs[0].seq == 5);
    assert_int_equal(s.recs[0].len, 2);
    /* Exactly 1500 is fine. */
    static uint8_t rec[RIPP_FRAME_MAX_RECORD];
    static uint8_t big[1500];
    int64_t n = ripp_frame_encode(rec, sizeof rec, 3, big, 1500);
    assert_int_equal(parse_all(rec, (size_t)n, &s, &p, 1000), 0);
    assert_int_equal(s.recs[0].len, 1500);
}

static void test_frame_sticky_and_cb_stop(void **state)
{
    (void)state;
    static ripp_frame_parser p;
    static struct sink s;
    memset(&s, 0, sizeof s);
    s.stop_at = -1;
    ripp_frame_parser_init(&p);
    assert_int_equal(ripp_frame_parser_feed(&p, (const uint8_t[]){0x00, 0x00}, 2, on_frame, &s),
                     RIPP_ERR_PROTO);
    assert_int_equal(
        ripp_frame_parser_feed(&p, (const uint8_t[]){0x00, 0x01, 0x01}, 3, on_frame, &s),
        RIPP_ERR_PROTO);
    assert_int_equal(ripp_frame_parser_finish(&p), RIPP_ERR_PROTO);
    assert_int_equal(s.n, 0);

    /* The callback's value stops the parse; the rest is not delivered. */
    memset(&s, 0, sizeof s);
    s.stop_at = 0;
    ripp_frame_parser_init(&p);
    const uint8_t two[] = {0x00, 0x01, 0x01, 0x01, 0x01, 0x02};
    assert_int_equal(ripp_frame_parser_feed(&p, two, sizeof two, on_frame, &s), 42);
    assert_int_equal(s.n, 1);
    assert_int_equal(ripp_frame_parser_feed(&p, two, sizeof two, on_frame, &s), 42);
    assert_int_equal(s.n, 1);
    /* Same when the record was buffered. */
    memset(&s, 0, sizeof s);
    s.stop_at = 0;
    ripp_frame_parser_init(&p);
    assert_int_equal(ripp_frame_parser_feed(&p, two, 2, on_frame, &s), 0);
    assert_int_equal(ripp_frame_parser_feed(&p, two + 2, 4, on_frame, &s), 42);
    assert_int_equal(s.n, 1);
}

/* ---- acks ---- */

struct acksink {
    ripp_ack acks[8];
    int n;
};

static int on_ack(void *ud, const ripp_ack *a)
{
    struct acksink *s = ud;
    assert_true(s->n < 8);
    s->acks[s->n++] = *a;
    return 0;
}

static void test_ack_encode_bytes(void **state)
{
    (void)state;
    uint8_t out[RIPP_ACK_MAX_RECORD];
    ripp_ack a = {.seq = 4711, .channel = 1, .rx_time_us = 0x0102030405060708ULL};
    assert_int_equal(ripp_ack_encode(out, sizeof out, &a), 2 + 1 + 8);
    assert_memory_equal(out, ((const uint8_t[]){0x52, 0x67, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}), 11);
    a.seq = UINT32_MAX;
    a.channel = 255;
    assert_int_equal(ripp_ack_encode(out, sizeof out, &a), 8 + 2 + 8);
    assert_int_equal(ripp_ack_encode(out, 17, &a), RIPP_ERR_LIMIT);
    a.channel = 0;
    assert_int_equal(ripp_ack_encode(out, sizeof out, &a), RIPP_ERR_INVAL);
    a.channel = 256;
    assert_int_equal(ripp_ack_encode(out, sizeof out, &a), RIPP_ERR_INVAL);
    a.channel = 1;
    a.seq = (uint64_t)UINT32_MAX + 1;
    assert_int_equal(ripp_ack_encode(out, sizeof out, &a), RIPP_ERR_INVAL);
}

static void test_ack_parse_splits(void **state)
{
    (void)state;
    uint8_t buf[3 * RIPP_ACK_MAX_RECORD];
    ripp_ack in[3] = {{0, 1, 0}, {16384, 200, 1562600000000000ULL}, {UINT32_MAX, 255, UINT64_MAX}};
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        n += (size_t)ripp_ack_encode(buf + n, sizeof buf - n, &in[i]);
    assert_int_equal(n, 10 + 14 + 18);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            struct acksink s = {0};
            ripp_ack_parser p;
            ripp_ack_parser_init(&p);
            assert_int_equal(ripp_ack_parser_feed(&p, buf, a, on_ack, &s), 0);
            assert_int_equal(ripp_ack_parser_feed(&p, buf + a, b - a, on_ack, &s), 0);
            if (b != 0 && b != 10 && b != 24 && b != n)
                assert_int_equal(ripp_ack_parser_finish(&p), RIPP_ERR_TRUNCATED);
            assert_int_equal(ripp_ack_parser_feed(&p, buf + b, n - b, on_ack, &s), 0);
            assert_int_equal(ripp_ack_parser_finish(&p), 0);
            assert_int_equal(s.n, 3);
            for (int i = 0; i < 3; i++) {
                assert_true(s.acks[i].seq == in[i].seq);
                assert_true(s.acks[i].channel == in[i].channel);
                assert_true(s.acks[i].rx_time_us == in[i].rx_time_us);
            }
        }
    }
}

static int ack_parse_all(const uint8_t *in, size_t len, struct acksink *s, size_t chunk)
{
    memset(s, 0, sizeof *s);
    ripp_ack_parser p;
    ripp_ack_parser_init(&p);
    for (size_t i = 0; i < len; i += chunk) {
        size_t k = len - i < chunk ? len - i : chunk;
        int rc = ripp_ack_parser_feed(&p, in + i, k, on_ack, s);
        if (rc) {
            assert_int_equal(ripp_ack_parser_feed(&p, in, 1, on_ack, s), rc);
            assert_int_equal(ripp_ack_parser_finish(&p), rc);
            return rc;
        }
    }
    return ripp_ack_parser_finish(&p);
}

static void test_ack_errors(void **state)
{
    (void)state;
    struct acksink s;
    for (size_t chunk = 1; chunk <= 5; chunk++) {
        /* channel 0 and 256: refused as soon as the channel varint completes */
        assert_int_equal(ack_parse_all((const uint8_t[]){0x01, 0x00}, 2, &s, chunk),
                         RIPP_ERR_PROTO);
        assert_int_equal(ack_parse_all((const uint8_t[]){0x01, 0x41, 0x00}, 3, &s, chunk),
                         RIPP_ERR_PROTO);
        /* seq 2^32 */
        assert_int_equal(ack_parse_all((const uint8_t[]){0xc0, 0, 0, 1, 0, 0, 0, 0}, 8, &s, chunk),
                         RIPP_ERR_PROTO);
        /* truncated: in the seq varint, after the channel, inside the time */
        assert_int_equal(ack_parse_all((const uint8_t[]){0x40}, 1, &s, chunk), RIPP_ERR_TRUNCATED);
        assert_int_equal(ack_parse_all((const uint8_t[]){0x05, 0x01}, 2, &s, chunk),
                         RIPP_ERR_TRUNCATED);
        assert_int_equal(
            ack_parse_all((const uint8_t[]){0x05, 0x01, 0, 0, 0, 0, 0, 0, 0}, 9, &s, chunk),
            RIPP_ERR_TRUNCATED);
    }
    /* Non-minimal channel encoding is accepted. */
    assert_int_equal(
        ack_parse_all((const uint8_t[]){0x05, 0x40, 0x02, 0, 0, 0, 0, 0, 0, 0, 9}, 11, &s, 2), 0);
    assert_int_equal(s.n, 1);
    assert_true(s.acks[0].channel == 2 && s.acks[0].seq == 5 && s.acks[0].rx_time_us == 9);
}

/* ---- codec names ---- */

static void test_codec_names(void **state)
{
    (void)state;
    assert_string_equal(ripp_codec_name(RIPP_CODEC_PCMU), "audio/PCMU");
    assert_string_equal(ripp_codec_name(RIPP_CODEC_PCMA), "audio/PCMA");
    assert_string_equal(ripp_codec_name(RIPP_CODEC_OPUS), "audio/opus");
    assert_string_equal(ripp_codec_name(RIPP_CODEC_TEL_EVENT), "audio/telephone-event");
    assert_string_equal(ripp_codec_name(RIPP_CODEC_CN), "audio/CN");
    assert_string_equal(ripp_codec_name(RIPP_CODEC_NONE), "");
    assert_string_equal(ripp_codec_name(RIPP_CODEC_COUNT), "");
    for (int c = 1; c < RIPP_CODEC_COUNT; c++) {
        const char *n = ripp_codec_name((enum ripp_codec)c);
        assert_int_equal(ripp_codec_from_name(n, strlen(n)), c);
    }
    assert_int_equal(ripp_codec_from_name("AUDIO/pcmu", 10), RIPP_CODEC_PCMU);
    assert_int_equal(ripp_codec_from_name("Audio/Opus", 10), RIPP_CODEC_OPUS);
    assert_int_equal(ripp_codec_from_name("audio/cn", 8), RIPP_CODEC_CN);
    /* length is honoured: a prefix or a longer name does not match */
    assert_int_equal(ripp_codec_from_name("audio/PCMUx", 10), RIPP_CODEC_PCMU);
    assert_int_equal(ripp_codec_from_name("audio/PCM", 9), RIPP_CODEC_NONE);
    assert_int_equal(ripp_codec_from_name("audio/PCMUx", 11), RIPP_CODEC_NONE);
    assert_int_equal(ripp_codec_from_name("audio/g729", 10), RIPP_CODEC_NONE);
    assert_int_equal(ripp_codec_from_name(NULL, 0), RIPP_CODEC_NONE);
    assert_int_equal(ripp_codec_from_name("", 0), RIPP_CODEC_NONE);
    assert_true(ripp_codec_is_voice(RIPP_CODEC_PCMU));
    assert_true(ripp_codec_is_voice(RIPP_CODEC_PCMA));
    assert_true(ripp_codec_is_voice(RIPP_CODEC_OPUS));
    assert_false(ripp_codec_is_voice(RIPP_CODEC_TEL_EVENT));
    assert_false(ripp_codec_is_voice(RIPP_CODEC_CN));
    assert_false(ripp_codec_is_voice(RIPP_CODEC_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_boundaries),
        cmocka_unit_test(test_varint_nonminimal),
        cmocka_unit_test(test_frame_encode_bytes),
        cmocka_unit_test(test_frame_parse_bytewise),
        cmocka_unit_test(test_frame_parse_every_split),
        cmocka_unit_test(test_frame_errors),
        cmocka_unit_test(test_frame_sticky_and_cb_stop),
        cmocka_unit_test(test_ack_encode_bytes),
        cmocka_unit_test(test_ack_parse_splits),
        cmocka_unit_test(test_ack_errors),
        cmocka_unit_test(test_codec_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
