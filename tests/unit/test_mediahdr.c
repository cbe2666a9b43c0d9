/* The RIPP-Media header field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ripp/media_hdr.h"

static int parse(ripp_media_hdr *h, const char *s)
{
    return ripp_media_hdr_parse(h, s, strlen(s));
}

static void test_parse_example(void **state)
{
    (void)state;
    ripp_media_hdr h;
    assert_int_equal(parse(&h, "codec=\"audio/opus\", seq-base=4711, ts-base=1562600000000, "
                               "frame-ms=20, channel=1"),
                     0);
    assert_int_equal(h.codec, RIPP_CODEC_OPUS);
    assert_string_equal(h.codec_name, "audio/opus");
    assert_int_equal(h.seq_base, 4711);
    assert_true(h.ts_base == 1562600000000ULL);
    assert_int_equal(h.frame_ms, 20);
    assert_int_equal(h.channel, 1);
    assert_false(h.multi_channel);
}

static void test_parse_variants(void **state)
{
    (void)state;
    ripp_media_hdr h;
    /* No spaces, any order, channel defaulted, bare key = true, ?1 / ?0. */
    assert_int_equal(
        parse(&h, "frame-ms=10,ts-base=0,seq-base=0,codec=\"AUDIO/pcmu\",multi-channel"), 0);
    assert_int_equal(h.codec, RIPP_CODEC_PCMU);
    assert_string_equal(h.codec_name, "AUDIO/pcmu");
    assert_int_equal(h.channel, 1);
    assert_true(h.multi_channel);
    assert_int_equal(h.frame_ms, 10);
    assert_int_equal(parse(&h,
                           "codec=\"audio/PCMA\", seq-base=4294967295, ts-base=999999999999999, "
                           "frame-ms=60, channel=255, multi-channel=?1"),
                     0);
    assert_int_equal(h.seq_base, UINT32_MAX);
    assert_true(h.ts_base == 999999999999999ULL);
    assert_int_equal(h.channel, 255);
    assert_true(h.multi_channel);
    assert_int_equal(
        parse(&h, "codec=\"audio/CN\", seq-base=1, ts-base=2, frame-ms=30, multi-channel=?0"), 0);
    assert_false(h.multi_channel);
    assert_int_equal(h.codec, RIPP_CODEC_CN);
    /* Surrounding whitespace, tabs around commas, parameters on members. */
    assert_int_equal(parse(&h, "  codec=\"audio/telephone-event\";q=1 ,\tseq-base=5;a;b=?0 , "
                               "ts-base=7;x=\"y\" ,frame-ms=40;t=tok/en, channel=2;n=-1.5  "),
                     0);
    assert_int_equal(h.codec, RIPP_CODEC_TEL_EVENT);
    assert_int_equal(h.seq_base, 5);
    assert_int_equal(h.channel, 2);
    assert_int_equal(h.frame_ms, 40);
    /* Unknown members of every type are ignored. */
    assert_int_equal(parse(&h, "x=1, y=\"s\", z=tok, w=:aGVsbG8=:, v=?1, u=(1 \"a\" b);p=1, "
                               "t=(), *s=1.25, codec=\"audio/opus\", seq-base=1, ts-base=1, "
                               "frame-ms=20, zz"),
                     0);
    assert_int_equal(h.codec, RIPP_CODEC_OPUS);
    /* Duplicates: the last value wins. */
    assert_int_equal(parse(&h, "codec=\"audio/PCMU\", seq-base=1, ts-base=1, frame-ms=20, "
                               "seq-base=9, codec=\"audio/opus\""),
                     0);
    assert_int_equal(h.seq_base, 9);
    assert_int_equal(h.codec, RIPP_CODEC_OPUS);
    /* Escapes in the codec string. */
    assert_int_equal(parse(&h, "codec=\"audio/\\\"x\\\\\", seq-base=1, ts-base=1, frame-ms=20"), 0);
    assert_string_equal(h.codec_name, "audio/\"x\\");
    assert_int_equal(h.codec, RIPP_CODEC_NONE);
}

