/* h3_internal.h - what the HTTP/3 server and client share: UDP sockets (GSO/GRO), QUIC
 * connections (ngtcp2 + GnuTLS + nghttp3), streams (the ripp_xchg implementation) and the
 * owner that coalesces sends to one pass per connection and loop iteration.
 *
 * The pinned pre-1.0 APIs (ngtcp2 0.12, nghttp3 0.8) never leave transport/h3/. */
#ifndef RIPP_H3_INTERNAL_H
#define RIPP_H3_INTERNAL_H

#include <netinet/in.h>
#include <sys/socket.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "ripp/h3.h"

#define H3_SCID_LEN 18
#define H3_MAX_HEADER_BYTES (64 * 1024)
#define H3_DEFAULT_WINDOW (1024u * 1024)
#define H3_CONN_WINDOW (4u * 1024 * 1024) /* extended as the application consumes */
#define H3_DEFAULT_MAX_STREAMS 10000u
#define H3_DEFAULT_IDLE (30 * RIPP_NS_PER_SEC)
#define H3_DEFAULT_CONNECT (5 * RIPP_NS_PER_SEC)
#define H3_MAX_UDP_PAYLOAD 1452
#define H3_MAX_GSO_SEGMENTS 32
#define H3_TXBUF (H3_MAX_GSO_SEGMENTS * H3_MAX_UDP_PAYLOAD)
#define H3_RX_MSGS 16
#define H3_RX_BUF 65536
/* Datagrams read for one connection before it is flushed in the middle of a read batch: the
 * acknowledgements and the QPACK decoder stream (section acknowledgements, stream
 * cancellations) go out while a long batch is still being read. */
#define H3_RX_FLUSH_EVERY 32
/* The congestion controller. Media is a steady, small flow (a 20 ms frame per byway, each in
 * its own packet) that must not wait: with a loss-based controller (CUBIC, Reno) random loss
 * halves the window again and again down to a few packets, below what the calls of a
 * connection need in one round trip, and frames queue for seconds (2 % loss, 40 ms RTT, 10
 * calls: one-way p99 0.6-1.8 s, byways aborted by the 1 s stall rule). BBR paces at the
 * measured delivery rate and does not take random loss for congestion. */
#define H3_CC_ALGO NGTCP2_CC_ALGO_BBR
#define H3_TLS_PRIORITY                                                                            \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"      \
    "%DISABLE_TLS13_COMPAT_MODE"

typedef struct h3_owner h3_owner;
typedef struct h3_conn h3_conn;
typedef struct h3_stream h3_stream;
typedef struct h3_sock h3_sock;

/* ---- UDP ---- */

typedef struct h3_udp_stats {
    uint64_t tx_bytes, tx_dgrams, rx_bytes, rx_dgrams, tx_dropped, tx_syscalls;
} h3_udp_stats;

/* Called for every datagram received (GRO super-datagrams are split first). */
typedef void (*h3_sock_recv_fn)(h3_sock *s, const struct sockaddr *from, socklen_t fromlen,
                                uint8_t *pkt, size_t len);

struct h3_sock {
    uv_poll_t poll;
    int fd;
    h3_owner *owner;
    h3_conn *conn; /* client: the one connection on this socket */
    h3_sock_recv_fn on_recv;
    void (*on_refused)(h3_sock *s); /* connected sockets: the peer port is closed (ICMP) */
    struct sockaddr_storage local;
    socklen_t locallen;
    h3_conn *blocked; /* connections waiting for the socket to take datagrams again */
    bool gso, connected, closing, want_write;
    bool refused; /* a send reported ECONNREFUSED: on_refused runs after the write */
};

/* Open, bind (and connect when remote is given) a non-blocking UDP socket and start polling
 * it. The sock is freed by h3_sock_close once libuv has closed the poll handle. */
