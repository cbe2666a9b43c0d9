/* ripp.h - common definitions of the RIPP library: errors, time, logging, environment.
 *
 * The protocol core never reads a clock, draws random bytes or opens a socket. Time is
 * always a parameter: `ripp_ts` is monotonic nanoseconds chosen by the caller; wall-clock
 * values (event timestamps, ack receive times, media timestamp bases) come from the
 * `ripp_env` callbacks the caller installs. */
#ifndef RIPP_RIPP_H
#define RIPP_RIPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic time in nanoseconds. RIPP_TS_NEVER means "no deadline". */
typedef uint64_t ripp_ts;
#define RIPP_TS_NEVER UINT64_MAX
#define RIPP_NS_PER_MS ((ripp_ts)1000000)
#define RIPP_NS_PER_US ((ripp_ts)1000)
#define RIPP_NS_PER_SEC ((ripp_ts)1000000000)

/* Library error codes. Functions return 0 (or a non-negative count) on success and one of
 * these on failure. They never mix with HTTP status codes or errno values. */
enum ripp_err {
    RIPP_OK = 0,
    RIPP_ERR_NOMEM = -1,        /* allocation failed; the object stays consistent */
    RIPP_ERR_INVAL = -2,        /* bad argument from the local caller */
    RIPP_ERR_PROTO = -3,        /* peer bytes violate the protocol (malformed) */
    RIPP_ERR_LIMIT = -4,        /* a size or count limit would be exceeded */
    RIPP_ERR_TRUNCATED = -5,    /* input ended inside a record */
    RIPP_ERR_STATE = -6,        /* not allowed in the current state (or role) */
    RIPP_ERR_DUP = -7,          /* duplicate (already processed); dropped */
    RIPP_ERR_LATE = -8,         /* arrived after its playout point; dropped */
    RIPP_ERR_NOTFOUND = -9,     /* no such object */
    RIPP_ERR_AUTH = -10,        /* authentication or signature check failed */
    RIPP_ERR_UNSUPPORTED = -11, /* valid but not supported (codec, algorithm, ...) */
    RIPP_ERR_IO = -12,          /* operating-system or file error (apps and io/ only) */
    RIPP_ERR_CRYPTO = -13,      /* crypto library failure */
    RIPP_ERR_CLOSED = -14,      /* the exchange, byway or connection is gone */
    RIPP_ERR_STORE = -15,       /* the store failed */
    RIPP_ERR_AGAIN = -16,       /* nothing to do now; try later */
};

/* A static, human-readable description of a library error code. Never NULL. */
const char *ripp_strerror(int err);

/* Logging. The library writes through one process-wide handler; the default handler
 * discards everything. Messages never contain tokens or key material. */
enum ripp_log_level {
    RIPP_LOG_ERROR = 0,
    RIPP_LOG_WARN = 1,
    RIPP_LOG_INFO = 2,
    RIPP_LOG_DEBUG = 3
};
typedef void (*ripp_log_fn)(void *ud, enum ripp_log_level level, const char *msg);
void ripp_log_set_handler(ripp_log_fn fn, void *ud, enum ripp_log_level max_level);
void ripp_log(enum ripp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* What the environment provides to the core: clocks and randomness. Functions that take a
 * `now` use it; the monotonic clock is read only where a binding's callback (data arriving,
 * a stream closing) carries no time of its own. */
typedef struct ripp_env {
    /* Wall-clock time, microseconds since the Unix epoch (UTC). */
    uint64_t (*wall_us)(void *ud);
    /* Monotonic time in nanoseconds, the same clock as every `now` parameter. */
    ripp_ts (*mono_ns)(void *ud);
    /* Fills buf with n unpredictable bytes; returns 0 or a negative ripp_err. */
    int (*random)(void *ud, uint8_t *buf, size_t n);
    void *ud;
} ripp_env;

#ifdef __cplusplus
}
#endif
#endif
