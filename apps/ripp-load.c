/* ripp-load - keeps N concurrent calls with full-duplex G.711 against one RIPP trunk (an
 * echo trunk) with the real client engine over HTTP/2 (or HTTP/3), and measures, over a
 * window, what the server spends on them: its CPU per call-second, memory, and the ack RTT,
 * one-way delay and frame loss the calls see. One JSON line on stdout, a summary on stderr.
 *
 * One-way delay of every frame sent: the engine's HTTP client is wrapped so that the acks
 * on each forward media byway are read as they arrive; an ack carries the receiver's wall
 * clock at reception (rx_time_us), and the wall clock at which the engine asked for the
 * frame is kept per call and sequence number (every frame next_frame returns takes the
 * next sequence number of the call, from 0). The difference includes any time the frame
 * waited in the scheduler's congestion queue, and the clock offset between the hosts.
 *
 * Media gaps (for failover and drain measurements): per call, the longest interval within the
 * window and its tail during which no media frame arrived from the server (rx gap, the
 * on_frame hook, duplicates and late frames included) or no ack arrived for the call's own
 * frames (ack gap); the call's media gap is the larger of the two. Quantiles over the calls
 * go into the JSON line ("media_gap"), with what the failover machinery did ("failover");
 * --per-call FILE writes one JSON line per call.
 *
 * With --setup-rate R it measures call setups instead: it places R calls per second, spread
 * evenly, each with a freshly signed PASSporT (the trunk key, or a SHAKEN PASSporT of an STI
 * certificate with --sti-cert), waits for its 201 and `accepted`, keeps it up with media
 * for --hold seconds and ends it; over the window it measures the calls completed and
 * failed (by class), the setup latency (start of signing to `accepted`) and the server's
 * and its own CPU per setup. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ripp/caps.h"
#include "ripp/driver.h"
#include "ripp/h3.h"
#include "ripp/io.h"
#include "ripp/media.h"
#include "ripp/owdhist.h"
#include "ripp/stir.h"
#include "ripp/transport.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_TIME 3

#define FRAME_BYTES 160 /* 20 ms of 8 kHz µ-law */
#define NFRAMES 8
#define STEP_NS (20 * RIPP_NS_PER_MS)
#define CONTROL_MS 10
#define CONNECT_TIMEOUT_NS (10 * RIPP_NS_PER_SEC)
#define TAIL_NS (1500 * RIPP_NS_PER_MS) /* losses of window frames are declared within 1 s */
#define DRAIN_NS (10 * RIPP_NS_PER_SEC)
#define CALLS_PER_CONNECTION 250
#define LAG_BUCKET_US 50
#define LAG_BUCKETS 2001 /* up to 100 ms; the last bucket holds everything above */
#define CAPS_MAX 65536
#define FAIL_SHOWN 5
#define TXRING 128 /* send times kept per call: 2.56 s, beyond the 1 s stall timeout */
#define LATE_MS_DEFAULT 60
#define RATE_MAX_CALLS 2000000 /* calls one setup-rate run may place */
#define PACER_MS 1             /* the setup-rate pacer's tick */
#define RATE_CONN_CALLS 250    /* setup-rate: one connection per this many calls up at once */
#define ORIG_TN_DEFAULT "15550000000"
#ifndef LOG_SHOWN
#define LOG_SHOWN 20 /* engine messages printed; the rest are only counted */
#endif

static const char usage_text[] =
    "usage: ripp-load --trunk URL --token T --ca FILE --identity-key PEM --calls N\n"
    "                 --seconds S [options]\n"
    "       ripp-load --trunk URL --token T --ca FILE --identity-key PEM --setup-rate R\n"
    "                 --seconds S [--hold S] [options]\n"
    "\n"
    "Places N calls on the trunk (an echo trunk: what is sent comes back), keeps them all\n"
    "sending G.711 PCMU both ways, and measures a window of S seconds after the ramp and a\n"
    "warm-up: the server's CPU (utime+stime of --server-pid), its RSS, and the client's\n"
    "view of the calls (frames sent, acked, lost, ack RTT quantiles, frames received).\n"
    "Prints one JSON line on stdout and a summary on stderr.\n"
    "\n"
    "  --trunk URL          the trunk URI, https://host:port/trunks/ID\n"
    "  --token T            the trunk's bearer token\n"
    "  --ca FILE            trust this certificate (PEM)\n"
    "  --identity-key PEM   P-256 private key that signs each call's PASSporT\n"
    "  --calls N            concurrent calls\n"
    "  --seconds S          measurement window\n"
    "  --ramp S             place the calls evenly over S seconds (default max(1, N/500))\n"
    "  --warmup S           wait S seconds after every call is up (default 2)\n"
    "  --connections K      client engines, each with its own HTTP connection\n"
    "                       (default ceil(N/250))\n"
    "  --transport T        h2 (default), h3 or auto\n"
    "  --late-ms L          the jitter-buffer depth of the one-way-delay figures: frames\n"
    "                       whose delay exceeds the lowest seen by more than L ms count\n"
    "                       as late (default 60)\n"
    "  --aligned            run every engine's 20 ms media clock in phase (default: the K\n"
    "                       engines are spread evenly over the 20 ms interval)\n"
    "  --setup-timeout S    calls not answered S seconds after the ramp count as failed\n"
    "                       (default 15)\n"
    "  --server-pid PID     the server process to measure (without it: no server figures)\n"
    "  --server-cpu N       the CPU the server is pinned to, for the core's busy time\n"
    "                       from /proc/stat (default 1; -1: skip)\n"
    "  --report FILE        also append the JSON line to FILE\n"
    "  --per-call FILE      write one JSON line per call to FILE: outcome, whole-call and\n"
    "                       window counters, media gaps (rx, ack), failover figures\n"
    "  --log-level LEVEL    error, warn (default), info or debug\n"
    "\n"
    "PASSporTs (both modes):\n"
    "  --sti-cert PEM       STI certificate (with TNAuthList) of --identity-key: every call\n"
    "                       carries a SHAKEN PASSporT signed with it, checked at --x5u\n"
    "  --x5u URL            certificate URL put in the PASSporT\n"
    "                       (default https://<trunk host>/stir/cert.pem)\n"
    "  --attest A|B|C       SHAKEN attestation with --sti-cert (default A)\n"
    "  --from TN            calling number (default " ORIG_TN_DEFAULT ")\n"
    "\n"
    "Call-setup-rate mode:\n"
    "  --setup-rate R       place R calls per second, evenly spaced, for a warm-up and then\n"
    "                       the --seconds window (replaces --calls). Each call: sign a\n"
    "                       PASSporT, POST, event and media byways, `accepted`, media for\n"
    "                       --hold seconds, end. Setup latency: start of signing to\n"
    "                       `accepted`. Only the calls placed in the window are counted\n"
    "  --hold S             how long each call stays up with media after `accepted`\n"
    "                       (default 1)\n"
    "  --warmup S           calls placed at the rate before the window, not counted\n"
    "                       (default: hold + 1)\n"
    "  --setup-timeout S    a call not accepted S seconds after its signing is cancelled\n"
    "                       and counted as failed (default 5 in this mode)\n"
    "  --connections K      default ceil(R x (hold + 0.5) / 250)\n"
    "\n"
    "Exit status: 0 when the window was measured, 1 when the calls could not be set up\n"
    "(connection, TLS, token, more than 10 % of the calls refused) or the server died,\n"
    "2 for usage errors, 3 when the hard time limit was reached.\n";

enum phase {
    PH_CONNECT, /* capAdv on every connection */
    PH_RAMP,
    PH_SETTLE, /* waiting for the last answers */
    PH_WARMUP,
    PH_WINDOW,
    PH_TAIL, /* traffic goes on while losses of window frames are declared */
    PH_RATE,       /* setup-rate: placing calls (warm-up, then the window) */
    PH_RATE_DRAIN, /* setup-rate: waiting for the window's calls to end */
    PH_ENDING,
    PH_DONE,
};

struct load;

/* One client engine: a carrier SBC instance with its own HTTP/2 connection. */
typedef struct lep {
    struct load *L;
    int idx;
    ripp_env env;
    ripp_ts offset; /* the engine's clock runs this far ahead: shifts its media grid */
    ripp_http_client *http;  /* what the engine uses (the one-way-delay wrapper or inner) */
    ripp_http_client *inner; /* the transport's client */
    ripp_ep *ep;
    uv_timer_t timer;
    uv_check_t check;
    ripp_ts armed;
    int caps_status;
    bool caps_done;
    char *caps_body; /* engine 0 only */
    size_t caps_len;
} lep;

typedef struct lcall lcall;
struct lcall {
    int idx;
    lep *e;
    ripp_ep_call *c; /* NULL before placing and after on_done */
    bool placed, answered, done, ended_by_us, setup_failed, abnormal;
    uint32_t fcount;
    uint64_t tx_wall[TXRING]; /* wall clock (µs) at which frame seq was produced */
    uint32_t tx_seq[TXRING];
    ripp_stats start;  /* at the window start */
    ripp_stats final;  /* at on_done */
    bool have_start;
    /* media gaps over the window and its tail (monotonic ns; 0: nothing yet) */
    ripp_ts last_rx, last_ack, rx_gap, ack_gap;
    ripp_ts done_at; /* on_done */
    ripp_ep_failover fo; /* at on_done */
    bool have_fo;
    char *uri; /* the call URI at on_done (--per-call) */
};

/* One call of the setup-rate mode: small, since a run may place a million. */
typedef struct rcall {
    ripp_ep_call *c; /* NULL before placing and after on_done */
    lep *e;
    uint32_t idx, fcount;
    bool placed, answered, done, timed_out, ended_by_us, measured;
    ripp_ts t_sched, t_start, t_answer; /* monotonic ns */
    uint32_t lat_us, media_us;          /* to `accepted`, to the first frame received */
} rcall;

typedef struct cpu_sample {
    bool ok;
    uint64_t server_ticks;
    uint64_t self_us;
    uint64_t core[8]; /* user nice system idle iowait irq softirq steal */
    bool core_ok;
    ripp_ts at;
} cpu_sample;

typedef struct load {
    /* options */
    const char *trunk, *token, *ca, *identity_key, *report, *per_call;
    long calls;
    double seconds, ramp, warmup, setup_timeout;
    int connections;
    bool aligned;
    long server_pid;
    int server_cpu;
    int log_level;
    ripp_transport transport;
    double late_ms;
    /* run time */
    bool handles_init; /* control timer and signal handles */
    uv_loop_t *loop;
    uv_timer_t control;
    uv_signal_t sigint, sigterm;
    lep *eps;
    lcall *cl;
    ripp_es256_key *key;
    uint8_t frames[NFRAMES][FRAME_BYTES];
    enum phase phase;
    ripp_ts phase_at, ramp_start, settle_deadline, drain_deadline, soft_deadline;
    long placed, answered, done, setup_failed, abnormal, place_errors, interrupted;
    char fail_detail[FAIL_SHOWN][256];
    int nfail_shown;
    char error[512];
    /* the window */
    bool measuring;
    cpu_sample w0, w1;
    uint64_t live_sum, live_samples;
    long live_start, live_end;
    uint64_t playout_present, playout_missing;
    uint64_t lag_hist[LAG_BUCKETS], lag_count;
    ripp_stats win;
    bool win_have_rtt;
    uint64_t lost_tail;
    long server_rss_kb;
    size_t conns_open;
    uint64_t log_count[4];
    /* media gaps are followed from the window start to the end of its tail */
    bool gaps_on;
    ripp_ts gaps_t0, gaps_t1;
    /* one-way delay of the frames sent, from the acks that arrive in the window */
    ripp_owdhist owd;
    uint64_t owd_unmatched, owd_acks_all;
    /* PASSporTs */
    const char *sti_cert, *x5u_opt, *from, *attest;
    char x5u[512];
    ripp_stir_signer *signer;
    /* setup-rate mode */
    bool rate_mode, warmup_set, timeout_set;
    double rate, hold;
    rcall *rc;
    long rtotal, rwarm, rplaced, rdone;
    long *fifo; /* answered calls in the order of their `accepted` (their hold ends in it) */
    long fifo_head, fifo_tail, to_cursor;
    ripp_ts t0, win_t0, win_t1, rate_deadline;
    bool pacer_init;
    uv_timer_t pacer;
    long m_placed, m_completed, m_failed, m_abnormal, m_ended_ok, m_media_ok, m_accepted_in_win;
    long w_placed, w_failed;
    uint64_t m_sent, m_acked, m_lost, m_rx;
    json_t *fail_classes; /* window calls: class -> count */
    uint64_t live_max;
} load;

