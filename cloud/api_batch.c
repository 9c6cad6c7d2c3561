/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Production batches and their writs (docs/cloud-api.md "Production batches"). The
 * quota holds because the only way to take units is one conditional UPDATE of the
 * product row (allocated + quantity <= quota), which also takes the serial range from
 * the product's counter; PostgreSQL row locks and SQLite's single writer make it atomic
 * across threads and instances. The writ is minted with lib/wire/writ.c in the same
 * transaction, so a batch never exists without its writ or the other way round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "crypto/ec.h"
#include "host/file.h"
#include "wire/authority.h"
#include "wire/dbgcred.h"
#include "wire/enrol.h"
#include "wire/writ.h"

#define BATCH_COLS                                                                                                    \
	"b.id, b.writ_id, p.name, v.name, f.name, h.hsm_id, b.quantity, b.serial_first, b.serial_last, b.not_before,"  \
	" b.not_after, b.state, b.produced, b.reissued, b.final_count, b.revocation_id, b.created_by, b.created,"     \
	" b.dac_days, v.digest, b.org_id, p.oem_id, b.factory_id"
#define BATCH_FROM                                                                                                    \
	" FROM batches b JOIN products p ON p.id = b.product_id JOIN versions v ON v.id = b.version_id"               \
	" JOIN factories f ON f.id = b.factory_id JOIN hsms h ON h.id = b.hsm_pk"

static json_t *batch_json(struct db_res *r, size_t i)
{
	size_t len;
	json_t *o = json_pack("{s:o, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:s, s:I, s:I, s:o}",
			      "id", hexj(db_blob(r, i, 1, &len), 16), "product", db_text(r, i, 2), "version",
			      db_text(r, i, 3), "factory", db_text(r, i, 4), "hsm", hexj(db_blob(r, i, 5, &len), 32),
			      "quantity", (json_int_t)db_int(r, i, 6), "serial_first", (json_int_t)db_int(r, i, 7),
			      "serial_last", (json_int_t)db_int(r, i, 8), "not_before", (json_int_t)db_int(r, i, 9),
			      "not_after", (json_int_t)db_int(r, i, 10), "state", db_text(r, i, 11), "produced",
			      (json_int_t)db_int(r, i, 12), "reissued", (json_int_t)db_int(r, i, 13), "created_by",
			      db_text(r, i, 16), "created", (json_int_t)db_int(r, i, 17), "dac_days",
			      (json_int_t)db_int(r, i, 18), "version_digest", hexj(db_blob(r, i, 19, &len), 32));

	if (!o)
		return NULL;
	json_object_set_new(o, "remaining", json_integer(db_int(r, i, 6) - db_int(r, i, 12)));
	json_object_set_new(o, "final_count", db_isnull(r, i, 14) ? json_null() : json_integer(db_int(r, i, 14)));
	json_object_set_new(o, "revocation", db_isnull(r, i, 15) ? json_null() : hexj(db_blob(r, i, 15, &len), 16));
	return o;
}

/* May the caller read batch row i? OEM roles of the product's OEM, the ODM that made
 * it, the factory it runs at. */
static int batch_readable(const struct call *k, struct db_res *r, size_t i)
{
	if (k->who.role == ROLE_FACTORY)
		return k->who.factory_id == db_int(r, i, 22);
	if (k->who.oem)
		return k->who.org_id == db_int(r, i, 21);
	return k->who.org_id == db_int(r, i, 20);
}

struct mint_arg {
	struct writ_scope *s;
	const uint8_t *kex_pub;
	uint8_t *sealed;
	size_t sealed_len;
};

static int mint_cb(const struct writ_signer *signer, void *arg)
{
	struct mint_arg *m = arg;
	return writ_seal(m->s, signer, m->kex_pub, &m->sealed, &m->sealed_len);
}

struct pai_arg {
	const struct enrol_info *info;
	const uint8_t *paa;
	size_t paa_len;
	int vid, pid;
	uint8_t rnd[8];
	uint8_t *der;
	size_t der_len;
	char why[200];
};

