/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chip driver: transports (Unix socket, TCP, serial line), request numbering and
 * retransmission, and one function per device-protocol command. See chip.h and
 * docs/device-protocol.md.
 */
#include "chip/chip.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define ADDR_MAX 256

struct chip {
	char addr[ADDR_MAX];
	int fd;
	int is_sock; /* send with MSG_NOSIGNAL: a chip that went away must not kill us */
	uint32_t seq;
	uint32_t max_payload; /* from DISCOVER: the chip's frame payload limit */
	struct chip_opts opts;
	unsigned last_status;
	char detail[512];
	struct chip_stats stats;
	struct wdp_rx rx;
	uint8_t tx[WDP_FRAME_MAX];
	uint8_t pl[WDP_PAYLOAD_MAX];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_detail(struct chip *c, unsigned status, const char *msg)
{
	size_t n = strlen(msg);

	c->last_status = status;
	if (n >= sizeof c->detail)
		n = sizeof c->detail - 1;
	memcpy(c->detail, msg, n);
	c->detail[n] = '\0';
}

int chip_connected(const struct chip *c)
{
	return c->fd >= 0;
}

unsigned chip_last_status(const struct chip *c)
{
	return c->last_status;
}

const char *chip_last_detail(const struct chip *c)
{
	return c->detail;
}

const char *chip_addr(const struct chip *c)
{
	return c->addr;
}

void chip_get_stats(const struct chip *c, struct chip_stats *ret)
{
	*ret = c->stats;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int connect_tcp(const char *hostport)
{
	char host[ADDR_MAX];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints, *ai = NULL;
	int fd, e;

	if (!colon || (size_t)(colon - hostport) >= sizeof host || colon == hostport)
		return -EINVAL;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		freeaddrinfo(ai);
		return -e;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		e = errno;
		freeaddrinfo(ai);
		close(fd);
		return -e;
	}
	freeaddrinfo(ai);
	return fd;
}

static int open_tty(const char *path)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(fd, TCSANOW, &t) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	return fd;
}

static int link_open(struct chip *c)
{
	int fd;

	if (strncmp(c->addr, "unix:", 5) == 0)
		fd = connect_unix(c->addr + 5);
	else if (strncmp(c->addr, "tcp:", 4) == 0)
		fd = connect_tcp(c->addr + 4);
	else if (strncmp(c->addr, "tty:", 4) == 0 || strncmp(c->addr, "pty:", 4) == 0)
		fd = open_tty(c->addr + 4);
	else {
		set_detail(c, 0, "unknown address form: use unix:PATH, tcp:HOST:PORT or tty:PATH");
		return WRIT_E_INVAL;
	}
	if (fd < 0) {
		char msg[ADDR_MAX + 80];
		snprintf(msg, sizeof msg, "cannot reach the chip at %s: %s", c->addr, strerror(-fd));
		set_detail(c, 0, msg);
		return WRIT_E_IO;
	}
	c->fd = fd;
	c->is_sock = strncmp(c->addr, "unix:", 5) == 0 || strncmp(c->addr, "tcp:", 4) == 0;
	wdp_rx_init(&c->rx);
	return 0;
}

