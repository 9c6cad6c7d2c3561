/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the station's chip driver (lib/chip/chip.c, provision.c) against a fake
 * chip: a thread listening on a Unix socket in a temporary directory that answers each
 * request from a per-test script (good answers, corrupted frames, stale sequence
 * numbers, malformed TLVs, oversized headers, hostile DETAIL text, a link cut
 * mid-frame). Everything the chip sends is peer-controlled input: each case checks the
 * driver's return value, chip_last_status()/chip_last_detail(), and that it neither
 * crashes, overflows a buffer nor hangs (short timeouts, few retries). The fake never
 * calls cmocka (its assertions would longjmp across threads); it counts its own
 * complaints in fk.errors, which every test checks.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/wdp.h"
#include "chip/chip.h"
#include "chip/provision.h"

/* ---- the fake chip ---- */

enum ans_kind {
	ANS_FRAME,      /* a whole frame: status, payload, seq (echo unless seq >= 0) */
	ANS_BAD_CRC,    /* the same with the CRC's last byte flipped */
	ANS_RAW,        /* raw bytes */
	ANS_NONE,       /* no answer at all */
	ANS_CLOSE,      /* close the connection without answering */
	ANS_HALF_CLOSE, /* the first half of a frame, then close */
	ANS_DEFAULT,    /* what a well-behaved chip would answer */
};

struct ans {
	enum ans_kind kind;
	uint16_t status;
	int64_t seq; /* < 0: echo the request's */
	const uint8_t *pl;
	size_t len;
	int more; /* also send the next entry for the same request */
};

struct rec {
	uint16_t code;
	uint32_t seq;
	uint32_t len;
	uint32_t fw_off;  /* FW_CHUNK: FW_OFFSET */
	uint32_t fw_n;    /* FW_CHUNK: data bytes */
	int fw_data_ok;   /* FW_CHUNK: the bytes equal the test image at that offset */
};

#define REC_MAX 1024

struct fake {
	char dir[64];
	char path[128];
	char addr[160];
	int lfd;
	pthread_t th;
	volatile int stop;
	pthread_mutex_t mu;
	/* script: answer i for request i; past its end, ANS_DEFAULT */
	const struct ans *script;
	size_t n_script, next;
	/* per-command overrides, tried before the script: answer for the k-th request of a
	 * command (k from 1), or 0 for every one */
	uint16_t ov_cmd;
	unsigned ov_nth;
	struct ans ov;
	/* what the default chip reports */
	uint32_t state;
	uint32_t fw_version;
	const uint8_t *fw_image; /* to check FW_CHUNK data */
	size_t fw_len;
	uint32_t max_payload; /* DISCOVER's MAX_PAYLOAD; 0 = WDP_PAYLOAD_MAX */
	/* drop the link when this command first arrives (before answering it) */
	uint16_t drop_cmd;
	int dropped;
	/* record */
	struct rec recs[REC_MAX];
	size_t n_recs;
	unsigned conns, closes;
	int errors;
	struct wdp_rx rx;
};

static struct fake fk;

static const uint8_t k_uid[16] = { 0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xaf };

