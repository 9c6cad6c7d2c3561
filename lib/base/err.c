/* SPDX-License-Identifier: Apache-2.0 */
/* Names of the shared error codes. */
#include "base/err.h"

const char *writ_strerror(int err)
{
	switch (err) {
	case WRIT_OK: return "ok";
	case WRIT_E_INVAL: return "invalid argument";
	case WRIT_E_NOMEM: return "out of memory";
	case WRIT_E_IO: return "I/O error";
	case WRIT_E_FORMAT: return "malformed input";
	case WRIT_E_TOOBIG: return "input too large";
	case WRIT_E_CRYPTO: return "cryptographic failure";
	case WRIT_E_BADSIG: return "signature does not verify";
	case WRIT_E_DECRYPT: return "decryption failed";
	case WRIT_E_TOKEN: return "PKCS#11 token error";
	case WRIT_E_NOTFOUND: return "not found";
	case WRIT_E_EXISTS: return "already exists";
	case WRIT_E_AUTH: return "not authorized";
	case WRIT_E_UNSUPPORTED: return "unsupported";
	case WRIT_E_SCOPE: return "outside scope";
	case WRIT_E_EXPIRED: return "outside validity window";
	case WRIT_E_QUOTA: return "quantity spent";
	case WRIT_E_REVOKED: return "revoked";
	case WRIT_E_CLOCK: return "clock moved backwards";
	case WRIT_E_PROFILE: return "certificate profile violation";
	case WRIT_E_JOURNAL: return "journal does not verify";
	case WRIT_E_STATE: return "wrong state";
	case WRIT_E_PROTO: return "protocol violation";
	case WRIT_E_REPLAY: return "replayed";
	case WRIT_E_RETRY: return "transient conflict, try again";
	default: return "unknown error";
	}
}
