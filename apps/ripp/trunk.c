/* ripp trunk: trunk provisioning is not built yet. */
#include <stdio.h>

#include "cmd.h"

int ripp_cmd_trunk(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ripp trunk: not available in this build\n");
    return 2;
}
