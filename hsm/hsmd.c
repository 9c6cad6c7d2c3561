/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-hsmd's operations. The daemon plays the part of an HSM's firmware: the token
 * holds every private key; this file decides what the token may sign. The rules:
 *  - a writ is accepted only if it decrypts with this HSM's key-agreement key, verifies
 *    under the pinned OEM key, names this HSM and factory, is inside its window, is not
 *    revoked, and its PAI certificate is this HSM's PAI key with the writ's VID/PID;
 *  - a DAC is signed only under a loaded production writ that allows it, inside its
 *    window, with quantity left, for a CSR that proves possession of a P-256 key;
 *  - a device UID gets one unit of quantity, ever: asked again under the same writ, it
 *    gets a DAC again (same device serial, new certificate, no quantity) only for the
 *    same public key, and is refused for any other (a clone);
 *  - the count is durable in the journal before the certificate is returned.
 * Reservations in memory keep concurrent requests from overshooting; the journal is
 * the truth after a restart.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "crypto/matter_cert.h"
#include "crypto/wrap.h"
#include "crypto/x509.h"
#include "hsm/hsmd.h"
#include "host/file.h"
#include "host/log.h"
#include "wire/cbu.h"
#include "wire/dbgcred.h"
#include "wire/hsmproto.h"

#define UID_EMPTY 0
#define UID_TOMB 1

/* Write the reason, log it, return err. */
static int refuse(char *reason, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *reason, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, HSM_REASON_MAX, fmt, ap);
	va_end(ap);
	log_warn("refused (%s): %s", writ_strerror(err), reason);
	return err;
}

int64_t hsm_now(const struct hsm *h)
{
	return (int64_t)time(NULL) + h->time_offset;
}

static struct hsm_writ *find_writ(struct hsm *h, const uint8_t id[WRIT_ID_LEN])
{
	size_t i;

	for (i = 0; i < h->n_writs; i++)
		if (memcmp(h->writs[i].scope.id, id, WRIT_ID_LEN) == 0)
			return &h->writs[i];
	return NULL;
}

static int is_revoked(struct hsm *h, const uint8_t id[WRIT_ID_LEN])
{
	size_t i;

	for (i = 0; i < h->n_revoked; i++)
		if (memcmp(h->revoked[i], id, WRIT_ID_LEN) == 0)
			return 1;
	return 0;
}

/* ---- device-UID fingerprints per writ (open addressing with tombstones) ---- */

static uint64_t uid_fp(const uint8_t *uid, size_t len)
{
	uint8_t d[32];
	uint64_t v = 0;
	int i;

	if (ec_sha256(uid, len, d) < 0)
		return 2;
	for (i = 0; i < 8; i++)
		v = v << 8 | d[i];
	return v | 2; /* never EMPTY or TOMB */
}

/* The fingerprint of a DAC: the first 8 bytes of its SHA-256 (never 0, which means
 * "DAC not yet durable"). */
static uint64_t dac_fp_of(const uint8_t digest[32])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | digest[i];
	return v ? v : 1;
}

/* The fingerprint of a device public key (65-byte point) as kept per UID. */
static int key_fp_of(const uint8_t pub[WRIT_P256_PUB_LEN], uint8_t ret_digest[32])
{
	return ec_sha256(pub, WRIT_P256_PUB_LEN, ret_digest) < 0 ? WRIT_E_CRYPTO : 0;
}

static int uid_grow(struct hsm_writ *w)
{
	size_t cap = w->uids_cap ? w->uids_cap * 2 : 64, i;
	struct hsm_uid *n = calloc(cap, sizeof(*n)), *old = w->uids;

	if (!n)
		return WRIT_E_NOMEM;
	for (i = 0; i < w->uids_cap; i++) {
		if (old[i].uid > UID_TOMB) {
			size_t k = old[i].uid % cap;
			while (n[k].uid)
				k = (k + 1) % cap;
			n[k] = old[i];
		}
	}
	free(old);
	w->uids = n;
	w->uids_cap = cap;
	return 0;
}

/* The slot of fp, or SIZE_MAX. */
static size_t uid_slot(const struct hsm_writ *w, uint64_t fp)
{
	size_t k;

	if (!w->uids_cap)
		return SIZE_MAX;
	for (k = fp % w->uids_cap; w->uids[k].uid != UID_EMPTY; k = (k + 1) % w->uids_cap)
		if (w->uids[k].uid == fp)
			return k;
	return SIZE_MAX;
}

/* Record which DAC the device fp received (once it is durable). */
static void uid_set_dac(struct hsm_writ *w, uint64_t fp, uint64_t dac_fp)
{
	size_t k = uid_slot(w, fp);

	if (k != SIZE_MAX)
		w->uids[k].dac = dac_fp;
}

/* A re-provisioned device: its new key and DAC replace the old ones. */
static void uid_reprovision(struct hsm_writ *w, uint64_t fp, const uint8_t key[HSM_KEY_FP_LEN], uint64_t dac_fp)
{
	size_t k = uid_slot(w, fp);

	if (k != SIZE_MAX) {
		memcpy(w->uids[k].key, key, HSM_KEY_FP_LEN);
		w->uids[k].dac = dac_fp;
	}
}

/* Add fp with its index and key fingerprint (no DAC recorded yet): 0 if added, 1 if fp
 * was present (nothing changed), negative on error. key may be NULL (unknown). */
static int uid_add(struct hsm_writ *w, uint64_t fp, uint64_t index, const uint8_t *key)
{
	size_t k, tomb = SIZE_MAX;

	if ((w->uids_n + 1) * 2 > w->uids_cap && uid_grow(w) < 0)
		return WRIT_E_NOMEM;
	for (k = fp % w->uids_cap; w->uids[k].uid != UID_EMPTY; k = (k + 1) % w->uids_cap) {
		if (w->uids[k].uid == fp)
			return 1;
		if (w->uids[k].uid == UID_TOMB && tomb == SIZE_MAX)
			tomb = k;
	}
	k = tomb != SIZE_MAX ? tomb : k;
	memset(&w->uids[k], 0, sizeof(w->uids[k]));
	w->uids[k].uid = fp;
	w->uids[k].index = index;
	if (key)
		memcpy(w->uids[k].key, key, HSM_KEY_FP_LEN);
	w->uids_n++;
	return 0;
}

static void uid_remove(struct hsm_writ *w, uint64_t fp)
{
	size_t k = uid_slot(w, fp);

	if (k != SIZE_MAX) {
		memset(&w->uids[k], 0, sizeof(w->uids[k]));
		w->uids[k].uid = UID_TOMB;
	}
}

/* ---- index bitmap ---- */

static int index_take(struct hsm_writ *w, uint64_t *ret)
{
	uint64_t i;

	for (i = w->next_free; i < w->scope.quantity; i++) {
		if (!(w->used[i / 8] & (1u << (i % 8)))) {
			w->used[i / 8] |= (uint8_t)(1u << (i % 8));
			w->next_free = i + 1;
			*ret = i;
			return 0;
		}
	}
	return WRIT_E_QUOTA;
}

static void index_release(struct hsm_writ *w, uint64_t i)
{
	w->used[i / 8] &= (uint8_t)~(1u << (i % 8));
	if (i < w->next_free)
		w->next_free = i;
}

/* ---- applying verified writs (load and replay share this) ---- */

static int apply_writ(struct hsm *h, const struct writ_scope *s)
{
	struct hsm_writ *w;
	size_t i;

	if (s->kind == WRIT_KIND_REVOCATION || s->n_revokes) {
		for (i = 0; i < s->n_revokes; i++) {
			struct hsm_writ *t = find_writ(h, s->revokes[i]);
			if (t)
				t->revoked = 1;
			if (!is_revoked(h, s->revokes[i])) {
				uint8_t(*n)[WRIT_ID_LEN] = realloc(h->revoked, (h->n_revoked + 1) * sizeof(*n));
				if (!n)
					return WRIT_E_NOMEM;
				h->revoked = n;
				memcpy(h->revoked[h->n_revoked++], s->revokes[i], WRIT_ID_LEN);
			}
		}
	}
	if (s->kind != WRIT_KIND_PRODUCTION && s->kind != WRIT_KIND_REWORK)
		return 0;
	if (h->n_writs >= HSM_MAX_WRITS)
		return WRIT_E_TOOBIG;
	w = &h->writs[h->n_writs];
	memset(w, 0, sizeof(*w));
	w->scope = *s;
	/* a rework writ has quantity 0: one byte, so that calloc never returns NULL */
	w->used = calloc((size_t)(s->quantity + 7) / 8 + 1, 1);
	if (!w->used)
		return WRIT_E_NOMEM;
	w->revoked = is_revoked(h, s->id);
	h->n_writs++;
	return 0;
}

/* ---- journal replay ---- */

