/* The call state machine of SPEC §3.5 for both roles (D18, D19, P2). */
#include <stdint.h>
#include <string.h>

#include "ripp/call.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

static const char *role_name(enum ripp_role r)
{
    return r == RIPP_ROLE_SERVER ? "server" : "client";
}

void ripp_call_init(ripp_call *c, enum ripp_role role, const char *uri, ripp_ts hold_timeout,
                    ripp_ts now)
{
    memset(c, 0, sizeof *c);
    c->role = role;
    c->state = role == RIPP_ROLE_SERVER ? RIPP_CALL_CREATED : RIPP_CALL_IDLE;
    c->outcome = RIPP_OUTCOME_NONE;
    copy_str(c->uri, sizeof c->uri, uri);
    c->last_seq_in = -1;
    c->last_event.type = RIPP_EV_UNKNOWN;
    c->hold_timeout = hold_timeout ? hold_timeout : RIPP_CALL_HOLD_DEFAULT;
    /* The server's resource exists from now on, and no signaling byway is open yet. */
    c->hold_deadline = role == RIPP_ROLE_SERVER ? now + c->hold_timeout : RIPP_TS_NEVER;
}

static void end_call(ripp_call *c, enum ripp_call_outcome outcome)
{
    c->state = RIPP_CALL_ENDED;
    c->outcome = outcome;
    c->hold_deadline = RIPP_TS_NEVER;
}

int ripp_call_setup_sent(ripp_call *c)
{
    if (c->role != RIPP_ROLE_CLIENT || c->state != RIPP_CALL_IDLE) return RIPP_ERR_STATE;
    c->state = RIPP_CALL_SETUP_SENT;
    return 0;
}

int ripp_call_created(ripp_call *c, const char *location)
{
    if (c->role != RIPP_ROLE_CLIENT || c->state != RIPP_CALL_SETUP_SENT) return RIPP_ERR_STATE;
    if (!location || !*location) return RIPP_ERR_INVAL;
    if (strnlen(location, RIPP_URI_MAX) >= RIPP_URI_MAX) return RIPP_ERR_LIMIT;
    copy_str(c->uri, sizeof c->uri, location);
    c->state = RIPP_CALL_CREATED;
    return 0;
}

int ripp_call_setup_failed(ripp_call *c, int code)
{
    if (c->role != RIPP_ROLE_CLIENT ||
        (c->state != RIPP_CALL_IDLE && c->state != RIPP_CALL_SETUP_SENT))
        return RIPP_ERR_STATE;
    c->end_code = code;
    end_call(c, RIPP_OUTCOME_FAILED);
    return 0;
}

static bool in_setup(enum ripp_call_state st)
{
    return st == RIPP_CALL_CREATED || st == RIPP_CALL_ALERTING;
}

/* Whether `sender` may send an event of this type while the call is in state st. */
static bool is_legal(enum ripp_role sender, enum ripp_event_type type, enum ripp_call_state st)
{
    if (st < RIPP_CALL_CREATED || st == RIPP_CALL_ENDED) return false;
    bool server = sender == RIPP_ROLE_SERVER;
    switch (type) {
    case RIPP_EV_ALERTING:
    case RIPP_EV_PROCEEDING:
    case RIPP_EV_ACCEPTED:
    case RIPP_EV_REJECTED:
    case RIPP_EV_FAILED:
    case RIPP_EV_NOANSWER:
        return server && in_setup(st);
    case RIPP_EV_MIGRATE:
    case RIPP_EV_OPEN_REVERSE:
        return server;
    case RIPP_EV_TNT:
        return !server && st == RIPP_CALL_ACTIVE;
    case RIPP_EV_END:
        return true;
    default:
        return false;
    }
}

/* Applies a legal event; `local` says whether this side sent it. */
static void apply(ripp_call *c, const ripp_event *ev, enum ripp_role sender, bool local)
{
    switch (ev->type) {
    case RIPP_EV_ALERTING:
        c->state = RIPP_CALL_ALERTING;
        break;
    case RIPP_EV_ACCEPTED:
        c->state = RIPP_CALL_ACTIVE;
        c->answered = true;
        break;
    case RIPP_EV_REJECTED:
        c->end_code = ev->code; /* a peer may say which decline it was (486/600/603) */
        end_call(c, RIPP_OUTCOME_REJECTED);
        break;
    case RIPP_EV_FAILED:
        c->end_code = ev->code;
        end_call(c, RIPP_OUTCOME_FAILED);
        break;
    case RIPP_EV_NOANSWER:
        end_call(c, RIPP_OUTCOME_NOANSWER);
        break;
    case RIPP_EV_END:
        c->end_reason = ev->reason;
        c->end_code = ev->reason.present ? ev->reason.cause : 0;
        if (c->answered)
            end_call(c, local ? RIPP_OUTCOME_ENDED_LOCAL : RIPP_OUTCOME_ENDED_REMOTE);
        else if (sender == RIPP_ROLE_CLIENT)
            end_call(c, RIPP_OUTCOME_CANCELLED);
        else
            end_call(c, RIPP_OUTCOME_FAILED);
        break;
    default: /* proceeding, migrate, open-reverse, tnt: no state change */
        break;
    }
    c->last_event = *ev;
}

