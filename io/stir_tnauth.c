/* TNAuthList (RFC 8226 §9) with libtasn1. The definitions below are asn1Parser's output for
 * this module (RFC 8226 Appendix A, size and alphabet constraints checked in C instead):
 *
 *   TNAuth { } DEFINITIONS EXPLICIT TAGS ::= BEGIN
 *   TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
 *   TNEntry ::= CHOICE { spc [0] ServiceProviderCode, range [1] TelephoneNumberRange,
 *                        one [2] TelephoneNumber }
 *   ServiceProviderCode ::= IA5String
 *   TelephoneNumberRange ::= SEQUENCE { start TelephoneNumber, count INTEGER }
 *   TelephoneNumber ::= IA5String
 *   END */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libtasn1.h>

#include "ripp/stir.h"

static const asn1_static_node tnauth_asn1_tab[] = {
    {"TNAuth", 536872976, NULL},
    {NULL, 1073741836, NULL},
    {"TNAuthorizationList", 1612709899, NULL},
    {"MAX", 1074266122, "1"},
    {NULL, 2, "TNEntry"},
    {"TNEntry", 1610612754, NULL},
    {"spc", 1610620930, "ServiceProviderCode"},
    {NULL, 2056, "0"},
    {"range", 1610620930, "TelephoneNumberRange"},
    {NULL, 2056, "1"},
    {"one", 536879106, "TelephoneNumber"},
    {NULL, 2056, "2"},
    {"ServiceProviderCode", 1073741853, NULL},
    {"TelephoneNumberRange", 1610612741, NULL},
    {"start", 1073741826, "TelephoneNumber"},
    {"count", 3, NULL},
    {"TelephoneNumber", 29, NULL},
    {NULL, 0, NULL},
};

#define COUNT_MAX 1000000000000000ull /* 10^15: every 15-digit number */

static asn1_node defs;
static int defs_rc = RIPP_ERR_NOMEM;
static pthread_once_t defs_once = PTHREAD_ONCE_INIT;

static void defs_init(void)
{
    char err[ASN1_MAX_ERROR_DESCRIPTION_SIZE];
    defs_rc = asn1_array2tree(tnauth_asn1_tab, &defs, err) == ASN1_SUCCESS ? 0 : RIPP_ERR_NOMEM;
}

static int definitions(void)
{
    pthread_once(&defs_once, defs_init);
    return defs_rc;
}

static bool tn_ok(const char *s, size_t n)
{
    if (n < 1 || n > RIPP_TN_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '#' || s[i] == '*')) return false;
    return true;
}

static bool spc_ok(const char *s, size_t n)
{
    if (n < 1 || n > RIPP_SPC_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
    return true;
}

static bool digits_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return n > 0;
}

static bool entry_ok(const ripp_tnauth_entry *e)
{
    const char *end = memchr(e->value, 0, sizeof e->value);
    if (!end) return false;
    size_t n = (size_t)(end - e->value);
    switch (e->kind) {
    case RIPP_TNAUTH_SPC:
        return spc_ok(e->value, n);
    case RIPP_TNAUTH_ONE:
        return tn_ok(e->value, n);
    /* A range counts numbers: its start is digits only. */
    case RIPP_TNAUTH_RANGE:
        return digits_only(e->value, n) && n <= RIPP_TN_MAX && e->count >= 1 &&
               e->count <= COUNT_MAX;
    }
    return false;
}

/* Reads an IA5String leaf into dst (NUL-terminated); false when absent or over cap - 1. */
static bool read_str(asn1_node el, const char *name, char *dst, size_t cap)
{
    int len = (int)cap - 1;
    if (asn1_read_value(el, name, dst, &len) != ASN1_SUCCESS || len < 0 || (size_t)len >= cap)
        return false;
    dst[len] = '\0';
    return memchr(dst, 0, (size_t)len) == NULL;
}

