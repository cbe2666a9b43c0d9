/* TLS 1.3 credentials, self-signed certificates, and a TLS (or cleartext) byte stream over a
 * libuv TCP connection. GnuTLS runs over memory: uv_read feeds its pull function and its push
 * function appends ciphertext to a write buffer that goes out in one uv_write per flush. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ripp/io.h"

#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define DEFAULT_TIMEOUT (10 * RIPP_NS_PER_SEC)
#define LINGER_MS 2000
#define PRIVATE_RBUF 16384
#define SPARE_MAX (256 * 1024)

static void set_err(int *err, int code, char *errbuf, size_t errcap, const char *fmt, const char *a,
                    const char *b)
{
    if (err) *err = code;
    if (errbuf && errcap) snprintf(errbuf, errcap, fmt, a ? a : "", b ? b : "");
}

/* ---- credentials ---- */

struct ripp_tls_creds {
    int refs;
    bool insecure;
    gnutls_certificate_credentials_t xcred;
    gnutls_priority_t prio;
};

static ripp_tls_creds *creds_alloc(int *err, char *errbuf, size_t errcap)
{
    ripp_tls_creds *c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, RIPP_ERR_NOMEM, errbuf, errcap, "out of memory%s%s", NULL, NULL);
        return NULL;
    }
    c->refs = 1;
    if (gnutls_certificate_allocate_credentials(&c->xcred) < 0) {
        free(c);
        set_err(err, RIPP_ERR_CRYPTO, errbuf, errcap, "gnutls credentials%s%s", NULL, NULL);
        return NULL;
    }
    const char *errpos = NULL;
    int rv = gnutls_priority_init(&c->prio, TLS_PRIORITY, &errpos);
    if (rv < 0) {
        gnutls_certificate_free_credentials(c->xcred);
        free(c);
        set_err(err, RIPP_ERR_CRYPTO, errbuf, errcap, "gnutls priority: %s%s", gnutls_strerror(rv),
                NULL);
        return NULL;
    }
    return c;
}

ripp_tls_creds *ripp_tls_creds_server_new(const ripp_tls_server_config *cfg, int *err, char *errbuf,
                                          size_t errcap)
{
    if (!cfg || !cfg->cert_file || !cfg->key_file) {
        set_err(err, RIPP_ERR_INVAL, errbuf, errcap, "certificate and key files needed%s%s", NULL,
                NULL);
        return NULL;
    }
    ripp_tls_creds *c = creds_alloc(err, errbuf, errcap);
    if (!c) return NULL;
    int rv = gnutls_certificate_set_x509_key_file2(c->xcred, cfg->cert_file, cfg->key_file,
                                                   GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rv < 0) {
        set_err(err, RIPP_ERR_CRYPTO, errbuf, errcap, "loading %s: %s", cfg->cert_file,
                gnutls_strerror(rv));
        ripp_tls_creds_del(c);
        return NULL;
    }
    return c;
}

ripp_tls_creds *ripp_tls_creds_client_new(const ripp_tls_client_config *cfg, int *err, char *errbuf,
                                          size_t errcap)
{
    ripp_tls_creds *c = creds_alloc(err, errbuf, errcap);
    if (!c) return NULL;
    int rv;
    if (cfg && cfg->ca_file) {
        rv = gnutls_certificate_set_x509_trust_file(c->xcred, cfg->ca_file, GNUTLS_X509_FMT_PEM);
        if (rv <= 0) {
            set_err(err, RIPP_ERR_CRYPTO, errbuf, errcap, "loading CA file %s: %s", cfg->ca_file,
                    rv < 0 ? gnutls_strerror(rv) : "no certificate");
            ripp_tls_creds_del(c);
            return NULL;
        }
    } else {
        rv = gnutls_certificate_set_x509_system_trust(c->xcred);
        if (rv < 0)
            ripp_log(RIPP_LOG_WARN, "tls: system trust store unavailable: %s", gnutls_strerror(rv));
    }
    if (cfg && cfg->insecure) {
        c->insecure = true;
        ripp_log(RIPP_LOG_WARN, "tls: INSECURE client: server certificates are NOT verified");
    }
    return c;
}

