/* ripp-stir: sign and verify SHAKEN PASSporTs from the command line (interop, debugging) and
 * measure them.
 *
 *   ripp-stir sign --cert PEM --key PEM --x5u URL --orig TN --dest TN [--attest A]
 *                  [--iat N] [--origid UUID]
 *   ripp-stir verify --ca PEM [--cert-file PEM] [--tls-ca PEM] [--timeout MS] --dest TN
 *                  IDENTITY|-
 *   ripp-stir bench --cert PEM --key PEM --ca PEM --orig TN [--seconds N]
 *
 * sign prints the Identity value. verify prints a JSON verdict and exits 0 only when the
 * PASSporT is valid (1 when refused, 2 on usage errors); --cert-file uses a local chain
 * instead of fetching x5u, --tls-ca is the trust for the HTTPS fetch (default: the system
 * store). bench prints signatures and verifications (cached certificate) per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ripp/io.h"
#include "ripp/stir.h"

typedef struct opts {
    const char *cert, *key, *x5u, *orig, *dest, *attest, *origid, *ca, *cert_file, *tls_ca;
    const char *identity;
    long long iat;
    long timeout_ms;
    double seconds;
} opts;

static int usage(void)
{
    fprintf(
        stderr,
        "usage: ripp-stir sign --cert PEM --key PEM --x5u URL --orig TN --dest TN [--attest A]\n"
        "                      [--iat N] [--origid UUID]\n"
        "       ripp-stir verify --ca PEM [--cert-file PEM] [--tls-ca PEM] [--timeout MS]\n"
        "                      --dest TN IDENTITY|-\n"
        "       ripp-stir bench --cert PEM --key PEM --ca PEM --orig TN [--seconds N]\n");
    return 2;
}

static int parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->attest = "A";
    o->seconds = 2;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (o->identity) return -1;
            o->identity = a;
            continue;
        }
        if (i + 1 >= argc) return -1;
        const char *v = argv[++i];
        if (!strcmp(a, "--cert"))
            o->cert = v;
        else if (!strcmp(a, "--key"))
            o->key = v;
        else if (!strcmp(a, "--x5u"))
            o->x5u = v;
        else if (!strcmp(a, "--orig"))
            o->orig = v;
        else if (!strcmp(a, "--dest"))
            o->dest = v;
        else if (!strcmp(a, "--attest"))
            o->attest = v;
        else if (!strcmp(a, "--origid"))
            o->origid = v;
        else if (!strcmp(a, "--iat"))
            o->iat = atoll(v);
        else if (!strcmp(a, "--ca"))
            o->ca = v;
        else if (!strcmp(a, "--cert-file"))
            o->cert_file = v;
        else if (!strcmp(a, "--tls-ca"))
            o->tls_ca = v;
        else if (!strcmp(a, "--timeout"))
            o->timeout_ms = atol(v);
        else if (!strcmp(a, "--seconds"))
            o->seconds = atof(v);
        else
            return -1;
    }
    return 0;
}

static int cmd_sign(const opts *o)
{
    if (!o->cert || !o->key || !o->x5u || !o->orig || !o->dest) return usage();
    int err = 0;
    char eb[256];
    ripp_stir_signer *s = ripp_stir_signer_new(o->cert, o->key, o->x5u, &err, eb, sizeof eb);
    if (!s) {
        fprintf(stderr, "ripp-stir: %s\n", eb);
        return 1;
    }
    ripp_stir_claims c = {o->orig, o->dest, o->attest, o->origid, o->iat};
    char out[RIPP_IDENTITY_MAX + 1];
    int64_t n = ripp_stir_sign(s, &c, out, sizeof out);
    ripp_stir_signer_del(s);
    if (n < 0) {
        fprintf(stderr, "ripp-stir: sign: %s\n", ripp_strerror((int)n));
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            if (cap >= (1u << 20)) break;
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *read_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = read_all(f, len);
    fclose(f);
    return b;
}

typedef struct waiter {
    bool done;
    ripp_stir_result res;
} waiter;

static void on_done(void *ud, const ripp_stir_result *r)
{
    waiter *w = ud;
    w->res = *r;
    w->done = true;
}

static void print_result(const ripp_stir_result *r)
{
    json_t *j = json_pack("{s:b,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:s}", "ok", r->ok, "code",
                          r->code, "reason", r->reason, "orig", r->orig_tn, "dest", r->dest_tn,
                          "attest", r->attest, "origid", r->origid, "x5u", r->x5u, "iat",
                          (json_int_t)r->iat, "tn_checked", r->tn_checked, "spc", r->spc);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(j);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void loop_finish(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

static int cmd_verify(const opts *o)
{
    if (!o->ca || !o->dest || !o->identity) return usage();
    size_t ilen = 0;
    char *identity = NULL;
    if (!strcmp(o->identity, "-")) {
        identity = read_all(stdin, &ilen);
    } else {
        identity = strdup(o->identity);
        ilen = identity ? strlen(identity) : 0;
    }
    if (!identity) return 1;
    while (ilen && (identity[ilen - 1] == '\n' || identity[ilen - 1] == '\r'))
        identity[--ilen] = '\0';

    uv_loop_t loop;
    uv_loop_init(&loop);
    int err = 0, rc = 1;
    char eb[256];
    ripp_http_client *http = NULL;
    ripp_stir_verifier *v = NULL;
    if (!o->cert_file) {
        ripp_h2_client_config cc = {.tls = {.ca_file = o->tls_ca}};
        if (!(http = ripp_h2_client_new(&loop, &cc, &err))) {
            fprintf(stderr, "ripp-stir: https client: %s\n", ripp_strerror(err));
            goto out;
        }
    }
    ripp_stir_config cfg = {.ca_file = o->ca};
    if (o->timeout_ms > 0) cfg.fetch_timeout = (ripp_ts)o->timeout_ms * RIPP_NS_PER_MS;
    if (!(v = ripp_stir_verifier_new(&loop, http, &cfg, &err, eb, sizeof eb))) {
        fprintf(stderr, "ripp-stir: %s\n", eb);
        goto out;
    }
    if (o->cert_file) {
        ripp_passport pp;
        size_t clen = 0;
        char *pem = read_path(o->cert_file, &clen);
        if (!pem) {
            fprintf(stderr, "ripp-stir: cannot read %s\n", o->cert_file);
            goto out;
        }
        /* Unauthenticated x5u: only names the cache slot of the local certificate. */
        if (!ripp_passport_parse(identity, ilen, &pp, NULL, NULL, 0)) {
            int prc = ripp_stir_cache_put(v, pp.x5u, (const uint8_t *)pem, clen);
            if (prc) {
                fprintf(stderr, "ripp-stir: %s: %s\n", o->cert_file, ripp_strerror(prc));
                free(pem);
                goto out;
            }
        }
        free(pem);
    }
    waiter w = {0};
    if ((err = ripp_stir_verify(v, identity, ilen, o->dest, on_done, &w, NULL))) {
        fprintf(stderr, "ripp-stir: %s\n", ripp_strerror(err));
        goto out;
    }
    while (!w.done)
        uv_run(&loop, UV_RUN_ONCE);
    print_result(&w.res);
    rc = w.res.ok ? 0 : 1;
