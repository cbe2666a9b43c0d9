/* ripp-udpbase - the plain-UDP baseline of the loss benchmark: what RTP would see.
 *
 *   send: F flows of 20 ms packets of 172 bytes (RTP-like: 12-byte header + 160 bytes of
 *         payload whose first 16 bytes are a 64-bit sequence number and the wall-clock send
 *         time in µs), paced on an absolute clock, for S seconds.
 *   recv: receives them and records each packet's one-way delay (its receive wall clock
 *         minus the send time it carries: both ends must share a clock, as network
 *         namespaces on one host do) in a histogram, and counts what never arrived.
 *   echo: sends every datagram back.  ping: measures round trips through an echo.
 * Each mode prints one JSON line on stdout when it ends (SIGTERM/SIGINT end recv/echo). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ripp/owdhist.h"

#define PKT_BYTES 172 /* RTP 12 + G.711 20 ms 160 */
#define HDR_BYTES 12
#define MAX_FLOWS 1000
#define INTERVAL_NS 20000000ull

static const char usage_text[] =
    "usage: ripp-udpbase send --to ADDR:PORT [--flows F] [--seconds S]\n"
    "       ripp-udpbase recv --bind ADDR:PORT [--seconds S] [--late-ms L]\n"
    "       ripp-udpbase echo --bind ADDR:PORT [--seconds S]\n"
    "       ripp-udpbase ping --to ADDR:PORT [--count N] [--interval-ms I]\n"
    "\n"
    "send: F flows (default 10) of one 172-byte packet every 20 ms each for S seconds\n"
    "      (default 20); prints {\"sent\":..}.\n"
    "recv: until S seconds (default: until SIGTERM) or 2 s of silence after traffic;\n"
    "      prints received, expected (per flow: highest sequence + 1), lost, and the\n"
    "      one-way delay quantiles with the count of packets later than min + L ms\n"
    "      (default 60).\n"
    "ping: N probes (default 20) I ms apart (default 100); prints the RTT min/avg/max.\n";

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6) */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[128];
    const char *port;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host) return -1;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        port = e + 2;
    } else {
        const char *c = strrchr(s, ':');
        if (!c || (size_t)(c - s) >= sizeof host) return -1;
        memcpy(host, s, (size_t)(c - s));
        host[c - s] = 0;
        port = c + 1;
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_DGRAM},
                    *res;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int open_socket(const struct sockaddr_storage *ss, socklen_t sl, bool bind_it)
{
    int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    if (bind_it ? bind(fd, (const struct sockaddr *)ss, sl)
                : connect(fd, (const struct sockaddr *)ss, sl)) {
        fprintf(stderr, "ripp-udpbase: %s: %s\n", bind_it ? "bind" : "connect", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int do_send(int fd, int flows, double seconds)
{
    uint8_t pkt[PKT_BYTES];
    memset(pkt, 0xff, sizeof pkt); /* µ-law silence */
    uint64_t rounds = (uint64_t)(seconds * 50.0 + 0.5), sent = 0, errors = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t r = 0; r < rounds && !stop; r++) {
        /* the flows are spread over the interval, as independent calls would be */
        for (int f = 0; f < flows && !stop; f++) {
            uint64_t at = (uint64_t)t0.tv_nsec + r * INTERVAL_NS +
                          (uint64_t)f * INTERVAL_NS / (uint64_t)flows;
            struct timespec due = {.tv_sec = t0.tv_sec + (time_t)(at / 1000000000u),
                                   .tv_nsec = (long)(at % 1000000000u)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR && !stop)
                ;
            pkt[0] = 0x80;
            pkt[1] = 0x00; /* PT 0: PCMU */
            pkt[2] = (uint8_t)(r >> 8);
            pkt[3] = (uint8_t)r;
            uint32_t ts = (uint32_t)(r * 160);
            pkt[4] = (uint8_t)(ts >> 24), pkt[5] = (uint8_t)(ts >> 16);
            pkt[6] = (uint8_t)(ts >> 8), pkt[7] = (uint8_t)ts;
            pkt[8] = 0, pkt[9] = 0, pkt[10] = (uint8_t)(f >> 8), pkt[11] = (uint8_t)f;
            put64(pkt + HDR_BYTES, r);
            put64(pkt + HDR_BYTES + 8, wall_us());
            if (send(fd, pkt, sizeof pkt, 0) == (ssize_t)sizeof pkt)
                sent++;
            else
                errors++;
        }
    }
    printf("{\"tool\":\"ripp-udpbase\",\"mode\":\"send\",\"flows\":%d,\"sent\":%" PRIu64
           ",\"send_errors\":%" PRIu64 ",\"packet_bytes\":%d}\n",
           flows, sent, errors, PKT_BYTES);
    return 0;
}

static int do_recv(int fd, double seconds, double late_ms)
{
    ripp_owdhist h;
    /* base 1 s below zero: a clock offset between hosts would not be lost */
    if (ripp_owdhist_init(&h, -1000000) < 0) {
        fprintf(stderr, "ripp-udpbase: out of memory\n");
        return 1;
    }
    static uint64_t high[MAX_FLOWS];
    static bool seen[MAX_FLOWS];
    uint64_t received = 0, bad = 0, dup_or_old = 0;
    uint64_t start = mono_ns(), last_rx = 0;
    while (!stop) {
        uint64_t now = mono_ns();
        if (seconds > 0 && now - start >= (uint64_t)(seconds * 1e9)) break;
        if (last_rx && now - last_rx > 2000000000ull) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 100);
        if (n <= 0) continue;
        uint8_t buf[2048];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0) continue;
        uint64_t rx = wall_us();
        last_rx = mono_ns();
        if (r != PKT_BYTES || buf[0] != 0x80) {
            bad++;
            continue;
        }
        unsigned flow = (unsigned)buf[10] << 8 | buf[11];
        if (flow >= MAX_FLOWS) {
            bad++;
            continue;
        }
        uint64_t seq = get64(buf + HDR_BYTES), tx = get64(buf + HDR_BYTES + 8);
        if (seen[flow] && seq < high[flow]) dup_or_old++;
        if (!seen[flow] || seq + 1 > high[flow]) high[flow] = seq + 1;
        seen[flow] = true;
        received++;
        ripp_owdhist_add(&h, (int64_t)rx - (int64_t)tx);
    }
    uint64_t expected = 0;
    int flows = 0;
    for (int f = 0; f < MAX_FLOWS; f++)
        if (seen[f]) {
            expected += high[f];
            flows++;
        }
    char js[512];
    if (ripp_owdhist_format_json(&h, (int64_t)(late_ms * 1000), js, sizeof js) < 0) js[0] = 0;
    printf("{\"tool\":\"ripp-udpbase\",\"mode\":\"recv\",\"flows\":%d,\"received\":%" PRIu64
           ",\"expected\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"reordered\":%" PRIu64
           ",\"bad\":%" PRIu64 ",\"owd\":%s}\n",
           flows, received, expected, expected > received ? expected - received : 0, dup_or_old,
           bad, js[0] ? js : "null");
    ripp_owdhist_free(&h);
    return 0;
}

