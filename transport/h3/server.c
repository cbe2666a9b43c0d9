/* HTTP/3 server: one UDP socket, a connection-ID map routing datagrams to connections,
 * version negotiation, Retry with address-validation tokens, session tickets and 0-RTT with
 * replay protection, and graceful shutdown with GOAWAY. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h3_internal.h"

#define GOAWAY_DELAY_MS 200
#define HANDSHAKE_TIMEOUT (10 * RIPP_NS_PER_SEC)
#define RETRY_TOKEN_LIFETIME (10 * NGTCP2_SECONDS)
#define REPLAY_SLOTS 4096

typedef struct cid_ent {
    struct cid_ent *next;
    ngtcp2_cid cid;
    h3_conn *c;
} cid_ent;

typedef struct replay_ent {
    time_t exp;
    uint8_t len;
    uint8_t key[64];
} replay_ent;

struct ripp_h3_server {
    h3_owner o; /* first: the owner's handles carry &o as their data */
    h3_sock *sock;
    uv_timer_t goaway_timer;
    bool shut_down;
    int port;
    bool retry_always;
    uint32_t retry_threshold;
    uint64_t retries;
    size_t handshaking;
    cid_ent **buckets;
    size_t nbuckets, nentries;
    replay_ent *replay;
    size_t nreplay;
    uint64_t resets;            /* stateless resets sent */
    ngtcp2_tstamp reset_window; /* start of the current second */
    unsigned reset_in_window;   /* resets sent in it */
};

static ripp_h3_server *server_of(h3_owner *o)
{
    return (ripp_h3_server *)o;
}

/* ---- connection-ID map ---- */

