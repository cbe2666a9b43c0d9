/* The RIPP-Media header: a Structured Field Dictionary (RFC 8941 §3.2, §4.2.2). */
#include <stdio.h>
#include <string.h>

#include "ripp/media_hdr.h"

enum sf_type { SF_INT, SF_DEC, SF_STR, SF_TOK, SF_BYTES, SF_BOOL, SF_INNER };

typedef struct sf_item {
    enum sf_type type;
    int64_t num;    /* SF_INT, SF_BOOL */
    size_t str_len; /* SF_STR: unescaped length in str */
    char str[RIPP_MEDIA_HDR_MAX + 1];
} sf_item;

typedef struct sf_in {
    const char *s;
    size_t n, i;
} sf_in;

static int peek(const sf_in *in)
{
    return in->i < in->n ? (unsigned char)in->s[in->i] : -1;
}

static bool is_lcalpha(int c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* RFC 9110 tchar. */
static bool is_tchar(int c)
{
    if (is_alpha(c) || is_digit(c)) return true;
    return c > 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_sp(sf_in *in)
{
    while (peek(in) == ' ')
        in->i++;
}

static void skip_ows(sf_in *in)
{
    while (peek(in) == ' ' || peek(in) == '\t')
        in->i++;
}

/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static int parse_key(sf_in *in, const char **key, size_t *klen)
{
    int c = peek(in);
    if (!is_lcalpha(c) && c != '*') return RIPP_ERR_PROTO;
    size_t start = in->i;
    while ((c = peek(in)) >= 0 &&
           (is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '*'))
        in->i++;
    *key = in->s + start;
    *klen = in->i - start;
    return 0;
}

static int parse_number(sf_in *in, sf_item *it)
{
    bool neg = false;
    if (peek(in) == '-') {
        neg = true;
        in->i++;
    }
    if (!is_digit(peek(in))) return RIPP_ERR_PROTO;
    int64_t v = 0;
    size_t digits = 0, frac = 0;
    bool dec = false;
    int c;
    while ((c = peek(in)) >= 0) {
        if (is_digit(c)) {
            if (dec) {
                if (++frac > 3) return RIPP_ERR_PROTO;
            } else {
                if (++digits > 15) return RIPP_ERR_PROTO;
                v = v * 10 + (c - '0');
            }
        } else if (c == '.' && !dec) {
            if (digits > 12) return RIPP_ERR_PROTO;
            dec = true;
        } else {
            break;
        }
        in->i++;
    }
    if (dec && frac == 0) return RIPP_ERR_PROTO;
    it->type = dec ? SF_DEC : SF_INT;
    it->num = neg ? -v : v;
    return 0;
}

static int parse_string(sf_in *in, sf_item *it)
{
    in->i++; /* DQUOTE */
    size_t o = 0;
    for (;;) {
        int c = peek(in);
        if (c < 0) return RIPP_ERR_PROTO;
        in->i++;
        if (c == '\\') {
            c = peek(in);
            if (c != '"' && c != '\\') return RIPP_ERR_PROTO;
            in->i++;
        } else if (c == '"') {
            break;
        } else if (c < 0x20 || c > 0x7e) {
            return RIPP_ERR_PROTO;
        }
        if (o < RIPP_MEDIA_HDR_MAX) it->str[o++] = (char)c;
    }
    it->str[o] = '\0';
    it->str_len = o;
    it->type = SF_STR;
    return 0;
}

static int parse_bare_item(sf_in *in, sf_item *it)
{
    int c = peek(in);
    if (c == '-' || is_digit(c)) return parse_number(in, it);
    if (c == '"') return parse_string(in, it);
    if (c == '*' || is_alpha(c)) {
        while ((c = peek(in)) >= 0 && (is_tchar(c) || c == ':' || c == '/'))
            in->i++;
        it->type = SF_TOK;
        return 0;
    }
    if (c == ':') {
        in->i++;
        while ((c = peek(in)) >= 0 && c != ':') {
            if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '/' && c != '=')
                return RIPP_ERR_PROTO;
            in->i++;
        }
        if (c != ':') return RIPP_ERR_PROTO;
        in->i++;
        it->type = SF_BYTES;
        return 0;
    }
    if (c == '?') {
        in->i++;
        c = peek(in);
        if (c != '0' && c != '1') return RIPP_ERR_PROTO;
        in->i++;
        it->type = SF_BOOL;
        it->num = c == '1';
        return 0;
    }
    return RIPP_ERR_PROTO;
}

/* Parameters carry nothing we use; they are checked for syntax and dropped. */
static int skip_params(sf_in *in)
{
    sf_item tmp;
    while (peek(in) == ';') {
        in->i++;
        skip_sp(in);
        const char *k;
        size_t kl;
        int rc = parse_key(in, &k, &kl);
        if (rc) return rc;
        if (peek(in) == '=') {
            in->i++;
            if ((rc = parse_bare_item(in, &tmp)) != 0) return rc;
        }
    }
    return 0;
}

static int skip_inner_list(sf_in *in)
{
    sf_item tmp;
    in->i++; /* "(" */
    for (;;) {
        skip_sp(in);
        int c = peek(in);
        if (c == ')') {
            in->i++;
            return 0;
        }
        int rc = parse_bare_item(in, &tmp);
        if (rc || (rc = skip_params(in)) != 0) return rc;
        c = peek(in);
        if (c != ' ' && c != ')') return RIPP_ERR_PROTO;
    }
}

static int parse_member_value(sf_in *in, sf_item *it)
{
    int rc;
    if (peek(in) == '(') {
        it->type = SF_INNER;
        rc = skip_inner_list(in);
    } else {
        rc = parse_bare_item(in, it);
    }
    return rc ? rc : skip_params(in);
}

static bool key_is(const char *k, size_t kl, const char *name)
{
    return strlen(name) == kl && memcmp(k, name, kl) == 0;
}

enum { HAVE_CODEC = 1, HAVE_SEQ = 2, HAVE_TS = 4, HAVE_FMS = 8 };

static bool frame_ms_ok(int64_t v)
{
    return v == 10 || v == 20 || v == 30 || v == 40 || v == 60;
}

static int apply_member(ripp_media_hdr *h, const char *k, size_t kl, const sf_item *it,
                        unsigned *have)
{
    if (key_is(k, kl, "codec")) {
        if (it->type != SF_STR) return RIPP_ERR_PROTO;
        size_t n = it->str_len < sizeof h->codec_name - 1 ? it->str_len : sizeof h->codec_name - 1;
        memcpy(h->codec_name, it->str, n);
        h->codec_name[n] = '\0';
        h->codec = ripp_codec_from_name(it->str, it->str_len);
        *have |= HAVE_CODEC;
    } else if (key_is(k, kl, "seq-base")) {
        if (it->type != SF_INT || it->num < 0 || it->num > UINT32_MAX) return RIPP_ERR_PROTO;
        h->seq_base = (uint32_t)it->num;
        *have |= HAVE_SEQ;
    } else if (key_is(k, kl, "ts-base")) {
        if (it->type != SF_INT || it->num < 0) return RIPP_ERR_PROTO;
        h->ts_base = (uint64_t)it->num;
        *have |= HAVE_TS;
    } else if (key_is(k, kl, "frame-ms")) {
        if (it->type != SF_INT || !frame_ms_ok(it->num)) return RIPP_ERR_PROTO;
        h->frame_ms = (uint32_t)it->num;
        *have |= HAVE_FMS;
    } else if (key_is(k, kl, "channel")) {
        if (it->type != SF_INT || it->num < 1 || it->num > 255) return RIPP_ERR_PROTO;
        h->channel = (uint32_t)it->num;
    } else if (key_is(k, kl, "multi-channel")) {
        if (it->type != SF_BOOL) return RIPP_ERR_PROTO;
        h->multi_channel = it->num != 0;
    }
    return 0;
}

int ripp_media_hdr_parse(ripp_media_hdr *h, const char *value, size_t len)
{
    if (!h || (!value && len)) return RIPP_ERR_INVAL;
    if (len > RIPP_MEDIA_HDR_MAX) return RIPP_ERR_LIMIT;
    memset(h, 0, sizeof *h);
    h->channel = 1;
    sf_in in = {value, len, 0};
    /* Field values arrive with surrounding whitespace possibly left in. */
    skip_ows(&in);
    while (in.n > in.i && (in.s[in.n - 1] == ' ' || in.s[in.n - 1] == '\t'))
        in.n--;
    sf_item it;
    unsigned have = 0;
    int rc;
    while (in.i < in.n) {
        const char *k;
        size_t kl;
        if ((rc = parse_key(&in, &k, &kl)) != 0) return rc;
        if (peek(&in) == '=') {
            in.i++;
            rc = parse_member_value(&in, &it);
        } else {
            it.type = SF_BOOL;
            it.num = 1;
            rc = skip_params(&in);
        }
        if (rc || (rc = apply_member(h, k, kl, &it, &have)) != 0) return rc;
        skip_ows(&in);
        if (in.i == in.n) break;
        if (peek(&in) != ',') return RIPP_ERR_PROTO;
        in.i++;
        skip_ows(&in);
        if (in.i == in.n) /* trailing comma */
            return RIPP_ERR_PROTO;
    }
    if (have != (HAVE_CODEC | HAVE_SEQ | HAVE_TS | HAVE_FMS)) return RIPP_ERR_PROTO;
    return 0;
}

int64_t ripp_media_hdr_format(const ripp_media_hdr *h, char *out, size_t cap)
{
    if (!h || !out) return RIPP_ERR_INVAL;
    if (!frame_ms_ok(h->frame_ms) || h->channel < 1 || h->channel > 255 ||
        h->ts_base > 999999999999999ULL)
        return RIPP_ERR_INVAL;
    const char *name = h->codec != RIPP_CODEC_NONE ? ripp_codec_name(h->codec) : h->codec_name;
    char esc[2 * sizeof h->codec_name + 1];
    size_t e = 0;
    for (size_t i = 0; name[i] && i < sizeof h->codec_name; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c > 0x7e) return RIPP_ERR_INVAL;
        if (c == '"' || c == '\\') esc[e++] = '\\';
        esc[e++] = (char)c;
    }
    esc[e] = '\0';
    int n =
        snprintf(out, cap, "codec=\"%s\", seq-base=%u, ts-base=%llu, frame-ms=%u, channel=%u%s",
                 esc, (unsigned)h->seq_base, (unsigned long long)h->ts_base, (unsigned)h->frame_ms,
                 (unsigned)h->channel, h->multi_channel ? ", multi-channel" : "");
    if (n < 0 || (size_t)n >= cap) return RIPP_ERR_LIMIT;
    return n;
}