static int do_echo(int fd, double seconds)
{
    uint64_t start = mono_ns(), n_echo = 0;
    while (!stop) {
        if (seconds > 0 && mono_ns() - start >= (uint64_t)(seconds * 1e9)) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        uint8_t buf[2048];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (r < 0) continue;
        if (sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, fl) == r) n_echo++;
    }
    printf("{\"tool\":\"ripp-udpbase\",\"mode\":\"echo\",\"echoed\":%" PRIu64 "}\n", n_echo);
    return 0;
}

static int do_ping(int fd, int count, int interval_ms)
{
    uint64_t got = 0;
    double min = 0, max = 0, sum = 0;
    for (int i = 0; i < count && !stop; i++) {
        uint8_t pkt[32], buf[64];
        put64(pkt, (uint64_t)i);
        put64(pkt + 8, mono_ns());
        if (send(fd, pkt, sizeof pkt, 0) != (ssize_t)sizeof pkt) continue;
        uint64_t deadline = mono_ns() + (uint64_t)interval_ms * 1000000u + 1000000000u;
        for (;;) {
            uint64_t now = mono_ns();
            if (now >= deadline || stop) break;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0) continue;
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r != (ssize_t)sizeof pkt || get64(buf) != (uint64_t)i) continue;
            double rtt = (double)(mono_ns() - get64(buf + 8)) / 1e6;
            if (got == 0 || rtt < min) min = rtt;
            if (rtt > max) max = rtt;
            sum += rtt;
            got++;
            break;
        }
        struct timespec ts = {.tv_sec = interval_ms / 1000,
                              .tv_nsec = (long)(interval_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    printf("{\"tool\":\"ripp-udpbase\",\"mode\":\"ping\",\"sent\":%d,\"received\":%" PRIu64
           ",\"rtt_min_ms\":%.3f,\"rtt_avg_ms\":%.3f,\"rtt_max_ms\":%.3f}\n",
           count, got, min, got ? sum / (double)got : 0.0, max);
    return got ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1], *to = NULL, *bind_s = NULL;
    int flows = 10, count = 20, interval_ms = 100;
    double seconds = -1, late_ms = 60;
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},          {"bind", required_argument, NULL, 'b'},
        {"flows", required_argument, NULL, 'f'},       {"seconds", required_argument, NULL, 's'},
        {"late-ms", required_argument, NULL, 'l'},     {"count", required_argument, NULL, 'c'},
        {"interval-ms", required_argument, NULL, 'i'}, {NULL, 0, NULL, 0}};
    optind = 2;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 't':
            to = optarg;
            break;
        case 'b':
            bind_s = optarg;
            break;
        case 'f':
            flows = atoi(optarg);
            break;
        case 's':
            seconds = strtod(optarg, NULL);
            break;
        case 'l':
            late_ms = strtod(optarg, NULL);
            break;
        case 'c':
            count = atoi(optarg);
            break;
        case 'i':
            interval_ms = atoi(optarg);
            break;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    bool sender = strcmp(mode, "send") == 0 || strcmp(mode, "ping") == 0;
    bool receiver = strcmp(mode, "recv") == 0 || strcmp(mode, "echo") == 0;
    const char *addr = sender ? to : bind_s;
    struct sockaddr_storage ss;
    socklen_t sl;
    if ((!sender && !receiver) || !addr || parse_addr(addr, &ss, &sl) < 0 || flows < 1 ||
        flows > MAX_FLOWS || count < 1 || interval_ms < 1 || interval_ms > 10000) {
        fputs(usage_text, stderr);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int fd = open_socket(&ss, sl, receiver);
    if (fd < 0) return 1;
    int rc;
    if (strcmp(mode, "send") == 0)
        rc = do_send(fd, flows, seconds > 0 ? seconds : 20);
    else if (strcmp(mode, "recv") == 0)
        rc = do_recv(fd, seconds, late_ms);
    else if (strcmp(mode, "echo") == 0)
        rc = do_echo(fd, seconds);
    else
        rc = do_ping(fd, count, interval_ms);
    close(fd);
    return rc;
}
