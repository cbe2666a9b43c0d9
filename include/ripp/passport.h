/* passport.h - STIR PASSporT (RFC 8225) in an RFC 8224 Identity header, full form only
 * (SPEC §6.4, D27). Signing and verification come in through callbacks, so this module
 * has no crypto of its own: the callbacks do ES256 over the JWS signing input and use the
 * raw 64-byte R||S signature form of JWS.
 *
 * Identity value: <b64url header>.<b64url claims>.<b64url
 * signature>;info=<x5u>[;alg=ES256][;ppt=shaken] JWS header (keys sorted):
 * {"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"..."} Claims (keys sorted):
 * {"attest":"A","dest":{"tn":["..."]},"iat":N,"orig":{"tn":"..."},"origid":"..."} */
#ifndef RIPP_PASSPORT_H
#define RIPP_PASSPORT_H

#include "ripp/ripp.h"

#define RIPP_IDENTITY_MAX 4096

typedef struct ripp_passport {
    char orig_tn[64];
    char dest_tn[64]; /* the first dest.tn */
    int64_t iat;      /* seconds since the epoch */
    char x5u[512];    /* certificate URL (also the info parameter) */
    char ppt[16];     /* "shaken" or "" */
    char attest[4];   /* "A"/"B"/"C" or "" */
    char origid[64];  /* or "" */
} ripp_passport;

typedef int (*ripp_sign_fn)(void *ud, const uint8_t *data, size_t len, uint8_t sig[64]);
/* Returns 0 when the signature is valid, RIPP_ERR_AUTH when not. */
typedef int (*ripp_verify_fn)(void *ud, const uint8_t *data, size_t len, const uint8_t *sig,
                              size_t siglen);

/* Build and sign. orig_tn, dest_tn and x5u are required; every field is printable ASCII,
 * x5u is an absolute URI without whitespace, '<', '>', ';' or '"', ppt is a token, attest is "",
 * "A", "B" or "C" (else RIPP_ERR_INVAL). Returns the value length (NUL-terminated in out; at most
 * RIPP_IDENTITY_MAX), RIPP_ERR_LIMIT when it does not fit cap, RIPP_ERR_NOMEM, or the
 * error of sign (a positive one becomes RIPP_ERR_CRYPTO). On failure out is "". */
int64_t ripp_passport_sign(const ripp_passport *pp, ripp_sign_fn sign, void *ud, char *out,
                           size_t cap);

/* The SIP-equivalent code of a verification failure (SPEC §6.4 step 8). */
enum ripp_passport_fail {
    RIPP_PASSPORT_OK = 0,
    RIPP_PASSPORT_MISSING = 428,     /* no Identity header */
    RIPP_PASSPORT_BAD_INFO = 436,    /* info/x5u missing or malformed */
    RIPP_PASSPORT_UNSUPPORTED = 437, /* alg not ES256, typ not passport */
    RIPP_PASSPORT_INVALID = 438,     /* malformed, compact form, bad claims, bad signature */
};

/* Parse and verify. identity is len bytes, not necessarily NUL-terminated; out, fail and
 * why may be NULL. The info parameter may be written with or without angle brackets; if
 * the header has no x5u, info stands for it; if both are present they must be equal; it
 * must be an absolute URI without whitespace, '<', '>', ';' or '"' (else 436).
 * dest.tn may be an array (the first is kept) or a single string. Freshness (iat), the
 * certificate behind x5u and dest.tn against the target are the caller's checks.
 * On success fills out, sets *fail to RIPP_PASSPORT_OK and returns 0. On failure returns
 * RIPP_ERR_PROTO (malformed; also no value: 428), RIPP_ERR_UNSUPPORTED (437),
 * RIPP_ERR_AUTH (the signature), RIPP_ERR_LIMIT (longer than RIPP_IDENTITY_MAX) or
 * RIPP_ERR_INVAL (no verify), sets *fail and a reason in why; out is untouched. */
int ripp_passport_verify(const char *identity, size_t len, ripp_verify_fn verify, void *ud,
                         ripp_passport *out, enum ripp_passport_fail *fail, char *why,
                         size_t whycap);

/* Parse without checking the signature: every check of ripp_passport_verify except the
 * signature itself (whose form, 64 bytes of base64url, is still checked). For learning x5u
 * before the certificate is at hand; what it returns is unauthenticated until the value has
 * been verified. Same results as ripp_passport_verify, without RIPP_ERR_AUTH and
 * RIPP_ERR_INVAL. */
int ripp_passport_parse(const char *identity, size_t len, ripp_passport *out,
                        enum ripp_passport_fail *fail, char *why, size_t whycap);

/* base64url without padding. encode returns the length (NUL-terminated) or RIPP_ERR_LIMIT;
 * decode accepts both alphabets, padded or not, and returns the byte count or
 * RIPP_ERR_PROTO / RIPP_ERR_LIMIT. */
int64_t ripp_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int64_t ripp_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