static int replay(void *ctx, const struct journal_entry *e)
{
	struct hsm *h = ctx;
	const cbor_item_t *b = e->body;

	switch (e->type) {
	case JT_GENESIS: {
		uint8_t pub[WRIT_P256_PUB_LEN];
		char kex_where[8];
		uint64_t tol;
		if (cbu_get_fixed(b, 1, h->hsm_id, WRIT_KEYID_LEN) < 0 ||
		    cbu_get_text(b, 2, h->factory, sizeof(h->factory)) < 0 ||
		    cbu_get_fixed(b, 6, h->pinned_pub, WRIT_P256_PUB_LEN) < 0 ||
		    cbu_get_fixed(b, 7, h->serial_prefix, 4) < 0 || cbu_get_uint(b, 8, 86400, &tol) < 0)
			return WRIT_E_JOURNAL;
		h->tolerance = (int64_t)tol;
		if ((cbu_get_text(b, 11, kex_where, sizeof(kex_where)) == 0 && !strcmp(kex_where, "tpm")) !=
		    h->kex_in_tpm) {
			log_error("journal: its genesis keeps the key-agreement key %s, this start %s",
				  h->kex_in_tpm ? "in the token" : "in the TPM",
				  h->kex_in_tpm ? "in the TPM" : "in the token");
			return WRIT_E_JOURNAL;
		}
		if (cbu_get_fixed(b, 4, pub, sizeof(pub)) < 0 || memcmp(pub, h->kex.pub, sizeof(pub)) != 0 ||
		    cbu_get_fixed(b, 5, pub, sizeof(pub)) < 0 || memcmp(pub, h->pai.pub, sizeof(pub)) != 0) {
			log_error("journal: its genesis names other keys than this token holds");
			return WRIT_E_JOURNAL;
		}
		return 0;
	}
	case JT_WRIT: {
		struct writ_scope *s = malloc(sizeof(*s));
		const uint8_t *msg;
		size_t len;
		int err;
		if (!s)
			return WRIT_E_NOMEM;
		/* 2: the signed writ; 3 instead: the sealed writ, for a writ that carries
		 * secrets (they never reach the journal in clear) */
		if (cbu_get_bytes(b, 2, 1, WRIT_MAX_SEALED, &msg, &len) == 0)
			err = writ_verify_signed(msg, len, h->pinned_pub, s);
		else if (cbu_get_bytes(b, 3, 1, WRIT_MAX_SEALED, &msg, &len) == 0)
			err = writ_open(msg, len, &h->kex, h->pinned_pub, s, NULL, NULL);
		else
			err = WRIT_E_FORMAT;
		if (err < 0) {
			log_error("journal: entry %llu holds a writ that does not verify", (unsigned long long)e->seq);
			free(s);
			return WRIT_E_JOURNAL;
		}
		err = apply_writ(h, s);
		writ_scope_wipe(s);
		free(s);
		return err;
	}
	case JT_DAC:
	case JT_REISSUE: {
		uint8_t id[WRIT_ID_LEN], serial[12], dac_digest[32], key[32];
		uint64_t index, dev_serial, counter = 0, fp;
		const uint8_t *uid;
		size_t uid_len, slot;
		int have_key, i;
		struct hsm_writ *w;
		if (cbu_get_fixed(b, 1, id, WRIT_ID_LEN) < 0 || cbu_get_uint(b, 2, UINT64_MAX, &index) < 0 ||
		    cbu_get_bytes(b, 3, 1, HSMP_UID_MAX, &uid, &uid_len) < 0 ||
		    cbu_get_uint(b, 4, UINT64_MAX, &dev_serial) < 0 || cbu_get_fixed(b, 5, serial, 12) < 0 ||
		    cbu_get_fixed(b, 6, dac_digest, 32) < 0)
			return WRIT_E_JOURNAL;
		/* 7, the key's digest: in every entry this daemon writes; a dac entry of an
		 * older daemon lacks it, and its device can then never get a re-issue */
		have_key = cbu_get(b, 7) != NULL;
		if (have_key && cbu_get_fixed(b, 7, key, sizeof(key)) < 0)
			return WRIT_E_JOURNAL;
		if (e->type == JT_REISSUE && !have_key)
			return WRIT_E_JOURNAL;
		w = find_writ(h, id);
		fp = uid_fp(uid, uid_len);
		if (e->type == JT_DAC) {
			if (!w || index >= w->scope.quantity || (w->used[index / 8] & (1u << (index % 8)))) {
				log_error("journal: entry %llu records a DAC outside any writ's quantity",
					  (unsigned long long)e->seq);
				return WRIT_E_JOURNAL;
			}
			w->used[index / 8] |= (uint8_t)(1u << (index % 8));
			w->issued++;
			if (uid_add(w, fp, index, have_key ? key : NULL) < 0)
				return WRIT_E_NOMEM;
		} else {
			/* a re-issue names a device that has a DAC, at its index, with its key */
			if (!w || (slot = uid_slot(w, fp)) == SIZE_MAX || !w->uids[slot].dac ||
			    w->uids[slot].index != index || dev_serial != w->scope.serial_first + index ||
			    memcmp(w->uids[slot].key, key, HSM_KEY_FP_LEN) != 0) {
				log_error("journal: entry %llu records a re-issue for a device without a DAC "
					  "for that key", (unsigned long long)e->seq);
				return WRIT_E_JOURNAL;
			}
			w->reissued++;
		}
		uid_set_dac(w, fp, dac_fp_of(dac_digest));
		for (i = 4; i < 12; i++)
			counter = counter << 8 | serial[i];
		if (counter >= h->next_dac_counter)
			h->next_dac_counter = counter + 1;
		return 0;
	}
	case JT_REPROVISION: {
		uint8_t id[WRIT_ID_LEN], oid[WRIT_ID_LEN], serial[12], dac_digest[32], key[32];
		uint64_t dev_serial, counter = 0, fp;
		const uint8_t *uid;
		size_t uid_len, slot;
		struct hsm_writ *w, *o;
		int i;
		if (cbu_get_fixed(b, 1, id, WRIT_ID_LEN) < 0 || cbu_get_fixed(b, 2, oid, WRIT_ID_LEN) < 0 ||
		    cbu_get_bytes(b, 3, 1, HSMP_UID_MAX, &uid, &uid_len) < 0 ||
		    cbu_get_uint(b, 4, UINT64_MAX, &dev_serial) < 0 || cbu_get_fixed(b, 5, serial, 12) < 0 ||
		    cbu_get_fixed(b, 6, dac_digest, 32) < 0 || cbu_get_fixed(b, 7, key, 32) < 0)
			return WRIT_E_JOURNAL;
		w = find_writ(h, id);
		o = find_writ(h, oid);
		fp = uid_fp(uid, uid_len);
		if (!w || w->scope.kind != WRIT_KIND_REWORK || !(w->scope.ops & WRIT_OP_ISSUE_DAC) ||
		    w->rework_used >= w->scope.rework.limit || !o || o->scope.kind != WRIT_KIND_PRODUCTION ||
		    (slot = uid_slot(o, fp)) == SIZE_MAX || !o->uids[slot].dac ||
		    dev_serial != o->scope.serial_first + o->uids[slot].index) {
			log_error("journal: entry %llu records a re-provision outside any rework writ's rights",
				  (unsigned long long)e->seq);
			return WRIT_E_JOURNAL;
		}
		w->rework_used++;
		uid_reprovision(o, fp, key, dac_fp_of(dac_digest));
		for (i = 4; i < 12; i++)
			counter = counter << 8 | serial[i];
		if (counter >= h->next_dac_counter)
			h->next_dac_counter = counter + 1;
		return 0;
	}
	case JT_DEBUG: {
		uint8_t id[WRIT_ID_LEN];
		struct hsm_writ *w;
		if (cbu_get_fixed(b, 1, id, WRIT_ID_LEN) < 0 || !(w = find_writ(h, id)) || !w->scope.rework.present ||
		    !(w->scope.ops & WRIT_OP_DEBUG_UNLOCK) || w->rework_used >= w->scope.rework.limit) {
			log_error("journal: entry %llu records a debug unlock outside any writ's rework rights",
				  (unsigned long long)e->seq);
			return WRIT_E_JOURNAL;
		}
		w->rework_used++;
		return 0;
	}
	case JT_WRAP: {
		uint8_t id[WRIT_ID_LEN], uid[HSMP_WRAP_UID_LEN];
		char label[WRIT_SECRET_LABEL_MAX + 1];
		if (cbu_get_fixed(b, 1, id, WRIT_ID_LEN) < 0 || cbu_get_fixed(b, 2, uid, sizeof(uid)) < 0 ||
		    cbu_get_text(b, 3, label, sizeof(label)) < 0 || !find_writ(h, id)) {
			log_error("journal: entry %llu records a secret wrap under no loaded writ",
				  (unsigned long long)e->seq);
			return WRIT_E_JOURNAL;
		}
		return 0;
	}
	case JT_START: {
		uint64_t ms, reset, restart, host;
		if (cbu_get_uint(b, 2, UINT64_MAX, &ms) < 0)
			return 0; /* no TPM clock anchor in this start */
		if (cbu_get_uint(b, 3, UINT32_MAX, &reset) < 0 || cbu_get_uint(b, 4, UINT32_MAX, &restart) < 0 ||
		    cbu_get_uint(b, 5, INT64_MAX, &host) < 0)
			return WRIT_E_JOURNAL;
		h->start_has_clock = 1;
		h->start_tpm = (struct anchor_clock){ ms, (uint32_t)reset, (uint32_t)restart };
		h->start_host = (int64_t)host;
		return 0;
	}
	default:
		return 0;
	}
}

