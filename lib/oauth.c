/* Sans-IO parts of OAuth 2.0 trunk provisioning: forms, PKCE, redirects, client credentials,
 * error bodies, HTML escaping, password-hash strings and the login throttle. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ripp/oauth.h"
#include "ripp/passport.h"

/* ---- forms ---- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decodes in[0..len) into out (room for len + 1 is guaranteed by the caller). */
static int pct_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)in[i];
        if (ch == '%') {
            if (i + 2 >= len) return RIPP_ERR_PROTO;
            int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
            if (h < 0 || l < 0) return RIPP_ERR_PROTO;
            ch = h * 16 + l;
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (ch == 0) return RIPP_ERR_PROTO;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

int ripp_form_parse(ripp_form *f, const char *in, size_t len)
{
    if (!f || (!in && len)) return RIPP_ERR_INVAL;
    f->n = 0;
    if (len > RIPP_FORM_MAX_BYTES) return RIPP_ERR_LIMIT;
    size_t used = 0, pos = 0;
    int rc = 0;
    while (pos < len) {
        const char *seg = in + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seglen = amp ? (size_t)(amp - seg) : len - pos;
        pos += seglen + 1;
        if (!seglen) continue;
        if (f->n == RIPP_FORM_MAX_PARAMS) {
            rc = RIPP_ERR_LIMIT;
            break;
        }
        const char *eq = memchr(seg, '=', seglen);
        size_t nl = eq ? (size_t)(eq - seg) : seglen;
        size_t vl = eq ? seglen - nl - 1 : 0;
        char *name = f->buf + used;
        if ((rc = pct_decode(seg, nl, name)) < 0) break;
        used += strlen(name) + 1;
        char *value = f->buf + used;
        if ((rc = pct_decode(eq ? eq + 1 : "", vl, value)) < 0) break;
        used += strlen(value) + 1;
        for (size_t k = 0; k < f->n; k++)
            if (strcmp(f->name[k], name) == 0) rc = RIPP_ERR_PROTO;
        if (rc) break;
        f->name[f->n] = name;
        f->value[f->n] = value;
        f->n++;
    }
    if (rc) f->n = 0;
    return rc;
}

const char *ripp_form_get(const ripp_form *f, const char *name)
{
    if (!f || !name) return NULL;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0) return f->value[i];
    return NULL;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Percent-encodes s at out + *len; false when it does not fit (nothing is promised then). */
static bool pct_encode(char *out, size_t cap, size_t *len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = *len;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c)) {
            if (o + 1 >= cap) return false;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= cap) return false;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    *len = o;
    return true;
}

int ripp_form_append(char *out, size_t cap, size_t *len, const char *name, const char *value)
{
    if (!out || !len || !name || !value || *len >= cap) return RIPP_ERR_INVAL;
    size_t o = *len;
    if (o) {
        if (o + 1 >= cap) return RIPP_ERR_LIMIT;
        out[o++] = '&';
    }
    if (!pct_encode(out, cap, &o, name) || o + 1 >= cap) goto limit;
    out[o++] = '=';
    if (!pct_encode(out, cap, &o, value)) goto limit;
    out[o] = '\0';
    *len = o;
    return 0;
limit:
    out[*len] = '\0';
    return RIPP_ERR_LIMIT;
}

/* ---- PKCE ---- */

bool ripp_pkce_verifier_valid(const char *v)
{
    if (!v) return false;
    size_t n = strlen(v);
    if (n < 43 || n > 128) return false;
    for (size_t i = 0; i < n; i++)
        if (!unreserved((unsigned char)v[i])) return false;
    return true;
}

bool ripp_pkce_challenge_valid(const char *c)
{
    if (!c || strlen(c) != 43) return false;
    for (size_t i = 0; i < 43; i++) {
        unsigned char ch = (unsigned char)c[i];
        if (!unreserved(ch) || ch == '.' || ch == '~') return false;
    }
    return true;
}

void ripp_pkce_s256(const uint8_t sha[32], char out[44])
{
    ripp_b64url_encode(sha, 32, out, 44);
}

static bool ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int ripp_pkce_check(const char *verifier, const uint8_t sha[32], const char *challenge)
{
    if (!ripp_pkce_verifier_valid(verifier) || !sha) return RIPP_ERR_PROTO;
    if (!challenge) return RIPP_ERR_AUTH;
    char want[44];
    ripp_pkce_s256(sha, want);
    return ct_streq(want, challenge) ? 0 : RIPP_ERR_AUTH;
}

