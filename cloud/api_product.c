/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Products, workspace invitations, firmware and product versions (docs/cloud-api.md).
 * A version is built here into the signed .wbundle the factory runs (lib/wire/bundle.c,
 * signed by the OEM's writ-signing key in the token); its digest is what a writ pins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "crypto/ec.h"
#include "crypto/fwsig.h"
#include "crypto/x509.h"
#include "host/file.h"
#include "matter/factory.h"
#include "wire/bundle.h"

#define QUOTA_MAX 1000000000LL

static json_t *product_json(struct call *k, const struct product *p, int detail)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "id", p->name, "name", p->title, "vid",
			      (json_int_t)p->vid, "pid", (json_int_t)p->pid, "quota", (json_int_t)p->quota, "allocated",
			      (json_int_t)p->allocated, "produced", (json_int_t)p->produced, "pai_mode", p->pai_mode);
	uint8_t pub[WRIT_P256_PUB_LEN], h[32], *paa = NULL;
	size_t paa_len = 0, i;
	struct db_res *r = NULL;
	json_t *inv;

	if (!o || !detail)
		return o;
	if (p->has_sb_pub)
		json_object_set_new(o, "secure_boot_pub", hexj(p->sb_pub, 65));
	else if (keys_pub(k->db, p->oem_id, KEY_SECURE_BOOT, pub) == 0)
		json_object_set_new(o, "secure_boot_pub", hexj(pub, 65));
	json_object_set_new(o, "secure_boot_in_portal", json_boolean(!p->has_sb_pub));
	if (keys_pub(k->db, p->oem_id, KEY_DEBUG_ROOT, pub) == 0 && ec_sha256(pub, 65, h) == 0) {
		json_object_set_new(o, "debug_root_pub", hexj(pub, 65));
		json_object_set_new(o, "debug_root_hash", hexj(h, 32));
	}
	json_object_set_new(o, "debug_gen", json_integer(p->debug_gen));
	json_object_set_new(o, "rework_policy", p->rework_policy[0] ? json_loads(p->rework_policy, 0, NULL) : json_null());
	if (keys_pub(k->db, p->oem_id, KEY_WRIT, pub) == 0)
		json_object_set_new(o, "writ_signing_pub", hexj(pub, 65));
	if (keys_paa_der(k->db, p->oem_id, &paa, &paa_len) == 0)
		json_object_set_new(o, "paa", b64j(paa, paa_len));
	free(paa);
	inv = json_array();
	if (db_query(k->db, "SELECT o.name FROM invites i JOIN orgs o ON o.id = i.odm_id WHERE i.product_id = ? ORDER BY o.name",
		     (struct db_param[]){ DB_I(p->id) }, 1, &r) == 0) {
		for (i = 0; i < db_rows(r); i++)
			json_array_append_new(inv, json_string(db_text(r, i, 0)));
	}
	db_res_free(r);
	json_object_set_new(o, "invited", inv);
	return o;
}

