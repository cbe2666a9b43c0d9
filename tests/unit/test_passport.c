/* PASSporT core: base64url, the exact bytes signed and sent, parsing, and every way a
 * value is refused. The signature is a stand-in keyed digest (the crypto is tested in
 * test_io_passport): it changes whenever the signing input changes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/passport.h"

#define X5U "https://cert.example.org/passport.cer"
#define HDR_FULL                                                                                   \
    "eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0"     \
    "LmV4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9"
#define CLAIMS_FULL                                                                                \
    "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxMjE1NTU1MTIxMyJdfSwiaWF0IjoxNDQzMjA4MzQ1LCJvcmln"     \
    "Ijp7InRuIjoiMTIxNTU1NTEyMTIifSwib3JpZ2lkIjoiMTIzZTQ1NjctZTg5Yi0xMmQzLWE0NTYtNDI2NjU1NDQw"     \
    "MDAwIn0"
#define HDR_MIN "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jLmV4YW1wbGUveCJ9"
#define CLAIMS_MIN "eyJkZXN0Ijp7InRuIjpbIjIiXX0sImlhdCI6MCwib3JpZyI6eyJ0biI6IjEifX0"

static void fake_digest(const uint8_t *data, size_t len, uint8_t sig[64])
{
    for (int k = 0; k < 8; k++) {
        uint64_t h = 1469598103934665603ull ^ (uint64_t)k;
        for (size_t i = 0; i < len; i++) {
            h ^= data[i];
            h *= 1099511628211ull;
        }
        for (int b = 0; b < 8; b++)
            sig[k * 8 + b] = (uint8_t)(h >> (8 * b));
    }
}

static int sign_calls;
static int fake_sign(void *ud, const uint8_t *data, size_t len, uint8_t sig[64])
{
    (void)ud;
    sign_calls++;
    fake_digest(data, len, sig);
    return 0;
}

static int failing_sign(void *ud, const uint8_t *data, size_t len, uint8_t sig[64])
{
    (void)data;
    (void)len;
    (void)sig;
    return *(int *)ud;
}

typedef struct seen {
    char input[RIPP_IDENTITY_MAX];
    size_t len;
    int calls;
} seen;

static int fake_verify(void *ud, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
    seen *sn = ud;
    if (sn) {
        sn->calls++;
        sn->len = len < sizeof sn->input ? len : sizeof sn->input - 1;
        memcpy(sn->input, data, sn->len);
        sn->input[sn->len] = '\0';
    }
    uint8_t want[64];
    fake_digest(data, len, want);
    return siglen == 64 && !memcmp(want, sig, 64) ? 0 : RIPP_ERR_AUTH;
}

static void full_passport(ripp_passport *pp)
{
    memset(pp, 0, sizeof *pp);
    strcpy(pp->orig_tn, "12155551212");
    strcpy(pp->dest_tn, "12155551213");
    pp->iat = 1443208345;
    strcpy(pp->x5u, X5U);
    strcpy(pp->ppt, "shaken");
    strcpy(pp->attest, "A");
    strcpy(pp->origid, "123e4567-e89b-12d3-a456-426655440000");
}

static void b64_sig_of(const char *input, char out[90])
{
    uint8_t sig[64];
    fake_digest((const uint8_t *)input, strlen(input), sig);
    assert_int_equal(ripp_b64url_encode(sig, 64, out, 90), 86);
}

/* Builds "<b64 hdr>.<b64 claims>.<fake sig><params>" from JSON texts. */
static char *make_value(const char *hdr_json, const char *claims_json, const char *params)
{
    static char v[3 * RIPP_IDENTITY_MAX];
    char h[RIPP_IDENTITY_MAX], c[RIPP_IDENTITY_MAX], input[2 * RIPP_IDENTITY_MAX], s[90];
    assert_true(ripp_b64url_encode((const uint8_t *)hdr_json, strlen(hdr_json), h, sizeof h) > 0);
    assert_true(ripp_b64url_encode((const uint8_t *)claims_json, strlen(claims_json), c, sizeof c) >
                0);
    snprintf(input, sizeof input, "%s.%s", h, c);
    b64_sig_of(input, s);
    snprintf(v, sizeof v, "%s.%s%s", input, s, params);
    return v;
}