static ripp_tls_creds *creds_ref(ripp_tls_creds *c)
{
    if (c) c->refs++;
    return c;
}

void ripp_tls_creds_del(ripp_tls_creds *c)
{
    if (!c || --c->refs > 0) return;
    gnutls_priority_deinit(c->prio);
    gnutls_certificate_free_credentials(c->xcred);
    free(c);
}

/* ---- self-signed certificates ---- */

static int write_file(const char *path, const gnutls_datum_t *d, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return RIPP_ERR_IO;
    size_t off = 0;
    while (off < d->size) {
        ssize_t n = write(fd, d->data + off, d->size - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            return RIPP_ERR_IO;
        }
        off += (size_t)n;
    }
    return close(fd) == 0 ? 0 : RIPP_ERR_IO;
}

int ripp_tls_make_selfsigned(const char *cert_path, const char *key_path, const char *const *names,
                             size_t n_names)
{
    if (!cert_path || !key_path || !names || n_names == 0) return RIPP_ERR_INVAL;
    int ret = RIPP_ERR_CRYPTO;
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t cert_pem = {NULL, 0}, key_pem = {NULL, 0};

    if (gnutls_x509_privkey_init(&key) < 0) {
        key = NULL;
        goto out;
    }
    if (gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
        goto out;
    if (gnutls_x509_crt_init(&crt) < 0) {
        crt = NULL;
        goto out;
    }
    uint8_t serial[16];
    if (ripp_io_random(serial, sizeof serial) < 0) goto out;
    serial[0] &= 0x7f;
    serial[0] |= 0x01; /* positive and without a leading zero octet */
    time_t now = time(NULL);
    const char *cn = names[0];
    for (size_t i = 0; i < n_names; i++) {
        uint8_t ip[16];
        if (inet_pton(AF_INET, names[i], ip) != 1 && inet_pton(AF_INET6, names[i], ip) != 1) {
            cn = names[i];
            break;
        }
    }
    if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof serial) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, now + 30 * 24 * 3600) < 0 ||
        gnutls_x509_crt_set_key(crt, key) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 1, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                               GNUTLS_KEY_KEY_CERT_SIGN) < 0 ||
        gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0 ||
        gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0) < 0)
        goto out;
    for (size_t i = 0; i < n_names; i++) {
        uint8_t ip[16];
        int rv;
        if (inet_pton(AF_INET, names[i], ip) == 1)
            rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
                                                      GNUTLS_FSAN_APPEND);
        else if (inet_pton(AF_INET6, names[i], ip) == 1)
            rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
                                                      GNUTLS_FSAN_APPEND);
        else
            rv = gnutls_x509_crt_set_subject_alt_name(
                crt, GNUTLS_SAN_DNSNAME, names[i], (unsigned)strlen(names[i]), GNUTLS_FSAN_APPEND);
        if (rv < 0) goto out;
    }
    uint8_t kid[64];
    size_t kid_len = sizeof kid;
    if (gnutls_x509_crt_get_key_id(crt, 0, kid, &kid_len) >= 0) {
        gnutls_x509_crt_set_subject_key_id(crt, kid, kid_len);
        gnutls_x509_crt_set_authority_key_id(crt, kid, kid_len);
    }
    if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0) goto out;
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem) < 0 ||
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                          &key_pem) < 0)
        goto out;
    ret = write_file(key_path, &key_pem, 0600);
    if (ret == 0) ret = write_file(cert_path, &cert_pem, 0644);
out:
    if (key_pem.data) {
        memset(key_pem.data, 0, key_pem.size);
        gnutls_free(key_pem.data);
    }
    gnutls_free(cert_pem.data);
    if (crt) gnutls_x509_crt_deinit(crt);
    if (key) gnutls_x509_privkey_deinit(key);
    return ret;
}

/* ---- the stream ---- */

