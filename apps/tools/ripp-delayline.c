/* ripp-delayline - a delay line for IP packets, for test networks where netem is missing.
 *
 * It holds a TUN device; the network namespace it runs in routes every packet between two
 * test hosts through that device (policy routing: see tests/integration/netns.sh). Each
 * packet read from the device is written back after --delay-ms (plus an optional uniform
 * jitter that never reorders), whatever its protocol, so TCP and UDP see the same delay.
 * The queue is bounded (--queue packets; beyond it packets are dropped and counted).
 *
 * It counts packets and IP bytes per direction (to --a-addr or not) and protocol, and
 * prints them as one JSON line on SIGUSR1 and at exit. SIGTERM or SIGINT ends it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PKT_MAX 2048
#define READ_BURST 256

static const char usage_text[] =
    "usage: ripp-delayline --dev NAME --delay-ms D [--jitter-ms J] [--queue N]\n"
    "                      [--a-addr IPV4] [--seed S]\n"
    "\n"
    "Attaches to (or creates) the TUN device NAME, brings it up, and writes every packet\n"
    "read from it back after D ms (+ uniform jitter in [-J, +J] ms, never reordering).\n"
    "At most N packets wait (default 8192); more are dropped and counted.\n"
    "SIGUSR1 prints the counters as a JSON line; SIGTERM/SIGINT print them and exit 0.\n"
    "--a-addr: packets to this IPv4 address count as direction \"to_a\", others \"to_b\".\n";

enum { PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_OTHER, NPROTO };
static const char *proto_name[NPROTO] = {"tcp", "udp", "icmp", "other"};

typedef struct slot {
    uint64_t due_ns;
    uint16_t len;
    uint8_t data[PKT_MAX];
} slot;

typedef struct counters {
    uint64_t pkts[2][NPROTO], bytes[2][NPROTO];
    uint64_t dropped_full, oversize, write_errors, max_queued;
} counters;

static volatile sig_atomic_t got_term, got_usr1;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        got_usr1 = 1;
    else
        got_term = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: jitter needs no quality beyond uniformity */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int tun_open(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "ripp-delayline: /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "ripp-delayline: TUNSETIFF %s: %s\n", name, strerror(errno));
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        fprintf(stderr, "ripp-delayline: O_NONBLOCK: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    /* bring it up: the routes through it are usable from then on */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
            ifr.ifr_flags |= IFF_UP;
            if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                fprintf(stderr, "ripp-delayline: cannot bring %s up: %s\n", name, strerror(errno));
        }
        close(s);
    }
    return fd;
}

static void print_counters(const counters *c, uint64_t queued)
{
    static const char *dir_name[2] = {"to_a", "to_b"};
    printf("{\"tool\":\"ripp-delayline\"");
    for (int d = 0; d < 2; d++) {
        printf(",\"%s\":{", dir_name[d]);
        for (int p = 0; p < NPROTO; p++)
            printf("%s\"%s\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", p ? "," : "",
                   proto_name[p], c->pkts[d][p], c->bytes[d][p]);
        printf("}");
    }
    printf(",\"dropped_full\":%" PRIu64 ",\"oversize\":%" PRIu64 ",\"write_errors\":%" PRIu64
           ",\"queued\":%" PRIu64 ",\"max_queued\":%" PRIu64 "}\n",
           c->dropped_full, c->oversize, c->write_errors, queued, c->max_queued);
    fflush(stdout);
}

static int proto_of(const uint8_t *p, size_t len)
{
    uint8_t proto;
    if (len >= 20 && (p[0] >> 4) == 4)
        proto = p[9];
    else if (len >= 40 && (p[0] >> 4) == 6)
        proto = p[6]; /* without extension headers: enough for counting */
    else
        return PROTO_OTHER;
    switch (proto) {
    case 6:
        return PROTO_TCP;
    case 17:
        return PROTO_UDP;
    case 1:
    case 58:
        return PROTO_ICMP;
    default:
        return PROTO_OTHER;
    }
}

