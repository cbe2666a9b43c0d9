/* OAuth 2.0 provisioning of rippd's trunks (SPEC §6.2): configuration, request routing and
 * the authorization endpoint (login and approval form, trunk minting, code issue). */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"
#include "ripp/caps.h"
#include "ripp/passport.h"

oa_state oa;

#define CSRF_TTL_MS (10 * 60 * 1000)
#define DEFAULT_CAPS "{\"audio/PCMA\":true}"

/* ---- helpers shared with oauth_token.c ---- */

int64_t oa_now_ms(void)
{
    return (int64_t)(ripp_io_wall_us() / 1000);
}

int oa_random_token(char *out, size_t cap, size_t n)
{
    return ripp_io_random_token(out, cap, n);
}

const oa_client *oa_client_find(const char *id)
{
    if (!id) return NULL;
    for (size_t i = 0; i < oa.n_clients; i++)
        if (strcmp(oa.clients[i].id, id) == 0) return &oa.clients[i];
    return NULL;
}

static const ripp_hdr no_store[] = {{"cache-control", "no-store"}, {"pragma", "no-cache"}};

void oa_problem(oa_req *r, int status, const char *slug, const char *oauth_error, const char *fmt,
                ...)
{
    ripp_problem p;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    ripp_problem_set(&p, status, slug, 0, "%s", detail);
    ripp_log(RIPP_LOG_INFO, "%s %s -> %d %s: %s", r->method, r->path, status, slug, detail);
    if (r->closed) return;
    ripp_hdr h[6];
    size_t n = 0;
    h[n++] = no_store[0];
    h[n++] = no_store[1];
    if (status == 401)
        h[n++] = (ripp_hdr){"www-authenticate",
                            oauth_error ? "Basic realm=\"ripp-oauth\"" : "Bearer realm=\"ripp\""};
    if (status == 405) {
        const char *allow = strstr(r->path, "consumerTrunk")           ? "PUT, POST"
                            : strcmp(r->path, "/oauth/authorize") == 0 ? "GET, POST"
                            : strncmp(r->path, "/oauth/", 7) == 0      ? "POST"
                                                                       : "DELETE";
        h[n++] = (ripp_hdr){"allow", allow};
    }
    if (!oauth_error) {
        ripp_xchg_respond_problem(r->x, &p, h, n);
        return;
    }
    char body[2048];
    int64_t len = ripp_oauth_problem_encode(&p, oauth_error, body, sizeof body);
    if (len < 0) len = 0;
    h[n++] = (ripp_hdr){"content-type", RIPP_PROBLEM_CONTENT_TYPE};
    ripp_xchg_respond(r->x, status, h, n, false);
    ripp_xchg_write(r->x, (const uint8_t *)body, (size_t)len);
    ripp_xchg_end(r->x);
}

void oa_json(oa_req *r, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!s) {
        oa_problem(r, 500, "internal", NULL, "out of memory");
        return;
    }
    if (!r->closed) {
        ripp_hdr h[] = {{"content-type", "application/json"}, no_store[0], no_store[1]};
        ripp_xchg_respond(r->x, status, h, 3, false);
        ripp_xchg_write(r->x, (const uint8_t *)s, strlen(s));
        ripp_xchg_end(r->x);
    }
    free(s);
}

void oa_empty(oa_req *r, int status)
{
    if (!r->closed) ripp_xchg_respond(r->x, status, no_store, 2, true);
}

/* ---- configuration ---- */

static int cfg_fail(const char *what, const char *detail)
{
    fprintf(stderr, "rippd: config: oauth: %s%s\n", what, detail ? detail : "");
    return 1;
}

static int64_t cfg_int(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64) return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
    return true;
}

static int pbkdf2(const char *password, const ripp_pwhash *h, uint8_t out[32])
{
    gnutls_datum_t key = {(unsigned char *)password, (unsigned)strlen(password)};
    gnutls_datum_t salt = {(unsigned char *)h->salt, (unsigned)h->salt_len};
    return gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &salt, h->iterations, out, 32) < 0
               ? RIPP_ERR_CRYPTO
               : 0;
}

