/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rework rights in the portal (docs/cloud-api.md "Rework"): the OEM's debug root (in
 * the token) certifies an edge HSM's debug delegate key for a product, a factory, a
 * permission mask, a window and the product's debug key generation
 * (authority_rework_rights, the same code as `writ authority`). Rights travel in a
 * production batch's writ or in a rework writ (kind 2) on the factory's writ feed; they
 * never touch the product's quota. What the HSM did with them comes back as JT_DEBUG
 * journal entries (sync.c stores them as rework_events), which is what "used" counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "crypto/ec.h"
#include "host/file.h"
#include "wire/authority.h"
#include "wire/dbgcred.h"
#include "wire/writ.h"

#define REWORK_DAYS_MAX 3650
#define REWORK_DAYS_DEFAULT 90
#define REWORK_LIMIT_DEFAULT 10
#define REWORK_SESSION_DEFAULT 3600

static const struct {
	const char *name;
	unsigned bit;
} perm_names[] = { { "debug", DBG_PERM_DEBUG }, { "reflash", DBG_PERM_REFLASH }, { "reprovision", DBG_PERM_REPROVISION } };
#define N_PERMS (sizeof(perm_names) / sizeof(perm_names[0]))

static json_t *perms_json(const uint8_t perms[16])
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < N_PERMS; i++)
		if (dbg_perm_has(perms, perm_names[i].bit))
			json_array_append_new(a, json_string(perm_names[i].name));
	return a;
}

static const char *op_name(int64_t op)
{
	return op == 1 ? "debug" : op == 2 ? "reflash" : op == 3 ? "reprovision" : "unknown";
}

int rework_req_parse(struct call *k, json_t *o, int allow_devices, const char *what, struct rework_req *ret)
{
	json_t *perms = json_object_get(o, "perms"), *devs = json_object_get(o, "devices"), *v;
	size_t i, j, len = 0;

	memset(ret, 0, sizeof(*ret));
	if (!json_is_array(perms) || json_array_size(perms) < 1 || json_array_size(perms) > N_PERMS)
		return fail(k, 400, "bad_request", "%s perms: a list of 1..3 of \"debug\", \"reflash\", \"reprovision\"", what),
		       WRIT_E_FORMAT;
	json_array_foreach(perms, i, v) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		for (j = 0; j < N_PERMS; j++)
			if (!strcmp(s, perm_names[j].name))
				break;
		if (j == N_PERMS || dbg_perm_has(ret->perms, perm_names[j].bit))
			return fail(k, 400, "bad_request", "%s perms[%zu]: \"debug\", \"reflash\" or \"reprovision\", each once",
				    what, i),
			       WRIT_E_FORMAT;
		dbg_perm_set(ret->perms, perm_names[j].bit);
	}
	for (j = 0; j < N_PERMS; j++)
		if (dbg_perm_has(ret->perms, perm_names[j].bit))
			len += (size_t)snprintf(ret->perms_text + len, sizeof(ret->perms_text) - len, "%s%s", len ? "," : "",
						perm_names[j].name);
	ret->limit = jint(o, "limit", REWORK_LIMIT_DEFAULT);
	ret->days = jint(o, "days", REWORK_DAYS_DEFAULT);
	ret->session = jint(o, "session", REWORK_SESSION_DEFAULT);
	for (i = 0; i < 3; i++) {
		static const char *const f[] = { "limit", "days", "session" };
		v = json_object_get(o, f[i]);
		if (v && !json_is_integer(v))
			return fail(k, 400, "bad_request", "%s %s must be an integer", what, f[i]), WRIT_E_FORMAT;
	}
	if (ret->limit < 1 || ret->limit > WRIT_REWORK_LIMIT_MAX)
		return fail(k, 400, "bad_request", "%s limit: 1..%u unlocks", what, WRIT_REWORK_LIMIT_MAX), WRIT_E_FORMAT;
	if (ret->days < 1 || ret->days > REWORK_DAYS_MAX)
		return fail(k, 400, "bad_request", "%s days: 1..%d", what, REWORK_DAYS_MAX), WRIT_E_FORMAT;
	if (ret->session < 1 || ret->session > WDP_DBG_SESSION_MAX)
		return fail(k, 400, "bad_request", "%s session: 1..%d seconds", what, WDP_DBG_SESSION_MAX), WRIT_E_FORMAT;
	if (devs && !allow_devices)
		return fail(k, 400, "bad_request", "%s: devices are named in a rework grant only (POST /v1/rework)", what),
		       WRIT_E_FORMAT;
	if (devs) {
		if (!json_is_array(devs) || json_array_size(devs) < 1 || json_array_size(devs) > WRIT_REWORK_DEVICES_MAX)
			return fail(k, 400, "bad_request", "devices: 1..%d device UIDs (32 hex digits each)",
				    WRIT_REWORK_DEVICES_MAX),
			       WRIT_E_FORMAT;
		json_array_foreach(devs, i, v) {
			uint8_t *u = ret->devices[i];
			if (!json_is_string(v) || !hex_ok(json_string_value(v), 16) || hex_decode(json_string_value(v), u, 16) < 0)
				return fail(k, 400, "bad_request", "devices[%zu]: a 16-byte device UID in hex (32 digits)", i),
				       WRIT_E_FORMAT;
			if (dbg_is_zero(u, 16))
				return fail(k, 400, "bad_request", "devices[%zu]: the all-zero UID names no device", i),
				       WRIT_E_FORMAT;
			for (j = 0; j < i; j++)
				if (!memcmp(ret->devices[j], u, 16))
					return fail(k, 400, "bad_request", "devices[%zu]: named twice", i), WRIT_E_FORMAT;
		}
		ret->n_devices = json_array_size(devs);
	}
	return 0;
}