static void link_close(struct chip *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int write_all(int fd, int is_sock, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = is_sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				(void)poll(&pfd, 1, 1000);
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Wait for the answer to seq. Returns 1 with *f set, 0 on timeout or a corrupted
 * answer (resend), negative on a dead link. */
static int read_answer(struct chip *c, uint32_t seq, struct wdp_frame *f)
{
	double deadline = now_s() + c->opts.timeout_ms / 1000.0;
	uint8_t buf[2048];

	for (;;) {
		double left = deadline - now_s();
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t r;
		int pr;

		if (left <= 0)
			return 0;
		pr = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pr == 0)
			return 0;
		r = read(c->fd, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		size_t off = 0;
		while (off < (size_t)r) {
			size_t used = 0;
			int ev = wdp_rx_feed(&c->rx, buf + off, (size_t)r - off, &used, f);
			off += used;
			if (ev == WDP_RX_FRAME) {
				/* The chip could not read our frame: it answers INTEGRITY with seq 0. */
				if (f->code == WDP_S_INTEGRITY && f->seq == 0)
					return 0;
				if (f->seq == seq)
					return 1; /* bytes after it belong to nothing we asked */
				/* an answer to an earlier resend: ignore it */
			} else if (ev == WDP_RX_INTEGRITY || ev == WDP_RX_TOO_BIG) {
				return 0;
			}
		}
	}
}

int chip_exchange(struct chip *c, uint16_t command, const uint8_t *payload, size_t len,
		  uint8_t *payload_out, size_t cap, size_t *ret_payload_len)
{
	size_t flen;
	struct wdp_frame f;
	double t0 = now_s();
	int rc = 0;

	if (c->fd < 0) {
		set_detail(c, 0, "not connected");
		return WRIT_E_IO;
	}
	if (command == WDP_CMD_DISCOVER)
		c->seq = 1;
	else
		c->seq++;
	if (wdp_frame_encode(command, c->seq, payload, len, c->tx, sizeof c->tx, &flen) != 0) {
		set_detail(c, 0, "request too large for one frame");
		return WRIT_E_TOOBIG;
	}
	for (int attempt = 0; attempt <= c->opts.retries; attempt++) {
		if (attempt > 0)
			c->stats.resends++;
		rc = write_all(c->fd, c->is_sock, c->tx, flen);
		if (rc < 0)
			break;
		rc = read_answer(c, c->seq, &f);
		if (rc == 1) {
			c->stats.exchanges++;
			c->stats.wait_s += now_s() - t0;
			if (f.len > cap) {
				set_detail(c, 0, "answer larger than expected");
				return WRIT_E_TOOBIG;
			}
			memcpy(payload_out, f.payload, f.len);
			*ret_payload_len = f.len;
			c->last_status = f.code;
			c->detail[0] = '\0';
			return f.code;
		}
		if (rc < 0)
			break;
	}
	c->stats.wait_s += now_s() - t0;
	{
		char msg[ADDR_MAX + 96];
		if (rc < 0)
			snprintf(msg, sizeof msg, "link to %s lost: %s; reconnect and resume", c->addr,
				 strerror(-rc));
		else
			snprintf(msg, sizeof msg, "no valid answer from %s after %d attempts; check the cable/port",
				 c->addr, c->opts.retries + 1);
		set_detail(c, 0, msg);
	}
	link_close(c);
	return WRIT_E_IO;
}

/* Map a chip's refusal to our error space, keeping status + detail for the message. */
static int refused(struct chip *c, unsigned status, const uint8_t *pl, size_t n)
{
	static const struct wdp_tlv_spec spec[] = { { WDP_T_DETAIL, 0, WDP_DETAIL_MAX, 0 } };
	struct wdp_tlv t[1];
	char d[WDP_DETAIL_MAX + 1] = "";

	if (wdp_tlv_parse(pl, n, spec, 1, t) == 0 && t[0].value) {
		for (size_t i = 0; i < t[0].len; i++)
			d[i] = (t[0].value[i] >= 0x20 && t[0].value[i] < 0x7f) ? (char)t[0].value[i] : '?';
		d[t[0].len] = '\0';
	}
	c->last_status = status;
	snprintf(c->detail, sizeof c->detail, "chip refused: %s%s%s", wdp_status_name(status),
		 d[0] ? ": " : "", d);
	switch (status) {
	case WDP_S_STATE:
	case WDP_S_LOCKED:
		return WRIT_E_STATE;
	case WDP_S_VERIFY:
		return WRIT_E_BADSIG;
	case WDP_S_MISMATCH:
		return WRIT_E_SCOPE;
	case WDP_S_DECRYPT:
		return WRIT_E_DECRYPT;
	case WDP_S_OTP:
		return WRIT_E_EXISTS;
	case WDP_S_ROLLBACK:
		return WRIT_E_REPLAY;
	case WDP_S_DENIED:
		return WRIT_E_SCOPE;
	case WDP_S_EXPIRED:
		return WRIT_E_EXPIRED;
	case WDP_S_STORAGE:
		return WRIT_E_IO;
	case WDP_S_RNG:
	case WDP_S_CRYPTO:
		return WRIT_E_CRYPTO;
	case WDP_S_TOO_BIG:
		return WRIT_E_TOOBIG;
	default:
		return WRIT_E_PROTO;
	}
}

/* Send a request, expect OK, parse the answer against spec. */
static int call(struct chip *c, uint16_t cmd, const uint8_t *req, size_t req_len,
		const struct wdp_tlv_spec *spec, size_t n_spec, struct wdp_tlv *ret)
{
	size_t n = 0;
	int st = chip_exchange(c, cmd, req, req_len, c->pl, sizeof c->pl, &n);

	if (st < 0)
		return st;
	if (st != WDP_S_OK)
		return refused(c, (unsigned)st, c->pl, n);
	if (wdp_tlv_parse(c->pl, n, spec, n_spec, ret) != 0) {
		set_detail(c, WDP_S_MALFORMED, "the chip's answer does not match the protocol");
		return WRIT_E_PROTO;
	}
	return 0;
}

static int discover(struct chip *c, struct chip_info *ret)
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_PROTO_VERSION, 2, 2, 1 }, { WDP_T_UID, 16, 16, 1 },
		{ WDP_T_CHIP_FAMILY, 1, 32, 1 },  { WDP_T_LIFECYCLE, 1, 1, 1 },
		{ WDP_T_MAX_PAYLOAD, 4, 4, 1 },   { WDP_T_STATE, 4, 4, 1 },
	};
	struct wdp_tlv t[6];
	struct chip_info info;
	int rc = call(c, WDP_CMD_DISCOVER, NULL, 0, spec, 6, t);

	if (rc < 0)
		return rc;
	memset(&info, 0, sizeof info);
	info.proto = wdp_get_u16(t[0].value);
	memcpy(info.uid, t[1].value, WDP_UID_LEN);
	/* Peer-controlled text that ends up on a terminal and in records: printable ASCII
	 * only, like DETAIL (an escape sequence or a NUL must not pass). */
	for (size_t i = 0; i < t[2].len; i++)
		info.family[i] = (t[2].value[i] >= 0x20 && t[2].value[i] < 0x7f) ? (char)t[2].value[i] : '?';
	info.lifecycle = t[3].value[0];
	info.max_payload = wdp_get_u32(t[4].value);
	info.state = wdp_get_u32(t[5].value);
	c->max_payload = info.max_payload;
	if (info.proto != WDP_PROTO_VERSION) {
		set_detail(c, 0, "the chip speaks another protocol version");
		return WRIT_E_UNSUPPORTED;
	}
	if (ret)
		*ret = info;
	return 0;
}

