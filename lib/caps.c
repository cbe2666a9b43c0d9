/* Capability advertisement documents (capAdv). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ripp/caps.h"

#define FLOOR_BITRATE 64000
#define FLOOR_SAMPLERATE 8000
#define FLOOR_SAMPLESIZE 8

void ripp_caps_init_default(ripp_caps *c)
{
    memset(c, 0, sizeof *c);
    c->max_bitrate = FLOOR_BITRATE;
    c->max_samplerate = FLOOR_SAMPLERATE;
    c->max_samplesize = 16;
    c->max_channels = 1;
    c->codecs[RIPP_CODEC_PCMU] = true;
    c->codecs[RIPP_CODEC_OPUS] = true;
    c->codecs[RIPP_CODEC_TEL_EVENT] = true;
    c->codecs[RIPP_CODEC_CN] = true;
}

/* Booleans as JSON true/false or the strings "true"/"false" (the draft's own spelling). */
static bool read_bool(json_t *v, bool *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcasecmp(s, "true") == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, "false") == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Non-negative whole numbers; larger than 32 bits reads as "no practical limit". */
static bool read_uint(json_t *v, uint32_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 0) return false;
        *out = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0)) return false;
        if (d >= (double)UINT32_MAX) {
            *out = UINT32_MAX;
            return true;
        }
        if ((double)(uint32_t)d != d) return false; /* a fraction */
        *out = (uint32_t)d;
        return true;
    }
    return false;
}

static void clamp(uint32_t *v, uint32_t floor, const char *name)
{
    if (*v < floor) {
        ripp_log(RIPP_LOG_INFO, "capAdv: %s %u below %u, read as %u", name, (unsigned)*v,
                 (unsigned)floor, (unsigned)floor);
        *v = floor;
    }
}

static void set_extra(ripp_caps *c, const char *name, bool value)
{
    size_t i;
    for (i = 0; i < c->n_extra; i++) {
        if (strcasecmp(c->extra[i].name, name) == 0) break;
    }
    if (!value) {
        /* false is the default of an unknown codec: forget it. */
        if (i < c->n_extra) {
            memmove(&c->extra[i], &c->extra[i + 1], (c->n_extra - i - 1) * sizeof c->extra[0]);
            c->n_extra--;
        }
        return;
    }
    if (i < c->n_extra) {
        c->extra[i].value = true;
        return;
    }
    if (strlen(name) >= sizeof c->extra[0].name) {
        ripp_log(RIPP_LOG_WARN, "capAdv: codec name of %zu bytes ignored", strlen(name));
        return;
    }
    if (c->n_extra == RIPP_CAPS_MAX_EXTRA) {
        ripp_log(RIPP_LOG_WARN, "capAdv: more than %d unknown codecs, \"%s\" ignored",
                 RIPP_CAPS_MAX_EXTRA, name);
        return;
    }
    snprintf(c->extra[c->n_extra].name, sizeof c->extra[0].name, "%s", name);
    c->extra[c->n_extra].value = true;
    c->n_extra++;
}

enum cap_kind { K_UINT, K_BOOL };

struct cap_member {
    const char *name;
    enum cap_kind kind;
    size_t off;
    uint32_t floor;
};

static const struct cap_member members[] = {
    {"max-bitrate", K_UINT, offsetof(ripp_caps, max_bitrate), FLOOR_BITRATE},
    {"max-samplerate", K_UINT, offsetof(ripp_caps, max_samplerate), FLOOR_SAMPLERATE},
    {"max-samplesize", K_UINT, offsetof(ripp_caps, max_samplesize), FLOOR_SAMPLESIZE},
    {"force-cbr", K_BOOL, offsetof(ripp_caps, force_cbr), 0},
    {"two-channel", K_BOOL, offsetof(ripp_caps, two_channel), 0},
    {"tnt", K_BOOL, offsetof(ripp_caps, tnt), 0},
    {"max-channels", K_UINT, offsetof(ripp_caps, max_channels), 1},
    {"non-e164", K_BOOL, offsetof(ripp_caps, non_e164), 0},
};

#define N_MEMBERS (sizeof members / sizeof members[0])

static bool apply_member(ripp_caps *c, const char *key, json_t *v)
{
    for (size_t i = 0; i < N_MEMBERS; i++) {
        const struct cap_member *m = &members[i];
        if (strcasecmp(key, m->name) != 0) continue;
        if (m->kind == K_UINT) {
            uint32_t x;
            if (!read_uint(v, &x)) return false;
            clamp(&x, m->floor, m->name);
            *(uint32_t *)((char *)c + m->off) = x;
        } else {
            bool b;
            if (!read_bool(v, &b)) return false;
            *(bool *)((char *)c + m->off) = b;
        }
        if (m->off == offsetof(ripp_caps, max_channels)) c->emit_max_channels = true;
        if (m->off == offsetof(ripp_caps, non_e164)) c->emit_non_e164 = true;
        return true;
    }
    if (!strchr(key, '/')) return true; /* an extension we do not know */
    bool b;
    if (!read_bool(v, &b)) return false;
    enum ripp_codec codec = ripp_codec_from_name(key, strlen(key));
    if (codec != RIPP_CODEC_NONE)
        c->codecs[codec] = b;
    else
        set_extra(c, key, b);
    return true;
}

