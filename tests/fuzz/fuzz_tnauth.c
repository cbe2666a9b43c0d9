/* Fuzzes the parsers of x5u peer bytes: the TNAuthList DER parser (libtasn1), the
 * certificate-chain loader (GnuTLS import + our checks, no trust anchors) and the
 * Cache-Control TTL parser. Properties: a parsed TNAuthList encodes and parses back to the
 * same list; coverage answers are consistent with the list's kinds; TTLs stay in bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../io/stir_internal.h"

static void same_or_die(const ripp_tnauth *a, const ripp_tnauth *b)
{
    if (a->n != b->n) abort();
    for (size_t i = 0; i < a->n; i++)
        if (a->e[i].kind != b->e[i].kind || strcmp(a->e[i].value, b->e[i].value) ||
            a->e[i].count != b->e[i].count)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ripp_tnauth t, again;
    if (ripp_tnauth_parse(data, size, &t) == 0) {
        uint8_t der[RIPP_TNAUTH_MAX_DER];
        int64_t n = ripp_tnauth_encode(&t, der, sizeof der);
        if (n <= 0 || ripp_tnauth_parse(der, (size_t)n, &again)) abort();
        same_or_die(&t, &again);
        bool any_tn = false;
        for (size_t i = 0; i < t.n; i++) {
            if (t.e[i].kind == RIPP_TNAUTH_SPC) continue;
            any_tn = true;
            /* every entry covers its own first number */
            if (ripp_tnauth_covers(&t, t.e[i].value) != RIPP_TNAUTH_COVERED) abort();
        }
        enum ripp_tnauth_cover c = ripp_tnauth_covers(&t, "");
        if (c != (any_tn ? RIPP_TNAUTH_NOT_COVERED : RIPP_TNAUTH_SPC_ONLY)) abort();
    }

    ripp_stir_cert c;
    int rc = ripp_stir_cert_load(&c, data, size, NULL);
    if (rc == 0 && c.code == 0) abort(); /* no anchors: never trusted */
    ripp_stir_cert_free(&c);

    char txt[512];
    size_t m = size < sizeof txt - 1 ? size : sizeof txt - 1;
    memcpy(txt, data, m);
    txt[m] = '\0';
    uint32_t ttl = ripp_stir_cache_ttl(txt, 3600, 60, 86400);
    if (ttl < 60 || ttl > 86400) abort();
    return 0;
}