static load L;

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
    if (L.error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L.error, sizeof L.error, fmt, ap);
    va_end(ap);
}

static double ns_to_s(ripp_ts ns) { return (double)ns / 1e9; }
static ripp_ts s_to_ns(double s) { return (ripp_ts)(s * 1e9); }

/* A loaded engine can say the same thing thousands of times a second; printing it all would
 * cost the generator the CPU it needs for the calls. */
static void on_log(void *ud, enum ripp_log_level level, const char *msg)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    (void)ud;
    unsigned lv = (unsigned)level < 4 ? (unsigned)level : 3;
    uint64_t n = L.log_count[0] + L.log_count[1] + L.log_count[2] + L.log_count[3];
    L.log_count[lv]++;
    if (n < LOG_SHOWN)
        fprintf(stderr, "ripp-load %s %s\n", names[lv], msg);
    else if (n == LOG_SHOWN)
        fprintf(stderr, "ripp-load: further engine messages are only counted\n");
}

/* ---- measurements from /proc ---- */

static bool read_server_ticks(uint64_t *ticks)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", L.server_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command name may hold spaces and parentheses: fields count from the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    unsigned long long ut, st;
    char state;
    if (sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &ut,
               &st) != 3 ||
        state == 'Z')
        return false;
    *ticks = ut + st;
    return true;
}

static long read_server_rss_kb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", L.server_pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static bool read_core(int cpu, uint64_t v[8])
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return false;
    char line[512], want[16];
    snprintf(want, sizeof want, "cpu%d ", cpu);
    bool ok = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) != 0)
            continue;
        unsigned long long a[8];
        if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &a[0], &a[1],
                   &a[2], &a[3], &a[4], &a[5], &a[6], &a[7]) == 8) {
            for (int i = 0; i < 8; i++)
                v[i] = a[i];
            ok = true;
        }
        break;
    }
    fclose(f);
    return ok;
}

static void cpu_sample_take(cpu_sample *s)
{
    memset(s, 0, sizeof *s);
    s->at = ripp_io_now();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s->self_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
                 (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
    s->ok = L.server_pid > 0 && read_server_ticks(&s->server_ticks);
    s->core_ok = L.server_cpu >= 0 && read_core(L.server_cpu, s->core);
}

/* ---- the test signal ---- */

static int make_frames(void)
{
    /* a 1 kHz tone at about -8 dBFS plus noise: never taken for silence, never CN */
    uint32_t rng = 0x2545f491u;
    for (int f = 0; f < NFRAMES; f++) {
        int16_t pcm[FRAME_BYTES];
        for (int i = 0; i < FRAME_BYTES; i++) {
            rng = rng * 1664525u + 1013904223u;
            double noise = ((double)(rng >> 16) / 65536.0 - 0.5) * 2000.0;
            double tone = 12000.0 * sin(2.0 * M_PI * 1000.0 * (double)i / RIPP_PCM_RATE);
            pcm[i] = (int16_t)lrint(tone + noise);
        }
        if (ripp_g711_encode(RIPP_CODEC_PCMU, pcm, FRAME_BYTES, L.frames[f]) != FRAME_BYTES)
            return -1;
    }
    return 0;
}

/* ---- one engine on the loop, with its clock shifted by its phase ---- */

static uint64_t env_wall_us(void *ud)
{
    (void)ud;
    return ripp_io_wall_us();
}

static ripp_ts env_mono_ns(void *ud)
{
    const lep *e = ud;
    return ripp_io_now() + e->offset;
}

static int env_random(void *ud, uint8_t *buf, size_t n)
{
    (void)ud;
    return ripp_io_random(buf, n);
}

static ripp_ts lep_now(const lep *e) { return ripp_io_now() + e->offset; }

static void lep_on_timer(uv_timer_t *t);

static void lep_arm(lep *e)
{
    ripp_ts when = ripp_ep_expiry(e->ep);
    if (when == e->armed)
        return;
    e->armed = when;
    if (when == RIPP_TS_NEVER) {
        uv_timer_stop(&e->timer);
        return;
    }
    ripp_ts now = lep_now(e);
    /* libuv timers count from the loop's cached time in whole ms: refresh it and round up.
     * Never 0: libuv 1.44 runs a timer started with 0 from a timer callback again before
     * it polls, so a tick that overran its interval would starve the sockets. */
    uv_update_time(e->L->loop);
    uint64_t ms = when > now ? (when - now + RIPP_NS_PER_MS - 1) / RIPP_NS_PER_MS : 1;
    uv_timer_start(&e->timer, lep_on_timer, ms, 0);
}

/* How late the engine's work is: from the deadline it asked for to the end of the tick,
 * i.e. how late the last frame produced in that tick left its due time. */
static void note_lag(ripp_ts due, ripp_ts end)
{
    uint64_t us = end > due ? (end - due) / RIPP_NS_PER_US : 0;
    uint64_t b = us / LAG_BUCKET_US;
    L.lag_hist[b < LAG_BUCKETS ? b : LAG_BUCKETS - 1]++;
    L.lag_count++;
}

static void lep_on_timer(uv_timer_t *t)
{
    lep *e = t->data;
    e->armed = RIPP_TS_NEVER;
    ripp_ts due = ripp_ep_expiry(e->ep), now = lep_now(e);
    ripp_ep_handle_expiry(e->ep, now);
    if (L.measuring && due != RIPP_TS_NEVER && now >= due)
        note_lag(due, lep_now(e));
    lep_arm(e);
}

static void lep_on_check(uv_check_t *c) { lep_arm(c->data); }

/* ---- engine hooks ---- */

static void on_event(void *ud, ripp_ep_call *c, const ripp_event *ev, bool local)
{
    (void)ud;
    lcall *lc = ripp_ep_call_user(c);
    if (!lc)
        return;
    if (ev->type == RIPP_EV_ACCEPTED && !local && !lc->answered && !lc->setup_failed) {
        lc->answered = true;
        L.answered++;
    }
}

static int64_t next_frame(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                          size_t cap)
{
    (void)ud;
    lcall *lc = ripp_ep_call_user(c);
    if (!lc || cap < FRAME_BYTES)
        return 0;
    *codec = RIPP_CODEC_PCMU;
    lc->tx_wall[lc->fcount % TXRING] = ripp_io_wall_us();
    lc->tx_seq[lc->fcount % TXRING] = lc->fcount;
    memcpy(buf, L.frames[(lc->fcount++ + (uint32_t)lc->idx) % NFRAMES], FRAME_BYTES);
    return FRAME_BYTES;
}

/* One arrival (a frame, or an ack) for a call: the interval since the previous one. */
static void gap_note(ripp_ts *last, ripp_ts *max)
{
    if (!L.gaps_on)
        return;
    ripp_ts t = ripp_io_now();
    if (*last && t > *last && t - *last > *max)
        *max = t - *last;
    *last = t;
}

static void on_frame(void *ud, ripp_ep_call *c, uint32_t seq, enum ripp_codec codec,
                     const uint8_t *payload, size_t len, ripp_ts now)
{
    (void)ud;
    (void)seq;
    (void)codec;
    (void)payload;
    (void)len;
    (void)now;
    lcall *lc = ripp_ep_call_user(c);
    if (lc)
        gap_note(&lc->last_rx, &lc->rx_gap);
}

static void on_playout(void *ud, ripp_ep_call *c, const ripp_jbuf_out *out)
{
    (void)ud;
    (void)c;
    if (!L.measuring)
        return;
    if (out->present)
        L.playout_present++;
    else
        L.playout_missing++;
}

static void note_failure(const lcall *lc, const char *what)
{
    if (L.nfail_shown >= FAIL_SHOWN)
        return;
    char detail[200] = "";
    int st = lc->c ? ripp_ep_call_setup_status(lc->c, detail, sizeof detail) : 0;
    const ripp_call *f = lc->c ? ripp_ep_call_fsm(lc->c) : NULL;
    snprintf(L.fail_detail[L.nfail_shown++], sizeof L.fail_detail[0],
             "call %d: %s (outcome %s, code %d, http %d %s)", lc->idx, what,
             f ? ripp_call_outcome_name(f->outcome) : "?", f ? f->end_code : 0, st, detail);
}

static void on_done(void *ud, ripp_ep_call *c)
{
    (void)ud;
    lcall *lc = ripp_ep_call_user(c);
    if (!lc)
        return;
    const ripp_call *f = ripp_ep_call_fsm(c);
    lc->final = *ripp_ep_call_stats(c);
    ripp_ep_call_failover(c, &lc->fo);
    lc->have_fo = true;
    if (L.per_call && !lc->uri)
        lc->uri = strdup(ripp_ep_call_uri(c));
    lc->done_at = ripp_io_now();
    if (!lc->answered) {
        if (!lc->setup_failed) {
            lc->setup_failed = true;
            L.setup_failed++;
            note_failure(lc, "not set up");
        }
    } else if (!lc->ended_by_us || f->outcome != RIPP_OUTCOME_ENDED_LOCAL) {
        lc->abnormal = true;
        L.abnormal++;
        note_failure(lc, lc->ended_by_us ? "ended abnormally" : "ended before its time");
    }
    lc->done = true;
    lc->c = NULL;
    ripp_ep_call_set_user(c, NULL);
    L.done++;
}

static const ripp_ep_hooks hooks = {
    .on_event = on_event,
    .next_frame = next_frame,
    .on_playout = on_playout,
    .on_done = on_done,
    .on_frame = on_frame,
};

/* ---- the HTTP client seen through: acks on forward media byways ---- */

typedef struct owd_x owd_x;
typedef struct owd_client {
    ripp_http_client base; /* first: the engine sees a ripp_http_client */
    ripp_http_client *inner;
    lep *e;
    owd_x *live; /* wrapped exchanges not closed yet */
} owd_client;

struct owd_x {
    owd_client *oc;
    owd_x *prev, *next;
    const ripp_xchg_cbs *cbs; /* the engine's */
    void *ud;
    lcall *lc;
    ripp_ack_parser ap;
};

static int owd_on_ack(void *ud, const ripp_ack *ack)
{
    const owd_x *ox = ud;
    lcall *lc = ox->lc;
    unsigned i = (unsigned)(ack->seq % TXRING);
    L.owd_acks_all++;
    gap_note(&lc->last_ack, &lc->ack_gap);
    if (lc->tx_seq[i] != ack->seq || lc->tx_wall[i] == 0) {
        L.owd_unmatched++;
        return 0;
    }
    if (L.measuring)
        ripp_owdhist_add(&L.owd, (int64_t)ack->rx_time_us - (int64_t)lc->tx_wall[i]);
    return 0;
}

static void owd_unlink(owd_x *ox)
{
    if (ox->prev)
        ox->prev->next = ox->next;
    else
        ox->oc->live = ox->next;
    if (ox->next)
        ox->next->prev = ox->prev;
}

static void owd_on_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    owd_x *ox = ud;
    if (ox->cbs->on_response)
        ox->cbs->on_response(x, ox->ud, status, h, n);
}

static void owd_on_data(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    owd_x *ox = ud;
    ripp_ack_parser_feed(&ox->ap, data, len, owd_on_ack, ox); /* errors: the engine sees them */
    if (ox->cbs->on_data)
        ox->cbs->on_data(x, ox->ud, data, len);
}

static void owd_on_end(ripp_xchg *x, void *ud)
{
    owd_x *ox = ud;
    if (ox->cbs->on_end)
        ox->cbs->on_end(x, ox->ud);
}

static void owd_on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    owd_x *ox = ud;
    if (ox->cbs->on_close)
        ox->cbs->on_close(x, ox->ud, error, code);
    owd_unlink(ox);
    free(ox);
}

static const ripp_xchg_cbs owd_cbs = {.on_response = owd_on_response,
                                      .on_data = owd_on_data,
                                      .on_end = owd_on_end,
                                      .on_close = owd_on_close};

