/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who is calling, and what they may see. A token is looked up by its SHA-256 (the store
 * never holds a token), then compared in constant time. Tenancy is decided in one
 * place per object kind: product_visible answers 404 for a product the caller may not
 * see, exactly as for one that does not exist.
 */
#include <stdarg.h>
#include <string.h>

#include "base/ct.h"
#include "cloud/cloud.h"
#include "crypto/ec.h"
#include "factory/api_json.h"

#include <microhttpd.h>

static const char *const role_names[] = { "", "oem-admin", "oem-security", "odm-engineer", "factory" };

const char *role_name(enum role r)
{
	return (unsigned)r < sizeof(role_names) / sizeof(role_names[0]) ? role_names[r] : "";
}

enum role role_parse(const char *s)
{
	size_t i;

	for (i = 1; s && i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (!strcmp(s, role_names[i]))
			return (enum role)i;
	return ROLE_NONE;
}

int token_make(char out[64], uint8_t hash[32])
{
	uint8_t rnd[32];
	int err;

	if ((err = ec_random(rnd, sizeof(rnd))) < 0)
		return err;
	memcpy(out, "wc_", 3);
	fj_b64_encode(rnd, sizeof(rnd), out + 3, 1);
	writ_memzero(rnd, sizeof(rnd));
	return ec_sha256(out, strlen(out), hash);
}

int authenticate(struct call *k)
{
	const char *h = MHD_lookup_connection_value(k->conn, MHD_HEADER_KIND, "Authorization");
	struct db_res *r = NULL;
	uint8_t hash[32];
	const uint8_t *stored;
	size_t len = 0;
	int err;

	if (!h || strncmp(h, "Bearer ", 7) || strlen(h + 7) < 8 || strlen(h + 7) > 128)
		return fail(k, 401, "unauthenticated", "send Authorization: Bearer TOKEN (a writ-cloud API token)"),
		       WRIT_E_AUTH;
	if ((err = ec_sha256(h + 7, strlen(h + 7), hash)) < 0)
		return fail(k, 500, "internal", "hash"), err;
	err = db_query(k->db,
		       "SELECT t.id, t.hash, t.factory_id, u.id, u.name, u.role, o.id, o.name, o.kind, f.odm_id, f.name"
		       " FROM tokens t LEFT JOIN users u ON u.id = t.user_id LEFT JOIN orgs o ON o.id = u.org_id"
		       " LEFT JOIN factories f ON f.id = t.factory_id WHERE t.hash = ? AND t.revoked IS NULL",
		       (struct db_param[]){ DB_B(hash, 32) }, 1, &r);
	if (err < 0)
		return fail_db(k, err, "authentication"), err;
	if (db_rows(r) != 1 || !(stored = db_blob(r, 0, 1, &len)) || len != 32 || !writ_ct_memeq(stored, hash, 32)) {
		db_res_free(r);
		return fail(k, 401, "unauthenticated", "unknown or revoked token: ask your admin for a new one"),
		       WRIT_E_AUTH;
	}
	memset(&k->who, 0, sizeof(k->who));
	k->who.token_id = db_int(r, 0, 0);
	if (!db_isnull(r, 0, 2)) {
		k->who.role = ROLE_FACTORY;
		k->who.factory_id = db_int(r, 0, 2);
		k->who.org_id = db_int(r, 0, 9);
		(void)!snprintf(k->who.user, sizeof(k->who.user), "factory:%s", db_text(r, 0, 10));
	} else {
		k->who.user_id = db_int(r, 0, 3);
		(void)!snprintf(k->who.user, sizeof(k->who.user), "%s", db_text(r, 0, 4));
		k->who.role = role_parse(db_text(r, 0, 5));
		k->who.org_id = db_int(r, 0, 6);
		(void)!snprintf(k->who.org, sizeof(k->who.org), "%s", db_text(r, 0, 7));
		k->who.oem = !strcmp(db_text(r, 0, 8), "oem");
	}
	db_res_free(r);
	if (k->who.role == ROLE_NONE)
		return fail(k, 401, "unauthenticated", "this token's user has no role"), WRIT_E_AUTH;
	return 0;
}

int role_in(const struct call *k, ...)
{
	va_list ap;
	int r, hit = 0;

	va_start(ap, k);
	while ((r = va_arg(ap, int)) != ROLE_NONE)
		if ((enum role)r == k->who.role)
			hit = 1;
	va_end(ap);
	return hit;
}

int forbid(struct call *k, const char *who_may)
{
	return fail(k, 403, "forbidden", "a %s may not do this (only %s)", role_name(k->who.role), who_may);
}

int product_is_own_oem(const struct call *k, const struct product *p)
{
	return k->who.oem && k->who.org_id == p->oem_id &&
	       (k->who.role == ROLE_OEM_ADMIN || k->who.role == ROLE_OEM_SECURITY);
}

int product_visible(struct call *k, const char *name, struct product *ret)
{
	struct db_res *r = NULL;
	const uint8_t *sb;
	size_t len = 0;
	int err, ok = 0;

	if (!name_ok(name))
		return fail(k, 404, "not_found", "no such product"), WRIT_E_NOTFOUND;
	err = db_query(k->db,
		       "SELECT p.id, p.oem_id, p.vid, p.pid, p.quota, p.allocated, p.produced, p.next_serial, p.name,"
		       " p.title, p.pai_mode, p.sb_pub,"
		       " (SELECT COUNT(*) FROM invites i WHERE i.product_id = p.id AND i.odm_id = ?), p.debug_gen, p.rework_policy"
		       " FROM products p WHERE p.name = ?",
		       (struct db_param[]){ DB_I(k->who.org_id), DB_T(name) }, 2, &r);
	if (err < 0)
		return fail_db(k, err, "product"), err;
	if (db_rows(r) == 1) {
		memset(ret, 0, sizeof(*ret));
		ret->id = db_int(r, 0, 0);
		ret->oem_id = db_int(r, 0, 1);
		ret->vid = db_int(r, 0, 2);
		ret->pid = db_int(r, 0, 3);
		ret->quota = db_int(r, 0, 4);
		ret->allocated = db_int(r, 0, 5);
		ret->produced = db_int(r, 0, 6);
		ret->next_serial = db_int(r, 0, 7);
		(void)!snprintf(ret->name, sizeof(ret->name), "%s", db_text(r, 0, 8));
		(void)!snprintf(ret->title, sizeof(ret->title), "%s", db_text(r, 0, 9));
		(void)!snprintf(ret->pai_mode, sizeof(ret->pai_mode), "%s", db_text(r, 0, 10));
		sb = db_blob(r, 0, 11, &len);
		if (sb && len == WRIT_P256_PUB_LEN) {
			memcpy(ret->sb_pub, sb, len);
			ret->has_sb_pub = 1;
		}
		ret->debug_gen = db_int(r, 0, 13);
		(void)!snprintf(ret->rework_policy, sizeof(ret->rework_policy), "%s", db_text(r, 0, 14));
		if (k->who.role == ROLE_FACTORY)
			ok = 0; /* factories reach products only through their batches */
		else if (k->who.oem)
			ok = k->who.org_id == ret->oem_id;
		else
			ok = db_int(r, 0, 12) > 0;
	}
	db_res_free(r);
	if (!ok)
		return fail(k, 404, "not_found", "no such product (or not one you were invited to)"), WRIT_E_NOTFOUND;
	return 0;
}