static int pai_cb(const struct writ_signer *signer, void *arg)
{
	struct pai_arg *a = arg;
	return authority_certify_pai(signer, a->paa, a->paa_len, a->info, a->vid, a->pid, 0, a->rnd, now_s(), &a->der,
				     &a->der_len, a->why, sizeof(a->why));
}

struct batch_tx {
	/* in */
	struct product p;
	int64_t version_id, factory_id, hsm_pk, quantity, not_before, not_after, dac_days;
	uint8_t version_digest[32], firmware_digest[32], hsm_id[32], kex_pub[65];
	char factory[WRIT_NAME_MAX + 1];
	const uint8_t *pai;
	size_t pai_len;
	const struct rework_req *rq;      /* rework rights asked, or NULL */
	const struct writ_rework *rights; /* minted for them */
	/* out */
	uint8_t writ_id[16];
	int64_t batch_id, serial_first;
	int over_quota;
	int64_t available;
};

static int tx_batch(struct call *k, void *arg)
{
	struct batch_tx *t = arg;
	struct writ_scope *s = calloc(1, sizeof(*s));
	struct mint_arg m = { s, t->kex_pub, NULL, 0 };
	struct db_res *r = NULL;
	int err;

	if (!s)
		return WRIT_E_NOMEM;
	t->over_quota = 0;
	err = db_query(k->db,
		       "UPDATE products SET allocated = allocated + ?, next_serial = next_serial + ?"
		       " WHERE id = ? AND allocated + ? <= quota RETURNING next_serial - ?",
		       (struct db_param[]){ DB_I(t->quantity), DB_I(t->quantity), DB_I(t->p.id), DB_I(t->quantity),
					    DB_I(t->quantity) },
		       5, &r);
	if (err < 0)
		goto out;
	if (db_rows(r) != 1) {
		db_res_free(r);
		r = NULL;
		t->over_quota = 1;
		if (db_query(k->db, "SELECT quota - allocated FROM products WHERE id = ?", (struct db_param[]){ DB_I(t->p.id) },
			     1, &r) == 0 && db_rows(r))
			t->available = db_int(r, 0, 0);
		err = WRIT_E_QUOTA;
		goto out;
	}
	t->serial_first = db_int(r, 0, 0);
	db_res_free(r);
	r = NULL;
	if ((err = ec_random(t->writ_id, sizeof(t->writ_id))) < 0)
		goto out;
	memcpy(s->id, t->writ_id, 16);
	s->kind = WRIT_KIND_PRODUCTION;
	(void)!snprintf(s->product, sizeof(s->product), "%s", t->p.name);
	s->vid = (uint16_t)t->p.vid;
	s->pid = (uint16_t)t->p.pid;
	memcpy(s->version_digest, t->version_digest, 32);
	(void)!snprintf(s->factory, sizeof(s->factory), "%s", t->factory);
	memcpy(s->hsm_id, t->hsm_id, 32);
	s->quantity = (uint64_t)t->quantity;
	s->serial_first = (uint64_t)t->serial_first;
	s->serial_last = (uint64_t)(t->serial_first + t->quantity - 1);
	s->not_before = t->not_before;
	s->not_after = t->not_after;
	s->issued_at = now_s();
	s->ops = WRIT_OP_ISSUE_DAC;
	memcpy(s->firmware_digest, t->firmware_digest, 32);
	memcpy(s->pai, t->pai, t->pai_len);
	s->pai_len = t->pai_len;
	s->dac_days = (uint32_t)t->dac_days;
	if (t->rights) {
		s->rework = *t->rights;
		s->ops |= WRIT_OP_DEBUG_UNLOCK;
	}
	if ((err = keys_with_signer(k->c, t->p.oem_id, KEY_WRIT, mint_cb, &m)) < 0)
		goto out;
	err = db_query(k->db,
		       "INSERT INTO batches (writ_id, product_id, version_id, factory_id, hsm_pk, org_id, created_by, quantity,"
		       " serial_first, serial_last, not_before, not_after, dac_days, state, created)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?) RETURNING id",
		       (struct db_param[]){ DB_B(t->writ_id, 16), DB_I(t->p.id), DB_I(t->version_id), DB_I(t->factory_id),
					    DB_I(t->hsm_pk), DB_I(k->who.org_id), DB_T(k->who.user), DB_I(t->quantity),
					    DB_I(t->serial_first), DB_I(t->serial_first + t->quantity - 1),
					    DB_I(t->not_before), DB_I(t->not_after), DB_I(t->dac_days), DB_I(now_s()) },
		       14, &r);
	if (err < 0)
		goto out;
	t->batch_id = db_int(r, 0, 0);
	err = db_exec(k->db,
		      "INSERT INTO writs (writ_id, factory_id, hsm_pk, kind, batch_id, version_digest, sealed, created)"
		      " VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
		      (struct db_param[]){ DB_B(t->writ_id, 16), DB_I(t->factory_id), DB_I(t->hsm_pk), DB_I(t->batch_id),
					   DB_B(t->version_digest, 32), DB_B(m.sealed, m.sealed_len), DB_I(now_s()) },
		      7, NULL);
	if (err == 0 && t->rights)
		err = rework_store(k, s, t->p.id, t->factory_id, t->hsm_pk, t->batch_id, t->rq, NULL);
out:
	db_res_free(r);
	free(m.sealed);
	writ_scope_wipe(s);
	free(s);
	return err;
}

