/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommands of the writ CLI; each returns the process exit status. */
#ifndef WRIT_CLI_CMDS_H
#define WRIT_CLI_CMDS_H

/* writ matter check-chain --paa F --pai F --dac F: 0 valid, 1 invalid (reason on
 * stderr), 2 usage or I/O error. argv[0] is "matter". */
int cmd_matter(int argc, char **argv);

/* writ authority ...: the local OEM authority (argv[0] is "authority"). */
int cmd_authority(int argc, char **argv);

/* writ hsm ...: a client of writ-hsmd's socket API (argv[0] is "hsm"). */
int cmd_hsm(int argc, char **argv);

#endif