static void fake_error(void)
{
	pthread_mutex_lock(&fk.mu);
	fk.errors++;
	pthread_mutex_unlock(&fk.mu);
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Append one TLV with no checks at all (the tests build malformed payloads with it). */
static void raw_tlv(uint8_t *buf, size_t *off, uint16_t type, const void *v, size_t n)
{
	wdp_put_u16(buf + *off, type);
	wdp_put_u16(buf + *off + 2, (uint16_t)n);
	if (n)
		memcpy(buf + *off + 4, v, n);
	*off += 4 + n;
}

static void raw_u8(uint8_t *buf, size_t *off, uint16_t type, uint8_t v)
{
	raw_tlv(buf, off, type, &v, 1);
}

static void raw_u16(uint8_t *buf, size_t *off, uint16_t type, uint16_t v)
{
	uint8_t b[2];
	wdp_put_u16(b, v);
	raw_tlv(buf, off, type, b, 2);
}

static void raw_u32(uint8_t *buf, size_t *off, uint16_t type, uint32_t v)
{
	uint8_t b[4];
	wdp_put_u32(b, v);
	raw_tlv(buf, off, type, b, 4);
}

/* DISCOVER answers: variant 0 is correct, the others are each wrong in one way. */
enum {
	DV_OK,
	DV_NO_UID,
	DV_PROTO_3_BYTES,
	DV_UNKNOWN_TYPE,
	DV_TRAILING,
	DV_OUT_OF_ORDER,
	DV_DUPLICATE,
	DV_FAMILY_EMPTY,
	DV_FAMILY_33,
	DV_TLV_PAST_END,
	DV_COUNT_
};

static size_t build_discover(uint8_t *b, int variant, uint16_t proto, const char *family,
			     uint32_t state)
{
	size_t o = 0;
	char fam33[33];

	memset(fam33, 'f', sizeof fam33);
	if (variant == DV_OUT_OF_ORDER)
		raw_tlv(b, &o, WDP_T_UID, k_uid, 16);
	if (variant == DV_PROTO_3_BYTES)
		raw_tlv(b, &o, WDP_T_PROTO_VERSION, "\0\1\0", 3);
	else
		raw_u16(b, &o, WDP_T_PROTO_VERSION, proto);
	if (variant != DV_NO_UID && variant != DV_OUT_OF_ORDER)
		raw_tlv(b, &o, WDP_T_UID, k_uid, 16);
	if (variant == DV_FAMILY_EMPTY)
		raw_tlv(b, &o, WDP_T_CHIP_FAMILY, "", 0);
	else if (variant == DV_FAMILY_33)
		raw_tlv(b, &o, WDP_T_CHIP_FAMILY, fam33, sizeof fam33);
	else
		raw_tlv(b, &o, WDP_T_CHIP_FAMILY, family, strlen(family));
	raw_u8(b, &o, WDP_T_LIFECYCLE, WDP_LC_BLANK);
	raw_u32(b, &o, WDP_T_MAX_PAYLOAD, fk.max_payload ? fk.max_payload : WDP_PAYLOAD_MAX);
	raw_u32(b, &o, WDP_T_STATE, state);
	if (variant == DV_DUPLICATE)
		raw_u32(b, &o, WDP_T_STATE, state);
	if (variant == DV_UNKNOWN_TYPE)
		raw_u32(b, &o, 0x0099, 7);
	if (variant == DV_TRAILING) {
		b[o++] = 0;
		b[o++] = 0;
	}
	if (variant == DV_TLV_PAST_END) {
		wdp_put_u16(b + o, 0x0007);
		wdp_put_u16(b + o + 2, 10);
		o += 4 + 4; /* says 10, has 4 */
	}
	return o;
}

static size_t build_status(uint8_t *b, uint32_t state, uint32_t fw_version)
{
	size_t o = 0;
	raw_tlv(b, &o, WDP_T_UID, k_uid, 16);
	raw_u8(b, &o, WDP_T_LIFECYCLE, (state & WDP_F_LOCKED) ? WDP_LC_SECURED
				       : (state ? WDP_LC_PROVISIONING : WDP_LC_BLANK));
	raw_u32(b, &o, WDP_T_STATE, state);
	raw_u32(b, &o, WDP_T_FW_VERSION, fw_version);
	return o;
}

static size_t build_keys(uint8_t *b, size_t csr_len, size_t pub_len, size_t bind_len)
{
	static uint8_t junk[WDP_CSR_MAX + 64];
	size_t o = 0;
	memset(junk, 0x30, sizeof junk);
	raw_tlv(b, &o, WDP_T_CSR, junk, csr_len);
	raw_tlv(b, &o, WDP_T_ENC_PUB, junk, pub_len);
	raw_tlv(b, &o, WDP_T_ENC_BINDING, junk, bind_len);
	return o;
}

static int send_frame(int fd, uint16_t status, uint32_t seq, const uint8_t *pl, size_t len,
		      int bad_crc, size_t cut)
{
	uint8_t out[WDP_FRAME_MAX];
	size_t n;

	if (wdp_frame_encode(status, seq, pl, len, out, sizeof out, &n) != 0)
		return -1;
	if (bad_crc)
		out[n - 1] ^= 0x5a;
	if (cut && cut < n)
		n = cut;
	return send_all(fd, out, n);
}

/* A well-behaved chip that tracks just enough state for chip_provision. */
static int answer_default(int fd, const struct wdp_frame *req)
{
	uint8_t pl[WDP_PAYLOAD_MAX];
	size_t n = 0;

	switch (req->code) {
	case WDP_CMD_DISCOVER:
		n = build_discover(pl, DV_OK, WDP_PROTO_VERSION, "fake-chip", fk.state);
		break;
	case WDP_CMD_STATUS:
		n = build_status(pl, fk.state, fk.fw_version);
		break;
	case WDP_CMD_GENERATE_KEYS:
		n = build_keys(pl, 300, WDP_P256_PUB_LEN, 70);
		fk.state |= WDP_F_KEYS;
		break;
	case WDP_CMD_GET_ENC_KEY: {
		uint8_t pub[WDP_P256_PUB_LEN], bind[70];
		memset(pub, 4, sizeof pub);
		memset(bind, 0x30, sizeof bind);
		raw_tlv(pl, &n, WDP_T_ENC_PUB, pub, sizeof pub);
		raw_tlv(pl, &n, WDP_T_ENC_BINDING, bind, sizeof bind);
		break;
	}
	case WDP_CMD_STORE_CHAIN:
		fk.state |= WDP_F_CHAIN;
		break;
	case WDP_CMD_STORE_FACTORY_DATA:
		fk.state |= WDP_F_FACTORY_DATA;
		break;
	case WDP_CMD_STORE_SECRET:
		fk.state |= WDP_F_SECRET;
		break;
	case WDP_CMD_BURN_OTP:
		fk.state |= WDP_F_OTP;
		break;
	case WDP_CMD_FW_BEGIN:
		/* FW_VERSION is the first TLV: type, len, value */
		if (req->len >= 8)
			fk.fw_version = wdp_get_u32(req->payload + 4);
		break;
	case WDP_CMD_FW_CHUNK:
		break;
	case WDP_CMD_FW_END:
		fk.state |= WDP_F_FIRMWARE;
		raw_u32(pl, &n, WDP_T_FW_VERSION, fk.fw_version);
		break;
	case WDP_CMD_LOCK:
		fk.state = (fk.state | WDP_F_LOCKED) & ~(uint32_t)WDP_F_DEBUG;
		raw_u8(pl, &n, WDP_T_LIFECYCLE, WDP_LC_SECURED);
		break;
	default:
		return send_frame(fd, WDP_S_UNKNOWN_COMMAND, req->seq, NULL, 0, 0, 0);
	}
	return send_frame(fd, WDP_S_OK, req->seq, pl, n, 0, 0);
}

/* Returns 1 to close the connection. */
static int answer(int fd, const struct wdp_frame *req, const struct ans *a)
{
	uint32_t seq = a->seq >= 0 ? (uint32_t)a->seq : req->seq;

	switch (a->kind) {
	case ANS_FRAME:
		return send_frame(fd, a->status, seq, a->pl, a->len, 0, 0) != 0;
	case ANS_BAD_CRC:
		return send_frame(fd, a->status, seq, a->pl, a->len, 1, 0) != 0;
	case ANS_RAW:
		return send_all(fd, a->pl, a->len) != 0;
	case ANS_NONE:
		return 0;
	case ANS_CLOSE:
		return 1;
	case ANS_HALF_CLOSE: {
		size_t whole = WDP_HDR_LEN + a->len + WDP_CRC_LEN;
		(void)send_frame(fd, a->status, seq, a->pl, a->len, 0, whole / 2);
		return 1;
	}
	case ANS_DEFAULT:
		return answer_default(fd, req) != 0;
	}
	return 1;
}

static void record(const struct wdp_frame *req)
{
	struct rec r = { .code = req->code, .seq = req->seq, .len = req->len };

	if (req->code == WDP_CMD_FW_CHUNK) {
		static const struct wdp_tlv_spec spec[] = {
			{ WDP_T_FW_OFFSET, 4, 4, 1 },
			{ WDP_T_FW_DATA, 1, WDP_FW_CHUNK_MAX, 1 },
		};
		struct wdp_tlv t[2];
		if (wdp_tlv_parse(req->payload, req->len, spec, 2, t) != 0) {
			fake_error();
		} else {
			r.fw_off = wdp_get_u32(t[0].value);
			r.fw_n = t[1].len;
			r.fw_data_ok = fk.fw_image && r.fw_off <= fk.fw_len &&
				       r.fw_n <= fk.fw_len - r.fw_off &&
				       memcmp(fk.fw_image + r.fw_off, t[1].value, r.fw_n) == 0;
		}
	}
	pthread_mutex_lock(&fk.mu);
	if (fk.n_recs < REC_MAX)
		fk.recs[fk.n_recs++] = r;
	else
		fk.errors++;
	pthread_mutex_unlock(&fk.mu);
}

/* The k-th (from 1) request with this code so far, counting this one. */
static unsigned nth_of(uint16_t code)
{
	unsigned k = 0;
	pthread_mutex_lock(&fk.mu);
	for (size_t i = 0; i < fk.n_recs; i++)
		k += fk.recs[i].code == code;
	pthread_mutex_unlock(&fk.mu);
	return k;
}

static int on_request(int fd, const struct wdp_frame *req)
{
	record(req);
	if (fk.drop_cmd && req->code == fk.drop_cmd && !fk.dropped) {
		fk.dropped = 1;
		return 1;
	}
	if (fk.ov_cmd && req->code == fk.ov_cmd && (fk.ov_nth == 0 || nth_of(req->code) == fk.ov_nth))
		return answer(fd, req, &fk.ov);
	if (fk.next < fk.n_script) {
		/* Copy the entry first: once the answer is out, the test may already be
		 * reusing the stack its script lives on. */
		for (;;) {
			struct ans cur = fk.script[fk.next++];
			int last = !cur.more || fk.next >= fk.n_script;
			int rc = answer(fd, req, &cur);
			if (rc || last)
				return rc;
		}
	}
	return answer_default(fd, req) != 0;
}

static void serve(int cfd)
{
	uint8_t in[4096];

	wdp_rx_init(&fk.rx);
	while (!fk.stop) {
		struct pollfd p = { .fd = cfd, .events = POLLIN };
		ssize_t r;
		size_t off = 0;

		if (poll(&p, 1, 20) <= 0)
			continue;
		r = read(cfd, in, sizeof in);
		if (r <= 0)
			return;
		while (off < (size_t)r) {
			struct wdp_frame f;
			size_t used = 0;
			int ev = wdp_rx_feed(&fk.rx, in + off, (size_t)r - off, &used, &f);
			off += used;
			if (ev == WDP_RX_FRAME && on_request(cfd, &f))
				return;
			if (ev == WDP_RX_INTEGRITY || ev == WDP_RX_TOO_BIG)
				fake_error(); /* the driver never sends a broken frame */
		}
	}
}

static void *fake_main(void *arg)
{
	(void)arg;
	while (!fk.stop) {
		struct pollfd p = { .fd = fk.lfd, .events = POLLIN };
		int cfd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		cfd = accept(fk.lfd, NULL, NULL);
		if (cfd < 0)
			continue;
		pthread_mutex_lock(&fk.mu);
		fk.conns++;
		pthread_mutex_unlock(&fk.mu);
		serve(cfd);
		close(cfd);
		pthread_mutex_lock(&fk.mu);
		fk.closes++;
		pthread_mutex_unlock(&fk.mu);
	}
	return NULL;
}

static int fake_start(void **state)
{
	struct sockaddr_un sa;

	(void)state;
	memset(&fk, 0, sizeof fk);
	pthread_mutex_init(&fk.mu, NULL);
	snprintf(fk.dir, sizeof fk.dir, "/tmp/writ-test-chip-XXXXXX");
	if (!mkdtemp(fk.dir))
		return -1;
	if ((size_t)snprintf(fk.path, sizeof fk.path, "%s/chip.sock", fk.dir) >= sizeof fk.path)
		return -1;
	snprintf(fk.addr, sizeof fk.addr, "unix:%s", fk.path);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, fk.path, strlen(fk.path));
	fk.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fk.lfd < 0 || bind(fk.lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(fk.lfd, 4) != 0)
		return -1;
	fk.state = WDP_F_DEBUG;
	if (pthread_create(&fk.th, NULL, fake_main, NULL) != 0)
		return -1;
	return 0;
}