/* The PAI for (product, HSM): stored, or (portal mode) certified now by the OEM's PAA. */
static int pai_for(struct call *k, struct batch_tx *t, uint8_t **ret, size_t *ret_len)
{
	struct enrol_info *info = NULL;
	struct db_res *r = NULL;
	struct pai_arg a;
	const uint8_t *b;
	size_t len = 0;
	int err;

	if ((err = db_query(k->db, "SELECT der FROM pais WHERE product_id = ? AND hsm_pk = ?",
			    (struct db_param[]){ DB_I(t->p.id), DB_I(t->hsm_pk) }, 2, &r)) < 0)
		return fail_db(k, err, "pai"), err;
	if (db_rows(r) == 1 && (b = db_blob(r, 0, 0, &len)) && len) {
		*ret = malloc(len);
		if (*ret)
			memcpy(*ret, b, len);
		*ret_len = len;
		db_res_free(r);
		return *ret ? 0 : WRIT_E_NOMEM;
	}
	db_res_free(r);
	r = NULL;
	if (strcmp(t->p.pai_mode, "portal"))
		return fail(k, 409, "state", "product %s signs PAIs offline: the OEM must upload this HSM's PAI first "
					     "(writ product pai-csr / pai-upload)", t->p.name),
		       WRIT_E_STATE;
	memset(&a, 0, sizeof(a));
	if (!(info = calloc(1, sizeof(*info))))
		return WRIT_E_NOMEM;
	err = db_query(k->db, "SELECT pai_csr, pai_pub FROM hsms WHERE id = ?", (struct db_param[]){ DB_I(t->hsm_pk) }, 1, &r);
	if (err == 0 && db_rows(r) == 1) {
		b = db_blob(r, 0, 0, &len);
		if (len <= sizeof(info->csr)) {
			memcpy(info->csr, b, len);
			info->csr_len = len;
		}
		b = db_blob(r, 0, 1, &len);
		if (len == 65)
			memcpy(info->pai_pub, b, len);
	}
	db_res_free(r);
	memcpy(info->hsm_id, t->hsm_id, 32);
	(void)!snprintf(info->factory, sizeof(info->factory), "%s", t->factory);
	a.info = info;
	a.vid = (int)t->p.vid;
	a.pid = -1; /* one PAI per vendor and HSM serves every product of the OEM with this VID */
	if (err == 0 && (err = keys_paa_der(k->db, t->p.oem_id, (uint8_t **)&a.paa, &a.paa_len)) == 0 &&
	    (err = ec_random(a.rnd, sizeof(a.rnd))) == 0)
		err = keys_with_signer(k->c, t->p.oem_id, KEY_PAA, pai_cb, &a);
	free((void *)a.paa);
	free(info);
	if (err < 0)
		return fail(k, 503, "unavailable", "the PAI could not be certified: %s %s", writ_strerror(err), a.why), err;
	err = db_exec(k->db, "INSERT INTO pais (product_id, hsm_pk, der) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		      (struct db_param[]){ DB_I(t->p.id), DB_I(t->hsm_pk), DB_B(a.der, a.der_len) }, 3, NULL);
	free(a.der);
	if (err < 0)
		return fail_db(k, err, "pai"), err;
	return pai_for(k, t, ret, ret_len); /* the stored one: a concurrent batch may have won */
}

int batch_pai_for(struct call *k, const struct product *p, int64_t hsm_pk, const uint8_t hsm_id[32], const char *factory,
		  uint8_t **ret, size_t *ret_len)
{
	struct batch_tx *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return fail(k, 500, "internal", "out of memory"), WRIT_E_NOMEM;
	t->p = *p;
	t->hsm_pk = hsm_pk;
	memcpy(t->hsm_id, hsm_id, 32);
	(void)!snprintf(t->factory, sizeof(t->factory), "%s", factory);
	err = pai_for(k, t, ret, ret_len);
	free(t);
	return err;
}

/* May an ODM's batch carry these rework rights? Only within what the product's OEM
 * allowed (PUT /v1/products/{p}/rework-policy); answers 403 otherwise. */
static int rework_allowed(struct call *k, const struct product *p, const struct rework_req *q)
{
	json_t *pol = p->rework_policy[0] ? json_loads(p->rework_policy, 0, NULL) : NULL, *v;
	uint8_t allowed[16] = { 0 };
	size_t i;
	int ok;

	if (!pol)
		return fail(k, 403, "forbidden", "the OEM of %s allows no rework rights in ODM batches (it sets what "
						 "they may carry with PUT /v1/products/%s/rework-policy, or grants rework "
						 "itself with POST /v1/rework)", p->name, p->name),
		       WRIT_E_AUTH;
	json_array_foreach(json_object_get(pol, "perms"), i, v) {
		const char *s = json_string_value(v);
		if (s && !strcmp(s, "debug"))
			dbg_perm_set(allowed, DBG_PERM_DEBUG);
		else if (s && !strcmp(s, "reflash"))
			dbg_perm_set(allowed, DBG_PERM_REFLASH);
		else if (s && !strcmp(s, "reprovision"))
			dbg_perm_set(allowed, DBG_PERM_REPROVISION);
	}
	ok = dbg_perms_within(q->perms, allowed) && q->limit <= jint(pol, "limit", 0) && q->days <= jint(pol, "days", 0) &&
	     q->session <= jint(pol, "session", 0);
	if (!ok) {
		char *t = json_dumps(pol, JSON_COMPACT);
		fail(k, 403, "forbidden", "the OEM of %s allows ODM batches rework rights of at most %s", p->name,
		     t ? t : "?");
		free(t);
	}
	json_decref(pol);
	return ok ? 0 : WRIT_E_AUTH;
}

int batch_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = {
		{ "product", JV_STR, 1 }, { "version", JV_STR, 1 }, { "factory", JV_STR, 1 }, { "hsm", JV_STR, 1 },
		{ "quantity", JV_INT, 1 }, { "not_before", JV_INT, 1 }, { "not_after", JV_INT, 1 }, { "dac_days", JV_INT, 0 },
		{ "rework", JV_OBJ, 0 },
	};

	*ret = NULL;
	return jreq(k, f, sizeof(f) / sizeof(f[0]), ret) < 0 ? WRIT_E_FORMAT : 0;
}