static size_t cid_hash(const ripp_h3_server *s, const uint8_t *d, size_t len)
{
    /* FNV-1a seeded with the server secret, so that peers cannot aim at one bucket. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < 8; i++)
        h = (h ^ s->o.secret[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ d[i]) * 0x100000001b3ull;
    return (size_t)(h % s->nbuckets);
}

static h3_conn *cid_find(ripp_h3_server *s, const uint8_t *d, size_t len)
{
    if (!s->nbuckets) return NULL;
    for (cid_ent *e = s->buckets[cid_hash(s, d, len)]; e; e = e->next)
        if (e->cid.datalen == len && memcmp(e->cid.data, d, len) == 0) return e->c;
    return NULL;
}

static int cid_grow(ripp_h3_server *s)
{
    size_t n = s->nbuckets ? s->nbuckets * 2 : 256;
    cid_ent **nb = calloc(n, sizeof *nb);
    if (!nb) return RIPP_ERR_NOMEM;
    cid_ent **old = s->buckets;
    size_t oldn = s->nbuckets;
    s->buckets = nb;
    s->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        cid_ent *e = old[i];
        while (e) {
            cid_ent *next = e->next;
            size_t b = cid_hash(s, e->cid.data, e->cid.datalen);
            e->next = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(old);
    return 0;
}

static int cid_add(h3_conn *c, const ngtcp2_cid *cid)
{
    ripp_h3_server *s = server_of(c->owner);
    if (cid_find(s, cid->data, cid->datalen)) return 0;
    if ((s->nentries + 1 > s->nbuckets * 2 || !s->nbuckets) && cid_grow(s) < 0)
        return RIPP_ERR_NOMEM;
    if (c->ncids == c->capcids) {
        size_t cap = c->capcids ? c->capcids * 2 : 8;
        ngtcp2_cid *n = realloc(c->cids, cap * sizeof *n);
        if (!n) return RIPP_ERR_NOMEM;
        c->cids = n;
        c->capcids = cap;
    }
    cid_ent *e = malloc(sizeof *e);
    if (!e) return RIPP_ERR_NOMEM;
    e->cid = *cid;
    e->c = c;
    size_t b = cid_hash(s, cid->data, cid->datalen);
    e->next = s->buckets[b];
    s->buckets[b] = e;
    s->nentries++;
    c->cids[c->ncids++] = *cid;
    return 0;
}

static void cid_del(h3_conn *c, const ngtcp2_cid *cid)
{
    ripp_h3_server *s = server_of(c->owner);
    if (!s->nbuckets) return;
    cid_ent **pp = &s->buckets[cid_hash(s, cid->data, cid->datalen)];
    for (; *pp; pp = &(*pp)->next) {
        cid_ent *e = *pp;
        if (e->c == c && ngtcp2_cid_eq(&e->cid, cid)) {
            *pp = e->next;
            free(e);
            s->nentries--;
            break;
        }
    }
    for (size_t i = 0; i < c->ncids; i++) {
        if (ngtcp2_cid_eq(&c->cids[i], cid)) {
            c->cids[i] = c->cids[--c->ncids];
            break;
        }
    }
}

/* ---- role hooks ---- */

static void role_cid_retire(h3_conn *c, const ngtcp2_cid *cid)
{
    cid_del(c, cid);
}

static int role_handshake_done(h3_conn *c)
{
    ripp_h3_server *s = server_of(c->owner);
    if (s->handshaking) s->handshaking--;
    int rv = gnutls_session_ticket_send(c->tls, 1, 0);
    if (rv < 0) ripp_log(RIPP_LOG_DEBUG, "h3: session ticket: %s", gnutls_strerror(rv));
    ripp_log(RIPP_LOG_DEBUG, "h3: connection with %s established", c->host);
    return 0;
}

static void role_conn_free(h3_conn *c)
{
    ripp_h3_server *s = server_of(c->owner);
    if (!c->handshake_done && c->qc && s->handshaking) s->handshaking--;
    while (c->ncids)
        cid_del(c, &c->cids[c->ncids - 1]);
}

static const h3_role server_role = {
    .cid_new = cid_add,
    .cid_retire = role_cid_retire,
    .handshake_done = role_handshake_done,
    .conn_free = role_conn_free,
};

/* ---- 0-RTT replay protection: a ClientHello's early data is accepted once ---- */

static int replay_add(void *ud, time_t exp, const gnutls_datum_t *key, const gnutls_datum_t *data)
{
    (void)data;
    ripp_h3_server *s = ud;
    if (!s->replay || key->size > sizeof s->replay[0].key) return GNUTLS_E_DB_ERROR;
    time_t now = time(NULL);
    size_t free_slot = SIZE_MAX;
    for (size_t i = 0; i < s->nreplay; i++) {
        replay_ent *e = &s->replay[i];
        if (e->exp < now) {
            if (free_slot == SIZE_MAX) free_slot = i;
            continue;
        }
        if (e->len == key->size && memcmp(e->key, key->data, key->size) == 0)
            return GNUTLS_E_DB_ENTRY_EXISTS;
    }
    if (free_slot == SIZE_MAX) {
        if (s->nreplay == REPLAY_SLOTS) return GNUTLS_E_DB_ERROR; /* full: no 0-RTT */
        free_slot = s->nreplay++;
    }
    replay_ent *e = &s->replay[free_slot];
    e->exp = exp;
    e->len = (uint8_t)key->size;
    memcpy(e->key, key->data, key->size);
    return 0;
}

/* ---- stateless replies ---- */

static ngtcp2_tstamp wall_ns(void)
{
    return (ngtcp2_tstamp)ripp_io_wall_us() * 1000;
}

static void send_raw(ripp_h3_server *s, const struct sockaddr *to, socklen_t tolen,
                     const uint8_t *d, size_t n)
{
    h3_sock_send(s->sock, to, tolen, d, n, 0, NULL);
}

static void send_version_negotiation(ripp_h3_server *s, const ngtcp2_version_cid *vc,
                                     const struct sockaddr *to, socklen_t tolen)
{
    uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE], r[5];
    gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof r);
    /* A reserved version (0x?a?a?a?a) first, so that clients do not ossify on our list. */
    uint32_t grease = ((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3]);
    uint32_t sv[2] = {(grease & 0xf0f0f0f0u) | 0x0a0a0a0au, NGTCP2_PROTO_VER_V1};
    ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(
        buf, sizeof buf, r[4], vc->scid, vc->scidlen, vc->dcid, vc->dcidlen, sv, 2);
    if (n > 0) send_raw(s, to, tolen, buf, (size_t)n);
}

/* RFC 9000 §10.3: a short-header packet for a connection this process does not have (it
 * was restarted, or the connection is long gone) gets a Stateless Reset, so that the peer
 * gives the connection up at once instead of waiting for its idle timeout: the peer's
 * calls then reconnect on a new connection. The token comes from the connection ID and a
 * secret derived from the key file (tls_init), the same one the previous process used.
 * Smaller than what triggered it (no loops between two endpoints), at least 21 bytes, and
 * at most RESET_RATE a second (no reflection flood). */