static int cfg_clients(json_t *list)
{
    if (!json_is_array(list) || !json_array_size(list))
        return cfg_fail("\"clients\" must be a non-empty array", NULL);
    oa.n_clients = json_array_size(list);
    oa.clients = calloc(oa.n_clients, sizeof *oa.clients);
    if (!oa.clients) return cfg_fail("out of memory", NULL);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        oa_client *cl = &oa.clients[i];
        const char *id = json_string_value(json_object_get(c, "client_id"));
        const char *secret = json_string_value(json_object_get(c, "client_secret"));
        const char *sh = json_string_value(json_object_get(c, "client_secret_sha256"));
        if (!id || !id[0] || strlen(id) >= sizeof cl->id || strchr(id, ':'))
            return cfg_fail("every client needs a \"client_id\" (1..127 characters, no ':')", NULL);
        if (oa_client_find(id)) return cfg_fail("duplicate client_id ", id);
        snprintf(cl->id, sizeof cl->id, "%s", id);
        if (secret && strlen(secret) >= 16)
            ripp_sha256_hex(secret, strlen(secret), cl->secret_sha256);
        else if (is_hex64(sh))
            snprintf(cl->secret_sha256, sizeof cl->secret_sha256, "%s", sh);
        else
            return cfg_fail("a client needs \"client_secret\" (>= 16 characters) or "
                            "\"client_secret_sha256\" (64 lower-case hex digits): ",
                            id);
        json_t *uris = json_object_get(c, "redirect_uris"), *u;
        if (!json_is_array(uris) || !json_array_size(uris))
            return cfg_fail("a client needs \"redirect_uris\": ", id);
        cl->redirect_uris = calloc(json_array_size(uris), sizeof *cl->redirect_uris);
        if (!cl->redirect_uris) return cfg_fail("out of memory", NULL);
        size_t j;
        json_array_foreach(uris, j, u)
        {
            const char *s = json_string_value(u);
            if (!ripp_oauth_redirect_uri_valid(s))
                return cfg_fail("redirect URIs must be https (http only to loopback), without "
                                "a fragment: ",
                                s ? s : "(not a string)");
            if (!(cl->redirect_uris[j] = strdup(s))) return cfg_fail("out of memory", NULL);
            cl->n_redirect_uris++;
        }
        cl->access_ttl_s = cfg_int(c, "access_ttl_s", oa.access_ttl_s);
        cl->refresh_ttl_s = cfg_int(c, "refresh_ttl_s", oa.refresh_ttl_s);
        if (cl->access_ttl_s < 1 || cl->refresh_ttl_s < 0)
            return cfg_fail("access_ttl_s must be >= 1 and refresh_ttl_s >= 0: ", id);
    }
    return 0;
}

static int cfg_accounts(json_t *list)
{
    if (!json_is_array(list) || !json_array_size(list))
        return cfg_fail("\"accounts\" must be a non-empty array", NULL);
    oa.n_accounts = json_array_size(list);
    oa.accounts = calloc(oa.n_accounts, sizeof *oa.accounts);
    if (!oa.accounts) return cfg_fail("out of memory", NULL);
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        oa_account *ac = &oa.accounts[i];
        const char *user = json_string_value(json_object_get(a, "user"));
        const char *pw = json_string_value(json_object_get(a, "password"));
        const char *ph = json_string_value(json_object_get(a, "password_hash"));
        if (!user || !user[0] || strlen(user) >= sizeof ac->user)
            return cfg_fail("every account needs a \"user\" (1..127 characters)", NULL);
        snprintf(ac->user, sizeof ac->user, "%s", user);
        if (ph) {
            if (ripp_pwhash_parse(ph, &ac->pw) < 0)
                return cfg_fail("password_hash must be pbkdf2-sha256$ITER$SALT$HASH "
                                "(see 'ripp trunk hash-password'): ",
                                user);
        } else if (pw && pw[0]) {
            ac->pw.iterations = OA_PBKDF2_ITER;
            ac->pw.salt_len = 16;
            if (ripp_io_random(ac->pw.salt, 16) < 0 || pbkdf2(pw, &ac->pw, ac->pw.hash) < 0)
                return cfg_fail("cannot hash the password of ", user);
        } else {
            return cfg_fail("an account needs \"password\" or \"password_hash\": ", user);
        }
    }
    return 0;
}

