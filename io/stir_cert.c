/* STI certificates with GnuTLS: loading and judging an x5u chain, issuing test certificates,
 * and the signer bound to one certificate. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "ripp/io.h"
#include "stir_internal.h"

#define FILE_MAX (256 * 1024)

__attribute__((format(printf, 3, 4))) static void say(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

/* ---- chain ---- */

static int cert_tnauth(gnutls_x509_crt_t crt, ripp_tnauth *t, bool *has)
{
    gnutls_datum_t d = {NULL, 0};
    unsigned crit = 0;
    *has = false;
    int g = gnutls_x509_crt_get_extension_by_oid2(crt, RIPP_TNAUTH_OID, 0, &d, &crit);
    if (g == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) return 0;
    if (g < 0) return RIPP_ERR_PROTO;
    int rc = ripp_tnauth_parse(d.data, d.size, t);
    gnutls_free(d.data);
    if (rc) return rc;
    *has = true;
    return 0;
}

static bool is_p256(gnutls_pubkey_t pub)
{
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    return gnutls_pubkey_get_pk_algorithm(pub, NULL) == GNUTLS_PK_ECDSA &&
           gnutls_pubkey_export_ecc_raw2(pub, &curve, NULL, NULL, 0) >= 0 &&
           curve == GNUTLS_ECC_CURVE_SECP256R1;
}

/* Imports a PEM list (or one DER certificate); *list is freed by the caller. */
static int import_chain(const uint8_t *data, size_t len, gnutls_x509_crt_t **list, unsigned *n,
                        char *why, size_t whycap)
{
    *list = NULL;
    *n = 0;
    if (!len || len > UINT32_MAX) {
        say(why, whycap, "x5u resource is empty or too large");
        return RIPP_ERR_PROTO;
    }
    gnutls_datum_t d = {(unsigned char *)data, (unsigned)len};
    int g;
    if (data[0] == 0x30) {
        gnutls_x509_crt_t one = NULL;
        if ((g = gnutls_x509_crt_init(&one)) < 0) return RIPP_ERR_NOMEM;
        if ((g = gnutls_x509_crt_import(one, &d, GNUTLS_X509_FMT_DER)) < 0) {
            gnutls_x509_crt_deinit(one);
            say(why, whycap, "x5u resource is not a certificate");
            return RIPP_ERR_PROTO;
        }
        *list = gnutls_malloc(sizeof **list);
        if (!*list) {
            gnutls_x509_crt_deinit(one);
            return RIPP_ERR_NOMEM;
        }
        (*list)[0] = one;
        *n = 1;
        return 0;
    }
    if (!memmem(data, len, "-----BEGIN CERTIFICATE-----", 27)) {
        say(why, whycap, "x5u resource holds no PEM certificate");
        return RIPP_ERR_PROTO;
    }
    g = gnutls_x509_crt_list_import2(list, n, &d, GNUTLS_X509_FMT_PEM, 0);
    if (g == GNUTLS_E_MEMORY_ERROR) return RIPP_ERR_NOMEM;
    if (g < 0 || *n == 0) {
        *list = NULL;
        *n = 0;
        say(why, whycap, "x5u certificate does not parse: %s", gnutls_strerror(g));
        return RIPP_ERR_PROTO;
    }
    if (*n > RIPP_STIR_CHAIN_MAX) {
        say(why, whycap, "x5u chain has more than %d certificates", RIPP_STIR_CHAIN_MAX);
        return RIPP_ERR_PROTO;
    }
    return 0;
}

static void free_chain(gnutls_x509_crt_t *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
}

