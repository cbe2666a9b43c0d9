/* ripp-sticert: test STI certificates (RFC 8226) made with GnuTLS.
 *
 *   ripp-sticert ca --out DIR [--ca PARENT] [--cn NAME] [--days N]
 *   ripp-sticert issue --ca DIR --out DIR [--tn TN]... [--tn-range START:COUNT]...
 *                [--spc CODE]... [--no-tnauth] [--cn NAME] [--days N | --expired]
 *
 * Every directory gets key.pem and cert.pem (the certificate, then the issuer's chain
 * without the root). A root's cert.pem is the trust-anchor file of verifiers; a signer's
 * cert.pem is what its x5u URL serves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ripp/stir.h"

static int usage(void)
{
    fprintf(
        stderr,
        "usage: ripp-sticert ca --out DIR [--ca PARENT] [--cn NAME] [--days N]\n"
        "       ripp-sticert issue --ca DIR --out DIR [--tn TN]... [--tn-range START:COUNT]...\n"
        "                    [--spc CODE]... [--no-tnauth] [--cn NAME] [--days N | --expired]\n");
    return 2;
}

static int add_entry(ripp_tnauth *t, enum ripp_tnauth_kind kind, const char *val, uint64_t count)
{
    if (t->n == RIPP_TNAUTH_MAX_ENTRIES || strlen(val) > RIPP_SPC_MAX) return -1;
    ripp_tnauth_entry *e = &t->e[t->n++];
    e->kind = kind;
    snprintf(e->value, sizeof e->value, "%s", val);
    e->count = count;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    bool ca = !strcmp(cmd, "ca");
    if (!ca && strcmp(cmd, "issue")) return usage();
    const char *out = NULL, *issuer = NULL, *cn = NULL;
    long days = ca ? 3650 : 365;
    bool expired = false, no_tnauth = false;
    ripp_tnauth tn;
    memset(&tn, 0, sizeof tn);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--expired")) {
            expired = true;
            continue;
        }
        if (!strcmp(a, "--no-tnauth")) {
            no_tnauth = true;
            continue;
        }
        if (!val) return usage();
        i++;
        if (!strcmp(a, "--out")) {
            out = val;
        } else if (!strcmp(a, "--ca")) {
            issuer = val;
        } else if (!strcmp(a, "--cn")) {
            cn = val;
        } else if (!strcmp(a, "--days")) {
            char *end;
            days = strtol(val, &end, 10);
            if (*end || days < 1 || days > 36500) return usage();
        } else if (!ca && !strcmp(a, "--tn")) {
            if (add_entry(&tn, RIPP_TNAUTH_ONE, val[0] == '+' ? val + 1 : val, 0)) return usage();
        } else if (!ca && !strcmp(a, "--spc")) {
            if (add_entry(&tn, RIPP_TNAUTH_SPC, val, 0)) return usage();
        } else if (!ca && !strcmp(a, "--tn-range")) {
            char start[RIPP_TN_MAX + 2];
            const char *colon = strchr(val, ':');
            if (!colon || (size_t)(colon - val) >= sizeof start) return usage();
            memcpy(start, val, (size_t)(colon - val));
            start[colon - val] = '\0';
            char *end;
            unsigned long long count = strtoull(colon + 1, &end, 10);
            if (*end || !count) return usage();
            if (add_entry(&tn, RIPP_TNAUTH_RANGE, start, count)) return usage();
        } else {
            return usage();
        }
    }
    if (!out || (!ca && !issuer)) return usage();
    if (!ca && !no_tnauth && !tn.n) {
        fprintf(stderr, "ripp-sticert: issue needs --tn, --tn-range or --spc (or --no-tnauth)\n");
        return 2;
    }
    if (mkdir(out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "ripp-sticert: %s: %s\n", out, strerror(errno));
        return 1;
    }
    int64_t now = (int64_t)time(NULL);
    ripp_sticert_opts o = {
        .issuer_dir = issuer,
        .ca = ca,
        .cn = cn,
        .tnauth = ca || no_tnauth ? NULL : &tn,
        .not_before = expired ? now - 10 * 86400 : now - 3600,
        .not_after = expired ? now - 86400 : now + (int64_t)days * 86400,
    };
    char err[256];
    int rc = ripp_sticert_make(&o, out, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ripp-sticert: %s\n", err);
        return 1;
    }
    printf("{\"cert\":\"%s/cert.pem\",\"key\":\"%s/key.pem\"}\n", out, out);
    return 0;
}