int batch_values(struct call *k, json_t *o, struct batch_req *ret)
{
	static const struct jfield rf[] = {
		{ "perms", JV_ARR, 1 }, { "limit", JV_INT, 0 }, { "days", JV_INT, 0 }, { "session", JV_INT, 0 },
	};
	json_t *rw;

	memset(ret, 0, sizeof(*ret));
	ret->quantity = jint(o, "quantity", 0);
	ret->not_before = jint(o, "not_before", 0);
	ret->not_after = jint(o, "not_after", 0);
	ret->dac_days = jint(o, "dac_days", 0);
	if (ret->quantity < 1 || ret->quantity > WRIT_QUANTITY_MAX)
		return fail(k, 400, "bad_request", "quantity: 1..%u per batch (an edge HSM runs at most that many under one "
						   "writ: split larger runs into several batches)", WRIT_QUANTITY_MAX),
		       WRIT_E_FORMAT;
	if (ret->not_before < 0 || ret->not_after <= ret->not_before || ret->not_after <= now_s() ||
	    ret->not_after - ret->not_before > 5LL * 366 * 86400)
		return fail(k, 400, "bad_request", "window: not_before < not_after, not_after in the future, at most 5 years"),
		       WRIT_E_FORMAT;
	if (ret->dac_days < 0 || ret->dac_days > 36500)
		return fail(k, 400, "bad_request", "dac_days: 0 (no expiry) .. 36500"), WRIT_E_FORMAT;
	if (!hex_ok(jstr(o, "hsm"), 32) || hex_decode(jstr(o, "hsm"), ret->hsm_id, 32) < 0)
		return fail(k, 400, "bad_request", "hsm: the edge HSM's id (64 hex digits)"), WRIT_E_FORMAT;
	if ((rw = json_object_get(o, "rework")) != NULL) {
		const char *key;
		json_t *v;
		size_t i;
		json_object_foreach(rw, key, v) {
			for (i = 0; i < sizeof(rf) / sizeof(rf[0]) && strcmp(rf[i].name, key); i++)
				;
			if (i == sizeof(rf) / sizeof(rf[0]))
				return fail(k, 400, "bad_request", "rework: unknown field \"%.64s\" (perms, limit, days, session)",
					    key), WRIT_E_FORMAT;
		}
		if (!(ret->rework = calloc(1, sizeof(*ret->rework))))
			return fail(k, 500, "internal", "out of memory"), WRIT_E_FORMAT;
		if (rework_req_parse(k, rw, 0, "rework", ret->rework) < 0) {
			free(ret->rework);
			ret->rework = NULL;
			return WRIT_E_FORMAT;
		}
	}
	return 0;
}

