/* Fuzzes the Identity/PASSporT parser with a verifier that accepts every signature, so
 * inputs reach the JSON and claim checks. Properties: whatever parses re-signs (when its
 * fields are signable) into a value that parses back to the same passport; base64url
 * decoding and encoding round-trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/passport.h"

static int accept_all(void *ud, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
    (void)ud;
    (void)data;
    (void)len;
    (void)sig;
    return siglen == 64 ? 0 : RIPP_ERR_AUTH;
}

static int zero_sign(void *ud, const uint8_t *data, size_t len, uint8_t sig[64])
{
    (void)ud;
    (void)data;
    (void)len;
    memset(sig, 0x5a, 64);
    return 0;
}

static void same_or_die(const ripp_passport *a, const ripp_passport *b)
{
    if (strcmp(a->orig_tn, b->orig_tn) || strcmp(a->dest_tn, b->dest_tn) || a->iat != b->iat ||
        strcmp(a->x5u, b->x5u) || strcmp(a->ppt, b->ppt) || strcmp(a->attest, b->attest) ||
        strcmp(a->origid, b->origid))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ripp_passport pp, again;
    enum ripp_passport_fail fail;
    char why[128];
    int rc = ripp_passport_verify((const char *)data, size, accept_all, NULL, &pp, &fail, why,
                                  sizeof why);
    if ((rc == 0) != (fail == RIPP_PASSPORT_OK)) abort();
    if (rc == 0) {
        char out[RIPP_IDENTITY_MAX + 1];
        int64_t n = ripp_passport_sign(&pp, zero_sign, NULL, out, sizeof out);
        if (n > 0) {
            if (ripp_passport_verify(out, (size_t)n, accept_all, NULL, &again, &fail, why,
                                     sizeof why))
                abort();
            same_or_die(&pp, &again);
        }
    }

    uint8_t bin[RIPP_IDENTITY_MAX];
    size_t blen = size < RIPP_IDENTITY_MAX ? size : RIPP_IDENTITY_MAX;
    int64_t d = ripp_b64url_decode((const char *)data, blen, bin, sizeof bin);
    if (d >= 0) {
        char txt[2 * RIPP_IDENTITY_MAX];
        uint8_t back[RIPP_IDENTITY_MAX];
        int64_t e = ripp_b64url_encode(bin, (size_t)d, txt, sizeof txt);
        if (e < 0 || ripp_b64url_decode(txt, (size_t)e, back, sizeof back) != d ||
            memcmp(back, bin, (size_t)d))
            abort();
    }
    return 0;
}
