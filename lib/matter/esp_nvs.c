/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ESP-IDF encodings of Matter factory data: the mfg CSV that esp-idf's
 * nvs_partition_gen.py reads, and the NVS partition image itself, written by our own
 * code from the format described in ESP-IDF's components/nvs_flash documentation and
 * generator: 4096-byte pages (32-byte header with a CRC32, a 32-byte entry-state bitmap,
 * 126 entries of 32 bytes), namespace "chip-factory", u32 items, NUL-terminated strings
 * and version-2 blobs (BLOB_DATA chunks + BLOB_IDX). Key names and encodings follow the
 * SDK's src/platform/ESP32/ESP32Config.cpp and esp-matter's mfg_tool.
 */
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "base/ct.h"
#include "matter/dbuf.h"
#include "matter/factory.h"

#define NVS_NAMESPACE "chip-factory"
#define NVS_KEY_MAX 15
#define NVS_ENTRIES 126
#define NVS_ENTRY 32
#define NVS_FIRST_ENTRY 64
#define NVS_BITMAP 32
#define NVS_CHUNK_ANY 0xFF

enum { NVS_U8 = 0x01, NVS_U32 = 0x04, NVS_STR = 0x21, NVS_BLOB_DATA = 0x42, NVS_BLOB_IDX = 0x48 };
#define NVS_PAGE_ACTIVE 0xFFFFFFFEu
#define NVS_PAGE_FULL 0xFFFFFFFCu
#define NVS_VERSION2 0xFE

enum item_kind { IT_U32, IT_STR, IT_BLOB };

struct item {
	const char *key;
	enum item_kind kind;
	uint32_t u;
	const uint8_t *data; /* IT_STR: text without NUL; IT_BLOB: bytes */
	size_t len;
};

/* Base64 texts of the salt and the verifier, which ESP32Config reads as strings. */
struct esp_text {
	char salt[64];
	char verifier[160];
};

#define MAX_ITEMS 20

/* The ordered item list both encodings write. Returns the count or a negative error. */
static int esp_items(const struct matter_factory_data *fd, struct esp_text *t, struct item *it)
{
	int n = 0, r;

	if (matter_fd_validate(fd, NULL, 0) < 0)
		return WRIT_E_INVAL;
	r = matter_b64_encode(fd->salt, fd->salt_len, t->salt, sizeof(t->salt));
	if (r < 0)
		return r;
	r = matter_b64_encode(fd->verifier, sizeof(fd->verifier), t->verifier, sizeof(t->verifier));
	if (r < 0)
		return r;
#define U32(k, v) it[n++] = (struct item){ (k), IT_U32, (v), NULL, 0 }
#define STR(k, s) it[n++] = (struct item){ (k), IT_STR, 0, (const uint8_t *)(s), strlen(s) }
#define BLOB(k, d, l) it[n++] = (struct item){ (k), IT_BLOB, 0, (d), (l) }
	U32("discriminator", fd->discriminator);
	U32("iteration-count", fd->spake2p_it);
	STR("salt", t->salt);
	STR("verifier", t->verifier);
	if (fd->include_passcode)
		U32("pin-code", fd->passcode);
	BLOB("dac-cert", fd->dac, fd->dac_len);
	BLOB("pai-cert", fd->pai, fd->pai_len);
	if (fd->cd_len)
		BLOB("cert-dclrn", fd->cd, fd->cd_len);
	U32("vendor-id", fd->vid);
	if (fd->vendor_name[0])
		STR("vendor-name", fd->vendor_name);
	U32("product-id", fd->pid);
	if (fd->product_name[0])
		STR("product-name", fd->product_name);
	U32("hardware-ver", fd->hw_ver);
	if (fd->hw_ver_str[0])
		STR("hw-ver-str", fd->hw_ver_str);
	STR("mfg-date", fd->mfg_date);
	STR("serial-num", fd->serial);
	BLOB("rd-id-uid", fd->rd_uid, fd->rd_uid_len);
#undef U32
#undef STR
#undef BLOB
	return n;
}

/* ---- CSV ---- */

