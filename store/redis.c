/* Redis store: the shared store of a cluster of instances (docs/store.md). Every record is a
 * hash whose fields are named after the struct members; multi-key writes are Lua scripts, so
 * that each operation is atomic as in SQLite. The synchronous connection answers reads and
 * the rare provisioning writes within timeout_ms or fails; a circuit breaker keeps a dead
 * Redis from costing that timeout on every operation. Call records and CDRs go through the
 * write-behind queue (redis_wb.c) once a loop is attached. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "store_int.h"

/* ---- record layout: one hash field per struct member ---- */

typedef struct rfield {
    const char *name;
    size_t off, cap;
    char type; /* 's' string, 'i' int, 'l' int64_t */
} rfield;

#define F_S(T, f)                                                                                  \
    {                                                                                              \
#f, offsetof(T, f), sizeof(((T *)0)->f), 's'                                               \
    }
#define F_I(T, f)                                                                                  \
    {                                                                                              \
#f, offsetof(T, f), sizeof(int), 'i'                                                       \
    }
#define F_L(T, f)                                                                                  \
    {                                                                                              \
#f, offsetof(T, f), sizeof(int64_t), 'l'                                                   \
    }
#define NF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const rfield trunk_fields[] = {
    F_S(ripp_trunk_rec, id), F_S(ripp_trunk_rec, answer), F_S(ripp_trunk_rec, caps_json),
    F_S(ripp_trunk_rec, identity_pub), F_L(ripp_trunk_rec, created_ms)};
static const rfield call_fields[] = {F_S(ripp_call_rec, id),
                                     F_S(ripp_call_rec, trunk_id),
                                     F_S(ripp_call_rec, uri),
                                     F_S(ripp_call_rec, target),
                                     F_S(ripp_call_rec, orig_tn),
                                     F_I(ripp_call_rec, state),
                                     F_L(ripp_call_rec, last_seq_c2s),
                                     F_L(ripp_call_rec, last_seq_s2c),
                                     F_L(ripp_call_rec, media_seq_c2s),
                                     F_L(ripp_call_rec, media_seq_s2c),
                                     F_S(ripp_call_rec, cookies),
                                     F_S(ripp_call_rec, next_hop),
                                     F_S(ripp_call_rec, token_hash),
                                     F_L(ripp_call_rec, created_ms),
                                     F_L(ripp_call_rec, updated_ms)};
static const rfield cdr_fields[] = {
    F_S(ripp_cdr, call_id), F_S(ripp_cdr, trunk_id),  F_S(ripp_cdr, target),
    F_S(ripp_cdr, orig_tn), F_L(ripp_cdr, start_ms),  F_L(ripp_cdr, answer_ms),
    F_L(ripp_cdr, end_ms),  F_S(ripp_cdr, outcome),   F_I(ripp_cdr, end_code),
    F_S(ripp_cdr, dtmf),    F_S(ripp_cdr, recording), F_S(ripp_cdr, stats_json),
    F_S(ripp_cdr, verstat)};
/* token_put's script reads trunk_id and family at fixed ARGV positions: keep this order. */
static const rfield token_fields[] = {
    F_S(ripp_token_rec, hash),       F_S(ripp_token_rec, trunk_id),
    F_I(ripp_token_rec, kind),       F_I(ripp_token_rec, state),
    F_S(ripp_token_rec, family),     F_S(ripp_token_rec, client_id),
    F_L(ripp_token_rec, created_ms), F_L(ripp_token_rec, expires_ms),
    F_S(ripp_token_rec, data)};
static const rfield consumer_fields[] = {F_S(ripp_consumer_rec, trunk_id),
                                         F_S(ripp_consumer_rec, uri), F_S(ripp_consumer_rec, token),
                                         F_L(ripp_consumer_rec, updated_ms)};
static const rfield prov_fields[] = {F_S(ripp_prov_rec, provider_trunk),
                                     F_S(ripp_prov_rec, provider),
                                     F_S(ripp_prov_rec, ca_file),
                                     F_S(ripp_prov_rec, client_id),
                                     F_S(ripp_prov_rec, client_secret),
                                     F_S(ripp_prov_rec, consumer_trunk_id),
                                     F_S(ripp_prov_rec, consumer_trunk_uri),
                                     F_S(ripp_prov_rec, consumer_token),
                                     F_S(ripp_prov_rec, access_token),
                                     F_S(ripp_prov_rec, refresh_token),
                                     F_L(ripp_prov_rec, access_expires_ms),
                                     F_L(ripp_prov_rec, put_ms),
                                     F_L(ripp_prov_rec, created_ms)};

/* ---- scripts (KEYS and ARGV as each comment says) ---- */

/* KEYS: call; ARGV: keep_ms (-1 none), field, value, ... */
static const char call_put_lua[] =
    "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) "
    "if ARGV[1] ~= '-1' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "else redis.call('PERSIST', KEYS[1]) end return 1";
/* KEYS: cdr, the end-order set, its counter; ARGV: call_id, field, value, ... */
static const char cdr_put_lua[] = "local n = redis.call('INCR', KEYS[3]) "
                                  "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) "
                                  "redis.call('ZADD', KEYS[2], n, ARGV[1]) return n";
/* KEYS: token; ARGV: expire-at ms (0 none), then the token_fields pairs: ARGV[3] is the hash,
 * ARGV[5] the trunk, ARGV[11] the family. Moves the hash between the trunk and family sets. */
static const char token_put_lua[] =
    "local old = redis.call('HMGET', KEYS[1], 'trunk_id', 'family') "
    "if old[1] and old[1] ~= ARGV[5] then "
    " redis.call('SREM', 'ripp:trunk-tokens:' .. old[1], ARGV[3]) end "
    "if old[2] and old[2] ~= '' and old[2] ~= ARGV[11] then "
    " redis.call('SREM', 'ripp:family:' .. old[2], ARGV[3]) end "
    "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) "
    "redis.call('SADD', 'ripp:trunk-tokens:' .. ARGV[5], ARGV[3]) "
    "if ARGV[11] ~= '' then redis.call('SADD', 'ripp:family:' .. ARGV[11], ARGV[3]) end "
    "if ARGV[1] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) "
    "else redis.call('PERSIST', KEYS[1]) end return 1";
