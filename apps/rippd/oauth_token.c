/* rippd's token endpoint (RFC 6749 §4.1.3, §6: code exchange with PKCE, refresh with
 * rotation and reuse detection), revocation (RFC 7009), and the trunk resources next to them:
 * PUT {trunk}/consumerTrunk (R1, D11, D26) and DELETE {trunk} (R2, D12). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"

/* ---- client authentication (RFC 6749 §2.3.1) ---- */

/* The authenticated client, or NULL after answering 400/401. */
static const oa_client *client_auth(oa_req *r, const ripp_form *f)
{
    char id[256] = "", secret[512] = "";
    const char *fid = ripp_form_get(f, "client_id");
    const char *fsec = ripp_form_get(f, "client_secret");
    if (r->authorization[0]) {
        if (fsec) {
            oa_problem(r, 400, "invalid-request", "invalid_request",
                       "use one client authentication method, not two");
            return NULL;
        }
        if (ripp_oauth_basic_parse(r->authorization, id, sizeof id, secret, sizeof secret) < 0) {
            oa_problem(r, 401, "invalid-client", "invalid_client",
                       "the Authorization header is not valid HTTP Basic client authentication");
            return NULL;
        }
        if (fid && strcmp(fid, id) != 0) {
            oa_problem(r, 400, "invalid-request", "invalid_request",
                       "client_id differs from the authenticated client");
            return NULL;
        }
    } else if (fid && fsec && strlen(fid) < sizeof id && strlen(fsec) < sizeof secret) {
        strcpy(id, fid);
        strcpy(secret, fsec);
    } else {
        oa_problem(r, 401, "invalid-client", "invalid_client", "client authentication is required");
        return NULL;
    }
    const oa_client *c = oa_client_find(id);
    char h[65];
    ripp_sha256_hex(secret, strlen(secret), h);
    bool ok = c && ripp_ct_equal(h, 64, c->secret_sha256, 64);
    memset(secret, 0, sizeof secret);
    if (!ok) {
        oa_problem(r, 401, "invalid-client", "invalid_client",
                   c ? "client authentication failed" : "unknown client");
        return NULL;
    }
    return c;
}

/* ---- token issue ---- */

static int put_token(const char *secret, const char *trunk_id, int kind, const char *family,
                     const char *client_id, int64_t now, int64_t ttl_s)
{
    ripp_token_rec t;
    memset(&t, 0, sizeof t);
    ripp_sha256_hex(secret, strlen(secret), t.hash);
    snprintf(t.trunk_id, sizeof t.trunk_id, "%s", trunk_id);
    t.kind = kind;
    t.state = RIPP_TOKEN_LIVE;
    snprintf(t.family, sizeof t.family, "%s", family);
    snprintf(t.client_id, sizeof t.client_id, "%s", client_id);
    t.created_ms = now;
    t.expires_ms = ttl_s ? now + ttl_s * 1000 : 0;
    return oa.store->ops->token_put(oa.store->impl, &t);
}

/* A new access + refresh token pair of one trunk, in the grant's family. */
static void issue(oa_req *r, const oa_client *c, const char *trunk_id, const char *family)
{
    char access[64], refresh[64];
    int64_t now = oa_now_ms();
    if (oa_random_token(access, sizeof access, 32) < 0 ||
        oa_random_token(refresh, sizeof refresh, 32) < 0) {
        oa_problem(r, 500, "internal", "server_error", "no randomness");
        return;
    }
    if (put_token(access, trunk_id, RIPP_TOKEN_ACCESS, family, c->id, now, c->access_ttl_s) < 0 ||
        put_token(refresh, trunk_id, RIPP_TOKEN_REFRESH, family, c->id, now, c->refresh_ttl_s) <
            0) {
        oa_problem(r, 503, "store-unavailable", "temporarily_unavailable",
                   "the store did not answer");
        return;
    }
    ripp_log(RIPP_LOG_INFO, "oauth: tokens issued to client %s for trunk %s", c->id, trunk_id);
    oa_json(r, 200,
            json_pack("{s:s,s:s,s:I,s:s}", "access_token", access, "token_type", "Bearer",
                      "expires_in", (json_int_t)c->access_ttl_s, "refresh_token", refresh));
}

/* A redeemed code or refresh token presented again: RFC 6749 §4.1.2 and §10.4 (OAuth 2.0
 * Security BCP): everything issued from that grant is revoked. */
