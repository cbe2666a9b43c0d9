/* ripp trunk: the consumer side of trunk provisioning (SPEC §6.2): the OAuth 2.0 code flow
 * with PKCE S256 against a provider, the consumer's own trunk and token in its database, the
 * PUT {providerTrunk}/consumerTrunk, and keeping all of it alive (refresh, re-PUT, delete). */
#include <getopt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "ripp/driver.h"
#include "ripp/io.h"
#include "ripp/oauth.h"
#include "ripp/passport.h"
#include "ripp/store.h"

static const char usage[] =
    "usage: ripp trunk provision --provider URL --client-id ID --client-secret S\n"
    "                            --redirect-uri URI --db DB --consumer-base URL [options]\n"
    "       ripp trunk refresh --db DB [--provider-trunk URI] [--within S] [--force]\n"
    "                          [--rotate-consumer-token [--overlap S]]\n"
    "       ripp trunk list --db DB\n"
    "       ripp trunk delete --db DB --provider-trunk URI\n"
    "       ripp trunk hash-password --password P [--iterations N]\n"
    "\n"
    "provision runs the OAuth 2.0 authorization-code flow (PKCE S256) with the provider,\n"
    "creates this side's trunk in DB (served by the rippd using DB) and registers it with\n"
    "PUT {providerTrunk}/consumerTrunk. It prints one JSON line {provider_trunk,\n"
    "consumer_trunk, consumer_token, access_token, expires_in}: it holds secrets.\n"
    "\n"
    "  --provider URL        https://host[:port] of the provider's /oauth endpoints\n"
    "  --client-id ID        this consumer's OAuth client id at the provider\n"
    "  --client-secret S     its client secret (or env RIPP_CLIENT_SECRET)\n"
    "  --redirect-uri URI    the redirect URI registered for the client\n"
    "  --db DB               the consumer's SQLite database (rippd's --db)\n"
    "  --consumer-base URL   https://host[:port] under which the consumer's rippd serves\n"
    "                        /trunks/{id}\n"
    "  --user U --password P log in and approve headless, as a browser would (GET the form,\n"
    "                        POST it, follow nothing: read the 303 Location); without them\n"
    "                        the authorization URL is printed and the URL the browser was\n"
    "                        sent to is read from stdin\n"
    "  --trunk-answer MODE   what calls on the consumer trunk get (rippd answer modes;\n"
    "                        default echo)\n"
    "  --identity-pub FILE   PEM public key the consumer trunk checks PASSporTs against,\n"
    "                        or stir / stir:accept: rippd verifies them with STIR\n"
    "                        certificates (its \"stir\" configuration)\n"
    "  --ca FILE             trust this certificate (PEM) for the provider\n"
    "\n"
    "refresh uses the refresh token of every provisioned trunk (or one) whose access token\n"
    "expires within S seconds (default 900; --force: always), and PUTs consumerTrunk again\n"
    "after a refresh or when the last PUT is 12 hours old (D26). Run it periodically.\n"
    "--rotate-consumer-token gives the consumer trunk a new consumerToken and PUTs it; the\n"
    "old one keeps working for --overlap S seconds (default 3600, D26), for calls the\n"
    "provider places with it meanwhile, then expires.\n";

#define DEFAULT_CAPS "{\"audio/PCMA\":true}"
#define REPUT_MS (12 * 3600 * 1000LL)
#define HTTP_TIMEOUT_MS 30000
#define HTTP_MAX_BODY (256 * 1024)

/* ---- a synchronous HTTPS exchange on the default loop ---- */

typedef struct http_res {
    int status;
    char location[4096];
    char *body;
    size_t len;
    bool done, timed_out;
    int error;
} http_res;

static uv_loop_t *loop;
static ripp_http_client *http;
static uv_timer_t http_timer;

static void h_response(ripp_xchg *x, void *ud, int status, const ripp_hdr *h, size_t n)
{
    http_res *r = ud;
    (void)x;
    r->status = status;
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, "location") == 0)
            snprintf(r->location, sizeof r->location, "%s", h[i].value);
}

static void h_data(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    http_res *r = ud;
    (void)x;
    if (r->len + len > HTTP_MAX_BODY) return;
    char *nb = realloc(r->body, r->len + len + 1);
    if (!nb) return;
    r->body = nb;
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = 0;
}

