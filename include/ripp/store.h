/* store.h - durable state behind one small ops table (SPEC P5): trunks, token hashes, call
 * records and CDRs; for OAuth provisioning (SPEC §6.2) also token lifetimes and families,
 * authorization codes, the consumer trunk of each provider trunk, and, on the consumer side,
 * the provider trunks it provisioned. SQLite is the embedded default; the in-memory store serves
 * tests, and a fault-injecting wrapper lets tests make any operation fail.
 *
 * All strings are NUL-terminated and truncated to their field; a value that does not fit is
 * RIPP_ERR_LIMIT on put (nothing is written). Operations are synchronous; return 0,
 * RIPP_ERR_NOTFOUND, RIPP_ERR_INVAL (NULL argument or empty key), RIPP_ERR_LIMIT, or
 * RIPP_ERR_STORE (logged with the backend's message). A store handle is used by one thread
 * at a time; several handles (processes, instances) may share one SQLite file. */
#ifndef RIPP_STORE_H
#define RIPP_STORE_H

#include "ripp/ripp.h"

typedef struct ripp_trunk_rec {
    char id[64];             /* path segment: /trunks/<id> */
    char answer[512];        /* what incoming calls get: echo, play:FILE, record:DIR,
                                reject:CODE, noanswer, ring:SECONDS */
    char caps_json[4096];    /* the capability document served at capAdv ("{}" default) */
    char identity_pub[1024]; /* path of the PEM public key PASSporTs must verify against */
    int64_t created_ms;
} ripp_trunk_rec;

/* The durable record of a call (P5): enough for another instance to take it over. */
typedef struct ripp_call_rec {
    char id[40]; /* UUIDv4 */
    char trunk_id[64];
    char uri[1024];
    char target[256];
    char orig_tn[64];
    int state;            /* enum ripp_call_state */
    int64_t last_seq_c2s; /* last event seq processed per direction; -1 none */
    int64_t last_seq_s2c;
    int64_t media_seq_c2s; /* high-water marks of the media sequence spaces (channel 1) */
    int64_t media_seq_s2c;
    char cookies[2048];  /* Set-Cookie values given to the client, newline-separated */
    char next_hop[512];  /* downstream call URI when acting as a client further on */
    char token_hash[65]; /* hex SHA-256 of the token that created the call (D10) */
    int64_t created_ms, updated_ms;
} ripp_call_rec;

typedef struct ripp_cdr {
    char call_id[40];
    char trunk_id[64];
    char target[256];
    char orig_tn[64];
    int64_t start_ms, answer_ms, end_ms; /* 0 when it did not happen */
    char outcome[32];                    /* ripp_call_outcome_name() */
    char verstat[64]; /* what was verified of the caller's identity (STIR), or "" */
    int end_code;
    char dtmf[256];        /* digits received, in order */
    char recording[1024];  /* path of the recording, if any */
    char stats_json[1024]; /* ripp_stats_format_json() of the call */
} ripp_cdr;

/* Token hashes (hex SHA-256 of the secret; the secret itself is never stored). */
enum ripp_token_kind {
    RIPP_TOKEN_STATIC = 0,  /* a configured bearer token of a trunk */
    RIPP_TOKEN_ACCESS = 1,  /* an OAuth access token: a bearer of its trunk until it expires */
    RIPP_TOKEN_REFRESH = 2, /* an OAuth refresh token: never a bearer */
    RIPP_TOKEN_CODE = 3,    /* an OAuth authorization code: never a bearer */
};
enum ripp_token_state {
    RIPP_TOKEN_LIVE = 0,
    RIPP_TOKEN_USED = 1,    /* a code or refresh token that was redeemed (single use) */
    RIPP_TOKEN_REVOKED = 2, /* revoked (RFC 7009, reuse detection, trunk teardown) */
};

typedef struct ripp_token_rec {
    char hash[65];     /* key: hex SHA-256 of the token */
    char trunk_id[64]; /* the one trunk the token is valid on */
    int kind;          /* enum ripp_token_kind */
    int state;         /* enum ripp_token_state */
    char family[48];   /* grant id: every code and token issued from one authorization; "" none */
    char client_id[128];
    int64_t created_ms;
    int64_t expires_ms; /* wall clock; 0: never */
    char data[2048];    /* kind-specific JSON: a code's redirect_uri, PKCE challenge, account */
} ripp_token_rec;

/* Provider side: the consumer trunk registered with PUT {providerTrunk}/consumerTrunk (R1). */
typedef struct ripp_consumer_rec {
    char trunk_id[64]; /* key: the provider trunk */
    char uri[1024];    /* consumerTrunkURI */
    char token[256];   /* consumerToken, in the clear: the provider presents it as its bearer */
    int64_t updated_ms;
} ripp_consumer_rec;

/* Consumer side: a provider trunk obtained by the OAuth code flow, with what is needed to
 * keep it (refresh, re-PUT consumerTrunk). Holds secrets: the database is private (0600). */
