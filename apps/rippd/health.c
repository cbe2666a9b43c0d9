/* Operations endpoints for load balancers and orchestrators:
 *
 *   GET|HEAD /healthz  200 {"status":"ok"} while the process serves requests (liveness)
 *   GET|HEAD /readyz   200 {"status":"ready"} when it takes new calls (readiness), else 503
 *                      application/problem+json naming why: "draining" (a drain began),
 *                      "maintenance" (the maintenance file exists) or "store-unreachable"
 *
 * No authentication, no per-request log line (balancers poll these every second or two),
 * nothing cached. The maintenance file is the path in the environment variable
 * RIPPD_MAINTENANCE_FILE: while a file exists there, /readyz fails, so that balancers take
 * the instance out of rotation for new calls while the calls it has go on (docs/cluster.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ripp/problem.h"
#include "rippd.h"

static bool draining;
static ripp_store *health_store;

void rippd_health_set_draining(bool d)
{
    draining = d;
}

bool rippd_health_draining(void)
{
    return draining;
}

void rippd_health_set_store(ripp_store *s)
{
    health_store = s;
}

static bool maintenance(void)
{
    const char *path = getenv("RIPPD_MAINTENANCE_FILE");
    struct stat st;
    return path && *path && stat(path, &st) == 0;
}

/* A store that cannot take writes: its last synchronous operation failed, its circuit
 * breaker is open, or its write-behind connection, up once, is down. */
static bool store_down(void)
{
    ripp_store_status st;
    if (!health_store || ripp_store_status_get(health_store, &st) < 0) return false;
    if (!st.reachable && (!st.breaker_open || st.retry_in_ms <= 0)) {
        /* the last operation failed and nothing has tried since: ask the store now (a
         * cheap read), so that readiness comes back without waiting for a call */
        ripp_trunk_rec t;
        health_store->ops->trunk_get(health_store->impl, "-readyz-probe-", &t);
        if (ripp_store_status_get(health_store, &st) < 0) return false;
    }
    return !st.reachable || st.breaker_open || (st.reconnects > 0 && !st.writer_up);
}

static void respond_json(ripp_xchg *x, bool head, const char *body)
{
    ripp_hdr h[] = {{"content-type", "application/json"}, {"cache-control", "no-store"}};
    if (ripp_xchg_respond(x, 200, h, 2, head) == 0 && !head) {
        ripp_xchg_write(x, (const uint8_t *)body, strlen(body));
        ripp_xchg_end(x);
    }
}

static void not_ready(ripp_xchg *x, bool head, const char *slug, const char *detail)
{
    ripp_problem p;
    ripp_problem_set(&p, 503, slug, 0, "%s", detail);
    ripp_hdr h[] = {{"cache-control", "no-store"}};
    if (!head) {
        ripp_xchg_respond_problem(x, &p, h, 1);
        return;
    }
    ripp_hdr hh[] = {{"content-type", RIPP_PROBLEM_CONTENT_TYPE}, {"cache-control", "no-store"}};
    ripp_xchg_respond(x, 503, hh, 2, true);
}

bool rippd_health_on_request(ripp_xchg *x, const ripp_request *req)
{
    bool healthz = strcmp(req->path, "/healthz") == 0;
    bool readyz = strcmp(req->path, "/readyz") == 0;
    if (!healthz && !readyz) return false;
    bool head = strcmp(req->method, "HEAD") == 0;
    if (!head && strcmp(req->method, "GET") != 0) {
        ripp_problem p;
        ripp_problem_set(&p, 405, "method-not-allowed", 0, "%s is only read", req->path);
        ripp_hdr allow = {"allow", "GET, HEAD"};
        ripp_xchg_respond_problem(x, &p, &allow, 1);
        return true;
    }
    if (healthz) {
        respond_json(x, head, "{\"status\":\"ok\"}");
    } else if (draining) {
        not_ready(x, head, "draining", "draining: new calls go to other instances");
    } else if (maintenance()) {
        not_ready(x, head, "maintenance", "the maintenance file exists");
    } else if (store_down()) {
        not_ready(x, head, "store-unreachable", "the store cannot be reached");
    } else {
        respond_json(x, head, "{\"status\":\"ready\"}");
    }
    return true;
}
