/* h3.h - the HTTP/3 binding: RIPP over QUIC (ngtcp2 0.12 + nghttp3 0.8 + GnuTLS), under the
 * same abstract exchange as HTTP/2 (xchg.h), so calls, byways and events never know which
 * binding carries them. The pinned 0.x library APIs stay inside transport/h3/.
 *
 * Only apps and io/ include this. Everything runs on one libuv loop thread. */
#ifndef RIPP_H3_H
#define RIPP_H3_H

#include "ripp/io.h"

typedef struct ripp_h3_server ripp_h3_server;

typedef struct ripp_h3_server_config {
    const char *host; /* listen address, e.g. "127.0.0.1" or "::1" */
    int port;         /* UDP port; 0 = ephemeral */
    ripp_tls_server_config tls;
    uint32_t max_streams_bidi; /* concurrent request streams per connection; default 10000 */
    uint32_t stream_window;    /* per-stream receive window; default 1 MiB */
    ripp_ts idle_timeout;      /* QUIC max_idle_timeout; default 30 s */
    /* Address validation: a client's first Initial without a valid Retry token gets a Retry
     * when more than this many handshakes are in progress. 0 = the default (64); UINT32_MAX =
     * never; retry_always = always. Retry tokens are bound to the client's address and
     * expire after 10 s; no NEW_TOKEN tokens are issued. */
    uint32_t retry_threshold;
    bool retry_always;
    bool no_early_data; /* refuse 0-RTT (session tickets are still issued) */
    bool no_gso;        /* send one datagram per sendmsg (for comparisons) */
} ripp_h3_server_config;

/* Listen on UDP and serve HTTP/3 (ALPN h3, TLS 1.3, session tickets, 0-RTT). on_request is
 * called as soon as a request's HEADERS arrive (full duplex, as with HTTP/2); requests whose
 * HEADERS arrived before the handshake completed (0-RTT) have req->early_data set (the RIPP
 * layer answers 425 to call creation in early data, D28). Request header blocks over 64 KiB
 * (or over RIPP_XCHG_MAX_HEADERS fields) get 431 without on_request; requests with missing or
 * malformed pseudo-headers are reset by nghttp3 (H3_MESSAGE_ERROR) without on_request.
 * Reset codes: ripp_xchg_reset takes the HTTP/2 values of xchg.h and sends H3_NO_ERROR,
 * H3_GENERAL_PROTOCOL_ERROR, H3_INTERNAL_ERROR, H3_REQUEST_CANCELLED (REFUSED_STREAM 0x7 ->
 * H3_REQUEST_REJECTED); on_close reports the peer's H3 code mapped back the same way (other
 * H3 codes as they are).
 * The connection ID routes datagrams, so thousands of clients share the one socket. A
 * wildcard listen address uses the socket's own address as the local side of every path.
 * Returns NULL and *err (errbuf: reason); after a failure the loop must still run once to
 * release the handles. Any callback may delete the server. */
ripp_h3_server *ripp_h3_server_new(uv_loop_t *loop, const ripp_h3_server_config *cfg,
                                   ripp_on_request_fn on_request, void *ud, int *err, char *errbuf,
                                   size_t errcap);
int ripp_h3_server_port(const ripp_h3_server *s); /* the bound UDP port */
/* Stop accepting new connections (a new client's Initial gets CONNECTION_CLOSE with
 * CONNECTION_REFUSED); send an HTTP/3 GOAWAY on every connection (a notice at once, the final
 * one 200 ms later); existing request streams continue and each connection closes
 * (H3_NO_ERROR) after its last stream. */
void ripp_h3_server_shutdown(ripp_h3_server *s);
/* Close everything (open exchanges get on_close(RIPP_ERR_CLOSED) before this returns). The
 * memory is released once the loop has run the handles' close callbacks. NULL is ignored. */