#define RESET_RATE 200
static void send_stateless_reset(ripp_h3_server *s, const ngtcp2_version_cid *vc,
                                 const struct sockaddr *to, socklen_t tolen, size_t pktlen)
{
    if (vc->dcidlen != H3_SCID_LEN || pktlen <= 22) return;
    ngtcp2_tstamp now = wall_ns();
    if (now - s->reset_window >= NGTCP2_SECONDS) {
        s->reset_window = now;
        s->reset_in_window = 0;
    }
    if (s->reset_in_window >= RESET_RATE) return;
    ngtcp2_cid cid;
    ngtcp2_cid_init(&cid, vc->dcid, vc->dcidlen);
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[64], buf[96];
    if (ngtcp2_crypto_generate_stateless_reset_token(token, s->o.secret, sizeof s->o.secret,
                                                     &cid) != 0)
        return;
    size_t len = pktlen - 1 < sizeof buf ? pktlen - 1 : sizeof buf;
    size_t randlen = len - 1 - NGTCP2_STATELESS_RESET_TOKENLEN;
    if (randlen > sizeof rnd) randlen = sizeof rnd;
    if (gnutls_rnd(GNUTLS_RND_NONCE, rnd, randlen) < 0) return;
    ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(buf, len, token, rnd, randlen);
    if (n <= 0) return;
    if (s->reset_in_window++ == 0) /* one line a second at most */
        ripp_log(RIPP_LOG_INFO, "h3: stateless reset for a connection this instance does not have");
    s->resets++;
    send_raw(s, to, tolen, buf, (size_t)n);
}

static void send_retry(ripp_h3_server *s, const ngtcp2_pkt_hd *hd, const struct sockaddr *to,
                       socklen_t tolen, size_t pktlen)
{
    ngtcp2_cid scid;
    scid.datalen = H3_SCID_LEN;
    if (gnutls_rnd(GNUTLS_RND_NONCE, scid.data, scid.datalen) < 0) return;
    uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
    ngtcp2_ssize tl =
        ngtcp2_crypto_generate_retry_token(token, s->o.secret, sizeof s->o.secret, hd->version, to,
                                           tolen, &scid, &hd->dcid, wall_ns());
    if (tl < 0) return;
    uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    size_t cap = pktlen * 3 < sizeof buf ? pktlen * 3 : sizeof buf;
    ngtcp2_ssize n = ngtcp2_crypto_write_retry(buf, cap, hd->version, &hd->scid, &scid, &hd->dcid,
                                               token, (size_t)tl);
    if (n <= 0) return;
    send_raw(s, to, tolen, buf, (size_t)n);
    s->retries++;
}

static void send_stateless_close(ripp_h3_server *s, const ngtcp2_pkt_hd *hd,
                                 const struct sockaddr *to, socklen_t tolen, uint64_t code)
{
    uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(buf, sizeof buf, hd->version, &hd->scid,
                                                          &hd->dcid, code, NULL, 0);
    if (n > 0) send_raw(s, to, tolen, buf, (size_t)n);
}

/* ---- new connections ---- */

static bool need_retry(const ripp_h3_server *s)
{
    if (s->retry_always) return true;
    if (s->retry_threshold == UINT32_MAX) return false;
    return s->handshaking > s->retry_threshold;
}

static void peer_name(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN], serv[8];
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(out, cap, "%s%s%s:%s", sa->sa_family == AF_INET6 ? "[" : "", host,
                 sa->sa_family == AF_INET6 ? "]" : "", serv);
    else
        snprintf(out, cap, "peer");
}

