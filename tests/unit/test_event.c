/* Signaling events: JSON codec and the stream parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/event.h"

static int dec(ripp_event *ev, const char *json)
{
    return ripp_event_decode(ev, json, strlen(json));
}

static void enc_eq(const ripp_event *ev, const char *want)
{
    char out[4096];
    int64_t n = ripp_event_encode(ev, out, sizeof out);
    if (n < 0) fail_msg("encode failed: %d", (int)n);
    assert_string_equal(out, want);
    assert_int_equal(n, (int64_t)strlen(want));
}

static void assert_event_equal(const ripp_event *a, const ripp_event *b)
{
    assert_int_equal(a->type, b->type);
    if (a->type == RIPP_EV_UNKNOWN) assert_string_equal(a->name, b->name);
    assert_int_equal(a->has_seq, b->has_seq);
    assert_true(a->seq == b->seq);
    assert_int_equal(a->has_direction, b->has_direction);
    if (a->has_direction) assert_int_equal(a->direction, b->direction);
    assert_true(a->timestamp_ms == b->timestamp_ms);
    assert_string_equal(a->call, b->call);
    assert_int_equal(a->code, b->code);
    assert_string_equal(a->reason_phrase, b->reason_phrase);
    assert_int_equal(a->reason.present, b->reason.present);
    assert_string_equal(a->reason.protocol, b->reason.protocol);
    assert_int_equal(a->reason.cause, b->reason.cause);
    assert_string_equal(a->reason.text, b->reason.text);
    assert_string_equal(a->uri, b->uri);
    if (a->type == RIPP_EV_OPEN_REVERSE) assert_int_equal(a->count, b->count);
    assert_string_equal(a->tnt_destination, b->tnt_destination);
}

static void base(ripp_event *ev, enum ripp_event_type t)
{
    ripp_event_init(ev, t);
    ev->has_seq = true;
    ev->seq = 2;
    ev->has_direction = true;
    ev->direction = RIPP_DIR_S2C;
    ev->timestamp_ms = 1562600123456LL;
    strcpy(ev->call, "https://ripp.webex/call/0f8e");
}

#define HDR(name)                                                                                  \
    "{\"name\":\"" name "\",\"seq\":2,\"direction\":\"s2c\",\"timestamp\":1562600123456,"          \
    "\"call\":\"https://ripp.webex/call/0f8e\""

static void test_names(void **state)
{
    (void)state;
    static const char *const canon[] = {"unknown",      "alerting", "accepted",  "rejected",
                                        "failed",       "noanswer", "end",       "migrate",
                                        "open-reverse", "tnt",      "proceeding"};
    for (int t = 0; t < RIPP_EV_TYPE_COUNT; t++) {
        assert_string_equal(ripp_event_type_name((enum ripp_event_type)t), canon[t]);
        if (t) assert_int_equal(ripp_event_type_from_name(canon[t]), t);
    }
    assert_int_equal(ripp_event_type_from_name("answered"), RIPP_EV_ACCEPTED);
    assert_int_equal(ripp_event_type_from_name("declined"), RIPP_EV_REJECTED);
    assert_int_equal(ripp_event_type_from_name("terminated"), RIPP_EV_END);
    assert_int_equal(ripp_event_type_from_name("ping"), RIPP_EV_UNKNOWN);
    assert_int_equal(ripp_event_type_from_name("unknown"), RIPP_EV_UNKNOWN);
    assert_int_equal(ripp_event_type_from_name(NULL), RIPP_EV_UNKNOWN);
    assert_string_equal(ripp_dir_name(RIPP_DIR_C2S), "c2s");
    assert_string_equal(ripp_dir_name(RIPP_DIR_S2C), "s2c");
}

static void test_encode_each_type(void **state)
{
    (void)state;
    ripp_event ev;
    base(&ev, RIPP_EV_ALERTING);
    enc_eq(&ev, HDR("alerting") "}");
    base(&ev, RIPP_EV_ACCEPTED);
    enc_eq(&ev, HDR("accepted") "}");
    base(&ev, RIPP_EV_REJECTED);
    enc_eq(&ev, HDR("rejected") "}");
    base(&ev, RIPP_EV_NOANSWER);
    enc_eq(&ev, HDR("noanswer") "}");
    base(&ev, RIPP_EV_PROCEEDING);
    enc_eq(&ev, HDR("proceeding") "}");
    base(&ev, RIPP_EV_FAILED);
    ev.code = 486;
    strcpy(ev.reason_phrase, "Busy Here");
    enc_eq(&ev, HDR("failed") ",\"code\":486,\"reason\":\"Busy Here\"}");
    base(&ev, RIPP_EV_END);
    enc_eq(&ev, HDR("end") "}");
    ev.reason.present = true;
    strcpy(ev.reason.protocol, "Q.850");
    ev.reason.cause = 16;
    strcpy(ev.reason.text, "Normal call clearing");
    enc_eq(&ev, HDR("end") ",\"reason\":{\"protocol\":\"Q.850\",\"cause\":16,"
                           "\"text\":\"Normal call clearing\"}}");
    base(&ev, RIPP_EV_MIGRATE);
    strcpy(ev.uri, "https://b.example/call/0f8e");
    enc_eq(&ev, HDR("migrate") ",\"migrateToURI\":\"https://b.example/call/0f8e\"}");
    base(&ev, RIPP_EV_OPEN_REVERSE);
    enc_eq(&ev, HDR("open-reverse") ",\"count\":1}");
    ev.count = 5;
    enc_eq(&ev, HDR("open-reverse") ",\"count\":5}");
    base(&ev, RIPP_EV_TNT);
    strcpy(ev.tnt_destination, "+14085551234");
    enc_eq(&ev, HDR("tnt") ",\"tntDestination\":\"+14085551234\"}");
    /* Minimal: only the name. */
    ripp_event_init(&ev, RIPP_EV_ACCEPTED);
    enc_eq(&ev, "{\"name\":\"accepted\"}");
    ev.has_seq = true;
    enc_eq(&ev, "{\"name\":\"accepted\",\"seq\":0}");
    /* Unknown: the received name; without one there is nothing to send. */
    ripp_event_init(&ev, RIPP_EV_UNKNOWN);
    char out[64];
    assert_int_equal(ripp_event_encode(&ev, out, sizeof out), RIPP_ERR_INVAL);
    strcpy(ev.name, "ping");
    enc_eq(&ev, "{\"name\":\"ping\"}");
}

