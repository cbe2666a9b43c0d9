/* Shared between io/stir_cert.c and io/stir_verify.c; not part of the public API. */
#ifndef RIPP_STIR_INTERNAL_H
#define RIPP_STIR_INTERNAL_H

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "ripp/stir.h"

#define RIPP_STIR_CHAIN_MAX 8 /* certificates in one x5u resource */

/* What the verifier keeps of a certificate chain (the leaf first). */
typedef struct ripp_stir_cert {
    gnutls_pubkey_t pub; /* the leaf's P-256 key; NULL when code says why not */
    ripp_tnauth tn;
    bool has_tn;
    int64_t not_before; /* the latest activation time of the chain, Unix seconds */
    int64_t not_after;  /* the earliest expiration time of the chain */
    int code;           /* chain verdict: 0 or 437 (untrusted, bad key, bad TNAuthList) */
    char why[128];
} ripp_stir_cert;

/* Parse data (PEM chain or one DER certificate) and judge it against tl (NULL: no anchors,
 * every chain is untrusted). Returns 0 with c filled (its verdict in c->code), or
 * RIPP_ERR_PROTO (not a certificate, or more than RIPP_STIR_CHAIN_MAX; c->why says which),
 * RIPP_ERR_NOMEM. c is freed with ripp_stir_cert_free in every case. */
int ripp_stir_cert_load(ripp_stir_cert *c, const uint8_t *data, size_t len,
                        gnutls_x509_trust_list_t tl);
void ripp_stir_cert_free(ripp_stir_cert *c);

/* ES256 over data with a raw R||S signature. 0 when valid, RIPP_ERR_AUTH when not. */
int ripp_stir_es256_check(gnutls_pubkey_t pub, const uint8_t *data, size_t len, const uint8_t *sig,
                          size_t siglen);

#endif
