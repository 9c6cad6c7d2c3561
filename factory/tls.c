/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's TLS: serving stations over TLS with a key in the factory's own token,
 * talking to writ-cloud with the client certificate of its enrolment (the key never
 * leaves the token: lib/tls), and the enrolment steps that make that certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "factory/tls.h"
#include "host/file.h"
#include "tls/tls.h"
#include "web/httpc.h"

#define DEFAULT_TLS_TOKEN "writ-factory-tls"

static struct factory_tls opt;
static char key_label[TLS_NAME_MAX];

void factory_tls_options(const struct factory_tls *t)
{
	opt = *t;
	if (!opt.token)
		opt.token = DEFAULT_TLS_TOKEN;
}

static int in_dir(char *out, size_t cap, const char *name)
{
	return (size_t)snprintf(out, cap, "%s/%s", opt.dir, name) >= cap ? -1 : 0;
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Open the token for lib/tls. */
static int token_setup(const char *who, int create)
{
	char pin[128];
	int err;

	err = tls_token_pin(who, opt.module, opt.token, opt.pin_file, "WRIT_FACTORY_TLS_PIN", opt.so_pin_file,
			    "WRIT_FACTORY_TLS_SO_PIN", create, pin);
	if (err == 0)
		err = tls_p11_setup(opt.module, pin);
	writ_memzero(pin, sizeof(pin));
	return err;
}

static int client_setup(const char *who, int with_cert)
{
	char ca[4096], cert[4096], key[4096];
	struct tls_client_conf cc = { NULL, NULL, NULL };

	if (in_dir(ca, sizeof(ca), "cloud-ca.pem") < 0 || in_dir(cert, sizeof(cert), "client.pem") < 0 ||
	    in_dir(key, sizeof(key), "client.key") < 0)
		return -1;
	if (exists(ca))
		cc.ca_file = ca;
	if (with_cert && exists(cert) && exists(key)) {
		cc.cert_file = cert;
		cc.key_file = key;
	}
	if (tls_client_setup(&cc) < 0) {
		fprintf(stderr, "%s: the TLS client set-up failed (%s)\n", who, opt.dir);
		return -1;
	}
	return 0;
}

int factory_tls_serve(const char *host, int insecure_http)
{
	if (!opt.dir) {
		if (insecure_http && tls_host_is_loopback(host))
			return 0;
		fprintf(stderr, "writ-factory serve: give --tls DIR (docs/operations.md \"TLS\"); plain HTTP only with "
				"--insecure-http on a loopback address (127.0.0.0/8), for development\n");
		return 2;
	}
	if (token_setup("writ-factory serve", 0) < 0 || tls_server_setup(opt.dir, NULL) < 0 ||
	    client_setup("writ-factory serve", 1) < 0)
		return 1;
	return 0;
}

int factory_tls_client(void)
{
	static int token_ready; /* the token is opened once; the updater comes back here */
	char key[4096];

	if (!opt.dir)
		return 0;
	if (in_dir(key, sizeof(key), "client.key") < 0)
		return -1;
	if (exists(key) && !token_ready) {
		if (token_setup("writ-factory", 0) < 0)
			return -1;
		token_ready = 1;
	}
	return client_setup("writ-factory", 1);
}

int factory_tls_self(void)
{
	char ca[4096];
	struct tls_client_conf cc = { NULL, NULL, NULL };

	if (!opt.dir)
		return 0;
	if (in_dir(ca, sizeof(ca), "ca.pem") < 0 || !exists(ca)) {
		fprintf(stderr, "writ-factory: %s/ca.pem (the factory's CA) is missing: run writ-factory enrol or "
				"writ-factory tls-init\n", opt.dir);
		return -1;
	}
	cc.ca_file = ca;
	if (tls_client_setup(&cc) < 0) {
		fprintf(stderr, "writ-factory: the TLS client set-up for %s/ca.pem failed\n", opt.dir);
		return -1;
	}
	return 0;
}

int factory_tls_enrol_begin(json_t *req)
{
	char url[256], pin[128], *pem = NULL;
	uint8_t *csr = NULL;
	size_t len = 0;
	int err;

	if (!opt.dir)
		return 0;
	if (mkdir(opt.dir, 0700) < 0 && access(opt.dir, W_OK) < 0) {
		fprintf(stderr, "writ-factory enrol: cannot use --tls %s\n", opt.dir);
		return -1;
	}
	if (tls_token_pin("writ-factory enrol", opt.module, opt.token, opt.pin_file, "WRIT_FACTORY_TLS_PIN",
			  opt.so_pin_file, "WRIT_FACTORY_TLS_SO_PIN", 1, pin) < 0)
		return -1;
	(void)!snprintf(key_label, sizeof(key_label), "writ-tls-client-%lld", (long long)time(NULL));
	err = tls_keygen_csr(opt.module, opt.token, pin, key_label, "writ-factory", &csr, &len);
	if (err == 0)
		err = tls_p11_setup(opt.module, pin);
	writ_memzero(pin, sizeof(pin));
	if (err < 0 || tls_key_url(opt.token, key_label, url, sizeof(url)) < 0) {
		fprintf(stderr, "writ-factory enrol: cannot make the TLS client key in token \"%s\": %s\n", opt.token,
			writ_strerror(err));
		free(csr);
		return -1;
	}
	if (client_setup("writ-factory enrol", 0) < 0) {
		free(csr);
		return -1;
	}
	err = tls_csr_pem(csr, len, &pem);
	free(csr);
	if (err < 0 || json_object_set_new(req, "tls_csr", json_string(pem)) < 0) {
		free(pem);
		return -1;
	}
	free(pem);
	return 0;
}

int factory_tls_enrol_end(json_t *answer)
{
	const char *cert = json_string_value(json_object_get(answer, "tls_cert"));
	const char *err_msg = json_string_value(json_object_get(answer, "tls_error"));
	char path[4096], url[300];
	int err;

	if (!opt.dir)
		return 0;
	if (!cert) {
		fprintf(stderr, "writ-factory enrol: no TLS client certificate came back: %s\n",
			err_msg ? err_msg : "the portal serves no TLS");
		return -1;
	}
	if (tls_key_url(opt.token, key_label, url, sizeof(url) - 1) < 0 || in_dir(path, sizeof(path), "client.pem") < 0)
		return -1;
	if ((err = file_write_atomic(path, cert, strlen(cert), 0644)) < 0 ||
	    in_dir(path, sizeof(path), "client.key") < 0) {
		fprintf(stderr, "writ-factory enrol: cannot write %s: %s\n", path, writ_strerror(err));
		return -1;
	}
	url[strlen(url) + 1] = 0;
	url[strlen(url)] = '\n';
	if ((err = file_write_atomic(path, url, strlen(url), 0600)) < 0) {
		fprintf(stderr, "writ-factory enrol: cannot write %s: %s\n", path, writ_strerror(err));
		return -1;
	}
	fprintf(stderr, "the factory's TLS client certificate is in %s/client.pem (key in token \"%s\")\n", opt.dir,
		opt.token);
	return 0;
}

int factory_tls_cmd_init(void)
{
	char pin[128];
	int err;

	if (!opt.dir || !opt.hosts) {
		fprintf(stderr, "writ-factory tls-init: --tls DIR and --host NAME[,NAME|IP...] are required\n");
		return 2;
	}
	if ((err = tls_token_pin("writ-factory tls-init", opt.module, opt.token, opt.pin_file, "WRIT_FACTORY_TLS_PIN",
				 opt.so_pin_file, "WRIT_FACTORY_TLS_SO_PIN", 1, pin)) < 0)
		return 1;
	if ((err = tls_p11_setup(opt.module, pin)) == 0)
		err = tls_dir_init(opt.dir, opt.module, opt.token, pin, "writ factory TLS CA", opt.hosts,
				   opt.days ? opt.days : 90);
	writ_memzero(pin, sizeof(pin));
	tls_cleanup();
	if (err < 0)
		return 1;
	printf("%s/server.pem issued for %s by %s/ca.pem: stations pin %s/ca.pem (writ-station --factory-ca)\n",
	       opt.dir, opt.hosts, opt.dir, opt.dir);
	return 0;
}

static void utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm))
		(void)!snprintf(out, 32, "@%lld", (long long)t);
}