/* A non-negative INTEGER of at most 8 bytes (plus a leading zero). */
static bool read_count(asn1_node el, const char *name, uint64_t *out)
{
    uint8_t b[16];
    int len = sizeof b;
    if (asn1_read_value(el, name, b, &len) != ASN1_SUCCESS || len < 1 || len > (int)sizeof b)
        return false;
    if (b[0] & 0x80) return false;
    int i = 0;
    while (i < len - 1 && b[i] == 0)
        i++;
    if (len - i > 8) return false;
    uint64_t v = 0;
    for (; i < len; i++)
        v = v << 8 | b[i];
    *out = v;
    return true;
}

int ripp_tnauth_parse(const uint8_t *der, size_t len, ripp_tnauth *out)
{
    if ((!der && len) || !out) return RIPP_ERR_INVAL;
    if (len > RIPP_TNAUTH_MAX_DER) return RIPP_ERR_LIMIT;
    if (!len) return RIPP_ERR_PROTO;
    int rc = definitions();
    if (rc) return rc;
    asn1_node el = NULL;
    if (asn1_create_element(defs, "TNAuth.TNAuthorizationList", &el) != ASN1_SUCCESS)
        return RIPP_ERR_NOMEM;
    int used = (int)len;
    char err[ASN1_MAX_ERROR_DESCRIPTION_SIZE];
    rc = RIPP_ERR_PROTO;
    if (asn1_der_decoding2(&el, der, &used, ASN1_DECODE_FLAG_STRICT_DER, err) != ASN1_SUCCESS ||
        used != (int)len)
        goto out;
    memset(out, 0, sizeof *out);
    for (size_t i = 1;; i++) {
        char name[48], choice[16];
        snprintf(name, sizeof name, "?%zu", i);
        int clen = sizeof choice - 1;
        int r = asn1_read_value(el, name, choice, &clen);
        if (r == ASN1_ELEMENT_NOT_FOUND) break;
        if (r != ASN1_SUCCESS || clen <= 0 || clen >= (int)sizeof choice) goto out;
        choice[clen] = '\0';
        if (out->n == RIPP_TNAUTH_MAX_ENTRIES) {
            rc = RIPP_ERR_LIMIT;
            goto out;
        }
        ripp_tnauth_entry *e = &out->e[out->n];
        char path[64];
        if (!strcmp(choice, "spc")) {
            e->kind = RIPP_TNAUTH_SPC;
            snprintf(path, sizeof path, "%s.spc", name);
            if (!read_str(el, path, e->value, sizeof e->value)) goto out;
        } else if (!strcmp(choice, "one")) {
            e->kind = RIPP_TNAUTH_ONE;
            snprintf(path, sizeof path, "%s.one", name);
            if (!read_str(el, path, e->value, RIPP_TN_MAX + 1)) goto out;
        } else if (!strcmp(choice, "range")) {
            e->kind = RIPP_TNAUTH_RANGE;
            snprintf(path, sizeof path, "%s.range.start", name);
            if (!read_str(el, path, e->value, RIPP_TN_MAX + 1)) goto out;
            snprintf(path, sizeof path, "%s.range.count", name);
            if (!read_count(el, path, &e->count)) goto out;
        } else {
            goto out;
        }
        if (!entry_ok(e)) goto out;
        out->n++;
    }
    rc = out->n ? 0 : RIPP_ERR_PROTO;
out:
    asn1_delete_structure(&el);
    return rc;
}

