/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of writ-hsmd's journal: create, concurrent group-committed appends,
 * reopen and replay, checkpoints (and checkpoint now, op 7), torn-tail recovery,
 * journals written before the canonical entry writer, and refusal of a journal that
 * was damaged in the middle, re-chained, or signed by another identity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>

#include "crypto/ec.h"
#include "hsm/journal.h"
#include "host/log.h"
#include "wire/cbu.h"

struct fixture {
	char dir[64];
	char path[128];
	struct ec_soft_key *key;
	struct writ_signer signer;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	cbor_item_t *g = cbu_new_map(3);

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/writ-test-journal-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/journal", f->dir);
	assert_int_equal(ec_soft_key_new(&f->key), 0);
	ec_soft_signer(f->key, &f->signer);
	assert_int_equal(cbu_put_text(g, 2, "factory-1"), 0);
	assert_int_equal(cbu_put_bytes(g, 3, f->signer.pub, WRIT_P256_PUB_LEN), 0);
	assert_int_equal(cbu_put_uint(g, 8, 300), 0);
	assert_int_equal(journal_create(f->path, g, 1000, &f->signer), 0);
	/* a second create must not overwrite */
	assert_int_equal(journal_create(f->path, g, 1000, &f->signer), WRIT_E_EXISTS);
	cbor_decref(&g);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	ec_soft_key_free(f->key);
	free(f);
	return 0;
}

struct counts {
	uint64_t entries, dac, max_value;
};

static int count_cb(void *ctx, const struct journal_entry *e)
{
	struct counts *c = ctx;
	uint64_t v;

	c->entries++;
	if (e->type == JT_DAC) {
		c->dac++;
		assert_int_equal(cbu_get_uint(e->body, 1, UINT64_MAX, &v), 0);
		if (v > c->max_value)
			c->max_value = v;
	}
	return 0;
}

static void append_n(struct journal *j, uint64_t first, uint64_t n)
{
	uint64_t i, seq;

	for (i = first; i < first + n; i++) {
		cbor_item_t *b = cbu_new_map(1);
		assert_int_equal(cbu_put_uint(b, 1, i), 0);
		assert_int_equal(journal_append(j, JT_DAC, 2000 + (int64_t)i, b, &seq), 0);
		cbor_decref(&b);
	}
}

static void test_append_reopen(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct journal_open_info info;
	struct counts c = { 0 };

	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, &info), 0);
	assert_int_equal(info.entries, 2); /* genesis + checkpoint */
	assert_int_equal(info.checkpoints, 1);
	append_n(j, 0, 10);
	assert_int_equal(journal_next_seq(j), 12);
	assert_int_equal(journal_max_time(j), 2009);
	journal_close(j); /* writes a checkpoint */
	assert_int_equal(journal_open(f->path, &f->signer, count_cb, &c, &j, &info), 0);
	assert_int_equal(c.dac, 10);
	assert_int_equal(c.max_value, 9);
	assert_int_equal(info.checkpoints, 2);
	assert_int_equal(info.torn_bytes, 0);
	assert_int_equal(info.max_time, 2009);
	journal_close(j);
}

struct thr {
	struct journal *j;
	uint64_t base;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;

	append_n(t->j, t->base, 150);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct counts c = { 0 };
	pthread_t th[8];
	struct thr t[8];
	int i;

	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), 0);
	for (i = 0; i < 8; i++) {
		t[i].j = j;
		t[i].base = (uint64_t)i * 1000;
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	journal_close(j);
	assert_int_equal(journal_open(f->path, &f->signer, count_cb, &c, &j, NULL), 0);
	assert_int_equal(c.dac, 1200);
	journal_close(j);
}

static long file_size(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return (long)st.st_size;
}

/* The end of the written frames: just past the last non-zero byte (the journal keeps
 * zeros reserved after its frames). */
static long data_size(const char *p)
{
	FILE *fp = fopen(p, "rb");
	long n = 0, i = 0;
	int ch;

	assert_non_null(fp);
	while ((ch = fgetc(fp)) != EOF) {
		i++;
		if (ch)
			n = i;
	}
	fclose(fp);
	return n;
}

/* Zero [from, to): what a write that never reached the disk leaves in the reserve. */
static void zero_range(const char *p, long from, long to)
{
	FILE *fp = fopen(p, "r+b");

	assert_non_null(fp);
	assert_int_equal(fseek(fp, from, SEEK_SET), 0);
	for (; from < to; from++)
		fputc(0, fp);
	fclose(fp);
}