static void test_encode_escaping_and_limits(void **state)
{
    (void)state;
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_FAILED);
    ev.code = 500;
    strcpy(ev.reason_phrase, "a\"b\\c\nd\x01\t\xc3\xa9/");
    enc_eq(&ev,
           "{\"name\":\"failed\",\"code\":500,\"reason\":\"a\\\"b\\\\c\\nd\\u0001\\t\xc3\xa9/\"}");
    ripp_event back;
    char out[256];
    int64_t n = ripp_event_encode(&ev, out, sizeof out);
    assert_int_equal(ripp_event_decode(&back, out, (size_t)n), 0);
    assert_string_equal(back.reason_phrase, ev.reason_phrase);
    /* Invalid UTF-8 is refused rather than sent. */
    strcpy(ev.reason_phrase, "bad \xc3(");
    assert_int_equal(ripp_event_encode(&ev, out, sizeof out), RIPP_ERR_INVAL);
    strcpy(ev.reason_phrase, "\xed\xa0\x80"); /* a UTF-16 surrogate */
    assert_int_equal(ripp_event_encode(&ev, out, sizeof out), RIPP_ERR_INVAL);
    /* Output capacity: exact fit (with the NUL) and one short. */
    ripp_event_init(&ev, RIPP_EV_ALERTING);
    const char *want = "{\"name\":\"alerting\"}";
    assert_int_equal(ripp_event_encode(&ev, out, strlen(want) + 1), (int64_t)strlen(want));
    assert_int_equal(ripp_event_encode(&ev, out, strlen(want)), RIPP_ERR_LIMIT);
    /* A full-length call URI encodes. */
    static char big[2 * RIPP_URI_MAX + 256];
    ripp_event_init(&ev, RIPP_EV_MIGRATE);
    memset(ev.call, 'c', RIPP_URI_MAX - 1);
    memset(ev.uri, 'u', RIPP_URI_MAX - 1);
    n = ripp_event_encode(&ev, big, sizeof big);
    assert_true(n > 2 * (RIPP_URI_MAX - 1));
    assert_int_equal(ripp_event_decode(&back, big, (size_t)n), 0);
    assert_int_equal(strlen(back.call), RIPP_URI_MAX - 1);
    assert_int_equal(strlen(back.uri), RIPP_URI_MAX - 1);
}

