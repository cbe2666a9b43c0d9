/* SQLite store: the embedded default. Every operation runs one prepared statement kept for
 * the life of the handle (they sit on the per-call path). Several handles, in one or many
 * processes, may share a file: WAL lets readers run beside the one writer, and the busy
 * timeout absorbs short write contention. */
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>
#include <uv.h>

#include "store_int.h"

#define SCHEMA_VERSION RIPP_STORE_SCHEMA_VERSION

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

/* Version 1 -> 2: OAuth provisioning. Existing tokens become static, live, never-expiring
 * bearer tokens, which is what they were. */
static const char migrate_v2_sql[] =
    "ALTER TABLE tokens ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tokens ADD COLUMN state INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tokens ADD COLUMN family TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tokens ADD COLUMN client_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tokens ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tokens ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tokens ADD COLUMN data TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX tokens_family ON tokens(family);"
    "CREATE INDEX tokens_trunk ON tokens(trunk_id);"
    "CREATE TABLE consumer_trunks("
    " trunk_id TEXT PRIMARY KEY NOT NULL, uri TEXT NOT NULL, token TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL);"
    "CREATE TABLE provisioned("
    " provider_trunk TEXT PRIMARY KEY NOT NULL, provider TEXT NOT NULL, ca_file TEXT NOT NULL,"
    " client_id TEXT NOT NULL, client_secret TEXT NOT NULL, consumer_trunk_id TEXT NOT NULL,"
    " consumer_trunk_uri TEXT NOT NULL, consumer_token TEXT NOT NULL,"
    " access_token TEXT NOT NULL, refresh_token TEXT NOT NULL,"
    " access_expires_ms INTEGER NOT NULL, put_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    " seq INTEGER NOT NULL);"
    "UPDATE schema_version SET version = 2;";

/* Version 2 -> 3: the CDR records the caller identity verification. */
static const char migrate_v3_sql[] = "ALTER TABLE cdrs ADD COLUMN verstat TEXT NOT NULL DEFAULT '';"
                                     "UPDATE schema_version SET version = 3;";

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
    ST_TOKEN_PUT,
    ST_TOKEN_GET,
    ST_TOKEN_SET_STATE,
    ST_TOKEN_REVOKE_FAMILY,
    ST_TRUNK_DEL,
    ST_TRUNK_DEL_TOKENS,
    ST_TRUNK_DEL_CONSUMER,
    ST_CONSUMER_PUT,
    ST_CONSUMER_GET,
    ST_PROV_PUT,
    ST_PROV_GET,
    ST_PROV_DEL,
    ST_PROV_EACH,
    ST_COUNT
};

#define TOKEN_COLS "hash, trunk_id, kind, state, family, client_id, created_ms, expires_ms, data"
#define PROV_COLS                                                                                  \
    "provider_trunk, provider, ca_file, client_id, client_secret, consumer_trunk_id, "             \
    "consumer_trunk_uri, consumer_token, access_token, refresh_token, access_expires_ms, "         \
    "put_ms, created_ms"

