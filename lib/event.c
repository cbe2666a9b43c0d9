/* Signaling events: JSON encode/decode of one event and the incremental stream parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ripp/event.h"

static const char *const type_names[RIPP_EV_TYPE_COUNT] = {
    [RIPP_EV_UNKNOWN] = "unknown",
    [RIPP_EV_ALERTING] = "alerting",
    [RIPP_EV_ACCEPTED] = "accepted",
    [RIPP_EV_REJECTED] = "rejected",
    [RIPP_EV_FAILED] = "failed",
    [RIPP_EV_NOANSWER] = "noanswer",
    [RIPP_EV_END] = "end",
    [RIPP_EV_MIGRATE] = "migrate",
    [RIPP_EV_OPEN_REVERSE] = "open-reverse",
    [RIPP_EV_TNT] = "tnt",
    [RIPP_EV_PROCEEDING] = "proceeding",
};

const char *ripp_event_type_name(enum ripp_event_type t)
{
    if ((int)t < 0 || t >= RIPP_EV_TYPE_COUNT) return type_names[RIPP_EV_UNKNOWN];
    return type_names[t];
}

enum ripp_event_type ripp_event_type_from_name(const char *name)
{
    if (!name) return RIPP_EV_UNKNOWN;
    for (int t = RIPP_EV_UNKNOWN + 1; t < RIPP_EV_TYPE_COUNT; t++) {
        if (strcasecmp(name, type_names[t]) == 0) return (enum ripp_event_type)t;
    }
    /* Spellings of the RIPT-00 and -03 examples. */
    if (strcasecmp(name, "answered") == 0) return RIPP_EV_ACCEPTED;
    if (strcasecmp(name, "declined") == 0) return RIPP_EV_REJECTED;
    if (strcasecmp(name, "terminated") == 0) return RIPP_EV_END;
    return RIPP_EV_UNKNOWN;
}

const char *ripp_dir_name(enum ripp_dir d)
{
    return d == RIPP_DIR_S2C ? "s2c" : "c2s";
}

void ripp_event_init(ripp_event *ev, enum ripp_event_type type)
{
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->count = 1;
    if (type != RIPP_EV_UNKNOWN)
        snprintf(ev->name, sizeof ev->name, "%s", ripp_event_type_name(type));
}

/* ---- encoding ---- */

typedef struct jw {
    char *out;
    size_t cap, len;
    int err;
} jw;

static void jw_raw(jw *w, const char *s, size_t n)
{
    if (w->err) return;
    if (w->cap - w->len <= n) { /* keep room for the NUL */
        w->err = RIPP_ERR_LIMIT;
        return;
    }
    memcpy(w->out + w->len, s, n);
    w->len += n;
    w->out[w->len] = '\0';
}