/* KEYS: token; ARGV: from, to. -1 no token, 0 not in `from`, 1 moved. */
static const char token_cas_lua[] = "local s = redis.call('HGET', KEYS[1], 'state') "
                                    "if not s then return -1 end "
                                    "if tonumber(s) ~= tonumber(ARGV[1]) then return 0 end "
                                    "redis.call('HSET', KEYS[1], 'state', ARGV[2]) return 1";
/* KEYS: the family set; ARGV: family. Members whose token is gone or moved are dropped. */
static const char revoke_lua[] =
    "local n = 0 "
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    " local k = 'ripp:token:' .. h "
    " local f = redis.call('HMGET', k, 'family', 'state') "
    " if f[1] == ARGV[1] then "
    "  if f[2] ~= '2' then redis.call('HSET', k, 'state', '2') n = n + 1 end "
    " else redis.call('SREM', KEYS[1], h) end "
    "end return n";
/* KEYS: trunk, its token set, its consumer trunk; ARGV: trunk id. Returns 1 if the trunk was. */
static const char trunk_del_lua[] =
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[2])) do "
    " local k = 'ripp:token:' .. h "
    " local t = redis.call('HMGET', k, 'trunk_id', 'family') "
    " if t[1] == ARGV[1] then "
    "  if t[2] and t[2] ~= '' then redis.call('SREM', 'ripp:family:' .. t[2], h) end "
    "  redis.call('DEL', k) end "
    "end redis.call('DEL', KEYS[2], KEYS[3]) return redis.call('DEL', KEYS[1])";
/* KEYS: record, the creation-order set, its counter; ARGV: provider trunk, field, value, ...
 * A replaced record keeps its place. */
static const char prov_put_lua[] =
    "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) "
    "if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then "
    " redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1]) end return 1";
static const char prov_del_lua[] = "redis.call('ZREM', KEYS[2], ARGV[1]) "
                                   "return redis.call('DEL', KEYS[1])";

#define K_CDRS "ripp:cdrs"
#define K_CDR_SEQ "ripp:seq:cdr"
#define K_PROVS "ripp:provs"
#define K_PROV_SEQ "ripp:seq:prov"

/* ---- command arguments ---- */

#define RARGS_MAX 48
typedef struct rargs {
    int n, nn, nk;
    const char *v[RARGS_MAX];
    size_t l[RARGS_MAX];
    char num[24][24];
    char key[3][1100];
} rargs;

static void ra_str(rargs *a, const char *s)
{
    a->v[a->n] = s;
    a->l[a->n++] = strlen(s);
}

static void ra_int(rargs *a, int64_t x)
{
    char *b = a->num[a->nn++];
    snprintf(b, sizeof a->num[0], "%lld", (long long)x);
    ra_str(a, b);
}

/* "ripp:<space>:<id>" as the next argument; ids are at most 1023 bytes. */
static void ra_key(rargs *a, const char *space, const char *id)
{
    char *b = a->key[a->nk++];
    snprintf(b, sizeof a->key[0], "ripp:%s:%s", space, id);
    ra_str(a, b);
}

static void ra_pairs(rargs *a, const rfield *f, int nf, const void *rec)
{
    const char *base = rec;
    for (int i = 0; i < nf; i++) {
        ra_str(a, f[i].name);
        if (f[i].type == 's')
            ra_str(a, base + f[i].off);
        else if (f[i].type == 'i')
            ra_int(a, *(const int *)(const void *)(base + f[i].off));
        else
            ra_int(a, *(const int64_t *)(const void *)(base + f[i].off));
    }
}

static void ra_names(rargs *a, const rfield *f, int nf)
{
    for (int i = 0; i < nf; i++)
        ra_str(a, f[i].name);
}

static int64_t parse_i64(const char *s, size_t len)
{
    char b[24];
    if (!s || len >= sizeof b) return 0;
    memcpy(b, s, len);
    b[len] = '\0';
    return strtoll(b, NULL, 10);
}

/* Fills a record from values in field order (NULL: absent); strings are truncated. */
static void rec_from(const rfield *f, int nf, const char *const *v, const size_t *l, void *rec,
                     size_t size)
{
    char *base = rec;
    memset(rec, 0, size);
    for (int i = 0; i < nf; i++) {
        if (!v[i]) continue;
        if (f[i].type == 's') {
            ripp_store_copy(base + f[i].off, f[i].cap, v[i], l[i]);
        } else {
            int64_t x = parse_i64(v[i], l[i]);
            if (f[i].type == 'i')
                *(int *)(void *)(base + f[i].off) = x < INT_MIN   ? INT_MIN
                                                    : x > INT_MAX ? INT_MAX
                                                                  : (int)x;
            else
                *(int64_t *)(void *)(base + f[i].off) = x;
        }
    }
}

/* From an HMGET reply; RIPP_ERR_NOTFOUND when the key field is absent. */
static int rec_from_reply(const rfield *f, int nf, const redisReply *r, void *rec, size_t size)
{
    const char *v[RARGS_MAX];
    size_t l[RARGS_MAX];
    if (r->type != REDIS_REPLY_ARRAY || (int)r->elements != nf) return RIPP_ERR_STORE;
    for (int i = 0; i < nf; i++) {
        const redisReply *e = r->element[i];
        bool s = e->type == REDIS_REPLY_STRING;
        v[i] = s ? e->str : NULL;
        l[i] = s ? e->len : 0;
    }
    if (!v[0]) return RIPP_ERR_NOTFOUND;
    rec_from(f, nf, v, l, rec, size);
    return 0;
}