/* The call whose forward media byway url is (call URI + "/media-forward"), or NULL. */
static lcall *owd_call_of(const lep *e, const char *url)
{
    static const char suffix[] = "/media-forward";
    size_t ul = strlen(url), sl = sizeof suffix - 1;
    if (ul <= sl || strcmp(url + ul - sl, suffix) != 0)
        return NULL;
    for (long i = e->idx; i < L.calls; i += L.connections) {
        lcall *lc = &L.cl[i];
        if (!lc->c)
            continue;
        const char *uri = ripp_ep_call_uri(lc->c);
        if (strlen(uri) == ul - sl && strncmp(uri, url, ul - sl) == 0)
            return lc;
    }
    return NULL;
}

static ripp_xchg *owd_request(ripp_http_client *c, const char *method, const char *url,
                              const ripp_hdr *hdrs, size_t n, bool end, const ripp_xchg_cbs *cbs,
                              void *ud, int *err)
{
    owd_client *oc = (owd_client *)c;
    lcall *lc = strcmp(method, "POST") == 0 ? owd_call_of(oc->e, url) : NULL;
    owd_x *ox = lc ? calloc(1, sizeof *ox) : NULL;
    if (!ox) /* not a forward media byway (or no memory to watch it): pass it through */
        return ripp_http_client_request(oc->inner, method, url, hdrs, n, end, cbs, ud, err);
    ox->oc = oc;
    ox->cbs = cbs;
    ox->ud = ud;
    ox->lc = lc;
    ripp_ack_parser_init(&ox->ap);
    ripp_xchg *x = ripp_http_client_request(oc->inner, method, url, hdrs, n, end, &owd_cbs, ox, err);
    if (!x) {
        free(ox);
        return NULL;
    }
    ox->next = oc->live;
    if (oc->live)
        oc->live->prev = ox;
    oc->live = ox;
    return x;
}

static void owd_del(ripp_http_client *c)
{
    owd_client *oc = (owd_client *)c;
    ripp_http_client_del(oc->inner);
    while (oc->live) {
        owd_x *ox = oc->live;
        owd_unlink(ox);
        free(ox);
    }
    free(oc);
}

static void owd_refresh(ripp_http_client *c, const char *url, ripp_ts quiet)
{
    ripp_http_client_refresh(((owd_client *)c)->inner, url, quiet);
}

static const ripp_http_client_vt owd_vt = {
    .request = owd_request, .del = owd_del, .refresh = owd_refresh};

/* Wraps inner (taken over: deleted with the wrapper). NULL when out of memory (inner is
 * then deleted). */
static ripp_http_client *owd_client_new(ripp_http_client *inner, lep *e)
{
    owd_client *oc = calloc(1, sizeof *oc);
    if (!oc) {
        ripp_http_client_del(inner);
        return NULL;
    }
    oc->base.vt = &owd_vt;
    oc->inner = inner;
    oc->e = e;
    return &oc->base;
}

/* ---- capAdv: opens each connection and checks the token before any call ---- */

static void caps_on_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    (void)x;
    (void)h;
    (void)n;
    ((lep *)ud)->caps_status = status;
}

static void caps_on_data(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    lep *e = ud;
    (void)x;
    if (e->caps_body && e->caps_len + len < CAPS_MAX) {
        memcpy(e->caps_body + e->caps_len, data, len);
        e->caps_len += len;
        e->caps_body[e->caps_len] = 0;
    }
}

static void caps_on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    (void)x;
    (void)error;
    (void)code;
    ((lep *)ud)->caps_done = true;
}

static const ripp_xchg_cbs caps_cbs = {
    .on_response = caps_on_response, .on_data = caps_on_data, .on_close = caps_on_close};

static int caps_request(lep *e)
{
    char url[2048], auth[1200];
    snprintf(url, sizeof url, "%s/capAdv", L.trunk);
    snprintf(auth, sizeof auth, "Bearer %s", L.token);
    ripp_hdr h[] = {{"authorization", auth}, {"accept", "application/json"}};
    int err = 0;
    if (!ripp_http_client_request(e->http, "GET", url, h, 2, true, &caps_cbs, e, &err)) {
        set_error("connection %d: cannot request capAdv: %s", e->idx, ripp_strerror(err));
        return -1;
    }
    return 0;
}

/* ---- placing calls ---- */

static int sign_cb(void *ud, const uint8_t *data, size_t len, uint8_t sig[64])
{
    return ripp_es256_sign(ud, data, len, sig);
}

/* The Identity value of a call to dest_tn: a SHAKEN PASSporT of the STI certificate
 * (--sti-cert), or one signed with the trunk's key, signed now. */
static int make_identity(const char *dest_tn, char *out, size_t cap)
{
    int64_t n;
    if (L.signer) {
        ripp_stir_claims c = {.orig_tn = L.from, .dest_tn = dest_tn, .attest = L.attest};
        n = ripp_stir_sign(L.signer, &c, out, cap);
    } else {
        ripp_passport pp;
        memset(&pp, 0, sizeof pp);
        snprintf(pp.orig_tn, sizeof pp.orig_tn, "%s", L.from);
        snprintf(pp.dest_tn, sizeof pp.dest_tn, "%s", dest_tn);
        pp.iat = (int64_t)(ripp_io_wall_us() / 1000000);
        snprintf(pp.x5u, sizeof pp.x5u, "%s", L.x5u);
        n = ripp_passport_sign(&pp, sign_cb, L.key, out, cap);
    }
    if (n < 0) {
        set_error("cannot sign a PASSporT: %s",
                  n == RIPP_ERR_AUTH ? "the certificate's TNAuthList does not cover --from"
                                     : ripp_strerror((int)n));
        return -1;
    }
    return 0;
}

static int place_call(lcall *lc)
{
    lep *e = lc->e;
    char target[96], dest[32], identity[RIPP_IDENTITY_MAX];
    snprintf(dest, sizeof dest, "1556%07d", lc->idx);
    snprintf(target, sizeof target, "%s@e164.arpa", dest);
    if (make_identity(dest, identity, sizeof identity) < 0)
        return -1;
    ripp_place_opts po = {
        .trunk_url = L.trunk, .token = L.token, .target = target, .identity = identity};
    int rv = 0;
    lc->placed = true;
    L.placed++;
    lc->c = ripp_ep_call_place(e->ep, &po, lep_now(e), &rv);
    if (!lc->c) {
        L.place_errors++;
        lc->setup_failed = true;
        lc->done = true;
        L.setup_failed++;
        L.done++;
        note_failure(lc, ripp_strerror(rv));
        return 0;
    }
    ripp_ep_call_set_user(lc->c, lc);
    lep_arm(e);
    return 0;
}

/* ---- the window ---- */

static const ripp_stats *call_stats(const lcall *lc)
{
    return lc->c ? ripp_ep_call_stats(lc->c) : &lc->final;
}

/* Adds end - start of one call to the window totals (counters and RTT histogram). */
static void window_add(const ripp_stats *end, const ripp_stats *start)
{
    ripp_stats *w = &L.win;
    w->sent += end->sent - start->sent;
    w->acked += end->acked - start->acked;
    w->lost += end->lost - start->lost;
    w->late += end->late - start->late;
    w->stray_acks += end->stray_acks - start->stray_acks;
    for (unsigned i = 0; i < RIPP_STATS_RTT_BUCKETS; i++)
        w->rtt_hist[i] += end->rtt_hist[i] - start->rtt_hist[i];
    uint64_t n = end->rtt_count - start->rtt_count;
    if (n) {
        /* the window's own extremes are unknown: the whole call's bound them */
        if (!L.win_have_rtt || end->rtt_min_us < w->rtt_min_us)
            w->rtt_min_us = end->rtt_min_us;
        if (end->rtt_max_us > w->rtt_max_us)
            w->rtt_max_us = end->rtt_max_us;
        L.win_have_rtt = true;
    }
    w->rtt_count += n;
    w->rx_frames += end->rx_frames - start->rx_frames;
    w->rx_duplicates += end->rx_duplicates - start->rx_duplicates;
    w->rx_late += end->rx_late - start->rx_late;
    w->rx_concealed += end->rx_concealed - start->rx_concealed;
}

static long live_calls(void)
{
    long n = 0;
    for (long i = 0; i < L.calls; i++) {
        const lcall *lc = &L.cl[i];
        if (lc->c && ripp_ep_call_fsm(lc->c)->state == RIPP_CALL_ACTIVE)
            n++;
    }
    return n;
}

static void window_start(void)
{
    for (long i = 0; i < L.placed; i++) {
        lcall *lc = &L.cl[i];
        lc->start = *call_stats(lc);
        lc->have_start = true;
    }
    L.live_start = live_calls();
    /* a gap open at the window start counts from it */
    L.gaps_t0 = ripp_io_now();
    for (long i = 0; i < L.placed; i++) {
        lcall *lc = &L.cl[i];
        lc->last_rx = lc->last_ack = L.gaps_t0;
        lc->rx_gap = lc->ack_gap = 0;
    }
    L.gaps_on = true;
    cpu_sample_take(&L.w0);
    if (L.server_pid > 0 && !L.w0.ok)
        set_error("server process %ld is gone (or /proc/%ld/stat unreadable)", L.server_pid,
                  L.server_pid);
    L.measuring = true;
}

static void window_end(void)
{
    cpu_sample_take(&L.w1);
    L.measuring = false;
    if (L.server_pid > 0 && !L.w1.ok)
        set_error("server process %ld exited during the window", L.server_pid);
    L.server_rss_kb = L.server_pid > 0 ? read_server_rss_kb() : -1;
    ripp_stats_init(&L.win);
    for (long i = 0; i < L.placed; i++) {
        const lcall *lc = &L.cl[i];
        if (lc->have_start)
            window_add(call_stats(lc), &lc->start);
    }
    L.live_end = live_calls();
    L.conns_open = 0;
    for (int k = 0; k < L.connections; k++) {
        ripp_http_client *inner = L.eps[k].inner;
        if (L.transport == RIPP_TRANSPORT_H2)
            L.conns_open += ripp_h2_client_open_connections(inner);
        else if (ripp_h3_client_is(inner))
            L.conns_open += ripp_h3_client_open_connections(inner);
    }
}

static void tail_end(void)
{
    /* a gap still open at the end of the tail counts up to it (a call that lost its media
     * for good has one as long as the rest of the window); a call that ended is judged by
     * its outcome instead */
    L.gaps_t1 = ripp_io_now();
    L.gaps_on = false;
    for (long i = 0; i < L.placed; i++) {
        lcall *lc = &L.cl[i];
        if (!lc->have_start || !lc->c)
            continue;
        if (L.gaps_t1 - lc->last_rx > lc->rx_gap)
            lc->rx_gap = L.gaps_t1 - lc->last_rx;
        if (L.gaps_t1 - lc->last_ack > lc->ack_gap)
            lc->ack_gap = L.gaps_t1 - lc->last_ack;
    }
    L.lost_tail = 0;
    for (long i = 0; i < L.placed; i++) {
        const lcall *lc = &L.cl[i];
        if (lc->have_start)
            L.lost_tail += call_stats(lc)->lost - lc->start.lost;
    }
}

/* ---- the run's phases, on a 10 ms control timer ---- */

static void enter(enum phase p)
{
    L.phase = p;
    L.phase_at = ripp_io_now();
}

static void rate_start(void);
static void rate_end_all(void);
static void rate_drain(ripp_ts now);

static void start_ending(void)
{
    enter(PH_ENDING);
    L.drain_deadline = L.phase_at + DRAIN_NS;
    if (L.rate_mode) {
        rate_end_all();
        return;
    }
    for (long i = 0; i < L.placed; i++) {
        lcall *lc = &L.cl[i];
        if (!lc->c || lc->done || ripp_ep_call_fsm(lc->c)->state == RIPP_CALL_SETUP_SENT)
            continue;
        lc->ended_by_us = true;
        ripp_ep_call_end(lc->c, NULL, lep_now(lc->e));
    }
    for (int k = 0; k < L.connections; k++)
        lep_arm(&L.eps[k]);
}

static bool setup_failed_broadly(void)
{
    if (L.setup_failed * 10 <= L.calls && L.answered > 0)
        return false;
    set_error("%ld of %ld calls failed to set up%s%s", L.setup_failed, L.calls,
              L.nfail_shown ? "; first: " : "", L.nfail_shown ? L.fail_detail[0] : "");
    return true;
}

