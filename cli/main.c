/* SPDX-License-Identifier: Apache-2.0 */
/* The writ CLI: dispatch to subcommands (see cli/cmds.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cmds.h"
#include "host/log.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: writ <command> ...\n"
		   "  authority   act as a local OEM authority: roots, Matter PAA, PAI certification, writs\n"
		   "  hsm         talk to a writ-hsmd over its local socket\n"
		   "  chip        discover, inspect and provision chips (writ-devsim or real ones)\n"
		   "  firmware    sign and verify firmware images (secure-boot key); upload and list them (writ-cloud)\n"
		   "  matter      Matter data: check-chain, payload, spake2p, passcode, discriminator, label, factory-data\n");
	cloud_usage_lines(f);
	fprintf(f, "Run `writ <command> --help` for the options of each.\n");
}

int main(int argc, char **argv)
{
	log_init("writ", LOG_LVL_INFO);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "matter"))
		return cmd_matter(argc - 1, argv + 1);
	if (!strcmp(argv[1], "authority"))
		return cmd_authority(argc - 1, argv + 1);
	if (!strcmp(argv[1], "hsm"))
		return cmd_hsm(argc - 1, argv + 1);
	if (!strcmp(argv[1], "chip"))
		return cmd_chip(argc - 1, argv + 1);
	if (!strcmp(argv[1], "firmware"))
		return cmd_firmware(argc - 1, argv + 1);
	if (cloud_is_command(argv[1]))
		return cmd_cloud(argc - 1, argv + 1);
	fprintf(stderr, "writ: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
