/* rippd internals shared by its source files. */
#ifndef RIPPD_H
#define RIPPD_H

#include "ripp/callmedia.h"
#include "ripp/endpoint.h"
#include "ripp/io.h"
#include "ripp/store.h"

/* What a trunk does with an incoming call (the trunk's `answer` string):
 *   MODE[,hangup=SECONDS]
 *   MODE = echo | play:FILE | record:DIR | reject:CODE | noanswer[:SECONDS] | ring:SECONDS
 * or forwards it to another RIPP trunk (bridge.c):
 *   bridge:URL,token=TOKEN[,ca=FILE][,transport=h2|h3|auto]
 * (values without commas; the token is kept in the trunk record like the rest). */
enum answer_mode {
    ANSWER_ECHO,
    ANSWER_PLAY,
    ANSWER_RECORD,
    ANSWER_REJECT,
    ANSWER_NOANSWER,
    ANSWER_RING,
    ANSWER_BRIDGE
};

typedef struct answer_spec {
    enum answer_mode mode;
    char arg[512];       /* FILE or DIR; bridge: the next trunk's URL */
    int code;            /* reject */
    double seconds;      /* ring / noanswer delay */
    double hangup_after; /* 0: the callee never hangs up */
    char token[256];     /* bridge: bearer token of the next trunk */
    char ca[512];        /* bridge: trust anchors for it (PEM file); "": the system store */
    char transport[8];   /* bridge: h2 (default), h3 or auto */
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
void rippd_oauth_set_engine(ripp_ep *ep); /* DELETE {trunk} ends the trunk's calls (D12) */

/* STIR verification service (stir.c). rippd_stir_config reads the "stir" object of the
 * configuration (root may be NULL); returns 0 or 1 after printing the reason. Trunks whose
 * identity_pub is "stir" (refuse failures) or "stir:accept" (accept them, record the
 * failure in the CDR) are verified with certificates; rippd_stir_check is the engine's
 * identity_check hook, rippd_stir_cancel its identity_cancel. rippd_stir_on_request serves
 * GET /stir/<name> from the configured publish_dir. */
int rippd_stir_config(struct json_t *root, uv_loop_t *loop);
void rippd_stir_set_engine(ripp_ep *ep);
int rippd_stir_check(const ripp_trunk_rec *t, const char *identity, const char *target,
                     uint64_t ticket, ripp_identity_verdict *v);
void rippd_stir_cancel(uint64_t ticket);
bool rippd_stir_on_request(ripp_xchg *x, const ripp_request *req);
void rippd_stir_free(void);

/* Calls-per-second limits per trunk (limits.c): token buckets; a trunk without its own limit
 * gets the default (0: none). rippd_limits_admit is the engine's admit_call hook. */
void rippd_limits_set_default(double cps);
int rippd_limits_set(const char *trunk, double cps);
int rippd_limits_admit(const char *trunk, ripp_ts now, uint32_t *retry_after_s);
void rippd_limits_free(void);

/* Operations endpoints (health.c): GET /healthz (the process serves) and GET /readyz (it
 * takes new calls: not draining, store reachable), for load balancers. Returns true when it
 * took the request. rippd_health_set_draining makes /readyz fail from now on; so does a file
 * at the path in RIPPD_MAINTENANCE_FILE while it exists (docs/cluster.md). */
bool rippd_health_on_request(ripp_xchg *x, const ripp_request *req);
void rippd_health_set_draining(bool draining);
bool rippd_health_draining(void);
/* The store /readyz asks (ripp_store_status_get) whether it can take writes; NULL: none. */
void rippd_health_set_store(ripp_store *s);
void rippd_keys_free(rippd_keys *k);

/* Bridging (bridge.c): rippd as a B2BUA. A call arriving on a bridge trunk (leg A) is
 * placed on the next trunk (leg B) with the same target and the caller's Identity; B's
 * progress and outcome are answered on A, ends cross over with their reason, and media
 * frames are relayed as they arrive, each leg with its own sequence numbers. One client
 * engine per (trust anchors, transport) places the B legs; it is created on first use. */
typedef struct bridge bridge;
/* Starts leg B for leg A (a new call on a bridge trunk); returns the bridge, or NULL after
 * answering A with failed (the reason is logged). */
bridge *rippd_bridge_start(ripp_ep_call *a, const answer_spec *spec, ripp_ts now);
/* Leg A's hooks, from rippd_hooks. After _a_done the bridge is no longer A's to use;
 * `migrated`: A was let go after a migrate (B is then handed over, not ended). */
void rippd_bridge_a_event(bridge *br, const ripp_event *ev, bool local, ripp_ts now);
void rippd_bridge_a_frame(bridge *br, uint32_t seq, enum ripp_codec codec, const uint8_t *payload,
                          size_t len, ripp_ts now);
void rippd_bridge_a_done(bridge *br, bool migrated);
/* answer with ",token=TOKEN" and ",ca=CA" appended (each when non-NULL) into out: how
 * --bridge-token/--bridge-ca and the "bridge_token"/"bridge_ca" trunk keys reach the
 * trunk's answer string. Returns 0, or -1 with a message in err (not a bridge answer, a
 * comma in a value, too long). */
int rippd_bridge_answer(const char *answer, const char *token, const char *ca, char *out,
                        size_t cap, char *err, size_t errcap);
/* At exit, after the server engine is deleted: deletes the client engines (their calls are
 * reset without hooks) and every bridge. Idempotent. */
void rippd_bridge_free(void);

/* The next trunk's capabilities (nextcaps.c; SPEC §5.1, D13, D25): capAdv of each next
 * trunk fetched on the bridge's HTTP client and cached per trunk URL with its ETag,
 * revalidated with If-None-Match hourly (or at its max-age) and after the client opens a new
 * connection. rippd_nextcaps_gate decides whether leg A (a new call on a bridge trunk) may be
 * placed on trunk_url: RIPPD_NEXTCAPS_OK (place it now), RIPPD_NEXTCAPS_REFUSE (the next
 * trunk accepts none of the voice codecs leg A's trunk advertises: answer A failed 488 and
 * place nothing), or RIPPD_NEXTCAPS_WAIT: the first fetch is under way, *wait is set, and
 * fn(ud, ok) comes later from the loop (within 2 s; ok false: refuse as above; a fetch that
 * fails lets the call through unchecked). rippd_nextcaps_cancel(wait) before the call goes
 * away: fn is then not called (NULL is ignored). */
enum { RIPPD_NEXTCAPS_OK = 0, RIPPD_NEXTCAPS_REFUSE = 1, RIPPD_NEXTCAPS_WAIT = 2 };
typedef struct rippd_nextcaps_wait rippd_nextcaps_wait;
typedef void (*rippd_nextcaps_fn)(void *ud, bool ok);
int rippd_nextcaps_gate(ripp_http_client *http, ripp_ep_call *a, const char *trunk_url,
                        const char *token, rippd_nextcaps_fn fn, void *ud,
                        rippd_nextcaps_wait **wait, ripp_ts now);
void rippd_nextcaps_cancel(rippd_nextcaps_wait *wait);
/* At exit, before the bridge's HTTP clients are deleted: drops the cache and every wait
 * (without callbacks). */
void rippd_nextcaps_free(void);

#endif