typedef struct ripp_prov_rec {
    char provider_trunk[1024]; /* key: the provider trunk URI (from ripp-trunk) */
    char provider[512];        /* https://host[:port] of the provider's OAuth endpoints */
    char ca_file[512];         /* trust anchors for the provider; "" the system store */
    char client_id[128];
    char client_secret[256];
    char consumer_trunk_id[64]; /* our trunk (a trunk record in the same store) */
    char consumer_trunk_uri[1024];
    char consumer_token[128];
    char access_token[512];
    char refresh_token[512];
    int64_t access_expires_ms; /* wall clock */
    int64_t put_ms;            /* last successful PUT consumerTrunk; 0 never */
    int64_t created_ms;
} ripp_prov_rec;

typedef struct ripp_store_ops {
    int (*trunk_put)(void *impl, const ripp_trunk_rec *t); /* insert or replace */
    int (*trunk_get)(void *impl, const char *id, ripp_trunk_rec *out);
    /* Adds (or replaces) a static, never-expiring bearer token of trunk_id. */
    int (*token_add)(void *impl, const char *trunk_id, const char *token_hash_hex);
    /* Finds the trunk of a bearer token that is valid at now_ms (wall clock): a live static
     * or access token that has not expired. Codes, refresh tokens, used, revoked and expired
     * tokens are RIPP_ERR_NOTFOUND. trunk_id gets at most cap - 1 bytes + NUL. */
    int (*token_lookup)(void *impl, const char *token_hash_hex, int64_t now_ms, char *trunk_id,
                        size_t cap);
    int (*token_put)(void *impl, const ripp_token_rec *t); /* insert or replace */
    /* Any token by hash, whatever its kind, state and expiry. */
    int (*token_get)(void *impl, const char *token_hash_hex, ripp_token_rec *out);
    /* Compare and set: moves the token from state `from` to `to`. RIPP_ERR_STATE when its
     * state is not `from` (nothing changed): this is what makes codes and refresh tokens
     * single-use even when several instances share the store. */
    int (*token_set_state)(void *impl, const char *token_hash_hex, int from, int to);
    /* Revokes every token of a family; returns how many changed state (>= 0). */
    int (*token_revoke_family)(void *impl, const char *family);
    /* Deletes a trunk with its tokens and its consumer trunk record. RIPP_ERR_NOTFOUND when
     * there was no trunk (its tokens are deleted all the same). */
    int (*trunk_del)(void *impl, const char *id);
    int (*consumer_put)(void *impl, const ripp_consumer_rec *c); /* insert or replace */
    int (*consumer_get)(void *impl, const char *trunk_id, ripp_consumer_rec *out);
    int (*prov_put)(void *impl, const ripp_prov_rec *p); /* insert or replace */
    int (*prov_get)(void *impl, const char *provider_trunk, ripp_prov_rec *out);
    int (*prov_del)(void *impl, const char *provider_trunk);
    /* Every provisioned trunk in creation order; as cdr_each (cb may not put or delete). */
    int (*prov_each)(void *impl, int (*cb)(void *ud, const ripp_prov_rec *p), void *ud);
    int (*call_put)(void *impl, const ripp_call_rec *c); /* insert or replace */
    int (*call_get)(void *impl, const char *id, ripp_call_rec *out);
    int (*cdr_put)(void *impl, const ripp_cdr *cdr); /* insert or replace */
    int (*cdr_get)(void *impl, const char *call_id, ripp_cdr *out);
    /* Calls every CDR in end order (newest last): the order of their last cdr_put, which
     * happens when a call ends. cb returns non-zero to stop; the record is valid during the
     * callback only; cb may use the store but must not put CDRs. Returns 0 (also when
     * stopped). */
    int (*cdr_each)(void *impl, int (*cb)(void *ud, const ripp_cdr *cdr), void *ud);
    void (*close)(void *impl);
    /* Optional: make every write so far visible to other processes now (ripp_store_sync). */
    int (*sync)(void *impl);
} ripp_store_ops;

typedef struct ripp_store {
    const ripp_store_ops *ops;
    void *impl;
} ripp_store;

/* The schema version ripp_store_sqlite_open creates or migrates to: 1 had no OAuth tables;
 * 2 adds token kinds, states, families and expiry, consumer trunks and provisioned trunks. */
#define RIPP_STORE_SCHEMA_VERSION 3

/* Open or create a SQLite database (WAL, synchronous=NORMAL), creating the schema or
 * migrating an older one in place (one transaction). Returns
 * NULL and *err on failure (errbuf: the reason): RIPP_ERR_STORE when the file cannot be
 * opened or its schema is newer than this program, RIPP_ERR_NOMEM. */
ripp_store *ripp_store_sqlite_open(const char *path, int *err, char *errbuf, size_t errcap);
ripp_store *ripp_store_memory_new(int *err);
/* Wraps inner (takes ownership, also on failure): operation number `fail_at` (counting from
 * 1) and every later one fail with RIPP_ERR_STORE, without reaching inner, when fail_at > 0;
 * ripp_store_faulty_set changes it at run time (the count goes on). */
