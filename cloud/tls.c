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

#define CLIENT_CERT_DAYS 397 /* a year and a month: writ-factory tls-renew renews it before */
/*
 * One row per client certificate ever issued. renews: the certificate that
 * authenticated the renewal which issued this one (NULL: enrolment); first_used: the
 * first request it authenticated; superseded: when a certificate it was renewed into was
 * first used (or, never used itself, when its parent renewed again). A certificate is
 * accepted while revoked and superseded are NULL (and TLS finds it in its validity).
 */
#define TLS_SCHEMA                                                                                            \
	"CREATE TABLE IF NOT EXISTS tls_certs (fp TEXT PRIMARY KEY, factory_id BIGINT NOT NULL,"                \
	" cert TEXT NOT NULL, not_after BIGINT NOT NULL, issued BIGINT NOT NULL, revoked BIGINT,"              \
	" renews TEXT, first_used BIGINT, superseded BIGINT)"
/* a store made before renewal existed */
#define TLS_MIGRATE                                                                                           \
	"ALTER TABLE tls_certs ADD COLUMN renews TEXT;"                                                          \
	"ALTER TABLE tls_certs ADD COLUMN first_used BIGINT;"                                                    \
	"ALTER TABLE tls_certs ADD COLUMN superseded BIGINT;"

static int tls_schema(struct db *db)
{
	struct db_res *r = NULL;
	int err;

	if ((err = db_exec_script(db, TLS_SCHEMA)) < 0)
		return err;
	if (db_query(db, "SELECT renews, first_used, superseded FROM tls_certs WHERE 1 = 0", NULL, 0, &r) == 0) {
		db_res_free(r);
		return 0;
	}
	return db_exec_script(db, TLS_MIGRATE);
}

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
	if ((err = tls_schema(db)) < 0)
		fprintf(stderr, "writ-cloud serve: cannot create tls_certs: %s\n", db_errmsg(db));
	return err;
}

int cloud_tls_check(struct call *k)
{
	uint8_t fp[32];
	char fph[65], renews[65] = "";
	struct db_res *r = NULL;
	enum tls_peer p;
	int64_t now = now_s();
	int err, first;

	if (!tls_server_on() || k->who.role != ROLE_FACTORY)
		return 0;
	p = tls_peer_check(k->conn, fp);
	if (p != TLS_PEER_OK) {
		fail(k, 401, "client_cert", "%s: %s (a factory talks to the portal with the client certificate "
					  "it got at enrolment: docs/operations.md \"TLS\")", k->who.user, tls_peer_why(p));
		return WRIT_E_AUTH;
	}
	hex(fp, 32, fph);
	err = db_query(k->db, "SELECT revoked, superseded, first_used, renews FROM tls_certs WHERE fp = ? AND factory_id = ?",
		       (struct db_param[]){ DB_T(fph), DB_I(k->who.factory_id) }, 2, &r);
	if (err < 0) {
		fail_db(k, err, "client certificate");
		return err;
	}
	if (db_rows(r) != 1 || !db_isnull(r, 0, 0) || !db_isnull(r, 0, 1)) {
		fail(k, 401, "client_cert", "%s: the client certificate is %s", k->who.user,
		     db_rows(r) != 1       ? "not bound to this factory"
		     : !db_isnull(r, 0, 0) ? "revoked"
					   : "superseded by its renewal (writ-factory tls-renew): use the new client.pem");
		db_res_free(r);
		return WRIT_E_AUTH;
	}
	first = db_isnull(r, 0, 2);
	if (first && !db_isnull(r, 0, 3))
		(void)!snprintf(renews, sizeof(renews), "%s", db_text(r, 0, 3));
	db_res_free(r);
	memcpy(k->tls_fp, fph, sizeof(fph));
	if (!first)
		return 0;
	/* its first use: a renewal's certificate is in use, the one it renewed retires, and
	 * so do its never-used siblings (renewals whose answer the factory did not keep) */
	err = 0;
	if (renews[0]) /* first, so that a failure leaves first_used NULL and is done again */
		err = db_exec(k->db, "UPDATE tls_certs SET superseded = ? WHERE superseded IS NULL AND factory_id = ? AND"
				     " (fp = ? OR (renews = ? AND fp <> ? AND first_used IS NULL))",
			      (struct db_param[]){ DB_I(now), DB_I(k->who.factory_id), DB_T(renews), DB_T(renews), DB_T(fph) },
			      5, NULL);
	if (err == 0)
		err = db_exec(k->db, "UPDATE tls_certs SET first_used = ? WHERE fp = ? AND first_used IS NULL",
			      (struct db_param[]){ DB_I(now), DB_T(fph) }, 2, NULL);
	if (err < 0) { /* the request is authenticated: the marks are taken at the next one */
		log_warn("factory %s: cannot mark client certificate %.16s… in use: %s", k->who.user, fph,
			 writ_strerror(err));
		return 0;
	}
	if (renews[0])
		log_info("factory %s: renewed client certificate %.16s… in use; %.16s… superseded", k->who.user, fph, renews);
	return 0;
}

