/* Drives the sans-IO call engine from libuv. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ripp/driver.h"
#include "ripp/io.h"

static void on_timer(uv_timer_t *t);

static void arm(ripp_driver *d)
{
    ripp_ts when = ripp_ep_expiry(d->ep);
    if (when == d->armed) return;
    d->armed = when;
    if (when == RIPP_TS_NEVER) {
        uv_timer_stop(&d->timer);
        return;
    }
    ripp_ts now = ripp_io_now();
    /* libuv timers have 1 ms resolution: round up so we never wake early */
    /* at least 1 ms: a 0 ms timer started from a timer callback runs again at once in
     * libuv 1.44, before the sockets are polled, so an engine that is late would starve
     * its own I/O (the engine catches up on missed intervals itself) */
    uint64_t ms = when > now ? (when - now + RIPP_NS_PER_MS - 1) / RIPP_NS_PER_MS : 1;
    if (ms == 0) ms = 1;
    uv_timer_start(&d->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    ripp_driver *d = t->data;
    d->armed = RIPP_TS_NEVER;
    ripp_ep_handle_expiry(d->ep, ripp_io_now());
    arm(d);
}

static void on_check(uv_check_t *c)
{
    arm(c->data);
}

int ripp_driver_init(ripp_driver *d, uv_loop_t *loop, ripp_ep *ep)
{
    d->ep = ep;
    d->armed = RIPP_TS_NEVER;
    uv_timer_init(loop, &d->timer);
    uv_check_init(loop, &d->check);
    d->timer.data = d;
    d->check.data = d;
    uv_check_start(&d->check, on_check);
    return 0;
}

void ripp_driver_kick(ripp_driver *d)
{
    arm(d);
}

void ripp_driver_close(ripp_driver *d)
{
    uv_timer_stop(&d->timer);
    uv_check_stop(&d->check);
    uv_close((uv_handle_t *)&d->timer, NULL);
    uv_close((uv_handle_t *)&d->check, NULL);
}

static const char *log_prog = "ripp";

static void log_stderr(void *ud, enum ripp_log_level level, const char *msg)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            log_prog, names[level], msg);
}

void ripp_app_log_init(const char *prog, enum ripp_log_level max_level)
{
    log_prog = prog;
    ripp_log_set_handler(log_stderr, NULL, max_level);
}

int ripp_app_log_level(const char *name)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}
