/* oauth.h - the sans-IO parts of OAuth 2.0 trunk provisioning (SPEC §6.2, RFC 6749, RFC 7636,
 * RFC 7009): form and query parsing, PKCE S256 checks, redirect building with the ripp-trunk
 * parameter (D32), HTTP Basic client credentials, HTML escaping, password-hash strings and a
 * login failure throttle. Hashing and randomness stay with the caller: functions that need a
 * SHA-256 or PBKDF2 result take it as a parameter. */
#ifndef RIPP_OAUTH_H
#define RIPP_OAUTH_H

#include "ripp/problem.h"
#include "ripp/ripp.h"

/* ---- application/x-www-form-urlencoded (bodies and query strings) ---- */

#define RIPP_FORM_MAX_BYTES (16 * 1024) /* input longer than this is RIPP_ERR_LIMIT */
#define RIPP_FORM_MAX_PARAMS 32

typedef struct ripp_form {
    size_t n;
    const char *name[RIPP_FORM_MAX_PARAMS];  /* decoded, NUL-terminated, inside buf */
    const char *value[RIPP_FORM_MAX_PARAMS]; /* decoded, NUL-terminated, inside buf */
    char buf[RIPP_FORM_MAX_BYTES + RIPP_FORM_MAX_PARAMS * 2];
} ripp_form;

/* Parse len bytes (not necessarily NUL-terminated): '&'-separated name=value pairs,
 * percent-decoded, '+' is a space; empty segments are skipped; a pair without '=' has the
 * value "". Returns 0; RIPP_ERR_PROTO for a bad %-escape, a decoded NUL, or a name given
 * twice (RFC 6749 §3.1: parameters MUST NOT repeat); RIPP_ERR_LIMIT for input over
 * RIPP_FORM_MAX_BYTES or more than RIPP_FORM_MAX_PARAMS pairs; RIPP_ERR_INVAL for NULL.
 * f stays empty (n = 0) on failure. */
int ripp_form_parse(ripp_form *f, const char *in, size_t len);
/* The value of name, or NULL when absent. Valid as long as f. */
const char *ripp_form_get(const ripp_form *f, const char *name);

/* Append "name=value" (with a leading '&' unless *len is 0), percent-encoding both (only
 * RFC 3986 unreserved characters stay as they are). out is kept NUL-terminated. Returns 0
 * or RIPP_ERR_LIMIT (out unchanged). */
int ripp_form_append(char *out, size_t cap, size_t *len, const char *name, const char *value);

/* ---- PKCE (RFC 7636) ---- */

/* A code_verifier: 43..128 characters of [A-Za-z0-9-._~]. */
bool ripp_pkce_verifier_valid(const char *verifier);
/* An S256 code_challenge: exactly 43 base64url characters. */
bool ripp_pkce_challenge_valid(const char *challenge);
/* The S256 challenge of a verifier from SHA-256(verifier): base64url without padding
 * (43 characters + NUL). */
void ripp_pkce_s256(const uint8_t verifier_sha256[32], char out[44]);
/* 0 when the verifier is well formed and its S256 challenge equals challenge (compared in
 * constant time); RIPP_ERR_PROTO for a malformed verifier; RIPP_ERR_AUTH on a mismatch. */
int ripp_pkce_check(const char *verifier, const uint8_t verifier_sha256[32], const char *challenge);

/* ---- redirects (RFC 6749 §4.1.2, SPEC §6.2 ripp-trunk) ---- */

/* A redirect URI clients may register: absolute https (or http to a loopback host, RFC 8252
 * §7.3), with an authority, no fragment, no whitespace or control characters, < 1024 bytes. */
bool ripp_oauth_redirect_uri_valid(const char *uri);
/* redirect_uri with the authorization response appended to its query: code, state (when
 * not NULL or empty) and ripp-trunk = base64url without padding of trunk_uri (D32). Returns
 * the length, or RIPP_ERR_LIMIT / RIPP_ERR_INVAL. */
