/* io.h - the operating-system edge: event loop helpers, clock, randomness, TLS credentials,
 * self-signed certificates, crypto (SHA-256, ES256) and the HTTP/2 binding. GnuTLS is the one
 * TLS and crypto library. Only apps and io/ include this. */
#ifndef RIPP_IO_H
#define RIPP_IO_H

#include <uv.h>

#include "ripp/xchg.h"

/* ---- clock and randomness ---- */
ripp_ts ripp_io_now(void);                  /* CLOCK_MONOTONIC in ns */
uint64_t ripp_io_wall_us(void);             /* CLOCK_REALTIME in µs */
int ripp_io_random(uint8_t *buf, size_t n); /* gnutls_rnd(GNUTLS_RND_RANDOM) */
/* A ripp_env backed by the two functions above. */
const ripp_env *ripp_io_env(void);
/* Random RFC 4122 version-4 UUID, lower-case, 36 chars + NUL. */
int ripp_io_uuid4(char out[37]);
/* n random bytes as base64url without padding (tokens). */
int ripp_io_random_token(char *out, size_t cap, size_t nbytes);

/* ---- crypto (GnuTLS) ---- */
int ripp_sha256(const void *data, size_t len, uint8_t out[32]);
int ripp_sha256_hex(const void *data, size_t len, char out[65]);
/* Constant-time comparison; returns true when equal (lengths compared too). */
bool ripp_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

typedef struct ripp_es256_key ripp_es256_key; /* private or public P-256 key */
/* Load a PEM file: a private key ("PRIVATE KEY" / "EC PRIVATE KEY"), a public key
 * ("PUBLIC KEY") or a certificate (its public key). errbuf gets a reason. */
ripp_es256_key *ripp_es256_load(const char *path, int *err, char *errbuf, size_t errcap);
/* Generate a key and write it (and its public key, if pub_path) as PEM files (mode 0600). */
int ripp_es256_generate(const char *priv_path, const char *pub_path);
/* JWS ES256: sign data, out = raw R||S (64 bytes). */
int ripp_es256_sign(ripp_es256_key *k, const void *data, size_t len, uint8_t sig[64]);
/* Returns 0 when valid, RIPP_ERR_AUTH when not. */
int ripp_es256_verify(ripp_es256_key *k, const void *data, size_t len, const uint8_t *sig,
                      size_t siglen);
void ripp_es256_free(ripp_es256_key *k);

/* ---- TLS ---- */
/* Make a self-signed P-256 certificate for the given DNS names / IP addresses
 * (subjectAltName), valid 30 days, and write cert and key PEM files. */
int ripp_tls_make_selfsigned(const char *cert_path, const char *key_path, const char *const *names,
                             size_t n_names);

typedef struct ripp_tls_server_config {
    const char *cert_file;
    const char *key_file;
} ripp_tls_server_config;

typedef struct ripp_tls_client_config {
    const char *ca_file; /* trust anchors; NULL: the system store */
    bool insecure;       /* skip verification (tests only; logged loudly) */
} ripp_tls_client_config;

/* Credentials and priorities for TLS 1.3-only sessions. Reference counted: every session
 * (stream) made with them holds a reference, so the creator may drop its own with _del at any
 * time. */
typedef struct ripp_tls_creds ripp_tls_creds;
/* Server: certificate chain and private key (PEM files). NULL and *err (errbuf: reason). */
ripp_tls_creds *ripp_tls_creds_server_new(const ripp_tls_server_config *cfg, int *err, char *errbuf,
                                          size_t errcap);
/* Client: trust anchors from cfg->ca_file, or the system store when NULL. */
ripp_tls_creds *ripp_tls_creds_client_new(const ripp_tls_client_config *cfg, int *err, char *errbuf,
                                          size_t errcap);
void ripp_tls_creds_del(ripp_tls_creds *c);

/* ---- a byte stream over a libuv TCP connection, TLS 1.3 or cleartext ---- */
/* The stream owns its socket, TLS session and timers, and frees itself once its handles are
 * closed. Plaintext written with _write is staged and goes out (encrypted in as few records
 * as possible) on _flush; nothing blocks. */
typedef struct ripp_tls_stream ripp_tls_stream;
typedef struct ripp_tls_stream_cbs {
    /* Connected; with TLS, the handshake is done, the peer verified and ALPN agreed. */
    void (*on_open)(ripp_tls_stream *s, void *ud);
    /* Plaintext from the peer, valid during the call. */
    void (*on_read)(ripp_tls_stream *s, void *ud, const uint8_t *data, size_t len);
    /* The socket's write queue went under RIPP_TLS_STREAM_LOW_WATER after having been above
     * RIPP_TLS_STREAM_HIGH_WATER. */
    void (*on_drain)(ripp_tls_stream *s, void *ud);
    /* Called once when the connection is over: error 0 after ripp_tls_stream_close or a
     * clean end from the peer, else RIPP_ERR_CLOSED (reset, refused, EOF in the middle),
     * RIPP_ERR_AUTH (certificate or ALPN refused), RIPP_ERR_IO (timeout, resolution) or
     * RIPP_ERR_CRYPTO (TLS failure). s is freed soon after; do not use it again. */
    void (*on_close)(ripp_tls_stream *s, void *ud, int error);
} ripp_tls_stream_cbs;

#define RIPP_TLS_STREAM_HIGH_WATER (4u * 1024 * 1024)
#define RIPP_TLS_STREAM_LOW_WATER (1u * 1024 * 1024)