static void test_unknown_codec(void **state)
{
    (void)state;
    ripp_media_hdr h;
    assert_int_equal(parse(&h, "codec=\"audio/g729\", seq-base=0, ts-base=0, frame-ms=20"), 0);
    assert_int_equal(h.codec, RIPP_CODEC_NONE);
    assert_string_equal(h.codec_name, "audio/g729");
    /* A long name is kept truncated. */
    char buf[400];
    char name[200];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(buf, sizeof buf, "codec=\"%s\", seq-base=0, ts-base=0, frame-ms=20", name);
    assert_int_equal(parse(&h, buf), 0);
    assert_int_equal(strlen(h.codec_name), sizeof h.codec_name - 1);
    assert_int_equal(h.codec, RIPP_CODEC_NONE);
}

static void test_parse_errors(void **state)
{
    (void)state;
    ripp_media_hdr h;
    static const char *const bad[] = {
        "",
        "   ",
        /* missing required members */
        "seq-base=0, ts-base=0, frame-ms=20",
        "codec=\"audio/opus\", ts-base=0, frame-ms=20",
        "codec=\"audio/opus\", seq-base=0, frame-ms=20",
        "codec=\"audio/opus\", seq-base=0, ts-base=0",
        /* wrong types */
        "codec=audio/opus, seq-base=0, ts-base=0, frame-ms=20",
        "codec=\"audio/opus\", seq-base=\"0\", ts-base=0, frame-ms=20",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20.0",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, multi-channel=1",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, channel=?1",
        "codec=(\"audio/opus\"), seq-base=0, ts-base=0, frame-ms=20",
        /* out of range */
        "codec=\"audio/opus\", seq-base=4294967296, ts-base=0, frame-ms=20",
        "codec=\"audio/opus\", seq-base=-1, ts-base=0, frame-ms=20",
        "codec=\"audio/opus\", seq-base=0, ts-base=-5, frame-ms=20",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=25",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, channel=0",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, channel=256",
        /* 16 digits */
        "codec=\"audio/opus\", seq-base=0, ts-base=1000000000000000, frame-ms=20",
        /* syntax */
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20,",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20,,",
        ",codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20",
        "codec=\"audio/opus\" seq-base=0, ts-base=0, frame-ms=20",
        "codec=\"audio/opus\", seq-base=0; ts-base=0, frame-ms=20",
        "Codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20",
        "codec = \"audio/opus\", seq-base=0, ts-base=0, frame-ms=20",
        "codec=\"audio/opus, seq-base=0, ts-base=0, frame-ms=20",
        "codec=\"audio/\\opus\", seq-base=0, ts-base=0, frame-ms=20",
        "codec=\"audio/\xc3\xa9\", seq-base=0, ts-base=0, frame-ms=20",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x=1.",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x=1.2345",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x=?2",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x=:abc",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x=(1 2",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x=(1,2)",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x=@",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x;=1",
        "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, x=-",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(&h, bad[i]);
        if (rc != RIPP_ERR_PROTO) fail_msg("case %zu: \"%s\" -> %d", i, bad[i], rc);
    }
    /* A NUL inside the value. */
    const char nul[] = "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20\0, x=1";
    assert_int_equal(ripp_media_hdr_parse(&h, nul, sizeof nul - 1), RIPP_ERR_PROTO);
}

static void test_size_limit(void **state)
{
    (void)state;
    ripp_media_hdr h;
    char buf[RIPP_MEDIA_HDR_MAX + 2];
    const char *base = "codec=\"audio/opus\", seq-base=0, ts-base=0, frame-ms=20, pad=\"";
    size_t bl = strlen(base);
    /* exactly 1024 bytes: accepted */
    memcpy(buf, base, bl);
    memset(buf + bl, 'x', RIPP_MEDIA_HDR_MAX - bl - 1);
    buf[RIPP_MEDIA_HDR_MAX - 1] = '"';
    assert_int_equal(ripp_media_hdr_parse(&h, buf, RIPP_MEDIA_HDR_MAX), 0);
    assert_int_equal(h.codec, RIPP_CODEC_OPUS);
    /* 1025: refused */
    buf[RIPP_MEDIA_HDR_MAX - 1] = 'x';
    buf[RIPP_MEDIA_HDR_MAX] = '"';
    assert_int_equal(ripp_media_hdr_parse(&h, buf, RIPP_MEDIA_HDR_MAX + 1), RIPP_ERR_LIMIT);
}

static void test_format(void **state)
{
    (void)state;
    ripp_media_hdr h = {.codec = RIPP_CODEC_OPUS,
                        .seq_base = 4711,
                        .ts_base = 1562600000000ULL,
                        .frame_ms = 20,
                        .channel = 1};
    char out[256];
    const char *want =
        "codec=\"audio/opus\", seq-base=4711, ts-base=1562600000000, frame-ms=20, channel=1";
    assert_int_equal(ripp_media_hdr_format(&h, out, sizeof out), (int64_t)strlen(want));
    assert_string_equal(out, want);
    /* Exactly enough room (with the NUL), then one byte short. */
    assert_int_equal(ripp_media_hdr_format(&h, out, strlen(want) + 1), (int64_t)strlen(want));
    assert_int_equal(ripp_media_hdr_format(&h, out, strlen(want)), RIPP_ERR_LIMIT);

    h.multi_channel = true;
    h.channel = 2;
    h.codec = RIPP_CODEC_PCMA;
    assert_true(ripp_media_hdr_format(&h, out, sizeof out) > 0);
    assert_string_equal(out, "codec=\"audio/PCMA\", seq-base=4711, ts-base=1562600000000, "
                             "frame-ms=20, channel=2, multi-channel");
    ripp_media_hdr back;
    assert_int_equal(parse(&back, out), 0);
    assert_int_equal(back.codec, RIPP_CODEC_PCMA);
    assert_int_equal(back.channel, 2);
    assert_true(back.multi_channel);
    assert_int_equal(back.seq_base, 4711);
    assert_true(back.ts_base == h.ts_base);

    /* Unknown codec: the received name, escaped. */
    h.codec = RIPP_CODEC_NONE;
    strcpy(h.codec_name, "audio/\"q\\");
    h.multi_channel = false;
    assert_true(ripp_media_hdr_format(&h, out, sizeof out) > 0);
    assert_string_equal(out, "codec=\"audio/\\\"q\\\\\", seq-base=4711, ts-base=1562600000000, "
                             "frame-ms=20, channel=2");
    assert_int_equal(parse(&back, out), 0);
    assert_string_equal(back.codec_name, "audio/\"q\\");

    /* Out of range values are refused. */
    h.codec = RIPP_CODEC_PCMU;
    h.frame_ms = 25;
    assert_int_equal(ripp_media_hdr_format(&h, out, sizeof out), RIPP_ERR_INVAL);
    h.frame_ms = 20;
    h.channel = 0;
    assert_int_equal(ripp_media_hdr_format(&h, out, sizeof out), RIPP_ERR_INVAL);
    h.channel = 1;
    h.ts_base = 1000000000000000ULL;
    assert_int_equal(ripp_media_hdr_format(&h, out, sizeof out), RIPP_ERR_INVAL);
    h.ts_base = 0;
    h.codec = RIPP_CODEC_NONE;
    strcpy(h.codec_name, "audio/\x01");
    assert_int_equal(ripp_media_hdr_format(&h, out, sizeof out), RIPP_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_example), cmocka_unit_test(test_parse_variants),
        cmocka_unit_test(test_unknown_codec), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_size_limit),    cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