typedef struct wreq {
    uv_write_t req;
    ripp_tls_stream *s;
    size_t len, cap;
    uint8_t data[];
} wreq;

enum stream_state { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING };

struct ripp_tls_stream {
    uv_loop_t *loop;
    uv_tcp_t *tcp;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    uv_connect_t conn_req;
    struct addrinfo *addrs, *next_addr;
    int handles; /* libuv handles not yet closed */
    bool gai_pending;
    bool server, detached, over_high, closed_handles;
    enum stream_state st;
    int close_error;
    unsigned writes_pending;

    ripp_tls_creds *creds;
    gnutls_session_t sess;
    char alpn[32];
    char host[256];
    int port;

    const ripp_tls_stream_cbs *cbs;
    void *ud;
    uint8_t *rbuf;
    size_t rcap;
    bool own_rbuf;

    const uint8_t *in; /* ciphertext being fed to GnuTLS */
    size_t in_len;
    uint8_t *stage; /* plaintext waiting for a flush (TLS only) */
    size_t stage_len, stage_cap;
    wreq *cur;   /* bytes being collected for the next uv_write */
    wreq *spare; /* a finished write buffer kept for reuse */
};

static void stream_fail(ripp_tls_stream *s, int err);
static void stream_do_close(ripp_tls_stream *s);

static void stream_free(ripp_tls_stream *s)
{
    if (s->sess) gnutls_deinit(s->sess);
    ripp_tls_creds_del(s->creds);
    if (s->addrs) uv_freeaddrinfo(s->addrs);
    if (s->own_rbuf) free(s->rbuf);
    free(s->stage);
    free(s->cur);
    free(s->spare);
    free(s);
}

static void stream_maybe_finish(ripp_tls_stream *s)
{
    if (s->handles > 0 || s->gai_pending || s->writes_pending > 0) return;
    if (!s->detached && s->cbs && s->cbs->on_close) s->cbs->on_close(s, s->ud, s->close_error);
    stream_free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    ripp_tls_stream *s = h->data;
    if (h != (uv_handle_t *)&s->timer) free(h);
    s->handles--;
    stream_maybe_finish(s);
}

static int out_reserve(ripp_tls_stream *s, size_t more)
{
    wreq *w = s->cur;
    if (!w && s->spare) {
        w = s->spare;
        s->spare = NULL;
        w->len = 0;
        s->cur = w;
    }
    size_t len = w ? w->len : 0, cap = w ? w->cap : 0;
    if (w && cap - len >= more) return 0;
    size_t ncap = cap ? cap : 16384;
    while (ncap - len < more)
        ncap *= 2;
    wreq *nw = realloc(w, sizeof *nw + ncap);
    if (!nw) return RIPP_ERR_NOMEM; /* s->cur is unchanged */
    if (!w) nw->len = 0;
    nw->cap = ncap;
    nw->s = s;
    s->cur = nw;
    return 0;
}

static int out_append(ripp_tls_stream *s, const uint8_t *data, size_t len)
{
    if (len == 0) return 0;
    int rv = out_reserve(s, len);
    if (rv < 0) return rv;
    memcpy(s->cur->data + s->cur->len, data, len);
    s->cur->len += len;
    return 0;
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
    ripp_tls_stream *s = p;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (out_reserve(s, total) < 0) {
        gnutls_transport_set_errno(s->sess, ENOMEM);
        return -1;
    }
    for (int i = 0; i < iovcnt; i++)
        if (iov[i].iov_len) {
            memcpy(s->cur->data + s->cur->len, iov[i].iov_base, iov[i].iov_len);
            s->cur->len += iov[i].iov_len;
        }
    return (ssize_t)total;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    ripp_tls_stream *s = p;
    if (s->in_len == 0) {
        gnutls_transport_set_errno(s->sess, EAGAIN);
        return -1;
    }
    size_t n = len < s->in_len ? len : s->in_len;
    memcpy(buf, s->in, n);
    s->in += n;
    s->in_len -= n;
    return (ssize_t)n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
    (void)ms;
    ripp_tls_stream *s = p;
    return s->in_len > 0 ? 1 : 0;
}