int h3_sock_open(h3_sock **out, h3_owner *o, const struct sockaddr *bind_addr, socklen_t blen,
                 const struct sockaddr *remote, socklen_t rlen, bool no_gso, h3_sock_recv_fn fn,
                 char *errbuf, size_t errcap);
/* Send len bytes as datagrams of gso_size (the last may be shorter). Returns 0,
 * RIPP_ERR_AGAIN when the kernel buffer is full (*sent: the bytes that went out before; with
 * sent NULL the rest is dropped and counted: QUIC recovers it as a loss) or RIPP_ERR_IO. */
int h3_sock_send(h3_sock *s, const struct sockaddr *to, socklen_t tolen, const uint8_t *data,
                 size_t len, size_t gso_size, size_t *sent);
/* Ask for (or stop asking for) a wakeup when the socket is writable: the connections on
 * s->blocked are then marked dirty. */
void h3_sock_want_write(h3_sock *s, bool on);
void h3_sock_close(h3_sock *s);
/* Tests: stop (and resume) reading and writing s, so that datagrams pile up in the kernel. */
void h3_sock_pause(h3_sock *s, bool paused);
/* Tests: when nonzero, every n-th sendmsg is refused with EAGAIN (the socket stays
 * writable), to exercise the path that keeps a refused batch until the socket takes it. */
extern unsigned h3_udp_eagain_every;

/* ---- stream send buffer: stable chunks, since nghttp3 keeps pointers until ACK ---- */

typedef struct h3_chunk {
    struct h3_chunk *next;
    size_t cap, len;
    uint8_t data[];
} h3_chunk;

typedef struct h3_sendbuf {
    h3_chunk *head, *tail;
    size_t head_off; /* released bytes in head */
    h3_chunk *send;  /* chunk holding the next byte for nghttp3 */
    size_t send_off;
    uint64_t head_pos; /* body offset of head->data[head_off] */
    uint64_t written, given, acked;
    bool retain; /* keep acked bytes (a request that may have to be sent again) */
} h3_sendbuf;

/* ---- streams ---- */

enum { H3_Q_NONE, H3_Q_OPEN, H3_Q_RESET }; /* h3_stream.qlist */

struct h3_stream {
    ripp_xchg x; /* first: the abstract exchange */
    h3_conn *conn;
    h3_stream *prev, *next; /* conn->streams */
    /* client: on one of the connection's queues of unopened requests (qlist): waiting for a
     * stream id (pend_*), or reset before it was opened, its close owed (rst_*) */
    h3_stream *qprev, *qnext;
    uint8_t qlist;
    int64_t id; /* -1: client request not opened yet */
    h3_sendbuf out;
    bool headers_sent; /* server: responded; client: request submitted */
    bool end_queued;   /* our body ends after what is buffered */
    bool eof_given;    /* nghttp3 has been told the body ends */
    bool wouldblock;   /* the data reader is waiting for bytes */
    bool has_reader;
    bool remote_ended;
    bool delivered;    /* server: on_request was called */
    bool got_response; /* client: final response delivered */
    bool hdr_overflow;
    bool reset_local;   /* we reset it: no more callbacks but on_close */
    bool reset_pending; /* client: reset before the request was opened */
    bool early;         /* client: sent before the handshake completed */
    bool early_ok;      /* client: may go in 0-RTT */
    bool retried;       /* client: already sent again once */
    uint32_t reset_code;
    char *hblob;
    size_t hlen, hcap, hcount;
    /* client: the request, kept until the response starts (it may be sent again) */
    nghttp3_nv *nva;
    size_t nnv;
};

/* ---- connections ---- */

/* A batch the kernel did not take (EAGAIN), sent first when the socket is writable. */
typedef struct h3_pend {
    uint8_t *data;
    size_t len, gso;
} h3_pend;