int ripp_caps_parse(ripp_caps *c, const char *json, size_t len, int *warnings)
{
    if (warnings) *warnings = 0;
    if (!c || (!json && len)) return RIPP_ERR_INVAL;
    ripp_caps_init_default(c);
    if (len > RIPP_CAPS_MAX_BYTES) return RIPP_ERR_LIMIT;
    json_error_t jerr;
    json_t *doc = json_loadb(json ? json : "", len, 0, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return RIPP_ERR_PROTO;
    }
    const char *key;
    json_t *v;
    int bad = 0;
    json_object_foreach(doc, key, v)
    {
        if (!apply_member(c, key, v)) {
            bad++;
            ripp_log(RIPP_LOG_WARN, "capAdv: malformed value of \"%.64s\", default kept", key);
        }
    }
    json_decref(doc);
    if (warnings) *warnings = bad;
    return 0;
}

static int put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

int64_t ripp_caps_emit(const ripp_caps *c, char *out, size_t cap)
{
    if (!c || !out || cap == 0) return RIPP_ERR_INVAL;
    ripp_caps d;
    ripp_caps_init_default(&d);
    json_t *o = json_object();
    if (!o) return RIPP_ERR_NOMEM;
    int64_t rc = RIPP_ERR_NOMEM;
    int e = 0;
    if (c->max_bitrate != d.max_bitrate) e |= put(o, "max-bitrate", json_integer(c->max_bitrate));
    if (c->max_samplerate != d.max_samplerate)
        e |= put(o, "max-samplerate", json_integer(c->max_samplerate));
    if (c->max_samplesize != d.max_samplesize)
        e |= put(o, "max-samplesize", json_integer(c->max_samplesize));
    if (c->force_cbr) e |= put(o, "force-cbr", json_true());
    if (c->two_channel) e |= put(o, "two-channel", json_true());
    if (c->tnt) e |= put(o, "tnt", json_true());
    if (c->emit_max_channels || c->max_channels != d.max_channels)
        e |= put(o, "max-channels", json_integer(c->max_channels));
    if (c->emit_non_e164 || c->non_e164) e |= put(o, "non-e164", json_boolean(c->non_e164));
    for (int k = RIPP_CODEC_NONE + 1; k < RIPP_CODEC_COUNT; k++) {
        if (c->codecs[k] != d.codecs[k])
            e |= put(o, ripp_codec_name((enum ripp_codec)k), json_boolean(c->codecs[k]));
    }
    for (size_t i = 0; i < c->n_extra && i < RIPP_CAPS_MAX_EXTRA; i++) {
        const char *name = c->extra[i].name;
        if (!c->extra[i].value || !memchr(name, '\0', sizeof c->extra[i].name)) continue;
        if (ripp_codec_from_name(name, strlen(name)) != RIPP_CODEC_NONE) continue;
        /* json_object_set_new refuses invalid UTF-8, which is a caller error here */
        json_t *t = json_true();
        if (json_object_set_new(o, name, t) != 0) {
            rc = RIPP_ERR_INVAL;
            goto out;
        }
    }
    if (e) goto out;
    size_t n = json_dumpb(o, out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (n == 0) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
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

int ripp_caps_validate(const ripp_caps *c, char *err, size_t errcap)
{
    const char *why = NULL;
    if (!c)
        why = "no document";
    else if (c->max_bitrate < FLOOR_BITRATE)
        why = "max-bitrate must be at least 64000";
    else if (c->max_samplerate < FLOOR_SAMPLERATE)
        why = "max-samplerate must be at least 8000";
    else if (c->max_samplesize < FLOOR_SAMPLESIZE)
        why = "max-samplesize must be at least 8";
    else if (c->max_channels < 1)
        why = "max-channels must be at least 1";
    else if (c->n_extra > RIPP_CAPS_MAX_EXTRA)
        why = "too many extra codecs";
    else if (!c->codecs[RIPP_CODEC_PCMU] && !c->codecs[RIPP_CODEC_PCMA] &&
             !c->codecs[RIPP_CODEC_OPUS])
        why = "no voice codec accepted (audio/PCMU, audio/PCMA and audio/opus all false)";
    if (!why) {
        if (err && errcap) err[0] = '\0';
        return 0;
    }
    if (err && errcap) snprintf(err, errcap, "%s", why);
    return RIPP_ERR_INVAL;
}

bool ripp_caps_accepts(const ripp_caps *c, enum ripp_codec codec)
{
    if (!c || codec <= RIPP_CODEC_NONE || codec >= RIPP_CODEC_COUNT) return false;
    return c->codecs[codec];
}