static void after_connect(void)
{
    for (int k = 0; k < L.connections; k++) {
        const lep *e = &L.eps[k];
        if (e->caps_status == 200)
            continue;
        if (e->caps_status == 0)
            set_error("connection %d: no answer from %s (connection or TLS failure; see --ca)",
                      k, L.trunk);
        else
            set_error("connection %d: capAdv answered %d: %.200s", k, e->caps_status,
                      k == 0 && e->caps_body ? e->caps_body : "");
        return;
    }
    ripp_caps caps;
    ripp_caps_init_default(&caps);
    ripp_caps_parse(&caps, L.eps[0].caps_body, L.eps[0].caps_len, NULL);
    if (!ripp_caps_accepts(&caps, RIPP_CODEC_PCMU)) {
        set_error("the trunk does not accept audio/PCMU");
        return;
    }
    if (L.rate_mode) {
        rate_start();
        return;
    }
    fprintf(stderr, "ripp-load: %d connection(s) up; placing %ld calls over %.1f s\n",
            L.connections, L.calls, L.ramp);
    enter(PH_RAMP);
    L.ramp_start = L.phase_at;
}

static void ramp(ripp_ts now)
{
    double frac = L.ramp > 0 ? ns_to_s(now - L.ramp_start) / L.ramp : 1.0;
    long target = frac >= 1.0 ? L.calls : (long)ceil(frac * (double)L.calls);
    if (target > L.calls)
        target = L.calls;
    while (L.placed < target)
        if (place_call(&L.cl[L.placed]) < 0)
            return;
    if (L.placed == L.calls) {
        fprintf(stderr, "ripp-load: %ld calls placed in %.2f s (%ld answered so far)\n",
                L.placed, ns_to_s(now - L.ramp_start), L.answered);
        enter(PH_SETTLE);
        L.settle_deadline = L.phase_at + s_to_ns(L.setup_timeout);
    }
}

static void settle(ripp_ts now)
{
    if (L.answered + L.setup_failed < L.calls) {
        if (now < L.settle_deadline)
            return;
        for (long i = 0; i < L.calls; i++) {
            lcall *lc = &L.cl[i];
            if (lc->answered || lc->setup_failed || lc->done)
                continue;
            lc->setup_failed = true;
            L.setup_failed++;
            note_failure(lc, "not answered within the setup timeout");
            /* a call still waiting for its POST cannot be ended (no call URI yet) */
            if (lc->c && ripp_ep_call_fsm(lc->c)->state != RIPP_CALL_SETUP_SENT) {
                lc->ended_by_us = true;
                ripp_ep_call_end(lc->c, NULL, lep_now(lc->e));
                lep_arm(lc->e);
            }
        }
    }
    fprintf(stderr, "ripp-load: %ld calls answered, %ld failed to set up (%.2f s after the ramp)\n",
            L.answered, L.setup_failed, ns_to_s(now - L.phase_at));
    if (setup_failed_broadly()) {
        start_ending();
        return;
    }
    enter(PH_WARMUP);
}

static const char *phase_name(enum phase p)
{
    static const char *names[] = {"connect", "ramp", "settle", "warm-up",
                                  "window",  "tail", "rate",   "rate drain",
                                  "ending",  "done"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "?";
}

static void on_control(uv_timer_t *t)
{
    (void)t;
    ripp_ts now = ripp_io_now();
    /* an overloaded generator crawls through its phases: end with a result while there
     * is time left, before the hard limit kills it without one */
    if (now >= L.soft_deadline && L.phase < PH_DONE) {
        set_error("time budget exhausted in the %s phase (the generator's loop is overloaded)",
                  phase_name(L.phase));
        if (L.phase < PH_ENDING) {
            start_ending();
            L.drain_deadline = now + 3 * RIPP_NS_PER_SEC;
        } else {
            enter(PH_DONE);
            uv_stop(L.loop);
        }
        return;
    }
    if (L.error[0] && L.phase < PH_ENDING) {
        start_ending();
        return;
    }
    switch (L.phase) {
    case PH_CONNECT: {
        bool all = true;
        for (int k = 0; k < L.connections; k++)
            all = all && L.eps[k].caps_done;
        if (all)
            after_connect();
        else if (now - L.phase_at >= CONNECT_TIMEOUT_NS)
            set_error("capAdv not answered within %d s", (int)(CONNECT_TIMEOUT_NS / RIPP_NS_PER_SEC));
        break;
    }
    case PH_RAMP:
        ramp(now);
        break;
    case PH_SETTLE:
        settle(now);
        break;
    case PH_WARMUP:
        if (now - L.phase_at >= s_to_ns(L.warmup)) {
            window_start();
            fprintf(stderr, "ripp-load: window of %.1f s starts with %ld live calls\n",
                    L.seconds, L.live_start);
            enter(PH_WINDOW);
        }
        break;
    case PH_WINDOW:
        if ((now - L.phase_at) / RIPP_NS_PER_MS % 100 < CONTROL_MS) {
            L.live_sum += (uint64_t)live_calls();
            L.live_samples++;
        }
        if (now - L.phase_at >= s_to_ns(L.seconds)) {
            window_end();
            fprintf(stderr, "ripp-load: window ends\n");
            enter(PH_TAIL);
        }
        break;
    case PH_TAIL:
        if (now - L.phase_at >= TAIL_NS) {
            tail_end();
            fprintf(stderr, "ripp-load: window done; ending %ld calls\n", live_calls());
            start_ending();
        }
        break;
    case PH_RATE:
        break; /* the pacer places and ends the calls */
    case PH_RATE_DRAIN:
        rate_drain(now);
        break;
    case PH_ENDING:
        if (L.rate_mode ? L.rdone >= L.rplaced : L.done >= L.placed)
            now = L.drain_deadline; /* everything finished */
        if (now >= L.drain_deadline) {
            long left = L.rate_mode ? L.rplaced - L.rdone : L.placed - L.done;
            if (left > 0)
                fprintf(stderr, "ripp-load: %ld calls not finished %d s after the end\n", left,
                        (int)(DRAIN_NS / RIPP_NS_PER_SEC));
            enter(PH_DONE);
            uv_stop(L.loop);
        }
        break;
    case PH_DONE:
        break;
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    L.interrupted++;
    set_error("interrupted by signal %d", signum);
    if (L.phase < PH_ENDING && L.interrupted == 1)
        start_ending();
    else
        uv_stop(L.loop);
}

static void on_alarm(int sig)
{
    static const char msg[] = "ripp-load: hard time limit reached\n";
    (void)sig;
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(EXIT_TIME);
}

/* ---- the result ---- */

static double lag_quantile_ms(double q)
{
    if (!L.lag_count)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)L.lag_count), seen = 0;
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < LAG_BUCKETS; i++) {
        seen += L.lag_hist[i];
        if (seen >= rank)
            return ((double)i * LAG_BUCKET_US + LAG_BUCKET_US / 2.0) / 1000.0;
    }
    return (double)LAG_BUCKETS * LAG_BUCKET_US / 1000.0;
}

static json_t *jreal(double v, double scale)
{
    return json_real(round(v * scale) / scale);
}

static json_t *stats_json(const ripp_stats *s)
{
    char buf[1024];
    if (ripp_stats_format_json(s, buf, sizeof buf) < 0)
        return json_object();
    json_t *o = json_loads(buf, 0, NULL);
    return o ? o : json_object();
}

