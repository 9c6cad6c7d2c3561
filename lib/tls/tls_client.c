/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of lib/tls: libcurl (Debian's libcurl4-openssl) with OpenSSL's
 * pkcs11 engine (libengine-pkcs11-openssl, libp11) for a client key that stays in the
 * token. We load the engine once, point it at the module and give it the PIN, and keep
 * a functional reference for the life of the process; libcurl then finds the same
 * engine by its id ("pkcs11") for CURLOPT_SSLENGINE and loads the key by its pkcs11:
 * URL (CURLOPT_SSLKEYTYPE "ENG"): OpenSSL asks the token to sign, the key never leaves.
 *
 * The client pair (certificate and key URL) is held in memory and handed to each request
 * (the certificate as a blob), re-read when its files change (tls.h, tls_client_setup):
 * a renewed certificate is taken at the next request, and only as a matching pair.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* the ENGINE API: what libcurl 7.88 + OpenSSL 3.0 offer */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/engine.h>

#include "base/ct.h"
#include "host/file.h"
#include "tls/tls_int.h"

#define TLS_ENGINE_ID "pkcs11"

static struct {
	pthread_mutex_t lock; /* everything below, once tls_client_setup returned */
	int on, eng, pair;
	unsigned gen;
	char ca[PATH_MAX], cert_path[PATH_MAX], key_path[PATH_MAX], next_path[PATH_MAX];
	char key[PATH_MAX]; /* the current key: a pkcs11: URL or a PEM file's path */
	char *cert;         /* the current certificate chain (PEM), malloc'd */
	size_t cert_len;
	uint8_t fp[32];     /* its SHA-256 */
	struct stat st_cert, st_key; /* the files as last looked at */
	ENGINE *e;
} cli = { .lock = PTHREAD_MUTEX_INITIALIZER };

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
	cli.e = e; /* a structural and a functional reference, kept until tls_client_cleanup */
	return 0;
}

/* The certificate file at path and its SHA-256, when it is `want` (or want is NULL). */
static int read_cert(const char *path, const uint8_t *want, char **ret, size_t *ret_len, uint8_t ret_fp[32])
{
	char *txt = NULL;
	size_t len = 0;
	int err;

	if ((err = tls_read_file(path, 64 * 1024, 0, &txt, &len)) < 0)
		return err;
	if ((err = tls_pem_fingerprint(txt, ret_fp)) == 0 && want && memcmp(want, ret_fp, 32))
		err = WRIT_E_STATE;
	if (err < 0) {
		free(txt);
		return err;
	}
	*ret = txt;
	*ret_len = len;
	return 0;
}

/* A client pair as read from its files. */
struct pair {
	char key[PATH_MAX]; /* a pkcs11: URL or the PEM key file's path */
	int eng;            /* key is a pkcs11: URL */
	char *cert;         /* malloc'd PEM */
	size_t cert_len;
	uint8_t fp[32];
};

static void next_name(const char *cert_file, char out[PATH_MAX])
{
	size_t n = strlen(cert_file);

	if (n > 4 && !strcmp(cert_file + n - 4, ".pem"))
		n -= 4;
	if ((size_t)snprintf(out, PATH_MAX, "%.*s.next.pem", (int)n, cert_file) >= PATH_MAX)
		out[0] = 0;
}

/*
 * Read key_file and the certificate that goes with it: cert_file, or next_file when
 * the key file's cert-sha256 names that one (a renewal between its renames). On failure
 * *why names the file at fault; WRIT_E_STATE when no certificate goes with the key.
 */
static int read_pair(const char *cert_file, const char *next_file, const char *key_file, struct pair *ret,
		     const char **why)
{
	char *ktxt = NULL;
	uint8_t want[32];
	size_t klen = 0, n;
	int err, have_want = 0;

	memset(ret, 0, sizeof(*ret));
	*why = key_file;
	if ((err = tls_read_file(key_file, 64 * 1024, 0, &ktxt, &klen)) < 0)
		goto out;
	if (!strncmp(ktxt, "pkcs11:", 7)) {
		const char *p;
		char hex[65];
		n = strcspn(ktxt, "\r\n");
		if (n >= sizeof(ret->key)) {
			err = WRIT_E_TOOBIG;
			goto out;
		}
		memcpy(ret->key, ktxt, n);
		ret->key[n] = 0;
		ret->eng = 1;
		p = ktxt + n;
		p += strspn(p, "\r\n");
		if (!strncmp(p, TLS_CERT_SHA256_TAG, strlen(TLS_CERT_SHA256_TAG))) {
			p += strlen(TLS_CERT_SHA256_TAG);
			if (strspn(p, "0123456789abcdef") < 64) {
				err = WRIT_E_FORMAT;
				goto out;
			}
			memcpy(hex, p, 64);
			hex[64] = 0;
			if ((err = hex_decode(hex, want, 32)) < 0)
				goto out;
			have_want = 1;
		}
	} else {
		/* the fallback: a PEM key that only the daemon's user may read */
		struct stat st;
		if (stat(key_file, &st) < 0 || (st.st_mode & 077)) {
			fprintf(stderr, "tls: %s may be read by others: chmod 600 it\n", key_file);
			err = WRIT_E_AUTH;
			goto out;
		}
		if ((err = copy(ret->key, sizeof(ret->key), key_file)) < 0)
			goto out;
	}
	*why = cert_file;
	err = read_cert(cert_file, have_want ? want : NULL, &ret->cert, &ret->cert_len, ret->fp);
	if (err == WRIT_E_STATE || (err == WRIT_E_NOTFOUND && have_want)) {
		*why = next_file;
		err = next_file[0] ? read_cert(next_file, want, &ret->cert, &ret->cert_len, ret->fp) : WRIT_E_STATE;
		if (err == WRIT_E_NOTFOUND)
			err = WRIT_E_STATE;
	}
out:
	if (ktxt) {
		writ_memzero(ktxt, klen); /* the fallback's key file holds a private key */
		free(ktxt);
	}
	return err;
}

