/* SHA-256, constant-time comparison and ES256 (ECDSA P-256 with SHA-256, JWS raw R||S
 * signatures) on GnuTLS. Keys are parsed once and kept: parsing a PEM costs far more than
 * a signature check. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ripp/io.h"

#define PEM_MAX (1 << 20)

struct ripp_es256_key {
    gnutls_privkey_t priv; /* NULL for a public key */
    gnutls_pubkey_t pub;
};

int ripp_sha256(const void *data, size_t len, uint8_t out[32])
{
    if (!out || (!data && len)) return RIPP_ERR_INVAL;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data ? data : "", len, out) < 0) return RIPP_ERR_CRYPTO;
    return 0;
}

int ripp_sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t d[32];
    int rc = ripp_sha256(data, len, d);
    if (rc) return rc;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

bool ripp_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile uint8_t *x = a, *y = b;
    size_t n = alen > blen ? alen : blen;
    /* Fold the length difference in, then touch max(alen, blen) bytes whatever the data. */
    volatile uint8_t diff = 0;
    size_t ld = alen ^ blen;
    for (size_t k = 0; k < sizeof ld; k++)
        diff |= (uint8_t)(ld >> (8 * k));
    for (size_t i = 0; i < n; i++) {
        uint8_t u = i < alen ? x[i] : 0;
        uint8_t v = i < blen ? y[i] : 0;
        diff |= u ^ v;
    }
    return diff == 0;
}

static void set_err(char *errbuf, size_t errcap, const char *fmt, const char *a, const char *b)
{
    if (errbuf && errcap) snprintf(errbuf, errcap, fmt, a, b);
}

/* Reads a whole (small) file; *buf is freed by the caller. */
static int read_file(const char *path, gnutls_datum_t *out, char *errbuf, size_t errcap)
{
    int rc = RIPP_ERR_IO;
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(errbuf, errcap, "%s: %s", path, strerror(errno));
        return RIPP_ERR_IO;
    }
    unsigned char *buf = malloc(PEM_MAX + 1);
    if (!buf) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    size_t n = fread(buf, 1, PEM_MAX + 1, f);
    if (ferror(f)) {
        set_err(errbuf, errcap, "%s: %s", path, "read error");
        goto out;
    }
    if (n > PEM_MAX) {
        set_err(errbuf, errcap, "%s: %s", path, "file too large for a key");
        rc = RIPP_ERR_LIMIT;
        goto out;
    }
    buf[n] = '\0';
    out->data = buf;
    out->size = (unsigned)n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* Only P-256 keys make ES256 signatures. */
static int check_p256(gnutls_pubkey_t pub, const char *path, char *errbuf, size_t errcap)
{
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    int pk = gnutls_pubkey_get_pk_algorithm(pub, NULL);
    if (pk != GNUTLS_PK_ECDSA) {
        set_err(errbuf, errcap, "%s: %s key, ES256 needs an EC P-256 key", path,
                pk < 0 ? "unknown" : gnutls_pk_get_name((gnutls_pk_algorithm_t)pk));
        return RIPP_ERR_UNSUPPORTED;
    }
    if (gnutls_pubkey_export_ecc_raw2(pub, &curve, NULL, NULL, 0) < 0 ||
        curve != GNUTLS_ECC_CURVE_SECP256R1) {
        set_err(errbuf, errcap, "%s: EC curve %s, ES256 needs P-256", path,
                curve == GNUTLS_ECC_CURVE_INVALID ? "unknown" : gnutls_ecc_curve_get_name(curve));
        return RIPP_ERR_UNSUPPORTED;
    }
    return 0;
}

static bool has_label(const gnutls_datum_t *d, const char *label)
{
    return memmem(d->data, d->size, label, strlen(label)) != NULL;
}