static void test_roundtrip_all_types(void **state)
{
    (void)state;
    for (int t = 1; t < RIPP_EV_TYPE_COUNT; t++) {
        ripp_event ev, back;
        base(&ev, (enum ripp_event_type)t);
        ev.direction = t % 2 ? RIPP_DIR_C2S : RIPP_DIR_S2C;
        ev.seq = (uint64_t)t * 1000;
        switch (t) {
        case RIPP_EV_FAILED:
            ev.code = 503;
            strcpy(ev.reason_phrase, "Service Unavailable");
            break;
        case RIPP_EV_END:
            ev.reason.present = true;
            strcpy(ev.reason.protocol, "SIP");
            ev.reason.cause = 302;
            strcpy(ev.reason.text, "tnt");
            break;
        case RIPP_EV_MIGRATE:
            strcpy(ev.uri, "https://other.example/call/1");
            break;
        case RIPP_EV_OPEN_REVERSE:
            ev.count = 3;
            break;
        case RIPP_EV_TNT:
            strcpy(ev.tnt_destination, "+442079460000");
            break;
        default:
            break;
        }
        char out[4096];
        int64_t n = ripp_event_encode(&ev, out, sizeof out);
        assert_true(n > 0);
        assert_int_equal(ripp_event_decode(&back, out, (size_t)n), 0);
        assert_event_equal(&ev, &back);
        assert_string_equal(back.name, ripp_event_type_name((enum ripp_event_type)t));
    }
}

