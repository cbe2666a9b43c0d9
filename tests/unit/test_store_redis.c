/* The Redis store against a redis-server of its own (unix socket in a temporary directory):
 * the common store behaviour in three ways of writing (synchronous; write-behind drained
 * after each put; write-behind read back from the queue), the OAuth operations, and what a
 * shared store of a cluster must show: a Redis restart loses nothing, an unreachable Redis
 * fails operations fast and recovers by itself, and one instance loads the calls of another.
 * The tests are skipped only when /usr/bin/redis-server is not installed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "store_suite.h"

#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#define REDIS_SERVER "/usr/bin/redis-server"

/* ---- a redis-server of our own ---- */

typedef struct srv {
    pid_t pid;
    char dir[256];
    char sock[320];
    int port; /* also listening on 127.0.0.1:port when non-zero */
    bool aof;
} srv;

static bool have_redis(void)
{
    return access(REDIS_SERVER, X_OK) == 0;
}

#define NEED_REDIS()                                                                               \
    do {                                                                                           \
        if (!have_redis()) skip();                                                                 \
    } while (0)

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static redisContext *raw_connect(const srv *s)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectUnixWithTimeout(s->sock, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Runs one command on a fresh connection: the reply's integer, or its string in buf. */
static long long raw(const srv *s, char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    redisContext *c = raw_connect(s);
    assert_non_null(c);
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                  : r->type == REDIS_REPLY_NIL   ? -999
                                                 : 0;
    if (buf) snprintf(buf, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static bool srv_ping(const srv *s)
{
    redisContext *c = raw_connect(s);
    if (!c) return false;
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

static void srv_launch(srv *s)
{
    char port[16], log[400];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/redis.log", s->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        execl(REDIS_SERVER, REDIS_SERVER, "--port", port, "--bind", "127.0.0.1", "--unixsocket",
              s->sock, "--unixsocketperm", "700", "--save", "", "--appendonly",
              s->aof ? "yes" : "no", "--appendfsync", "always", "--dir", s->dir, "--logfile", log,
              "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 500 && !srv_ping(s); i++)
        usleep(10000);
    assert_true(srv_ping(s));
}

/* Servers a test starts: a failing test leaves its own to the group teardown. */
static srv g_own[2];

static void srv_start(srv *s, bool tcp, bool aof)
{
    memset(s, 0, sizeof *s);
    const char *base = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/ripp-redis-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    s->port = tcp ? free_port() : 0;
    s->aof = aof;
    srv_launch(s);
}

/* sig 0: SIGTERM; the server is gone when this returns. */
static void srv_kill(srv *s, int sig)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGCONT);
    kill(s->pid, sig ? sig : SIGTERM);
    int st;
    for (int i = 0; i < 500 && waitpid(s->pid, &st, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(s->pid, &st, WNOHANG) == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
    }
    s->pid = 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void srv_stop(srv *s)
{
    srv_kill(s, 0);
    if (s->dir[0]) nftw(s->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = '\0';
}

static ripp_store *open_url(const char *url)
{
    int err = 1;
    char eb[256] = "unset";
    ripp_store *s = ripp_store_redis_open(url, &err, eb, sizeof eb);
    if (!s) fprintf(stderr, "open %s: %d %s\n", url, err, eb);
    assert_non_null(s);
    assert_int_equal(err, 0);
    assert_string_equal(eb, "");
    return s;
}

static ripp_store *open_srv(const srv *s, const char *opts)
{
    char url[600];
    snprintf(url, sizeof url, "unix:%s%s%s", s->sock, opts && *opts ? "?" : "", opts ? opts : "");
    return open_url(url);
}

static ripp_store_status status(const ripp_store *s)
{
    ripp_store_status st;
    assert_int_equal(ripp_store_status_get(s, &st), 0);
    return st;
}

/* Turns the loop until the store has nothing queued; false after timeout_ms. */
static bool drain(uv_loop_t *loop, const ripp_store *s, int timeout_ms)
{
    int64_t end = now_us() + (int64_t)timeout_ms * 1000;
    while (status(s).pending > 0) {
        if (now_us() > end) return false;
        uv_run(loop, UV_RUN_ONCE);
    }
    return true;
}

/* Runs the loop for about ms milliseconds. */
static void spin(uv_loop_t *loop, int ms)
{
    int64_t end = now_us() + (int64_t)ms * 1000;
    while (now_us() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* Closes a store and lets the loop release its handles. */
static void close_on(uv_loop_t *loop, ripp_store *s)
{
    ripp_store_close(s);
    for (int i = 0; i < 3; i++)
        uv_run(loop, UV_RUN_NOWAIT);
}

/* ---- the common suite, three ways ---- */

enum { M_SYNC, M_DRAIN, M_QUEUE };
static int mode;
static srv g_srv;
static uv_loop_t g_loop;
static ripp_store_ops g_ops;
static const ripp_store_ops *g_real;
static ripp_store *g_store;

static int drained_call_put(void *impl, const ripp_call_rec *c)
{
    int rc = g_real->call_put(impl, c);
    if (!drain(&g_loop, g_store, 10000)) return RIPP_ERR_STORE;
    return rc;
}

static int drained_cdr_put(void *impl, const ripp_cdr *c)
{
    int rc = g_real->cdr_put(impl, c);
    if (!drain(&g_loop, g_store, 10000)) return RIPP_ERR_STORE;
    return rc;
}

static ripp_store *suite_new(void)
{
    NEED_REDIS();
    assert_int_equal(raw(&g_srv, NULL, 0, "FLUSHALL"), 0);
    /* tokens of the suite expire in 1970: keep them, as the other backends do */
    ripp_store *s = open_srv(&g_srv, "token_keep_s=-1");
    if (mode != M_SYNC) assert_int_equal(ripp_store_attach_loop(s, &g_loop), 0);
    if (mode == M_DRAIN) {
        g_real = s->ops;
        g_ops = *s->ops;
        g_ops.call_put = drained_call_put;
        g_ops.cdr_put = drained_cdr_put;
        s->ops = &g_ops;
    }
    g_store = s;
    return s;
}

static void suite_del(ripp_store *s)
{
    if (mode == M_QUEUE) {
        /* what the queue held reaches Redis at close */
        long long before = raw(&g_srv, NULL, 0, "DBSIZE");
        int64_t pending = status(s).pending;
        close_on(&g_loop, s);
        if (pending) assert_true(raw(&g_srv, NULL, 0, "DBSIZE") > before);
    } else {
        close_on(&g_loop, s);
    }
    g_store = NULL;
}

/* The store's own timer does not keep a loop alive (rippd's loop has its listeners); this one
 * stands for them, so that uv_run keeps running timers while nothing else is active. */
static uv_timer_t g_alive;
static void alive_cb(uv_timer_t *t)
{
    (void)t;
}

static int group_up(int m)
{
    mode = m;
    if (!have_redis()) return 0;
    if (uv_loop_init(&g_loop)) return -1;
    uv_timer_init(&g_loop, &g_alive);
    uv_timer_start(&g_alive, alive_cb, 5, 5);
    const char *base = getenv("TMPDIR");
    memset(&g_srv, 0, sizeof g_srv);
    snprintf(g_srv.dir, sizeof g_srv.dir, "%s/ripp-redis-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(g_srv.dir)) return -1;
    snprintf(g_srv.sock, sizeof g_srv.sock, "%s/redis.sock", g_srv.dir);
    srv_launch(&g_srv);
    return 0;
}

static int group_sync(void **state)
{
    (void)state;
    return group_up(M_SYNC);
}
static int group_drain(void **state)
{
    (void)state;
    return group_up(M_DRAIN);
}
static int group_queue(void **state)
{
    (void)state;
    return group_up(M_QUEUE);
}

static int group_down(void **state)
{
    (void)state;
    if (!have_redis()) return 0;
    srv_stop(&g_srv);
    for (size_t i = 0; i < sizeof g_own / sizeof g_own[0]; i++)
        srv_stop(&g_own[i]);
    uv_close((uv_handle_t *)&g_alive, NULL);
    for (int i = 0; i < 3; i++)
        uv_run(&g_loop, UV_RUN_NOWAIT);
    return uv_loop_close(&g_loop) == 0 ? 0 : -1;
}

/* ---- the OAuth operations (store_oauth_suite.h), as on the other backends ---- */

#include "store_oauth_suite.h"
}

/* Runs one OAuth scenario on a fresh database, synchronously and with the write-behind loop
 * attached (those operations stay synchronous either way). */
static void on_fresh(void (*run)(ripp_store *))
{
    NEED_REDIS();
    for (int m = 0; m < 2; m++) {
        assert_int_equal(raw(&g_srv, NULL, 0, "FLUSHALL"), 0);
        ripp_store *s = open_srv(&g_srv, "token_keep_s=-1");
        if (m) assert_int_equal(ripp_store_attach_loop(s, &g_loop), 0);
        run(s);
        close_on(&g_loop, s);
    }
}

static void test_oauth_tokens(void **state)
{
    (void)state;
    on_fresh(run_tokens);
}
static void test_oauth_trunk_del(void **state)
{
    (void)state;
    on_fresh(run_trunk_del);
}
static void test_oauth_consumer(void **state)
{
    (void)state;
    on_fresh(run_consumer);
}
static void test_oauth_prov(void **state)
{
    (void)state;
    on_fresh(run_prov);
}

/* ---- opening ---- */

static void test_open(void **state)
{
    (void)state;
    NEED_REDIS();
    static const char *const bad[] = {
        "redis://",      "redis://:6379",       "redis://h:0",     "redis://h:99999",
        "redis://h:1/x", "redis://[::1",        "unix:",           "unix:/x?foo=1",
        "unix:/x?db=-1", "unix:/x?timeout_ms=", "unix:/x?queue=0", "http://h",
    };
    int err = 0;
    char eb[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = 0;
        eb[0] = '\0';
        assert_null(ripp_store_redis_open(bad[i], &err, eb, sizeof eb));
        assert_int_equal(err, RIPP_ERR_INVAL);
        assert_true(eb[0] != '\0');
    }
    assert_null(ripp_store_redis_open(NULL, &err, NULL, 0));
    assert_int_equal(err, RIPP_ERR_INVAL);

    /* Nobody there: refused at open, with the reason. */
    char url[600];
    snprintf(url, sizeof url, "unix:%s/nobody.sock", g_srv.dir);
    err = 0;
    assert_null(ripp_store_redis_open(url, &err, eb, sizeof eb));
    assert_int_equal(err, RIPP_ERR_STORE);
    assert_non_null(strstr(eb, "nobody.sock"));
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", free_port());
    assert_null(ripp_store_open(url, &err, eb, sizeof eb));
    assert_int_equal(err, RIPP_ERR_STORE);

    /* ripp_store_open: a URL is Redis, anything else a SQLite file. */
    assert_int_equal(raw(&g_srv, NULL, 0, "FLUSHALL"), 0);
    snprintf(url, sizeof url, "unix:%s?db=3&timeout_ms=150&call_keep_s=60", g_srv.sock);
    ripp_store *r = ripp_store_open(url, &err, eb, sizeof eb);
    assert_non_null(r);
    ripp_trunk_rec t, got;
    make_trunk(&t, "t-open");
    assert_int_equal(r->ops->trunk_put(r->impl, &t), 0);
    assert_int_equal(raw(&g_srv, NULL, 0, "EXISTS ripp:trunk:t-open"), 0); /* db 0 */
    char v[64];
    redisContext *c = raw_connect(&g_srv);
    redisReply *rr = redisCommand(c, "SELECT 3");
    freeReplyObject(rr);
    rr = redisCommand(c, "HGET ripp:trunk:t-open created_ms");
    snprintf(v, sizeof v, "%s", rr->str);
    freeReplyObject(rr);
    redisFree(c);
    assert_string_equal(v, "1700000000123");
    ripp_store_status st = status(r);
    assert_true(st.reachable);
    assert_false(st.breaker_open);
    assert_false(st.writer_up);
    assert_int_equal(ripp_store_attach_loop(r, &g_loop), 0);
    assert_int_equal(ripp_store_attach_loop(r, &g_loop), RIPP_ERR_STATE);
    /* the write-behind connection selects the database too */
    ripp_call_rec call, gotc;
    make_call(&call, 5);
    assert_int_equal(r->ops->call_put(r->impl, &call), 0);
    assert_true(drain(&g_loop, r, 5000));
    assert_true(status(r).writer_up);
    ripp_store *r2 = ripp_store_open(url, &err, eb, sizeof eb);
    assert_non_null(r2);
    assert_int_equal(r2->ops->call_get(r2->impl, call.id, &gotc), 0);
    assert_call_eq(&gotc, &call);
    ripp_store_close(r2);
    close_on(&g_loop, r);

    char path[600];
    snprintf(path, sizeof path, "%s/open.db", g_srv.dir);
    ripp_store *q = ripp_store_open(path, &err, eb, sizeof eb);
    assert_non_null(q);
    assert_int_equal(q->ops->trunk_put(q->impl, &t), 0);
    assert_int_equal(q->ops->trunk_get(q->impl, "t-open", &got), 0);
    assert_trunk_eq(&got, &t);
    assert_int_equal(ripp_store_attach_loop(q, &g_loop), 0);
    st = status(q);
    assert_true(st.reachable);
    assert_int_equal(st.pending, 0);
    ripp_store_close(q);
    assert_int_equal(access(path, F_OK), 0);
    unlink(path);
}

/* Call records expire a while after their last write; tokens some time after their expiry. */
static void test_ttl(void **state)
{
    (void)state;
    NEED_REDIS();
    assert_int_equal(raw(&g_srv, NULL, 0, "FLUSHALL"), 0);
    ripp_store *s = open_srv(&g_srv, "call_keep_s=120&token_keep_s=3600");
    ripp_call_rec c;
    make_call(&c, 1);
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    long long ttl = raw(&g_srv, NULL, 0, "PTTL ripp:call:%s", c.id);
    assert_true(ttl > 110000 && ttl <= 120000);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    ripp_token_rec t, got;
    tok(&t, 1, "A", RIPP_TOKEN_ACCESS, "f", wall + 60000);
    assert_int_equal(s->ops->token_put(s->impl, &t), 0);
    ttl = raw(&g_srv, NULL, 0, "PTTL ripp:token:%s", t.hash);
    assert_true(ttl > 3650000 && ttl <= 3660000);
    char tid[64];
    /* the lookup still honours now_ms: expired for the caller long before Redis drops it */
    assert_int_equal(s->ops->token_lookup(s->impl, t.hash, wall + 59999, tid, sizeof tid), 0);
    assert_int_equal(s->ops->token_lookup(s->impl, t.hash, wall + 60000, tid, sizeof tid),
                     RIPP_ERR_NOTFOUND);
    assert_int_equal(s->ops->token_get(s->impl, t.hash, &got), 0);
    /* a token rewritten without expiry loses its TTL */
    t.expires_ms = 0;
    assert_int_equal(s->ops->token_put(s->impl, &t), 0);
    assert_int_equal(raw(&g_srv, NULL, 0, "PTTL ripp:token:%s", t.hash), -1);
    /* one whose keeping time is over is gone, as if never stored */
    tok(&t, 2, "A", RIPP_TOKEN_CODE, "f", wall - 3600001);
    assert_int_equal(s->ops->token_put(s->impl, &t), 0);
    assert_int_equal(s->ops->token_get(s->impl, t.hash, &got), RIPP_ERR_NOTFOUND);
    ripp_store_close(s);

    s = open_srv(&g_srv, "call_keep_s=-1");
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    assert_int_equal(raw(&g_srv, NULL, 0, "PTTL ripp:call:%s", c.id), -1);
    ripp_store_close(s);
}

/* ---- write-behind ---- */

/* Puts coalesce per call id while unsent, reads see the queue, the queue is bounded, and a
 * CDR rewritten while queued goes last in end order. */
static void test_write_behind(void **state)
{
    (void)state;
    NEED_REDIS();
    assert_int_equal(raw(&g_srv, NULL, 0, "FLUSHALL"), 0);
    ripp_store *s = open_srv(&g_srv, "queue=8");
    assert_int_equal(ripp_store_attach_loop(s, &g_loop), 0);
    ripp_call_rec c, got;
    make_call(&c, 1);
    int64_t t0 = now_us();
    for (int i = 0; i < 100; i++) {
        c.last_seq_c2s = i;
        assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    }
    int64_t dt = now_us() - t0;
    ripp_store_status st = status(s);
    assert_int_equal(st.pending, 1);
    assert_false(st.writer_up); /* the loop has not run: nothing sent yet */
    assert_int_equal(raw(&g_srv, NULL, 0, "EXISTS ripp:call:%s", c.id), 0);
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);
    assert_true(drain(&g_loop, s, 5000));
    st = status(s);
    assert_true(st.writer_up);
    assert_int_equal(st.written, 1); /* one write for a hundred puts */
    char v[64];
    raw(&g_srv, v, sizeof v, "HGET ripp:call:%s last_seq_c2s", c.id);
    assert_string_equal(v, "99");
    fprintf(stderr, "# 100 coalesced call_put: %.1f us each\n", dt / 100.0);

    /* the bound: 8 records waiting; a 9th new one is refused, updates still go in */
    for (int i = 10; i < 18; i++) {
        make_call(&c, i);
        assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    }
    make_call(&c, 18);
    assert_int_equal(s->ops->call_put(s->impl, &c), RIPP_ERR_STORE);
    make_call(&c, 10);
    c.state = 6;
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);
    st = status(s);
    assert_int_equal(st.pending, 8);
    assert_int_equal(st.refused, 1);
    assert_true(drain(&g_loop, s, 5000));
    assert_int_equal(s->ops->call_get(s->impl, c.id, &got), 0);
    assert_int_equal(got.state, 6);
    make_call(&c, 18);
    assert_int_equal(s->ops->call_put(s->impl, &c), 0);

    /* CDRs: 0, 1, 2 written; 0 rewritten and still queued comes last */
    ripp_cdr cdr;
    for (int i = 0; i < 3; i++) {
        make_cdr(&cdr, i);
        assert_int_equal(s->ops->cdr_put(s->impl, &cdr), 0);
    }
    assert_true(drain(&g_loop, s, 5000));
    make_cdr(&cdr, 0);
    snprintf(cdr.outcome, sizeof cdr.outcome, "late");
    assert_int_equal(s->ops->cdr_put(s->impl, &cdr), 0);
    walk w;
    memset(&w, 0, sizeof w);
    w.s = s;
    assert_int_equal(s->ops->cdr_each(s->impl, walk_cb, &w), 0);
    assert_int_equal(w.n, 3);
    make_cdr(&cdr, 1);
    assert_string_equal(w.ids[0], cdr.call_id);
    make_cdr(&cdr, 0);
    assert_string_equal(w.ids[2], cdr.call_id);
    assert_int_equal(s->ops->cdr_get(s->impl, cdr.call_id, &cdr), 0);
    assert_string_equal(cdr.outcome, "late");
    assert_true(drain(&g_loop, s, 5000));
    /* and the same order from Redis itself */
    ripp_store *b = open_srv(&g_srv, NULL);
    memset(&w, 0, sizeof w);
    w.s = b;
    assert_int_equal(b->ops->cdr_each(b->impl, walk_cb, &w), 0);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.ids[2], cdr.call_id);
    ripp_store_close(b);
    close_on(&g_loop, s);
}

/* Two handles stand for two instances: B loads the call A wrote and continues it (P5). */
static void test_two_handles(void **state)
{
    (void)state;
    NEED_REDIS();
    assert_int_equal(raw(&g_srv, NULL, 0, "FLUSHALL"), 0);
    ripp_store *a = open_srv(&g_srv, NULL), *b = open_srv(&g_srv, NULL);
    assert_int_equal(ripp_store_attach_loop(a, &g_loop), 0);
    ripp_call_rec c, got;
    make_call(&c, 99);
    assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    assert_true(drain(&g_loop, a, 5000));
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);
    got.last_seq_c2s = 50;
    got.media_seq_s2c = 777;
    got.state = 5;
    snprintf(got.cookies, sizeof got.cookies, "inst=b; Path=/");
    assert_int_equal(b->ops->call_put(b->impl, &got), 0);
    assert_int_equal(a->ops->call_get(a->impl, c.id, &c), 0);
    assert_call_eq(&c, &got);

    ripp_cdr cdr;
    for (int i = 1; i <= 4; i++) {
        make_cdr(&cdr, i);
        ripp_store *x = i % 2 ? a : b;
        assert_int_equal(x->ops->cdr_put(x->impl, &cdr), 0);
        assert_true(drain(&g_loop, a, 5000));
    }
    int next = 1;
    assert_int_equal(b->ops->cdr_each(b->impl, order_cb, &next), 0);
    assert_int_equal(next, 5);
    next = 1;
    assert_int_equal(a->ops->cdr_each(a->impl, order_cb, &next), 0);
    assert_int_equal(next, 5);
    ripp_store_close(b);
    close_on(&g_loop, a);
}

/* ---- Redis going away ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Redis crashes (SIGKILL; AOF with fsync always) and comes back on the same port and data:
 * what was acknowledged before is still there, and what was put while it was down reaches it
 * after the reconnect, newest version per call, CDRs in end order. */
static void test_restart_aof(void **state)
{
    (void)state;
    NEED_REDIS();
    srv *s = &g_own[0];
    srv_start(s, true, true);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", s->port);
    ripp_store *a = open_url(url);
    assert_int_equal(ripp_store_attach_loop(a, &g_loop), 0);
    ripp_call_rec c, got;
    ripp_cdr cdr;
    for (int i = 0; i < 200; i++) {
        make_call(&c, i);
        assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    }
    for (int i = 0; i < 20; i++) {
        make_cdr(&cdr, i);
        assert_int_equal(a->ops->cdr_put(a->impl, &cdr), 0);
    }
    assert_true(drain(&g_loop, a, 5000));
    assert_int_equal(status(a).written, 220);

    srv_kill(s, SIGKILL);
    int64_t worst = 0;
    for (int i = 0; i < 300; i++) {
        if (i >= 100 && i < 200) continue;
        make_call(&c, i);
        c.state = 6;
        c.last_seq_s2c = 1000 + i;
        int64_t t0 = now_us();
        assert_int_equal(a->ops->call_put(a->impl, &c), 0);
        int64_t dt = now_us() - t0;
        if (dt > worst) worst = dt;
        if (i == 50) spin(&g_loop, 200); /* the writer notices meanwhile */
    }
    for (int i = 20; i < 30; i++) {
        make_cdr(&cdr, i);
        assert_int_equal(a->ops->cdr_put(a->impl, &cdr), 0);
    }
    spin(&g_loop, 100);
    ripp_store_status st = status(a);
    assert_false(st.writer_up);
    assert_int_equal(st.pending, 210);
    assert_true(worst < 50000); /* never a timeout: nothing waits for Redis */
    /* reads of queued records are answered from the queue; others fail fast */
    assert_int_equal(a->ops->call_get(a->impl, "5f0c8a1e-7d2b-4c3a-9e1f-000000000250", &got), 0);
    assert_int_equal(got.last_seq_s2c, 1250);
    int64_t t0 = now_us();
    char tid[64];
    assert_int_equal(a->ops->token_lookup(a->impl, c.token_hash, 0, tid, sizeof tid),
                     RIPP_ERR_STORE);
    assert_true(now_us() - t0 < 300000);
    fprintf(stderr, "# redis down: worst call_put %lld us, %lld records queued\n", (long long)worst,
            (long long)st.pending);

    srv_launch(s);
    t0 = now_us();
    assert_true(drain(&g_loop, a, 15000));
    fprintf(stderr, "# redis back: queue written %lld ms after the restart\n",
            (long long)(now_us() - t0) / 1000);
    assert_true(status(a).reconnects >= 2);

    ripp_store *b = open_url(url); /* another instance */
    for (int i = 0; i < 300; i++) {
        make_call(&c, i);
        if (i < 100 || i >= 200) {
            c.state = 6;
            c.last_seq_s2c = 1000 + i;
        }
        assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
        assert_call_eq(&got, &c);
    }
    int next = 0;
    assert_int_equal(b->ops->cdr_each(b->impl, order_cb, &next), 0);
    assert_int_equal(next, 30);
    ripp_store_close(b);
    close_on(&g_loop, a);
    srv_stop(s);
}

typedef struct probe {
    int n;
    int64_t first_us, worst_us; /* of the fast failures after the first */
    int slow;                   /* of those, how many took 5 ms or more */
} probe;

/* One failing read: RIPP_ERR_STORE, timed. */
static void fail_once(ripp_store *s, int kind, probe *p)
{
    char tid[64];
    ripp_trunk_rec t;
    ripp_call_rec c;
    int64_t t0 = now_us();
    int rc = kind == 0   ? s->ops->token_lookup(s->impl, "abc", 0, tid, sizeof tid)
             : kind == 1 ? s->ops->trunk_get(s->impl, "T", &t)
                         : s->ops->call_get(s->impl, "5f0c8a1e-7d2b-4c3a-9e1f-000000000001", &c);
    int64_t dt = now_us() - t0;
    assert_int_equal(rc, RIPP_ERR_STORE);
    if (p->n++ == 0)
        p->first_us = dt;
    else if (dt > p->worst_us)
        p->worst_us = dt;
    if (p->n > 1 && dt >= 5000) p->slow++;
}

/* Waits (turning the loop) until a read reaches Redis again (found or not: a Redis without
 * persistence comes back empty): the time it took, in ms. */
static int64_t recover(uv_loop_t *loop, ripp_store *s, int timeout_ms)
{
    int64_t t0 = now_us();
    ripp_trunk_rec t;
    while (s->ops->trunk_get(s->impl, "T", &t) == RIPP_ERR_STORE) {
        assert_true(now_us() - t0 < (int64_t)timeout_ms * 1000);
        spin(loop, 10);
    }
    return (now_us() - t0) / 1000;
}

/* Redis stops answering (SIGSTOP: connections open, nothing comes back), then dies: each
 * synchronous operation fails within the timeout, then at once while the breaker is open;
 * puts are still accepted; everything recovers by itself. */
static void test_unreachable(void **state)
{
    (void)state;
    NEED_REDIS();
    srv *s = &g_own[0];
    srv_start(s, true, false);
    char url[160];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?timeout_ms=200&wb_timeout_ms=400", s->port);
    ripp_store *a = open_url(url);
    assert_int_equal(ripp_store_attach_loop(a, &g_loop), 0);
    ripp_trunk_rec t;
    make_trunk(&t, "T");
    assert_int_equal(a->ops->trunk_put(a->impl, &t), 0);
    ripp_call_rec c;
    make_call(&c, 1);
    assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    assert_true(drain(&g_loop, a, 5000));

    kill(s->pid, SIGSTOP);
    probe p = {0};
    for (int i = 0; i < 300; i++)
        fail_once(a, i % 3, &p);
    ripp_store_status st = status(a);
    assert_false(st.reachable);
    assert_true(st.breaker_open);
    assert_true(st.retry_in_ms > 0 && st.retry_in_ms <= 5000);
    fprintf(stderr, "# redis stopped: first op failed in %lld us, then worst %lld us\n",
            (long long)p.first_us, (long long)p.worst_us);
    assert_true(p.first_us >= 150000 && p.first_us < 300000);
    assert_true(p.slow * 100 <= p.n && p.worst_us < 50000);

    /* puts keep being accepted; the writer gives up its silent connection */
    int64_t worst = 0;
    for (int i = 2; i < 52; i++) {
        make_call(&c, i);
        int64_t t0 = now_us();
        assert_int_equal(a->ops->call_put(a->impl, &c), 0);
        if (now_us() - t0 > worst) worst = now_us() - t0;
    }
    assert_true(worst < 50000);
    spin(&g_loop, 700);
    st = status(a);
    assert_false(st.writer_up);
    assert_int_equal(st.pending, 50);

    /* probes while the breaker lets them through cost at most the timeout each */
    p = (probe){0};
    int64_t t0 = now_us();
    while (now_us() - t0 < 1500000) {
        fail_once(a, 1, &p);
        spin(&g_loop, 5);
    }
    assert_true(p.first_us < 300000 && p.worst_us < 300000);

    kill(s->pid, SIGCONT);
    int64_t ms = recover(&g_loop, a, 10000);
    assert_true(drain(&g_loop, a, 10000));
    fprintf(stderr, "# redis answering again: reads back after %lld ms, queue written\n",
            (long long)ms);
    ripp_store *b = open_url(url);
    make_call(&c, 51);
    ripp_call_rec got;
    assert_int_equal(b->ops->call_get(b->impl, c.id, &got), 0);
    assert_call_eq(&got, &c);

    /* Redis dies: the connections see it at once */
    srv_kill(s, SIGKILL);
    p = (probe){0};
    for (int i = 0; i < 100; i++)
        fail_once(b, i % 3, &p);
    fprintf(stderr, "# redis killed: first op failed in %lld us, then worst %lld us\n",
            (long long)p.first_us, (long long)p.worst_us);
    assert_true(p.first_us < 300000);
    assert_true(p.slow * 100 <= p.n && p.worst_us < 50000);
    srv_launch(s);
    ms = recover(&g_loop, b, 10000);
    fprintf(stderr, "# redis restarted: reads back after %lld ms\n", (long long)ms);
    ripp_store_close(b);
    close_on(&g_loop, a);
    srv_stop(s);
}

/* ---- figures (reported, loosely bounded) ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t report(const char *what, int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    fprintf(stderr, "# %-22s n=%d p50 %lld us, p99 %lld us, max %lld us\n", what, n,
            (long long)v[n / 2], (long long)v[n * 99 / 100], (long long)v[n - 1]);
    return v[n * 99 / 100];
}

static void test_latency(void **state)
{
    (void)state;
    NEED_REDIS();
    enum { NTOK = 1000, NOPS = 5000, NCALLS = 20000 };
    srv *s = &g_own[0];
    srv_start(s, true, false);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", s->port);
    ripp_store *a = open_url(url);
    assert_int_equal(ripp_store_attach_loop(a, &g_loop), 0);
    int64_t *v = calloc(NCALLS, sizeof *v);
    assert_non_null(v);
    char h[65], tid[64];
    for (int i = 0; i < NTOK; i++) {
        hash_of(h, i);
        assert_int_equal(a->ops->token_add(a->impl, "trunk-1", h), 0);
    }
    for (int i = 0; i < NOPS; i++) {
        hash_of(h, (i * 7919) % NTOK);
        int64_t t0 = now_us();
        assert_int_equal(a->ops->token_lookup(a->impl, h, wall_ms(), tid, sizeof tid), 0);
        v[i] = now_us() - t0;
    }
    assert_true(report("token_lookup", v, NOPS) < 50000);

    /* call_put as the engine does it: updates of live calls between loop turns */
    ripp_call_rec c;
    for (int i = 0; i < NOPS; i++) {
        make_call(&c, i % 500);
        c.last_seq_c2s = i;
        int64_t t0 = now_us();
        assert_int_equal(a->ops->call_put(a->impl, &c), 0);
        v[i] = now_us() - t0;
        if (i % 50 == 49) uv_run(&g_loop, UV_RUN_NOWAIT);
    }
    assert_true(drain(&g_loop, a, 10000));
    assert_true(report("call_put (enqueue)", v, NOPS) < 50000);

    /* write-behind throughput: distinct records, put then written */
    int64_t w0 = status(a).written, t0 = now_us();
    for (int i = 0; i < NCALLS; i++) {
        make_call(&c, 1000 + i);
        assert_int_equal(a->ops->call_put(a->impl, &c), 0);
    }
    int64_t tq = now_us() - t0;
    assert_true(drain(&g_loop, a, 60000));
    int64_t tt = now_us() - t0;
    assert_int_equal(status(a).written - w0, NCALLS);
    fprintf(stderr,
            "# write-behind: %d records queued in %lld ms, all acknowledged in %lld ms: "
            "%.0f records/s\n",
            NCALLS, (long long)tq / 1000, (long long)tt / 1000, NCALLS * 1e6 / (double)tt);
    assert_true(NCALLS * 1e6 / (double)tt > 1000);

    ripp_call_rec got;
    for (int i = 0; i < NOPS; i++) {
        make_call(&c, 1000 + (i * 7919) % NCALLS);
        int64_t t1 = now_us();
        assert_int_equal(a->ops->call_get(a->impl, c.id, &got), 0);
        v[i] = now_us() - t1;
        assert_string_equal(got.uri, c.uri);
    }
    assert_true(report("call_get", v, NOPS) < 50000);
    free(v);
    close_on(&g_loop, a);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest sync_tests[] = {
        STORE_SUITE_TESTS,
        cmocka_unit_test(test_oauth_tokens),
        cmocka_unit_test(test_oauth_trunk_del),
        cmocka_unit_test(test_oauth_consumer),
        cmocka_unit_test(test_oauth_prov),
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_write_behind),
        cmocka_unit_test(test_two_handles),
        cmocka_unit_test(test_restart_aof),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_latency),
    };
    const struct CMUnitTest suite[] = {STORE_SUITE_TESTS};
    const char *only = getenv("RIPP_TEST_ONLY"); /* a cmocka name pattern, for debugging */
    if (only && *only) cmocka_set_test_filter(only);
    int fails = cmocka_run_group_tests_name("redis", sync_tests, group_sync, group_down);
    fails += cmocka_run_group_tests_name("redis, write-behind drained after each put", suite,
                                         group_drain, group_down);
    fails += cmocka_run_group_tests_name("redis, write-behind read from the queue", suite,
                                         group_queue, group_down);
    return fails;
}