struct rights_arg {
	const uint8_t *hsm_id, *debug_pub;
	const struct product *p;
	const struct rework_req *q;
	int64_t not_before;
	struct writ_rework *out;
};

static int rights_cb(const struct writ_signer *root, void *arg)
{
	struct rights_arg *a = arg;
	return authority_rework_rights(root, a->hsm_id, a->debug_pub, (uint16_t)a->p->vid, (uint16_t)a->p->pid,
				       (uint32_t)a->p->debug_gen, a->q->perms, a->not_before,
				       a->not_before + a->q->days * 86400, (uint32_t)a->q->limit, (uint32_t)a->q->session,
				       a->out);
}

int rework_mint_rights(struct call *k, const struct product *p, int64_t hsm_pk, const uint8_t hsm_id[32],
		       const struct rework_req *q, int64_t not_before, struct writ_scope *s)
{
	struct db_res *r = NULL;
	struct rights_arg a;
	uint8_t pub[WRIT_P256_PUB_LEN];
	const uint8_t *b;
	size_t len = 0, i;
	int err;

	if ((err = db_query(k->db, "SELECT debug_pub FROM hsms WHERE id = ?", (struct db_param[]){ DB_I(hsm_pk) }, 1, &r)) < 0)
		return fail_db(k, err, "hsm"), err;
	b = db_rows(r) == 1 && !db_isnull(r, 0, 0) ? db_blob(r, 0, 0, &len) : NULL;
	if (!b || len != sizeof(pub)) {
		db_res_free(r);
		return fail(k, 409, "state", "this edge HSM was enrolled without a debug delegate key (initialised before "
					     "secure debug existed): it cannot hold rework rights; enrol an HSM initialised "
					     "by a current writ-hsmd"),
		       WRIT_E_STATE;
	}
	memcpy(pub, b, sizeof(pub));
	db_res_free(r);
	memset(&a, 0, sizeof(a));
	a.hsm_id = hsm_id;
	a.debug_pub = pub;
	a.p = p;
	a.q = q;
	a.not_before = not_before;
	a.out = &s->rework;
	if ((err = keys_with_signer(k->c, p->oem_id, KEY_DEBUG_ROOT, rights_cb, &a)) < 0) {
		if (err == WRIT_E_INVAL)
			return fail(k, 400, "bad_request", "these rework rights cannot be minted: %s", writ_strerror(err)), err;
		return fail_db(k, err, "debug root"), err;
	}
	for (i = 0; i < q->n_devices; i++)
		memcpy(s->rework.devices[i], q->devices[i], 16);
	s->rework.n_devices = q->n_devices;
	s->ops |= WRIT_OP_DEBUG_UNLOCK;
	/* re-provisioning is a DAC under these rights (docs/hsm-api.md, op 2 under a rework
	 * writ): the writ must allow issuing one, as `writ authority rework` does */
	if (dbg_perm_has(q->perms, DBG_PERM_REPROVISION))
		s->ops |= WRIT_OP_ISSUE_DAC;
	return 0;
}

