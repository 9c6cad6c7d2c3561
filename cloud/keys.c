/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Each OEM organisation's authority keys, in the portal's PKCS#11 token: writ signing,
 * the Matter PAA, the debug root and a secure-boot signing key, labelled "o<org>-<use>".
 * They are generated non-extractable inside the token when the org is made; the store
 * keeps only their public halves and the PAA certificate. One token operation at a time
 * (the token's session is shared by the server's threads).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "cloud/cloud.h"
#include "p11/p11.h"
#include "wire/authority.h"

static const char *const uses[KEY_COUNT] = { "writ", "paa", "debug-root", "secure-boot" };
static const char *const cols[KEY_COUNT] = { "writ_pub", "paa_pub", "debug_pub", "sb_pub" };

static void label_of(int64_t org_id, enum org_key key, char out[P11_LABEL_MAX])
{
	(void)!snprintf(out, P11_LABEL_MAX, "o%lld-%s", (long long)org_id, uses[key]);
}

int keys_random(struct cloud *c, uint8_t *buf, size_t n)
{
	int err;

	pthread_mutex_lock(&c->p11_lock);
	err = p11_random(c->p11, buf, n);
	pthread_mutex_unlock(&c->p11_lock);
	return err;
}

int keys_create_org(struct cloud *c, struct db *db, int64_t org_id, const char *org_name)
{
	uint8_t pub[KEY_COUNT][WRIT_P256_PUB_LEN], rnd[8], *paa = NULL;
	size_t paa_len = 0;
	struct writ_signer s;
	char label[P11_LABEL_MAX], cn[80];
	int err = 0, k;

	pthread_mutex_lock(&c->p11_lock);
	for (k = 0; k < KEY_COUNT && !err; k++) {
		label_of(org_id, (enum org_key)k, label);
		err = p11_keygen_p256(c->p11, label, P11_USAGE_SIGN, pub[k]);
		if (err == WRIT_E_EXISTS) /* an earlier attempt died before the store commit */
			err = p11_find_key(c->p11, label, pub[k]);
	}
	(void)!snprintf(cn, sizeof(cn), "writ PAA %.60s", org_name);
	if (!err) {
		label_of(org_id, KEY_PAA, label);
		if ((err = p11_signer(c->p11, label, &s)) == 0 && (err = p11_random(c->p11, rnd, sizeof(rnd))) == 0)
			err = authority_make_paa(&s, cn, -1, rnd, now_s(), &paa, &paa_len);
	}
	pthread_mutex_unlock(&c->p11_lock);
	if (err < 0)
		return err;
	err = db_exec(db, "INSERT INTO org_keys (org_id, writ_pub, paa_pub, paa_der, debug_pub, sb_pub) VALUES (?, ?, ?, ?, ?, ?)",
		      (struct db_param[]){ DB_I(org_id), DB_B(pub[KEY_WRIT], 65), DB_B(pub[KEY_PAA], 65), DB_B(paa, paa_len),
					   DB_B(pub[KEY_DEBUG_ROOT], 65), DB_B(pub[KEY_SECURE_BOOT], 65) },
		      6, NULL);
	free(paa);
	return err;
}

int keys_pub(struct db *db, int64_t org_id, enum org_key key, uint8_t pub[WRIT_P256_PUB_LEN])
{
	struct db_res *r = NULL;
	char sql[128];
	const uint8_t *b;
	size_t len = 0;
	int err;

	(void)!snprintf(sql, sizeof(sql), "SELECT %s FROM org_keys WHERE org_id = ?", cols[key]);
	if ((err = db_query(db, sql, (struct db_param[]){ DB_I(org_id) }, 1, &r)) < 0)
		return err;
	err = WRIT_E_NOTFOUND;
	if (db_rows(r) == 1 && (b = db_blob(r, 0, 0, &len)) && len == WRIT_P256_PUB_LEN) {
		memcpy(pub, b, len);
		err = 0;
	}
	db_res_free(r);
	return err;
}

int keys_paa_der(struct db *db, int64_t org_id, uint8_t **ret, size_t *ret_len)
{
	struct db_res *r = NULL;
	const uint8_t *b;
	size_t len = 0;
	int err;

	if ((err = db_query(db, "SELECT paa_der FROM org_keys WHERE org_id = ?", (struct db_param[]){ DB_I(org_id) }, 1,
			    &r)) < 0)
		return err;
	err = WRIT_E_NOTFOUND;
	if (db_rows(r) == 1 && (b = db_blob(r, 0, 0, &len)) && len) {
		err = WRIT_E_NOMEM;
		if ((*ret = malloc(len))) {
			memcpy(*ret, b, len);
			*ret_len = len;
			err = 0;
		}
	}
	db_res_free(r);
	return err;
}

int keys_with_signer(struct cloud *c, int64_t org_id, enum org_key key, keys_sign_fn fn, void *arg)
{
	struct writ_signer s;
	char label[P11_LABEL_MAX];
	int err;

	label_of(org_id, key, label);
	pthread_mutex_lock(&c->p11_lock);
	err = p11_signer(c->p11, label, &s);
	if (!err)
		err = fn(&s, arg);
	pthread_mutex_unlock(&c->p11_lock);
	return err;
}