static void h_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    http_res *r = ud;
    (void)x;
    (void)code;
    r->error = error;
    r->done = true;
    uv_stop(loop);
}

static const ripp_xchg_cbs http_cbs = {
    .on_response = h_response, .on_data = h_data, .on_close = h_close};

static void on_http_timeout(uv_timer_t *t)
{
    (void)t;
    uv_stop(loop);
}

/* Returns 0 with the response in res (free res->body), or -1 after printing why. */
static int http_do(const char *method, const char *url, const ripp_hdr *h, size_t n,
                   const char *body, http_res *res)
{
    memset(res, 0, sizeof *res);
    int err = 0;
    size_t blen = body ? strlen(body) : 0;
    ripp_xchg *x =
        ripp_http_client_request(http, method, url, h, n, blen == 0, &http_cbs, res, &err);
    if (!x) {
        fprintf(stderr, "ripp trunk: %s %s: %s\n", method, url, ripp_strerror(err));
        return -1;
    }
    if (blen && (ripp_xchg_write(x, (const uint8_t *)body, blen) < 0 || ripp_xchg_end(x) < 0)) {
        fprintf(stderr, "ripp trunk: %s %s: cannot send the body\n", method, url);
        return -1;
    }
    uv_timer_start(&http_timer, on_http_timeout, HTTP_TIMEOUT_MS, 0);
    while (!res->done) {
        uv_run(loop, UV_RUN_DEFAULT);
        if (!res->done && !uv_is_active((uv_handle_t *)&http_timer)) {
            res->timed_out = true;
            ripp_xchg_reset(x, RIPP_XCHG_CANCEL);
            while (!res->done)
                uv_run(loop, UV_RUN_ONCE);
        }
    }
    uv_timer_stop(&http_timer);
    if (res->timed_out || (res->error && !res->status)) {
        fprintf(stderr, "ripp trunk: %s %s: %s\n", method, url,
                res->timed_out ? "no answer in time" : "connection or TLS failure (see --ca)");
        free(res->body);
        res->body = NULL;
        return -1;
    }
    return 0;
}

/* Prints a refusal: status, and the problem's detail / OAuth error when there is one. */
static void print_refusal(const char *what, const http_res *r)
{
    json_t *b = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(b, "error"));
    const char *d = json_string_value(json_object_get(b, "detail"));
    fprintf(stderr, "ripp trunk: %s: HTTP %d%s%s%s%s\n", what, r->status, e ? " " : "", e ? e : "",
            d ? ": " : "", d ? d : "");
    json_decref(b);
}

static int client_open(const char *ca)
{
    loop = uv_default_loop();
    ripp_h2_client_config cc = {.tls = {.ca_file = ca}};
    int err = 0;
    http = ripp_h2_client_new(loop, &cc, &err);
    if (!http) {
        fprintf(stderr, "ripp trunk: HTTP client: %s\n", ripp_strerror(err));
        return -1;
    }
    uv_timer_init(loop, &http_timer);
    return 0;
}