int ripp_rs_split(const char *cmd, size_t len, const char **v, size_t *l, int max)
{
    const char *p = cmd, *end = cmd + len;
    char *e;
    if (len < 4 || *p != '*') return -1;
    long n = strtol(p + 1, &e, 10);
    if (n < 0 || n > max || e + 2 > end) return -1;
    p = e + 2;
    for (long i = 0; i < n; i++) {
        if (p >= end || *p != '$') return -1;
        long k = strtol(p + 1, &e, 10);
        if (k < 0 || e + 2 + k + 2 > end) return -1;
        v[i] = e + 2;
        l[i] = (size_t)k;
        p = e + 2 + k + 2;
    }
    return (int)n;
}

/* ---- the synchronous connection and its circuit breaker ---- */

int64_t ripp_rs_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ripp_rs_backoff_ms(unsigned *rnd, int fails)
{
    int64_t d = 100;
    for (int i = 1; i < fails && d < 5000; i++)
        d *= 2;
    if (d > 5000) d = 5000;
    return d / 2 + rand_r(rnd) % (d / 2 + 1);
}

void ripp_rs_breaker_reset(rstore *q)
{
    if (!q->sc) q->retry_at = 0;
}

static int rs_connect(rstore *q, char *errbuf, size_t errcap)
{
    struct timeval tv = {q->timeout_ms / 1000, (q->timeout_ms % 1000) * 1000};
    redisContext *c = q->port ? redisConnectWithTimeout(q->host, q->port, tv)
                              : redisConnectUnixWithTimeout(q->path, tv);
    redisReply *r = NULL;
    if (!c) {
        snprintf(errbuf, errcap, "out of memory");
        return RIPP_ERR_NOMEM;
    }
    if (c->err) goto fail;
    if (redisSetTimeout(c, tv) != REDIS_OK) goto fail;
    if (q->port) redisEnableKeepAlive(c);
    r = q->db ? redisCommand(c, "SELECT %d", q->db) : redisCommand(c, "PING");
    if (!r) goto fail;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errcap, "%s", r->str);
        freeReplyObject(r);
        redisFree(c);
        return RIPP_ERR_STORE;
    }
    freeReplyObject(r);
    q->sc = c;
    q->used = false;
    return 0;
fail:
    snprintf(errbuf, errcap, "%s", c->errstr[0] ? c->errstr : "connection failed");
    redisFree(c);
    return RIPP_ERR_STORE;
}

/* A failed attempt: drop the connection and open the breaker. Logged when Redis was
 * reachable before, so that a long outage does not flood the log. */
static void rs_trip(rstore *q, const char *what, const char *why)
{
    if (q->sc) redisFree(q->sc);
    q->sc = NULL;
    q->fails++;
    int64_t d = ripp_rs_backoff_ms(&q->rnd, q->fails);
    q->retry_at = ripp_rs_mono_ms() + d;
    ripp_log(q->reachable ? RIPP_LOG_ERROR : RIPP_LOG_DEBUG,
             "store: redis %s: %s (operations fail at once for %lld ms)", what, why, (long long)d);
    q->reachable = false;
}

static int rs_ready(rstore *q, const char *what)
{
    if (q->sc) return 0;
    if (ripp_rs_mono_ms() < q->retry_at) return RIPP_ERR_STORE;
    char eb[256];
    if (rs_connect(q, eb, sizeof eb)) {
        rs_trip(q, what, eb);
        return RIPP_ERR_STORE;
    }
    if (!q->reachable && q->fails) ripp_log(RIPP_LOG_INFO, "store: redis reachable again");
    q->fails = 0;
    q->reachable = true;
    return 0;
}

/* Whether the connection failed by itself (EOF, reset) rather than by timing out: on a
 * connection that has answered before, that is a Redis restart, and one new connection may
 * succeed at once. */
static bool rs_stale(const redisContext *c, int err_no)
{
    return c->err == REDIS_ERR_EOF ||
           (c->err == REDIS_ERR_IO && err_no != EAGAIN && err_no != EWOULDBLOCK);
}

/* Runs one command: 0 with *out (caller frees), or RIPP_ERR_STORE (logged). An error reply
 * is a failure of this operation only: Redis answered. */
static int rs_cmd(rstore *q, const char *what, const rargs *a, redisReply **out)
{
    int rc = rs_ready(q, what);
    if (rc) return rc;
    for (int attempt = 0;; attempt++) {
        errno = 0;
        redisReply *r = redisCommandArgv(q->sc, a->n, (const char **)a->v, a->l);
        int err_no = errno;
        if (r) {
            q->used = true;
            if (r->type == REDIS_REPLY_ERROR) {
                ripp_log(RIPP_LOG_ERROR, "store: redis %s: %s", what, r->str);
                freeReplyObject(r);
                return RIPP_ERR_STORE;
            }
            *out = r;
            return 0;
        }
        char why[256];
        snprintf(why, sizeof why, "%s", q->sc->errstr);
        if (attempt == 0 && q->used && rs_stale(q->sc, err_no)) {
            char eb[256];
            redisFree(q->sc);
            q->sc = NULL;
            if (rs_connect(q, eb, sizeof eb) == 0) continue;
            snprintf(why, sizeof why, "%s", eb);
        }
        rs_trip(q, what, why);
        return RIPP_ERR_STORE;
    }
}

/* A command whose reply only has to be a success. */
static int rs_do(rstore *q, const char *what, const rargs *a, long long *integer)
{
    redisReply *r = NULL;
    int rc = rs_cmd(q, what, a, &r);
    if (rc) return rc;
    if (integer) *integer = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return 0;
}

