/* application/problem+json bodies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ripp/problem.h"

static void test_reasons(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *reason;
    } table[] = {
        {200, "OK"},
        {201, "Created"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {425, "Too Early"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        assert_string_equal(ripp_http_reason(table[i].status), table[i].reason);
    assert_string_equal(ripp_http_reason(299), "Unknown");
    assert_string_equal(ripp_http_reason(-1), "Unknown");
    assert_string_equal(ripp_http_reason(0), "Unknown");
}

static void test_set_and_encode(void **state)
{
    (void)state;
    ripp_problem p;
    ripp_problem_set(&p, 404, "no-such-call", 481, "call %s is unknown", "/call/7");
    assert_int_equal(p.status, 404);
    assert_string_equal(p.type, "https://ripp.dev/problems/no-such-call");
    assert_string_equal(p.title, "Not Found");
    assert_string_equal(p.detail, "call /call/7 is unknown");
    assert_int_equal(p.sip_code, 481);
    char out[1024];
    const char *want =
        "{\"type\":\"https://ripp.dev/problems/no-such-call\",\"title\":\"Not Found\","
        "\"status\":404,\"detail\":\"call /call/7 is unknown\",\"sipCode\":481}";
    int64_t n = ripp_problem_encode(&p, out, sizeof out);
    assert_int_equal(n, (int64_t)strlen(want));
    assert_string_equal(out, want);
    /* exact fit and one short */
    assert_int_equal(ripp_problem_encode(&p, out, strlen(want) + 1), n);
    assert_int_equal(ripp_problem_encode(&p, out, strlen(want)), RIPP_ERR_LIMIT);

    /* no sipCode when none maps; about:blank without a slug; escaping */
    ripp_problem_set(&p, 415, NULL, 0, "codec \"%s\" not accepted", "audio/g729");
    n = ripp_problem_encode(&p, out, sizeof out);
    assert_true(n > 0);
    assert_string_equal(out, "{\"type\":\"about:blank\",\"title\":\"Unsupported Media Type\","
                             "\"status\":415,\"detail\":\"codec \\\"audio/g729\\\" not "
                             "accepted\"}");
    ripp_problem back;
    assert_int_equal(ripp_problem_decode(&back, out, (size_t)n), 0);
    assert_int_equal(back.status, 415);
    assert_int_equal(back.sip_code, 0);
    assert_string_equal(back.type, "about:blank");
    assert_string_equal(back.title, "Unsupported Media Type");
    assert_string_equal(back.detail, "codec \"audio/g729\" not accepted");

    /* a long detail is cut to its field */
    char big[2000];
    memset(big, 'd', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ripp_problem_set(&p, 400, "bad", 400, "%s", big);
    assert_int_equal(strlen(p.detail), sizeof p.detail - 1);
    assert_true(ripp_problem_encode(&p, out, sizeof out) > 0);
    /* invalid UTF-8 in a field is a caller error */
    ripp_problem_set(&p, 400, "bad", 0, "x\xff");
    assert_int_equal(ripp_problem_encode(&p, out, sizeof out), RIPP_ERR_INVAL);
}

static void test_decode(void **state)
{
    (void)state;
    ripp_problem p;
    const char *a = "{\"type\":\"https://ripp.dev/problems/too-early\",\"title\":\"Too Early\","
                    "\"status\":425,\"detail\":\"early data\",\"sipCode\":500,\"extra\":[1]}";
    assert_int_equal(ripp_problem_decode(&p, a, strlen(a)), 0);
    assert_int_equal(p.status, 425);
    assert_int_equal(p.sip_code, 500);
    assert_string_equal(p.type, "https://ripp.dev/problems/too-early");
    assert_string_equal(p.title, "Too Early");
    assert_string_equal(p.detail, "early data");
    /* members of the wrong type are ignored (RFC 9457 §3.1) */
    const char *b = "{\"type\":5,\"title\":null,\"status\":\"404\",\"detail\":{},\"sipCode\":1.5}";
    assert_int_equal(ripp_problem_decode(&p, b, strlen(b)), 0);
    assert_string_equal(p.type, "about:blank");
    assert_string_equal(p.title, "");
    assert_int_equal(p.status, 0);
    assert_string_equal(p.detail, "");
    assert_int_equal(p.sip_code, 0);
    assert_int_equal(ripp_problem_decode(&p, "{}", 2), 0);
    assert_string_equal(p.type, "about:blank");
    /* a long title is cut at a character boundary */
    char t[400];
    strcpy(t, "{\"title\":\"");
    size_t o = strlen(t);
    for (int i = 0; i < 100; i++) {
        memcpy(t + o, "\xc3\xa9", 2);
        o += 2;
    }
    strcpy(t + o, "\"}");
    assert_int_equal(ripp_problem_decode(&p, t, strlen(t)), 0);
    assert_int_equal(strlen(p.title), 126);
    /* not an object */
    static const char *const bad[] = {"", "[]", "404", "{", "<html>", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ripp_problem_decode(&p, bad[i], strlen(bad[i])), RIPP_ERR_PROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_set_and_encode),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