int chip_new(const char *addr, const struct chip_opts *opts, struct chip **ret)
{
	struct chip *c;

	if (!addr || strlen(addr) >= ADDR_MAX)
		return WRIT_E_INVAL;
	c = calloc(1, sizeof *c);
	if (!c)
		return WRIT_E_NOMEM;
	memcpy(c->addr, addr, strlen(addr) + 1);
	c->fd = -1;
	c->opts.timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
	c->opts.retries = opts && opts->retries >= 0 ? opts->retries : 3;
	*ret = c;
	return 0;
}

int chip_connect(struct chip *c, struct chip_info *ret_info)
{
	int rc;

	link_close(c);
	rc = link_open(c);
	if (rc < 0)
		return rc;
	return discover(c, ret_info);
}

void chip_close(struct chip *c)
{
	if (!c)
		return;
	link_close(c);
	free(c);
}

int chip_status(struct chip *c, struct chip_info *ret)
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_UID, 16, 16, 1 },
		{ WDP_T_LIFECYCLE, 1, 1, 1 },
		{ WDP_T_STATE, 4, 4, 1 },
		{ WDP_T_FW_VERSION, 4, 4, 1 },
		/* secure debug: optional, a chip without it leaves them out */
		{ WDP_T_DEBUG_PERMS, WDP_DBG_PERMS_LEN, WDP_DBG_PERMS_LEN, 0 },
		{ WDP_T_DEBUG_SECONDS, 4, 4, 0 },
		{ WDP_T_DEBUG_KEY_GEN, 4, 4, 0 },
	};
	struct wdp_tlv t[7];
	int rc = call(c, WDP_CMD_STATUS, NULL, 0, spec, 7, t);

	if (rc < 0)
		return rc;
	memset(ret, 0, sizeof *ret);
	ret->proto = WDP_PROTO_VERSION;
	memcpy(ret->uid, t[0].value, WDP_UID_LEN);
	ret->lifecycle = t[1].value[0];
	ret->state = wdp_get_u32(t[2].value);
	ret->fw_version = wdp_get_u32(t[3].value);
	if (t[4].value)
		memcpy(ret->debug_perms, t[4].value, WDP_DBG_PERMS_LEN);
	if (t[5].value)
		ret->debug_seconds = wdp_get_u32(t[5].value);
	if (t[6].value)
		ret->debug_key_gen = wdp_get_u32(t[6].value);
	return 0;
}

