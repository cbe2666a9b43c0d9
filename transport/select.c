/* Transport selection for clients. */
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
    if (!cfg || cfg->transport != RIPP_TRANSPORT_H2) {
        /* HTTP/3 is not built into this client yet */
        if (err) *err = RIPP_ERR_UNSUPPORTED;
        return NULL;
    }
    ripp_h2_client_config hc = {.tls = cfg->tls, .connect_timeout = cfg->connect_timeout};
    return ripp_h2_client_new(loop, &hc, err);
}