typedef struct ripp_tls_stream_opts {
    ripp_tls_creds *creds; /* NULL: cleartext */
    const char *alpn;      /* the one application protocol to require (e.g. "h2"), or NULL */
    ripp_ts timeout;       /* resolution + connect + handshake; 0: 10 s */
    /* Read buffer shared by the streams of one owner on one loop (reads never nest), or
     * NULL for a private one. Must outlive the stream's reads (until _close). */
    uint8_t *rbuf;
    size_t rcap;
    const ripp_tls_stream_cbs *cbs;
    void *ud;
} ripp_tls_stream_opts;

/* Accept one pending connection of a listening TCP handle (call from its connection
 * callback). NULL and *err when the accept fails. TCP_NODELAY is set. */
ripp_tls_stream *ripp_tls_stream_accept(uv_stream_t *listener, const ripp_tls_stream_opts *o,
                                        int *err);
/* Resolve host (a DNS name or an IP literal, without brackets), connect and, with creds,
 * handshake: SNI for DNS names, certificate checked against host (IP SAN for literals).
 * Failures arrive as on_close. */
ripp_tls_stream *ripp_tls_stream_connect(uv_loop_t *loop, const char *host, int port,
                                         const ripp_tls_stream_opts *o, int *err);
/* Stage plaintext (copied). Returns 0, RIPP_ERR_CLOSED or RIPP_ERR_NOMEM. */
int ripp_tls_stream_write(ripp_tls_stream *s, const uint8_t *data, size_t len);
/* Encrypt what is staged and hand it to the socket. */
int ripp_tls_stream_flush(ripp_tls_stream *s);
/* Bytes given to the socket and not yet written by the kernel (plus what is staged). */
size_t ripp_tls_stream_queued(const ripp_tls_stream *s);
bool ripp_tls_stream_is_open(const ripp_tls_stream *s);
/* "ip:port" of the peer, for logs. */
void ripp_tls_stream_peer(const ripp_tls_stream *s, char *out, size_t cap);
/* Close. graceful: send what is queued and a TLS close_notify first (bounded by a short
 * timer). on_close follows asynchronously. Idempotent. */
void ripp_tls_stream_close(ripp_tls_stream *s, bool graceful);
/* Close without any further callback (the owner is going away). */
void ripp_tls_stream_detach(ripp_tls_stream *s);

/* ---- HTTP/2 binding (nghttp2 over TLS 1.3, ALPN h2) ---- */
typedef struct ripp_h2_server ripp_h2_server;
typedef struct ripp_h2_server_config {
    const char *host; /* listen address, e.g. "127.0.0.1" or "::1" */
    int port;         /* 0 = ephemeral */
    ripp_tls_server_config tls;
    bool cleartext;                  /* h2c prior knowledge (behind a load balancer only) */
    uint32_t initial_window;         /* stream flow-control window; default 1 MiB */
    uint32_t max_concurrent_streams; /* default 10000 */
    /* Alt-Svc value sent with every response (SPEC P1: the server advertises h3), e.g.
     * h3=":8443"; ma=86400. NULL: none. At most 127 characters. */
    const char *alt_svc;
} ripp_h2_server_config;

/* Listen and serve. on_request is called for every request as soon as its HEADERS arrive
 * (the body may still be streaming: full duplex). Request headers over 64 KiB get 431 without
 * on_request. Returns NULL and *err (errbuf: reason); after a failure the loop must still run
 * once to release the handles. Any callback may delete the server. */
ripp_h2_server *ripp_h2_server_new(uv_loop_t *loop, const ripp_h2_server_config *cfg,
                                   ripp_on_request_fn on_request, void *ud, int *err, char *errbuf,
                                   size_t errcap);
int ripp_h2_server_port(const ripp_h2_server *s); /* the bound port */
/* Replace the Alt-Svc value sent with responses from now on (NULL or "": none). */
void ripp_h2_server_set_alt_svc(ripp_h2_server *s, const char *value);
/* Stop accepting; send GOAWAY on every connection (a notice at once, the final one 0.5 s
 * later); existing streams continue and each connection closes after its last stream. */
void ripp_h2_server_shutdown(ripp_h2_server *s);
/* Close everything (open exchanges get on_close(RIPP_ERR_CLOSED) before this returns). The
 * memory is released once the loop has run the handles' close callbacks. NULL is ignored. */
void ripp_h2_server_del(ripp_h2_server *s);

typedef struct ripp_h2_client_config {
    ripp_tls_client_config tls;
    uint32_t initial_window; /* default 1 MiB */
    ripp_ts connect_timeout; /* default 5 s */
} ripp_h2_client_config;
/* An HTTP/2 client (use it through ripp_http_client_request / _del): https URLs get TLS 1.3,
 * ALPN h2 and a certificate checked against cfg->tls; http URLs get h2c with prior
 * knowledge. cfg may be NULL (defaults, system trust store). Fails (NULL, *err) when the CA
 * file cannot be loaded. ripp_http_client_del behaves like ripp_h2_server_del. */
ripp_http_client *ripp_h2_client_new(uv_loop_t *loop, const ripp_h2_client_config *cfg, int *err);

/* Counters for operations and tests. Connections opened (TCP connects attempted, or
 * accepted) since creation, and those open now. The client functions return 0 for a client
 * that is not an HTTP/2 one. */
uint64_t ripp_h2_client_connection_count(const ripp_http_client *c);
size_t ripp_h2_client_open_connections(const ripp_http_client *c);
/* The UDP port on which the server of an open https connection to host:port advertised
 * HTTP/3 with Alt-Svc (same host only), or 0. */
int ripp_h2_client_alt_h3_port(const ripp_http_client *c, const char *host, int port);
uint64_t ripp_h2_server_connection_count(const ripp_h2_server *s);
size_t ripp_h2_server_open_connections(const ripp_h2_server *s);

#endif
