/* Fuzz target: problem+json bodies a client reads from a server that refused a request. A
 * body that decodes must encode again; encoding normalises (e.g. a missing type becomes
 * about:blank), so from then on encode and decode must be a fixed point. */
#include <stdlib.h>
#include <string.h>

#include "ripp/problem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ripp_problem p, q;
    if (ripp_problem_decode(&p, (const char *)data, size) != 0) return 0;
    char buf[2048];
    int64_t n = ripp_problem_encode(&p, buf, sizeof buf);
    if (n < 0) return 0; /* e.g. a title that is not valid UTF-8 after truncation */
    if (ripp_problem_decode(&p, buf, (size_t)n) != 0) abort();
    n = ripp_problem_encode(&p, buf, sizeof buf);
    if (n < 0 || ripp_problem_decode(&q, buf, (size_t)n) != 0) abort();
    if (p.status != q.status || p.sip_code != q.sip_code || strcmp(p.type, q.type) != 0 ||
        strcmp(p.title, q.title) != 0 || strcmp(p.detail, q.detail) != 0)
        abort();
    return 0;
}
