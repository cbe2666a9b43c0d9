/* xchg.h - the abstract HTTP exchange under which every binding (HTTP/2 now, HTTP/3 later)
 * carries RIPP requests, so calls, byways and events never know which one carries them.
 *
 * An exchange is one request/response stream, full duplex: both bodies may be open at the
 * same time for the life of a call. Writes are copied into a per-exchange send buffer
 * (bounded: RIPP_XCHG_MAX_BUFFERED) and flushed by the binding; they never block.
 *
 * Lifetime: an exchange is valid from its creation (server: the on_request callback;
 * client: ripp_http_client_request) until its on_close callback returns. After that the
 * pointer must not be used. Callbacks run on the binding's event loop thread. */
#ifndef RIPP_XCHG_H
#define RIPP_XCHG_H

#include "ripp/ripp.h"

#define RIPP_XCHG_MAX_BUFFERED (1024 * 1024)
#define RIPP_XCHG_MAX_HEADERS 64

typedef struct ripp_hdr {
    const char *name;  /* lower case, NUL-terminated */
    const char *value; /* NUL-terminated */
} ripp_hdr;

typedef struct ripp_xchg ripp_xchg;

typedef struct ripp_xchg_cbs {
    /* Client only: response headers (status, fields). Valid during the call only. */
    void (*on_response)(ripp_xchg *x, void *ud, int status, const ripp_hdr *hdrs, size_t n);
    /* Body bytes from the peer; valid during the call only. */
    void (*on_data)(ripp_xchg *x, void *ud, const uint8_t *data, size_t len);
    /* The peer ended its body (END_STREAM). */
    void (*on_end)(ripp_xchg *x, void *ud);
    /* The exchange is over. error: 0 when both sides ended their bodies cleanly;
     * RIPP_ERR_CLOSED when the peer or the binding reset the stream or the connection went
     * away (code: the HTTP/2 or HTTP/3 error code when known, else 0). */
    void (*on_close)(ripp_xchg *x, void *ud, int error, uint32_t code);
} ripp_xchg_cbs;

/* Binding implementations fill this table; users call the functions below. */
typedef struct ripp_xchg_vt {
    int (*respond)(ripp_xchg *x, int status, const ripp_hdr *hdrs, size_t n, bool end);
    int (*write)(ripp_xchg *x, const uint8_t *data, size_t len);
    int (*end)(ripp_xchg *x);
    int (*reset)(ripp_xchg *x, uint32_t code);
    size_t (*buffered)(const ripp_xchg *x);
} ripp_xchg_vt;

/* Every binding's stream object begins with this. */
struct ripp_xchg {
    const ripp_xchg_vt *vt;
    const ripp_xchg_cbs *cbs;
    void *ud;
};

/* Error codes for ripp_xchg_reset (HTTP/2 values; HTTP/3 maps them). */
#define RIPP_XCHG_NO_ERROR 0x0
#define RIPP_XCHG_PROTOCOL_ERROR 0x1
#define RIPP_XCHG_INTERNAL_ERROR 0x2
#define RIPP_XCHG_CANCEL 0x8

void ripp_xchg_set_handler(ripp_xchg *x, const ripp_xchg_cbs *cbs, void *ud);
/* Server: send the response headers (":status" is added); end = no body follows.
 * Returns 0, RIPP_ERR_STATE (already responded) or RIPP_ERR_CLOSED. */
int ripp_xchg_respond(ripp_xchg *x, int status, const ripp_hdr *hdrs, size_t n, bool end);
/* Append body bytes (copied). Returns 0, RIPP_ERR_LIMIT (send buffer full: the peer is not
 * reading), RIPP_ERR_STATE (body already ended) or RIPP_ERR_CLOSED. */
int ripp_xchg_write(ripp_xchg *x, const uint8_t *data, size_t len);
/* End our body after what is buffered. */
int ripp_xchg_end(ripp_xchg *x);
/* Abort the stream; on_close follows (asynchronously). */
int ripp_xchg_reset(ripp_xchg *x, uint32_t code);
size_t ripp_xchg_buffered(const ripp_xchg *x);

/* Server: respond with an application/problem+json body and end the response. */
struct ripp_problem;
int ripp_xchg_respond_problem(ripp_xchg *x, const struct ripp_problem *p, const ripp_hdr *extra,
                              size_t n_extra);

/* What a server sees of a request. Valid during on_request only. */
typedef struct ripp_request {
    const char *method;
    const char *path;      /* without the query */
    const char *query;     /* after '?', or "" */
    const char *authority; /* :authority or Host */
    const char *scheme;
    const ripp_hdr *hdrs; /* regular fields, lower-case names */
    size_t n_hdrs;
    bool early_data; /* received in 0-RTT (HTTP/3) */
} ripp_request;

/* First field of that name (case-insensitive) or NULL. */
const char *ripp_request_header(const ripp_request *r, const char *name);

/* A server's request handler: it must call ripp_xchg_set_handler (to see the body and the
 * close) and/or ripp_xchg_respond. An exchange with no handler set has its body discarded. */
typedef void (*ripp_on_request_fn)(void *ud, ripp_xchg *x, const ripp_request *req);

/* An HTTP client: one connection per authority, many concurrent exchanges. */
typedef struct ripp_http_client ripp_http_client;
typedef struct ripp_http_client_vt {
    ripp_xchg *(*request)(ripp_http_client *c, const char *method, const char *url,
                          const ripp_hdr *hdrs, size_t n, bool end, const ripp_xchg_cbs *cbs,
                          void *ud, int *err);
    void (*del)(ripp_http_client *c);
    /* Optional (NULL: nothing to do): see ripp_http_client_refresh. */
    void (*refresh)(ripp_http_client *c, const char *url, ripp_ts quiet);
} ripp_http_client_vt;
struct ripp_http_client {
    const ripp_http_client_vt *vt;
};
/* Start a request to an https URL (authority + path + query). end: the request has no body.
 * The connection to the authority is made on first use (TLS, certificate checked against the
 * authority) and shared. Returns NULL and *err on immediate failure; later failures arrive
 * as on_close(RIPP_ERR_CLOSED). */
ripp_xchg *ripp_http_client_request(ripp_http_client *c, const char *method, const char *url,
                                    const ripp_hdr *hdrs, size_t n, bool end,
                                    const ripp_xchg_cbs *cbs, void *ud, int *err);
void ripp_http_client_del(ripp_http_client *c);
/* The peer at url's authority may be gone (a call declared a failure on its connection):
 * if that connection has received nothing for `quiet` (ns) and is older than that, new
 * requests to the authority go on a new connection; the exchanges on the old one go on
 * until they end or fail. A peer that vanished without a word (a QUIC server killed and
 * restarted, a machine gone) never closes its connection: without this, a reconnect would
 * wait for the connection's idle timeout. */
void ripp_http_client_refresh(ripp_http_client *c, const char *url, ripp_ts quiet);

#endif