struct h3_conn {
    h3_owner *owner; /* NULL once the owner is gone */
    h3_conn *prev, *next;
    h3_conn *dprev, *dnext;
    ngtcp2_conn *qc;
    nghttp3_conn *h3;
    gnutls_session_t tls;
    ngtcp2_crypto_conn_ref ref;
    uv_timer_t timer;
    h3_sock *sock; /* server: the owner's; client: its own */
    struct sockaddr_storage remote;
    socklen_t remotelen;
    ngtcp2_connection_close_error cerr;
    char fail_why[160]; /* the last callback failure: which callback, which stream, why */
    h3_stream *streams;
    size_t n_streams;
    h3_stream *pend_head, *pend_tail; /* client: requests waiting for a stream id */
    h3_stream *rst_head, *rst_tail;   /* client: reset before opened; closed by the next flush */
    int busy;
    int in_lib;  /* depth of calls into ngtcp2 (no CONNECTION_CLOSE may be written then) */
    int handles; /* libuv handles (and lookups) of this connection still open */
    unsigned rx_unflushed; /* datagrams read since the last flush */
    h3_pend pend[2];
    int npend;
    struct sockaddr_storage pend_to;
    socklen_t pend_tolen;
    h3_conn *bnext; /* sock->blocked */
    bool blocked_listed;
    uint8_t *closebuf; /* our CONNECTION_CLOSE, repeated during the closing period */
    size_t closelen;
    int close_sends;
    bool dirty, closing, free_pending, destroyed, timer_live;
    bool close_deferred; /* a CONNECTION_CLOSE is owed once ngtcp2 is off the stack */
    bool open_counted;   /* counted in owner->n_open */
    bool handshake_done;
    bool shutdown_notice; /* server: GOAWAY notice sent */
    bool goaway_final;    /* server: final GOAWAY sent; close after the last stream */
    bool goaway_recv;     /* client: no new requests on it */
    bool stale;           /* client: silent peer, refreshed: no new requests on it */
    ngtcp2_tstamp created_at, last_rx; /* client: when made, when a packet last came */
    bool early_attempt;   /* client: resumed with 0-RTT */
    bool resolving;       /* client: name lookup in progress */
    /* server: connection IDs routed to this connection */
    ngtcp2_cid *cids;
    size_t ncids, capcids;
    /* client: the authority served */
    char key[300];
    char host[256];
    char authority[280];
    int port;
    uv_getaddrinfo_t gai;
};

/* Role hooks installed by server.c and client.c. */
typedef struct h3_role {
    /* A new connection ID of c (server: route it). */
    int (*cid_new)(h3_conn *c, const ngtcp2_cid *cid);
    void (*cid_retire)(h3_conn *c, const ngtcp2_cid *cid);
    /* The handshake completed (server: send a ticket; client: remember params). */
    int (*handshake_done)(h3_conn *c);
    /* c is being freed (server: drop its routes). */
    void (*conn_free)(h3_conn *c);
    /* Client: a response arrived on an early request; returns true when it was consumed
     * (425: the request is queued to be sent again). */
    bool (*early_response)(h3_stream *st, int status);
} h3_role;

struct h3_owner {
    uv_loop_t *loop;
    bool server;
    bool deleted;
    const h3_role *role;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;
    int handles;
    void (*free_fn)(h3_owner *o);
    h3_conn *conns, *dirty;
    size_t n_open;
    uint64_t total_conns;
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    bool insecure;
    bool no_gso;
    bool no_early_data;
    gnutls_datum_t ticket_key;        /* server: session ticket key */
    gnutls_anti_replay_t anti_replay; /* server: 0-RTT replay protection */
    uint32_t stream_window;
    uint32_t max_streams;
    ripp_ts idle_timeout;
    ripp_ts handshake_timeout;
    ripp_on_request_fn on_request;
    void *on_request_ud;
    uint8_t secret[32]; /* stateless reset tokens, Retry tokens */
    h3_udp_stats udp;
    uint64_t early_requests, early_sent, too_early_retries, resumed;
    uint8_t *rxbuf; /* H3_RX_MSGS * H3_RX_BUF, shared by every socket (reads never nest) */
    uint8_t txbuf[H3_TXBUF];
};

