/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Factories, one-time enrolment codes, edge HSM enrolment, and offline PAIs
 * (docs/cloud-api.md "Factories and edge HSMs"). An enrolment code is stored only as
 * its SHA-256, used once, and expires; the HSM's enrolment bundle is verified
 * (lib/wire/enrol.c) before the HSM is bound to the code's factory for good.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "cloud/cloud.h"
#include "cloud/tls.h"
#include "crypto/ec.h"
#include "crypto/matter_cert.h"
#include "crypto/x509.h"
#include "host/file.h"
#include "wire/enrol.h"

int cloud_token_for_factory(struct call *k, int64_t factory_id, char text[64]);

static const char code_alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"; /* 32: no 0/O, 1/I */

static int code_make(struct cloud *c, char out[21], uint8_t hash[32])
{
	uint8_t rnd[20];
	size_t i;
	int err;

	if ((err = ec_random(rnd, sizeof(rnd))) < 0)
		return err;
	for (i = 0; i < 20; i++)
		out[i] = code_alphabet[rnd[i] & 31];
	out[20] = 0;
	writ_memzero(rnd, sizeof(rnd));
	return ec_sha256(out, 20, hash);
}

static int code_hash(const char *code, uint8_t hash[32])
{
	size_t i;

	if (!code || strlen(code) != 20)
		return WRIT_E_INVAL;
	for (i = 0; i < 20; i++)
		if (!strchr(code_alphabet, code[i]))
			return WRIT_E_INVAL;
	return ec_sha256(code, 20, hash);
}

static int code_issue(struct call *k, int64_t factory_id, char code[21], int64_t *expires)
{
	uint8_t hash[32];
	int err;

	if ((err = code_make(k->c, code, hash)) < 0)
		return err;
	*expires = now_s() + CLOUD_CODE_TTL;
	return db_exec(k->db, "INSERT INTO codes (hash, factory_id, expires) VALUES (?, ?, ?)",
		       (struct db_param[]){ DB_B(hash, 32), DB_I(factory_id), DB_I(*expires) }, 3, NULL);
}

/* A factory the caller may see: its id, or an answered 404. OEM: registered by its org;
 * ODM: run by its org; factory: itself. */
static int factory_visible(struct call *k, const char *name, int64_t *ret_id, int64_t *ret_oem)
{
	struct db_res *r = NULL;
	int err, ok = 0;

	if (!name_ok(name))
		return fail(k, 404, "not_found", "no such factory"), WRIT_E_NOTFOUND;
	if ((err = db_query(k->db, "SELECT id, oem_id, odm_id FROM factories WHERE name = ?",
			    (struct db_param[]){ DB_T(name) }, 1, &r)) < 0)
		return fail_db(k, err, "factory"), err;
	if (db_rows(r) == 1) {
		*ret_id = db_int(r, 0, 0);
		*ret_oem = db_int(r, 0, 1);
		if (k->who.role == ROLE_FACTORY)
			ok = k->who.factory_id == *ret_id;
		else if (k->who.oem)
			ok = k->who.org_id == *ret_oem;
		else
			ok = k->who.org_id == db_int(r, 0, 2);
	}
	db_res_free(r);
	if (!ok)
		return fail(k, 404, "not_found", "no such factory"), WRIT_E_NOTFOUND;
	return 0;
}