static void client_close(void)
{
    if (!http) return;
    ripp_http_client_del(http);
    http = NULL;
    uv_close((uv_handle_t *)&http_timer, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

/* ---- the consumer database ---- */

static ripp_store *db_open(const char *path)
{
    char err[512] = "";
    int rv = 0;
    ripp_store *s = ripp_store_sqlite_open(path, &rv, err, sizeof err);
    if (!s) fprintf(stderr, "ripp trunk: database: %s\n", err);
    return s;
}

static int64_t now_ms(void)
{
    return (int64_t)(ripp_io_wall_us() / 1000);
}

/* ---- token endpoint ---- */

/* POST {provider}/oauth/token; fills access, refresh and expires_in. 0, or -1 after printing
 * why (*invalid_grant set when the provider said so). */
static int token_request(const ripp_prov_rec *p, const char *form, char *access, size_t acap,
                         char *refresh, size_t rcap, int64_t *expires_in, bool *invalid_grant)
{
    char url[1100], basic[1024];
    snprintf(url, sizeof url, "%s/oauth/token", p->provider);
    if (ripp_oauth_basic_format(p->client_id, p->client_secret, basic, sizeof basic) < 0) {
        fprintf(stderr, "ripp trunk: client id or secret too long\n");
        return -1;
    }
    ripp_hdr h[] = {{"authorization", basic},
                    {"content-type", "application/x-www-form-urlencoded"},
                    {"accept", "application/json"}};
    http_res res;
    if (invalid_grant) *invalid_grant = false;
    if (http_do("POST", url, h, 3, form, &res) < 0) return -1;
    json_t *b = res.body ? json_loads(res.body, 0, NULL) : NULL;
    const char *a = json_string_value(json_object_get(b, "access_token"));
    const char *r = json_string_value(json_object_get(b, "refresh_token"));
    json_t *ei = json_object_get(b, "expires_in");
    int rc = -1;
    if (res.status != 200) {
        print_refusal("token request refused", &res);
        const char *e = json_string_value(json_object_get(b, "error"));
        if (invalid_grant && e && strcmp(e, "invalid_grant") == 0) *invalid_grant = true;
    } else if (!a || !r || strlen(a) >= acap || strlen(r) >= rcap) {
        fprintf(stderr, "ripp trunk: the token response lacks access_token or refresh_token\n");
    } else {
        snprintf(access, acap, "%s", a);
        snprintf(refresh, rcap, "%s", r);
        *expires_in = json_is_integer(ei) ? (int64_t)json_integer_value(ei) : 3600;
        rc = 0;
    }
    json_decref(b);
    free(res.body);
    return rc;
}

/* PUT {providerTrunk}/consumerTrunk (R1). */
static int put_consumer_trunk(ripp_prov_rec *p)
{
    char url[1100], auth[600];
    snprintf(url, sizeof url, "%s/consumerTrunk", p->provider_trunk);
    snprintf(auth, sizeof auth, "Bearer %s", p->access_token);
    json_t *o = json_pack("{s:s,s:s}", "consumerTrunkURI", p->consumer_trunk_uri, "consumerToken",
                          p->consumer_token);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) return -1;
    ripp_hdr h[] = {{"authorization", auth}, {"content-type", "application/json"}};
    http_res res;
    int rc = http_do("PUT", url, h, 2, body, &res);
    free(body);
    if (rc < 0) return -1;
    if (res.status != 204 && res.status != 200) {
        print_refusal("PUT consumerTrunk refused", &res);
        rc = -1;
    } else {
        p->put_ms = now_ms();
    }
    free(res.body);
    return rc;
}

/* ---- provision ---- */

typedef struct popts {
    const char *provider, *client_id, *client_secret, *redirect_uri, *db, *consumer_base;
    const char *user, *password, *answer, *identity_pub, *ca;
} popts;

static void html_unescape(char *s)
{
    static const struct {
        const char *ent;
        char ch;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
    char *o = s;
    for (const char *p = s; *p;) {
        size_t k;
        for (k = 0; k < 5; k++)
            if (strncmp(p, ents[k].ent, strlen(ents[k].ent)) == 0) break;
        if (k < 5) {
            *o++ = ents[k].ch;
            p += strlen(ents[k].ent);
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
}

/* Value of attribute name="..." inside one tag [tag, end). */
static bool attr(const char *tag, const char *end, const char *name, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", name);
    size_t pl = strlen(pat);
    for (const char *p = tag; p + pl < end; p++) {
        if (strncasecmp(p, pat, pl) != 0) continue;
        const char *v = p + pl, *q = memchr(v, '"', (size_t)(end - v));
        if (!q || (size_t)(q - v) >= cap) return false;
        memcpy(out, v, (size_t)(q - v));
        out[q - v] = 0;
        html_unescape(out);
        return true;
    }
    return false;
}

/* The form a browser would post: every hidden input of the page, then the login. */
static int approve_form(const char *html, const popts *o, char *form, size_t cap)
{
    size_t len = 0;
    form[0] = 0;
    bool have_csrf = false;
    for (const char *p = html; (p = strstr(p, "<input")) != NULL; p++) {
        const char *end = strchr(p, '>');
        if (!end) break;
        char type[32], name[128], value[4096];
        if (attr(p, end, "type", type, sizeof type) && strcasecmp(type, "hidden") == 0 &&
            attr(p, end, "name", name, sizeof name) && attr(p, end, "value", value, sizeof value)) {
            if (ripp_form_append(form, cap, &len, name, value) < 0) return -1;
            if (strcmp(name, "csrf") == 0) have_csrf = true;
        }
    }
    if (!have_csrf) {
        fprintf(stderr, "ripp trunk: the authorization page has no approval form\n");
        return -1;
    }
    if (ripp_form_append(form, cap, &len, "user", o->user) < 0 ||
        ripp_form_append(form, cap, &len, "password", o->password) < 0 ||
        ripp_form_append(form, cap, &len, "approve", "yes") < 0)
        return -1;
    return 0;
}

/* The authorization response: the URL the provider sent the browser to. */
static int authorization(const popts *o, const char *state, const char *challenge, char *redirect,
                         size_t cap)
{
    char q[4096], url[5000];
    size_t len = 0;
    q[0] = 0;
    if (ripp_form_append(q, sizeof q, &len, "response_type", "code") < 0 ||
        ripp_form_append(q, sizeof q, &len, "client_id", o->client_id) < 0 ||
        ripp_form_append(q, sizeof q, &len, "redirect_uri", o->redirect_uri) < 0 ||
        ripp_form_append(q, sizeof q, &len, "state", state) < 0 ||
        ripp_form_append(q, sizeof q, &len, "code_challenge", challenge) < 0 ||
        ripp_form_append(q, sizeof q, &len, "code_challenge_method", "S256") < 0)
        return -1;
    snprintf(url, sizeof url, "%s/oauth/authorize?%s", o->provider, q);
    if (!o->user) {
        fprintf(stderr,
                "Open this URL in a browser, approve, then paste the URL it is sent to:\n%s\n> ",
                url);
        if (!fgets(redirect, (int)cap, stdin)) return -1;
        redirect[strcspn(redirect, "\r\n")] = 0;
        return 0;
    }
    ripp_hdr h[] = {{"accept", "text/html"}};
    http_res res;
    if (http_do("GET", url, h, 1, NULL, &res) < 0) return -1;
    if (res.status != 200 || !res.body) {
        print_refusal("authorization request refused", &res);
        free(res.body);
        return -1;
    }
    static char form[RIPP_FORM_MAX_BYTES];
    int rc = approve_form(res.body, o, form, sizeof form);
    free(res.body);
    if (rc < 0) return -1;
    snprintf(url, sizeof url, "%s/oauth/authorize", o->provider);
    ripp_hdr ph[] = {{"content-type", "application/x-www-form-urlencoded"}};
    rc = http_do("POST", url, ph, 1, form, &res);
    gnutls_memset(form, 0, sizeof form);
    if (rc < 0) return -1;
    if (res.status != 303 || !res.location[0]) {
        print_refusal("approval refused", &res);
        free(res.body);
        return -1;
    }
    snprintf(redirect, cap, "%s", res.location);
    free(res.body);
    return 0;
}

static int provision(const popts *o)
{
    if (!o->provider || !o->client_id || !o->client_secret || !o->redirect_uri || !o->db ||
        !o->consumer_base) {
        fprintf(stderr, "ripp trunk provision: --provider, --client-id, --client-secret, "
                        "--redirect-uri, --db and --consumer-base are required\n");
        return 2;
    }
    if (!o->user != !o->password) {
        fprintf(stderr, "ripp trunk provision: give --user and --password together\n");
        return 2;
    }
    char state[32], verifier[64], challenge[44];
    uint8_t sha[32];
    if (ripp_io_random_token(state, sizeof state, 16) < 0 ||
        ripp_io_random_token(verifier, sizeof verifier, 32) < 0 ||
        ripp_sha256(verifier, strlen(verifier), sha) < 0) {
        fprintf(stderr, "ripp trunk: no randomness\n");
        return 1;
    }
    ripp_pkce_s256(sha, challenge);
    ripp_store *db = db_open(o->db);
    if (!db) return 1;
    int status = 1;
    ripp_form *f = malloc(sizeof *f);
    ripp_prov_rec *p = calloc(1, sizeof *p);
    if (!f || !p || client_open(o->ca) < 0) goto out;
    char redirect[4096];
    if (authorization(o, state, challenge, redirect, sizeof redirect) < 0) goto out;
    size_t rl = strlen(o->redirect_uri);
    const char *q = strchr(redirect, '?');
    if (strncmp(redirect, o->redirect_uri, rl) != 0 || !q ||
        ripp_form_parse(f, q + 1, strlen(q + 1)) < 0) {
        fprintf(stderr, "ripp trunk: the provider redirected elsewhere or malformed\n");
        goto out;
    }
    const char *got_state = ripp_form_get(f, "state");
    if (!got_state || !ripp_ct_equal(got_state, strlen(got_state), state, strlen(state))) {
        fprintf(stderr, "ripp trunk: the state of the authorization response does not match\n");
        goto out;
    }
    const char *e = ripp_form_get(f, "error");
    if (e) {
        const char *d = ripp_form_get(f, "error_description");
        fprintf(stderr, "ripp trunk: authorization refused: %s%s%s\n", e, d ? ": " : "",
                d ? d : "");
        goto out;
    }
    const char *code = ripp_form_get(f, "code"), *rt = ripp_form_get(f, "ripp-trunk");
    if (!code || !rt ||
        ripp_oauth_trunk_decode(rt, p->provider_trunk, sizeof p->provider_trunk) < 0) {
        fprintf(stderr, "ripp trunk: the authorization response lacks code or a valid "
                        "ripp-trunk\n");
        goto out;
    }
    snprintf(p->provider, sizeof p->provider, "%s", o->provider);
    snprintf(p->ca_file, sizeof p->ca_file, "%s", o->ca ? o->ca : "");
    snprintf(p->client_id, sizeof p->client_id, "%s", o->client_id);
    snprintf(p->client_secret, sizeof p->client_secret, "%s", o->client_secret);
    static char form[8192];
    size_t len = 0;
    form[0] = 0;
    int64_t expires_in = 0;
    if (ripp_form_append(form, sizeof form, &len, "grant_type", "authorization_code") < 0 ||
        ripp_form_append(form, sizeof form, &len, "code", code) < 0 ||
        ripp_form_append(form, sizeof form, &len, "redirect_uri", o->redirect_uri) < 0 ||
        ripp_form_append(form, sizeof form, &len, "code_verifier", verifier) < 0 ||
        token_request(p, form, p->access_token, sizeof p->access_token, p->refresh_token,
                      sizeof p->refresh_token, &expires_in, NULL) < 0)
        goto out;
    int64_t now = now_ms();
    p->access_expires_ms = now + expires_in * 1000;
    p->created_ms = now;
    /* this side's trunk: served by the rippd that uses the same database */
    ripp_trunk_rec t;
    memset(&t, 0, sizeof t);
    char rnd[24], hash[65];
    if (ripp_io_random_token(rnd, sizeof rnd, 15) < 0 ||
        ripp_io_random_token(p->consumer_token, sizeof p->consumer_token, 32) < 0)
        goto out;
    snprintf(t.id, sizeof t.id, "c%s", rnd);
    snprintf(t.answer, sizeof t.answer, "%s", o->answer ? o->answer : "echo");
    snprintf(t.caps_json, sizeof t.caps_json, "%s", DEFAULT_CAPS);
    snprintf(t.identity_pub, sizeof t.identity_pub, "%s", o->identity_pub ? o->identity_pub : "");
    t.created_ms = now;
    snprintf(p->consumer_trunk_id, sizeof p->consumer_trunk_id, "%s", t.id);
    size_t bl = strlen(o->consumer_base);
    while (bl && o->consumer_base[bl - 1] == '/')
        bl--;
    snprintf(p->consumer_trunk_uri, sizeof p->consumer_trunk_uri, "%.*s/trunks/%s", (int)bl,
             o->consumer_base, t.id);
    ripp_sha256_hex(p->consumer_token, strlen(p->consumer_token), hash);
    if (db->ops->trunk_put(db->impl, &t) < 0 || db->ops->token_add(db->impl, t.id, hash) < 0 ||
        db->ops->prov_put(db->impl, p) < 0) {
        fprintf(stderr, "ripp trunk: cannot write %s\n", o->db);
        goto out;
    }
    if (put_consumer_trunk(p) < 0) goto out;
    db->ops->prov_put(db->impl, p);
    json_t *line =
        json_pack("{s:s,s:s,s:s,s:s,s:I}", "provider_trunk", p->provider_trunk, "consumer_trunk",
                  p->consumer_trunk_uri, "consumer_token", p->consumer_token, "access_token",
                  p->access_token, "expires_in", (json_int_t)expires_in);
    char *s = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s) printf("%s\n", s);
    free(s);
    json_decref(line);
    status = s ? 0 : 1;
out:
    client_close();
    if (p) gnutls_memset(p, 0, sizeof *p);
    free(p);
    free(f);
    ripp_store_close(db);
    return status;
}

/* ---- refresh, list, delete ---- */

typedef struct walk {
    ripp_store *db;
    const char *only;
    int64_t within_ms;
    bool force;
    bool rotate;        /* a new consumerToken for each trunk walked */
    int64_t overlap_ms; /* how long the old one keeps working */
    int failures;
    size_t n;
    ripp_prov_rec *recs;
} walk;

static int collect(void *ud, const ripp_prov_rec *p)
{
    walk *w = ud;
    if (w->only && strcmp(w->only, p->provider_trunk) != 0) return 0;
    ripp_prov_rec *nr = realloc(w->recs, (w->n + 1) * sizeof *nr);
    if (!nr) return 1;
    w->recs = nr;
    w->recs[w->n++] = *p;
    return 0;
}

/* Refreshes p's tokens with its refresh token (rotation: the new one replaces it). */
static int refresh_one(ripp_store *db, ripp_prov_rec *p)
{
    static char form[4096];
    size_t len = 0;
    form[0] = 0;
    int64_t expires_in = 0;
    char access[sizeof p->access_token], refresh[sizeof p->refresh_token];
    bool invalid = false;
    if (ripp_form_append(form, sizeof form, &len, "grant_type", "refresh_token") < 0 ||
        ripp_form_append(form, sizeof form, &len, "refresh_token", p->refresh_token) < 0 ||
        token_request(p, form, access, sizeof access, refresh, sizeof refresh, &expires_in,
                      &invalid) < 0) {
        if (invalid)
            fprintf(stderr, "ripp trunk: %s: the grant is gone; provision again\n",
                    p->provider_trunk);
        return -1;
    }
    snprintf(p->access_token, sizeof p->access_token, "%s", access);
    snprintf(p->refresh_token, sizeof p->refresh_token, "%s", refresh);
    p->access_expires_ms = now_ms() + expires_in * 1000;
    if (db->ops->prov_put(db->impl, p) < 0) {
        fprintf(stderr, "ripp trunk: cannot write the new tokens\n");
        return -1;
    }
    return 0;
}

/* Gives p's consumer trunk a new consumerToken and PUTs it to the provider; the old token
 * expires overlap_ms later (D26: the provider may still place calls with it meanwhile). On
 * any failure the old token stays as it was and the new one is revoked. */
static int rotate_consumer_token(ripp_store *db, ripp_prov_rec *p, int64_t overlap_ms)
{
    char old[sizeof p->consumer_token], old_hash[65], new_hash[65];
    snprintf(old, sizeof old, "%s", p->consumer_token);
    ripp_sha256_hex(old, strlen(old), old_hash);
    if (ripp_io_random_token(p->consumer_token, sizeof p->consumer_token, 32) < 0) goto restore;
    ripp_sha256_hex(p->consumer_token, strlen(p->consumer_token), new_hash);
    if (db->ops->token_add(db->impl, p->consumer_trunk_id, new_hash) < 0) {
        fprintf(stderr, "ripp trunk: cannot write the new consumerToken\n");
        goto restore;
    }
    if (put_consumer_trunk(p) < 0) {
        db->ops->token_set_state(db->impl, new_hash, RIPP_TOKEN_LIVE, RIPP_TOKEN_REVOKED);
        goto restore;
    }
    /* the provider has the new token: the old one expires after the overlap */
    ripp_token_rec t;
    if (db->ops->token_get(db->impl, old_hash, &t) == 0) {
        t.expires_ms = now_ms() + overlap_ms;
        if (db->ops->token_put(db->impl, &t) < 0)
            fprintf(stderr, "ripp trunk: warning: cannot set the old consumerToken's expiry; it "
                            "stays valid until the consumer trunk is deleted\n");
    }
    gnutls_memset(old, 0, sizeof old);
    return 0;
restore:
    snprintf(p->consumer_token, sizeof p->consumer_token, "%s", old);
    gnutls_memset(old, 0, sizeof old);
    return -1;
}

static int load(walk *w, const char *db_path)
{
    w->db = db_open(db_path);
    if (!w->db) return -1;
    if (w->db->ops->prov_each(w->db->impl, collect, w) < 0) {
        fprintf(stderr, "ripp trunk: cannot read %s\n", db_path);
        return -1;
    }
    return 0;
}

static void walk_free(walk *w)
{
    if (w->recs) gnutls_memset(w->recs, 0, w->n * sizeof *w->recs);
    free(w->recs);
    ripp_store_close(w->db);
}

static int refresh(walk *w)
{
    const char *ca = NULL;
    for (size_t i = 0; i < w->n; i++) {
        ripp_prov_rec *p = &w->recs[i];
        ca = p->ca_file[0] ? p->ca_file : NULL;
        if (client_open(ca) < 0) return 1;
        int64_t now = now_ms();
        bool do_refresh = w->force || p->access_expires_ms - now <= w->within_ms;
        bool refreshed = false, put = false;
        int rc = 0;
        if (do_refresh) {
            rc = refresh_one(w->db, p);
            refreshed = rc == 0;
        }
        bool rotated = false;
        if (rc == 0 && w->rotate) {
            rc = rotate_consumer_token(w->db, p, w->overlap_ms);
            rotated = put = rc == 0;
            if (put) w->db->ops->prov_put(w->db->impl, p);
        }
        if (rc == 0 && !rotated && (refreshed || now - p->put_ms >= REPUT_MS)) {
            rc = put_consumer_trunk(p);
            put = rc == 0;
            if (put) w->db->ops->prov_put(w->db->impl, p);
        }
        client_close();
        if (rc < 0) {
            w->failures++;
            continue;
        }
        json_t *line =
            json_pack("{s:s,s:b,s:b,s:s,s:I}", "provider_trunk", p->provider_trunk, "refreshed",
                      refreshed, "put", put, "access_token", p->access_token, "expires_in",
                      (json_int_t)((p->access_expires_ms - now_ms()) / 1000));
        if (line && rotated)
            json_object_set_new(line, "consumer_token", json_string(p->consumer_token));
        char *s = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s) printf("%s\n", s);
        free(s);
        json_decref(line);
    }
    return w->failures ? 1 : 0;
}

static int list(walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        const ripp_prov_rec *p = &w->recs[i];
        json_t *line =
            json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "provider_trunk", p->provider_trunk,
                      "provider", p->provider, "client_id", p->client_id, "consumer_trunk",
                      p->consumer_trunk_uri, "access_expires_ms", (json_int_t)p->access_expires_ms,
                      "put_ms", (json_int_t)p->put_ms, "created_ms", (json_int_t)p->created_ms);
        char *s = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s) printf("%s\n", s);
        free(s);
        json_decref(line);
    }
    return 0;
}

