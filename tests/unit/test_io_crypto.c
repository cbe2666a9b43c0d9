/* Crypto on GnuTLS: SHA-256 known answers, constant-time comparison, ES256 keys (generate,
 * load every PEM form, refuse other curves), sign/verify, the RFC 7515 A.3 test vector, and
 * interoperation with the openssl command line when it is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ripp/io.h"
#include "ripp/passport.h"

static char dir[256];

static const char *tpath(const char *name)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static void write_text(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static size_t read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

static bool have_openssl(void)
{
    return system("openssl version >/dev/null 2>&1") == 0;
}

static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[2200];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    int rc = system(full);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static ripp_es256_key *load_ok(const char *path)
{
    int err = 1;
    char eb[256] = "unset";
    ripp_es256_key *k = ripp_es256_load(path, &err, eb, sizeof eb);
    if (!k) fprintf(stderr, "load %s: %d %s\n", path, err, eb);
    assert_non_null(k);
    assert_int_equal(err, 0);
    return k;
}

static void load_fails(const char *path, int want, const char *reason)
{
    int err = 0;
    char eb[256] = "";
    assert_null(ripp_es256_load(path, &err, eb, sizeof eb));
    assert_int_equal(err, want);
    if (!strstr(eb, reason)) fprintf(stderr, "errbuf: %s\n", eb);
    assert_non_null(strstr(eb, reason));
}

static void test_sha256(void **state)
{
    (void)state;
    uint8_t d[32];
    char hex[65];
    assert_int_equal(ripp_sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(ripp_sha256_hex(NULL, 0, hex), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(ripp_sha256_hex(m, strlen(m), hex), 0);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_int_equal(ripp_sha256("abc", 3, d), 0);
    assert_int_equal(d[0], 0xba);
    assert_int_equal(d[31], 0xad);
    assert_int_equal(ripp_sha256(NULL, 5, d), RIPP_ERR_INVAL);
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(ripp_ct_equal("token-abc", 9, "token-abc", 9));
    assert_false(ripp_ct_equal("token-abc", 9, "token-abd", 9));
    assert_false(ripp_ct_equal("Token-abc", 9, "token-abc", 9));
    /* A prefix is not equal, nor is a value padded with NULs. */
    assert_false(ripp_ct_equal("token", 5, "token-abc", 9));
    assert_false(ripp_ct_equal("token-abc", 9, "token", 5));
    assert_false(ripp_ct_equal("ab\0", 3, "ab", 2));
    assert_false(ripp_ct_equal("", 0, "\0", 1));
    assert_true(ripp_ct_equal(NULL, 0, NULL, 0));
    assert_true(ripp_ct_equal("", 0, "x", 0));
    /* Lengths differing only in a high byte. */
    static uint8_t big[300];
    assert_false(ripp_ct_equal(big, 300, big, 44));
}