int factory_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = { { "id", JV_STR, 1 }, { "odm", JV_STR, 1 } };
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, f, 2, &o) < 0)
		return WRIT_E_FORMAT;
	if (!name_ok(jstr(o, "id"))) {
		json_decref(o);
		return fail(k, 400, "bad_request", "id: 1..64 of A-Z a-z 0-9 . _ - (it becomes the writ's factory id)"),
		       WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

static int factory_create(struct call *k)
{
	struct db_res *r = NULL;
	json_t *o = NULL;
	int64_t odm = 0, fid = 0, expires = 0;
	char code[21];
	int err;

	if (k->who.role != ROLE_OEM_ADMIN)
		return forbid(k, "an oem-admin");
	if (factory_req(k, &o) < 0)
		return 0;
	err = db_query(k->db, "SELECT id FROM orgs WHERE name = ? AND kind = 'odm'",
		       (struct db_param[]){ DB_T(jstr(o, "odm")) }, 1, &r);
	if (!err && db_rows(r) == 1)
		odm = db_int(r, 0, 0);
	db_res_free(r);
	r = NULL;
	if (err < 0 || !odm) {
		err < 0 ? fail_db(k, err, "factory") : fail(k, 404, "not_found", "no ODM organisation \"%.64s\"", jstr(o, "odm"));
		json_decref(o);
		return 0;
	}
	err = db_query(k->db, "INSERT INTO factories (name, oem_id, odm_id, created) VALUES (?, ?, ?, ?) RETURNING id",
		       (struct db_param[]){ DB_T(jstr(o, "id")), DB_I(k->who.org_id), DB_I(odm), DB_I(now_s()) }, 4, &r);
	if (!err)
		fid = db_int(r, 0, 0);
	db_res_free(r);
	if (err < 0) {
		err == WRIT_E_EXISTS ? fail(k, 409, "conflict", "factory id \"%s\" is taken", jstr(o, "id"))
				     : fail_db(k, err, "factory");
		json_decref(o);
		return 0;
	}
	if ((err = code_issue(k, fid, code, &expires)) < 0) {
		json_decref(o);
		return fail_db(k, err, "enrolment code");
	}
	answer(k, 201, json_pack("{s:s, s:s, s:s, s:I}", "id", jstr(o, "id"), "odm", jstr(o, "odm"), "code", code,
				 "code_expires", (json_int_t)expires));
	writ_memzero(code, sizeof(code));
	json_decref(o);
	return 0;
}

static json_t *hsms_json(struct call *k, int64_t fid)
{
	struct db_res *r = NULL;
	json_t *list = json_array();
	size_t i, len;

	if (db_query(k->db, "SELECT hsm_id, next_seq, last_contact, halted, enrolled, debug_pub FROM hsms WHERE factory_id = ?"
		     " ORDER BY id",
		     (struct db_param[]){ DB_I(fid) }, 1, &r) == 0) {
		for (i = 0; i < db_rows(r); i++)
			json_array_append_new(list, json_pack("{s:o, s:I, s:I, s:s, s:I, s:o}", "id",
							      hexj(db_blob(r, i, 0, &len), 32), "next_seq",
							      (json_int_t)db_int(r, i, 1), "last_contact",
							      (json_int_t)db_int(r, i, 2), "halted", db_text(r, i, 3),
							      "enrolled", (json_int_t)db_int(r, i, 4), "debug_pub",
							      db_isnull(r, i, 5) ? json_null() : hexj(db_blob(r, i, 5, &len), 65)));
	}
	db_res_free(r);
	return list;
}

static int factory_list(struct call *k)
{
	struct db_res *r = NULL;
	json_t *list;
	size_t i;
	int err;

	err = db_query(k->db,
		       "SELECT f.id, f.name, d.name, o.name, f.last_contact, f.rec_next - 1, coalesce(q.records, 0),"
		       " coalesce(q.journal, 0), coalesce(q.telemetry, 0), coalesce(q.at, 0) FROM factories f"
		       " JOIN orgs d ON d.id = f.odm_id JOIN orgs o ON o.id = f.oem_id"
		       " LEFT JOIN factory_queues q ON q.factory_id = f.id"
		       " WHERE (? = 1 AND f.oem_id = ?) OR (? = 1 AND f.odm_id = ?) OR f.id = ? ORDER BY f.name",
		       (struct db_param[]){ DB_I(k->who.oem), DB_I(k->who.org_id),
					    DB_I(!k->who.oem && k->who.role == ROLE_ODM_ENGINEER), DB_I(k->who.org_id),
					    DB_I(k->who.factory_id) },
		       5, &r);
	if (err < 0)
		return fail_db(k, err, "factories");
	list = json_array();
	for (i = 0; i < db_rows(r); i++) {
		/* what the factory said waits there, with its last writ-feed call; null until a
		 * factory that reports it called */
		json_t *q = db_int(r, i, 9) ? json_pack("{s:I, s:I, s:I, s:I}", "records", (json_int_t)db_int(r, i, 6),
							"journal", (json_int_t)db_int(r, i, 7), "telemetry",
							(json_int_t)db_int(r, i, 8), "at", (json_int_t)db_int(r, i, 9))
					    : json_null();
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o}", "id", db_text(r, i, 1), "odm",
						      db_text(r, i, 2), "oem", db_text(r, i, 3), "last_contact",
						      (json_int_t)db_int(r, i, 4), "records", (json_int_t)db_int(r, i, 5),
						      "queued", q, "hsms", hsms_json(k, db_int(r, i, 0))));
	}
	db_res_free(r);
	return answer(k, 200, json_pack("{s:o}", "factories", list));
}

