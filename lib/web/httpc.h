/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTP/JSON client over libcurl for writ's own services (the `writ` CLI talking
 * to writ-cloud, writ-factory syncing with writ-cloud). One struct httpc per thread:
 * it owns one curl easy handle (keep-alive) and the bearer token (copied, wiped at
 * close, never logged). Every answer is bounded (max_answer bytes) before it is read.
 *
 * httpc_request returns 0 when an HTTP answer arrived (any status: read it with
 * httpc_status), WRIT_E_IO when none did (connect refused, timeout, reset: the message
 * is in httpc_error), WRIT_E_TOOBIG when the answer exceeded max_answer. For an error
 * answer (status >= 400) carrying writ's `{"error", "code"}` body, httpc_error is the
 * service's message and httpc_code its code.
 */
#ifndef WRIT_WEB_HTTPC_H
#define WRIT_WEB_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

#define HTTPC_ERR_MAX 512u
#define HTTPC_CODE_MAX 32u
#define HTTPC_TOKEN_MAX 256u

struct httpc;

struct httpc_opts {
	long connect_timeout_ms; /* default 3000 */
	long timeout_ms;         /* whole request; default 60000 */
	size_t max_answer;       /* default 64 MiB */
};

/* Once per process, before threads (libcurl global state). */
WRIT_MUST_CHECK int httpc_global_init(void);
/* Once per process at exit, after every httpc_free (releases libcurl's global state). */
void httpc_global_cleanup(void);

/* base: "http://HOST:PORT" (no trailing slash); token may be NULL. opts may be NULL. */
WRIT_MUST_CHECK int httpc_new(const char *base, const char *token, const struct httpc_opts *opts,
			      struct httpc **ret);
void httpc_free(struct httpc *c);

/*
 * method "GET" / "POST" / "PUT" / "DELETE"; path begins with "/" (query string allowed,
 * already escaped by the caller: see httpc_escape). body may be NULL (no body);
 * content_type defaults to application/json when body is given. The answer body is kept
 * until the next request (httpc_body; NUL-terminated, *len without the NUL).
 */
WRIT_MUST_CHECK int httpc_request(struct httpc *c, const char *method, const char *path, const void *body,
				  size_t body_len, const char *content_type);
/* Convenience: send the JSON object (may be NULL for no body), parse a JSON object
 * answer into *ret (NULL when the answer is not JSON). Same return as httpc_request;
 * an answer that should be JSON and is not leaves *ret NULL. */
WRIT_MUST_CHECK int httpc_json(struct httpc *c, const char *method, const char *path, json_t *body, json_t **ret);

long httpc_status(const struct httpc *c);           /* 0 when no answer */
const uint8_t *httpc_body(const struct httpc *c, size_t *len);
const char *httpc_error(const struct httpc *c);     /* "" when none */
const char *httpc_code(const struct httpc *c);      /* "" when none */
/* The base URL as given to httpc_new, without trailing slashes (for messages). */
const char *httpc_base(const struct httpc *c);

/* Percent-encode s for a query value or path segment into out (cap bytes): every byte
 * but RFC 3986's unreserved A-Z a-z 0-9 - . _ ~ becomes %XX. Returns the length written
 * (without the NUL), WRIT_E_TOOBIG (out set to "") when it does not fit. */
WRIT_MUST_CHECK int httpc_escape(const char *s, char *out, size_t cap);

/* Read a bearer token from a file (first line, trimmed; 1..HTTPC_TOKEN_MAX-1 printable
 * characters; the file must not be readable by group/other: refused with a hint if it
 * is) or, when path is NULL, from the environment variable env. out is wiped on error.
 * Errors: WRIT_E_NOTFOUND no such file / env unset or empty; WRIT_E_AUTH the file is
 * readable or writable by group or other (the caller tells the user "chmod 600 FILE");
 * WRIT_E_FORMAT empty or not printable; WRIT_E_TOOBIG too long; WRIT_E_IO unreadable or
 * not a regular file. */
WRIT_MUST_CHECK int httpc_token_load(const char *path, const char *env, char out[HTTPC_TOKEN_MAX]);

#endif
