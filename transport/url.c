/* Parsing of the request URLs of the HTTP client bindings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"

int ripp_url_parse(const char *url, ripp_url *u)
{
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        u->tls = true;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        u->tls = false;
        p = url + 7;
    } else {
        return RIPP_ERR_INVAL;
    }
    size_t alen = strcspn(p, "/?#");
    if (alen == 0 || alen >= sizeof u->authority || memchr(p, '@', alen)) return RIPP_ERR_INVAL;
    memcpy(u->authority, p, alen);
    u->authority[alen] = '\0';
    const char *a = u->authority, *portstr = NULL;
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        if (!close || close == a + 1) return RIPP_ERR_INVAL;
        size_t hl = (size_t)(close - a - 1);
        memcpy(u->host, a + 1, hl);
        u->host[hl] = '\0';
        if (close[1] == ':')
            portstr = close + 2;
        else if (close[1] != '\0')
            return RIPP_ERR_INVAL;
    } else {
        const char *colon = strchr(a, ':');
        size_t hl = colon ? (size_t)(colon - a) : strlen(a);
        if (hl == 0) return RIPP_ERR_INVAL;
        memcpy(u->host, a, hl);
        u->host[hl] = '\0';
        if (colon) portstr = colon + 1;
    }
    u->port = u->tls ? 443 : 80;
    if (portstr) {
        if (!*portstr || strlen(portstr) > 5) return RIPP_ERR_INVAL;
        int port = 0;
        for (const char *q = portstr; *q; q++) {
            if (*q < '0' || *q > '9') return RIPP_ERR_INVAL;
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535) return RIPP_ERR_INVAL;
        u->port = port;
    }
    for (char *h = u->host; *h; h++) {
        if (*h >= 'A' && *h <= 'Z') *h = (char)(*h - 'A' + 'a');
        if ((unsigned char)*h <= ' ') return RIPP_ERR_INVAL;
    }
    const char *rest = p + alen;
    size_t rlen = strcspn(rest, "#");
    size_t off = 0;
    if (rlen == 0 || rest[0] != '/') u->pathq[off++] = '/';
    if (off + rlen >= sizeof u->pathq) return RIPP_ERR_INVAL;
    memcpy(u->pathq + off, rest, rlen);
    u->pathq[off + rlen] = '\0';
    for (const char *q = u->pathq; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f) return RIPP_ERR_INVAL;
    return 0;
}

int ripp_url_conn_key(const char *url, bool scheme, char *key, size_t cap)
{
    ripp_url *u = malloc(sizeof *u); /* 8 KiB: not on the stack */
    if (!u) return RIPP_ERR_NOMEM;
    int rv = ripp_url_parse(url, u);
    if (rv == 0) {
        if (scheme)
            snprintf(key, cap, "%s://%s:%d", u->tls ? "https" : "http", u->host, u->port);
        else
            snprintf(key, cap, "%s:%d", u->host, u->port);
    }
    free(u);
    return rv;
}
