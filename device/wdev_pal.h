/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform abstraction layer (PAL) of libwrit-device: everything the library needs
 * from the chip it runs on, as a struct of function pointers and one opaque pointer the
 * caller supplies. Porting libwrit-device to an MCU means implementing these few calls
 * (docs/device-protocol.md, "Porting"); writ-devsim and the unit tests are two more
 * implementations. Transport is not here: the caller moves bytes (wdev_process).
 */
#ifndef WRIT_DEVICE_WDEV_PAL_H
#define WRIT_DEVICE_WDEV_PAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * OTP (one-time programmable) layout, WDEV_OTP_SIZE bytes. Programming can only set
 * bits (0 -> 1); a set bit never clears. The library refuses any write that would clear
 * a bit, even if the PAL would accept it.
 *   [0, 16)    UID, programmed before the library first runs (by the silicon vendor's
 *              test flow, or by writ-devsim); the library never writes it
 *   [16, 48)   SB_KEY_HASH      (all zero: not burnt)
 *   [48, 80)   DEBUG_ROOT_HASH  (all zero: not burnt)
 *   [80]       lifecycle fuse: bit 0 = secured (debug disabled)
 */
#define WDEV_OTP_SIZE 96u
#define WDEV_OTP_UID 0u
#define WDEV_OTP_SB_HASH 16u
#define WDEV_OTP_DEBUG_HASH 48u
#define WDEV_OTP_FUSE 80u
#define WDEV_OTP_FUSE_SECURED 0x01u

/*
 * Flash-like areas. STATE holds the library's persistent record (at most
 * WDEV_STATE_AREA_SIZE bytes; a never-written area reads as all 0x00 or all 0xFF). FW0 and
 * FW1 are two firmware slots of WDEV_FW_AREA_SIZE bytes: the library writes a new image
 * into the slot that is not installed, and switches slots in the STATE record only after
 * the image's signature verified.
 */
enum wdev_area { WDEV_AREA_STATE = 0, WDEV_AREA_FW0 = 1, WDEV_AREA_FW1 = 2 };
#define WDEV_STATE_AREA_SIZE 8192u
#define WDEV_FW_AREA_SIZE (4u * 1024u * 1024u)

/*
 * Every callback returns 0 on success and any non-zero value on failure. The library
 * never calls them concurrently for one context, and never from inside another callback.
 *
 * Durability contract: within one command the library first calls otp_write and
 * flash_write any number of times, then commit exactly once. After commit returns 0,
 * all of those writes must survive a power cut, together. Writes not yet committed may
 * be lost on a power cut, but must all be lost together: a reader after restart sees
 * either everything of the command or nothing (A/B pages on a real chip; writ-devsim
 * writes a temp file and renames it). If a write or the commit fails, the library calls
 * discard (when not NULL): the PAL drops every uncommitted write, so reads return the
 * committed contents again. A refused command makes no write at all.
 *
 * One exception: FW_CHUNK writes its bytes to the inactive firmware slot without a
 * commit; the FW_END that installs the image commits them with the record. A reset in
 * between loses the transfer, which is what the protocol says (the host starts over).
 */
struct wdev_pal {
	void *ctx; /* passed to every callback; owned by the caller */

	/* Fill out[n] with random bytes from the hardware RNG (n is at most 64). The library
	 * health-tests every block it draws. */
	int (*rng)(void *ctx, uint8_t *out, size_t n);
	/* Unix time in seconds (0 if the chip has no clock). */
	int (*time)(void *ctx, uint64_t *ret_unix);
	/* Read / program OTP bytes [off, off+n), within WDEV_OTP_SIZE. */
	int (*otp_read)(void *ctx, size_t off, uint8_t *out, size_t n);
	int (*otp_write)(void *ctx, size_t off, const uint8_t *in, size_t n);
	/* Read / write bytes [off, off+n) of an area (erase is the PAL's business). Reading a
	 * firmware slot beyond what was ever written may return any bytes. */
	int (*flash_read)(void *ctx, enum wdev_area area, size_t off, uint8_t *out, size_t n);
	int (*flash_write)(void *ctx, enum wdev_area area, size_t off, const uint8_t *in, size_t n);
	/* Make every write since the last commit durable, atomically (see above). */
	int (*commit)(void *ctx);
	/* Optional (may be NULL): drop every write since the last commit. */
	void (*discard)(void *ctx);
	/* Optional (may be NULL): open (1) or close (0) the debug port. Called when the
	 * library's view changes: open while the chip is not secured, or while a secure-debug
	 * unlock with the DEBUG permission (bit 0) is active; closed otherwise. Called once
	 * by the first wdev_process after wdev_init, then on every change. */
	void (*debug_port)(void *ctx, int open);
};

#endif