static void on_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    ripp_tls_stream *s = w->s;
    s->writes_pending--;
    if (!s->spare && w->cap <= SPARE_MAX)
        s->spare = w;
    else
        free(w);
    if (s->st == ST_CLOSING) {
        if (s->writes_pending == 0 && !s->closed_handles)
            stream_do_close(s);
        else
            stream_maybe_finish(s);
        return;
    }
    if (status < 0) {
        ripp_log(RIPP_LOG_DEBUG, "tls: write to %s failed: %s", s->host, uv_strerror(status));
        stream_fail(s, RIPP_ERR_CLOSED);
        return;
    }
    if (s->over_high && ripp_tls_stream_queued(s) < RIPP_TLS_STREAM_LOW_WATER) {
        s->over_high = false;
        if (!s->detached && s->cbs && s->cbs->on_drain) s->cbs->on_drain(s, s->ud);
    }
}

/* Hand the collected bytes to the socket (no encryption step). */
static int out_submit(ripp_tls_stream *s)
{
    wreq *w = s->cur;
    if (!w || w->len == 0 || !s->tcp || s->closed_handles) return 0;
    s->cur = NULL;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rv = uv_write(&w->req, (uv_stream_t *)s->tcp, &b, 1, on_write);
    if (rv < 0) {
        free(w);
        ripp_log(RIPP_LOG_DEBUG, "tls: uv_write to %s: %s", s->host, uv_strerror(rv));
        return RIPP_ERR_CLOSED;
    }
    s->writes_pending++;
    if (ripp_tls_stream_queued(s) > RIPP_TLS_STREAM_HIGH_WATER) s->over_high = true;
    return 0;
}

int ripp_tls_stream_write(ripp_tls_stream *s, const uint8_t *data, size_t len)
{
    if (s->st != ST_OPEN) return RIPP_ERR_CLOSED;
    if (len == 0) return 0;
    if (!s->sess) return out_append(s, data, len);
    if (s->stage_cap - s->stage_len < len) {
        size_t cap = s->stage_cap ? s->stage_cap : 16384;
        while (cap - s->stage_len < len)
            cap *= 2;
        uint8_t *n = realloc(s->stage, cap);
        if (!n) return RIPP_ERR_NOMEM;
        s->stage = n;
        s->stage_cap = cap;
    }
    memcpy(s->stage + s->stage_len, data, len);
    s->stage_len += len;
    return 0;
}

int ripp_tls_stream_flush(ripp_tls_stream *s)
{
    if (s->closed_handles || !s->tcp) return RIPP_ERR_CLOSED;
    size_t off = 0;
    int spins = 0;
    while (s->sess && off < s->stage_len) {
        ssize_t n = gnutls_record_send(s->sess, s->stage + off, s->stage_len - off);
        if ((n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) && ++spins < 100) continue;
        if (n < 0) {
            ripp_log(RIPP_LOG_WARN, "tls: send to %s: %s", s->host, gnutls_strerror((int)n));
            s->stage_len = 0;
            stream_fail(s, RIPP_ERR_CRYPTO);
            return RIPP_ERR_CRYPTO;
        }
        off += (size_t)n;
    }
    s->stage_len = 0;
    int rv = out_submit(s);
    if (rv < 0) stream_fail(s, rv);
    return rv;
}

size_t ripp_tls_stream_queued(const ripp_tls_stream *s)
{
    size_t q = s->stage_len + (s->cur ? s->cur->len : 0);
    if (s->tcp && !s->closed_handles)
        q += uv_stream_get_write_queue_size((const uv_stream_t *)s->tcp);
    return q;
}

bool ripp_tls_stream_is_open(const ripp_tls_stream *s)
{
    return s->st == ST_OPEN;
}

