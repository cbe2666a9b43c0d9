/* Private structures of the call engine (endpoint.h). */
#ifndef RIPP_EP_INTERNAL_H
#define RIPP_EP_INTERNAL_H

#include "ripp/endpoint.h"
#include "ripp/event.h"
#include "ripp/frame.h"
#include "ripp/media_hdr.h"
#include "ripp/problem.h"

#define EP_MAX_LOG 64 /* events kept for replay on a new signaling GET */
#define EP_MAX_COOKIES 10
#define EP_MAX_SIG_BYWAYS 4 /* GETs and PUTs of /event open at once, each */
#define EP_MAX_COOKIE_LEN (5 * 1024)
#define EP_MAX_CATCHUP 25 /* media intervals a late tick makes up for (500 ms) */
#define EP_PHASES 4       /* slots per media interval that calls are spread over */
#define EP_PERSIST_EVERY (5 * RIPP_NS_PER_SEC)
#define EP_RING_MS 5000  /* the failover buffer of frames (SPEC §7.4: at least 5 s) */
#define EP_CLOG_MAX 64   /* client events kept for replay on a new PUT */
#define EP_JBUF_SLOT 512 /* 64 kbit/s * 60 ms = 480 bytes, the largest frame our caps admit */

enum bw_kind {
    BW_SETUP,    /* client: POST calls */
    BW_EV_TX,    /* we write events (server GET, client PUT) */
    BW_EV_RX,    /* we read events (server PUT, client GET) */
    BW_MEDIA_TX, /* we write frames and read acks (server reverse, client forward) */
    BW_MEDIA_RX, /* we read frames and write acks (server forward, client reverse) */
    BW_DISCARD,  /* refused or finished: ignore whatever still arrives */
};

/* A frame of the client's failover buffer (ep_failover.c). */
enum ring_state { RE_FREE = 0, RE_PENDING, RE_SENT, RE_ACKED };
typedef struct ep_ring_ent {
    uint32_t seq;
    uint8_t state;
    uint8_t codec;
    bool resend; /* sent once, its byway lost before the ack: counted lost until resent */
    bool unsent; /* resend of a frame never written (queued, or its write failed): not
                    counted sent yet */
    uint16_t len, cap;
    uint8_t *payload;
} ep_ring_ent;

typedef struct ep_bw {
    struct ep_bw *next, *prev;
    ripp_ep_call *call; /* NULL once the call is gone */
    ripp_ep *ep;
    ripp_xchg *x;
    enum bw_kind kind;
    enum bw_kind pkind; /* the kind it was created as: which parser it owns */
    bool responded;     /* server: response headers sent; client: response headers seen */
    bool ended_local;   /* our body ended */
    bool first_event;   /* BW_EV_TX: nothing written after "[" yet */
    int status;         /* client: response status */
    int sched_idx;      /* BW_MEDIA_TX: scheduler slot, -1 none */
    bool have_hdr;      /* BW_MEDIA_RX: hdr valid */
    ripp_media_hdr hdr;
    union {
        ripp_frame_parser *fp;
        ripp_ack_parser ap;
        ripp_event_parser ev;
    } p;
    unsigned gen;    /* the call's byway generation it belongs to (failover) */
    bool retired;    /* of an older generation: not counted in nkind, no failure trigger */
    bool self_reset; /* we reset it: its close is no failure */
    bool draining;   /* retired forward byway waiting for the ack of drain_seq */
    uint32_t drain_seq;
    ripp_ts drain_sent_at;
    uint64_t drain_wall_us;
    /* client setup: the problem body of a refused POST */
    char *body;
    size_t body_len;
} ep_bw;

/* A bearer token the store validated recently (cfg.token_cache). */
#define EP_TOKCACHE 1024
/* While the store fails, a cached token stays good this long past its time (stale if error) */
#define EP_TOKEN_STALE_OK (300 * RIPP_NS_PER_SEC)
typedef struct ep_tok {
    char hash[65];
    char trunk_id[64];
    ripp_ts until; /* 0: empty */
} ep_tok;

/* What is left of an ended call during its linger time: enough to answer GET {call}. */
typedef struct ep_tomb {
    struct ep_tomb *hnext, *next;
    ripp_ts forget_at;
    char id[40];
    char trunk_id[64];
    char *state_json; /* GET {call}'s body at the end (ep_format_call_state), or NULL */
} ep_tomb;

/* The call that ended here and is not forgotten yet, or NULL. */
const ep_tomb *ep_tomb_find(const ripp_ep *ep, const char *id);
/* GET {call}'s body: the last event, the state and the statistics. */
int ep_format_call_state(const ripp_ep_call *c, char *body, size_t cap);