static void judge(ripp_stir_cert *c, gnutls_x509_crt_t *list, unsigned n,
                  gnutls_x509_trust_list_t tl)
{
    c->not_before = INT64_MIN;
    c->not_after = INT64_MAX;
    for (unsigned i = 0; i < n; i++) {
        time_t a = gnutls_x509_crt_get_activation_time(list[i]);
        time_t e = gnutls_x509_crt_get_expiration_time(list[i]);
        if (a != (time_t)-1 && (int64_t)a > c->not_before) c->not_before = a;
        if (e != (time_t)-1 && (int64_t)e < c->not_after) c->not_after = e;
    }
    gnutls_pubkey_t pub = NULL;
    if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_x509(pub, list[0], 0) < 0 ||
        !is_p256(pub)) {
        gnutls_pubkey_deinit(pub);
        c->code = RIPP_PASSPORT_UNSUPPORTED;
        say(c->why, sizeof c->why, "certificate key is not EC P-256");
        return;
    }
    unsigned ku = 0, crit = 0;
    int g = gnutls_x509_crt_get_key_usage(list[0], &ku, &crit);
    if (g >= 0 && !(ku & GNUTLS_KEY_DIGITAL_SIGNATURE)) {
        gnutls_pubkey_deinit(pub);
        c->code = RIPP_PASSPORT_UNSUPPORTED;
        say(c->why, sizeof c->why, "certificate key is not for digital signatures");
        return;
    }
    c->pub = pub;
    if (!tl) {
        c->code = RIPP_PASSPORT_UNSUPPORTED;
        say(c->why, sizeof c->why, "no STIR trust anchors");
        return;
    }
    /* Validity periods are checked per verification against the (injectable) wall clock. */
    unsigned status = 0;
    g = gnutls_x509_trust_list_verify_crt2(tl, list, n, NULL, 0,
                                           GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                                               GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
                                           &status, NULL);
    if (g < 0 || status) {
        gnutls_datum_t txt = {NULL, 0};
        c->code = RIPP_PASSPORT_UNSUPPORTED;
        if (g >= 0 &&
            gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) >= 0)
            say(c->why, sizeof c->why, "certificate chain not trusted: %s", txt.data);
        else
            say(c->why, sizeof c->why, "certificate chain not trusted");
        gnutls_free(txt.data);
        return;
    }
    int rc = cert_tnauth(list[0], &c->tn, &c->has_tn);
    if (rc) {
        c->code = RIPP_PASSPORT_UNSUPPORTED;
        say(c->why, sizeof c->why, "malformed TNAuthList (%s)", ripp_strerror(rc));
        return;
    }
    c->code = 0;
}

int ripp_stir_cert_load(ripp_stir_cert *c, const uint8_t *data, size_t len,
                        gnutls_x509_trust_list_t tl)
{
    memset(c, 0, sizeof *c);
    gnutls_x509_crt_t *list = NULL;
    unsigned n = 0;
    int rc = import_chain(data, len, &list, &n, c->why, sizeof c->why);
    if (!rc) judge(c, list, n, tl);
    free_chain(list, n);
    return rc;
}

void ripp_stir_cert_free(ripp_stir_cert *c)
{
    if (!c) return;
    if (c->pub) gnutls_pubkey_deinit(c->pub);
    c->pub = NULL;
}

int ripp_stir_es256_check(gnutls_pubkey_t pub, const uint8_t *data, size_t len, const uint8_t *sig,
                          size_t siglen)
{
    if (!pub || !sig || siglen != 64 || len > UINT32_MAX) return RIPP_ERR_AUTH;
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
    gnutls_datum_t in = {(unsigned char *)(data ? data : (const uint8_t *)""), (unsigned)len};
    int g = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &in, &der);
    gnutls_free(der.data);
    return g < 0 ? RIPP_ERR_AUTH : 0;
}

/* ---- files ---- */

static int slurp(const char *path, gnutls_datum_t *out, char *errbuf, size_t errcap)
{
    out->data = NULL;
    out->size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        say(errbuf, errcap, "%s: %s", path, strerror(errno));
        return RIPP_ERR_IO;
    }
    unsigned char *buf = malloc(FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return RIPP_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, FILE_MAX + 1, f);
    bool bad = ferror(f) || n > FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        say(errbuf, errcap, "%s: unreadable or larger than %d bytes", path, FILE_MAX);
        return RIPP_ERR_IO;
    }
    buf[n] = '\0';
    out->data = buf;
    out->size = (unsigned)n;
    return 0;
}

