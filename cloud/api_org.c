/* SPDX-License-Identifier: Apache-2.0 */
/* GET /v1/health, /v1/me, users and API tokens (docs/cloud-api.md "Tenants, roles, tokens"). */
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "cloud/cloud.h"

int h_health(struct call *k)
{
	if (strcmp(k->method, "GET") || k->n_segs != 1)
		return fail(k, 405, "method", "GET /v1/health");
	return answer(k, 200, json_pack("{s:s, s:s}", "status", "ok", "store",
					k->c->kind == DB_POSTGRES ? "postgresql" : "sqlite"));
}

int h_me(struct call *k)
{
	if (strcmp(k->method, "GET") || k->n_segs != 1)
		return fail(k, 405, "method", "GET /v1/me");
	return answer(k, 200, json_pack("{s:s, s:s, s:s, s:s}", "user", k->who.user, "org", k->who.org, "org_kind",
					k->who.role == ROLE_FACTORY ? "factory" : k->who.oem ? "oem" : "odm", "role",
					role_name(k->who.role)));
}

/* Insert a token for a user (user_id) or a factory (factory_id); writes its text. */
static int token_insert(struct call *k, int64_t user_id, int64_t factory_id, const char *label, char text[64],
			int64_t *ret_id)
{
	uint8_t hash[32];
	struct db_res *r = NULL;
	int err;

	if ((err = token_make(text, hash)) < 0)
		return err;
	err = db_query(k->db, "INSERT INTO tokens (user_id, factory_id, label, hash, created) VALUES (?, ?, ?, ?, ?) RETURNING id",
		       (struct db_param[]){ user_id ? DB_I(user_id) : DB_N, factory_id ? DB_I(factory_id) : DB_N,
					    DB_T(label), DB_B(hash, 32), DB_I(now_s()) },
		       5, &r);
	if (!err && ret_id)
		*ret_id = db_rows(r) ? db_int(r, 0, 0) : 0;
	db_res_free(r);
	return err;
}

int cloud_token_for_factory(struct call *k, int64_t factory_id, char text[64]);
int cloud_token_for_factory(struct call *k, int64_t factory_id, char text[64])
{
	return token_insert(k, 0, factory_id, "factory", text, NULL);
}

struct user_add {
	const char *name;
	enum role role;
	char token[64];
};

static int tx_user_add(struct call *k, void *arg)
{
	struct user_add *u = arg;
	struct db_res *r = NULL;
	int64_t uid;
	int err;

	err = db_query(k->db, "INSERT INTO users (org_id, name, role, created) VALUES (?, ?, ?, ?) RETURNING id",
		       (struct db_param[]){ DB_I(k->who.org_id), DB_T(u->name), DB_T(role_name(u->role)), DB_I(now_s()) },
		       4, &r);
	if (err < 0)
		return err;
	uid = db_int(r, 0, 0);
	db_res_free(r);
	return token_insert(k, uid, 0, "first", u->token, NULL);
}