int rework_store(struct call *k, const struct writ_scope *s, int64_t product_id, int64_t factory_id, int64_t hsm_pk,
		 int64_t batch_id, const struct rework_req *q, int64_t *ret_id)
{
	struct db_res *r = NULL;
	char devs[WRIT_REWORK_DEVICES_MAX * 33 + 1] = "";
	size_t i;
	int err;

	for (i = 0; i < q->n_devices; i++) {
		if (i)
			devs[i * 33 - 1] = ',';
		hex_encode(q->devices[i], 16, devs + i * 33);
	}
	err = db_query(k->db,
		       "INSERT INTO reworks (writ_id, product_id, factory_id, hsm_pk, org_id, batch_id, created_by, perms,"
		       " key_gen, not_before, not_after, max_uses, session_max, devices, state, created)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?) RETURNING id",
		       (struct db_param[]){ DB_B(s->id, 16), DB_I(product_id), DB_I(factory_id), DB_I(hsm_pk),
					    DB_I(k->who.org_id), batch_id ? DB_I(batch_id) : DB_N, DB_T(k->who.user),
					    DB_B(s->rework.perms, 16), DB_I(s->rework.key_gen), DB_I(s->rework.not_before),
					    DB_I(s->rework.not_after), DB_I(s->rework.limit), DB_I(s->rework.session_max),
					    DB_T(devs), DB_I(now_s()) },
		       15, &r);
	if (err == 0 && db_rows(r) == 1 && ret_id)
		*ret_id = db_int(r, 0, 0);
	db_res_free(r);
	return err;
}

/* ---- products: debug key generation and the rework an ODM's batch may carry ---- */

int product_debug_rotate(struct call *k, struct product *p)
{
	struct db_res *r = NULL;
	int err;

	if (strcmp(k->method, "POST"))
		return fail(k, 405, "method", "POST /v1/products/{p}/debug-rotate");
	if (!role_in(k, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_NONE))
		return forbid(k, "the product's oem-admin or oem-security");
	if (!product_is_own_oem(k, p))
		return fail(k, 404, "not_found", "no such product");
	if ((err = db_query(k->db, "UPDATE products SET debug_gen = debug_gen + 1 WHERE id = ? RETURNING debug_gen",
			    (struct db_param[]){ DB_I(p->id) }, 1, &r)) < 0 || db_rows(r) != 1) {
		db_res_free(r);
		return fail_db(k, err < 0 ? err : WRIT_E_IO, "product");
	}
	answer(k, 200, json_pack("{s:s, s:I}", "product", p->name, "debug_gen", (json_int_t)db_int(r, 0, 0)));
	db_res_free(r);
	return 0;
}