int ripp_rs_write_formatted(rstore *q, const char *const *cmds, const size_t *lens, size_t n,
                            size_t *done)
{
    *done = 0;
    while (*done < n) {
        int rc = rs_ready(q, "write");
        if (rc) return rc;
        size_t batch = n - *done < 256 ? n - *done : 256, got = 0;
        for (size_t i = 0; i < batch; i++)
            redisAppendFormattedCommand(q->sc, cmds[*done + i], lens[*done + i]);
        for (; got < batch; got++) {
            void *rv = NULL;
            if (redisGetReply(q->sc, &rv) != REDIS_OK) break;
            redisReply *r = rv;
            bool ok = r->type != REDIS_REPLY_ERROR;
            if (!ok) ripp_log(RIPP_LOG_ERROR, "store: redis write: %s", r->str);
            freeReplyObject(r);
            if (!ok) break;
            ++*done;
        }
        if (got < batch) {
            /* the replies of the rest of the batch are unread: start afresh */
            char why[128];
            snprintf(why, sizeof why, "%s", q->sc->err ? q->sc->errstr : "error reply");
            rs_trip(q, "write", why);
            return RIPP_ERR_STORE;
        }
        q->used = true;
    }
    return 0;
}

/* ---- operations ---- */

/* A key that cannot fit its field cannot be stored either: not found. */
static int key_check(const char *key, size_t cap, const void *out)
{
    int rc = ripp_store_check_key(key, cap);
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || !out) return RIPP_ERR_INVAL;
    return 0;
}

/* HMGET of a whole record. */
static int rs_get(rstore *q, const char *what, const char *space, const char *id, const rfield *f,
                  int nf, void *out, size_t size)
{
    rargs a = {0};
    ra_str(&a, "HMGET");
    ra_key(&a, space, id);
    ra_names(&a, f, nf);
    redisReply *r = NULL;
    int rc = rs_cmd(q, what, &a, &r);
    if (rc) return rc;
    rc = rec_from_reply(f, nf, r, out, size);
    if (rc == RIPP_ERR_STORE) ripp_log(RIPP_LOG_ERROR, "store: redis %s: unexpected reply", what);
    freeReplyObject(r);
    return rc;
}

/* HSET of a whole record (the field set is fixed, so every field is replaced). */
static int rs_hset(rstore *q, const char *what, const char *space, const char *id, const rfield *f,
                   int nf, const void *rec)
{
    rargs a = {0};
    ra_str(&a, "HSET");
    ra_key(&a, space, id);
    ra_pairs(&a, f, nf, rec);
    return rs_do(q, what, &a, NULL);
}

static int rs_trunk_put(void *impl, const ripp_trunk_rec *t)
{
    int rc = ripp_store_check_trunk(t);
    if (rc) return rc;
    return rs_hset(impl, "trunk_put", "trunk", t->id, trunk_fields, NF(trunk_fields), t);
}

static int rs_trunk_get(void *impl, const char *id, ripp_trunk_rec *out)
{
    int rc = key_check(id, sizeof out->id, out);
    if (rc) return rc;
    return rs_get(impl, "trunk_get", "trunk", id, trunk_fields, NF(trunk_fields), out, sizeof *out);
}

static int rs_token_put(void *impl, const ripp_token_rec *t)
{
    rstore *q = impl;
    int rc = ripp_store_check_token(t);
    if (rc) return rc;
    int64_t at = 0;
    if (t->expires_ms > 0 && q->token_keep_ms >= 0)
        at = t->expires_ms > INT64_MAX - q->token_keep_ms ? 0 : t->expires_ms + q->token_keep_ms;
    rargs a = {0};
    ra_str(&a, "EVAL");
    ra_str(&a, token_put_lua);
    ra_str(&a, "1");
    ra_key(&a, "token", t->hash);
    ra_int(&a, at > 0 ? at : 0);
    ra_pairs(&a, token_fields, NF(token_fields), t);
    return rs_do(q, "token_put", &a, NULL);
}

static int rs_token_add(void *impl, const char *trunk_id, const char *hash)
{
    ripp_token_rec t;
    int rc = ripp_store_check_key(hash, sizeof t.hash);
    if (!rc) rc = ripp_store_check_key(trunk_id, sizeof t.trunk_id);
    if (rc) return rc;
    memset(&t, 0, sizeof t);
    memcpy(t.hash, hash, strlen(hash) + 1);
    memcpy(t.trunk_id, trunk_id, strlen(trunk_id) + 1);
    return rs_token_put(impl, &t);
}

static int rs_token_lookup(void *impl, const char *hash, int64_t now_ms, char *trunk_id, size_t cap)
{
    rstore *q = impl;
    int rc = key_check(hash, sizeof(((ripp_token_rec *)0)->hash), trunk_id);
    if (rc) return rc;
    if (!cap) return RIPP_ERR_INVAL;
    rargs a = {0};
    ra_str(&a, "HMGET");
    ra_key(&a, "token", hash);
    ra_str(&a, "trunk_id");
    ra_str(&a, "kind");
    ra_str(&a, "state");
    ra_str(&a, "expires_ms");
    redisReply *r = NULL;
    rc = rs_cmd(q, "token_lookup", &a, &r);
    if (rc) return rc;
    rc = RIPP_ERR_NOTFOUND;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        const redisReply *const *e = (const redisReply *const *)r->element;
        int64_t kind = e[1]->type == REDIS_REPLY_STRING ? parse_i64(e[1]->str, e[1]->len) : 0;
        int64_t state = e[2]->type == REDIS_REPLY_STRING ? parse_i64(e[2]->str, e[2]->len) : 0;
        int64_t exp = e[3]->type == REDIS_REPLY_STRING ? parse_i64(e[3]->str, e[3]->len) : 0;
        if ((kind == RIPP_TOKEN_STATIC || kind == RIPP_TOKEN_ACCESS) && state == RIPP_TOKEN_LIVE &&
            (exp == 0 || exp > now_ms)) {
            ripp_store_copy(trunk_id, cap, e[0]->str, e[0]->len);
            rc = 0;
        }
    }
    freeReplyObject(r);
    return rc;
}