int product_req(struct call *k, uint8_t sb[WRIT_P256_PUB_LEN], int *ret_has_sb, json_t **ret)
{
	static const struct jfield f[] = {
		{ "id", JV_STR, 1 }, { "name", JV_STR, 1 }, { "vid", JV_INT, 1 }, { "pid", JV_INT, 1 },
		{ "quota", JV_INT, 1 }, { "pai_mode", JV_STR, 0 }, { "secure_boot_pub", JV_STR, 0 },
	};
	const char *id, *title, *mode, *sbh;
	int64_t vid, pid, quota;
	json_t *o = NULL;
	int err;

	*ret = NULL;
	if (jreq(k, f, sizeof(f) / sizeof(f[0]), &o) < 0)
		return WRIT_E_FORMAT;
	id = jstr(o, "id");
	title = jstr(o, "name");
	mode = jstr(o, "pai_mode") ? jstr(o, "pai_mode") : "portal";
	sbh = jstr(o, "secure_boot_pub");
	vid = jint(o, "vid", -1);
	pid = jint(o, "pid", -1);
	quota = jint(o, "quota", -1);
	if (!name_ok(id) || !title[0] || strlen(title) > 128)
		err = fail(k, 400, "bad_request", "id: 1..64 of A-Z a-z 0-9 . _ -; name: 1..128 characters");
	else if (vid < 1 || vid > 0xFFF4 || pid < 1 || pid > 0xFFFF)
		err = fail(k, 400, "bad_request", "vid must be 1..0xFFF4 and pid 1..0xFFFF (Matter)");
	else if (quota < 1 || quota > QUOTA_MAX)
		err = fail(k, 400, "bad_request", "quota must be 1..%lld", QUOTA_MAX);
	else if (strcmp(mode, "portal") && strcmp(mode, "offline"))
		err = fail(k, 400, "bad_request", "pai_mode is \"portal\" or \"offline\"");
	else if (sbh && (!hex_ok(sbh, 65) || hex_decode(sbh, sb, 65) < 0 || ec_p256_check_pub(sb) < 0))
		err = fail(k, 400, "bad_request", "secure_boot_pub: 130 hex digits, an uncompressed P-256 point");
	else
		err = 1;
	if (err != 1) {
		json_decref(o);
		return WRIT_E_FORMAT;
	}
	*ret_has_sb = sbh != NULL;
	*ret = o;
	return 0;
}

static int product_create(struct call *k)
{
	uint8_t sb[WRIT_P256_PUB_LEN];
	const char *id, *title, *mode;
	int64_t vid, pid, quota;
	struct product p;
	json_t *o = NULL;
	int err, has_sb = 0;

	if (!k->who.oem || k->who.role != ROLE_OEM_ADMIN)
		return forbid(k, "an oem-admin");
	if (product_req(k, sb, &has_sb, &o) < 0)
		return 0;
	id = jstr(o, "id");
	title = jstr(o, "name");
	mode = jstr(o, "pai_mode") ? jstr(o, "pai_mode") : "portal";
	vid = jint(o, "vid", -1);
	pid = jint(o, "pid", -1);
	quota = jint(o, "quota", -1);
	err = db_exec(k->db,
		      "INSERT INTO products (name, title, oem_id, vid, pid, quota, pai_mode, sb_pub, created)"
		      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		      (struct db_param[]){ DB_T(id), DB_T(title), DB_I(k->who.org_id), DB_I(vid), DB_I(pid), DB_I(quota),
					   DB_T(mode), has_sb ? DB_B(sb, 65) : DB_N, DB_I(now_s()) },
		      9, NULL);
	if (err < 0) {
		if (err == WRIT_E_EXISTS)
			fail(k, 409, "conflict", "product id \"%s\" is taken: choose another", id);
		else
			fail_db(k, err, "product");
		json_decref(o);
		return 0;
	}
	err = product_visible(k, id, &p);
	json_decref(o);
	if (err < 0)
		return 0;
	return answer(k, 201, product_json(k, &p, 1));
}

static int product_list(struct call *k)
{
	struct db_res *r = NULL;
	json_t *list;
	struct product p;
	size_t i;
	int err;

	if (k->who.role == ROLE_FACTORY)
		return forbid(k, "users");
	list = json_array();
	err = k->who.oem
		      ? db_query(k->db, "SELECT name FROM products WHERE oem_id = ? ORDER BY name",
				 (struct db_param[]){ DB_I(k->who.org_id) }, 1, &r)
		      : db_query(k->db,
				 "SELECT p.name FROM products p JOIN invites i ON i.product_id = p.id WHERE i.odm_id = ? ORDER BY p.name",
				 (struct db_param[]){ DB_I(k->who.org_id) }, 1, &r);
	if (err < 0) {
		json_decref(list);
		return fail_db(k, err, "products");
	}
	for (i = 0; i < db_rows(r); i++)
		if (product_visible(k, db_text(r, i, 0), &p) == 0)
			json_array_append_new(list, product_json(k, &p, 0));
	db_res_free(r);
	return answer(k, 200, json_pack("{s:o}", "products", list));
}

