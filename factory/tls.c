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