static int rs_token_get(void *impl, const char *hash, ripp_token_rec *out)
{
    int rc = key_check(hash, sizeof out->hash, out);
    if (rc) return rc;
    return rs_get(impl, "token_get", "token", hash, token_fields, NF(token_fields), out,
                  sizeof *out);
}

static int rs_token_set_state(void *impl, const char *hash, int from, int to)
{
    int rc = ripp_store_check_key(hash, sizeof(((ripp_token_rec *)0)->hash));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || to < RIPP_TOKEN_LIVE || to > RIPP_TOKEN_REVOKED) return RIPP_ERR_INVAL;
    rargs a = {0};
    ra_str(&a, "EVAL");
    ra_str(&a, token_cas_lua);
    ra_str(&a, "1");
    ra_key(&a, "token", hash);
    ra_int(&a, from);
    ra_int(&a, to);
    long long n = 0;
    rc = rs_do(impl, "token_set_state", &a, &n);
    if (rc) return rc;
    return n == 1 ? 0 : n == 0 ? RIPP_ERR_STATE : RIPP_ERR_NOTFOUND;
}

static int rs_token_revoke_family(void *impl, const char *family)
{
    int rc = ripp_store_check_key(family, sizeof(((ripp_token_rec *)0)->family));
    if (rc == RIPP_ERR_LIMIT) return 0;
    if (rc) return RIPP_ERR_INVAL;
    rargs a = {0};
    ra_str(&a, "EVAL");
    ra_str(&a, revoke_lua);
    ra_str(&a, "1");
    ra_key(&a, "family", family);
    ra_str(&a, family);
    long long n = 0;
    rc = rs_do(impl, "token_revoke_family", &a, &n);
    return rc ? rc : (int)(n > INT_MAX ? INT_MAX : n);
}

static int rs_trunk_del(void *impl, const char *id)
{
    int rc = ripp_store_check_key(id, sizeof(((ripp_trunk_rec *)0)->id));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc) return rc;
    rargs a = {0};
    ra_str(&a, "EVAL");
    ra_str(&a, trunk_del_lua);
    ra_str(&a, "3");
    ra_key(&a, "trunk", id);
    ra_key(&a, "trunk-tokens", id);
    ra_key(&a, "consumer", id);
    ra_str(&a, id);
    long long n = 0;
    rc = rs_do(impl, "trunk_del", &a, &n);
    return rc ? rc : n > 0 ? 0 : RIPP_ERR_NOTFOUND;
}

static int rs_consumer_put(void *impl, const ripp_consumer_rec *c)
{
    int rc = ripp_store_check_consumer(c);
    if (rc) return rc;
    return rs_hset(impl, "consumer_put", "consumer", c->trunk_id, consumer_fields,
                   NF(consumer_fields), c);
}

static int rs_consumer_get(void *impl, const char *trunk_id, ripp_consumer_rec *out)
{
    int rc = key_check(trunk_id, sizeof out->trunk_id, out);
    if (rc) return rc;
    return rs_get(impl, "consumer_get", "consumer", trunk_id, consumer_fields, NF(consumer_fields),
                  out, sizeof *out);
}

static int rs_prov_put(void *impl, const ripp_prov_rec *p)
{
    int rc = ripp_store_check_prov(p);
    if (rc) return rc;
    rargs a = {0};
    ra_str(&a, "EVAL");
    ra_str(&a, prov_put_lua);
    ra_str(&a, "3");
    ra_key(&a, "prov", p->provider_trunk);
    ra_str(&a, K_PROVS);
    ra_str(&a, K_PROV_SEQ);
    ra_str(&a, p->provider_trunk);
    ra_pairs(&a, prov_fields, NF(prov_fields), p);
    return rs_do(impl, "prov_put", &a, NULL);
}

static int rs_prov_get(void *impl, const char *key, ripp_prov_rec *out)
{
    int rc = key_check(key, sizeof out->provider_trunk, out);
    if (rc) return rc;
    return rs_get(impl, "prov_get", "prov", key, prov_fields, NF(prov_fields), out, sizeof *out);
}

static int rs_prov_del(void *impl, const char *key)
{
    int rc = ripp_store_check_key(key, sizeof(((ripp_prov_rec *)0)->provider_trunk));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc) return rc;
    rargs a = {0};
    ra_str(&a, "EVAL");
    ra_str(&a, prov_del_lua);
    ra_str(&a, "2");
    ra_key(&a, "prov", key);
    ra_str(&a, K_PROVS);
    ra_str(&a, key);
    long long n = 0;
    rc = rs_do(impl, "prov_del", &a, &n);
    return rc ? rc : n > 0 ? 0 : RIPP_ERR_NOTFOUND;
}

/* Reads the records of many keys in one pipelined round trip: replies[i] (caller frees) is
 * the HMGET of space:ids[i]. */
static int rs_hmget_many(rstore *q, const char *what, const char *space, const char *const *ids,
                         const size_t *idlens, size_t n, const rfield *f, int nf,
                         redisReply **replies)
{
    int rc = rs_ready(q, what);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        rargs a = {0};
        char key[1100];
        int kl = snprintf(key, sizeof key, "ripp:%s:%.*s", space, (int)idlens[i], ids[i]);
        a.v[a.n] = "HMGET";
        a.l[a.n++] = 5;
        a.v[a.n] = key;
        a.l[a.n++] = kl < (int)sizeof key ? (size_t)kl : sizeof key - 1;
        ra_names(&a, f, nf);
        redisAppendCommandArgv(q->sc, a.n, a.v, a.l);
    }
    size_t got = 0;
    for (; got < n; got++) {
        void *rv = NULL;
        if (redisGetReply(q->sc, &rv) != REDIS_OK) break;
        replies[got] = rv;
    }
    if (got == n) {
        q->used = true;
        return 0;
    }
    for (size_t i = 0; i < got; i++)
        freeReplyObject(replies[i]);
    rs_trip(q, what, q->sc->errstr);
    return RIPP_ERR_STORE;
}