static int cmp_ts(const void *a, const void *b)
{
    ripp_ts x = *(const ripp_ts *)a, y = *(const ripp_ts *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of n sorted values, in ms. */
static double ts_quantile_ms(const ripp_ts *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t r = (size_t)ceil(q * (double)n);
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return (double)v[r - 1] / 1e6;
}

/* A call whose media gaps count: up at the window start, and neither lost nor failed. */
static bool gap_call(const lcall *lc)
{
    return lc->have_start && lc->answered && !lc->abnormal && !lc->setup_failed;
}

static ripp_ts call_gap(const lcall *lc) { return lc->rx_gap > lc->ack_gap ? lc->rx_gap : lc->ack_gap; }

/* "media_gap" and "failover" members: quantiles of the per-call gaps over the calls that
 * count, and what the failover machinery did for all calls. */
static void gaps_json(json_t *o)
{
    size_t n = 0;
    ripp_ts *g = calloc((size_t)L.calls + 1, sizeof *g), *rx = calloc((size_t)L.calls + 1, sizeof *rx),
            *ak = calloc((size_t)L.calls + 1, sizeof *ak), *rec = calloc((size_t)L.calls + 1, sizeof *rec);
    if (!g || !rx || !ak || !rec) {
        free(g);
        free(rx);
        free(ak);
        free(rec);
        return;
    }
    long over40 = 0, over300 = 0, recovered = 0;
    uint64_t recoveries = 0, migrations = 0, attempts = 0, resent = 0, dropped = 0;
    size_t nrec = 0;
    for (long i = 0; i < L.placed; i++) {
        const lcall *lc = &L.cl[i];
        if (lc->have_fo) {
            recoveries += lc->fo.recoveries;
            migrations += lc->fo.migrations;
            attempts += lc->fo.attempts;
            resent += lc->fo.resent;
            dropped += lc->fo.dropped;
            if (lc->fo.recoveries || lc->fo.migrations) {
                recovered++;
                rec[nrec++] = lc->fo.max_gap;
            }
        }
        if (!gap_call(lc))
            continue;
        g[n] = call_gap(lc);
        rx[n] = lc->rx_gap;
        ak[n] = lc->ack_gap;
        if (g[n] > 40 * RIPP_NS_PER_MS)
            over40++;
        if (g[n] > 300 * RIPP_NS_PER_MS)
            over300++;
        n++;
    }
    qsort(g, n, sizeof *g, cmp_ts);
    qsort(rx, n, sizeof *rx, cmp_ts);
    qsort(ak, n, sizeof *ak, cmp_ts);
    qsort(rec, nrec, sizeof *rec, cmp_ts);
    json_t *m = json_object();
    json_object_set_new(m, "calls", json_integer((json_int_t)n));
    json_object_set_new(m, "span_s", jreal(ns_to_s(L.gaps_t1 - L.gaps_t0), 1000));
    json_object_set_new(m, "p50_ms", jreal(ts_quantile_ms(g, n, 0.5), 1000));
    json_object_set_new(m, "p99_ms", jreal(ts_quantile_ms(g, n, 0.99), 1000));
    json_object_set_new(m, "max_ms", jreal(ts_quantile_ms(g, n, 1.0), 1000));
    json_object_set_new(m, "over_40ms", json_integer(over40));
    json_object_set_new(m, "over_300ms", json_integer(over300));
    json_object_set_new(m, "rx_p50_ms", jreal(ts_quantile_ms(rx, n, 0.5), 1000));
    json_object_set_new(m, "rx_p99_ms", jreal(ts_quantile_ms(rx, n, 0.99), 1000));
    json_object_set_new(m, "rx_max_ms", jreal(ts_quantile_ms(rx, n, 1.0), 1000));
    json_object_set_new(m, "ack_p50_ms", jreal(ts_quantile_ms(ak, n, 0.5), 1000));
    json_object_set_new(m, "ack_p99_ms", jreal(ts_quantile_ms(ak, n, 0.99), 1000));
    json_object_set_new(m, "ack_max_ms", jreal(ts_quantile_ms(ak, n, 1.0), 1000));
    json_object_set_new(o, "media_gap", m);
    json_t *f = json_object();
    json_object_set_new(f, "calls_moved", json_integer(recovered));
    json_object_set_new(f, "recoveries", json_integer((json_int_t)recoveries));
    json_object_set_new(f, "migrations", json_integer((json_int_t)migrations));
    json_object_set_new(f, "attempts", json_integer((json_int_t)attempts));
    json_object_set_new(f, "resent", json_integer((json_int_t)resent));
    json_object_set_new(f, "dropped", json_integer((json_int_t)dropped));
    json_object_set_new(f, "reconnect_p50_ms", jreal(ts_quantile_ms(rec, nrec, 0.5), 1000));
    json_object_set_new(f, "reconnect_p99_ms", jreal(ts_quantile_ms(rec, nrec, 0.99), 1000));
    json_object_set_new(f, "reconnect_max_ms", jreal(ts_quantile_ms(rec, nrec, 1.0), 1000));
    json_object_set_new(o, "failover", f);
    free(g);
    free(rx);
    free(ak);
    free(rec);
}

/* --per-call FILE: one JSON line per call. */
static void write_per_call(void)
{
    FILE *f = fopen(L.per_call, "w");
    if (!f) {
        fprintf(stderr, "ripp-load: cannot write %s: %s\n", L.per_call, strerror(errno));
        return;
    }
    for (long i = 0; i < L.placed; i++) {
        const lcall *lc = &L.cl[i];
        const ripp_stats *s = call_stats(lc);
        json_t *o = json_object();
        json_object_set_new(o, "idx", json_integer(lc->idx));
        const char *uri = lc->c ? ripp_ep_call_uri(lc->c) : lc->uri;
        json_object_set_new(o, "call", uri ? json_string(uri) : json_null());
        json_object_set_new(o, "answered", json_boolean(lc->answered));
        json_object_set_new(o, "setup_failed", json_boolean(lc->setup_failed));
        json_object_set_new(o, "lost_call", json_boolean(lc->abnormal));
        json_object_set_new(o, "done", json_boolean(lc->done));
        json_object_set_new(o, "whole", stats_json(s));
        if (lc->have_start) {
            json_object_set_new(o, "win_sent", json_integer((json_int_t)(s->sent - lc->start.sent)));
            json_object_set_new(o, "win_acked", json_integer((json_int_t)(s->acked - lc->start.acked)));
            json_object_set_new(o, "win_lost", json_integer((json_int_t)(s->lost - lc->start.lost)));
            json_object_set_new(o, "rx_gap_ms", jreal((double)lc->rx_gap / 1e6, 1000));
            json_object_set_new(o, "ack_gap_ms", jreal((double)lc->ack_gap / 1e6, 1000));
            json_object_set_new(o, "media_gap_ms", jreal((double)call_gap(lc) / 1e6, 1000));
        }
        if (lc->have_fo) {
            json_t *fo = json_object();
            json_object_set_new(fo, "recoveries", json_integer(lc->fo.recoveries));
            json_object_set_new(fo, "migrations", json_integer(lc->fo.migrations));
            json_object_set_new(fo, "attempts", json_integer(lc->fo.attempts));
            json_object_set_new(fo, "resent", json_integer((json_int_t)lc->fo.resent));
            json_object_set_new(fo, "buffered_max", json_integer((json_int_t)lc->fo.buffered_max));
            json_object_set_new(fo, "dropped", json_integer((json_int_t)lc->fo.dropped));
            json_object_set_new(fo, "max_gap_ms", jreal((double)lc->fo.max_gap / 1e6, 1000));
            json_object_set_new(o, "failover", fo);
        }
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        if (line)
            fprintf(f, "%s\n", line);
        free(line);
        json_decref(o);
    }
    fclose(f);
}

static int report(void)
{
    bool measured = L.w1.at != 0;
    double win = measured ? ns_to_s(L.w1.at - L.w0.at) : 0;
    json_t *o = json_object();
    json_object_set_new(o, "tool", json_string("ripp-load"));
    json_object_set_new(o, "ok", json_boolean(!L.error[0] && measured));
    if (L.error[0])
        json_object_set_new(o, "error", json_string(L.error));
    json_object_set_new(o, "calls", json_integer(L.calls));
    json_object_set_new(o, "seconds", jreal(L.seconds, 1000));
    json_object_set_new(o, "window_s", jreal(win, 1000));
    json_object_set_new(o, "connections", json_integer(L.connections));
    json_object_set_new(o, "transport", json_string(ripp_transport_name(L.transport)));
    json_object_set_new(o, "aligned", json_boolean(L.aligned));
    json_object_set_new(o, "ramp_s", jreal(L.ramp, 1000));
    json_object_set_new(o, "warmup_s", jreal(L.warmup, 1000));
    json_object_set_new(o, "calls_answered", json_integer(L.answered));
    json_object_set_new(o, "setup_failed", json_integer(L.setup_failed));
    json_object_set_new(o, "ended_abnormally", json_integer(L.abnormal));
    json_object_set_new(o, "not_finished", json_integer(L.placed - L.done));
    json_object_set_new(o, "calls_live_window_start", json_integer(L.live_start));
    json_object_set_new(o, "calls_live_window_end", json_integer(L.live_end));
    json_object_set_new(o, "calls_live_mean",
                        jreal(L.live_samples ? (double)L.live_sum / (double)L.live_samples : 0,
                              10));
    json_object_set_new(o, "stats_scope", json_string("window"));
    if (measured) {
        if (L.server_pid > 0 && L.w0.ok && L.w1.ok) {
            double cpu = (double)(L.w1.server_ticks - L.w0.server_ticks) /
                         (double)sysconf(_SC_CLK_TCK);
            json_object_set_new(o, "server_pid", json_integer(L.server_pid));
            json_object_set_new(o, "server_cpu_s", jreal(cpu, 1000));
            json_object_set_new(o, "cpu_us_per_call_second",
                                jreal(cpu * 1e6 / ((double)L.calls * win), 100));
            json_object_set_new(o, "server_cpu_percent_of_core", jreal(cpu / win * 100, 100));
            json_object_set_new(o, "server_rss_kb", json_integer(L.server_rss_kb));
        }
        if (L.w0.core_ok && L.w1.core_ok) {
            uint64_t d[8], tot = 0;
            for (int i = 0; i < 8; i++) {
                d[i] = L.w1.core[i] - L.w0.core[i];
                tot += d[i];
            }
            if (tot) {
                double busy = (double)(d[0] + d[1] + d[2] + d[5] + d[6]) / (double)tot * 100;
                json_object_set_new(o, "server_core", json_integer(L.server_cpu));
                json_object_set_new(o, "server_core_busy_percent", jreal(busy, 100));
                json_object_set_new(o, "server_core_steal_percent",
                                    jreal((double)d[7] / (double)tot * 100, 100));
            }
        }
        double gen = (double)(L.w1.self_us - L.w0.self_us) / 1e6;
        json_object_set_new(o, "generator_cpu_s", jreal(gen, 1000));
        json_object_set_new(o, "generator_cpu_percent_of_core", jreal(gen / win * 100, 100));
        double lag50 = lag_quantile_ms(0.5), lag99 = lag_quantile_ms(0.99);
        json_object_set_new(o, "send_lag_p50_ms", jreal(lag50, 1000));
        json_object_set_new(o, "send_lag_p99_ms", jreal(lag99, 1000));
        json_object_set_new(o, "generator_kept_up", json_boolean(lag99 < 5.0));
        json_object_set_new(o, "connections_open", json_integer((json_int_t)L.conns_open));
        const ripp_stats *w = &L.win;
        json_object_set_new(o, "frames_expected",
                            json_integer((json_int_t)llround((double)L.calls * win * 50)));
        json_object_set_new(o, "sent", json_integer((json_int_t)w->sent));
        json_object_set_new(o, "acked", json_integer((json_int_t)w->acked));
        json_object_set_new(o, "lost", json_integer((json_int_t)w->lost));
        json_object_set_new(o, "lost_incl_tail", json_integer((json_int_t)L.lost_tail));
        json_object_set_new(o, "late", json_integer((json_int_t)w->late));
        json_object_set_new(o, "stray_acks", json_integer((json_int_t)w->stray_acks));
        json_object_set_new(o, "rtt_p50_ms", jreal(ripp_stats_rtt_quantile_us(w, 0.5) / 1e3, 1000));
        json_object_set_new(o, "rtt_p99_ms", jreal(ripp_stats_rtt_quantile_us(w, 0.99) / 1e3, 1000));
        json_object_set_new(o, "rtt_p999_ms",
                            jreal(ripp_stats_rtt_quantile_us(w, 0.999) / 1e3, 1000));
        json_object_set_new(o, "rtt_max_ms", jreal(ripp_stats_rtt_quantile_us(w, 1.0) / 1e3, 1000));
        json_object_set_new(o, "rx_frames", json_integer((json_int_t)w->rx_frames));
        json_object_set_new(o, "rx_duplicates", json_integer((json_int_t)w->rx_duplicates));
        json_object_set_new(o, "rx_late", json_integer((json_int_t)w->rx_late));
        json_object_set_new(o, "rx_concealed", json_integer((json_int_t)w->rx_concealed));
        json_object_set_new(o, "playout_present", json_integer((json_int_t)L.playout_present));
        json_object_set_new(o, "playout_missing", json_integer((json_int_t)L.playout_missing));
        char oj[512];
        json_t *ow = NULL;
        if (ripp_owdhist_format_json(&L.owd, (int64_t)(L.late_ms * 1000), oj, sizeof oj) > 0)
            ow = json_loads(oj, 0, NULL);
        json_object_set_new(o, "owd", ow ? ow : json_null());
        json_object_set_new(o, "owd_unmatched_acks", json_integer((json_int_t)L.owd_unmatched));
        gaps_json(o);
    }
    if (L.per_call)
        write_per_call();
    /* whole calls, ramp and teardown included (frames in flight at the end count as lost) */
    ripp_stats all;
    ripp_stats_init(&all);
    for (long i = 0; i < L.placed; i++)
        ripp_stats_add(&all, call_stats(&L.cl[i]));
    json_object_set_new(o, "whole_calls", stats_json(&all));
    json_object_set_new(o, "engine_errors", json_integer((json_int_t)L.log_count[0]));
    json_object_set_new(o, "engine_warnings", json_integer((json_int_t)L.log_count[1]));
    json_t *fails = json_array();
    for (int i = 0; i < L.nfail_shown; i++)
        json_array_append_new(fails, json_string(L.fail_detail[i]));
    json_object_set_new(o, "failures", fails);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (line) {
        printf("%s\n", line);
        fflush(stdout);
        if (L.report) {
            FILE *f = fopen(L.report, "a");
            if (f) {
                fprintf(f, "%s\n", line);
                fclose(f);
            } else {
                fprintf(stderr, "ripp-load: cannot write %s: %s\n", L.report, strerror(errno));
            }
        }
    }
    free(line);

    /* the human summary */
    if (measured) {
        const ripp_stats *w = &L.win;
        fprintf(stderr, "ripp-load: %ld calls on %d connection(s), window %.2f s\n", L.calls,
                L.connections, win);
        json_t *v = json_object_get(o, "cpu_us_per_call_second");
        if (v)
            fprintf(stderr,
                    "  server:    CPU %.2f s = %.1f us per call-second (%.1f %% of a core), "
                    "RSS %.1f MiB\n",
                    json_real_value(json_object_get(o, "server_cpu_s")), json_real_value(v),
                    json_real_value(json_object_get(o, "server_cpu_percent_of_core")),
                    (double)L.server_rss_kb / 1024.0);
        fprintf(stderr,
                "  client tx: sent %" PRIu64 " acked %" PRIu64 " lost %" PRIu64
                " (%" PRIu64 " with the tail) late %" PRIu64 "; ack RTT p50 %.2f ms p99 %.2f ms "
                "p99.9 %.2f ms\n",
                w->sent, w->acked, w->lost, L.lost_tail, w->late,
                ripp_stats_rtt_quantile_us(w, 0.5) / 1e3, ripp_stats_rtt_quantile_us(w, 0.99) / 1e3,
                ripp_stats_rtt_quantile_us(w, 0.999) / 1e3);
        fprintf(stderr,
                "  one-way:   %" PRIu64 " frames, p50 %.2f ms p99 %.2f ms max %.2f ms, %" PRIu64
                " later than min + %.0f ms\n",
                L.owd.count, (double)ripp_owdhist_quantile_us(&L.owd, 0.5) / 1e3,
                (double)ripp_owdhist_quantile_us(&L.owd, 0.99) / 1e3,
                (double)ripp_owdhist_quantile_us(&L.owd, 1.0) / 1e3,
                L.owd.count ? ripp_owdhist_count_above(&L.owd, L.owd.min_us +
                                                                  (int64_t)(L.late_ms * 1000))
                            : 0,
                L.late_ms);
        fprintf(stderr,
                "  client rx: frames %" PRIu64 " late %" PRIu64 " concealed %" PRIu64
                "; playout %" PRIu64 " present, %" PRIu64 " missing\n",
                w->rx_frames, w->rx_late, w->rx_concealed, L.playout_present, L.playout_missing);
        fprintf(stderr,
                "  generator: %.1f %% of a core, send lag p50 %.2f ms p99 %.2f ms; live calls "
                "%ld -> %ld\n",
                json_real_value(json_object_get(o, "generator_cpu_percent_of_core")),
                lag_quantile_ms(0.5), lag_quantile_ms(0.99), L.live_start, L.live_end);
    }
    json_t *mg = json_object_get(o, "media_gap");
    if (mg)
        fprintf(stderr,
                "  media gap: p50 %.1f ms p99 %.1f ms max %.1f ms over %lld calls (%lld over 40 ms); "
                "calls moved %lld\n",
                json_real_value(json_object_get(mg, "p50_ms")),
                json_real_value(json_object_get(mg, "p99_ms")),
                json_real_value(json_object_get(mg, "max_ms")),
                (long long)json_integer_value(json_object_get(mg, "calls")),
                (long long)json_integer_value(json_object_get(mg, "over_40ms")),
                (long long)json_integer_value(
                    json_object_get(json_object_get(o, "failover"), "calls_moved")));
    fprintf(stderr, "  calls: %ld answered, %ld failed to set up, %ld ended abnormally\n",
            L.answered, L.setup_failed, L.abnormal);
    for (int i = 0; i < L.nfail_shown; i++)
        fprintf(stderr, "  %s\n", L.fail_detail[i]);
    if (L.error[0])
        fprintf(stderr, "ripp-load: %s\n", L.error);
    json_decref(o);
    return !L.error[0] && measured ? 0 : EXIT_FAIL;
}

/* ---- the call-setup-rate mode (--setup-rate) ----
 *
 * Call i (from 0) is due at t0 + i / R. The first rwarm calls (the warm-up) run like the
 * others but are not counted; the window starts when call rwarm is placed and ends when the
 * call after the last one would be due; then the window's calls are followed until they
 * have ended. A 1 ms pacer places the calls that are due, ends the calls whose hold is
 * over and cancels those not accepted within the setup timeout. */

static void rate_fail(rcall *r, const char *cls, const char *detail)
{
    if (r->measured) { /* classes hold failed setups and calls ended abnormally */
        json_t *v = json_object_get(L.fail_classes, cls);
        json_object_set_new(L.fail_classes, cls,
                            json_integer(v ? json_integer_value(v) + 1 : 1));
    }
    if (L.nfail_shown < FAIL_SHOWN)
        snprintf(L.fail_detail[L.nfail_shown++], sizeof L.fail_detail[0], "call %u%s: %s%s%s",
                 r->idx, r->measured ? "" : " (warm-up)", cls, detail && *detail ? ": " : "",
                 detail ? detail : "");
}

static void rate_on_event(void *ud, ripp_ep_call *c, const ripp_event *ev, bool local)
{
    (void)ud;
    rcall *r = ripp_ep_call_user(c);
    if (!r || local || ev->type != RIPP_EV_ACCEPTED || r->answered || r->timed_out)
        return;
    ripp_ts now = ripp_io_now();
    r->answered = true;
    r->t_answer = now;
    uint64_t us = (now - r->t_start) / RIPP_NS_PER_US;
    r->lat_us = us < UINT32_MAX ? (uint32_t)us : UINT32_MAX - 1;
    L.fifo[L.fifo_tail++] = r->idx;
    if (r->measured)
        L.m_completed++;
    if (L.measuring)
        L.m_accepted_in_win++;
}

static int64_t rate_next_frame(void *ud, ripp_ep_call *c, enum ripp_codec *codec, uint8_t *buf,
                               size_t cap)
{
    (void)ud;
    rcall *r = ripp_ep_call_user(c);
    if (!r || cap < FRAME_BYTES)
        return 0;
    *codec = RIPP_CODEC_PCMU;
    memcpy(buf, L.frames[(r->fcount++ + r->idx) % NFRAMES], FRAME_BYTES);
    return FRAME_BYTES;
}

static void rate_on_frame(void *ud, ripp_ep_call *c, uint32_t seq, enum ripp_codec codec,
                          const uint8_t *payload, size_t len, ripp_ts now)
{
    (void)ud;
    (void)seq;
    (void)codec;
    (void)payload;
    (void)len;
    (void)now; /* the engine's clock, shifted by its offset */
    rcall *r = ripp_ep_call_user(c);
    if (!r || r->media_us != UINT32_MAX)
        return;
    uint64_t us = (ripp_io_now() - r->t_start) / RIPP_NS_PER_US;
    r->media_us = us < UINT32_MAX ? (uint32_t)us : UINT32_MAX - 1;
}

static void rate_on_done(void *ud, ripp_ep_call *c)
{
    (void)ud;
    rcall *r = ripp_ep_call_user(c);
    if (!r)
        return;
    const ripp_call *f = ripp_ep_call_fsm(c);
    const ripp_stats *s = ripp_ep_call_stats(c);
    char cls[64], detail[200] = "";
    if (r->measured) {
        L.m_sent += s->sent;
        L.m_acked += s->acked;
        L.m_lost += s->lost;
        L.m_rx += s->rx_frames;
    }
    if (!r->answered) {
        int st = ripp_ep_call_setup_status(c, detail, sizeof detail);
        if (r->timed_out)
            snprintf(cls, sizeof cls, "timeout");
        else if (st > 0)
            snprintf(cls, sizeof cls, "http_%d", st);
        else
            snprintf(cls, sizeof cls, "not_set_up_%s", ripp_call_outcome_name(f->outcome));
        if (r->measured)
            L.m_failed++;
        else
            L.w_failed++;
        rate_fail(r, cls, detail);
    } else if (!r->ended_by_us || f->outcome != RIPP_OUTCOME_ENDED_LOCAL) {
        snprintf(cls, sizeof cls, "ended_%s", ripp_call_outcome_name(f->outcome));
        snprintf(detail, sizeof detail, "code %d", f->end_code);
        if (r->measured)
            L.m_abnormal++;
        rate_fail(r, cls, detail);
    } else if (r->measured) {
        L.m_ended_ok++;
    }
    if (r->measured && r->answered && s->acked > 0 && s->rx_frames > 0)
        L.m_media_ok++;
    r->done = true;
    r->c = NULL;
    ripp_ep_call_set_user(c, NULL);
    L.rdone++;
}

static const ripp_ep_hooks rate_hooks = {
    .on_event = rate_on_event,
    .next_frame = rate_next_frame,
    .on_frame = rate_on_frame,
    .on_done = rate_on_done,
};

static ripp_ts rate_due(long i) { return L.t0 + (ripp_ts)((double)i * 1e9 / L.rate); }

static int rate_place(long i)
{
    rcall *r = &L.rc[i];
    r->idx = (uint32_t)i;
    r->e = &L.eps[i % L.connections];
    r->t_sched = rate_due(i);
    r->measured = i >= L.rwarm;
    r->lat_us = r->media_us = UINT32_MAX;
    r->t_start = ripp_io_now();
    char target[96], dest[32], identity[RIPP_IDENTITY_MAX];
    snprintf(dest, sizeof dest, "1556%07ld", i % 10000000);
    snprintf(target, sizeof target, "%s@e164.arpa", dest);
    if (make_identity(dest, identity, sizeof identity) < 0)
        return -1;
    if (r->measured)
        note_lag(r->t_sched, r->t_start); /* how late the generator placed it */
    ripp_place_opts po = {
        .trunk_url = L.trunk, .token = L.token, .target = target, .identity = identity};
    int rv = 0;
    r->placed = true;
    L.rplaced++;
    if (r->measured)
        L.m_placed++;
    else
        L.w_placed++;
    r->c = ripp_ep_call_place(r->e->ep, &po, lep_now(r->e), &rv);
    if (!r->c) {
        L.place_errors++;
        r->done = true;
        L.rdone++;
        if (r->measured)
            L.m_failed++;
        else
            L.w_failed++;
        rate_fail(r, "place_error", ripp_strerror(rv));
        return 0;
    }
    ripp_ep_call_set_user(r->c, r);
    lep_arm(r->e);
    return 0;
}

static void rate_end(rcall *r)
{
    if (!r->c || r->done)
        return;
    r->ended_by_us = true;
    ripp_ep_call_end(r->c, NULL, lep_now(r->e));
    lep_arm(r->e);
}

/* Ends the calls whose hold is over and cancels those not accepted in time. */
static void rate_housekeeping(ripp_ts now)
{
    ripp_ts hold = s_to_ns(L.hold), timeout = s_to_ns(L.setup_timeout);
    while (L.fifo_head < L.fifo_tail && L.rc[L.fifo[L.fifo_head]].t_answer + hold <= now)
        rate_end(&L.rc[L.fifo[L.fifo_head++]]);
    while (L.to_cursor < L.rplaced && L.rc[L.to_cursor].t_start + timeout <= now) {
        rcall *r = &L.rc[L.to_cursor++];
        if (r->answered || r->done)
            continue;
        /* a call still waiting for its 201 is cancelled as soon as it comes (or reset) */
        r->timed_out = true;
        rate_end(r);
    }
    uint64_t live = (uint64_t)(L.rplaced - L.rdone);
    if (live > L.live_max)
        L.live_max = live;
}

static void rate_window_end(void)
{
    cpu_sample_take(&L.w1);
    L.measuring = false;
    L.win_t1 = L.w1.at;
    if (L.server_pid > 0 && !L.w1.ok)
        set_error("server process %ld exited during the window", L.server_pid);
    L.server_rss_kb = L.server_pid > 0 ? read_server_rss_kb() : -1;
    L.conns_open = 0;
    for (int k = 0; k < L.connections; k++) {
        ripp_http_client *inner = L.eps[k].inner;
        if (L.transport == RIPP_TRANSPORT_H2)
            L.conns_open += ripp_h2_client_open_connections(inner);
        else if (ripp_h3_client_is(inner))
            L.conns_open += ripp_h3_client_open_connections(inner);
    }
    fprintf(stderr, "ripp-load: window ends: %ld calls placed in it, %ld accepted so far\n",
            L.m_placed, L.m_completed);
    enter(PH_RATE_DRAIN);
    /* every call of the window is accepted or timed out within the setup timeout, then
     * held and ended */
    L.drain_deadline = L.phase_at + s_to_ns(L.setup_timeout + L.hold) + DRAIN_NS;
}

static void rate_on_pacer(uv_timer_t *t)
{
    (void)t;
    if (L.phase != PH_RATE && L.phase != PH_RATE_DRAIN)
        return;
    ripp_ts now = ripp_io_now();
    if (L.phase == PH_RATE) {
        /* a generator that fell behind catches up in bounded bursts, so that its loop
         * still serves the sockets between them (the lag is measured) */
        int burst = 0;
        while (L.rplaced < L.rtotal && rate_due(L.rplaced) <= now && burst++ < 64) {
            if (L.rplaced == L.rwarm) {
                cpu_sample_take(&L.w0);
                L.win_t0 = L.w0.at;
                L.measuring = true;
                if (L.server_pid > 0 && !L.w0.ok) {
                    set_error("server process %ld is gone (or /proc/%ld/stat unreadable)",
                              L.server_pid, L.server_pid);
                    return;
                }
                fprintf(stderr, "ripp-load: window of %.1f s starts (%ld warm-up calls, %ld "
                                "up)\n",
                        L.seconds, L.rwarm, L.rplaced - L.rdone);
            }
            if (rate_place(L.rplaced) < 0)
                return;
            now = ripp_io_now();
        }
        if (L.rplaced == L.rtotal && rate_due(L.rtotal) <= now)
            rate_window_end();
    }
    rate_housekeeping(ripp_io_now());
}

static void rate_start(void)
{
    fprintf(stderr,
            "ripp-load: %d connection(s) up; %.0f calls/s, %.1f s warm-up then a %.1f s "
            "window, hold %.2f s\n",
            L.connections, L.rate, L.warmup, L.seconds, L.hold);
    enter(PH_RATE);
    L.t0 = L.phase_at;
    uv_timer_init(L.loop, &L.pacer);
    L.pacer_init = true;
    uv_timer_start(&L.pacer, rate_on_pacer, 0, PACER_MS);
}

static void rate_end_all(void)
{
    if (L.measuring) {
        cpu_sample_take(&L.w1);
        L.measuring = false;
        L.w1.at = 0; /* the window was not measured to its end */
    }
    for (long i = 0; i < L.rplaced; i++)
        rate_end(&L.rc[i]);
}

static void rate_drain(ripp_ts now)
{
    /* done when every call of the window has ended (warm-up calls ended long before) */
    if (L.rdone < L.rplaced && now < L.drain_deadline)
        return;
    if (L.rdone < L.rplaced)
        fprintf(stderr, "ripp-load: %ld calls not finished; ending them\n", L.rplaced - L.rdone);
    start_ending();
}

/* qsort of uint32 */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* p50, p99 and max (ms) of the window's completed calls' lat_us (media: media_us) into o
 * under prefix; returns how many calls had a value. */
static long rate_quantiles(json_t *o, const char *prefix, bool media, double out[3])
{
    uint32_t *v = malloc(((size_t)L.m_placed + 1) * sizeof *v);
    long n = 0;
    out[0] = out[1] = out[2] = 0;
    if (!v)
        return 0;
    for (long i = L.rwarm; i < L.rplaced; i++) {
        const rcall *r = &L.rc[i];
        uint32_t x = media ? r->media_us : r->lat_us;
        if (r->answered && x != UINT32_MAX)
            v[n++] = x;
    }
    char key[64];
    if (n) {
        qsort(v, (size_t)n, sizeof *v, cmp_u32);
        long i50 = (long)ceil(0.5 * (double)n) - 1, i99 = (long)ceil(0.99 * (double)n) - 1;
        out[0] = v[i50 < 0 ? 0 : i50] / 1e3;
        out[1] = v[i99 < 0 ? 0 : i99] / 1e3;
        out[2] = v[n - 1] / 1e3;
    }
    static const char *q[] = {"p50", "p99", "max"};
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "%s_%s_ms", prefix, q[k]);
        json_object_set_new(o, key, n ? jreal(out[k], 1000) : json_null());
    }
    free(v);
    return n;
}

