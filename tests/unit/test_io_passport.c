/* PASSporT with real ES256 keys: sign with a generated key, verify with its public key;
 * tampered header, claims or signature and another key's signature are refused; and
 * PASSporTs signed or checked by the openssl command line interoperate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "ripp/io.h"
#include "ripp/passport.h"

#define X5U "https://sti.example.org/cert/signer.pem"

static char dir[256];
static char priv_path[512], pub_path[512], other_path[512];
static ripp_es256_key *priv, *pub, *other;

static int sign_cb(void *ud, const uint8_t *data, size_t len, uint8_t sig[64])
{
    return ripp_es256_sign(ud, data, len, sig);
}

static int verify_cb(void *ud, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
    return ripp_es256_verify(ud, data, len, sig, siglen);
}

static void make_pp(ripp_passport *pp)
{
    memset(pp, 0, sizeof *pp);
    strcpy(pp->orig_tn, "12025550100");
    strcpy(pp->dest_tn, "14155550199");
    pp->iat = 1712345678;
    strcpy(pp->x5u, X5U);
    strcpy(pp->ppt, "shaken");
    strcpy(pp->attest, "B");
    strcpy(pp->origid, "de305d54-75b4-431b-adb2-eb6b9e546014");
}

static int verify_value(const char *v, ripp_es256_key *k, ripp_passport *out,
                        enum ripp_passport_fail *fail)
{
    char why[128];
    return ripp_passport_verify(v, strlen(v), verify_cb, k, out, fail, why, sizeof why);
}

static void test_sign_verify(void **state)
{
    (void)state;
    ripp_passport pp, got;
    make_pp(&pp);
    char v[RIPP_IDENTITY_MAX + 1];
    int64_t n = ripp_passport_sign(&pp, sign_cb, priv, v, sizeof v);
    assert_true(n > 0);
    assert_int_equal(strlen(v), (size_t)n);
    enum ripp_passport_fail fail = 1;
    memset(&got, 0, sizeof got);
    assert_int_equal(verify_value(v, pub, &got, &fail), 0);
    assert_int_equal(fail, RIPP_PASSPORT_OK);
    assert_string_equal(got.orig_tn, pp.orig_tn);
    assert_string_equal(got.dest_tn, pp.dest_tn);
    assert_int_equal(got.iat, pp.iat);
    assert_string_equal(got.x5u, X5U);
    assert_string_equal(got.ppt, "shaken");
    assert_string_equal(got.attest, "B");
    assert_string_equal(got.origid, pp.origid);
    /* The private key carries its public half. */
    assert_int_equal(verify_value(v, priv, NULL, &fail), 0);

    /* Another key's public half refuses it; its own signature is refused by ours. */
    assert_int_equal(verify_value(v, other, NULL, &fail), RIPP_ERR_AUTH);
    assert_int_equal(fail, RIPP_PASSPORT_INVALID);
    char v2[RIPP_IDENTITY_MAX + 1];
    assert_true(ripp_passport_sign(&pp, sign_cb, other, v2, sizeof v2) > 0);
    assert_int_equal(verify_value(v2, pub, NULL, &fail), RIPP_ERR_AUTH);
    assert_int_equal(verify_value(v2, other, NULL, &fail), 0);
}

/* Replaces JWS part idx (0 header, 1 claims, 2 signature) of v with repl. */
static void replace_part(const char *v, int idx, const char *repl, char *out, size_t cap)
{
    const char *d1 = strchr(v, '.'), *d2 = strchr(d1 + 1, '.'), *semi = strchr(v, ';');
    const char *start = idx == 0 ? v : idx == 1 ? d1 + 1 : d2 + 1;
    const char *end = idx == 0 ? d1 : idx == 1 ? d2 : semi;
    snprintf(out, cap, "%.*s%s%s", (int)(start - v), v, repl, end);
}

/* Decodes part idx, lets edit change the bytes, re-encodes it into out. */
static void tamper(const char *v, int idx, void (*edit)(uint8_t *buf, size_t *n), char *out,
                   size_t cap)
{
    const char *d1 = strchr(v, '.'), *d2 = strchr(d1 + 1, '.'), *semi = strchr(v, ';');
    const char *start = idx == 0 ? v : idx == 1 ? d1 + 1 : d2 + 1;
    const char *end = idx == 0 ? d1 : idx == 1 ? d2 : semi;
    uint8_t buf[2048];
    int64_t n = ripp_b64url_decode(start, (size_t)(end - start), buf, sizeof buf);
    assert_true(n > 0);
    size_t len = (size_t)n;
    edit(buf, &len);
    char enc[3000];
    assert_true(ripp_b64url_encode(buf, len, enc, sizeof enc) > 0);
    replace_part(v, idx, enc, out, cap);
}