/* Walks over a snapshot: the records are read first, so that the callback may use the store. */
static int rs_prov_each(void *impl, int (*cb)(void *ud, const ripp_prov_rec *p), void *ud)
{
    rstore *q = impl;
    if (!cb) return RIPP_ERR_INVAL;
    rargs a = {0};
    ra_str(&a, "ZRANGE");
    ra_str(&a, K_PROVS);
    ra_str(&a, "0");
    ra_str(&a, "-1");
    redisReply *ids = NULL;
    int rc = rs_cmd(q, "prov_each", &a, &ids);
    if (rc) return rc;
    size_t n = ids->type == REDIS_REPLY_ARRAY ? ids->elements : 0;
    const char **v = calloc(n + 1, sizeof *v);
    size_t *l = calloc(n + 1, sizeof *l);
    redisReply **rep = calloc(n + 1, sizeof *rep);
    ripp_prov_rec *rows = calloc(n + 1, sizeof *rows);
    size_t nrows = 0;
    if (!v || !l || !rep || !rows) {
        rc = RIPP_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = ids->element[i]->str;
        l[i] = ids->element[i]->len;
    }
    rc = n ? rs_hmget_many(q, "prov_each", "prov", v, l, n, prov_fields, NF(prov_fields), rep) : 0;
    if (rc) goto out;
    for (size_t i = 0; i < n; i++) {
        if (rec_from_reply(prov_fields, NF(prov_fields), rep[i], &rows[nrows], sizeof *rows) == 0)
            nrows++;
        freeReplyObject(rep[i]);
    }
    for (size_t i = 0; i < nrows; i++)
        if (cb(ud, &rows[i])) break;
out:
    freeReplyObject(ids);
    free(v);
    free(l);
    free(rep);
    free(rows);
    return rc;
}

/* ---- call records and CDRs: synchronous, or through the write-behind queue ---- */

static int call_cmd(rstore *q, const ripp_call_rec *c, rargs *a)
{
    ra_str(a, "EVAL");
    ra_str(a, call_put_lua);
    ra_str(a, "1");
    ra_key(a, "call", c->id);
    ra_int(a, q->call_keep_ms);
    ra_pairs(a, call_fields, NF(call_fields), c);
    return 5; /* where the pairs start */
}
#define CALL_PAIRS 5

static int cdr_cmd(const ripp_cdr *c, rargs *a)
{
    ra_str(a, "EVAL");
    ra_str(a, cdr_put_lua);
    ra_str(a, "3");
    ra_key(a, "cdr", c->call_id);
    ra_str(a, K_CDRS);
    ra_str(a, K_CDR_SEQ);
    ra_str(a, c->call_id);
    ra_pairs(a, cdr_fields, NF(cdr_fields), c);
    return 7;
}
#define CDR_PAIRS 7

/* Formats the command and hands it to the write-behind queue. */
static int rs_queue(rstore *q, int kind, const char *id, const rargs *a)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, a->n, (const char **)a->v, a->l);
    if (len < 0 || !cmd) return RIPP_ERR_NOMEM;
    return ripp_rwb_put(q->wb, kind, id, cmd, (size_t)len);
}

/* A queued record, decoded from its command. */
static int from_queued(rstore *q, int kind, const char *id, const rfield *f, int nf, int first,
                       void *out, size_t size)
{
    const char *cmd, *v[RARGS_MAX], *vals[RARGS_MAX];
    size_t len, l[RARGS_MAX], lens[RARGS_MAX];
    if (!q->wb || !ripp_rwb_find(q->wb, kind, id, &cmd, &len)) return RIPP_ERR_NOTFOUND;
    if (ripp_rs_split(cmd, len, v, l, RARGS_MAX) != first + 2 * nf) return RIPP_ERR_STORE;
    for (int i = 0; i < nf; i++) {
        vals[i] = v[first + 2 * i + 1];
        lens[i] = l[first + 2 * i + 1];
    }
    rec_from(f, nf, vals, lens, out, size);
    return 0;
}

static int rs_call_put(void *impl, const ripp_call_rec *c)
{
    rstore *q = impl;
    int rc = ripp_store_check_call(c);
    if (rc) return rc;
    rargs a = {0};
    call_cmd(q, c, &a);
    return q->wb ? rs_queue(q, RWB_CALL, c->id, &a) : rs_do(q, "call_put", &a, NULL);
}

static int rs_call_get(void *impl, const char *id, ripp_call_rec *out)
{
    rstore *q = impl;
    int rc = key_check(id, sizeof out->id, out);
    if (rc) return rc;
    rc = from_queued(q, RWB_CALL, id, call_fields, NF(call_fields), CALL_PAIRS, out, sizeof *out);
    if (rc != RIPP_ERR_NOTFOUND) return rc;
    return rs_get(q, "call_get", "call", id, call_fields, NF(call_fields), out, sizeof *out);
}

static int rs_cdr_put(void *impl, const ripp_cdr *c)
{
    rstore *q = impl;
    int rc = ripp_store_check_cdr(c);
    if (rc) return rc;
    rargs a = {0};
    cdr_cmd(c, &a);
    return q->wb ? rs_queue(q, RWB_CDR, c->call_id, &a) : rs_do(q, "cdr_put", &a, NULL);
}

static int rs_cdr_get(void *impl, const char *call_id, ripp_cdr *out)
{
    rstore *q = impl;
    int rc = key_check(call_id, sizeof out->call_id, out);
    if (rc) return rc;
    rc = from_queued(q, RWB_CDR, call_id, cdr_fields, NF(cdr_fields), CDR_PAIRS, out, sizeof *out);
    if (rc != RIPP_ERR_NOTFOUND) return rc;
    return rs_get(q, "cdr_get", "cdr", call_id, cdr_fields, NF(cdr_fields), out, sizeof *out);
}

#define CDR_BATCH 256