static int enc_key_answer(const struct wdp_tlv *pub, const struct wdp_tlv *bind,
			  uint8_t enc_pub[WDP_P256_PUB_LEN], uint8_t *binding, size_t *binding_len)
{
	memcpy(enc_pub, pub->value, WDP_P256_PUB_LEN);
	memcpy(binding, bind->value, bind->len);
	*binding_len = bind->len;
	return 0;
}

static int csr_call(struct chip *c, uint16_t command, uint8_t *csr, size_t *csr_len,
		    uint8_t enc_pub[WDP_P256_PUB_LEN], uint8_t *binding, size_t *binding_len)
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_CSR, 1, WDP_CSR_MAX, 1 },
		{ WDP_T_ENC_PUB, WDP_P256_PUB_LEN, WDP_P256_PUB_LEN, 1 },
		{ WDP_T_ENC_BINDING, 8, WDP_BINDING_MAX, 1 },
	};
	struct wdp_tlv t[3];
	int rc = call(c, command, NULL, 0, spec, 3, t);

	if (rc < 0)
		return rc;
	memcpy(csr, t[0].value, t[0].len);
	*csr_len = t[0].len;
	return enc_key_answer(&t[1], &t[2], enc_pub, binding, binding_len);
}

int chip_generate_keys(struct chip *c, uint8_t *csr, size_t *csr_len, uint8_t enc_pub[WDP_P256_PUB_LEN],
		       uint8_t *binding, size_t *binding_len)
{
	return csr_call(c, WDP_CMD_GENERATE_KEYS, csr, csr_len, enc_pub, binding, binding_len);
}

int chip_get_csr(struct chip *c, uint8_t *csr, size_t *csr_len, uint8_t enc_pub[WDP_P256_PUB_LEN],
		 uint8_t *binding, size_t *binding_len)
{
	return csr_call(c, WDP_CMD_GET_CSR, csr, csr_len, enc_pub, binding, binding_len);
}

int chip_get_chain(struct chip *c, uint8_t *dac, size_t *dac_len, uint8_t *pai, size_t *pai_len)
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_DAC, 1, WDP_CERT_MAX, 1 },
		{ WDP_T_PAI, 1, WDP_CERT_MAX, 1 },
	};
	struct wdp_tlv t[2];
	int rc = call(c, WDP_CMD_GET_CHAIN, NULL, 0, spec, 2, t);

	if (rc < 0)
		return rc;
	memcpy(dac, t[0].value, t[0].len);
	*dac_len = t[0].len;
	memcpy(pai, t[1].value, t[1].len);
	*pai_len = t[1].len;
	return 0;
}

int chip_get_enc_key(struct chip *c, uint8_t enc_pub[WDP_P256_PUB_LEN], uint8_t *binding,
		     size_t *binding_len)
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_ENC_PUB, WDP_P256_PUB_LEN, WDP_P256_PUB_LEN, 1 },
		{ WDP_T_ENC_BINDING, 8, WDP_BINDING_MAX, 1 },
	};
	struct wdp_tlv t[2];
	int rc = call(c, WDP_CMD_GET_ENC_KEY, NULL, 0, spec, 2, t);

	if (rc < 0)
		return rc;
	return enc_key_answer(&t[0], &t[1], enc_pub, binding, binding_len);
}

/* Build the request in a local buffer (c->pl receives answers). */
#define REQ_BEGIN(w, buf) struct wdp_tlv_writer w; uint8_t buf[WDP_PAYLOAD_MAX]; size_t buf##_len; \
	wdp_tlv_init(&w, buf, sizeof buf)