static int cfg_template(json_t *t)
{
    if (!json_is_object(t)) return cfg_fail("\"trunk_template\" must be an object", NULL);
    const char *answer = json_string_value(json_object_get(t, "answer"));
    const char *ik = json_string_value(json_object_get(t, "identity_key"));
    /* "identity": "stir" or "stir:accept" instead of a key: the minted trunks verify
     * PASSporTs with STIR certificates (the "stir" configuration, stir.c) */
    const char *how = json_string_value(json_object_get(t, "identity"));
    if (how && strcmp(how, "stir") != 0 && strcmp(how, "stir:accept") != 0)
        return cfg_fail("trunk_template: \"identity\" must be \"stir\" or \"stir:accept\"", NULL);
    if (how && ik)
        return cfg_fail("trunk_template: \"identity\" and \"identity_key\" exclude each other",
                        NULL);
    if (how) ik = how;
    if (!answer) answer = "echo";
    char err[256];
    answer_spec spec;
    if (answer_parse(answer, &spec, err, sizeof err) < 0) return cfg_fail("trunk_template: ", err);
    if (!ik || !ik[0] || strlen(ik) >= sizeof oa.identity_pub)
        return cfg_fail("trunk_template needs \"identity_key\" (PEM public key path) or "
                        "\"identity\": \"stir\"",
                        NULL);
    json_t *caps = json_object_get(t, "caps");
    char *caps_s = caps ? json_dumps(caps, JSON_COMPACT) : NULL;
    const char *cj = caps_s ? caps_s : DEFAULT_CAPS;
    ripp_caps c;
    ripp_caps_init_default(&c);
    int bad = strlen(cj) >= sizeof oa.caps_json || strlen(answer) >= sizeof oa.answer ||
              ripp_caps_parse(&c, cj, strlen(cj), NULL) < 0 ||
              ripp_caps_validate(&c, err, sizeof err) < 0;
    if (!bad) {
        snprintf(oa.caps_json, sizeof oa.caps_json, "%s", cj);
        snprintf(oa.answer, sizeof oa.answer, "%s", answer);
        snprintf(oa.identity_pub, sizeof oa.identity_pub, "%s", ik);
    }
    free(caps_s);
    return bad ? cfg_fail("trunk_template caps or answer invalid", NULL) : 0;
}

void rippd_oauth_set_engine(ripp_ep *ep)
{
    oa.ep = ep;
}

int rippd_oauth_config(json_t *root, ripp_store *store)
{
    oa.store = store;
    json_t *o = root ? json_object_get(root, "oauth") : NULL;
    const char *pa = root ? json_string_value(json_object_get(root, "public_authority")) : NULL;
    if (pa) snprintf(oa.public_authority, sizeof oa.public_authority, "%s", pa);
    if (!o) return 0;
    if (!json_is_object(o)) return cfg_fail("\"oauth\" must be an object", NULL);
    oa.access_ttl_s = cfg_int(o, "access_ttl_s", 3600);
    oa.refresh_ttl_s = cfg_int(o, "refresh_ttl_s", 30 * 86400);
    if (oa.access_ttl_s < 1 || oa.refresh_ttl_s < 0)
        return cfg_fail("access_ttl_s must be >= 1 and refresh_ttl_s >= 0", NULL);
    if (cfg_clients(json_object_get(o, "clients")) ||
        cfg_accounts(json_object_get(o, "accounts")) ||
        cfg_template(json_object_get(o, "trunk_template")))
        return 1;
    if (ripp_io_random(oa.csrf_key, sizeof oa.csrf_key) < 0) return cfg_fail("no randomness", NULL);
    oa.enabled = true;
    ripp_log(RIPP_LOG_INFO, "oauth: %zu clients, %zu accounts, access tokens live %lld s",
             oa.n_clients, oa.n_accounts, (long long)oa.access_ttl_s);
    return 0;
}

void rippd_oauth_free(void)
{
    for (size_t i = 0; i < oa.n_clients; i++) {
        for (size_t j = 0; j < oa.clients[i].n_redirect_uris; j++)
            free(oa.clients[i].redirect_uris[j]);
        free(oa.clients[i].redirect_uris);
    }
    free(oa.clients);
    if (oa.accounts) gnutls_memset(oa.accounts, 0, oa.n_accounts * sizeof *oa.accounts);
    free(oa.accounts);
    memset(&oa, 0, sizeof oa);
}

/* ---- the authorization endpoint ---- */

typedef struct authz {
    const oa_client *client;
    const char *redirect_uri, *state, *challenge;
} authz;

