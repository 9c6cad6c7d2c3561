/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's enrolment with writ-cloud (docs/factory-api.md, "Sync with
 * writ-cloud"): `enrol-info` looks a one-time code up and writes the OEM's
 * writ-signing key (PEM) that writ-hsmd and writ-factory are initialised with;
 * `enrol` hands an edge HSM's enrolment bundle (op 5) to the cloud with the code and
 * keeps the factory token it gets back in a file of mode 0600; `add-hsm` enrols a
 * further HSM of the same factory with that token. The token is never printed or
 * logged; the code and the token are wiped after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "factory/api_json.h"
#include "factory/factory.h"
#include "factory/tls.h"
#include "factory/update.h"
#include "host/file.h"
#include "web/httpc.h"
#include "wire/cbu.h"
#include "wire/hsmproto.h"

#define ENROL_MAX (16 * 1024) /* an enrolment bundle is a few hundred bytes */

/* The one-time code from --code or --code-file (first line; mode 0600). */
static int read_code(const struct cloud_cmd *o, char out[HTTPC_TOKEN_MAX])
{
	int err;

	if (!!o->code == !!o->code_file) {
		fprintf(stderr, "writ-factory %s: give the enrolment code with --code CODE or --code-file FILE\n", o->cmd);
		return WRIT_E_INVAL;
	}
	if (o->code) {
		if (strlen(o->code) >= HTTPC_TOKEN_MAX || !fj_printable(o->code, HTTPC_TOKEN_MAX - 1)) {
			fprintf(stderr, "writ-factory %s: the enrolment code is 1..255 printable characters\n", o->cmd);
			return WRIT_E_INVAL;
		}
		memcpy(out, o->code, strlen(o->code) + 1);
		return 0;
	}
	if ((err = httpc_token_load(o->code_file, NULL, out)) < 0)
		fprintf(stderr, "writ-factory %s: cannot read the code from %s: %s\n", o->cmd, o->code_file,
			err == WRIT_E_AUTH ? "the file may be read by others: chmod 600 it" : writ_strerror(err));
	return err;
}

static int new_client(const struct cloud_cmd *o, const char *token, struct httpc **ret)
{
	int err;

	if (!o->cloud) {
		fprintf(stderr, "writ-factory %s: --cloud URL is required\n", o->cmd);
		return WRIT_E_INVAL;
	}
	if (factory_tls_client() < 0) /* --tls: the portal CA, and the client certificate once there is one */
		return WRIT_E_INVAL;
	if ((err = httpc_global_init()) < 0 || (err = httpc_new(o->cloud, token, NULL, ret)) < 0)
		fprintf(stderr, "writ-factory %s: cannot use --cloud %s (give http://HOST:PORT or https://...)\n", o->cmd,
			o->cloud);
	return err;
}

/* Print why a request failed; 1 (the exit code). */
static int failed(const struct cloud_cmd *o, struct httpc *h, int err, const char *what)
{
	if (err < 0)
		fprintf(stderr, "writ-factory %s: %s: %s\n", o->cmd, what, httpc_error(h));
	else
		fprintf(stderr, "writ-factory %s: %s: HTTP %ld%s%s%s%s\n", o->cmd, what, httpc_status(h),
			httpc_error(h)[0] ? ": " : "", httpc_error(h), httpc_code(h)[0] ? " " : "",
			httpc_code(h)[0] ? httpc_code(h) : "");
	return 1;
}

