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
 * certificate (bound to the factory, neither revoked nor superseded) and keep its
 * fingerprint in k->tls_fp. The first request made with a renewed certificate
 * supersedes the one it renewed. 0 to go on; otherwise k holds a 401 "client_cert"
 * answer. */
int cloud_tls_check(struct call *k);

/* Enrolment: when the request carries "tls_csr" (PEM), issue the factory's client
 * certificate and add "tls_cert" and "tls_ca" to the answer a ("tls_error" on failure). */
void cloud_tls_enrol(struct call *k, int64_t factory_id, const char *factory, json_t *req, json_t *a);

/*
 * POST /v1/factory/tls/renew (docs/operations.md "Rotation without downtime"): a factory,
 * authenticated as for every factory call (bearer token and its current client
 * certificate on this connection), sends {"csr": PEM} for a new P-256 key; the answer
 * (201) is a new client certificate bound to the same factory. The certificate that
 * authenticated the renewal stays valid until the factory first uses the new one;
 * then cloud_tls_check marks it superseded and refuses it from then on. Bounds: a
 * certificate renews at most CLOUD_TLS_RENEWALS times; a factory holds at most
 * CLOUD_TLS_LIVE_MAX live certificates (a renewal's unused predecessor children are
 * superseded by the next renewal). Refusals store nothing.
 */
#define CLOUD_TLS_RENEW_MAX 8192u /* the request body: a P-256 CSR in PEM is ~600 bytes */
#define CLOUD_TLS_RENEWALS 3
#define CLOUD_TLS_LIVE_MAX 3
int h_factory_tls(struct call *k);

/* The commands `writ-cloud tls-init` and `writ-cloud tls-revoke` (exit status). */
int cloud_tls_cmd_init(const char *dir, const char *module, const char *token, const char *pin, const char *hosts,
		       unsigned days);
int cloud_tls_cmd_revoke(const char *db_url, const char *factory);

#endif
