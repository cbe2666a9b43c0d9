/* oauth.h - rippd's OAuth 2.0 authorization server and trunk-management resources, shared by
 * oauth.c (configuration, routing, the authorize endpoint) and oauth_token.c (token, revoke,
 * consumerTrunk, trunk deletion). See docs/provisioning.md. */
#ifndef RIPPD_OAUTH_H
#define RIPPD_OAUTH_H

#include <jansson.h>
#include <strings.h>

#include "ripp/oauth.h"
#include "rippd.h"

#define OA_BODY_MAX RIPP_FORM_MAX_BYTES
#define OA_PBKDF2_ITER 100000
#define OA_CODE_TTL_S 60

typedef struct oa_client {
    char id[128];
    char secret_sha256[65]; /* hex */
    char **redirect_uris;
    size_t n_redirect_uris;
    int64_t access_ttl_s, refresh_ttl_s; /* this client's lifetimes */
} oa_client;

typedef struct oa_account {
    char user[128];
    ripp_pwhash pw;
    ripp_login_throttle throttle;
} oa_account;

typedef struct oa_state {
    ripp_store *store;
    bool enabled; /* an "oauth" section was configured */
    oa_client *clients;
    size_t n_clients;
    oa_account *accounts;
    size_t n_accounts;
    int64_t access_ttl_s, refresh_ttl_s;
    char answer[512], caps_json[4096], identity_pub[1024]; /* the trunk template */
    char public_authority[256];
    uint8_t csrf_key[32];
    ripp_ep *ep; /* ends the calls of a deleted trunk */
} oa_state;

extern oa_state oa;

/* One request taken by the OAuth module: what it needs of the headers (copied: they live
 * during on_request only) and its body, gathered until the peer ends it. */
typedef struct oa_req {
    ripp_xchg *x;
    void (*handler)(struct oa_req *r);
    char method[16];
    char path[512];
    char query[8192];
    char authority[256];
    char authorization[2048];
    char content_type[128];
    char trunk_id[64]; /* the {id} of /trunks/{id}[/consumerTrunk] */
    char *body;
    size_t len;
    bool too_big, bad_query;
    bool closed;  /* the exchange is gone */
    bool working; /* a thread-pool job holds the request */
    uv_work_t work;
    ripp_form *form;
    /* login job */
    const oa_account *account;
    char password[256];
    bool login_ok;
} oa_req;

int64_t oa_now_ms(void);
/* Problem responses; oauth_error (RFC 6749 §5.2 code) adds error/error_description. Logs
 * "METHOD PATH -> STATUS slug: detail". */
void oa_problem(oa_req *r, int status, const char *slug, const char *oauth_error, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
/* 200 with a JSON body (Cache-Control: no-store); takes the reference. */
void oa_json(oa_req *r, int status, json_t *body);
void oa_empty(oa_req *r, int status);
/* base64url of n random bytes. */
int oa_random_token(char *out, size_t cap, size_t n);
const oa_client *oa_client_find(const char *id);

/* oauth_token.c: the handlers. */
void oa_token(oa_req *r);
void oa_revoke(oa_req *r);
void oa_consumer_trunk(oa_req *r);
void oa_trunk_delete(oa_req *r);

#endif
