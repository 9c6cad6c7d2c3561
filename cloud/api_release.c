/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed releases of the factory-side programs (docs/releases.md). The operator's
 * release key ("release" in the portal's token, made non-extractable like the OEM keys,
 * but no OEM's) signs each release manifest (lib/wire/release.h) at `writ-cloud release
 * add`; the manifest and its files are kept in the store. Factories ask for the latest
 * release of their channel, or the one their OEM pinned, and download its files:
 *   GET /v1/releases/latest?channel=C                      (factory credential)
 *   GET /v1/releases/{channel}/{version}/files/{name}      (factory credential)
 *   PUT /v1/factories/{f}/release-pin {"version": V|""}    (the factory's OEM)
 * The cloud does not decide whether a factory may take a release: the factory verifies
 * the signature under its pinned key and refuses downgrades itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloud/cloud.h"
#include "crypto/ec.h"
#include "p11/p11.h"
#include "wire/release.h"

#define RELEASE_KEY_LABEL "release"

static const char schema_lite[] =
	"CREATE TABLE IF NOT EXISTS releases (id INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT NOT NULL,"
	" channel TEXT NOT NULL, created INTEGER NOT NULL, manifest BLOB NOT NULL, UNIQUE (channel, version));"
	"CREATE TABLE IF NOT EXISTS release_files (release_id INTEGER NOT NULL REFERENCES releases(id),"
	" name TEXT NOT NULL, content BLOB NOT NULL, PRIMARY KEY (release_id, name));"
	"CREATE TABLE IF NOT EXISTS release_pins (factory_id INTEGER PRIMARY KEY REFERENCES factories(id),"
	" version TEXT NOT NULL);";
static const char schema_pg[] =
	"CREATE TABLE IF NOT EXISTS releases (id BIGSERIAL PRIMARY KEY, version TEXT NOT NULL,"
	" channel TEXT NOT NULL, created BIGINT NOT NULL, manifest BYTEA NOT NULL, UNIQUE (channel, version));"
	"CREATE TABLE IF NOT EXISTS release_files (release_id BIGINT NOT NULL REFERENCES releases(id),"
	" name TEXT NOT NULL, content BYTEA NOT NULL, PRIMARY KEY (release_id, name));"
	"CREATE TABLE IF NOT EXISTS release_pins (factory_id BIGINT PRIMARY KEY REFERENCES factories(id),"
	" version TEXT NOT NULL);";

int release_schema(struct db *db)
{
	return db_exec_script(db, db_kind(db) == DB_POSTGRES ? schema_pg : schema_lite);
}

int release_key(struct cloud *c, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	int err;

	pthread_mutex_lock(&c->p11_lock);
	err = p11_find_key(c->p11, RELEASE_KEY_LABEL, ret_pub);
	if (err == WRIT_E_NOTFOUND)
		err = p11_keygen_p256(c->p11, RELEASE_KEY_LABEL, P11_USAGE_SIGN, ret_pub);
	pthread_mutex_unlock(&c->p11_lock);
	return err;
}

int release_pub_pem(struct cloud *c, char **ret_pem)
{
	uint8_t pub[WRIT_P256_PUB_LEN];
	int err;

	pthread_mutex_lock(&c->p11_lock);
	err = p11_find_key(c->p11, RELEASE_KEY_LABEL, pub);
	pthread_mutex_unlock(&c->p11_lock);
	return err < 0 ? err : ec_pub_to_pem(pub, ret_pem);
}

static int read_whole(const char *path, uint8_t **ret, size_t *ret_len, uint32_t *ret_mode)
{
	struct stat st;
	uint8_t *buf = NULL;
	FILE *f = fopen(path, "rb");
	int err = WRIT_E_IO;

	if (!f)
		return WRIT_E_NOTFOUND;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	if ((uint64_t)st.st_size > RELEASE_FILE_MAX) {
		err = WRIT_E_TOOBIG;
		goto out;
	}
	if (!(buf = malloc(st.st_size ? (size_t)st.st_size : 1))) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		goto out;
	*ret = buf;
	*ret_len = (size_t)st.st_size;
	*ret_mode = st.st_mode & 0777;
	buf = NULL;
	err = 0;
out:
	free(buf);
	fclose(f);
	return err;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct release_file *)a)->name, ((const struct release_file *)b)->name);
}

int release_add(struct cloud *c, struct db *db, const char *channel, const char *version, char *const *paths,
		size_t n)
{
	struct release *r = calloc(1, sizeof(*r));
	uint8_t *content[RELEASE_FILES_MAX] = { 0 }, *msg = NULL, pub[WRIT_P256_PUB_LEN];
	size_t len[RELEASE_FILES_MAX] = { 0 }, msg_len = 0, i, j;
	struct db_res *res = NULL;
	struct writ_signer s;
	int64_t id;
	int err;

	if (!r)
		return WRIT_E_NOMEM;
	err = WRIT_E_INVAL;
	if (!release_channel_ok(channel) || !release_version_ok(version) || n == 0 || n > RELEASE_FILES_MAX) {
		fprintf(stderr, "writ-cloud release add: --channel [a-z0-9-]{1,16}, --version MAJOR.MINOR.PATCH[-PRE], 1..%d files\n",
			RELEASE_FILES_MAX);
		goto out;
	}
	strcpy(r->product, RELEASE_PRODUCT);
	(void)!snprintf(r->version, sizeof(r->version), "%s", version);
	(void)!snprintf(r->channel, sizeof(r->channel), "%s", channel);
	r->created = (uint64_t)now_s();
	r->n_files = n;
	for (i = 0; i < n; i++) {
		const char *base = strrchr(paths[i], '/') ? strrchr(paths[i], '/') + 1 : paths[i];

		if (!release_name_ok(base) || snprintf(r->files[i].name, sizeof(r->files[i].name), "%s", base) < 0) {
			fprintf(stderr, "writ-cloud release add: %s: a file name is 1..64 of [A-Za-z0-9._-]\n", paths[i]);
			goto out;
		}
	}
	qsort(r->files, n, sizeof(r->files[0]), by_name);
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			const char *base = strrchr(paths[j], '/') ? strrchr(paths[j], '/') + 1 : paths[j];

			if (!strcmp(base, r->files[i].name))
				break;
		}
		if ((err = read_whole(paths[j], &content[i], &len[i], &r->files[i].mode)) < 0) {
			fprintf(stderr, "writ-cloud release add: cannot read %s: %s\n", paths[j], writ_strerror(err));
			goto out;
		}
		r->files[i].size = len[i];
		if ((err = ec_sha256(content[i], len[i], r->files[i].sha256)) < 0)
			goto out;
	}
	if ((err = release_key(c, pub)) < 0)
		goto out;
	pthread_mutex_lock(&c->p11_lock);
	if ((err = p11_signer(c->p11, RELEASE_KEY_LABEL, &s)) == 0)
		err = release_sign(&s, r, &msg, &msg_len);
	pthread_mutex_unlock(&c->p11_lock);
	if (err < 0) {
		if (err == WRIT_E_INVAL)
			fprintf(stderr, "writ-cloud release add: two files with the same name\n");
		goto out;
	}
	if ((err = db_begin(db)) < 0)
		goto out;
	err = db_query(db, "INSERT INTO releases (version, channel, created, manifest) VALUES (?, ?, ?, ?) RETURNING id",
		       (struct db_param[]){ DB_T(r->version), DB_T(r->channel), DB_I(r->created), DB_B(msg, msg_len) },
		       4, &res);
	if (err == 0 && db_rows(res) != 1)
		err = WRIT_E_IO;
	id = err == 0 ? db_int(res, 0, 0) : 0;
	for (i = 0; i < n && err == 0; i++)
		err = db_exec(db, "INSERT INTO release_files (release_id, name, content) VALUES (?, ?, ?)",
			      (struct db_param[]){ DB_I(id), DB_T(r->files[i].name), DB_B(content[i], len[i]) }, 3, NULL);
	err = err == 0 ? db_commit(db) : (db_rollback(db), err);
	if (err == WRIT_E_EXISTS)
		fprintf(stderr, "writ-cloud release add: %s is already published on %s\n", version, channel);
out:
	db_res_free(res);
	for (i = 0; i < RELEASE_FILES_MAX; i++)
		free(content[i]);
	free(msg);
	free(r);
	return err;
}

/* The version this factory should run on channel: its OEM's pin, else the highest
 * (semver precedence, not the newest published: a hotfix of an older line published
 * later does not hide the newer line). 0 and ret_version filled, WRIT_E_NOTFOUND. */
static int pick(struct call *k, const char *channel, char ret_version[RELEASE_VERSION_MAX + 1], int *ret_pinned)
{
	struct db_res *r = NULL;
	size_t i;
	int err, cmp;

	if ((err = db_query(k->db, "SELECT version FROM release_pins WHERE factory_id = ?",
			    (struct db_param[]){ DB_I(k->who.factory_id) }, 1, &r)) < 0)
		return err;
	*ret_pinned = db_rows(r) == 1;
	ret_version[0] = 0;
	if (*ret_pinned)
		(void)!snprintf(ret_version, RELEASE_VERSION_MAX + 1, "%s", db_text(r, 0, 0));
	db_res_free(r);
	if (*ret_pinned)
		return 0;
	if ((err = db_query(k->db, "SELECT version FROM releases WHERE channel = ?",
			    (struct db_param[]){ DB_T(channel) }, 1, &r)) < 0)
		return err;
	for (i = 0; i < db_rows(r); i++)
		if (!ret_version[0] || (release_version_cmp(db_text(r, i, 0), ret_version, &cmp) == 0 && cmp > 0))
			(void)!snprintf(ret_version, RELEASE_VERSION_MAX + 1, "%s", db_text(r, i, 0));
	db_res_free(r);
	return ret_version[0] ? 0 : WRIT_E_NOTFOUND;
}

static int latest(struct call *k)
{
	const char *channel = query_arg(k, "channel");
	char version[RELEASE_VERSION_MAX + 1];
	struct db_res *r = NULL, *f = NULL;
	const uint8_t *m;
	size_t len, i;
	json_t *names;
	int err, pinned = 0;

	if (!channel || !release_channel_ok(channel))
		return fail(k, 400, "bad_request", "channel=[a-z0-9-]{1,16} is required");
	if ((err = pick(k, channel, version, &pinned)) < 0 && err != WRIT_E_NOTFOUND)
		return fail_db(k, err, "releases");
	if (err == 0)
		err = db_query(k->db, "SELECT id, version, manifest FROM releases WHERE channel = ? AND version = ?",
			       (struct db_param[]){ DB_T(channel), DB_T(version) }, 2, &r);
	else
		err = 0;
	if (err < 0)
		return fail_db(k, err, "releases");
	if (db_rows(r) != 1) {
		db_res_free(r);
		return fail(k, 404, "not_found", "no release on channel %s for this factory%s", channel,
			    pinned ? " (its OEM pinned a version not published there)" : "");
	}
	if ((err = db_query(k->db, "SELECT name FROM release_files WHERE release_id = ? ORDER BY name",
			    (struct db_param[]){ DB_I(db_int(r, 0, 0)) }, 1, &f)) < 0) {
		db_res_free(r);
		return fail_db(k, err, "release files");
	}
	names = json_array();
	for (i = 0; i < db_rows(f); i++)
		json_array_append_new(names, json_string(db_text(f, i, 0)));
	m = db_blob(r, 0, 2, &len);
	answer(k, 200, json_pack("{s:s, s:s, s:b, s:o, s:o}", "version", db_text(r, 0, 1), "channel", channel,
				 "pinned", pinned, "manifest", b64j(m, len), "files", names));
	db_res_free(r);
	db_res_free(f);
	return 0;
}

static int download(struct call *k, const char *channel, const char *version, const char *name)
{
	struct db_res *r = NULL;
	int err;

	if (!release_channel_ok(channel) || !release_version_ok(version) || !release_name_ok(name))
		return fail(k, 404, "not_found", "no such release file");
	err = db_query(k->db,
		       "SELECT f.content FROM release_files f JOIN releases r ON r.id = f.release_id"
		       " WHERE r.channel = ? AND r.version = ? AND f.name = ?",
		       (struct db_param[]){ DB_T(channel), DB_T(version), DB_T(name) }, 3, &r);
	if (err < 0)
		return fail_db(k, err, "release file");
	return answer_blob(k, r, "no such release file");
}

int h_releases(struct call *k)
{
	if (k->who.role != ROLE_FACTORY)
		return forbid(k, "a factory credential");
	if (strcmp(k->method, "GET"))
		return fail(k, 405, "method", "GET only");
	if (k->n_segs == 2 && !strcmp(k->segs[1], "latest"))
		return latest(k);
	if (k->n_segs == 5 && !strcmp(k->segs[3], "files"))
		return download(k, k->segs[1], k->segs[2], k->segs[4]);
	return fail(k, 404, "not_found", "no such release endpoint (docs/releases.md)");
}

int release_pin_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = { { "version", JV_STR, 1 } };
	const char *v;
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, f, 1, &o) < 0)
		return WRIT_E_FORMAT;
	v = jstr(o, "version");
	if (*v && !release_version_ok(v)) {
		json_decref(o);
		return fail(k, 400, "bad_request", "version: MAJOR.MINOR.PATCH[-PRE], or \"\" to unpin"), WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

int release_pin(struct call *k, int64_t factory_id, int64_t oem_id)
{
	const char *v;
	json_t *o = NULL;
	int err;

	if (!k->who.oem || k->who.org_id != oem_id || !role_in(k, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_NONE))
		return forbid(k, "the factory's OEM (oem-admin, oem-security)");
	if (strcmp(k->method, "PUT"))
		return fail(k, 405, "method", "PUT only");
	if (release_pin_req(k, &o) < 0)
		return 0;
	v = jstr(o, "version");
	if (*v)
		err = db_exec(k->db,
			      "INSERT INTO release_pins (factory_id, version) VALUES (?, ?)"
			      " ON CONFLICT (factory_id) DO UPDATE SET version = excluded.version",
			      (struct db_param[]){ DB_I(factory_id), DB_T(v) }, 2, NULL);
	else
		err = db_exec(k->db, "DELETE FROM release_pins WHERE factory_id = ?",
			      (struct db_param[]){ DB_I(factory_id) }, 1, NULL);
	if (err < 0) {
		json_decref(o);
		return fail_db(k, err, "release pin");
	}
	answer(k, 200, json_pack("{s:s}", "version", v));
	json_decref(o);
	return 0;
}