#define CDR_COLS                                                                                   \
    "call_id, trunk_id, target, orig_tn, start_ms, answer_ms, end_ms, outcome, end_code, dtmf, "   \
    "recording, stats_json, verstat"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_TRUNK_PUT] = "INSERT OR REPLACE INTO trunks(id, answer, caps_json, identity_pub, "
                     "created_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_TRUNK_GET] = "SELECT id, answer, caps_json, identity_pub, created_ms FROM trunks "
                     "WHERE id = ?1",
    [ST_TOKEN_ADD] = "INSERT OR REPLACE INTO tokens(hash, trunk_id) VALUES(?1, ?2)",
    [ST_TOKEN_LOOKUP] = "SELECT trunk_id FROM tokens WHERE hash = ?1 AND kind IN (0, 1) "
                        "AND state = 0 AND (expires_ms = 0 OR expires_ms > ?2)",
    [ST_CALL_PUT] = "INSERT OR REPLACE INTO calls(id, trunk_id, uri, target, orig_tn, state, "
                    "last_seq_c2s, last_seq_s2c, media_seq_c2s, media_seq_s2c, cookies, "
                    "next_hop, token_hash, created_ms, updated_ms) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_CALL_GET] = "SELECT id, trunk_id, uri, target, orig_tn, state, last_seq_c2s, "
                    "last_seq_s2c, media_seq_c2s, media_seq_s2c, cookies, next_hop, "
                    "token_hash, created_ms, updated_ms FROM calls WHERE id = ?1",
    [ST_CDR_PUT] = "INSERT OR REPLACE INTO cdrs(" CDR_COLS ", seq) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                   "(SELECT COALESCE(MAX(seq), 0) + 1 FROM cdrs))",
    [ST_CDR_GET] = "SELECT " CDR_COLS " FROM cdrs WHERE call_id = ?1",
    /* The bound keeps a walk finite even if CDRs are rewritten (and so renumbered) in it. */
    [ST_CDR_EACH] = "SELECT " CDR_COLS " FROM cdrs "
                    "WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM cdrs) ORDER BY seq",
    [ST_TOKEN_PUT] = "INSERT OR REPLACE INTO tokens(" TOKEN_COLS ") "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_TOKEN_GET] = "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?1",
    [ST_TOKEN_SET_STATE] = "UPDATE tokens SET state = ?3 WHERE hash = ?1 AND state = ?2",
    [ST_TOKEN_REVOKE_FAMILY] = "UPDATE tokens SET state = 2 WHERE family = ?1 AND state <> 2",
    [ST_TRUNK_DEL] = "DELETE FROM trunks WHERE id = ?1",
    [ST_TRUNK_DEL_TOKENS] = "DELETE FROM tokens WHERE trunk_id = ?1",
    [ST_TRUNK_DEL_CONSUMER] = "DELETE FROM consumer_trunks WHERE trunk_id = ?1",
    [ST_CONSUMER_PUT] = "INSERT OR REPLACE INTO consumer_trunks(trunk_id, uri, token, updated_ms) "
                        "VALUES(?1, ?2, ?3, ?4)",
    [ST_CONSUMER_GET] = "SELECT trunk_id, uri, token, updated_ms FROM consumer_trunks "
                        "WHERE trunk_id = ?1",
    /* a replaced record keeps its creation place */
    [ST_PROV_PUT] = "INSERT OR REPLACE INTO provisioned(" PROV_COLS ", seq) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                    "COALESCE((SELECT seq FROM provisioned WHERE provider_trunk = ?1), "
                    "(SELECT COALESCE(MAX(seq), 0) + 1 FROM provisioned)))",
    [ST_PROV_GET] = "SELECT " PROV_COLS " FROM provisioned WHERE provider_trunk = ?1",
    [ST_PROV_DEL] = "DELETE FROM provisioned WHERE provider_trunk = ?1",
    [ST_PROV_EACH] = "SELECT " PROV_COLS " FROM provisioned ORDER BY seq",
};

typedef struct sqstore {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    bool each_busy; /* ST_CDR_EACH is stepping: a nested walk prepares its own */
    /* Group commit (once a loop is attached): call records and CDRs written in one turn of
     * the loop share one transaction, committed by a check handle at the end of the turn. */
    uv_check_t *commit;
    uv_idle_t *spin; /* while a group is open: the loop does not sleep before the check */
    bool in_txn;
    unsigned txn_writes;
} sqstore;

#define SQ_TXN_MAX 512 /* writes per group commit, at most */

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

/* Commits the group of writes in progress, if any. */
static int sq_commit(sqstore *q)
{
    if (!q->in_txn) return 0;
    q->in_txn = false;
    q->txn_writes = 0;
    uv_check_stop(q->commit);
    uv_idle_stop(q->spin);
    if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) return 0;
    int rc = sq_fail(q, "commit");
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void on_commit_check(uv_check_t *h)
{
    sq_commit(h->data);
}

/* A write made by a timer callback would otherwise wait for the next event to be
 * committed: the loop sleeps in its poll between the timers and the check handles, unless
 * an idle handle is active. */
static void on_spin(uv_idle_t *h)
{
    sq_commit(h->data);
}

/* Runs a write statement whose parameters are bound (bind_rc: the OR of the bind results).
 * group: a call record or CDR, which joins the group commit when a loop is attached; any
 * other write commits the group first and is committed on its own. */
static int sq_write_as(sqstore *q, sqlite3_stmt *st, int bind_rc, const char *what, bool group)
{
    int ret = 0;
    if (group && q->commit && !q->in_txn) {
        if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            ret = sq_fail(q, what);
            sq_done(st);
            return ret;
        }
        q->in_txn = true;
        uv_check_start(q->commit, on_commit_check);
        uv_idle_start(q->spin, on_spin);
    } else if (!group && q->in_txn && sq_commit(q) < 0) {
        sq_done(st);
        return RIPP_ERR_STORE;
    }
    if (bind_rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) ret = sq_fail(q, what);
    sq_done(st);
    if (group && q->in_txn && ++q->txn_writes >= SQ_TXN_MAX && sq_commit(q) < 0)
        ret = RIPP_ERR_STORE;
    return ret;
}