#define GOOD_HDR "{\"alg\":\"ES256\",\"typ\":\"passport\",\"x5u\":\"" X5U "\"}"
#define GOOD_CLAIMS                                                                                \
    "{\"dest\":{\"tn\":[\"12155551213\"]},\"iat\":1,\"orig\":{\"tn\":\"12155551212\"}}"

/* Verifies v; checks the library error and SIP-equivalent code. */
static void expect(const char *v, int err, enum ripp_passport_fail code)
{
    ripp_passport pp, marker;
    memset(&marker, 0x77, sizeof marker);
    pp = marker;
    enum ripp_passport_fail fail = 1;
    char why[128] = "unset";
    int rc = ripp_passport_verify(v, strlen(v), fake_verify, NULL, &pp, &fail, why, sizeof why);
    if (rc != err || fail != code)
        fprintf(stderr, "value %s: rc %d fail %d (%s)\n", v, rc, (int)fail, why);
    assert_int_equal(rc, err);
    assert_int_equal(fail, code);
    if (err) {
        assert_true(why[0] != '\0' && strcmp(why, "unset"));
        assert_memory_equal(&pp, &marker, sizeof pp); /* untouched on failure */
    } else {
        assert_string_equal(why, "");
    }
}

static void test_b64url(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[32];
    uint8_t bin[32];
    for (int i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        assert_int_equal(ripp_b64url_encode((const uint8_t *)plain[i], n, out, sizeof out),
                         strlen(enc[i]));
        assert_string_equal(out, enc[i]);
        assert_int_equal(ripp_b64url_decode(enc[i], strlen(enc[i]), bin, sizeof bin), n);
        assert_memory_equal(bin, plain[i], n);
    }
    /* The URL alphabet out; both in; padding accepted when correct. */
    const uint8_t hi[] = {0xfb, 0xff, 0xbf};
    assert_int_equal(ripp_b64url_encode(hi, 3, out, sizeof out), 4);
    assert_string_equal(out, "-_-_");
    assert_int_equal(ripp_b64url_decode("+/+/", 4, bin, sizeof bin), 3);
    assert_memory_equal(bin, hi, 3);
    assert_int_equal(ripp_b64url_decode("Zg==", 4, bin, sizeof bin), 1);
    assert_int_equal(bin[0], 'f');
    assert_int_equal(ripp_b64url_decode("Zm8=", 4, bin, sizeof bin), 2);

    /* Malformed. */
    assert_int_equal(ripp_b64url_decode("Zg=", 3, bin, sizeof bin), RIPP_ERR_PROTO);
    assert_int_equal(ripp_b64url_decode("Zg===", 5, bin, sizeof bin), RIPP_ERR_PROTO);
    assert_int_equal(ripp_b64url_decode("Zm9v=", 5, bin, sizeof bin), RIPP_ERR_PROTO);
    assert_int_equal(ripp_b64url_decode("Z", 1, bin, sizeof bin), RIPP_ERR_PROTO);
    assert_int_equal(ripp_b64url_decode("Zh", 2, bin, sizeof bin), RIPP_ERR_PROTO);
    assert_int_equal(ripp_b64url_decode("Zm9!", 4, bin, sizeof bin), RIPP_ERR_PROTO);
    assert_int_equal(ripp_b64url_decode("Zm 9", 4, bin, sizeof bin), RIPP_ERR_PROTO);
    assert_int_equal(ripp_b64url_decode("Z=g=", 4, bin, sizeof bin), RIPP_ERR_PROTO);

    /* Limits: the NUL counts on encode; the bytes on decode; nothing past len is read. */
    assert_int_equal(ripp_b64url_encode((const uint8_t *)"foo", 3, out, 4), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_b64url_encode((const uint8_t *)"foo", 3, out, 5), 4);
    assert_int_equal(ripp_b64url_decode("Zm9vYmFy", 8, bin, 5), RIPP_ERR_LIMIT);
    assert_int_equal(ripp_b64url_decode("Zm9vYmFy", 8, bin, 6), 6);
    assert_int_equal(ripp_b64url_decode("Zm9vYmFy!!", 4, bin, 6), 3);

    /* Round trip of every length up to 100. */
    uint8_t data[100], back[100];
    char txt[200];
    for (int i = 0; i < 100; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= 100; n++) {
        int64_t w = ripp_b64url_encode(data, n, txt, sizeof txt);
        assert_int_equal(w, (int64_t)((n * 4 + 2) / 3));
        assert_int_equal(ripp_b64url_decode(txt, (size_t)w, back, sizeof back), n);
        assert_memory_equal(back, data, n);
    }
}