static void test_generate_sign_verify(void **state)
{
    (void)state;
    char priv[512], pub[512];
    snprintf(priv, sizeof priv, "%s", tpath("gen.key"));
    snprintf(pub, sizeof pub, "%s", tpath("gen.pub"));
    assert_int_equal(ripp_es256_generate(priv, pub), 0);
    struct stat st;
    assert_int_equal(stat(priv, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char pem[4096];
    read_text(priv, pem, sizeof pem);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    read_text(pub, pem, sizeof pem);
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));

    ripp_es256_key *k = load_ok(priv), *p = load_ok(pub);
    uint8_t sig[64], sig2[64];
    /* Many messages, so R or S with leading zero bytes (1 in 128 per signature) occur. */
    for (int i = 0; i < 400; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "message number %d", i);
        assert_int_equal(ripp_es256_sign(k, msg, (size_t)n, sig), 0);
        assert_int_equal(ripp_es256_verify(p, msg, (size_t)n, sig, 64), 0);
        assert_int_equal(ripp_es256_verify(k, msg, (size_t)n, sig, 64), 0);
        msg[0] ^= 1;
        assert_int_equal(ripp_es256_verify(p, msg, (size_t)n, sig, 64), RIPP_ERR_AUTH);
    }
    /* ECDSA is randomised; both signatures verify. */
    assert_int_equal(ripp_es256_sign(k, "x", 1, sig), 0);
    assert_int_equal(ripp_es256_sign(k, "x", 1, sig2), 0);
    assert_memory_not_equal(sig, sig2, 64);
    assert_int_equal(ripp_es256_verify(p, "x", 1, sig2, 64), 0);

    /* Every single-bit change of the signature is refused. */
    for (int bit = 0; bit < 512; bit += 7) {
        memcpy(sig2, sig, 64);
        sig2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(ripp_es256_verify(p, "x", 1, sig2, 64), RIPP_ERR_AUTH);
    }
    assert_int_equal(ripp_es256_verify(p, "x", 1, sig, 63), RIPP_ERR_AUTH);
    assert_int_equal(ripp_es256_verify(p, "x", 1, NULL, 64), RIPP_ERR_AUTH);
    memset(sig2, 0, 64);
    assert_int_equal(ripp_es256_verify(p, "x", 1, sig2, 64), RIPP_ERR_AUTH);
    memset(sig2, 0xff, 64);
    assert_int_equal(ripp_es256_verify(p, "x", 1, sig2, 64), RIPP_ERR_AUTH);
    /* Empty message. */
    assert_int_equal(ripp_es256_sign(k, NULL, 0, sig), 0);
    assert_int_equal(ripp_es256_verify(p, "", 0, sig, 64), 0);

    /* A public key cannot sign. */
    assert_int_equal(ripp_es256_sign(p, "x", 1, sig), RIPP_ERR_INVAL);
    assert_int_equal(ripp_es256_sign(NULL, "x", 1, sig), RIPP_ERR_INVAL);

    /* Another key's signature is refused. */
    assert_int_equal(ripp_es256_generate(tpath("other.key"), NULL), 0);
    assert_int_equal(access(tpath("other.pub"), F_OK), -1);
    ripp_es256_key *o = load_ok(tpath("other.key"));
    assert_int_equal(ripp_es256_sign(o, "x", 1, sig), 0);
    assert_int_equal(ripp_es256_verify(o, "x", 1, sig, 64), 0);
    assert_int_equal(ripp_es256_verify(p, "x", 1, sig, 64), RIPP_ERR_AUTH);

    /* Regenerating over an existing, too open file leaves a 0600 file with a new key. */
    chmod(tpath("other.key"), 0666);
    assert_int_equal(ripp_es256_generate(tpath("other.key"), NULL), 0);
    assert_int_equal(stat(tpath("other.key"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ripp_es256_key *o2 = load_ok(tpath("other.key"));
    assert_int_equal(ripp_es256_verify(o2, "x", 1, sig, 64), RIPP_ERR_AUTH);

    assert_int_equal(ripp_es256_generate(tpath("no/such/dir/k.pem"), NULL), RIPP_ERR_IO);
    assert_int_equal(ripp_es256_generate(NULL, NULL), RIPP_ERR_INVAL);
    ripp_es256_free(o2);
    ripp_es256_free(o);
    ripp_es256_free(k);
    ripp_es256_free(p);
    ripp_es256_free(NULL);
}

/* base64url-decodes a JWK coordinate into a datum backed by buf. */
static gnutls_datum_t jwk_coord(const char *b64, uint8_t buf[48])
{
    int64_t n = ripp_b64url_decode(b64, strlen(b64), buf, 48);
    assert_int_equal(n, 32);
    gnutls_datum_t d = {buf, 32};
    return d;
}

#define A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_D "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
#define A3_INPUT                                                                                   \
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"    \
    "LmNvbS9pc19yb290Ijp0cnVlfQ"
#define A3_SIG                                                                                     \
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

/* RFC 7515 A.3: the ES256 example, checked through a PEM made from its JWK. */
static void test_rfc7515_a3(void **state)
{
    (void)state;
    uint8_t xb[48], yb[48], db[48];
    gnutls_datum_t x = jwk_coord(A3_X, xb), y = jwk_coord(A3_Y, yb), d = jwk_coord(A3_D, db);

    gnutls_pubkey_t pub;
    gnutls_datum_t pem = {NULL, 0};
    assert_int_equal(gnutls_pubkey_init(&pub), 0);
    assert_int_equal(gnutls_pubkey_import_ecc_raw(pub, GNUTLS_ECC_CURVE_SECP256R1, &x, &y), 0);
    assert_int_equal(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &pem), 0);
    write_text(tpath("a3.pub"), pem.data, pem.size);
    gnutls_free(pem.data);
    gnutls_pubkey_deinit(pub);

    ripp_es256_key *k = load_ok(tpath("a3.pub"));
    uint8_t sig[64];
    assert_int_equal(ripp_b64url_decode(A3_SIG, strlen(A3_SIG), sig, sizeof sig), 64);
    assert_int_equal(ripp_es256_verify(k, A3_INPUT, strlen(A3_INPUT), sig, 64), 0);
    sig[63] ^= 0x10;
    assert_int_equal(ripp_es256_verify(k, A3_INPUT, strlen(A3_INPUT), sig, 64), RIPP_ERR_AUTH);
    sig[63] ^= 0x10;
    assert_int_equal(ripp_es256_verify(k, A3_INPUT, strlen(A3_INPUT) - 1, sig, 64), RIPP_ERR_AUTH);

    /* The example's private key, as an "EC PRIVATE KEY" PEM, signs what the public verifies. */
    gnutls_x509_privkey_t xk;
    assert_int_equal(gnutls_x509_privkey_init(&xk), 0);
    assert_int_equal(gnutls_x509_privkey_import_ecc_raw(xk, GNUTLS_ECC_CURVE_SECP256R1, &x, &y, &d),
                     0);
    assert_int_equal(gnutls_x509_privkey_export2(xk, GNUTLS_X509_FMT_PEM, &pem), 0);
    assert_non_null(memmem(pem.data, pem.size, "BEGIN EC PRIVATE KEY", 20));
    write_text(tpath("a3.key"), pem.data, pem.size);
    gnutls_free(pem.data);
    gnutls_x509_privkey_deinit(xk);
    ripp_es256_key *kp = load_ok(tpath("a3.key"));
    assert_int_equal(ripp_es256_sign(kp, "joe", 3, sig), 0);
    assert_int_equal(ripp_es256_verify(k, "joe", 3, sig, 64), 0);
    ripp_es256_free(kp);
    ripp_es256_free(k);
}

/* Writes a PEM private key of the given algorithm (bits: a curve or a size). */
static void write_generated(const char *path, gnutls_pk_algorithm_t pk, unsigned bits)
{
    gnutls_x509_privkey_t xk;
    gnutls_datum_t pem = {NULL, 0};
    assert_int_equal(gnutls_x509_privkey_init(&xk), 0);
    assert_int_equal(gnutls_x509_privkey_generate(xk, pk, bits, 0), 0);
    assert_int_equal(
        gnutls_x509_privkey_export2_pkcs8(xk, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem),
        0);
    write_text(path, pem.data, pem.size);
    gnutls_free(pem.data);
    gnutls_x509_privkey_deinit(xk);
}

static void test_load_certificate(void **state)
{
    (void)state;
    char kpath[512];
    snprintf(kpath, sizeof kpath, "%s", tpath("cert.key"));
    assert_int_equal(ripp_es256_generate(kpath, NULL), 0);
    char pemtxt[4096];
    size_t n = read_text(kpath, pemtxt, sizeof pemtxt);
    gnutls_datum_t kd = {(unsigned char *)pemtxt, (unsigned)n};
    gnutls_x509_privkey_t xk;
    gnutls_x509_crt_t crt;
    assert_int_equal(gnutls_x509_privkey_init(&xk), 0);
    assert_int_equal(gnutls_x509_privkey_import(xk, &kd, GNUTLS_X509_FMT_PEM), 0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(crt, "\x01", 1), 0);
    time_t now = time(NULL);
    assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 60), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_dn(crt, "CN=sti.example.org", NULL), 0);
    assert_int_equal(gnutls_x509_crt_set_key(crt, xk), 0);
    assert_int_equal(gnutls_x509_crt_sign2(crt, crt, xk, GNUTLS_DIG_SHA256, 0), 0);
    gnutls_datum_t cpem = {NULL, 0};
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem), 0);
    write_text(tpath("cert.pem"), cpem.data, cpem.size);
    gnutls_free(cpem.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(xk);

    ripp_es256_key *k = load_ok(kpath), *c = load_ok(tpath("cert.pem"));
    uint8_t sig[64];
    assert_int_equal(ripp_es256_sign(k, "hello", 5, sig), 0);
    assert_int_equal(ripp_es256_verify(c, "hello", 5, sig, 64), 0);
    assert_int_equal(ripp_es256_verify(c, "hellO", 5, sig, 64), RIPP_ERR_AUTH);
    assert_int_equal(ripp_es256_sign(c, "hello", 5, sig), RIPP_ERR_INVAL);
    ripp_es256_free(c);

    /* Certificate and key in one file: it loads as the private key. */
    char both[8192];
    char cert[4096];
    read_text(tpath("cert.pem"), cert, sizeof cert);
    snprintf(both, sizeof both, "%s%s", cert, pemtxt);
    write_text(tpath("both.pem"), both, strlen(both));
    c = load_ok(tpath("both.pem"));
    assert_int_equal(ripp_es256_sign(c, "hello", 5, sig), 0);
    ripp_es256_free(c);
    ripp_es256_free(k);
}