static int rate_report(void)
{
    bool measured = L.w1.at != 0 && L.w0.at != 0;
    double win = measured ? ns_to_s(L.w1.at - L.w0.at) : 0;
    json_t *o = json_object();
    json_object_set_new(o, "tool", json_string("ripp-load"));
    json_object_set_new(o, "mode", json_string("setup-rate"));
    json_object_set_new(o, "ok", json_boolean(!L.error[0] && measured));
    if (L.error[0])
        json_object_set_new(o, "error", json_string(L.error));
    json_object_set_new(o, "transport", json_string(ripp_transport_name(L.transport)));
    json_object_set_new(o, "identity", json_string(L.signer ? "stir" : "trunk-key"));
    json_object_set_new(o, "setup_rate", jreal(L.rate, 1000));
    json_object_set_new(o, "hold_s", jreal(L.hold, 1000));
    json_object_set_new(o, "warmup_s", jreal(L.warmup, 1000));
    json_object_set_new(o, "seconds", jreal(L.seconds, 1000));
    json_object_set_new(o, "window_s", jreal(win, 1000));
    json_object_set_new(o, "setup_timeout_s", jreal(L.setup_timeout, 1000));
    json_object_set_new(o, "connections", json_integer(L.connections));
    json_object_set_new(o, "attempted", json_integer(L.m_placed));
    json_object_set_new(o, "completed", json_integer(L.m_completed));
    json_object_set_new(o, "failed", json_integer(L.m_failed));
    json_object_set_new(o, "completed_percent",
                        L.m_placed ? jreal(100.0 * (double)L.m_completed / (double)L.m_placed, 1000)
                                   : json_null());
    json_object_set_new(o, "ended_normally", json_integer(L.m_ended_ok));
    json_object_set_new(o, "ended_abnormally", json_integer(L.m_abnormal));
    json_object_set_new(o, "media_ok", json_integer(L.m_media_ok));
    long unfinished = 0;
    for (long i = L.rwarm; i < L.rplaced; i++)
        unfinished += !L.rc[i].done;
    json_object_set_new(o, "not_finished", json_integer(unfinished));
    json_object_set_new(o, "failure_classes", json_deep_copy(L.fail_classes));
    json_object_set_new(o, "warmup_attempted", json_integer(L.w_placed));
    json_object_set_new(o, "warmup_failed", json_integer(L.w_failed));
    json_object_set_new(o, "attempted_per_s", measured ? jreal(L.m_placed / win, 100) : json_null());
    json_object_set_new(o, "setups_per_s", measured ? jreal(L.m_completed / win, 100) : json_null());
    json_object_set_new(o, "accepted_in_window_per_s",
                        measured ? jreal(L.m_accepted_in_win / win, 100) : json_null());
    double lat[3], med[3];
    rate_quantiles(o, "setup_latency", false, lat);
    long nmedia = rate_quantiles(o, "first_media", true, med);
    json_object_set_new(o, "first_media_calls", json_integer(nmedia));
    json_object_set_new(o, "pace_lag_p50_ms", jreal(lag_quantile_ms(0.5), 1000));
    json_object_set_new(o, "pace_lag_p99_ms", jreal(lag_quantile_ms(0.99), 1000));
    json_object_set_new(o, "generator_kept_up", json_boolean(lag_quantile_ms(0.99) < 20.0));
    json_object_set_new(o, "calls_up_max", json_integer((json_int_t)L.live_max));
    if (measured) {
        if (L.server_pid > 0 && L.w0.ok && L.w1.ok) {
            double cpu = (double)(L.w1.server_ticks - L.w0.server_ticks) /
                         (double)sysconf(_SC_CLK_TCK);
            json_object_set_new(o, "server_pid", json_integer(L.server_pid));
            json_object_set_new(o, "server_cpu_s", jreal(cpu, 1000));
            json_object_set_new(o, "server_cpu_us_per_setup",
                                L.m_placed ? jreal(cpu * 1e6 / (double)L.m_placed, 10)
                                           : json_null());
            json_object_set_new(o, "server_cpu_percent_of_core", jreal(cpu / win * 100, 100));
            json_object_set_new(o, "server_rss_kb", json_integer(L.server_rss_kb));
        }
        if (L.w0.core_ok && L.w1.core_ok) {
            uint64_t d[8], tot = 0;
            for (int i = 0; i < 8; i++) {
                d[i] = L.w1.core[i] - L.w0.core[i];
                tot += d[i];
            }
            if (tot) {
                double busy = (double)(d[0] + d[1] + d[2] + d[5] + d[6]) / (double)tot * 100;
                json_object_set_new(o, "server_core", json_integer(L.server_cpu));
                json_object_set_new(o, "server_core_busy_percent", jreal(busy, 100));
                json_object_set_new(o, "server_core_steal_percent",
                                    jreal((double)d[7] / (double)tot * 100, 100));
            }
        }
        double gen = (double)(L.w1.self_us - L.w0.self_us) / 1e6;
        json_object_set_new(o, "generator_cpu_s", jreal(gen, 1000));
        json_object_set_new(o, "generator_cpu_us_per_setup",
                            L.m_placed ? jreal(gen * 1e6 / (double)L.m_placed, 10) : json_null());
        json_object_set_new(o, "generator_cpu_percent_of_core", jreal(gen / win * 100, 100));
        json_object_set_new(o, "connections_open", json_integer((json_int_t)L.conns_open));
    }
    json_object_set_new(o, "frames_sent", json_integer((json_int_t)L.m_sent));
    json_object_set_new(o, "frames_acked", json_integer((json_int_t)L.m_acked));
    json_object_set_new(o, "frames_lost", json_integer((json_int_t)L.m_lost));
    json_object_set_new(o, "frames_received", json_integer((json_int_t)L.m_rx));
    json_object_set_new(o, "engine_errors", json_integer((json_int_t)L.log_count[0]));
    json_object_set_new(o, "engine_warnings", json_integer((json_int_t)L.log_count[1]));
    json_t *fails = json_array();
    for (int i = 0; i < L.nfail_shown; i++)
        json_array_append_new(fails, json_string(L.fail_detail[i]));
    json_object_set_new(o, "failures", fails);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (line) {
        printf("%s\n", line);
        fflush(stdout);
        if (L.report) {
            FILE *f = fopen(L.report, "a");
            if (f) {
                fprintf(f, "%s\n", line);
                fclose(f);
            } else {
                fprintf(stderr, "ripp-load: cannot write %s: %s\n", L.report, strerror(errno));
            }
        }
    }
    free(line);

    if (measured) {
        fprintf(stderr,
                "ripp-load: %.0f setups/s offered (%s, %s), window %.2f s: %ld attempted, %ld "
                "completed (%.2f/s), %ld failed, %ld ended abnormally, %ld with media both ways\n",
                L.rate, ripp_transport_name(L.transport), L.signer ? "STIR" : "trunk key", win,
                L.m_placed, L.m_completed, L.m_completed / win, L.m_failed, L.m_abnormal,
                L.m_media_ok);
        fprintf(stderr,
                "  setup latency p50 %.2f ms p99 %.2f ms max %.2f ms; first media p50 %.2f ms "
                "p99 %.2f ms; pacing lag p99 %.2f ms\n",
                lat[0], lat[1], lat[2], med[0], med[1], lag_quantile_ms(0.99));
        json_t *v = json_object_get(o, "server_cpu_us_per_setup");
        if (v && json_is_real(v))
            fprintf(stderr, "  server: %.1f us CPU per setup, %.1f %% of a core; generator: %.1f "
                            "%% of a core\n",
                    json_real_value(v),
                    json_real_value(json_object_get(o, "server_cpu_percent_of_core")),
                    json_real_value(json_object_get(o, "generator_cpu_percent_of_core")));
    }
    for (int i = 0; i < L.nfail_shown; i++)
        fprintf(stderr, "  %s\n", L.fail_detail[i]);
    if (L.error[0])
        fprintf(stderr, "ripp-load: %s\n", L.error);
    json_decref(o);
    return !L.error[0] && measured ? 0 : EXIT_FAIL;
}