/* The HSM's enrolment bundle (op 5) as standard base64 (malloc'd). */
static int hsm_enrolment(const struct cloud_cmd *o, char **ret_b64)
{
	cbor_item_t *req = cbu_new_map(1), *resp = NULL;
	char reason[HSMC_REASON_MAX] = "";
	const uint8_t *p;
	size_t len = 0;
	int fd = -1, err = WRIT_E_NOMEM;

	if (!o->hsm) {
		fprintf(stderr, "writ-factory %s: --hsm SOCKET (the edge HSM to enrol) is required\n", o->cmd);
		err = WRIT_E_INVAL;
		goto out;
	}
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_ENROLMENT) < 0)
		goto out;
	if ((err = hsmc_connect(o->hsm, &fd)) < 0) {
		fprintf(stderr, "writ-factory %s: cannot connect to the edge HSM at %s: check that writ-hsmd runs\n",
			o->cmd, o->hsm);
		goto out;
	}
	err = hsmc_call(fd, req, &resp, reason);
	if (!err && cbu_get_bytes(resp, HSMP_RS_ENROLMENT, 1, ENROL_MAX, &p, &len) < 0)
		err = WRIT_E_PROTO;
	if (err < 0) {
		fprintf(stderr, "writ-factory %s: the edge HSM gave no enrolment bundle: %s\n", o->cmd,
			reason[0] ? reason : writ_strerror(err));
		goto out;
	}
	if (!(*ret_b64 = malloc(4 * ((len + 2) / 3) + 1))) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	fj_b64_encode(p, len, *ret_b64, 0);
out:
	if (fd >= 0)
		close(fd);
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	return err;
}

/* path must not exist unless force. */
static int check_new_file(const struct cloud_cmd *o, const char *path)
{
	struct stat st;

	if (!o->force && lstat(path, &st) == 0) {
		fprintf(stderr, "writ-factory %s: %s exists: not overwritten (give --force to replace it)\n", o->cmd, path);
		return WRIT_E_EXISTS;
	}
	return 0;
}

/*
 * Write data to path with mode, atomically: a temp file next to it, fsync'd, then
 * linked to path (refused if path appeared meanwhile) or, with force, renamed over it;
 * then the directory is fsync'd. The temp file is made before anything irrevocable
 * (the one-time code) so that a directory we cannot write fails first: open_tmp and
 * commit_tmp.
 */
struct tmpfile {
	char path[FACTORY_PATH_MAX + 16];
	int fd;
};

static int open_tmp(const struct cloud_cmd *o, const char *path, unsigned mode, struct tmpfile *t)
{
	t->fd = -1;
	if (snprintf(t->path, sizeof(t->path), "%s.XXXXXX", path) >= (int)sizeof(t->path))
		return WRIT_E_TOOBIG;
	t->fd = mkostemp(t->path, O_CLOEXEC);
	if (t->fd < 0 || fchmod(t->fd, mode) < 0) {
		fprintf(stderr, "writ-factory %s: cannot create a file next to %s: %s\n", o->cmd, path, strerror(errno));
		if (t->fd >= 0) {
			close(t->fd);
			unlink(t->path);
			t->fd = -1;
		}
		return WRIT_E_IO;
	}
	return 0;
}

static void drop_tmp(struct tmpfile *t)
{
	if (t->fd >= 0) {
		close(t->fd);
		unlink(t->path);
		t->fd = -1;
	}
}

static int commit_tmp(const struct cloud_cmd *o, struct tmpfile *t, const char *path, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t done = 0;
	int err = 0;

	while (done < len) {
		ssize_t w = write(t->fd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = WRIT_E_IO;
			break;
		}
		done += (size_t)w;
	}
	if (!err && fsync(t->fd) < 0)
		err = WRIT_E_IO;
	if (!err && (o->force ? rename(t->path, path) : link(t->path, path)) < 0)
		err = errno == EEXIST ? WRIT_E_EXISTS : WRIT_E_IO;
	if (err < 0)
		fprintf(stderr, "writ-factory %s: cannot write %s: %s\n", o->cmd, path,
			err == WRIT_E_EXISTS ? "it appeared meanwhile" : strerror(errno));
	close(t->fd);
	t->fd = -1;
	if (!o->force || err < 0)
		unlink(t->path);
	if (!err && file_fsync_dir(path) < 0)
		err = WRIT_E_IO;
	return err;
}

/* Wipe the copy of a secret jansson holds (its own malloc'd buffer) before it is freed. */
static void wipe_string(json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	if (json_is_string(v))
		writ_memzero((char *)json_string_value(v), json_string_length(v));
}