static void jw_lit(jw *w, const char *s)
{
    jw_raw(w, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* A JSON string from a NUL-terminated field of at most `max` bytes. */
static void jw_str(jw *w, const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strnlen(s, max);
    jw_lit(w, "\"");
    size_t run = 0;
    for (size_t i = 0; i < n && !w->err;) {
        unsigned c = u[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            size_t k = utf8_seq(u + i, n - i);
            if (k == 0) {
                w->err = RIPP_ERR_INVAL;
                return;
            }
            i += k;
            run += k;
            continue;
        }
        jw_raw(w, s + i - run, run);
        run = 0;
        char esc[8];
        switch (c) {
        case '"':
            jw_lit(w, "\\\"");
            break;
        case '\\':
            jw_lit(w, "\\\\");
            break;
        case '\n':
            jw_lit(w, "\\n");
            break;
        case '\r':
            jw_lit(w, "\\r");
            break;
        case '\t':
            jw_lit(w, "\\t");
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            jw_lit(w, esc);
        }
        i++;
    }
    jw_raw(w, s + n - run, run);
    jw_lit(w, "\"");
}

static void jw_key(jw *w, const char *key)
{
    jw_lit(w, ",\"");
    jw_lit(w, key);
    jw_lit(w, "\":");
}

static void jw_int(jw *w, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v);
    jw_lit(w, num);
}

#define JW_STR(w, field) jw_str((w), (field), sizeof(field))

int64_t ripp_event_encode(const ripp_event *ev, char *out, size_t cap)
{
    if (!ev || !out || cap == 0) return RIPP_ERR_INVAL;
    jw w = {out, cap, 0, 0};
    out[0] = '\0';
    const char *name = ripp_event_type_name(ev->type);
    jw_lit(&w, "{\"name\":");
    if (ev->type == RIPP_EV_UNKNOWN) {
        if (ev->name[0] == '\0') return RIPP_ERR_INVAL;
        JW_STR(&w, ev->name);
    } else {
        jw_str(&w, name, strlen(name));
    }
    if (ev->has_seq) {
        jw_key(&w, "seq");
        if (ev->seq > INT64_MAX) return RIPP_ERR_INVAL;
        jw_int(&w, (int64_t)ev->seq);
    }
    if (ev->has_direction) {
        jw_key(&w, "direction");
        jw_str(&w, ripp_dir_name(ev->direction), 3);
    }
    if (ev->timestamp_ms != 0) {
        jw_key(&w, "timestamp");
        jw_int(&w, ev->timestamp_ms);
    }
    if (ev->call[0]) {
        jw_key(&w, "call");
        JW_STR(&w, ev->call);
    }
    switch (ev->type) {
    case RIPP_EV_REJECTED: /* code and reason are an extension here: which decline it was */
        if (!ev->code && !ev->reason_phrase[0])
            break;
        /* fall through */
    case RIPP_EV_FAILED:
        jw_key(&w, "code");
        jw_int(&w, ev->code);
        if (ev->reason_phrase[0]) {
            jw_key(&w, "reason");
            JW_STR(&w, ev->reason_phrase);
        }
        break;
    case RIPP_EV_END:
        if (ev->reason.present) {
            jw_key(&w, "reason");
            jw_lit(&w, "{");
            if (ev->reason.protocol[0]) {
                jw_lit(&w, "\"protocol\":");
                JW_STR(&w, ev->reason.protocol);
                jw_lit(&w, ",");
            }
            jw_lit(&w, "\"cause\":");
            jw_int(&w, ev->reason.cause);
            if (ev->reason.text[0]) {
                jw_key(&w, "text");
                JW_STR(&w, ev->reason.text);
            }
            jw_lit(&w, "}");
        }
        break;
    case RIPP_EV_MIGRATE:
        if (ev->uri[0]) {
            jw_key(&w, "migrateToURI");
            JW_STR(&w, ev->uri);
        }
        break;
    case RIPP_EV_OPEN_REVERSE:
        jw_key(&w, "count");
        jw_int(&w, ev->count);
        break;
    case RIPP_EV_TNT:
        if (ev->tnt_destination[0]) {
            jw_key(&w, "tntDestination");
            JW_STR(&w, ev->tnt_destination);
        }
        break;
    default:
        break;
    }
    jw_lit(&w, "}");
    if (w.err) return w.err;
    return (int64_t)w.len;
}

/* ---- decoding ---- */

/* Copies a string into a field. Fields that only inform (names, phrases) are cut at a UTF-8
 * boundary; fields that address something (URIs, numbers) must fit or the event is refused. */
static int get_str(json_t *v, char *dst, size_t cap, bool truncate)
{
    if (!json_is_string(v)) return RIPP_ERR_PROTO;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n >= cap) {
        if (!truncate) return RIPP_ERR_LIMIT;
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int get_int(json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!json_is_integer(v)) return RIPP_ERR_PROTO;
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) return RIPP_ERR_PROTO;
    *out = x;
    return 0;
}

static int decode_reason_obj(json_t *r, ripp_reason *reason)
{
    json_t *v;
    int rc;
    int64_t x;
    reason->present = true;
    if ((v = json_object_get(r, "protocol")) &&
        (rc = get_str(v, reason->protocol, sizeof reason->protocol, true)) != 0)
        return rc;
    if ((v = json_object_get(r, "cause"))) {
        if ((rc = get_int(v, INT32_MIN, INT32_MAX, &x)) != 0) return rc;
        reason->cause = (int)x;
    }
    if ((v = json_object_get(r, "text")) &&
        (rc = get_str(v, reason->text, sizeof reason->text, true)) != 0)
        return rc;
    return 0;
}