void ripp_tls_stream_peer(const ripp_tls_stream *s, char *out, size_t cap)
{
    if (!cap) return;
    out[0] = '\0';
    if (!s->tcp || s->closed_handles) {
        snprintf(out, cap, "%s", s->host);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(s->tcp, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, cap, "%s", s->host);
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    }
}

static void stream_do_close(ripp_tls_stream *s)
{
    if (s->closed_handles) return;
    s->closed_handles = true;
    s->st = ST_CLOSING;
    if (s->gai_pending) uv_cancel((uv_req_t *)&s->gai);
    if (s->tcp && !uv_is_closing((uv_handle_t *)s->tcp))
        uv_close((uv_handle_t *)s->tcp, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&s->timer))
        uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}

static void stream_fail(ripp_tls_stream *s, int err)
{
    if (s->st == ST_CLOSING) return;
    s->close_error = err;
    s->st = ST_CLOSING;
    /* A fatal alert may be waiting in the write buffer; hand it over before closing. */
    out_submit(s);
    stream_do_close(s);
}

static void on_linger(uv_timer_t *t)
{
    ripp_tls_stream *s = t->data;
    stream_do_close(s);
}

void ripp_tls_stream_close(ripp_tls_stream *s, bool graceful)
{
    if (s->st == ST_CLOSING) return;
    bool was_open = s->st == ST_OPEN;
    s->st = ST_CLOSING;
    s->close_error = 0;
    if (graceful && was_open) {
        if (s->sess) {
            size_t off = 0;
            while (off < s->stage_len) {
                ssize_t n = gnutls_record_send(s->sess, s->stage + off, s->stage_len - off);
                if (n <= 0) break;
                off += (size_t)n;
            }
            s->stage_len = 0;
            gnutls_bye(s->sess, GNUTLS_SHUT_WR);
        }
        out_submit(s);
        if (s->writes_pending > 0) {
            uv_timer_stop(&s->timer);
            uv_timer_start(&s->timer, on_linger, LINGER_MS, 0);
            return;
        }
    }
    stream_do_close(s);
}

void ripp_tls_stream_detach(ripp_tls_stream *s)
{
    s->detached = true;
    ripp_tls_stream_close(s, false);
}

static void stream_opened(ripp_tls_stream *s)
{
    s->st = ST_OPEN;
    uv_timer_stop(&s->timer);
    if (!s->detached && s->cbs && s->cbs->on_open) s->cbs->on_open(s, s->ud);
}

static bool alpn_ok(ripp_tls_stream *s)
{
    if (!s->alpn[0]) return true;
    gnutls_datum_t p;
    if (gnutls_alpn_get_selected_protocol(s->sess, &p) < 0) return false;
    return p.size == strlen(s->alpn) && memcmp(p.data, s->alpn, p.size) == 0;
}

static void log_verify_failure(ripp_tls_stream *s)
{
    unsigned status = gnutls_session_get_verify_cert_status(s->sess);
    gnutls_datum_t txt = {NULL, 0};
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) >= 0) {
        ripp_log(RIPP_LOG_WARN, "tls: certificate of %s rejected: %s", s->host,
                 (const char *)txt.data);
        gnutls_free(txt.data);
    } else {
        ripp_log(RIPP_LOG_WARN, "tls: certificate of %s rejected", s->host);
    }
}

