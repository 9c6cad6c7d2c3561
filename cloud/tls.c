/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-cloud's TLS: the portal CA (its key in the portal's token, used by URL through
 * lib/tls), factory client certificates issued at enrolment and bound to the factory,
 * the per-request check of that binding, and the tls-init / tls-revoke commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "cloud/tls.h"
#include "host/file.h"
#include "host/log.h"
#include "tls/tls.h"

#define CLIENT_CERT_DAYS 397 /* a year and a month: renew by enrolling a new code */
#define TLS_SCHEMA                                                                                            \
	"CREATE TABLE IF NOT EXISTS tls_certs (fp TEXT PRIMARY KEY, factory_id BIGINT NOT NULL,"                \
	" cert TEXT NOT NULL, not_after BIGINT NOT NULL, issued BIGINT NOT NULL, revoked BIGINT)"

static struct {
	char *ca_pem;
	char ca_url[256];
} ca;

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int read_text(const char *dir, const char *name, char **ret)
{
	char path[4096];
	uint8_t *b = NULL;
	size_t n = 0;
	int err;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return WRIT_E_TOOBIG;
	if ((err = file_read(path, 64 * 1024, &b, &n)) < 0) {
		fprintf(stderr, "writ-cloud serve: cannot read %s (make it with writ-cloud tls-init)\n", path);
		return err;
	}
	*ret = realloc(b, n + 1);
	if (!*ret) {
		free(b);
		return WRIT_E_NOMEM;
	}
	(*ret)[n] = 0;
	return 0;
}

int cloud_tls_serve_setup(struct db *db, const char *dir)
{
	char path[4096], *url = NULL;
	int err;

	if ((err = read_text(dir, "ca.pem", &ca.ca_pem)) < 0 || (err = read_text(dir, "ca.key", &url)) < 0)
		return err;
	url[strcspn(url, "\r\n")] = 0;
	if ((size_t)snprintf(ca.ca_url, sizeof(ca.ca_url), "%s", url) >= sizeof(ca.ca_url)) {
		free(url);
		return WRIT_E_TOOBIG;
	}
	free(url);
	if ((size_t)snprintf(path, sizeof(path), "%s/ca.pem", dir) >= sizeof(path))
		return WRIT_E_TOOBIG;
	if ((err = tls_server_setup(dir, path)) < 0)
		return err;
	if ((err = db_exec_script(db, TLS_SCHEMA)) < 0)
		fprintf(stderr, "writ-cloud serve: cannot create tls_certs: %s\n", db_errmsg(db));
	return err;
}

int cloud_tls_check(struct call *k)
{
	uint8_t fp[32];
	char fph[65];
	struct db_res *r = NULL;
	enum tls_peer p;
	int err;

	if (!tls_server_on() || k->who.role != ROLE_FACTORY)
		return 0;
	p = tls_peer_check(k->conn, fp);
	if (p != TLS_PEER_OK) {
		fail(k, 401, "client_cert", "%s: %s (a factory talks to the portal with the client certificate "
					  "it got at enrolment: docs/operations.md \"TLS\")", k->who.user, tls_peer_why(p));
		return WRIT_E_AUTH;
	}
	hex(fp, 32, fph);
	err = db_query(k->db, "SELECT revoked FROM tls_certs WHERE fp = ? AND factory_id = ?",
		       (struct db_param[]){ DB_T(fph), DB_I(k->who.factory_id) }, 2, &r);
	if (err < 0) {
		fail_db(k, err, "client certificate");
		return err;
	}
	if (db_rows(r) != 1 || !db_isnull(r, 0, 0)) {
		fail(k, 401, "client_cert", "%s: the client certificate is %s", k->who.user,
		     db_rows(r) != 1 ? "not bound to this factory" : "revoked");
		db_res_free(r);
		return WRIT_E_AUTH;
	}
	db_res_free(r);
	return 0;
}

