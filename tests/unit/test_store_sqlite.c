/* The SQLite store: the common behaviour, plus persistence, sharing a file between
 * handles (another instance taking a call over), schema versioning and backend errors. */
#include "store_suite.h"

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

static char tmpdir[256];
static int db_counter;
static char cur_path[512];

static void db_unlink(const char *path)
{
    char p[700];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static void next_path(char *out, size_t cap)
{
    snprintf(out, cap, "%s/store%d.db", tmpdir, ++db_counter);
}

static ripp_store *open_at(const char *path)
{
    int err = 1;
    char eb[256] = "unset";
    ripp_store *s = ripp_store_sqlite_open(path, &err, eb, sizeof eb);
    if (!s) {
        fprintf(stderr, "open %s: %d %s\n", path, err, eb);
        return NULL;
    }
    assert_int_equal(err, 0);
    assert_string_equal(eb, "");
    return s;
}

static ripp_store *suite_new(void)
{
    next_path(cur_path, sizeof cur_path);
    return open_at(cur_path);
}

static void suite_del(ripp_store *s)
{
    ripp_store_close(s);
    db_unlink(cur_path);
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static int64_t raw_int(const char *path, const char *sql, char *text, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -999;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
        if (text) snprintf(text, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_persistence_and_schema(void **state)
{
    (void)state;
    char path[512];
    next_path(path, sizeof path);
    ripp_store *s = open_at(path);
    assert_non_null(s);
    ripp_call_rec c, got;
    make_call(&c, 7);
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    ripp_cdr cdr;
    make_cdr(&cdr, 1);
    assert_int_equal(s->ops->cdr_put(s->impl, &cdr), 0);
    assert_int_equal(s->ops->token_add(s->impl, "trunk-0", c.token_hash), 0);
    ripp_store_close(s);

    char mode[32];
    assert_int_equal(raw_int(path, "SELECT version FROM schema_version", NULL, 0),
                     RIPP_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM schema_version", NULL, 0), 1);
    raw_int(path, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");

    /* A second open finds everything and does not add a second version row. */
    s = open_at(path);
    assert_non_null(s);
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);
    ripp_cdr gotcdr;
    assert_int_equal(s->ops->cdr_get(s->impl, cdr.call_id, &gotcdr), 0);
    assert_cdr_eq(&gotcdr, &cdr);
    char tid[64];
    assert_int_equal(s->ops->token_lookup(s->impl, c.token_hash, 0, tid, sizeof tid), 0);
    assert_string_equal(tid, "trunk-0");
    ripp_store_close(s);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM schema_version", NULL, 0), 1);

    /* A database from a newer program is refused, not silently misread. */
    assert_int_equal(raw_exec(path, "UPDATE schema_version SET version = 99"), SQLITE_OK);
    int err = 0;
    char eb[256] = "";
    assert_null(ripp_store_sqlite_open(path, &err, eb, sizeof eb));
    assert_int_equal(err, RIPP_ERR_STORE);
    assert_non_null(strstr(eb, "newer"));
    db_unlink(path);
}

static void test_open_errors(void **state)
{
    (void)state;
    int err = 0;
    char eb[256] = "";
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/dir/x.db", tmpdir);
    assert_null(ripp_store_sqlite_open(path, &err, eb, sizeof eb));
    assert_int_equal(err, RIPP_ERR_STORE);
    assert_non_null(strstr(eb, "x.db"));

    /* Not a database at all. */
    snprintf(path, sizeof path, "%s/garbage.db", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputc("not a database "[i % 15], f);
    fclose(f);
    err = 0;
    eb[0] = '\0';
    assert_null(ripp_store_sqlite_open(path, &err, eb, sizeof eb));
    assert_int_equal(err, RIPP_ERR_STORE);
    assert_true(eb[0] != '\0');
    db_unlink(path);

    err = 0;
    assert_null(ripp_store_sqlite_open(NULL, &err, NULL, 0));
    assert_int_equal(err, RIPP_ERR_INVAL);
}

/* Two handles on one file stand for two instances: one writes a call, the other takes it
 * over by its id and continues it (P5). */
static void test_takeover_between_handles(void **state)
{
    (void)state;
    char path[512];
    next_path(path, sizeof path);
    ripp_store *a = open_at(path), *b = open_at(path);
    assert_non_null(a);
    assert_non_null(b);
    ripp_call_rec c, got;
    make_call(&c, 99);
    assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);
    got.last_seq_c2s = 50;
    got.media_seq_s2c = 777;
    got.state = 5;
    assert_int_equal(b->ops->call_put(b->impl, &got), 0);
    assert_int_equal(a->ops->call_get(a->impl, c.id, &c), 0);
    assert_call_eq(&c, &got);

    ripp_cdr cdr;
    make_cdr(&cdr, 1);
    assert_int_equal(a->ops->cdr_put(a->impl, &cdr), 0);
    make_cdr(&cdr, 2);
    assert_int_equal(b->ops->cdr_put(b->impl, &cdr), 0);
    make_cdr(&cdr, 3);
    assert_int_equal(a->ops->cdr_put(a->impl, &cdr), 0);
    int next = 1;
    assert_int_equal(b->ops->cdr_each(b->impl, order_cb, &next), 0);
    assert_int_equal(next, 4);
    ripp_store_close(a);
    ripp_store_close(b);
    db_unlink(path);
}

typedef struct gc_timer {
    ripp_store *a, *b;
    ripp_call_rec *c;
    int seen; /* at the second timer: what b read */
} gc_timer;

static void gc_write(uv_timer_t *t)
{
    gc_timer *g = t->data;
    assert_int_equal(g->a->ops->call_put(g->a->impl, g->c), 0);
}

static void gc_check(uv_timer_t *t)
{
    gc_timer *g = t->data;
    ripp_call_rec got;
    g->seen = g->b->ops->call_get(g->b->impl, g->c->id, &got) == 0 ? got.state : -1;
}

/* With a loop attached, the call records and CDRs of one turn of the loop are one
 * transaction: the writer reads them at once, another handle (another instance) at the end
 * of the turn, at ripp_store_sync, before any other kind of write, or at the close. */
static void test_group_commit(void **state)
{
    (void)state;
    char path[512];
    next_path(path, sizeof path);
    ripp_store *a = open_at(path), *b = open_at(path);
    assert_non_null(a);
    assert_non_null(b);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ripp_store_attach_loop(a, &loop), 0);
    assert_int_equal(ripp_store_attach_loop(a, &loop), RIPP_ERR_STATE);
    ripp_call_rec c, got;
    ripp_cdr cdr, gotc;
    make_call(&c, 7);
    make_cdr(&cdr, 7);
    /* the end of the turn */
    assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    assert_int_equal(a->ops->cdr_put(a->impl, &cdr), 0);
    assert_int_equal(a->ops->call_get(a->impl, c.id, &got), 0);
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), RIPP_ERR_NOTFOUND);
    assert_int_equal(b->ops->cdr_get(b->impl, cdr.call_id, &gotc), RIPP_ERR_NOTFOUND);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);
    assert_int_equal(b->ops->cdr_get(b->impl, cdr.call_id, &gotc), 0);
    /* ripp_store_sync */
    c.state = 5;
    assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
    assert_int_not_equal(got.state, 5);
    assert_int_equal(ripp_store_sync(a), 0);
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
    assert_int_equal(got.state, 5);
    assert_int_equal(ripp_store_sync(a), 0); /* nothing pending */
    /* another kind of write commits the group first */
    c.state = 6;
    assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    ripp_trunk_rec t = {.id = "t-group", .answer = "echo"};
    assert_int_equal(a->ops->trunk_put(a->impl, &t), 0);
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
    assert_int_equal(got.state, 6);
    /* a write made by a timer is committed at once, not when the loop next wakes up: another
     * process (a child here) writing meanwhile does not wait for the lock */
    c.state = 8;
    gc_timer g = {.a = a, .b = b, .c = &c, .seen = -2};
    uv_timer_t t1, t2;
    uv_timer_init(&loop, &t1);
    uv_timer_init(&loop, &t2);
    t1.data = t2.data = &g;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        usleep(200 * 1000);
        sqlite3 *db = NULL;
        int rc = sqlite3_open(path, &db);
        if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 500);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, "UPDATE trunks SET answer = 'ring' WHERE id = 't-group'", NULL,
                              NULL, NULL);
        sqlite3_close(db);
        _exit(rc == SQLITE_OK ? 0 : 1);
    }
    uv_timer_start(&t1, gc_write, 1, 0);
    uv_timer_start(&t2, gc_check, 1500, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g.seen, 8);
    int status = -1;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    uv_close((uv_handle_t *)&t1, NULL);
    uv_close((uv_handle_t *)&t2, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    /* the close */
    c.state = 7;
    assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    ripp_store_close(a);
    uv_run(&loop, UV_RUN_NOWAIT); /* the handle closes */
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
    assert_int_equal(got.state, 7);
    ripp_store_close(b);
    db_unlink(path);
}