struct ripp_ep_call {
    ripp_ep *ep;
    ripp_ep_call *hnext;         /* hash bucket chain */
    ripp_ep_call *next, *prev;   /* all calls */
    ripp_ep_call *snext, *sprev; /* the calls of the same media clock slot */
    unsigned slot;
    bool lingering;    /* on ep->linger_* instead of a slot (server, ended and done) */
    ripp_ts forget_at; /* when lingering: when it is freed */
    char id[40];
    char path[RIPP_URI_MAX]; /* /call/<uuid> */
    char uri[RIPP_URI_MAX];  /* absolute */
    ripp_call fsm;
    ripp_sched tx;
    ripp_jbuf rx;
    bool rx_init;
    enum ripp_codec rx_codec;
    uint32_t rx_frame_ms;
    int64_t rx_seq_max;
    ripp_caps peer_caps;
    ripp_caps own_caps;             /* server: what the trunk accepts (its capAdv) */
    ep_bw *bws;                     /* every open exchange of the call */
    unsigned nkind[BW_DISCARD + 1]; /* attached byways by kind */
    char **log;                     /* server: encoded events sent, for replay */
    size_t nlog;
    char **pending; /* client: encoded events waiting for the PUT byway */
    size_t npending;
    ep_bw *put; /* client: the signaling PUT */
    ripp_cdr cdr;
    ripp_call_rec rec;
    ripp_ts ended_at, next_persist;
    int64_t persisted_ms; /* server: updated_ms of our last record write the store took */
    ripp_ts next_tick;    /* this call's next media interval */
    bool done;            /* on_done delivered */
    bool closing;         /* byways are being closed */
    bool final_delivered; /* server: the client has (or made) the ending event */
    void *user;
    /* client */
    char trunk_url[RIPP_URI_MAX];
    char auth[1200];
    char cookie[EP_MAX_COOKIES * 256];
    int setup_status;
    char setup_detail[512];
    uint32_t reverse_wanted;
    uint32_t reverse_opened_total;
    ripp_ts gone_at;  /* when a 404 makes us give the call up */
    bool end_pending; /* ripp_ep_call_end before the 201: sent once the call exists */
    ripp_reason end_pending_reason;
    ripp_ts end_pending_at;
    char *identity;       /* the Identity header value received (server) or sent (client) */
    bool sig_reopening;   /* client: the signaling GET was lost and is being reopened */
    unsigned sig_reopens; /* client: how often it was */
    /* failover (ep_failover.c) */
    unsigned gen;    /* byway generation: +1 at each migrate or recovery */
    bool holding;    /* client: frames go to the ring only */
    bool recovering; /* client: waiting for the new signaling GET's 200 */
    ep_bw *sig_get;  /* client: the signaling GET of this generation */
    ripp_ts fail_at; /* client: when the current recovery began */
    ripp_ts recover_deadline, next_attempt;
    unsigned attempts;   /* of the current recovery */
    ripp_ts last_rx_at;  /* client: last frame received (D31), 0 before any */
    ripp_ts last_ack_at; /* client: last ack received */
    ep_ring_ent *ring;   /* client: failover buffer, indexed by seq % ring_cap */
    uint32_t ring_cap;
    uint64_t ring_lo;      /* lowest seq the ring may hold */
    uint64_t flush_from;   /* lowest seq that may be pending */
    uint64_t ring_waiting; /* entries pending (or resend) */
    ripp_ep_failover fo;
    char **clog; /* client: events sent, replayed on each new PUT (the server dedups) */
    size_t nclog;
    bool migrated; /* server: migrate sent; released once the client has left */
    ripp_ts migrated_at;
    /* Make-before-break migration (docs/failover.md): the old instance's media byways carry
     * the media until the client has the new instance. Server: migrate sent, media goes on
     * until the client ends the byways. Client: moving; its frames still go to old_uri
     * (with the cookies as they were) until the new instance's first frame arrives. */
    bool handover;
    bool send_only; /* client: no reverse byways (ripp_ep_call_send_only) */
    bool old_no_cookies;
    char old_uri[RIPP_URI_MAX];
    ripp_ts handover_until; /* client: the media switch at the latest (signaling moved) */
    unsigned rx_gen;        /* client: the newest byway generation a frame arrived on */
    bool resumed;       /* server: taken over from the store */
    bool drain_skip;    /* server: migrate could not be sent; left to the drain timeout */
    bool no_cookies;    /* client: reconnect without the call's cookies (P6, retries) */
    ripp_ts suspect_at; /* client: a media byway ended cleanly; a failure unless the call ends */
};