static void wipe(gnutls_datum_t *d)
{
    if (d->data) {
        gnutls_memset(d->data, 0, d->size);
        free(d->data);
    }
    d->data = NULL;
    d->size = 0;
}

static int spill(const char *path, const void *a, size_t alen, const void *b, size_t blen, int mode,
                 char *errbuf, size_t errcap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        say(errbuf, errcap, "%s: %s", path, strerror(errno));
        return RIPP_ERR_IO;
    }
    const void *parts[2] = {a, b};
    size_t lens[2] = {alen, blen};
    for (int p = 0; p < 2; p++)
        for (size_t off = 0; off < lens[p];) {
            ssize_t w = write(fd, (const char *)parts[p] + off, lens[p] - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                say(errbuf, errcap, "%s: %s", path, strerror(errno));
                close(fd);
                return RIPP_ERR_IO;
            }
            off += (size_t)w;
        }
    if (close(fd) < 0) {
        say(errbuf, errcap, "%s: %s", path, strerror(errno));
        return RIPP_ERR_IO;
    }
    return 0;
}

/* ---- test certificates ---- */

typedef struct issuer {
    gnutls_x509_crt_t crt;
    gnutls_privkey_t key;
    gnutls_datum_t chain; /* its cert.pem */
    bool self_signed;
} issuer;

static void issuer_free(issuer *is)
{
    if (is->crt) gnutls_x509_crt_deinit(is->crt);
    if (is->key) gnutls_privkey_deinit(is->key);
    free(is->chain.data);
}

