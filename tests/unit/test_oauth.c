/* The sans-IO parts of OAuth provisioning: forms, PKCE S256 (RFC 7636 Appendix B vector),
 * redirects with ripp-trunk, Basic client credentials, OAuth problem bodies, HTML escaping,
 * password-hash strings and the login throttle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ripp/oauth.h"
#include "ripp/passport.h"

static ripp_form form;

static void test_form_parse(void **state)
{
    (void)state;
    const char *in =
        "grant_type=authorization_code&code=a%2Bb+c&&redirect_uri=https%3A%2F%2Fx%2Fcb&"
        "empty=&flag";
    assert_int_equal(ripp_form_parse(&form, in, strlen(in)), 0);
    assert_int_equal(form.n, 5);
    assert_string_equal(ripp_form_get(&form, "grant_type"), "authorization_code");
    assert_string_equal(ripp_form_get(&form, "code"), "a+b c");
    assert_string_equal(ripp_form_get(&form, "redirect_uri"), "https://x/cb");
    assert_string_equal(ripp_form_get(&form, "empty"), "");
    assert_string_equal(ripp_form_get(&form, "flag"), "");
    assert_null(ripp_form_get(&form, "missing"));
    /* not NUL-terminated: only len bytes are read */
    assert_int_equal(ripp_form_parse(&form, "a=1&b=2XXXX", 7), 0);
    assert_string_equal(ripp_form_get(&form, "b"), "2");
    assert_int_equal(ripp_form_parse(&form, "", 0), 0);
    assert_int_equal(form.n, 0);
}

static void test_form_refusals(void **state)
{
    (void)state;
    static const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "a=1&a=2", "%4=x", "a%=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(ripp_form_parse(&form, bad[i], strlen(bad[i])), RIPP_ERR_PROTO);
        assert_int_equal(form.n, 0);
    }
    char many[400] = "";
    for (int i = 0; i < RIPP_FORM_MAX_PARAMS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "p%d=1&", i);
    assert_int_equal(ripp_form_parse(&form, many, strlen(many)), RIPP_ERR_LIMIT);
    char *big = malloc(RIPP_FORM_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, 'a', RIPP_FORM_MAX_BYTES + 1);
    big[RIPP_FORM_MAX_BYTES + 1] = 0;
    assert_int_equal(ripp_form_parse(&form, big, RIPP_FORM_MAX_BYTES + 1), RIPP_ERR_LIMIT);
    /* at the limit it still parses: one long value */
    big[0] = 'k';
    big[1] = '=';
    assert_int_equal(ripp_form_parse(&form, big, RIPP_FORM_MAX_BYTES), 0);
    assert_int_equal(strlen(ripp_form_get(&form, "k")), RIPP_FORM_MAX_BYTES - 2);
    free(big);
    assert_int_equal(ripp_form_parse(NULL, "a", 1), RIPP_ERR_INVAL);
}

static void test_form_append_roundtrip(void **state)
{
    (void)state;
    char out[256];
    size_t len = 0;
    out[0] = 0;
    assert_int_equal(ripp_form_append(out, sizeof out, &len, "a b", "x&y=z/é~"), 0);
    assert_int_equal(ripp_form_append(out, sizeof out, &len, "c", ""), 0);
    assert_string_equal(out, "a%20b=x%26y%3Dz%2F%C3%A9~&c=");
    assert_int_equal(ripp_form_parse(&form, out, len), 0);
    assert_string_equal(ripp_form_get(&form, "a b"), "x&y=z/é~");
    /* too small: unchanged */
    char small[8] = "q=1";
    size_t sl = 3;
    assert_int_equal(ripp_form_append(small, sizeof small, &sl, "long", "value"), RIPP_ERR_LIMIT);
    assert_string_equal(small, "q=1");
    assert_int_equal(sl, 3);
}