int ripp_call_on_event(ripp_call *c, const ripp_event *ev, ripp_ts now)
{
    (void)now;
    enum ripp_role sender = c->role == RIPP_ROLE_SERVER ? RIPP_ROLE_CLIENT : RIPP_ROLE_SERVER;
    if (ev->has_seq) {
        if (c->last_seq_in >= 0 && ev->seq <= (uint64_t)c->last_seq_in) {
            c->duplicate_events++;
            return RIPP_ERR_DUP;
        }
        c->last_seq_in = ev->seq > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ev->seq;
    }
    if (ev->type == RIPP_EV_UNKNOWN) {
        ripp_log(RIPP_LOG_INFO, "call %s: ignoring unknown event \"%s\"", c->uri, ev->name);
        return 0;
    }
    if (!is_legal(sender, ev->type, c->state)) {
        c->illegal_events++;
        ripp_log(RIPP_LOG_WARN, "call %s: ignoring illegal event %s from the %s in state %s",
                 c->uri, ripp_event_type_name(ev->type), role_name(sender),
                 ripp_call_state_name(c->state));
        return RIPP_ERR_STATE;
    }
    apply(c, ev, sender, false);
    return 0;
}

int ripp_call_prepare_event(ripp_call *c, ripp_event *ev, int64_t wall_ms)
{
    if (!is_legal(c->role, ev->type, c->state)) {
        ripp_log(RIPP_LOG_WARN, "call %s: not sending event %s: illegal for the %s in state %s",
                 c->uri, ripp_event_type_name(ev->type), role_name(c->role),
                 ripp_call_state_name(c->state));
        return RIPP_ERR_STATE;
    }
    ev->has_seq = true;
    ev->seq = c->next_seq_out++;
    ev->has_direction = true;
    ev->direction = c->role == RIPP_ROLE_SERVER ? RIPP_DIR_S2C : RIPP_DIR_C2S;
    ev->timestamp_ms = wall_ms;
    copy_str(ev->call, sizeof ev->call, c->uri);
    apply(c, ev, c->role, true);
    return 0;
}

void ripp_call_abandon(ripp_call *c, enum ripp_call_outcome outcome)
{
    if (c->state != RIPP_CALL_ENDED) end_call(c, outcome);
}

void ripp_call_sig_byway_opened(ripp_call *c, ripp_ts now)
{
    (void)now;
    c->sig_byways++;
    c->hold_deadline = RIPP_TS_NEVER;
}

void ripp_call_sig_byway_closed(ripp_call *c, ripp_ts now)
{
    if (c->sig_byways > 0) c->sig_byways--;
    if (c->sig_byways == 0 && c->role == RIPP_ROLE_SERVER && c->state != RIPP_CALL_ENDED)
        c->hold_deadline = now + c->hold_timeout;
}

ripp_ts ripp_call_expiry(const ripp_call *c)
{
    if (c->role != RIPP_ROLE_SERVER || c->state == RIPP_CALL_ENDED) return RIPP_TS_NEVER;
    return c->hold_deadline;
}

int ripp_call_handle_expiry(ripp_call *c, ripp_ts now)
{
    ripp_ts due = ripp_call_expiry(c);
    if (due == RIPP_TS_NEVER || now < due) return 0;
    ripp_log(RIPP_LOG_INFO, "call %s: no signaling byway for the hold time, ending it", c->uri);
    end_call(c, RIPP_OUTCOME_HOLD_TIMEOUT);
    return 1;
}

const char *ripp_call_state_name(enum ripp_call_state s)
{
    switch (s) {
    case RIPP_CALL_IDLE:
        return "idle";
    case RIPP_CALL_SETUP_SENT:
        return "setup_sent";
    case RIPP_CALL_CREATED:
        return "created";
    case RIPP_CALL_ALERTING:
        return "alerting";
    case RIPP_CALL_ACTIVE:
        return "active";
    case RIPP_CALL_ENDED:
        return "ended";
    }
    return "unknown";
}

const char *ripp_call_outcome_name(enum ripp_call_outcome o)
{
    switch (o) {
    case RIPP_OUTCOME_NONE:
        return "none";
    case RIPP_OUTCOME_ENDED_LOCAL:
        return "ended_local";
    case RIPP_OUTCOME_ENDED_REMOTE:
        return "ended_remote";
    case RIPP_OUTCOME_CANCELLED:
        return "cancelled";
    case RIPP_OUTCOME_REJECTED:
        return "rejected";
    case RIPP_OUTCOME_FAILED:
        return "failed";
    case RIPP_OUTCOME_NOANSWER:
        return "noanswer";
    case RIPP_OUTCOME_HOLD_TIMEOUT:
        return "hold_timeout";
    case RIPP_OUTCOME_TRANSPORT:
        return "transport";
    }
    return "unknown";
}