static void test_sign_exact(void **state)
{
    (void)state;
    ripp_passport pp;
    full_passport(&pp);
    char out[RIPP_IDENTITY_MAX + 1], s[90], want[RIPP_IDENTITY_MAX + 1];
    sign_calls = 0;
    int64_t n = ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out);
    assert_int_equal(sign_calls, 1);
    b64_sig_of(HDR_FULL "." CLAIMS_FULL, s);
    snprintf(want, sizeof want, "%s.%s;info=<%s>;alg=ES256;ppt=shaken", HDR_FULL "." CLAIMS_FULL, s,
             X5U);
    assert_string_equal(out, want);
    assert_int_equal(n, (int64_t)strlen(want));

    /* Without the SHAKEN members. */
    memset(&pp, 0, sizeof pp);
    strcpy(pp.orig_tn, "1");
    strcpy(pp.dest_tn, "2");
    strcpy(pp.x5u, "https://c.example/x");
    n = ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out);
    b64_sig_of(HDR_MIN "." CLAIMS_MIN, s);
    snprintf(want, sizeof want, "%s.%s;info=<https://c.example/x>;alg=ES256",
             HDR_MIN "." CLAIMS_MIN, s);
    assert_string_equal(out, want);
    assert_int_equal(n, (int64_t)strlen(want));

    /* Exactly enough room, then one byte less. */
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, (size_t)n + 1), n);
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, (size_t)n), RIPP_ERR_LIMIT);
    assert_string_equal(out, "");
}

static void test_sign_errors(void **state)
{
    (void)state;
    ripp_passport pp;
    char out[RIPP_IDENTITY_MAX + 1];
    full_passport(&pp);
    pp.orig_tn[0] = '\0';
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    full_passport(&pp);
    pp.dest_tn[0] = '\0';
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    full_passport(&pp);
    pp.x5u[0] = '\0';
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    full_passport(&pp);
    strcpy(pp.x5u, "https://x/>;alg=none");
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    strcpy(pp.x5u, "cert.pem");
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    full_passport(&pp);
    strcpy(pp.attest, "D");
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    full_passport(&pp);
    strcpy(pp.ppt, "sha ken");
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    full_passport(&pp);
    memset(pp.orig_tn, '1', sizeof pp.orig_tn); /* unterminated */
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    full_passport(&pp);
    strcpy(pp.origid, "\x01");
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    full_passport(&pp);
    assert_int_equal(ripp_passport_sign(NULL, fake_sign, NULL, out, sizeof out), RIPP_ERR_INVAL);
    assert_int_equal(ripp_passport_sign(&pp, NULL, NULL, out, sizeof out), RIPP_ERR_INVAL);
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, NULL, 10), RIPP_ERR_INVAL);
    assert_int_equal(ripp_passport_sign(&pp, fake_sign, NULL, out, 40), RIPP_ERR_LIMIT);

    /* The signer's failure is passed on. */
    int e = RIPP_ERR_CRYPTO;
    assert_int_equal(ripp_passport_sign(&pp, failing_sign, &e, out, sizeof out), RIPP_ERR_CRYPTO);
    assert_string_equal(out, "");
    e = 5;
    assert_int_equal(ripp_passport_sign(&pp, failing_sign, &e, out, sizeof out), RIPP_ERR_CRYPTO);
}