int h_factories(struct call *k)
{
	int64_t fid = 0, oem = 0, expires = 0;
	char code[21];
	int err;

	if (k->n_segs == 1 && !strcmp(k->method, "POST"))
		return factory_create(k);
	if (k->n_segs == 1 && !strcmp(k->method, "GET"))
		return factory_list(k);
	if (k->n_segs == 3 && !strcmp(k->segs[2], "codes") && !strcmp(k->method, "POST")) {
		if (k->who.role != ROLE_OEM_ADMIN)
			return forbid(k, "an oem-admin");
		if (factory_visible(k, k->segs[1], &fid, &oem) < 0)
			return 0;
		if ((err = code_issue(k, fid, code, &expires)) < 0)
			return fail_db(k, err, "enrolment code");
		answer(k, 201, json_pack("{s:s, s:I}", "code", code, "code_expires", (json_int_t)expires));
		writ_memzero(code, sizeof(code));
		return 0;
	}
	if (k->n_segs == 3 && !strcmp(k->segs[2], "release-pin")) {
		if (factory_visible(k, k->segs[1], &fid, &oem) < 0)
			return 0;
		return release_pin(k, fid, oem); /* api_release.c */
	}
	return fail(k, 405, "method", "GET or POST /v1/factories, POST /v1/factories/{f}/codes");
}

/* ---- enrolment ---- */

struct enrol_tx {
	const struct enrol_info *info;
	uint8_t code_hash[32];
	int64_t factory_id;  /* in: 0 = from the code; else the factory credential's */
	char token[64];      /* out: the factory credential (code enrolment only) */
	const char *why;
	unsigned status;
	const char *code;
	int by_code;
};

static int enrol_insert_hsm(struct call *k, struct enrol_tx *e)
{
	uint8_t zero[32] = { 0 };
	struct db_res *r = NULL;
	char fname[WRIT_NAME_MAX + 1];
	int err;

	if ((err = db_query(k->db, "SELECT name FROM factories WHERE id = ?", (struct db_param[]){ DB_I(e->factory_id) }, 1,
			    &r)) < 0)
		return err;
	(void)!snprintf(fname, sizeof(fname), "%s", db_rows(r) ? db_text(r, 0, 0) : "");
	db_res_free(r);
	if (strcmp(fname, e->info->factory)) {
		e->status = 422;
		e->code = "bad_enrolment";
		e->why = "the HSM was initialised for another factory id: run writ-hsmd init --factory with this factory's id";
		return WRIT_E_SCOPE;
	}
	return db_exec(k->db,
		       "INSERT INTO hsms (hsm_id, factory_id, identity_pub, kex_pub, pai_pub, pai_csr, enrolled, head, debug_pub)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       (struct db_param[]){ DB_B(e->info->hsm_id, 32), DB_I(e->factory_id), DB_B(e->info->identity_pub, 65),
					    DB_B(e->info->kex_pub, 65), DB_B(e->info->pai_pub, 65),
					    DB_B(e->info->csr, e->info->csr_len), DB_I(now_s()), DB_B(zero, 32),
					    /* no debug delegate (an HSM from before secure debug): no rework rights */
					    e->info->has_debug ? DB_B(e->info->debug_pub, 65) : DB_N },
		       9, NULL);
}

