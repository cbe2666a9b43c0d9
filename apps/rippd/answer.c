/* What rippd's trunks do with calls: answer modes, media, DTMF into the CDR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/sip.h"
#include "rippd.h"

struct rippd_keys {
    rippd_keys *next;
    char trunk[64];
    char path[1024];
    ripp_es256_key *key;
};

typedef struct app_call {
    answer_spec spec;
    ripp_callmedia *media;
    ripp_ts answer_at, noanswer_at, hangup_at;
    size_t digits_seen;
    bridge *br; /* bridge trunks: the B leg (media then only collects DTMF for the CDR) */
} app_call;

/* bridge:URL,token=T[,ca=FILE][,transport=T]; messages never show the token. */
static int bridge_parse(const char *s, answer_spec *out, char *err, size_t errcap)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s", s + 7);
    out->mode = ANSWER_BRIDGE;
    snprintf(out->transport, sizeof out->transport, "h2");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (tok == buf && (strcmp(tok, "consumer") == 0 || strncmp(tok, "consumer=", 9) == 0)) {
            /* the consumer trunk registered for a provider trunk (PUT consumerTrunk): this
             * call's own trunk, or the one named */
            snprintf(out->arg, sizeof out->arg, "%.*s", (int)(sizeof out->arg - 1), tok);
        } else if (tok == buf) {
            if (strncmp(tok, "https://", 8) != 0 || !strstr(tok + 8, "/trunks/")) {
                snprintf(err, errcap, "bridge:URL needs https://host[:port]/trunks/ID");
                return -1;
            }
            if (strlen(tok) >= sizeof out->arg) {
                snprintf(err, errcap, "bridge: the URL is too long");
                return -1;
            }
            snprintf(out->arg, sizeof out->arg, "%.*s", (int)(sizeof out->arg - 1), tok);
        } else if (strncmp(tok, "token=", 6) == 0 && tok[6]) {
            if (strlen(tok + 6) >= sizeof out->token) {
                snprintf(err, errcap, "bridge: the token is too long");
                return -1;
            }
            snprintf(out->token, sizeof out->token, "%s", tok + 6);
        } else if (strncmp(tok, "ca=", 3) == 0 && tok[3]) {
            snprintf(out->ca, sizeof out->ca, "%s", tok + 3);
        } else if (strcmp(tok, "transport=h2") == 0 || strcmp(tok, "transport=h3") == 0 ||
                   strcmp(tok, "transport=auto") == 0) {
            snprintf(out->transport, sizeof out->transport, "%s", tok + 10);
        } else {
            snprintf(err, errcap, "bridge: unknown option (token=, ca=, transport=h2|h3|auto)");
            return -1;
        }
    }
    bool consumer = strncmp(out->arg, "consumer", 8) == 0;
    if (!out->arg[0] || (!out->token[0] && !consumer)) {
        snprintf(err, errcap, "bridge:URL needs token=TOKEN (--bridge-token)");
        return -1;
    }
    return 0;
}

int answer_parse(const char *s, answer_spec *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    char buf[600];
    if (strlen(s) >= sizeof buf) {
        snprintf(err, errcap, "answer mode too long");
        return -1;
    }
    if (strncmp(s, "bridge:", 7) == 0) return bridge_parse(s, out, err, errcap);
    strcpy(buf, s);
    char *opt = strrchr(buf, ',');
    if (opt && strncmp(opt + 1, "hangup=", 7) == 0) {
        char *end;
        out->hangup_after = strtod(opt + 8, &end);
        if (*end || out->hangup_after <= 0) {
            snprintf(err, errcap, "hangup=SECONDS needs a positive number");
            return -1;
        }
        *opt = 0;
    }
    char *arg = strchr(buf, ':');
    if (arg) *arg++ = 0;
    char *end = NULL;
    if (strcmp(buf, "echo") == 0 && !arg) {
        out->mode = ANSWER_ECHO;
    } else if (strcmp(buf, "play") == 0 && arg && *arg) {
        out->mode = ANSWER_PLAY;
        snprintf(out->arg, sizeof out->arg, "%s", arg);
    } else if (strcmp(buf, "record") == 0 && arg && *arg) {
        out->mode = ANSWER_RECORD;
        snprintf(out->arg, sizeof out->arg, "%s", arg);
    } else if (strcmp(buf, "reject") == 0 && arg) {
        out->mode = ANSWER_REJECT;
        out->code = (int)strtol(arg, &end, 10);
        if (*end || out->code < 300 || out->code > 699) {
            snprintf(err, errcap, "reject:CODE needs a SIP code 300-699");
            return -1;
        }
    } else if (strcmp(buf, "noanswer") == 0) {
        out->mode = ANSWER_NOANSWER;
        out->seconds = arg ? strtod(arg, &end) : 5;
        if ((arg && *end) || out->seconds < 0) {
            snprintf(err, errcap, "noanswer[:SECONDS] needs a number");
            return -1;
        }
    } else if (strcmp(buf, "ring") == 0 && arg) {
        out->mode = ANSWER_RING;
        out->seconds = strtod(arg, &end);
        if (*end || out->seconds < 0) {
            snprintf(err, errcap, "ring:SECONDS needs a number");
            return -1;
        }
    } else {
        snprintf(err, errcap,
                 "unknown answer mode '%s' (echo, play:FILE, record:DIR, reject:CODE, "
                 "noanswer[:SECONDS], ring:SECONDS, each optionally followed by ,hangup=SECONDS; "
                 "or bridge:URL,token=TOKEN[,ca=FILE])",
                 s);
        return -1;
    }
    return 0;
}