/* ---- set-up and tear-down ---- */

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "ripp-load: %s%s%s\n%s", msg, arg ? ": " : "", arg ? arg : "", usage_text);
    return EXIT_USAGE;
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"trunk", required_argument, 0, 't'},        {"token", required_argument, 0, 'T'},
        {"ca", required_argument, 0, 'a'},           {"identity-key", required_argument, 0, 'i'},
        {"calls", required_argument, 0, 'n'},        {"seconds", required_argument, 0, 's'},
        {"ramp", required_argument, 0, 'r'},         {"warmup", required_argument, 0, 'w'},
        {"connections", required_argument, 0, 'k'},  {"aligned", no_argument, 0, 'A'},
        {"setup-timeout", required_argument, 0, 'S'}, {"server-pid", required_argument, 0, 'p'},
        {"server-cpu", required_argument, 0, 'c'},   {"report", required_argument, 0, 'R'},
        {"log-level", required_argument, 0, 'L'},    {"help", no_argument, 0, 'h'},
        {"transport", required_argument, 0, 'X'},    {"late-ms", required_argument, 0, 'l'},
        {"setup-rate", required_argument, 0, 'G'},   {"hold", required_argument, 0, 'H'},
        {"sti-cert", required_argument, 0, 'C'},     {"x5u", required_argument, 0, 'x'},
        {"attest", required_argument, 0, 'e'},       {"from", required_argument, 0, 'f'},
        {"per-call", required_argument, 0, 'P'},     {0, 0, 0, 0}};
    double v;
    int ch;
    L.ramp = -1;
    L.warmup = 2;
    L.setup_timeout = 15;
    L.server_cpu = 1;
    L.log_level = RIPP_LOG_WARN;
    L.transport = RIPP_TRANSPORT_H2;
    L.late_ms = LATE_MS_DEFAULT;
    L.hold = 1;
    L.from = ORIG_TN_DEFAULT;
    L.attest = "A";
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 't': L.trunk = optarg; break;
        case 'T': L.token = optarg; break;
        case 'a': L.ca = optarg; break;
        case 'i': L.identity_key = optarg; break;
        case 'n':
            if (!parse_num(optarg, 1, 100000, &v) || v != floor(v))
                return usage_error("--calls: a whole number 1..100000", optarg);
            L.calls = (long)v;
            break;
        case 's':
            if (!parse_num(optarg, 0.1, 3600, &L.seconds))
                return usage_error("--seconds: 0.1..3600", optarg);
            break;
        case 'r':
            if (!parse_num(optarg, 0, 600, &L.ramp))
                return usage_error("--ramp: 0..600 seconds", optarg);
            break;
        case 'w':
            if (!parse_num(optarg, 0, 600, &L.warmup))
                return usage_error("--warmup: 0..600 seconds", optarg);
            L.warmup_set = true;
            break;
        case 'G':
            if (!parse_num(optarg, 0.1, 100000, &L.rate))
                return usage_error("--setup-rate: 0.1..100000 calls per second", optarg);
            L.rate_mode = true;
            break;
        case 'H':
            if (!parse_num(optarg, 0, 600, &L.hold))
                return usage_error("--hold: 0..600 seconds", optarg);
            break;
        case 'C': L.sti_cert = optarg; break;
        case 'x': L.x5u_opt = optarg; break;
        case 'e':
            if (strcmp(optarg, "A") && strcmp(optarg, "B") && strcmp(optarg, "C"))
                return usage_error("--attest: A, B or C", optarg);
            L.attest = optarg;
            break;
        case 'f':
            L.from = optarg[0] == '+' ? optarg + 1 : optarg;
            if (!*L.from || strlen(L.from) > 15 || strspn(L.from, "0123456789") != strlen(L.from))
                return usage_error("--from: 1..15 digits", optarg);
            break;
        case 'k':
            if (!parse_num(optarg, 1, 1000, &v) || v != floor(v))
                return usage_error("--connections: a whole number 1..1000", optarg);
            L.connections = (int)v;
            break;
        case 'A': L.aligned = true; break;
        case 'S':
            if (!parse_num(optarg, 1, 600, &L.setup_timeout))
                return usage_error("--setup-timeout: 1..600 seconds", optarg);
            L.timeout_set = true;
            break;
        case 'p':
            if (!parse_num(optarg, 1, 4194304, &v) || v != floor(v))
                return usage_error("--server-pid: a process id", optarg);
            L.server_pid = (long)v;
            break;
        case 'c':
            if (!parse_num(optarg, -1, 4095, &v) || v != floor(v))
                return usage_error("--server-cpu: a CPU number or -1", optarg);
            L.server_cpu = (int)v;
            break;
        case 'R': L.report = optarg; break;
        case 'P': L.per_call = optarg; break;
        case 'X':
            if (ripp_transport_parse(optarg, &L.transport) < 0)
                return usage_error("--transport: h2, h3 or auto", optarg);
            break;
        case 'l':
            if (!parse_num(optarg, 0, 10000, &L.late_ms))
                return usage_error("--late-ms: 0..10000", optarg);
            break;
        case 'L':
            L.log_level = ripp_app_log_level(optarg);
            if (L.log_level < 0)
                return usage_error("--log-level: error, warn, info or debug", optarg);
            break;
        case 'h': fputs(usage_text, stdout); exit(0);
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (L.rate_mode) {
        if (L.calls)
            return usage_error("--calls and --setup-rate exclude each other", NULL);
        if (!L.trunk || !L.token || !L.identity_key || L.seconds <= 0)
            return usage_error("--trunk, --token, --identity-key and --seconds are required",
                               NULL);
        if (strncmp(L.trunk, "https://", 8) != 0)
            return usage_error("--trunk must be an https URL", L.trunk);
        if (!L.warmup_set)
            L.warmup = L.hold + 1;
        if (!L.timeout_set)
            L.setup_timeout = 5;
        double total = ceil(L.rate * (L.warmup + L.seconds));
        if (total > RATE_MAX_CALLS)
            return usage_error("--setup-rate x (--warmup + --seconds) exceeds 2000000 calls", NULL);
        L.rtotal = (long)total;
        L.rwarm = (long)ceil(L.rate * L.warmup);
        if (L.rwarm >= L.rtotal)
            return usage_error("the window holds no call (raise --seconds or --setup-rate)",
                               NULL);
        if (!L.connections) {
            double up = L.rate * (L.hold + 0.5);
            L.connections = (int)ceil(up / RATE_CONN_CALLS);
            if (L.connections < 1)
                L.connections = 1;
            if (L.connections > 1000)
                L.connections = 1000;
        }
        return 0;
    }
    if (!L.trunk || !L.token || !L.identity_key || !L.calls || L.seconds <= 0)
        return usage_error("--trunk, --token, --identity-key, --calls and --seconds are required",
                           NULL);
    if (strncmp(L.trunk, "https://", 8) != 0)
        return usage_error("--trunk must be an https URL", L.trunk);
    if (L.ramp < 0)
        L.ramp = L.calls / 500.0 > 1 ? L.calls / 500.0 : 1;
    if (!L.connections)
        L.connections = (int)((L.calls + CALLS_PER_CONNECTION - 1) / CALLS_PER_CONNECTION);
    if (L.connections > L.calls)
        L.connections = (int)L.calls;
    return 0;
}

