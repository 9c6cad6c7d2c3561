/* SPDX-License-Identifier: Apache-2.0 */
/* The key-agreement key in a TPM 2.0 (tpmkex.h): TPM2_Create, TPM2_Load, TPM2_ECDH_ZGen. */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "host/file.h"
#include "host/log.h"
#include "hsm/tpmkex.h"

#define KEX_MAGIC "WKX1"
#define KEX_FILE_MAX 4096
#define AUTH_LABEL "writ-hsmd kex authValue v1" /* SHA-256(label || 0x00 || PIN) */

/* What a writ-hsmd key-agreement key must be: born in this TPM, bound to its parent,
 * used with an authorisation value, for decryption (ECDH) and nothing that would make
 * it a storage key. NODA: the value comes from the PIN the token already accepted, and
 * a dictionary-attack lockout would stop every key in the TPM, the token's included. */
#define KEX_ATTRS                                                                                              \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |                   \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA)

struct tpmkex {
	struct tpm *tpm;
	ESYS_TR key;
	uint8_t pub[WRIT_P256_PUB_LEN];
};

static void kex_template(TPM2B_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	p->publicArea.type = TPM2_ALG_ECC;
	p->publicArea.nameAlg = TPM2_ALG_SHA256;
	p->publicArea.objectAttributes = KEX_ATTRS;
	p->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDH;
	p->publicArea.parameters.eccDetail.scheme.details.ecdh.hashAlg = TPM2_ALG_SHA256;
	p->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

/* The parent: an ECC P-256 storage primary of the owner hierarchy (the TCG's SRK
 * template shape). The same template gives the same key for as long as the owner seed
 * is not changed (TPM2_Clear), so nothing is left persistent in the TPM. */
static int primary(struct tpm *t, ESYS_TR *ret)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcrs = { .count = 0 };
	TSS2_RC rc;

	memset(&sens, 0, sizeof(sens));
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.publicArea.type = TPM2_ALG_ECC;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
					   TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
					   TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA;
	tmpl.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	tmpl.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
	tmpl.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	tmpl.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	rc = Esys_CreatePrimary(tpm_esys(t), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
				&tmpl, &outside, &pcrs, ret, NULL, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		log_error("tpm: cannot create the storage primary key of the owner hierarchy: %s (writ-hsmd needs "
			  "an empty owner authorisation)", Tss2_RC_Decode(rc));
		return WRIT_E_TOKEN;
	}
	return 0;
}

static int auth_value(const char *pin, TPM2B_AUTH *ret)
{
	uint8_t buf[sizeof(AUTH_LABEL) + 256];
	size_t n = strlen(pin);
	int err;

	if (n > 256)
		return WRIT_E_TOOBIG;
	memcpy(buf, AUTH_LABEL, sizeof(AUTH_LABEL)); /* with its NUL: the separator */
	memcpy(buf + sizeof(AUTH_LABEL), pin, n);
	ret->size = 32;
	err = ec_sha256(buf, sizeof(AUTH_LABEL) + n, ret->buffer);
	writ_memzero(buf, sizeof(buf));
	return err;
}

static int point_out(const TPMS_ECC_POINT *p, uint8_t pub[WRIT_P256_PUB_LEN])
{
	if (p->x.size == 0 || p->x.size > 32 || p->y.size == 0 || p->y.size > 32)
		return WRIT_E_FORMAT;
	memset(pub, 0, WRIT_P256_PUB_LEN);
	pub[0] = 0x04;
	memcpy(pub + 1 + 32 - p->x.size, p->x.buffer, p->x.size);
	memcpy(pub + 33 + 32 - p->y.size, p->y.buffer, p->y.size);
	return 0;
}

