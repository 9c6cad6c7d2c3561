/* SPDX-License-Identifier: Apache-2.0 */
/* The writ CLI: dispatch to subcommands (see cli/cmds.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cmds.h"
#include "host/log.h"
#include "host/version.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: writ <command> ...\n"
		   "  authority   act as a local OEM authority: roots, Matter PAA, PAI certification, writs\n"
		   "  hsm         talk to a writ-hsmd over its local socket\n"
		   "  chip        discover, inspect and provision chips (writ-devsim or real ones)\n"
		   "  firmware    sign and verify firmware images (secure-boot key); upload and list them (writ-cloud)\n"
		   "  matter      Matter data: check-chain, payload, spake2p, passcode, discriminator, label, factory-data\n");
	cloud_usage_lines(f);
	fprintf(f, "Run `writ <command> --help` for the options of each (and `writ <command> <sub> --help`).\n"
		   "`writ --version` prints the version (VERSION next to the program, else the built one).\n"
		   "\n"
		   "writ is the operator's tool: the OEM's and ODM's work against writ-cloud, a local OEM\n"
		   "authority for a site without the portal, an edge HSM's socket, and chips on a bench.\n"
		   "Nothing secret is taken from the command line: PINs and API tokens come from files or\n"
		   "the environment.\n"
		   "\n"
		   "Environment:\n"
		   "  WRIT_CLOUD_URL          writ-cloud's URL when --cloud is not given (default http://127.0.0.1:8443)\n"
		   "  WRIT_CLOUD_TOKEN        your API token when --token-file is not given\n"
		   "  WRIT_AUTHORITY_PIN      the authority token's user PIN (writ authority, writ firmware sign)\n"
		   "  WRIT_AUTHORITY_SO_PIN   its SO PIN, only to create the token (writ authority init)\n"
		   "  SOFTHSM2_CONF           where SoftHSM keeps its tokens, when the default module is used\n"
		   "\n"
		   "Exit status:\n"
		   "  0 done (for `firmware verify` and `matter check-chain`: valid); 1 refused, invalid or some\n"
		   "  chips failed (the reason is on stderr); 2 usage, or a local file that cannot be read or\n"
		   "  written; 3 writ-cloud cannot be reached.\n"
		   "\n"
		   "Example:\n"
		   "  export WRIT_CLOUD_URL=https://portal.example:8443\n"
		   "  writ product create --token-file ~/.writ/token --product lamp --name Lamp --vid FFF1 \\\n"
		   "      --pid 8000 --quota 100000\n"
		   "  writ hsm status --socket /var/lib/writ-hsmd/hsmd.sock\n"
		   "\n"
		   "See docs/cloud-api.md, docs/hsm-api.md and docs/operations.md.\n");
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
	if (!strcmp(argv[1], "--version")) {
		host_version_print("writ");
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