static void accept_conn(ripp_h3_server *s, const struct sockaddr *from, socklen_t fromlen,
                        uint8_t *pkt, size_t len)
{
    h3_owner *o = &s->o;
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, pkt, len) != 0) return; /* not an acceptable first Initial */
    if (s->shut_down) {
        send_stateless_close(s, &hd, from, fromlen, NGTCP2_CONNECTION_REFUSED);
        return;
    }
    ngtcp2_cid ocid;
    bool retried = false;
    if (hd.token.len > 0 && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
        if (ngtcp2_crypto_verify_retry_token(&ocid, hd.token.base, hd.token.len, o->secret,
                                             sizeof o->secret, hd.version, from, fromlen, &hd.dcid,
                                             RETRY_TOKEN_LIFETIME, wall_ns()) != 0) {
            send_stateless_close(s, &hd, from, fromlen, NGTCP2_INVALID_TOKEN);
            return;
        }
        retried = true;
    } else {
        hd.token.base = NULL; /* no NEW_TOKEN tokens are issued: anything else is ignored */
        hd.token.len = 0;
        if (need_retry(s)) {
            send_retry(s, &hd, from, fromlen, len);
            return;
        }
    }
    h3_conn *c = h3_conn_alloc(o);
    if (!c) return;
    c->sock = s->sock;
    memcpy(&c->remote, from, fromlen);
    c->remotelen = fromlen;
    peer_name(from, fromlen, c->host, sizeof c->host);

    ngtcp2_cid scid;
    scid.datalen = H3_SCID_LEN;
    gnutls_rnd(GNUTLS_RND_NONCE, scid.data, scid.datalen);
    ngtcp2_settings st;
    ngtcp2_settings_default(&st);
    st.initial_ts = h3_now();
    st.cc_algo = H3_CC_ALGO;
    st.token = hd.token;
    st.handshake_timeout = o->handshake_timeout;
    st.max_stream_window = 6 * (uint64_t)o->stream_window;
    st.max_window = 4 * (uint64_t)H3_CONN_WINDOW;
    ngtcp2_transport_params p;
    ngtcp2_transport_params_default(&p);
    p.initial_max_stream_data_bidi_local = o->stream_window;
    p.initial_max_stream_data_bidi_remote = o->stream_window;
    p.initial_max_stream_data_uni = o->stream_window;
    p.initial_max_data = H3_CONN_WINDOW;
    p.initial_max_streams_bidi = o->max_streams;
    p.initial_max_streams_uni = 3;
    p.max_idle_timeout = o->idle_timeout;
    p.active_connection_id_limit = 7;
    p.stateless_reset_token_present = 1;
    ngtcp2_crypto_generate_stateless_reset_token(p.stateless_reset_token, o->secret,
                                                 sizeof o->secret, &scid);
    if (retried) {
        p.original_dcid = ocid;
        p.retry_scid = hd.dcid;
        p.retry_scid_present = 1;
    } else {
        p.original_dcid = hd.dcid;
    }
    ngtcp2_path path = {
        {(ngtcp2_sockaddr *)&s->sock->local, (ngtcp2_socklen)s->sock->locallen},
        {(ngtcp2_sockaddr *)from, (ngtcp2_socklen)fromlen},
        NULL,
    };
    ngtcp2_callbacks cb;
    h3_conn_callbacks(&cb, true);
    int rv =
        ngtcp2_conn_server_new(&c->qc, &hd.scid, &scid, &path, hd.version, &cb, &st, &p, NULL, c);
    if (rv != 0) {
        c->qc = NULL;
        ripp_log(RIPP_LOG_WARN, "h3: new connection: %s", ngtcp2_strerror(rv));
        h3_conn_discard(c);
        return;
    }
    s->handshaking++;
    if (h3_conn_tls_setup(c, NULL) < 0 || cid_add(c, &hd.dcid) < 0 || cid_add(c, &scid) < 0) {
        ripp_log(RIPP_LOG_WARN, "h3: new connection: TLS or memory failure");
        h3_conn_discard(c);
        return;
    }
    h3_conn_start_timer(c);
    h3_conn_on_datagram(c, from, fromlen, (struct sockaddr *)&s->sock->local, s->sock->locallen,
                        pkt, len);
}

static void on_datagram(h3_sock *sock, const struct sockaddr *from, socklen_t fromlen, uint8_t *pkt,
                        size_t len)
{
    ripp_h3_server *s = server_of(sock->owner);
    ngtcp2_version_cid vc;
    int rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, H3_SCID_LEN);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        /* Only to datagrams big enough to be a client's first flight (no amplification). */
        if (len >= NGTCP2_MAX_UDP_PAYLOAD_SIZE) send_version_negotiation(s, &vc, from, fromlen);
        return;
    }
    if (rv != 0 || vc.dcidlen > NGTCP2_MAX_CIDLEN) return;
    h3_conn *c = cid_find(s, vc.dcid, vc.dcidlen);
    if (c) {
        h3_conn_on_datagram(c, from, fromlen, (struct sockaddr *)&sock->local, sock->locallen, pkt,
                            len);
        return;
    }
    if (vc.version == 0) { /* a short header for no connection we know */
        send_stateless_reset(s, &vc, from, fromlen, len);
        return;
    }
    accept_conn(s, from, fromlen, pkt, len);
}

/* ---- public API ---- */

