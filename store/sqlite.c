/* SQLite store: the embedded default. Every operation runs one prepared statement kept for
 * the life of the handle (they sit on the per-call path). Several handles, in one or many
 * processes, may share a file: WAL lets readers run beside the one writer, and the busy
 * timeout absorbs short write contention. */
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "store_int.h"

#define SCHEMA_VERSION 1

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS trunks("
    " id TEXT PRIMARY KEY NOT NULL, answer TEXT NOT NULL, caps_json TEXT NOT NULL,"
    " identity_pub TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens("
    " hash TEXT PRIMARY KEY NOT NULL, trunk_id TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS calls("
    " id TEXT PRIMARY KEY NOT NULL, trunk_id TEXT NOT NULL, uri TEXT NOT NULL,"
    " target TEXT NOT NULL, orig_tn TEXT NOT NULL, state INTEGER NOT NULL,"
    " last_seq_c2s INTEGER NOT NULL, last_seq_s2c INTEGER NOT NULL,"
    " media_seq_c2s INTEGER NOT NULL, media_seq_s2c INTEGER NOT NULL,"
    " cookies TEXT NOT NULL, next_hop TEXT NOT NULL, token_hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cdrs("
    " call_id TEXT PRIMARY KEY NOT NULL, trunk_id TEXT NOT NULL, target TEXT NOT NULL,"
    " orig_tn TEXT NOT NULL, start_ms INTEGER NOT NULL, answer_ms INTEGER NOT NULL,"
    " end_ms INTEGER NOT NULL, outcome TEXT NOT NULL, end_code INTEGER NOT NULL,"
    " dtmf TEXT NOT NULL, recording TEXT NOT NULL, stats_json TEXT NOT NULL,"
    " seq INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cdrs_seq ON cdrs(seq);";

enum {
    ST_TRUNK_PUT,
    ST_TRUNK_GET,
    ST_TOKEN_ADD,
    ST_TOKEN_LOOKUP,
    ST_CALL_PUT,
    ST_CALL_GET,
    ST_CDR_PUT,
    ST_CDR_GET,
    ST_CDR_EACH,
    ST_COUNT
};

#define CDR_COLS                                                                                   \
    "call_id, trunk_id, target, orig_tn, start_ms, answer_ms, end_ms, outcome, end_code, dtmf, "   \
    "recording, stats_json"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_TRUNK_PUT] = "INSERT OR REPLACE INTO trunks(id, answer, caps_json, identity_pub, "
                     "created_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_TRUNK_GET] = "SELECT id, answer, caps_json, identity_pub, created_ms FROM trunks "
                     "WHERE id = ?1",
    [ST_TOKEN_ADD] = "INSERT OR REPLACE INTO tokens(hash, trunk_id) VALUES(?1, ?2)",
    [ST_TOKEN_LOOKUP] = "SELECT trunk_id FROM tokens WHERE hash = ?1",
    [ST_CALL_PUT] = "INSERT OR REPLACE INTO calls(id, trunk_id, uri, target, orig_tn, state, "
                    "last_seq_c2s, last_seq_s2c, media_seq_c2s, media_seq_s2c, cookies, "
                    "next_hop, token_hash, created_ms, updated_ms) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_CALL_GET] = "SELECT id, trunk_id, uri, target, orig_tn, state, last_seq_c2s, "
                    "last_seq_s2c, media_seq_c2s, media_seq_s2c, cookies, next_hop, "
                    "token_hash, created_ms, updated_ms FROM calls WHERE id = ?1",
    [ST_CDR_PUT] = "INSERT OR REPLACE INTO cdrs(" CDR_COLS ", seq) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                   "(SELECT COALESCE(MAX(seq), 0) + 1 FROM cdrs))",
    [ST_CDR_GET] = "SELECT " CDR_COLS " FROM cdrs WHERE call_id = ?1",
    /* The bound keeps a walk finite even if CDRs are rewritten (and so renumbered) in it. */
    [ST_CDR_EACH] = "SELECT " CDR_COLS " FROM cdrs "
                    "WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM cdrs) ORDER BY seq",
};

typedef struct sqstore {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    bool each_busy; /* ST_CDR_EACH is stepping: a nested walk prepares its own */
} sqstore;

static int sq_fail(sqstore *q, const char *what)
{
    ripp_log(RIPP_LOG_ERROR, "store: sqlite %s: %s", what, sqlite3_errmsg(q->db));
    return RIPP_ERR_STORE;
}

static void sq_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

static void col_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    ripp_store_copy(dst, cap, s, n > 0 ? (size_t)n : 0);
}

