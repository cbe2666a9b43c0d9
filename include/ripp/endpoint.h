/* endpoint.h - the RIPP call engine for both roles, over the abstract HTTP exchange.
 *
 * A ripp_ep holds many calls. As a server it answers the RIPP resources (SPEC §2.3) for
 * the trunks in its store; as a client it places calls on a trunk. Either way it runs, per
 * call, the state machine (call.h), the signaling byways (event.h), the media byways with
 * their scheduler and acks (sched.h, frame.h) and the receive jitter buffer (jbuf.h), and
 * hands media and events to the application through hooks. It is sans-IO: requests come
 * in through ripp_ep_on_request, outgoing requests go through a ripp_http_client, time is
 * a parameter, and the owner arms one timer from ripp_ep_expiry.
 *
 * Media runs on one clock per endpoint: every frame_ms each call that is sending asks the
 * application for its next frame, and each call's jitter buffer plays out what is due. The
 * calls are spread over four slots of the interval (a few wakeups per interval for any
 * number of calls, without sending every call's frame in one burst). */
#ifndef RIPP_ENDPOINT_H
#define RIPP_ENDPOINT_H

#include "ripp/call.h"
#include "ripp/caps.h"
#include "ripp/jbuf.h"
#include "ripp/passport.h"
#include "ripp/sched.h"
#include "ripp/store.h"
#include "ripp/xchg.h"

typedef struct ripp_ep ripp_ep;
typedef struct ripp_ep_call ripp_ep_call;

/* The verdict on the Identity of a call creation (SPEC §6.4). */
typedef struct ripp_identity_verdict {
    int code;         /* 0: the call may be created; else the SIP-equivalent code (428, 436,
                         437, 438): the creation is refused with 403 carrying it as sipCode */
    char reason[256]; /* why (problem detail and log); never secrets */
    char orig_tn[64]; /* the calling number, for the call record and the CDR */
    char verstat[64]; /* what the CDR records of the verification, e.g. "verified A" */
} ripp_identity_verdict;

typedef struct ripp_ep_hooks {
    /* Server: a call was created on trunk t (already answered 201). The application
     * decides what happens: ripp_ep_call_send() alerting/accepted/rejected/..., at once or
     * later from on_tick. */
    void (*on_call_new)(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t);
    /* Every event applied to the call, received from the peer (local=false) or sent by
     * this side (local=true). */
    void (*on_event)(void *ud, ripp_ep_call *c, const ripp_event *ev, bool local);
    /* Once per media interval while the call is active: write the next frame's payload
     * into buf, set *codec, return its length; return 0 to send nothing this interval. */
    int64_t (*next_frame)(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                          size_t cap);
    /* One playout slot of received media (present or missing). */
    void (*on_playout)(void *ud, ripp_ep_call *c, const ripp_jbuf_out *out);
    /* Once per media interval for every call, before media (ringing timers etc.). */
    void (*on_tick)(void *ud, ripp_ep_call *c, ripp_ts now);
    /* The call is over and all its exchanges are closed or being closed; stats are final.
     * Server: the CDR has been written (the application's extras, from
     * ripp_ep_call_cdr(), included). The call object stays valid during this call only. */
    void (*on_done)(void *ud, ripp_ep_call *c);
    /* Server: hex SHA-256 of a bearer token (out: 64 chars + NUL). */
    int (*token_hash)(void *ud, const char *token, char out[65]);
    /* Server: ES256 verification of a PASSporT signature for trunk t. */
    int (*verify_sig)(void *ud, const ripp_trunk_rec *t, const uint8_t *data, size_t len,
                      const uint8_t *sig, size_t siglen);
    /* Optional: every media frame received, as it arrives (before the jitter buffer, so
     * without its playout delay), for relaying it to another call. seq is in the peer's
     * sequence space of this call; duplicates and frames arriving out of order are passed
     * too (seq tells them apart). payload is valid during the call only. */
    void (*on_frame)(void *ud, ripp_ep_call *c, uint32_t seq, enum ripp_codec codec,
                     const uint8_t *payload, size_t len, ripp_ts now);
    /* Server, optional: decide on a call creation's Identity value (NULL when the request
     * has none) for trunk t and target (user@domain). Return 0 with *v filled when decided
     * at once, or RIPP_ERR_AGAIN when the verdict comes later through
     * ripp_ep_identity_done(ep, ticket, ...); if the request goes away first, identity_cancel
     * is called with the ticket instead (not when the engine is deleted). RIPP_ERR_NOTFOUND:
     * this trunk is not the hook's, the engine checks the trunk's key itself. Any other
     * return refuses the call with 500. Without this hook the engine verifies the PASSporT against
     * the trunk's key with verify_sig. Not called when require_identity is false. */
    int (*identity_check)(void *ud, const ripp_trunk_rec *t, const char *identity,
                          const char *target, uint64_t ticket, ripp_identity_verdict *v);
    void (*identity_cancel)(void *ud, uint64_t ticket);
    /* Server, optional: admission of a call creation on trunk t (after authentication,
     * before the identity check), e.g. a calls-per-second limit. Return 0 to admit, or
     * RIPP_ERR_LIMIT with *retry_after_s set: the creation is refused with 429 and
     * Retry-After. */
    int (*admit_call)(void *ud, const ripp_trunk_rec *t, ripp_ts now, uint32_t *retry_after_s);
    /* Server, optional: a request came for a call this engine did not have, and the call was
     * rebuilt from its store record (P5: another instance created it, then drained or died).
     * The state, event seqs, media high-water marks, cookies and token hash are restored;
     * ripp_ep_call_record() gives the record (next_hop, target). The application re-attaches
     * its per-call state here (ripp_ep_call_set_user). Without the hook the call goes on
     * without any (no media of its own). */
    void (*on_call_resumed)(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t);
} ripp_ep_hooks;