static int sq_write(sqstore *q, sqlite3_stmt *st, int bind_rc, const char *what)
{
    return sq_write_as(q, st, bind_rc, what, false);
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

static int sq_token_lookup(void *impl, const char *hash, int64_t now_ms, char *trunk_id, size_t cap)
{
    sqstore *q = impl;
    int rc = key_check(hash, sizeof(((ripp_call_rec *)0)->token_hash), trunk_id);
    if (rc) return rc;
    if (!cap) return RIPP_ERR_INVAL;
    sqlite3_stmt *st = q->st[ST_TOKEN_LOOKUP];
    if ((bind_text(st, 1, hash) | sqlite3_bind_int64(st, 2, now_ms)) != SQLITE_OK) {
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
    return sq_write_as(q, st, b, "call_put", true);
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
            bind_text(st, 11, c->recording) | bind_text(st, 12, c->stats_json) |
            bind_text(st, 13, c->verstat);
    return sq_write_as(q, st, b, "cdr_put", true);
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
    COL_TEXT(st, 12, out->verstat);
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

/* Binds one text key and steps to its row: 0 with the row ready, else as sq_row. */
static int sq_get_row(sqstore *q, int idx, const char *key, const char *what)
{
    sqlite3_stmt *st = q->st[idx];
    if (bind_text(st, 1, key) != SQLITE_OK) {
        int rc = sq_fail(q, what);
        sq_done(st);
        return rc;
    }
    return sq_row(q, st, what);
}

/* Runs a statement whose only parameter is a text key; returns the rows changed (>= 0). */
static int sq_key_write(sqstore *q, int idx, const char *key, const char *what)
{
    sqlite3_stmt *st = q->st[idx];
    int rc = sq_write(q, st, bind_text(st, 1, key), what);
    return rc ? rc : sqlite3_changes(q->db);
}

static int sq_token_put(void *impl, const ripp_token_rec *t)
{
    sqstore *q = impl;
    int rc = ripp_store_check_token(t);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_TOKEN_PUT];
    int b = bind_text(st, 1, t->hash) | bind_text(st, 2, t->trunk_id) |
            sqlite3_bind_int(st, 3, t->kind) | sqlite3_bind_int(st, 4, t->state) |
            bind_text(st, 5, t->family) | bind_text(st, 6, t->client_id) |
            sqlite3_bind_int64(st, 7, t->created_ms) | sqlite3_bind_int64(st, 8, t->expires_ms) |
            bind_text(st, 9, t->data);
    return sq_write(q, st, b, "token_put");
}

static int sq_token_get(void *impl, const char *hash, ripp_token_rec *out)
{
    sqstore *q = impl;
    int rc = key_check(hash, sizeof out->hash, out);
    if (!rc) rc = sq_get_row(q, ST_TOKEN_GET, hash, "token_get");
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_TOKEN_GET];
    memset(out, 0, sizeof *out);
    COL_TEXT(st, 0, out->hash);
    COL_TEXT(st, 1, out->trunk_id);
    out->kind = sqlite3_column_int(st, 2);
    out->state = sqlite3_column_int(st, 3);
    COL_TEXT(st, 4, out->family);
    COL_TEXT(st, 5, out->client_id);
    out->created_ms = sqlite3_column_int64(st, 6);
    out->expires_ms = sqlite3_column_int64(st, 7);
    COL_TEXT(st, 8, out->data);
    sq_done(st);
    return 0;
}

static int sq_token_set_state(void *impl, const char *hash, int from, int to)
{
    sqstore *q = impl;
    int rc = ripp_store_check_key(hash, sizeof(((ripp_token_rec *)0)->hash));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc || to < RIPP_TOKEN_LIVE || to > RIPP_TOKEN_REVOKED) return RIPP_ERR_INVAL;
    sqlite3_stmt *st = q->st[ST_TOKEN_SET_STATE];
    int b = bind_text(st, 1, hash) | sqlite3_bind_int(st, 2, from) | sqlite3_bind_int(st, 3, to);
    rc = sq_write(q, st, b, "token_set_state");
    if (rc) return rc;
    if (sqlite3_changes(q->db) == 1) return 0;
    rc = sq_get_row(q, ST_TOKEN_GET, hash, "token_set_state");
    if (rc) return rc;
    sq_done(q->st[ST_TOKEN_GET]);
    return RIPP_ERR_STATE;
}

