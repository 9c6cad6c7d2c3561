/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommands of the writ CLI; each returns the process exit status. */
#ifndef WRIT_CLI_CMDS_H
#define WRIT_CLI_CMDS_H

#include <stdio.h>

/* writ matter check-chain --paa F --pai F --dac F: 0 valid, 1 invalid (reason on
 * stderr), 2 usage or I/O error. argv[0] is "matter". */
int cmd_matter(int argc, char **argv);

/* writ authority ...: the local OEM authority (argv[0] is "authority"). */
int cmd_authority(int argc, char **argv);

/* writ hsm ...: a client of writ-hsmd's socket API (argv[0] is "hsm"). */
int cmd_hsm(int argc, char **argv);

/* writ firmware sign|verify: secure-boot signatures of images (argv[0] is "firmware"). */
int cmd_firmware(int argc, char **argv);

/* writ chip discover|status|provision: the station's chip driver (argv[0] is "chip"). */
int cmd_chip(int argc, char **argv);

/* writ product|version|factory|batch|records|device|user|token|alert|whoami and writ
 * firmware upload|list: a writ-cloud client (argv[0] is the command). Exit 0 done, 1
 * refused, 2 usage, 3 unreachable. cloud_is_command: whether name is one of them;
 * cloud_usage_lines: their lines of `writ --help`. */
int cmd_cloud(int argc, char **argv);
int cloud_is_command(const char *name);
void cloud_usage_lines(FILE *f);

struct p11_ctx;
struct writ_signer;
/* Open the authority token of dir (authority.conf; PIN from pin_file or
 * $WRIT_AUTHORITY_PIN) and a signer for key (writ, paa, secure-boot, debug-root).
 * On success the caller owns *ret_p11 (p11_close) and *ret is valid until then. */
int authority_open_signer(const char *dir, const char *pin_file, const char *key, struct p11_ctx **ret_p11,
			  struct writ_signer *ret);

#endif
