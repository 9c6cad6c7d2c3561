/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes shared by every host-side layer of writ. A function returns 0 (or a
 * positive count) on success and one of these negative values on failure. Each layer
 * translates foreign error spaces (CK_RV, OpenSSL, errno) into these exactly once.
 */
#ifndef WRIT_BASE_ERR_H
#define WRIT_BASE_ERR_H

#define WRIT_MUST_CHECK __attribute__((warn_unused_result))

enum writ_err {
	WRIT_OK = 0,
	WRIT_E_INVAL = -1,        /* caller passed an invalid argument */
	WRIT_E_NOMEM = -2,        /* allocation failed */
	WRIT_E_IO = -3,           /* read/write/fsync failed */
	WRIT_E_FORMAT = -4,       /* malformed encoding (CBOR, DER, framing) */
	WRIT_E_TOOBIG = -5,       /* input exceeds a documented bound */
	WRIT_E_CRYPTO = -6,       /* a cryptographic primitive failed */
	WRIT_E_BADSIG = -7,       /* signature does not verify */
	WRIT_E_DECRYPT = -8,      /* authenticated decryption failed */
	WRIT_E_TOKEN = -9,        /* PKCS#11 token error */
	WRIT_E_NOTFOUND = -10,    /* object/key/slot/writ not found */
	WRIT_E_EXISTS = -11,      /* object already exists */
	WRIT_E_AUTH = -12,        /* login / credential / peer not allowed */
	WRIT_E_UNSUPPORTED = -13, /* algorithm or feature not supported */
	WRIT_E_SCOPE = -14,       /* request outside the scope of an authorization */
	WRIT_E_EXPIRED = -15,     /* outside a validity window */
	WRIT_E_QUOTA = -16,       /* quantity spent */
	WRIT_E_REVOKED = -17,     /* authorization revoked */
	WRIT_E_CLOCK = -18,       /* clock moved backwards past tolerance */
	WRIT_E_PROFILE = -19,     /* certificate violates a required profile */
	WRIT_E_JOURNAL = -20,     /* journal does not verify */
	WRIT_E_STATE = -21,       /* operation not allowed in the current state */
	WRIT_E_PROTO = -22,       /* protocol violation by a peer */
	WRIT_E_REPLAY = -23,      /* object seen before */
	WRIT_E_RETRY = -24,       /* transient conflict (serialization, busy): run it again */
};

/* Short, stable, human-readable name of an error code. Never NULL. */
const char *writ_strerror(int err);

#endif
