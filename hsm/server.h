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
	size_t workers;           /* worker threads; 0 = one per CPU */
	const uint8_t *enrolment; /* bundle served by HSMP_OP_ENROLMENT, may be NULL */
	size_t enrolment_len;
};

/* Serve until SIGTERM/SIGINT; every worker has finished its round when it returns.
 * The socket file is created with mode 0660. */
int server_run(struct server *srv, const char *socket_path);

#endif