static int batch_create(struct call *k)
{
	struct batch_tx t;
	struct batch_req q;
	struct db_res *r = NULL;
	struct rework_req *rq = NULL;
	struct writ_scope *rs = NULL;
	uint8_t *pai = NULL;
	const uint8_t *b;
	size_t len = 0;
	json_t *o = NULL;
	int err;

	memset(&t, 0, sizeof(t));
	if (k->who.role != ROLE_ODM_ENGINEER)
		return forbid(k, "an odm-engineer (the ODM creates batches; the OEM approves versions)");
	if (batch_req(k, &o) < 0)
		return 0;
	if (product_visible(k, jstr(o, "product"), &t.p) < 0)
		goto out;
	if (batch_values(k, o, &q) < 0)
		goto out;
	t.quantity = q.quantity;
	t.not_before = q.not_before;
	t.not_after = q.not_after;
	t.dac_days = q.dac_days;
	memcpy(t.hsm_id, q.hsm_id, sizeof(t.hsm_id));
	rq = q.rework;
	if (rq) {
		if (!(rs = calloc(1, sizeof(*rs)))) {
			fail(k, 500, "internal", "out of memory");
			goto out;
		}
		if (rework_allowed(k, &t.p, rq) < 0)
			goto out;
	}
	/* the version: of this product, approved */
	if ((err = db_query(k->db, "SELECT id, state, digest, firmware_sha256 FROM versions WHERE product_id = ? AND name = ?",
			    (struct db_param[]){ DB_I(t.p.id), DB_T(jstr(o, "version")) }, 2, &r)) < 0) {
		fail_db(k, err, "version");
		goto out;
	}
	if (db_rows(r) != 1) {
		fail(k, 404, "not_found", "no version \"%.64s\" of %s", jstr(o, "version"), t.p.name);
		goto out;
	}
	if (strcmp(db_text(r, 0, 1), "approved")) {
		fail(k, 409, "state", "version %.64s is %s: only an approved version can be produced (the OEM approves it)",
		     jstr(o, "version"), db_text(r, 0, 1));
		goto out;
	}
	t.version_id = db_int(r, 0, 0);
	memcpy(t.version_digest, db_blob(r, 0, 2, &len), 32);
	memcpy(t.firmware_digest, db_blob(r, 0, 3, &len), 32);
	db_res_free(r);
	r = NULL;
	/* the factory: run by the caller's org for this product's OEM; the HSM bound to it */
	if ((err = db_query(k->db,
			    "SELECT f.id, f.name, h.id, h.kex_pub FROM factories f JOIN hsms h ON h.factory_id = f.id"
			    " WHERE f.name = ? AND f.odm_id = ? AND f.oem_id = ? AND h.hsm_id = ?",
			    (struct db_param[]){ DB_T(jstr(o, "factory")), DB_I(k->who.org_id), DB_I(t.p.oem_id),
						 DB_B(t.hsm_id, 32) },
			    4, &r)) < 0) {
		fail_db(k, err, "factory");
		goto out;
	}
	if (db_rows(r) != 1) {
		fail(k, 404, "not_found", "no factory \"%.64s\" run by you for this product's OEM with HSM %.16s… enrolled",
		     jstr(o, "factory"), jstr(o, "hsm"));
		goto out;
	}
	t.factory_id = db_int(r, 0, 0);
	(void)!snprintf(t.factory, sizeof(t.factory), "%s", db_text(r, 0, 1));
	t.hsm_pk = db_int(r, 0, 2);
	b = db_blob(r, 0, 3, &len);
	if (len != 65) {
		fail(k, 500, "internal", "stored HSM key");
		goto out;
	}
	memcpy(t.kex_pub, b, 65);
	db_res_free(r);
	r = NULL;
	if (rq) {
		/* the rights run from the batch's not_before, for their own days */
		if (rework_mint_rights(k, &t.p, t.hsm_pk, t.hsm_id, rq, t.not_before, rs) < 0)
			goto out;
		t.rq = rq;
		t.rights = &rs->rework;
	}
	if (pai_for(k, &t, &pai, &len) < 0)
		goto out;
	t.pai = pai;
	t.pai_len = len;
	err = in_tx(k, tx_batch, &t);
	if (err == WRIT_E_QUOTA) {
		fail(k, 409, "quota", "over quota: %lld more units of %s may be allocated (quota %lld), this batch asks %lld",
		     (long long)t.available, t.p.name, (long long)t.p.quota, (long long)t.quantity);
		goto out;
	}
	if (err < 0) {
		if (err == WRIT_E_INVAL)
			fail(k, 400, "bad_request", "this batch's writ cannot be minted: %s", writ_strerror(err));
		else
			fail_db(k, err, "batch");
		goto out;
	}
	if ((err = db_query(k->db, "SELECT " BATCH_COLS BATCH_FROM " WHERE b.id = ?", (struct db_param[]){ DB_I(t.batch_id) },
			    1, &r)) < 0 || db_rows(r) != 1) {
		fail_db(k, err < 0 ? err : WRIT_E_IO, "batch");
		goto out;
	}
	answer(k, 201, batch_json(r, 0));
out:
	db_res_free(r);
	free(pai);
	free(rq);
	writ_scope_wipe(rs);
	free(rs);
	json_decref(o);
	return 0;
}

