/* PASSporT (RFC 8225) carried as an RFC 8224 Identity value, full form only (D27).
 * The JSON is produced with sorted keys and no whitespace so that a given passport always
 * signs the same bytes; the signature itself comes from the caller. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ripp/passport.h"

/* ---- base64url ---- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int64_t ripp_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (!in && len) return RIPP_ERR_INVAL;
    if (len > SIZE_MAX / 2) return RIPP_ERR_LIMIT;
    size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
    if (!out || need >= cap || need > INT64_MAX) return RIPP_ERR_LIMIT;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return (int64_t)o;
}

/* Both alphabets: a value may have passed through a standard base64 tool. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

int64_t ripp_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (!in && len) return RIPP_ERR_INVAL;
    size_t pad = 0;
    while (len > 0 && in[len - 1] == '=') {
        len--;
        pad++;
    }
    if (pad && (pad > 2 || (len + pad) % 4 != 0)) return RIPP_ERR_PROTO;
    if (len % 4 == 1) return RIPP_ERR_PROTO;
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (n > cap || n > INT64_MAX) return RIPP_ERR_LIMIT;
    if (n && !out) return RIPP_ERR_INVAL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) return RIPP_ERR_PROTO;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero: one byte string, one encoding. */
    if (acc != 0) return RIPP_ERR_PROTO;
    return (int64_t)o;
}

/* ---- signing ---- */