/* ---- URIs and redirects ---- */

static bool printable_nospace(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return false;
    return true;
}

/* The authority of an absolute URI after scheme "://": its length up to the path. */
static size_t authority_len(const char *p)
{
    return strcspn(p, "/?#");
}

static bool loopback_host(const char *auth, size_t n)
{
    static const char *const hosts[] = {"127.0.0.1", "[::1]", "localhost"};
    for (size_t i = 0; i < 3; i++) {
        size_t hl = strlen(hosts[i]);
        if (n >= hl && strncasecmp(auth, hosts[i], hl) == 0 && (n == hl || auth[hl] == ':'))
            return true;
    }
    return false;
}

bool ripp_oauth_redirect_uri_valid(const char *uri)
{
    if (!uri || strlen(uri) >= 1024 || !printable_nospace(uri) || strchr(uri, '#')) return false;
    const char *rest;
    if (strncasecmp(uri, "https://", 8) == 0)
        rest = uri + 8;
    else if (strncasecmp(uri, "http://", 7) == 0)
        rest = uri + 7;
    else
        return false;
    size_t al = authority_len(rest);
    if (al == 0) return false;
    if (rest == uri + 7 && !loopback_host(rest, al)) return false;
    return true;
}

bool ripp_trunk_uri_valid(const char *uri)
{
    if (!uri || strlen(uri) >= 1024 || !printable_nospace(uri)) return false;
    if (strncasecmp(uri, "https://", 8) != 0) return false;
    const char *rest = uri + 8;
    size_t al = authority_len(rest);
    if (al == 0 || rest[al] != '/' || !rest[al + 1]) return false;
    return !strchr(rest, '?') && !strchr(rest, '#') && !memchr(rest, '@', al);
}

/* redirect_uri followed by '?' or '&' and the encoded pairs (NULL values are skipped). */
static int64_t redirect_build(char *out, size_t cap, const char *redirect_uri,
                              const char *const *pairs, size_t npairs)
{
    if (!out || !cap || !redirect_uri) return RIPP_ERR_INVAL;
    size_t ul = strlen(redirect_uri);
    if (ul + 2 > cap) return RIPP_ERR_LIMIT;
    memcpy(out, redirect_uri, ul);
    bool has_query = strchr(redirect_uri, '?') != NULL;
    bool bare = has_query && (redirect_uri[ul - 1] == '?' || redirect_uri[ul - 1] == '&');
    size_t base = ul + (bare ? 0 : 1);
    if (!bare) out[ul] = has_query ? '&' : '?';
    out[base] = '\0';
    size_t len = 0;
    for (size_t i = 0; i + 1 < npairs; i += 2) {
        if (!pairs[i + 1] || !pairs[i + 1][0]) continue;
        int rc = ripp_form_append(out + base, cap - base, &len, pairs[i], pairs[i + 1]);
        if (rc) {
            out[0] = '\0';
            return rc;
        }
    }
    return (int64_t)(base + len);
}

int64_t ripp_oauth_code_redirect(char *out, size_t cap, const char *redirect_uri, const char *code,
                                 const char *state, const char *trunk_uri)
{
    if (!code || !code[0] || !trunk_uri) return RIPP_ERR_INVAL;
    char b64[1400];
    if (ripp_b64url_encode((const uint8_t *)trunk_uri, strlen(trunk_uri), b64, sizeof b64) < 0)
        return RIPP_ERR_LIMIT;
    const char *pairs[] = {"code", code, "state", state, "ripp-trunk", b64};
    return redirect_build(out, cap, redirect_uri, pairs, 6);
}

int64_t ripp_oauth_error_redirect(char *out, size_t cap, const char *redirect_uri,
                                  const char *error, const char *description, const char *state)
{
    if (!error || !error[0]) return RIPP_ERR_INVAL;
    const char *pairs[] = {"error", error, "error_description", description, "state", state};
    return redirect_build(out, cap, redirect_uri, pairs, 6);
}

