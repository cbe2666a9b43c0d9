/* store.h - durable state behind one small ops table (SPEC P5): trunks, token hashes, call
 * records and CDRs. SQLite is the embedded default; the in-memory store serves tests, and a
 * fault-injecting wrapper lets tests make any operation fail.
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
    int end_code;
    char dtmf[256];        /* digits received, in order */
    char recording[1024];  /* path of the recording, if any */
    char stats_json[1024]; /* ripp_stats_format_json() of the call */
} ripp_cdr;

typedef struct ripp_store_ops {
    int (*trunk_put)(void *impl, const ripp_trunk_rec *t); /* insert or replace */
    int (*trunk_get)(void *impl, const char *id, ripp_trunk_rec *out);
    int (*token_add)(void *impl, const char *trunk_id, const char *token_hash_hex);
    /* Finds the trunk owning a token hash; trunk_id gets at most cap - 1 bytes + NUL. */
    int (*token_lookup)(void *impl, const char *token_hash_hex, char *trunk_id, size_t cap);
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
} ripp_store_ops;

typedef struct ripp_store {
    const ripp_store_ops *ops;
    void *impl;
} ripp_store;

/* Open or create a SQLite database (WAL, synchronous=NORMAL), creating the schema. Returns
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
/* Calls ops->close and frees. */
void ripp_store_close(ripp_store *s);

#endif