int invite_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = { { "odm", JV_STR, 1 } };

	*ret = NULL;
	return jreq(k, f, 1, ret) < 0 ? WRIT_E_FORMAT : 0;
}

static int invites(struct call *k, struct product *p)
{
	struct db_res *r = NULL;
	int64_t odm = 0, changes = 0;
	const char *name;
	json_t *o = NULL;
	int err;

	if (k->who.role != ROLE_OEM_ADMIN || !product_is_own_oem(k, p))
		return forbid(k, "the product's oem-admin");
	if (!strcmp(k->method, "POST") && k->n_segs == 3) {
		if (invite_req(k, &o) < 0)
			return 0;
		name = jstr(o, "odm");
	} else if (!strcmp(k->method, "DELETE") && k->n_segs == 4) {
		name = k->segs[3];
	} else {
		return fail(k, 405, "method", "POST /v1/products/{p}/invites, DELETE /v1/products/{p}/invites/{odm}");
	}
	err = db_query(k->db, "SELECT id FROM orgs WHERE name = ? AND kind = 'odm'", (struct db_param[]){ DB_T(name) }, 1,
		       &r);
	if (err == 0 && db_rows(r) == 1)
		odm = db_int(r, 0, 0);
	db_res_free(r);
	if (err < 0 || !odm) {
		json_decref(o);
		return err < 0 ? fail_db(k, err, "invite") : fail(k, 404, "not_found", "no ODM organisation \"%.64s\"", name);
	}
	if (!strcmp(k->method, "DELETE")) {
		err = db_exec(k->db, "DELETE FROM invites WHERE product_id = ? AND odm_id = ?",
			      (struct db_param[]){ DB_I(p->id), DB_I(odm) }, 2, &changes);
		if (err < 0)
			return fail_db(k, err, "invite");
		if (!changes)
			return fail(k, 404, "not_found", "%s was not invited", name);
		return answer(k, 200, json_pack("{s:s}", "removed", name));
	}
	err = db_exec(k->db, "INSERT INTO invites (product_id, odm_id, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		      (struct db_param[]){ DB_I(p->id), DB_I(odm), DB_I(now_s()) }, 3, &changes);
	if (err < 0) {
		json_decref(o);
		return fail_db(k, err, "invite");
	}
	answer(k, changes ? 201 : 200, json_pack("{s:s, s:s}", "product", p->name, "odm", name));
	json_decref(o);
	return 0;
}

/* ---- firmware ---- */

/* The product's secure-boot public key: its own (offline signing) or the org's. */
static int sb_pub_of(struct call *k, const struct product *p, uint8_t pub[WRIT_P256_PUB_LEN])
{
	if (p->has_sb_pub) {
		memcpy(pub, p->sb_pub, WRIT_P256_PUB_LEN);
		return 0;
	}
	return keys_pub(k->db, p->oem_id, KEY_SECURE_BOOT, pub);
}

struct fw_sign_arg {
	uint32_t version;
	const uint8_t *image;
	size_t size;
	uint8_t sig[WRIT_P256_SIG_LEN];
};

static int fw_sign_cb(const struct writ_signer *s, void *arg)
{
	struct fw_sign_arg *a = arg;
	return fwsig_sign(s, a->version, a->image, a->size, a->sig);
}

int firmware_args(struct call *k, uint32_t *ret_version)
{
	const char *ver = query_arg(k, "fw_version");
	char *end;
	long long v;

	v = ver ? strtoll(ver, &end, 10) : -1;
	if (!ver || *end || v < 0 || v > 0xFFFFFFFFLL)
		return fail(k, 400, "bad_request", "fw_version=N (0..4294967295) is required"), WRIT_E_FORMAT;
	if (!k->body_len || k->body_len > BUNDLE_FW_MAX)
		return fail(k, k->body_len ? 413 : 400, k->body_len ? "too_big" : "bad_request",
			    "the image is 1 byte .. 4 MiB (the request body, application/octet-stream)"), WRIT_E_FORMAT;
	*ret_version = (uint32_t)v;
	return 0;
}

static int firmware_upload(struct call *k, struct product *p)
{
	const char *sig = query_arg(k, "signature"), *sign = query_arg(k, "sign");
	struct fw_sign_arg a;
	uint8_t pub[WRIT_P256_PUB_LEN], sha[32];
	int64_t changes = 0;
	uint32_t version = 0;
	int err;

	if (!(role_in(k, ROLE_ODM_ENGINEER, ROLE_NONE) || (role_in(k, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_NONE) &&
							   product_is_own_oem(k, p))))
		return forbid(k, "an invited odm-engineer or the product's OEM");
	if (firmware_args(k, &version) < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.version = version;
	a.image = (const uint8_t *)k->body;
	a.size = k->body_len;
	if ((err = sb_pub_of(k, p, pub)) < 0)
		return fail_db(k, err, "secure-boot key");
	if (sign && !strcmp(sign, "portal")) {
		if (sig)
			return fail(k, 400, "bad_request", "give signature= or sign=portal, not both");
		if (k->who.role != ROLE_OEM_SECURITY || !product_is_own_oem(k, p))
			return forbid(k, "the product's oem-security (signing with the portal's secure-boot key)");
		if (p->has_sb_pub)
			return fail(k, 409, "state", "this product's secure-boot key is held offline by the OEM: sign "
						     "the image there and upload it with signature=");
		if ((err = keys_with_signer(k->c, p->oem_id, KEY_SECURE_BOOT, fw_sign_cb, &a)) < 0)
			return fail(k, 503, "unavailable", "the token could not sign: %s", writ_strerror(err));
	} else if (!sig || !hex_ok(sig, WRIT_P256_SIG_LEN) || hex_decode(sig, a.sig, WRIT_P256_SIG_LEN) < 0) {
		return fail(k, 400, "bad_request", "signature=HEX (128 hex digits, r||s, \"writ fw v1\") is required");
	}
	if (fwsig_verify(pub, a.version, a.image, a.size, a.sig) < 0)
		return fail(k, 422, "bad_signature",
			    "the firmware signature does not verify under the product's secure-boot key for fw_version %u: "
			    "sign this exact image and version with that key",
			    a.version);
	if ((err = ec_sha256(a.image, a.size, sha)) < 0)
		return fail(k, 500, "internal", "hash");
	err = db_exec(k->db,
		      "INSERT INTO firmware (product_id, sha256, fw_version, size, signature, image, created)"
		      " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		      (struct db_param[]){ DB_I(p->id), DB_B(sha, 32), DB_I(a.version), DB_I(a.size), DB_B(a.sig, 64),
					   DB_B(a.image, a.size), DB_I(now_s()) },
		      7, &changes);
	if (err < 0)
		return fail_db(k, err, "firmware");
	return answer(k, changes ? 201 : 200, json_pack("{s:o, s:I, s:I, s:o}", "sha256", hexj(sha, 32), "size",
							(json_int_t)a.size, "fw_version", (json_int_t)a.version,
							"signature", hexj(a.sig, 64)));
}

int h_firmware(struct call *k)
{
	struct product p;
	struct db_res *r = NULL;
	json_t *list;
	size_t i, len;
	int err;

	if (product_visible(k, k->segs[1], &p) < 0)
		return 0;
	if (k->n_segs != 3)
		return fail(k, 404, "not_found", "no such endpoint");
	if (!strcmp(k->method, "POST"))
		return firmware_upload(k, &p);
	if (strcmp(k->method, "GET"))
		return fail(k, 405, "method", "GET or POST /v1/products/{p}/firmware");
	if ((err = db_query(k->db, "SELECT sha256, size, fw_version, created FROM firmware WHERE product_id = ? ORDER BY created, fw_version",
			    (struct db_param[]){ DB_I(p.id) }, 1, &r)) < 0)
		return fail_db(k, err, "firmware");
	list = json_array();
	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(list, json_pack("{s:o, s:I, s:I, s:I}", "sha256", hexj(db_blob(r, i, 0, &len), 32),
						      "size", (json_int_t)db_int(r, i, 1), "fw_version",
						      (json_int_t)db_int(r, i, 2), "created", (json_int_t)db_int(r, i, 3)));
	db_res_free(r);
	return answer(k, 200, json_pack("{s:o}", "firmware", list));
}

/* ---- versions ---- */

struct bundle_sign_arg {
	struct bundle *b;
	uint8_t *out;
	size_t out_len;
	uint8_t vd[32], fd[32];
};

static int bundle_sign_cb(const struct writ_signer *s, void *arg)
{
	struct bundle_sign_arg *a = arg;
	return bundle_sign(a->b, s, &a->out, &a->out_len, a->vd, a->fd);
}

static json_t *version_json(struct db_res *r, size_t i)
{
	size_t len;

	/* columns: name, digest, firmware_sha256, fw_version, state, reason, created_by, created, decided_by, decided */
	return json_pack("{s:s, s:o, s:o, s:I, s:s, s:s, s:s, s:I, s:s, s:I}", "name", db_text(r, i, 0), "digest",
			 hexj(db_blob(r, i, 1, &len), 32), "firmware_digest", hexj(db_blob(r, i, 2, &len), 32),
			 "fw_version", (json_int_t)db_int(r, i, 3), "state", db_text(r, i, 4), "reason", db_text(r, i, 5),
			 "created_by", db_text(r, i, 6), "created", (json_int_t)db_int(r, i, 7), "decided_by",
			 db_text(r, i, 8), "decided", (json_int_t)db_int(r, i, 9));
}

#define VERSION_COLS "name, digest, firmware_sha256, fw_version, state, reason, created_by, created, decided_by, decided"

static int recipe_from(json_t *arr, struct bundle *b)
{
	char list[BUNDLE_RECIPE_MAX * BUNDLE_STEP_MAX + 16];
	size_t i, len = 0;
	json_t *v;

	if (!arr) {
		bundle_recipe_default(b);
		return 0;
	}
	if (json_array_size(arr) == 0 || json_array_size(arr) > BUNDLE_RECIPE_MAX)
		return WRIT_E_INVAL;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || json_string_length(v) >= BUNDLE_STEP_MAX || strchr(json_string_value(v), ','))
			return WRIT_E_INVAL;
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? "," : "", json_string_value(v));
	}
	return bundle_recipe_parse(list, b);
}