/* Load one batch the caller may read into *ret (a 1-row result), or answer 404. */
static int batch_get(struct call *k, const char *hex, struct db_res **ret)
{
	uint8_t id[16];
	int err;

	if (!hex_ok(hex, 16) || hex_decode(hex, id, 16) < 0)
		return fail(k, 404, "not_found", "no such batch (its id is the writ id: 32 hex digits)"), WRIT_E_NOTFOUND;
	if ((err = db_query(k->db, "SELECT " BATCH_COLS BATCH_FROM " WHERE b.writ_id = ?", (struct db_param[]){ DB_B(id, 16) },
			    1, ret)) < 0)
		return fail_db(k, err, "batch"), err;
	if (db_rows(*ret) != 1 || !batch_readable(k, *ret, 0)) {
		db_res_free(*ret);
		*ret = NULL;
		return fail(k, 404, "not_found", "no such batch"), WRIT_E_NOTFOUND;
	}
	return 0;
}

struct revoke_tx {
	int64_t batch_id, factory_id, hsm_pk, oem_id;
	struct writ_scope *s;
	uint8_t kex_pub[65];
	uint8_t rev_id[16];
	int state_bad;
};

static int tx_revoke(struct call *k, void *arg)
{
	struct revoke_tx *t = arg;
	struct mint_arg m = { t->s, t->kex_pub, NULL, 0 };
	int64_t changes = 0;
	int err;

	if ((err = ec_random(t->rev_id, 16)) < 0)
		return err;
	memcpy(t->s->id, t->rev_id, 16);
	t->s->issued_at = now_s();
	err = db_exec(k->db, "UPDATE batches SET state = 'revoking', revocation_id = ? WHERE id = ? AND state IN ('active', 'expired')",
		      (struct db_param[]){ DB_B(t->rev_id, 16), DB_I(t->batch_id) }, 2, &changes);
	if (err < 0)
		return err;
	if (!changes) {
		t->state_bad = 1;
		return WRIT_E_STATE;
	}
	/* the batch's rework rights end with it (the same revocation writ) */
	if ((err = db_exec(k->db, "UPDATE reworks SET state = 'revoking', revocation_id = ? WHERE batch_id = ? AND state = 'active'",
			   (struct db_param[]){ DB_B(t->rev_id, 16), DB_I(t->batch_id) }, 2, NULL)) < 0)
		return err;
	if ((err = keys_with_signer(k->c, t->oem_id, KEY_WRIT, mint_cb, &m)) < 0)
		return err;
	err = db_exec(k->db,
		      "INSERT INTO writs (writ_id, factory_id, hsm_pk, kind, batch_id, version_digest, sealed, created)"
		      " VALUES (?, ?, ?, 3, ?, ?, ?, ?)",
		      (struct db_param[]){ DB_B(t->rev_id, 16), DB_I(t->factory_id), DB_I(t->hsm_pk), DB_I(t->batch_id),
					   DB_B(t->s->version_digest, 32), DB_B(m.sealed, m.sealed_len), DB_I(now_s()) },
		      7, NULL);
	free(m.sealed);
	return err;
}

