/* UDP sockets for QUIC: non-blocking, watched with uv_poll; receive with recvmmsg (and UDP_GRO
 * where the kernel offers it), send with sendmsg and a UDP_SEGMENT (GSO) batch when several
 * packets go to one peer, falling back to one datagram per call when the kernel refuses. */
#include <errno.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "h3_internal.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define SOCK_BUF (4 * 1024 * 1024)
#define RX_ROUNDS 64 /* recvmmsg calls per readiness event, so one busy socket cannot starve */

static void on_poll(uv_poll_t *h, int status, int events);

static void sock_handle_closed(uv_handle_t *h)
{
    h3_sock *s = h->data;
    if (s->fd >= 0) close(s->fd);
    free(s);
}

int h3_sock_open(h3_sock **out, h3_owner *o, const struct sockaddr *bind_addr, socklen_t blen,
                 const struct sockaddr *remote, socklen_t rlen, bool no_gso, h3_sock_recv_fn fn,
                 char *errbuf, size_t errcap)
{
    *out = NULL;
    int family = bind_addr ? bind_addr->sa_family : remote->sa_family;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errbuf, errcap, "socket: %s", strerror(errno));
        return RIPP_ERR_IO;
    }
    int one = 1, size = SOCK_BUF;
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    /* Path MTU discovery is QUIC's job: never fragment. */
    int pmtu = IP_PMTUDISC_DO;
    if (family == AF_INET)
        setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    else
        setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
    setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof one); /* best effort */
    struct sockaddr_storage any;
    if (!bind_addr) {
        memset(&any, 0, sizeof any);
        any.ss_family = (sa_family_t)family;
        bind_addr = (struct sockaddr *)&any;
        blen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    }
    if (bind(fd, bind_addr, blen) < 0) {
        snprintf(errbuf, errcap, "bind: %s", strerror(errno));
        close(fd);
        return RIPP_ERR_IO;
    }
    if (remote && connect(fd, remote, rlen) < 0) {
        snprintf(errbuf, errcap, "connect: %s", strerror(errno));
        close(fd);
        return RIPP_ERR_IO;
    }
    h3_sock *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        snprintf(errbuf, errcap, "out of memory");
        return RIPP_ERR_NOMEM;
    }
    s->fd = fd;
    s->owner = o;
    s->on_recv = fn;
    s->gso = !no_gso;
    s->connected = remote != NULL;
    s->locallen = sizeof s->local;
    if (getsockname(fd, (struct sockaddr *)&s->local, &s->locallen) < 0) {
        snprintf(errbuf, errcap, "getsockname: %s", strerror(errno));
        close(fd);
        free(s);
        return RIPP_ERR_IO;
    }
    if (uv_poll_init(o->loop, &s->poll, fd) < 0) {
        snprintf(errbuf, errcap, "uv_poll_init failed");
        close(fd);
        free(s);
        return RIPP_ERR_IO;
    }
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    *out = s;
    return 0;
}

void h3_sock_close(h3_sock *s)
{
    if (!s || s->closing) return;
    s->closing = true;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_handle_closed);
}

unsigned h3_udp_eagain_every;

void h3_sock_pause(h3_sock *s, bool paused)
{
    if (s->closing) return;
    if (paused)
        uv_poll_stop(&s->poll);
    else
        uv_poll_start(&s->poll, s->want_write ? UV_READABLE | UV_WRITABLE : UV_READABLE, on_poll);
}

static int send_one(h3_sock *s, const struct sockaddr *to, socklen_t tolen, const uint8_t *data,
                    size_t len, size_t gso_size)
{
    static unsigned calls;
    if (h3_udp_eagain_every && ++calls % h3_udp_eagain_every == 0) return -EAGAIN;
    struct iovec iov = {(void *)data, len};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    if (!s->connected) {
        msg.msg_name = (void *)to;
        msg.msg_namelen = tolen;
    }
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctrl;
    if (gso_size && len > gso_size) {
        memset(&ctrl, 0, sizeof ctrl);
        msg.msg_control = ctrl.buf;
        msg.msg_controllen = sizeof ctrl.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg = (uint16_t)gso_size;
        memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    }
    ssize_t n;
    do {
        n = sendmsg(s->fd, &msg, 0);
    } while (n < 0 && errno == EINTR);
    s->owner->udp.tx_syscalls++;
    if (n >= 0) return 0;
    if (errno == ECONNREFUSED) s->refused = true;
    return -errno;
}

