/* Operations endpoints for load balancers: not served yet. */
#include "rippd.h"

static bool draining;

bool rippd_health_on_request(ripp_xchg *x, const ripp_request *req)
{
    (void)x;
    (void)req;
    return false;
}

void rippd_health_set_draining(bool d)
{
    draining = d;
}

bool rippd_health_draining(void)
{
    return draining;
}