/* Refuse (WRIT_E_QUOTA, k answered 409) when fph may not renew once more. */
static int renew_bounds(struct call *k, const char *fph, int64_t now)
{
	struct db_res *r = NULL;
	int64_t children, live;
	int err;

	err = db_query(k->db, "SELECT (SELECT count(*) FROM tls_certs WHERE renews = ?),"
			      " (SELECT count(*) FROM tls_certs WHERE factory_id = ? AND revoked IS NULL AND superseded IS NULL"
			      " AND not_after > ? AND (renews IS NULL OR renews <> ? OR first_used IS NOT NULL))",
		       (struct db_param[]){ DB_T(fph), DB_I(k->who.factory_id), DB_I(now), DB_T(fph) }, 4, &r);
	if (err < 0)
		return fail_db(k, err, "client certificates"), err;
	children = db_int(r, 0, 0);
	live = db_int(r, 0, 1);
	db_res_free(r);
	if (children >= CLOUD_TLS_RENEWALS)
		return fail(k, 409, "too_many_renewals", "this client certificate was renewed %lld times already: use the "
			    "new one (writ-factory tls-renew writes it)", (long long)children), WRIT_E_QUOTA;
	if (live >= CLOUD_TLS_LIVE_MAX)
		return fail(k, 409, "too_many_certs", "the factory holds %lld live client certificates (at most %d): "
			    "revoke the ones not in use (writ-cloud tls-revoke)", (long long)live, CLOUD_TLS_LIVE_MAX),
		       WRIT_E_QUOTA;
	return 0;
}

struct renew_tx {
	const char *fph, *new_fph, *pem;
	int64_t now, not_after;
};

static int renew_store(struct call *k, void *arg)
{
	struct renew_tx *t = arg;
	int err;

	/* the parent's earlier renewals that were never used retire; then the bounds again,
	 * inside the transaction, so that two renewals at once cannot pass them together */
	if ((err = db_exec(k->db, "UPDATE tls_certs SET superseded = ? WHERE renews = ? AND first_used IS NULL AND"
				  " superseded IS NULL", (struct db_param[]){ DB_I(t->now), DB_T(t->fph) }, 2, NULL)) < 0)
		return err;
	if ((err = renew_bounds(k, t->fph, t->now)) < 0)
		return err;
	return db_exec(k->db, "INSERT INTO tls_certs (fp, factory_id, cert, not_after, issued, renews) VALUES (?, ?, ?, ?, ?, ?)",
		       (struct db_param[]){ DB_T(t->new_fph), DB_I(k->who.factory_id), DB_T(t->pem), DB_I(t->not_after),
					    DB_I(t->now), DB_T(t->fph) }, 6, NULL);
}

/* Certify csr (PEM or DER) as the client certificate of a factory ("factory:NAME"),
 * P-256 only, CLIENT_CERT_DAYS from now; the CA key signs in the token under the
 * portal's token lock. is keeps the validity for the answer. tls_cert_issue's errors. */
static int issue_client(struct call *k, const char *csr, const char *factory, int64_t now, struct tls_issue *is,
			char **ret_pem, uint8_t ret_fp[32])
{
	char cn[96];
	int err;

	memset(is, 0, sizeof(*is));
	is->ca_cert_pem = ca.ca_pem;
	is->ca_key_url = ca.ca_url;
	is->csr = (const uint8_t *)csr;
	is->csr_len = strlen(csr);
	(void)!snprintf(cn, sizeof(cn), "factory:%s", factory);
	is->cn = cn;
	is->client = 1;
	is->p256_only = 1;
	is->not_before = now - 300;
	is->not_after = now + CLIENT_CERT_DAYS * 86400LL;
	pthread_mutex_lock(&k->c->p11_lock);
	err = tls_cert_issue(is, ret_pem, ret_fp);
	pthread_mutex_unlock(&k->c->p11_lock);
	is->cn = NULL; /* cn does not outlive this call */
	return err;
}