int64_t ripp_oauth_trunk_decode(const char *value, char *out, size_t cap)
{
    if (!value || !out || !cap) return RIPP_ERR_INVAL;
    uint8_t buf[1100];
    int64_t n = ripp_b64url_decode(value, strlen(value), buf, sizeof buf - 1);
    if (n == RIPP_ERR_LIMIT) return RIPP_ERR_LIMIT;
    if (n <= 0) return RIPP_ERR_PROTO;
    if ((size_t)n >= cap) return RIPP_ERR_LIMIT;
    if (memchr(buf, 0, (size_t)n)) return RIPP_ERR_PROTO;
    buf[n] = 0;
    if (!ripp_trunk_uri_valid((const char *)buf)) return RIPP_ERR_PROTO;
    memcpy(out, buf, (size_t)n + 1);
    return n;
}

/* ---- client credentials ---- */

int ripp_oauth_basic_parse(const char *authorization, char *id, size_t idcap, char *secret,
                           size_t secretcap)
{
    if (!authorization || !id || !secret || !idcap || !secretcap) return RIPP_ERR_INVAL;
    if (strncasecmp(authorization, "Basic ", 6) != 0) return RIPP_ERR_PROTO;
    const char *b = authorization + 6;
    while (*b == ' ')
        b++;
    size_t bl = strlen(b);
    while (bl && b[bl - 1] == ' ')
        bl--;
    uint8_t raw[1024];
    int64_t n = ripp_b64url_decode(b, bl, raw, sizeof raw - 1);
    if (n == RIPP_ERR_LIMIT) return RIPP_ERR_LIMIT;
    if (n <= 0) return RIPP_ERR_PROTO;
    raw[n] = 0;
    if (memchr(raw, 0, (size_t)n)) return RIPP_ERR_PROTO;
    char *colon = strchr((char *)raw, ':');
    if (!colon || colon == (char *)raw) return RIPP_ERR_PROTO;
    *colon = 0;
    const char *rid = (const char *)raw, *rsec = colon + 1;
    /* both parts are form-urlencoded first (RFC 6749 §2.3.1) */
    char did[1024], dsec[1024];
    size_t il = strlen(rid), sl = strlen(rsec);
    if (pct_decode(rid, il, did) < 0 || pct_decode(rsec, sl, dsec) < 0) return RIPP_ERR_PROTO;
    if (strlen(did) >= idcap || strlen(dsec) >= secretcap) return RIPP_ERR_LIMIT;
    strcpy(id, did);
    strcpy(secret, dsec);
    return 0;
}

int64_t ripp_oauth_basic_format(const char *id, const char *secret, char *out, size_t cap)
{
    if (!id || !secret || !out) return RIPP_ERR_INVAL;
    char raw[1100];
    size_t len = 0;
    raw[0] = 0;
    if (!pct_encode(raw, sizeof raw, &len, id) || len + 2 >= sizeof raw) return RIPP_ERR_LIMIT;
    raw[len++] = ':';
    if (!pct_encode(raw, sizeof raw, &len, secret)) return RIPP_ERR_LIMIT;
    raw[len] = 0;
    /* standard base64 with padding, as RFC 7617 wants */
    if (cap < 7) return RIPP_ERR_LIMIT;
    memcpy(out, "Basic ", 6);
    int64_t n = ripp_b64url_encode((const uint8_t *)raw, len, out + 6, cap - 6);
    if (n < 0) return n;
    size_t o = 6 + (size_t)n;
    for (size_t i = 6; i < o; i++) {
        if (out[i] == '-') out[i] = '+';
        if (out[i] == '_') out[i] = '/';
    }
    while (o % 4 != 2) { /* "Basic " is 6 bytes: pad the base64 part to a multiple of 4 */
        if (o + 1 >= cap) return RIPP_ERR_LIMIT;
        out[o++] = '=';
    }
    out[o] = 0;
    return (int64_t)o;
}

/* ---- error bodies ---- */