static int setup(void)
{
    char err[256] = "";
    int rv = 0;
    const char *h = strstr(L.trunk, "://");
    h = h ? h + 3 : L.trunk;
    if (L.x5u_opt)
        snprintf(L.x5u, sizeof L.x5u, "%s", L.x5u_opt);
    else
        snprintf(L.x5u, sizeof L.x5u, "https://%.*s/stir/cert.pem", (int)strcspn(h, "/"), h);
    if (L.sti_cert) {
        L.signer = ripp_stir_signer_new(L.sti_cert, L.identity_key, L.x5u, &rv, err, sizeof err);
        if (!L.signer) {
            fprintf(stderr, "ripp-load: --sti-cert: %s\n", err);
            return EXIT_FAIL;
        }
    } else {
        L.key = ripp_es256_load(L.identity_key, &rv, err, sizeof err);
        if (!L.key) {
            fprintf(stderr, "ripp-load: identity key: %s\n", err);
            return EXIT_FAIL;
        }
    }
    /* one signature now: a certificate that does not cover --from fails here, not later */
    char probe[RIPP_IDENTITY_MAX];
    if (make_identity("15560000000", probe, sizeof probe) < 0) {
        fprintf(stderr, "ripp-load: %s\n", L.error);
        return EXIT_FAIL;
    }
    if (make_frames() < 0) {
        fprintf(stderr, "ripp-load: cannot encode the test signal\n");
        return EXIT_FAIL;
    }
    if (ripp_owdhist_init(&L.owd, -1000000) < 0) {
        fprintf(stderr, "ripp-load: out of memory\n");
        return EXIT_FAIL;
    }
    if (L.rate_mode) {
        L.rc = calloc((size_t)L.rtotal, sizeof *L.rc);
        L.fifo = calloc((size_t)L.rtotal, sizeof *L.fifo);
        L.fail_classes = json_object();
    } else {
        L.cl = calloc((size_t)L.calls, sizeof *L.cl);
    }
    L.eps = calloc((size_t)L.connections, sizeof *L.eps);
    if (!L.eps || (L.rate_mode ? !L.rc || !L.fifo || !L.fail_classes : !L.cl)) {
        fprintf(stderr, "ripp-load: out of memory\n");
        return EXIT_FAIL;
    }
    L.loop = uv_default_loop();
    for (int k = 0; k < L.connections; k++) {
        lep *e = &L.eps[k];
        e->L = &L;
        e->idx = k;
        e->offset = L.aligned ? 0 : (ripp_ts)k * STEP_NS / (ripp_ts)L.connections;
        e->env = (ripp_env){
            .wall_us = env_wall_us, .mono_ns = env_mono_ns, .random = env_random, .ud = e};
        e->armed = RIPP_TS_NEVER;
        ripp_transport_client_config tc = {.transport = L.transport, .tls = {.ca_file = L.ca}};
        ripp_http_client *inner = ripp_transport_client_new(L.loop, &tc, &rv);
        if (!inner) {
            fprintf(stderr, "ripp-load: %s client: %s%s\n", ripp_transport_name(L.transport),
                    ripp_strerror(rv),
                    rv == RIPP_ERR_UNSUPPORTED ? " (this build has no such transport)" : "");
            return EXIT_FAIL;
        }
        e->inner = inner;
        /* the setup-rate mode does not follow one-way delays: the wrapper finds a byway's
         * call by walking the calls, which a run of a million calls cannot afford */
        e->http = L.rate_mode ? inner : owd_client_new(inner, e);
        if (!e->http) {
            fprintf(stderr, "ripp-load: out of memory\n");
            return EXIT_FAIL;
        }
        ripp_ep_config ec = {.role = RIPP_ROLE_CLIENT, .env = &e->env, .http = e->http};
        e->ep = ripp_ep_new(&ec, L.rate_mode ? &rate_hooks : &hooks, e, &rv);
        if (!e->ep) {
            fprintf(stderr, "ripp-load: engine: %s\n", ripp_strerror(rv));
            return EXIT_FAIL;
        }
        uv_timer_init(L.loop, &e->timer);
        uv_check_init(L.loop, &e->check);
        e->timer.data = e;
        e->check.data = e;
        uv_check_start(&e->check, lep_on_check);
        if (k == 0 && !(e->caps_body = malloc(CAPS_MAX))) {
            fprintf(stderr, "ripp-load: out of memory\n");
            return EXIT_FAIL;
        }
        if (caps_request(e) < 0) {
            fprintf(stderr, "ripp-load: %s\n", L.error);
            return EXIT_FAIL;
        }
    }
    for (long i = 0; i < L.calls; i++) {
        L.cl[i].idx = (int)i;
        L.cl[i].e = &L.eps[i % L.connections];
    }
    uv_timer_init(L.loop, &L.control);
    uv_timer_start(&L.control, on_control, CONTROL_MS, CONTROL_MS);
    uv_signal_init(L.loop, &L.sigint);
    uv_signal_init(L.loop, &L.sigterm);
    uv_signal_start(&L.sigint, on_signal, SIGINT);
    uv_signal_start(&L.sigterm, on_signal, SIGTERM);
    L.handles_init = true;
    enter(PH_CONNECT);
    return 0;
}

static void teardown(void)
{
    if (L.eps) {
        for (int k = 0; k < L.connections; k++) {
            lep *e = &L.eps[k];
            if (e->ep) {
                uv_timer_stop(&e->timer);
                uv_check_stop(&e->check);
                uv_close((uv_handle_t *)&e->timer, NULL);
                uv_close((uv_handle_t *)&e->check, NULL);
                ripp_ep_del(e->ep); /* resets what is still open; no hooks */
            }
            if (e->http)
                ripp_http_client_del(e->http);
            free(e->caps_body);
        }
    }
    if (L.loop) {
        if (L.pacer_init)
            uv_close((uv_handle_t *)&L.pacer, NULL);
        if (L.handles_init) {
            uv_close((uv_handle_t *)&L.control, NULL);
            uv_close((uv_handle_t *)&L.sigint, NULL);
            uv_close((uv_handle_t *)&L.sigterm, NULL);
        }
        uv_run(L.loop, UV_RUN_DEFAULT);
        uv_loop_close(L.loop);
    }
    free(L.eps);
    for (long i = 0; L.cl && i < L.calls; i++)
        free(L.cl[i].uri);
    free(L.cl);
    free(L.rc);
    free(L.fifo);
    json_decref(L.fail_classes);
    ripp_stir_signer_del(L.signer);
    ripp_owdhist_free(&L.owd);
    ripp_es256_free(L.key);
}

int main(int argc, char **argv)
{
    int rv = parse_args(argc, argv);
    if (rv)
        return rv;
    ripp_log_set_handler(on_log, NULL, (enum ripp_log_level)L.log_level);
    signal(SIGPIPE, SIG_IGN);
    /* every phase has its own bound; this one catches whatever they miss */
    double budget = L.rate_mode ? ns_to_s(CONNECT_TIMEOUT_NS) + L.warmup + L.seconds +
                                      L.setup_timeout + L.hold + 2 * ns_to_s(DRAIN_NS) + 10
                                : ns_to_s(CONNECT_TIMEOUT_NS) + L.ramp + L.setup_timeout +
                                      L.warmup + L.seconds + ns_to_s(TAIL_NS) +
                                      ns_to_s(DRAIN_NS) + 10;
    L.soft_deadline = ripp_io_now() + s_to_ns(budget);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)ceil(budget) + 30);
    if (L.rate_mode)
        fprintf(stderr, "ripp-load: %.0f call setups/s, %d connection(s), warm-up %.1f s, "
                        "window %.1f s, hold %.2f s, %s PASSporTs\n",
                L.rate, L.connections, L.warmup, L.seconds, L.hold,
                L.sti_cert ? "SHAKEN (STI certificate)" : "trunk-key");
    else
        fprintf(stderr, "ripp-load: %ld calls, %d connection(s)%s, ramp %.1f s, warm-up %.1f s, "
                        "window %.1f s\n",
                L.calls, L.connections, L.aligned ? " (aligned)" : "", L.ramp, L.warmup,
                L.seconds);
    int status = setup();
    if (status == 0) {
        uv_run(L.loop, UV_RUN_DEFAULT);
        status = L.rate_mode ? rate_report() : report();
    }
    teardown();
    return status;
}