static int decode_typed(ripp_event *ev, json_t *o)
{
    json_t *v;
    int rc;
    int64_t x;
    switch (ev->type) {
    case RIPP_EV_REJECTED:
    case RIPP_EV_FAILED:
        if ((v = json_object_get(o, "code"))) {
            if ((rc = get_int(v, INT32_MIN, INT32_MAX, &x)) != 0) return rc;
            ev->code = (int)x;
        }
        if ((v = json_object_get(o, "reason"))) {
            if (json_is_object(v)) {
                ripp_reason r = {0};
                if ((rc = decode_reason_obj(v, &r)) != 0) return rc;
                if (r.text[0]) snprintf(ev->reason_phrase, sizeof ev->reason_phrase, "%s", r.text);
                if (!json_object_get(o, "code") && r.cause) ev->code = r.cause;
            } else if ((rc = get_str(v, ev->reason_phrase, sizeof ev->reason_phrase, true)) != 0) {
                return rc;
            }
        }
        break;
    case RIPP_EV_END:
        if ((v = json_object_get(o, "reason"))) {
            if (json_is_object(v)) {
                if ((rc = decode_reason_obj(v, &ev->reason)) != 0) return rc;
            } else {
                if ((rc = get_str(v, ev->reason.text, sizeof ev->reason.text, true)) != 0)
                    return rc;
                ev->reason.present = true;
            }
        }
        break;
    case RIPP_EV_MIGRATE:
        v = json_object_get(o, "migrateToURI");
        if (!v) v = json_object_get(o, "migrateToURl");
        if (v && (rc = get_str(v, ev->uri, sizeof ev->uri, false)) != 0) return rc;
        break;
    case RIPP_EV_OPEN_REVERSE:
        if ((v = json_object_get(o, "count"))) {
            if ((rc = get_int(v, 0, UINT32_MAX, &x)) != 0) return rc;
            ev->count = (uint32_t)x;
        }
        break;
    case RIPP_EV_TNT:
        if ((v = json_object_get(o, "tntDestination")) &&
            (rc = get_str(v, ev->tnt_destination, sizeof ev->tnt_destination, false)) != 0)
            return rc;
        break;
    default:
        break;
    }
    return 0;
}

static int decode_obj(ripp_event *ev, json_t *o)
{
    json_t *v;
    int rc;
    int64_t x;
    if (!json_is_object(o)) return RIPP_ERR_PROTO;
    v = json_object_get(o, "name");
    if (!json_is_string(v) || json_string_length(v) == 0) return RIPP_ERR_PROTO;
    char name[sizeof ev->name];
    get_str(v, name, sizeof name, true);
    enum ripp_event_type t = ripp_event_type_from_name(json_string_value(v));
    if (json_is_true(json_object_get(o, "ended"))) t = RIPP_EV_END;
    ripp_event_init(ev, t);
    memcpy(ev->name, name, sizeof name);

    v = json_object_get(o, "seq");
    if (!v) v = json_object_get(o, "sequence number");
    if (!v) v = json_object_get(o, "seqnum");
    if (v) {
        if ((rc = get_int(v, 0, INT64_MAX, &x)) != 0) return rc;
        ev->has_seq = true;
        ev->seq = (uint64_t)x;
    }
    if ((v = json_object_get(o, "direction"))) {
        const char *d = json_string_value(v);
        if (!d) return RIPP_ERR_PROTO;
        if (strcmp(d, "c2s") == 0)
            ev->direction = RIPP_DIR_C2S;
        else if (strcmp(d, "s2c") == 0)
            ev->direction = RIPP_DIR_S2C;
        else
            return RIPP_ERR_PROTO;
        ev->has_direction = true;
    }
    /* The timestamp only informs (D43): a value we cannot read is ignored. */
    v = json_object_get(o, "timestamp");
    if (!json_is_number(v)) v = json_object_get(o, "timeStamp");
    if (json_is_integer(v)) {
        ev->timestamp_ms = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d > -9.2e18 && d < 9.2e18) ev->timestamp_ms = (int64_t)d;
    }
    if ((v = json_object_get(o, "call")) && (rc = get_str(v, ev->call, sizeof ev->call, false)))
        return rc;
    return decode_typed(ev, o);
}