int h3_owner_init(h3_owner *o, uv_loop_t *loop, bool server);
/* Tear down every connection (streams get on_close), close the handles; free_fn runs once
 * they are closed. */
void h3_owner_close(h3_owner *o);
void h3_owner_handle_closed(uv_handle_t *h);

/* A connection object (no QUIC state yet), linked into the owner. */
h3_conn *h3_conn_alloc(h3_owner *o);
/* Fill the ngtcp2 callbacks common to both roles. */
void h3_conn_callbacks(ngtcp2_callbacks *cb, bool server);
ngtcp2_tstamp h3_now(void);
/* TLS session for c (server or client side); host: the name or literal to verify (client). */
int h3_conn_tls_setup(h3_conn *c, const char *host);
/* Create the HTTP/3 layer (control + QPACK streams). */
int h3_conn_setup_http(h3_conn *c);
/* Feed one datagram. */
void h3_conn_on_datagram(h3_conn *c, const struct sockaddr *from, socklen_t fromlen,
                         const struct sockaddr *local, socklen_t locallen, uint8_t *pkt,
                         size_t len);
void h3_conn_mark_dirty(h3_conn *c);
/* Write what can be written now and re-arm the timer. */
void h3_conn_flush(h3_conn *c);
/* Close the connection: streams get on_close(RIPP_ERR_CLOSED); a CONNECTION_CLOSE goes out
 * (application error app_code when app, else transport error 0) unless the connection is
 * already closing or draining; then the closing period; then the connection is freed. */
void h3_conn_close(h3_conn *c, bool app, uint64_t code);
void h3_conn_close_with(h3_conn *c, const ngtcp2_connection_close_error *e);
/* A handle or request of c is done (client name lookups); frees c when it was the last. */
void h3_conn_handle_done(h3_conn *c);
/* End a connection without any packet: streams get on_close(RIPP_ERR_CLOSED). */
void h3_conn_abort(h3_conn *c);
/* Free a connection that never got going (no timer started yet counts as handles 0). */
void h3_conn_discard(h3_conn *c);
/* Server: GOAWAY as a shutdown notice, then final. */
void h3_conn_shutdown_notice(h3_conn *c);
void h3_conn_goaway(h3_conn *c);
/* Start the per-connection timer (call once the ngtcp2 connection exists). */
void h3_conn_start_timer(h3_conn *c);

/* ---- streams (stream.c) ---- */

extern const ripp_xchg_vt h3_stream_vt;
h3_stream *h3_stream_alloc(h3_conn *c);
void h3_stream_unlink(h3_stream *st);
void h3_stream_free(h3_stream *st);
/* The exchange is over: tell its user (if it ever had one) and free it. */
void h3_stream_finish(h3_stream *st, int err, uint32_t code);
/* Client: a new request on c, opened as soon as the connection allows. nva is copied. */
h3_stream *h3_stream_new_request(h3_conn *c, const nghttp3_nv *nva, size_t nnv, bool end,
                                 bool early_ok, const ripp_xchg_cbs *cbs, void *ud, int *err);
/* Client: open waiting requests while stream credit lasts; end the ones reset before they
 * were opened, and (after a GOAWAY) the ones that will never be sent. O(work done): never a
 * walk over every stream of the connection. */
void h3_conn_open_pending(h3_conn *c);
/* Client: put a stream that was sent (early) back at the head of the queue, to be sent
 * again from the start. */
void h3_stream_requeue(h3_stream *st);
extern const nghttp3_callbacks h3_http_callbacks;
uint64_t h3_code_to_wire(uint32_t xchg_code);
uint32_t h3_code_from_wire(uint64_t h3_code);
void h3_sendbuf_ack(h3_sendbuf *b, uint64_t n);
void h3_sendbuf_release(h3_sendbuf *b);
void h3_sendbuf_rewind(h3_sendbuf *b);

#endif