static void test_decode_aliases(void **state)
{
    (void)state;
    ripp_event ev;
    assert_int_equal(dec(&ev, "{\"name\":\"answered\"}"), 0);
    assert_int_equal(ev.type, RIPP_EV_ACCEPTED);
    assert_string_equal(ev.name, "answered");
    assert_false(ev.has_seq);
    assert_false(ev.has_direction);
    assert_true(ev.timestamp_ms == 0);
    assert_int_equal(dec(&ev, "{\"name\":\"declined\"}"), 0);
    assert_int_equal(ev.type, RIPP_EV_REJECTED);
    assert_int_equal(dec(&ev, "{\"name\":\"terminated\",\"ended\":true}"), 0);
    assert_int_equal(ev.type, RIPP_EV_END);
    assert_int_equal(dec(&ev, "{\"name\":\"terminated\"}"), 0);
    assert_int_equal(ev.type, RIPP_EV_END);
    /* any event with "ended":true is an end */
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"ended\":true}"), 0);
    assert_int_equal(ev.type, RIPP_EV_END);
    assert_int_equal(dec(&ev, "{\"name\":\"whatever\",\"ended\":true}"), 0);
    assert_int_equal(ev.type, RIPP_EV_END);
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"ended\":false}"), 0);
    assert_int_equal(ev.type, RIPP_EV_ALERTING);
    /* seq spellings */
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"sequence number\":7}"), 0);
    assert_true(ev.has_seq && ev.seq == 7);
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"seqnum\":8}"), 0);
    assert_true(ev.has_seq && ev.seq == 8);
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"seqnum\":8,\"seq\":9}"), 0);
    assert_true(ev.seq == 9);
    /* timeStamp; a string timestamp is ignored */
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"timeStamp\":1562600000000}"), 0);
    assert_true(ev.timestamp_ms == 1562600000000LL);
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"timeStamp\":\"2019-07-08T12:00:00Z\"}"), 0);
    assert_true(ev.timestamp_ms == 0);
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"timestamp\":\"x\",\"timeStamp\":5}"), 0);
    assert_true(ev.timestamp_ms == 5);
    assert_int_equal(dec(&ev, "{\"name\":\"alerting\",\"timestamp\":1.5e3}"), 0);
    assert_true(ev.timestamp_ms == 1500);
    /* migrateToURl (sic) */
    assert_int_equal(dec(&ev, "{\"name\":\"migrate\",\"migrateToURl\":\"https://b/c\"}"), 0);
    assert_int_equal(ev.type, RIPP_EV_MIGRATE);
    assert_string_equal(ev.uri, "https://b/c");
    assert_int_equal(dec(&ev, "{\"name\":\"migrate\",\"migrateToURl\":\"https://x/c\","
                              "\"migrateToURI\":\"https://b/c\"}"),
                     0);
    assert_string_equal(ev.uri, "https://b/c");
    assert_int_equal(dec(&ev, "{\"name\":\"migrate\"}"), 0);
    assert_string_equal(ev.uri, "");
    /* failed reason as string or object */
    assert_int_equal(dec(&ev, "{\"name\":\"failed\",\"code\":486,\"reason\":\"Busy Here\"}"), 0);
    assert_int_equal(ev.code, 486);
    assert_string_equal(ev.reason_phrase, "Busy Here");
    assert_int_equal(dec(&ev, "{\"name\":\"failed\",\"reason\":{\"protocol\":\"SIP\",\"cause\":404,"
                              "\"text\":\"Not Found\"}}"),
                     0);
    assert_int_equal(ev.code, 404);
    assert_string_equal(ev.reason_phrase, "Not Found");
    /* end reason as object or string */
    assert_int_equal(dec(&ev, "{\"name\":\"end\",\"reason\":{\"protocol\":\"SIP\",\"cause\":302,"
                              "\"text\":\"tnt\"}}"),
                     0);
    assert_true(ev.reason.present);
    assert_string_equal(ev.reason.protocol, "SIP");
    assert_int_equal(ev.reason.cause, 302);
    assert_string_equal(ev.reason.text, "tnt");
    assert_int_equal(dec(&ev, "{\"name\":\"end\",\"reason\":\"hung up\"}"), 0);
    assert_true(ev.reason.present);
    assert_string_equal(ev.reason.protocol, "");
    assert_string_equal(ev.reason.text, "hung up");
    assert_int_equal(dec(&ev, "{\"name\":\"end\"}"), 0);
    assert_false(ev.reason.present);
    /* open-reverse count defaults to 1 */
    assert_int_equal(dec(&ev, "{\"name\":\"open-reverse\"}"), 0);
    assert_int_equal(ev.count, 1);
    assert_int_equal(dec(&ev, "{\"name\":\"open-reverse\",\"count\":4}"), 0);
    assert_int_equal(ev.count, 4);
    /* tnt */
    assert_int_equal(dec(&ev, "{\"name\":\"tnt\",\"tntDestination\":\"+15551234567\"}"), 0);
    assert_string_equal(ev.tnt_destination, "+15551234567");
    /* unknown names and members */
    assert_int_equal(dec(&ev, "{\"name\":\"ping\",\"nonce\":\"abc\",\"seq\":3,"
                              "\"x\":{\"y\":[1,2,{}]}}"),
                     0);
    assert_int_equal(ev.type, RIPP_EV_UNKNOWN);
    assert_string_equal(ev.name, "ping");
    assert_true(ev.seq == 3);
    /* a long unknown name is cut to its field */
    assert_int_equal(dec(&ev, "{\"name\":\"transfer-and-takeback-with-a-very-long-name\"}"), 0);
    assert_int_equal(ev.type, RIPP_EV_UNKNOWN);
    assert_int_equal(strlen(ev.name), sizeof ev.name - 1);
    /* direction */
    assert_int_equal(dec(&ev, "{\"name\":\"end\",\"direction\":\"c2s\"}"), 0);
    assert_true(ev.has_direction && ev.direction == RIPP_DIR_C2S);
}