#define REQ_END(w, buf)                                        \
	do {                                                   \
		if (wdp_tlv_finish(&w, &buf##_len) != 0) {         \
			set_detail(c, 0, "request too large");       \
			return WRIT_E_TOOBIG;                      \
		}                                              \
	} while (0)

int chip_store_chain(struct chip *c, const uint8_t *dac, size_t dac_len, const uint8_t *pai,
		     size_t pai_len)
{
	REQ_BEGIN(w, req);
	struct wdp_tlv none[1];

	wdp_tlv_put(&w, WDP_T_DAC, dac, dac_len);
	wdp_tlv_put(&w, WDP_T_PAI, pai, pai_len);
	REQ_END(w, req);
	return call(c, WDP_CMD_STORE_CHAIN, req, req_len, NULL, 0, none);
}

int chip_store_factory_data(struct chip *c, const uint8_t *blob, size_t len)
{
	REQ_BEGIN(w, req);
	struct wdp_tlv none[1];

	wdp_tlv_put(&w, WDP_T_FACTORY_DATA, blob, len);
	REQ_END(w, req);
	return call(c, WDP_CMD_STORE_FACTORY_DATA, req, req_len, NULL, 0, none);
}

int chip_store_secret(struct chip *c, const char *label, const uint8_t *wrapped, size_t len)
{
	REQ_BEGIN(w, req);
	struct wdp_tlv none[1];

	wdp_tlv_put(&w, WDP_T_SECRET_LABEL, label, strlen(label));
	wdp_tlv_put(&w, WDP_T_WRAPPED, wrapped, len);
	REQ_END(w, req);
	return call(c, WDP_CMD_STORE_SECRET, req, req_len, NULL, 0, none);
}

int chip_burn_otp(struct chip *c, const uint8_t sb_key_hash[32], const uint8_t debug_root_hash[32])
{
	REQ_BEGIN(w, req);
	struct wdp_tlv none[1];

	wdp_tlv_put(&w, WDP_T_SB_KEY_HASH, sb_key_hash, 32);
	wdp_tlv_put(&w, WDP_T_DEBUG_ROOT_HASH, debug_root_hash, 32);
	REQ_END(w, req);
	return call(c, WDP_CMD_BURN_OTP, req, req_len, NULL, 0, none);
}

int chip_firmware(struct chip *c, uint32_t version, const uint8_t sb_pub[WDP_P256_PUB_LEN],
		  const uint8_t *image, size_t len, const uint8_t sig[64], chip_progress_fn progress,
		  void *progress_ctx)
{
	static const struct wdp_tlv_spec end_spec[] = { { WDP_T_FW_VERSION, 4, 4, 1 } };
	struct wdp_tlv none[1], t[1];
	size_t off = 0;
	int rc;

	if (len == 0 || len > WDP_FW_MAX) {
		set_detail(c, 0, "firmware image size out of range (1 byte .. 4 MiB)");
		return WRIT_E_TOOBIG;
	}
	/* A chunk fills the chip's payload limit (from DISCOVER): FW_OFFSET takes 8 bytes and
	 * FW_DATA's header 4. Decided before FW_BEGIN, so no transfer starts that cannot end. */
	size_t chunk_max = WDP_FW_CHUNK_MAX;
	if (c->max_payload != 0 && (size_t)c->max_payload < chunk_max + 12)
		chunk_max = c->max_payload > 12 ? (size_t)c->max_payload - 12 : 0;
	if (chunk_max == 0) {
		set_detail(c, 0, "the chip's payload limit is too small for firmware chunks");
		return WRIT_E_UNSUPPORTED;
	}
	{
		REQ_BEGIN(w, req);
		wdp_tlv_put_u32(&w, WDP_T_FW_VERSION, version);
		wdp_tlv_put_u32(&w, WDP_T_FW_SIZE, (uint32_t)len);
		wdp_tlv_put(&w, WDP_T_SB_PUBKEY, sb_pub, WDP_P256_PUB_LEN);
		REQ_END(w, req);
		rc = call(c, WDP_CMD_FW_BEGIN, req, req_len, NULL, 0, none);
		if (rc < 0)
			return rc;
	}
	while (off < len) {
		size_t n = len - off < chunk_max ? len - off : chunk_max;
		REQ_BEGIN(w, req);
		wdp_tlv_put_u32(&w, WDP_T_FW_OFFSET, (uint32_t)off);
		wdp_tlv_put(&w, WDP_T_FW_DATA, image + off, n);
		REQ_END(w, req);
		rc = call(c, WDP_CMD_FW_CHUNK, req, req_len, NULL, 0, none);
		if (rc < 0)
			return rc;
		off += n;
		if (progress)
			progress(progress_ctx, off, len);
	}
	{
		REQ_BEGIN(w, req);
		wdp_tlv_put(&w, WDP_T_FW_SIGNATURE, sig, 64);
		REQ_END(w, req);
		rc = call(c, WDP_CMD_FW_END, req, req_len, end_spec, 1, t);
		if (rc < 0)
			return rc;
	}
	if (wdp_get_u32(t[0].value) != version) {
		set_detail(c, 0, "the chip reports another firmware version than the one sent");
		return WRIT_E_PROTO;
	}
	return 0;
}

int chip_lock(struct chip *c, uint8_t *ret_lifecycle)
{
	static const struct wdp_tlv_spec spec[] = { { WDP_T_LIFECYCLE, 1, 1, 1 } };
	struct wdp_tlv t[1];
	int rc = call(c, WDP_CMD_LOCK, NULL, 0, spec, 1, t);

	if (rc < 0)
		return rc;
	if (ret_lifecycle)
		*ret_lifecycle = t[0].value[0];
	return 0;
}

int chip_debug_challenge(struct chip *c, uint8_t uid[WDP_UID_LEN], uint8_t challenge[WDP_DBG_CHALLENGE_LEN])
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_UID, WDP_UID_LEN, WDP_UID_LEN, 1 },
		{ WDP_T_DEBUG_CHALLENGE, WDP_DBG_CHALLENGE_LEN, WDP_DBG_CHALLENGE_LEN, 1 },
	};
	struct wdp_tlv t[2];
	int rc = call(c, WDP_CMD_DEBUG_CHALLENGE, NULL, 0, spec, 2, t);

	if (rc < 0)
		return rc;
	if (uid)
		memcpy(uid, t[0].value, WDP_UID_LEN);
	memcpy(challenge, t[1].value, WDP_DBG_CHALLENGE_LEN);
	return 0;
}

