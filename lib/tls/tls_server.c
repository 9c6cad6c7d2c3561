/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server side of lib/tls: libmicrohttpd's certificate callback hands GnuTLS the
 * current certificate chain and a gnutls_privkey_t imported from its pkcs11: URL. At
 * every handshake the callback looks whether server.pem or server.key changed (stat),
 * and if so loads the new pair, checks that the key matches the certificate and only
 * then switches: rotation needs no restart and drops no connection. Pairs that were
 * replaced stay allocated until tls_cleanup, because a handshake on another thread may
 * still be using one (a pair is a few KiB; a rotation is rare).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "base/ct.h"
#include "tls/tls_int.h"

#define TLS_CHAIN_MAX 8
#define TLS_FILE_MAX (64 * 1024)

struct pair {
	gnutls_pcert_st pcert[TLS_CHAIN_MAX];
	unsigned n;
	gnutls_privkey_t key;
	struct pair *older;
};

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static struct {
	pthread_mutex_t lock;
	int on;
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	struct file_id cert_id, key_id;
	struct pair *cur;
	char *trust_pem;
	struct MHD_OptionItem opts[4];
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER, .opts = { { MHD_OPTION_END, 0, NULL } } };

int tls_read_file(const char *path, size_t max, int secret, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = WRIT_E_IO;

	if (fd < 0)
		return errno == ENOENT ? WRIT_E_NOTFOUND : WRIT_E_IO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	if (secret && (st.st_mode & 077)) {
		err = WRIT_E_AUTH;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		err = WRIT_E_TOOBIG;
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size && (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	buf = NULL;
	err = 0;
out:
	free(buf);
	close(fd);
	return err;
}

static int file_id(const char *path, struct file_id *ret)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return WRIT_E_IO;
	memset(ret, 0, sizeof(*ret));
	ret->dev = st.st_dev;
	ret->ino = st.st_ino;
	ret->size = st.st_size;
	ret->mtime = st.st_mtim;
	return 0;
}

static int same_id(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void pair_free(struct pair *p)
{
	unsigned i;

	while (p) {
		struct pair *o = p->older;
		for (i = 0; i < p->n; i++)
			gnutls_pcert_deinit(&p->pcert[i]);
		if (p->key)
			gnutls_privkey_deinit(p->key);
		free(p);
		p = o;
	}
}

/* The key file: its first line is a pkcs11: URL; else the file is a PEM private key
 * (the fallback, mode 0600 required). */
static int key_load(const char *path, gnutls_privkey_t key, const char **ret_why)
{
	char *txt = NULL;
	size_t len = 0;
	int err, r;

	if ((err = tls_read_file(path, TLS_FILE_MAX, 0, &txt, &len)) < 0) {
		*ret_why = "cannot read the key file";
		return err;
	}
	if (!strncmp(txt, "pkcs11:", 7)) {
		txt[strcspn(txt, "\r\n")] = 0;
		r = gnutls_privkey_import_url(key, txt, 0);
		*ret_why = "the token does not give the key of that pkcs11: URL (token, label, PIN?)";
		err = r < 0 ? WRIT_E_TOKEN : 0;
	} else {
		struct stat st;
		gnutls_datum_t d = { (unsigned char *)txt, (unsigned)len };
		if (stat(path, &st) < 0 || (st.st_mode & 077)) {
			*ret_why = "a PEM key file must not be readable by group or other (chmod 600)";
			err = WRIT_E_AUTH;
		} else {
			r = gnutls_privkey_import_x509_raw(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
			*ret_why = "the key file is neither a pkcs11: URL nor a PEM private key";
			err = r < 0 ? WRIT_E_FORMAT : 0;
		}
	}
	writ_memzero(txt, len);
	free(txt);
	return err;
}

/* 0 when the private key belongs to the leaf certificate. */
static int key_matches(gnutls_privkey_t key, gnutls_pcert_st *leaf)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	int err = WRIT_E_PROFILE;

	if (gnutls_pubkey_init(&pub) < 0)
		return WRIT_E_NOMEM;
	if (gnutls_pubkey_import_privkey(pub, key, 0, 0) >= 0 && gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) >= 0 &&
	    gnutls_pubkey_export2(leaf->pubkey, GNUTLS_X509_FMT_DER, &b) >= 0 && a.size == b.size &&
	    !memcmp(a.data, b.data, a.size))
		err = 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(pub);
	return err;
}

static int pair_load(struct pair **ret, const char **ret_why)
{
	struct pair *p = calloc(1, sizeof(*p));
	char *pem = NULL;
	size_t len = 0;
	gnutls_datum_t d;
	int err;

	if (!p)
		return WRIT_E_NOMEM;
	if ((err = tls_read_file(srv.cert_path, TLS_FILE_MAX, 0, &pem, &len)) < 0) {
		*ret_why = "cannot read the certificate file";
		goto fail;
	}
	d.data = (unsigned char *)pem;
	d.size = (unsigned)len;
	p->n = TLS_CHAIN_MAX;
	if (gnutls_pcert_list_import_x509_raw(p->pcert, &p->n, &d, GNUTLS_X509_FMT_PEM, 0) < 0 || p->n == 0) {
		p->n = 0;
		*ret_why = "the certificate file holds no PEM certificate chain";
		err = WRIT_E_FORMAT;
		goto fail;
	}
	if (gnutls_privkey_init(&p->key) < 0) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	if ((err = key_load(srv.key_path, p->key, ret_why)) < 0)
		goto fail;
	if ((err = key_matches(p->key, &p->pcert[0])) < 0) {
		*ret_why = "the key does not match the certificate (yet)";
		goto fail;
	}
	free(pem);
	*ret = p;
	return 0;
fail:
	free(pem);
	pair_free(p);
	return err;
}

/* Reload when a file changed; keep the current pair on any failure. Called locked. */
static void maybe_reload(void)
{
	struct file_id c, k;
	struct pair *p = NULL;
	const char *why = "";

	if (file_id(srv.cert_path, &c) < 0 || file_id(srv.key_path, &k) < 0)
		return;
	if (srv.cur && same_id(&c, &srv.cert_id) && same_id(&k, &srv.key_id))
		return;
	if (pair_load(&p, &why) < 0) {
		/* said once per change of the files, not at every handshake */
		fprintf(stderr, "tls: keeping the current certificate: %s: %s\n", srv.cert_path, why);
		srv.cert_id = c;
		srv.key_id = k;
		return;
	}
	p->older = srv.cur;
	srv.cur = p;
	srv.cert_id = c;
	srv.key_id = k;
}

static int cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
		   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
		   unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	struct pair *p;

	pthread_mutex_lock(&srv.lock);
	maybe_reload();
	p = srv.cur;
	pthread_mutex_unlock(&srv.lock);
	if (!p)
		return -1;
	*pcert = p->pcert;
	*pcert_length = p->n;
	*pkey = p->key;
	return 0;
}