#define COL_TEXT(st, col, field) col_text((st), (col), (field), sizeof(field))

/* Runs a write statement whose parameters are bound (bind_rc: the OR of the bind results). */
static int sq_write(sqstore *q, sqlite3_stmt *st, int bind_rc, const char *what)
{
    int ret = 0;
    if (bind_rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) ret = sq_fail(q, what);
    sq_done(st);
    return ret;
}

/* Steps a lookup: 0 with a row ready, RIPP_ERR_NOTFOUND or RIPP_ERR_STORE (reset done). */
static int sq_row(sqstore *q, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return 0;
    int ret = rc == SQLITE_DONE ? RIPP_ERR_NOTFOUND : sq_fail(q, what);
    sq_done(st);
    return ret;
}

/* A key that cannot fit its field cannot be stored either: not found. */
static int key_check(const char *key, size_t cap, const void *out)
{
    int rc = ripp_store_check_key(key, cap);
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || !out) return RIPP_ERR_INVAL;
    return 0;
}

static int sq_trunk_put(void *impl, const ripp_trunk_rec *t)
{
    sqstore *q = impl;
    int rc = ripp_store_check_trunk(t);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_TRUNK_PUT];
    int b = bind_text(st, 1, t->id) | bind_text(st, 2, t->answer) | bind_text(st, 3, t->caps_json) |
            bind_text(st, 4, t->identity_pub) | sqlite3_bind_int64(st, 5, t->created_ms);
    return sq_write(q, st, b, "trunk_put");
}

static int sq_trunk_get(void *impl, const char *id, ripp_trunk_rec *out)
{
    sqstore *q = impl;
    int rc = key_check(id, sizeof out->id, out);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_TRUNK_GET];
    if (bind_text(st, 1, id) != SQLITE_OK) {
        rc = sq_fail(q, "trunk_get");
        sq_done(st);
        return rc;
    }
    rc = sq_row(q, st, "trunk_get");
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    COL_TEXT(st, 0, out->id);
    COL_TEXT(st, 1, out->answer);
    COL_TEXT(st, 2, out->caps_json);
    COL_TEXT(st, 3, out->identity_pub);
    out->created_ms = sqlite3_column_int64(st, 4);
    sq_done(st);
    return 0;
}

static int sq_token_add(void *impl, const char *trunk_id, const char *hash)
{
    sqstore *q = impl;
    int rc = ripp_store_check_key(hash, sizeof(((ripp_call_rec *)0)->token_hash));
    if (!rc) rc = ripp_store_check_key(trunk_id, sizeof(((ripp_trunk_rec *)0)->id));
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_TOKEN_ADD];
    int b = bind_text(st, 1, hash) | bind_text(st, 2, trunk_id);
    return sq_write(q, st, b, "token_add");
}

static int sq_token_lookup(void *impl, const char *hash, char *trunk_id, size_t cap)
{
    sqstore *q = impl;
    int rc = key_check(hash, sizeof(((ripp_call_rec *)0)->token_hash), trunk_id);
    if (rc) return rc;
    if (!cap) return RIPP_ERR_INVAL;
    sqlite3_stmt *st = q->st[ST_TOKEN_LOOKUP];
    if (bind_text(st, 1, hash) != SQLITE_OK) {
        rc = sq_fail(q, "token_lookup");
        sq_done(st);
        return rc;
    }
    rc = sq_row(q, st, "token_lookup");
    if (rc) return rc;
    col_text(st, 0, trunk_id, cap);
    sq_done(st);
    return 0;
}

static int sq_call_put(void *impl, const ripp_call_rec *c)
{
    sqstore *q = impl;
    int rc = ripp_store_check_call(c);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_CALL_PUT];
    int b = bind_text(st, 1, c->id) | bind_text(st, 2, c->trunk_id) | bind_text(st, 3, c->uri) |
            bind_text(st, 4, c->target) | bind_text(st, 5, c->orig_tn) |
            sqlite3_bind_int(st, 6, c->state) | sqlite3_bind_int64(st, 7, c->last_seq_c2s) |
            sqlite3_bind_int64(st, 8, c->last_seq_s2c) |
            sqlite3_bind_int64(st, 9, c->media_seq_c2s) |
            sqlite3_bind_int64(st, 10, c->media_seq_s2c) | bind_text(st, 11, c->cookies) |
            bind_text(st, 12, c->next_hop) | bind_text(st, 13, c->token_hash) |
            sqlite3_bind_int64(st, 14, c->created_ms) | sqlite3_bind_int64(st, 15, c->updated_ms);
    return sq_write(q, st, b, "call_put");
}

