/* rippd as STIR verification service (SPEC §6.4): trunks whose identity setting is "stir"
 * (or "stir:accept") have every call's PASSporT verified against certificates fetched from
 * x5u and the configured STIR trust anchors; other trunks keep the per-trunk key. rippd can
 * also publish certificates for x5u under /stir/. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ripp/problem.h"
#include "ripp/stir.h"
#include "ripp/transport.h"
#include "rippd.h"

#define MAX_PUBLISHED (256 * 1024)

typedef struct pending {
    struct pending *next;
    uint64_t ticket;
    bool accept; /* policy: accept and record a failed verification */
    ripp_stir_req *req;
} pending;

static struct {
    ripp_ep *ep;
    ripp_http_client *http;
    ripp_stir_verifier *v;
    char publish_dir[1024];
    pending *pending;
} S;

int rippd_stir_config(json_t *root, uv_loop_t *loop)
{
    json_t *c = root ? json_object_get(root, "stir") : NULL;
    if (!c) return 0;
    if (!json_is_object(c)) {
        fprintf(stderr, "rippd: config: \"stir\" must be an object\n");
        return 1;
    }
    const char *publish = json_string_value(json_object_get(c, "publish_dir"));
    if (publish) snprintf(S.publish_dir, sizeof S.publish_dir, "%s", publish);
    const char *anchors = json_string_value(json_object_get(c, "trust_anchors"));
    if (!anchors) return 0; /* publishing only */
    const char *fetch_ca = json_string_value(json_object_get(c, "fetch_ca"));
    json_t *to = json_object_get(c, "fetch_timeout_ms");
    ripp_transport_client_config hc = {.transport = RIPP_TRANSPORT_AUTO, .tls = {.ca_file = fetch_ca}};
    int rv = 0;
    S.http = ripp_transport_client_new(loop, &hc, &rv);
    if (!S.http) {
        fprintf(stderr, "rippd: config: stir: HTTPS client: %s\n", ripp_strerror(rv));
        return 1;
    }
    ripp_stir_config sc = {.ca_file = anchors};
    if (json_is_integer(to) && json_integer_value(to) > 0)
        sc.fetch_timeout = (ripp_ts)json_integer_value(to) * RIPP_NS_PER_MS;
    char err[256] = "";
    S.v = ripp_stir_verifier_new(loop, S.http, &sc, &rv, err, sizeof err);
    if (!S.v) {
        fprintf(stderr, "rippd: config: stir: %s\n", err);
        return 1;
    }
    ripp_log(RIPP_LOG_INFO, "STIR verification with trust anchors %s", anchors);
    return 0;
}

void rippd_stir_set_engine(ripp_ep *ep)
{
    S.ep = ep;
}

void rippd_stir_free(void)
{
    ripp_stir_verifier_del(S.v); /* pending verifications end without callbacks */
    S.v = NULL;
    ripp_http_client_del(S.http);
    S.http = NULL;
    while (S.pending) {
        pending *p = S.pending;
        S.pending = p->next;
        free(p);
    }
}

static pending *take(uint64_t ticket)
{
    for (pending **pp = &S.pending; *pp; pp = &(*pp)->next)
        if ((*pp)->ticket == ticket) {
            pending *p = *pp;
            *pp = p->next;
            return p;
        }
    return NULL;
}

static void on_verified(void *ud, const ripp_stir_result *r)
{
    pending *p = take((uint64_t)(uintptr_t)ud);
    if (!p) return;
    bool accept = p->accept;
    uint64_t ticket = p->ticket;
    free(p);
    ripp_identity_verdict v;
    memset(&v, 0, sizeof v);
    snprintf(v.orig_tn, sizeof v.orig_tn, "%s", r->orig_tn);
    if (r->ok) {
        snprintf(v.verstat, sizeof v.verstat, "verified %s%s", r->attest,
                 r->tn_checked ? "" : " (spc)");
    } else if (accept) {
        snprintf(v.verstat, sizeof v.verstat, "failed %d", r->code);
        ripp_log(RIPP_LOG_INFO, "STIR: %d %s; accepted by the trunk's policy", r->code, r->reason);
    } else {
        v.code = r->code;
        snprintf(v.reason, sizeof v.reason, "STIR verification failed: %s", r->reason);
    }
    if (S.ep) ripp_ep_identity_done(S.ep, ticket, &v, ripp_io_now());
}

int rippd_stir_check(const ripp_trunk_rec *t, const char *identity, const char *target,
                     uint64_t ticket, ripp_identity_verdict *v)
{
    bool accept;
    if (strcmp(t->identity_pub, "stir") == 0)
        accept = false;
    else if (strcmp(t->identity_pub, "stir:accept") == 0)
        accept = true;
    else
        return RIPP_ERR_NOTFOUND; /* a trunk key */
    if (!S.v) {
        v->code = 437;
        snprintf(v->reason, sizeof v->reason, "this server has no STIR trust anchors");
        return 0;
    }
    char tn[256];
    snprintf(tn, sizeof tn, "%s", target);
    char *at = strchr(tn, '@');
    if (at) *at = '\0';
    pending *p = calloc(1, sizeof *p);
    if (!p) return RIPP_ERR_NOMEM;
    p->ticket = ticket;
    p->accept = accept;
    int rv = ripp_stir_verify(S.v, identity ? identity : "", identity ? strlen(identity) : 0, tn,
                              on_verified, (void *)(uintptr_t)ticket, &p->req);
    if (rv < 0) {
        free(p);
        return rv;
    }
    p->next = S.pending;
    S.pending = p;
    return RIPP_ERR_AGAIN;
}

void rippd_stir_cancel(uint64_t ticket)
{
    pending *p = take(ticket);
    if (!p) return;
    ripp_stir_cancel(p->req);
    free(p);
}

static bool name_ok(const char *n)
{
    if (!*n || strlen(n) > 128 || n[0] == '.') return false;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              *n == '.' || *n == '-' || *n == '_'))
            return false;
    return true;
}

static void problem(ripp_xchg *x, int status, const char *slug, const char *detail)
{
    ripp_problem p;
    ripp_problem_set(&p, status, slug, 0, "%s", detail);
    ripp_xchg_respond_problem(x, &p, NULL, 0);
}

/* GET /stir/<name>: a certificate chain for x5u, from publish_dir. */
bool rippd_stir_on_request(ripp_xchg *x, const ripp_request *req)
{
    if (!S.publish_dir[0] || strncmp(req->path, "/stir/", 6) != 0) return false;
    const char *name = req->path + 6;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        ripp_problem p;
        ripp_problem_set(&p, 405, "method-not-allowed", 0, "certificates are only read");
        ripp_hdr allow = {"allow", "GET, HEAD"};
        ripp_xchg_respond_problem(x, &p, &allow, 1);
        return true;
    }
    if (!name_ok(name)) {
        problem(x, 404, "not-found", "no such certificate");
        return true;
    }
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", S.publish_dir, name);
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_PUBLISHED) {
        if (f) fclose(f);
        problem(x, 404, "not-found", "no such certificate");
        return true;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf) {
        problem(x, 503, "overloaded", "out of memory");
        return true;
    }
    ripp_hdr h[] = {{"content-type", "application/pem-certificate-chain"},
                    {"cache-control", "public, max-age=3600"}};
    bool head = strcmp(req->method, "HEAD") == 0;
    if (ripp_xchg_respond(x, 200, h, 2, head || n == 0) == 0 && !head && n) {
        ripp_xchg_write(x, buf, n);
        ripp_xchg_end(x);
    }
    free(buf);
    return true;
}