/* The CSRF token of an authorization request: "<ms>.<b64url SHA-256(key, ms, request)>". */
static void csrf_make(const authz *a, int64_t ms, char out[80])
{
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%lld\n%s\n%s\n%s\n%s\n", (long long)ms, a->client->id,
                     a->redirect_uri, a->state ? a->state : "", a->challenge);
    uint8_t d[32];
    /* key || request: the key is fixed-size, so the input cannot be shifted between them */
    uint8_t in[sizeof oa.csrf_key + sizeof buf];
    memcpy(in, oa.csrf_key, sizeof oa.csrf_key);
    memcpy(in + sizeof oa.csrf_key, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    ripp_sha256(in, sizeof oa.csrf_key + ((size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1), d);
    char b[48];
    ripp_b64url_encode(d, 32, b, sizeof b);
    snprintf(out, 80, "%lld.%s", (long long)ms, b);
}

static bool csrf_check(const authz *a, const char *token, int64_t now)
{
    if (!token) return false;
    char *end;
    long long ms = strtoll(token, &end, 10);
    if (end == token || *end != '.' || ms > now + 1000 || now - ms > CSRF_TTL_MS) return false;
    char want[80];
    csrf_make(a, ms, want);
    return ripp_ct_equal(want, strlen(want), token, strlen(token));
}

static void redirect_303(oa_req *r, const char *location)
{
    if (r->closed) return;
    ripp_hdr h[] = {{"location", location}, no_store[0], no_store[1]};
    ripp_xchg_respond(r->x, 303, h, 3, true);
}

/* An error sent back to the client on its redirect URI (RFC 6749 §4.1.2.1). */
static void redirect_error(oa_req *r, const authz *a, const char *error, const char *desc)
{
    char loc[4096];
    ripp_log(RIPP_LOG_INFO, "%s %s -> 303 %s: %s", r->method, r->path, error, desc);
    if (ripp_oauth_error_redirect(loc, sizeof loc, a->redirect_uri, error, desc, a->state) < 0) {
        oa_problem(r, 400, "invalid-request", NULL, "the request is too long");
        return;
    }
    redirect_303(r, loc);
}

/* Checks what every authorization request needs; answers and returns false when it fails. */
static bool authz_check(oa_req *r, const ripp_form *f, authz *a)
{
    memset(a, 0, sizeof *a);
    a->client = oa_client_find(ripp_form_get(f, "client_id"));
    if (!a->client) {
        oa_problem(r, 400, "invalid-client", NULL, "unknown client_id");
        return false;
    }
    const char *ru = ripp_form_get(f, "redirect_uri");
    if (!ru && a->client->n_redirect_uris == 1) ru = a->client->redirect_uris[0];
    for (size_t i = 0; ru && i < a->client->n_redirect_uris; i++)
        if (strcmp(ru, a->client->redirect_uris[i]) == 0) a->redirect_uri = ru;
    if (!a->redirect_uri) {
        oa_problem(r, 400, "invalid-redirect-uri", NULL,
                   "redirect_uri is missing or not registered for client %s", a->client->id);
        return false;
    }
    a->state = ripp_form_get(f, "state");
    if (a->state && strlen(a->state) > 512) {
        a->state = NULL;
        redirect_error(r, a, "invalid_request", "state is longer than 512 characters");
        return false;
    }
    const char *rt = ripp_form_get(f, "response_type");
    if (!rt || strcmp(rt, "code") != 0) {
        redirect_error(r, a, rt ? "unsupported_response_type" : "invalid_request",
                       "response_type must be code");
        return false;
    }
    const char *m = ripp_form_get(f, "code_challenge_method");
    a->challenge = ripp_form_get(f, "code_challenge");
    if (!m || strcmp(m, "S256") != 0 || !ripp_pkce_challenge_valid(a->challenge)) {
        redirect_error(r, a, "invalid_request",
                       "PKCE is required: code_challenge_method=S256 and a 43-character "
                       "code_challenge");
        return false;
    }
    return true;
}

static void html_hidden(char *out, size_t cap, size_t *len, const char *name, const char *value)
{
    char esc[4096];
    if (!value || ripp_html_escape(value, esc, sizeof esc) < 0) return;
    int n = snprintf(out + *len, cap - *len, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n",
                     name, esc);
    if (n > 0 && (size_t)n < cap - *len) *len += (size_t)n;
}

static void authorize_page(oa_req *r, const authz *a)
{
    size_t cap = 32768, len = 0;
    char *page = malloc(cap);
    if (!page) {
        oa_problem(r, 500, "internal", NULL, "out of memory");
        return;
    }
    char cid[300];
    ripp_html_escape(a->client->id, cid, sizeof cid);
    len += (size_t)snprintf(
        page, cap,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Approve a RIPP trunk</title>"
        "</head><body>\n<h1>Approve a RIPP trunk</h1>\n<p>%s asks to create a trunk on your "
        "account.</p>\n<form method=\"post\" action=\"/oauth/authorize\">\n",
        cid);
    char csrf[80];
    csrf_make(a, oa_now_ms(), csrf);
    html_hidden(page, cap, &len, "response_type", "code");
    html_hidden(page, cap, &len, "client_id", a->client->id);
    html_hidden(page, cap, &len, "redirect_uri", a->redirect_uri);
    html_hidden(page, cap, &len, "state", a->state);
    html_hidden(page, cap, &len, "code_challenge", a->challenge);
    html_hidden(page, cap, &len, "code_challenge_method", "S256");
    html_hidden(page, cap, &len, "csrf", csrf);
    int n = snprintf(page + len, cap - len,
                     "<label>User <input name=\"user\" autocomplete=\"username\"></label>\n"
                     "<label>Password <input name=\"password\" type=\"password\" "
                     "autocomplete=\"current-password\"></label>\n"
                     "<button name=\"approve\" value=\"yes\">Approve</button>\n"
                     "<button name=\"approve\" value=\"no\">Deny</button>\n"
                     "</form>\n</body></html>\n");
    if (n > 0 && (size_t)n < cap - len) len += (size_t)n;
    if (!r->closed) {
        ripp_hdr h[] = {{"content-type", "text/html; charset=utf-8"},
                        no_store[0],
                        no_store[1],
                        {"x-frame-options", "DENY"},
                        {"content-security-policy", "default-src 'none'; form-action 'self'"}};
        ripp_xchg_respond(r->x, 200, h, 5, false);
        ripp_xchg_write(r->x, (const uint8_t *)page, len);
        ripp_xchg_end(r->x);
    }
    free(page);
}

/* After an approved login: a new trunk from the template and a code bound to everything. */
static void authorize_grant(oa_req *r, const authz *a, const char *user)
{
    ripp_store *st = oa.store;
    int64_t now = oa_now_ms();
    ripp_trunk_rec t;
    memset(&t, 0, sizeof t);
    char rnd[32], code[64], family[48];
    if (oa_random_token(rnd, sizeof rnd, 15) < 0 || oa_random_token(code, sizeof code, 32) < 0 ||
        oa_random_token(family, sizeof family, 18) < 0) {
        oa_problem(r, 500, "internal", NULL, "no randomness");
        return;
    }
    snprintf(t.id, sizeof t.id, "p%s", rnd);
    snprintf(t.answer, sizeof t.answer, "%s", oa.answer);
    snprintf(t.caps_json, sizeof t.caps_json, "%s", oa.caps_json);
    snprintf(t.identity_pub, sizeof t.identity_pub, "%s", oa.identity_pub);
    t.created_ms = now;
    ripp_token_rec c;
    memset(&c, 0, sizeof c);
    ripp_sha256_hex(code, strlen(code), c.hash);
    snprintf(c.trunk_id, sizeof c.trunk_id, "%s", t.id);
    c.kind = RIPP_TOKEN_CODE;
    c.state = RIPP_TOKEN_LIVE;
    snprintf(c.family, sizeof c.family, "%s", family);
    snprintf(c.client_id, sizeof c.client_id, "%s", a->client->id);
    c.created_ms = now;
    c.expires_ms = now + OA_CODE_TTL_S * 1000;
    json_t *d = json_pack("{s:s,s:s,s:s}", "redirect_uri", a->redirect_uri, "code_challenge",
                          a->challenge, "account", user);
    char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!ds || strlen(ds) >= sizeof c.data) {
        free(ds);
        oa_problem(r, 500, "internal", NULL, "cannot record the authorization code");
        return;
    }
    snprintf(c.data, sizeof c.data, "%s", ds);
    free(ds);
    if (st->ops->trunk_put(st->impl, &t) < 0 || st->ops->token_put(st->impl, &c) < 0) {
        oa_problem(r, 503, "store-unavailable", NULL, "the store did not answer");
        return;
    }
    char uri[1024], loc[4096];
    const char *auth = oa.public_authority[0] ? oa.public_authority : r->authority;
    snprintf(uri, sizeof uri, "https://%s/trunks/%s", auth, t.id);
    if (ripp_oauth_code_redirect(loc, sizeof loc, a->redirect_uri, code, a->state, uri) < 0) {
        oa_problem(r, 400, "invalid-request", NULL, "the redirect does not fit");
        return;
    }
    ripp_log(RIPP_LOG_INFO, "oauth: account %s approved client %s: new trunk %s", user,
             a->client->id, t.id);
    redirect_303(r, loc);
}