int version_req(struct call *k, const struct product *p, struct bundle *b, struct matter_settings *ms,
		uint8_t fw_sha[32], json_t **ret)
{
	static const struct jfield f[] = {
		{ "name", JV_STR, 1 }, { "firmware", JV_STR, 1 }, { "settings", JV_STR, 1 }, { "recipe", JV_ARR, 0 },
		{ "iterations", JV_INT, 0 }, { "serial_prefix", JV_STR, 0 },
	};
	const char *name, *fw, *settings, *prefix;
	char why[200];
	json_t *o = NULL;
	int64_t iters;

	*ret = NULL;
	if (jreq(k, f, sizeof(f) / sizeof(f[0]), &o) < 0)
		return WRIT_E_FORMAT;
	name = jstr(o, "name");
	fw = jstr(o, "firmware");
	settings = jstr(o, "settings");
	prefix = jstr(o, "serial_prefix");
	iters = jint(o, "iterations", BUNDLE_ITER_DEFAULT);
	if (!name_ok(name) || strlen(name) > BUNDLE_NAME_MAX) {
		fail(k, 400, "bad_request", "name: 1..64 of A-Z a-z 0-9 . _ -");
		goto fail;
	}
	if (!hex_ok(fw, 32) || hex_decode(fw, fw_sha, 32) < 0) {
		fail(k, 400, "bad_request", "firmware: the image's SHA-256 (64 hex digits) as the upload answered");
		goto fail;
	}
	if (!settings[0] || strlen(settings) > BUNDLE_SETTINGS_MAX ||
	    matter_settings_parse(settings, strlen(settings), ms, why, sizeof(why)) < 0) {
		fail(k, 400, "bad_request", "settings: %s", settings[0] ? why : "empty");
		goto fail;
	}
	if (!ms->have_vid || !ms->have_pid || !ms->have_date || !ms->have_hw_ver) {
		fail(k, 400, "bad_request", "settings: vendor_id, product_id, mfg_date and hw_ver are required (the line "
					    "makes serial_num, discriminator and passcode per device)");
		goto fail;
	}
	if ((ms->have_vid && ms->fd.vid != p->vid) || (ms->have_pid && ms->fd.pid != p->pid)) {
		fail(k, 400, "bad_request", "settings: vendor_id/product_id differ from the product's VID/PID");
		goto fail;
	}
	(void)!snprintf(b->product, sizeof(b->product), "%s", p->name);
	(void)!snprintf(b->version, sizeof(b->version), "%s", name);
	(void)!snprintf(b->settings, sizeof(b->settings), "%s", settings);
	if (prefix && snprintf(b->serial_prefix, sizeof(b->serial_prefix), "%s", prefix) >= (int)sizeof(b->serial_prefix)) {
		fail(k, 400, "bad_request", "serial_prefix: at most %d characters", BUNDLE_PREFIX_MAX);
		goto fail;
	}
	if (iters < BUNDLE_ITER_MIN || iters > BUNDLE_ITER_MAX) {
		fail(k, 400, "bad_request", "iterations: %u..%u", BUNDLE_ITER_MIN, BUNDLE_ITER_MAX);
		goto fail;
	}
	b->iterations = (uint32_t)iters;
	b->has_iterations = json_object_get(o, "iterations") != NULL;
	if (recipe_from(json_object_get(o, "recipe"), b) < 0) {
		fail(k, 400, "bad_request", "recipe: step names in the fixed order discover, keys, dac, chain, "
					    "factory-data, secret, otp, firmware, lock, verify, record, label (secret and label optional)");
		goto fail;
	}
	*ret = o;
	return 0;
fail:
	json_decref(o);
	return WRIT_E_FORMAT;
}