struct ripp_ep {
    ripp_ep_config cfg;
    ripp_ep_hooks hooks;
    void *ud;
    ripp_ep_call **table;
    size_t table_size;
    ripp_ep_call *calls;
    size_t ncalls, nlive;
    ripp_ts next_tick;              /* the next slot of the media clock with a call due */
    ripp_ep_call *slots[EP_PHASES]; /* calls by slot of the media interval */
    ripp_ts slot_next[EP_PHASES];   /* when each slot is next due */
    /* Ended server calls already delivered (done): off the media clock, they only answer
     * late requests until forget_at. A FIFO in forget order, linked by snext/sprev. */
    ripp_ep_call *linger_head, *linger_tail;
    /* Ended calls whose client has the ending event are freed at once; their id stays here
     * until the linger time is over, so that late requests get 404 without a store read. */
    ep_tomb **tombs;         /* hash of table_size buckets */
    struct ep_tok *tokcache; /* EP_TOKCACHE entries, direct-mapped by token hash */
    ep_tomb *tomb_head, *tomb_tail;
    size_t ntombs;
    unsigned phase; /* slot given to the next new call */
    ripp_ep_counters counters;
    struct ep_pending *pending; /* call creations waiting for their identity verdict */
    uint64_t next_ticket;
    bool draining; /* server: ripp_ep_drain was called */
    bool drain_pending;      /* calls still to be sent migrate, drain_batch a step */
    uint32_t drain_batch;    /* calls sent migrate every EP_DRAIN_STEP */
    ripp_ts drain_next;      /* the next step */
    char drain_to[256];      /* the migrate target authority, or "" */
};

/* What the parsers' callbacks need: the byway and the time of the data's arrival. */
typedef struct ep_ctx {
    ep_bw *b;
    ripp_ts now;
} ep_ctx;

/* ep.c */
uint64_t ep_wall_us(const ripp_ep *ep);
ripp_ts ep_now(const ripp_ep *ep);
ripp_ep_call *ep_call_new(ripp_ep *ep, const char *id, ripp_ts now);
ripp_ep_call *ep_call_find(ripp_ep *ep, const char *id);
void ep_call_free(ripp_ep_call *c);
ep_bw *ep_bw_new(ripp_ep_call *c, ripp_xchg *x, enum bw_kind kind);
void ep_bw_detach(ep_bw *b);
void ep_bw_free(ep_bw *b);
void ep_call_ended(ripp_ep_call *c, ripp_ts now);
void ep_call_rekey(ripp_ep_call *c, const char *id);
void ep_call_applied(ripp_ep_call *c, const ripp_event *ev, bool local, ripp_ts now);
int ep_call_on_peer_event(ripp_ep_call *c, const ripp_event *ev, ripp_ts now);
void ep_media_on_frame(ep_bw *b, uint64_t seq_offset, const uint8_t *payload, size_t len,
                       ripp_ts now);
int ep_media_write_ack(ep_bw *b, uint32_t seq);
int ep_byway_write(ep_bw *b, const uint8_t *rec, size_t len);
void ep_persist(ripp_ep_call *c, ripp_ts now);
bool ep_call_owned_elsewhere(ripp_ep_call *c);
void ep_call_release(ripp_ep_call *c);
void ep_sched_init(ripp_ep_call *c, bool can_open, ripp_ts now);
int ep_frame_cb(void *ud, uint64_t seq_offset, const uint8_t *payload, size_t len);
int ep_ack_cb(void *ud, const ripp_ack *ack);
extern const ripp_sched_ops ep_sched_ops_server, ep_sched_ops_client;

/* ep_server.c */
void ep_server_close_call(ripp_ep_call *c);
void ep_server_drop_pending(ripp_ep *ep); /* resets the exchanges, calls no hook */
int ep_server_broadcast(ripp_ep_call *c, const char *json, size_t len);
void ep_server_migrate(ripp_ep_call *c, const char *authority, ripp_ts now);

/* ep_failover.c */
int ep_tx_submit(ripp_ep_call *c, enum ripp_codec codec, const uint8_t *payload, size_t len,
                 ripp_ts now);
void ep_ring_flush(ripp_ep_call *c, ripp_ts now);
void ep_ring_on_ack(ripp_ep_call *c, uint32_t seq);
void ep_ring_mark_resend(ripp_ep_call *c, uint32_t seq);
void ep_ring_mark_unsent(ripp_ep_call *c, uint32_t seq);
void ep_ring_finish(ripp_ep_call *c);
void ep_ring_free(ripp_ep_call *c);
void ep_drain_ack(ep_bw *b, const ripp_ack *ack, ripp_ts now);

/* ep_client.c */
void ep_client_migrate(ripp_ep_call *c, const char *uri, ripp_ts now);
void ep_client_recover(ripp_ep_call *c, const char *why, ripp_ts now);
void ep_client_close_call(ripp_ep_call *c);
int ep_client_send_json(ripp_ep_call *c, const char *json, size_t len);
void ep_client_tick(ripp_ep_call *c, ripp_ts now);
int ep_client_write_frame(void *ud, int idx, void *user, const ripp_media_hdr *hdr,
                          const uint8_t *rec, size_t len);

#endif
