/* call.h - the call state machine of SPEC §3.5 for both roles (D18, D19, P2).
 *
 * Pure state: no I/O. The owner feeds it events received from the peer and asks it to
 * stamp events it wants to send; it answers whether each is legal for the role and state,
 * drops duplicates by per-direction seq, and runs the server hold timer. */
#ifndef RIPP_CALL_H
#define RIPP_CALL_H

#include "ripp/event.h"

enum ripp_role { RIPP_ROLE_CLIENT = 0, RIPP_ROLE_SERVER = 1 };

enum ripp_call_state {
    RIPP_CALL_IDLE = 0,   /* client: nothing sent yet */
    RIPP_CALL_SETUP_SENT, /* client: POST calls sent, no 2xx yet */
    RIPP_CALL_CREATED,    /* 2xx with Location seen (client) / resource created (server) */
    RIPP_CALL_ALERTING,
    RIPP_CALL_ACTIVE,
    RIPP_CALL_ENDED,
};

/* How a call ended; the CDR and the CLI's exit status are derived from it. */
enum ripp_call_outcome {
    RIPP_OUTCOME_NONE = 0,     /* not ended */
    RIPP_OUTCOME_ENDED_LOCAL,  /* answered, then this side sent end */
    RIPP_OUTCOME_ENDED_REMOTE, /* answered, then the peer sent end */
    RIPP_OUTCOME_CANCELLED,    /* the client sent end before accepted */
    RIPP_OUTCOME_REJECTED,
    RIPP_OUTCOME_FAILED, /* failed event (code in end_code), or setup error */
    RIPP_OUTCOME_NOANSWER,
    RIPP_OUTCOME_HOLD_TIMEOUT, /* server: no signaling byway for hold_timeout */
    RIPP_OUTCOME_TRANSPORT,    /* client: the call was lost (connection, retry failed) */
};

typedef struct ripp_call {
    enum ripp_role role;
    enum ripp_call_state state;
    enum ripp_call_outcome outcome;
    char uri[RIPP_URI_MAX];
    bool answered;
    int end_code; /* failed/rejected: SIP code; end: reason cause when present */
    ripp_reason end_reason;
    uint64_t next_seq_out; /* seq of the next event this side sends */
    int64_t last_seq_in;   /* last seq processed from the peer; -1 before any */
    ripp_event last_event; /* the most recent event sent or received (GET {call}) */
    uint64_t illegal_events, duplicate_events;
    /* server hold timer (P2) */
    unsigned sig_byways; /* signaling byways currently open */
    ripp_ts hold_timeout;
    ripp_ts hold_deadline; /* RIPP_TS_NEVER while a signaling byway is open */
} ripp_call;

/* Client: state IDLE. Server: state CREATED with the hold timer armed at now.
 * hold_timeout 0 takes the default RIPP_CALL_HOLD_DEFAULT (P2). uri is copied (truncated to
 * RIPP_URI_MAX - 1 bytes; NULL means ""). */
#define RIPP_CALL_HOLD_DEFAULT (5 * RIPP_NS_PER_SEC)
void ripp_call_init(ripp_call *c, enum ripp_role role, const char *uri, ripp_ts hold_timeout,
                    ripp_ts now);

/* Client only: POST sent (IDLE -> SETUP_SENT) and 2xx+Location received (-> CREATED,
 * uri replaced by the Location). A setup failure (non-2xx) ends the call as FAILED with
 * code = the sipCode of the problem or the HTTP status. */
int ripp_call_setup_sent(ripp_call *c);
int ripp_call_created(ripp_call *c, const char *location);
int ripp_call_setup_failed(ripp_call *c, int code);

/* An event from the peer. Returns 0 when it was applied (state may have changed),
 * RIPP_ERR_DUP when its seq is <= the last processed (dropped, D19), RIPP_ERR_STATE when it
 * is illegal for the sender's role or the current state (ignored and logged, D18). Events
 * without seq are applied without dedup. migrate/open-reverse/tnt do not change state.
 * An illegal event still consumes its seq. An event of unknown name (RIPP_EV_UNKNOWN)
 * consumes its seq and changes nothing; it returns 0 and is not last_event.
 * Legality: the server sends alerting, proceeding (CREATED/ALERTING), accepted, rejected,
 * failed, noanswer (CREATED/ALERTING), migrate, open-reverse (any state but ENDED); the
 * client sends tnt (ACTIVE); either sends end (any state but ENDED). Nothing is legal
 * before CREATED or after ENDED. */
int ripp_call_on_event(ripp_call *c, const ripp_event *ev, ripp_ts now);

/* An event this side wants to send. Checks legality, fills seq, direction, call and
 * timestamp_ms (= wall_ms), and applies it. Returns 0 or RIPP_ERR_STATE (nothing
 * changes). */
int ripp_call_prepare_event(ripp_call *c, ripp_event *ev, int64_t wall_ms);

/* Local, event-less endings (client transport loss). */
void ripp_call_abandon(ripp_call *c, enum ripp_call_outcome outcome);

/* Server hold timer: signaling byways opening and closing. */
void ripp_call_sig_byway_opened(ripp_call *c, ripp_ts now);
void ripp_call_sig_byway_closed(ripp_call *c, ripp_ts now);
/* Next deadline, or RIPP_TS_NEVER. */
ripp_ts ripp_call_expiry(const ripp_call *c);
/* Returns 1 when the call has just ended by the hold timer (outcome HOLD_TIMEOUT), else 0. */
int ripp_call_handle_expiry(ripp_call *c, ripp_ts now);

const char *ripp_call_state_name(enum ripp_call_state s);     /* "created", "active", ... */
const char *ripp_call_outcome_name(enum ripp_call_outcome o); /* "cancelled", ... */

#endif
