/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTP/JSON client over libcurl (see httpc.h). One easy handle per struct httpc
 * keeps its connection alive between requests; the header list holding the bearer
 * token is built once and wiped at httpc_free; CURLOPT_VERBOSE is never set, so libcurl
 * never prints the token. Every answer is bounded twice: by Content-Length before the
 * body is read (CURLOPT_MAXFILESIZE_LARGE) and in the write callback, which aborts the
 * transfer at the first byte past max_answer (a chunked or lying peer).
 */
#include "web/httpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ct.h"
#include "tls/tls.h"

#define HTTPC_BASE_MAX 256u
#define HTTPC_URL_MAX 4096u
/* A token file is read up to this many bytes: the first line is the token, whatever
 * follows (a comment, a trailing newline) is ignored. */
#define HTTPC_TOKEN_FILE_READ (HTTPC_TOKEN_MAX + 2u)

struct httpc {
	CURL *h;
	struct curl_slist *hdrs; /* Accept, Expect:, Authorization (wiped at free) */
	char base[HTTPC_BASE_MAX];
	char auth[HTTPC_TOKEN_MAX + 32]; /* "Authorization: Bearer ..." ; wiped at free */
	int have_token;
	unsigned tls_gen; /* the client pair h's connections were made with (lib/tls) */
	long connect_timeout_ms, timeout_ms;
	size_t max;
	uint8_t *buf; /* answer body, NUL-terminated */
	size_t len, cap;
	int over;
	long status;
	char err[HTTPC_ERR_MAX];
	char code[HTTPC_CODE_MAX];
};

static int seterr(struct httpc *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int seterr(struct httpc *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(c->err, sizeof(c->err), fmt, ap); /* truncation of a message is fine */
	va_end(ap);
	return rc;
}

int httpc_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : WRIT_E_NOMEM;
}

void httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

int httpc_new(const char *base, const char *token, const struct httpc_opts *opts, struct httpc **ret)
{
	struct httpc *c;
	size_t n, tn = 0, i;
	int w;

	if (!base || !ret)
		return WRIT_E_INVAL;
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n == 0 || n >= HTTPC_BASE_MAX || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0))
		return WRIT_E_INVAL;
	for (i = 0; i < n; i++)
		if (base[i] <= 0x20 || base[i] >= 0x7f)
			return WRIT_E_INVAL;
	if (token) {
		tn = strlen(token);
		if (tn == 0 || tn >= HTTPC_TOKEN_MAX)
			return WRIT_E_INVAL;
		/* a header line: no CR/LF/control characters may reach it */
		for (i = 0; i < tn; i++)
			if (token[i] <= 0x20 || token[i] >= 0x7f)
				return WRIT_E_INVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return WRIT_E_NOMEM;
	memcpy(c->base, base, n);
	c->base[n] = '\0';
	c->connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 3000;
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
	c->max = opts && opts->max_answer > 0 ? opts->max_answer : (size_t)64 * 1024 * 1024;
	c->h = curl_easy_init();
	if (!c->h)
		goto nomem;
	c->tls_gen = tls_client_check();
	if (token) {
		w = snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", token);
		if (w < 0 || (size_t)w >= sizeof(c->auth)) {
			httpc_free(c);
			return WRIT_E_INVAL;
		}
		c->have_token = 1;
	}
	/* Built once: curl_slist_append copies each line, and httpc_free wipes the copies. */
	c->hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (!c->hdrs || !curl_slist_append(c->hdrs, "Expect:") ||
	    (c->have_token && !curl_slist_append(c->hdrs, c->auth)))
		goto nomem;
	*ret = c;
	return 0;
nomem:
	httpc_free(c);
	return WRIT_E_NOMEM;
}