/* Drive the handshake, then decrypt everything that came in. */
static void tls_input(ripp_tls_stream *s)
{
    if (s->st == ST_HANDSHAKE) {
        for (int tries = 0;; tries++) {
            int rv = gnutls_handshake(s->sess);
            if (rv == 0) break;
            if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED) {
                if (s->in_len > 0 && tries < 1000) continue;
                out_submit(s);
                return;
            }
            if (!gnutls_error_is_fatal(rv) && tries < 1000) continue;
            if (rv == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
                log_verify_failure(s);
                stream_fail(s, RIPP_ERR_AUTH);
            } else {
                ripp_log(RIPP_LOG_INFO, "tls: handshake with %s failed: %s", s->host,
                         gnutls_strerror(rv));
                stream_fail(s, rv == GNUTLS_E_NO_APPLICATION_PROTOCOL ? RIPP_ERR_AUTH
                                                                      : RIPP_ERR_CRYPTO);
            }
            return;
        }
        if (!alpn_ok(s)) {
            ripp_log(RIPP_LOG_INFO, "tls: %s did not agree on ALPN %s; closing", s->host, s->alpn);
            stream_fail(s, RIPP_ERR_AUTH);
            return;
        }
        out_submit(s);
        stream_opened(s);
    }
    uint8_t plain[16384];
    int spins = 0;
    while (s->st == ST_OPEN) {
        ssize_t n = gnutls_record_recv(s->sess, plain, sizeof plain);
        if (n > 0) {
            if (!s->detached && s->cbs && s->cbs->on_read)
                s->cbs->on_read(s, s->ud, plain, (size_t)n);
            continue;
        }
        if (n == 0) {
            stream_fail(s, 0);
            return;
        }
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
            if (s->in_len > 0 && ++spins < 1000) continue;
            break;
        }
        if (!gnutls_error_is_fatal((int)n) && ++spins < 1000) continue;
        ripp_log(RIPP_LOG_INFO, "tls: receive from %s: %s", s->host, gnutls_strerror((int)n));
        stream_fail(s, RIPP_ERR_CRYPTO);
        return;
    }
    /* Key updates and alerts produced while reading. */
    if (s->st == ST_OPEN && s->cur && s->cur->len) ripp_tls_stream_flush(s);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    ripp_tls_stream *s = h->data;
    buf->base = (char *)s->rbuf;
    buf->len = s->rcap;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    ripp_tls_stream *s = st->data;
    if (s->st == ST_CLOSING) return;
    if (nread < 0) {
        if (nread != UV_EOF)
            ripp_log(RIPP_LOG_DEBUG, "tls: read from %s: %s", s->host, uv_strerror((int)nread));
        stream_fail(s, nread == UV_EOF && s->st == ST_OPEN && !s->sess ? 0 : RIPP_ERR_CLOSED);
        return;
    }
    if (nread == 0) return;
    if (!s->sess) {
        if (s->st == ST_OPEN && !s->detached && s->cbs && s->cbs->on_read)
            s->cbs->on_read(s, s->ud, (const uint8_t *)buf->base, (size_t)nread);
        return;
    }
    s->in = (const uint8_t *)buf->base;
    s->in_len = (size_t)nread;
    tls_input(s);
    s->in = NULL;
    s->in_len = 0;
}

static void on_timer(uv_timer_t *t)
{
    ripp_tls_stream *s = t->data;
    if (s->st == ST_OPEN && !s->sess && s->server) {
        /* Deferred on_open of an accepted cleartext connection: after _accept returned. */
        if (!s->detached && s->cbs && s->cbs->on_open) s->cbs->on_open(s, s->ud);
        return;
    }
    ripp_log(RIPP_LOG_INFO, "tls: %s: connect/handshake timeout", s->host);
    stream_fail(s, RIPP_ERR_IO);
}

static int session_setup(ripp_tls_stream *s, bool server)
{
    unsigned flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK;
    if (gnutls_init(&s->sess, flags) < 0) {
        s->sess = NULL;
        return RIPP_ERR_CRYPTO;
    }
    if (gnutls_priority_set(s->sess, s->creds->prio) < 0 ||
        gnutls_credentials_set(s->sess, GNUTLS_CRD_CERTIFICATE, s->creds->xcred) < 0)
        return RIPP_ERR_CRYPTO;
    gnutls_transport_set_ptr(s->sess, s);
    gnutls_transport_set_vec_push_function(s->sess, tls_push);
    gnutls_transport_set_pull_function(s->sess, tls_pull);
    gnutls_transport_set_pull_timeout_function(s->sess, tls_pull_timeout);
    gnutls_handshake_set_timeout(s->sess, 0);
    if (s->alpn[0]) {
        gnutls_datum_t p = {(unsigned char *)s->alpn, (unsigned)strlen(s->alpn)};
        unsigned aflags = server ? GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE : 0;
        if (gnutls_alpn_set_protocols(s->sess, &p, 1, aflags) < 0) return RIPP_ERR_CRYPTO;
    }
    if (server) {
        gnutls_certificate_server_set_request(s->sess, GNUTLS_CERT_IGNORE);
        return 0;
    }
    uint8_t ip[16];
    bool literal = inet_pton(AF_INET, s->host, ip) == 1 || inet_pton(AF_INET6, s->host, ip) == 1;
    if (!literal && gnutls_server_name_set(s->sess, GNUTLS_NAME_DNS, s->host, strlen(s->host)) < 0)
        return RIPP_ERR_CRYPTO;
    if (!s->creds->insecure) gnutls_session_set_verify_cert(s->sess, s->host, 0);
    return 0;
}

