/* problem.h - application/problem+json bodies (RFC 9457, SPEC P8, D39). */
#ifndef RIPP_PROBLEM_H
#define RIPP_PROBLEM_H

#include "ripp/ripp.h"

#define RIPP_PROBLEM_CONTENT_TYPE "application/problem+json"

typedef struct ripp_problem {
    int status;     /* HTTP status */
    char type[128]; /* URI; "about:blank" or "https://ripp.dev/problems/<slug>" */
    char title[128];
    char detail[512];
    int sip_code; /* 0 when none maps */
} ripp_problem;

/* Fill p: type is "https://ripp.dev/problems/<slug>" ("about:blank" when slug is NULL or
 * empty), title the HTTP reason phrase of status; detail is printf-formatted (cut to its
 * field). */
void ripp_problem_set(ripp_problem *p, int status, const char *slug, int sip_code,
                      const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));
/* JSON body {"type","title","status","detail"[,"sipCode" when != 0]}; returns length
 * (NUL-terminated), RIPP_ERR_LIMIT, RIPP_ERR_NOMEM, or RIPP_ERR_INVAL (a field that is not
 * UTF-8). An empty type is sent as "about:blank", an empty title as the reason phrase. */
int64_t ripp_problem_encode(const ripp_problem *p, char *out, size_t cap);
/* Parse a body received from a peer. Returns 0 or RIPP_ERR_PROTO (not a JSON object, or
 * over 64 KiB). Members of the wrong type are ignored (RFC 9457 §3.1); type defaults to
 * "about:blank"; long strings are cut to their field. */
int ripp_problem_decode(ripp_problem *p, const char *json, size_t len);
/* Standard reason phrase of an HTTP status ("Not Found"); "Unknown" if none. */
const char *ripp_http_reason(int status);

#endif
