/* OAuth 2.0 provisioning of rippd's trunks: not configurable yet. */
#include "rippd.h"

int rippd_oauth_config(struct json_t *root, ripp_store *st)
{
    (void)root;
    (void)st;
    return 0;
}

bool rippd_oauth_on_request(ripp_xchg *x, const ripp_request *req)
{
    (void)x;
    (void)req;
    return false;
}

void rippd_oauth_free(void) {}