static void test_load_refusals(void **state)
{
    (void)state;
    load_fails(tpath("missing.pem"), RIPP_ERR_IO, "missing.pem");

    write_text(tpath("garbage.pem"), "hello world\n", 12);
    load_fails(tpath("garbage.pem"), RIPP_ERR_CRYPTO, "no PEM");

    const char *broken = "-----BEGIN PUBLIC KEY-----\nAAAAbm90IGEga2V5\n-----END PUBLIC KEY-----\n";
    write_text(tpath("broken.pub"), broken, strlen(broken));
    load_fails(tpath("broken.pub"), RIPP_ERR_CRYPTO, "public key");

    const char *broken_priv =
        "-----BEGIN PRIVATE KEY-----\nAAAAbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
    write_text(tpath("broken.key"), broken_priv, strlen(broken_priv));
    load_fails(tpath("broken.key"), RIPP_ERR_CRYPTO, "private key");

    const char *enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"
                      "-----END ENCRYPTED PRIVATE KEY-----\n";
    write_text(tpath("enc.key"), enc, strlen(enc));
    load_fails(tpath("enc.key"), RIPP_ERR_UNSUPPORTED, "encrypted");

    /* Other curves and algorithms are refused with a reason. */
    write_generated(tpath("p384.key"), GNUTLS_PK_ECDSA,
                    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1));
    load_fails(tpath("p384.key"), RIPP_ERR_UNSUPPORTED, "P-256");
    write_generated(tpath("ed.key"), GNUTLS_PK_EDDSA_ED25519, 256);
    load_fails(tpath("ed.key"), RIPP_ERR_UNSUPPORTED, "P-256");
    write_generated(tpath("rsa.key"), GNUTLS_PK_RSA, 2048);
    load_fails(tpath("rsa.key"), RIPP_ERR_UNSUPPORTED, "RSA");

    int err = 0;
    assert_null(ripp_es256_load(NULL, &err, NULL, 0));
    assert_int_equal(err, RIPP_ERR_INVAL);
}