int cloud_cmd_enrol_info(const struct cloud_cmd *o)
{
	char code[HTTPC_TOKEN_MAX], esc[3 * HTTPC_TOKEN_MAX], path[4 * HTTPC_TOKEN_MAX];
	uint8_t pub[WRIT_P256_PUB_LEN], pem_pub[WRIT_P256_PUB_LEN];
	const char *factory, *oem, *pub_hex, *pem;
	struct httpc *h = NULL;
	struct tmpfile t = { .fd = -1 };
	json_t *a = NULL;
	int err, rc = 1;

	if (!o->out) {
		fprintf(stderr, "writ-factory enrol-info: --out FILE (the OEM's writ-signing key, PEM) is required\n");
		return 2;
	}
	if (read_code(o, code) < 0)
		return 2;
	if (check_new_file(o, o->out) < 0 || new_client(o, NULL, &h) < 0)
		goto out;
	if (httpc_escape(code, esc, sizeof(esc)) < 0 ||
	    snprintf(path, sizeof(path), "/v1/enrol/%s", esc) >= (int)sizeof(path))
		goto out;
	err = httpc_json(h, "GET", path, NULL, &a);
	if (err < 0 || httpc_status(h) != 200) {
		rc = failed(o, h, err, "GET /v1/enrol/CODE");
		goto out;
	}
	factory = json_string_value(json_object_get(a, "factory"));
	oem = json_string_value(json_object_get(a, "oem"));
	pub_hex = json_string_value(json_object_get(a, "writ_signing_pub"));
	pem = json_string_value(json_object_get(a, "writ_signing_pem"));
	if (!factory || !fj_printable(factory, 64) || !oem || !fj_printable(oem, 64) || !pub_hex ||
	    strlen(pub_hex) != 2 * WRIT_P256_PUB_LEN || hex_decode(pub_hex, pub, sizeof(pub)) < 0 || !pem ||
	    ec_pub_from_pem((const uint8_t *)pem, strlen(pem), pem_pub) < 0 || !writ_ct_memeq(pub, pem_pub, sizeof(pub))) {
		fprintf(stderr, "writ-factory enrol-info: the cloud's answer is malformed (its PEM and writ_signing_pub "
				"must be the same P-256 key)\n");
		goto out;
	}
	if (open_tmp(o, o->out, 0644, &t) < 0 || commit_tmp(o, &t, o->out, pem, strlen(pem)) < 0)
		goto out;
	printf("factory %s\noem %s\nwrit-signing-pub %s\n", factory, oem, pub_hex);
	/* update.c: pin the release key the answer carries (release.pem next to --out) */
	{
		const char *slash = strrchr(o->out, '/');
		char rel[4096];
		int n = o->release_out ? snprintf(rel, sizeof(rel), "%s", o->release_out)
			: slash	       ? snprintf(rel, sizeof(rel), "%.*s/release.pem", (int)(slash - o->out), o->out)
				       : snprintf(rel, sizeof(rel), "release.pem");
		if (n < 0 || n >= (int)sizeof(rel) ||
		    update_pin_release_key(rel, json_string_value(json_object_get(a, "release_pem")),
					   o->site ? "writ-factory enrol" : "writ-factory enrol-info") < 0)
			goto out;
	}
	if (o->ret_factory)
		(void)!snprintf(o->ret_factory, 65, "%s", factory);
	if (!o->site)
		fprintf(stderr, "the OEM's writ-signing key is in %s: writ-hsmd init --factory %s --oem-key %s, "
				"writ-factory init --factory %s --oem-key %s, then writ-factory enrol\n",
			o->out, factory, o->out, factory, o->out);
	rc = 0;
out:
	drop_tmp(&t);
	json_decref(a);
	httpc_free(h);
	writ_memzero(code, sizeof(code));
	writ_memzero(esc, sizeof(esc));
	writ_memzero(path, sizeof(path));
	return rc;
}