int renew_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = { { "csr", JV_STR, 1 } };
	static const char begin[] = "-----BEGIN CERTIFICATE REQUEST-----";
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, f, 1, &o) < 0)
		return WRIT_E_FORMAT;
	if (strncmp(jstr(o, "csr"), begin, sizeof(begin) - 1)) {
		json_decref(o);
		return fail(k, 400, "bad_csr", "\"csr\" is a PKCS#10 request in PEM (-----BEGIN CERTIFICATE REQUEST-----)"),
		       WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

int h_factory_tls(struct call *k)
{
	struct tls_issue is;
	struct renew_tx t;
	struct db_res *r = NULL;
	uint8_t fp[32];
	char fph[65], *pem = NULL;
	const char *csr;
	json_t *o = NULL;
	int64_t now = now_s();
	int err;

	if (k->n_segs != 3 || strcmp(k->segs[1], "tls") || strcmp(k->segs[2], "renew"))
		return fail(k, 404, "not_found", "no such endpoint (POST /v1/factory/tls/renew)");
	if (strcmp(k->method, "POST"))
		return fail(k, 405, "method", "POST only");
	if (k->who.role != ROLE_FACTORY)
		return forbid(k, "a factory credential");
	if (!ca.ca_pem || !tls_server_on())
		return fail(k, 409, "no_tls", "this portal serves no TLS (writ-cloud serve --tls DIR): no client certificates");
	if (!k->tls_fp[0])
		return fail(k, 401, "client_cert", "no client certificate on this connection");
	if (renew_req(k, &o) < 0)
		return 0;
	csr = jstr(o, "csr");
	if (renew_bounds(k, k->tls_fp, now) < 0)
		goto out;
	err = db_query(k->db, "SELECT name FROM factories WHERE id = ?", (struct db_param[]){ DB_I(k->who.factory_id) }, 1,
		       &r);
	if (err < 0 || db_rows(r) != 1) {
		fail_db(k, err < 0 ? err : WRIT_E_IO, "factory");
		goto out;
	}
	err = issue_client(k, csr, db_text(r, 0, 0), now, &is, &pem, fp);
	if (err == WRIT_E_TOOBIG) {
		fail(k, 413, "too_big", "the CSR is over 4 KiB");
		goto out;
	}
	if (err == WRIT_E_FORMAT) {
		fail(k, 400, "bad_csr", "the CSR cannot be read (PKCS#10 in PEM)");
		goto out;
	}
	if (err == WRIT_E_BADSIG) {
		fail(k, 422, "bad_csr", "the CSR's signature does not verify (no proof of possession of its key)");
		goto out;
	}
	if (err == WRIT_E_UNSUPPORTED) {
		fail(k, 422, "csr_key", "the CSR's key is not ECDSA P-256 (the only kind writ issues for)");
		goto out;
	}
	if (err < 0) {
		log_error("factory %s: cannot issue a renewed client certificate: %s", k->who.user, writ_strerror(err));
		fail(k, 500, "internal", "cannot issue the certificate");
		goto out;
	}
	hex(fp, 32, fph);
	t.fph = k->tls_fp;
	t.new_fph = fph;
	t.pem = pem;
	t.now = now;
	t.not_after = is.not_after;
	if ((err = in_tx(k, renew_store, &t)) < 0) {
		if (err != WRIT_E_QUOTA)
			fail_db(k, err, "client certificate");
		goto out;
	}
	log_info("factory %s: client certificate %.16s… issued, renewing %.16s…", k->who.user, fph, k->tls_fp);
	answer(k, 201, json_pack("{s:s, s:s, s:s, s:s, s:I}", "cert", pem, "ca", ca.ca_pem, "fingerprint", fph, "renews",
				 k->tls_fp, "not_after", (json_int_t)is.not_after));
out:
	db_res_free(r);
	json_decref(o);
	free(pem);
	return 0;
}

void cloud_tls_enrol(struct call *k, int64_t factory_id, const char *factory, json_t *req, json_t *a)
{
	const char *csr = jstr(req, "tls_csr");
	struct tls_issue is;
	uint8_t fp[32];
	char fph[65], *pem = NULL;
	int64_t now = now_s();
	int err;

	if (!csr || !a)
		return;
	if (!ca.ca_pem) {
		json_object_set_new(a, "tls_error", json_string("this portal serves no TLS (writ-cloud serve --tls DIR)"));
		return;
	}
	err = issue_client(k, csr, factory, now, &is, &pem, fp);
	if (err < 0) {
		json_object_set_new(a, "tls_error", json_sprintf("cannot issue the client certificate: %s",
								 err == WRIT_E_BADSIG ? "the CSR's signature fails"
								 : err == WRIT_E_FORMAT ? "the CSR is not PEM or DER"
								 : err == WRIT_E_UNSUPPORTED ? "the CSR's key is not P-256"
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
	if ((err = db_open(db_url, &db)) < 0 || (err = tls_schema(db)) < 0) {
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