static int sq_call_get(void *impl, const char *id, ripp_call_rec *out)
{
    sqstore *q = impl;
    int rc = key_check(id, sizeof out->id, out);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_CALL_GET];
    if (bind_text(st, 1, id) != SQLITE_OK) {
        rc = sq_fail(q, "call_get");
        sq_done(st);
        return rc;
    }
    rc = sq_row(q, st, "call_get");
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    COL_TEXT(st, 0, out->id);
    COL_TEXT(st, 1, out->trunk_id);
    COL_TEXT(st, 2, out->uri);
    COL_TEXT(st, 3, out->target);
    COL_TEXT(st, 4, out->orig_tn);
    out->state = sqlite3_column_int(st, 5);
    out->last_seq_c2s = sqlite3_column_int64(st, 6);
    out->last_seq_s2c = sqlite3_column_int64(st, 7);
    out->media_seq_c2s = sqlite3_column_int64(st, 8);
    out->media_seq_s2c = sqlite3_column_int64(st, 9);
    COL_TEXT(st, 10, out->cookies);
    COL_TEXT(st, 11, out->next_hop);
    COL_TEXT(st, 12, out->token_hash);
    out->created_ms = sqlite3_column_int64(st, 13);
    out->updated_ms = sqlite3_column_int64(st, 14);
    sq_done(st);
    return 0;
}

static int sq_cdr_put(void *impl, const ripp_cdr *c)
{
    sqstore *q = impl;
    int rc = ripp_store_check_cdr(c);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_CDR_PUT];
    int b = bind_text(st, 1, c->call_id) | bind_text(st, 2, c->trunk_id) |
            bind_text(st, 3, c->target) | bind_text(st, 4, c->orig_tn) |
            sqlite3_bind_int64(st, 5, c->start_ms) | sqlite3_bind_int64(st, 6, c->answer_ms) |
            sqlite3_bind_int64(st, 7, c->end_ms) | bind_text(st, 8, c->outcome) |
            sqlite3_bind_int(st, 9, c->end_code) | bind_text(st, 10, c->dtmf) |
            bind_text(st, 11, c->recording) | bind_text(st, 12, c->stats_json);
    return sq_write(q, st, b, "cdr_put");
}

/* Columns in CDR_COLS order. */
static void cdr_from_row(sqlite3_stmt *st, ripp_cdr *out)
{
    memset(out, 0, sizeof *out);
    COL_TEXT(st, 0, out->call_id);
    COL_TEXT(st, 1, out->trunk_id);
    COL_TEXT(st, 2, out->target);
    COL_TEXT(st, 3, out->orig_tn);
    out->start_ms = sqlite3_column_int64(st, 4);
    out->answer_ms = sqlite3_column_int64(st, 5);
    out->end_ms = sqlite3_column_int64(st, 6);
    COL_TEXT(st, 7, out->outcome);
    out->end_code = sqlite3_column_int(st, 8);
    COL_TEXT(st, 9, out->dtmf);
    COL_TEXT(st, 10, out->recording);
    COL_TEXT(st, 11, out->stats_json);
}

static int sq_cdr_get(void *impl, const char *call_id, ripp_cdr *out)
{
    sqstore *q = impl;
    int rc = key_check(call_id, sizeof out->call_id, out);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_CDR_GET];
    if (bind_text(st, 1, call_id) != SQLITE_OK) {
        rc = sq_fail(q, "cdr_get");
        sq_done(st);
        return rc;
    }
    rc = sq_row(q, st, "cdr_get");
    if (rc) return rc;
    cdr_from_row(st, out);
    sq_done(st);
    return 0;
}