static void server_free(h3_owner *o)
{
    ripp_h3_server *s = server_of(o);
    for (size_t i = 0; i < s->nbuckets; i++) {
        cid_ent *e = s->buckets[i];
        while (e) {
            cid_ent *n = e->next;
            free(e);
            e = n;
        }
    }
    free(s->buckets);
    free(s->replay);
    free(s);
}

static int bind_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) {
        *len = sizeof(struct sockaddr_in);
        return 0;
    }
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) {
        *len = sizeof(struct sockaddr_in6);
        return 0;
    }
    /* A name: resolved once, at start-up, so blocking is acceptable. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return RIPP_ERR_INVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (socklen_t)res->ai_addrlen;
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

static int tls_init(h3_owner *o, ripp_h3_server *s, const ripp_tls_server_config *tls, char *errbuf,
                    size_t errcap)
{
    if (!tls->cert_file || !tls->key_file) {
        snprintf(errbuf, errcap, "certificate and key files are required");
        return RIPP_ERR_INVAL;
    }
    if (gnutls_certificate_allocate_credentials(&o->cred) < 0) {
        o->cred = NULL;
        snprintf(errbuf, errcap, "gnutls credentials");
        return RIPP_ERR_CRYPTO;
    }
    int rv = gnutls_certificate_set_x509_key_file2(o->cred, tls->cert_file, tls->key_file,
                                                   GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rv < 0) {
        snprintf(errbuf, errcap, "load %s / %s: %s", tls->cert_file, tls->key_file,
                 gnutls_strerror(rv));
        return RIPP_ERR_CRYPTO;
    }
    /* The secret of stateless reset and Retry tokens: from the private key, so that an
     * instance restarted with the same key resets the connections of the one before it
     * (send_stateless_reset). Instances sharing a key share it too, which is harmless
     * while each connection's packets reach the instance that made its IDs. */
    gnutls_datum_t key = {NULL, 0};
    if (gnutls_load_file(tls->key_file, &key) < 0 ||
        gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.data, key.size, "ripp h3 reset secret", 20,
                         o->secret) < 0) {
        gnutls_free(key.data);
        snprintf(errbuf, errcap, "derive the reset secret from %s", tls->key_file);
        return RIPP_ERR_CRYPTO;
    }
    gnutls_memset(key.data, 0, key.size);
    gnutls_free(key.data);
    if (gnutls_priority_init(&o->prio, H3_TLS_PRIORITY, NULL) < 0) {
        o->prio = NULL;
        snprintf(errbuf, errcap, "gnutls priority");
        return RIPP_ERR_CRYPTO;
    }
    if (gnutls_session_ticket_key_generate(&o->ticket_key) < 0) {
        o->ticket_key.data = NULL;
        snprintf(errbuf, errcap, "session ticket key");
        return RIPP_ERR_CRYPTO;
    }
    if (gnutls_anti_replay_init(&o->anti_replay) < 0) {
        o->anti_replay = NULL;
        snprintf(errbuf, errcap, "anti-replay");
        return RIPP_ERR_CRYPTO;
    }
    gnutls_anti_replay_set_add_function(o->anti_replay, replay_add);
    gnutls_anti_replay_set_ptr(o->anti_replay, s);
    return 0;
}