static void flip_byte(const char *p, long off)
{
	FILE *fp = fopen(p, "r+b");
	int ch;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, off, SEEK_SET), 0);
	ch = fgetc(fp);
	assert_int_equal(fseek(fp, off, SEEK_SET), 0);
	fputc(ch ^ 0x40, fp);
	fclose(fp);
}

static void test_torn_tail(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct journal_open_info info;
	struct counts c = { 0 };
	long full;
	int cut;

	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), 0);
	append_n(j, 0, 5);
	journal_close(j);
	/* the reserve: zeros after the frames, and a clean end */
	full = data_size(f->path);
	assert_true(file_size(f->path) > full);
	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, &info), 0);
	assert_int_equal(info.torn_bytes, 0);
	journal_close(j);
	full = data_size(f->path);
	/* cut the last frame (the closing checkpoint) at several lengths, both as zeros
	 * in the reserve and as a file truncated by someone else */
	for (cut = 1; cut < 40; cut += 7) {
		memset(&c, 0, sizeof(c));
		if (cut % 2)
			zero_range(f->path, full - cut, full);
		else
			assert_int_equal(truncate(f->path, full - cut), 0);
		assert_int_equal(journal_open(f->path, &f->signer, count_cb, &c, &j, &info), 0);
		assert_true(info.torn_bytes > 0);
		assert_int_equal(c.dac, 5); /* everything before the torn frame survives */
		journal_close(j);            /* appends a fresh checkpoint */
		/* the torn bytes were zeroed: it opens clean now */
		assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, &info), 0);
		assert_int_equal(info.torn_bytes, 0);
		journal_close(j);
		full = data_size(f->path);
	}
	/* a damaged (not short) last frame is torn too */
	flip_byte(f->path, full - 10);
	memset(&c, 0, sizeof(c));
	assert_int_equal(journal_open(f->path, &f->signer, count_cb, &c, &j, &info), 0);
	assert_true(info.torn_bytes > 0);
	assert_int_equal(c.dac, 5);
	journal_close(j);
}

static void test_damage_in_middle_refused(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;

	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), 0);
	append_n(j, 0, 20);
	journal_close(j);
	flip_byte(f->path, 40); /* inside the genesis entry */
	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), WRIT_E_JOURNAL);
	assert_int_equal(journal_open(f->path, NULL, NULL, NULL, &j, NULL), WRIT_E_JOURNAL);
}

static void test_garbage_in_reserve_refused(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	long end;

	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), 0);
	append_n(j, 0, 3);
	journal_close(j);
	end = data_size(f->path);
	/* non-zero bytes far beyond the frames are not a torn write */
	{
		FILE *fp = fopen(f->path, "r+b");
		assert_non_null(fp);
		assert_int_equal(fseek(fp, end + 3 * 1024 * 1024, SEEK_SET), 0);
		fputc(0x5a, fp);
		fclose(fp);
	}
	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), WRIT_E_JOURNAL);
}

static void test_other_identity_refused(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct ec_soft_key *other;
	struct writ_signer s;

	assert_int_equal(ec_soft_key_new(&other), 0);
	ec_soft_signer(other, &s);
	assert_int_equal(journal_open(f->path, &s, NULL, NULL, &j, NULL), WRIT_E_JOURNAL);
	ec_soft_key_free(other);
}

static void test_empty_and_garbage_refused(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	FILE *fp;

	fp = fopen(f->path, "wb");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), WRIT_E_JOURNAL);
	assert_int_equal(journal_open("/nonexistent/journal", &f->signer, NULL, NULL, &j, NULL), WRIT_E_NOTFOUND);
}

static void test_export(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	cbor_item_t *arr = NULL;

	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), 0);
	append_n(j, 0, 7);
	assert_int_equal(journal_export(j, 2, 100, &arr), 0);
	assert_int_equal(cbor_array_size(arr), 7); /* seq 2..8 */
	cbor_decref(&arr);
	assert_int_equal(journal_export(j, 5, 2, &arr), 0);
	assert_int_equal(cbor_array_size(arr), 2);
	cbor_decref(&arr);
	assert_int_equal(journal_export(j, 1000, 10, &arr), 0);
	assert_int_equal(cbor_array_size(arr), 0);
	cbor_decref(&arr);
	journal_close(j);
}

/* A frame as writ-hsmd wrote them before the canonical writer: libcbor's encoding
 * (9-byte integer heads). Returns the entry's hash in h. */