static void test_decode_errors(void **state)
{
    (void)state;
    ripp_event ev;
    static const char *const proto[] = {
        "",
        "{",
        "[]",
        "[{\"name\":\"alerting\"}]",
        "42",
        "\"alerting\"",
        "{}",
        "{\"name\":5}",
        "{\"name\":null}",
        "{\"name\":\"\"}",
        "{\"Name\":\"alerting\"}",
        "{\"name\":\"alerting\",\"seq\":-1}",
        "{\"name\":\"alerting\",\"seq\":1.5}",
        "{\"name\":\"alerting\",\"seq\":\"1\"}",
        "{\"name\":\"alerting\",\"seqnum\":-4}",
        "{\"name\":\"alerting\",\"direction\":\"up\"}",
        "{\"name\":\"alerting\",\"direction\":1}",
        "{\"name\":\"alerting\",\"call\":7}",
        "{\"name\":\"failed\",\"code\":\"486\"}",
        "{\"name\":\"failed\",\"reason\":5}",
        "{\"name\":\"end\",\"reason\":{\"cause\":\"x\"}}",
        "{\"name\":\"end\",\"reason\":{\"protocol\":1}}",
        "{\"name\":\"migrate\",\"migrateToURI\":5}",
        "{\"name\":\"open-reverse\",\"count\":-1}",
        "{\"name\":\"open-reverse\",\"count\":\"2\"}",
        "{\"name\":\"tnt\",\"tntDestination\":5551234}",
        "{\"name\":\"alerting\"} x",
        "{\"name\":\"a\\u0000b\"}",
    };
    for (size_t i = 0; i < sizeof proto / sizeof proto[0]; i++) {
        int rc = dec(&ev, proto[i]);
        if (rc != RIPP_ERR_PROTO) fail_msg("case %zu: %s -> %d", i, proto[i], rc);
    }
    /* Over-long addressing strings */
    static char buf[4 * RIPP_URI_MAX];
    char pad[RIPP_URI_MAX + 1];
    memset(pad, 'a', RIPP_URI_MAX);
    pad[RIPP_URI_MAX] = '\0';
    snprintf(buf, sizeof buf, "{\"name\":\"alerting\",\"call\":\"%s\"}", pad);
    assert_int_equal(dec(&ev, buf), RIPP_ERR_LIMIT);
    snprintf(buf, sizeof buf, "{\"name\":\"migrate\",\"migrateToURI\":\"%s\"}", pad);
    assert_int_equal(dec(&ev, buf), RIPP_ERR_LIMIT);
    snprintf(buf, sizeof buf, "{\"name\":\"tnt\",\"tntDestination\":\"%.200s\"}", pad);
    assert_int_equal(dec(&ev, buf), RIPP_ERR_LIMIT);
    /* ... while informational ones are cut, at a character boundary */
    snprintf(buf, sizeof buf, "{\"name\":\"failed\",\"reason\":\"%.126s\xc3\xa9\xc3\xa9\"}", pad);
    assert_int_equal(dec(&ev, buf), 0);
    assert_int_equal(strlen(ev.reason_phrase), 126);
    /* 1023 bytes is the most a call URI may have */
    pad[RIPP_URI_MAX - 1] = '\0';
    snprintf(buf, sizeof buf, "{\"name\":\"alerting\",\"call\":\"%s\"}", pad);
    assert_int_equal(dec(&ev, buf), 0);
}

/* ---- stream parser ---- */

struct evsink {
    ripp_event evs[16];
    int n;
    int stop_at;
};

static int on_event(void *ud, const ripp_event *ev)
{
    struct evsink *s = ud;
    assert_true(s->n < 16);
    s->evs[s->n] = *ev;
    if (s->n++ == s->stop_at) return 77;
    return 0;
}

static const char stream_text[] =
    "[{\"name\":\"proceeding\",\"seq\":0,\"direction\":\"s2c\"}, \n"
    "{\"name\":\"alerting\",\"seq\":1,\"call\":\"https://a/call/{x}\"} \n   \n"
    ",{\"name\":\"failed\",\"seq\":2,\"code\":486,\"reason\":\"Busy \\\"Here\\\" }]{\"}"
    "\t,\r\n{\"name\":\"end\",\"reason\":{\"protocol\":\"Q.850\",\"cause\":16,\"text\":\"[x]\"}}  ";

static void check_stream(const struct evsink *s)
{
    assert_int_equal(s->n, 4);
    assert_int_equal(s->evs[0].type, RIPP_EV_PROCEEDING);
    assert_true(s->evs[0].has_seq && s->evs[0].seq == 0);
    assert_int_equal(s->evs[1].type, RIPP_EV_ALERTING);
    assert_string_equal(s->evs[1].call, "https://a/call/{x}");
    assert_int_equal(s->evs[2].type, RIPP_EV_FAILED);
    assert_int_equal(s->evs[2].code, 486);
    assert_string_equal(s->evs[2].reason_phrase, "Busy \"Here\" }]{");
    assert_int_equal(s->evs[3].type, RIPP_EV_END);
    assert_int_equal(s->evs[3].reason.cause, 16);
    assert_string_equal(s->evs[3].reason.text, "[x]");
}

