/* driver.h - runs a ripp_ep on a libuv loop: one timer armed from ripp_ep_expiry, re-armed
 * after every loop iteration (requests and data can move the deadline). */
#ifndef RIPP_DRIVER_H
#define RIPP_DRIVER_H

#include <uv.h>

#include "ripp/endpoint.h"

typedef struct ripp_driver {
    uv_timer_t timer;
    uv_check_t check;
    ripp_ep *ep;
    ripp_ts armed; /* deadline the timer is set for, RIPP_TS_NEVER when stopped */
} ripp_driver;

int ripp_driver_init(ripp_driver *d, uv_loop_t *loop, ripp_ep *ep);
/* Re-arm now (call after actions taken outside loop callbacks). */
void ripp_driver_kick(ripp_driver *d);
/* Close the handles; the loop must run once more to finish closing. */
void ripp_driver_close(ripp_driver *d);

/* Log to stderr as "PROG LEVEL message" with a UTC timestamp. */
void ripp_app_log_init(const char *prog, enum ripp_log_level max_level);
/* "error" | "warn" | "info" | "debug" -> level; -1 when unknown. */
int ripp_app_log_level(const char *name);

#endif