static ripp_tls_stream *stream_alloc(uv_loop_t *loop, const ripp_tls_stream_opts *o, int *err)
{
    ripp_tls_stream *s = calloc(1, sizeof *s);
    if (!s) {
        *err = RIPP_ERR_NOMEM;
        return NULL;
    }
    s->loop = loop;
    s->cbs = o->cbs;
    s->ud = o->ud;
    s->creds = creds_ref(o->creds);
    if (o->alpn) snprintf(s->alpn, sizeof s->alpn, "%s", o->alpn);
    if (o->rbuf && o->rcap) {
        s->rbuf = o->rbuf;
        s->rcap = o->rcap;
    } else {
        s->rbuf = malloc(PRIVATE_RBUF);
        s->rcap = PRIVATE_RBUF;
        s->own_rbuf = true;
        if (!s->rbuf) {
            stream_free(s);
            *err = RIPP_ERR_NOMEM;
            return NULL;
        }
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->handles = 1;
    return s;
}

static int tcp_new(ripp_tls_stream *s)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t) return RIPP_ERR_NOMEM;
    int rv = uv_tcp_init(s->loop, t);
    if (rv < 0) {
        free(t);
        return RIPP_ERR_IO;
    }
    t->data = s;
    s->tcp = t;
    s->handles++;
    return 0;
}

static ripp_ts timeout_ms(const ripp_tls_stream_opts *o)
{
    ripp_ts t = o->timeout ? o->timeout : DEFAULT_TIMEOUT;
    return (t + RIPP_NS_PER_MS - 1) / RIPP_NS_PER_MS;
}

ripp_tls_stream *ripp_tls_stream_accept(uv_stream_t *listener, const ripp_tls_stream_opts *o,
                                        int *err)
{
    int dummy;
    if (!err) err = &dummy;
    ripp_tls_stream *s = stream_alloc(listener->loop, o, err);
    if (!s) return NULL;
    s->server = true;
    snprintf(s->host, sizeof s->host, "peer");
    int rv = tcp_new(s);
    if (rv == 0 && uv_accept(listener, (uv_stream_t *)s->tcp) < 0) rv = RIPP_ERR_IO;
    if (rv == 0) {
        ripp_tls_stream_peer(s, s->host, sizeof s->host);
        uv_tcp_nodelay(s->tcp, 1);
        if (s->creds && session_setup(s, true) < 0) rv = RIPP_ERR_CRYPTO;
    }
    if (rv == 0 && uv_read_start((uv_stream_t *)s->tcp, on_alloc, on_read) < 0) rv = RIPP_ERR_IO;
    if (rv < 0) {
        s->detached = true;
        s->st = ST_CLOSING;
        stream_do_close(s);
        *err = rv;
        return NULL;
    }
    if (s->creds) {
        s->st = ST_HANDSHAKE;
        uv_timer_start(&s->timer, on_timer, timeout_ms(o), 0);
    } else {
        s->st = ST_OPEN;
        uv_timer_start(&s->timer, on_timer, 0, 0);
    }
    return s;
}

static void try_connect(ripp_tls_stream *s);

