/* The call state machine: every transition and illegal event of both roles, dedup by seq,
 * the server hold timer in virtual time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ripp/call.h"

#define SEC RIPP_NS_PER_SEC
#define MS RIPP_NS_PER_MS
#define T0 (1000 * SEC)
#define URI "https://prov.example/call/abc"

static int warn_count;
static void count_log(void *ud, enum ripp_log_level level, const char *msg)
{
    (void)ud;
    (void)msg;
    if (level == RIPP_LOG_WARN) warn_count++;
}

static int setup(void **st)
{
    (void)st;
    warn_count = 0;
    ripp_log_set_handler(count_log, NULL, RIPP_LOG_DEBUG);
    return 0;
}

static ripp_event mk(enum ripp_event_type t)
{
    ripp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t;
    return ev;
}

/* An event from the peer with the next seq in its direction. */
static int recv_ev(ripp_call *c, enum ripp_event_type t)
{
    ripp_event ev = mk(t);
    ev.has_seq = true;
    ev.seq = (uint64_t)(c->last_seq_in + 1);
    return ripp_call_on_event(c, &ev, T0);
}

static int send_ev(ripp_call *c, enum ripp_event_type t)
{
    ripp_event ev = mk(t);
    return ripp_call_prepare_event(c, &ev, 1562600123456LL);
}

/* Brings a call of this role into state st by legal events. */
static void reach(ripp_call *c, enum ripp_role role, enum ripp_call_state st)
{
    ripp_call_init(c, role, URI, 0, T0);
    if (role == RIPP_ROLE_CLIENT) {
        ripp_call_init(c, role, "https://prov.example/trunk/t1/calls", 0, T0);
        assert_int_equal(ripp_call_setup_sent(c), 0);
        assert_int_equal(ripp_call_created(c, URI), 0);
    }
    assert_int_equal(c->state, RIPP_CALL_CREATED);
    bool server = role == RIPP_ROLE_SERVER;
    if (st == RIPP_CALL_ALERTING)
        assert_int_equal(server ? send_ev(c, RIPP_EV_ALERTING) : recv_ev(c, RIPP_EV_ALERTING), 0);
    if (st == RIPP_CALL_ACTIVE)
        assert_int_equal(server ? send_ev(c, RIPP_EV_ACCEPTED) : recv_ev(c, RIPP_EV_ACCEPTED), 0);
    if (st == RIPP_CALL_ENDED) assert_int_equal(send_ev(c, RIPP_EV_END), 0);
    assert_int_equal(c->state, st);
}

/* The expected table, written independently of the implementation: for an event type and
 * its sender, the state after it in CREATED, ALERTING, ACTIVE, ENDED ('x' = illegal). */
struct rule {
    enum ripp_event_type type;
    const char *by_server; /* C = created, A = alerting, V = active, E = ended, x = illegal */
    const char *by_client;
};
static const struct rule rules[] = {
    {RIPP_EV_ALERTING, "AAxx", "xxxx"},     {RIPP_EV_PROCEEDING, "CAxx", "xxxx"},
    {RIPP_EV_ACCEPTED, "VVxx", "xxxx"},     {RIPP_EV_REJECTED, "EExx", "xxxx"},
    {RIPP_EV_FAILED, "EExx", "xxxx"},       {RIPP_EV_NOANSWER, "EExx", "xxxx"},
    {RIPP_EV_END, "EEEx", "EEEx"},          {RIPP_EV_MIGRATE, "CAVx", "xxxx"},
    {RIPP_EV_OPEN_REVERSE, "CAVx", "xxxx"}, {RIPP_EV_TNT, "xxxx", "xxVx"},
};
static const enum ripp_call_state states[4] = {RIPP_CALL_CREATED, RIPP_CALL_ALERTING,
                                               RIPP_CALL_ACTIVE, RIPP_CALL_ENDED};

static enum ripp_call_state letter_state(char l)
{
    switch (l) {
    case 'C':
        return RIPP_CALL_CREATED;
    case 'A':
        return RIPP_CALL_ALERTING;
    case 'V':
        return RIPP_CALL_ACTIVE;
    default:
        return RIPP_CALL_ENDED;
    }
}