ripp_store *ripp_store_faulty_new(ripp_store *inner, int fail_at, int *err);
void ripp_store_faulty_set(ripp_store *faulty, int fail_at);
/* Operations counted so far (failed ones included; close is not an operation). */
int ripp_store_faulty_count(const ripp_store *faulty);
/* Opens the store a --db value names: "redis://HOST[:PORT][/DB][?OPTIONS]" or
 * "unix:/PATH[?db=N&OPTIONS]" open a Redis store (ripp_store_redis_open), anything else is the
 * path of a SQLite database (ripp_store_sqlite_open). NULL and *err as those. */
ripp_store *ripp_store_open(const char *spec, int *err, char *errbuf, size_t errcap);

/* Redis (docs/store.md): a cluster of instances shares one Redis, so that one instance can load
 * the call record another wrote (P5, SPEC §7). Options, "&"-separated after "?":
 *   db=N              database number (also "/N" in a redis:// URL); default 0
 *   timeout_ms=N      connect and command timeout of the synchronous connection; default 200
 *   wb_timeout_ms=N   how long a write-behind command may stay unanswered; default 1000
 *   queue=N           most records waiting for write-behind (one per call id / CDR); 50000
 *   call_keep_s=N     TTL of a call record, renewed by each call_put; -1 none; default 86400
 *   token_keep_s=N    a token with an expiry is dropped N s after it; -1 never; default 86400
 * Reads and token, trunk and provisioning writes are synchronous, each bounded by timeout_ms;
 * when Redis fails to answer, a circuit breaker makes every synchronous operation fail with
 * RIPP_ERR_STORE at once, without touching the network, until a retry time (jittered
 * exponential backoff, 100 ms to 5 s) when one operation probes the connection again.
 * Without a loop, call_put and cdr_put are synchronous too; once a loop is attached
 * (ripp_store_attach_loop) they only queue the record and return, and an asynchronous
 * connection on that loop writes it behind (see ripp_store_status). The open connects and
 * PINGs: NULL and RIPP_ERR_STORE when Redis does not answer, RIPP_ERR_INVAL for a bad URL,
 * RIPP_ERR_NOMEM. */
ripp_store *ripp_store_redis_open(const char *url, int *err, char *errbuf, size_t errcap);

struct uv_loop_s;
/* Gives a store the event loop of its thread, for writes that must never stall it. For
 * Redis: from now on call_put and cdr_put queue the record (the newest per call id / CDR
 * replaces an older one not yet sent), return 0 and leave; a connection on the loop sends
 * the queue, keeps each record until Redis acknowledges it and sends it again after a
 * reconnect (jittered backoff); reads of a queued record (call_get, cdr_get, cdr_each) see
 * it. A put that would add a record to a full queue fails with RIPP_ERR_STORE. Once a loop
 * is attached, ripp_store_close writes what is still queued through the synchronous
 * connection, and releases its handles through the loop: run the loop once more after it
 * (uv_run(loop, UV_RUN_NOWAIT) suffices) before closing the loop. For SQLite: from now on
 * the call records and CDRs written in one turn of the loop share one transaction,
 * committed at the end of the turn (a check handle) or after 512 writes; any other write
 * commits the group first; reads on this store see the group at once, other processes at
 * the commit (ripp_store_sync commits at once); ripp_store_close commits and releases its
 * handle through the loop as above. Other backends write synchronously: 0, nothing to do.
 * RIPP_ERR_STATE when a loop is attached already. */
int ripp_store_attach_loop(ripp_store *s, struct uv_loop_s *loop);

/* Makes every write so far visible to other processes at once, where a backend defers them
 * to the end of the loop's turn: SQLite with a loop attached groups the call records and
 * CDRs written in one turn into one transaction (committed by a check handle). The engine
 * syncs after sending migrate, before the client can reach another instance. 0 or
 * RIPP_ERR_STORE; 0 for backends with nothing deferred (Redis's write-behind is ordered on
 * its own connection and keeps its own rules, above). */
int ripp_store_sync(ripp_store *s);

/* What a readiness probe, the engine or an operator may ask a store. */
typedef struct ripp_store_status {
    bool reachable;    /* the last synchronous operation reached the backend */
    bool breaker_open; /* synchronous operations fail at once for retry_in_ms more */
    int64_t retry_in_ms;
    bool writer_up;     /* the write-behind connection is established (false: no loop) */
    int64_t pending;    /* records accepted by a put, not yet acknowledged by the backend */
    int64_t in_flight;  /* of which sent, awaiting the answer */
    int64_t written;    /* write-behind records acknowledged since open */
    int64_t refused;    /* puts refused because the queue was full */
    int64_t reconnects; /* write-behind connections established since open */
} ripp_store_status;
/* Fills *out (0). Backends without a network are always reachable, with nothing pending. */
int ripp_store_status_get(const ripp_store *s, ripp_store_status *out);

/* Calls ops->close and frees. */
void ripp_store_close(ripp_store *s);

#endif
