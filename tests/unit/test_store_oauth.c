/* The OAuth operations of the store, on the memory and SQLite backends alike: bearer lookup
 * honouring kind, state and expiry; single-use compare-and-set; family revocation; trunk
 * deletion; consumer trunks; provisioned trunks; and the SQLite migration from schema 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ripp/store.h"

static char tmpdir[256];
static int counter;

#include "store_oauth_suite.h"

}

static ripp_store *sqlite_new(char *path, size_t cap)
{
    snprintf(path, cap, "%s/oauth%d.db", tmpdir, ++counter);
    int err = 0;
    char eb[256];
    ripp_store *s = ripp_store_sqlite_open(path, &err, eb, sizeof eb);
    assert_non_null(s);
    return s;
}

static void both(void (*run)(ripp_store *))
{
    int err = 0;
    ripp_store *m = ripp_store_memory_new(&err);
    assert_non_null(m);
    run(m);
    ripp_store_close(m);
    char path[512];
    ripp_store *q = sqlite_new(path, sizeof path);
    run(q);
    ripp_store_close(q);
}

static void test_tokens(void **state)
{
    (void)state;
    both(run_tokens);
}

static void test_trunk_del(void **state)
{
    (void)state;
    both(run_trunk_del);
}

static void test_consumer(void **state)
{
    (void)state;
    both(run_consumer);
}

static void test_prov(void **state)
{
    (void)state;
    both(run_prov);
}

/* The faulty wrapper counts and fails the new operations like the others. */
static void test_faulty(void **state)
{
    (void)state;
    int err = 0;
    ripp_store *f = ripp_store_faulty_new(ripp_store_memory_new(&err), 0, &err);
    assert_non_null(f);
    run_tokens(f);
    ripp_store_faulty_set(f, ripp_store_faulty_count(f) + 1);
    ripp_token_rec t;
    char tid[64];
    tok(&t, 1, "A", RIPP_TOKEN_ACCESS, "x", 0);
    assert_int_equal(f->ops->token_put(f->impl, &t), RIPP_ERR_STORE);
    assert_int_equal(f->ops->token_lookup(f->impl, t.hash, 0, tid, sizeof tid), RIPP_ERR_STORE);
    assert_int_equal(f->ops->trunk_del(f->impl, "A"), RIPP_ERR_STORE);
    assert_int_equal(f->ops->prov_each(f->impl, prov_order_cb, NULL), RIPP_ERR_STORE);
    ripp_store_close(f);
}

/* A database written by schema version 1 (before OAuth) opens, migrates in place, and its
 * tokens stay valid static bearer tokens. */
static void test_migration_v1(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/v1.db", tmpdir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *v1 =
        "CREATE TABLE schema_version(version INTEGER NOT NULL);"
        "INSERT INTO schema_version(version) VALUES(1);"
        "CREATE TABLE trunks(id TEXT PRIMARY KEY NOT NULL, answer TEXT NOT NULL,"
        " caps_json TEXT NOT NULL, identity_pub TEXT NOT NULL, created_ms INTEGER NOT NULL);"
        "CREATE TABLE tokens(hash TEXT PRIMARY KEY NOT NULL, trunk_id TEXT NOT NULL);"
        "CREATE TABLE calls(id TEXT PRIMARY KEY NOT NULL, trunk_id TEXT NOT NULL, uri TEXT NOT "
        "NULL, target TEXT NOT NULL, orig_tn TEXT NOT NULL, state INTEGER NOT NULL,"
        " last_seq_c2s INTEGER NOT NULL, last_seq_s2c INTEGER NOT NULL,"
        " media_seq_c2s INTEGER NOT NULL, media_seq_s2c INTEGER NOT NULL,"
        " cookies TEXT NOT NULL, next_hop TEXT NOT NULL, token_hash TEXT NOT NULL,"
        " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
        "CREATE TABLE cdrs(call_id TEXT PRIMARY KEY NOT NULL, trunk_id TEXT NOT NULL,"
        " target TEXT NOT NULL, orig_tn TEXT NOT NULL, start_ms INTEGER NOT NULL,"
        " answer_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, outcome TEXT NOT NULL,"
        " end_code INTEGER NOT NULL, dtmf TEXT NOT NULL, recording TEXT NOT NULL,"
        " stats_json TEXT NOT NULL, seq INTEGER NOT NULL);"
        "CREATE INDEX cdrs_seq ON cdrs(seq);"
        "INSERT INTO trunks VALUES('old', 'echo', '{}', '', 5);"
        "INSERT INTO tokens VALUES('" /* hash_of(7) */
        "0000000000000000000000000000000000000000000000000000000000000007', 'old');";
    assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    int err = 0;
    char eb[256] = "";
    ripp_store *s = ripp_store_sqlite_open(path, &err, eb, sizeof eb);
    assert_non_null(s);
    char tid[64];
    assert_int_equal(lookup(s, 7, INT64_MAX, tid), 0);
    assert_string_equal(tid, "old");
    ripp_trunk_rec t;
    assert_int_equal(s->ops->trunk_get(s->impl, "old", &t), 0);
    /* the new tables work at once */
    run_consumer(s);
    run_prov(s);
    ripp_store_close(s);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), RIPP_STORE_SCHEMA_VERSION);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE); /* one row */
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* and opening again does not migrate twice */
    s = ripp_store_sqlite_open(path, &err, eb, sizeof eb);
    assert_non_null(s);
    assert_int_equal(lookup(s, 7, 0, tid), 0);
    ripp_store_close(s);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ripp-store-oauth-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),   cmocka_unit_test(test_trunk_del),
        cmocka_unit_test(test_consumer), cmocka_unit_test(test_prov),
        cmocka_unit_test(test_faulty),   cmocka_unit_test(test_migration_v1),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