/* End order is the score in ripp:cdrs; the walk stops at the highest score it saw first, so
 * that a CDR rewritten meanwhile is not visited twice. Queued CDRs come last, in put order
 * (they will reach Redis after everything there). */
static int rs_cdr_each(void *impl, int (*cb)(void *ud, const ripp_cdr *cdr), void *ud)
{
    rstore *q = impl;
    if (!cb) return RIPP_ERR_INVAL;
    ripp_cdr *row = malloc(sizeof *row);
    redisReply **rep = calloc(CDR_BATCH, sizeof *rep);
    const char **qcmds = NULL;
    size_t *qlens = NULL, nq = 0;
    redisReply *r = NULL;
    int rc = RIPP_ERR_NOMEM;
    bool stop = false;
    if (!row || !rep) goto out;
    if (q->wb && (rc = ripp_rwb_cdrs(q->wb, &qcmds, &qlens, &nq))) goto out;
    rargs a = {0};
    ra_str(&a, "ZREVRANGE");
    ra_str(&a, K_CDRS);
    ra_str(&a, "0");
    ra_str(&a, "0");
    ra_str(&a, "WITHSCORES");
    if ((rc = rs_cmd(q, "cdr_each", &a, &r))) goto out;
    char max[32] = "0", from[40] = "-inf";
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        snprintf(max, sizeof max, "%.*s", (int)r->element[1]->len, r->element[1]->str);
    freeReplyObject(r);
    r = NULL;
    while (!stop) {
        rargs b = {0};
        ra_str(&b, "ZRANGEBYSCORE");
        ra_str(&b, K_CDRS);
        ra_str(&b, from);
        ra_str(&b, max);
        ra_str(&b, "WITHSCORES");
        ra_str(&b, "LIMIT");
        ra_str(&b, "0");
        ra_int(&b, CDR_BATCH);
        if ((rc = rs_cmd(q, "cdr_each", &b, &r))) goto out;
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
        if (n == 0) break;
        const char *v[CDR_BATCH];
        size_t l[CDR_BATCH];
        for (size_t i = 0; i < n; i++) {
            v[i] = r->element[2 * i]->str;
            l[i] = r->element[2 * i]->len;
        }
        snprintf(from, sizeof from, "(%.*s", (int)r->element[2 * n - 1]->len,
                 r->element[2 * n - 1]->str);
        if ((rc = rs_hmget_many(q, "cdr_each", "cdr", v, l, n, cdr_fields, NF(cdr_fields), rep)))
            goto out;
        for (size_t i = 0; i < n; i++) {
            char id[sizeof row->call_id];
            ripp_store_copy(id, sizeof id, v[i], l[i]);
            const char *c2;
            size_t l2;
            bool queued = q->wb && ripp_rwb_find(q->wb, RWB_CDR, id, &c2, &l2);
            if (!stop && !queued &&
                rec_from_reply(cdr_fields, NF(cdr_fields), rep[i], row, sizeof *row) == 0)
                stop = cb(ud, row) != 0;
            freeReplyObject(rep[i]);
        }
        bool last = n < CDR_BATCH;
        freeReplyObject(r);
        r = NULL;
        if (last) break;
    }
    for (size_t i = 0; i < nq && !stop; i++) {
        const char *v[RARGS_MAX], *vals[RARGS_MAX];
        size_t l[RARGS_MAX], lens[RARGS_MAX];
        if (ripp_rs_split(qcmds[i], qlens[i], v, l, RARGS_MAX) != CDR_PAIRS + 2 * NF(cdr_fields))
            continue;
        for (int k = 0; k < NF(cdr_fields); k++) {
            vals[k] = v[CDR_PAIRS + 2 * k + 1];
            lens[k] = l[CDR_PAIRS + 2 * k + 1];
        }
        rec_from(cdr_fields, NF(cdr_fields), vals, lens, row, sizeof *row);
        stop = cb(ud, row) != 0;
    }
    rc = 0;
out:
    if (r) freeReplyObject(r);
    free(qcmds);
    free(qlens);
    free(rep);
    free(row);
    return rc;
}

static void rs_close(void *impl)
{
    rstore *q = impl;
    if (!q) return;
    if (q->wb) ripp_rwb_close(q->wb); /* flushes through sc, frees q later */
    if (q->sc) redisFree(q->sc);
    q->sc = NULL;
    if (!q->wb) free(q);
}

static const ripp_store_ops redis_ops = {
    .trunk_put = rs_trunk_put,
    .trunk_get = rs_trunk_get,
    .token_add = rs_token_add,
    .token_lookup = rs_token_lookup,
    .call_put = rs_call_put,
    .call_get = rs_call_get,
    .cdr_put = rs_cdr_put,
    .cdr_get = rs_cdr_get,
    .cdr_each = rs_cdr_each,
    .token_put = rs_token_put,
    .token_get = rs_token_get,
    .token_set_state = rs_token_set_state,
    .token_revoke_family = rs_token_revoke_family,
    .trunk_del = rs_trunk_del,
    .consumer_put = rs_consumer_put,
    .consumer_get = rs_consumer_get,
    .prov_put = rs_prov_put,
    .prov_get = rs_prov_get,
    .prov_del = rs_prov_del,
    .prov_each = rs_prov_each,
    .close = rs_close,
};

bool ripp_store_redis_is(const ripp_store *s)
{
    /* by the close function, so that a copy of the table still counts */
    return s && s->ops && s->ops->close == rs_close;
}

int ripp_store_redis_attach(ripp_store *s, struct uv_loop_s *loop)
{
    rstore *q = s->impl;
    if (!loop) return RIPP_ERR_INVAL;
    if (q->wb) return RIPP_ERR_STATE;
    return ripp_rwb_attach(q, loop);
}