int main(int argc, char **argv)
{
    const char *dev = NULL;
    double delay_ms = -1, jitter_ms = 0;
    long qcap = 8192;
    uint32_t a_addr = 0;
    bool have_a = false;
    static const struct option opts[] = {{"dev", required_argument, NULL, 'd'},
                                         {"delay-ms", required_argument, NULL, 'D'},
                                         {"jitter-ms", required_argument, NULL, 'j'},
                                         {"queue", required_argument, NULL, 'q'},
                                         {"a-addr", required_argument, NULL, 'a'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            dev = optarg;
            break;
        case 'D':
            delay_ms = strtod(optarg, NULL);
            break;
        case 'j':
            jitter_ms = strtod(optarg, NULL);
            break;
        case 'q':
            qcap = strtol(optarg, NULL, 10);
            break;
        case 'a': {
            struct in_addr in;
            if (inet_pton(AF_INET, optarg, &in) != 1) {
                fprintf(stderr, "ripp-delayline: bad --a-addr %s\n", optarg);
                return 2;
            }
            a_addr = in.s_addr;
            have_a = true;
            break;
        }
        case 's':
            rng_state = strtoull(optarg, NULL, 10) | 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (!dev || strlen(dev) >= IFNAMSIZ || delay_ms < 0 || delay_ms > 10000 || jitter_ms < 0 ||
        jitter_ms > delay_ms || qcap < 1 || qcap > 1000000) {
        fputs(usage_text, stderr);
        return 2;
    }
    slot *q = calloc((size_t)qcap, sizeof *q);
    if (!q) {
        fprintf(stderr, "ripp-delayline: out of memory\n");
        return 1;
    }
    int fd = tun_open(dev);
    if (fd < 0) {
        free(q);
        return 1;
    }
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &orig);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    uint64_t delay_ns = (uint64_t)(delay_ms * 1e6), jitter_ns = (uint64_t)(jitter_ms * 1e6);
    size_t head = 0, len = 0;
    uint64_t last_due = 0;
    counters c;
    memset(&c, 0, sizeof c);
    fprintf(stderr, "ripp-delayline: %s up, delay %.3f ms, jitter %.3f ms, queue %ld\n", dev,
            delay_ms, jitter_ms, qcap);
    while (!got_term) {
        uint64_t now = now_ns();
        /* release what is due */
        while (len > 0 && q[head].due_ns <= now) {
            if (write(fd, q[head].data, q[head].len) < 0) c.write_errors++;
            head = (head + 1) % (size_t)qcap;
            len--;
        }
        struct timespec ts, *tsp = NULL;
        if (len > 0) {
            uint64_t wait = q[head].due_ns - now;
            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            tsp = &ts;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = ppoll(&pfd, 1, tsp, &orig);
        if (got_usr1) {
            got_usr1 = 0;
            print_counters(&c, len);
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "ripp-delayline: poll: %s\n", strerror(errno));
            break;
        }
        if (n == 0 || !(pfd.revents & POLLIN)) continue;
        for (int i = 0; i < READ_BURST; i++) {
            uint8_t buf[65536];
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0) break; /* EAGAIN: drained */
            if (r == 0) continue;
            uint64_t t = now_ns();
            int p = proto_of(buf, (size_t)r);
            uint32_t dst = 0;
            if (r >= 20 && (buf[0] >> 4) == 4) memcpy(&dst, buf + 16, 4);
            int d = have_a && dst == a_addr ? 0 : 1;
            c.pkts[d][p]++;
            c.bytes[d][p] += (uint64_t)r;
            if (r > PKT_MAX) {
                c.oversize++;
                continue;
            }
            if (len == (size_t)qcap) {
                c.dropped_full++;
                continue;
            }
            uint64_t due = t + delay_ns;
            if (jitter_ns) due = due - jitter_ns + rng() % (2 * jitter_ns + 1);
            if (due < last_due) due = last_due; /* jitter never reorders */
            last_due = due;
            slot *s = &q[(head + len) % (size_t)qcap];
            s->due_ns = due;
            s->len = (uint16_t)r;
            memcpy(s->data, buf, (size_t)r);
            len++;
            if (len > c.max_queued) c.max_queued = len;
        }
    }
    print_counters(&c, len);
    close(fd);
    free(q);
    return 0;
}