static int batch_revoke(struct call *k, struct db_res *r)
{
	struct revoke_tx t;
	struct db_res *h = NULL;
	const uint8_t *b;
	size_t len = 0;
	int err;

	if (!(role_in(k, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_NONE) && k->who.org_id == db_int(r, 0, 21)) &&
	    !(k->who.role == ROLE_ODM_ENGINEER && k->who.org_id == db_int(r, 0, 20)))
		return forbid(k, "the product's oem-admin / oem-security or the ODM that created the batch");
	memset(&t, 0, sizeof(t));
	if (!(t.s = calloc(1, sizeof(*t.s))))
		return fail(k, 500, "internal", "out of memory");
	t.batch_id = db_int(r, 0, 0);
	t.oem_id = db_int(r, 0, 21);
	t.factory_id = db_int(r, 0, 22);
	err = db_query(k->db, "SELECT h.id, h.kex_pub, p.vid, p.pid FROM batches b JOIN hsms h ON h.id = b.hsm_pk"
			      " JOIN products p ON p.id = b.product_id WHERE b.id = ?",
		       (struct db_param[]){ DB_I(t.batch_id) }, 1, &h);
	if (err < 0 || db_rows(h) != 1 || !(b = db_blob(h, 0, 1, &len)) || len != 65) {
		db_res_free(h);
		free(t.s);
		return fail_db(k, err < 0 ? err : WRIT_E_IO, "batch");
	}
	t.hsm_pk = db_int(h, 0, 0);
	memcpy(t.kex_pub, b, 65);
	t.s->kind = WRIT_KIND_REVOCATION;
	(void)!snprintf(t.s->product, sizeof(t.s->product), "%s", db_text(r, 0, 2));
	t.s->vid = (uint16_t)db_int(h, 0, 2);
	t.s->pid = (uint16_t)db_int(h, 0, 3);
	db_res_free(h);
	(void)!snprintf(t.s->factory, sizeof(t.s->factory), "%s", db_text(r, 0, 4));
	memcpy(t.s->hsm_id, db_blob(r, 0, 5, &len), 32);
	memcpy(t.s->version_digest, db_blob(r, 0, 19, &len), 32);
	t.s->not_before = now_s() - 300;
	t.s->not_after = now_s() + 5LL * 366 * 86400;
	memcpy(t.s->revokes[0], db_blob(r, 0, 1, &len), 16);
	t.s->n_revokes = 1;
	err = in_tx(k, tx_revoke, &t);
	if (err == WRIT_E_STATE)
		fail(k, 409, "state", "batch is %s: only an active or expired batch can be revoked", db_text(r, 0, 11));
	else if (err < 0)
		fail_db(k, err, "revocation");
	else
		answer(k, 200, json_pack("{s:s, s:o}", "state", "revoking", "revocation", hexj(t.rev_id, 16)));
	writ_scope_wipe(t.s);
	free(t.s);
	return 0;
}