static void csv_value_str(struct dbuf *b, const uint8_t *s, size_t n)
{
	size_t i;
	int quote = n == 0 || s[0] == ' ' || s[n - 1] == ' ';

	for (i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"')
			quote = 1;
	if (!quote) {
		dbuf_put(b, s, n);
		return;
	}
	dbuf_byte(b, '"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			dbuf_byte(b, '"');
		dbuf_byte(b, s[i]);
	}
	dbuf_byte(b, '"');
}

int matter_esp_csv(const struct matter_factory_data *fd, char **ret_csv, size_t *ret_len)
{
	static const char hex[] = "0123456789abcdef";
	struct item it[MAX_ITEMS];
	struct esp_text t;
	struct dbuf b;
	int n, i;

	if (!ret_csv || !ret_len)
		return WRIT_E_INVAL;
	n = esp_items(fd, &t, it);
	if (n < 0)
		return n;
	dbuf_init(&b, 64 * 1024);
	dbuf_str(&b, "key,type,encoding,value\n" NVS_NAMESPACE ",namespace,,\n");
	for (i = 0; i < n; i++) {
		char num[16];
		size_t k;

		dbuf_str(&b, it[i].key);
		switch (it[i].kind) {
		case IT_U32:
			(void)snprintf(num, sizeof(num), "%u", it[i].u); /* at most 10 digits */
			dbuf_str(&b, ",data,u32,");
			dbuf_str(&b, num);
			break;
		case IT_STR:
			dbuf_str(&b, ",data,string,");
			csv_value_str(&b, it[i].data, it[i].len);
			break;
		case IT_BLOB:
			dbuf_str(&b, ",data,hex2bin,");
			for (k = 0; k < it[i].len; k++) {
				dbuf_byte(&b, (uint8_t)hex[it[i].data[k] >> 4]);
				dbuf_byte(&b, (uint8_t)hex[it[i].data[k] & 15]);
			}
			break;
		}
		dbuf_byte(&b, '\n');
	}
	dbuf_byte(&b, '\0');
	writ_memzero(&t, sizeof(t));
	if (b.err) {
		int err = b.err;

		dbuf_free(&b);
		return err;
	}
	*ret_csv = (char *)b.p;
	*ret_len = b.len - 1;
	return 0;
}

/* ---- NVS image ---- */

struct nvs {
	uint8_t *img;
	size_t pages;  /* usable pages: the partition's minus the reserved last one */
	size_t page;   /* current page */
	unsigned entry; /* next free entry in the current page */
};

/* ESP-IDF's CRC32: zlib's crc32 started from 0xFFFFFFFF (what nvs_partition_gen.py
 * computes with zlib.crc32(data, 0xFFFFFFFF)). */
static uint32_t nvs_crc(uint32_t crc, const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(crc, p, (uInt)n);
}

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint8_t *page_at(struct nvs *s, size_t page)
{
	return s->img + page * MATTER_NVS_PAGE;
}

static void page_init(struct nvs *s, size_t page)
{
	uint8_t *p = page_at(s, page);

	le32(p, NVS_PAGE_ACTIVE);
	le32(p + 4, (uint32_t)page); /* sequence number */
	p[8] = NVS_VERSION2;
	/* bytes 9..27 stay 0xFF (reserved) */
	le32(p + 28, nvs_crc(0xFFFFFFFFu, p + 4, 24));
}

/* Make room for span consecutive entries in one page, opening the next page if needed. */
static int nvs_reserve(struct nvs *s, unsigned span)
{
	if (span > NVS_ENTRIES)
		return WRIT_E_TOOBIG;
	if (s->entry + span <= NVS_ENTRIES)
		return 0;
	le32(page_at(s, s->page), NVS_PAGE_FULL); /* the state word is outside the header CRC */
	if (s->page + 1 >= s->pages)
		return WRIT_E_TOOBIG;
	s->page++;
	s->entry = 0;
	page_init(s, s->page);
	return 0;
}

/* Write one 32-byte entry slot (header or data) and mark it written (0b10) in the bitmap. */
static void nvs_slot(struct nvs *s, const uint8_t *data, size_t n)
{
	uint8_t *p = page_at(s, s->page);
	unsigned bit = s->entry * 2;

	memcpy(p + NVS_FIRST_ENTRY + (size_t)s->entry * NVS_ENTRY, data, n);
	p[NVS_BITMAP + bit / 8] &= (uint8_t) ~(1u << (bit % 8));
	s->entry++;
}

static void entry_head(uint8_t e[NVS_ENTRY], uint8_t ns, uint8_t type, uint8_t span, uint8_t chunk, const char *key)
{
	memset(e, 0xFF, NVS_ENTRY);
	e[0] = ns;
	e[1] = type;
	e[2] = span;
	e[3] = chunk;
	memset(e + 8, 0, 16);
	memcpy(e + 8, key, strlen(key)); /* keys are at most 15 characters */
}

static void entry_seal(uint8_t e[NVS_ENTRY])
{
	uint32_t crc = nvs_crc(0xFFFFFFFFu, e, 4);

	le32(e + 4, nvs_crc(crc, e + 8, 24));
}

/* A header entry followed by the data in 32-byte slots (0xFF padded). */
static int nvs_varlen(struct nvs *s, uint8_t e[NVS_ENTRY], const uint8_t *data, size_t n)
{
	size_t off;

	e[24] = (uint8_t)n;
	e[25] = (uint8_t)(n >> 8);
	/* e[26..27] stay 0xFF */
	le32(e + 28, nvs_crc(0xFFFFFFFFu, data, n));
	entry_seal(e);
	nvs_slot(s, e, NVS_ENTRY);
	for (off = 0; off < n; off += NVS_ENTRY) {
		uint8_t slot[NVS_ENTRY];
		size_t k = n - off < NVS_ENTRY ? n - off : NVS_ENTRY;

		memset(slot, 0xFF, sizeof(slot));
		memcpy(slot, data + off, k);
		nvs_slot(s, slot, sizeof(slot));
		writ_memzero(slot, sizeof(slot));
	}
	return 0;
}

static int nvs_item(struct nvs *s, const struct item *it)
{
	uint8_t e[NVS_ENTRY], strbuf[MATTER_HW_VER_STR_MAX + 160];
	size_t remaining, off = 0;
	unsigned chunks = 0;
	int err;

	if (strlen(it->key) > NVS_KEY_MAX)
		return WRIT_E_INVAL;
	switch (it->kind) {
	case IT_U32:
		if ((err = nvs_reserve(s, 1)) < 0)
			return err;
		entry_head(e, 1, NVS_U32, 1, NVS_CHUNK_ANY, it->key);
		le32(e + 24, it->u);
		entry_seal(e);
		nvs_slot(s, e, sizeof(e));
		return 0;
	case IT_STR:
		/* stored with its NUL, in one page */
		if (it->len + 1 > sizeof(strbuf))
			return WRIT_E_TOOBIG;
		memcpy(strbuf, it->data, it->len);
		strbuf[it->len] = '\0';
		if ((err = nvs_reserve(s, 1 + (unsigned)((it->len + 1 + 31) / 32))) < 0)
			return err;
		entry_head(e, 1, NVS_STR, (uint8_t)(1 + (it->len + 1 + 31) / 32), NVS_CHUNK_ANY, it->key);
		err = nvs_varlen(s, e, strbuf, it->len + 1);
		writ_memzero(strbuf, sizeof(strbuf));
		return err;
	case IT_BLOB:
		/* version-2 blob: data chunks that fill what is left of each page, numbered
		 * from chunkStart 0, then the index entry */
		remaining = it->len;
		while (remaining) {
			size_t room, k;

			if (s->entry + 2 > NVS_ENTRIES && (err = nvs_reserve(s, NVS_ENTRIES)) < 0)
				return err;
			room = (size_t)(NVS_ENTRIES - s->entry - 1) * NVS_ENTRY;
			k = remaining < room ? remaining : room;
			entry_head(e, 1, NVS_BLOB_DATA, (uint8_t)(1 + (k + 31) / 32), (uint8_t)chunks, it->key);
			(void)nvs_varlen(s, e, it->data + off, k);
			off += k;
			remaining -= k;
			if (++chunks > 127)
				return WRIT_E_TOOBIG;
		}
		if ((err = nvs_reserve(s, 1)) < 0)
			return err;
		entry_head(e, 1, NVS_BLOB_IDX, 1, NVS_CHUNK_ANY, it->key);
		le32(e + 24, (uint32_t)it->len);
		e[28] = (uint8_t)chunks;
		e[29] = 0; /* chunkStart: VER_0 */
		entry_seal(e);
		nvs_slot(s, e, sizeof(e));
		return 0;
	}
	return WRIT_E_INVAL;
}

int matter_esp_nvs(const struct matter_factory_data *fd, size_t part_size, uint8_t **ret_buf, size_t *ret_len)
{
	struct item it[MAX_ITEMS];
	struct esp_text t;
	struct nvs s;
	uint8_t e[NVS_ENTRY];
	int n, i, err;

	if (!ret_buf || !ret_len || part_size % MATTER_NVS_PAGE || part_size < 3 * MATTER_NVS_PAGE ||
	    part_size > MATTER_NVS_MAX_SIZE)
		return WRIT_E_INVAL;
	n = esp_items(fd, &t, it);
	if (n < 0)
		return n;
	memset(&s, 0, sizeof(s));
	s.img = malloc(part_size);
	if (!s.img) {
		writ_memzero(&t, sizeof(t));
		return WRIT_E_NOMEM;
	}
	memset(s.img, 0xFF, part_size);
	s.pages = part_size / MATTER_NVS_PAGE - 1;
	page_init(&s, 0);

	/* the namespace entry: namespace 0, type u8, key = name, value = its index (1) */
	entry_head(e, 0, NVS_U8, 1, NVS_CHUNK_ANY, NVS_NAMESPACE);
	e[24] = 1;
	entry_seal(e);
	nvs_slot(&s, e, sizeof(e));
	err = 0;
	for (i = 0; i < n && err == 0; i++)
		err = nvs_item(&s, &it[i]);
	writ_memzero(&t, sizeof(t));
	if (err < 0) {
		writ_memzero(s.img, part_size);
		free(s.img);
		return err;
	}
	*ret_buf = s.img;
	*ret_len = part_size;
	return 0;
}
