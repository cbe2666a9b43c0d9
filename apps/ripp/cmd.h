/* Subcommands of the ripp CLI that live in their own files. Each takes the arguments from
 * the command word on (argv[0] is the command, e.g. "trunk"; argv[1] the subcommand, e.g.
 * "provision") and returns the exit status. */
#ifndef RIPP_CLI_CMD_H
#define RIPP_CLI_CMD_H

/* ripp trunk provision|... (trunk.c) */
int ripp_cmd_trunk(int argc, char **argv);
/* ripp admin drain (admin.c) */
int ripp_cmd_admin(int argc, char **argv);

#endif