int64_t ripp_oauth_code_redirect(char *out, size_t cap, const char *redirect_uri, const char *code,
                                 const char *state, const char *trunk_uri);
/* redirect_uri with an error response (RFC 6749 §4.1.2.1): error, error_description (when
 * given) and state (when given). */
int64_t ripp_oauth_error_redirect(char *out, size_t cap, const char *redirect_uri,
                                  const char *error, const char *description, const char *state);
/* Decode a ripp-trunk value (base64 of either alphabet, padded or not, D32) into a trunk URI
 * and check it (ripp_trunk_uri_valid). Returns the length, RIPP_ERR_PROTO (not base64, not a
 * valid trunk URI) or RIPP_ERR_LIMIT. */
int64_t ripp_oauth_trunk_decode(const char *value, char *out, size_t cap);
/* A trunk URI (SPEC §2.1): https://authority/path, non-empty path, no query ("no URI
 * parameters"), no fragment, printable ASCII without spaces, < 1024 bytes. */
bool ripp_trunk_uri_valid(const char *uri);

/* ---- client authentication (RFC 6749 §2.3.1) ---- */

/* Parse "Basic base64(urlencode(id):urlencode(secret))". Returns 0; RIPP_ERR_PROTO when the
 * scheme is not Basic or the value is malformed; RIPP_ERR_LIMIT when a part does not fit. */
int ripp_oauth_basic_parse(const char *authorization, char *id, size_t idcap, char *secret,
                           size_t secretcap);
/* The reverse: out gets "Basic ..." for id and secret. Returns the length or an error. */
int64_t ripp_oauth_basic_format(const char *id, const char *secret, char *out, size_t cap);

/* ---- error bodies ---- */

/* application/problem+json of p that also carries RFC 6749 §5.2 `error` and
 * `error_description` (= p->detail), so that OAuth clients can read it. Returns the length
 * (NUL-terminated) or RIPP_ERR_LIMIT / RIPP_ERR_NOMEM / RIPP_ERR_INVAL. */
int64_t ripp_oauth_problem_encode(const ripp_problem *p, const char *error, char *out, size_t cap);

/* ---- HTML ---- */

/* Escape & < > " ' for text and attribute values. Returns the length or RIPP_ERR_LIMIT. */
int64_t ripp_html_escape(const char *in, char *out, size_t cap);

/* ---- password hashes ---- */

/* "pbkdf2-sha256$ITERATIONS$SALT$HASH" with SALT (8..64 bytes) and HASH (32 bytes) in
 * base64url without padding. */
#define RIPP_PWHASH_SCHEME "pbkdf2-sha256"
#define RIPP_PWHASH_MIN_ITER 10000
typedef struct ripp_pwhash {
    unsigned iterations;
    uint8_t salt[64];
    size_t salt_len;
    uint8_t hash[32];
} ripp_pwhash;
/* Returns 0 or RIPP_ERR_PROTO (unknown scheme, iterations < RIPP_PWHASH_MIN_ITER or over
 * 10^7, bad encoding or sizes). */
int ripp_pwhash_parse(const char *s, ripp_pwhash *out);
int64_t ripp_pwhash_format(const ripp_pwhash *h, char *out, size_t cap);

/* ---- login throttle ---- */

/* Per-account failures: after RIPP_LOGIN_FREE_FAILURES in a row, every further failure
 * locks the account for 2^(k-1) s (k = failures beyond the free ones), at most
 * RIPP_LOGIN_MAX_LOCK_S; a success clears it. Times are wall-clock ms. */
#define RIPP_LOGIN_FREE_FAILURES 5
#define RIPP_LOGIN_MAX_LOCK_S 300
typedef struct ripp_login_throttle {
    int failures;
    int64_t locked_until_ms;
} ripp_login_throttle;
/* 0 when a login may be tried at now_ms, else the seconds to wait (>= 1). */
int ripp_login_wait_s(const ripp_login_throttle *t, int64_t now_ms);
void ripp_login_failed(ripp_login_throttle *t, int64_t now_ms);
void ripp_login_succeeded(ripp_login_throttle *t);

#endif