ripp_h3_server *ripp_h3_server_new(uv_loop_t *loop, const ripp_h3_server_config *cfg,
                                   ripp_on_request_fn on_request, void *ud, int *err, char *errbuf,
                                   size_t errcap)
{
    int dummy;
    if (!err) err = &dummy;
    char dummybuf[8];
    if (!errbuf || !errcap) {
        errbuf = dummybuf;
        errcap = sizeof dummybuf;
    }
    errbuf[0] = '\0';
    if (!loop || !cfg || !on_request || cfg->port < 0 || cfg->port > 65535) {
        *err = RIPP_ERR_INVAL;
        snprintf(errbuf, errcap, "invalid server configuration");
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    const char *host = cfg->host && *cfg->host ? cfg->host : "0.0.0.0";
    if (bind_addr(host, cfg->port, &ss, &sslen) < 0) {
        *err = RIPP_ERR_INVAL;
        snprintf(errbuf, errcap, "cannot use listen address %s", host);
        return NULL;
    }
    ripp_h3_server *s = calloc(1, sizeof *s);
    if (!s) {
        *err = RIPP_ERR_NOMEM;
        snprintf(errbuf, errcap, "out of memory");
        return NULL;
    }
    h3_owner *o = &s->o;
    int rv = h3_owner_init(o, loop, true);
    if (rv < 0) {
        free(o->rxbuf);
        free(s);
        *err = rv;
        snprintf(errbuf, errcap, "event loop");
        return NULL;
    }
    o->free_fn = server_free;
    o->role = &server_role;
    o->stream_window = cfg->stream_window ? cfg->stream_window : H3_DEFAULT_WINDOW;
    o->max_streams = cfg->max_streams_bidi ? cfg->max_streams_bidi : H3_DEFAULT_MAX_STREAMS;
    o->idle_timeout = cfg->idle_timeout ? cfg->idle_timeout : H3_DEFAULT_IDLE;
    o->handshake_timeout = HANDSHAKE_TIMEOUT;
    o->no_early_data = cfg->no_early_data;
    o->no_gso = cfg->no_gso;
    o->on_request = on_request;
    o->on_request_ud = ud;
    s->retry_always = cfg->retry_always;
    s->retry_threshold = cfg->retry_threshold ? cfg->retry_threshold : 64;
    s->replay = calloc(REPLAY_SLOTS, sizeof *s->replay);
    uv_timer_init(loop, &s->goaway_timer);
    s->goaway_timer.data = o;
    o->handles++;
    if (!s->replay) {
        *err = RIPP_ERR_NOMEM;
        snprintf(errbuf, errcap, "out of memory");
        goto fail;
    }
    rv = tls_init(o, s, &cfg->tls, errbuf, errcap);
    if (rv < 0) {
        *err = rv;
        goto fail;
    }
    rv = h3_sock_open(&s->sock, o, (struct sockaddr *)&ss, sslen, NULL, 0, cfg->no_gso, on_datagram,
                      errbuf, errcap);
    if (rv < 0) {
        *err = rv;
        goto fail;
    }
    const struct sockaddr *la = (const struct sockaddr *)&s->sock->local;
    s->port = ntohs(la->sa_family == AF_INET ? ((const struct sockaddr_in *)la)->sin_port
                                             : ((const struct sockaddr_in6 *)la)->sin6_port);
    ripp_log(RIPP_LOG_INFO, "h3: listening on %s UDP port %d (QUIC v1, TLS 1.3, h3)", host,
             s->port);
    *err = 0;
    return s;
fail:
    ripp_h3_server_del(s);
    return NULL;
}

int ripp_h3_server_port(const ripp_h3_server *s)
{
    return s ? s->port : 0;
}

static void on_goaway_timer(uv_timer_t *t)
{
    h3_owner *o = t->data;
    h3_conn *next;
    for (h3_conn *c = o->conns; c; c = next) {
        next = c->next;
        h3_conn_goaway(c);
    }
}

void ripp_h3_server_shutdown(ripp_h3_server *s)
{
    if (!s || s->shut_down || s->o.deleted) return;
    s->shut_down = true;
    ripp_log(RIPP_LOG_INFO, "h3: shutting down (%zu connections)", s->o.n_open);
    h3_conn *next;
    for (h3_conn *c = s->o.conns; c; c = next) {
        next = c->next;
        h3_conn_shutdown_notice(c);
    }
    uv_timer_start(&s->goaway_timer, on_goaway_timer, GOAWAY_DELAY_MS, 0);
}

void ripp_h3_server_del(ripp_h3_server *s)
{
    if (!s || s->o.deleted) return;
    uv_close((uv_handle_t *)&s->goaway_timer, h3_owner_handle_closed);
    h3_owner_close(&s->o);
    if (s->sock) h3_sock_close(s->sock);
    s->sock = NULL;
}

uint64_t ripp_h3_server_connection_count(const ripp_h3_server *s)
{
    return s ? s->o.total_conns : 0;
}

size_t ripp_h3_server_open_connections(const ripp_h3_server *s)
{
    return s ? s->o.n_open : 0;
}

uint64_t ripp_h3_server_retry_count(const ripp_h3_server *s)
{
    return s ? s->retries : 0;
}

uint64_t ripp_h3_server_early_requests(const ripp_h3_server *s)
{
    return s ? s->o.early_requests : 0;
}

void ripp_h3_server_udp_stats(const ripp_h3_server *s, ripp_h3_udp_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s) return;
    out->tx_bytes = s->o.udp.tx_bytes;
    out->tx_datagrams = s->o.udp.tx_dgrams;
    out->rx_bytes = s->o.udp.rx_bytes;
    out->rx_datagrams = s->o.udp.rx_dgrams;
    out->tx_dropped = s->o.udp.tx_dropped;
    out->tx_syscalls = s->o.udp.tx_syscalls;
}