int chip_debug_unlock(struct chip *c, const uint8_t root_pub[WDP_P256_PUB_LEN], const uint8_t *chain,
		      size_t chain_len, const uint8_t token[WDP_DBG_TOKEN_LEN], struct chip_debug *ret)
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_DEBUG_PERMS, WDP_DBG_PERMS_LEN, WDP_DBG_PERMS_LEN, 1 },
		{ WDP_T_DEBUG_SECONDS, 4, 4, 1 },
		{ WDP_T_DEBUG_KEY_GEN, 4, 4, 1 },
	};
	uint8_t req[WDP_PAYLOAD_MAX];
	struct wdp_tlv_writer w;
	struct wdp_tlv t[3];
	size_t len;
	int rc;

	if (!root_pub || !chain || !token || chain_len == 0 || chain_len > WDP_DBG_CERT_LEN * WDP_DBG_CHAIN_MAX)
		return WRIT_E_INVAL;
	wdp_tlv_init(&w, req, sizeof req);
	wdp_tlv_put(&w, WDP_T_DEBUG_ROOT_PUB, root_pub, WDP_P256_PUB_LEN);
	wdp_tlv_put(&w, WDP_T_DEBUG_CHAIN, chain, chain_len);
	wdp_tlv_put(&w, WDP_T_DEBUG_TOKEN, token, WDP_DBG_TOKEN_LEN);
	if (wdp_tlv_finish(&w, &len) != 0)
		return WRIT_E_TOOBIG;
	rc = call(c, WDP_CMD_DEBUG_UNLOCK, req, len, spec, 3, t);
	if (rc < 0)
		return rc;
	if (ret) {
		memcpy(ret->perms, t[0].value, WDP_DBG_PERMS_LEN);
		ret->seconds = wdp_get_u32(t[1].value);
		ret->key_gen = wdp_get_u32(t[2].value);
	}
	return 0;
}

int chip_debug_lock(struct chip *c)
{
	struct wdp_tlv t[1];

	return call(c, WDP_CMD_DEBUG_LOCK, NULL, 0, NULL, 0, t);
}

const char *chip_state_str(uint32_t state, char *buf, size_t cap)
{
	static const char *const names[] = { "keys", "chain", "factory-data", "secret",
					     "firmware", "otp", "locked", "debug", "debug-unlocked" };
	size_t len = 0;

	if (cap == 0)
		return buf;
	buf[0] = '\0';
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!(state & (1u << i)))
			continue;
		int w = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", names[i]);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
	if (len == 0)
		snprintf(buf, cap, "blank");
	return buf;
}