static void test_pkce(void **state)
{
    (void)state;
    /* RFC 7636 Appendix B */
    const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const char *challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    static const uint8_t sha[32] = {19, 211, 30,  150, 26,  26,  216, 236, 47,  22,  177,
                                    12, 76,  152, 46,  8,   118, 168, 120, 173, 109, 241,
                                    68, 86,  110, 225, 137, 74,  203, 112, 249, 195};
    char got[44];
    ripp_pkce_s256(sha, got);
    assert_string_equal(got, challenge);
    assert_true(ripp_pkce_verifier_valid(verifier));
    assert_true(ripp_pkce_challenge_valid(challenge));
    assert_int_equal(ripp_pkce_check(verifier, sha, challenge), 0);
    char other[44];
    strcpy(other, challenge);
    other[0] = 'F';
    assert_int_equal(ripp_pkce_check(verifier, sha, other), RIPP_ERR_AUTH);
    assert_int_equal(ripp_pkce_check("short", sha, challenge), RIPP_ERR_PROTO);
    char v129[130];
    memset(v129, 'a', 129);
    v129[129] = 0;
    assert_false(ripp_pkce_verifier_valid(v129));
    v129[128] = 0;
    assert_true(ripp_pkce_verifier_valid(v129));
    v129[50] = '+';
    assert_false(ripp_pkce_verifier_valid(v129));
    assert_false(ripp_pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
    assert_false(ripp_pkce_challenge_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="));
    assert_false(ripp_pkce_challenge_valid(NULL));
}

static void test_redirects(void **state)
{
    (void)state;
    assert_true(ripp_oauth_redirect_uri_valid("https://consumer.example/cb"));
    assert_true(ripp_oauth_redirect_uri_valid("http://127.0.0.1:9/cb"));
    assert_true(ripp_oauth_redirect_uri_valid("http://localhost/cb?x=1"));
    assert_false(ripp_oauth_redirect_uri_valid("http://consumer.example/cb"));
    assert_false(ripp_oauth_redirect_uri_valid("https://consumer.example/cb#frag"));
    assert_false(ripp_oauth_redirect_uri_valid("https:///cb"));
    assert_false(ripp_oauth_redirect_uri_valid("javascript:alert(1)"));
    assert_false(ripp_oauth_redirect_uri_valid("https://a.example/c b"));

    const char *trunk = "https://ripp.provider.example:8443/trunks/p6ha937fjjj9";
    char out[2048], dec[1024];
    int64_t n =
        ripp_oauth_code_redirect(out, sizeof out, "https://c.example/cb", "CODE-1", "st&1", trunk);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    assert_memory_equal(out, "https://c.example/cb?code=CODE-1&state=st%261&ripp-trunk=", 57);
    const char *q = strchr(out, '?');
    assert_int_equal(ripp_form_parse(&form, q + 1, strlen(q + 1)), 0);
    const char *rt = ripp_form_get(&form, "ripp-trunk");
    assert_null(strchr(rt, '=')); /* D32: no padding */
    assert_int_equal(ripp_oauth_trunk_decode(rt, dec, sizeof dec), (int64_t)strlen(trunk));
    assert_string_equal(dec, trunk);

    /* a redirect URI with a query keeps it; no state: none sent */
    n = ripp_oauth_code_redirect(out, sizeof out, "https://c.example/cb?tenant=7", "C", NULL,
                                 trunk);
    assert_true(n > 0);
    assert_memory_equal(out, "https://c.example/cb?tenant=7&code=C&ripp-trunk=", 48);
    n = ripp_oauth_error_redirect(out, sizeof out, "https://c.example/cb", "access_denied",
                                  "no way", "s");
    assert_true(n > 0);
    assert_string_equal(
        out, "https://c.example/cb?error=access_denied&error_description=no%20way&state=s");
    assert_int_equal(ripp_oauth_code_redirect(out, 40, "https://c.example/cb", "C", "s", trunk),
                     RIPP_ERR_LIMIT);

    /* D32: standard alphabet and padding are accepted on input */
    char b64[256];
    const char *t2 = "https://p.example/trunks/a~~>>";
    ripp_b64url_encode((const uint8_t *)t2, strlen(t2), b64, sizeof b64);
    for (char *c = b64; *c; c++) {
        if (*c == '-') *c = '+';
        if (*c == '_') *c = '/';
    }
    while (strlen(b64) % 4)
        strcat(b64, "=");
    assert_int_equal(ripp_oauth_trunk_decode(b64, dec, sizeof dec), (int64_t)strlen(t2));
    assert_string_equal(dec, t2);

    /* what is not a trunk URI */
    static const char *bad[] = {"http://p.example/trunks/a",    "https://p.example",
                                "https://p.example/",           "https://p.example/trunks/a?x=1",
                                "https://p.example/trunks/a#f", "https://u@p.example/t"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_false(ripp_trunk_uri_valid(bad[i]));
        ripp_b64url_encode((const uint8_t *)bad[i], strlen(bad[i]), b64, sizeof b64);
        assert_int_equal(ripp_oauth_trunk_decode(b64, dec, sizeof dec), RIPP_ERR_PROTO);
    }
    assert_int_equal(ripp_oauth_trunk_decode("!!!", dec, sizeof dec), RIPP_ERR_PROTO);
    assert_int_equal(ripp_oauth_trunk_decode("", dec, sizeof dec), RIPP_ERR_PROTO);
}

static void test_basic(void **state)
{
    (void)state;
    char hdr[256], id[64], sec[64];
    /* RFC 6749 §2.3.1: both parts form-encoded before base64 */
    assert_true(ripp_oauth_basic_format("cons:1", "s3cr t/+", hdr, sizeof hdr) > 0);
    assert_int_equal(strncmp(hdr, "Basic ", 6), 0);
    assert_int_equal((strlen(hdr) - 6) % 4, 0);
    assert_int_equal(ripp_oauth_basic_parse(hdr, id, sizeof id, sec, sizeof sec), 0);
    assert_string_equal(id, "cons:1");
    assert_string_equal(sec, "s3cr t/+");
    /* a plain RFC 7617 header: "Aladdin:open sesame" */
    assert_int_equal(ripp_oauth_basic_parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", id, sizeof id,
                                            sec, sizeof sec),
                     0);
    assert_string_equal(id, "Aladdin");
    assert_string_equal(sec, "open sesame");
    assert_int_equal(ripp_oauth_basic_parse("Bearer abc", id, sizeof id, sec, sizeof sec),
                     RIPP_ERR_PROTO);
    assert_int_equal(ripp_oauth_basic_parse("Basic bm9jb2xvbg==", id, sizeof id, sec, sizeof sec),
                     RIPP_ERR_PROTO); /* "nocolon" */
    assert_int_equal(ripp_oauth_basic_parse("Basic ***", id, sizeof id, sec, sizeof sec),
                     RIPP_ERR_PROTO);
    assert_int_equal(ripp_oauth_basic_parse(hdr, id, 3, sec, sizeof sec), RIPP_ERR_LIMIT);
}

static void test_problem_and_html(void **state)
{
    (void)state;
    ripp_problem p;
    ripp_problem_set(&p, 400, "invalid-grant", 0, "the code was already used");
    char out[1024];
    int64_t n = ripp_oauth_problem_encode(&p, "invalid_grant", out, sizeof out);
    assert_true(n > 0);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")),
                        "https://ripp.dev/problems/invalid-grant");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(o, "error")), "invalid_grant");
    assert_string_equal(json_string_value(json_object_get(o, "error_description")),
                        "the code was already used");
    assert_string_equal(json_string_value(json_object_get(o, "detail")),
                        "the code was already used");
    json_decref(o);
    assert_int_equal(ripp_oauth_problem_encode(&p, "invalid_grant", out, 20), RIPP_ERR_LIMIT);

    char esc[128];
    assert_int_equal(ripp_html_escape("<a href=\"x\">'&'</a>", esc, sizeof esc), 53);
    assert_string_equal(esc, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    assert_int_equal(ripp_html_escape("<<<<", esc, 10), RIPP_ERR_LIMIT);
}