int tpmkex_parse(const uint8_t *buf, size_t len, TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv)
{
	const TPMT_PUBLIC *a = &ret_pub->publicArea;
	size_t off = 4;
	uint8_t pub[WRIT_P256_PUB_LEN];

	memset(ret_pub, 0, sizeof(*ret_pub));
	memset(ret_priv, 0, sizeof(*ret_priv));
	if (len < 4 || len > KEX_FILE_MAX || memcmp(buf, KEX_MAGIC, 4) != 0)
		return WRIT_E_FORMAT;
	/* tss2-mu does not hold TPM2B_PUBLIC's size to what its area takes: we do */
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, ret_pub) != TSS2_RC_SUCCESS || off != (size_t)ret_pub->size + 6 ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, len, &off, ret_priv) != TSS2_RC_SUCCESS || off != len)
		return WRIT_E_FORMAT;
	if (a->type != TPM2_ALG_ECC || a->nameAlg != TPM2_ALG_SHA256 || a->objectAttributes != KEX_ATTRS ||
	    a->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
	    a->parameters.eccDetail.symmetric.algorithm != TPM2_ALG_NULL || a->authPolicy.size != 0 ||
	    ret_priv->size == 0 || point_out(&a->unique.ecc, pub) < 0)
		return WRIT_E_FORMAT;
	return ec_p256_check_pub(pub) < 0 ? WRIT_E_FORMAT : 0;
}