static int tx_enrol(struct call *k, void *arg)
{
	struct enrol_tx *e = arg;
	struct db_res *r = NULL;
	int err;

	if (e->by_code) {
		/* use the code: exactly once, before it expires */
		err = db_query(k->db, "UPDATE codes SET used = ? WHERE hash = ? AND used IS NULL AND expires > ? RETURNING factory_id",
			       (struct db_param[]){ DB_I(now_s()), DB_B(e->code_hash, 32), DB_I(now_s()) }, 3, &r);
		if (err < 0)
			return err;
		if (db_rows(r) != 1) {
			db_res_free(r);
			e->status = 401;
			e->code = "unauthenticated";
			e->why = "unknown, used or expired enrolment code: ask the OEM for a new one";
			return WRIT_E_AUTH;
		}
		e->factory_id = db_int(r, 0, 0);
		db_res_free(r);
		if ((err = enrol_insert_hsm(k, e)) < 0)
			return err;
		return cloud_token_for_factory(k, e->factory_id, e->token);
	}
	return enrol_insert_hsm(k, e);
}

int enrol_req(struct call *k, int by_code, uint8_t ret_code_hash[32], struct enrol_info **ret_info, json_t **ret)
{
	static const struct jfield fc[] = { { "code", JV_STR, 1 }, { "enrolment", JV_STR, 1 }, { "tls_csr", JV_STR, 0 } };
	static const struct jfield fh[] = { { "enrolment", JV_STR, 1 } };
	struct enrol_info *info = NULL;
	uint8_t *bundle = NULL;
	json_t *o = NULL;
	size_t len = 0;
	int err;

	*ret = NULL;
	if (jreq(k, by_code ? fc : fh, by_code ? 3 : 1, &o) < 0)
		return WRIT_E_FORMAT;
	if (by_code && code_hash(jstr(o, "code"), ret_code_hash) < 0) {
		fail(k, 401, "unauthenticated", "unknown, used or expired enrolment code: ask the OEM for a new one");
		goto refused;
	}
	if (!(info = calloc(1, sizeof(*info)))) {
		fail(k, 500, "internal", "out of memory");
		goto refused;
	}
	if (b64_decode_alloc(jstr(o, "enrolment"), ENROL_MAX, &bundle, &len) < 0) {
		fail(k, 400, "bad_request", "enrolment: the HSM's enrolment bundle in standard base64 (<= 16 KiB)");
		goto refused;
	}
	err = enrol_verify(bundle, len, info);
	free(bundle);
	if (err < 0) {
		fail(k, 422, "bad_enrolment", "the enrolment bundle does not verify (%s): export it again with "
					      "`writ hsm enrolment`", writ_strerror(err));
		goto refused;
	}
	*ret_info = info;
	*ret = o;
	return 0;
refused:
	free(info);
	json_decref(o);
	return WRIT_E_FORMAT;
}

/* Bind the verified HSM (e->info, freed here) and answer; o is the request body. */
static int enrol_common(struct call *k, struct enrol_tx *e, json_t *o)
{
	struct enrol_info *info = (struct enrol_info *)e->info;
	int err;

	err = in_tx(k, tx_enrol, e);
	if (err < 0) {
		if (e->status)
			fail(k, e->status, e->code, "%s", e->why);
		else if (err == WRIT_E_EXISTS)
			fail(k, 409, "conflict", "this HSM is already enrolled (an HSM is bound to one factory for good)");
		else
			fail_db(k, err, "enrolment");
	} else {
		json_t *a = json_pack("{s:s, s:o}", "factory", info->factory, "hsm", hexj(info->hsm_id, 32));
		if (e->token[0])
			json_object_set_new(a, "token", json_string(e->token));
		if (e->by_code)
			cloud_tls_enrol(k, e->factory_id, info->factory, o, a); /* the client certificate (tls.c) */
		answer(k, 201, a);
	}
	writ_memzero(e->token, sizeof(e->token));
	free(info);
	return 0;
}

