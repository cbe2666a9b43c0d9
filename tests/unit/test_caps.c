/* Capability advertisement documents. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/caps.h"

static int parse(ripp_caps *c, const char *json, int *warn)
{
    return ripp_caps_parse(c, json, strlen(json), warn);
}

static void emit_eq(const ripp_caps *c, const char *want)
{
    char out[4096];
    int64_t n = ripp_caps_emit(c, out, sizeof out);
    if (n < 0) fail_msg("emit: %d", (int)n);
    assert_string_equal(out, want);
    assert_int_equal(n, (int64_t)strlen(want));
}

static void assert_caps_equal(const ripp_caps *a, const ripp_caps *b)
{
    assert_int_equal(a->max_bitrate, b->max_bitrate);
    assert_int_equal(a->max_samplerate, b->max_samplerate);
    assert_int_equal(a->max_samplesize, b->max_samplesize);
    assert_int_equal(a->force_cbr, b->force_cbr);
    assert_int_equal(a->two_channel, b->two_channel);
    assert_int_equal(a->tnt, b->tnt);
    assert_int_equal(a->max_channels, b->max_channels);
    assert_int_equal(a->non_e164, b->non_e164);
    assert_memory_equal(a->codecs, b->codecs, sizeof a->codecs);
    assert_int_equal(a->n_extra, b->n_extra);
    for (size_t i = 0; i < a->n_extra; i++) {
        assert_string_equal(a->extra[i].name, b->extra[i].name);
        assert_int_equal(a->extra[i].value, b->extra[i].value);
    }
}

static void test_defaults(void **state)
{
    (void)state;
    ripp_caps c;
    ripp_caps_init_default(&c);
    assert_int_equal(c.max_bitrate, 64000);
    assert_int_equal(c.max_samplerate, 8000);
    assert_int_equal(c.max_samplesize, 16);
    assert_false(c.force_cbr);
    assert_false(c.two_channel);
    assert_false(c.tnt);
    assert_int_equal(c.max_channels, 1);
    assert_false(c.non_e164);
    assert_true(ripp_caps_accepts(&c, RIPP_CODEC_PCMU));
    assert_false(ripp_caps_accepts(&c, RIPP_CODEC_PCMA));
    assert_true(ripp_caps_accepts(&c, RIPP_CODEC_OPUS));
    assert_true(ripp_caps_accepts(&c, RIPP_CODEC_TEL_EVENT));
    assert_true(ripp_caps_accepts(&c, RIPP_CODEC_CN));
    assert_false(ripp_caps_accepts(&c, RIPP_CODEC_NONE));
    assert_false(ripp_caps_accepts(&c, RIPP_CODEC_COUNT));
    assert_int_equal(c.n_extra, 0);
    emit_eq(&c, "{}");
    assert_int_equal(ripp_caps_validate(&c, NULL, 0), 0);

    ripp_caps p;
    int warn = -1;
    assert_int_equal(parse(&p, "{}", &warn), 0);
    assert_int_equal(warn, 0);
    assert_caps_equal(&c, &p);
    assert_int_equal(parse(&p, "  { }  ", NULL), 0);
    assert_caps_equal(&c, &p);
}

static void test_draft_example(void **state)
{
    (void)state;
    ripp_caps c;
    assert_int_equal(parse(&c, "{ \"audio/g729\": true }", NULL), 0);
    assert_int_equal(c.n_extra, 1);
    assert_string_equal(c.extra[0].name, "audio/g729");
    assert_true(c.extra[0].value);
    assert_true(ripp_caps_accepts(&c, RIPP_CODEC_PCMU));
    emit_eq(&c, "{\"audio/g729\":true}");
}

static void test_full_document(void **state)
{
    (void)state;
    ripp_caps c;
    int warn = -1;
    const char *doc = "{\"audio/PCMA\":true,\"max-bitrate\":128000,\"max-samplerate\":48000,"
                      "\"max-samplesize\":24,\"force-cbr\":true,\"two-channel\":true,\"tnt\":true,"
                      "\"max-channels\":2,\"non-e164\":true,\"audio/opus\":false,"
                      "\"audio/CN\":false,\"audio/telephone-event\":false,\"audio/PCMU\":false,"
                      "\"audio/AMR-WB\":true,\"audio/G722\":true}";
    assert_int_equal(parse(&c, doc, &warn), 0);
    assert_int_equal(warn, 0);
    assert_int_equal(c.max_bitrate, 128000);
    assert_int_equal(c.max_samplerate, 48000);
    assert_int_equal(c.max_samplesize, 24);
    assert_true(c.force_cbr && c.two_channel && c.tnt && c.non_e164);
    assert_int_equal(c.max_channels, 2);
    assert_true(c.codecs[RIPP_CODEC_PCMA]);
    assert_false(c.codecs[RIPP_CODEC_PCMU] || c.codecs[RIPP_CODEC_OPUS] ||
                 c.codecs[RIPP_CODEC_CN] || c.codecs[RIPP_CODEC_TEL_EVENT]);
    assert_int_equal(c.n_extra, 2);
    /* stable order: scalars, known codecs in enum order, extras in document order */
    emit_eq(&c, "{\"max-bitrate\":128000,\"max-samplerate\":48000,\"max-samplesize\":24,"
                "\"force-cbr\":true,\"two-channel\":true,\"tnt\":true,\"max-channels\":2,"
                "\"non-e164\":true,\"audio/PCMU\":false,\"audio/PCMA\":true,\"audio/opus\":false,"
                "\"audio/telephone-event\":false,\"audio/CN\":false,\"audio/AMR-WB\":true,"
                "\"audio/G722\":true}");
    char out[1024];
    int64_t n = ripp_caps_emit(&c, out, sizeof out);
    ripp_caps back;
    assert_int_equal(ripp_caps_parse(&back, out, (size_t)n, NULL), 0);
    assert_caps_equal(&c, &back);
    assert_int_equal(ripp_caps_validate(&c, NULL, 0), 0);
    /* output capacity */
    assert_int_equal(ripp_caps_emit(&c, out, (size_t)n + 1), n);
    assert_int_equal(ripp_caps_emit(&c, out, (size_t)n), RIPP_ERR_LIMIT);
}