typedef struct ripp_ep_config {
    enum ripp_role role;
    const ripp_env *env; /* wall clock and randomness */
    uint32_t frame_ms;   /* media interval, default 20 */
    /* server */
    ripp_store *store;
    const char *public_authority; /* host[:port] of call URIs; NULL: the request's */
    ripp_ts hold_timeout;         /* P2, default 5 s */
    ripp_ts linger;               /* an ended call answers 404 to byways and GET for this
                                     long before it is forgotten (CDR stays); default 30 s */
    const char *set_cookie;       /* optional Set-Cookie value sent with every 201
                                   * and every signaling GET's 200 */
    bool require_identity;        /* default true */
    /* A bearer token the store validated is trusted for this long without asking it again
     * (a call setup makes about 14 requests with one token); default 1 s. A token revoked
     * or expired is refused that much late at most, unless ripp_ep_forget_tokens is called
     * (rippd's OAuth provider does, for its own revocations). */
    ripp_ts token_cache;
    bool no_token_cache; /* ask the store on every request */
    /* ripp_ep_drain spreads the migrate events evenly over this time (in steps of 10 ms,
     * at least one call a step), so that the instances, the balancer and the clients take
     * the moves over time, not all in one instant; the old instance keeps the media
     * meanwhile. Default 1 s. */
    ripp_ts drain_spread;
    /* client */
    ripp_http_client *http;
    uint32_t reverse_byways; /* opened at once per call, default 10 (>= 10, <= 20) */
    ripp_ts close_grace;     /* after end, exchanges still open are reset; default 3 s */
    /* client failure detection and recovery (P3, SPEC §7.3, docs/failover.md) */
    ripp_ts ack_timeout;    /* no ack for this long while frames are outstanding; 300 ms */
    ripp_ts media_timeout;  /* no frame from the peer this long after the first (D31); 1 s */
    ripp_ts recover_window; /* reconnect attempts stop this long after the failure; 5 s
                               (the server's hold time, P2); then the call ends (transport) */
    bool no_recovery;       /* a failure ends the call at once (the -03 rule is one retry) */
} ripp_ep_config;