static int load_private(ripp_es256_key *k, const gnutls_datum_t *pem, const char *path,
                        char *errbuf, size_t errcap)
{
    gnutls_x509_privkey_t x = NULL;
    int g = gnutls_x509_privkey_init(&x);
    if (g >= 0)
        g = gnutls_x509_privkey_import2(x, pem, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
    if (g < 0) {
        set_err(errbuf, errcap, "%s: private key: %s", path, gnutls_strerror(g));
        gnutls_x509_privkey_deinit(x);
        return g == GNUTLS_E_MEMORY_ERROR ? RIPP_ERR_NOMEM : RIPP_ERR_CRYPTO;
    }
    if ((g = gnutls_privkey_init(&k->priv)) < 0 ||
        (g = gnutls_privkey_import_x509(k->priv, x, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
        gnutls_x509_privkey_deinit(x);
        set_err(errbuf, errcap, "%s: private key: %s", path, gnutls_strerror(g));
        return RIPP_ERR_CRYPTO;
    }
    if ((g = gnutls_pubkey_init(&k->pub)) < 0 ||
        (g = gnutls_pubkey_import_privkey(k->pub, k->priv, 0, 0)) < 0) {
        set_err(errbuf, errcap, "%s: public part: %s", path, gnutls_strerror(g));
        return RIPP_ERR_CRYPTO;
    }
    return 0;
}

static int load_certificate(ripp_es256_key *k, const gnutls_datum_t *pem, const char *path,
                            char *errbuf, size_t errcap)
{
    gnutls_x509_crt_t crt = NULL;
    int g = gnutls_x509_crt_init(&crt);
    if (g >= 0) g = gnutls_x509_crt_import(crt, pem, GNUTLS_X509_FMT_PEM);
    if (g >= 0 && (g = gnutls_pubkey_init(&k->pub)) >= 0)
        g = gnutls_pubkey_import_x509(k->pub, crt, 0);
    gnutls_x509_crt_deinit(crt);
    if (g < 0) {
        set_err(errbuf, errcap, "%s: certificate: %s", path, gnutls_strerror(g));
        return RIPP_ERR_CRYPTO;
    }
    return 0;
}

ripp_es256_key *ripp_es256_load(const char *path, int *err, char *errbuf, size_t errcap)
{
    gnutls_datum_t pem = {NULL, 0};
    ripp_es256_key *k = NULL;
    int rc;
    if (errbuf && errcap) errbuf[0] = '\0';
    if (!path) {
        rc = RIPP_ERR_INVAL;
        set_err(errbuf, errcap, "%s%s", "no key file", "");
        goto out;
    }
    if ((rc = read_file(path, &pem, errbuf, errcap))) goto out;
    k = calloc(1, sizeof *k);
    if (!k) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    /* A file holding both a certificate and its key loads as the key. */
    if (has_label(&pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
        set_err(errbuf, errcap, "%s: %s", path, "encrypted private keys are not supported");
        rc = RIPP_ERR_UNSUPPORTED;
    } else if (has_label(&pem, "-----BEGIN PRIVATE KEY-----") ||
               has_label(&pem, "-----BEGIN EC PRIVATE KEY-----")) {
        rc = load_private(k, &pem, path, errbuf, errcap);
    } else if (has_label(&pem, "-----BEGIN PUBLIC KEY-----")) {
        int g = gnutls_pubkey_init(&k->pub);
        if (g >= 0) g = gnutls_pubkey_import(k->pub, &pem, GNUTLS_X509_FMT_PEM);
        if (g < 0) set_err(errbuf, errcap, "%s: public key: %s", path, gnutls_strerror(g));
        rc = g < 0 ? RIPP_ERR_CRYPTO : 0;
    } else if (has_label(&pem, "-----BEGIN CERTIFICATE-----")) {
        rc = load_certificate(k, &pem, path, errbuf, errcap);
    } else {
        set_err(errbuf, errcap, "%s: %s", path, "no PEM key or certificate found");
        rc = RIPP_ERR_CRYPTO;
    }
    if (!rc) rc = check_p256(k->pub, path, errbuf, errcap);
out:
    if (pem.data) {
        /* The buffer held private key material. */
        gnutls_memset(pem.data, 0, pem.size);
        free(pem.data);
    }
    if (rc) {
        ripp_es256_free(k);
        k = NULL;
        if (errbuf && errcap && !errbuf[0])
            set_err(errbuf, errcap, "%s: %s", path ? path : "", ripp_strerror(rc));
    }
    if (err) *err = rc;
    return k;
}

void ripp_es256_free(ripp_es256_key *k)
{
    if (!k) return;
    if (k->priv) gnutls_privkey_deinit(k->priv);
    if (k->pub) gnutls_pubkey_deinit(k->pub);
    free(k);
}

/* Copies a DER INTEGER's magnitude right-aligned into 32 bytes. */
static int put_scalar(const gnutls_datum_t *v, uint8_t out[32])
{
    const uint8_t *p = v->data;
    size_t n = v->size;
    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (n > 32) return RIPP_ERR_CRYPTO;
    memset(out, 0, 32 - n);
    if (n) memcpy(out + 32 - n, p, n);
    return 0;
}

int ripp_es256_sign(ripp_es256_key *k, const void *data, size_t len, uint8_t sig[64])
{
    if (!k || !k->priv || !sig || (!data && len) || len > UINT32_MAX) return RIPP_ERR_INVAL;
    gnutls_datum_t in = {(unsigned char *)(data ? data : ""), (unsigned)len};
    gnutls_datum_t der = {NULL, 0}, r = {NULL, 0}, s = {NULL, 0};
    int rc = RIPP_ERR_CRYPTO;
    int g = gnutls_privkey_sign_data2(k->priv, GNUTLS_SIGN_ECDSA_SHA256, 0, &in, &der);
    if (g < 0) {
        ripp_log(RIPP_LOG_ERROR, "es256: sign: %s", gnutls_strerror(g));
        goto out;
    }
    if (gnutls_decode_rs_value(&der, &r, &s) < 0) goto out;
    if (put_scalar(&r, sig) || put_scalar(&s, sig + 32)) goto out;
    rc = 0;
out:
    gnutls_free(der.data);
    gnutls_free(r.data);
    gnutls_free(s.data);
    return rc;
}

int ripp_es256_verify(ripp_es256_key *k, const void *data, size_t len, const uint8_t *sig,
                      size_t siglen)
{
    if (!k || !k->pub || (!data && len) || len > UINT32_MAX) return RIPP_ERR_INVAL;
    if (!sig || siglen != 64) return RIPP_ERR_AUTH;
    /* Leading zero bytes go: DER integers are minimal. A zero R or S is never valid. */
    size_t rz = 0, sz = 0;
    while (rz < 32 && sig[rz] == 0)
        rz++;
    while (sz < 32 && sig[32 + sz] == 0)
        sz++;
    if (rz == 32 || sz == 32) return RIPP_ERR_AUTH;
    gnutls_datum_t r = {(unsigned char *)sig + rz, (unsigned)(32 - rz)};
    gnutls_datum_t s = {(unsigned char *)sig + 32 + sz, (unsigned)(32 - sz)};
    gnutls_datum_t der = {NULL, 0};
    if (gnutls_encode_rs_value(&der, &r, &s) < 0) return RIPP_ERR_CRYPTO;
    gnutls_datum_t in = {(unsigned char *)(data ? data : ""), (unsigned)len};
    int g = gnutls_pubkey_verify_data2(k->pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &in, &der);
    gnutls_free(der.data);
    return g < 0 ? RIPP_ERR_AUTH : 0;
}

/* Writes data to path atomically (temporary file, then rename) with the given mode. */
static int write_file(const char *path, const gnutls_datum_t *d, mode_t mode)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return RIPP_ERR_NOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int rc = RIPP_ERR_IO;
    int fd = mkstemp(tmp); /* 0600 from the start: no window where the key is readable */
    if (fd < 0) {
        ripp_log(RIPP_LOG_ERROR, "es256: %s: %s", path, strerror(errno));
        free(tmp);
        return RIPP_ERR_IO;
    }
    if (fchmod(fd, mode) < 0) goto fail;
    for (size_t off = 0; off < d->size;) {
        ssize_t w = write(fd, d->data + off, d->size - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) goto fail;
    free(tmp);
    return 0;
fail:
    ripp_log(RIPP_LOG_ERROR, "es256: %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}

int ripp_es256_generate(const char *priv_path, const char *pub_path)
{
    if (!priv_path) return RIPP_ERR_INVAL;
    gnutls_x509_privkey_t x = NULL;
    gnutls_privkey_t priv = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t priv_pem = {NULL, 0}, pub_pem = {NULL, 0};
    int rc = RIPP_ERR_CRYPTO;
    int g = gnutls_x509_privkey_init(&x);
    if (g < 0) goto out;
    g = gnutls_x509_privkey_generate(x, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (g < 0) goto out;
    g = gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                          &priv_pem);
    if (g < 0) goto out;
    if (pub_path) {
        if ((g = gnutls_privkey_init(&priv)) < 0 ||
            (g = gnutls_privkey_import_x509(priv, x, 0)) < 0 ||
            (g = gnutls_pubkey_init(&pub)) < 0 ||
            (g = gnutls_pubkey_import_privkey(pub, priv, 0, 0)) < 0 ||
            (g = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &pub_pem)) < 0)
            goto out;
    }
    /* The public key first: a private key without its public half is the worse outcome. */
    if (pub_path && (rc = write_file(pub_path, &pub_pem, 0644))) goto out;
    rc = write_file(priv_path, &priv_pem, 0600);
out:
    if (g < 0) ripp_log(RIPP_LOG_ERROR, "es256: generate: %s", gnutls_strerror(g));
    if (priv_pem.data) {
        gnutls_memset(priv_pem.data, 0, priv_pem.size);
        gnutls_free(priv_pem.data);
    }
    gnutls_free(pub_pem.data);
    gnutls_pubkey_deinit(pub);
    gnutls_privkey_deinit(priv);
    gnutls_x509_privkey_deinit(x);
    return rc;
}