static void test_clamping(void **state)
{
    (void)state;
    ripp_caps c;
    int warn = -1;
    assert_int_equal(parse(&c,
                           "{\"max-bitrate\":1,\"max-samplerate\":100,\"max-samplesize\":4,"
                           "\"max-channels\":0}",
                           &warn),
                     0);
    assert_int_equal(warn, 0);
    assert_int_equal(c.max_bitrate, 64000);
    assert_int_equal(c.max_samplerate, 8000);
    assert_int_equal(c.max_samplesize, 8);
    assert_int_equal(c.max_channels, 1);
    assert_int_equal(ripp_caps_validate(&c, NULL, 0), 0);
    /* huge numbers mean "no limit" */
    assert_int_equal(parse(&c, "{\"max-bitrate\":99999999999999,\"max-samplerate\":1e12}", &warn),
                     0);
    assert_int_equal(warn, 0);
    assert_int_equal(c.max_bitrate, UINT32_MAX);
    assert_int_equal(c.max_samplerate, UINT32_MAX);
    /* whole reals are numbers */
    assert_int_equal(parse(&c, "{\"max-bitrate\":96000.0}", &warn), 0);
    assert_int_equal(c.max_bitrate, 96000);
    assert_int_equal(warn, 0);
}

static void test_booleans(void **state)
{
    (void)state;
    ripp_caps c;
    int warn = -1;
    assert_int_equal(parse(&c,
                           "{\"force-cbr\":\"true\",\"tnt\":\"TRUE\",\"audio/PCMU\":\"false\","
                           "\"audio/PCMA\":\"true\",\"two-channel\":false}",
                           &warn),
                     0);
    assert_int_equal(warn, 0);
    assert_true(c.force_cbr);
    assert_true(c.tnt);
    assert_false(c.two_channel);
    assert_false(c.codecs[RIPP_CODEC_PCMU]);
    assert_true(c.codecs[RIPP_CODEC_PCMA]);
    /* codec names are case-insensitive; the last spelling wins */
    assert_int_equal(parse(&c, "{\"AUDIO/pcma\":true,\"Audio/Opus\":false}", &warn), 0);
    assert_true(c.codecs[RIPP_CODEC_PCMA]);
    assert_false(c.codecs[RIPP_CODEC_OPUS]);
    assert_int_equal(parse(&c, "{\"audio/pcma\":true,\"audio/PCMA\":false}", &warn), 0);
    assert_false(c.codecs[RIPP_CODEC_PCMA]);
    /* an unknown codec switched off again is forgotten */
    assert_int_equal(
        parse(&c, "{\"audio/g729\":true,\"audio/G729\":false,\"audio/x\":false}", &warn), 0);
    assert_int_equal(c.n_extra, 0);
    emit_eq(&c, "{}");
}

static int log_count;
static void count_log(void *ud, enum ripp_log_level level, const char *msg)
{
    (void)ud;
    (void)msg;
    if (level == RIPP_LOG_WARN) log_count++;
}

static void test_malformed_values(void **state)
{
    (void)state;
    ripp_caps c, d;
    ripp_caps_init_default(&d);
    int warn = -1;
    log_count = 0;
    ripp_log_set_handler(count_log, NULL, RIPP_LOG_DEBUG);
    assert_int_equal(parse(&c,
                           "{\"max-bitrate\":\"fast\",\"max-samplerate\":-8000,"
                           "\"max-samplesize\":16.5,\"force-cbr\":1,\"two-channel\":null,"
                           "\"tnt\":\"yes\",\"max-channels\":[2],\"non-e164\":{},"
                           "\"audio/PCMA\":\"on\",\"audio/opus\":0,\"audio/g729\":1,"
                           "\"foo\":1,\"bar\":{\"x\":1}}",
                           &warn),
                     0);
    ripp_log_set_handler(NULL, NULL, RIPP_LOG_INFO);
    assert_int_equal(warn, 11);
    assert_int_equal(log_count, 11);
    assert_caps_equal(&c, &d);
    assert_false(c.emit_max_channels || c.emit_non_e164);
    emit_eq(&c, "{}");
}

