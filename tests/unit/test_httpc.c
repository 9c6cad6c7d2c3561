/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/web/httpc.c: percent-encoding and token files (unit), and requests against a
 * libmicrohttpd server in this process on loopback: what is sent (method, bearer token,
 * content type, body), keep-alive (two requests, one connection), an answer over
 * max_answer refused with and without a Content-Length, a refused connection, and error
 * bodies read into error/code bounded and with control characters dropped.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "web/httpc.h"

#define TEST_MAX_ANSWER 1024u

static char dir[256];
static struct MHD_Daemon *g_mhd;
static char g_base[64];
static unsigned g_connections; /* opened since the server started */

/* ---- unit: httpc_escape ---- */

static void test_escape(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(httpc_escape("lamp-1.0_x~", out, sizeof(out)), 11);
	assert_string_equal(out, "lamp-1.0_x~");
	assert_int_equal(httpc_escape("a b/c?d&e=f%", out, sizeof(out)), 24);
	assert_string_equal(out, "a%20b%2Fc%3Fd%26e%3Df%25");
	assert_int_equal(httpc_escape("\xc3\xa9+", out, sizeof(out)), 9);
	assert_string_equal(out, "%C3%A9%2B");
	assert_int_equal(httpc_escape("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* exactly fits (3 + NUL), one short, and a %XX that would be cut */
	assert_int_equal(httpc_escape("abc", out, 4), 3);
	assert_int_equal(httpc_escape("abcd", out, 4), WRIT_E_TOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(httpc_escape("a/", out, 4), WRIT_E_TOOBIG);
	assert_int_equal(httpc_escape("a/", out, 5), 4);
	assert_int_equal(httpc_escape(NULL, out, 4), WRIT_E_INVAL);
	assert_int_equal(httpc_escape("a", out, 0), WRIT_E_INVAL);
}

/* ---- unit: httpc_token_load ---- */

static void put(const char *name, const char *content, size_t len, mode_t mode, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_token_load(void **state)
{
	char path[300], out[HTTPC_TOKEN_MAX], big[HTTPC_TOKEN_MAX + 8];

	(void)state;
	put("t1", "wc_abc\n", 7, 0600, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), 0);
	assert_string_equal(out, "wc_abc");
	/* first line only, trimmed, CRLF */
	put("t2", "  wc_def \r\nsecond line\n", 23, 0400, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), 0);
	assert_string_equal(out, "wc_def");
	/* group- or other-readable: refused, out wiped */
	memset(out, 'x', sizeof(out));
	put("t3", "wc_abc\n", 7, 0640, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_AUTH);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[HTTPC_TOKEN_MAX - 1], 0);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_AUTH);
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_AUTH);
	/* empty, blank, control characters, a space inside */
	put("t4", "", 0, 0600, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_FORMAT);
	put("t5", " \n", 2, 0600, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_FORMAT);
	put("t6", "wc_\x01x\n", 6, 0600, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_FORMAT);
	put("t7", "wc a\n", 5, 0600, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_FORMAT);
	/* longest accepted, one longer */
	memset(big, 'a', sizeof(big));
	put("t8", big, HTTPC_TOKEN_MAX - 1, 0600, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), 0);
	assert_int_equal(strlen(out), HTTPC_TOKEN_MAX - 1);
	put("t9", big, HTTPC_TOKEN_MAX, 0600, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_TOOBIG);
	put("t10", big, sizeof(big), 0600, path, sizeof(path));
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_TOOBIG);
	/* missing file; a directory */
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(httpc_token_load(path, NULL, out), WRIT_E_NOTFOUND);
	assert_int_equal(httpc_token_load(dir, NULL, out), WRIT_E_IO);
	/* the environment */
	unsetenv("WRIT_TEST_TOKEN");
	assert_int_equal(httpc_token_load(NULL, "WRIT_TEST_TOKEN", out), WRIT_E_NOTFOUND);
	setenv("WRIT_TEST_TOKEN", "", 1);
	assert_int_equal(httpc_token_load(NULL, "WRIT_TEST_TOKEN", out), WRIT_E_NOTFOUND);
	setenv("WRIT_TEST_TOKEN", "wc_env\n", 1);
	assert_int_equal(httpc_token_load(NULL, "WRIT_TEST_TOKEN", out), 0);
	assert_string_equal(out, "wc_env");
	unsetenv("WRIT_TEST_TOKEN");
	assert_int_equal(httpc_token_load(NULL, NULL, out), WRIT_E_NOTFOUND);
}

