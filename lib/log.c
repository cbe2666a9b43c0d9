/* Process-wide log handler and error strings. */
#include <stdarg.h>
#include <stdio.h>

#include "ripp/ripp.h"

static ripp_log_fn log_fn;
static void *log_ud;
static enum ripp_log_level log_max = RIPP_LOG_INFO;

void ripp_log_set_handler(ripp_log_fn fn, void *ud, enum ripp_log_level max_level)
{
    log_fn = fn;
    log_ud = ud;
    log_max = max_level;
}

void ripp_log(enum ripp_log_level level, const char *fmt, ...)
{
    if (!log_fn || level > log_max) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(log_ud, level, msg);
}

const char *ripp_strerror(int err)
{
    switch (err) {
    case RIPP_OK:
        return "success";
    case RIPP_ERR_NOMEM:
        return "out of memory";
    case RIPP_ERR_INVAL:
        return "invalid argument";
    case RIPP_ERR_PROTO:
        return "protocol violation";
    case RIPP_ERR_LIMIT:
        return "limit exceeded";
    case RIPP_ERR_TRUNCATED:
        return "input ended inside a record";
    case RIPP_ERR_STATE:
        return "not allowed in this state";
    case RIPP_ERR_DUP:
        return "duplicate";
    case RIPP_ERR_LATE:
        return "too late";
    case RIPP_ERR_NOTFOUND:
        return "not found";
    case RIPP_ERR_AUTH:
        return "authentication failed";
    case RIPP_ERR_UNSUPPORTED:
        return "not supported";
    case RIPP_ERR_IO:
        return "I/O error";
    case RIPP_ERR_CRYPTO:
        return "crypto failure";
    case RIPP_ERR_CLOSED:
        return "closed";
    case RIPP_ERR_STORE:
        return "store failure";
    case RIPP_ERR_AGAIN:
        return "try again";
    default:
        return err >= 0 ? "success" : "unknown error";
    }
}
