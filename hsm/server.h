/* SPDX-License-Identifier: Apache-2.0 */
/* writ-hsmd's local socket server (protocol in lib/wire/hsmproto.h, docs/hsm-api.md). */
#ifndef WRIT_HSM_SERVER_H
#define WRIT_HSM_SERVER_H

#include <sys/types.h>

#include "hsm/hsmd.h"

struct server {
	struct hsm *hsm;
	uid_t allow_uids[16];
	size_t n_allow_uids;
	gid_t allow_gids[16];
	size_t n_allow_gids;
	const uint8_t *enrolment; /* bundle served by HSMP_OP_ENROLMENT, may be NULL */
	size_t enrolment_len;
};

/* Serve until SIGTERM/SIGINT. The socket file is created with mode 0660. Returns
 * WRIT_E_STATE if clients were still connected after a grace period (the caller must
 * then exit without tearing down state those threads use). */
int server_run(struct server *srv, const char *socket_path);

#endif