/* ---- the loopback server ---- */

struct upload {
	char body[8192];
	size_t len;
	int too_long;
};

static ssize_t chunked_filler(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	if (pos >= 64 * 1024)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > 512)
		max = 512;
	memset(buf, 'z', max);
	return (ssize_t)max;
}

static enum MHD_Result reply(struct MHD_Connection *con, unsigned status, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct upload *u = *con_cls;
	char out[16384];
	json_t *o;
	char *s;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (!u) {
		u = calloc(1, sizeof(*u));
		*con_cls = u;
		return u ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		if (u->len + *upload_data_size <= sizeof(u->body))
			memcpy(u->body + u->len, upload_data, *upload_data_size);
		else
			u->too_long = 1;
		u->len += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/echo")) {
		const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
		const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
		const char *q = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, "q");
		o = json_pack("{s:s, s:s, s:s, s:s%, s:I, s:s}", "method", method, "auth", auth ? auth : "",
			      "ctype", ct ? ct : "", "body", u->body, u->too_long ? 0 : u->len, "len", (json_int_t)u->len,
			      "q", q ? q : "");
		s = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		snprintf(out, sizeof(out), "%s", s);
		free(s);
		return reply(con, 200, out);
	}
	if (!strcmp(url, "/big")) {
		memset(out, 'y', TEST_MAX_ANSWER + 1);
		out[TEST_MAX_ANSWER + 1] = 0;
		return reply(con, 200, out);
	}
	if (!strcmp(url, "/exact")) {
		memset(out, 'y', TEST_MAX_ANSWER);
		out[TEST_MAX_ANSWER] = 0;
		return reply(con, 200, out);
	}
	if (!strcmp(url, "/chunked")) {
		struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 512, chunked_filler, NULL, NULL);
		ret = MHD_queue_response(con, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!strcmp(url, "/quota"))
		return reply(con, 409, "{\"error\": \"quota spent:\\u0007 ask\\nthe OEM \\u00e9\", \"code\": \"quota\"}");
	if (!strcmp(url, "/long")) {
		/* an error text of 2000 characters and a code of 100 */
		size_t k = 0;
		k += (size_t)snprintf(out, sizeof(out), "{\"error\": \"");
		memset(out + k, 'e', 2000);
		k += 2000;
		k += (size_t)snprintf(out + k, sizeof(out) - k, "\", \"code\": \"");
		memset(out + k, 'c', 100);
		k += 100;
		snprintf(out + k, sizeof(out) - k, "\"}");
		return reply(con, 400, out);
	}
	if (!strcmp(url, "/plain"))
		return reply(con, 502, "<html>bad gateway</html>");
	if (!strcmp(url, "/notobject"))
		return reply(con, 200, "[1, 2]");
	return reply(con, 404, "{\"error\": \"no such thing\", \"code\": \"not_found\"}");
}

static void completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)con;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static void notify(void *cls, struct MHD_Connection *con, void **socket_context, enum MHD_ConnectionNotificationCode t)
{
	(void)cls;
	(void)con;
	(void)socket_context;
	if (t == MHD_CONNECTION_NOTIFY_STARTED)
		__atomic_add_fetch(&g_connections, 1, __ATOMIC_SEQ_CST);
}

static int setup_all(void **state)
{
	struct sockaddr_in a;
	const union MHD_DaemonInfo *info;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/writ-test-httpc.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
				 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED, completed,
				 NULL, MHD_OPTION_NOTIFY_CONNECTION, notify, NULL, MHD_OPTION_END);
	if (!g_mhd)
		return -1;
	info = MHD_get_daemon_info(g_mhd, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port)
		return -1;
	snprintf(g_base, sizeof(g_base), "http://127.0.0.1:%u/", (unsigned)info->port);
	return httpc_global_init();
}