static void test_stream_every_split(void **state)
{
    (void)state;
    size_t n = strlen(stream_text);
    const uint8_t *b = (const uint8_t *)stream_text;
    static struct evsink s;
    /* one byte at a time */
    ripp_event_parser p;
    memset(&s, 0, sizeof s);
    s.stop_at = -1;
    ripp_event_parser_init(&p);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ripp_event_parser_feed(&p, b + i, 1, on_event, &s), 0);
    assert_int_equal(ripp_event_parser_finish(&p), 0);
    check_stream(&s);
    assert_true(p.events == 4);
    ripp_event_parser_free(&p);
    /* every pair of split points */
    for (size_t x = 0; x <= n; x++) {
        for (size_t y = x; y <= n; y++) {
            memset(&s, 0, sizeof s);
            s.stop_at = -1;
            ripp_event_parser_init(&p);
            assert_int_equal(ripp_event_parser_feed(&p, b, x, on_event, &s), 0);
            assert_int_equal(ripp_event_parser_feed(&p, b + x, y - x, on_event, &s), 0);
            assert_int_equal(ripp_event_parser_feed(&p, b + y, n - y, on_event, &s), 0);
            assert_int_equal(ripp_event_parser_finish(&p), 0);
            check_stream(&s);
            ripp_event_parser_free(&p);
        }
    }
}

static int feed_all(const char *text, struct evsink *s)
{
    ripp_event_parser p;
    memset(s, 0, sizeof *s);
    s->stop_at = -1;
    ripp_event_parser_init(&p);
    int rc = ripp_event_parser_feed(&p, (const uint8_t *)text, strlen(text), on_event, s);
    if (rc == 0) rc = ripp_event_parser_finish(&p);
    ripp_event_parser_free(&p);
    return rc;
}