static int version_create(struct call *k, struct product *p)
{
	struct bundle_sign_arg a;
	struct bundle *b = calloc(1, sizeof(*b));
	struct matter_settings *ms = calloc(1, sizeof(*ms));
	struct db_res *r = NULL;
	uint8_t fw_sha[32], dbg[WRIT_P256_PUB_LEN];
	const char *name, *fw;
	const uint8_t *blob;
	json_t *o = NULL;
	size_t len = 0;
	int err;

	memset(&a, 0, sizeof(a));
	if (!b || !ms) {
		fail(k, 500, "internal", "out of memory");
		goto out;
	}
	if (!(role_in(k, ROLE_ODM_ENGINEER, ROLE_NONE) || (k->who.role == ROLE_OEM_ADMIN && product_is_own_oem(k, p)))) {
		forbid(k, "an invited odm-engineer or the product's oem-admin");
		goto out;
	}
	if (version_req(k, p, b, ms, fw_sha, &o) < 0)
		goto out;
	name = jstr(o, "name");
	fw = jstr(o, "firmware");
	if ((err = db_query(k->db, "SELECT image, signature, fw_version FROM firmware WHERE product_id = ? AND sha256 = ?",
			    (struct db_param[]){ DB_I(p->id), DB_B(fw_sha, 32) }, 2, &r)) < 0) {
		fail_db(k, err, "firmware");
		goto out;
	}
	if (db_rows(r) != 1) {
		fail(k, 404, "not_found", "no firmware %s uploaded for %s: upload it first", fw, p->name);
		goto out;
	}
	b->firmware = db_blob(r, 0, 0, &b->firmware_len);
	blob = db_blob(r, 0, 1, &len);
	if (!blob || len != 64) {
		fail(k, 500, "internal", "stored firmware signature");
		goto out;
	}
	memcpy(b->fw_sig, blob, 64);
	b->fw_version = (uint32_t)db_int(r, 0, 2);
	if ((err = sb_pub_of(k, p, b->sb_pub)) < 0 || (err = keys_pub(k->db, p->oem_id, KEY_DEBUG_ROOT, dbg)) < 0 ||
	    (err = ec_sha256(dbg, sizeof(dbg), b->debug_root_hash)) < 0) {
		fail_db(k, err, "keys");
		goto out;
	}
	a.b = b;
	if ((err = keys_with_signer(k->c, p->oem_id, KEY_WRIT, bundle_sign_cb, &a)) < 0) {
		if (err == WRIT_E_INVAL || err == WRIT_E_FORMAT)
			fail(k, 400, "bad_request", "this version cannot be built into a bundle: %s", writ_strerror(err));
		else
			fail(k, 503, "unavailable", "the token could not sign the bundle: %s", writ_strerror(err));
		goto out;
	}
	err = db_exec(k->db,
		      "INSERT INTO versions (product_id, name, digest, firmware_sha256, fw_version, bundle, state, created_by, created)"
		      " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
		      (struct db_param[]){ DB_I(p->id), DB_T(name), DB_B(a.vd, 32), DB_B(a.fd, 32), DB_I(b->fw_version),
					   DB_B(a.out, a.out_len), DB_T(k->who.user), DB_I(now_s()) },
		      8, NULL);
	if (err == WRIT_E_EXISTS) {
		fail(k, 409, "conflict", "version \"%s\" of %s exists (versions are immutable): choose another name", name,
		     p->name);
		goto out;
	}
	if (err < 0) {
		fail_db(k, err, "version");
		goto out;
	}
	answer(k, 201, json_pack("{s:s, s:o, s:o, s:I, s:s}", "name", name, "digest", hexj(a.vd, 32), "firmware_digest",
				 hexj(a.fd, 32), "fw_version", (json_int_t)b->fw_version, "state", "pending"));
out:
	db_res_free(r);
	json_decref(o);
	free(a.out);
	if (ms) {
		matter_fd_clear(&ms->fd);
		free(ms);
	}
	free(b);
	return 0;
}