static int teardown_all(void **state)
{
	char cmd[300];

	(void)state;
	MHD_stop_daemon(g_mhd);
	httpc_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct httpc *client_max(const char *token, size_t max)
{
	struct httpc_opts o = { .connect_timeout_ms = 2000, .timeout_ms = 10000, .max_answer = max };
	struct httpc *c = NULL;

	assert_int_equal(httpc_new(g_base, token, &o, &c), 0);
	/* the trailing slash of g_base is dropped */
	assert_int_equal(strlen(httpc_base(c)), strlen(g_base) - 1);
	assert_memory_equal(httpc_base(c), g_base, strlen(g_base) - 1);
	return c;
}

static struct httpc *client(const char *token)
{
	return client_max(token, TEST_MAX_ANSWER);
}

/* ---- requests ---- */

static void test_new_refusals(void **state)
{
	struct httpc *c = NULL;
	char big[HTTPC_TOKEN_MAX + 1];

	(void)state;
	assert_int_equal(httpc_new("ftp://x", NULL, NULL, &c), WRIT_E_INVAL);
	assert_int_equal(httpc_new("127.0.0.1:1", NULL, NULL, &c), WRIT_E_INVAL);
	assert_int_equal(httpc_new("http://a b", NULL, NULL, &c), WRIT_E_INVAL);
	assert_int_equal(httpc_new("http://x", "a\r\nX-Evil: 1", NULL, &c), WRIT_E_INVAL);
	assert_int_equal(httpc_new("http://x", "", NULL, &c), WRIT_E_INVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(httpc_new("http://x", big, NULL, &c), WRIT_E_INVAL);
	assert_null(c);
	httpc_free(NULL);
}

static void test_json_and_keepalive(void **state)
{
	struct httpc *c = client("wc_secret-token");
	json_t *a = NULL, *b = json_pack("{s:s}", "label", "ci");
	unsigned before;

	(void)state;
	before = __atomic_load_n(&g_connections, __ATOMIC_SEQ_CST);
	assert_int_equal(httpc_json(c, "POST", "/echo", b, &a), 0);
	assert_int_equal(httpc_status(c), 200);
	assert_non_null(a);
	assert_string_equal(json_string_value(json_object_get(a, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(a, "auth")), "Bearer wc_secret-token");
	assert_string_equal(json_string_value(json_object_get(a, "ctype")), "application/json");
	assert_string_equal(json_string_value(json_object_get(a, "body")), "{\"label\":\"ci\"}");
	assert_string_equal(httpc_error(c), "");
	assert_string_equal(httpc_code(c), "");
	json_decref(a);
	json_decref(b);
	/* GET, DELETE, a POST without a body, PUT with octet-stream: same connection */
	assert_int_equal(httpc_json(c, "GET", "/echo?q=a%20b", NULL, &a), 0);
	assert_string_equal(json_string_value(json_object_get(a, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(a, "q")), "a b");
	json_decref(a);
	assert_int_equal(httpc_json(c, "DELETE", "/echo", NULL, &a), 0);
	assert_string_equal(json_string_value(json_object_get(a, "method")), "DELETE");
	json_decref(a);
	assert_int_equal(httpc_json(c, "POST", "/echo", NULL, &a), 0);
	assert_string_equal(json_string_value(json_object_get(a, "method")), "POST");
	assert_int_equal(json_integer_value(json_object_get(a, "len")), 0);
	json_decref(a);
	assert_int_equal(httpc_request(c, "PUT", "/echo", "\x00\x01\x02", 3, "application/octet-stream"), 0);
	assert_int_equal(httpc_json(c, "GET", "/echo", NULL, &a), 0); /* the PUT's answer is gone */
	json_decref(a);
	assert_int_equal(__atomic_load_n(&g_connections, __ATOMIC_SEQ_CST), before + 1);
	httpc_free(c);

	/* no token: no Authorization header at all */
	c = client(NULL);
	assert_int_equal(httpc_json(c, "GET", "/echo", NULL, &a), 0);
	assert_string_equal(json_string_value(json_object_get(a, "auth")), "");
	json_decref(a);
	httpc_free(c);
}

static void test_put_body(void **state)
{
	struct httpc *c = client("t");
	json_t *a = NULL;
	size_t len = 0;
	const uint8_t *b;

	(void)state;
	assert_int_equal(httpc_request(c, "PUT", "/echo", "abc", 3, "application/octet-stream"), 0);
	b = httpc_body(c, &len);
	assert_true(len > 0);
	assert_int_equal(b[len], 0);
	a = json_loads((const char *)b, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(a, "method")), "PUT");
	assert_string_equal(json_string_value(json_object_get(a, "ctype")), "application/octet-stream");
	assert_string_equal(json_string_value(json_object_get(a, "body")), "abc");
	json_decref(a);
	/* a non-object JSON answer: 0, *ret NULL, body kept */
	assert_int_equal(httpc_json(c, "GET", "/notobject", NULL, &a), 0);
	assert_null(a);
	b = httpc_body(c, &len);
	assert_int_equal(len, 6);
	httpc_free(c);
}

static void test_too_big(void **state)
{
	struct httpc *c = client(NULL);
	json_t *a = (json_t *)1;
	size_t len = 99;

	(void)state;
	/* max_answer bytes exactly: fine */
	assert_int_equal(httpc_request(c, "GET", "/exact", NULL, 0, NULL), 0);
	(void)httpc_body(c, &len);
	assert_int_equal(len, TEST_MAX_ANSWER);
	/* one more, announced by Content-Length */
	assert_int_equal(httpc_request(c, "GET", "/big", NULL, 0, NULL), WRIT_E_TOOBIG);
	(void)httpc_body(c, &len);
	assert_int_equal(len, 0);
	assert_non_null(strstr(httpc_error(c), "larger than 1024"));
	/* chunked, no length announced: cut in the write callback */
	assert_int_equal(httpc_json(c, "GET", "/chunked", NULL, &a), WRIT_E_TOOBIG);
	assert_null(a);
	/* the client still works afterwards */
	assert_int_equal(httpc_json(c, "GET", "/echo", NULL, &a), 0);
	assert_non_null(a);
	json_decref(a);
	httpc_free(c);
}

static void test_refused(void **state)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	char base[64];
	struct httpc *c = NULL;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* a port that was free a moment ago and has no listener */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	close(s);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	assert_int_equal(httpc_new(base, "wc_x", NULL, &c), 0);
	assert_int_equal(httpc_request(c, "GET", "/v1/me", NULL, 0, NULL), WRIT_E_IO);
	assert_int_equal(httpc_status(c), 0);
	assert_non_null(strstr(httpc_error(c), base));
	assert_null(strstr(httpc_error(c), "wc_x"));
	assert_int_equal(httpc_request(c, "GET", "no-slash", NULL, 0, NULL), WRIT_E_INVAL);
	httpc_free(c);
}

static void test_error_bodies(void **state)
{
	struct httpc *c = client_max(NULL, 8192);
	json_t *a = NULL;
	size_t i;
	const char *e;

	(void)state;
	assert_int_equal(httpc_json(c, "POST", "/quota", NULL, &a), 0);
	assert_int_equal(httpc_status(c), 409);
	assert_string_equal(httpc_code(c), "quota");
	assert_string_equal(httpc_error(c), "quota spent: askthe OEM ");
	assert_non_null(a); /* the error object is there for whoever wants more */
	json_decref(a);
	assert_int_equal(httpc_json(c, "GET", "/long", NULL, &a), 0);
	json_decref(a);
	assert_int_equal(httpc_status(c), 400);
	e = httpc_error(c);
	assert_int_equal(strlen(e), HTTPC_ERR_MAX - 1);
	for (i = 0; e[i]; i++)
		assert_int_equal(e[i], 'e');
	assert_int_equal(strlen(httpc_code(c)), HTTPC_CODE_MAX - 1);
	/* not writ's error body */
	assert_int_equal(httpc_json(c, "GET", "/plain", NULL, &a), 0);
	assert_null(a);
	assert_int_equal(httpc_status(c), 502);
	assert_string_equal(httpc_code(c), "");
	assert_non_null(strstr(httpc_error(c), "502"));
	/* the next good answer clears them */
	assert_int_equal(httpc_json(c, "GET", "/echo", NULL, &a), 0);
	json_decref(a);
	assert_string_equal(httpc_error(c), "");
	assert_string_equal(httpc_code(c), "");
	httpc_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),	      cmocka_unit_test(test_token_load),
		cmocka_unit_test(test_new_refusals),  cmocka_unit_test(test_json_and_keepalive),
		cmocka_unit_test(test_put_body),      cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_refused),	      cmocka_unit_test(test_error_bodies),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