static int clock_tpm_ok(struct hsm *h, int64_t now, const struct anchor_clock *t, char *reason);

int hsm_open(struct hsm *h, const char *state_dir, const char *module, const char *token, const char *pin,
	     int64_t time_offset, struct anchor *tpm, const struct writ_ecdh *kex)
{
	struct anchor_clock tnow;
	char why[HSM_REASON_MAX];
	struct journal_open_info info;
	char path[4096];
	cbor_item_t *start = NULL;
	const char *lacks;
	int err;

	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->time_offset = time_offset;
	h->writs = calloc(HSM_MAX_WRITS, sizeof(*h->writs));
	if (!h->writs)
		return WRIT_E_NOMEM;
	err = p11_open(module, token, pin, &h->p11);
	if (err < 0) {
		log_error("cannot open token \"%s\": %s (check the module path, token label and PIN)", token,
			  writ_strerror(err));
		return err;
	}
	if ((lacks = p11_lacks(h->p11, P11_USAGE_SIGN | (kex ? 0 : P11_USAGE_DERIVE)))) {
		log_error("token \"%s\": %s; writ-hsmd needs P-256 key generation, ECDSA, ECDH (writs are "
			  "sealed to the HSM) and random bytes from its token",
			  token, lacks);
		return WRIT_E_UNSUPPORTED;
	}
	if ((err = p11_signer(h->p11, HSM_KEY_IDENTITY, &h->identity)) < 0 ||
	    (err = p11_signer(h->p11, HSM_KEY_PAI, &h->pai)) < 0 ||
	    (!kex && (err = p11_ecdh(h->p11, HSM_KEY_KEX, &h->kex)) < 0)) {
		log_error("the token lacks writ-hsmd's keys (%s): run writ-hsmd init first", writ_strerror(err));
		return err;
	}
	if (kex) {
		h->kex = *kex; /* in the TPM (hsm/tpmkex.h); the genesis's keys 4 and 11 must say so */
		h->kex_in_tpm = 1;
	}
	h->has_debug = p11_signer(h->p11, HSM_KEY_DEBUG, &h->debug) == 0;
	if (!h->has_debug)
		log_warn("the token holds no debug delegate key (\"%s\"): this HSM was initialised before secure "
			 "debug existed, so writs with rework rights will be refused", HSM_KEY_DEBUG);
	if (snprintf(path, sizeof(path), "%s/journal", state_dir) >= (int)sizeof(path))
		return WRIT_E_TOOBIG;
	err = journal_open(path, &h->identity, replay, h, &h->journal, &info);
	if (err < 0) {
		log_error("journal %s does not verify (%s): refusing to start", path, writ_strerror(err));
		return err;
	}
	log_info("journal verified: %llu entries, %llu signed checkpoints, %llu torn bytes recovered",
		 (unsigned long long)info.entries, (unsigned long long)info.checkpoints,
		 (unsigned long long)info.torn_bytes);
	if (hsm_now(h) < info.max_time - h->tolerance)
		log_error("the clock reads %lld, before the journal's last trusted time %lld: every operation "
			  "will be refused until the clock is corrected", (long long)hsm_now(h),
			  (long long)info.max_time);
	if (tpm) {
		if ((err = anchor_clock(tpm, &tnow)) < 0)
			return err;
		if (h->start_has_clock && h->start_tpm.reset == tnow.reset && h->start_tpm.restart == tnow.restart &&
		    h->start_tpm.ms <= tnow.ms) {
			h->clock_host = h->start_host;
			h->clock_tpm = h->start_tpm;
		} else {
			if (h->start_has_clock)
				log_warn("clock: the TPM was reset or resumed since the last start (resetCount %u -> %u, "
					 "restartCount %u -> %u): anchored again at the host's time; how far the clock "
					 "moved while the TPM was off is not bounded (docs/threat-model.md, \"Clock\")",
					 h->start_tpm.reset, tnow.reset, h->start_tpm.restart, tnow.restart);
			h->clock_host = hsm_now(h);
			h->clock_tpm = tnow;
		}
		h->tpm = tpm;
		if ((err = clock_tpm_ok(h, hsm_now(h), &tnow, why)) < 0) {
			log_error("%s: refusing to start", why);
			return err;
		}
		log_info("clock: bound to the TPM's clock since %lld (TPM clock %llu ms, resetCount %u), "
			 "tolerance %lld s", (long long)h->clock_host, (unsigned long long)h->clock_tpm.ms,
			 h->clock_tpm.reset, (long long)h->tolerance);
	}
	start = cbu_new_map(tpm ? 5 : 1);
	if (!start || cbu_put_text(start, 1, "writ-hsmd 0.1") < 0 ||
	    (tpm && (cbu_put_uint(start, 2, h->clock_tpm.ms) < 0 || cbu_put_uint(start, 3, h->clock_tpm.reset) < 0 ||
		     cbu_put_uint(start, 4, h->clock_tpm.restart) < 0 ||
		     cbu_put_uint(start, 5, (uint64_t)h->clock_host) < 0))) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	err = journal_append(h->journal, JT_START, hsm_now(h), start, NULL);
out:
	if (start)
		cbor_decref(&start);
	return err;
}

void hsm_close(struct hsm *h)
{
	size_t i;

	journal_close(h->journal);
	h->journal = NULL;
	p11_close(h->p11);
	h->p11 = NULL;
	for (i = 0; h->writs && i < h->n_writs; i++) {
		free(h->writs[i].used);
		free(h->writs[i].uids);
		writ_scope_wipe(&h->writs[i].scope);
	}
	free(h->writs);
	free(h->revoked);
	h->writs = NULL;
	h->revoked = NULL;
}

/* Forwards: since the anchor, the host clock may not have run more than the tolerance
 * ahead of the TPM's clock, which the host cannot set back or (without the owner's
 * authorisation) forward. */
static int clock_tpm_ok(struct hsm *h, int64_t now, const struct anchor_clock *t, char *reason)
{
	int64_t tpm_s, ahead;

	if (t->reset != h->clock_tpm.reset || t->restart != h->clock_tpm.restart || t->ms < h->clock_tpm.ms)
		return refuse(reason, WRIT_E_CLOCK,
			      "the TPM was reset or resumed while writ-hsmd ran (resetCount %u -> %u, restartCount "
			      "%u -> %u): restart writ-hsmd to anchor the clock again",
			      h->clock_tpm.reset, t->reset, h->clock_tpm.restart, t->restart);
	tpm_s = (int64_t)((t->ms - h->clock_tpm.ms) / 1000);
	ahead = (now - h->clock_host) - tpm_s;
	if (ahead > h->tolerance)
		return refuse(reason, WRIT_E_CLOCK,
			      "the clock reads %lld, %lld s ahead of the TPM's clock (%lld s since the anchor at "
			      "%lld; tolerance %lld s): correct the clock",
			      (long long)now, (long long)ahead, (long long)tpm_s, (long long)h->clock_host,
			      (long long)h->tolerance);
	return 0;
}

/* Under h->lock or not: the journal has its own lock, the TPM anchor its own. */
static int clock_ok(struct hsm *h, int64_t now, char *reason)
{
	int64_t last = journal_max_time(h->journal);
	struct anchor_clock t;
	int err;

	if (now < last - h->tolerance)
		return refuse(reason, WRIT_E_CLOCK,
			      "the clock reads %lld, %lld s before the last trusted time in the journal "
			      "(tolerance %lld s): correct the clock", (long long)now, (long long)(last - now),
			      (long long)h->tolerance);
	if (h->tpm) {
		if ((err = anchor_clock(h->tpm, &t)) < 0)
			return refuse(reason, err, "the TPM's clock cannot be read: refusing to trust the host's");
		return clock_tpm_ok(h, now, &t, reason);
	}
	return 0;
}

static int window_ok(const struct writ_scope *s, int64_t now, char *reason)
{
	char idh[2 * WRIT_ID_LEN + 1];

	hex_encode(s->id, WRIT_ID_LEN, idh);
	if (now < s->not_before)
		return refuse(reason, WRIT_E_EXPIRED, "writ %s is not valid before %lld (now %lld)", idh,
			      (long long)s->not_before, (long long)now);
	if (now >= s->not_after)
		return refuse(reason, WRIT_E_EXPIRED, "writ %s expired at %lld (now %lld)", idh,
			      (long long)s->not_after, (long long)now);
	return 0;
}