static void on_connect(uv_connect_t *req, int status)
{
    ripp_tls_stream *s = req->data;
    if (s->st == ST_CLOSING) return;
    if (status < 0) {
        ripp_log(RIPP_LOG_DEBUG, "tls: connect to %s:%d: %s", s->host, s->port,
                 uv_strerror(status));
        if (s->next_addr) {
            uv_close((uv_handle_t *)s->tcp, on_handle_closed);
            s->tcp = NULL;
            try_connect(s);
            return;
        }
        ripp_log(RIPP_LOG_INFO, "tls: cannot connect to %s:%d: %s", s->host, s->port,
                 uv_strerror(status));
        stream_fail(s, RIPP_ERR_CLOSED);
        return;
    }
    uv_tcp_nodelay(s->tcp, 1);
    if (uv_read_start((uv_stream_t *)s->tcp, on_alloc, on_read) < 0) {
        stream_fail(s, RIPP_ERR_IO);
        return;
    }
    if (!s->creds) {
        stream_opened(s);
        return;
    }
    s->st = ST_HANDSHAKE;
    if (session_setup(s, false) < 0) {
        stream_fail(s, RIPP_ERR_CRYPTO);
        return;
    }
    tls_input(s); /* sends the ClientHello */
}

static void try_connect(ripp_tls_stream *s)
{
    while (s->next_addr) {
        struct addrinfo *ai = s->next_addr;
        s->next_addr = ai->ai_next;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        if (tcp_new(s) < 0) break;
        s->conn_req.data = s;
        if (uv_tcp_connect(&s->conn_req, s->tcp, ai->ai_addr, on_connect) == 0) return;
        uv_close((uv_handle_t *)s->tcp, on_handle_closed);
        s->tcp = NULL;
    }
    stream_fail(s, RIPP_ERR_CLOSED);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    ripp_tls_stream *s = req->data;
    s->gai_pending = false;
    if (s->st == ST_CLOSING) {
        if (res) uv_freeaddrinfo(res);
        stream_maybe_finish(s);
        return;
    }
    if (status < 0 || !res) {
        ripp_log(RIPP_LOG_INFO, "tls: cannot resolve %s: %s", s->host, uv_strerror(status));
        if (res) uv_freeaddrinfo(res);
        stream_fail(s, RIPP_ERR_IO);
        return;
    }
    s->addrs = res;
    s->next_addr = res;
    try_connect(s);
}

ripp_tls_stream *ripp_tls_stream_connect(uv_loop_t *loop, const char *host, int port,
                                         const ripp_tls_stream_opts *o, int *err)
{
    int dummy;
    if (!err) err = &dummy;
    if (!host || !*host || strlen(host) >= 256 || port <= 0 || port > 65535) {
        *err = RIPP_ERR_INVAL;
        return NULL;
    }
    ripp_tls_stream *s = stream_alloc(loop, o, err);
    if (!s) return NULL;
    snprintf(s->host, sizeof s->host, "%s", host);
    s->port = port;
    s->st = ST_CONNECTING;
    uv_timer_start(&s->timer, on_timer, timeout_ms(o), 0);
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    uint8_t ip[16];
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    else
        hints.ai_flags = AI_NUMERICSERV;
    if (hints.ai_flags & AI_NUMERICHOST) {
        /* Literal: resolve synchronously (no lookup happens) to skip the thread pool. */
        struct addrinfo *res = NULL;
        if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res) {
            s->detached = true;
            stream_fail(s, RIPP_ERR_INVAL);
            *err = RIPP_ERR_INVAL;
            return NULL;
        }
        s->addrs = res;
        s->next_addr = res;
        try_connect(s);
        return s;
    }
    s->gai.data = s;
    int rv = uv_getaddrinfo(loop, &s->gai, on_resolved, host, portstr, &hints);
    if (rv < 0) {
        s->detached = true;
        stream_fail(s, RIPP_ERR_IO);
        *err = RIPP_ERR_IO;
        return NULL;
    }
    s->gai_pending = true;
    return s;
}