static void reuse(oa_req *r, const ripp_token_rec *t, const char *what)
{
    int n = oa.store->ops->token_revoke_family(oa.store->impl, t->family);
    if (oa.ep) ripp_ep_forget_tokens(oa.ep); /* revoked tokens stop working at once here */
    ripp_log(RIPP_LOG_WARN, "oauth: %s of client %s for trunk %s used again: %d tokens revoked",
             what, t->client_id, t->trunk_id, n < 0 ? 0 : n);
    oa_problem(r, 400, "invalid-grant", "invalid_grant",
               "the %s was already used; every token issued from it is revoked", what);
}

/* Looks up a code or refresh token of client c; answers and returns false when unusable. */
static bool grant_get(oa_req *r, const oa_client *c, const char *secret, int kind, const char *what,
                      ripp_token_rec *t)
{
    char h[65];
    ripp_sha256_hex(secret, strlen(secret), h);
    int rv = oa.store->ops->token_get(oa.store->impl, h, t);
    if (rv < 0 && rv != RIPP_ERR_NOTFOUND) {
        oa_problem(r, 503, "store-unavailable", "temporarily_unavailable",
                   "the store did not answer");
        return false;
    }
    if (rv == RIPP_ERR_NOTFOUND || t->kind != kind || strcmp(t->client_id, c->id) != 0) {
        oa_problem(r, 400, "invalid-grant", "invalid_grant", "unknown %s", what);
        return false;
    }
    if (t->state == RIPP_TOKEN_USED) {
        reuse(r, t, what);
        return false;
    }
    if (t->state == RIPP_TOKEN_REVOKED || (t->expires_ms && oa_now_ms() >= t->expires_ms)) {
        oa_problem(r, 400, "invalid-grant", "invalid_grant", "the %s is %s", what,
                   t->state == RIPP_TOKEN_REVOKED ? "revoked" : "expired");
        return false;
    }
    ripp_trunk_rec tr;
    if (oa.store->ops->trunk_get(oa.store->impl, t->trunk_id, &tr) < 0) {
        oa_problem(r, 400, "invalid-grant", "invalid_grant", "the trunk of the %s is gone", what);
        return false;
    }
    return true;
}

/* Single use, also across instances sharing the store. */
static bool grant_redeem(oa_req *r, const ripp_token_rec *t, const char *what)
{
    int rv =
        oa.store->ops->token_set_state(oa.store->impl, t->hash, RIPP_TOKEN_LIVE, RIPP_TOKEN_USED);
    if (rv == RIPP_ERR_STATE) {
        reuse(r, t, what);
        return false;
    }
    if (rv < 0) {
        oa_problem(r, 503, "store-unavailable", "temporarily_unavailable",
                   "the store did not answer");
        return false;
    }
    return true;
}

static void grant_code(oa_req *r, const oa_client *c, const ripp_form *f)
{
    const char *code = ripp_form_get(f, "code");
    const char *verifier = ripp_form_get(f, "code_verifier");
    const char *ru = ripp_form_get(f, "redirect_uri");
    if (!code || !code[0]) {
        oa_problem(r, 400, "invalid-request", "invalid_request", "code is missing");
        return;
    }
    ripp_token_rec t;
    if (!grant_get(r, c, code, RIPP_TOKEN_CODE, "authorization code", &t)) return;
    json_t *d = json_loads(t.data, 0, NULL);
    const char *want_ru = json_string_value(json_object_get(d, "redirect_uri"));
    const char *challenge = json_string_value(json_object_get(d, "code_challenge"));
    bool ru_ok = want_ru && ru && strcmp(want_ru, ru) == 0;
    int pk = RIPP_ERR_PROTO;
    if (verifier) {
        uint8_t sha[32];
        ripp_sha256(verifier, strlen(verifier), sha);
        pk = ripp_pkce_check(verifier, sha, challenge);
    }
    json_decref(d);
    if (!ru_ok) {
        oa_problem(r, 400, "invalid-grant", "invalid_grant",
                   "redirect_uri does not match the authorization request");
        return;
    }
    if (pk == RIPP_ERR_PROTO) {
        oa_problem(r, 400, "invalid-request", "invalid_request",
                   "code_verifier is missing or malformed (RFC 7636: 43..128 characters)");
        return;
    }
    if (pk < 0) {
        oa_problem(r, 400, "invalid-grant", "invalid_grant",
                   "code_verifier does not match the code_challenge (PKCE S256)");
        return;
    }
    if (!grant_redeem(r, &t, "authorization code")) return;
    issue(r, c, t.trunk_id, t.family);
}

