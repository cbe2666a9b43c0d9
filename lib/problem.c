/* application/problem+json bodies (RFC 9457). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ripp/problem.h"

const char *ripp_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void ripp_problem_set(ripp_problem *p, int status, const char *slug, int sip_code,
                      const char *detail_fmt, ...)
{
    memset(p, 0, sizeof *p);
    p->status = status;
    p->sip_code = sip_code;
    if (slug && slug[0])
        snprintf(p->type, sizeof p->type, "https://ripp.dev/problems/%s", slug);
    else
        snprintf(p->type, sizeof p->type, "about:blank");
    snprintf(p->title, sizeof p->title, "%s", ripp_http_reason(status));
    if (detail_fmt) {
        va_list ap;
        va_start(ap, detail_fmt);
        vsnprintf(p->detail, sizeof p->detail, detail_fmt, ap);
        va_end(ap);
    }
}

/* A string member, cut at a UTF-8 boundary when the field is too small. Members of the
 * wrong type are ignored, as RFC 9457 §3.1 asks. */
static void get_str(json_t *o, const char *key, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static int get_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return 0;
    json_int_t x = json_integer_value(v);
    return x < 0 || x > 999999 ? 0 : (int)x;
}

int64_t ripp_problem_encode(const ripp_problem *p, char *out, size_t cap)
{
    if (!p || !out || cap == 0) return RIPP_ERR_INVAL;
    json_t *o = json_object();
    if (!o) return RIPP_ERR_NOMEM;
    int64_t rc = RIPP_ERR_NOMEM;
    /* Fixed-size fields may lack a NUL when filled by hand. */
    char type[sizeof p->type + 1], title[sizeof p->title + 1], detail[sizeof p->detail + 1];
    snprintf(type, sizeof type, "%.*s", (int)sizeof p->type, p->type);
    snprintf(title, sizeof title, "%.*s", (int)sizeof p->title, p->title);
    snprintf(detail, sizeof detail, "%.*s", (int)sizeof p->detail, p->detail);
    json_t *jt = json_string(type[0] ? type : "about:blank");
    json_t *jti = json_string(title[0] ? title : ripp_http_reason(p->status));
    json_t *jd = json_string(detail);
    if (!jt || !jti || !jd) {
        /* json_string also fails on invalid UTF-8: a caller error */
        json_decref(jt);
        json_decref(jti);
        json_decref(jd);
        rc = RIPP_ERR_INVAL;
        goto out;
    }
    if (json_object_set_new(o, "type", jt) || json_object_set_new(o, "title", jti) ||
        json_object_set_new(o, "status", json_integer(p->status)) ||
        json_object_set_new(o, "detail", jd))
        goto out;
    if (p->sip_code && json_object_set_new(o, "sipCode", json_integer(p->sip_code))) goto out;
    size_t n = json_dumpb(o, out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (n == 0) goto out;
    if (n >= cap) {
        out[0] = '\0';
        rc = RIPP_ERR_LIMIT;
        goto out;
    }
    out[n] = '\0';
    rc = (int64_t)n;
out:
    json_decref(o);
    return rc;
}

int ripp_problem_decode(ripp_problem *p, const char *json, size_t len)
{
    if (!p || (!json && len)) return RIPP_ERR_INVAL;
    memset(p, 0, sizeof *p);
    if (len > 64 * 1024) /* no error body of ours comes near this */
        return RIPP_ERR_PROTO;
    json_error_t jerr;
    json_t *o = json_loadb(json ? json : "", len, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return RIPP_ERR_PROTO;
    }
    snprintf(p->type, sizeof p->type, "about:blank");
    get_str(o, "type", p->type, sizeof p->type);
    get_str(o, "title", p->title, sizeof p->title);
    get_str(o, "detail", p->detail, sizeof p->detail);
    p->status = get_int(o, "status");
    p->sip_code = get_int(o, "sipCode");
    json_decref(o);
    return 0;
}