/* The openssl command line signs and verifies with our keys and signatures: the raw R||S
 * form and its DER counterpart must agree. */
static void test_openssl_interop(void **state)
{
    (void)state;
    if (!have_openssl()) {
        fprintf(stderr, "openssl command not installed: interop test skipped\n");
        skip();
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tpath("msg.txt"));
    write_text(msg, "eyJhbGciOiJFUzI1NiJ9.eyJmb28iOiJiYXIifQ", 39);

    /* SEC1 key from openssl ecparam, PKCS#8 from genpkey. */
    assert_int_equal(
        run("openssl ecparam -name prime256v1 -genkey -noout -out %s", tpath("o1.key")), 0);
    assert_int_equal(run("openssl ec -in %s -pubout -out %s", tpath("o1.key"), tpath("o1.pub")), 0);
    assert_int_equal(run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s",
                         tpath("o2.key")),
                     0);
    char pem[4096];
    read_text(tpath("o1.key"), pem, sizeof pem);
    assert_non_null(strstr(pem, "BEGIN EC PRIVATE KEY"));
    read_text(tpath("o2.key"), pem, sizeof pem);
    assert_non_null(strstr(pem, "BEGIN PRIVATE KEY"));
    ripp_es256_key *k1 = load_ok(tpath("o1.key")), *p1 = load_ok(tpath("o1.pub"));
    ripp_es256_key *k2 = load_ok(tpath("o2.key"));

    for (int round = 0; round < 8; round++) {
        /* openssl signs (DER); we verify the raw form. */
        assert_int_equal(
            run("openssl dgst -sha256 -sign %s -out %s %s", tpath("o1.key"), tpath("o.sig"), msg),
            0);
        char der[256];
        size_t dn = read_text(tpath("o.sig"), der, sizeof der);
        gnutls_datum_t dd = {(unsigned char *)der, (unsigned)dn}, r, s;
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
        assert_int_equal(
            ripp_es256_verify(p1, "eyJhbGciOiJFUzI1NiJ9.eyJmb28iOiJiYXIifQ", 39, raw, 64), 0);
        assert_int_equal(
            ripp_es256_verify(k1, "eyJhbGciOiJFUzI1NiJ9.eyJmb28iOiJiYXIifQ", 39, raw, 64), 0);
        assert_int_equal(
            ripp_es256_verify(k2, "eyJhbGciOiJFUzI1NiJ9.eyJmb28iOiJiYXIifQ", 39, raw, 64),
            RIPP_ERR_AUTH);

        /* We sign (raw); openssl verifies the DER form. */
        uint8_t mine[64];
        assert_int_equal(ripp_es256_sign(k1, "eyJhbGciOiJFUzI1NiJ9.eyJmb28iOiJiYXIifQ", 39, mine),
                         0);
        gnutls_datum_t mr = {mine, 32}, ms = {mine + 32, 32}, mder = {NULL, 0};
        assert_int_equal(gnutls_encode_rs_value(&mder, &mr, &ms), 0);
        write_text(tpath("m.sig"), mder.data, mder.size);
        gnutls_free(mder.data);
        assert_int_equal(run("openssl dgst -sha256 -verify %s -signature %s %s", tpath("o1.pub"),
                             tpath("m.sig"), msg),
                         0);
    }
    /* openssl refuses what it should. */
    write_text(msg, "eyJhbGciOiJFUzI1NiJ9.eyJmb28iOiJiYXIifR", 39);
    assert_int_equal(run("openssl dgst -sha256 -verify %s -signature %s %s", tpath("o1.pub"),
                         tpath("m.sig"), msg),
                     1);
    ripp_es256_free(k1);
    ripp_es256_free(p1);
    ripp_es256_free(k2);
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ripp-crypto-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_generate_sign_verify),
        cmocka_unit_test(test_rfc7515_a3),
        cmocka_unit_test(test_load_certificate),
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test(test_openssl_interop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
