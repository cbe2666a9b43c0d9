/* stir.h - STIR/SHAKEN verified caller ID (SPEC §6.4; RFC 8224, 8225, 8226, 8588):
 * TNAuthList, test STI certificates, a PASSporT signer bound to a certificate, and an
 * asynchronous verifier that fetches x5u certificates over HTTPS, caches them, validates
 * their chain against STIR trust anchors and checks TNAuthList coverage, the signature,
 * freshness and the destination.
 *
 * Everything runs on one libuv loop thread. GnuTLS does all X.509 and signature work;
 * libtasn1 does the TNAuthList DER. Reasons written into results never hold key material
 * or tokens. Only apps and io/ include this. */
#ifndef RIPP_STIR_H
#define RIPP_STIR_H

#include <uv.h>

#include "ripp/passport.h"
#include "ripp/xchg.h"

/* ---- TNAuthList (RFC 8226 §9): certificate extension id-pe-TNAuthList ---- */

#define RIPP_TNAUTH_OID "1.3.6.1.5.5.7.1.26"
#define RIPP_TNAUTH_MAX_ENTRIES 32 /* a longer list is refused (RIPP_ERR_LIMIT) */
#define RIPP_TNAUTH_MAX_DER 16384  /* larger extension values are refused */
#define RIPP_TN_MAX 15             /* TelephoneNumber: 1..15 of "0123456789#*" */
#define RIPP_SPC_MAX 32            /* ServiceProviderCode: 1..32 printable ASCII (our cap) */

enum ripp_tnauth_kind {
    RIPP_TNAUTH_SPC = 0,   /* spc [0] ServiceProviderCode */
    RIPP_TNAUTH_RANGE = 1, /* range [1] TelephoneNumberRange { start, count } */
    RIPP_TNAUTH_ONE = 2,   /* one [2] TelephoneNumber */
};

typedef struct ripp_tnauth_entry {
    enum ripp_tnauth_kind kind;
    char value[RIPP_SPC_MAX + 1]; /* the SPC, the range start or the one TN; NUL-terminated */
    uint64_t count;               /* range only: 1 .. 10^15 numbers from start on */
} ripp_tnauth_entry;

typedef struct ripp_tnauth {
    size_t n; /* 1 .. RIPP_TNAUTH_MAX_ENTRIES after a successful parse */
    ripp_tnauth_entry e[RIPP_TNAUTH_MAX_ENTRIES];
} ripp_tnauth;

/* Parse the DER value of the extension (EXPLICIT tags, as in RFC 8226's module), strict DER,
 * no trailing bytes. Returns 0 and fills out, RIPP_ERR_PROTO (malformed, empty list, a TN or
 * SPC outside its alphabet or size, a range start that is not digits only, a count < 1 or
 * > 10^15), RIPP_ERR_LIMIT (more than
 * RIPP_TNAUTH_MAX_ENTRIES entries or RIPP_TNAUTH_MAX_DER bytes) or RIPP_ERR_NOMEM. out is
 * unspecified on failure. */
int ripp_tnauth_parse(const uint8_t *der, size_t len, ripp_tnauth *out);

/* Encode to DER. Returns the length, RIPP_ERR_INVAL (an entry that parse would refuse, or
 * n == 0), RIPP_ERR_LIMIT (cap too small) or RIPP_ERR_NOMEM. */
int64_t ripp_tnauth_encode(const ripp_tnauth *t, uint8_t *out, size_t cap);

enum ripp_tnauth_cover {
    RIPP_TNAUTH_NOT_COVERED = 0, /* the list has TN entries and none holds tn */
    RIPP_TNAUTH_COVERED = 1,     /* a one entry equals tn, or a range holds it */
    RIPP_TNAUTH_SPC_ONLY = 2,    /* only SPC entries: coverage is not decidable locally */
};

/* Does the list cover tn? A leading '+' of tn is ignored. A range covers the numbers of
 * start's length from start to start + count - 1 (digits only). A tn that is not 1..15 of
 * "0123456789#*" is never covered. */
enum ripp_tnauth_cover ripp_tnauth_covers(const ripp_tnauth *t, const char *tn);

/* ---- test STI certificates ---- */

/* A directory made by ripp_sticert_make holds key.pem (P-256 private key, PKCS#8, mode 0600)
 * and cert.pem: its certificate followed by the issuer's chain without the self-signed root
 * (so a leaf's cert.pem is what an x5u URL serves, and a root's cert.pem is a trust anchor
 * file). */