static void edit_x5u(uint8_t *b, size_t *n)
{
    char *p = memmem(b, *n, "sti.example", 11);
    assert_non_null(p);
    p[0] = 'S';
}

static void edit_dest(uint8_t *b, size_t *n)
{
    char *p = memmem(b, *n, "14155550199", 11);
    assert_non_null(p);
    p[10] = '8';
}

static void edit_attest(uint8_t *b, size_t *n)
{
    char *p = memmem(b, *n, "\"attest\":\"B\"", 12);
    assert_non_null(p);
    p[10] = 'A';
}

static void edit_sig_bit(uint8_t *b, size_t *n)
{
    assert_int_equal(*n, 64);
    b[40] ^= 0x01;
}

static void edit_sig_swap(uint8_t *b, size_t *n)
{
    uint8_t t[32];
    assert_int_equal(*n, 64);
    memcpy(t, b, 32);
    memcpy(b, b + 32, 32);
    memcpy(b + 32, t, 32);
}

static void test_tampering(void **state)
{
    (void)state;
    ripp_passport pp;
    make_pp(&pp);
    char v[RIPP_IDENTITY_MAX + 1], t[RIPP_IDENTITY_MAX + 1];
    assert_true(ripp_passport_sign(&pp, sign_cb, priv, v, sizeof v) > 0);
    enum ripp_passport_fail fail;

    /* Header: a different certificate URL (info changed along, so only the signature can
     * notice). */
    tamper(v, 0, edit_x5u, t, sizeof t);
    char *info = strstr(t, ";info=<https://sti");
    assert_non_null(info);
    info[15] = 'S';
    fail = 0;
    assert_int_equal(verify_value(t, pub, NULL, &fail), RIPP_ERR_AUTH);
    assert_int_equal(fail, RIPP_PASSPORT_INVALID);

    /* Claims: another destination; a better attestation. */
    tamper(v, 1, edit_dest, t, sizeof t);
    assert_int_equal(verify_value(t, pub, NULL, &fail), RIPP_ERR_AUTH);
    tamper(v, 1, edit_attest, t, sizeof t);
    assert_int_equal(verify_value(t, pub, NULL, &fail), RIPP_ERR_AUTH);

    /* Signature: one bit; R and S swapped. */
    tamper(v, 2, edit_sig_bit, t, sizeof t);
    assert_int_equal(verify_value(t, pub, NULL, &fail), RIPP_ERR_AUTH);
    tamper(v, 2, edit_sig_swap, t, sizeof t);
    assert_int_equal(verify_value(t, pub, NULL, &fail), RIPP_ERR_AUTH);

    /* Header and claims of one passport under the signature of another. */
    ripp_passport pp2;
    make_pp(&pp2);
    strcpy(pp2.dest_tn, "19005550000");
    char v2[RIPP_IDENTITY_MAX + 1];
    assert_true(ripp_passport_sign(&pp2, sign_cb, priv, v2, sizeof v2) > 0);
    const char *d1 = strchr(v2, '.'), *d2 = strchr(d1 + 1, '.');
    char claims2[1024];
    snprintf(claims2, sizeof claims2, "%.*s", (int)(d2 - d1 - 1), d1 + 1);
    replace_part(v, 1, claims2, t, sizeof t);
    assert_int_equal(verify_value(t, pub, NULL, &fail), RIPP_ERR_AUTH);
    assert_int_equal(verify_value(v2, pub, NULL, &fail), 0);
}

static bool have_openssl(void)
{
    return system("openssl version >/dev/null 2>&1") == 0;
}