ripp_ep *ripp_ep_new(const ripp_ep_config *cfg, const ripp_ep_hooks *hooks, void *ud, int *err);
/* Server: forgets every token validated so far (after a revocation or a trunk deletion). */
void ripp_ep_forget_tokens(ripp_ep *ep);
/* Resets every exchange still open and frees all calls (no hooks are called). */
void ripp_ep_del(ripp_ep *ep);

/* Server: the verdict of an identity_check that returned RIPP_ERR_AGAIN. An unknown ticket
 * (cancelled, already decided) is ignored. */
void ripp_ep_identity_done(ripp_ep *ep, uint64_t ticket, const ripp_identity_verdict *v,
                           ripp_ts now);

/* Server: one incoming request (from the binding's on_request). */
void ripp_ep_on_request(ripp_ep *ep, ripp_xchg *x, const ripp_request *req, ripp_ts now);

/* The next time ripp_ep_handle_expiry must run; RIPP_TS_NEVER when idle. */
ripp_ts ripp_ep_expiry(const ripp_ep *ep);
void ripp_ep_handle_expiry(ripp_ep *ep, ripp_ts now);

/* Server: graceful migration of every live call (SPEC §7.2, P6): each gets `migrate`, with
 * migrateToURI = https://<migrate_to_authority><call path> when the authority is given,
 * else without a URI (the client comes back to the same URI without cookies and the load
 * balancer picks an instance), spread over cfg.drain_spread (the first step now, the rest
 * from ripp_ep_handle_expiry). Before sending it the engine writes the call record, so that
 * the instance the client reaches takes the call over from the store; the media goes on
 * until the client has switched (make-before-break, docs/failover.md). From now on call
 * creations are refused (503, Retry-After) and calls this instance does not hold are not
 * taken over. A migrated call is released (on_done, with ripp_ep_call_migrated() true; no
 * CDR, no further store writes) once the client has left its byways, at the latest
 * hold_timeout later. Returns how many calls are to be sent migrate. */
int ripp_ep_drain(ripp_ep *ep, const char *migrate_to_authority, ripp_ts now);
bool ripp_ep_draining(const ripp_ep *ep);
/* Server: the call was handed to another instance (migrate sent). */
bool ripp_ep_call_migrated(const ripp_ep_call *c);
/* Server: the call record as last written (the resumed one, after a takeover). */
const ripp_call_rec *ripp_ep_call_record(const ripp_ep_call *c);

/* Client: what the failover machinery did for a call. */
typedef struct ripp_ep_failover {
    unsigned recoveries;   /* failures detected (reset, end of a byway, no ack, no media) */
    unsigned migrations;   /* migrate events followed */
    unsigned attempts;     /* reconnect attempts (signaling GETs) in all */
    uint64_t frames;       /* distinct media frames produced (sequence numbers used) */
    uint64_t resent;       /* frames sent again on new byways (unacknowledged at the failure) */
    uint64_t buffered_max; /* most frames waiting in the failover buffer at once */
    uint64_t dropped;      /* frames that fell out of the 5 s buffer unsent */
    ripp_ts last_gap;      /* failure (or migrate) to signaling re-established, last time */
    ripp_ts max_gap;
} ripp_ep_failover;
void ripp_ep_call_failover(const ripp_ep_call *c, ripp_ep_failover *out);

/* Server: ends every live call of a trunk with `end` (Q.850 cause 16, "trunk deleted": D12,
 * DELETE {trunk}). Returns how many. */
size_t ripp_ep_end_trunk_calls(ripp_ep *ep, const char *trunk_id, ripp_ts now);
/* Ends every live call with `end` (reason Q.850 cause 16 text "shutdown"). */
void ripp_ep_shutdown(ripp_ep *ep, ripp_ts now);
size_t ripp_ep_call_count(const ripp_ep *ep); /* calls not yet forgotten */
size_t ripp_ep_live_count(const ripp_ep *ep); /* calls not ENDED */
/* calls whose on_done has not run yet */
size_t ripp_ep_undone_count(const ripp_ep *ep);