typedef struct ripp_sticert_opts {
    const char *issuer_dir;    /* the issuing CA's directory; NULL: self-signed */
    bool ca;                   /* a CA certificate (basicConstraints CA, keyCertSign) */
    const char *cn;            /* subject common name; NULL: a default */
    const ripp_tnauth *tnauth; /* NULL (or n == 0): no TNAuthList extension */
    int64_t not_before;        /* Unix seconds */
    int64_t not_after;         /* Unix seconds */
} ripp_sticert_opts;

/* Make a P-256 key and a certificate (SHA-256 signature, random serial, subject and
 * authority key identifiers) and write them into out_dir (which must exist). Returns 0,
 * RIPP_ERR_INVAL, RIPP_ERR_IO (files; errbuf says which), RIPP_ERR_CRYPTO or RIPP_ERR_NOMEM. */
int ripp_sticert_make(const ripp_sticert_opts *o, const char *out_dir, char *errbuf, size_t errcap);

/* ---- signing (authentication service) ---- */

typedef struct ripp_stir_signer ripp_stir_signer;

/* A signer for one certificate: cert_file (PEM, the leaf first; the chain after it is
 * ignored), key_file (its P-256 private key) and x5u, the https URL where verifiers fetch
 * cert_file. Refuses (NULL, *err, errbuf) a key that does not match the certificate
 * (RIPP_ERR_AUTH), a non-P-256 key (RIPP_ERR_UNSUPPORTED), an x5u that is not an https URL
 * (RIPP_ERR_INVAL) and unreadable files (RIPP_ERR_IO, RIPP_ERR_CRYPTO). */
ripp_stir_signer *ripp_stir_signer_new(const char *cert_file, const char *key_file, const char *x5u,
                                       int *err, char *errbuf, size_t errcap);
void ripp_stir_signer_del(ripp_stir_signer *s); /* NULL is ignored */

typedef struct ripp_stir_claims {
    const char *orig_tn; /* required: the caller's digits */
    const char *dest_tn; /* required: the callee's digits (sent as a one-element array) */
    const char *attest;  /* required: "A", "B" or "C" */
    const char *origid;  /* NULL: a fresh random UUID */
    int64_t iat;         /* 0: now (wall clock) */
} ripp_stir_claims;

/* Build and sign a SHAKEN PASSporT ({"alg":"ES256","ppt":"shaken","typ":"passport","x5u":…},
 * claims attest, dest.tn [..], iat, orig.tn, origid; sorted keys, compact JSON) and write the
 * Identity value "<jws>;info=<x5u>;alg=ES256;ppt=shaken" into out. Returns its length,
 * RIPP_ERR_INVAL (bad claims), RIPP_ERR_AUTH (the certificate's TNAuthList lists numbers and
 * orig_tn is not among them: every verifier would refuse it), RIPP_ERR_LIMIT (cap) or
 * RIPP_ERR_CRYPTO. */
int64_t ripp_stir_sign(ripp_stir_signer *s, const ripp_stir_claims *c, char *out, size_t cap);

/* ---- verification (verification service) ---- */

typedef struct ripp_stir_config {
    const char *ca_file;       /* STIR trust anchors (PEM, one or more); required */
    ripp_ts fetch_timeout;     /* x5u fetch, connect included; default 2 s */
    size_t max_body;           /* x5u response body cap; default 64 KiB */
    size_t cache_entries;      /* certificates cached by URL; default 1024 */
    uint32_t cache_min_ttl_s;  /* Cache-Control max-age is clamped into [min, max]; */
    uint32_t cache_max_ttl_s;  /* no-store / no-cache count as 0 (so min applies). */
    uint32_t cache_ttl_s;      /* without max-age. Defaults 60 s, 86400 s, 3600 s */
    unsigned breaker_failures; /* consecutive failed fetches that open a host's breaker; 3 */
    ripp_ts breaker_cooldown;  /* open time before one probe is let through; default 30 s */
    int64_t iat_window_s;      /* |now - iat| allowed; default 60 */
    /* Clocks, injectable for tests. wall_us: Unix µs (iat, certificate validity);
     * mono_ns: monotonic ns (cache TTL, breaker). NULL: ripp_io_wall_us / ripp_io_now. */
    uint64_t (*wall_us)(void *ud);
    ripp_ts (*mono_ns)(void *ud);
    void *clock_ud;
} ripp_stir_config;

typedef struct ripp_stir_verifier ripp_stir_verifier;