int64_t ripp_tnauth_encode(const ripp_tnauth *t, uint8_t *out, size_t cap)
{
    if (!t || !t->n || t->n > RIPP_TNAUTH_MAX_ENTRIES || (!out && cap)) return RIPP_ERR_INVAL;
    for (size_t i = 0; i < t->n; i++)
        if (!entry_ok(&t->e[i])) return RIPP_ERR_INVAL;
    int rc = definitions();
    if (rc) return rc;
    asn1_node el = NULL;
    if (asn1_create_element(defs, "TNAuth.TNAuthorizationList", &el) != ASN1_SUCCESS)
        return RIPP_ERR_NOMEM;
    rc = RIPP_ERR_NOMEM;
    for (size_t i = 0; i < t->n; i++) {
        const ripp_tnauth_entry *e = &t->e[i];
        int r = asn1_write_value(el, "", "NEW", 1);
        if (r != ASN1_SUCCESS) goto out;
        if (e->kind == RIPP_TNAUTH_SPC) {
            r = asn1_write_value(el, "?LAST", "spc", 1);
            if (r == ASN1_SUCCESS)
                r = asn1_write_value(el, "?LAST.spc", e->value, (int)strlen(e->value));
        } else if (e->kind == RIPP_TNAUTH_ONE) {
            r = asn1_write_value(el, "?LAST", "one", 1);
            if (r == ASN1_SUCCESS)
                r = asn1_write_value(el, "?LAST.one", e->value, (int)strlen(e->value));
        } else {
            char num[24];
            snprintf(num, sizeof num, "%llu", (unsigned long long)e->count);
            r = asn1_write_value(el, "?LAST", "range", 1);
            if (r == ASN1_SUCCESS)
                r = asn1_write_value(el, "?LAST.range.start", e->value, (int)strlen(e->value));
            if (r == ASN1_SUCCESS) r = asn1_write_value(el, "?LAST.range.count", num, 0);
        }
        if (r != ASN1_SUCCESS) goto out;
    }
    char err[ASN1_MAX_ERROR_DESCRIPTION_SIZE];
    int len = cap > INT32_MAX ? INT32_MAX : (int)cap;
    int r = asn1_der_coding(el, "", out, &len, err);
    if (r == ASN1_MEM_ERROR)
        rc = RIPP_ERR_LIMIT;
    else if (r == ASN1_SUCCESS)
        rc = len;
out:
    asn1_delete_structure(&el);
    return rc;
}

/* Adds count - 1 to a digit string of n digits; false when it carries past n digits. */
static bool range_end(const char *start, size_t n, uint64_t count, char *end)
{
    memcpy(end, start, n);
    end[n] = '\0';
    uint64_t add = count - 1;
    for (size_t i = n; i-- > 0 && add;) {
        uint64_t d = (uint64_t)(end[i] - '0') + add % 10;
        add /= 10;
        if (d >= 10) {
            d -= 10;
            add++;
        }
        end[i] = (char)('0' + d);
    }
    return add == 0;
}

enum ripp_tnauth_cover ripp_tnauth_covers(const ripp_tnauth *t, const char *tn)
{
    if (!t) return RIPP_TNAUTH_NOT_COVERED;
    bool any_tn = false;
    for (size_t i = 0; i < t->n && i < RIPP_TNAUTH_MAX_ENTRIES; i++)
        if (t->e[i].kind != RIPP_TNAUTH_SPC) any_tn = true;
    enum ripp_tnauth_cover none = any_tn ? RIPP_TNAUTH_NOT_COVERED : RIPP_TNAUTH_SPC_ONLY;
    if (!tn) return none;
    if (tn[0] == '+') tn++;
    size_t n = strnlen(tn, RIPP_TN_MAX + 1);
    if (!tn_ok(tn, n)) return none;
    for (size_t i = 0; i < t->n && i < RIPP_TNAUTH_MAX_ENTRIES; i++) {
        const ripp_tnauth_entry *e = &t->e[i];
        if (e->kind == RIPP_TNAUTH_ONE && !strcmp(e->value, tn)) return RIPP_TNAUTH_COVERED;
        if (e->kind != RIPP_TNAUTH_RANGE || strlen(e->value) != n || !digits_only(tn, n) ||
            !digits_only(e->value, n) || e->count < 1)
            continue;
        char last[RIPP_TN_MAX + 1];
        /* Same length: digit strings compare like the numbers they write. */
        if (strcmp(tn, e->value) < 0) continue;
        if (!range_end(e->value, n, e->count, last) || strcmp(tn, last) <= 0)
            return RIPP_TNAUTH_COVERED;
    }
    return none;
}