int h_enrol(struct call *k)
{
	struct enrol_info *info = NULL;
	struct enrol_tx e;
	struct db_res *r = NULL;
	uint8_t hash[32], pub[WRIT_P256_PUB_LEN];
	json_t *o = NULL;
	char *pem = NULL;
	int err;

	memset(&e, 0, sizeof(e));
	if (k->n_segs == 2 && !strcmp(k->method, "GET")) {
		if (code_hash(k->segs[1], hash) < 0)
			return fail(k, 401, "unauthenticated", "unknown, used or expired enrolment code");
		err = db_query(k->db,
			       "SELECT f.name, o.name, f.oem_id FROM codes c JOIN factories f ON f.id = c.factory_id"
			       " JOIN orgs o ON o.id = f.oem_id WHERE c.hash = ? AND c.used IS NULL AND c.expires > ?",
			       (struct db_param[]){ DB_B(hash, 32), DB_I(now_s()) }, 2, &r);
		if (err < 0)
			return fail_db(k, err, "enrolment");
		if (db_rows(r) != 1 || keys_pub(k->db, db_int(r, 0, 2), KEY_WRIT, pub) < 0 || ec_pub_to_pem(pub, &pem) < 0) {
			db_res_free(r);
			return fail(k, 401, "unauthenticated", "unknown, used or expired enrolment code: ask the OEM for a new one");
		}
		answer(k, 200, json_pack("{s:s, s:s, s:o, s:s}", "factory", db_text(r, 0, 0), "oem", db_text(r, 0, 1),
					 "writ_signing_pub", hexj(pub, 65), "writ_signing_pem", pem));
		free(pem);
		pem = NULL;
		if (k->json && release_pub_pem(k->c, &pem) == 0) /* api_release.c: the key to pin */
			json_object_set_new(k->json, "release_pem", json_string(pem));
		free(pem);
		db_res_free(r);
		return 0;
	}
	if (k->n_segs != 1 || strcmp(k->method, "POST"))
		return fail(k, 405, "method", "POST /v1/enrol, GET /v1/enrol/{code}");
	if (enrol_req(k, 1, e.code_hash, &info, &o) < 0)
		return 0;
	e.by_code = 1;
	e.info = info;
	enrol_common(k, &e, o);
	json_decref(o);
	return 0;
}

/* POST /v1/sync/hsms: a further HSM for the calling factory. */
int cloud_add_hsm(struct call *k);
int cloud_add_hsm(struct call *k)
{
	struct enrol_info *info = NULL;
	struct enrol_tx e;
	json_t *o = NULL;

	memset(&e, 0, sizeof(e));
	if (enrol_req(k, 0, e.code_hash, &info, &o) < 0)
		return 0;
	e.info = info;
	e.factory_id = k->who.factory_id;
	enrol_common(k, &e, o);
	json_decref(o);
	return 0;
}

/* ---- offline PAI: GET /v1/products/{p}/pai/{hsm}/csr, PUT /v1/products/{p}/pai/{hsm} ---- */