static int sq_token_revoke_family(void *impl, const char *family)
{
    sqstore *q = impl;
    int rc = ripp_store_check_key(family, sizeof(((ripp_token_rec *)0)->family));
    if (rc == RIPP_ERR_LIMIT) return 0;
    if (rc) return RIPP_ERR_INVAL;
    return sq_key_write(q, ST_TOKEN_REVOKE_FAMILY, family, "token_revoke_family");
}

static int sq_trunk_del(void *impl, const char *id)
{
    sqstore *q = impl;
    int rc = ripp_store_check_key(id, sizeof(((ripp_trunk_rec *)0)->id));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc) return rc;
    if (sq_commit(q) < 0) return RIPP_ERR_STORE;
    if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(q, "trunk_del");
    int n = sq_key_write(q, ST_TRUNK_DEL_TOKENS, id, "trunk_del");
    if (n >= 0) n = sq_key_write(q, ST_TRUNK_DEL_CONSUMER, id, "trunk_del");
    if (n >= 0) n = sq_key_write(q, ST_TRUNK_DEL, id, "trunk_del");
    if (n < 0 || sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        if (n >= 0) n = sq_fail(q, "trunk_del");
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        return n;
    }
    return n > 0 ? 0 : RIPP_ERR_NOTFOUND;
}

static int sq_consumer_put(void *impl, const ripp_consumer_rec *c)
{
    sqstore *q = impl;
    int rc = ripp_store_check_consumer(c);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_CONSUMER_PUT];
    int b = bind_text(st, 1, c->trunk_id) | bind_text(st, 2, c->uri) | bind_text(st, 3, c->token) |
            sqlite3_bind_int64(st, 4, c->updated_ms);
    return sq_write(q, st, b, "consumer_put");
}

static int sq_consumer_get(void *impl, const char *trunk_id, ripp_consumer_rec *out)
{
    sqstore *q = impl;
    int rc = key_check(trunk_id, sizeof out->trunk_id, out);
    if (!rc) rc = sq_get_row(q, ST_CONSUMER_GET, trunk_id, "consumer_get");
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_CONSUMER_GET];
    memset(out, 0, sizeof *out);
    COL_TEXT(st, 0, out->trunk_id);
    COL_TEXT(st, 1, out->uri);
    COL_TEXT(st, 2, out->token);
    out->updated_ms = sqlite3_column_int64(st, 3);
    sq_done(st);
    return 0;
}

static int sq_prov_put(void *impl, const ripp_prov_rec *p)
{
    sqstore *q = impl;
    int rc = ripp_store_check_prov(p);
    if (rc) return rc;
    sqlite3_stmt *st = q->st[ST_PROV_PUT];
    int b = bind_text(st, 1, p->provider_trunk) | bind_text(st, 2, p->provider) |
            bind_text(st, 3, p->ca_file) | bind_text(st, 4, p->client_id) |
            bind_text(st, 5, p->client_secret) | bind_text(st, 6, p->consumer_trunk_id) |
            bind_text(st, 7, p->consumer_trunk_uri) | bind_text(st, 8, p->consumer_token) |
            bind_text(st, 9, p->access_token) | bind_text(st, 10, p->refresh_token) |
            sqlite3_bind_int64(st, 11, p->access_expires_ms) |
            sqlite3_bind_int64(st, 12, p->put_ms) | sqlite3_bind_int64(st, 13, p->created_ms);
    return sq_write(q, st, b, "prov_put");
}

/* Columns in PROV_COLS order. */
static void prov_from_row(sqlite3_stmt *st, ripp_prov_rec *out)
{
    memset(out, 0, sizeof *out);
    COL_TEXT(st, 0, out->provider_trunk);
    COL_TEXT(st, 1, out->provider);
    COL_TEXT(st, 2, out->ca_file);
    COL_TEXT(st, 3, out->client_id);
    COL_TEXT(st, 4, out->client_secret);
    COL_TEXT(st, 5, out->consumer_trunk_id);
    COL_TEXT(st, 6, out->consumer_trunk_uri);
    COL_TEXT(st, 7, out->consumer_token);
    COL_TEXT(st, 8, out->access_token);
    COL_TEXT(st, 9, out->refresh_token);
    out->access_expires_ms = sqlite3_column_int64(st, 10);
    out->put_ms = sqlite3_column_int64(st, 11);
    out->created_ms = sqlite3_column_int64(st, 12);
}

static int sq_prov_get(void *impl, const char *key, ripp_prov_rec *out)
{
    sqstore *q = impl;
    int rc = key_check(key, sizeof out->provider_trunk, out);
    if (!rc) rc = sq_get_row(q, ST_PROV_GET, key, "prov_get");
    if (rc) return rc;
    prov_from_row(q->st[ST_PROV_GET], out);
    sq_done(q->st[ST_PROV_GET]);
    return 0;
}