int user_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = { { "name", JV_STR, 1 }, { "role", JV_STR, 1 } };
	enum role role;
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, f, 2, &o) < 0)
		return WRIT_E_FORMAT;
	role = role_parse(jstr(o, "role"));
	if (!name_ok(jstr(o, "name"))) {
		json_decref(o);
		return fail(k, 400, "bad_request", "name: 1..64 of A-Z a-z 0-9 . _ -"), WRIT_E_FORMAT;
	}
	if (k->who.oem ? (role != ROLE_OEM_ADMIN && role != ROLE_OEM_SECURITY) : role != ROLE_ODM_ENGINEER) {
		json_decref(o);
		return fail(k, 400, "bad_request", "role: an OEM admin adds oem-admin or oem-security users; an ODM "
						   "engineer adds odm-engineer users"), WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

int h_users(struct call *k)
{
	struct user_add u;
	struct db_res *r = NULL;
	json_t *o = NULL, *list;
	size_t i;
	int err;

	if (k->n_segs != 1)
		return fail(k, 404, "not_found", "no such endpoint");
	if (!role_in(k, ROLE_OEM_ADMIN, ROLE_ODM_ENGINEER, ROLE_NONE))
		return forbid(k, "oem-admin or odm-engineer");
	if (!strcmp(k->method, "GET")) {
		if ((err = db_query(k->db, "SELECT name, role FROM users WHERE org_id = ? ORDER BY name",
				    (struct db_param[]){ DB_I(k->who.org_id) }, 1, &r)) < 0)
			return fail_db(k, err, "users");
		list = json_array();
		for (i = 0; i < db_rows(r); i++)
			json_array_append_new(list, json_pack("{s:s, s:s}", "name", db_text(r, i, 0), "role", db_text(r, i, 1)));
		db_res_free(r);
		return answer(k, 200, json_pack("{s:o}", "users", list));
	}
	if (strcmp(k->method, "POST"))
		return fail(k, 405, "method", "GET or POST /v1/users");
	if (user_req(k, &o) < 0)
		return 0;
	memset(&u, 0, sizeof(u));
	u.name = jstr(o, "name");
	u.role = role_parse(jstr(o, "role"));
	err = in_tx(k, tx_user_add, &u);
	if (err < 0) {
		fail_db(k, err, "user");
	} else {
		answer(k, 201, json_pack("{s:s, s:s, s:s}", "user", u.name, "role", role_name(u.role), "token", u.token));
	}
	writ_memzero(u.token, sizeof(u.token));
	json_decref(o);
	return 0;
}

int token_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = { { "label", JV_STR, 1 } };
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, f, 1, &o) < 0)
		return WRIT_E_FORMAT;
	if (!name_ok(jstr(o, "label"))) {
		json_decref(o);
		return fail(k, 400, "bad_request", "label: 1..64 of A-Z a-z 0-9 . _ -"), WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

int h_tokens(struct call *k)
{
	struct db_res *r = NULL;
	json_t *o = NULL, *list;
	char text[64];
	int64_t id = 0, changes = 0;
	size_t i;
	int err;

	if (k->who.role == ROLE_FACTORY)
		return forbid(k, "users (a factory's credential is managed by its OEM)");
	if (k->n_segs == 1 && !strcmp(k->method, "GET")) {
		/* ?user=NAME: an oem-admin lists a user of its org (to revoke one of them) */
		const char *user = query_arg(k, "user");
		if (user && k->who.role != ROLE_OEM_ADMIN)
			return forbid(k, "an oem-admin (for another user's tokens)");
		if (user)
			err = db_query(k->db,
				       "SELECT t.id, t.label, t.created, t.revoked FROM tokens t JOIN users u ON u.id = t.user_id"
				       " WHERE u.org_id = ? AND u.name = ? ORDER BY t.id",
				       (struct db_param[]){ DB_I(k->who.org_id), DB_T(user) }, 2, &r);
		else
			err = db_query(k->db, "SELECT id, label, created, revoked FROM tokens WHERE user_id = ? ORDER BY id",
				       (struct db_param[]){ DB_I(k->who.user_id) }, 1, &r);
		if (err < 0)
			return fail_db(k, err, "tokens");
		list = json_array();
		for (i = 0; i < db_rows(r); i++)
			json_array_append_new(list, json_pack("{s:I, s:s, s:I, s:b}", "id", (json_int_t)db_int(r, i, 0),
							      "label", db_text(r, i, 1), "created",
							      (json_int_t)db_int(r, i, 2), "revoked", !db_isnull(r, i, 3)));
		db_res_free(r);
		return answer(k, 200, json_pack("{s:o}", "tokens", list));
	}
	if (k->n_segs == 1 && !strcmp(k->method, "POST")) {
		if (token_req(k, &o) < 0)
			return 0;
		err = token_insert(k, k->who.user_id, 0, jstr(o, "label"), text, &id);
		json_decref(o);
		if (err < 0)
			return fail_db(k, err, "token");
		answer(k, 201, json_pack("{s:I, s:s}", "id", (json_int_t)id, "token", text));
		writ_memzero(text, sizeof(text));
		return 0;
	}
	if (k->n_segs == 2 && !strcmp(k->method, "DELETE")) {
		char *end;
		long long tid = strtoll(k->segs[1], &end, 10);
		if (*end || tid <= 0)
			return fail(k, 404, "not_found", "no such token");
		/* Own tokens; an OEM admin also any token of a user of its org. */
		err = db_exec(k->db,
			      "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL AND (user_id = ? OR (? = 1 AND"
			      " user_id IN (SELECT id FROM users WHERE org_id = ?)))",
			      (struct db_param[]){ DB_I(now_s()), DB_I(tid), DB_I(k->who.user_id),
						   DB_I(k->who.role == ROLE_OEM_ADMIN), DB_I(k->who.org_id) },
			      5, &changes);
		if (err < 0)
			return fail_db(k, err, "token");
		if (!changes)
			return fail(k, 404, "not_found", "no such token (or already revoked)");
		return answer(k, 200, json_pack("{s:I}", "revoked", (json_int_t)tid));
	}
	return fail(k, 405, "method", "GET or POST /v1/tokens, DELETE /v1/tokens/{id}");
}