int tpmkex_create(struct tpm *t, const char *pin, const char *path, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcrs = { .count = 0 };
	TPM2B_PUBLIC *out_pub = NULL;
	TPM2B_PRIVATE *out_priv = NULL;
	ESYS_TR parent = ESYS_TR_NONE;
	uint8_t buf[KEX_FILE_MAX];
	size_t off = 4;
	TSS2_RC rc;
	int err;

	memset(&sens, 0, sizeof(sens));
	if ((err = auth_value(pin, &sens.sensitive.userAuth)) < 0)
		return err;
	kex_template(&tmpl);
	tpm_lock(t);
	if ((err = primary(t, &parent)) < 0)
		goto out;
	rc = Esys_Create(tpm_esys(t), parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
			 &pcrs, &out_priv, &out_pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		log_error("tpm: cannot create the key-agreement key: %s", Tss2_RC_Decode(rc));
		err = WRIT_E_TOKEN;
		goto out;
	}
	memcpy(buf, KEX_MAGIC, 4);
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(out_pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(out_priv, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS) {
		err = WRIT_E_TOOBIG;
		goto out;
	}
	if ((err = point_out(&out_pub->publicArea.unique.ecc, ret_pub)) < 0)
		goto out;
	err = file_write_atomic(path, buf, off, 0600);
	if (err < 0)
		log_error("tpm: cannot write %s: %s", path, writ_strerror(err));
out:
	if (parent != ESYS_TR_NONE)
		Esys_FlushContext(tpm_esys(t), parent);
	tpm_unlock(t);
	writ_memzero(&sens, sizeof(sens));
	Esys_Free(out_pub);
	Esys_Free(out_priv);
	return err;
}

int tpmkex_load(struct tpm *t, const char *pin, const char *path, struct tpmkex **ret)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	TPM2B_AUTH auth;
	ESYS_TR parent = ESYS_TR_NONE;
	struct tpmkex *k = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	TSS2_RC rc;
	int err;

	*ret = NULL;
	if ((err = file_read(path, KEX_FILE_MAX, &buf, &len)) < 0) {
		log_error("tpm: cannot read the key-agreement key %s: %s (this HSM was initialised with --kex tpm)",
			  path, writ_strerror(err));
		return err;
	}
	err = tpmkex_parse(buf, len, &pub, &priv);
	free(buf);
	if (err < 0) {
		log_error("tpm: %s is not a writ-hsmd key-agreement key (a TPM P-256 ECDH key born in the TPM): "
			  "refusing it", path);
		return WRIT_E_FORMAT;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return WRIT_E_NOMEM;
	k->tpm = t;
	k->key = ESYS_TR_NONE;
	if ((err = point_out(&pub.publicArea.unique.ecc, k->pub)) < 0 || (err = auth_value(pin, &auth)) < 0)
		goto fail;
	tpm_lock(t);
	if ((err = primary(t, &parent)) < 0) {
		tpm_unlock(t);
		goto fail;
	}
	rc = Esys_Load(tpm_esys(t), parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &k->key);
	Esys_FlushContext(tpm_esys(t), parent);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_TR_SetAuth(tpm_esys(t), k->key, &auth);
	tpm_unlock(t);
	writ_memzero(&auth, sizeof(auth));
	if (rc != TSS2_RC_SUCCESS) {
		/* the private area is encrypted by the primary: another TPM, or its owner seed
		 * was changed (TPM2_Clear) since init */
		log_error("tpm: this TPM cannot load the key-agreement key %s: %s (another TPM, or the TPM was "
			  "cleared since writ-hsmd init)", path, Tss2_RC_Decode(rc));
		err = WRIT_E_NOTFOUND;
		goto fail;
	}
	*ret = k;
	return 0;
fail:
	writ_memzero(&auth, sizeof(auth));
	tpmkex_free(k);
	return err;
}

static int kex_derive(void *ctx, const uint8_t peer[WRIT_P256_PUB_LEN], uint8_t ret_z[32])
{
	struct tpmkex *k = ctx;
	TPM2B_ECC_POINT in;
	TPM2B_ECC_POINT *out = NULL;
	TSS2_RC rc;
	int err = 0;

	if (ec_p256_check_pub(peer) < 0)
		return WRIT_E_CRYPTO; /* not a point on P-256: refused before the TPM sees it */
	memset(&in, 0, sizeof(in));
	in.point.x.size = 32;
	in.point.y.size = 32;
	memcpy(in.point.x.buffer, peer + 1, 32);
	memcpy(in.point.y.buffer, peer + 33, 32);
	tpm_lock(k->tpm);
	rc = Esys_ECDH_ZGen(tpm_esys(k->tpm), k->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &in, &out);
	tpm_unlock(k->tpm);
	if (rc != TSS2_RC_SUCCESS || !out || out->point.x.size == 0 || out->point.x.size > 32) {
		if ((rc & TPM2_RC_FMT1) && ((rc & 0x3f) | TPM2_RC_FMT1) == TPM2_RC_ECC_POINT) {
			err = WRIT_E_CRYPTO; /* not a point on P-256: the peer's fault */
		} else if ((rc & TPM2_RC_FMT1) && (((rc & 0x3f) | TPM2_RC_FMT1) == TPM2_RC_AUTH_FAIL ||
						   ((rc & 0x3f) | TPM2_RC_FMT1) == TPM2_RC_BAD_AUTH)) {
			log_error("tpm: the TPM refuses the key-agreement key's authorisation: the token's user "
				  "PIN is not the one writ-hsmd init saw (the key's authorisation is derived from it)");
			err = WRIT_E_AUTH;
		} else {
			log_error("tpm: TPM2_ECDH_ZGen failed: %s", Tss2_RC_Decode(rc));
			err = WRIT_E_TOKEN;
		}
		goto out;
	}
	memset(ret_z, 0, 32);
	memcpy(ret_z + 32 - out->point.x.size, out->point.x.buffer, out->point.x.size);
out:
	if (out)
		writ_memzero(out, sizeof(*out));
	Esys_Free(out);
	return err;
}

void tpmkex_ecdh(struct tpmkex *k, struct writ_ecdh *ret)
{
	ret->derive = kex_derive;
	ret->ctx = k;
	memcpy(ret->pub, k->pub, sizeof(ret->pub));
}

void tpmkex_free(struct tpmkex *k)
{
	if (!k)
		return;
	if (k->key != ESYS_TR_NONE) {
		tpm_lock(k->tpm);
		Esys_FlushContext(tpm_esys(k->tpm), k->key);
		tpm_unlock(k->tpm);
	}
	free(k);
}