int ripp_event_decode(ripp_event *ev, const char *json, size_t len)
{
    if (!ev || (!json && len)) return RIPP_ERR_INVAL;
    if (len > RIPP_EVENT_MAX_BYTES) return RIPP_ERR_LIMIT;
    json_error_t jerr;
    json_t *o = json_loadb(json ? json : "", len, 0, &jerr);
    if (!o) return RIPP_ERR_PROTO;
    int rc = decode_obj(ev, o);
    json_decref(o);
    return rc;
}

/* ---- stream parser ---- */

void ripp_event_parser_init(ripp_event_parser *p)
{
    memset(p, 0, sizeof *p);
}

void ripp_event_parser_free(ripp_event_parser *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

static int ev_fail(ripp_event_parser *p, int rc)
{
    p->failed = rc;
    return rc;
}

static int ev_append(ripp_event_parser *p, const uint8_t *in, size_t n)
{
    if (n > RIPP_EVENT_MAX_BYTES - p->len) return RIPP_ERR_LIMIT;
    size_t need = p->len + n;
    if (need > p->cap) {
        size_t cap = p->cap ? p->cap : 1024;
        while (cap < need)
            cap *= 2;
        if (cap > RIPP_EVENT_MAX_BYTES) cap = RIPP_EVENT_MAX_BYTES;
        char *nb = realloc(p->buf, cap);
        if (!nb) return RIPP_ERR_NOMEM;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, in, n);
    p->len = need;
    return 0;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int ripp_event_parser_feed(ripp_event_parser *p, const uint8_t *in, size_t len, ripp_event_cb cb,
                           void *ud)
{
    if (p->failed) return p->failed;
    size_t i = 0;
    while (i < len) {
        if (p->depth == 0) {
            uint8_t c = in[i];
            if (is_ws(c)) {
                i++;
                continue;
            }
            if (p->closed) return ev_fail(p, RIPP_ERR_PROTO);
            if (c == ',') {
                /* only between objects */
                if (!p->started) return ev_fail(p, RIPP_ERR_PROTO);
                i++;
            } else if (c == '[' && !p->started) {
                p->started = true;
                i++;
            } else if (c == ']') {
                p->closed = true;
                i++;
            } else if (c == '{') {
                p->started = true;
                p->depth = 1;
                p->in_string = p->escape = false;
                p->len = 0;
                int rc = ev_append(p, in + i, 1);
                if (rc) return ev_fail(p, rc);
                i++;
            } else {
                return ev_fail(p, RIPP_ERR_PROTO);
            }
            continue;
        }
        /* Inside an object: find where it ends in this chunk, then buffer that much. */
        size_t j = i;
        while (j < len && p->depth > 0) {
            uint8_t c = in[j++];
            if (p->in_string) {
                if (p->escape)
                    p->escape = false;
                else if (c == '\\')
                    p->escape = true;
                else if (c == '"')
                    p->in_string = false;
            } else if (c == '"') {
                p->in_string = true;
            } else if (c == '{' || c == '[') {
                p->depth++;
            } else if (c == '}' || c == ']') {
                p->depth--;
            }
        }
        int rc = ev_append(p, in + i, j - i);
        if (rc) return ev_fail(p, rc);
        i = j;
        if (p->depth == 0) {
            ripp_event ev;
            rc = ripp_event_decode(&ev, p->buf, p->len);
            p->len = 0;
            if (rc) return ev_fail(p, rc);
            p->events++;
            if (cb && (rc = cb(ud, &ev)) != 0) return ev_fail(p, rc);
        }
    }
    return 0;
}

int ripp_event_parser_finish(const ripp_event_parser *p)
{
    if (p->failed) return p->failed;
    return p->depth > 0 ? RIPP_ERR_TRUNCATED : 0;
}

int64_t ripp_event_stream_open(char *out, size_t cap)
{
    if (!out || cap < 2) return RIPP_ERR_LIMIT;
    out[0] = '[';
    out[1] = '\0';
    return 1;
}

int64_t ripp_event_stream_item(const ripp_event *ev, bool first, char *out, size_t cap)
{
    if (!out || cap < 2) return RIPP_ERR_LIMIT;
    size_t off = first ? 0 : 1;
    int64_t n = ripp_event_encode(ev, out + off, cap - off);
    if (n < 0) {
        out[0] = '\0';
        return n;
    }
    if (!first) out[0] = ',';
    return n + (int64_t)off;
}