static void test_stream_forms(void **state)
{
    (void)state;
    static struct evsink s;
    /* "{"-style: objects back to back, with and without commas */
    assert_int_equal(
        feed_all("{\"name\":\"alerting\"}{\"name\":\"accepted\"},{\"name\":\"end\"}", &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.evs[2].type, RIPP_EV_END);
    /* keep-alives only */
    assert_int_equal(feed_all("[ \n \n \t \r\n", &s), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(feed_all("", &s), 0);
    assert_int_equal(feed_all("   ", &s), 0);
    /* closed array, then whitespace */
    assert_int_equal(feed_all("[{\"name\":\"end\"}]  \n", &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(feed_all("[]", &s), 0);
    assert_int_equal(s.n, 0);
    /* stray commas are tolerated between objects */
    assert_int_equal(feed_all("[,{\"name\":\"end\"},,\n,]", &s), 0);
    assert_int_equal(s.n, 1);
    /* unknown events are delivered, not errors */
    assert_int_equal(feed_all("[{\"name\":\"keepalive\"},{\"name\":\"media-panic\"}]", &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.evs[1].type, RIPP_EV_UNKNOWN);
    assert_string_equal(s.evs[1].name, "media-panic");
}

static void test_stream_errors(void **state)
{
    (void)state;
    static struct evsink s;
    static const char *const bad[] = {
        "[{\"name\":\"end\"}] x",
        "[{\"name\":\"end\"}]{\"name\":\"end\"}",
        "[{\"name\":\"end\"}]]",
        "[[{\"name\":\"end\"}]",
        "{\"name\":\"end\"}[",
        "[{\"name\":\"end\"} x",
        "[42]",
        "[\"alerting\"]",
        "[null]",
        "[true]",
        "x",
        ",{\"name\":\"end\"}",
        "[{\"name\":\"end\",}]",
        "[{\"nam\":\"end\"}]",
        "[{\"name\":\"end\"]",
        "[{\"name\":\"end\"]}",
        "\xef\xbb\xbf[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = feed_all(bad[i], &s);
        if (rc != RIPP_ERR_PROTO) fail_msg("case %zu: %s -> %d", i, bad[i], rc);
    }
    /* events before the error are delivered */
    assert_int_equal(feed_all("[{\"name\":\"alerting\"},{\"name\":\"accepted\"} ? ", &s),
                     RIPP_ERR_PROTO);
    assert_int_equal(s.n, 2);
    /* truncated */
    assert_int_equal(feed_all("[{\"name\":\"end\"", &s), RIPP_ERR_TRUNCATED);
    assert_int_equal(feed_all("[{\"name\":\"end\",\"x\":\"}", &s), RIPP_ERR_TRUNCATED);
    assert_int_equal(feed_all("{", &s), RIPP_ERR_TRUNCATED);
    /* sticky errors and callback stop */
    ripp_event_parser p;
    memset(&s, 0, sizeof s);
    s.stop_at = -1;
    ripp_event_parser_init(&p);
    assert_int_equal(ripp_event_parser_feed(&p, (const uint8_t *)"x", 1, on_event, &s),
                     RIPP_ERR_PROTO);
    assert_int_equal(
        ripp_event_parser_feed(&p, (const uint8_t *)"{\"name\":\"end\"}", 14, on_event, &s),
        RIPP_ERR_PROTO);
    assert_int_equal(ripp_event_parser_finish(&p), RIPP_ERR_PROTO);
    assert_int_equal(s.n, 0);
    ripp_event_parser_free(&p);
    memset(&s, 0, sizeof s);
    s.stop_at = 0;
    ripp_event_parser_init(&p);
    const char *two = "[{\"name\":\"alerting\"},{\"name\":\"end\"}";
    assert_int_equal(ripp_event_parser_feed(&p, (const uint8_t *)two, strlen(two), on_event, &s),
                     77);
    assert_int_equal(s.n, 1);
    assert_int_equal(ripp_event_parser_feed(&p, (const uint8_t *)" ", 1, on_event, &s), 77);
    ripp_event_parser_free(&p);
}

/* An object of exactly `size` bytes. */
static char *make_object(size_t size)
{
    const char *head = "{\"name\":\"alerting\",\"pad\":\"";
    char *o = malloc(size + 1);
    assert_non_null(o);
    size_t h = strlen(head);
    memcpy(o, head, h);
    memset(o + h, 'p', size - h - 2);
    o[size - 2] = '"';
    o[size - 1] = '}';
    o[size] = '\0';
    return o;
}

static void test_stream_size_limit(void **state)
{
    (void)state;
    static struct evsink s;
    ripp_event_parser p;
    /* exactly 64 KiB, in chunks of 1000 */
    char *o = make_object(RIPP_EVENT_MAX_BYTES);
    memset(&s, 0, sizeof s);
    s.stop_at = -1;
    ripp_event_parser_init(&p);
    assert_int_equal(ripp_event_parser_feed(&p, (const uint8_t *)"[", 1, on_event, &s), 0);
    for (size_t i = 0; i < RIPP_EVENT_MAX_BYTES; i += 1000) {
        size_t k = RIPP_EVENT_MAX_BYTES - i < 1000 ? RIPP_EVENT_MAX_BYTES - i : 1000;
        assert_int_equal(ripp_event_parser_feed(&p, (const uint8_t *)o + i, k, on_event, &s), 0);
    }
    assert_int_equal(s.n, 1);
    assert_int_equal(s.evs[0].type, RIPP_EV_ALERTING);
    assert_true(p.cap <= RIPP_EVENT_MAX_BYTES);
    /* the buffer is reused for the next one */
    assert_int_equal(ripp_event_parser_feed(&p, (const uint8_t *)",", 1, on_event, &s), 0);
    assert_int_equal(
        ripp_event_parser_feed(&p, (const uint8_t *)o, RIPP_EVENT_MAX_BYTES, on_event, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(ripp_event_parser_finish(&p), 0);
    ripp_event_parser_free(&p);
    free(o);

    /* one byte more: refused when the 65537th byte arrives, before the object ends */
    o = make_object(RIPP_EVENT_MAX_BYTES + 1);
    memset(&s, 0, sizeof s);
    s.stop_at = -1;
    ripp_event_parser_init(&p);
    assert_int_equal(
        ripp_event_parser_feed(&p, (const uint8_t *)o, RIPP_EVENT_MAX_BYTES, on_event, &s), 0);
    assert_int_equal(
        ripp_event_parser_feed(&p, (const uint8_t *)o + RIPP_EVENT_MAX_BYTES, 1, on_event, &s),
        RIPP_ERR_LIMIT);
    assert_true(p.cap <= RIPP_EVENT_MAX_BYTES);
    assert_int_equal(ripp_event_parser_finish(&p), RIPP_ERR_LIMIT);
    assert_int_equal(s.n, 0);
    ripp_event_parser_free(&p);
    /* and in one piece */
    memset(&s, 0, sizeof s);
    s.stop_at = -1;
    ripp_event_parser_init(&p);
    assert_int_equal(
        ripp_event_parser_feed(&p, (const uint8_t *)o, RIPP_EVENT_MAX_BYTES + 1, on_event, &s),
        RIPP_ERR_LIMIT);
    ripp_event_parser_free(&p);
    free(o);
    /* a never-ending object is cut off at the limit too */
    static uint8_t junk[RIPP_EVENT_MAX_BYTES + 10];
    memset(junk, '[', sizeof junk);
    junk[0] = '{';
    ripp_event_parser_init(&p);
    assert_int_equal(ripp_event_parser_feed(&p, junk, sizeof junk, NULL, NULL), RIPP_ERR_LIMIT);
    ripp_event_parser_free(&p);
    /* the single-object decoder has the same limit */
    ripp_event ev;
    assert_int_equal(ripp_event_decode(&ev, (const char *)junk, RIPP_EVENT_MAX_BYTES + 1),
                     RIPP_ERR_LIMIT);
}

static void test_stream_writer(void **state)
{
    (void)state;
    char buf[256];
    size_t n = 0;
    int64_t r = ripp_event_stream_open(buf, sizeof buf);
    assert_int_equal(r, 1);
    n += (size_t)r;
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_PROCEEDING);
    r = ripp_event_stream_item(&ev, true, buf + n, sizeof buf - n);
    assert_int_equal(r, (int64_t)strlen("{\"name\":\"proceeding\"}"));
    n += (size_t)r;
    ripp_event_init(&ev, RIPP_EV_ALERTING);
    ev.has_seq = true;
    ev.seq = 1;
    r = ripp_event_stream_item(&ev, false, buf + n, sizeof buf - n);
    assert_true(r > 0);
    n += (size_t)r;
    assert_string_equal(buf, "[{\"name\":\"proceeding\"},{\"name\":\"alerting\",\"seq\":1}");
    char text[256];
    memcpy(text, buf, n + 1);
    assert_int_equal(ripp_event_stream_open(buf, 1), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_event_stream_item(&ev, false, buf, 10), RIPP_ERR_LIMIT);
    assert_string_equal(buf, "");
    /* the writer's output parses */
    static struct evsink s;
    assert_int_equal(feed_all(text, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.evs[1].type, RIPP_EV_ALERTING);
}

/* rejected may say which decline it was: code and reason, only when set */
static void test_rejected_code(void **state)
{
    (void)state;
    ripp_event ev, back;
    char buf[512];
    ripp_event_init(&ev, RIPP_EV_REJECTED);
    assert_true(ripp_event_encode(&ev, buf, sizeof buf) > 0);
    assert_string_equal(buf, "{\"name\":\"rejected\"}");
    ev.code = 486;
    snprintf(ev.reason_phrase, sizeof ev.reason_phrase, "Busy Here");
    assert_true(ripp_event_encode(&ev, buf, sizeof buf) > 0);
    assert_string_equal(buf, "{\"name\":\"rejected\",\"code\":486,\"reason\":\"Busy Here\"}");
    assert_int_equal(ripp_event_decode(&back, buf, strlen(buf)), 0);
    assert_int_equal(back.type, RIPP_EV_REJECTED);
    assert_int_equal(back.code, 486);
    assert_string_equal(back.reason_phrase, "Busy Here");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_rejected_code),
        cmocka_unit_test(test_encode_each_type),
        cmocka_unit_test(test_encode_escaping_and_limits),
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_decode_aliases),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_stream_every_split),
        cmocka_unit_test(test_stream_forms),
        cmocka_unit_test(test_stream_errors),
        cmocka_unit_test(test_stream_size_limit),
        cmocka_unit_test(test_stream_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