int h_batches(struct call *k)
{
	struct db_res *r = NULL;
	const char *prod;
	json_t *list;
	size_t i, len;
	int err;

	if (k->n_segs == 1 && !strcmp(k->method, "POST"))
		return batch_create(k);
	if (k->n_segs == 1 && !strcmp(k->method, "GET")) {
		prod = query_arg(k, "product");
		/* the tenancy of batch_readable, in SQL, so a caller reads only its own rows
		 * (batch_readable still decides, below) */
		err = db_query(k->db,
			       "SELECT " BATCH_COLS BATCH_FROM " WHERE (? = '' OR p.name = ?) AND"
			       " ((? = 1 AND b.factory_id = ?) OR (? = 1 AND p.oem_id = ?) OR (? = 1 AND b.org_id = ?))"
			       " ORDER BY b.id",
			       (struct db_param[]){ DB_T(prod ? prod : ""), DB_T(prod ? prod : ""),
						    DB_I(k->who.role == ROLE_FACTORY), DB_I(k->who.factory_id),
						    DB_I(k->who.role != ROLE_FACTORY && k->who.oem), DB_I(k->who.org_id),
						    DB_I(k->who.role != ROLE_FACTORY && !k->who.oem), DB_I(k->who.org_id) },
			       8, &r);
		if (err < 0)
			return fail_db(k, err, "batches");
		list = json_array();
		for (i = 0; i < db_rows(r); i++)
			if (batch_readable(k, r, i))
				json_array_append_new(list, batch_json(r, i));
		db_res_free(r);
		return answer(k, 200, json_pack("{s:o}", "batches", list));
	}
	if (k->n_segs < 2 || k->n_segs > 3)
		return fail(k, 404, "not_found", "no such endpoint");
	if (batch_get(k, k->segs[1], &r) < 0)
		return 0;
	if (k->n_segs == 2 && !strcmp(k->method, "GET")) {
		answer(k, 200, batch_json(r, 0));
	} else if (k->n_segs == 3 && !strcmp(k->segs[2], "writ") && !strcmp(k->method, "GET")) {
		struct db_res *w = NULL;
		err = db_query(k->db, "SELECT sealed FROM writs WHERE batch_id = ? AND kind = 1",
			       (struct db_param[]){ DB_I(db_int(r, 0, 0)) }, 1, &w);
		if (err < 0 || db_rows(w) != 1) {
			fail_db(k, err < 0 ? err : WRIT_E_IO, "writ");
		} else {
			const uint8_t *b = db_blob(w, 0, 0, &len);
			if ((k->bytes = malloc(len))) {
				memcpy(k->bytes, b, len);
				k->bytes_len = len;
				k->status = 200;
			}
		}
		db_res_free(w);
	} else if (k->n_segs == 3 && !strcmp(k->segs[2], "revoke") && !strcmp(k->method, "POST")) {
		batch_revoke(k, r);
	} else {
		fail(k, 405, "method", "GET /v1/batches/{id}, GET .../writ, POST .../revoke");
	}
	db_res_free(r);
	return 0;
}