int64_t ripp_oauth_problem_encode(const ripp_problem *p, const char *error, char *out, size_t cap)
{
    if (!p || !error || !out || !cap) return RIPP_ERR_INVAL;
    char base[2048];
    int64_t n = ripp_problem_encode(p, base, sizeof base);
    if (n < 0) return n;
    json_t *o = json_loadb(base, (size_t)n, 0, NULL);
    if (!o) return RIPP_ERR_NOMEM;
    int64_t rc = RIPP_ERR_NOMEM;
    json_t *e = json_string(error);
    if (!e) {
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    if (json_object_set_new(o, "error", e) ||
        json_object_set(o, "error_description", json_object_get(o, "detail")))
        goto out;
    size_t m = json_dumpb(o, out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (m == 0) goto out;
    if (m >= cap) {
        out[0] = 0;
        rc = RIPP_ERR_LIMIT;
        goto out;
    }
    out[m] = 0;
    rc = (int64_t)m;
out:
    json_decref(o);
    return rc;
}

/* ---- HTML ---- */

int64_t ripp_html_escape(const char *in, char *out, size_t cap)
{
    if (!in || !out || !cap) return RIPP_ERR_INVAL;
    size_t o = 0;
    for (; *in; in++) {
        const char *rep = NULL;
        switch (*in) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        size_t rl = rep ? strlen(rep) : 1;
        if (o + rl >= cap) {
            out[0] = 0;
            return RIPP_ERR_LIMIT;
        }
        if (rep)
            memcpy(out + o, rep, rl);
        else
            out[o] = *in;
        o += rl;
    }
    out[o] = 0;
    return (int64_t)o;
}

/* ---- password hashes ---- */

int ripp_pwhash_parse(const char *s, ripp_pwhash *out)
{
    if (!s || !out) return RIPP_ERR_INVAL;
    size_t sl = strlen(RIPP_PWHASH_SCHEME);
    if (strncmp(s, RIPP_PWHASH_SCHEME, sl) != 0 || s[sl] != '$') return RIPP_ERR_PROTO;
    const char *p = s + sl + 1;
    char *end;
    unsigned long it = strtoul(p, &end, 10);
    if (end == p || *end != '$' || it < RIPP_PWHASH_MIN_ITER || it > 10000000)
        return RIPP_ERR_PROTO;
    const char *salt = end + 1, *d = strchr(salt, '$');
    if (!d) return RIPP_ERR_PROTO;
    ripp_pwhash h;
    memset(&h, 0, sizeof h);
    h.iterations = (unsigned)it;
    int64_t n = ripp_b64url_decode(salt, (size_t)(d - salt), h.salt, sizeof h.salt);
    if (n < 8) return RIPP_ERR_PROTO;
    h.salt_len = (size_t)n;
    uint8_t hash[40];
    n = ripp_b64url_decode(d + 1, strlen(d + 1), hash, sizeof hash);
    if (n != 32) return RIPP_ERR_PROTO;
    memcpy(h.hash, hash, 32);
    *out = h;
    return 0;
}

int64_t ripp_pwhash_format(const ripp_pwhash *h, char *out, size_t cap)
{
    if (!h || !out || h->salt_len < 8 || h->salt_len > sizeof h->salt) return RIPP_ERR_INVAL;
    char salt[90], hash[50];
    ripp_b64url_encode(h->salt, h->salt_len, salt, sizeof salt);
    ripp_b64url_encode(h->hash, 32, hash, sizeof hash);
    int n = snprintf(out, cap, "%s$%u$%s$%s", RIPP_PWHASH_SCHEME, h->iterations, salt, hash);
    if (n < 0 || (size_t)n >= cap) {
        if (cap) out[0] = 0;
        return RIPP_ERR_LIMIT;
    }
    return n;
}

/* ---- login throttle ---- */

int ripp_login_wait_s(const ripp_login_throttle *t, int64_t now_ms)
{
    if (!t || now_ms >= t->locked_until_ms) return 0;
    int64_t s = (t->locked_until_ms - now_ms + 999) / 1000;
    return s < 1 ? 1 : (int)s;
}

void ripp_login_failed(ripp_login_throttle *t, int64_t now_ms)
{
    if (!t) return;
    if (t->failures < 1000) t->failures++;
    int k = t->failures - RIPP_LOGIN_FREE_FAILURES;
    if (k <= 0) return;
    int64_t lock_s = k > 9 ? RIPP_LOGIN_MAX_LOCK_S : (int64_t)1 << (k - 1);
    if (lock_s > RIPP_LOGIN_MAX_LOCK_S) lock_s = RIPP_LOGIN_MAX_LOCK_S;
    t->locked_until_ms = now_ms + lock_s * 1000;
}

void ripp_login_succeeded(ripp_login_throttle *t)
{
    if (!t) return;
    t->failures = 0;
    t->locked_until_ms = 0;
}