static ripp_ts secs(double s)
{
    return (ripp_ts)(s * 1e9);
}

/* The trunk cannot take the call (misconfigured answer mode, unreadable file). */
static void fail_call(ripp_ep_call *c, ripp_ts now)
{
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_FAILED);
    ev.code = 500;
    snprintf(ev.reason_phrase, sizeof ev.reason_phrase, "%s", ripp_sip_reason(500));
    ripp_ep_call_send(c, &ev, now);
}

static void answer_now(ripp_ep_call *c, app_call *a, ripp_ts now)
{
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_ACCEPTED);
    if (ripp_ep_call_send(c, &ev, now) == 0 && a->spec.hangup_after > 0)
        a->hangup_at = now + secs(a->spec.hangup_after);
}

static void on_call_new(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t)
{
    (void)ud;
    ripp_ts now = ripp_io_now();
    app_call *a = calloc(1, sizeof *a);
    char err[256];
    if (!a || answer_parse(t->answer, &a->spec, err, sizeof err) < 0) {
        ripp_log(RIPP_LOG_ERROR, "trunk %s: %s", t->id, a ? err : "out of memory");
        free(a);
        fail_call(c, now);
        return;
    }
    ripp_ep_call_set_user(c, a);
    ripp_callmedia_config mc = {.peer_caps = *ripp_ep_call_peer_caps(c)};
    char rec[sizeof ripp_ep_call_cdr(c)->recording];
    switch (a->spec.mode) {
    case ANSWER_PLAY:
        mc.play_path = a->spec.arg;
        mc.loop = true;
        break;
    case ANSWER_RECORD:
        if (snprintf(rec, sizeof rec, "%s/%s.wav", a->spec.arg, ripp_ep_call_id(c)) >=
            (int)sizeof rec) {
            ripp_log(RIPP_LOG_ERROR, "trunk %s: recording directory name too long", t->id);
            rec[0] = 0;
        }
        mc.record_path = rec;
        memcpy(ripp_ep_call_cdr(c)->recording, rec, sizeof rec);
        break;
    case ANSWER_BRIDGE:
        break; /* no audio of its own: received DTMF is collected for the CDR */
    default:
        mc.echo = true;
        break;
    }
    int rv = 0;
    a->media = ripp_callmedia_new(&mc, &rv, err, sizeof err);
    if (!a->media) {
        ripp_log(RIPP_LOG_ERROR, "call %s: media: %s", ripp_ep_call_id(c), err);
        fail_call(c, now);
        return;
    }
    ripp_event ev;
    switch (a->spec.mode) {
    case ANSWER_BRIDGE:
        a->br = rippd_bridge_start(c, &a->spec, now);
        break;
    case ANSWER_REJECT:
        if (a->spec.code == 486 || a->spec.code == 600 || a->spec.code == 603) {
            ripp_event_init(&ev, RIPP_EV_REJECTED); /* the user declined */
        } else {
            ripp_event_init(&ev, RIPP_EV_FAILED);
        }
        ev.code = a->spec.code;
        snprintf(ev.reason_phrase, sizeof ev.reason_phrase, "%s", ripp_sip_reason(a->spec.code));
        ripp_ep_call_send(c, &ev, now);
        break;
    case ANSWER_NOANSWER:
        ripp_event_init(&ev, RIPP_EV_ALERTING);
        ripp_ep_call_send(c, &ev, now);
        a->noanswer_at = now + secs(a->spec.seconds);
        break;
    case ANSWER_RING:
        ripp_event_init(&ev, RIPP_EV_ALERTING);
        ripp_ep_call_send(c, &ev, now);
        a->answer_at = now + secs(a->spec.seconds);
        break;
    default:
        answer_now(c, a, now);
        break;
    }
}