static int delete_one(walk *w)
{
    if (w->n != 1) {
        fprintf(stderr, "ripp trunk delete: no provisioned trunk %s\n", w->only);
        return 1;
    }
    ripp_prov_rec *p = &w->recs[0];
    if (client_open(p->ca_file[0] ? p->ca_file : NULL) < 0) return 1;
    int status = 1;
    for (int attempt = 0; attempt < 2; attempt++) {
        char auth[600];
        snprintf(auth, sizeof auth, "Bearer %s", p->access_token);
        ripp_hdr h[] = {{"authorization", auth}};
        http_res res;
        if (http_do("DELETE", p->provider_trunk, h, 1, NULL, &res) < 0) break;
        int st = res.status;
        if (st == 401 && attempt == 0) {
            free(res.body);
            if (refresh_one(w->db, p) < 0) break;
            continue;
        }
        if (st != 204 && st != 200 && st != 404) {
            print_refusal("DELETE refused", &res);
            free(res.body);
            break;
        }
        free(res.body);
        /* gone at the provider: this side's trunk and record go too */
        w->db->ops->trunk_del(w->db->impl, p->consumer_trunk_id);
        w->db->ops->prov_del(w->db->impl, p->provider_trunk);
        printf("{\"deleted\":\"%s\",\"status\":%d}\n", p->provider_trunk, st);
        status = 0;
        break;
    }
    client_close();
    return status;
}