static oa_account *account_find(const char *user)
{
    for (size_t i = 0; user && i < oa.n_accounts; i++)
        if (strcmp(oa.accounts[i].user, user) == 0) return &oa.accounts[i];
    return NULL;
}

/* PBKDF2 runs in the thread pool: the loop keeps every live call's media moving. */
static void login_work(uv_work_t *w)
{
    oa_req *r = w->data;
    static const ripp_pwhash dummy = {.iterations = OA_PBKDF2_ITER, .salt_len = 16};
    const ripp_pwhash *h = r->account ? &r->account->pw : &dummy;
    uint8_t got[32];
    r->login_ok =
        pbkdf2(r->password, h, got) == 0 && r->account && ripp_ct_equal(got, 32, h->hash, 32);
    gnutls_memset(r->password, 0, sizeof r->password);
}

static void req_free(oa_req *r);

static void login_done(uv_work_t *w, int status)
{
    oa_req *r = w->data;
    r->working = false;
    if (r->closed) {
        req_free(r);
        return;
    }
    authz a;
    const ripp_form *f = r->form;
    if (status < 0 || !authz_check(r, f, &a)) {
        if (status < 0) oa_problem(r, 500, "internal", NULL, "login check failed");
        return;
    }
    const char *user = ripp_form_get(f, "user");
    oa_account *ac = account_find(user);
    if (!r->login_ok) {
        if (ac) ripp_login_failed(&ac->throttle, oa_now_ms());
        oa_problem(r, 403, "login-failed", NULL, "wrong user or password");
        return;
    }
    ripp_login_succeeded(&ac->throttle);
    authorize_grant(r, &a, user);
}