static int run(const char *cmd)
{
    char full[2200];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    int rc = system(full);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void write_bytes(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

/* A PASSporT whose signature openssl made verifies with our code, and openssl accepts the
 * signature of a PASSporT we made. */
static void test_openssl_interop(void **state)
{
    (void)state;
    if (!have_openssl()) {
        fprintf(stderr, "openssl command not installed: interop test skipped\n");
        skip();
    }
    char cmd[2048], in_path[512], sig_path[512], okey[512], opub[512];
    snprintf(in_path, sizeof in_path, "%s/input", dir);
    snprintf(sig_path, sizeof sig_path, "%s/sig.der", dir);
    snprintf(okey, sizeof okey, "%s/openssl.key", dir);
    snprintf(opub, sizeof opub, "%s/openssl.pub", dir);
    snprintf(cmd, sizeof cmd, "openssl ecparam -name prime256v1 -genkey -noout -out %s", okey);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "openssl ec -in %s -pubout -out %s", okey, opub);
    assert_int_equal(run(cmd), 0);
    int err;
    ripp_es256_key *okpub = ripp_es256_load(opub, &err, NULL, 0);
    assert_non_null(okpub);

    /* openssl signs the signing input of a PASSporT built here. */
    const char *hdr =
        "{\"alg\":\"ES256\",\"ppt\":\"shaken\",\"typ\":\"passport\",\"x5u\":\"" X5U "\"}";
    const char *claims = "{\"attest\":\"A\",\"dest\":{\"tn\":[\"14155550199\"]},\"iat\":1712345678,"
                         "\"orig\":{\"tn\":\"12025550100\"},\"origid\":\"x-1\"}";
    char input[1024], hb[512], cb[512];
    assert_true(ripp_b64url_encode((const uint8_t *)hdr, strlen(hdr), hb, sizeof hb) > 0);
    assert_true(ripp_b64url_encode((const uint8_t *)claims, strlen(claims), cb, sizeof cb) > 0);
    snprintf(input, sizeof input, "%s.%s", hb, cb);
    write_bytes(in_path, input, strlen(input));
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 -sign %s -out %s %s", okey, sig_path, in_path);
    assert_int_equal(run(cmd), 0);
    uint8_t der[128];
    FILE *f = fopen(sig_path, "rb");
    assert_non_null(f);
    size_t dn = fread(der, 1, sizeof der, f);
    fclose(f);
    gnutls_datum_t dd = {der, (unsigned)dn}, r, s;
    assert_int_equal(gnutls_decode_rs_value(&dd, &r, &s), 0);
    uint8_t raw[64] = {0};
    size_t rl = r.size, sl = s.size;
    const uint8_t *rp = r.data, *sp = s.data;
    while (rl > 32)
        rp++, rl--;
    while (sl > 32)
        sp++, sl--;
    memcpy(raw + 32 - rl, rp, rl);
    memcpy(raw + 64 - sl, sp, sl);
    gnutls_free(r.data);
    gnutls_free(s.data);
    char sb[100], value[RIPP_IDENTITY_MAX + 1];
    assert_int_equal(ripp_b64url_encode(raw, 64, sb, sizeof sb), 86);
    snprintf(value, sizeof value, "%s.%s;info=<%s>;alg=ES256;ppt=shaken", input, sb, X5U);
    ripp_passport got;
    enum ripp_passport_fail fail;
    assert_int_equal(verify_value(value, okpub, &got, &fail), 0);
    assert_string_equal(got.origid, "x-1");
    assert_int_equal(verify_value(value, pub, &got, &fail), RIPP_ERR_AUTH);

    /* We sign a PASSporT with openssl's key; openssl checks the DER form of our signature. */
    ripp_es256_key *okpriv = ripp_es256_load(okey, &err, NULL, 0);
    assert_non_null(okpriv);
    ripp_passport pp;
    make_pp(&pp);
    char v[RIPP_IDENTITY_MAX + 1];
    assert_true(ripp_passport_sign(&pp, sign_cb, okpriv, v, sizeof v) > 0);
    const char *d2 = strchr(strchr(v, '.') + 1, '.');
    write_bytes(in_path, v, (size_t)(d2 - v));
    uint8_t mine[64];
    const char *semi = strchr(v, ';');
    assert_int_equal(ripp_b64url_decode(d2 + 1, (size_t)(semi - d2 - 1), mine, sizeof mine), 64);
    gnutls_datum_t mr = {mine, 32}, ms = {mine + 32, 32}, mder = {NULL, 0};
    assert_int_equal(gnutls_encode_rs_value(&mder, &mr, &ms), 0);
    write_bytes(sig_path, mder.data, mder.size);
    gnutls_free(mder.data);
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 -verify %s -signature %s %s", opub, sig_path,
             in_path);
    assert_int_equal(run(cmd), 0);
    write_bytes(in_path, v, (size_t)(d2 - v) - 1);
    assert_int_equal(run(cmd), 1);
    ripp_es256_free(okpriv);
    ripp_es256_free(okpub);
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ripp-pp-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) return -1;
    snprintf(priv_path, sizeof priv_path, "%s/signer.key", dir);
    snprintf(pub_path, sizeof pub_path, "%s/signer.pub", dir);
    snprintf(other_path, sizeof other_path, "%s/other.key", dir);
    if (ripp_es256_generate(priv_path, pub_path) || ripp_es256_generate(other_path, NULL))
        return -1;
    int err;
    priv = ripp_es256_load(priv_path, &err, NULL, 0);
    pub = ripp_es256_load(pub_path, &err, NULL, 0);
    other = ripp_es256_load(other_path, &err, NULL, 0);
    return priv && pub && other ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    ripp_es256_free(priv);
    ripp_es256_free(pub);
    ripp_es256_free(other);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_openssl_interop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