int tls_client_pair_pem(const char *cert_file, const char *key_file, char **ret_pem)
{
	char next[PATH_MAX];
	struct pair pr;
	const char *why;
	int err;

	next_name(cert_file, next);
	if ((err = read_pair(cert_file, next, key_file, &pr, &why)) < 0)
		return err;
	*ret_pem = pr.cert;
	return 0;
}

/*
 * Read the pair and make it the current one (a new generation when it differs from the
 * last). Under cli.lock. On failure the current pair stays and *why says which file.
 */
static int load_pair(const char **why)
{
	struct pair pr;
	int err;

	if ((err = read_pair(cli.cert_path, cli.next_path, cli.key_path, &pr, why)) < 0)
		return err;
	if (pr.eng && !cli.e && ((!tls_g.p11_ready && (err = tls_p11_setup(NULL, NULL)) < 0) || (err = engine_load()) < 0)) {
		free(pr.cert);
		return err;
	}
	if (!cli.pair || memcmp(cli.fp, pr.fp, 32) || strcmp(cli.key, pr.key))
		cli.gen++;
	free(cli.cert);
	cli.cert = pr.cert;
	cli.cert_len = pr.cert_len;
	memcpy(cli.fp, pr.fp, 32);
	memcpy(cli.key, pr.key, sizeof(cli.key));
	cli.eng = pr.eng;
	cli.pair = 1;
	return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int tls_client_setup(const struct tls_client_conf *conf)
{
	const char *why = NULL;
	int err;

	if (!conf->cert_file != !conf->key_file)
		return WRIT_E_INVAL;
	pthread_mutex_lock(&cli.lock);
	if ((err = copy(cli.ca, sizeof(cli.ca), conf->ca_file)) < 0 ||
	    (err = copy(cli.cert_path, sizeof(cli.cert_path), conf->cert_file)) < 0 ||
	    (err = copy(cli.key_path, sizeof(cli.key_path), conf->key_file)) < 0)
		goto out;
	cli.pair = 0;
	cli.key[0] = 0;
	cli.eng = 0;
	free(cli.cert);
	cli.cert = NULL;
	if (conf->cert_file) {
		next_name(conf->cert_file, cli.next_path);
		if (!cli.next_path[0]) {
			err = WRIT_E_TOOBIG;
			goto out;
		}
		if (stat(cli.cert_path, &cli.st_cert) < 0 || stat(cli.key_path, &cli.st_key) < 0) {
			fprintf(stderr, "tls: cannot read the client pair %s, %s\n", cli.cert_path, cli.key_path);
			err = WRIT_E_NOTFOUND;
			goto out;
		}
		if ((err = load_pair(&why)) < 0) {
			fprintf(stderr, "tls: the client pair cannot be used: %s: %s\n", why,
				err == WRIT_E_STATE ? "the certificate does not go with the key file's cert-sha256 "
						      "(an interrupted renewal? run writ-factory tls-renew again)"
						    : writ_strerror(err));
			goto out;
		}
	}
	cli.on = 1;
out:
	pthread_mutex_unlock(&cli.lock);
	return err;
}

unsigned tls_client_check(void)
{
	struct stat sc, sk;
	const char *why = NULL;
	unsigned gen;
	int err;

	pthread_mutex_lock(&cli.lock);
	if (cli.on && cli.pair && stat(cli.cert_path, &sc) == 0 && stat(cli.key_path, &sk) == 0 &&
	    (!same_file(&sc, &cli.st_cert) || !same_file(&sk, &cli.st_key))) {
		cli.st_cert = sc;
		cli.st_key = sk;
		if ((err = load_pair(&why)) < 0)
			fprintf(stderr, "tls: keeping the current client certificate: %s: %s\n", why,
				err == WRIT_E_STATE ? "the certificate does not go with the key (not yet)" : writ_strerror(err));
	}
	gen = cli.gen;
	pthread_mutex_unlock(&cli.lock);
	return gen;
}

int tls_client_apply(void *curl)
{
	CURL *h = curl;
	int err = 0;

	if (curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK)
		return WRIT_E_UNSUPPORTED;
	pthread_mutex_lock(&cli.lock);
	if (!cli.on)
		goto out;
	if (cli.ca[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, cli.ca);
	if (cli.pair) {
		struct curl_blob b = { cli.cert, cli.cert_len, CURL_BLOB_COPY };
		if (curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b) != CURLE_OK) {
			err = WRIT_E_UNSUPPORTED;
			goto out;
		}
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		if (cli.eng) {
			if (curl_easy_setopt(h, CURLOPT_SSLENGINE, TLS_ENGINE_ID) != CURLE_OK) {
				err = WRIT_E_UNSUPPORTED;
				goto out;
			}
			curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "ENG");
		} else {
			curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		}
		curl_easy_setopt(h, CURLOPT_SSLKEY, cli.key);
	}
out:
	pthread_mutex_unlock(&cli.lock);
	return err;
}

void tls_client_cleanup(void)
{
	if (cli.e) {
		ENGINE_finish(cli.e);
		ENGINE_free(cli.e);
		cli.e = NULL;
	}
	free(cli.cert);
	cli.cert = NULL;
	cli.pair = 0;
	cli.on = 0;
}

void tls_cleanup(void)
{
	tls_server_cleanup();
	tls_client_cleanup();
	writ_memzero(tls_g.pin, sizeof(tls_g.pin));
	tls_g.have_pin = 0;
}
