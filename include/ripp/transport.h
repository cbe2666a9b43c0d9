/* transport.h - choosing the HTTP binding a client speaks: HTTP/2, HTTP/3, or "auto" (SPEC P1:
 * prefer h3 when it is reachable, else h2, and remember the choice per authority). Every
 * binding is used through the same ripp_http_client (xchg.h). Only apps and io/ include this. */
#ifndef RIPP_TRANSPORT_H
#define RIPP_TRANSPORT_H

#include "ripp/io.h"

typedef enum ripp_transport {
    RIPP_TRANSPORT_H2 = 0,
    RIPP_TRANSPORT_H3 = 1,
    RIPP_TRANSPORT_AUTO = 2,
} ripp_transport;

/* "h2", "h3" or "auto" → *out. Returns 0 or RIPP_ERR_INVAL. */
int ripp_transport_parse(const char *s, ripp_transport *out);
const char *ripp_transport_name(ripp_transport t);

typedef struct ripp_transport_client_config {
    ripp_transport transport;
    ripp_tls_client_config tls;
    ripp_ts connect_timeout; /* default 5 s */
} ripp_transport_client_config;

/* A client of the chosen binding. NULL and *err when the CA file cannot be loaded or the
 * binding is not available. */
ripp_http_client *ripp_transport_client_new(uv_loop_t *loop, const ripp_transport_client_config *cfg,
                                            int *err);

/* What a client has used so far: "h2", "h3", or "h2+h3" (auto, both). For the summary of a
 * call and for logs. */
const char *ripp_transport_client_kind(const ripp_http_client *c);

#endif