void cloud_tls_enrol(struct call *k, int64_t factory_id, const char *factory, json_t *req, json_t *a)
{
	const char *csr = jstr(req, "tls_csr");
	struct tls_issue is;
	uint8_t fp[32];
	char fph[65], cn[96], *pem = NULL;
	int64_t now = now_s();
	int err;

	if (!csr || !a)
		return;
	if (!ca.ca_pem) {
		json_object_set_new(a, "tls_error", json_string("this portal serves no TLS (writ-cloud serve --tls DIR)"));
		return;
	}
	memset(&is, 0, sizeof(is));
	is.ca_cert_pem = ca.ca_pem;
	is.ca_key_url = ca.ca_url;
	is.csr = (const uint8_t *)csr;
	is.csr_len = strlen(csr);
	(void)!snprintf(cn, sizeof(cn), "factory:%s", factory);
	is.cn = cn;
	is.client = 1;
	is.not_before = now - 300;
	is.not_after = now + CLIENT_CERT_DAYS * 86400LL;
	pthread_mutex_lock(&k->c->p11_lock);
	err = tls_cert_issue(&is, &pem, fp);
	pthread_mutex_unlock(&k->c->p11_lock);
	if (err < 0) {
		json_object_set_new(a, "tls_error", json_sprintf("cannot issue the client certificate: %s",
								 err == WRIT_E_BADSIG ? "the CSR's signature fails"
								 : err == WRIT_E_FORMAT ? "the CSR is not PEM or DER"
								 : writ_strerror(err)));
		return;
	}
	hex(fp, 32, fph);
	err = db_exec(k->db, "INSERT INTO tls_certs (fp, factory_id, cert, not_after, issued) VALUES (?, ?, ?, ?, ?)",
		      (struct db_param[]){ DB_T(fph), DB_I(factory_id), DB_T(pem), DB_I(is.not_after), DB_I(now) }, 5, NULL);
	if (err < 0) {
		json_object_set_new(a, "tls_error", json_string("cannot bind the client certificate (store)"));
	} else {
		json_object_set_new(a, "tls_cert", json_string(pem));
		json_object_set_new(a, "tls_ca", json_string(ca.ca_pem));
		log_info("factory %s: client certificate %.16s… issued", factory, fph);
	}
	free(pem);
}

int cloud_tls_cmd_init(const char *dir, const char *module, const char *token, const char *pin, const char *hosts,
		       unsigned days)
{
	int err;

	if (!dir || !hosts) {
		fprintf(stderr, "writ-cloud tls-init: --tls DIR and --host NAME[,NAME|IP...] are required\n");
		return 2;
	}
	if ((err = tls_p11_setup(module, pin)) < 0)
		return 1;
	err = tls_dir_init(dir, module, token, pin, "writ portal TLS CA", hosts, days ? days : 90);
	tls_cleanup();
	if (err < 0)
		return 1;
	printf("%s/server.pem issued for %s by %s/ca.pem (keys in token \"%s\")\n", dir, hosts, dir, token);
	return 0;
}

int cloud_tls_cmd_revoke(const char *db_url, const char *factory)
{
	struct db *db = NULL;
	int64_t n = 0;
	int err;

	if (!db_url || !factory) {
		fprintf(stderr, "writ-cloud tls-revoke: --db URL and --name FACTORY are required\n");
		return 2;
	}
	if ((err = db_open(db_url, &db)) < 0 || (err = db_exec_script(db, TLS_SCHEMA)) < 0) {
		fprintf(stderr, "writ-cloud tls-revoke: cannot open the store: %s\n", writ_strerror(err));
		db_close(db);
		return 1;
	}
	err = db_exec(db, "UPDATE tls_certs SET revoked = ? WHERE revoked IS NULL AND factory_id ="
			  " (SELECT id FROM factories WHERE name = ?)",
		      (struct db_param[]){ DB_I(now_s()), DB_T(factory) }, 2, &n);
	db_close(db);
	if (err < 0) {
		fprintf(stderr, "writ-cloud tls-revoke: failed: %s\n", writ_strerror(err));
		return 1;
	}
	printf("%lld client certificate(s) of factory %s revoked\n", (long long)n, factory);
	return 0;
}