static int sq_prov_del(void *impl, const char *key)
{
    sqstore *q = impl;
    int rc = ripp_store_check_key(key, sizeof(((ripp_prov_rec *)0)->provider_trunk));
    if (rc == RIPP_ERR_LIMIT) return RIPP_ERR_NOTFOUND;
    if (rc) return rc;
    rc = sq_key_write(q, ST_PROV_DEL, key, "prov_del");
    return rc < 0 ? rc : rc > 0 ? 0 : RIPP_ERR_NOTFOUND;
}

/* Walks over a snapshot: the rows are read first, so that the callback may use the store. */
static int sq_prov_each(void *impl, int (*cb)(void *ud, const ripp_prov_rec *p), void *ud)
{
    sqstore *q = impl;
    if (!cb) return RIPP_ERR_INVAL;
    sqlite3_stmt *st = q->st[ST_PROV_EACH];
    ripp_prov_rec *rows = NULL;
    size_t n = 0, cap = 0;
    int ret = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            ripp_prov_rec *nr = realloc(rows, ncap * sizeof *nr);
            if (!nr) {
                ret = RIPP_ERR_NOMEM;
                break;
            }
            rows = nr;
            cap = ncap;
        }
        prov_from_row(st, &rows[n++]);
    }
    if (!ret && rc != SQLITE_DONE) ret = sq_fail(q, "prov_each");
    sq_done(st);
    for (size_t i = 0; !ret && i < n; i++)
        if (cb(ud, &rows[i])) break;
    free(rows);
    return ret;
}

static int sq_sync(void *impl)
{
    return sq_commit(impl);
}

static void on_commit_closed(uv_handle_t *h)
{
    free(h);
}

static void sq_close(void *impl)
{
    sqstore *q = impl;
    if (!q) return;
    sq_commit(q);
    if (q->commit) uv_close((uv_handle_t *)q->commit, on_commit_closed);
    if (q->spin) uv_close((uv_handle_t *)q->spin, on_commit_closed);
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
    .token_put = sq_token_put,
    .token_get = sq_token_get,
    .token_set_state = sq_token_set_state,
    .token_revoke_family = sq_token_revoke_family,
    .trunk_del = sq_trunk_del,
    .consumer_put = sq_consumer_put,
    .consumer_get = sq_consumer_get,
    .prov_put = sq_prov_put,
    .prov_get = sq_prov_get,
    .prov_del = sq_prov_del,
    .prov_each = sq_prov_each,
    .close = sq_close,
    .sync = sq_sync,
};

bool ripp_store_sqlite_is(const ripp_store *s)
{
    return s && s->ops && s->ops->close == sq_close;
}

int ripp_store_sqlite_attach(ripp_store *s, struct uv_loop_s *loop)
{
    sqstore *q = s->impl;
    if (q->commit) return RIPP_ERR_STATE;
    q->commit = malloc(sizeof *q->commit);
    q->spin = malloc(sizeof *q->spin);
    if (!q->commit || !q->spin) {
        free(q->commit);
        free(q->spin);
        q->commit = NULL;
        q->spin = NULL;
        return RIPP_ERR_NOMEM;
    }
    uv_check_init(loop, q->commit);
    uv_idle_init(loop, q->spin);
    q->commit->data = q->spin->data = q;
    return 0;
}

/* Creates the schema, or checks that an existing one is one this program understands and
 * migrates it to SCHEMA_VERSION. One IMMEDIATE transaction, so that instances opening a new
 * file together agree. */
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
    bool fresh = version < 0;
    if (fresh) {
        if (sqlite3_exec(q->db, "INSERT INTO schema_version(version) VALUES(1)", NULL, NULL,
                         NULL) != SQLITE_OK)
            goto fail_rollback;
        version = 1;
    }
    if (version < 2) {
        if (sqlite3_exec(q->db, migrate_v2_sql, NULL, NULL, NULL) != SQLITE_OK) goto fail_rollback;
        if (!fresh) ripp_log(RIPP_LOG_INFO, "store: schema migrated from version %d to 2", version);
        version = 2;
    }
    if (version < 3) {
        if (sqlite3_exec(q->db, migrate_v3_sql, NULL, NULL, NULL) != SQLITE_OK) goto fail_rollback;
        if (!fresh) ripp_log(RIPP_LOG_INFO, "store: schema migrated to version 3");
    }
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