/* A call taken over from the store after another instance drained or died (P5): its
 * per-call state is rebuilt from the trunk's answer mode. Timers restart from now (the
 * record does not keep them). A bridged call re-opens its B leg from the next hop the
 * record names (bridge.c, docs/failover.md "Bridged calls"); without one (the old instance
 * died before B's 201) it cannot go on and ends. */
static void on_call_resumed(void *ud, ripp_ep_call *c, const ripp_trunk_rec *t)
{
    (void)ud;
    ripp_ts now = ripp_io_now();
    app_call *a = calloc(1, sizeof *a);
    char err[256];
    if (!a || answer_parse(t->answer, &a->spec, err, sizeof err) < 0) {
        ripp_log(RIPP_LOG_ERROR, "trunk %s: %s", t->id, a ? err : "out of memory");
        free(a);
        return;
    }
    ripp_callmedia_config mc = {.peer_caps = *ripp_ep_call_peer_caps(c)};
    if (a->spec.mode == ANSWER_PLAY) {
        mc.play_path = a->spec.arg;
        mc.loop = true;
    } else if (a->spec.mode != ANSWER_BRIDGE && a->spec.mode != ANSWER_RECORD) {
        mc.echo = true;
    }
    int rv = 0;
    a->media = ripp_callmedia_new(&mc, &rv, err, sizeof err);
    if (!a->media) ripp_log(RIPP_LOG_ERROR, "call %s: media: %s", ripp_ep_call_id(c), err);
    enum ripp_call_state st = ripp_ep_call_fsm(c)->state;
    if (st == RIPP_CALL_ACTIVE && a->spec.hangup_after > 0)
        a->hangup_at = now + secs(a->spec.hangup_after);
    else if (st != RIPP_CALL_ACTIVE && a->spec.mode == ANSWER_RING)
        a->answer_at = now + secs(a->spec.seconds);
    else if (st != RIPP_CALL_ACTIVE && a->spec.mode == ANSWER_NOANSWER)
        a->noanswer_at = now + secs(a->spec.seconds);
    ripp_ep_call_set_user(c, a);
    ripp_log(RIPP_LOG_INFO, "call %s resumed on trunk %s (%s)", ripp_ep_call_id(c), t->id,
             ripp_call_state_name(st));
    if (a->spec.mode == ANSWER_BRIDGE && st != RIPP_CALL_ENDED) {
        if (ripp_ep_call_record(c)->next_hop[0]) {
            a->br = rippd_bridge_start(c, &a->spec, now);
        } else {
            ripp_log(RIPP_LOG_WARN, "call %s: bridged, but its record names no next hop; ended",
                     ripp_ep_call_id(c));
            if (ripp_ep_call_fsm(c)->answered) {
                ripp_reason r = {.present = true, .cause = 41};
                snprintf(r.protocol, sizeof r.protocol, "Q.850");
                snprintf(r.text, sizeof r.text, "temporary failure");
                ripp_ep_call_end(c, &r, now);
            } else {
                fail_call(c, now);
            }
        }
    }
}

static void on_tick(void *ud, ripp_ep_call *c, ripp_ts now)
{
    (void)ud;
    app_call *a = ripp_ep_call_user(c);
    if (!a) return;
    if (a->answer_at && now >= a->answer_at) {
        a->answer_at = 0;
        answer_now(c, a, now);
    }
    if (a->noanswer_at && now >= a->noanswer_at) {
        a->noanswer_at = 0;
        ripp_event ev;
        ripp_event_init(&ev, RIPP_EV_NOANSWER);
        ripp_ep_call_send(c, &ev, now);
    }
    if (a->hangup_at && now >= a->hangup_at) {
        a->hangup_at = 0;
        ripp_ep_call_end(c, NULL, now);
    }
}

static int64_t next_frame(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                          size_t cap)
{
    (void)ud;
    app_call *a = ripp_ep_call_user(c);
    if (!a || !a->media || a->spec.mode == ANSWER_BRIDGE) return 0;
    return ripp_callmedia_next_frame(a->media, ripp_ep_call_rx_codec(c), codec, buf, cap);
}

static void on_playout(void *ud, ripp_ep_call *c, const ripp_jbuf_out *out)
{
    (void)ud;
    app_call *a = ripp_ep_call_user(c);
    if (!a || !a->media) return;
    ripp_callmedia_playout(a->media, out);
    const char *d = ripp_callmedia_digits(a->media);
    size_t n = strlen(d);
    if (n != a->digits_seen) {
        ripp_cdr *cdr = ripp_ep_call_cdr(c);
        snprintf(cdr->dtmf, sizeof cdr->dtmf, "%s", d);
        ripp_log(RIPP_LOG_INFO, "call %s: DTMF %s", ripp_ep_call_id(c), d + a->digits_seen);
        a->digits_seen = n;
    }
}