/* The HSM (by hex id) of a factory registered by the product's OEM: its row id. */
static int hsm_of_oem(struct call *k, const char *hex, int64_t oem_id, int64_t *ret_pk, uint8_t **csr, size_t *csr_len,
		      uint8_t pai_pub[WRIT_P256_PUB_LEN])
{
	struct db_res *r = NULL;
	uint8_t id[32];
	const uint8_t *b;
	size_t len = 0;
	int err;

	if (!hex_ok(hex, 32) || hex_decode(hex, id, 32) < 0)
		return fail(k, 404, "not_found", "no such HSM (64 hex digits)"), WRIT_E_NOTFOUND;
	err = db_query(k->db, "SELECT h.id, h.pai_csr, h.pai_pub FROM hsms h JOIN factories f ON f.id = h.factory_id"
			      " WHERE h.hsm_id = ? AND f.oem_id = ?",
		       (struct db_param[]){ DB_B(id, 32), DB_I(oem_id) }, 2, &r);
	if (err < 0)
		return fail_db(k, err, "hsm"), err;
	if (db_rows(r) != 1) {
		db_res_free(r);
		return fail(k, 404, "not_found", "no such HSM at your factories"), WRIT_E_NOTFOUND;
	}
	*ret_pk = db_int(r, 0, 0);
	b = db_blob(r, 0, 1, &len);
	if (csr && (*csr = malloc(len ? len : 1)) != NULL) {
		memcpy(*csr, b, len);
		*csr_len = len;
	}
	b = db_blob(r, 0, 2, &len);
	if (len == WRIT_P256_PUB_LEN)
		memcpy(pai_pub, b, len);
	db_res_free(r);
	return 0;
}

int pai_req(struct call *k, uint8_t **ret_der, size_t *ret_len, json_t **ret)
{
	static const struct jfield f[] = { { "pai", JV_STR, 1 } };
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, f, 1, &o) < 0)
		return WRIT_E_FORMAT;
	if (b64_decode_alloc(jstr(o, "pai"), 600, ret_der, ret_len) < 0) {
		json_decref(o);
		return fail(k, 400, "bad_request", "pai: the PAI certificate (DER, <= 600 bytes) in standard base64"),
		       WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

int h_pai(struct call *k)
{
	uint8_t *csr = NULL, *der = NULL, pai_pub[WRIT_P256_PUB_LEN], pub[WRIT_P256_PUB_LEN], paa_pub[WRIT_P256_PUB_LEN];
	uint8_t sha[32];
	size_t csr_len = 0, der_len = 0;
	int64_t hsm_pk = 0;
	struct product p;
	char why[200];
	json_t *o = NULL;
	int err;

	if (product_visible(k, k->segs[1], &p) < 0)
		return 0;
	if (!product_is_own_oem(k, &p))
		return forbid(k, "the product's oem-admin or oem-security");
	if (hsm_of_oem(k, k->segs[3], p.oem_id, &hsm_pk, &csr, &csr_len, pai_pub) < 0)
		return 0;
	if (k->n_segs == 5 && !strcmp(k->segs[4], "csr") && !strcmp(k->method, "GET")) {
		k->bytes = csr;
		k->bytes_len = csr_len;
		k->content_type = "application/pkcs10";
		k->status = 200;
		return 0;
	}
	free(csr);
	if (k->n_segs != 4 || strcmp(k->method, "PUT"))
		return fail(k, 405, "method", "GET .../pai/{hsm}/csr, PUT .../pai/{hsm}");
	if (pai_req(k, &der, &der_len, &o) < 0)
		return 0;
	json_decref(o);
	err = matter_cert_check_profile(der, der_len, X509_PROFILE_PAI, why, sizeof(why));
	if (!err && (err = x509_cert_pub(der, der_len, pub)) == 0 && memcmp(pub, pai_pub, sizeof(pub))) {
		(void)!snprintf(why, sizeof(why), "it certifies another key than this HSM's PAI key");
		err = WRIT_E_SCOPE;
	}
	(void)paa_pub;
	if (err < 0) {
		free(der);
		return fail(k, 422, "bad_signature", "this PAI cannot be used: %s", why);
	}
	if ((err = ec_sha256(der, der_len, sha)) == 0)
		err = db_exec(k->db, "INSERT INTO pais (product_id, hsm_pk, der) VALUES (?, ?, ?) ON CONFLICT (product_id, hsm_pk)"
				     " DO UPDATE SET der = excluded.der",
			      (struct db_param[]){ DB_I(p.id), DB_I(hsm_pk), DB_B(der, der_len) }, 3, NULL);
	free(der);
	if (err < 0)
		return fail_db(k, err, "pai");
	return answer(k, 200, json_pack("{s:o}", "pai_sha256", hexj(sha, 32)));
}