/* A new key labelled "writ-tls-client-<time>[-n]" and its CSR (DER); the label in label. */
static int renew_key(const char *pin, char label[TLS_NAME_MAX], uint8_t **ret_csr, size_t *ret_len)
{
	long long now = (long long)time(NULL);
	int i, err = WRIT_E_EXISTS;

	for (i = 0; i < 8 && err == WRIT_E_EXISTS; i++) {
		if (i == 0)
			(void)!snprintf(label, TLS_NAME_MAX, "writ-tls-client-%lld", now);
		else
			(void)!snprintf(label, TLS_NAME_MAX, "writ-tls-client-%lld-%d", now, i);
		err = tls_keygen_csr(opt.module, opt.token, pin, label, "writ-factory", ret_csr, ret_len);
	}
	return err;
}

int factory_tls_cmd_renew(const char *cloud, const char *token_file, long within_days, int force)
{
	static const char who[] = "writ-factory tls-renew";
	char cert_path[4096], next_path[4096], key_path[4096], token[HTTPC_TOKEN_MAX], pin[128], label[TLS_NAME_MAX];
	char url[300], line[400], fph[65], when[32], *pem = NULL, *csr_pem = NULL;
	uint8_t *csr = NULL, fp[32];
	size_t csr_len = 0;
	const char *cert;
	struct httpc *h = NULL;
	const struct httpc_opts hopts = { .max_answer = 64 * 1024 }; /* two certificates in PEM */
	json_t *req = NULL, *a = NULL;
	int64_t now = (int64_t)time(NULL), not_after = 0, new_after = 0;
	int err, rc = 1, i;

	if (!opt.dir || !cloud || !token_file) {
		fprintf(stderr, "%s: --tls DIR, --cloud URL and --cloud-token-file FILE are required\n", who);
		return 2;
	}
	if (within_days < 0)
		within_days = FACTORY_TLS_RENEW_DAYS;
	if (in_dir(cert_path, sizeof(cert_path), "client.pem") < 0 || in_dir(next_path, sizeof(next_path), "client.next.pem") < 0 ||
	    in_dir(key_path, sizeof(key_path), "client.key") < 0)
		return 2;
	/* the certificate in use: the one client.key goes with (lib/tls's rule) */
	if ((err = tls_client_pair_pem(cert_path, key_path, &pem)) < 0) {
		fprintf(stderr, "%s: no usable client certificate in %s: %s\n", who, opt.dir,
			err == WRIT_E_STATE ? "client.pem does not go with client.key: restore the pair, or enrol again"
			: err == WRIT_E_NOTFOUND ? "writ-factory enrol --tls DIR makes the first"
						 : writ_strerror(err));
		return 1;
	}
	err = tls_cert_info(pem, NULL, 0, &not_after);
	free(pem);
	pem = NULL;
	if (err < 0) {
		fprintf(stderr, "%s: %s/client.pem is not a certificate: %s\n", who, opt.dir, writ_strerror(err));
		return 1;
	}
	utc(not_after, when);
	printf("the current client certificate expires %s (%s %lld days)\n", when, not_after < now ? "since" : "in",
	       (long long)((not_after < now ? now - not_after : not_after - now) / 86400));
	if (!force && not_after - now > (int64_t)within_days * 86400) {
		printf("not due: renewed within %ld days of its expiry (--if-expiring-within, --force)\n", within_days);
		return 0;
	}
	if ((err = httpc_token_load(token_file, NULL, token)) < 0) {
		fprintf(stderr, "%s: cannot read the factory token from %s: %s\n", who, token_file,
			err == WRIT_E_AUTH ? "the file may be read by others: chmod 600 it" : writ_strerror(err));
		return 2;
	}
	if (tls_token_pin(who, opt.module, opt.token, opt.pin_file, "WRIT_FACTORY_TLS_PIN", opt.so_pin_file,
			  "WRIT_FACTORY_TLS_SO_PIN", 0, pin) < 0)
		goto out;
	err = tls_p11_setup(opt.module, pin);
	if (err == 0)
		err = renew_key(pin, label, &csr, &csr_len);
	writ_memzero(pin, sizeof(pin));
	if (err < 0 || tls_key_url(opt.token, label, url, sizeof(url)) < 0) {
		fprintf(stderr, "%s: cannot make the new TLS client key in token \"%s\": %s\n", who, opt.token,
			writ_strerror(err));
		goto out;
	}
	/* the current pair authenticates the renewal */
	if (client_setup(who, 1) < 0)
		goto out;
	if (httpc_global_init() < 0 || httpc_new(cloud, token, &hopts, &h) < 0) {
		fprintf(stderr, "%s: cannot use --cloud %s (give https://HOST:PORT)\n", who, cloud);
		goto out;
	}
	if (tls_csr_pem(csr, csr_len, &csr_pem) < 0 || !(req = json_pack("{s:s}", "csr", csr_pem)))
		goto out;
	err = httpc_json(h, "POST", "/v1/factory/tls/renew", req, &a);
	if (err < 0 || httpc_status(h) != 201) {
		if (err < 0)
			fprintf(stderr, "%s: POST /v1/factory/tls/renew: %s\n", who, httpc_error(h));
		else
			fprintf(stderr, "%s: POST /v1/factory/tls/renew: HTTP %ld: %s %s\n", who, httpc_status(h),
				httpc_error(h), httpc_code(h));
		fprintf(stderr, "%s: nothing changed in %s (the unused key \"%s\" stays in the token)\n", who, opt.dir,
			label);
		goto out;
	}
	/* the answer must certify the key just made, or the pair written would not work */
	cert = json_string_value(json_object_get(a, "cert"));
	if (!cert || tls_cert_info(cert, csr, csr_len, &new_after) < 0 || new_after <= now ||
	    tls_pem_fingerprint(cert, fp) < 0) {
		fprintf(stderr, "%s: the portal's answer is not a certificate for the new key: nothing changed\n", who);
		goto out;
	}
	for (i = 0; i < 32; i++)
		(void)!snprintf(fph + 2 * i, 3, "%02x", fp[i]);
	if ((size_t)snprintf(line, sizeof(line), "%s\n" TLS_CERT_SHA256_TAG "%s\n", url, fph) >= sizeof(line))
		goto out;
	/* three steps, each atomic; between any two, lib/tls finds a matching pair */
	if ((err = file_write_atomic(next_path, cert, strlen(cert), 0644)) == 0 &&
	    (err = file_write_atomic(key_path, line, strlen(line), 0600)) == 0)
		err = rename(next_path, cert_path) < 0 ? WRIT_E_IO : file_fsync_dir(cert_path);
	if (err < 0) {
		fprintf(stderr, "%s: cannot write the new pair in %s: %s (run tls-renew again)\n", who, opt.dir,
			writ_strerror(err));
		goto out;
	}
	utc(new_after, when);
	printf("renewed: %s/client.pem (SHA-256 %.16s…) expires %s; key \"%s\" in token \"%s\"\n", opt.dir, fph, when,
	       label, opt.token);
	printf("a running writ-factory serve uses it from its next request; the portal then retires the previous "
	       "certificate\n");
	rc = 0;
out:
	json_decref(req);
	json_decref(a);
	httpc_free(h);
	free(csr);
	free(csr_pem);
	writ_memzero(token, sizeof(token));
	return rc;
}