static int check_pai(struct hsm *h, const struct writ_scope *s, char *reason)
{
	uint8_t pub[WRIT_P256_PUB_LEN];
	char why[160];
	int vid = -1, pid = -1;

	if (matter_cert_check_profile(s->pai, s->pai_len, X509_PROFILE_PAI, why, sizeof(why)) < 0)
		return refuse(reason, WRIT_E_SCOPE, "the writ's PAI certificate is not a valid Matter PAI: %s", why);
	if (x509_cert_pub(s->pai, s->pai_len, pub) < 0 || memcmp(pub, h->pai.pub, sizeof(pub)) != 0)
		return refuse(reason, WRIT_E_SCOPE, "the writ's PAI certificate is not for this HSM's PAI key");
	if (matter_cert_vidpid(s->pai, s->pai_len, &vid, &pid) < 0 || vid != s->vid || (pid >= 0 && pid != s->pid))
		return refuse(reason, WRIT_E_SCOPE, "the writ's PAI certificate (VID %04X PID %04X) does not match "
			      "the writ's VID %04X / PID %04X", (unsigned)vid, (unsigned)pid, s->vid, s->pid);
	return 0;
}

/* 1 if both scopes encode to the same canonical CBOR (struct padding never counts). */
static int same_scope(const struct writ_scope *a, const struct writ_scope *b)
{
	uint8_t *ea = NULL, *eb = NULL;
	size_t la = 0, lb = 0;
	int same;

	same = writ_scope_encode(a, &ea, &la) == 0 && writ_scope_encode(b, &eb, &lb) == 0 && la == lb &&
	       writ_ct_memeq(ea, eb, la);
	/* the encodings hold the secrets in clear */
	if (ea)
		writ_memzero(ea, la);
	if (eb)
		writ_memzero(eb, lb);
	free(ea);
	free(eb);
	return same;
}

int hsm_load_writ(struct hsm *h, const uint8_t *sealed, size_t len, uint8_t ret_id[WRIT_ID_LEN], char *reason)
{
	struct writ_scope *s = NULL;
	uint8_t *signed_msg = NULL;
	size_t signed_len = 0;
	char idh[2 * WRIT_ID_LEN + 1], want[2 * WRIT_KEYID_LEN + 1];
	cbor_item_t *body = NULL;
	int64_t now = hsm_now(h);
	struct hsm_writ *w;
	int err, locked = 0;

	if (len > WRIT_MAX_SEALED)
		return refuse(reason, WRIT_E_TOOBIG, "writ of %zu bytes exceeds %d", len, WRIT_MAX_SEALED);
	s = malloc(sizeof(*s));
	if (!s)
		return refuse(reason, WRIT_E_NOMEM, "out of memory");
	err = writ_open(sealed, len, &h->kex, h->pinned_pub, s, &signed_msg, &signed_len);
	if (err == WRIT_E_DECRYPT || err == WRIT_E_NOTFOUND) {
		err = refuse(reason, WRIT_E_DECRYPT, "writ does not decrypt with this HSM's key: it is for "
			     "another HSM, or it was tampered with");
		goto out;
	} else if (err == WRIT_E_BADSIG) {
		err = refuse(reason, err, "writ signature does not verify under the pinned OEM key: tampered, or "
			     "signed by a key this HSM does not trust");
		goto out;
	} else if (err == WRIT_E_AUTH || err == WRIT_E_TOKEN) {
		/* the HSM's own key failed (its log says why): nothing is known about the writ */
		err = refuse(reason, err, "this HSM's key-agreement key failed (%s): see writ-hsmd's log; the writ "
			     "was not judged", writ_strerror(err));
		goto out;
	} else if (err < 0) {
		err = refuse(reason, err, "writ is malformed (%s)", writ_strerror(err));
		goto out;
	}
	hex_encode(s->id, WRIT_ID_LEN, idh);
	if (memcmp(s->hsm_id, h->hsm_id, WRIT_KEYID_LEN) != 0) {
		hex_encode(h->hsm_id, 8, want);
		err = refuse(reason, WRIT_E_SCOPE, "writ %s is for another HSM (this is %s…)", idh, want);
		goto out;
	}
	if (strcmp(s->factory, h->factory) != 0) {
		err = refuse(reason, WRIT_E_SCOPE, "writ %s is for factory \"%s\"; this HSM belongs to \"%s\"", idh,
			     s->factory, h->factory);
		goto out;
	}
	if (s->rework.present) {
		struct dbg_cert d;
		if (!h->has_debug) {
			err = refuse(reason, WRIT_E_UNSUPPORTED, "writ %s carries rework rights, but this HSM has no "
				     "debug delegate key (initialised before secure debug existed)", idh);
			goto out;
		}
		if (dbg_cert_parse(s->rework.chain[s->rework.n_chain - 1], &d) < 0 ||
		    memcmp(d.pub, h->debug.pub, WRIT_P256_PUB_LEN) != 0) {
			err = refuse(reason, WRIT_E_SCOPE, "writ %s's rework rights certify another debug delegate key "
				     "than this HSM's", idh);
			goto out;
		}
	}
	if ((err = clock_ok(h, now, reason)) < 0 || (err = window_ok(s, now, reason)) < 0)
		goto out;
	if (s->kind == WRIT_KIND_PRODUCTION || s->kind == WRIT_KIND_REWORK) {
		if (s->quantity > HSM_MAX_QUANTITY) {
			err = refuse(reason, WRIT_E_TOOBIG, "writ %s asks for %llu devices; one writ may carry at "
				     "most %u", idh, (unsigned long long)s->quantity, HSM_MAX_QUANTITY);
			goto out;
		}
		if ((err = check_pai(h, s, reason)) < 0)
			goto out;
	}
	pthread_mutex_lock(&h->lock);
	locked = 1;
	if (is_revoked(h, s->id)) {
		err = refuse(reason, WRIT_E_REVOKED, "writ %s was revoked", idh);
		goto out;
	}
	w = find_writ(h, s->id);
	if (w) {
		/* the same authorization again (e.g. a factory service restart): idempotent */
		if (!same_scope(&w->scope, s)) {
			err = refuse(reason, WRIT_E_REPLAY, "writ id %s is already loaded with a different scope", idh);
			goto out;
		}
		memcpy(ret_id, s->id, WRIT_ID_LEN);
		err = 0;
		goto out;
	}
	if (s->kind != WRIT_KIND_REVOCATION && h->n_writs >= HSM_MAX_WRITS) {
		err = refuse(reason, WRIT_E_TOOBIG, "this HSM already holds %d writs", HSM_MAX_WRITS);
		goto out;
	}
	/* A writ with secrets is journalled as it arrived, sealed to this HSM: its
	 * signed form holds the secrets in clear and must never reach the disk. */
	body = cbu_new_map(2);
	if (!body || cbu_put_bytes(body, 1, s->id, WRIT_ID_LEN) < 0 ||
	    (s->n_secrets ? cbu_put_bytes(body, 3, sealed, len) : cbu_put_bytes(body, 2, signed_msg, signed_len)) < 0) {
		err = refuse(reason, WRIT_E_NOMEM, "out of memory");
		goto out;
	}
	err = journal_append(h->journal, JT_WRIT, now, body, NULL);
	if (err < 0) {
		err = refuse(reason, err, "cannot journal writ %s: %s", idh, writ_strerror(err));
		goto out;
	}
	err = apply_writ(h, s);
	if (err < 0) {
		err = refuse(reason, err, "cannot apply writ %s", idh);
		goto out;
	}
	/* labels only: a secret's value is never logged */
	log_info("loaded writ %s (kind %u, product %s, quantity %llu, %zu revocations, %zu secrets)", idh, s->kind,
		 s->product, (unsigned long long)s->quantity, s->n_revokes, s->n_secrets);
	memcpy(ret_id, s->id, WRIT_ID_LEN);
out:
	if (locked)
		pthread_mutex_unlock(&h->lock);
	if (body)
		cbor_decref(&body);
	if (signed_msg)
		writ_memzero(signed_msg, signed_len);
	free(signed_msg);
	writ_scope_wipe(s);
	free(s);
	return err;
}

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;
	uint8_t acc = 0;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* The production writ for product (name, VID, PID) under which the device with UID
 * fingerprint fp received a durable DAC from this HSM, and its slot; NULL if none.
 * Under h->lock. */
static struct hsm_writ *certified_writ(struct hsm *h, const struct writ_scope *s, uint64_t fp, size_t *ret_slot)
{
	size_t i, slot;