int cloud_cmd_enrol(const struct cloud_cmd *o)
{
	char code[HTTPC_TOKEN_MAX], *b64 = NULL;
	const char *factory, *hsm, *token;
	struct httpc *h = NULL;
	struct tmpfile t = { .fd = -1 };
	json_t *req = NULL, *a = NULL;
	int err, rc = 1;

	if (!o->token_out) {
		fprintf(stderr, "writ-factory enrol: --token-out FILE (where the factory token is kept) is required\n");
		return 2;
	}
	if (read_code(o, code) < 0)
		return 2;
	/* everything that can fail locally fails before the one-time code is spent */
	if (check_new_file(o, o->token_out) < 0 || hsm_enrolment(o, &b64) < 0 || new_client(o, NULL, &h) < 0 ||
	    open_tmp(o, o->token_out, 0600, &t) < 0)
		goto out;
	if (!(req = json_pack("{s:s,s:s}", "code", code, "enrolment", b64)) || factory_tls_enrol_begin(req) < 0)
		goto out;
	err = httpc_json(h, "POST", "/v1/enrol", req, &a);
	if (err < 0 || httpc_status(h) != 201) {
		rc = failed(o, h, err, "POST /v1/enrol");
		goto out;
	}
	factory = json_string_value(json_object_get(a, "factory"));
	hsm = json_string_value(json_object_get(a, "hsm"));
	token = json_string_value(json_object_get(a, "token"));
	if (!factory || !fj_printable(factory, 64) || !hsm || !fj_printable(hsm, 64) || !token ||
	    !fj_printable(token, HTTPC_TOKEN_MAX - 1) || strchr(token, ' ')) {
		fprintf(stderr, "writ-factory enrol: the cloud's answer is malformed; the code is used up: ask the OEM "
				"for a new one\n");
		goto out;
	}
	{
		char line[HTTPC_TOKEN_MAX + 1];
		int n = snprintf(line, sizeof(line), "%s\n", token);
		err = commit_tmp(o, &t, o->token_out, line, (size_t)n);
		writ_memzero(line, sizeof(line));
	}
	if (err < 0) {
		fprintf(stderr, "writ-factory enrol: THE HSM IS ENROLLED BUT ITS TOKEN WAS NOT KEPT: the code is used up; "
				"ask the OEM to revoke this factory's token and issue a new one\n");
		goto out;
	}
	if (factory_tls_enrol_end(a) < 0) /* --tls: keep the client certificate (tls.c) */
		goto out;
	printf("factory %s\nhsm %s\n", factory, hsm);
	if (!o->site)
		fprintf(stderr, "the factory token is in %s (mode 0600): writ-factory serve --cloud %s --cloud-token-file %s\n",
			o->token_out, o->cloud, o->token_out);
	rc = 0;
out:
	drop_tmp(&t);
	wipe_string(req, "code");
	json_decref(req);
	wipe_string(a, "token");
	json_decref(a);
	httpc_free(h);
	free(b64);
	writ_memzero(code, sizeof(code));
	return rc;
}

int cloud_cmd_add_hsm(const struct cloud_cmd *o)
{
	char token[HTTPC_TOKEN_MAX], *b64 = NULL;
	const char *hsm;
	struct httpc *h = NULL;
	json_t *req = NULL, *a = NULL;
	int err, rc = 1;

	if (!o->token_file) {
		fprintf(stderr, "writ-factory add-hsm: --cloud-token-file FILE (made by writ-factory enrol) is required\n");
		return 2;
	}
	if ((err = httpc_token_load(o->token_file, NULL, token)) < 0) {
		fprintf(stderr, "writ-factory add-hsm: cannot read the token from %s: %s\n", o->token_file,
			err == WRIT_E_AUTH ? "the file may be read by others: chmod 600 it" : writ_strerror(err));
		return 2;
	}
	if (hsm_enrolment(o, &b64) < 0 || new_client(o, token, &h) < 0)
		goto out;
	if (!(req = json_pack("{s:s}", "enrolment", b64)))
		goto out;
	err = httpc_json(h, "POST", "/v1/sync/hsms", req, &a);
	if (err < 0 || httpc_status(h) < 200 || httpc_status(h) > 299) {
		rc = failed(o, h, err, "POST /v1/sync/hsms");
		goto out;
	}
	hsm = json_string_value(json_object_get(a, "hsm"));
	if (!hsm || !fj_printable(hsm, 64)) {
		fprintf(stderr, "writ-factory add-hsm: the cloud's answer is malformed\n");
		goto out;
	}
	printf("hsm %s\n", hsm);
	rc = 0;
out:
	json_decref(req);
	json_decref(a);
	httpc_free(h);
	free(b64);
	writ_memzero(token, sizeof(token));
	return rc;
}