static void test_roundtrip(void **state)
{
    (void)state;
    ripp_passport pp, got;
    full_passport(&pp);
    char out[RIPP_IDENTITY_MAX + 1];
    int64_t n = ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out);
    assert_true(n > 0);

    /* The value is read from exactly len bytes in a buffer of that size. */
    char *exact = malloc((size_t)n);
    assert_non_null(exact);
    memcpy(exact, out, (size_t)n);
    seen sn;
    memset(&sn, 0, sizeof sn);
    enum ripp_passport_fail fail = 1;
    memset(&got, 0, sizeof got);
    assert_int_equal(ripp_passport_verify(exact, (size_t)n, fake_verify, &sn, &got, &fail, NULL, 0),
                     0);
    free(exact);
    assert_int_equal(fail, RIPP_PASSPORT_OK);
    assert_int_equal(sn.calls, 1);
    assert_string_equal(sn.input, HDR_FULL "." CLAIMS_FULL);
    assert_string_equal(got.orig_tn, pp.orig_tn);
    assert_string_equal(got.dest_tn, pp.dest_tn);
    assert_int_equal(got.iat, pp.iat);
    assert_string_equal(got.x5u, pp.x5u);
    assert_string_equal(got.ppt, pp.ppt);
    assert_string_equal(got.attest, pp.attest);
    assert_string_equal(got.origid, pp.origid);

    /* Garbage after len is not looked at. */
    memcpy(out + n, ";info=<https://evil>", 21);
    assert_int_equal(ripp_passport_verify(out, (size_t)n, fake_verify, NULL, &got, NULL, NULL, 0),
                     0);
    assert_string_equal(got.x5u, X5U);
}

static void test_verify_accepts(void **state)
{
    (void)state;
    ripp_passport got;
    char *v;

    /* Whitespace around the value and its parameters; info without brackets; unknown
     * parameters; no parameters at all (x5u in the header suffices). */
    v = make_value(GOOD_HDR, GOOD_CLAIMS, " ; info = " X5U " ;alg=ES256; foo=bar ;baz\t");
    char padded[RIPP_IDENTITY_MAX];
    snprintf(padded, sizeof padded, "  %s", v);
    expect(padded, 0, RIPP_PASSPORT_OK);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ""), 0, RIPP_PASSPORT_OK);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";INFO=<" X5U ">;ALG=ES256"), 0, RIPP_PASSPORT_OK);

    /* No x5u in the header: info stands for it. No typ: accepted. */
    v = make_value("{\"alg\":\"ES256\"}", GOOD_CLAIMS, ";info=<https://a.example/c.pem>");
    assert_int_equal(ripp_passport_verify(v, strlen(v), fake_verify, NULL, &got, NULL, NULL, 0), 0);
    assert_string_equal(got.x5u, "https://a.example/c.pem");
    assert_string_equal(got.ppt, "");

    /* dest.tn as a single string; several destinations (the first is kept). */
    v = make_value(GOOD_HDR, "{\"dest\":{\"tn\":\"33\"},\"iat\":-5,\"orig\":{\"tn\":\"1\"}}", "");
    assert_int_equal(ripp_passport_verify(v, strlen(v), fake_verify, NULL, &got, NULL, NULL, 0), 0);
    assert_string_equal(got.dest_tn, "33");
    assert_int_equal(got.iat, -5);
    v = make_value(GOOD_HDR,
                   "{\"dest\":{\"tn\":[\"44\",\"55\"]},\"iat\":9,\"orig\":{\"tn\":\"1\"},"
                   "\"extra\":{\"x\":[1,2]}}",
                   "");
    assert_int_equal(ripp_passport_verify(v, strlen(v), fake_verify, NULL, &got, NULL, NULL, 0), 0);
    assert_string_equal(got.dest_tn, "44");

    /* ppt in both places, parameter quoted. */
    v = make_value("{\"alg\":\"ES256\",\"ppt\":\"shaken\",\"typ\":\"passport\",\"x5u\":\"" X5U
                   "\"}",
                   GOOD_CLAIMS, ";info=<" X5U ">;ppt=\"shaken\"");
    assert_int_equal(ripp_passport_verify(v, strlen(v), fake_verify, NULL, &got, NULL, NULL, 0), 0);
    assert_string_equal(got.ppt, "shaken");
}