static void test_not_an_object(void **state)
{
    (void)state;
    ripp_caps c;
    static const char *const bad[] = {"", "[]", "5", "\"x\"", "null", "{", "{\"a\":}", "{} x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.max_bitrate = 1;
        if (parse(&c, bad[i], NULL) != RIPP_ERR_PROTO) fail_msg("case %zu: %s", i, bad[i]);
        assert_int_equal(c.max_bitrate, 64000); /* left at the defaults */
    }
    /* 64 KiB */
    size_t n = RIPP_CAPS_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    assert_int_equal(ripp_caps_parse(&c, big, n, NULL), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_caps_parse(&c, big + 1, n - 1, NULL), RIPP_ERR_PROTO);
    big[1] = '{';
    assert_int_equal(ripp_caps_parse(&c, big + 1, n - 1, NULL), 0);
    free(big);
}

static void test_extras_limit(void **state)
{
    (void)state;
    static char doc[8192];
    size_t o = 0;
    o += (size_t)snprintf(doc + o, sizeof doc - o, "{");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s\"audio/x-%d\":true", i ? "," : "", i);
    /* a name too long for the table */
    o += (size_t)snprintf(doc + o, sizeof doc - o, ",\"audio/%070d\":true,\"audio/x-3\":true}", 7);
    ripp_caps c;
    int warn = -1;
    assert_int_equal(ripp_caps_parse(&c, doc, o, &warn), 0);
    assert_int_equal(warn, 0);
    assert_int_equal(c.n_extra, RIPP_CAPS_MAX_EXTRA);
    assert_string_equal(c.extra[0].name, "audio/x-0");
    assert_string_equal(c.extra[31].name, "audio/x-31");
    char out[4096];
    int64_t n = ripp_caps_emit(&c, out, sizeof out);
    assert_true(n > 0);
    ripp_caps back;
    assert_int_equal(ripp_caps_parse(&back, out, (size_t)n, NULL), 0);
    assert_caps_equal(&c, &back);
}

static void test_emit_flags(void **state)
{
    (void)state;
    ripp_caps c;
    ripp_caps_init_default(&c);
    c.emit_max_channels = true;
    c.emit_non_e164 = true;
    emit_eq(&c, "{\"max-channels\":1,\"non-e164\":false}");
    ripp_caps back;
    assert_int_equal(parse(&back, "{\"max-channels\":1,\"non-e164\":false}", NULL), 0);
    assert_true(back.emit_max_channels && back.emit_non_e164);
    ripp_caps_init_default(&c);
    c.max_channels = 3;
    emit_eq(&c, "{\"max-channels\":3}");
    /* an extra named like a known codec is not emitted twice */
    ripp_caps_init_default(&c);
    c.n_extra = 1;
    strcpy(c.extra[0].name, "audio/pcmu");
    c.extra[0].value = true;
    emit_eq(&c, "{}");
}

static void test_validate(void **state)
{
    (void)state;
    ripp_caps c;
    char err[128];
    ripp_caps_init_default(&c);
    c.max_bitrate = 32000;
    assert_int_equal(ripp_caps_validate(&c, err, sizeof err), RIPP_ERR_INVAL);
    assert_non_null(strstr(err, "max-bitrate"));
    ripp_caps_init_default(&c);
    c.max_samplerate = 7999;
    assert_int_equal(ripp_caps_validate(&c, err, sizeof err), RIPP_ERR_INVAL);
    assert_non_null(strstr(err, "max-samplerate"));
    ripp_caps_init_default(&c);
    c.max_samplesize = 7;
    assert_int_equal(ripp_caps_validate(&c, err, sizeof err), RIPP_ERR_INVAL);
    assert_non_null(strstr(err, "max-samplesize"));
    ripp_caps_init_default(&c);
    c.codecs[RIPP_CODEC_PCMU] = false;
    c.codecs[RIPP_CODEC_OPUS] = false;
    assert_int_equal(ripp_caps_validate(&c, err, sizeof err), RIPP_ERR_INVAL);
    assert_non_null(strstr(err, "voice"));
    c.codecs[RIPP_CODEC_PCMA] = true;
    assert_int_equal(ripp_caps_validate(&c, err, sizeof err), 0);
    assert_string_equal(err, "");
    /* a document that disables every voice codec parses (leniently) but does not validate */
    assert_int_equal(parse(&c, "{\"audio/PCMU\":false,\"audio/opus\":false}", NULL), 0);
    assert_int_equal(ripp_caps_validate(&c, err, sizeof err), RIPP_ERR_INVAL);
    /* a short error buffer is fine */
    assert_int_equal(ripp_caps_validate(&c, err, 4), RIPP_ERR_INVAL);
    assert_string_equal(err, "no ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_draft_example),
        cmocka_unit_test(test_full_document), cmocka_unit_test(test_clamping),
        cmocka_unit_test(test_booleans),      cmocka_unit_test(test_malformed_values),
        cmocka_unit_test(test_not_an_object), cmocka_unit_test(test_extras_limit),
        cmocka_unit_test(test_emit_flags),    cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