static void authorize(oa_req *r)
{
    bool post = strcmp(r->method, "POST") == 0;
    if (!post && strcmp(r->method, "GET") != 0) {
        oa_problem(r, 405, "method-not-allowed", NULL, "use GET or POST");
        return;
    }
    if (post && !strstr(r->content_type, "application/x-www-form-urlencoded")) {
        oa_problem(r, 415, "unsupported-media-type", NULL,
                   "the form must be application/x-www-form-urlencoded");
        return;
    }
    const char *in = post ? r->body : r->query;
    size_t len = post ? r->len : strlen(r->query);
    if (ripp_form_parse(r->form, in ? in : "", len) < 0) {
        oa_problem(r, 400, "invalid-request", NULL, "the parameters are malformed or repeated");
        return;
    }
    authz a;
    if (!authz_check(r, r->form, &a)) return;
    if (!post) {
        authorize_page(r, &a);
        return;
    }
    if (!csrf_check(&a, ripp_form_get(r->form, "csrf"), oa_now_ms())) {
        oa_problem(r, 403, "bad-csrf", NULL,
                   "the form is stale or was not issued for this request");
        return;
    }
    const char *approve = ripp_form_get(r->form, "approve");
    if (!approve || strcmp(approve, "yes") != 0) {
        redirect_error(r, &a, "access_denied", "the resource owner denied the request");
        return;
    }
    const char *user = ripp_form_get(r->form, "user");
    const char *pw = ripp_form_get(r->form, "password");
    if (!user || !pw || strlen(pw) >= sizeof r->password) {
        oa_problem(r, 403, "login-failed", NULL, "wrong user or password");
        return;
    }
    oa_account *ac = account_find(user);
    int wait = ac ? ripp_login_wait_s(&ac->throttle, oa_now_ms()) : 0;
    if (wait > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", wait);
        ripp_log(RIPP_LOG_INFO, "%s %s -> 429 login-throttled: account %s", r->method, r->path,
                 user);
        ripp_problem p;
        ripp_problem_set(&p, 429, "login-throttled", 0, "too many failed logins; retry in %d s",
                         wait);
        ripp_hdr h[] = {{"retry-after", ra}, no_store[0]};
        ripp_xchg_respond_problem(r->x, &p, h, 2);
        return;
    }
    r->account = ac;
    snprintf(r->password, sizeof r->password, "%s", pw);
    r->work.data = r;
    if (uv_queue_work(uv_default_loop(), &r->work, login_work, login_done) < 0) {
        gnutls_memset(r->password, 0, sizeof r->password);
        oa_problem(r, 503, "overloaded", NULL, "cannot check the login now");
        return;
    }
    r->working = true;
}