/* Every (holder role, sender, state, event) combination: received from the peer with
 * on_event, or sent by this side with prepare_event. */
static void test_transition_table(void **st)
{
    (void)st;
    int checked = 0;
    for (int role = 0; role < 2; role++) {
        for (int local = 0; local < 2; local++) {
            enum ripp_role sender = local ? (enum ripp_role)role : (enum ripp_role) !role;
            for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
                for (int si = 0; si < 4; si++) {
                    ripp_call c;
                    reach(&c, (enum ripp_role)role, states[si]);
                    const char *row =
                        sender == RIPP_ROLE_SERVER ? rules[r].by_server : rules[r].by_client;
                    char want = row[si];
                    int64_t seq_before = c.last_seq_in;
                    uint64_t out_before = c.next_seq_out;
                    uint64_t illegal_before = c.illegal_events;
                    int warns = warn_count;
                    int rc = local ? send_ev(&c, rules[r].type) : recv_ev(&c, rules[r].type);
                    if (want == 'x') {
                        assert_int_equal(rc, RIPP_ERR_STATE);
                        assert_int_equal(c.state, states[si]);
                        assert_int_equal(warn_count, warns + 1);
                        if (local) {
                            assert_int_equal(c.next_seq_out, out_before);
                            assert_int_equal(c.illegal_events, illegal_before);
                        } else {
                            /* processed, so its seq is consumed (D19 still applies) */
                            assert_int_equal(c.last_seq_in, seq_before + 1);
                            assert_int_equal(c.illegal_events, illegal_before + 1);
                        }
                    } else {
                        assert_int_equal(rc, 0);
                        assert_int_equal(c.state, letter_state(want));
                        assert_int_equal(c.last_event.type, rules[r].type);
                        if (local)
                            assert_int_equal(c.next_seq_out, out_before + 1);
                        else
                            assert_int_equal(c.last_seq_in, seq_before + 1);
                    }
                    checked++;
                }
            }
        }
    }
    assert_int_equal(checked, 2 * 2 * 10 * 4);
}

static void test_client_setup(void **st)
{
    (void)st;
    ripp_call c;
    ripp_call_init(&c, RIPP_ROLE_CLIENT, "https://prov.example/trunk/t1/calls", 0, T0);
    assert_int_equal(c.state, RIPP_CALL_IDLE);
    assert_int_equal(c.last_seq_in, -1);
    assert_int_equal(ripp_call_expiry(&c), RIPP_TS_NEVER);
    /* nothing is legal before the call exists */
    assert_int_equal(recv_ev(&c, RIPP_EV_ALERTING), RIPP_ERR_STATE);
    assert_int_equal(send_ev(&c, RIPP_EV_END), RIPP_ERR_STATE);
    assert_int_equal(ripp_call_created(&c, URI), RIPP_ERR_STATE);
    assert_int_equal(ripp_call_setup_sent(&c), 0);
    assert_int_equal(c.state, RIPP_CALL_SETUP_SENT);
    assert_int_equal(ripp_call_setup_sent(&c), RIPP_ERR_STATE);
    assert_int_equal(recv_ev(&c, RIPP_EV_ACCEPTED), RIPP_ERR_STATE);
    assert_int_equal(ripp_call_created(&c, NULL), RIPP_ERR_INVAL);
    assert_int_equal(ripp_call_created(&c, ""), RIPP_ERR_INVAL);
    char huge[RIPP_URI_MAX + 10];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(ripp_call_created(&c, huge), RIPP_ERR_LIMIT);
    assert_int_equal(c.state, RIPP_CALL_SETUP_SENT);
    assert_int_equal(ripp_call_created(&c, URI), 0);
    assert_int_equal(c.state, RIPP_CALL_CREATED);
    assert_string_equal(c.uri, URI);
    assert_int_equal(ripp_call_created(&c, URI), RIPP_ERR_STATE);
    assert_int_equal(ripp_call_setup_failed(&c, 500), RIPP_ERR_STATE);
    assert_int_equal(c.state, RIPP_CALL_CREATED);

    /* setup failure */
    ripp_call_init(&c, RIPP_ROLE_CLIENT, "https://prov.example/trunk/t1/calls", 0, T0);
    assert_int_equal(ripp_call_setup_sent(&c), 0);
    assert_int_equal(ripp_call_setup_failed(&c, 486), 0);
    assert_int_equal(c.state, RIPP_CALL_ENDED);
    assert_int_equal(c.outcome, RIPP_OUTCOME_FAILED);
    assert_int_equal(c.end_code, 486);

    /* the setup calls are the client's only */
    ripp_call s;
    ripp_call_init(&s, RIPP_ROLE_SERVER, URI, 0, T0);
    assert_int_equal(ripp_call_setup_sent(&s), RIPP_ERR_STATE);
    assert_int_equal(ripp_call_created(&s, URI), RIPP_ERR_STATE);
    assert_int_equal(ripp_call_setup_failed(&s, 500), RIPP_ERR_STATE);
    assert_int_equal(s.state, RIPP_CALL_CREATED);
}

