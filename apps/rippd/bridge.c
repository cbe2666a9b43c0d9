/* Bridging: a trunk whose answer is bridge:URL forwards each incoming call (leg A, where
 * rippd is the server) to the next RIPP trunk (leg B, where rippd is the client).
 *
 * Events: B's alerting (or proceeding) becomes alerting on A, accepted becomes accepted,
 * rejected/failed/noanswer the same outcome with code and reason; an end on either leg ends
 * the other with the same reason; a caller's end before the answer cancels B (before B's
 * 201 the engine keeps the end until it can be sent). When B cannot be reached or refuses
 * the call creation, A fails: 503 when no answer came (connection, TLS), the problem's SIP
 * code when it names one that concerns the call (identity 428/436/437/438, target 484, ...),
 * else 502 (the next trunk refused our token, or failed).
 *
 * Media: each frame received on one leg is submitted on the other as it arrives, in the
 * same codec (no transcoding; the next trunk must accept the caller's codec), with the
 * sequence numbers of the other leg. A gap in the source's numbers is left as a gap (the
 * far receiver conceals it); a frame that arrives after a later one was relayed is dropped.
 * The added delay is the bridge's processing time only: the jitter buffers of the legs are
 * drained (for their statistics) but not waited for.
 *
 * Failover (SPEC §7.3, docs/failover.md "Bridged calls"): leg A's call record names leg B
 * in next_hop, with what another instance needs to reattach to it:
 *     <B's call URI>\n
 *     state=<B's state> s2c=<last event seq from B> c2s=<next event seq to B>
 *       media=<B's next frame seq> at=<wall ms of that figure>\n
 *     cookie=<the Cookie header B's calls carry>        (when there is one)
 * written at B's 201, after each event of B, and every 5 s (or sooner when B's numbers run
 * ahead of the clock). The instance that takes leg A over adopts B from it: no new call,
 * the signaling GET, PUT and media byways re-opened to B's URI with the trunk's token and
 * the cookies, event seqs continuing, frame numbers past every number the old instance can
 * have used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/driver.h"
#include "ripp/sip.h"
#include "ripp/transport.h"
#include "rippd.h"

#define RELAY_MAX_SKIP 50  /* frames (1 s): a larger jump is relayed without a gap */
#define HOP_EVERY_MS 5000  /* leg B's numbers are written to leg A's record this often */
#define HOP_AHEAD 10       /* ... or when B's frame numbers run this far ahead of the clock */
#define HOP_MARGIN_MS 3000 /* frames an old instance may have sent past its last write */
#define FRAME_MS 20        /* the B legs' media interval (the client engines' default) */

/* One client engine per (trust anchors, transport): it places the B legs. */
typedef struct pool {
    struct pool *next;
    char ca[512];
    ripp_transport transport;
    ripp_http_client *http;
    ripp_ep *ep;
    ripp_driver driver;
} pool;

/* The relay of one direction: the next sequence number expected from the source leg. */
typedef struct relay {
    int64_t next; /* -1 before the first frame */
    bool sent_any;
    uint64_t frames, dropped;
} relay;

struct bridge {
    bridge *next, *prev;
    ripp_ep_call *a, *b; /* NULL once that leg is done */
    pool *pl;
    ripp_store *store; /* for the B leg's CDR */
    relay to_a, to_b;
    bool hop_set;
    char hop[512];     /* next_hop as last written to A's record */
    int64_t hop_at_ms; /* when, and B's next frame number then */
    uint64_t hop_media;
    bool hop_cookie_fits;
    /* A got `migrate` here: B stays, relaying, while the caller's media is still here
     * (make-before-break); its events are the new instance's to act on */
    bool handing_over;
    bool released; /* A migrated and let go: B handed over to the instance that adopts it */
    char a_id[40];
    ripp_cdr cdr_b;                 /* filled as B goes; written when B is done */
    rippd_nextcaps_wait *caps_wait; /* B waits for the next trunk's capAdv (nextcaps.c) */
    answer_spec next_trunk;         /* where B goes */
};

