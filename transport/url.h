/* url.h - the request URLs both HTTP client bindings take: https://authority/path?query
 * (and http:// for h2c behind a load balancer). Internal to transport/. */
#ifndef RIPP_TRANSPORT_URL_H
#define RIPP_TRANSPORT_URL_H

#include "ripp/ripp.h"

#define RIPP_URL_MAX 8192

typedef struct ripp_url {
    bool tls;            /* https */
    char host[256];      /* without brackets, lower case */
    char authority[280]; /* as written, for :authority */
    int port;            /* 443 or 80 by default */
    char pathq[RIPP_URL_MAX]; /* path and query, never empty; no fragment */
} ripp_url;

/* Returns 0, or RIPP_ERR_INVAL for anything but an absolute http(s) URL with a host, an
 * optional port 1..65535, no userinfo, and no control characters or spaces. */
int ripp_url_parse(const char *url, ripp_url *u);

/* The key a client binding files its connection to url's authority under: "host:port", or
 * "scheme://host:port" with `scheme`. Returns 0 or RIPP_ERR_INVAL / RIPP_ERR_NOMEM. */
int ripp_url_conn_key(const char *url, bool scheme, char *key, size_t cap);

#endif