static void test_outcomes(void **st)
{
    (void)st;
    ripp_call c;
    ripp_event ev;

    /* client view */
    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_ALERTING);
    assert_int_equal(recv_ev(&c, RIPP_EV_REJECTED), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_REJECTED);
    assert_int_equal(c.end_code, 0);
    assert_false(c.answered);

    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_CREATED);
    ev = mk(RIPP_EV_REJECTED);
    ev.code = 603;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_REJECTED);
    assert_int_equal(c.end_code, 603);

    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_CREATED);
    ev = mk(RIPP_EV_FAILED);
    ev.has_seq = true;
    ev.code = 503;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_FAILED);
    assert_int_equal(c.end_code, 503);

    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_ALERTING);
    assert_int_equal(recv_ev(&c, RIPP_EV_NOANSWER), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_NOANSWER);

    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_ALERTING);
    assert_int_equal(send_ev(&c, RIPP_EV_END), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_CANCELLED);

    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_ACTIVE);
    assert_true(c.answered);
    assert_int_equal(send_ev(&c, RIPP_EV_END), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_ENDED_LOCAL);

    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_ACTIVE);
    ev = mk(RIPP_EV_END);
    ev.reason.present = true;
    strcpy(ev.reason.protocol, "Q.850");
    ev.reason.cause = 16;
    strcpy(ev.reason.text, "Normal call clearing");
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_ENDED_REMOTE);
    assert_int_equal(c.end_code, 16);
    assert_string_equal(c.end_reason.text, "Normal call clearing");

    /* the server ends an unanswered call: a failure, with the cause as its code */
    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_ALERTING);
    ev = mk(RIPP_EV_END);
    ev.reason.present = true;
    ev.reason.cause = 480;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_FAILED);
    assert_int_equal(c.end_code, 480);

    /* server view */
    reach(&c, RIPP_ROLE_SERVER, RIPP_CALL_CREATED);
    assert_int_equal(recv_ev(&c, RIPP_EV_END), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_CANCELLED);

    reach(&c, RIPP_ROLE_SERVER, RIPP_CALL_ACTIVE);
    assert_int_equal(recv_ev(&c, RIPP_EV_END), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_ENDED_REMOTE);

    reach(&c, RIPP_ROLE_SERVER, RIPP_CALL_ACTIVE);
    assert_int_equal(send_ev(&c, RIPP_EV_END), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_ENDED_LOCAL);

    reach(&c, RIPP_ROLE_SERVER, RIPP_CALL_ALERTING);
    assert_int_equal(send_ev(&c, RIPP_EV_END), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_FAILED);
    assert_int_equal(c.end_code, 0);

    reach(&c, RIPP_ROLE_SERVER, RIPP_CALL_CREATED);
    ev = mk(RIPP_EV_FAILED);
    ev.code = 404;
    strcpy(ev.reason_phrase, "Not Found");
    assert_int_equal(ripp_call_prepare_event(&c, &ev, 5), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_FAILED);
    assert_int_equal(c.end_code, 404);
    assert_int_equal(c.last_event.code, 404);

    /* the outcome never changes once ended */
    assert_int_equal(recv_ev(&c, RIPP_EV_END), RIPP_ERR_STATE);
    ripp_call_abandon(&c, RIPP_OUTCOME_TRANSPORT);
    assert_int_equal(c.outcome, RIPP_OUTCOME_FAILED);

    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_ACTIVE);
    ripp_call_abandon(&c, RIPP_OUTCOME_TRANSPORT);
    assert_int_equal(c.state, RIPP_CALL_ENDED);
    assert_int_equal(c.outcome, RIPP_OUTCOME_TRANSPORT);
}