int tls_server_setup(const char *dir, const char *client_ca)
{
	const char *why = "";
	int err, i = 0;

	if (snprintf(srv.cert_path, sizeof(srv.cert_path), "%s/server.pem", dir) >= (int)sizeof(srv.cert_path) ||
	    snprintf(srv.key_path, sizeof(srv.key_path), "%s/server.key", dir) >= (int)sizeof(srv.key_path))
		return WRIT_E_TOOBIG;
	if (!tls_g.p11_ready && (err = tls_p11_setup(NULL, NULL)) < 0)
		return err;
	pthread_mutex_lock(&srv.lock);
	if ((err = file_id(srv.cert_path, &srv.cert_id)) < 0 || (err = file_id(srv.key_path, &srv.key_id)) < 0) {
		why = "missing (make them with the tls-init command)";
	} else if ((err = pair_load(&srv.cur, &why)) == 0 && client_ca) {
		if ((err = tls_read_file(client_ca, TLS_FILE_MAX, 0, &srv.trust_pem, NULL)) < 0)
			why = "cannot read the client CA file";
	}
	pthread_mutex_unlock(&srv.lock);
	if (err < 0) {
		fprintf(stderr, "tls: %s / %s: %s\n", srv.cert_path, srv.key_path, why);
		return err;
	}
	srv.opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)cert_cb };
	srv.opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES };
	if (srv.trust_pem)
		srv.opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, srv.trust_pem };
	srv.opts[i] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	srv.on = 1;
	return 0;
}

int tls_server_on(void)
{
	return srv.on;
}

unsigned tls_server_mhd_flags(void)
{
	return srv.on ? MHD_USE_TLS : 0;
}

const void *tls_server_mhd_options(void)
{
	return srv.opts;
}

enum tls_peer tls_peer_check(void *conn, uint8_t ret_fp[32])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s;
	const gnutls_datum_t *chain;
	unsigned n = 0, status = 0;

	if (!srv.on || !ci || !ci->tls_session)
		return TLS_PEER_PLAIN;
	s = (gnutls_session_t)ci->tls_session;
	chain = gnutls_certificate_get_peers(s, &n);
	if (!chain || n == 0)
		return TLS_PEER_NONE;
	if (gnutls_certificate_verify_peers2(s, &status) < 0)
		return TLS_PEER_BAD;
	if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		return TLS_PEER_EXPIRED;
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA | GNUTLS_CERT_SIGNATURE_FAILURE))
		return TLS_PEER_UNTRUSTED;
	if (status)
		return TLS_PEER_BAD;
	return tls_der_fingerprint(&chain[0], ret_fp) < 0 ? TLS_PEER_BAD : TLS_PEER_OK;
}

const char *tls_peer_why(enum tls_peer p)
{
	switch (p) {
	case TLS_PEER_OK: return "ok";
	case TLS_PEER_PLAIN: return "the connection is not TLS";
	case TLS_PEER_NONE: return "no client certificate was presented";
	case TLS_PEER_UNTRUSTED: return "the client certificate was not issued by this portal's TLS CA";
	case TLS_PEER_EXPIRED: return "the client certificate has expired (or is not valid yet)";
	default: return "the client certificate does not verify";
	}
}

void tls_server_cleanup(void)
{
	pthread_mutex_lock(&srv.lock);
	pair_free(srv.cur);
	srv.cur = NULL;
	free(srv.trust_pem);
	srv.trust_pem = NULL;
	srv.on = 0;
	pthread_mutex_unlock(&srv.lock);
}