static int hash_password(const char *password, long iterations)
{
    if (!password || iterations < RIPP_PWHASH_MIN_ITER || iterations > 10000000) {
        fprintf(stderr, "ripp trunk hash-password: --password P [--iterations N >= %d]\n",
                RIPP_PWHASH_MIN_ITER);
        return 2;
    }
    ripp_pwhash h = {.iterations = (unsigned)iterations, .salt_len = 16};
    gnutls_datum_t key = {(unsigned char *)password, (unsigned)strlen(password)};
    gnutls_datum_t salt = {h.salt, (unsigned)h.salt_len};
    char out[256];
    if (ripp_io_random(h.salt, h.salt_len) < 0 ||
        gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &salt, h.iterations, h.hash, 32) < 0 ||
        ripp_pwhash_format(&h, out, sizeof out) < 0) {
        fprintf(stderr, "ripp trunk: hashing failed\n");
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

int ripp_cmd_trunk(int argc, char **argv)
{
    /* called with the command word first or without it */
    if (argc >= 1 && strcmp(argv[0], "trunk") == 0) {
        argc--;
        argv++;
    }
    if (argc < 1 || strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0) {
        fputs(usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *cmd = argv[0];
    popts o = {0};
    const char *db = NULL, *only = NULL;
    long within = 900, iterations = 100000, overlap = 3600;
    bool force = false, rotate = false;
    int log_level = RIPP_LOG_WARN;
    static const struct option longopts[] = {{"provider", required_argument, 0, 'P'},
                                             {"client-id", required_argument, 0, 'i'},
                                             {"client-secret", required_argument, 0, 's'},
                                             {"redirect-uri", required_argument, 0, 'r'},
                                             {"db", required_argument, 0, 'd'},
                                             {"consumer-base", required_argument, 0, 'b'},
                                             {"user", required_argument, 0, 'u'},
                                             {"password", required_argument, 0, 'p'},
                                             {"trunk-answer", required_argument, 0, 'a'},
                                             {"identity-pub", required_argument, 0, 'I'},
                                             {"ca", required_argument, 0, 'c'},
                                             {"provider-trunk", required_argument, 0, 't'},
                                             {"within", required_argument, 0, 'w'},
                                             {"force", no_argument, 0, 'f'},
                                             {"rotate-consumer-token", no_argument, 0, 'R'},
                                             {"overlap", required_argument, 0, 'o'},
                                             {"iterations", required_argument, 0, 'n'},
                                             {"log-level", required_argument, 0, 'L'},
                                             {0, 0, 0, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'P':
            o.provider = optarg;
            break;
        case 'i':
            o.client_id = optarg;
            break;
        case 's':
            o.client_secret = optarg;
            break;
        case 'r':
            o.redirect_uri = optarg;
            break;
        case 'd':
            db = o.db = optarg;
            break;
        case 'b':
            o.consumer_base = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'p':
            o.password = optarg;
            break;
        case 'a':
            o.answer = optarg;
            break;
        case 'I':
            o.identity_pub = optarg;
            break;
        case 'c':
            o.ca = optarg;
            break;
        case 't':
            only = optarg;
            break;
        case 'w':
            within = strtol(optarg, NULL, 10);
            break;
        case 'f':
            force = true;
            break;
        case 'R':
            rotate = true;
            break;
        case 'o':
            overlap = strtol(optarg, NULL, 10);
            if (overlap < 0) {
                fprintf(stderr, "ripp trunk: --overlap: seconds >= 0\n");
                return 2;
            }
            break;
        case 'n':
            iterations = strtol(optarg, NULL, 10);
            break;
        case 'L':
            log_level = ripp_app_log_level(optarg);
            break;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ripp trunk: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    ripp_app_log_init("ripp", log_level < 0 ? RIPP_LOG_WARN : (enum ripp_log_level)log_level);
    if (!o.client_secret) o.client_secret = getenv("RIPP_CLIENT_SECRET");
    if (strcmp(cmd, "provision") == 0) return provision(&o);
    if (strcmp(cmd, "hash-password") == 0) return hash_password(o.password, iterations);
    if (strcmp(cmd, "refresh") != 0 && strcmp(cmd, "list") != 0 && strcmp(cmd, "delete") != 0) {
        fprintf(stderr, "ripp trunk: unknown subcommand %s\n%s", cmd, usage);
        return 2;
    }
    if (!db || (strcmp(cmd, "delete") == 0 && !only)) {
        fprintf(stderr, "ripp trunk %s: --db is required%s\n", cmd,
                strcmp(cmd, "delete") == 0 ? ", and --provider-trunk" : "");
        return 2;
    }
    walk w = {.only = only,
              .within_ms = within * 1000,
              .force = force,
              .rotate = rotate,
              .overlap_ms = overlap * 1000};
    int status = 1;
    if (load(&w, db) == 0) {
        if (strcmp(cmd, "list") == 0)
            status = list(&w);
        else if (strcmp(cmd, "refresh") == 0)
            status = refresh(&w);
        else
            status = delete_one(&w);
    }
    walk_free(&w);
    return status;
}