static void on_event(void *ud, ripp_ep_call *c, const ripp_event *ev, bool local)
{
    (void)ud;
    ripp_log(RIPP_LOG_INFO, "call %s: %s %s", ripp_ep_call_id(c), local ? "sent" : "received",
             ripp_event_type_name(ev->type));
    app_call *a = ripp_ep_call_user(c);
    if (a && a->br) rippd_bridge_a_event(a->br, ev, local, ripp_io_now());
}

static void on_frame(void *ud, ripp_ep_call *c, uint32_t seq, enum ripp_codec codec,
                     const uint8_t *payload, size_t len, ripp_ts now)
{
    (void)ud;
    app_call *a = ripp_ep_call_user(c);
    if (a && a->br) rippd_bridge_a_frame(a->br, seq, codec, payload, len, now);
}

static void on_done(void *ud, ripp_ep_call *c)
{
    (void)ud;
    app_call *a = ripp_ep_call_user(c);
    const ripp_call *f = ripp_ep_call_fsm(c);
    char stats[1024];
    ripp_stats_format_json(ripp_ep_call_stats(c), stats, sizeof stats);
    ripp_log(RIPP_LOG_INFO, "call %s done: %s %s", ripp_ep_call_id(c),
             ripp_call_outcome_name(f->outcome), stats);
    if (a) {
        if (a->br) rippd_bridge_a_done(a->br, ripp_ep_call_migrated(c));
        ripp_callmedia_del(a->media);
        free(a);
        ripp_ep_call_set_user(c, NULL);
    }
}

static int token_hash(void *ud, const char *token, char out[65])
{
    (void)ud;
    return ripp_sha256_hex(token, strlen(token), out);
}

static int verify_sig(void *ud, const ripp_trunk_rec *t, const uint8_t *data, size_t len,
                      const uint8_t *sig, size_t siglen)
{
    rippd *d = ud;
    if (!t->identity_pub[0]) return RIPP_ERR_AUTH;
    rippd_keys *k;
    for (k = d->keys; k; k = k->next)
        if (strcmp(k->trunk, t->id) == 0 && strcmp(k->path, t->identity_pub) == 0) break;
    if (!k) {
        char err[256] = "";
        int rv = 0;
        ripp_es256_key *key = ripp_es256_load(t->identity_pub, &rv, err, sizeof err);
        if (!key) {
            ripp_log(RIPP_LOG_ERROR, "trunk %s: identity key %s: %s", t->id, t->identity_pub, err);
            return RIPP_ERR_AUTH;
        }
        k = calloc(1, sizeof *k);
        if (!k) {
            ripp_es256_free(key);
            return RIPP_ERR_NOMEM;
        }
        snprintf(k->trunk, sizeof k->trunk, "%s", t->id);
        snprintf(k->path, sizeof k->path, "%s", t->identity_pub);
        k->key = key;
        k->next = d->keys;
        d->keys = k;
    }
    return ripp_es256_verify(k->key, data, len, sig, siglen);
}

void rippd_keys_free(rippd_keys *k)
{
    while (k) {
        rippd_keys *n = k->next;
        ripp_es256_free(k->key);
        free(k);
        k = n;
    }
}

static int identity_check(void *ud, const ripp_trunk_rec *t, const char *identity,
                          const char *target, uint64_t ticket, ripp_identity_verdict *v)
{
    (void)ud;
    return rippd_stir_check(t, identity, target, ticket, v);
}

static int admit_call(void *ud, const ripp_trunk_rec *t, ripp_ts now, uint32_t *retry_after_s)
{
    (void)ud;
    return rippd_limits_admit(t->id, now, retry_after_s);
}

static void identity_cancel(void *ud, uint64_t ticket)
{
    (void)ud;
    rippd_stir_cancel(ticket);
}

const ripp_ep_hooks rippd_hooks = {
    .on_call_new = on_call_new,
    .on_event = on_event,
    .next_frame = next_frame,
    .on_playout = on_playout,
    .on_tick = on_tick,
    .on_done = on_done,
    .token_hash = token_hash,
    .verify_sig = verify_sig,
    .on_frame = on_frame,
    .identity_check = identity_check,
    .identity_cancel = identity_cancel,
    .admit_call = admit_call,
    .on_call_resumed = on_call_resumed,
};