void httpc_free(struct httpc *c)
{
	struct curl_slist *s;

	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	for (s = c->hdrs; s; s = s->next)
		writ_memzero(s->data, strlen(s->data));
	curl_slist_free_all(c->hdrs);
	writ_memzero(c->auth, sizeof(c->auth));
	/* answers may hold a freshly issued token (POST /v1/users, /v1/tokens) */
	if (c->buf)
		writ_memzero(c->buf, c->cap);
	free(c->buf);
	free(c);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct httpc *c = ud;
	size_t n = size * nmemb, nc;
	uint8_t *nb;

	if (n > c->max - c->len) {
		c->over = 1;
		return 0; /* CURLE_WRITE_ERROR: the transfer stops here */
	}
	if (c->len + n + 1 > c->cap) {
		nc = c->cap ? c->cap : 4096;
		while (nc < c->len + n + 1)
			nc *= 2;
		if (nc > c->max + 1)
			nc = c->max + 1;
		nb = malloc(nc);
		if (!nb)
			return 0;
		/* not realloc: the old buffer may hold a token and is wiped before it goes */
		if (c->buf) {
			memcpy(nb, c->buf, c->len);
			writ_memzero(c->buf, c->cap);
			free(c->buf);
		}
		c->buf = nb;
		c->cap = nc;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

/* The printable ASCII bytes of s[0..n) into out (at most cap-1 of them); the rest is
 * dropped so that no control character of a peer's message reaches a terminal. */
static void printable_copy(char *out, size_t cap, const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 1 < cap; i++)
		if (s[i] >= 0x20 && s[i] < 0x7f)
			out[k++] = s[i];
	out[k] = '\0';
}

/* An error answer: take writ's {"error", "code"} when the body is one. */
static void parse_error_body(struct httpc *c)
{
	json_t *j, *e, *k;

	c->err[0] = '\0';
	if (c->len > 0 && c->len <= 64 * 1024) {
		j = json_loadb((const char *)c->buf, c->len, JSON_REJECT_DUPLICATES, NULL);
		e = json_is_object(j) ? json_object_get(j, "error") : NULL;
		k = json_is_object(j) ? json_object_get(j, "code") : NULL;
		if (json_is_string(e))
			printable_copy(c->err, sizeof(c->err), json_string_value(e), json_string_length(e));
		if (json_is_string(k))
			printable_copy(c->code, sizeof(c->code), json_string_value(k), json_string_length(k));
		json_decref(j);
	}
	if (!c->err[0])
		(void)seterr(c, 0, "HTTP %ld without a writ error message", c->status);
}

int httpc_request(struct httpc *c, const char *method, const char *path, const void *body, size_t body_len,
		  const char *content_type)
{
	char url[HTTPC_URL_MAX], curl_err[CURL_ERROR_SIZE] = "", ct[128];
	struct curl_slist ct_node;
	CURLcode cc;
	int w;

	if (!c || !method || !path || path[0] != '/')
		return WRIT_E_INVAL;
	c->len = 0;
	if (c->buf)
		c->buf[0] = '\0';
	c->over = 0;
	c->status = 0;
	c->err[0] = '\0';
	c->code[0] = '\0';
	w = snprintf(url, sizeof(url), "%s%s", c->base, path);
	if (w < 0 || (size_t)w >= sizeof(url))
		return seterr(c, WRIT_E_INVAL, "URL longer than %u bytes", HTTPC_URL_MAX - 1);
	if (body) {
		w = snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "application/json");
		if (w < 0 || (size_t)w >= sizeof(ct) || strpbrk(ct, "\r\n"))
			return seterr(c, WRIT_E_INVAL, "bad content type");
	}
	/* a renewed client certificate (lib/tls re-reads it): no connection made with the
	 * previous one may carry this request, so the handle and its connections go */
	if (tls_client_check() != c->tls_gen) {
		CURL *nh = curl_easy_init();
		if (!nh)
			return seterr(c, WRIT_E_NOMEM, "out of memory");
		curl_easy_cleanup(c->h);
		c->h = nh;
		c->tls_gen = tls_client_check();
	}
	/* reset keeps the live connection (keep-alive), drops the last request's options */
	curl_easy_reset(c->h);
	if (tls_client_apply(c->h) < 0) /* lib/tls: TLS 1.2+, the CA, the client certificate */
		return seterr(c, WRIT_E_UNSUPPORTED, "TLS set-up failed (is libengine-pkcs11-openssl installed?)");
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 0L); /* never carry the token elsewhere */
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, curl_err);
	if (body) {
		/* the Content-Type line for this request only, in front of the kept list */
		ct_node.data = ct;
		ct_node.next = c->hdrs;
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, &ct_node);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
		if (!strcmp(method, "POST")) {
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, "");
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		} else if (!strcmp(method, "HEAD")) {
			curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
		} else if (strcmp(method, "GET") != 0) {
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
		}
	}
	cc = curl_easy_perform(c->h);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL); /* ct_node lives on this stack */
	if (c->over || cc == CURLE_FILESIZE_EXCEEDED) {
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
		c->len = 0;
		if (c->buf)
			c->buf[0] = '\0';
		return seterr(c, WRIT_E_TOOBIG, "the answer to %s %s is larger than %zu bytes", method, path, c->max);
	}
	if (cc != CURLE_OK) {
		c->status = 0;
		c->len = 0;
		if (c->buf)
			c->buf[0] = '\0';
		return seterr(c, WRIT_E_IO, "no answer from %s (%s)", c->base,
			      curl_err[0] ? curl_err : curl_easy_strerror(cc));
	}
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
	if (c->status >= 400)
		parse_error_body(c);
	return 0;
}