static void test_verify_rejects_form(void **state)
{
    (void)state;
    char big[RIPP_IDENTITY_MAX + 10];
    enum ripp_passport_fail fail = 0;
    char why[64];

    assert_int_equal(ripp_passport_verify(NULL, 0, fake_verify, NULL, NULL, &fail, why, sizeof why),
                     RIPP_ERR_PROTO);
    assert_int_equal(fail, RIPP_PASSPORT_MISSING);
    assert_int_equal(ripp_passport_verify("x", 0, fake_verify, NULL, NULL, &fail, NULL, 0),
                     RIPP_ERR_PROTO);
    assert_int_equal(fail, RIPP_PASSPORT_MISSING);
    memset(big, 'A', sizeof big);
    assert_int_equal(ripp_passport_verify(big, RIPP_IDENTITY_MAX + 1, fake_verify, NULL, NULL,
                                          &fail, why, sizeof why),
                     RIPP_ERR_LIMIT);
    assert_int_equal(fail, RIPP_PASSPORT_INVALID);
    char *v = make_value(GOOD_HDR, GOOD_CLAIMS, "");
    assert_int_equal(ripp_passport_verify(v, strlen(v), NULL, NULL, NULL, &fail, NULL, 0),
                     RIPP_ERR_INVAL);

    /* The compact form (RFC 8224 §7): claims rebuilt from SIP headers RIPP does not have. */
    char s[90], compact[300];
    b64_sig_of(HDR_MIN ".", s);
    snprintf(compact, sizeof compact, "%s..%s;info=<https://c.example/x>", HDR_MIN, s);
    expect(compact, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    ripp_passport_verify(compact, strlen(compact), fake_verify, NULL, NULL, &fail, why, sizeof why);
    assert_non_null(strstr(why, "compact"));

    expect(HDR_MIN "." CLAIMS_MIN, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    expect(HDR_MIN "." CLAIMS_MIN ".AAAA.AAAA", RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    expect("." CLAIMS_MIN ".AAAA", RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    expect(HDR_MIN "." CLAIMS_MIN ".", RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    expect(HDR_MIN "." CLAIMS_MIN ".", RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    expect(";info=<x>", RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);

    /* Standard base64, padding, spaces or a NUL inside the JWS. */
    v = make_value(GOOD_HDR, GOOD_CLAIMS, "");
    char bad[RIPP_IDENTITY_MAX];
    const char subst[] = {'+', '/', '=', ' ', '\0'};
    for (size_t k = 0; k < sizeof subst; k++) {
        size_t n = strlen(v);
        memcpy(bad, v, n);
        bad[10] = subst[k];
        enum ripp_passport_fail f2 = 0;
        assert_int_equal(ripp_passport_verify(bad, n, fake_verify, NULL, NULL, &f2, NULL, 0),
                         RIPP_ERR_PROTO);
        assert_int_equal(f2, RIPP_PASSPORT_INVALID);
    }

    /* Signature of the wrong size. */
    v = make_value(GOOD_HDR, GOOD_CLAIMS, "");
    char *dot = strrchr(v, '.');
    char shortsig[RIPP_IDENTITY_MAX];
    snprintf(shortsig, sizeof shortsig, "%.*s%.84s", (int)(dot - v + 1), v, dot + 1);
    expect(shortsig, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    snprintf(shortsig, sizeof shortsig, "%.*s%sAAAA", (int)(dot - v + 1), v, dot + 1);
    expect(shortsig, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    /* 86 characters whose last one carries stray bits. */
    snprintf(shortsig, sizeof shortsig, "%.*s%.85s_", (int)(dot - v + 1), v, dot + 1);
    expect(shortsig, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);

    /* Malformed parameters. */
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";;info=<" X5U ">"), RIPP_ERR_PROTO,
           RIPP_PASSPORT_INVALID);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";info=<" X5U ">;"), RIPP_ERR_PROTO,
           RIPP_PASSPORT_INVALID);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";=x"), RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
}

static void test_verify_rejects_header(void **state)
{
    (void)state;
    /* Not JSON, not an object, not base64url of anything. */
    expect(make_value("{\"alg\":\"ES256\"", GOOD_CLAIMS, ";info=<x>"), RIPP_ERR_PROTO,
           RIPP_PASSPORT_INVALID);
    expect(make_value("[\"alg\",\"ES256\"]", GOOD_CLAIMS, ";info=<x>"), RIPP_ERR_PROTO,
           RIPP_PASSPORT_INVALID);
    expect(make_value("{\"alg\":\"ES256\",\"alg\":\"none\",\"x5u\":\"x\"}", GOOD_CLAIMS, ""),
           RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    char s[90], v[400];
    b64_sig_of("A." CLAIMS_MIN, s);
    snprintf(v, sizeof v, "A.%s.%s", CLAIMS_MIN, s);
    expect(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);

    /* Algorithm and type. */
    expect(make_value("{\"alg\":\"RS256\",\"x5u\":\"x\"}", GOOD_CLAIMS, ""), RIPP_ERR_UNSUPPORTED,
           RIPP_PASSPORT_UNSUPPORTED);
    expect(make_value("{\"alg\":\"none\",\"x5u\":\"x\"}", GOOD_CLAIMS, ""), RIPP_ERR_UNSUPPORTED,
           RIPP_PASSPORT_UNSUPPORTED);
    expect(make_value("{\"x5u\":\"x\"}", GOOD_CLAIMS, ""), RIPP_ERR_UNSUPPORTED,
           RIPP_PASSPORT_UNSUPPORTED);
    expect(make_value("{\"alg\":256,\"x5u\":\"x\"}", GOOD_CLAIMS, ""), RIPP_ERR_UNSUPPORTED,
           RIPP_PASSPORT_UNSUPPORTED);
    expect(make_value("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"x5u\":\"x\"}", GOOD_CLAIMS, ""),
           RIPP_ERR_UNSUPPORTED, RIPP_PASSPORT_UNSUPPORTED);
    expect(make_value("{\"alg\":\"ES256\",\"typ\":1,\"x5u\":\"x\"}", GOOD_CLAIMS, ""),
           RIPP_ERR_UNSUPPORTED, RIPP_PASSPORT_UNSUPPORTED);
    expect(make_value("{\"alg\":\"ES256\",\"crit\":[\"div\"],\"x5u\":\"x\"}", GOOD_CLAIMS, ""),
           RIPP_ERR_UNSUPPORTED, RIPP_PASSPORT_UNSUPPORTED);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";alg=ES384"), RIPP_ERR_UNSUPPORTED,
           RIPP_PASSPORT_UNSUPPORTED);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";alg"), RIPP_ERR_UNSUPPORTED,
           RIPP_PASSPORT_UNSUPPORTED);

    /* x5u and info. */
    expect(make_value("{\"alg\":\"ES256\",\"typ\":\"passport\"}", GOOD_CLAIMS, ""), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);
    expect(make_value("{\"alg\":\"ES256\",\"typ\":\"passport\"}", GOOD_CLAIMS, ";alg=ES256"),
           RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";info=<https://other.example/cert>"), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);
    expect(make_value("{\"alg\":\"ES256\",\"x5u\":7}", GOOD_CLAIMS, ";info=<x>"), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);
    expect(make_value("{\"alg\":\"ES256\",\"x5u\":\"\"}", GOOD_CLAIMS, ""), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";info=<" X5U), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";info=<>"), RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";info"), RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO);
    expect(make_value("{\"alg\":\"ES256\"}", GOOD_CLAIMS, ";info=\"\""), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);
    expect(make_value("{\"alg\":\"ES256\"}", GOOD_CLAIMS, ";info=cert.pem"), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);
    expect(make_value("{\"alg\":\"ES256\",\"x5u\":\"https://a b/\"}", GOOD_CLAIMS, ""),
           RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO);
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";info=<" X5U ">;info=<" X5U ">"), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);
    char longx5u[601], hdr[800];
    memset(longx5u, 'u', 600);
    longx5u[600] = '\0';
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"x5u\":\"%s\"}", longx5u);
    expect(make_value(hdr, GOOD_CLAIMS, ""), RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO);
    char param[700];
    snprintf(param, sizeof param, ";info=<%s>", longx5u);
    expect(make_value("{\"alg\":\"ES256\"}", GOOD_CLAIMS, param), RIPP_ERR_PROTO,
           RIPP_PASSPORT_BAD_INFO);

    /* ppt. */
    expect(make_value(GOOD_HDR, GOOD_CLAIMS, ";ppt=shaken"), RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    expect(
        make_value("{\"alg\":\"ES256\",\"ppt\":\"div\",\"x5u\":\"x\"}", GOOD_CLAIMS, ";ppt=shaken"),
        RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    expect(make_value("{\"alg\":\"ES256\",\"ppt\":[],\"x5u\":\"x\"}", GOOD_CLAIMS, ""),
           RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
    expect(make_value("{\"alg\":\"ES256\",\"ppt\":\"0123456789abcdef\",\"x5u\":\"x\"}", GOOD_CLAIMS,
                      ""),
           RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
}

static void test_verify_rejects_claims(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1}",                          /* no orig */
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":\"1\"}",           /* orig not object */
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"tn\":1}}",      /* orig.tn number */
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"uri\":\"x\"}}", /* orig.uri only */
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"tn\":\"\"}}",   /* empty tn */
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"tn\":"
        "\"1234567890123456789012345678901234567890123456789012345678901234\"}}", /* 64 chars */
        "{\"iat\":1,\"orig\":{\"tn\":\"1\"}}",                                    /* no dest */
        "{\"dest\":{\"tn\":[]},\"iat\":1,\"orig\":{\"tn\":\"1\"}}",               /* empty list */
        "{\"dest\":{\"tn\":[\"2\",3]},\"iat\":1,\"orig\":{\"tn\":\"1\"}}",        /* non-string */
        "{\"dest\":{\"tn\":[3]},\"iat\":1,\"orig\":{\"tn\":\"1\"}}",
        "{\"dest\":[\"2\"],\"iat\":1,\"orig\":{\"tn\":\"1\"}}",
        "{\"dest\":{\"tn\":[\"2\"]},\"orig\":{\"tn\":\"1\"}}",               /* no iat */
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":\"1\",\"orig\":{\"tn\":\"1\"}}", /* iat string */
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1.5,\"orig\":{\"tn\":\"1\"}}",   /* iat real */
        "{\"attest\":\"D\",\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"tn\":\"1\"}}",
        "{\"attest\":\"AB\",\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"tn\":\"1\"}}",
        "{\"attest\":1,\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"tn\":\"1\"}}",
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"tn\":\"1\"},\"origid\":5}",
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"iat\":2,\"orig\":{\"tn\":\"1\"}}", /* dup */
        "[1,2,3]",
        "{\"dest\":{\"tn\":[\"2\"]},\"iat\":1,\"orig\":{\"tn\":\"1\"}", /* truncated */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(make_value(GOOD_HDR, bad[i], ""), RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID);
}

static void test_verify_rejects_signature(void **state)
{
    (void)state;
    ripp_passport pp;
    full_passport(&pp);
    char out[RIPP_IDENTITY_MAX + 1], forged[RIPP_IDENTITY_MAX + 1];
    assert_true(ripp_passport_sign(&pp, fake_sign, NULL, out, sizeof out) > 0);
    expect(out, 0, RIPP_PASSPORT_OK);

    /* One flipped signature character. */
    *strchr(out, ';') = '\0';
    char *dot = strrchr(out, '.');
    *strchr(out, '\0') = ';';
    strcpy(forged, out);
    forged[dot - out + 5] = forged[dot - out + 5] == 'A' ? 'B' : 'A';
    expect(forged, RIPP_ERR_AUTH, RIPP_PASSPORT_INVALID);

    /* Claims swapped for other valid claims under the old signature. */
    char claims[200];
    const char *c = "{\"dest\":{\"tn\":[\"19005551234\"]},\"iat\":1443208345,"
                    "\"orig\":{\"tn\":\"12155551212\"}}";
    assert_true(ripp_b64url_encode((const uint8_t *)c, strlen(c), claims, sizeof claims) > 0);
    snprintf(forged, sizeof forged, "%s.%s%s", HDR_FULL, claims, dot);
    expect(forged, RIPP_ERR_AUTH, RIPP_PASSPORT_INVALID);

    /* Header swapped (ppt dropped) under the old signature. */
    char hdr[200];
    const char *h = "{\"alg\":\"ES256\",\"typ\":\"passport\",\"x5u\":\"" X5U "\"}";
    assert_true(ripp_b64url_encode((const uint8_t *)h, strlen(h), hdr, sizeof hdr) > 0);
    snprintf(forged, sizeof forged, "%s.%s%.87s;info=<" X5U ">", hdr, CLAIMS_FULL, dot);
    expect(forged, RIPP_ERR_AUTH, RIPP_PASSPORT_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_sign_exact),
        cmocka_unit_test(test_sign_errors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_verify_accepts),
        cmocka_unit_test(test_verify_rejects_form),
        cmocka_unit_test(test_verify_rejects_header),
        cmocka_unit_test(test_verify_rejects_claims),
        cmocka_unit_test(test_verify_rejects_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