int decide_req(struct call *k, int approve, json_t **ret)
{
	static const struct jfield fa[] = { { "reason", JV_STR, 0 } };
	static const struct jfield fr[] = { { "reason", JV_STR, 1 } };
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, approve ? fa : fr, 1, &o) < 0)
		return WRIT_E_FORMAT;
	if (jstr(o, "reason") && strlen(jstr(o, "reason")) > 256) {
		json_decref(o);
		return fail(k, 400, "bad_request", "reason: at most 256 characters"), WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

static int version_decide(struct call *k, struct product *p, const char *name, int approve)
{
	const char *reason = "";
	json_t *o = NULL;
	int64_t changes = 0;
	int err;

	if (!role_in(k, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_NONE) || !product_is_own_oem(k, p))
		return forbid(k, "the product's oem-admin or oem-security");
	if (decide_req(k, approve, &o) < 0)
		return 0;
	if (jstr(o, "reason"))
		reason = jstr(o, "reason");
	err = db_exec(k->db,
		      "UPDATE versions SET state = ?, reason = ?, decided_by = ?, decided = ? WHERE product_id = ? AND name = ?"
		      " AND state = 'pending'",
		      (struct db_param[]){ DB_T(approve ? "approved" : "rejected"), DB_T(reason), DB_T(k->who.user),
					   DB_I(now_s()), DB_I(p->id), DB_T(name) },
		      6, &changes);
	json_decref(o);
	if (err < 0)
		return fail_db(k, err, "version");
	if (!changes) {
		struct db_res *r = NULL;
		int found = db_query(k->db, "SELECT state FROM versions WHERE product_id = ? AND name = ?",
				     (struct db_param[]){ DB_I(p->id), DB_T(name) }, 2, &r) == 0 && db_rows(r) == 1;
		if (found)
			fail(k, 409, "state", "version %s is already %s: only a pending version can be decided", name,
			     db_text(r, 0, 0));
		else
			fail(k, 404, "not_found", "no version \"%.64s\" of %s", name, p->name);
		db_res_free(r);
		return 0;
	}
	return answer(k, 200, json_pack("{s:s, s:s}", "name", name, "state", approve ? "approved" : "rejected"));
}

int h_versions(struct call *k)
{
	struct product p;
	struct db_res *r = NULL;
	json_t *list;
	size_t i, len;
	int err;

	if (product_visible(k, k->segs[1], &p) < 0)
		return 0;
	if (k->n_segs == 3 && !strcmp(k->method, "POST"))
		return version_create(k, &p);
	if (k->n_segs == 3 && !strcmp(k->method, "GET")) {
		if ((err = db_query(k->db, "SELECT " VERSION_COLS " FROM versions WHERE product_id = ? ORDER BY id",
				    (struct db_param[]){ DB_I(p.id) }, 1, &r)) < 0)
			return fail_db(k, err, "versions");
		list = json_array();
		for (i = 0; i < db_rows(r); i++)
			json_array_append_new(list, version_json(r, i));
		db_res_free(r);
		return answer(k, 200, json_pack("{s:o}", "versions", list));
	}
	if (k->n_segs == 5 && !strcmp(k->method, "POST") &&
	    (!strcmp(k->segs[4], "approve") || !strcmp(k->segs[4], "reject")))
		return version_decide(k, &p, k->segs[3], !strcmp(k->segs[4], "approve"));
	if ((k->n_segs == 4 || (k->n_segs == 5 && !strcmp(k->segs[4], "bundle"))) && !strcmp(k->method, "GET")) {
		if ((err = db_query(k->db, "SELECT " VERSION_COLS ", bundle FROM versions WHERE product_id = ? AND name = ?",
				    (struct db_param[]){ DB_I(p.id), DB_T(k->segs[3]) }, 2, &r)) < 0)
			return fail_db(k, err, "version");
		if (db_rows(r) != 1) {
			db_res_free(r);
			return fail(k, 404, "not_found", "no version \"%.64s\" of %s", k->segs[3], p.name);
		}
		if (k->n_segs == 5) {
			const uint8_t *b = db_blob(r, 0, 10, &len);
			if ((k->bytes = malloc(len ? len : 1)))
				memcpy(k->bytes, b, len);
			k->bytes_len = len;
			k->status = k->bytes ? 200 : 500;
			db_res_free(r);
			return 0;
		}
		answer(k, 200, version_json(r, 0));
		db_res_free(r);
		return 0;
	}
	return fail(k, 405, "method", "see docs/cloud-api.md \"Product versions\"");
}

int h_products(struct call *k)
{
	struct product p;

	if (k->n_segs == 1) {
		if (k->body_len > CLOUD_BODY_MAX)
			return fail(k, 413, "too_big", "request body too large");
		if (!strcmp(k->method, "GET"))
			return product_list(k);
		if (!strcmp(k->method, "POST"))
			return product_create(k);
		return fail(k, 405, "method", "GET or POST /v1/products");
	}
	if (k->n_segs >= 3 && !strcmp(k->segs[2], "firmware"))
		return h_firmware(k);
	if (k->body_len > CLOUD_BODY_MAX)
		return fail(k, 413, "too_big", "request body too large");
	if (k->n_segs >= 3 && !strcmp(k->segs[2], "versions"))
		return h_versions(k);
	if (k->n_segs >= 4 && !strcmp(k->segs[2], "pai"))
		return h_pai(k);
	if (product_visible(k, k->segs[1], &p) < 0)
		return 0;
	if (k->n_segs == 2 && !strcmp(k->method, "GET"))
		return answer(k, 200, product_json(k, &p, 1));
	if (k->n_segs >= 3 && !strcmp(k->segs[2], "invites"))
		return invites(k, &p);
	if (k->n_segs == 3 && !strcmp(k->segs[2], "debug-rotate"))
		return product_debug_rotate(k, &p);
	if (k->n_segs == 3 && !strcmp(k->segs[2], "rework-policy"))
		return product_rework_policy(k, &p);
	return fail(k, 404, "not_found", "no such endpoint (docs/cloud-api.md)");
}
