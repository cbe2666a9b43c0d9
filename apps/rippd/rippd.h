/* rippd internals shared by its source files. */
#ifndef RIPPD_H
#define RIPPD_H

#include "ripp/callmedia.h"
#include "ripp/endpoint.h"
#include "ripp/io.h"

/* What a trunk does with an incoming call (the trunk's `answer` string):
 *   MODE[,hangup=SECONDS]
 *   MODE = echo | play:FILE | record:DIR | reject:CODE | noanswer[:SECONDS] | ring:SECONDS */
enum answer_mode {
    ANSWER_ECHO,
    ANSWER_PLAY,
    ANSWER_RECORD,
    ANSWER_REJECT,
    ANSWER_NOANSWER,
    ANSWER_RING
};

typedef struct answer_spec {
    enum answer_mode mode;
    char arg[512];       /* FILE or DIR */
    int code;            /* reject */
    double seconds;      /* ring / noanswer delay */
    double hangup_after; /* 0: the callee never hangs up */
} answer_spec;

/* Returns 0, or -1 with a message in err. */
int answer_parse(const char *s, answer_spec *out, char *err, size_t errcap);

typedef struct rippd_keys rippd_keys; /* identity keys by trunk */

typedef struct rippd {
    ripp_ep *ep;
    rippd_keys *keys;
} rippd;

extern const ripp_ep_hooks rippd_hooks;
void rippd_keys_free(rippd_keys *k);

#endif