void ripp_h3_server_del(ripp_h3_server *s);
uint64_t ripp_h3_server_connection_count(const ripp_h3_server *s); /* accepted since start */
size_t ripp_h3_server_open_connections(const ripp_h3_server *s);
uint64_t ripp_h3_server_retry_count(const ripp_h3_server *s);    /* Retry packets sent */
uint64_t ripp_h3_server_early_requests(const ripp_h3_server *s); /* requests seen in 0-RTT */

/* Decides whether a request may go in 0-RTT early data on a resumed connection. The default
 * (NULL) allows everything except POST to a path ending in "/calls" (call creation, D28). */
typedef bool (*ripp_h3_early_ok_fn)(const char *method, const char *path);

typedef struct ripp_h3_client_config {
    ripp_tls_client_config tls;
    ripp_ts connect_timeout; /* handshake; default 5 s */
    ripp_ts idle_timeout;    /* default 30 s */
    uint32_t stream_window;  /* default 1 MiB */
    bool no_early_data;      /* never use 0-RTT */
    ripp_h3_early_ok_fn early_ok;
    bool no_gso;
} ripp_h3_client_config;

/* An HTTP/3 client, used through ripp_http_client_request / _del. https URLs only: the
 * certificate is checked against the URL's host (SNI for DNS names, IP SAN for literals);
 * names are resolved with uv_getaddrinfo (the first address is used). One QUIC connection
 * per authority (host:port), shared by every request; requests beyond the server's stream
 * credit wait for it. A connection that received GOAWAY takes no new request (the next goes
 * to a new connection); requests still waiting on it end with on_close(RIPP_ERR_CLOSED, 0x7).
 * An ICMP port-unreachable during the handshake fails the connection at once.
 *
 * Session tickets and the server's transport parameters are kept per authority in memory; a
 * new connection to an authority with a ticket resumes and sends the requests early_ok
 * allows in 0-RTT (the others wait for the handshake). A request sent in 0-RTT keeps its
 * headers and every body byte written until its response starts (so at most
 * RIPP_XCHG_MAX_BUFFERED bytes may be written before that); answered 425 Too Early, or
 * refused with the whole early data by the server, it is sent again after the handshake,
 * once, without the user seeing the first attempt.
 * A connection that fails to handshake makes its requests end with on_close(RIPP_ERR_CLOSED).
 * Fails (NULL, *err) when the CA file cannot be loaded. ripp_http_client_del behaves like
 * ripp_h3_server_del; any callback may call it. */
ripp_http_client *ripp_h3_client_new(uv_loop_t *loop, const ripp_h3_client_config *cfg, int *err);
uint64_t ripp_h3_client_connection_count(const ripp_http_client *c);
size_t ripp_h3_client_open_connections(const ripp_http_client *c);
uint64_t ripp_h3_client_resumed_count(const ripp_http_client *c);     /* connections resumed */
uint64_t ripp_h3_client_early_sent(const ripp_http_client *c);        /* requests sent in 0-RTT */
uint64_t ripp_h3_client_too_early_retries(const ripp_http_client *c); /* 425s retried */

/* UDP traffic counters ("bytes on the wire": UDP payloads, every datagram of a GSO batch
 * counted separately). tx_dropped: datagrams the kernel refused (QUIC retransmits them);
 * tx_syscalls: sendmsg calls (fewer than datagrams when GSO batches). */
typedef struct ripp_h3_udp_stats {
    uint64_t tx_bytes, tx_datagrams, rx_bytes, rx_datagrams, tx_dropped, tx_syscalls;
} ripp_h3_udp_stats;
void ripp_h3_server_udp_stats(const ripp_h3_server *s, ripp_h3_udp_stats *out);
/* Zeroes for a client that is not an HTTP/3 one. */
void ripp_h3_client_udp_stats(const ripp_http_client *c, ripp_h3_udp_stats *out);
/* Close (gracefully, H3_NO_ERROR) every connection of the client that carries no exchange;
 * the next request to that authority makes a new connection (resuming with the session
 * ticket when one was received). */
void ripp_h3_client_close_idle(ripp_http_client *c);
/* Whether c is an HTTP/3 client. */
bool ripp_h3_client_is(const ripp_http_client *c);

#endif
