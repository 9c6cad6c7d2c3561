/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of lib/tls: libcurl (Debian's libcurl4-openssl) with OpenSSL's
 * pkcs11 engine (libengine-pkcs11-openssl, libp11) for a client key that stays in the
 * token. We load the engine once, point it at the module and give it the PIN, and keep
 * a functional reference for the life of the process; libcurl then finds the same
 * engine by its id ("pkcs11") for CURLOPT_SSLENGINE and loads the key by its pkcs11:
 * URL (CURLOPT_SSLKEYTYPE "ENG"): OpenSSL asks the token to sign, the key never leaves.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* the ENGINE API: what libcurl 7.88 + OpenSSL 3.0 offer */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/engine.h>

#include "base/ct.h"
#include "tls/tls_int.h"

#define TLS_ENGINE_ID "pkcs11"

static struct {
	int on, eng;
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX]; /* key: a pkcs11: URL or a PEM file's path */
	ENGINE *e;
} cli;

static int copy(char *dst, size_t cap, const char *src)
{
	if (!src) {
		dst[0] = 0;
		return 0;
	}
	if ((size_t)snprintf(dst, cap, "%s", src) >= cap)
		return WRIT_E_TOOBIG;
	return 0;
}

static int engine_load(void)
{
	ENGINE *e = ENGINE_by_id(TLS_ENGINE_ID);

	if (!e) {
		fprintf(stderr, "tls: OpenSSL's pkcs11 engine is not installed (Debian: libengine-pkcs11-openssl)\n");
		return WRIT_E_UNSUPPORTED;
	}
	if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", tls_g.module, 0) ||
	    (tls_g.have_pin && !ENGINE_ctrl_cmd_string(e, "PIN", tls_g.pin, 0)) || !ENGINE_init(e)) {
		fprintf(stderr, "tls: the pkcs11 engine refused the module %s\n", tls_g.module);
		ENGINE_free(e);
		return WRIT_E_TOKEN;
	}
	cli.e = e; /* a structural and a functional reference, kept until tls_cleanup */
	return 0;
}

int tls_client_setup(const struct tls_client_conf *conf)
{
	char *txt = NULL;
	size_t len = 0;
	int err;

	if ((err = copy(cli.ca, sizeof(cli.ca), conf->ca_file)) < 0 ||
	    (err = copy(cli.cert, sizeof(cli.cert), conf->cert_file)) < 0)
		return err;
	cli.key[0] = 0;
	cli.eng = 0;
	if (conf->key_file) {
		if ((err = tls_read_file(conf->key_file, 64 * 1024, 0, &txt, &len)) < 0) {
			fprintf(stderr, "tls: cannot read the client key file %s\n", conf->key_file);
			return err;
		}
		if (!strncmp(txt, "pkcs11:", 7)) {
			txt[strcspn(txt, "\r\n")] = 0;
			err = copy(cli.key, sizeof(cli.key), txt);
			cli.eng = 1;
		} else {
			/* the fallback: a PEM key that only the daemon's user may read */
			struct stat st;
			if (stat(conf->key_file, &st) < 0 || (st.st_mode & 077)) {
				fprintf(stderr, "tls: %s may be read by others: chmod 600 it\n", conf->key_file);
				err = WRIT_E_AUTH;
			} else {
				err = copy(cli.key, sizeof(cli.key), conf->key_file);
			}
		}
		writ_memzero(txt, len);
		free(txt);
		if (err < 0)
			return err;
	}
	if (cli.eng && !cli.e) {
		if (!tls_g.p11_ready && (err = tls_p11_setup(NULL, NULL)) < 0)
			return err;
		if ((err = engine_load()) < 0)
			return err;
	}
	cli.on = 1;
	return 0;
}

int tls_client_apply(void *curl)
{
	CURL *h = curl;

	if (curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK)
		return WRIT_E_UNSUPPORTED;
	if (!cli.on)
		return 0;
	if (cli.ca[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, cli.ca);
	if (cli.cert[0]) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cli.cert);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (cli.key[0] && cli.eng) {
		if (curl_easy_setopt(h, CURLOPT_SSLENGINE, TLS_ENGINE_ID) != CURLE_OK)
			return WRIT_E_UNSUPPORTED;
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "ENG");
		curl_easy_setopt(h, CURLOPT_SSLKEY, cli.key);
	} else if (cli.key[0]) {
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY, cli.key);
	}
	return 0;
}

void tls_client_cleanup(void)
{
	if (cli.e) {
		ENGINE_finish(cli.e);
		ENGINE_free(cli.e);
		cli.e = NULL;
	}
	cli.on = 0;
}

void tls_cleanup(void)
{
	tls_server_cleanup();
	tls_client_cleanup();
	writ_memzero(tls_g.pin, sizeof(tls_g.pin));
	tls_g.have_pin = 0;
}