static void legacy_frame(FILE *fp, uint64_t seq, uint8_t h[32], uint32_t type, cbor_item_t *body)
{
	cbor_item_t *m = cbu_new_map(5);
	uint8_t *entry = NULL, len[4];
	size_t n = 0;

	assert_int_equal(cbu_put_uint(m, 1, seq), 0);
	assert_int_equal(cbu_put_bytes(m, 2, h, 32), 0);
	assert_int_equal(cbu_put_int(m, 3, 1000), 0);
	assert_int_equal(cbu_put_uint(m, 4, type), 0);
	assert_int_equal(cbu_put_item(m, 5, body), 0);
	assert_int_equal(cbu_serialize(m, &entry, &n), 0);
	assert_int_equal(entry[1], 0x1b); /* the long head this is about */
	len[0] = (uint8_t)(n >> 24);
	len[1] = (uint8_t)(n >> 16);
	len[2] = (uint8_t)(n >> 8);
	len[3] = (uint8_t)n;
	assert_int_equal(ec_sha256(entry, n, h), 0);
	assert_int_equal(fwrite(len, 1, 4, fp), 4);
	assert_int_equal(fwrite(entry, 1, n, fp), n);
	assert_int_equal(fwrite(h, 1, 4, fp), 4);
	free(entry);
	cbor_decref(&m);
	cbor_decref(&body);
}

static void test_legacy_encoding_read(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct journal_open_info info;
	struct counts c = { 0 };
	uint8_t h[32] = { 0 }, d[32], sig[64];
	cbor_item_t *b;
	FILE *fp = fopen(f->path, "wb");

	assert_non_null(fp);
	b = cbu_new_map(2);
	assert_int_equal(cbu_put_bytes(b, 3, f->signer.pub, WRIT_P256_PUB_LEN), 0);
	assert_int_equal(cbu_put_uint(b, 8, 300), 0);
	legacy_frame(fp, 0, h, JT_GENESIS, b);
	assert_int_equal(jentry_checkpoint_digest(1, h, d), 0);
	assert_int_equal(f->signer.sign(f->signer.ctx, d, sig), 0);
	b = cbu_new_map(1);
	assert_int_equal(cbu_put_bytes(b, 1, sig, 64), 0);
	legacy_frame(fp, 1, h, JT_CHECKPOINT, b);
	b = cbu_new_map(1);
	assert_int_equal(cbu_put_uint(b, 1, 77), 0);
	legacy_frame(fp, 2, h, JT_DAC, b);
	fclose(fp);
	/* it opens, replays, and new (canonical) entries chain onto it */
	assert_int_equal(journal_open(f->path, &f->signer, count_cb, &c, &j, &info), 0);
	assert_int_equal(info.entries, 3);
	assert_int_equal(info.checkpoints, 1);
	assert_int_equal(c.max_value, 77);
	append_n(j, 0, 2);
	journal_close(j);
	memset(&c, 0, sizeof(c));
	assert_int_equal(journal_open(f->path, &f->signer, count_cb, &c, &j, &info), 0);
	assert_int_equal(info.entries, 6); /* + 2 DACs + the closing checkpoint */
	assert_int_equal(c.dac, 3);
	journal_close(j);
}

/* Checkpoint now (op 7): one only if something was appended since the last. */
static void test_checkpoint_now(void **state)
{
	struct fixture *f = *state;
	struct journal *j = NULL;
	struct journal_open_info info;
	uint64_t next = 0, cp = 0;

	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, NULL), 0);
	assert_int_equal(journal_checkpoint_now(j, 3000, &next, &cp), 0); /* genesis, checkpoint 1 */
	assert_int_equal(next, 2);
	assert_int_equal(cp, 1);
	append_n(j, 0, 3);
	assert_int_equal(journal_checkpoint_now(j, 3000, &next, &cp), 1);
	assert_int_equal(next, 6);
	assert_int_equal(cp, 5);
	assert_int_equal(journal_checkpoint_now(j, 3001, &next, &cp), 0);
	assert_int_equal(next, 6);
	assert_int_equal(cp, 5);
	journal_close(j); /* nothing to sign: no closing checkpoint */
	assert_int_equal(journal_open(f->path, &f->signer, NULL, NULL, &j, &info), 0);
	assert_int_equal(info.entries, 6);
	assert_int_equal(journal_checkpoint_now(j, 3002, &next, &cp), 0);
	assert_int_equal(cp, 5);
	journal_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_in_middle_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_in_reserve_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_identity_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_garbage_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_encoding_read, setup, teardown),
	};

	log_init("test_journal", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
