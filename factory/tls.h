/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's side of TLS (docs/operations.md "TLS"). Its TLS keys live in the
 * factory's own PKCS#11 token (default "writ-factory-tls"), never in the edge HSM's token,
 * which only writ-hsmd opens. A TLS directory (--tls DIR) holds: server.pem/server.key
 * (what stations connect to, issued by the factory's own CA ca.pem that stations pin),
 * client.pem/client.key (the client certificate writ-cloud issued at enrolment) and
 * cloud-ca.pem (the portal CA, handed over with the enrolment code).
 */
#ifndef WRIT_FACTORY_TLS_H
#define WRIT_FACTORY_TLS_H

#include <jansson.h>

struct factory_tls {
	const char *dir;         /* --tls DIR; NULL: no TLS */
	const char *module;      /* --tls-module SO */
	const char *token;       /* --tls-token LABEL */
	const char *pin_file;    /* --tls-pin-file F (else $WRIT_FACTORY_TLS_PIN) */
	const char *so_pin_file; /* --tls-so-pin-file F (else $WRIT_FACTORY_TLS_SO_PIN) */
	const char *hosts;       /* tls-init: --host */
	unsigned days;           /* tls-init: --days */
};

/* The options, kept for the calls below (main() sets them once). */
void factory_tls_options(const struct factory_tls *t);

/* serve: with --tls, the server pair for stations and the client configuration for
 * writ-cloud; without, nothing. host is the listen address: plain HTTP needs
 * insecure_http and a loopback address. Returns 0, or the exit status (said on stderr). */
int factory_tls_serve(const char *host, int insecure_http);

/* enrol-info, enrol, add-hsm: with --tls, talk to writ-cloud trusting DIR/cloud-ca.pem,
 * with the client certificate when DIR has one. 0, or -1 after saying why on stderr. */
int factory_tls_client(void);

/* enrol: with --tls, set up the client side (cloud-ca.pem) and add "tls_csr" (a new key
 * in the token) to the request; after the answer, keep client.pem and client.key.
 * 0 on success (or without --tls), -1 after saying why on stderr. */
int factory_tls_enrol_begin(json_t *req);
int factory_tls_enrol_end(json_t *answer);

/* update: trust this factory's own CA (DIR/ca.pem), no client certificate, for its
 * GET /v1/health; factory_tls_client() goes back to the cloud's. 0 (also without
 * --tls), or -1 after saying why on stderr. */
int factory_tls_self(void);

/* writ-factory tls-init (exit status). */
int factory_tls_cmd_init(void);

/*
 * writ-factory tls-renew (exit status; docs/operations.md "Rotation without downtime"):
 * when DIR/client.pem expires within within_days days (or with force), make a new key
 * in the TLS token, send its CSR to writ-cloud over the current mutual-TLS connection
 * (POST /v1/factory/tls/renew, with the factory token of token_file), check that the
 * answer certifies that key, and replace the pair: DIR/client.next.pem, then
 * DIR/client.key (the new key's URL and "cert-sha256" of the new certificate), then
 * client.next.pem renamed to client.pem, each atomic and fsync'd. A running serve takes
 * the new pair at its next request (lib/tls). 0 also when not due.
 */
#define FACTORY_TLS_RENEW_DAYS 30
int factory_tls_cmd_renew(const char *cloud, const char *token_file, long within_days, int force);

#endif