static void test_prepare_fills(void **st)
{
    (void)st;
    ripp_call c;
    reach(&c, RIPP_ROLE_SERVER, RIPP_CALL_CREATED);
    ripp_event ev = mk(RIPP_EV_ALERTING);
    assert_int_equal(ripp_call_prepare_event(&c, &ev, 1562600123456LL), 0);
    assert_true(ev.has_seq);
    assert_int_equal(ev.seq, 0);
    assert_true(ev.has_direction);
    assert_int_equal(ev.direction, RIPP_DIR_S2C);
    assert_int_equal(ev.timestamp_ms, 1562600123456LL);
    assert_string_equal(ev.call, URI);
    /* illegal: nothing consumed */
    ev = mk(RIPP_EV_TNT);
    assert_int_equal(ripp_call_prepare_event(&c, &ev, 1), RIPP_ERR_STATE);
    assert_false(ev.has_seq);
    ev = mk(RIPP_EV_UNKNOWN);
    assert_int_equal(ripp_call_prepare_event(&c, &ev, 1), RIPP_ERR_STATE);
    ev = mk(RIPP_EV_OPEN_REVERSE);
    ev.count = 3;
    assert_int_equal(ripp_call_prepare_event(&c, &ev, 1562600123999LL), 0);
    assert_int_equal(ev.seq, 1);
    assert_int_equal(c.last_event.type, RIPP_EV_OPEN_REVERSE);
    assert_int_equal(c.last_event.count, 3);
    assert_int_equal(c.last_event.timestamp_ms, 1562600123999LL);
    assert_int_equal(c.state, RIPP_CALL_ALERTING);

    ripp_call k;
    reach(&k, RIPP_ROLE_CLIENT, RIPP_CALL_ACTIVE);
    ev = mk(RIPP_EV_TNT);
    strcpy(ev.tnt_destination, "+14085551212");
    assert_int_equal(ripp_call_prepare_event(&k, &ev, 7), 0);
    assert_int_equal(ev.seq, 0);
    assert_int_equal(ev.direction, RIPP_DIR_C2S);
    assert_string_equal(ev.call, URI);
    assert_string_equal(k.last_event.tnt_destination, "+14085551212");
    assert_int_equal(k.next_seq_out, 1);
}

