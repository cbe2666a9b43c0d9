/* Fuzz target: the peer bytes OAuth provisioning parses: form bodies and query strings, HTTP
 * Basic client credentials and ripp-trunk values. A form that parses must re-encode and parse
 * again to the same pairs (round trip), and nothing may read past the input. */
#include <stdlib.h>
#include <string.h>

#include "ripp/oauth.h"

static ripp_form f, g;
static char enc[RIPP_FORM_MAX_BYTES * 3 + 64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that a read past size is caught by ASan */
    char *in = malloc(size ? size : 1);
    if (!in) return 0;
    if (size) memcpy(in, data, size);
    if (ripp_form_parse(&f, in, size) == 0) {
        size_t len = 0;
        enc[0] = 0;
        for (size_t i = 0; i < f.n; i++)
            if (ripp_form_append(enc, sizeof enc, &len, f.name[i], f.value[i]) != 0) abort();
        int rc = ripp_form_parse(&g, enc, len);
        /* encoding can only grow the input past the limit */
        if (rc == 0) {
            if (g.n != f.n) abort();
            for (size_t i = 0; i < f.n; i++)
                if (strcmp(g.name[i], f.name[i]) != 0 || strcmp(g.value[i], f.value[i]) != 0)
                    abort();
        } else if (rc != RIPP_ERR_LIMIT || len <= RIPP_FORM_MAX_BYTES) {
            abort();
        }
    }
    /* the other parsers take NUL-terminated strings */
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, in, size);
        s[size] = 0;
        char id[128], secret[128], uri[1024];
        if (ripp_oauth_basic_parse(s, id, sizeof id, secret, sizeof secret) == 0 &&
            (strlen(id) >= sizeof id || strlen(secret) >= sizeof secret))
            abort();
        int64_t n = ripp_oauth_trunk_decode(s, uri, sizeof uri);
        if (n >= 0 && ((size_t)n != strlen(uri) || !ripp_trunk_uri_valid(uri))) abort();
        ripp_pwhash h;
        (void)ripp_pwhash_parse(s, &h);
        free(s);
    }
    free(in);
    return 0;
}
