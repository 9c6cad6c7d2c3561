/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A TLS directory made and renewed from the token: a CA whose key never leaves the token
 * (writ-cloud's portal CA, or writ-factory's own CA that stations pin) and a server
 * certificate issued by it for a key generated in the same token. Renewing generates a
 * new server key each time, so a rotation also rotates the key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "host/file.h"
#include "tls/tls_int.h"

#define CA_LABEL "writ-tls-ca"

static int path_in(char *out, size_t cap, const char *dir, const char *name)
{
	return (size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap ? WRIT_E_TOOBIG : 0;
}

static int write_text(const char *dir, const char *name, const char *text, unsigned mode)
{
	char path[PATH_MAX];
	int err;

	if ((err = path_in(path, sizeof(path), dir, name)) < 0)
		return err;
	if ((err = file_write_atomic(path, text, strlen(text), mode)) < 0)
		fprintf(stderr, "tls: cannot write %s: %s\n", path, writ_strerror(err));
	return err;
}

int tls_dir_init(const char *dir, const char *module, const char *token_label, const char *pin, const char *ca_cn,
		 const char *hosts, unsigned days)
{
	char path[PATH_MAX], ca_url[256], srv_label[TLS_NAME_MAX], srv_url[256], line[300];
	char *ca_pem = NULL, *pem = NULL;
	int64_t now = (int64_t)time(NULL);
	struct tls_issue is;
	int err;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "tls: cannot make %s: %s\n", dir, strerror(errno));
		return WRIT_E_IO;
	}
	if ((err = tls_key_url(token_label, CA_LABEL, ca_url, sizeof(ca_url))) < 0 ||
	    (err = path_in(path, sizeof(path), dir, "ca.pem")) < 0)
		return err;
	err = tls_read_file(path, 64 * 1024, 0, &ca_pem, NULL);
	if (err == WRIT_E_NOTFOUND) {
		err = tls_keygen_csr(module, token_label, pin, CA_LABEL, NULL, NULL, NULL);
		if (err < 0 && err != WRIT_E_EXISTS) {
			fprintf(stderr, "tls: cannot make the CA key in token \"%s\": %s\n", token_label, writ_strerror(err));
			return err;
		}
		memset(&is, 0, sizeof(is));
		is.ca_key_url = ca_url;
		is.subject_key_url = ca_url;
		is.cn = ca_cn;
		is.is_ca = 1;
		is.not_before = now - 300;
		is.not_after = now + 10LL * 366 * 86400;
		if ((err = tls_cert_issue(&is, &ca_pem, NULL)) < 0) {
			fprintf(stderr, "tls: cannot sign the CA certificate in the token: %s\n", writ_strerror(err));
			return err;
		}
		if ((size_t)snprintf(line, sizeof(line), "%s\n", ca_url) >= sizeof(line))
			err = WRIT_E_TOOBIG;
		else if ((err = write_text(dir, "ca.key", line, 0600)) == 0)
			err = write_text(dir, "ca.pem", ca_pem, 0644);
	}
	if (err < 0)
		goto out;
	/* a new server key every time: renewing is rotating */
	if ((size_t)snprintf(srv_label, sizeof(srv_label), "writ-tls-server-%lld", (long long)now) >= sizeof(srv_label) ||
	    (err = tls_key_url(token_label, srv_label, srv_url, sizeof(srv_url))) < 0)
		goto out;
	err = tls_keygen_csr(module, token_label, pin, srv_label, NULL, NULL, NULL);
	if (err == WRIT_E_EXISTS) {
		fprintf(stderr, "tls: a server key was made this very second; run it again\n");
		goto out;
	} else if (err < 0) {
		fprintf(stderr, "tls: cannot make the server key in token \"%s\": %s\n", token_label, writ_strerror(err));
		goto out;
	}
	memset(&is, 0, sizeof(is));
	is.ca_cert_pem = ca_pem;
	is.ca_key_url = ca_url;
	is.subject_key_url = srv_url;
	is.cn = hosts;
	is.hosts = hosts;
	is.not_before = now - 300;
	is.not_after = now + (int64_t)days * 86400;
	if ((err = tls_cert_issue(&is, &pem, NULL)) < 0) {
		fprintf(stderr, "tls: cannot issue the server certificate: %s\n", writ_strerror(err));
		goto out;
	}
	if ((size_t)snprintf(line, sizeof(line), "%s\n", srv_url) >= sizeof(line)) {
		err = WRIT_E_TOOBIG;
		goto out;
	}
	/* certificate first: a server that sees it before the key keeps its old pair until
	 * the key file matches (tls_server.c) */
	if ((err = write_text(dir, "server.pem", pem, 0644)) == 0)
		err = write_text(dir, "server.key", line, 0600);
out:
	free(ca_pem);
	free(pem);
	return err;
}