static void test_pwhash(void **state)
{
    (void)state;
    ripp_pwhash h = {.iterations = 100000, .salt_len = 16};
    for (int i = 0; i < 16; i++)
        h.salt[i] = (uint8_t)i;
    for (int i = 0; i < 32; i++)
        h.hash[i] = (uint8_t)(255 - i);
    char s[256];
    assert_true(ripp_pwhash_format(&h, s, sizeof s) > 0);
    assert_int_equal(strncmp(s, "pbkdf2-sha256$100000$", 21), 0);
    ripp_pwhash g;
    assert_int_equal(ripp_pwhash_parse(s, &g), 0);
    assert_int_equal(g.iterations, 100000);
    assert_int_equal(g.salt_len, 16);
    assert_memory_equal(g.salt, h.salt, 16);
    assert_memory_equal(g.hash, h.hash, 32);
    static const char *bad[] = {"pbkdf2-sha1$100000$AAAAAAAAAAA$AAAA",
                                "pbkdf2-sha256$100$AAECAwQFBgcICQoLDA0ODw$x",
                                "pbkdf2-sha256$100000$AAEC$AAAA",
                                "pbkdf2-sha256$100000$AAECAwQFBgcICQoLDA0ODw$AAAA",
                                "pbkdf2-sha256$abc$AAECAwQFBgcICQoLDA0ODw$AAAA",
                                "plain"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ripp_pwhash_parse(bad[i], &g), RIPP_ERR_PROTO);
}

static void test_throttle(void **state)
{
    (void)state;
    ripp_login_throttle t = {0};
    int64_t now = 1000000;
    for (int i = 0; i < RIPP_LOGIN_FREE_FAILURES; i++) {
        assert_int_equal(ripp_login_wait_s(&t, now), 0);
        ripp_login_failed(&t, now);
    }
    assert_int_equal(ripp_login_wait_s(&t, now), 0);
    ripp_login_failed(&t, now); /* 6th: 1 s */
    assert_int_equal(ripp_login_wait_s(&t, now), 1);
    assert_int_equal(ripp_login_wait_s(&t, now + 1000), 0);
    ripp_login_failed(&t, now + 1000); /* 7th: 2 s */
    assert_int_equal(ripp_login_wait_s(&t, now + 1000), 2);
    for (int i = 0; i < 30; i++)
        ripp_login_failed(&t, now);
    assert_int_equal(ripp_login_wait_s(&t, now), RIPP_LOGIN_MAX_LOCK_S);
    ripp_login_succeeded(&t);
    assert_int_equal(ripp_login_wait_s(&t, now), 0);
    assert_int_equal(t.failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_form_refusals),
        cmocka_unit_test(test_form_append_roundtrip),
        cmocka_unit_test(test_pkce),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_problem_and_html),
        cmocka_unit_test(test_pwhash),
        cmocka_unit_test(test_throttle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