	for (i = 0; i < h->n_writs; i++) {
		struct hsm_writ *w = &h->writs[i];
		/* a revoked batch's devices are not reworked on its say-so (a rework writ may
		 * still name them) */
		if (w->scope.kind != WRIT_KIND_PRODUCTION || w->revoked || w->scope.vid != s->vid ||
		    w->scope.pid != s->pid || strcmp(w->scope.product, s->product) != 0)
			continue;
		if ((slot = uid_slot(w, fp)) != SIZE_MAX && w->uids[slot].dac) {
			if (ret_slot)
				*ret_slot = slot;
			return w;
		}
	}
	return NULL;
}

static int device_certified(struct hsm *h, const struct writ_scope *s, const uint8_t uid[HSMP_WRAP_UID_LEN])
{
	return certified_writ(h, s, uid_fp(uid, HSMP_WRAP_UID_LEN), NULL) != NULL;
}

static int rework_names(const struct writ_rework *r, const uint8_t *uid, size_t uid_len)
{
	size_t i;

	if (uid_len != WRIT_DBG_UID_LEN)
		return 0;
	for (i = 0; i < r->n_devices; i++)
		if (writ_ct_memeq(r->devices[i], uid, WRIT_DBG_UID_LEN))
			return 1;
	return 0;
}

/* The rights' window, as a refusal (EXPIRED) or 0. */
static int rights_window_ok(const struct writ_scope *s, int64_t now, const char *idh, char *reason)
{
	if (now < s->rework.not_before)
		return refuse(reason, WRIT_E_EXPIRED, "writ %s's rework rights start at %lld (now %lld)", idh,
			      (long long)s->rework.not_before, (long long)now);
	if (now >= s->rework.not_after)
		return refuse(reason, WRIT_E_EXPIRED, "writ %s's rework rights ended at %lld (now %lld)", idh,
			      (long long)s->rework.not_after, (long long)now);
	return 0;
}