int h3_sock_send(h3_sock *s, const struct sockaddr *to, socklen_t tolen, const uint8_t *data,
                 size_t len, size_t gso_size, size_t *sent)
{
    if (sent) *sent = 0;
    h3_udp_stats *st = &s->owner->udp;
    size_t seg = gso_size && gso_size < len ? gso_size : len;
    uint64_t dgrams = (len + seg - 1) / seg;
    if (s->gso && dgrams > 1) {
        int rv = send_one(s, to, tolen, data, len, seg);
        if (rv == 0) {
            st->tx_bytes += len;
            st->tx_dgrams += dgrams;
            return 0;
        }
        if (rv == -EAGAIN || rv == -EWOULDBLOCK) {
            if (!sent) st->tx_dropped += dgrams;
            return RIPP_ERR_AGAIN;
        }
        if (rv != -EIO && rv != -EINVAL && rv != -EOPNOTSUPP) {
            st->tx_dropped += dgrams;
            return RIPP_ERR_IO;
        }
        /* EIO / EINVAL: no GSO on this path (device or kernel); send them one by one. */
        ripp_log(RIPP_LOG_DEBUG, "h3: UDP GSO refused (%s); sending datagrams singly",
                 strerror(-rv));
        s->gso = false;
    }
    for (size_t off = 0; off < len; off += seg) {
        size_t n = len - off < seg ? len - off : seg;
        int rv = send_one(s, to, tolen, data + off, n, 0);
        if (rv == -EAGAIN || rv == -EWOULDBLOCK) {
            if (sent)
                *sent = off;
            else
                st->tx_dropped += (len - off + seg - 1) / seg;
            return RIPP_ERR_AGAIN;
        }
        if (rv < 0) {
            ripp_log(RIPP_LOG_DEBUG, "h3: sendmsg: %s", strerror(-rv));
            st->tx_dropped++;
            continue;
        }
        st->tx_bytes += n;
        st->tx_dgrams++;
    }
    return 0;
}

static int gro_size(struct msghdr *m)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
            int v = 0;
            memcpy(&v, CMSG_DATA(cm), sizeof v);
            return v;
        }
    }
    return 0;
}

void h3_sock_want_write(h3_sock *s, bool on)
{
    if (s->closing || s->want_write == on) return;
    s->want_write = on;
    uv_poll_start(&s->poll, on ? UV_READABLE | UV_WRITABLE : UV_READABLE, on_poll);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    h3_sock *s = h->data;
    if (s->closing) return;
    /* An error pending on the socket (an ICMP unreachable on a connected socket: the peer
     * was not listening for a moment) is read, and cleared, with recvmmsg below. libuv
     * stops the handle on POLLERR: start it again, or nothing would be read from this
     * socket any more (a client would never see the stateless reset of its restarted
     * server, only its own failure timer). */
    if (status < 0)
        uv_poll_start(&s->poll, s->want_write ? UV_READABLE | UV_WRITABLE : UV_READABLE, on_poll);
    h3_owner *o = s->owner;
    if (events & UV_WRITABLE) {
        h3_conn *c = s->blocked;
        s->blocked = NULL;
        h3_sock_want_write(s, false);
        while (c) {
            h3_conn *next = c->bnext;
            c->bnext = NULL;
            c->blocked_listed = false;
            h3_conn_mark_dirty(c);
            c = next;
        }
    }
    struct mmsghdr msgs[H3_RX_MSGS];
    struct iovec iov[H3_RX_MSGS];
    struct sockaddr_storage from[H3_RX_MSGS];
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl[H3_RX_MSGS];
    for (int round = 0; round < RX_ROUNDS && !s->closing && !o->deleted; round++) {
        for (int i = 0; i < H3_RX_MSGS; i++) {
            iov[i].iov_base = o->rxbuf + (size_t)i * H3_RX_BUF;
            iov[i].iov_len = H3_RX_BUF;
            memset(&msgs[i], 0, sizeof msgs[i]);
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = ctrl[i].buf;
            msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
        }
        int n = recvmmsg(s->fd, msgs, H3_RX_MSGS, 0, NULL);
        if (n <= 0) {
            if (n < 0 && errno == ECONNREFUSED && s->on_refused) {
                s->on_refused(s);
                return;
            }
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                ripp_log(RIPP_LOG_DEBUG, "h3: recvmmsg: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n && !s->closing && !o->deleted; i++) {
            size_t len = msgs[i].msg_len;
            uint8_t *p = iov[i].iov_base;
            int seg = gro_size(&msgs[i].msg_hdr);
            size_t step = seg > 0 ? (size_t)seg : len;
            if (step == 0) {
                o->udp.rx_dgrams++;
                continue;
            }
            for (size_t off = 0; off < len && !s->closing && !o->deleted; off += step) {
                size_t k = len - off < step ? len - off : step;
                o->udp.rx_dgrams++;
                o->udp.rx_bytes += k;
                s->on_recv(s, (struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen, p + off, k);
            }
        }
        if (n < H3_RX_MSGS) return;
    }
}