static void test_dedup(void **st)
{
    (void)st;
    ripp_call c;
    reach(&c, RIPP_ROLE_CLIENT, RIPP_CALL_CREATED);
    ripp_event ev = mk(RIPP_EV_ALERTING);
    ev.has_seq = true;
    ev.seq = 0;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.last_seq_in, 0);
    /* a replay of seq 0, even of another type, is dropped */
    ev = mk(RIPP_EV_ACCEPTED);
    ev.has_seq = true;
    ev.seq = 0;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), RIPP_ERR_DUP);
    assert_int_equal(c.state, RIPP_CALL_ALERTING);
    assert_int_equal(c.duplicate_events, 1);
    /* gaps are fine */
    ev.seq = 5;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.state, RIPP_CALL_ACTIVE);
    assert_int_equal(c.last_seq_in, 5);
    ev = mk(RIPP_EV_END);
    ev.has_seq = true;
    ev.seq = 3;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), RIPP_ERR_DUP);
    ev.seq = 5;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), RIPP_ERR_DUP);
    assert_int_equal(c.duplicate_events, 3);
    assert_int_equal(c.state, RIPP_CALL_ACTIVE);
    assert_int_equal(c.last_event.type, RIPP_EV_ACCEPTED);
    /* an illegal event consumes its seq: its replay is a duplicate */
    ev = mk(RIPP_EV_ALERTING);
    ev.has_seq = true;
    ev.seq = 6;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), RIPP_ERR_STATE);
    assert_int_equal(c.last_seq_in, 6);
    assert_int_equal(c.illegal_events, 1);
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), RIPP_ERR_DUP);
    assert_int_equal(c.last_event.type, RIPP_EV_ACCEPTED);
    /* an unknown event consumes its seq and changes nothing */
    ev = mk(RIPP_EV_UNKNOWN);
    strcpy(ev.name, "keepalive");
    ev.has_seq = true;
    ev.seq = 7;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.last_seq_in, 7);
    assert_int_equal(c.illegal_events, 1);
    assert_int_equal(c.last_event.type, RIPP_EV_ACCEPTED);
    /* events without seq are applied without dedup */
    ev = mk(RIPP_EV_MIGRATE);
    strcpy(ev.uri, "https://other.example/call/abc");
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.last_seq_in, 7);
    assert_int_equal(c.last_event.type, RIPP_EV_MIGRATE);
    assert_int_equal(c.state, RIPP_CALL_ACTIVE);
    /* the dedup is per direction: our own seq is separate */
    assert_int_equal(c.next_seq_out, 0);
    /* seq above INT64_MAX does not wrap the counter */
    ev = mk(RIPP_EV_OPEN_REVERSE);
    ev.has_seq = true;
    ev.seq = UINT64_MAX;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), 0);
    assert_int_equal(c.last_seq_in, INT64_MAX);
    ev.seq = 100;
    assert_int_equal(ripp_call_on_event(&c, &ev, T0), RIPP_ERR_DUP);
}

static void test_hold_timer(void **st)
{
    (void)st;
    ripp_call c;
    ripp_call_init(&c, RIPP_ROLE_SERVER, URI, 0, T0);
    assert_int_equal(c.hold_timeout, 5 * SEC);
    assert_int_equal(ripp_call_expiry(&c), T0 + 5 * SEC);
    assert_int_equal(ripp_call_handle_expiry(&c, T0 + 5 * SEC - 1), 0);
    assert_int_equal(c.state, RIPP_CALL_CREATED);

    /* opening a signaling byway disarms; the timer restarts only when all are closed */
    ripp_call_sig_byway_opened(&c, T0 + 1 * SEC);
    ripp_call_sig_byway_opened(&c, T0 + 1 * SEC);
    assert_int_equal(ripp_call_expiry(&c), RIPP_TS_NEVER);
    assert_int_equal(ripp_call_handle_expiry(&c, T0 + 100 * SEC), 0);
    ripp_call_sig_byway_closed(&c, T0 + 101 * SEC);
    assert_int_equal(ripp_call_expiry(&c), RIPP_TS_NEVER);
    ripp_call_sig_byway_closed(&c, T0 + 102 * SEC);
    assert_int_equal(ripp_call_expiry(&c), T0 + 107 * SEC);
    /* reopened in time: disarmed again */
    ripp_call_sig_byway_opened(&c, T0 + 106 * SEC);
    assert_int_equal(ripp_call_handle_expiry(&c, T0 + 107 * SEC), 0);
    assert_int_equal(c.state, RIPP_CALL_CREATED);
    ripp_call_sig_byway_closed(&c, T0 + 110 * SEC);
    /* a spurious extra close is harmless */
    ripp_call_sig_byway_closed(&c, T0 + 110 * SEC);
    assert_int_equal(c.sig_byways, 0);
    assert_int_equal(ripp_call_expiry(&c), T0 + 115 * SEC);
    assert_int_equal(ripp_call_handle_expiry(&c, T0 + 115 * SEC - 1), 0);
    assert_int_equal(ripp_call_handle_expiry(&c, T0 + 115 * SEC), 1);
    assert_int_equal(c.state, RIPP_CALL_ENDED);
    assert_int_equal(c.outcome, RIPP_OUTCOME_HOLD_TIMEOUT);
    assert_int_equal(ripp_call_expiry(&c), RIPP_TS_NEVER);
    assert_int_equal(ripp_call_handle_expiry(&c, T0 + 200 * SEC), 0);
    ripp_call_sig_byway_opened(&c, T0 + 201 * SEC);
    ripp_call_sig_byway_closed(&c, T0 + 202 * SEC);
    assert_int_equal(ripp_call_expiry(&c), RIPP_TS_NEVER);

    /* configured timeout (strict -03: 1 s), and expiry in ACTIVE */
    ripp_call_init(&c, RIPP_ROLE_SERVER, URI, 1 * SEC, T0);
    assert_int_equal(send_ev(&c, RIPP_EV_ACCEPTED), 0);
    assert_int_equal(ripp_call_handle_expiry(&c, T0 + 1 * SEC), 1);
    assert_int_equal(c.outcome, RIPP_OUTCOME_HOLD_TIMEOUT);

    /* a call ended by an event has no timer */
    ripp_call_init(&c, RIPP_ROLE_SERVER, URI, 1 * SEC, T0);
    assert_int_equal(recv_ev(&c, RIPP_EV_END), 0);
    assert_int_equal(ripp_call_expiry(&c), RIPP_TS_NEVER);
    assert_int_equal(ripp_call_handle_expiry(&c, T0 + 10 * SEC), 0);
    assert_int_equal(c.outcome, RIPP_OUTCOME_CANCELLED);

    /* the client never has a hold timer */
    ripp_call k;
    reach(&k, RIPP_ROLE_CLIENT, RIPP_CALL_ACTIVE);
    ripp_call_sig_byway_opened(&k, T0);
    ripp_call_sig_byway_closed(&k, T0);
    assert_int_equal(ripp_call_expiry(&k), RIPP_TS_NEVER);
    assert_int_equal(ripp_call_handle_expiry(&k, T0 + 1000 * SEC), 0);
    assert_int_equal(k.state, RIPP_CALL_ACTIVE);
}