static pool *pools;
static bridge *bridges;

static const ripp_ep_hooks b_hooks;
static void b_on_tick(void *ud, ripp_ep_call *b, ripp_ts now);

static bool live(const ripp_ep_call *c)
{
    return c && ripp_ep_call_fsm(c)->state != RIPP_CALL_ENDED;
}

static int64_t wall_ms(void)
{
    return (int64_t)(ripp_io_wall_us() / 1000);
}

static void send_failed(ripp_ep_call *a, int code, ripp_ts now)
{
    ripp_event ev;
    ripp_event_init(&ev, RIPP_EV_FAILED);
    ev.code = code;
    snprintf(ev.reason_phrase, sizeof ev.reason_phrase, "%s", ripp_sip_reason(code));
    ripp_ep_call_send(a, &ev, now);
}

static pool *pool_get(const answer_spec *spec, int *err)
{
    ripp_transport tr = RIPP_TRANSPORT_H2;
    if (spec->transport[0] && ripp_transport_parse(spec->transport, &tr) < 0) {
        *err = RIPP_ERR_INVAL;
        return NULL;
    }
    for (pool *p = pools; p; p = p->next)
        if (p->transport == tr && strcmp(p->ca, spec->ca) == 0) return p;
    pool *p = calloc(1, sizeof *p);
    if (!p) {
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    snprintf(p->ca, sizeof p->ca, "%s", spec->ca);
    p->transport = tr;
    uv_loop_t *loop = uv_default_loop();
    ripp_transport_client_config hc = {.transport = tr,
                                       .tls = {.ca_file = p->ca[0] ? p->ca : NULL}};
    p->http = ripp_transport_client_new(loop, &hc, err);
    if (!p->http) {
        free(p);
        return NULL;
    }
    /* A lost B leg recovers like any client's call (P3: reconnect with back-off for the
     * recovery window, so that an instance of the next trunk's cluster takes it over);
     * when that fails, the bridged call ends (Q.850 41). */
    ripp_ep_config ec = {.role = RIPP_ROLE_CLIENT, .env = ripp_io_env(), .http = p->http};
    p->ep = ripp_ep_new(&ec, &b_hooks, p, err);
    if (!p->ep) {
        ripp_http_client_del(p->http);
        free(p);
        return NULL;
    }
    ripp_driver_init(&p->driver, loop, p->ep);
    p->next = pools;
    pools = p;
    return p;
}

static void bridge_free(bridge *br)
{
    if (br->prev)
        br->prev->next = br->next;
    else
        bridges = br->next;
    if (br->next) br->next->prev = br->prev;
    free(br);
}

/* Leg A cannot go on without its B leg. */
static void lose_a(ripp_ep_call *a, ripp_ts now)
{
    if (!ripp_ep_call_fsm(a)->answered) {
        send_failed(a, 503, now);
        return;
    }
    ripp_reason r = {.present = true, .cause = 41};
    snprintf(r.protocol, sizeof r.protocol, "Q.850");
    snprintf(r.text, sizeof r.text, "temporary failure");
    ripp_ep_call_end(a, &r, now);
}

static void bridge_link(bridge *br)
{
    br->next = bridges;
    if (bridges) bridges->prev = br;
    bridges = br;
}

/* next_hop as bridge.c writes it (see the top of the file); false when it names no call. */
typedef struct hop_rec {
    char uri[512], cookie[512];
    int state;
    int64_t s2c, at_ms;
    uint64_t c2s, media;
} hop_rec;

static bool hop_parse(const char *s, hop_rec *h)
{
    memset(h, 0, sizeof *h);
    h->state = RIPP_CALL_ACTIVE;
    h->s2c = -1;
    size_t l = strcspn(s, "\n");
    if (!l || l >= sizeof h->uri) return false;
    memcpy(h->uri, s, l);
    for (const char *p = s + l; *p == '\n';) {
        const char *line = p + 1;
        size_t ll = strcspn(line, "\n");
        if (strncmp(line, "cookie=", 7) == 0 && ll - 7 < sizeof h->cookie) {
            memcpy(h->cookie, line + 7, ll - 7);
        } else if (strncmp(line, "state=", 6) == 0) {
            char st[16] = "";
            long long s2c = -1, at = 0;
            unsigned long long c2s = 0, media = 0;
            if (sscanf(line, "state=%15s s2c=%lld c2s=%llu media=%llu at=%lld", st, &s2c, &c2s,
                       &media, &at) == 5) {
                for (int i = RIPP_CALL_CREATED; i <= RIPP_CALL_ACTIVE; i++)
                    if (strcmp(st, ripp_call_state_name(i)) == 0) h->state = i;
                h->s2c = s2c;
                h->c2s = c2s;
                h->media = media;
                h->at_ms = at;
            }
        }
        p = line + ll;
    }
    return true;
}

static void hop_write(bridge *br, ripp_ts now)
{
    ripp_ep_call *b = br->b;
    const ripp_call *f = ripp_ep_call_fsm(b);
    char hop[512], line[160];
    int64_t at = wall_ms();
    uint64_t media = ripp_ep_call_next_media_seq(b);
    snprintf(line, sizeof line, "state=%s s2c=%lld c2s=%llu media=%llu at=%lld",
             ripp_call_state_name(f->state), (long long)f->last_seq_in,
             (unsigned long long)f->next_seq_out, (unsigned long long)media, (long long)at);
    const char *cookie = ripp_ep_call_cookies(b);
    int n = snprintf(hop, sizeof hop, "%s\n%s%s%s", ripp_ep_call_uri(b), line,
                     cookie[0] ? "\ncookie=" : "", cookie);
    br->hop_cookie_fits = n >= 0 && (size_t)n < sizeof hop;
    if (!br->hop_cookie_fits) /* the cookies do not fit: the URI and numbers do */
        snprintf(hop, sizeof hop, "%s\n%s", ripp_ep_call_uri(b), line);
    br->hop_at_ms = at;
    br->hop_media = media;
    br->hop_set = true;
    snprintf(br->hop, sizeof br->hop, "%s", hop);
    if (br->a) ripp_ep_call_set_next_hop(br->a, hop, now);
}

/* Leg B (br->b) belongs to br now: its CDR starts from A's, started at start_ms. */
static ripp_cdr *leg_b_attached(bridge *br, ripp_ep_call *a, int64_t start_ms)
{
    ripp_ep_call_set_user(br->b, br);
    ripp_cdr *d = &br->cdr_b;
    const ripp_cdr *da = ripp_ep_call_cdr(a);
    snprintf(d->trunk_id, sizeof d->trunk_id, "%s", da->trunk_id);
    snprintf(d->target, sizeof d->target, "%s", da->target);
    snprintf(d->orig_tn, sizeof d->orig_tn, "%s", da->orig_tn);
    d->start_ms = start_ms;
    return d;
}

/* Leg A was taken over from the store (another instance drained or died) and its record
 * names leg B: B is adopted, not placed again. */
static bridge *bridge_adopt(bridge *br, const answer_spec *spec, ripp_ts now)
{
    ripp_ep_call *a = br->a;
    hop_rec h;
    const char *stored = ripp_ep_call_record(a)->next_hop;
    if (!hop_parse(stored, &h)) {
        ripp_log(RIPP_LOG_WARN, "call %s: bridge: the stored next hop is unreadable", br->a_id);
        free(br);
        lose_a(a, now);
        return NULL;
    }
    /* past every number the old instance can have used since it wrote the figure, and far
     * enough past the receiver's playout that its jitter buffer sees a jump of two windows
     * or more, which it follows (a frame between one and two windows ahead is refused, and
     * a stream that stays that far ahead would be refused for good) */
    int64_t since = h.at_ms > 0 && wall_ms() > h.at_ms ? wall_ms() - h.at_ms : 0;
    ripp_adopt_opts o = {.call_uri = h.uri,
                         .token = spec->token,
                         .cookies = h.cookie[0] ? h.cookie : NULL,
                         .target = ripp_ep_call_target(a),
                         .state = (enum ripp_call_state)h.state,
                         .last_seq_in = h.s2c,
                         .next_seq_out = h.c2s,
                         .media_seq = h.media + (uint64_t)((since + HOP_MARGIN_MS) / FRAME_MS)};
    int rv = 0;
    br->b = ripp_ep_call_adopt(br->pl->ep, &o, now, &rv);
    if (!br->b) {
        ripp_log(RIPP_LOG_WARN, "call %s: bridge: cannot re-open leg %s: %s", br->a_id, h.uri,
                 ripp_strerror(rv));
        free(br);
        lose_a(a, now);
        return NULL;
    }
    ripp_cdr *d = leg_b_attached(br, a, ripp_ep_call_record(a)->created_ms); /* placed with A */
    const ripp_cdr *da = ripp_ep_call_cdr(a);
    if (h.state == RIPP_CALL_ACTIVE) d->answer_ms = da->answer_ms ? da->answer_ms : d->start_ms;
    snprintf(br->hop, sizeof br->hop, "%s", stored);
    bridge_link(br);
    ripp_log(RIPP_LOG_INFO, "call %s: bridge: leg %s re-opened (adopted, %s, frames from %llu)",
             br->a_id, h.uri, ripp_call_state_name(h.state), (unsigned long long)o.media_seq);
    ripp_driver_kick(&br->pl->driver);
    return br;
}

/* Places leg B on br->next_trunk; false after answering A failed 503. */
static bool place_b(bridge *br, ripp_ts now)
{
    ripp_ep_call *a = br->a;
    const answer_spec *spec = &br->next_trunk;
    int rv = 0;
    const char *identity = ripp_ep_call_identity(a);
    ripp_place_opts po = {.trunk_url = spec->arg,
                          .token = spec->token,
                          .target = ripp_ep_call_target(a),
                          .identity = identity[0] ? identity : NULL};
    br->b = ripp_ep_call_place(br->pl->ep, &po, now, &rv);
    if (!br->b) {
        ripp_log(RIPP_LOG_WARN, "call %s: bridge: cannot place the call on %s: %s", br->a_id,
                 spec->arg, ripp_strerror(rv));
        send_failed(a, 503, now);
        return false;
    }
    leg_b_attached(br, a, wall_ms());
    ripp_log(RIPP_LOG_INFO, "call %s: bridged to %s", br->a_id, spec->arg);
    ripp_driver_kick(&br->pl->driver);
    return true;
}

/* The first capAdv of the next trunk came (or did not, in time): B is placed, or A refused
 * (488: the next trunk accepts none of the codecs A may carry). */
static void caps_ready(void *ud, bool ok)
{
    bridge *br = ud;
    br->caps_wait = NULL;
    if (!live(br->a)) return;
    if (ok)
        place_b(br, ripp_io_now());
    else
        send_failed(br->a, 488, ripp_io_now());
}

bridge *rippd_bridge_start(ripp_ep_call *a, const answer_spec *given, ripp_ts now)
{
    int rv = 0;
    const answer_spec *spec = given;
    answer_spec to_consumer;
    if (strncmp(given->arg, "consumer", 8) == 0) {
        /* inbound: the consumer trunk registered with PUT {trunk}/consumerTrunk, called with
         * the consumerToken (SPEC §6.2) */
        const char *pt = given->arg[8] == '=' ? given->arg + 9 : ripp_ep_call_cdr(a)->trunk_id;
        ripp_store *st = ripp_ep_store(ripp_ep_call_ep(a));
        ripp_consumer_rec cr;
        if (!st || !st->ops->consumer_get || st->ops->consumer_get(st->impl, pt, &cr) < 0) {
            ripp_log(RIPP_LOG_WARN, "call %s: bridge: trunk %s has no consumer trunk registered",
                     ripp_ep_call_id(a), pt);
            send_failed(a, 480, now);
            return NULL;
        }
        to_consumer = *given;
        snprintf(to_consumer.arg, sizeof to_consumer.arg, "%.*s", (int)(sizeof to_consumer.arg - 1),
                 cr.uri);
        snprintf(to_consumer.token, sizeof to_consumer.token, "%.*s",
                 (int)(sizeof to_consumer.token - 1), cr.token);
        spec = &to_consumer;
    }
    bridge *br = calloc(1, sizeof *br);
    pool *pl = br ? pool_get(spec, &rv) : NULL;
    if (!pl) {
        ripp_log(RIPP_LOG_ERROR, "call %s: bridge: no client for the next trunk (%s)",
                 ripp_ep_call_id(a), br ? ripp_strerror(rv) : "out of memory");
        free(br);
        send_failed(a, 500, now);
        return NULL;
    }
    br->a = a;
    br->pl = pl;
    br->store = ripp_ep_store(ripp_ep_call_ep(a));
    br->to_a.next = br->to_b.next = -1;
    snprintf(br->a_id, sizeof br->a_id, "%s", ripp_ep_call_id(a));
    if (ripp_ep_call_record(a)->next_hop[0]) return bridge_adopt(br, spec, now);
    /* the next trunk must accept a codec A may carry (D25): known, refused, or its first
     * capAdv is awaited and caps_ready places B */
    br->next_trunk = *spec;
    switch (rippd_nextcaps_gate(pl->http, a, spec->arg, spec->token, caps_ready, br, &br->caps_wait,
                                now)) {
    case RIPPD_NEXTCAPS_REFUSE:
        free(br);
        send_failed(a, 488, now);
        return NULL;
    case RIPPD_NEXTCAPS_WAIT:
        bridge_link(br);
        return br;
    default:
        break;
    }
    if (!place_b(br, now)) {
        free(br);
        return NULL;
    }
    bridge_link(br);
    return br;
}

/* ---- events ---- */

/* B has ended: answer A the same way, unless A has ended already. */
static void mirror_end(bridge *br, const ripp_event *ev, ripp_ts now)
{
    ripp_ep_call *a = br->a;
    if (!live(a) || !br->b) return;
    const ripp_call *fb = ripp_ep_call_fsm(br->b);
    const ripp_call *fa = ripp_ep_call_fsm(a);
    ripp_event out;
    if (ev &&
        (ev->type == RIPP_EV_REJECTED || ev->type == RIPP_EV_FAILED ||
         ev->type == RIPP_EV_NOANSWER) &&
        !fa->answered) {
        ripp_event_init(&out, ev->type);
        out.code = ev->code;
        snprintf(out.reason_phrase, sizeof out.reason_phrase, "%s", ev->reason_phrase);
        if (out.code && !out.reason_phrase[0])
            snprintf(out.reason_phrase, sizeof out.reason_phrase, "%s", ripp_sip_reason(out.code));
        if (ripp_ep_call_send(a, &out, now) == 0) return;
    }
    if (ev && ev->type == RIPP_EV_END) {
        ripp_ep_call_end(a, ev->reason.present ? &ev->reason : NULL, now);
        return;
    }
    if (fa->answered) { /* B was lost mid-call */
        ripp_reason r = {.present = true, .cause = 41};
        snprintf(r.protocol, sizeof r.protocol, "Q.850");
        snprintf(r.text, sizeof r.text, "temporary failure");
        ripp_ep_call_end(a, &r, now);
        return;
    }
    char detail[512];
    int status = ripp_ep_call_setup_status(br->b, detail, sizeof detail);
    int code;
    if (fb->outcome == RIPP_OUTCOME_FAILED && status) {
        /* the call creation was refused: a SIP code of the problem that concerns the call
         * itself is passed on; our own standing with the next trunk is a gateway failure */
        if (fb->end_code != status && fb->end_code >= 400 && fb->end_code <= 699)
            code = fb->end_code;
        else
            code = status == 503 ? 503 : 502;
        ripp_log(RIPP_LOG_WARN, "call %s: bridge: the next trunk answered %d (%s); failed %d",
                 br->a_id, status, detail, code);
    } else if (fb->outcome == RIPP_OUTCOME_REJECTED || fb->outcome == RIPP_OUTCOME_FAILED) {
        code = fb->end_code >= 300 && fb->end_code <= 699 ? fb->end_code : 502;
    } else {
        code = 503; /* no answer at all (connection, TLS), or lost before the answer */
        ripp_log(RIPP_LOG_WARN, "call %s: bridge: the next trunk is unreachable (%s)", br->a_id,
                 status ? detail : "no response");
    }
    send_failed(a, code, now);
}

static void b_on_event(void *ud, ripp_ep_call *b, const ripp_event *ev, bool local)
{
    (void)ud;
    bridge *br = ripp_ep_call_user(b);
    ripp_ts now = ripp_io_now();
    if (!br) return;
    b_on_tick(NULL, b, now); /* an event means the 201 came: name the next hop */
    ripp_log(RIPP_LOG_INFO, "call %s: leg %s %s %s", br->a_id, ripp_ep_call_id(b),
             local ? "sent" : "received", ripp_event_type_name(ev->type));
    if (br->handing_over) return; /* the instance that adopts B mirrors it */
    if (ev->type == RIPP_EV_ACCEPTED && !br->cdr_b.answer_ms) br->cdr_b.answer_ms = wall_ms();
    if (ripp_ep_call_fsm(b)->state == RIPP_CALL_ENDED) {
        mirror_end(br, local ? NULL : ev, now);
        return;
    }
    if (local || !live(br->a)) return;
    enum ripp_call_state sa = ripp_ep_call_fsm(br->a)->state;
    ripp_event out;
    if ((ev->type == RIPP_EV_ALERTING || ev->type == RIPP_EV_PROCEEDING) &&
        sa == RIPP_CALL_CREATED) {
        ripp_event_init(&out, RIPP_EV_ALERTING);
        ripp_ep_call_send(br->a, &out, now);
    } else if (ev->type == RIPP_EV_ACCEPTED) {
        ripp_event_init(&out, RIPP_EV_ACCEPTED);
        ripp_ep_call_send(br->a, &out, now);
    }
}

void rippd_bridge_a_event(bridge *br, const ripp_event *ev, bool local, ripp_ts now)
{
    if (local && ev->type == RIPP_EV_MIGRATE && live(br->b) && br->hop_set) {
        /* A moves to another instance (drain), which adopts B from the next hop A's record
         * names (written before the migrate). The caller's media stays here until it has
         * the new instance's (make-before-break), and so does B's: both are relayed as
         * before; B is handed over when A lets go (rippd_bridge_a_done). */
        br->handing_over = true;
        ripp_log(RIPP_LOG_INFO, "call %s: leg %s relayed until the caller has moved", br->a_id,
                 ripp_ep_call_id(br->b));
        /* but only towards B: what B sends goes to the new instance, which relays it to the
         * caller (here it would meet the caller's switch and be dropped) */
        ripp_ep_call_send_only(br->b);
        ripp_driver_kick(&br->pl->driver);
        return;
    }
    if (!br->a || ripp_ep_call_fsm(br->a)->state != RIPP_CALL_ENDED || !live(br->b)) return;
    /* A has ended (the caller's end or cancel, a shutdown, the hold timer): so does B, with
     * the caller's reason when there is one */
    (void)local;
    bool why = ev->type == RIPP_EV_END && ev->reason.present;
    ripp_ep_call_end(br->b, why ? &ev->reason : NULL, now); /* NULL: 487 before the answer */
    ripp_driver_kick(&br->pl->driver);
}

void rippd_bridge_a_done(bridge *br, bool migrated)
{
    ripp_ts now = ripp_io_now();
    rippd_nextcaps_cancel(br->caps_wait);
    br->caps_wait = NULL;
    if (migrated && br->handing_over && live(br->b)) {
        /* the caller has left: B is the instance's that took A over (it adopted B from
         * A's record), so B is handed over, not ended */
        br->released = true;
        ripp_log(RIPP_LOG_INFO, "call %s: leg %s handed over with the migrated call", br->a_id,
                 ripp_ep_call_id(br->b));
        ripp_ep_call_release(br->b, now);
        ripp_driver_kick(&br->pl->driver);
    } else if (live(br->b)) {
        ripp_ep_call_end(br->b, NULL, now);
        ripp_driver_kick(&br->pl->driver);
    }
    br->a = NULL;
    if (!br->b) bridge_free(br);
}

/* ---- media ---- */

static void relay_frame(relay *r, ripp_ep_call *to, uint32_t seq, enum ripp_codec codec,
                        const uint8_t *payload, size_t len, ripp_ts now)
{
    uint32_t skip = 0;
    if (r->next >= 0) {
        if ((int64_t)seq < r->next) { /* a duplicate, or overtaken by a later frame */
            r->dropped++;
            return;
        }
        int64_t gap = (int64_t)seq - r->next;
        if (r->sent_any && gap <= RELAY_MAX_SKIP) skip = (uint32_t)gap;
    }
    r->next = (int64_t)seq + 1;
    if (!live(to)) return;
    if (ripp_ep_call_send_frame(to, codec, payload, len, skip, now) == 0) {
        r->sent_any = true;
        r->frames++;
    }
}

void rippd_bridge_a_frame(bridge *br, uint32_t seq, enum ripp_codec codec, const uint8_t *payload,
                          size_t len, ripp_ts now)
{
    relay_frame(&br->to_b, br->b, seq, codec, payload, len, now);
}

static void b_on_frame(void *ud, ripp_ep_call *b, uint32_t seq, enum ripp_codec codec,
                       const uint8_t *payload, size_t len, ripp_ts now)
{
    (void)ud;
    bridge *br = ripp_ep_call_user(b);
    if (br) relay_frame(&br->to_a, br->a, seq, codec, payload, len, now);
}

/* The legs' jitter buffers are drained for their statistics only. */
static void b_on_playout(void *ud, ripp_ep_call *b, const ripp_jbuf_out *out)
{
    (void)ud;
    (void)b;
    (void)out;
}

/* A's record names the downstream call once the 201 came, and keeps what reattaching to
 * it needs current: B's state and event seqs as they change, its frame numbers every
 * HOP_EVERY_MS or when they run ahead of the clock (relayed bursts). */
static void b_on_tick(void *ud, ripp_ep_call *b, ripp_ts now)
{
    (void)ud;
    bridge *br = ripp_ep_call_user(b);
    if (!br || !br->a || !ripp_ep_call_uri(b)[0]) return;
    if (ripp_ep_call_fsm(b)->state == RIPP_CALL_ENDED) {
        if (!br->hop_set) hop_write(br, now);
        return;
    }
    int64_t ms = wall_ms();
    const ripp_call *f = ripp_ep_call_fsm(b);
    char line[64];
    snprintf(line, sizeof line, "\nstate=%s s2c=%lld c2s=%llu ", ripp_call_state_name(f->state),
             (long long)f->last_seq_in, (unsigned long long)f->next_seq_out);
    uint64_t expect = br->hop_media + (uint64_t)((ms - br->hop_at_ms) / FRAME_MS);
    if (!br->hop_set || !strstr(br->hop, line) || ms - br->hop_at_ms >= HOP_EVERY_MS ||
        ripp_ep_call_next_media_seq(b) > expect + HOP_AHEAD ||
        (br->hop_cookie_fits && !strstr(br->hop, ripp_ep_call_cookies(b))))
        hop_write(br, now);
}

static void b_on_done(void *ud, ripp_ep_call *b)
{
    (void)ud;
    bridge *br = ripp_ep_call_user(b);
    if (!br) return;
    ripp_ts now = ripp_io_now();
    if (br->released || br->handing_over) { /* the instance that adopted B writes its CDR */
        ripp_ep_call_set_user(b, NULL);
        br->b = NULL;
        if (!br->a) bridge_free(br);
        return;
    }
    b_on_tick(NULL, b, now);   /* a call refused at once still names its URI, if it had one */
    mirror_end(br, NULL, now); /* a setup failure or a lost call sends no event */
    const ripp_call *f = ripp_ep_call_fsm(b);
    ripp_cdr *d = &br->cdr_b;
    const char *uri = ripp_ep_call_uri(b), *slash = strrchr(uri, '/');
    if (slash && slash[1])
        snprintf(d->call_id, sizeof d->call_id, "%s", slash + 1);
    else
        snprintf(d->call_id, sizeof d->call_id, "%.36s-b", br->a_id);
    d->end_ms = wall_ms();
    snprintf(d->outcome, sizeof d->outcome, "%s", ripp_call_outcome_name(f->outcome));
    d->end_code = f->end_code;
    ripp_stats_format_json(ripp_ep_call_stats(b), d->stats_json, sizeof d->stats_json);
    if (br->store && br->store->ops->cdr_put(br->store->impl, d) < 0)
        ripp_log(RIPP_LOG_ERROR, "call %s: CDR write of leg %s failed", br->a_id, d->call_id);
    ripp_log(RIPP_LOG_INFO, "call %s: leg %s done: %s, %llu frames relayed to it, %llu from it",
             br->a_id, d->call_id, d->outcome, (unsigned long long)br->to_b.frames,
             (unsigned long long)br->to_a.frames);
    ripp_ep_call_set_user(b, NULL);
    br->b = NULL;
    if (!br->a) bridge_free(br);
}

static const ripp_ep_hooks b_hooks = {
    .on_event = b_on_event,
    .on_playout = b_on_playout,
    .on_tick = b_on_tick,
    .on_done = b_on_done,
    .on_frame = b_on_frame,
};

/* ---- configuration and exit ---- */

int rippd_bridge_answer(const char *answer, const char *token, const char *ca, char *out,
                        size_t cap, char *err, size_t errcap)
{
    if (!token && !ca) {
        snprintf(out, cap, "%s", answer);
        return 0;
    }
    if (strncmp(answer, "bridge:", 7) != 0) {
        snprintf(err, errcap, "a bridge token or CA applies to a bridge:URL answer only");
        return -1;
    }
    if ((token && strchr(token, ',')) || (ca && strchr(ca, ','))) {
        snprintf(err, errcap, "a bridge token or CA path cannot contain a comma");
        return -1;
    }
    int n = snprintf(out, cap, "%s%s%s%s%s", answer, token ? ",token=" : "", token ? token : "",
                     ca ? ",ca=" : "", ca ? ca : "");
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errcap, "the bridge answer (URL, token, CA) is too long");
        return -1;
    }
    return 0;
}

void rippd_bridge_free(void)
{
    rippd_nextcaps_free(); /* before the clients its fetches use */
    while (pools) {
        pool *p = pools;
        pools = p->next;
        ripp_driver_close(&p->driver);
        ripp_ep_del(p->ep);
        ripp_http_client_del(p->http);
        free(p);
    }
    while (bridges)
        bridge_free(bridges);
}
