/* ripp admin drain: asks a rippd instance to drain (POST /admin/drain, docs/failover.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ripp/io.h"
#include "ripp/problem.h"

static const char admin_usage[] =
    "usage: ripp admin drain --url https://HOST:PORT --token T [--migrate-to AUTHORITY]\n"
    "                        [--ca FILE]\n"
    "  Every call of that rippd is sent migrate (to https://AUTHORITY/<same path> when\n"
    "  --migrate-to is given, else to the same URI without cookies), it takes no new calls\n"
    "  and exits once its calls have left. T is the \"admin_token\" of its configuration.\n"
    "  Exit status 0 when the drain started; prints the answer (JSON).\n";

typedef struct admin_res {
    int status;
    char body[4096];
    size_t len;
    bool done;
    int error;
} admin_res;

static uv_loop_t *aloop;
static uv_timer_t atimer;

static void a_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)x;
    (void)h;
    (void)n;
    ((admin_res *)ud)->status = status;
}
static void a_data(ripp_xchg *x, void *ud, const uint8_t *d, size_t len)
{
    admin_res *r = ud;
    (void)x;
    if (r->len + len >= sizeof r->body) len = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, d, len);
    r->len += len;
    r->body[r->len] = 0;
}
static void a_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    admin_res *r = ud;
    (void)x;
    (void)code;
    r->error = error;
    r->done = true;
    uv_stop(aloop);
}
static const ripp_xchg_cbs admin_cbs = {
    .on_response = a_response, .on_data = a_data, .on_close = a_close};

static void a_timeout(uv_timer_t *t)
{
    (void)t;
    uv_stop(aloop);
}

int ripp_cmd_admin(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *to = NULL, *ca = NULL;
    static const struct option lo[] = {{"url", required_argument, 0, 'u'},
                                       {"token", required_argument, 0, 't'},
                                       {"migrate-to", required_argument, 0, 'm'},
                                       {"ca", required_argument, 0, 'c'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    if (argc < 2 || strcmp(argv[1], "drain") != 0) {
        fputs(admin_usage, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'm': to = optarg; break;
        case 'c': ca = optarg; break;
        case 'h': fputs(admin_usage, stdout); return 0;
        default: fputs(admin_usage, stderr); return 2;
        }
    }
    if (!url || !token || strncmp(url, "https://", 8) != 0 || strlen(token) > 1000 ||
        (to && strlen(to) > 255)) {
        fputs(admin_usage, stderr);
        return 2;
    }
    char full[1600], auth[1100];
    size_t ul = strlen(url);
    while (ul && url[ul - 1] == '/')
        ul--;
    snprintf(full, sizeof full, "%.*s/admin/drain%s%s", (int)ul, url, to ? "?migrate_to=" : "",
             to ? to : "");
    snprintf(auth, sizeof auth, "Bearer %s", token);
    aloop = uv_default_loop();
    ripp_h2_client_config cc = {.tls = {.ca_file = ca}};
    int err = 0;
    ripp_http_client *http = ripp_h2_client_new(aloop, &cc, &err);
    if (!http) {
        fprintf(stderr, "ripp admin: HTTP client: %s\n", ripp_strerror(err));
        return 1;
    }
    uv_timer_init(aloop, &atimer);
    admin_res r;
    memset(&r, 0, sizeof r);
    ripp_hdr h[] = {{"authorization", auth}};
    ripp_xchg *x = ripp_http_client_request(http, "POST", full, h, 1, true, &admin_cbs, &r, &err);
    int rc = 1;
    if (!x) {
        fprintf(stderr, "ripp admin: POST %s: %s\n", full, ripp_strerror(err));
    } else {
        uv_timer_start(&atimer, a_timeout, 10000, 0);
        while (!r.done && uv_is_active((uv_handle_t *)&atimer))
            uv_run(aloop, UV_RUN_DEFAULT);
        if (!r.done) {
            ripp_xchg_reset(x, RIPP_XCHG_CANCEL);
            while (!r.done)
                uv_run(aloop, UV_RUN_ONCE);
            fprintf(stderr, "ripp admin: no answer in time\n");
        } else if (r.status == 202) {
            printf("%s\n", r.body);
            rc = 0;
        } else if (r.status) {
            ripp_problem p;
            memset(&p, 0, sizeof p);
            ripp_problem_decode(&p, r.body, r.len);
            fprintf(stderr, "ripp admin: HTTP %d: %s\n", r.status, p.detail[0] ? p.detail : r.body);
        } else {
            fprintf(stderr, "ripp admin: connection or TLS failure (see --ca)\n");
        }
    }
    uv_timer_stop(&atimer);
    ripp_http_client_del(http);
    uv_close((uv_handle_t *)&atimer, NULL);
    uv_run(aloop, UV_RUN_DEFAULT);
    uv_loop_close(aloop);
    return rc;
}