/* A non-empty string that fits its field and holds printable ASCII only. */
static bool field_ok(const char *s, size_t cap, bool allow_empty)
{
    const char *end = memchr(s, 0, cap);
    if (!end || (end == s && !allow_empty)) return false;
    for (; s < end; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return false;
    return true;
}

static bool is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-.!%*_+`'~", c) != NULL;
}

static bool token_ok(const char *s, size_t len)
{
    if (!len) return false;
    for (size_t i = 0; i < len; i++)
        if (!s[i] || !is_token_char((unsigned char)s[i])) return false;
    return true;
}

/* An absolute URI (scheme ":" ...). It goes between angle brackets in a header parameter:
 * no room for <, >, ;, quotes or whitespace. */
static bool uri_ok(const char *s)
{
    const char *p = s;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return false;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':') return false;
    for (; *s; s++)
        if (*s <= 0x20 || *s > 0x7e || strchr("<>;\"", *s)) return false;
    return true;
}

static bool attest_ok(const char *a)
{
    return !strcmp(a, "A") || !strcmp(a, "B") || !strcmp(a, "C");
}

static int set_str(json_t *obj, const char *key, const char *val)
{
    return json_object_set_new(obj, key, json_string(val)) ? RIPP_ERR_NOMEM : 0;
}

/* Serialises the JWS header and claims; *hdr and *claims are freed by the caller. */
static int passport_json(const ripp_passport *pp, char **hdr, char **claims)
{
    int rc = RIPP_ERR_NOMEM;
    const size_t flags = JSON_SORT_KEYS | JSON_COMPACT;
    json_t *h = json_object(), *c = json_object(), *orig = json_object(), *dest = json_object(),
           *tns = json_array();
    if (!h || !c || !orig || !dest || !tns) goto out;
    if (set_str(h, "alg", "ES256") || (pp->ppt[0] && set_str(h, "ppt", pp->ppt)) ||
        set_str(h, "typ", "passport") || set_str(h, "x5u", pp->x5u))
        goto out;
    if (json_array_append_new(tns, json_string(pp->dest_tn)) || json_object_set(dest, "tn", tns) ||
        set_str(orig, "tn", pp->orig_tn))
        goto out;
    if ((pp->attest[0] && set_str(c, "attest", pp->attest)) || json_object_set(c, "dest", dest) ||
        json_object_set_new(c, "iat", json_integer((json_int_t)pp->iat)) ||
        json_object_set(c, "orig", orig) || (pp->origid[0] && set_str(c, "origid", pp->origid)))
        goto out;
    *hdr = json_dumps(h, flags);
    *claims = json_dumps(c, flags);
    if (*hdr && *claims) rc = 0;
out:
    json_decref(h);
    json_decref(c);
    json_decref(orig);
    json_decref(dest);
    json_decref(tns);
    return rc;
}

static int append(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (n >= cap - *len) return RIPP_ERR_LIMIT;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return 0;
}

static int append_b64(char *out, size_t cap, size_t *len, const void *data, size_t n)
{
    int64_t w = ripp_b64url_encode(data, n, out + *len, cap - *len);
    if (w < 0) return (int)w;
    *len += (size_t)w;
    return 0;
}

int64_t ripp_passport_sign(const ripp_passport *pp, ripp_sign_fn sign, void *ud, char *out,
                           size_t cap)
{
    if (!pp || !sign || !out || !cap) return RIPP_ERR_INVAL;
    if (!field_ok(pp->orig_tn, sizeof pp->orig_tn, false) ||
        !field_ok(pp->dest_tn, sizeof pp->dest_tn, false) ||
        !field_ok(pp->x5u, sizeof pp->x5u, false) || !uri_ok(pp->x5u) ||
        !field_ok(pp->ppt, sizeof pp->ppt, true) ||
        (pp->ppt[0] && !token_ok(pp->ppt, strlen(pp->ppt))) ||
        !field_ok(pp->attest, sizeof pp->attest, true) ||
        (pp->attest[0] && !attest_ok(pp->attest)) || !field_ok(pp->origid, sizeof pp->origid, true))
        return RIPP_ERR_INVAL;
    if (cap > RIPP_IDENTITY_MAX + 1)
        cap = RIPP_IDENTITY_MAX + 1; /* what we sign, we must also accept */

    char *hdr = NULL, *claims = NULL;
    size_t len = 0;
    uint8_t sig[64];
    out[0] = '\0';
    int rc = passport_json(pp, &hdr, &claims);
    if (rc) goto out;
    if ((rc = append_b64(out, cap, &len, hdr, strlen(hdr))) ||
        (rc = append(out, cap, &len, ".", 1)) ||
        (rc = append_b64(out, cap, &len, claims, strlen(claims))))
        goto out;
    rc = sign(ud, (const uint8_t *)out, len, sig);
    if (rc) {
        rc = rc < 0 ? rc : RIPP_ERR_CRYPTO;
        goto out;
    }
    if ((rc = append(out, cap, &len, ".", 1)) ||
        (rc = append_b64(out, cap, &len, sig, sizeof sig)) ||
        (rc = append(out, cap, &len, ";info=<", 7)) ||
        (rc = append(out, cap, &len, pp->x5u, strlen(pp->x5u))) ||
        (rc = append(out, cap, &len, ">;alg=ES256", 11)))
        goto out;
    if (pp->ppt[0] && ((rc = append(out, cap, &len, ";ppt=", 5)) ||
                       (rc = append(out, cap, &len, pp->ppt, strlen(pp->ppt)))))
        goto out;
out:
    free(hdr);
    free(claims);
    if (rc) {
        out[0] = '\0';
        return rc;
    }
    return (int64_t)len;
}

/* ---- verification ---- */

typedef struct vctx {
    enum ripp_passport_fail *fail;
    char *why;
    size_t whycap;
} vctx;

__attribute__((format(printf, 4, 5))) static int
vfail(vctx *v, int err, enum ripp_passport_fail code, const char *fmt, ...)
{
    if (v->fail) *v->fail = code;
    if (v->why && v->whycap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->why, v->whycap, fmt, ap);
        va_end(ap);
    }
    return err;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims optional whitespace from both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n && is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_ows((*s)[*n - 1]))
        (*n)--;
}

static bool name_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && !strncasecmp(s, lit, n);
}

typedef struct params {
    bool has_info, has_ppt;
    char info[512];
    char ppt[16];
} params;

/* RFC 8224 ident-info and the generic parameters after it; unknown ones are ignored. */
static int parse_params(const char *p, size_t n, params *out, vctx *v)
{
    for (bool more = true; more;) {
        const char *semi = memchr(p, ';', n);
        size_t seg = semi ? (size_t)(semi - p) : n;
        const char *s = p;
        size_t sn = seg;
        more = semi != NULL;
        p += seg + more;
        n -= seg + more;
        trim(&s, &sn);
        const char *eq = memchr(s, '=', sn);
        const char *name = s, *val = NULL;
        size_t nn = eq ? (size_t)(eq - s) : sn, vn = 0;
        if (eq) {
            val = eq + 1;
            vn = sn - nn - 1;
            trim(&val, &vn);
        }
        trim(&name, &nn);
        if (!token_ok(name, nn))
            return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "malformed parameter");
        if (name_is(name, nn, "info")) {
            if (out->has_info)
                return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO, "info given twice");
            if (vn >= 2 && val[0] == '<' && val[vn - 1] == '>') {
                val++;
                vn -= 2;
            }
            if (!vn || memchr(val, '<', vn) || memchr(val, '>', vn))
                return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO, "malformed info");
            if (vn >= sizeof out->info)
                return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO, "info too long");
            memcpy(out->info, val, vn);
            out->info[vn] = '\0';
            out->has_info = true;
        } else if (name_is(name, nn, "alg")) {
            if (!val || vn != 5 || memcmp(val, "ES256", 5))
                return vfail(v, RIPP_ERR_UNSUPPORTED, RIPP_PASSPORT_UNSUPPORTED,
                             "alg parameter is not ES256");
        } else if (name_is(name, nn, "ppt")) {
            if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') {
                val++;
                vn -= 2;
            }
            if (out->has_ppt || !val || !token_ok(val, vn) || vn >= sizeof out->ppt)
                return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "malformed ppt");
            memcpy(out->ppt, val, vn);
            out->ppt[vn] = '\0';
            out->has_ppt = true;
        }
    }
    return 0;
}

/* Copies a JSON string member that must fit cap (including the NUL) and hold no NUL. */
static bool json_str_copy(const json_t *s, char *dst, size_t cap, bool allow_empty)
{
    if (!json_is_string(s)) return false;
    size_t n = json_string_length(s);
    const char *txt = json_string_value(s);
    if (n >= cap || strlen(txt) != n || (!n && !allow_empty)) return false;
    memcpy(dst, txt, n + 1);
    return true;
}

/* Decodes one base64url segment and parses it as a JSON object; NULL when it is not. */
static json_t *segment_json(const char *s, size_t n)
{
    uint8_t buf[RIPP_IDENTITY_MAX];
    int64_t len = ripp_b64url_decode(s, n, buf, sizeof buf);
    if (len <= 0) return NULL;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static int check_header(json_t *h, const params *pr, ripp_passport *pp, vctx *v)
{
    const json_t *alg = json_object_get(h, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "ES256") ||
        json_string_length(alg) != 5)
        return vfail(v, RIPP_ERR_UNSUPPORTED, RIPP_PASSPORT_UNSUPPORTED, "alg is not ES256");
    const json_t *typ = json_object_get(h, "typ");
    if (typ && (!json_is_string(typ) || json_string_length(typ) != 8 ||
                strcmp(json_string_value(typ), "passport")))
        return vfail(v, RIPP_ERR_UNSUPPORTED, RIPP_PASSPORT_UNSUPPORTED, "typ is not passport");
    /* RFC 7515: a header naming extensions the recipient must understand is refused. */
    if (json_object_get(h, "crit"))
        return vfail(v, RIPP_ERR_UNSUPPORTED, RIPP_PASSPORT_UNSUPPORTED,
                     "critical header extensions are not supported");
    const json_t *ppt = json_object_get(h, "ppt");
    if (ppt && !json_str_copy(ppt, pp->ppt, sizeof pp->ppt, false))
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "malformed ppt");
    if (pr->has_ppt && strcmp(pr->ppt, pp->ppt))
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID,
                     "ppt parameter does not match the header");
    const json_t *x5u = json_object_get(h, "x5u");
    if (x5u) {
        if (!json_str_copy(x5u, pp->x5u, sizeof pp->x5u, false))
            return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO, "malformed x5u");
        if (pr->has_info && strcmp(pr->info, pp->x5u))
            return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO,
                         "info parameter and x5u differ");
    } else if (pr->has_info) {
        memcpy(pp->x5u, pr->info, sizeof pp->x5u);
    } else {
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO, "no x5u and no info");
    }
    if (!uri_ok(pp->x5u))
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_BAD_INFO, "x5u is not an absolute URI");
    return 0;
}

static int check_claims(json_t *c, ripp_passport *pp, vctx *v)
{
    const json_t *orig = json_object_get(c, "orig");
    if (!json_is_object(orig) ||
        !json_str_copy(json_object_get(orig, "tn"), pp->orig_tn, sizeof pp->orig_tn, false))
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "missing or bad orig.tn");
    const json_t *dest = json_object_get(c, "dest");
    const json_t *tn = json_is_object(dest) ? json_object_get(dest, "tn") : NULL;
    bool ok = false;
    if (json_is_string(tn)) {
        ok = json_str_copy(tn, pp->dest_tn, sizeof pp->dest_tn, false);
    } else if (json_is_array(tn) && json_array_size(tn) >= 1) {
        ok = json_str_copy(json_array_get(tn, 0), pp->dest_tn, sizeof pp->dest_tn, false);
        for (size_t i = 1; ok && i < json_array_size(tn); i++)
            ok = json_is_string(json_array_get(tn, i));
    }
    if (!ok) return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "missing or bad dest.tn");
    const json_t *iat = json_object_get(c, "iat");
    if (!json_is_integer(iat))
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "missing or bad iat");
    pp->iat = (int64_t)json_integer_value(iat);
    const json_t *attest = json_object_get(c, "attest");
    if (attest &&
        (!json_str_copy(attest, pp->attest, sizeof pp->attest, false) || !attest_ok(pp->attest)))
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "bad attest");
    const json_t *origid = json_object_get(c, "origid");
    if (origid && !json_str_copy(origid, pp->origid, sizeof pp->origid, true))
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "bad origid");
    return 0;
}

static bool jws_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* Everything ripp_passport_verify checks; verify NULL skips the signature check only. */
static int passport_check(const char *identity, size_t len, ripp_verify_fn verify, void *ud,
                          ripp_passport *out, vctx v)
{

    const char *s = identity;
    size_t n = len;
    trim(&s, &n);
    const char *semi = memchr(s, ';', n);
    const char *jws = s;
    size_t jn = semi ? (size_t)(semi - s) : n;
    trim(&jws, &jn);

    /* Exactly three segments, base64url only: the full form. */
    size_t dots[2], nd = 0;
    for (size_t i = 0; i < jn; i++) {
        if (!jws_char((unsigned char)jws[i]))
            return vfail(&v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID,
                         "invalid character in the PASSporT");
        if (jws[i] == '.') {
            if (nd == 2)
                return vfail(&v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID,
                             "PASSporT has more than three parts");
            dots[nd++] = i;
        }
    }
    if (nd != 2)
        return vfail(&v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID,
                     "PASSporT does not have three parts");
    if (dots[1] == dots[0] + 1)
        return vfail(&v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "compact form not supported");
    if (dots[0] == 0 || dots[1] + 1 == jn)
        return vfail(&v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "empty PASSporT part");

    params pr;
    memset(&pr, 0, sizeof pr);
    if (semi) {
        int rc = parse_params(semi + 1, n - (size_t)(semi - s) - 1, &pr, &v);
        if (rc) return rc;
    }

    ripp_passport pp;
    memset(&pp, 0, sizeof pp);
    int rc = 0;
    json_t *h = segment_json(jws, dots[0]);
    json_t *c = NULL;
    if (!h) {
        rc = vfail(&v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "header is not a JSON object");
        goto out;
    }
    if ((rc = check_header(h, &pr, &pp, &v))) goto out;
    c = segment_json(jws + dots[0] + 1, dots[1] - dots[0] - 1);
    if (!c) {
        rc = vfail(&v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "claims are not a JSON object");
        goto out;
    }
    if ((rc = check_claims(c, &pp, &v))) goto out;

    uint8_t sig[64];
    const char *sb64 = jws + dots[1] + 1;
    size_t sn = jn - dots[1] - 1;
    if (sn != 86 || ripp_b64url_decode(sb64, sn, sig, sizeof sig) != 64) {
        rc = vfail(&v, RIPP_ERR_PROTO, RIPP_PASSPORT_INVALID, "signature is not 64 bytes");
        goto out;
    }
    if (verify && verify(ud, (const uint8_t *)jws, dots[1], sig, sizeof sig) != 0) {
        rc = vfail(&v, RIPP_ERR_AUTH, RIPP_PASSPORT_INVALID, "signature does not verify");
        goto out;
    }
    if (out) *out = pp;
out:
    json_decref(h);
    json_decref(c);
    return rc;
}

static int passport_entry(const char *identity, size_t len, vctx *v)
{
    vfail(v, 0, RIPP_PASSPORT_OK, "%s", "");
    if (!identity || !len)
        return vfail(v, RIPP_ERR_PROTO, RIPP_PASSPORT_MISSING, "no Identity value");
    if (len > RIPP_IDENTITY_MAX)
        return vfail(v, RIPP_ERR_LIMIT, RIPP_PASSPORT_INVALID, "Identity value too long");
    return 0;
}

int ripp_passport_verify(const char *identity, size_t len, ripp_verify_fn verify, void *ud,
                         ripp_passport *out, enum ripp_passport_fail *fail, char *why,
                         size_t whycap)
{
    vctx v = {fail, why, whycap};
    int rc = passport_entry(identity, len, &v);
    if (rc) return rc;
    if (!verify) return vfail(&v, RIPP_ERR_INVAL, RIPP_PASSPORT_INVALID, "no verifier");
    return passport_check(identity, len, verify, ud, out, v);
}

int ripp_passport_parse(const char *identity, size_t len, ripp_passport *out,
                        enum ripp_passport_fail *fail, char *why, size_t whycap)
{
    vctx v = {fail, why, whycap};
    int rc = passport_entry(identity, len, &v);
    if (rc) return rc;
    return passport_check(identity, len, NULL, NULL, out, v);
}