int httpc_json(struct httpc *c, const char *method, const char *path, json_t *body, json_t **ret)
{
	char *text = NULL;
	size_t n = 0;
	json_t *j;
	int rc;

	if (!ret)
		return WRIT_E_INVAL;
	*ret = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return WRIT_E_NOMEM;
		n = strlen(text);
	}
	rc = httpc_request(c, method, path, text, n, text ? "application/json" : NULL);
	if (text) {
		/* a body may carry an enrolment code */
		writ_memzero(text, n);
		free(text);
	}
	if (rc < 0)
		return rc;
	if (c->len > 0) {
		j = json_loadb((const char *)c->buf, c->len, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(j))
			*ret = j;
		else
			json_decref(j);
	}
	return 0;
}

long httpc_status(const struct httpc *c)
{
	return c ? c->status : 0;
}

const uint8_t *httpc_body(const struct httpc *c, size_t *len)
{
	static const uint8_t empty[1] = { 0 };

	if (len)
		*len = c ? c->len : 0;
	return c && c->buf ? c->buf : empty;
}

const char *httpc_error(const struct httpc *c)
{
	return c ? c->err : "";
}

const char *httpc_code(const struct httpc *c)
{
	return c ? c->code : "";
}

const char *httpc_base(const struct httpc *c)
{
	return c ? c->base : "";
}

int httpc_escape(const char *s, char *out, size_t cap)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t k = 0;
	unsigned char ch;

	if (!s || !out || cap == 0)
		return WRIT_E_INVAL;
	for (; *s; s++) {
		ch = (unsigned char)*s;
		/* RFC 3986 unreserved characters pass; everything else is %XX */
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			if (k + 1 >= cap)
				goto toobig;
			out[k++] = (char)ch;
		} else {
			if (k + 3 >= cap)
				goto toobig;
			out[k++] = '%';
			out[k++] = hexd[ch >> 4];
			out[k++] = hexd[ch & 15];
		}
	}
	out[k] = '\0';
	return (int)k;
toobig:
	out[0] = '\0';
	return WRIT_E_TOOBIG;
}

/* The token of buf[0..n): its first line without surrounding blanks; 1..MAX-1 bytes of
 * 0x21..0x7e. */
static int token_take(const char *buf, size_t n, char out[HTTPC_TOKEN_MAX])
{
	size_t a = 0, b, i;

	for (b = 0; b < n && buf[b] != '\n'; b++)
		;
	if (b == n && n >= HTTPC_TOKEN_FILE_READ)
		return WRIT_E_TOOBIG; /* no line end within what a token may be */
	while (a < b && (buf[a] == ' ' || buf[a] == '\t'))
		a++;
	while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
		b--;
	if (b == a)
		return WRIT_E_FORMAT;
	if (b - a > HTTPC_TOKEN_MAX - 1)
		return WRIT_E_TOOBIG;
	for (i = a; i < b; i++)
		if (buf[i] <= 0x20 || buf[i] >= 0x7f)
			return WRIT_E_FORMAT;
	memcpy(out, buf + a, b - a);
	out[b - a] = '\0';
	return 0;
}

int httpc_token_load(const char *path, const char *env, char out[HTTPC_TOKEN_MAX])
{
	char buf[HTTPC_TOKEN_FILE_READ];
	struct stat st;
	const char *v;
	size_t n = 0;
	ssize_t r;
	int fd = -1, rc;

	if (!out)
		return WRIT_E_INVAL;
	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			rc = errno == ENOENT ? WRIT_E_NOTFOUND : WRIT_E_IO;
			goto out;
		}
		/* the mode of what was opened, not of what the name points to later */
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			rc = WRIT_E_IO;
			goto out;
		}
		if (st.st_mode & 077) {
			rc = WRIT_E_AUTH;
			goto out;
		}
		while (n < sizeof(buf)) {
			r = read(fd, buf + n, sizeof(buf) - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = WRIT_E_IO;
				goto out;
			}
			if (r == 0)
				break;
			n += (size_t)r;
		}
	} else {
		v = env ? getenv(env) : NULL;
		if (!v || !*v) {
			rc = WRIT_E_NOTFOUND;
			goto out;
		}
		n = strnlen(v, sizeof(buf));
		memcpy(buf, v, n);
	}
	rc = token_take(buf, n, out);
out:
	if (fd >= 0)
		close(fd);
	writ_memzero(buf, sizeof(buf));
	if (rc < 0)
		writ_memzero(out, HTTPC_TOKEN_MAX);
	return rc;
}