int rework_policy_req(struct call *k, struct rework_req *q, int *ret_none, json_t **ret)
{
	static const struct jfield f[] = {
		{ "perms", JV_ARR, 1 }, { "limit", JV_INT, 0 }, { "days", JV_INT, 0 }, { "session", JV_INT, 0 },
	};
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, f, sizeof(f) / sizeof(f[0]), &o) < 0)
		return WRIT_E_FORMAT;
	*ret_none = json_array_size(json_object_get(o, "perms")) == 0;
	if (!*ret_none && rework_req_parse(k, o, 0, "rework-policy", q) < 0) {
		json_decref(o);
		return WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

int product_rework_policy(struct call *k, struct product *p)
{
	struct rework_req q;
	json_t *o = NULL, *pol;
	char *text = NULL;
	int err, none = 0;

	if (strcmp(k->method, "PUT"))
		return fail(k, 405, "method", "PUT /v1/products/{p}/rework-policy");
	if (!role_in(k, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_NONE))
		return forbid(k, "the product's oem-admin or oem-security");
	if (!product_is_own_oem(k, p))
		return fail(k, 404, "not_found", "no such product");
	if (rework_policy_req(k, &q, &none, &o) < 0)
		return 0;
	if (none) {
		pol = json_null();
		text = strdup("");
	} else {
		pol = json_pack("{s:o, s:I, s:I, s:I}", "perms", perms_json(q.perms), "limit", (json_int_t)q.limit, "days",
				(json_int_t)q.days, "session", (json_int_t)q.session);
		text = pol ? json_dumps(pol, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	}
	if (!text || strlen(text) >= sizeof(p->rework_policy)) {
		json_decref(pol);
		fail(k, 500, "internal", "out of memory");
		goto out;
	}
	if ((err = db_exec(k->db, "UPDATE products SET rework_policy = ? WHERE id = ?",
			   (struct db_param[]){ DB_T(text), DB_I(p->id) }, 2, NULL)) < 0) {
		json_decref(pol);
		fail_db(k, err, "product");
		goto out;
	}
	answer(k, 200, json_pack("{s:s, s:o}", "product", p->name, "rework_policy", pol));
out:
	free(text);
	json_decref(o);
	return 0;
}

/* ---- rework grants ---- */

#define RW_COLS                                                                                                       \
	"r.id, r.writ_id, p.name, f.name, h.hsm_id, r.perms, r.key_gen, r.not_before, r.not_after, r.max_uses,"        \
	" r.session_max, r.devices, r.state, r.revocation_id, r.created_by, r.created, b.writ_id,"                     \
	" (SELECT COUNT(*) FROM rework_events e WHERE e.rework_id = r.id), p.oem_id, f.odm_id, r.factory_id, r.hsm_pk," \
	" p.vid, p.pid, r.product_id, r.batch_id"
#define RW_FROM                                                                                                       \
	" FROM reworks r JOIN products p ON p.id = r.product_id JOIN factories f ON f.id = r.factory_id"               \
	" JOIN hsms h ON h.id = r.hsm_pk LEFT JOIN batches b ON b.id = r.batch_id"
/* the product's OEM, the ODM running the factory, the factory itself */
#define RW_TENANCY "((? = 1 AND r.factory_id = ?) OR (? = 1 AND p.oem_id = ?) OR (? = 1 AND f.odm_id = ?))"

static void tenancy_params(const struct call *k, struct db_param *p)
{
	p[0] = DB_I(k->who.role == ROLE_FACTORY);
	p[1] = DB_I(k->who.factory_id);
	p[2] = DB_I(k->who.role != ROLE_FACTORY && k->who.oem);
	p[3] = DB_I(k->who.org_id);
	p[4] = DB_I(k->who.role != ROLE_FACTORY && !k->who.oem);
	p[5] = DB_I(k->who.org_id);
}

static json_t *rework_json(struct db_res *r, size_t i)
{
	size_t len;
	const uint8_t *perms = db_blob(r, i, 5, &len);
	uint8_t pm[16] = { 0 };
	int64_t used = db_int(r, i, 17), lim = db_int(r, i, 9);
	json_t *o, *devs = json_array();
	const char *d = db_text(r, i, 11);

	if (perms && len == 16)
		memcpy(pm, perms, 16);
	while (devs && d && *d) {
		size_t n = strcspn(d, ",");
		json_array_append_new(devs, json_stringn(d, n));
		d += n + (d[n] == ',');
	}
	o = json_pack("{s:o, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:s, s:I}", "id",
		      hexj(db_blob(r, i, 1, &len), 16), "kind", db_isnull(r, i, 16) ? "grant" : "batch", "product",
		      db_text(r, i, 2), "factory", db_text(r, i, 3), "hsm", hexj(db_blob(r, i, 4, &len), 32), "perms",
		      perms_json(pm), "key_gen", (json_int_t)db_int(r, i, 6), "not_before", (json_int_t)db_int(r, i, 7),
		      "not_after", (json_int_t)db_int(r, i, 8), "limit", (json_int_t)lim, "used", (json_int_t)used,
		      "remaining", (json_int_t)(used < lim ? lim - used : 0), "session", (json_int_t)db_int(r, i, 10),
		      "devices", devs, "state", db_text(r, i, 12), "created_by", db_text(r, i, 14), "created",
		      (json_int_t)db_int(r, i, 15));
	if (!o)
		return NULL;
	json_object_set_new(o, "batch", db_isnull(r, i, 16) ? json_null() : hexj(db_blob(r, i, 16, &len), 16));
	json_object_set_new(o, "revocation", db_isnull(r, i, 13) ? json_null() : hexj(db_blob(r, i, 13, &len), 16));
	return o;
}

struct grant_tx {
	struct product p;
	struct rework_req q;
	struct writ_scope *s;
	int64_t factory_id, hsm_pk;
	uint8_t kex_pub[65];
	int64_t rework_id;
};

struct seal_arg {
	struct writ_scope *s;
	const uint8_t *kex_pub;
	uint8_t *sealed;
	size_t sealed_len;
};

static int seal_cb(const struct writ_signer *signer, void *arg)
{
	struct seal_arg *m = arg;
	return writ_seal(m->s, signer, m->kex_pub, &m->sealed, &m->sealed_len);
}

static int tx_grant(struct call *k, void *arg)
{
	struct grant_tx *t = arg;
	struct seal_arg m = { t->s, t->kex_pub, NULL, 0 };
	int err;

	if ((err = ec_random(t->s->id, 16)) < 0)
		return err;
	t->s->issued_at = now_s();
	if ((err = keys_with_signer(k->c, t->p.oem_id, KEY_WRIT, seal_cb, &m)) < 0)
		return err;
	err = rework_store(k, t->s, t->p.id, t->factory_id, t->hsm_pk, 0, &t->q, &t->rework_id);
	if (err == 0)
		err = db_exec(k->db,
			      "INSERT INTO writs (writ_id, factory_id, hsm_pk, kind, batch_id, rework_id, version_digest, sealed,"
			      " created) VALUES (?, ?, ?, 2, NULL, ?, ?, ?, ?)",
			      (struct db_param[]){ DB_B(t->s->id, 16), DB_I(t->factory_id), DB_I(t->hsm_pk), DB_I(t->rework_id),
						   DB_B(t->s->version_digest, 32), DB_B(m.sealed, m.sealed_len), DB_I(now_s()) },
			      7, NULL);
	free(m.sealed);
	return err;
}

static int rework_answer(struct call *k, unsigned status, int64_t id)
{
	struct db_res *r = NULL;
	int err = db_query(k->db, "SELECT " RW_COLS RW_FROM " WHERE r.id = ?", (struct db_param[]){ DB_I(id) }, 1, &r);

	if (err < 0 || db_rows(r) != 1) {
		db_res_free(r);
		return fail_db(k, err < 0 ? err : WRIT_E_IO, "rework");
	}
	answer(k, status, rework_json(r, 0));
	db_res_free(r);
	return 0;
}

int grant_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = {
		{ "product", JV_STR, 1 }, { "factory", JV_STR, 1 }, { "hsm", JV_STR, 1 }, { "perms", JV_ARR, 1 },
		{ "limit", JV_INT, 0 },   { "days", JV_INT, 0 },    { "session", JV_INT, 0 }, { "devices", JV_ARR, 0 },
	};

	*ret = NULL;
	return jreq(k, f, sizeof(f) / sizeof(f[0]), ret) < 0 ? WRIT_E_FORMAT : 0;
}

int grant_values(struct call *k, json_t *o, struct rework_req *q, uint8_t hsm_id[32])
{
	if (rework_req_parse(k, o, 1, "rework", q) < 0)
		return WRIT_E_FORMAT;
	if (!hex_ok(jstr(o, "hsm"), 32) || hex_decode(jstr(o, "hsm"), hsm_id, 32) < 0)
		return fail(k, 400, "bad_request", "hsm: the edge HSM's id (64 hex digits)"), WRIT_E_FORMAT;
	return 0;
}

static int grant_create(struct call *k)
{
	struct grant_tx *t = calloc(1, sizeof(*t));
	struct db_res *r = NULL;
	uint8_t hsm_id[32], *pai = NULL;
	const uint8_t *b;
	size_t len = 0;
	json_t *o = NULL;
	char factory[WRIT_NAME_MAX + 1];
	int err;

	if (!t || !(t->s = calloc(1, sizeof(*t->s)))) {
		free(t);
		return fail(k, 500, "internal", "out of memory");
	}
	if (!role_in(k, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_NONE)) {
		forbid(k, "the product's oem-admin or oem-security (the OEM decides rework)");
		goto out;
	}
	if (grant_req(k, &o) < 0)
		goto out;
	if (product_visible(k, jstr(o, "product"), &t->p) < 0)
		goto out;
	if (grant_values(k, o, &t->q, hsm_id) < 0)
		goto out;
	if ((err = db_query(k->db,
			    "SELECT f.id, f.name, h.id, h.kex_pub FROM factories f JOIN hsms h ON h.factory_id = f.id"
			    " WHERE f.name = ? AND f.oem_id = ? AND h.hsm_id = ?",
			    (struct db_param[]){ DB_T(jstr(o, "factory")), DB_I(t->p.oem_id), DB_B(hsm_id, 32) }, 3, &r)) < 0) {
		fail_db(k, err, "factory");
		goto out;
	}
	if (db_rows(r) != 1 || !(b = db_blob(r, 0, 3, &len)) || len != 65) {
		fail(k, 404, "not_found", "no factory \"%.64s\" of yours with HSM %.16s… enrolled", jstr(o, "factory"),
		     jstr(o, "hsm"));
		goto out;
	}
	t->factory_id = db_int(r, 0, 0);
	(void)!snprintf(factory, sizeof(factory), "%s", db_text(r, 0, 1));
	t->hsm_pk = db_int(r, 0, 2);
	memcpy(t->kex_pub, b, 65);
	db_res_free(r);
	r = NULL;
	t->s->kind = WRIT_KIND_REWORK;
	(void)!snprintf(t->s->product, sizeof(t->s->product), "%s", t->p.name);
	(void)!snprintf(t->s->factory, sizeof(t->s->factory), "%s", factory);
	t->s->vid = (uint16_t)t->p.vid;
	t->s->pid = (uint16_t)t->p.pid;
	memcpy(t->s->hsm_id, hsm_id, 32);
	t->s->not_before = now_s() - 300;
	t->s->not_after = t->s->not_before + t->q.days * 86400;
	if (rework_mint_rights(k, &t->p, t->hsm_pk, hsm_id, &t->q, t->s->not_before, t->s) < 0)
		goto out;
	/* a rework writ carries the PAI too (re-provisioned DACs chain to it) */
	if (batch_pai_for(k, &t->p, t->hsm_pk, hsm_id, factory, &pai, &len) < 0)
		goto out;
	if (len > WRIT_PAI_MAX) {
		fail(k, 500, "internal", "stored PAI too large");
		goto out;
	}
	memcpy(t->s->pai, pai, len);
	t->s->pai_len = len;
	if ((err = in_tx(k, tx_grant, t)) < 0) {
		if (err == WRIT_E_INVAL)
			fail(k, 400, "bad_request", "this rework writ cannot be minted: %s", writ_strerror(err));
		else
			fail_db(k, err, "rework");
		goto out;
	}
	rework_answer(k, 201, t->rework_id);
out:
	db_res_free(r);
	free(pai);
	json_decref(o);
	writ_scope_wipe(t->s);
	free(t->s);
	free(t);
	return 0;
}

struct rrevoke_tx {
	int64_t rework_id, factory_id, hsm_pk, oem_id;
	struct writ_scope *s;
	uint8_t kex_pub[65];
	int state_bad;
};

static int tx_rrevoke(struct call *k, void *arg)
{
	struct rrevoke_tx *t = arg;
	struct seal_arg m = { t->s, t->kex_pub, NULL, 0 };
	int64_t changes = 0;
	int err;

	if ((err = ec_random(t->s->id, 16)) < 0)
		return err;
	t->s->issued_at = now_s();
	err = db_exec(k->db, "UPDATE reworks SET state = 'revoking', revocation_id = ? WHERE id = ? AND state = 'active'",
		      (struct db_param[]){ DB_B(t->s->id, 16), DB_I(t->rework_id) }, 2, &changes);
	if (err < 0)
		return err;
	if (!changes) {
		t->state_bad = 1;
		return WRIT_E_STATE;
	}
	if ((err = keys_with_signer(k->c, t->oem_id, KEY_WRIT, seal_cb, &m)) < 0)
		return err;
	err = db_exec(k->db,
		      "INSERT INTO writs (writ_id, factory_id, hsm_pk, kind, batch_id, rework_id, version_digest, sealed, created)"
		      " VALUES (?, ?, ?, 3, NULL, ?, ?, ?, ?)",
		      (struct db_param[]){ DB_B(t->s->id, 16), DB_I(t->factory_id), DB_I(t->hsm_pk), DB_I(t->rework_id),
					   DB_B(t->s->version_digest, 32), DB_B(m.sealed, m.sealed_len), DB_I(now_s()) },
		      7, NULL);
	free(m.sealed);
	return err;
}

static int grant_revoke(struct call *k, struct db_res *r)
{
	struct rrevoke_tx t;
	struct db_res *h = NULL;
	const uint8_t *b;
	size_t len = 0;
	int err;

	if (!(role_in(k, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_NONE) && k->who.oem && k->who.org_id == db_int(r, 0, 18)))
		return forbid(k, "the product's oem-admin or oem-security");
	if (!db_isnull(r, 0, 16))
		return fail(k, 409, "state", "these rights came with a production batch: revoke the batch (POST "
					     "/v1/batches/{id}/revoke), its rights end with it");
	memset(&t, 0, sizeof(t));
	if (!(t.s = calloc(1, sizeof(*t.s))))
		return fail(k, 500, "internal", "out of memory");
	t.rework_id = db_int(r, 0, 0);
	t.oem_id = db_int(r, 0, 18);
	t.factory_id = db_int(r, 0, 20);
	t.hsm_pk = db_int(r, 0, 21);
	err = db_query(k->db, "SELECT kex_pub FROM hsms WHERE id = ?", (struct db_param[]){ DB_I(t.hsm_pk) }, 1, &h);
	if (err < 0 || db_rows(h) != 1 || !(b = db_blob(h, 0, 0, &len)) || len != 65) {
		db_res_free(h);
		free(t.s);
		return fail_db(k, err < 0 ? err : WRIT_E_IO, "hsm");
	}
	memcpy(t.kex_pub, b, 65);
	db_res_free(h);
	t.s->kind = WRIT_KIND_REVOCATION;
	(void)!snprintf(t.s->product, sizeof(t.s->product), "%s", db_text(r, 0, 2));
	(void)!snprintf(t.s->factory, sizeof(t.s->factory), "%s", db_text(r, 0, 3));
	t.s->vid = (uint16_t)db_int(r, 0, 22);
	t.s->pid = (uint16_t)db_int(r, 0, 23);
	memcpy(t.s->hsm_id, db_blob(r, 0, 4, &len), 32);
	t.s->not_before = now_s() - 300;
	t.s->not_after = now_s() + 5LL * 366 * 86400;
	memcpy(t.s->revokes[0], db_blob(r, 0, 1, &len), 16);
	t.s->n_revokes = 1;
	err = in_tx(k, tx_rrevoke, &t);
	if (err == WRIT_E_STATE)
		fail(k, 409, "state", "these rework rights are %s: only active ones can be revoked", db_text(r, 0, 12));
	else if (err < 0)
		fail_db(k, err, "revocation");
	else
		answer(k, 200, json_pack("{s:s, s:o}", "state", "revoking", "revocation", hexj(t.s->id, 16)));
	writ_scope_wipe(t.s);
	free(t.s);
	return 0;
}

int h_rework(struct call *k)
{
	struct db_param p[8];
	struct db_res *r = NULL;
	uint8_t id[16];
	json_t *list;
	size_t i;
	int err;

	if (k->n_segs == 1 && !strcmp(k->method, "POST"))
		return grant_create(k);
	if (k->n_segs == 1 && !strcmp(k->method, "GET")) {
		const char *prod = query_arg(k, "product");
		p[0] = DB_T(prod ? prod : "");
		p[1] = DB_T(prod ? prod : "");
		tenancy_params(k, p + 2);
		if ((err = db_query(k->db, "SELECT " RW_COLS RW_FROM " WHERE (? = '' OR p.name = ?) AND " RW_TENANCY
					   " ORDER BY r.id LIMIT 1000",
				    p, 8, &r)) < 0)
			return fail_db(k, err, "rework");
		list = json_array();
		for (i = 0; i < db_rows(r); i++)
			json_array_append_new(list, rework_json(r, i));
		db_res_free(r);
		return answer(k, 200, json_pack("{s:o}", "rework", list));
	}
	if (k->n_segs == 1)
		return fail(k, 405, "method", "GET or POST /v1/rework");
	if (k->n_segs > 3)
		return fail(k, 404, "not_found", "no such endpoint");
	if (!hex_ok(k->segs[1], 16) || hex_decode(k->segs[1], id, 16) < 0)
		return fail(k, 404, "not_found", "no such rework rights (their id is the writ id: 32 hex digits)");
	p[0] = DB_B(id, 16);
	tenancy_params(k, p + 1);
	if ((err = db_query(k->db, "SELECT " RW_COLS RW_FROM " WHERE r.writ_id = ? AND " RW_TENANCY, p, 7, &r)) < 0)
		return fail_db(k, err, "rework");
	if (db_rows(r) != 1) {
		db_res_free(r);
		return fail(k, 404, "not_found", "no such rework rights");
	}
	if (k->n_segs == 2 && !strcmp(k->method, "GET"))
		answer(k, 200, rework_json(r, 0));
	else if (k->n_segs == 3 && !strcmp(k->segs[2], "revoke") && !strcmp(k->method, "POST"))
		grant_revoke(k, r);
	else
		fail(k, 405, "method", "GET /v1/rework/{id}, POST /v1/rework/{id}/revoke");
	db_res_free(r);
	return 0;
}

static json_t *jcopy(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return v ? json_incref(v) : json_null();
}

json_t *rework_history(struct call *k, int64_t product_id, const uint8_t *uid, size_t uid_len)
{
	struct db_res *r = NULL;
	json_t *list = json_array();
	size_t i, len;

	if (!list || db_query(k->db,
			      "SELECT e.writ_id, h.hsm_id, f.name, e.hsm_seq, e.operation, e.perms, e.session, e.not_after,"
			      " e.time, e.record_seq, e.record FROM rework_events e JOIN reworks r ON r.id = e.rework_id"
			      " JOIN hsms h ON h.id = e.hsm_pk JOIN factories f ON f.id = h.factory_id"
			      " WHERE e.uid = ? AND r.product_id = ? ORDER BY e.time, e.id",
			      (struct db_param[]){ DB_B(uid, uid_len), DB_I(product_id) }, 2, &r) < 0)
		return list;
	for (i = 0; i < db_rows(r); i++) {
		const uint8_t *pm = db_blob(r, i, 5, &len);
		uint8_t perms[16] = { 0 };
		json_t *o, *rec;

		if (pm && len == 16)
			memcpy(perms, pm, 16);
		o = json_pack("{s:o, s:o, s:s, s:I, s:s, s:o, s:I, s:I, s:I}", "writ", hexj(db_blob(r, i, 0, &len), 16), "hsm",
			      hexj(db_blob(r, i, 1, &len), 32), "factory", db_text(r, i, 2), "hsm_seq",
			      (json_int_t)db_int(r, i, 3), "operation", op_name(db_int(r, i, 4)), "perms", perms_json(perms),
			      "session", (json_int_t)db_int(r, i, 6), "not_after", (json_int_t)db_int(r, i, 7), "time",
			      (json_int_t)db_int(r, i, 8));
		if (!o)
			continue;
		if (db_int(r, i, 4) == 3 && db_int(r, i, 6) == 0) /* a re-provisioned DAC, not a token */
			json_object_set_new(o, "dac", json_true());
		if (!db_isnull(r, i, 9) && (rec = json_loads(db_text(r, i, 10), 0, NULL)) != NULL) {
			json_object_set_new(o, "record", json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "seq",
								   (json_int_t)db_int(r, i, 9), "line", jcopy(rec, "line"),
								   "station", jcopy(rec, "station"), "step",
								   jcopy(rec, "step"), "result", jcopy(rec, "result"),
								   "reason", jcopy(rec, "reason"), "firmware_version",
								   jcopy(rec, "firmware_version")));
			json_decref(rec);
		} else {
			json_object_set_new(o, "record", json_null());
		}
		json_array_append_new(list, o);
	}
	db_res_free(r);
	return list;
}