static char last_log[1024];
static void capture_log(void *ud, enum ripp_log_level level, const char *msg)
{
    (void)ud;
    if (level == RIPP_LOG_ERROR) snprintf(last_log, sizeof last_log, "%s", msg);
}

/* Backend failures come back as RIPP_ERR_STORE with SQLite's message in the log. */
static void test_backend_errors(void **state)
{
    (void)state;
    char path[512];
    next_path(path, sizeof path);
    ripp_store *s = open_at(path);
    assert_non_null(s);
    ripp_log_set_handler(capture_log, NULL, RIPP_LOG_ERROR);

    /* Another writer holds the write lock longer than the busy timeout. */
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ripp_call_rec c, got;
    make_call(&c, 1);
    last_log[0] = '\0';
    assert_int_equal(s->ops->call_put(s->impl, &c), RIPP_ERR_STORE);
    assert_non_null(strstr(last_log, "locked"));
    /* Readers still see the last committed state meanwhile. */
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), RIPP_ERR_NOTFOUND);
    assert_int_equal(sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);

    /* A table vanishes under us. */
    assert_int_equal(sqlite3_exec(raw, "DROP TABLE cdrs", NULL, NULL, NULL), SQLITE_OK);
    ripp_cdr cdr;
    make_cdr(&cdr, 1);
    last_log[0] = '\0';
    assert_int_equal(s->ops->cdr_put(s->impl, &cdr), RIPP_ERR_STORE);
    assert_non_null(strstr(last_log, "no such table"));
    assert_int_equal(s->ops->cdr_get(s->impl, cdr.call_id, &cdr), RIPP_ERR_STORE);
    int n = 0;
    assert_int_equal(s->ops->cdr_each(s->impl, count_cb, &n), RIPP_ERR_STORE);
    assert_int_equal(n, 0);
    /* The other tables are unaffected. */
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);

    sqlite3_close(raw);
    ripp_log_set_handler(NULL, NULL, RIPP_LOG_ERROR);
    ripp_store_close(s);
    db_unlink(path);
}

