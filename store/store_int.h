/* store_int.h - what the store backends share: record checks and the ripp_store wrapper. */
#ifndef RIPP_STORE_INT_H
#define RIPP_STORE_INT_H

#include <string.h>

#include "ripp/store.h"

/* True when the fixed-size field holds a NUL, i.e. the value fits. */
#define STORE_FITS(field) (memchr((field), 0, sizeof(field)) != NULL)

/* 0 when every string field is NUL-terminated within its array, else RIPP_ERR_LIMIT; an
 * empty key is RIPP_ERR_INVAL. */
int ripp_store_check_trunk(const ripp_trunk_rec *t);
int ripp_store_check_call(const ripp_call_rec *c);
int ripp_store_check_cdr(const ripp_cdr *cdr);
int ripp_store_check_token(const ripp_token_rec *t);
int ripp_store_check_consumer(const ripp_consumer_rec *c);
int ripp_store_check_prov(const ripp_prov_rec *p);
/* A key given as a plain string: RIPP_ERR_INVAL when NULL or empty, RIPP_ERR_LIMIT when it
 * has cap or more characters (cap counts the NUL). */
int ripp_store_check_key(const char *key, size_t cap);
/* Copies at most cap - 1 bytes of src (len bytes, not necessarily NUL-terminated) and
 * terminates; src NULL gives "". */
void ripp_store_copy(char *dst, size_t cap, const char *src, size_t len);
/* Allocates the handle; NULL and *err = RIPP_ERR_NOMEM on failure (impl untouched). */
ripp_store *ripp_store_wrap(const ripp_store_ops *ops, void *impl, int *err);

/* Redis backend (redis.c: URL, synchronous connection, circuit breaker, the ops; redis_wb.c:
 * the write-behind queue and its asynchronous connection on the caller's libuv loop). */
struct redisContext;
struct rwb;
struct uv_loop_s;

typedef struct rstore {
    char host[256];
    int port; /* 0: the unix socket at path */
    char path[512];
    int db;
    int timeout_ms, wb_timeout_ms, queue_max;
    int64_t call_keep_ms, token_keep_ms; /* -1: no TTL */
    struct redisContext *sc;             /* synchronous connection; NULL while down */
    bool reachable;                      /* the last attempt reached Redis */
    bool used;        /* sc answered once: a later EOF may only mean Redis restarted */
    int fails;        /* consecutive failed attempts */
    int64_t retry_at; /* monotonic ms; while sc is NULL, operations fail at once until then */
    unsigned rnd;     /* jitter */
    struct rwb *wb;   /* NULL until a loop is attached */
} rstore;

enum { RWB_CALL = 0, RWB_CDR = 1 };

int64_t ripp_rs_mono_ms(void);
/* Jittered exponential backoff after `fails` consecutive failures: 50 ms .. 5 s. */
int64_t ripp_rs_backoff_ms(unsigned *rnd, int fails);
/* The write-behind connection came up: let the next synchronous operation try at once. */
void ripp_rs_breaker_reset(rstore *q);
/* Sends n formatted commands through the synchronous connection, pipelined; *done gets how
 * many were acknowledged, in order. 0 or RIPP_ERR_STORE. */
int ripp_rs_write_formatted(rstore *q, const char *const *cmds, const size_t *lens, size_t n,
                            size_t *done);
/* Splits a formatted command (a RESP array of bulk strings) into at most max arguments;
 * returns their number or -1. */
int ripp_rs_split(const char *cmd, size_t len, const char **v, size_t *l, int max);

int ripp_rwb_attach(rstore *q, struct uv_loop_s *loop);
/* Queues a formatted command (takes cmd, from redisFormatCommandArgv, also on failure). */
int ripp_rwb_put(struct rwb *w, int kind, const char *id, char *cmd, size_t len);
/* The queued command of a record, valid until the next put or loop turn. */
bool ripp_rwb_find(struct rwb *w, int kind, const char *id, const char **cmd, size_t *len);
/* The queued CDR commands in put order: *cmds and *lens malloc'd (caller frees both), valid
 * as ripp_rwb_find. 0 or RIPP_ERR_NOMEM. */
int ripp_rwb_cdrs(struct rwb *w, const char ***cmds, size_t **lens, size_t *n);
void ripp_rwb_status(struct rwb *w, ripp_store_status *out);
/* Stops the asynchronous side, writes what is queued through the synchronous connection and
 * frees q (with the loop's close callback: q stays valid until this returns). */
void ripp_rwb_close(struct rwb *w);

bool ripp_store_sqlite_is(const ripp_store *s);
int ripp_store_sqlite_attach(ripp_store *s, struct uv_loop_s *loop);
bool ripp_store_redis_is(const ripp_store *s);
int ripp_store_redis_attach(ripp_store *s, struct uv_loop_s *loop);
void ripp_store_redis_status(const ripp_store *s, ripp_store_status *out);

#endif