static int issuer_load(issuer *is, const char *dir, char *errbuf, size_t errcap)
{
    char path[1024];
    gnutls_datum_t key = {NULL, 0};
    gnutls_x509_privkey_t xk = NULL;
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    int rc = slurp(path, &is->chain, errbuf, errcap);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/key.pem", dir);
    if ((rc = slurp(path, &key, errbuf, errcap))) return rc;
    rc = RIPP_ERR_CRYPTO;
    int g;
    if ((g = gnutls_x509_crt_init(&is->crt)) < 0 ||
        (g = gnutls_x509_crt_import(is->crt, &is->chain, GNUTLS_X509_FMT_PEM)) < 0 ||
        (g = gnutls_x509_privkey_init(&xk)) < 0 ||
        (g = gnutls_x509_privkey_import2(xk, &key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN)) <
            0 ||
        (g = gnutls_privkey_init(&is->key)) < 0 ||
        (g = gnutls_privkey_import_x509(is->key, xk, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
        say(errbuf, errcap, "%s: issuer: %s", dir, gnutls_strerror(g));
        gnutls_x509_privkey_deinit(xk);
        goto out;
    }
    unsigned ca = 0;
    if (gnutls_x509_crt_get_basic_constraints(is->crt, NULL, &ca, NULL) < 0 || !ca) {
        say(errbuf, errcap, "%s: the issuer is not a CA certificate", dir);
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    is->self_signed = gnutls_x509_crt_check_issuer(is->crt, is->crt) != 0;
    rc = 0;
out:
    wipe(&key);
    return rc;
}

int ripp_sticert_make(const ripp_sticert_opts *o, const char *out_dir, char *errbuf, size_t errcap)
{
    if (!o || !out_dir || o->not_after <= o->not_before) {
        say(errbuf, errcap, "invalid certificate options");
        return RIPP_ERR_INVAL;
    }
    uint8_t ext[RIPP_TNAUTH_MAX_DER];
    int64_t extlen = 0;
    if (o->tnauth && o->tnauth->n) {
        extlen = ripp_tnauth_encode(o->tnauth, ext, sizeof ext);
        if (extlen < 0) {
            say(errbuf, errcap, "TNAuthList: %s", ripp_strerror((int)extlen));
            return (int)extlen;
        }
    }
    issuer is = {0};
    gnutls_x509_privkey_t xk = NULL;
    gnutls_privkey_t pk = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t keypem = {NULL, 0}, crtpem = {NULL, 0};
    int rc = 0, g = 0;
    if (o->issuer_dir && (rc = issuer_load(&is, o->issuer_dir, errbuf, errcap))) goto out;
    rc = RIPP_ERR_CRYPTO;
    uint8_t serial[16], kid[64];
    size_t kidlen = sizeof kid;
    const char *cn = o->cn ? o->cn : o->ca ? "ripp test STI CA" : "ripp test STI signer";
    if ((g = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial)) < 0) goto out;
    serial[0] = (serial[0] & 0x7f) | 0x01; /* positive and 16 bytes long */
    if ((g = gnutls_x509_privkey_init(&xk)) < 0 ||
        (g = gnutls_x509_privkey_generate(
             xk, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
        (g = gnutls_x509_privkey_export2_pkcs8(xk, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                               &keypem)) < 0 ||
        (g = gnutls_privkey_init(&pk)) < 0 || (g = gnutls_privkey_import_x509(pk, xk, 0)) < 0 ||
        (g = gnutls_x509_crt_init(&crt)) < 0 || (g = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (g = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) < 0 ||
        (g = gnutls_x509_crt_set_activation_time(crt, (time_t)o->not_before)) < 0 ||
        (g = gnutls_x509_crt_set_expiration_time(crt, (time_t)o->not_after)) < 0 ||
        (g = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                           (unsigned)strlen(cn))) < 0 ||
        (g = gnutls_x509_crt_set_key(crt, xk)) < 0 ||
        (g = gnutls_x509_crt_set_basic_constraints(crt, o->ca ? 1 : 0, -1)) < 0 ||
        (g = gnutls_x509_crt_set_key_usage(crt, o->ca
                                                    ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
                                                    : GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (g = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &kidlen)) < 0 ||
        (g = gnutls_x509_crt_set_subject_key_id(crt, kid, kidlen)) < 0)
        goto out;
    if (extlen > 0 && (g = gnutls_x509_crt_set_extension_by_oid(crt, RIPP_TNAUTH_OID, ext,
                                                                (size_t)extlen, 0)) < 0)
        goto out;
    if (is.crt) {
        kidlen = sizeof kid;
        if (gnutls_x509_crt_get_subject_key_id(is.crt, kid, &kidlen, NULL) >= 0 &&
            (g = gnutls_x509_crt_set_authority_key_id(crt, kid, kidlen)) < 0)
            goto out;
        g = gnutls_x509_crt_privkey_sign(crt, is.crt, is.key, GNUTLS_DIG_SHA256, 0);
    } else {
        g = gnutls_x509_crt_privkey_sign(crt, crt, pk, GNUTLS_DIG_SHA256, 0);
    }
    if (g < 0 || (g = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crtpem)) < 0) goto out;
    char path[1024];
    snprintf(path, sizeof path, "%s/key.pem", out_dir);
    if ((rc = spill(path, keypem.data, keypem.size, NULL, 0, 0600, errbuf, errcap))) goto out;
    snprintf(path, sizeof path, "%s/cert.pem", out_dir);
    bool chain = is.crt && !is.self_signed;
    rc = spill(path, crtpem.data, crtpem.size, chain ? is.chain.data : NULL,
               chain ? is.chain.size : 0, 0644, errbuf, errcap);
out:
    if (g < 0) {
        say(errbuf, errcap, "certificate: %s", gnutls_strerror(g));
        rc = g == GNUTLS_E_MEMORY_ERROR ? RIPP_ERR_NOMEM : RIPP_ERR_CRYPTO;
    }
    if (keypem.data) {
        gnutls_memset(keypem.data, 0, keypem.size);
        gnutls_free(keypem.data);
    }
    gnutls_free(crtpem.data);
    if (crt) gnutls_x509_crt_deinit(crt);
    if (pk) gnutls_privkey_deinit(pk);
    if (xk) gnutls_x509_privkey_deinit(xk);
    issuer_free(&is);
    return rc;
}

/* ---- signer ---- */

struct ripp_stir_signer {
    ripp_es256_key *key;
    char x5u[512];
    ripp_tnauth tn;
    bool has_tn;
};

static int sign_cb(void *ud, const uint8_t *data, size_t len, uint8_t sig[64])
{
    return ripp_es256_sign(ud, data, len, sig);
}

ripp_stir_signer *ripp_stir_signer_new(const char *cert_file, const char *key_file, const char *x5u,
                                       int *err, char *errbuf, size_t errcap)
{
    ripp_stir_signer *s = NULL;
    ripp_es256_key *cpub = NULL;
    gnutls_datum_t pem = {NULL, 0};
    gnutls_x509_crt_t *list = NULL;
    unsigned n = 0;
    int rc = RIPP_ERR_INVAL;
    if (errbuf && errcap) errbuf[0] = '\0';
    if (!cert_file || !key_file || !x5u || strncasecmp(x5u, "https://", 8) ||
        strlen(x5u) >= sizeof s->x5u) {
        say(errbuf, errcap, "a certificate, a key and an https x5u URL are required");
        goto out;
    }
    if (!(s = calloc(1, sizeof *s))) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    snprintf(s->x5u, sizeof s->x5u, "%s", x5u);
    if (!(s->key = ripp_es256_load(key_file, &rc, errbuf, errcap))) goto out;
    if (!(cpub = ripp_es256_load(cert_file, &rc, errbuf, errcap))) goto out;
    /* The key must be the certificate's: a signature by one checks with the other. */
    uint8_t sig[64];
    static const char probe[] = "ripp stir key check";
    if ((rc = ripp_es256_sign(s->key, probe, sizeof probe, sig))) goto out;
    if (ripp_es256_verify(cpub, probe, sizeof probe, sig, sizeof sig)) {
        say(errbuf, errcap, "%s: the key does not belong to %s", key_file, cert_file);
        rc = RIPP_ERR_AUTH;
        goto out;
    }
    if ((rc = slurp(cert_file, &pem, errbuf, errcap))) goto out;
    if ((rc = import_chain(pem.data, pem.size, &list, &n, errbuf, errcap))) goto out;
    if ((rc = cert_tnauth(list[0], &s->tn, &s->has_tn))) {
        say(errbuf, errcap, "%s: malformed TNAuthList", cert_file);
        goto out;
    }
out:
    free_chain(list, n);
    free(pem.data);
    ripp_es256_free(cpub);
    if (rc) {
        ripp_stir_signer_del(s);
        s = NULL;
        if (errbuf && errcap && !errbuf[0]) say(errbuf, errcap, "%s", ripp_strerror(rc));
    }
    if (err) *err = rc;
    return s;
}

void ripp_stir_signer_del(ripp_stir_signer *s)
{
    if (!s) return;
    ripp_es256_free(s->key);
    free(s);
}

static bool copy(char *dst, size_t cap, const char *src)
{
    if (!src || strlen(src) >= cap) return false;
    memcpy(dst, src, strlen(src) + 1);
    return true;
}

int64_t ripp_stir_sign(ripp_stir_signer *s, const ripp_stir_claims *c, char *out, size_t cap)
{
    if (!s || !c || !out || !cap) return RIPP_ERR_INVAL;
    ripp_passport pp;
    memset(&pp, 0, sizeof pp);
    if (!copy(pp.orig_tn, sizeof pp.orig_tn, c->orig_tn) ||
        !copy(pp.dest_tn, sizeof pp.dest_tn, c->dest_tn) ||
        !copy(pp.attest, sizeof pp.attest, c->attest) || !c->attest[0])
        return RIPP_ERR_INVAL;
    if (c->origid) {
        if (!copy(pp.origid, sizeof pp.origid, c->origid)) return RIPP_ERR_INVAL;
    } else {
        int rc = ripp_io_uuid4(pp.origid);
        if (rc) return rc;
    }
    if (s->has_tn && ripp_tnauth_covers(&s->tn, pp.orig_tn) == RIPP_TNAUTH_NOT_COVERED)
        return RIPP_ERR_AUTH;
    pp.iat = c->iat ? c->iat : (int64_t)(ripp_io_wall_us() / 1000000);
    memcpy(pp.x5u, s->x5u, sizeof pp.x5u);
    memcpy(pp.ppt, "shaken", 7);
    return ripp_passport_sign(&pp, sign_cb, s->key, out, cap);
}