/* Values written by someone else that do not fit a field are cut, never overrun. */
static void test_foreign_overlong_values(void **state)
{
    (void)state;
    char path[512];
    next_path(path, sizeof path);
    ripp_store *s = open_at(path);
    assert_non_null(s);
    ripp_trunk_rec t, got;
    make_trunk(&t, "t1");
    assert_int_equal(s->ops->trunk_put(s->impl, &t), 0);
    assert_int_equal(raw_exec(path, "UPDATE trunks SET answer = printf('%.900c', 'a'),"
                                    " identity_pub = printf('%.2000c', 'p')"),
                     SQLITE_OK);
    assert_int_equal(s->ops->trunk_get(s->impl, "t1", &got), 0);
    assert_int_equal(strlen(got.answer), sizeof got.answer - 1);
    assert_int_equal(strlen(got.identity_pub), sizeof got.identity_pub - 1);
    assert_int_equal(got.identity_pub[5], 'p');
    assert_string_equal(got.caps_json, t.caps_json);
    ripp_store_close(s);
    db_unlink(path);
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/ripp-store-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char p[600];
    snprintf(p, sizeof p, "%s/garbage.db", tmpdir);
    unlink(p);
    return rmdir(tmpdir) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS,
        cmocka_unit_test(test_persistence_and_schema),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_takeover_between_handles),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_backend_errors),
        cmocka_unit_test(test_foreign_overlong_values),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