out:
    ripp_stir_verifier_del(v);
    if (http) ripp_http_client_del(http);
    loop_finish(&loop);
    free(identity);
    return rc;
}

typedef struct bench {
    size_t pending, ok, bad;
} bench;

static void on_bench(void *ud, const ripp_stir_result *r)
{
    bench *b = ud;
    b->pending--;
    if (r->ok)
        b->ok++;
    else
        b->bad++;
}

static int cmd_bench(const opts *o)
{
    if (!o->cert || !o->key || !o->ca || !o->orig) return usage();
    const char *x5u = "https://sti.invalid/bench.pem";
    int err = 0, rc = 1;
    char eb[256];
    ripp_stir_signer *s = ripp_stir_signer_new(o->cert, o->key, x5u, &err, eb, sizeof eb);
    if (!s) {
        fprintf(stderr, "ripp-stir: %s\n", eb);
        return 1;
    }
    ripp_stir_claims c = {o->orig, "15550001111", "A", NULL, 0};
    char id[RIPP_IDENTITY_MAX + 1];
    ripp_ts t0 = ripp_io_now(), limit = (ripp_ts)(o->seconds * 1e9), t;
    uint64_t signs = 0;
    do {
        for (int i = 0; i < 64; i++)
            if (ripp_stir_sign(s, &c, id, sizeof id) > 0) signs++;
        t = ripp_io_now() - t0;
    } while (t < limit);
    double sign_rate = (double)signs / ((double)t / 1e9);

    uv_loop_t loop;
    uv_loop_init(&loop);
    ripp_stir_config cfg = {.ca_file = o->ca};
    ripp_stir_verifier *v = ripp_stir_verifier_new(&loop, NULL, &cfg, &err, eb, sizeof eb);
    size_t clen = 0;
    char *pem = read_path(o->cert, &clen);
    bench b = {0};
    if (!v || !pem || ripp_stir_cache_put(v, x5u, (const uint8_t *)pem, clen)) {
        fprintf(stderr, "ripp-stir: bench setup: %s\n", v ? "certificate" : eb);
        goto out;
    }
    int64_t n = ripp_stir_sign(s, &c, id, sizeof id);
    if (n < 0) goto out;
    t0 = ripp_io_now();
    do {
        for (int i = 0; i < 256; i++)
            if (!ripp_stir_verify(v, id, (size_t)n, c.dest_tn, on_bench, &b, NULL)) b.pending++;
        while (b.pending)
            uv_run(&loop, UV_RUN_ONCE);
        t = ripp_io_now() - t0;
    } while (t < limit);
    double verify_rate = (double)(b.ok + b.bad) / ((double)t / 1e9);
    printf("{\"signs_per_s\":%.0f,\"verifies_per_s\":%.0f,\"verified_ok\":%zu,\"refused\":%zu}\n",
           sign_rate, verify_rate, b.ok, b.bad);
    rc = b.bad ? 1 : 0;
out:
    free(pem);
    ripp_stir_verifier_del(v);
    loop_finish(&loop);
    ripp_stir_signer_del(s);
    return rc;
}

int main(int argc, char **argv)
{
    opts o;
    if (argc < 2 || parse(argc, argv, &o)) return usage();
    if (!strcmp(argv[1], "sign")) return cmd_sign(&o);
    if (!strcmp(argv[1], "verify")) return cmd_verify(&o);
    if (!strcmp(argv[1], "bench")) return cmd_bench(&o);
    return usage();
}
