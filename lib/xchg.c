/* Dispatch of the abstract HTTP exchange to its binding. */
#include <string.h>
#include <strings.h>

#include "ripp/problem.h"
#include "ripp/xchg.h"

void ripp_xchg_set_handler(ripp_xchg *x, const ripp_xchg_cbs *cbs, void *ud)
{
    x->cbs = cbs;
    x->ud = ud;
}

int ripp_xchg_respond(ripp_xchg *x, int status, const ripp_hdr *hdrs, size_t n, bool end)
{
    return x->vt->respond(x, status, hdrs, n, end);
}

int ripp_xchg_write(ripp_xchg *x, const uint8_t *data, size_t len)
{
    return x->vt->write(x, data, len);
}

int ripp_xchg_end(ripp_xchg *x)
{
    return x->vt->end(x);
}

int ripp_xchg_reset(ripp_xchg *x, uint32_t code)
{
    return x->vt->reset(x, code);
}

size_t ripp_xchg_buffered(const ripp_xchg *x)
{
    return x->vt->buffered(x);
}

int ripp_xchg_respond_problem(ripp_xchg *x, const ripp_problem *p, const ripp_hdr *extra,
                              size_t n_extra)
{
    char body[1024];
    int64_t len = ripp_problem_encode(p, body, sizeof body);
    if (len < 0) return (int)len;
    ripp_hdr hdrs[RIPP_XCHG_MAX_HEADERS];
    size_t n = 0;
    hdrs[n++] = (ripp_hdr){"content-type", RIPP_PROBLEM_CONTENT_TYPE};
    for (size_t i = 0; i < n_extra && n < RIPP_XCHG_MAX_HEADERS; i++)
        hdrs[n++] = extra[i];
    int rv = ripp_xchg_respond(x, p->status, hdrs, n, false);
    if (rv < 0) return rv;
    rv = ripp_xchg_write(x, (const uint8_t *)body, (size_t)len);
    if (rv < 0) return rv;
    return ripp_xchg_end(x);
}

const char *ripp_request_header(const ripp_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_hdrs; i++)
        if (strcasecmp(r->hdrs[i].name, name) == 0) return r->hdrs[i].value;
    return NULL;
}

ripp_xchg *ripp_http_client_request(ripp_http_client *c, const char *method, const char *url,
                                    const ripp_hdr *hdrs, size_t n, bool end,
                                    const ripp_xchg_cbs *cbs, void *ud, int *err)
{
    return c->vt->request(c, method, url, hdrs, n, end, cbs, ud, err);
}

void ripp_http_client_refresh(ripp_http_client *c, const char *url, ripp_ts quiet)
{
    if (c && c->vt->refresh && url) c->vt->refresh(c, url, quiet);
}

void ripp_http_client_del(ripp_http_client *c)
{
    if (c) c->vt->del(c);
}
