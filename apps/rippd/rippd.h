/* rippd internals shared by its source files. */
#ifndef RIPPD_H
#define RIPPD_H

#include "ripp/callmedia.h"
#include "ripp/endpoint.h"
#include "ripp/io.h"
#include "ripp/store.h"

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

/* OAuth 2.0 provisioning (oauth.c): the authorization server of rippd's trunks and the
 * trunk-management resources next to them. rippd_oauth_config reads the "oauth" parts of
 * the configuration file (root may be NULL: none) after the store is open; returns 0 or 1
 * after printing the reason. rippd_oauth_on_request returns true when it took the request
 * (it then owns the exchange as the engine would). */
struct json_t;
int rippd_oauth_config(struct json_t *root, ripp_store *store);
bool rippd_oauth_on_request(ripp_xchg *x, const ripp_request *req);
void rippd_oauth_free(void);
void rippd_keys_free(rippd_keys *k);

#endif
