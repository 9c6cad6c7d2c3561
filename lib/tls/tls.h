/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for writ's network hops (docs/operations.md "TLS"). Private keys stay in a
 * PKCS#11 token: the server side (libmicrohttpd on GnuTLS) imports its key by a
 * `pkcs11:` URL; the client side (libcurl on OpenSSL) uses OpenSSL's pkcs11 engine
 * (Debian's libengine-pkcs11-openssl) with the same kind of URL. Neither ever holds a
 * private key as a value. A PEM key file (mode 0600) is accepted as the documented
 * fallback for a deployment without a token.
 *
 * A TLS directory holds, by name:
 *   server.pem  the server's certificate chain (PEM), leaf first
 *   server.key  one line: the key's pkcs11: URL (or, fallback, a PEM private key)
 *   ca.pem      writ-cloud: the portal's TLS CA (issues factory client certificates)
 *   ca.key      writ-cloud: the CA key's pkcs11: URL
 *   client.pem, client.key   writ-factory: its client certificate and key URL
 *   cloud-ca.pem             writ-factory: the CA that issued writ-cloud's certificate
 * Only TLS 1.2 and 1.3 are offered or accepted (TLS_PRIORITIES, CURL_SSLVERSION_TLSv1_2).
 *
 * The server re-reads server.pem and server.key whenever either file changes (checked at
 * every handshake), so a certificate rotates without a restart and without dropping a
 * connection: write both files (each atomically, by rename); until the pair matches,
 * the previous pair stays in use.
 *
 * Process-wide state: one server configuration and one client configuration per
 * process (libmicrohttpd's certificate callback carries no user pointer). Set them up
 * once from main() before any thread starts.
 */
#ifndef WRIT_TLS_TLS_H
#define WRIT_TLS_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"
#define TLS_NAME_MAX 64 /* token and key labels: 1..63 of A-Z a-z 0-9 . _ - */

/* ---- the token (both sides) ---- */

/* Make the token usable by GnuTLS (and, for tls_client_setup, by the pkcs11 engine):
 * module (NULL = the build's SoftHSM) and the user PIN, copied into locked memory for
 * the life of the process (a token may ask again on a new session) and wiped by
 * tls_cleanup. pin may be NULL when no key of ours is in a token. */
WRIT_MUST_CHECK int tls_p11_setup(const char *module, const char *pin);
/* Release everything (server pairs, engine, PIN). At exit, after the servers stopped. */
void tls_cleanup(void);

/* Load the user PIN of token_label from pin_file, else $pin_env, into ret_pin (the
 * caller wipes it) and check it by opening the token; with create set, a missing token
 * is initialised first with the SO PIN from so_pin_file, else $so_pin_env. Errors are
 * said on stderr, prefixed with who. */
WRIT_MUST_CHECK int tls_token_pin(const char *who, const char *module, const char *token_label, const char *pin_file,
				  const char *pin_env, const char *so_pin_file, const char *so_pin_env, int create,
				  char ret_pin[128]);

/* The pkcs11: URL of the private key labelled key_label in the token token_label, into
 * out (cap bytes). WRIT_E_INVAL for a label outside 1..63 of A-Z a-z 0-9 . _ -. */
WRIT_MUST_CHECK int tls_key_url(const char *token_label, const char *key_label, char *out, size_t cap);

/* Generate a P-256 key pair labelled key_label in the token (non-extractable, sensitive:
 * lib/p11), and a PKCS#10 CSR for it with subject CN cn, signed in the token. The token
 * is opened with (module, token_label, pin) and closed again. *ret_csr is malloc'd DER.
 * With cn NULL, only the key pair is made (ret_csr and ret_len are not touched).
 * WRIT_E_EXISTS when the label is taken. */
WRIT_MUST_CHECK int tls_keygen_csr(const char *module, const char *token_label, const char *pin,
				   const char *key_label, const char *cn, uint8_t **ret_csr, size_t *ret_len);

/* Make or renew a TLS directory for a server whose keys are in the token token_label
 * (opened with module and pin; tls_p11_setup must have been called with the same):
 * the CA key "writ-tls-ca" and dir/ca.pem + ca.key when missing (self-signed, 10 years,
 * CN ca_cn), then always a new server key "writ-tls-server-<time>" and dir/server.pem +
 * server.key issued by that CA for hosts (comma-separated names / IPv4 addresses),
 * valid days days. Each file is replaced atomically; a running server switches to the
 * new pair at its next handshake. Errors are said on stderr. */
WRIT_MUST_CHECK int tls_dir_init(const char *dir, const char *module, const char *token_label, const char *pin,
				 const char *ca_cn, const char *hosts, unsigned days);

/* ---- certificates, signed inside the token (GnuTLS) ---- */

/* A DER CSR as PEM text ("CERTIFICATE REQUEST"); *ret_pem is malloc'd. */
WRIT_MUST_CHECK int tls_csr_pem(const uint8_t *der, size_t len, char **ret_pem);

struct tls_issue {
	const char *ca_cert_pem; /* the issuer's certificate (PEM); NULL: self-signed */
	const char *ca_key_url;  /* the issuer's key (for self-signed: the subject's key) */
	const uint8_t *csr;      /* the subject's CSR (DER or PEM; its signature is checked), or */
	size_t csr_len;
	const char *subject_key_url; /* the subject's key in the token (when csr is NULL) */
	const char *cn;          /* subject CN, required */
	const char *hosts;       /* server: comma-separated DNS names / IPv4 addresses (SAN) */
	int is_ca;               /* a CA certificate (keyCertSign, cRLSign) */
	int client;              /* extendedKeyUsage clientAuth (else serverAuth for a leaf) */
	int p256_only;           /* refuse a CSR whose key is not ECDSA P-256 (WRIT_E_UNSUPPORTED) */
	int64_t not_before, not_after; /* Unix seconds */
};

/* Issue a certificate; *ret_pem is malloc'd PEM, *ret_fp (may be NULL) the SHA-256 of
 * its DER. WRIT_E_BADSIG for a CSR whose signature fails, WRIT_E_FORMAT for an
 * unreadable CSR or CA certificate, WRIT_E_TOKEN for a key the token does not give,
 * WRIT_E_UNSUPPORTED for a CSR key other than P-256 when p256_only is set, WRIT_E_TOOBIG
 * for a CSR over 4 KiB. */
WRIT_MUST_CHECK int tls_cert_issue(const struct tls_issue *p, char **ret_pem, uint8_t ret_fp[32]);

/* The SHA-256 of the DER of the first certificate in a PEM text. */
WRIT_MUST_CHECK int tls_pem_fingerprint(const char *pem, uint8_t ret_fp[32]);

/* The first certificate of a PEM text: its notAfter (Unix seconds) into *ret_not_after,
 * and, when csr (DER or PEM, csr_len bytes) is not NULL, whether it certifies the same
 * public key as the CSR (WRIT_E_PROFILE when not). WRIT_E_FORMAT for unreadable input. */
WRIT_MUST_CHECK int tls_cert_info(const char *pem, const uint8_t *csr, size_t csr_len, int64_t *ret_not_after);

/* ---- server (libmicrohttpd on GnuTLS) ---- */

/* Load dir/server.pem and dir/server.key (and, when client_ca is not NULL, trust that
 * PEM file for client certificates: the server then asks every client for one, and
 * tls_peer_check tells the handler what it got). Becomes the process's server
 * configuration. Errors are said on stderr. */
WRIT_MUST_CHECK int tls_server_setup(const char *dir, const char *client_ca);
/* 1 when tls_server_setup succeeded in this process. */
int tls_server_on(void);
/* libmicrohttpd flags and options for the process's server configuration: MHD_USE_TLS
 * (0 without one) and an MHD_OPTION_ARRAY list (only MHD_OPTION_END without one). The
 * list is static; pass it as MHD_OPTION_ARRAY, tls_server_mhd_options(). */
unsigned tls_server_mhd_flags(void);
const void *tls_server_mhd_options(void);

/* What the client of an MHD connection presented. */
enum tls_peer {
	TLS_PEER_OK = 0,        /* a certificate that chains to the trusted CA and is in its validity */
	TLS_PEER_PLAIN = 1,     /* not a TLS connection */
	TLS_PEER_NONE = 2,      /* no certificate */
	TLS_PEER_UNTRUSTED = 3, /* not issued by the trusted CA (or its signature fails) */
	TLS_PEER_EXPIRED = 4,   /* expired, or not valid yet */
	TLS_PEER_BAD = 5,       /* any other verification failure */
};
/* Verify the peer of conn (a struct MHD_Connection *) against the client CA; on
 * TLS_PEER_OK, ret_fp is the SHA-256 of its certificate's DER. */
enum tls_peer tls_peer_check(void *conn, uint8_t ret_fp[32]);
const char *tls_peer_why(enum tls_peer p);

/* ---- client (libcurl on OpenSSL) ---- */

struct tls_client_conf {
	const char *ca_file;   /* trust these CAs / this pinned certificate; NULL: the system's */
	const char *cert_file; /* client certificate chain (PEM) or NULL */
	const char *key_file;  /* the file holding its key's pkcs11: URL (or a PEM key, 0600) */
};
/*
 * The client pair is re-read whenever cert_file or key_file changes (checked, by stat,
 * before each request: tls_client_check), so a renewed certificate is used without a
 * restart. Two files cannot be replaced in one step, so a pkcs11: key file may carry a
 * second line "cert-sha256 HEX" naming the certificate that goes with the key; a pair
 * whose certificate does not match is not taken, except that a certificate file
 * "<cert_file minus .pem>.next.pem" that does match is (the state a renewal leaves
 * between its renames: writ-factory tls-renew writes X.next.pem, then the key file,
 * then renames X.next.pem to cert_file). Until a matching pair appears, the previous
 * one stays in use (at set-up: WRIT_E_STATE).
 */
#define TLS_CERT_SHA256_TAG "cert-sha256 "
/* Become the process's client configuration (paths are copied). With a pkcs11: key,
 * loads OpenSSL's pkcs11 engine for the module and PIN given to tls_p11_setup. */
WRIT_MUST_CHECK int tls_client_setup(const struct tls_client_conf *conf);
/* The certificate (PEM, malloc'd) that goes with key_file by the rule above: cert_file,
 * or its .next.pem. Reads files only (no token). WRIT_E_STATE when none goes with it. */
WRIT_MUST_CHECK int tls_client_pair_pem(const char *cert_file, const char *key_file, char **ret_pem);
/* Re-read the client pair if its files changed; the pair's generation, which changes
 * each time another pair is taken (a connection made before it must not be reused). */
unsigned tls_client_check(void);
/* Apply it to a curl easy handle (a CURL *): TLS 1.2 at least, the CA, the client
 * certificate (as an in-memory copy of the current pair's) and key. Without a
 * configuration: only the TLS 1.2 floor. Thread-safe. */
WRIT_MUST_CHECK int tls_client_apply(void *curl);

/* ---- plain HTTP ---- */

/* 1 when host (IPv4 dotted quad) is a loopback address, 127.0.0.0/8. */
int tls_host_is_loopback(const char *host);

#endif
