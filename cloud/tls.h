/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-cloud's side of TLS (docs/operations.md "TLS"): the portal's TLS CA issues each
 * factory a client certificate at enrolment; the certificate's SHA-256 is bound to the
 * factory in the store (tls_certs); every request made with a factory credential must
 * come over a TLS connection whose client certificate verifies against the portal CA
 * and is bound, unrevoked, to that factory. The bearer token is still required too.
 */
#ifndef WRIT_CLOUD_TLS_H
#define WRIT_CLOUD_TLS_H

#include <jansson.h>

#include "cloud/cloud.h"

/* serve --tls DIR: load the server pair (lib/tls) and the portal CA (DIR/ca.pem,
 * DIR/ca.key), create tls_certs when missing. Errors are said on stderr. */
WRIT_MUST_CHECK int cloud_tls_serve_setup(struct db *db, const char *dir);

/* After authentication: with TLS on and a factory caller, check its client
 * certificate. 0 to go on; otherwise k holds a 401 "client_cert" answer. */
int cloud_tls_check(struct call *k);

/* Enrolment: when the request carries "tls_csr" (PEM), issue the factory's client
 * certificate and add "tls_cert" and "tls_ca" to the answer a ("tls_error" on failure). */
void cloud_tls_enrol(struct call *k, int64_t factory_id, const char *factory, json_t *req, json_t *a);

/* The commands `writ-cloud tls-init` and `writ-cloud tls-revoke` (exit status). */
int cloud_tls_cmd_init(const char *dir, const char *module, const char *token, const char *pin, const char *hosts,
		       unsigned days);
int cloud_tls_cmd_revoke(const char *db_url, const char *factory);

#endif