int hsm_dac_prepare(struct hsm *h, const uint8_t id[WRIT_ID_LEN], const uint8_t *csr, size_t csr_len,
		    const uint8_t *uid, size_t uid_len, struct hsm_dac_pending *ret, char *reason)
{
	struct x509_cert_params p;
	struct hsm_writ *w;
	uint8_t dev_pub[WRIT_P256_PUB_LEN], digest[32], key_digest[32], *dac = NULL;
	size_t dac_len = 0, slot = 0;
	uint64_t index = 0, counter, fp, device_serial;
	char idh[2 * WRIT_ID_LEN + 1], uidh[2 * HSMP_UID_MAX + 1], cn[WRIT_NAME_MAX + 32];
	cbor_item_t *body = NULL;
	int64_t now = hsm_now(h);
	struct hsm_writ *orig = NULL;
	int err, i, reissue = 0, reprovision = 0;

	hex_encode(id, WRIT_ID_LEN, idh);
	if (uid_len == 0 || uid_len > HSMP_UID_MAX || all_zero(uid, uid_len))
		return refuse(reason, WRIT_E_INVAL, "device UID must be 1..%d bytes and not all zero", HSMP_UID_MAX);
	hex_encode(uid, uid_len, uidh);
	if (csr_len > X509_CSR_MAX)
		return refuse(reason, WRIT_E_TOOBIG, "CSR of %zu bytes exceeds %d", csr_len, X509_CSR_MAX);
	err = x509_csr_parse_verify(csr, csr_len, dev_pub);
	if (err == WRIT_E_BADSIG)
		return refuse(reason, err, "CSR signature does not verify (no proof of possession)");
	if (err == WRIT_E_UNSUPPORTED)
		return refuse(reason, err, "CSR key is not an EC P-256 key signed with ECDSA-SHA256");
	if (err < 0)
		return refuse(reason, err, "CSR is malformed (%s)", writ_strerror(err));
	if (key_fp_of(dev_pub, key_digest) < 0)
		return refuse(reason, WRIT_E_CRYPTO, "SHA-256 failed");
	if ((err = clock_ok(h, now, reason)) < 0)
		return err;
	fp = uid_fp(uid, uid_len);

	pthread_mutex_lock(&h->lock);
	w = find_writ(h, id);
	if (!w) {
		err = refuse(reason, is_revoked(h, id) ? WRIT_E_REVOKED : WRIT_E_NOTFOUND,
			     "writ %s is %s", idh, is_revoked(h, id) ? "revoked" : "not loaded in this HSM");
		goto unlock;
	}
	if (w->revoked) {
		err = refuse(reason, WRIT_E_REVOKED, "writ %s was revoked", idh);
		goto unlock;
	}
	if (!(w->scope.ops & WRIT_OP_ISSUE_DAC)) {
		err = refuse(reason, WRIT_E_SCOPE, "writ %s does not allow DAC issuance", idh);
		goto unlock;
	}
	if (w->scope.kind == WRIT_KIND_REWORK) {
		/* re-provisioning: a new DAC, for a new key if the chip made one, for a device
		 * this HSM certified for the product (and the rights name, if they name any); its
		 * device serial is kept; it costs one unit of the rights, no quantity */
		size_t os = 0;
		if ((err = rights_window_ok(&w->scope, now, idh, reason)) < 0)
			goto unlock;
		if (w->scope.rework.n_devices && !rework_names(&w->scope.rework, uid, uid_len)) {
			err = refuse(reason, WRIT_E_SCOPE, "device %s is not one of the devices rework writ %s names",
				     uidh, idh);
			goto unlock;
		}
		if (!dbg_perm_has(w->scope.rework.perms, DBG_PERM_REPROVISION)) {
			err = refuse(reason, WRIT_E_SCOPE, "rework writ %s does not grant re-provisioning", idh);
			goto unlock;
		}
		orig = certified_writ(h, &w->scope, fp, &os);
		if (!orig) {
			err = refuse(reason, WRIT_E_SCOPE, "device %s was never certified by this HSM for product %s: "
				     "rework writ %s re-provisions only devices made here", uidh, w->scope.product, idh);
			goto unlock;
		}
		if (orig->uids[os].busy) {
			err = refuse(reason, WRIT_E_REPLAY, "device UID %s is being certified by another request right "
				     "now; retry once it answered", uidh);
			goto unlock;
		}
		if (w->rework_used + w->rework_reserved >= w->scope.rework.limit) {
			err = refuse(reason, WRIT_E_QUOTA, "writ %s's rework rights are spent (%llu of %u)", idh,
				     (unsigned long long)w->rework_used, w->scope.rework.limit);
			goto unlock;
		}
		w->rework_reserved++;
		orig->uids[os].busy = 1;
		slot = os;
		reprovision = 1;
		index = orig->uids[os].index;
		device_serial = orig->scope.serial_first + index;
	} else if ((err = window_ok(&w->scope, now, reason)) < 0) {
		goto unlock;
	}
	/* A device seen before: the same key gets its DAC again (a station died between the
	 * HSM's answer and the chip storing the chain), at no cost in quantity; any other key
	 * would make a second device with this identity, a clone. */
	if (reprovision) {
		;
	} else if ((slot = uid_slot(w, fp)) != SIZE_MAX) {
		struct hsm_uid *u = &w->uids[slot];
		if (!u->dac || u->busy)
			err = refuse(reason, WRIT_E_REPLAY, "device UID %s is being certified under writ %s by "
				     "another request right now; retry once it answered", uidh, idh);
		else if (all_zero(u->key, HSM_KEY_FP_LEN))
			err = refuse(reason, WRIT_E_REPLAY, "device UID %s already certified under writ %s, and its "
				     "key was not journalled (an older daemon issued it): no re-issue; "
				     "re-provisioning a device is rework", uidh, idh);
		else if (memcmp(u->key, key_digest, HSM_KEY_FP_LEN) != 0)
			err = refuse(reason, WRIT_E_REPLAY, "device UID %s already certified under writ %s with "
				     "another key; a chip that lost its key must be set aside", uidh, idh);
		if (err < 0)
			goto unlock;
		reissue = 1;
		u->busy = 1;
		index = u->index;
	} else {
		if (index_take(w, &index) < 0) {
			err = refuse(reason, WRIT_E_QUOTA, "writ %s has no quantity left (%llu of %llu issued)", idh,
				     (unsigned long long)w->issued, (unsigned long long)w->scope.quantity);
			goto unlock;
		}
		err = uid_add(w, fp, index, key_digest);
		if (err != 0) {
			index_release(w, index);
			err = refuse(reason, err < 0 ? err : WRIT_E_NOMEM, "out of memory");
			goto unlock;
		}
		w->reserved++;
	}
	counter = h->next_dac_counter++;
	p.vid = w->scope.vid;
	p.pid = w->scope.pid;
	p.not_after = w->scope.dac_days ? now + (int64_t)w->scope.dac_days * 86400 : X509_NO_EXPIRY;
	if (!reprovision)
		device_serial = w->scope.serial_first + index;
	(void)!snprintf(cn, sizeof(cn), "%s DAC %llu", w->scope.product, (unsigned long long)device_serial);
	pthread_mutex_unlock(&h->lock);

	/* the certificate: serial = 4-byte HSM prefix || 64-bit counter, unique for life (a
	 * re-issue is a new certificate with a new serial, for the same device serial) */
	p.profile = X509_PROFILE_DAC;
	memcpy(p.serial, h->serial_prefix, 4);
	for (i = 0; i < 8; i++)
		p.serial[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
	p.serial_len = 12;
	cn[64] = 0;
	p.cn = cn;
	p.not_before = now;
	memcpy(p.subject_pub, dev_pub, sizeof(dev_pub));
	p.issuer_der = w->scope.pai; /* the writ is never freed while the daemon runs */
	p.issuer_len = w->scope.pai_len;
	err = x509_build_sign(&p, &h->pai, &dac, &dac_len);
	if (err < 0) {
		err = refuse(reason, err, "could not sign the DAC in the token (%s)", writ_strerror(err));
		goto release;
	}
	err = ec_sha256(dac, dac_len, digest);
	body = cbu_new_map(7);
	if (err < 0 || !body || cbu_put_bytes(body, 1, id, WRIT_ID_LEN) < 0 ||
	    (reprovision ? cbu_put_bytes(body, 2, orig->scope.id, WRIT_ID_LEN) : cbu_put_uint(body, 2, index)) < 0 ||
	    cbu_put_bytes(body, 3, uid, uid_len) < 0 || cbu_put_uint(body, 4, device_serial) < 0 ||
	    cbu_put_bytes(body, 5, p.serial, 12) < 0 || cbu_put_bytes(body, 6, digest, 32) < 0 ||
	    cbu_put_bytes(body, 7, key_digest, 32) < 0) {
		err = refuse(reason, WRIT_E_NOMEM, "out of memory");
		goto release;
	}
	memset(ret, 0, sizeof(*ret));
	ret->writ = w;
	ret->index = index;
	ret->uid_fp = fp;
	ret->reissue = reissue;
	ret->reprovision = reprovision;
	ret->orig = orig;
	ret->slot = slot;
	memcpy(ret->key, key_digest, HSM_KEY_FP_LEN);
	ret->body = body;
	ret->now = now;
	ret->result.dac = dac;
	ret->result.dac_len = dac_len;
	ret->result.device_serial = device_serial;
	ret->result.reissued = reissue;
	ret->dac_fp = dac_fp_of(digest);
	memcpy(ret->result.dac_serial, p.serial, 12);
	return 0;

release:
	pthread_mutex_lock(&h->lock);
	if (reprovision) {
		w->rework_reserved--;
		orig->uids[slot].busy = 0;
	} else if (reissue) {
		w->uids[slot].busy = 0;
	} else {
		w->reserved--;
		index_release(w, index);
		uid_remove(w, fp);
	}
unlock:
	pthread_mutex_unlock(&h->lock);
	if (body)
		cbor_decref(&body);
	free(dac);
	return err;
}

int hsm_dac_submit(struct hsm *h, struct hsm_dac_pending *const *pending, size_t n, uint64_t *ret_last)
{
	cbor_item_t *bodies[HSM_COMMIT_MAX] = { 0 };
	uint32_t types[HSM_COMMIT_MAX];
	uint64_t seqs[HSM_COMMIT_MAX] = { 0 };
	int64_t now = 0;
	size_t i;
	int err;

	*ret_last = JOURNAL_NONE;
	if (n == 0 || n > HSM_COMMIT_MAX)
		return WRIT_E_INVAL;
	for (i = 0; i < n; i++) {
		bodies[i] = pending[i]->body;
		types[i] = pending[i]->reprovision ? JT_REPROVISION : pending[i]->reissue ? JT_REISSUE : JT_DAC;
		if (pending[i]->now > now)
			now = pending[i]->now;
	}
	err = journal_enqueue_typed(h->journal, types, now, bodies, n, seqs, ret_last);
	for (i = 0; i < n; i++)
		pending[i]->result.seq = seqs[i];
	return err;
}

int hsm_dac_wait(struct hsm *h, uint64_t last)
{
	return last == JOURNAL_NONE ? 0 : journal_wait(h->journal, last);
}

int hsm_dac_finish(struct hsm *h, struct hsm_dac_pending *const *pending, size_t n, int err, char *reason)
{
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < n; i++) {
		/* on failure an entry may or may not be on disk: count it, never hand it out
		 * (a re-issue uses no quantity: it counts as a re-issue) */
		if (pending[i]->reprovision) {
			pending[i]->writ->rework_reserved--;
			pending[i]->writ->rework_used++;
			pending[i]->orig->uids[pending[i]->slot].busy = 0;
		} else if (pending[i]->reissue) {
			pending[i]->writ->reissued++;
			pending[i]->writ->uids[pending[i]->slot].busy = 0;
		} else {
			pending[i]->writ->reserved--;
			pending[i]->writ->issued++;
		}
		/* only a durable DAC can later be named in a secret wrap; a re-provisioned
		 * device's record in its production writ takes the new key and DAC */
		if (!err && pending[i]->reprovision)
			uid_reprovision(pending[i]->orig, pending[i]->uid_fp, pending[i]->key, pending[i]->dac_fp);
		else if (!err)
			uid_set_dac(pending[i]->writ, pending[i]->uid_fp, pending[i]->dac_fp);
		cbor_decref(&pending[i]->body);
		if (err) {
			pending[i]->result.seq = 0;
			free(pending[i]->result.dac);
			pending[i]->result.dac = NULL;
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (err < 0)
		return refuse(reason, err, "journal write failed (%s): no DAC was released", writ_strerror(err));
	return 0;
}

int hsm_dac_commit(struct hsm *h, struct hsm_dac_pending *const *pending, size_t n, char *reason)
{
	uint64_t last;
	int err = hsm_dac_submit(h, pending, n, &last);

	/* durable before any certificate leaves; what was queued, whatever failed after */
	if (n > 0 && n <= HSM_COMMIT_MAX) {
		int werr = hsm_dac_wait(h, last);
		if (!err)
			err = werr;
		return hsm_dac_finish(h, pending, n, err, reason);
	}
	return refuse(reason, err, "no DAC to journal");
}

static const char binding_ctx[] = "writ enc-key v1";

int hsm_wrap_secret(struct hsm *h, const uint8_t id[WRIT_ID_LEN], const uint8_t uid[HSMP_WRAP_UID_LEN],
		    const uint8_t *dac, size_t dac_len, const uint8_t enc_pub[WRIT_P256_PUB_LEN],
		    const uint8_t *binding, size_t binding_len, const char *label, size_t label_len,
		    uint8_t ret_wrapped[HSMP_WRAPPED_MAX], size_t *ret_len, uint64_t *ret_seq, char *reason)
{
	struct hsm_writ *w;
	struct writ_secret secret; /* a copy taken under the lock; wiped on every path */
	uint8_t dac_digest[32], enc_digest[32], dac_pub[WRIT_P256_PUB_LEN], sig[WRIT_P256_SIG_LEN];
	uint8_t msg[sizeof(binding_ctx) - 1 + HSMP_WRAP_UID_LEN + WRIT_P256_PUB_LEN], d[32];
	uint8_t wrapped[HSMP_WRAPPED_MAX];
	char idh[2 * WRIT_ID_LEN + 1], uidh[2 * HSMP_WRAP_UID_LEN + 1], lab[WRIT_SECRET_LABEL_MAX + 1];
	uint8_t issued_key[HSM_KEY_FP_LEN] = { 0 }, dac_key[32];
	uint64_t fp, issued_fp = 0, seq = 0;
	size_t slot, wrapped_len = 0;
	cbor_item_t *body = NULL;
	int64_t now = hsm_now(h);
	int err;

	memset(&secret, 0, sizeof(secret));
	hex_encode(id, WRIT_ID_LEN, idh);
	hex_encode(uid, HSMP_WRAP_UID_LEN, uidh);
	/* the label is checked before it is ever printed */
	if (!label || !writ_secret_label_valid(label, label_len))
		return refuse(reason, WRIT_E_INVAL, "secret label must be 1..%d characters of a-z 0-9 -",
			      WRIT_SECRET_LABEL_MAX);
	memcpy(lab, label, label_len);
	lab[label_len] = 0;
	if (all_zero(uid, HSMP_WRAP_UID_LEN))
		return refuse(reason, WRIT_E_INVAL, "device UID must not be all zero");
	if (dac_len == 0 || dac_len > HSMP_DAC_MAX)
		return refuse(reason, WRIT_E_TOOBIG, "DAC of %zu bytes exceeds %d", dac_len, HSMP_DAC_MAX);
	if (binding_len < HSMP_BINDING_MIN || binding_len > HSMP_BINDING_MAX)
		return refuse(reason, WRIT_E_INVAL, "ENC_BINDING must be a DER ECDSA signature of %d..%d bytes",
			      HSMP_BINDING_MIN, HSMP_BINDING_MAX);
	if (ec_p256_check_pub(enc_pub) < 0)
		return refuse(reason, WRIT_E_FORMAT, "ENC_PUB is not an uncompressed P-256 point on the curve");
	if ((err = clock_ok(h, now, reason)) < 0)
		return err;
	if (ec_sha256(dac, dac_len, dac_digest) < 0 || ec_sha256(enc_pub, WRIT_P256_PUB_LEN, enc_digest) < 0)
		return refuse(reason, WRIT_E_CRYPTO, "SHA-256 failed");
	fp = uid_fp(uid, HSMP_WRAP_UID_LEN);

	/* the writ's state: under the lock, and the secret copied out of it */
	pthread_mutex_lock(&h->lock);
	w = find_writ(h, id);
	if (!w) {
		err = refuse(reason, is_revoked(h, id) ? WRIT_E_REVOKED : WRIT_E_NOTFOUND, "writ %s is %s", idh,
			     is_revoked(h, id) ? "revoked" : "not loaded in this HSM");
	} else if (w->revoked) {
		err = refuse(reason, WRIT_E_REVOKED, "writ %s was revoked", idh);
	} else if (!(w->scope.ops & WRIT_OP_WRAP_SECRET)) {
		err = refuse(reason, WRIT_E_SCOPE, "writ %s does not allow wrapping secrets", idh);
	} else if ((err = window_ok(&w->scope, now, reason)) < 0) {
		;
	} else if (!writ_scope_secret(&w->scope, label, label_len)) {
		err = refuse(reason, WRIT_E_NOTFOUND, "writ %s carries no secret labelled \"%s\"", idh, lab);
	} else if ((slot = uid_slot(w, fp)) == SIZE_MAX || !(issued_fp = w->uids[slot].dac)) {
		err = refuse(reason, WRIT_E_NOTFOUND, "device %s never received a DAC under writ %s: secrets are "
			     "wrapped only to devices this HSM certified", uidh, idh);
	} else {
		secret = *writ_scope_secret(&w->scope, label, label_len);
		memcpy(issued_key, w->uids[slot].key, HSM_KEY_FP_LEN);
		err = 0;
	}
	pthread_mutex_unlock(&h->lock);
	if (err < 0)
		goto out;

	/* the chip: its DAC is ours and the one this UID received, and the DAC's key
	 * vouches for the key-agreement key the secret will be wrapped to */
	err = x509_cert_pub(dac, dac_len, dac_pub);
	if (err < 0) {
		err = refuse(reason, WRIT_E_FORMAT, "DAC is not a P-256 certificate (%s)", writ_strerror(err));
		goto out;
	}
	err = x509_verify_signed(dac, dac_len, h->pai.pub);
	if (err < 0) {
		err = refuse(reason, err == WRIT_E_BADSIG ? WRIT_E_BADSIG : WRIT_E_FORMAT,
			     "DAC does not verify under writ %s's PAI (%s)", idh, writ_strerror(err));
		goto out;
	}
	/* the latest DAC issued to the UID, or an earlier one: every DAC a UID received
	 * under a writ certifies the same key (a re-issue requires it), the key journalled
	 * for it; a DAC of another device carries another key */
	if (key_fp_of(dac_pub, dac_key) < 0) {
		err = refuse(reason, WRIT_E_CRYPTO, "SHA-256 failed");
		goto out;
	}
	if (dac_fp_of(dac_digest) != issued_fp &&
	    (all_zero(issued_key, HSM_KEY_FP_LEN) || memcmp(issued_key, dac_key, HSM_KEY_FP_LEN) != 0)) {
		err = refuse(reason, WRIT_E_SCOPE, "DAC is not the one this HSM issued to device %s under writ %s",
			     uidh, idh);
		goto out;
	}
	memcpy(msg, binding_ctx, sizeof(binding_ctx) - 1);
	memcpy(msg + sizeof(binding_ctx) - 1, uid, HSMP_WRAP_UID_LEN);
	memcpy(msg + sizeof(binding_ctx) - 1 + HSMP_WRAP_UID_LEN, enc_pub, WRIT_P256_PUB_LEN);
	if (ec_sig_der_to_raw(binding, binding_len, sig) < 0) {
		err = refuse(reason, WRIT_E_FORMAT, "ENC_BINDING is not a DER ECDSA signature");
		goto out;
	}
	if (ec_sha256(msg, sizeof(msg), d) < 0 || ec_p256_verify_digest(dac_pub, d, sig) < 0) {
		err = refuse(reason, WRIT_E_BADSIG, "ENC_BINDING does not verify under the DAC's key for device %s",
			     uidh);
		goto out;
	}

	err = wrap_secret_p256(enc_pub, uid, secret.label, label_len, secret.value, secret.value_len, wrapped,
			       sizeof(wrapped), &wrapped_len);
	if (err < 0) {
		err = refuse(reason, err, "wrapping failed (%s)", writ_strerror(err));
		goto out;
	}
	/* durable before released, like a DAC; the entry never holds the secret */
	body = cbu_new_map(5);
	if (!body || cbu_put_bytes(body, 1, id, WRIT_ID_LEN) < 0 || cbu_put_bytes(body, 2, uid, HSMP_WRAP_UID_LEN) < 0 ||
	    cbu_put_text(body, 3, lab) < 0 || cbu_put_bytes(body, 4, dac_digest, 32) < 0 ||
	    cbu_put_bytes(body, 5, enc_digest, 32) < 0) {
		err = refuse(reason, WRIT_E_NOMEM, "out of memory");
		goto out;
	}
	err = journal_append(h->journal, JT_WRAP, now, body, &seq);
	if (err < 0) {
		err = refuse(reason, err, "journal write failed (%s): the wrapped secret was not released",
			     writ_strerror(err));
		goto out;
	}
	log_info("wrapped secret \"%s\" of writ %s to device %s (journal seq %llu)", lab, idh, uidh,
		 (unsigned long long)seq);
	memcpy(ret_wrapped, wrapped, wrapped_len);
	*ret_len = wrapped_len;
	*ret_seq = seq;
	err = 0;
out:
	if (body)
		cbor_decref(&body);
	writ_memzero(&secret, sizeof(secret));
	writ_memzero(wrapped, sizeof(wrapped));
	return err;
}

int hsm_debug_token(struct hsm *h, const uint8_t id[WRIT_ID_LEN], const uint8_t uid[HSMP_WRAP_UID_LEN],
		    const uint8_t challenge[HSMP_DBG_CHALLENGE_LEN], const uint8_t perms[HSMP_DBG_PERMS_LEN],
		    uint32_t session, uint32_t operation, struct hsm_debug_result *ret, char *reason)
{
	static const char *const op_names[] = { "?", "debug", "re-flash", "re-provision" };
	struct hsm_writ *w;
	struct writ_rework r;
	struct dbg_token t;
	char idh[2 * WRIT_ID_LEN + 1], uidh[2 * HSMP_WRAP_UID_LEN + 1];
	uint8_t digest[32];
	cbor_item_t *body = NULL;
	int64_t now = hsm_now(h), nb, na;
	uint64_t seq = 0;
	int err;

	memset(ret, 0, sizeof(*ret));
	memset(&r, 0, sizeof(r));
	hex_encode(id, WRIT_ID_LEN, idh);
	hex_encode(uid, HSMP_WRAP_UID_LEN, uidh);
	if (all_zero(uid, HSMP_WRAP_UID_LEN))
		return refuse(reason, WRIT_E_INVAL, "device UID must not be all zero");
	if (all_zero(perms, HSMP_DBG_PERMS_LEN))
		return refuse(reason, WRIT_E_INVAL, "no permission asked");
	if (session < 1 || session > WDP_DBG_SESSION_MAX)
		return refuse(reason, WRIT_E_INVAL, "session must be 1..%u s", WDP_DBG_SESSION_MAX);
	if (operation < HSMP_DBG_OP_DEBUG || operation > HSMP_DBG_OP_REPROVISION)
		return refuse(reason, WRIT_E_INVAL, "unknown rework operation %u", operation);
	if (!h->has_debug)
		return refuse(reason, WRIT_E_UNSUPPORTED, "this HSM has no debug delegate key");
	if ((err = clock_ok(h, now, reason)) < 0)
		return err;

	/* the rights, checked and one unit reserved under the lock */
	pthread_mutex_lock(&h->lock);
	w = find_writ(h, id);
	if (!w) {
		err = refuse(reason, is_revoked(h, id) ? WRIT_E_REVOKED : WRIT_E_NOTFOUND, "writ %s is %s", idh,
			     is_revoked(h, id) ? "revoked" : "not loaded in this HSM");
	} else if (w->revoked) {
		err = refuse(reason, WRIT_E_REVOKED, "writ %s was revoked: its rework rights with it", idh);
	} else if (!w->scope.rework.present || !(w->scope.ops & WRIT_OP_DEBUG_UNLOCK)) {
		err = refuse(reason, WRIT_E_SCOPE, "writ %s carries no rework rights", idh);
	} else if ((err = rights_window_ok(&w->scope, now, idh, reason)) < 0) {
		;
	} else if (!dbg_perms_within(perms, w->scope.rework.perms)) {
		err = refuse(reason, WRIT_E_SCOPE, "the permissions asked go beyond writ %s's rework rights", idh);
	} else if (session > w->scope.rework.session_max) {
		err = refuse(reason, WRIT_E_SCOPE, "a session of %u s is longer than writ %s allows (%u s)", session,
			     idh, w->scope.rework.session_max);
	} else if (w->scope.rework.n_devices ? !rework_names(&w->scope.rework, uid, HSMP_WRAP_UID_LEN)
					       : !device_certified(h, &w->scope, uid)) {
		err = refuse(reason, WRIT_E_SCOPE, "device %s is outside writ %s's rework rights (%s)", uidh, idh,
			     w->scope.rework.n_devices ? "not one of the devices it names"
						       : "this HSM never certified it for the product");
	} else if (w->rework_used + w->rework_reserved >= w->scope.rework.limit) {
		err = refuse(reason, WRIT_E_QUOTA, "writ %s's rework rights are spent (%llu of %u)", idh,
			     (unsigned long long)w->rework_used, w->scope.rework.limit);
	} else {
		r = w->scope.rework;
		w->rework_reserved++;
		err = 0;
	}
	pthread_mutex_unlock(&h->lock);
	if (err < 0)
		return err;

	nb = now - HSM_DEBUG_SKEW > r.not_before ? now - HSM_DEBUG_SKEW : r.not_before;
	na = now + HSM_DEBUG_TOKEN_TTL < r.not_after ? now + HSM_DEBUG_TOKEN_TTL : r.not_after;
	memset(&t, 0, sizeof(t));
	memcpy(t.uid, uid, sizeof(t.uid));
	t.not_before = (uint64_t)(nb > 0 ? nb : 0);
	t.not_after = (uint64_t)na;
	memcpy(t.perms, perms, sizeof(t.perms));
	t.session = session;
	memcpy(t.challenge, challenge, sizeof(t.challenge));
	err = dbg_token_make(&t, &h->debug, ret->token);
	if (err < 0) {
		err = refuse(reason, err, "the debug delegate key could not sign (%s)", writ_strerror(err));
		goto release;
	}
	if (ec_sha256(ret->token, HSMP_DBG_TOKEN_LEN, digest) < 0) {
		err = refuse(reason, WRIT_E_CRYPTO, "SHA-256 failed");
		goto release;
	}
	/* durable before released: the unlock is counted and recorded even if the station
	 * never uses it */
	body = cbu_new_map(7);
	if (!body || cbu_put_bytes(body, 1, id, WRIT_ID_LEN) < 0 || cbu_put_bytes(body, 2, uid, HSMP_WRAP_UID_LEN) < 0 ||
	    cbu_put_bytes(body, 3, perms, HSMP_DBG_PERMS_LEN) < 0 || cbu_put_uint(body, 4, session) < 0 ||
	    cbu_put_uint(body, 5, operation) < 0 || cbu_put_uint(body, 6, (uint64_t)na) < 0 ||
	    cbu_put_bytes(body, 7, digest, sizeof(digest)) < 0) {
		err = refuse(reason, WRIT_E_NOMEM, "out of memory");
		goto release;
	}
	err = journal_append(h->journal, JT_DEBUG, now, body, &seq);
	if (err < 0) {
		err = refuse(reason, err, "journal write failed (%s): the debug token was not released",
			     writ_strerror(err));
		goto release;
	}
	pthread_mutex_lock(&h->lock);
	w->rework_reserved--;
	w->rework_used++;
	pthread_mutex_unlock(&h->lock);
	log_info("signed a %s unlock for device %s under writ %s (session %u s, until %lld; journal seq %llu)",
		 op_names[operation], uidh, idh, session, (long long)na, (unsigned long long)seq);
	memcpy(ret->chain, r.chain, sizeof(ret->chain));
	ret->n_chain = r.n_chain;
	ret->not_after = na;
	ret->seq = seq;
	err = 0;
	goto out;
release:
	writ_memzero(ret->token, sizeof(ret->token));
	pthread_mutex_lock(&h->lock);
	w->rework_reserved--;
	pthread_mutex_unlock(&h->lock);
out:
	if (body)
		cbor_decref(&body);
	return err;
}

int hsm_checkpoint(struct hsm *h, uint64_t *ret_next, uint64_t *ret_checkpoint, char *reason)
{
	uint64_t next = 0, cp = 0;
	int err = journal_checkpoint_now(h->journal, hsm_now(h), &next, &cp);

	if (err < 0)
		return refuse(reason, err, "cannot write a journal checkpoint (%s)", writ_strerror(err));
	if (err > 0)
		log_debug("journal checkpoint at seq %llu", (unsigned long long)cp);
	*ret_next = next;
	*ret_checkpoint = cp;
	return 0;
}

int hsm_status(struct hsm *h, cbor_item_t **ret)
{
	cbor_item_t *arr;
	size_t i;
	int err = 0;

	pthread_mutex_lock(&h->lock);
	arr = cbor_new_definite_array(h->n_writs);
	for (i = 0; arr && i < h->n_writs && !err; i++) {
		const struct hsm_writ *w = &h->writs[i];
		uint64_t used = w->issued + w->reserved;
		cbor_item_t *m = cbu_new_map(w->scope.rework.present ? 19 : 16);
		if (!m || cbu_put_bytes(m, HSMP_W_ID, w->scope.id, WRIT_ID_LEN) < 0 ||
		    cbu_put_uint(m, HSMP_W_KIND, w->scope.kind) < 0 || cbu_put_text(m, HSMP_W_PRODUCT, w->scope.product) < 0 ||
		    cbu_put_uint(m, HSMP_W_QUANTITY, w->scope.quantity) < 0 || cbu_put_uint(m, HSMP_W_ISSUED, w->issued) < 0 ||
		    cbu_put_uint(m, HSMP_W_REMAINING, w->revoked ? 0 : w->scope.quantity - used) < 0 ||
		    cbu_put_int(m, HSMP_W_NOT_BEFORE, w->scope.not_before) < 0 ||
		    cbu_put_int(m, HSMP_W_NOT_AFTER, w->scope.not_after) < 0 ||
		    cbu_put_uint(m, HSMP_W_REVOKED, (uint64_t)w->revoked) < 0 || cbu_put_uint(m, HSMP_W_VID, w->scope.vid) < 0 ||
		    cbu_put_uint(m, HSMP_W_PID, w->scope.pid) < 0 ||
		    cbu_put_uint(m, HSMP_W_SERIAL_FIRST, w->scope.serial_first) < 0 ||
		    cbu_put_uint(m, HSMP_W_SERIAL_LAST, w->scope.serial_last) < 0 ||
		    cbu_put_bytes(m, HSMP_W_VERSION_DIGEST, w->scope.version_digest, WRIT_DIGEST_LEN) < 0 ||
		    cbu_put_bytes(m, HSMP_W_FIRMWARE_DIGEST, w->scope.firmware_digest, WRIT_DIGEST_LEN) < 0 ||
		    cbu_put_uint(m, HSMP_W_REISSUED, w->reissued) < 0 ||
		    (w->scope.rework.present &&
		     (cbu_put_uint(m, HSMP_W_REWORK_LIMIT, w->scope.rework.limit) < 0 ||
		      cbu_put_uint(m, HSMP_W_REWORK_USED, w->rework_used + w->rework_reserved) < 0 ||
		      cbu_put_int(m, HSMP_W_REWORK_NOT_AFTER, w->scope.rework.not_after) < 0)) ||
		    !cbor_array_push(arr, m))
			err = WRIT_E_NOMEM;
		if (m)
			cbor_decref(&m);
	}
	pthread_mutex_unlock(&h->lock);
	if (!arr)
		return WRIT_E_NOMEM;
	if (err) {
		cbor_decref(&arr);
		return err;
	}
	*ret = arr;
	return 0;
}

int hsm_writ_pai(struct hsm *h, const uint8_t id[WRIT_ID_LEN], uint8_t *out, size_t cap, size_t *ret_len)
{
	struct hsm_writ *w;
	int err = WRIT_E_NOTFOUND;

	pthread_mutex_lock(&h->lock);
	w = find_writ(h, id);
	if (w && w->scope.pai_len <= cap) {
		memcpy(out, w->scope.pai, w->scope.pai_len);
		*ret_len = w->scope.pai_len;
		err = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}