void ripp_store_redis_status(const ripp_store *s, ripp_store_status *out)
{
    const rstore *q = s->impl;
    memset(out, 0, sizeof *out);
    out->reachable = q->reachable;
    int64_t left = q->retry_at - ripp_rs_mono_ms();
    out->breaker_open = !q->sc && left > 0;
    out->retry_in_ms = out->breaker_open ? left : 0;
    if (q->wb) ripp_rwb_status(q->wb, out);
}

/* ---- opening ---- */

static int parse_int(const char *s, size_t n, long long lo, long long hi, long long *out)
{
    char b[24], *e;
    if (n == 0 || n >= sizeof b) return -1;
    memcpy(b, s, n);
    b[n] = '\0';
    errno = 0;
    long long v = strtoll(b, &e, 10);
    if (errno || *e || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* "k=v&k=v" */
static int parse_opts(rstore *q, const char *s, char *errbuf, size_t errcap)
{
    while (s && *s) {
        const char *amp = strchr(s, '&'), *end = amp ? amp : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        long long v;
        if (!eq || parse_int(eq + 1, (size_t)(end - eq - 1), -1, 1000000000, &v)) goto bad;
        size_t kl = (size_t)(eq - s);
#define OPT(name) (kl == strlen(name) && !memcmp(s, name, kl))
        if (OPT("db") && v >= 0)
            q->db = (int)v;
        else if (OPT("timeout_ms") && v > 0)
            q->timeout_ms = (int)v;
        else if (OPT("wb_timeout_ms") && v > 0)
            q->wb_timeout_ms = (int)v;
        else if (OPT("queue") && v > 0)
            q->queue_max = (int)v;
        else if (OPT("call_keep_s"))
            q->call_keep_ms = v < 0 ? -1 : v * 1000;
        else if (OPT("token_keep_s"))
            q->token_keep_ms = v < 0 ? -1 : v * 1000;
        else
            goto bad;
#undef OPT
        s = amp ? amp + 1 : end;
        continue;
    bad:
        snprintf(errbuf, errcap, "bad option \"%.*s\"", (int)(end - s), s);
        return RIPP_ERR_INVAL;
    }
    return 0;
}

static int parse_url(rstore *q, const char *url, char *errbuf, size_t errcap)
{
    const char *opts = strchr(url, '?');
    size_t main_len = opts ? (size_t)(opts - url) : strlen(url);
    long long v;
    if (!strncmp(url, "unix:", 5)) {
        const char *p = url + 5;
        size_t n = main_len - 5;
        if (n == 0 || n >= sizeof q->path) goto bad;
        memcpy(q->path, p, n);
        q->path[n] = '\0';
        q->port = 0;
    } else if (!strncmp(url, "redis://", 8)) {
        const char *h = url + 8, *end = url + main_len;
        const char *slash = memchr(h, '/', (size_t)(end - h));
        const char *hend = slash ? slash : end, *colon = NULL;
        if (*h == '[') {
            const char *rb = memchr(h, ']', (size_t)(hend - h));
            if (!rb) goto bad;
            if (rb + 1 < hend) {
                if (rb[1] != ':') goto bad;
                colon = rb + 1;
            }
            if ((size_t)(rb - h - 1) >= sizeof q->host) goto bad;
            memcpy(q->host, h + 1, (size_t)(rb - h - 1));
            q->host[rb - h - 1] = '\0';
        } else {
            colon = memchr(h, ':', (size_t)(hend - h));
            const char *he = colon ? colon : hend;
            if ((size_t)(he - h) >= sizeof q->host) goto bad;
            memcpy(q->host, h, (size_t)(he - h));
            q->host[he - h] = '\0';
        }
        if (!q->host[0]) goto bad;
        q->port = 6379;
        if (colon) {
            if (parse_int(colon + 1, (size_t)(hend - colon - 1), 1, 65535, &v)) goto bad;
            q->port = (int)v;
        }
        if (slash && slash + 1 < end) {
            if (parse_int(slash + 1, (size_t)(end - slash - 1), 0, 1000000, &v)) goto bad;
            q->db = (int)v;
        }
    } else {
        goto bad;
    }
    return opts ? parse_opts(q, opts + 1, errbuf, errcap) : 0;
bad:
    snprintf(errbuf, errcap, "bad Redis URL \"%s\" (redis://HOST[:PORT][/DB] or unix:/PATH)", url);
    return RIPP_ERR_INVAL;
}

ripp_store *ripp_store_redis_open(const char *url, int *err, char *errbuf, size_t errcap)
{
    char dummy[1];
    if (!errbuf || !errcap) {
        errbuf = dummy;
        errcap = sizeof dummy;
    }
    errbuf[0] = '\0';
    int e = RIPP_ERR_INVAL;
    ripp_store *s = NULL;
    rstore *q = NULL;
    if (!url) {
        snprintf(errbuf, errcap, "no Redis URL");
        goto out;
    }
    q = calloc(1, sizeof *q);
    if (!q) {
        e = RIPP_ERR_NOMEM;
        goto out;
    }
    q->timeout_ms = 200;
    q->wb_timeout_ms = 1000;
    q->queue_max = 50000;
    q->call_keep_ms = 86400 * 1000LL;
    q->token_keep_ms = 86400 * 1000LL;
    q->rnd = (unsigned)ripp_rs_mono_ms() ^ (unsigned)(uintptr_t)q;
    if ((e = parse_url(q, url, errbuf, errcap))) goto out;
    char eb[256];
    if ((e = rs_connect(q, eb, sizeof eb))) {
        snprintf(errbuf, errcap, "%s: %s", q->port ? q->host : q->path, eb);
        ripp_log(RIPP_LOG_ERROR, "store: redis open %s", errbuf);
        goto out;
    }
    q->reachable = true;
    s = ripp_store_wrap(&redis_ops, q, &e);
out:
    if (!s) {
        rs_close(q);
        if (err) *err = e;
        if (e == RIPP_ERR_NOMEM && !errbuf[0]) snprintf(errbuf, errcap, "out of memory");
    } else if (err) {
        *err = 0;
    }
    return s;
}