static void grant_refresh(oa_req *r, const oa_client *c, const ripp_form *f)
{
    const char *rt = ripp_form_get(f, "refresh_token");
    if (!rt || !rt[0]) {
        oa_problem(r, 400, "invalid-request", "invalid_request", "refresh_token is missing");
        return;
    }
    ripp_token_rec t;
    if (!grant_get(r, c, rt, RIPP_TOKEN_REFRESH, "refresh token", &t)) return;
    if (!grant_redeem(r, &t, "refresh token")) return;
    issue(r, c, t.trunk_id, t.family);
}

/* Parses the form body of the token and revoke endpoints; answers on failure. */
static bool form_body(oa_req *r)
{
    if (strcmp(r->method, "POST") != 0) {
        oa_problem(r, 405, "method-not-allowed", "invalid_request", "use POST");
        return false;
    }
    if (!strstr(r->content_type, "application/x-www-form-urlencoded")) {
        oa_problem(r, 400, "invalid-request", "invalid_request",
                   "the body must be application/x-www-form-urlencoded");
        return false;
    }
    if (ripp_form_parse(r->form, r->body ? r->body : "", r->len) < 0) {
        oa_problem(r, 400, "invalid-request", "invalid_request",
                   "the parameters are malformed or repeated");
        return false;
    }
    return true;
}

void oa_token(oa_req *r)
{
    if (!form_body(r)) return;
    const oa_client *c = client_auth(r, r->form);
    if (!c) return;
    const char *gt = ripp_form_get(r->form, "grant_type");
    if (!gt)
        oa_problem(r, 400, "invalid-request", "invalid_request", "grant_type is missing");
    else if (strcmp(gt, "authorization_code") == 0)
        grant_code(r, c, r->form);
    else if (strcmp(gt, "refresh_token") == 0)
        grant_refresh(r, c, r->form);
    else
        oa_problem(r, 400, "unsupported-grant-type", "unsupported_grant_type",
                   "grant_type must be authorization_code or refresh_token");
}

void oa_revoke(oa_req *r)
{
    if (!form_body(r)) return;
    const oa_client *c = client_auth(r, r->form);
    if (!c) return;
    const char *tok = ripp_form_get(r->form, "token");
    if (!tok || !tok[0]) {
        oa_problem(r, 400, "invalid-request", "invalid_request", "token is missing");
        return;
    }
    char h[65];
    ripp_sha256_hex(tok, strlen(tok), h);
    ripp_token_rec t;
    int rv = oa.store->ops->token_get(oa.store->impl, h, &t);
    if (rv < 0 && rv != RIPP_ERR_NOTFOUND) {
        oa_problem(r, 503, "store-unavailable", "temporarily_unavailable",
                   "the store did not answer");
        return;
    }
    /* an unknown or already invalid token is not an error (RFC 7009 §2.2) */
    if (rv == 0 && (t.kind == RIPP_TOKEN_ACCESS || t.kind == RIPP_TOKEN_REFRESH)) {
        if (strcmp(t.client_id, c->id) != 0) {
            oa_problem(r, 400, "unauthorized-client", "unauthorized_client",
                       "the token was not issued to this client");
            return;
        }
        /* a refresh token takes its grant with it (RFC 7009 §2.1) */
        if (t.kind == RIPP_TOKEN_REFRESH)
            rv = oa.store->ops->token_revoke_family(oa.store->impl, t.family);
        else if (t.state != RIPP_TOKEN_REVOKED)
            rv = oa.store->ops->token_set_state(oa.store->impl, h, t.state, RIPP_TOKEN_REVOKED);
        if (rv < 0 && rv != RIPP_ERR_STATE) {
            oa_problem(r, 503, "store-unavailable", "temporarily_unavailable",
                       "the store did not answer");
            return;
        }
        if (oa.ep) ripp_ep_forget_tokens(oa.ep);
        ripp_log(RIPP_LOG_INFO, "oauth: client %s revoked %s token of trunk %s", c->id,
                 t.kind == RIPP_TOKEN_REFRESH ? "a refresh" : "an access", t.trunk_id);
    }
    oa_empty(r, 200);
}

/* ---- trunk resources ---- */