static void test_init_uri(void **st)
{
    (void)st;
    ripp_call c;
    ripp_call_init(&c, RIPP_ROLE_SERVER, NULL, 0, 0);
    assert_string_equal(c.uri, "");
    static char huge[RIPP_URI_MAX * 2];
    memset(huge, 'u', sizeof huge - 1);
    ripp_call_init(&c, RIPP_ROLE_SERVER, huge, 0, 0);
    assert_int_equal(strlen(c.uri), RIPP_URI_MAX - 1);
}

static void test_names(void **st)
{
    (void)st;
    assert_string_equal(ripp_call_state_name(RIPP_CALL_IDLE), "idle");
    assert_string_equal(ripp_call_state_name(RIPP_CALL_SETUP_SENT), "setup_sent");
    assert_string_equal(ripp_call_state_name(RIPP_CALL_CREATED), "created");
    assert_string_equal(ripp_call_state_name(RIPP_CALL_ALERTING), "alerting");
    assert_string_equal(ripp_call_state_name(RIPP_CALL_ACTIVE), "active");
    assert_string_equal(ripp_call_state_name(RIPP_CALL_ENDED), "ended");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_NONE), "none");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_ENDED_LOCAL), "ended_local");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_ENDED_REMOTE), "ended_remote");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_CANCELLED), "cancelled");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_REJECTED), "rejected");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_FAILED), "failed");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_NOANSWER), "noanswer");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_HOLD_TIMEOUT), "hold_timeout");
    assert_string_equal(ripp_call_outcome_name(RIPP_OUTCOME_TRANSPORT), "transport");
    assert_string_equal(ripp_call_outcome_name((enum ripp_call_outcome)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_transition_table, setup),
        cmocka_unit_test_setup(test_client_setup, setup),
        cmocka_unit_test_setup(test_outcomes, setup),
        cmocka_unit_test_setup(test_prepare_fills, setup),
        cmocka_unit_test_setup(test_dedup, setup),
        cmocka_unit_test_setup(test_hold_timer, setup),
        cmocka_unit_test_setup(test_init_uri, setup),
        cmocka_unit_test_setup(test_names, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