/* Client: place a call. */
typedef struct ripp_place_opts {
    const char *trunk_url; /* https://host[:port]/trunks/ID */
    const char *token;     /* bearer token */
    const char *target;    /* user@domain, e.g. 14085551212@e164.arpa */
    const char *identity;  /* the Identity header value (a signed PASSporT) */
} ripp_place_opts;
ripp_ep_call *ripp_ep_call_place(ripp_ep *ep, const ripp_place_opts *o, ripp_ts now, int *err);

/* Client: take over a call that another client (another process, a crashed instance)
 * placed, without placing it again (SPEC §7.3: client migration; B2BUA chains reattach to
 * the downstream call they stored). The call is rebuilt in `state` and reconnects at once
 * as after a failure (P3): the signaling GET to call_uri with the token and the cookies
 * given, then, on its 200, the PUT and the media byways; retries with back-off until
 * recover_window (also with no_recovery), a 404 or 401/403 ends the call (transport).
 * Events this side sends take seqs from next_seq_out on; events the server replays up to
 * last_seq_in are dropped as processed (D19); frames take numbers from media_seq on, which
 * must lie past every number the old client can have used (the receiver follows the
 * jump). Frames submitted before the 200 wait in the failover buffer. Returns the call, or
 * NULL with *err: RIPP_ERR_INVAL (not a client engine, call_uri not https://host/.../ID,
 * no token, state not CREATED..ACTIVE), RIPP_ERR_STATE (this engine holds a call of that
 * id), RIPP_ERR_NOMEM. The strings are copied. */
typedef struct ripp_adopt_opts {
    const char *call_uri; /* absolute URI of the existing call */
    const char *token;    /* bearer token of its trunk */
    const char *cookies;  /* Cookie header value to send, or NULL */
    const char *target;   /* user@domain, for the application (optional) */
    enum ripp_call_state state;
    int64_t last_seq_in;   /* last event seq processed from the server; -1 none */
    uint64_t next_seq_out; /* seq of the next event this side sends */
    uint64_t media_seq;    /* seq of the next media frame */
} ripp_adopt_opts;
ripp_ep_call *ripp_ep_call_adopt(ripp_ep *ep, const ripp_adopt_opts *o, ripp_ts now, int *err);
/* Client: hand the call over to another client that adopts it (ripp_ep_call_adopt): it
 * ends here without an event (the server's call goes on, held for the other client), every
 * exchange is reset, and on_done follows with the outcome `transport`. A call not created
 * yet (no 201) cannot be handed over: it is ended as ripp_ep_call_end would. No-op on an
 * ended call or a server call. */
void ripp_ep_call_release(ripp_ep_call *c, ripp_ts now);
/* Client: stop receiving media. The reverse byways are ended and none is opened again; the
 * call's frames still go out, and no media from the server is no failure (D31). For a call
 * about to be handed over: another client that adopts it receives the server's frames
 * meanwhile (a server sends on whichever reverse byway is free), while this one still
 * sends what it has. No-op on an ended call or a server call. */
void ripp_ep_call_send_only(ripp_ep_call *c);
/* Client: the seq the next media frame takes, and the Cookie header value the call sends
 * ("" none): what an application keeps for a later ripp_ep_call_adopt. */
uint64_t ripp_ep_call_next_media_seq(const ripp_ep_call *c);
const char *ripp_ep_call_cookies(const ripp_ep_call *c);

/* Send an event on the call (server: alerting, accepted, rejected, failed, noanswer, end,
 * open-reverse, migrate; client: end, tnt). seq, direction, call and timestamp are filled.
 * Returns 0 or RIPP_ERR_STATE. Ending events start the closing of the call's byways. */
int ripp_ep_call_send(ripp_ep_call *c, ripp_event *ev, ripp_ts now);
/* Convenience: end with a reason. When reason is NULL: Q.850 cause 16 "normal clearing",
 * or SIP 487 "Request Terminated" when a client cancels an unanswered call. A client call
 * whose POST is not answered yet cannot carry an event: the end is kept and sent as soon as
 * the 201 arrives (the call is then cancelled); if no answer comes within close_grace, the
 * POST is reset and the call ends locally as cancelled. Returns 0 in both cases. */