/* One verifier per process. http fetches the x5u certificates (borrowed: it must outlive
 * the verifier; NULL: only certificates put with ripp_stir_cache_put are known, others fail
 * with 436); loop runs its timers. NULL and *err (errbuf: reason) when the trust anchors
 * cannot be loaded (RIPP_ERR_IO, RIPP_ERR_CRYPTO) or cfg is invalid (RIPP_ERR_INVAL). */
ripp_stir_verifier *ripp_stir_verifier_new(uv_loop_t *loop, ripp_http_client *http,
                                           const ripp_stir_config *cfg, int *err, char *errbuf,
                                           size_t errcap);
/* Pending verifications are dropped without their callback (their ripp_stir_req handles
 * become invalid: do not cancel them afterwards); fetches in flight are reset.
 * The memory is released once the loop has run the handles' close callbacks. May be called
 * from a done callback. NULL is ignored. */
void ripp_stir_verifier_del(ripp_stir_verifier *v);

/* The verdict. code is the SIP-equivalent of SPEC §6.4 step 8:
 *   0   valid;
 *   428 no Identity value;
 *   436 bad identity info: x5u not https, fetch failed, timed out, too large, not a
 *       certificate, or its host's breaker is open;
 *   437 unsupported credential: ppt not shaken, alg not ES256, typ not passport, the chain
 *       does not lead to a trust anchor, a certificate of the chain outside its validity
 *       period, a leaf key that is not P-256 or not for signing, no TNAuthList;
 *   438 invalid: malformed or compact form, missing attest/origid, TNAuthList not covering
 *       orig.tn, bad signature, iat outside the window, dest.tn not the target. */
typedef struct ripp_stir_result {
    bool ok;
    int code;
    char reason[160];
    char orig_tn[64]; /* from the PASSporT (authenticated only when ok) */
    char dest_tn[64];
    char attest[4];
    char origid[64];
    char x5u[512];
    int64_t iat;
    /* ok with tn_checked false: the certificate lists only service provider codes, so the
     * coverage of orig.tn was not decided here (the SHAKEN practice: accepted, with the
     * attestation recorded); spc is the first one. */
    bool tn_checked;
    char spc[RIPP_SPC_MAX + 1];
} ripp_stir_result;

typedef struct ripp_stir_req ripp_stir_req;
/* r is valid during the call only. The request is freed after it returns. */
typedef void (*ripp_stir_done_fn)(void *ud, const ripp_stir_result *r);

/* Verify identity (len bytes, not necessarily NUL-terminated; NULL or empty: 428) for a call
 * whose target is target_tn (digits; a leading '+' is ignored on both sides). done is always
 * called later from the loop, never from inside this call, exactly once unless the request
 * is cancelled or the verifier deleted first. *req (may be NULL) receives a handle for
 * ripp_stir_cancel, valid until done starts. Returns 0, RIPP_ERR_INVAL or RIPP_ERR_NOMEM
 * (no callback then). */
int ripp_stir_verify(ripp_stir_verifier *v, const char *identity, size_t len, const char *target_tn,
                     ripp_stir_done_fn done, void *ud, ripp_stir_req **req);
/* The request went away first: done will not be called. A fetch shared with other
 * requests goes on for them (and fills the cache). Not after done has started. */
void ripp_stir_cancel(ripp_stir_req *req);

/* Put a certificate chain (PEM, or one DER certificate) into the cache under x5u, pinned:
 * never expired or evicted. For certificates known out of band (a local file). Returns 0,
 * RIPP_ERR_PROTO (not a certificate), RIPP_ERR_INVAL or RIPP_ERR_NOMEM. The chain is
 * validated like a fetched one when used. */
int ripp_stir_cache_put(ripp_stir_verifier *v, const char *x5u, const uint8_t *data, size_t len);

typedef struct ripp_stir_stats {
    uint64_t verifications; /* ripp_stir_verify calls accepted */
    uint64_t fetches;       /* HTTP requests started */
    uint64_t fetch_failures;
    uint64_t cache_hits;
    uint64_t shared; /* requests that joined a fetch already in flight */
    uint64_t breaker_opens;
    uint64_t breaker_fast_fails;
    size_t cached;   /* entries now */
    size_t inflight; /* fetches now */
} ripp_stir_stats;
void ripp_stir_verifier_stats(const ripp_stir_verifier *v, ripp_stir_stats *out);

/* Cache-Control value → TTL in seconds, clamped into [min_s, max_s]; def_s when it has no
 * max-age (or value is NULL). Exposed for tests and the fuzzer. */
uint32_t ripp_stir_cache_ttl(const char *value, uint32_t def_s, uint32_t min_s, uint32_t max_s);

#endif
