/* h2_internal.h - what the HTTP/2 server and client share: connections (nghttp2 session over a
 * ripp_tls_stream), streams (the ripp_xchg implementation) and the owner that coalesces sends
 * to one batch per connection and loop iteration. */
#ifndef RIPP_H2_INTERNAL_H
#define RIPP_H2_INTERNAL_H

#include <nghttp2/nghttp2.h>

#include "ripp/io.h"

#define H2_DEFAULT_WINDOW (1024u * 1024)
#define H2_CONN_WINDOW (16 * 1024 * 1024)
#define H2_DEFAULT_MAX_STREAMS 10000u
#define H2_MAX_HEADER_BYTES (64 * 1024)
#define H2_RBUF_SIZE (64 * 1024)
/* Plaintext staged before encrypting a batch, so that one flush is not one huge buffer. */
#define H2_FLUSH_BATCH (256 * 1024)

typedef struct h2_owner h2_owner;
typedef struct h2_conn h2_conn;
typedef struct h2_stream h2_stream;

/* Send buffer of one stream: a growable ring, so that steady small writes allocate nothing. */
typedef struct h2_ring {
    uint8_t *buf;
    size_t cap, head, len;
} h2_ring;

struct h2_stream {
    ripp_xchg x; /* first: the abstract exchange */
    h2_conn *conn;
    h2_stream *prev, *next;
    int32_t id; /* 0: client request not submitted yet */
    h2_ring out;
    bool headers_sent;  /* server: responded; client: request submitted */
    bool end_queued;    /* our body ends after what is buffered */
    bool local_ended;   /* END_STREAM sent */
    bool remote_ended;  /* END_STREAM received */
    bool deferred;      /* the data provider is waiting for bytes */
    bool has_provider;  /* a data provider is attached */
    bool reset_pending; /* client: reset before the request went out */
    bool got_response;  /* client: final response headers delivered */
    bool hdr_overflow;  /* header block over the limits */
    /* Header block being received: "name\0value\0" pairs. */
    char *hblob;
    size_t hlen, hcap, hcount;
    /* Client: the request until it is submitted. */
    nghttp2_nv *nva;
    size_t nnv;
};

struct h2_conn {
    h2_owner *owner; /* NULL once the owner is gone */
    ripp_tls_stream *ts;
    nghttp2_session *ng;
    h2_conn *prev, *next;   /* owner's connections */
    h2_conn *dprev, *dnext; /* owner's dirty list */
    h2_stream *streams;
    size_t n_streams;
    int busy; /* depth of calls into nghttp2 or stream callbacks */
    bool dirty, closing, free_pending, goaway_recv, shutdown_sent;
    bool stale;                   /* client: silent peer, refreshed: no new requests on it */
    uint64_t created_at, last_rx; /* uv_now() (ms) when made, when bytes last came */
    /* Client side: the authority this connection serves. */
    bool tls;
    char key[300];
    char host[256];
    int port;
    int alt_h3_port; /* h3 port the server advertised with Alt-Svc on this host, or 0 */
};

struct h2_owner {
    uv_loop_t *loop;
    bool server;
    bool deleted;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;
    int handles;                  /* open handles; the owner is freed at zero */
    void (*free_fn)(h2_owner *o); /* frees the containing object */
    h2_conn *conns, *dirty;
    size_t n_conns;
    uint64_t total_conns;
    ripp_tls_creds *creds; /* NULL: cleartext */
    uint32_t initial_window;
    uint32_t max_streams;
    ripp_ts timeout;
    char alt_svc[128];             /* server: Alt-Svc value added to every response, or "" */
    ripp_on_request_fn on_request; /* server */
    void *on_request_ud;
    uint8_t rbuf[H2_RBUF_SIZE];
};

extern const ripp_tls_stream_cbs h2_conn_ts_cbs;

int h2_owner_init(h2_owner *o, uv_loop_t *loop, bool server);
/* Tear down every connection (streams get on_close), close the handles; free_fn runs once
 * they are closed. */
void h2_owner_close(h2_owner *o);
/* Count one more handle of the containing object (closed with h2_owner_handle_closed). */
void h2_owner_handle_closed(uv_handle_t *h);

h2_conn *h2_conn_new(h2_owner *o);
/* Free a connection whose socket could not even be started. */
void h2_conn_free_unused(h2_conn *c);
void h2_conn_mark_dirty(h2_conn *c);
/* The connection is over: every stream gets on_close(RIPP_ERR_CLOSED); the socket closes
 * (after sending what is queued when graceful). */
void h2_conn_teardown(h2_conn *c, bool graceful);
/* Server: GOAWAY as a shutdown notice, then (final) with the last processed stream. */
void h2_conn_shutdown_notice(h2_conn *c);
void h2_conn_goaway(h2_conn *c);

/* Client: a new request on c (queued until the connection is ready). nva is copied. */
h2_stream *h2_stream_new_request(h2_conn *c, const nghttp2_nv *nva, size_t nnv, bool end,
                                 const ripp_xchg_cbs *cbs, void *ud, int *err);

#endif