/* The bearer of r must be valid now and belong to r->trunk_id (D9, D10). */
static bool bearer_auth(oa_req *r)
{
    const char *a = r->authorization;
    if (!a[0]) {
        oa_problem(r, 401, "missing-token", NULL, "an Authorization: Bearer token is required");
        return false;
    }
    if (strncasecmp(a, "Bearer ", 7) != 0 || !a[7]) {
        oa_problem(r, 401, "invalid-token", NULL, "the Authorization scheme must be Bearer");
        return false;
    }
    char h[65], tid[64];
    ripp_sha256_hex(a + 7, strlen(a + 7), h);
    int rv = oa.store->ops->token_lookup(oa.store->impl, h, oa_now_ms(), tid, sizeof tid);
    if (rv == RIPP_ERR_NOTFOUND) {
        oa_problem(r, 401, "invalid-token", NULL, "the bearer token is not valid");
        return false;
    }
    if (rv < 0) {
        oa_problem(r, 503, "store-unavailable", NULL, "the store did not answer");
        return false;
    }
    if (strcmp(tid, r->trunk_id) != 0) {
        oa_problem(r, 403, "wrong-trunk", NULL, "the token does not belong to this trunk");
        return false;
    }
    return true;
}

static bool token_syntax_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 16 || n >= sizeof(((ripp_consumer_rec *)0)->token)) return false;
    for (; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f) return false;
    return true;
}

void oa_consumer_trunk(oa_req *r)
{
    if (strcmp(r->method, "PUT") != 0 && strcmp(r->method, "POST") != 0) {
        oa_problem(r, 405, "method-not-allowed", NULL, "use PUT (or POST) on consumerTrunk");
        return;
    }
    if (!bearer_auth(r)) return;
    ripp_trunk_rec t;
    if (oa.store->ops->trunk_get(oa.store->impl, r->trunk_id, &t) < 0) {
        oa_problem(r, 404, "unknown-trunk", NULL, "no such trunk");
        return;
    }
    json_t *b = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    const char *uri = json_string_value(json_object_get(b, "consumerTrunkURI"));
    const char *tok = json_string_value(json_object_get(b, "consumerToken"));
    if (!json_is_object(b) || !uri || !tok) {
        json_decref(b);
        oa_problem(r, 400, "bad-consumer-trunk", NULL,
                   "the body must be a JSON object with consumerTrunkURI and consumerToken");
        return;
    }
    if (!ripp_trunk_uri_valid(uri)) {
        json_decref(b);
        oa_problem(r, 422, "invalid-consumer-uri", NULL,
                   "consumerTrunkURI must be https://authority/path without query or fragment");
        return;
    }
    if (!token_syntax_ok(tok)) {
        json_decref(b);
        oa_problem(r, 400, "bad-consumer-token", NULL,
                   "consumerToken must be 16..255 printable characters without spaces");
        return;
    }
    ripp_consumer_rec c;
    memset(&c, 0, sizeof c);
    snprintf(c.trunk_id, sizeof c.trunk_id, "%s", r->trunk_id);
    snprintf(c.uri, sizeof c.uri, "%s", uri);
    snprintf(c.token, sizeof c.token, "%s", tok);
    c.updated_ms = oa_now_ms();
    json_decref(b);
    int rv = oa.store->ops->consumer_put(oa.store->impl, &c);
    memset(c.token, 0, sizeof c.token);
    if (rv < 0) {
        oa_problem(r, 503, "store-unavailable", NULL, "the store did not answer");
        return;
    }
    ripp_log(RIPP_LOG_INFO, "trunk %s: consumer trunk %s registered", r->trunk_id, c.uri);
    oa_empty(r, 204);
}

void oa_trunk_delete(oa_req *r)
{
    if (!bearer_auth(r)) return;
    int rv = oa.store->ops->trunk_del(oa.store->impl, r->trunk_id);
    if (rv == RIPP_ERR_NOTFOUND) {
        oa_problem(r, 404, "unknown-trunk", NULL, "no such trunk");
        return;
    }
    if (rv < 0) {
        oa_problem(r, 503, "store-unavailable", NULL, "the store did not answer");
        return;
    }
    if (oa.ep) ripp_ep_forget_tokens(oa.ep);
    size_t ended = oa.ep ? ripp_ep_end_trunk_calls(oa.ep, r->trunk_id, ripp_io_now()) : 0;
    ripp_log(RIPP_LOG_INFO, "trunk %s: deleted with its tokens and consumer trunk; %zu calls ended",
             r->trunk_id, ended);
    oa_empty(r, 204);
}