static int fake_stop(void **state)
{
	(void)state;
	fk.stop = 1;
	pthread_join(fk.th, NULL);
	close(fk.lfd);
	unlink(fk.path);
	rmdir(fk.dir);
	pthread_mutex_destroy(&fk.mu);
	return 0;
}

static void script(const struct ans *a, size_t n)
{
	fk.script = a;
	fk.n_script = n;
	fk.next = 0;
}

static size_t n_recs(void)
{
	pthread_mutex_lock(&fk.mu);
	size_t n = fk.n_recs;
	pthread_mutex_unlock(&fk.mu);
	return n;
}

static unsigned fake_closes(void)
{
	pthread_mutex_lock(&fk.mu);
	unsigned n = fk.closes;
	pthread_mutex_unlock(&fk.mu);
	return n;
}

static struct chip *new_chip(int retries)
{
	struct chip_opts o = { .timeout_ms = 200, .retries = retries };
	struct chip *c = NULL;

	assert_int_equal(chip_new(fk.addr, &o, &c), 0);
	return c;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void assert_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			fail_msg("detail has byte 0x%02x", (unsigned char)*s);
}

/* ---- connect / DISCOVER ---- */

static void test_discover_ok(void **state)
{
	struct chip *c = new_chip(1);
	struct chip_info info;
	struct chip_stats st;

	(void)state;
	fk.state = WDP_F_KEYS | WDP_F_DEBUG;
	assert_int_equal(chip_connect(c, &info), 0);
	assert_int_equal(info.proto, 1);
	assert_memory_equal(info.uid, k_uid, 16);
	assert_string_equal(info.family, "fake-chip");
	assert_int_equal(info.lifecycle, WDP_LC_BLANK);
	assert_int_equal(info.max_payload, WDP_PAYLOAD_MAX);
	assert_int_equal(info.state, WDP_F_KEYS | WDP_F_DEBUG);
	assert_int_equal(chip_last_status(c), 0);
	assert_string_equal(chip_last_detail(c), "");
	assert_true(chip_connected(c));
	chip_get_stats(c, &st);
	assert_int_equal(st.exchanges, 1);
	assert_int_equal(st.resends, 0);
	assert_int_equal(n_recs(), 1);
	assert_int_equal(fk.recs[0].code, WDP_CMD_DISCOVER);
	/* a STATUS afterwards carries the next seq */
	assert_int_equal(chip_status(c, &info), 0);
	assert_int_equal(fk.recs[1].seq, fk.recs[0].seq + 1);
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

static void test_discover_wrong_version(void **state)
{
	static uint8_t pl[256];
	struct ans a[1] = { { ANS_FRAME, 0, -1, pl, 0, 0 } };
	struct chip *c = new_chip(1);
	struct chip_info info;

	(void)state;
	a[0].len = build_discover(pl, DV_OK, 2, "fake-chip", 0);
	script(a, 1);
	memset(&info, 0x77, sizeof info);
	assert_int_equal(chip_connect(c, &info), WRIT_E_UNSUPPORTED);
	assert_contains(chip_last_detail(c), "protocol version");
	assert_int_equal(info.proto, 0x7777); /* ret_info untouched on failure */
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* A chip family with control characters, an embedded NUL or non-ASCII bytes must not
 * reach a terminal or a record as is. */
static void test_discover_family_sanitized(void **state)
{
	static const char fam[] = "x\x1b]0;pwn\x07\n\xc3\xa9\0z";
	static uint8_t pl[256];
	struct ans a[1] = { { ANS_FRAME, 0, -1, pl, 0, 0 } };
	struct chip *c = new_chip(1);
	struct chip_info info;
	size_t o = 0;

	(void)state;
	raw_u16(pl, &o, WDP_T_PROTO_VERSION, 1);
	raw_tlv(pl, &o, WDP_T_UID, k_uid, 16);
	raw_tlv(pl, &o, WDP_T_CHIP_FAMILY, fam, sizeof fam - 1);
	raw_u8(pl, &o, WDP_T_LIFECYCLE, WDP_LC_BLANK);
	raw_u32(pl, &o, WDP_T_MAX_PAYLOAD, WDP_PAYLOAD_MAX);
	raw_u32(pl, &o, WDP_T_STATE, 0);
	a[0].len = o;
	script(a, 1);
	assert_int_equal(chip_connect(c, &info), 0);
	assert_printable(info.family);
	assert_string_equal(info.family, "x?]0;pwn?????z");
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

static void test_discover_garbage_times_out(void **state)
{
	static const uint8_t junk[] = "hello, this is not a frame \x57\x45 WX W";
	static uint8_t wrong_magic[WDP_FRAME_MAX];
	static uint8_t pl[256];
	struct ans a[3] = {
		{ ANS_RAW, 0, -1, junk, sizeof junk - 1, 0 },
		{ ANS_RAW, 0, -1, wrong_magic, 0, 0 },
		{ ANS_NONE, 0, -1, NULL, 0, 0 },
	};
	struct chip *c = new_chip(2);
	struct chip_stats st;
	size_t n;

	(void)state;
	/* a correct answer whose magic is "WE" */
	assert_int_equal(wdp_frame_encode(0, 1, pl, build_discover(pl, DV_OK, 1, "f", 0),
					  wrong_magic, sizeof wrong_magic, &n), 0);
	wrong_magic[1] = 0x45;
	a[1].len = n;
	script(a, 3);
	assert_int_equal(chip_connect(c, NULL), WRIT_E_IO);
	assert_int_equal(chip_last_status(c), 0);
	assert_contains(chip_last_detail(c), "no valid answer");
	assert_contains(chip_last_detail(c), "after 3 attempts");
	assert_false(chip_connected(c));
	chip_get_stats(c, &st);
	assert_int_equal(st.resends, 2);
	assert_int_equal(st.exchanges, 0);
	/* the same request three times */
	assert_int_equal(n_recs(), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(fk.recs[i].code, WDP_CMD_DISCOVER);
		assert_int_equal(fk.recs[i].seq, fk.recs[0].seq);
	}
	/* a later call without a link says so */
	struct chip_info info;
	assert_int_equal(chip_status(c, &info), WRIT_E_IO);
	assert_contains(chip_last_detail(c), "not connected");
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* A bad CRC on the answer to STATUS: resent with the same seq, the second answer counts. */
static void test_bad_crc_then_good(void **state)
{
	static uint8_t pl[256];
	struct ans a[3] = {
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		{ ANS_BAD_CRC, 0, -1, pl, 0, 0 },
		{ ANS_FRAME, 0, -1, pl, 0, 0 },
	};
	struct chip *c = new_chip(2);
	struct chip_info info;
	struct chip_stats st;

	(void)state;
	a[1].len = a[2].len = build_status(pl, WDP_F_KEYS, 7);
	script(a, 3);
	assert_int_equal(chip_connect(c, NULL), 0);
	assert_int_equal(chip_status(c, &info), 0);
	assert_int_equal(info.fw_version, 7);
	assert_int_equal(info.state, WDP_F_KEYS);
	chip_get_stats(c, &st);
	assert_int_equal(st.resends, 1);
	assert_int_equal(st.exchanges, 2);
	assert_int_equal(n_recs(), 3);
	assert_int_equal(fk.recs[1].code, WDP_CMD_STATUS);
	assert_int_equal(fk.recs[2].code, WDP_CMD_STATUS);
	assert_int_equal(fk.recs[1].seq, fk.recs[0].seq + 1);
	assert_int_equal(fk.recs[2].seq, fk.recs[1].seq); /* the same seq: a retransmission */
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* The chip could not read our frame: INTEGRITY with seq 0. The driver resends. */
static void test_integrity_seq0_resends(void **state)
{
	struct ans a[4] = {
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		{ ANS_FRAME, WDP_S_INTEGRITY, 0, NULL, 0, 0 },
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		{ ANS_FRAME, WDP_S_INTEGRITY, 0, NULL, 0, 0 },
	};
	struct chip *c = new_chip(1);
	struct chip_info info;
	struct chip_stats st;

	(void)state;
	script(a, 4);
	assert_int_equal(chip_connect(c, NULL), 0);
	assert_int_equal(chip_status(c, &info), 0);
	chip_get_stats(c, &st);
	assert_int_equal(st.resends, 1);
	assert_int_equal(fk.recs[2].seq, fk.recs[1].seq);
	/* INTEGRITY on every attempt: an I/O error after retries + 1 attempts */
	a[2].kind = ANS_FRAME;
	a[2].status = WDP_S_INTEGRITY;
	a[2].seq = 0;
	script(a + 2, 2);
	assert_int_equal(chip_status(c, &info), WRIT_E_IO);
	assert_contains(chip_last_detail(c), "after 2 attempts");
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* An answer to an earlier request (another seq) is skipped; the right one is taken. */
static void test_stale_seq_skipped(void **state)
{
	static uint8_t stale[256], good[256];
	struct ans a[5] = {
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		/* in one write: a stale STATUS answer (seq 1), then the right one */
		{ ANS_FRAME, 0, 1, stale, 0, 1 },
		{ ANS_FRAME, 0, -1, good, 0, 0 },
		/* a stale answer alone, the right one only after the resend */
		{ ANS_FRAME, 0, 7, stale, 0, 0 },
		{ ANS_FRAME, 0, -1, good, 0, 0 },
	};
	struct chip *c = new_chip(2);
	struct chip_info info;
	struct chip_stats st;

	(void)state;
	a[1].len = a[3].len = build_status(stale, WDP_F_KEYS, 1);
	a[2].len = a[4].len = build_status(good, WDP_F_KEYS | WDP_F_CHAIN, 2);
	script(a, 5);
	assert_int_equal(chip_connect(c, NULL), 0);
	assert_int_equal(chip_status(c, &info), 0);
	assert_int_equal(info.fw_version, 2);
	chip_get_stats(c, &st);
	assert_int_equal(st.resends, 0);
	assert_int_equal(chip_status(c, &info), 0);
	assert_int_equal(info.fw_version, 2);
	assert_int_equal(info.state, WDP_F_KEYS | WDP_F_CHAIN);
	chip_get_stats(c, &st);
	assert_int_equal(st.resends, 1);
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* ---- malformed answers ---- */

static void test_discover_malformed(void **state)
{
	static uint8_t pl[512];
	(void)state;

	for (int v = DV_NO_UID; v < DV_COUNT_; v++) {
		struct ans a[1] = { { ANS_FRAME, 0, -1, pl, 0, 0 } };
		struct chip *c = new_chip(1);
		struct chip_info info;

		a[0].len = build_discover(pl, v, 1, "fam", 0);
		script(a, 1);
		memset(&info, 0x55, sizeof info);
		int rc = chip_connect(c, &info);
		if (rc != WRIT_E_PROTO)
			fail_msg("DISCOVER variant %d: rc %d", v, rc);
		assert_int_equal(chip_last_status(c), WDP_S_MALFORMED);
		assert_contains(chip_last_detail(c), "does not match the protocol");
		assert_int_equal(info.proto, 0x5555);
		chip_close(c);
	}
	assert_int_equal(fk.errors, 0);
}

static void test_status_malformed(void **state)
{
	static uint8_t pl[8][256];
	size_t len[8], o;
	uint8_t st4[4] = { 0, 0, 0, 1 };

	(void)state;
	/* missing FW_VERSION */
	o = 0;
	raw_tlv(pl[0], &o, WDP_T_UID, k_uid, 16);
	raw_u8(pl[0], &o, WDP_T_LIFECYCLE, 0);
	raw_tlv(pl[0], &o, WDP_T_STATE, st4, 4);
	len[0] = o;
	/* LIFECYCLE of 2 bytes */
	o = 0;
	raw_tlv(pl[1], &o, WDP_T_UID, k_uid, 16);
	raw_u16(pl[1], &o, WDP_T_LIFECYCLE, 0);
	raw_tlv(pl[1], &o, WDP_T_STATE, st4, 4);
	raw_u32(pl[1], &o, WDP_T_FW_VERSION, 1);
	len[1] = o;
	/* a DISCOVER-only type (CHIP_FAMILY) inside */
	o = 0;
	raw_tlv(pl[2], &o, WDP_T_UID, k_uid, 16);
	raw_tlv(pl[2], &o, WDP_T_CHIP_FAMILY, "x", 1);
	raw_u8(pl[2], &o, WDP_T_LIFECYCLE, 0);
	raw_tlv(pl[2], &o, WDP_T_STATE, st4, 4);
	raw_u32(pl[2], &o, WDP_T_FW_VERSION, 1);
	len[2] = o;
	/* one trailing byte */
	len[3] = build_status(pl[3], 0, 1);
	pl[3][len[3]++] = 0xf0;
	/* out of order: STATE before LIFECYCLE */
	o = 0;
	raw_tlv(pl[4], &o, WDP_T_UID, k_uid, 16);
	raw_tlv(pl[4], &o, WDP_T_STATE, st4, 4);
	raw_u8(pl[4], &o, WDP_T_LIFECYCLE, 0);
	raw_u32(pl[4], &o, WDP_T_FW_VERSION, 1);
	len[4] = o;
	/* UID of 15 bytes */
	o = 0;
	raw_tlv(pl[5], &o, WDP_T_UID, k_uid, 15);
	raw_u8(pl[5], &o, WDP_T_LIFECYCLE, 0);
	raw_tlv(pl[5], &o, WDP_T_STATE, st4, 4);
	raw_u32(pl[5], &o, WDP_T_FW_VERSION, 1);
	len[5] = o;
	/* empty */
	len[6] = 0;
	/* three bytes: shorter than a TLV header */
	memcpy(pl[7], "\0\2\0", 3);
	len[7] = 3;

	for (size_t v = 0; v < 8; v++) {
		struct ans a[2] = { { ANS_DEFAULT, 0, -1, NULL, 0, 0 },
				    { ANS_FRAME, 0, -1, pl[v], len[v], 0 } };
		struct chip *c = new_chip(1);
		struct chip_info info;

		script(a, 2);
		assert_int_equal(chip_connect(c, NULL), 0);
		int rc = chip_status(c, &info);
		if (rc != WRIT_E_PROTO)
			fail_msg("STATUS variant %zu: rc %d", v, rc);
		assert_int_equal(chip_last_status(c), WDP_S_MALFORMED);
		assert_contains(chip_last_detail(c), "does not match the protocol");
		chip_close(c);
	}
	assert_int_equal(fk.errors, 0);
}

static void test_generate_keys_bounds(void **state)
{
	static uint8_t pl[4][WDP_PAYLOAD_MAX];
	size_t len[4];
	uint8_t *csr = malloc(WDP_CSR_MAX), *bind = malloc(WDP_BINDING_MAX);
	uint8_t pub[WDP_P256_PUB_LEN];
	size_t csr_len = 0, bind_len = 0;

	(void)state;
	assert_non_null(csr);
	assert_non_null(bind);
	len[0] = build_keys(pl[0], WDP_CSR_MAX + 1, WDP_P256_PUB_LEN, 70); /* CSR too long */
	len[1] = build_keys(pl[1], 300, WDP_P256_PUB_LEN - 1, 70);         /* short ENC_PUB */
	len[2] = build_keys(pl[2], 300, WDP_P256_PUB_LEN, WDP_BINDING_MAX + 1);
	len[3] = build_keys(pl[3], 0, WDP_P256_PUB_LEN, 70); /* empty CSR */
	for (size_t v = 0; v < 4; v++) {
		struct ans a[2] = { { ANS_DEFAULT, 0, -1, NULL, 0, 0 },
				    { ANS_FRAME, 0, -1, pl[v], len[v], 0 } };
		struct chip *c = new_chip(1);

		script(a, 2);
		assert_int_equal(chip_connect(c, NULL), 0);
		int rc = chip_generate_keys(c, csr, &csr_len, pub, bind, &bind_len);
		if (rc != WRIT_E_PROTO)
			fail_msg("GENERATE_KEYS variant %zu: rc %d", v, rc);
		assert_int_equal(chip_last_status(c), WDP_S_MALFORMED);
		assert_contains(chip_last_detail(c), "does not match the protocol");
		chip_close(c);
	}
	/* the largest allowed ones fit exactly */
	{
		uint8_t big[WDP_PAYLOAD_MAX];
		struct ans a[2] = { { ANS_DEFAULT, 0, -1, NULL, 0, 0 },
				    { ANS_FRAME, 0, -1, big, 0, 0 } };
		struct chip *c = new_chip(1);

		a[1].len = build_keys(big, WDP_CSR_MAX, WDP_P256_PUB_LEN, WDP_BINDING_MAX);
		script(a, 2);
		assert_int_equal(chip_connect(c, NULL), 0);
		assert_int_equal(chip_generate_keys(c, csr, &csr_len, pub, bind, &bind_len), 0);
		assert_int_equal(csr_len, WDP_CSR_MAX);
		assert_int_equal(bind_len, WDP_BINDING_MAX);
		chip_close(c);
	}
	free(csr);
	free(bind);
	assert_int_equal(fk.errors, 0);
}

static void test_fw_end_version_mismatch(void **state)
{
	static uint8_t img[10000], end_pl[16];
	uint8_t sb[WDP_P256_PUB_LEN] = { 4 }, sig[64] = { 0 };
	size_t o = 0;
	struct chip *c = new_chip(1);

	(void)state;
	raw_u32(end_pl, &o, WDP_T_FW_VERSION, 4);
	fk.ov_cmd = WDP_CMD_FW_END;
	fk.ov = (struct ans){ ANS_FRAME, 0, -1, end_pl, o, 0 };
	assert_int_equal(chip_connect(c, NULL), 0);
	assert_int_equal(chip_firmware(c, 5, sb, img, sizeof img, sig, NULL, NULL), WRIT_E_PROTO);
	assert_contains(chip_last_detail(c), "another firmware version");
	/* FW_END with no TLV at all */
	fk.ov = (struct ans){ ANS_FRAME, 0, -1, NULL, 0, 0 };
	assert_int_equal(chip_firmware(c, 5, sb, img, sizeof img, sig, NULL, NULL), WRIT_E_PROTO);
	assert_int_equal(chip_last_status(c), WDP_S_MALFORMED);
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* ---- sizes ---- */

static void test_answer_larger_than_buffer(void **state)
{
	static uint8_t pl[100];
	struct ans a[3] = {
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		{ ANS_FRAME, 0, -1, pl, sizeof pl, 0 },
		{ ANS_FRAME, 0, -1, pl, 8, 0 },
	};
	struct chip *c = new_chip(1);
	uint8_t *out = malloc(8); /* exactly the cap: ASan sees any overflow */
	size_t n = 12345;

	(void)state;
	memset(pl, 0xab, sizeof pl);
	script(a, 3);
	assert_int_equal(chip_connect(c, NULL), 0);
	assert_int_equal(chip_exchange(c, WDP_CMD_STATUS, NULL, 0, out, 8, &n), WRIT_E_TOOBIG);
	assert_int_equal(n, 12345);
	assert_contains(chip_last_detail(c), "larger than expected");
	/* the link is still usable: the next exchange fits */
	assert_int_equal(chip_exchange(c, WDP_CMD_STATUS, NULL, 0, out, 8, &n), 0);
	assert_int_equal(n, 8);
	free(out);
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

static void test_oversized_header(void **state)
{
	static uint8_t big[64];
	struct ans a[4] = {
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		{ ANS_RAW, 0, -1, big, sizeof big, 0 },
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		{ ANS_RAW, 0, -1, big, sizeof big, 0 },
	};
	struct chip *c = new_chip(1);
	struct chip_info info;
	struct chip_stats st;

	(void)state;
	/* "WD", status 0, seq 2, length 5000, then bytes that are not a frame */
	memset(big, 0xee, sizeof big);
	big[0] = WDP_MAGIC0;
	big[1] = WDP_MAGIC1;
	wdp_put_u16(big + 2, 0);
	wdp_put_u32(big + 4, 2);
	wdp_put_u32(big + 8, WDP_PAYLOAD_MAX + 904);
	script(a, 4);
	assert_int_equal(chip_connect(c, NULL), 0);
	/* first attempt: the oversized header; the resend gets a good answer */
	assert_int_equal(chip_status(c, &info), 0);
	chip_get_stats(c, &st);
	assert_int_equal(st.resends, 1);
	/* only oversized headers: refused, the link given up */
	fk.ov_cmd = WDP_CMD_STATUS;
	fk.ov = a[1];
	assert_int_equal(chip_status(c, &info), WRIT_E_IO);
	assert_contains(chip_last_detail(c), "no valid answer");
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* ---- refusals ---- */

static void test_refusal_detail_sanitized(void **state)
{
	static const char hostile[] = "bad\x01\x1b[2J\n\xc3\xa9nd\x7f";
	static uint8_t pl[256], pl_long[256], pl_max[256];
	size_t o = 0, o2 = 0, o3 = 0;
	char d129[129], d128[128];
	struct ans a[5] = {
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		{ ANS_FRAME, WDP_S_STATE, -1, pl, 0, 0 },
		{ ANS_FRAME, WDP_S_LOCKED, -1, pl_long, 0, 0 },
		{ ANS_FRAME, WDP_S_MISMATCH, -1, pl_max, 0, 0 },
		{ ANS_FRAME, 999, -1, NULL, 0, 0 },
	};
	struct chip *c = new_chip(1);
	struct chip_info info;

	(void)state;
	raw_tlv(pl, &o, WDP_T_DETAIL, hostile, sizeof hostile - 1);
	a[1].len = o;
	memset(d129, 'L', sizeof d129);
	raw_tlv(pl_long, &o2, WDP_T_DETAIL, d129, sizeof d129); /* over WDP_DETAIL_MAX */
	a[2].len = o2;
	memset(d128, 'M', sizeof d128);
	raw_tlv(pl_max, &o3, WDP_T_DETAIL, d128, sizeof d128);
	a[3].len = o3;
	script(a, 5);
	assert_int_equal(chip_connect(c, NULL), 0);

	assert_int_equal(chip_status(c, &info), WRIT_E_STATE);
	assert_int_equal(chip_last_status(c), WDP_S_STATE);
	assert_printable(chip_last_detail(c));
	assert_string_equal(chip_last_detail(c), "chip refused: STATE: bad??[2J???nd?");

	/* a DETAIL over its bound is dropped, the status still named */
	assert_int_equal(chip_status(c, &info), WRIT_E_STATE);
	assert_int_equal(chip_last_status(c), WDP_S_LOCKED);
	assert_string_equal(chip_last_detail(c), "chip refused: LOCKED");

	assert_int_equal(chip_status(c, &info), WRIT_E_SCOPE);
	assert_int_equal(strlen(chip_last_detail(c)), strlen("chip refused: MISMATCH: ") + 128);

	/* a status no version of the protocol has */
	assert_int_equal(chip_status(c, &info), WRIT_E_PROTO);
	assert_int_equal(chip_last_status(c), 999);
	assert_string_equal(chip_last_detail(c), "chip refused: UNKNOWN");
	assert_true(chip_connected(c));
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* ---- the link ---- */

static void test_peer_closes_mid_frame(void **state)
{
	static uint8_t pl[256];
	struct ans a[2] = {
		{ ANS_DEFAULT, 0, -1, NULL, 0, 0 },
		{ ANS_HALF_CLOSE, 0, -1, pl, 0, 0 },
	};
	struct chip *c = new_chip(2);
	struct chip_info info;

	(void)state;
	a[1].len = build_status(pl, 0, 0);
	script(a, 2);
	assert_int_equal(chip_connect(c, NULL), 0);
	assert_int_equal(chip_status(c, &info), WRIT_E_IO);
	assert_int_equal(chip_last_status(c), 0);
	assert_contains(chip_last_detail(c), "lost");
	assert_false(chip_connected(c));
	/* reconnecting starts a new session */
	assert_int_equal(chip_connect(c, &info), 0);
	assert_int_equal(chip_status(c, &info), 0);
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* The chip went away between two requests: the next write must fail with an error, not
 * kill the station with SIGPIPE. */
static void test_peer_gone_before_request(void **state)
{
	struct ans a[2] = {
		{ ANS_DEFAULT, 0, -1, NULL, 0, 1 },
		{ ANS_CLOSE, 0, -1, NULL, 0, 0 },
	};
	struct chip *c = new_chip(1);
	struct chip_info info;

	(void)state;
	script(a, 2);
	assert_int_equal(chip_connect(c, NULL), 0);
	/* wait until the fake has closed its end */
	for (int i = 0; i < 400 && fake_closes() == 0; i++)
		usleep(5000);
	assert_int_equal(fake_closes(), 1);
	assert_int_equal(chip_status(c, &info), WRIT_E_IO);
	assert_contains(chip_last_detail(c), "lost");
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

/* ---- firmware ---- */

struct progress_log {
	size_t calls, last_done, total;
	int monotonic;
};

static void on_progress(void *ctx, size_t done, size_t total)
{
	struct progress_log *p = ctx;
	if (done <= p->last_done)
		p->monotonic = 0;
	p->calls++;
	p->last_done = done;
	p->total = total;
}

/* A chip with a smaller payload limit gets smaller chunks (limit - 12 bytes of TLV
 * headers); one too small for any chunk is refused before FW_BEGIN. */
static void test_firmware_small_payload(void **state)
{
	const size_t len = 10000;
	uint8_t *img = malloc(len);
	uint8_t sb[WDP_P256_PUB_LEN] = { 4 }, sig[64] = { 1 };
	struct chip *c;
	size_t before;

	(void)state;
	assert_non_null(img);
	for (size_t i = 0; i < len; i++)
		img[i] = (uint8_t)(i * 7u);
	fk.fw_image = img;
	fk.fw_len = len;
	fk.max_payload = 1024;
	c = new_chip(1);
	assert_int_equal(chip_connect(c, NULL), 0);
	assert_int_equal(chip_firmware(c, 9, sb, img, len, sig, NULL, NULL), 0);
	/* DISCOVER, FW_BEGIN, 10 chunks of 1012 (the last 892), FW_END */
	assert_int_equal(n_recs(), 2 + 10 + 1);
	for (size_t i = 2; i < 12; i++) {
		assert_int_equal(fk.recs[i].code, WDP_CMD_FW_CHUNK);
		assert_int_equal(fk.recs[i].fw_off, (i - 2) * 1012);
		assert_int_equal(fk.recs[i].fw_n, i < 11 ? 1012 : len - 9 * 1012);
		assert_true(fk.recs[i].fw_data_ok);
	}
	chip_close(c);
	fk.max_payload = 12;
	c = new_chip(1);
	assert_int_equal(chip_connect(c, NULL), 0);
	before = n_recs();
	assert_int_equal(chip_firmware(c, 9, sb, img, len, sig, NULL, NULL), WRIT_E_UNSUPPORTED);
	assert_int_equal(n_recs(), before); /* nothing sent */
	chip_close(c);
	fk.max_payload = 0;
	free(img);
}

static void test_firmware_chunking(void **state)
{
	const size_t len = 1u << 20;
	uint8_t *img = malloc(len);
	uint8_t sb[WDP_P256_PUB_LEN] = { 4 }, sig[64] = { 1 };
	struct progress_log pg = { 0, 0, 0, 1 };
	struct chip *c = new_chip(1);
	size_t chunks = 0, expect = (len + WDP_FW_CHUNK_MAX - 1) / WDP_FW_CHUNK_MAX;

	(void)state;
	assert_non_null(img);
	for (size_t i = 0; i < len; i++)
		img[i] = (uint8_t)(i * 131u + (i >> 12));
	fk.fw_image = img;
	fk.fw_len = len;
	assert_int_equal(chip_connect(c, NULL), 0);
	assert_int_equal(chip_firmware(c, 9, sb, img, len, sig, on_progress, &pg), 0);
	assert_int_equal(n_recs(), 1 + 1 + expect + 1);
	assert_int_equal(fk.recs[1].code, WDP_CMD_FW_BEGIN);
	for (size_t i = 2; i < n_recs() - 1; i++) {
		const struct rec *r = &fk.recs[i];
		assert_int_equal(r->code, WDP_CMD_FW_CHUNK);
		assert_int_equal(r->fw_off, chunks * WDP_FW_CHUNK_MAX);
		assert_int_equal(r->fw_n, i + 2 < n_recs() ? WDP_FW_CHUNK_MAX
							   : len - (expect - 1) * WDP_FW_CHUNK_MAX);
		assert_true(r->fw_data_ok);
		assert_int_equal(r->seq, fk.recs[i - 1].seq + 1);
		chunks++;
	}
	assert_int_equal(chunks, expect);
	assert_int_equal(fk.recs[n_recs() - 1].code, WDP_CMD_FW_END);
	assert_int_equal(pg.calls, expect);
	assert_int_equal(pg.last_done, len);
	assert_int_equal(pg.total, len);
	assert_true(pg.monotonic);

	/* a refusal of the third chunk stops the transfer: no fourth chunk, no FW_END */
	{
		static uint8_t d[64];
		size_t o = 0, before;
		struct progress_log pg2 = { 0, 0, 0, 1 };
		raw_tlv(d, &o, WDP_T_DETAIL, "offset 8000 out of order", 24);
		fk.ov_cmd = WDP_CMD_FW_CHUNK;
		fk.ov_nth = (unsigned)expect + 3;
		fk.ov = (struct ans){ ANS_FRAME, WDP_S_SEQUENCE, -1, d, o, 0 };
		before = n_recs();
		assert_int_equal(chip_firmware(c, 9, sb, img, len, sig, on_progress, &pg2),
				 WRIT_E_PROTO);
		assert_int_equal(chip_last_status(c), WDP_S_SEQUENCE);
		assert_string_equal(chip_last_detail(c),
				    "chip refused: SEQUENCE: offset 8000 out of order");
		assert_int_equal(pg2.calls, 2);
		assert_int_equal(pg2.last_done, 2 * WDP_FW_CHUNK_MAX);
		assert_int_equal(n_recs(), before + 4); /* BEGIN + 3 chunks */
		assert_int_equal(fk.recs[n_recs() - 1].code, WDP_CMD_FW_CHUNK);
		assert_int_equal(fk.recs[n_recs() - 1].fw_off, 8000);
	}
	/* a refused FW_BEGIN sends no chunk; bad sizes are refused before any I/O */
	{
		size_t before = n_recs();
		fk.ov_cmd = WDP_CMD_FW_BEGIN;
		fk.ov_nth = 0;
		fk.ov = (struct ans){ ANS_FRAME, WDP_S_ROLLBACK, -1, NULL, 0, 0 };
		assert_int_equal(chip_firmware(c, 1, sb, img, len, sig, NULL, NULL), WRIT_E_REPLAY);
		assert_int_equal(n_recs(), before + 1);
		assert_int_equal(chip_firmware(c, 1, sb, img, 0, sig, NULL, NULL), WRIT_E_TOOBIG);
		assert_int_equal(chip_firmware(c, 1, sb, img, WDP_FW_MAX + 1, sig, NULL, NULL),
				 WRIT_E_TOOBIG);
		assert_int_equal(n_recs(), before + 1);
	}
	chip_close(c);
	free(img);
	assert_int_equal(fk.errors, 0);
}

/* ---- chip_provision with a fake HSM ---- */

struct hsm_fake {
	unsigned dac_calls, wrap_calls, fd_calls, steps;
	const char *last_step;
};

static void h_step(void *ctx, const char *name)
{
	struct hsm_fake *h = ctx;
	h->steps++;
	h->last_step = name;
}

static int h_issue_dac(void *ctx, const uint8_t uid[WDP_UID_LEN], const uint8_t *csr,
		       size_t csr_len, struct chip_dac *ret, char *errbuf, size_t errcap)
{
	struct hsm_fake *h = ctx;
	(void)uid;
	(void)csr;
	(void)errbuf;
	(void)errcap;
	h->dac_calls++;
	memset(ret, 0, sizeof *ret);
	ret->dac_len = 400;
	memset(ret->dac, 0x30, ret->dac_len);
	ret->pai_len = 420;
	memset(ret->pai, 0x31, ret->pai_len);
	ret->serial = 1000 + csr_len;
	return 0;
}

static int h_wrap(void *ctx, const uint8_t uid[WDP_UID_LEN], const struct chip_dac *dac,
		  const uint8_t enc_pub[WDP_P256_PUB_LEN], const uint8_t *binding,
		  size_t binding_len, const char *label, uint8_t *out, size_t cap,
		  size_t *ret_len, char *errbuf, size_t errcap)
{
	struct hsm_fake *h = ctx;
	(void)uid;
	(void)dac;
	(void)enc_pub;
	(void)binding;
	(void)binding_len;
	(void)label;
	(void)errbuf;
	(void)errcap;
	h->wrap_calls++;
	if (cap < WDP_WRAP_OVERHEAD + 32)
		return WRIT_E_TOOBIG;
	memset(out, 0x42, WDP_WRAP_OVERHEAD + 32);
	*ret_len = WDP_WRAP_OVERHEAD + 32;
	return 0;
}

static int h_factory(void *ctx, const uint8_t uid[WDP_UID_LEN], const struct chip_dac *dac,
		     uint8_t *out, size_t cap, size_t *ret_len, char *errbuf, size_t errcap)
{
	struct hsm_fake *h = ctx;
	(void)uid;
	(void)dac;
	(void)errbuf;
	(void)errcap;
	h->fd_calls++;
	if (cap < 100)
		return WRIT_E_TOOBIG;
	memset(out, 0x57, 100);
	*ret_len = 100;
	return 0;
}

static void prov_setup(struct chip_recipe *r, struct chip_hsm_ops *ops, struct hsm_fake *h,
		       const uint8_t *fw, size_t fw_len)
{
	memset(r, 0, sizeof *r);
	memset(h, 0, sizeof *h);
	memset(ops, 0, sizeof *ops);
	r->fw_version = 3;
	r->fw = fw;
	r->fw_len = fw_len;
	r->secret_labels[0] = "ota-key";
	r->n_secrets = 1;
	r->lock = 1;
	r->reconnects = 2;
	ops->ctx = h;
	ops->issue_dac = h_issue_dac;
	ops->wrap_secret = h_wrap;
	ops->factory_data = h_factory;
	ops->step = h_step;
}

static void test_provision_flow_and_resume(void **state)
{
	static uint8_t fw[9000];
	struct chip_recipe r;
	struct chip_hsm_ops ops;
	struct hsm_fake h;
	struct chip_result res;
	struct chip *c = new_chip(1);

	(void)state;
	prov_setup(&r, &ops, &h, fw, sizeof fw);
	/* the link drops when STORE_FACTORY_DATA arrives: reconnect, STATUS says keys +
	 * chain, and only what is missing is done; the DAC is not asked for twice */
	fk.drop_cmd = WDP_CMD_STORE_FACTORY_DATA;
	assert_int_equal(chip_provision(c, &r, &ops, &res, NULL, NULL), 0);
	assert_string_equal(res.err, "");
	assert_null(res.failed_step);
	assert_string_equal(h.last_step, "lock");
	assert_int_equal(res.reconnects, 1);
	assert_int_equal(res.dac_issued, 1);
	assert_int_equal(h.dac_calls, 1);
	assert_int_equal(h.fd_calls, 2);
	assert_int_equal(h.wrap_calls, 1);
	assert_memory_equal(res.uid, k_uid, 16);
	assert_true(fk.state & WDP_F_LOCKED);
	/* GENERATE_KEYS and STORE_CHAIN once, GET_ENC_KEY never (the key was kept) */
	assert_int_equal(nth_of(WDP_CMD_GENERATE_KEYS), 1);
	assert_int_equal(nth_of(WDP_CMD_STORE_CHAIN), 1);
	assert_int_equal(nth_of(WDP_CMD_GET_ENC_KEY), 0);
	assert_int_equal(nth_of(WDP_CMD_FW_CHUNK), 3);
	assert_int_equal(nth_of(WDP_CMD_LOCK), 1);
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

static void test_provision_refusals(void **state)
{
	struct chip_recipe r;
	struct chip_hsm_ops ops;
	struct hsm_fake h;
	struct chip_result res;
	struct chip *c = new_chip(1);

	(void)state;
	prov_setup(&r, &ops, &h, NULL, 0);
	/* a chain from an earlier run this station does not know */
	fk.state = WDP_F_KEYS | WDP_F_CHAIN | WDP_F_DEBUG;
	assert_int_equal(chip_provision(c, &r, &ops, &res, NULL, NULL), WRIT_E_STATE);
	assert_contains(res.err, "holds a certificate chain from an earlier run");
	assert_int_equal(h.dac_calls, 0);
	/* locked before we started */
	fk.state = WDP_F_KEYS | WDP_F_CHAIN | WDP_F_LOCKED;
	assert_int_equal(chip_provision(c, &r, &ops, &res, NULL, NULL), WRIT_E_EXISTS);
	assert_contains(res.err, "already provisioned and locked");
	assert_int_equal(h.dac_calls, 0);
	/* only DISCOVER and STATUS ever reached the chip */
	for (size_t i = 0; i < n_recs(); i++)
		assert_true(fk.recs[i].code == WDP_CMD_DISCOVER || fk.recs[i].code == WDP_CMD_STATUS);
	/* a chip refusing GENERATE_KEYS: the refusal reaches res.err with its step */
	{
		static uint8_t d[32];
		size_t o = 0;
		raw_tlv(d, &o, WDP_T_DETAIL, "RNG health test", 15);
		fk.state = WDP_F_DEBUG;
		fk.ov_cmd = WDP_CMD_GENERATE_KEYS;
		fk.ov = (struct ans){ ANS_FRAME, WDP_S_RNG, -1, d, o, 0 };
		assert_int_equal(chip_provision(c, &r, &ops, &res, NULL, NULL), WRIT_E_CRYPTO);
		assert_string_equal(res.err, "generate keys: chip refused: RNG: RNG health test");
		assert_string_equal(res.failed_step, "keys");
	}
	chip_close(c);
	assert_int_equal(fk.errors, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fake_start, fake_stop)
		T(test_discover_ok),
		T(test_discover_wrong_version),
		T(test_discover_family_sanitized),
		T(test_discover_garbage_times_out),
		T(test_bad_crc_then_good),
		T(test_integrity_seq0_resends),
		T(test_stale_seq_skipped),
		T(test_discover_malformed),
		T(test_status_malformed),
		T(test_generate_keys_bounds),
		T(test_fw_end_version_mismatch),
		T(test_answer_larger_than_buffer),
		T(test_oversized_header),
		T(test_refusal_detail_sanitized),
		T(test_peer_closes_mid_frame),
		T(test_peer_gone_before_request),
		T(test_firmware_chunking),
		T(test_firmware_small_payload),
		T(test_provision_flow_and_resume),
		T(test_provision_refusals),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