int ripp_ep_call_end(ripp_ep_call *c, const ripp_reason *reason, ripp_ts now);

/* Send one media frame now, outside the media clock (a frame relayed from another call).
 * It takes the call's next sequence number after `skip` numbers are left unused (frames the
 * source lost or that arrived too late to relay, so that the receiver sees the gap and
 * conceals it). Returns 0, RIPP_ERR_STATE (client before the 201, or the call has ended),
 * RIPP_ERR_INVAL (len 0 or over 1500), or RIPP_ERR_LIMIT (sequence space exhausted). */
int ripp_ep_call_send_frame(ripp_ep_call *c, enum ripp_codec codec, const uint8_t *payload,
                            size_t len, uint32_t skip, ripp_ts now);

void ripp_ep_call_set_user(ripp_ep_call *c, void *user);
void *ripp_ep_call_user(const ripp_ep_call *c);
const ripp_call *ripp_ep_call_fsm(const ripp_ep_call *c);
const ripp_stats *ripp_ep_call_stats(const ripp_ep_call *c);
const char *ripp_ep_call_id(const ripp_ep_call *c);  /* the UUID */
const char *ripp_ep_call_uri(const ripp_ep_call *c); /* absolute call URI ("" before 201) */
/* The codec the peer last sent voice in (RIPP_CODEC_NONE before any). */
enum ripp_codec ripp_ep_call_rx_codec(const ripp_ep_call *c);
/* The caps the peer advertised (server: defaults; client: the trunk's if set). */
void ripp_ep_call_set_peer_caps(ripp_ep_call *c, const ripp_caps *caps);
const ripp_caps *ripp_ep_call_peer_caps(const ripp_ep_call *c);
/* Server: the CDR the engine will write at the end; the application may fill dtmf and
 * recording. */
ripp_cdr *ripp_ep_call_cdr(ripp_ep_call *c);
/* The target (user@domain) the call was placed to; the calling number of its verified
 * PASSporT (server; "" when identity is not required); the Identity header value as
 * received (server) or sent (client), "" when none. Valid while the call object lives. */
const char *ripp_ep_call_target(const ripp_ep_call *c);
const char *ripp_ep_call_orig_tn(const ripp_ep_call *c);
const char *ripp_ep_call_identity(const ripp_ep_call *c);
/* Server: the call URI of the downstream call this one was forwarded to (a bridge); kept
 * in the call record (next_hop) and written to the store at once. uri is copied. */
void ripp_ep_call_set_next_hop(ripp_ep_call *c, const char *uri, ripp_ts now);
/* The engine a call belongs to, and the store an engine was configured with (NULL for a
 * client without one). */
ripp_ep *ripp_ep_call_ep(const ripp_ep_call *c);
ripp_store *ripp_ep_store(const ripp_ep *ep);
/* Setup failure details (client): HTTP status and problem, when the POST was refused. */
int ripp_ep_call_setup_status(const ripp_ep_call *c, char *detail, size_t cap);
/* Counters for tests and metrics. */
typedef struct ripp_ep_counters {
    uint64_t requests, problems, calls_created, calls_ended;
    uint64_t byways_fwd, byways_rev, byways_sig;
    uint64_t calls_resumed;   /* server: calls taken over from the store */
    uint64_t token_cache_hits; /* server: requests whose token was not looked up again */
    uint64_t calls_migrated;  /* server: calls sent migrate (drain) */
    uint64_t recoveries;      /* client: failures detected and recovered from or given up */
    uint64_t reconnects;      /* client: signaling re-established after a failure/migrate */
    uint64_t recovery_failed; /* client: calls lost after the recover window */
} ripp_ep_counters;
const ripp_ep_counters *ripp_ep_counters_get(const ripp_ep *ep);

#endif