static int sq_cdr_each(void *impl, int (*cb)(void *ud, const ripp_cdr *cdr), void *ud)
{
    sqstore *q = impl;
    if (!cb) return RIPP_ERR_INVAL;
    ripp_cdr *row = malloc(sizeof *row);
    if (!row) return RIPP_ERR_NOMEM;
    sqlite3_stmt *st = q->st[ST_CDR_EACH];
    bool own = q->each_busy;
    if (own && sqlite3_prepare_v2(q->db, stmt_sql[ST_CDR_EACH], -1, &st, NULL) != SQLITE_OK) {
        free(row);
        return sq_fail(q, "cdr_each");
    }
    if (!own) q->each_busy = true;
    int ret = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cdr_from_row(st, row);
        if (cb(ud, row)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = sq_fail(q, "cdr_each");
    if (own) {
        sqlite3_finalize(st);
    } else {
        sq_done(st);
        q->each_busy = false;
    }
    free(row);
    return ret;
}

static void sq_close(void *impl)
{
    sqstore *q = impl;
    if (!q) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    if (q->db && sqlite3_close(q->db) != SQLITE_OK)
        ripp_log(RIPP_LOG_WARN, "store: sqlite close: %s", sqlite3_errmsg(q->db));
    free(q);
}

static const ripp_store_ops sqlite_ops = {
    .trunk_put = sq_trunk_put,
    .trunk_get = sq_trunk_get,
    .token_add = sq_token_add,
    .token_lookup = sq_token_lookup,
    .call_put = sq_call_put,
    .call_get = sq_call_get,
    .cdr_put = sq_cdr_put,
    .cdr_get = sq_cdr_get,
    .cdr_each = sq_cdr_each,
    .close = sq_close,
};

/* Creates the schema, or checks that an existing one is one this program understands. One
 * IMMEDIATE transaction, so that instances opening a new file together agree. */
static int sq_schema(sqstore *q, char *errbuf, size_t errcap)
{
    sqlite3_stmt *st = NULL;
    int version = -1, rc;
    if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) goto fail;
    if (sqlite3_exec(q->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) goto fail_rollback;
    if (sqlite3_prepare_v2(q->db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL) !=
        SQLITE_OK)
        goto fail_rollback;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) goto fail_rollback;
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (version > SCHEMA_VERSION) {
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        snprintf(errbuf, errcap, "database schema version %d is newer than %d", version,
                 SCHEMA_VERSION);
        ripp_log(RIPP_LOG_ERROR, "store: %s", errbuf);
        return RIPP_ERR_STORE;
    }
    if (version < 0 && sqlite3_exec(q->db, "INSERT INTO schema_version(version) VALUES(1)", NULL,
                                    NULL, NULL) != SQLITE_OK)
        goto fail_rollback;
    if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail_rollback;
    return 0;

fail_rollback:
    snprintf(errbuf, errcap, "schema: %s", sqlite3_errmsg(q->db));
    sqlite3_finalize(st);
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    ripp_log(RIPP_LOG_ERROR, "store: sqlite %s", errbuf);
    return RIPP_ERR_STORE;
fail:
    snprintf(errbuf, errcap, "schema: %s", sqlite3_errmsg(q->db));
    ripp_log(RIPP_LOG_ERROR, "store: sqlite %s", errbuf);
    return RIPP_ERR_STORE;
}

ripp_store *ripp_store_sqlite_open(const char *path, int *err, char *errbuf, size_t errcap)
{
    char dummy[1];
    if (!errbuf || !errcap) {
        errbuf = dummy;
        errcap = sizeof dummy;
    }
    errbuf[0] = '\0';
    int e = RIPP_ERR_STORE, rc;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    ripp_store *s = NULL;
    sqstore *q = NULL;
    if (!path) {
        e = RIPP_ERR_INVAL;
        snprintf(errbuf, errcap, "no database path");
        goto out;
    }
    q = calloc(1, sizeof *q);
    if (!q) {
        e = RIPP_ERR_NOMEM;
        goto out;
    }
    rc = sqlite3_open_v2(path, &q->db, flags, NULL);
    if (rc != SQLITE_OK) {
        if (!q->db) e = RIPP_ERR_NOMEM;
        snprintf(errbuf, errcap, "%s: %s", path, q->db ? sqlite3_errmsg(q->db) : "no memory");
        ripp_log(RIPP_LOG_ERROR, "store: sqlite open %s", errbuf);
        goto out;
    }
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, 2000);
    if (sqlite3_exec(q->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     " PRAGMA foreign_keys=OFF;"
                     /* checkpoints fsync on the caller's thread: fewer, larger ones */
                     " PRAGMA wal_autocheckpoint=10000;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(errbuf, errcap, "%s: %s", path, sqlite3_errmsg(q->db));
        ripp_log(RIPP_LOG_ERROR, "store: sqlite pragmas %s", errbuf);
        goto out;
    }
    if (sq_schema(q, errbuf, errcap)) goto out;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(errbuf, errcap, "prepare: %s", sqlite3_errmsg(q->db));
            ripp_log(RIPP_LOG_ERROR, "store: sqlite %s", errbuf);
            goto out;
        }
    }
    s = ripp_store_wrap(&sqlite_ops, q, &e);
out:
    if (!s) {
        sq_close(q);
        if (err) *err = e;
        if (e == RIPP_ERR_NOMEM && !errbuf[0]) snprintf(errbuf, errcap, "out of memory");
    } else if (err) {
        *err = 0;
    }
    return s;
}