/* ---- routing ---- */

static void req_free(oa_req *r)
{
    if (!r) return;
    if (r->body) gnutls_memset(r->body, 0, r->len);
    free(r->body);
    if (r->form) gnutls_memset(r->form, 0, sizeof *r->form);
    free(r->form);
    free(r);
}

static void on_data(ripp_xchg *x, void *ud, const uint8_t *data, size_t len)
{
    oa_req *r = ud;
    (void)x;
    if (r->too_big) return;
    if (r->len + len > OA_BODY_MAX) {
        r->too_big = true;
        return;
    }
    char *nb = realloc(r->body, r->len + len + 1);
    if (!nb) {
        r->too_big = true;
        return;
    }
    r->body = nb;
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = 0;
}

static void on_end(ripp_xchg *x, void *ud)
{
    oa_req *r = ud;
    (void)x;
    if (r->too_big) {
        oa_problem(r, 413, "body-too-large", NULL, "the body is larger than %d bytes", OA_BODY_MAX);
        return;
    }
    if (r->bad_query) {
        oa_problem(r, 400, "invalid-request", NULL, "the query is too long");
        return;
    }
    r->handler(r);
}

static void on_close(ripp_xchg *x, void *ud, int error, uint32_t code)
{
    oa_req *r = ud;
    (void)x;
    (void)error;
    (void)code;
    r->closed = true;
    if (!r->working) req_free(r);
}

static const ripp_xchg_cbs oa_cbs = {.on_data = on_data, .on_end = on_end, .on_close = on_close};

static void copy_hdr(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "");
}

bool rippd_oauth_on_request(ripp_xchg *x, const ripp_request *req)
{
    if (!oa.store) return false;
    void (*handler)(oa_req *) = NULL;
    const char *p = req->path;
    char tid[64] = "";
    if (oa.enabled && strcmp(p, "/oauth/authorize") == 0) {
        handler = authorize;
    } else if (oa.enabled && strcmp(p, "/oauth/token") == 0) {
        handler = oa_token;
    } else if (oa.enabled && strcmp(p, "/oauth/revoke") == 0) {
        handler = oa_revoke;
    } else if (strncmp(p, "/trunks/", 8) == 0) {
        const char *id = p + 8, *slash = strchr(id, '/');
        size_t il = slash ? (size_t)(slash - id) : strlen(id);
        if (!il || il >= sizeof tid) return false;
        memcpy(tid, id, il);
        tid[il] = 0;
        if (slash && strcmp(slash, "/consumerTrunk") == 0)
            handler = oa_consumer_trunk;
        else if (!slash && strcmp(req->method, "DELETE") == 0)
            handler = oa_trunk_delete;
    }
    if (!handler) return false;
    oa_req *r = calloc(1, sizeof *r);
    if (r) r->form = malloc(sizeof *r->form);
    if (!r || !r->form) {
        free(r);
        ripp_problem pr;
        ripp_problem_set(&pr, 503, "overloaded", 0, "out of memory");
        ripp_xchg_respond_problem(x, &pr, NULL, 0);
        return true;
    }
    r->form->n = 0;
    r->x = x;
    r->handler = handler;
    copy_hdr(r->method, sizeof r->method, req->method);
    copy_hdr(r->path, sizeof r->path, req->path);
    copy_hdr(r->authority, sizeof r->authority, req->authority);
    copy_hdr(r->authorization, sizeof r->authorization, ripp_request_header(req, "authorization"));
    copy_hdr(r->content_type, sizeof r->content_type, ripp_request_header(req, "content-type"));
    snprintf(r->trunk_id, sizeof r->trunk_id, "%s", tid);
    if (strlen(req->query) >= sizeof r->query)
        r->bad_query = true;
    else
        copy_hdr(r->query, sizeof r->query, req->query);
    ripp_xchg_set_handler(x, &oa_cbs, r);
    return true;
}
