/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device protocol's frame and TLV codec (docs/device-protocol.md), shared by the chip
 * side (device/, libwrit-device) and the host side (lib/chip/, the station's driver).
 * Portable C99: no allocation, no OS calls, no globals. Everything above this codec
 * (what a command means, the crypto) is implemented twice, independently, on each side.
 *
 * Errors are the negated wire status codes (-WDP_S_*), so the device library can hand
 * them straight to the wire.
 */
#ifndef WRIT_BASE_WDP_H
#define WRIT_BASE_WDP_H

#include <stddef.h>
#include <stdint.h>

#define WDP_MAGIC0 0x57 /* 'W' */
#define WDP_MAGIC1 0x44 /* 'D' */
#define WDP_HDR_LEN 12u
#define WDP_CRC_LEN 4u
#define WDP_PAYLOAD_MAX 4096u
#define WDP_FRAME_MAX (WDP_HDR_LEN + WDP_PAYLOAD_MAX + WDP_CRC_LEN)
#define WDP_PROTO_VERSION 1u

/* Wire status codes (the response frame's code field). */
enum wdp_status {
	WDP_S_OK = 0,
	WDP_S_FRAME = 1,
	WDP_S_INTEGRITY = 2,
	WDP_S_TOO_BIG = 3,
	WDP_S_UNKNOWN_COMMAND = 4,
	WDP_S_MALFORMED = 5,
	WDP_S_SEQUENCE = 6,
	WDP_S_STATE = 7,
	WDP_S_LOCKED = 8,
	WDP_S_VERIFY = 9,
	WDP_S_MISMATCH = 10,
	WDP_S_RNG = 11,
	WDP_S_STORAGE = 12,
	WDP_S_CRYPTO = 13,
	WDP_S_OTP = 14,
	WDP_S_DECRYPT = 15,
	WDP_S_ROLLBACK = 16,
	WDP_S_DENIED = 17,  /* a debug request beyond a permission mask */
	WDP_S_EXPIRED = 18, /* outside a debug certificate's or token's validity window */
	WDP_S_MAX_ = 18
};

/* Commands (the request frame's code field). */
enum wdp_command {
	WDP_CMD_DISCOVER = 0x0001,
	WDP_CMD_STATUS = 0x0002,
	WDP_CMD_GENERATE_KEYS = 0x0010,
	WDP_CMD_GET_ENC_KEY = 0x0011,
	WDP_CMD_GET_CSR = 0x0012,
	WDP_CMD_GET_CHAIN = 0x0013,
	WDP_CMD_STORE_CHAIN = 0x0020,
	WDP_CMD_STORE_FACTORY_DATA = 0x0021,
	WDP_CMD_STORE_SECRET = 0x0030,
	WDP_CMD_FW_BEGIN = 0x0040,
	WDP_CMD_FW_CHUNK = 0x0041,
	WDP_CMD_FW_END = 0x0042,
	WDP_CMD_BURN_OTP = 0x0050,
	WDP_CMD_LOCK = 0x0060,
	WDP_CMD_DEBUG_CHALLENGE = 0x0070,
	WDP_CMD_DEBUG_UNLOCK = 0x0071,
	WDP_CMD_DEBUG_LOCK = 0x0072
};

/* TLV types. */
enum wdp_type {
	WDP_T_PROTO_VERSION = 0x0001,
	WDP_T_UID = 0x0002,
	WDP_T_CHIP_FAMILY = 0x0003,
	WDP_T_LIFECYCLE = 0x0004,
	WDP_T_MAX_PAYLOAD = 0x0005,
	WDP_T_STATE = 0x0006,
	WDP_T_CSR = 0x0010,
	WDP_T_ENC_PUB = 0x0011,
	WDP_T_ENC_BINDING = 0x0012,
	WDP_T_DAC = 0x0020,
	WDP_T_PAI = 0x0021,
	WDP_T_FACTORY_DATA = 0x0022,
	WDP_T_SECRET_LABEL = 0x0030,
	WDP_T_WRAPPED = 0x0031,
	WDP_T_FW_VERSION = 0x0040,
	WDP_T_FW_SIZE = 0x0041,
	WDP_T_FW_OFFSET = 0x0042,
	WDP_T_FW_DATA = 0x0043,
	WDP_T_FW_SIGNATURE = 0x0044,
	WDP_T_SB_PUBKEY = 0x0045,
	WDP_T_SB_KEY_HASH = 0x0050,
	WDP_T_DEBUG_ROOT_HASH = 0x0051,
	WDP_T_DEBUG_CHALLENGE = 0x0060,
	WDP_T_DEBUG_ROOT_PUB = 0x0061,
	WDP_T_DEBUG_CHAIN = 0x0062,
	WDP_T_DEBUG_TOKEN = 0x0063,
	WDP_T_DEBUG_PERMS = 0x0064,
	WDP_T_DEBUG_SECONDS = 0x0065,
	WDP_T_DEBUG_KEY_GEN = 0x0066,
	WDP_T_DETAIL = 0x00F0
};

/* Sizes shared by both sides. */
#define WDP_UID_LEN 16u
#define WDP_P256_PUB_LEN 65u
#define WDP_CERT_MAX 600u
#define WDP_CSR_MAX 1024u
#define WDP_BINDING_MAX 72u
#define WDP_FACTORY_DATA_MAX 4000u
#define WDP_LABEL_MAX 32u
#define WDP_SECRET_MIN 16u
#define WDP_SECRET_MAX 64u
#define WDP_WRAP_OVERHEAD (65u + 12u + 16u)
#define WDP_FW_CHUNK_MAX 4000u
#define WDP_FW_MAX (4u * 1024u * 1024u)
#define WDP_DETAIL_MAX 128u

/* Secure debug credentials (docs/device-protocol.md, "Secure debug"): fixed layouts. */
#define WDP_DBG_CHALLENGE_LEN 32u
#define WDP_DBG_PERMS_LEN 16u
#define WDP_DBG_HSM_ID_LEN 32u
#define WDP_DBG_CERT_LEN 209u  /* one certificate: 145 signed bytes + r ‖ s */
#define WDP_DBG_CERT_SIGNED 145u
#define WDP_DBG_CHAIN_MAX 2u   /* at most one intermediate + the delegate */
#define WDP_DBG_TOKEN_LEN 156u /* 92 signed bytes + r ‖ s */
#define WDP_DBG_TOKEN_SIGNED 92u
#define WDP_DBG_SESSION_MAX 86400u /* longest unlock a token may ask for, seconds */
enum wdp_dbg_role { WDP_DBG_ROLE_INTERMEDIATE = 1, WDP_DBG_ROLE_DELEGATE = 2 };
/* Permission bits a chip gives meaning to (bit i = byte 15 - i/8, bit i%8); the same
 * numbers as lib/wire/dbgcred.h's enum dbg_perm. */
enum wdp_dbg_perm { WDP_DBG_PERM_DEBUG = 0, WDP_DBG_PERM_REFLASH = 8, WDP_DBG_PERM_REPROVISION = 9 };

/* Lifecycle states and STATE flags. */
enum wdp_lifecycle { WDP_LC_BLANK = 0, WDP_LC_PROVISIONING = 1, WDP_LC_SECURED = 2 };
enum wdp_state_flag {
	WDP_F_KEYS = 1u << 0,
	WDP_F_CHAIN = 1u << 1,
	WDP_F_FACTORY_DATA = 1u << 2,
	WDP_F_SECRET = 1u << 3,
	WDP_F_FIRMWARE = 1u << 4,
	WDP_F_OTP = 1u << 5,
	WDP_F_LOCKED = 1u << 6,
	WDP_F_DEBUG = 1u << 7,
	WDP_F_DEBUG_UNLOCKED = 1u << 8 /* a secure-debug unlock is active (RAM only) */
};

/* Stable upper-case name of a wire status ("MALFORMED"); "UNKNOWN" for others. */
const char *wdp_status_name(unsigned status);

/* CRC-32 (IEEE 802.3, reflected, as zlib). Start with crc = 0; chain calls. */
uint32_t wdp_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Big-endian helpers. */
void wdp_put_u16(uint8_t *p, uint16_t v);
void wdp_put_u32(uint8_t *p, uint32_t v);
uint16_t wdp_get_u16(const uint8_t *p);
uint32_t wdp_get_u32(const uint8_t *p);

/* A decoded frame. payload points into the buffer it was decoded from. */
struct wdp_frame {
	uint16_t code;
	uint32_t seq;
	uint32_t len;
	const uint8_t *payload;
};

/* Encode one frame into out[cap]. Returns 0 and *ret_len, -WDP_S_TOO_BIG when
 * len > WDP_PAYLOAD_MAX or the frame does not fit in cap. */
int wdp_frame_encode(uint16_t code, uint32_t seq, const uint8_t *payload, size_t len,
		     uint8_t *out, size_t cap, size_t *ret_len);

/* Decode exactly one whole frame from buf[n] (no bytes before or after). Returns 0, or
 * -WDP_S_FRAME (bad magic, short, trailing bytes), -WDP_S_TOO_BIG, -WDP_S_INTEGRITY. */
int wdp_frame_decode(const uint8_t *buf, size_t n, struct wdp_frame *ret);

/*
 * Incremental receiver for a byte stream. The caller owns the struct (zero it or call
 * wdp_rx_init) and feeds it whatever bytes arrived. wdp_rx_feed consumes at most up to
 * the end of one event and reports it:
 *   WDP_RX_MORE       need more bytes (all of in[] consumed)
 *   WDP_RX_FRAME      *ret_frame is a whole frame; valid until the next feed/init
 *   WDP_RX_INTEGRITY  a frame with a bad CRC was dropped
 *   WDP_RX_TOO_BIG    a header announced more than WDP_PAYLOAD_MAX; dropped, resyncing
 * Bytes before a magic are skipped (counted in rx->skipped). *ret_used says how many
 * bytes of in[] were consumed; call again with the rest.
 */
enum wdp_rx_event { WDP_RX_MORE = 0, WDP_RX_FRAME = 1, WDP_RX_INTEGRITY = 2, WDP_RX_TOO_BIG = 3 };
struct wdp_rx {
	uint8_t buf[WDP_FRAME_MAX];
	size_t have;
	size_t need;     /* bytes the current frame needs in total (0: header unknown) */
	uint32_t skipped; /* bytes dropped while looking for a magic */
};
void wdp_rx_init(struct wdp_rx *rx);
int wdp_rx_feed(struct wdp_rx *rx, const uint8_t *in, size_t n, size_t *ret_used,
		struct wdp_frame *ret_frame);

/* TLV writer over a caller buffer. Types must be added in ascending order; the first
 * error (overflow, order, value > 65535 bytes) sticks and wdp_tlv_finish reports it. */
struct wdp_tlv_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
	int32_t last_type;
};
void wdp_tlv_init(struct wdp_tlv_writer *w, uint8_t *buf, size_t cap);
void wdp_tlv_put(struct wdp_tlv_writer *w, uint16_t type, const void *value, size_t n);
void wdp_tlv_put_u8(struct wdp_tlv_writer *w, uint16_t type, uint8_t v);
void wdp_tlv_put_u16(struct wdp_tlv_writer *w, uint16_t type, uint16_t v);
void wdp_tlv_put_u32(struct wdp_tlv_writer *w, uint16_t type, uint32_t v);
/* 0 and *ret_len, or -WDP_S_TOO_BIG / -WDP_S_MALFORMED for the first error. */
int wdp_tlv_finish(const struct wdp_tlv_writer *w, size_t *ret_len);

/* What a message may contain: one entry per type, ascending by type. */
struct wdp_tlv_spec {
	uint16_t type;
	uint16_t min_len;
	uint16_t max_len;
	uint8_t required;
};
struct wdp_tlv {
	uint16_t len;
	const uint8_t *value; /* NULL when absent */
};

/*
 * Strictly parse payload p[n] against spec[n_spec]: types ascending, each at most once,
 * every type in the spec, lengths within [min_len, max_len], every required type
 * present, no bytes left over. ret[i] receives the TLV of spec[i] (value NULL when
 * absent). Returns 0 or -WDP_S_MALFORMED; ret is only meaningful on success.
 */
int wdp_tlv_parse(const uint8_t *p, size_t n, const struct wdp_tlv_spec *spec, size_t n_spec,
		  struct wdp_tlv *ret);

#endif
