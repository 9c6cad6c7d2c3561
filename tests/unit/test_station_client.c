/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-station's factory client (station/factory_client.c) against a peer that answers
 * badly: a tiny HTTP server thread on loopback sends, per test, a canned answer (not
 * JSON, the wrong JSON type, missing or wrongly typed fields, base64 that is not
 * canonical or too long, an oversized body, a lying Content-Length, a closed
 * connection, error statuses with hostile messages). Every one must give a clean error
 * with a reason; none may crash or be taken as a good answer. Also checks what the
 * client sends (the bearer token, the JSON request).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "station/factory_client.h"

/* ---- the server ---- */

static int g_listen = -1;
static int g_port;
static pthread_t g_thread;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char *g_answer;      /* the raw HTTP answer to send (malloc'd) */
static size_t g_answer_len;
static int g_close_only;    /* close without answering */
static char g_request[65536]; /* the last request received */
static size_t g_request_len;

static void set_answer_raw(const char *raw, size_t len)
{
	pthread_mutex_lock(&g_mu);
	free(g_answer);
	g_answer = malloc(len);
	memcpy(g_answer, raw, len);
	g_answer_len = len;
	g_close_only = 0;
	pthread_mutex_unlock(&g_mu);
}

/* An answer with this status and body (Content-Length correct). */
static void set_answer(int status, const char *body)
{
	size_t blen = strlen(body), cap = blen + 256;
	char *buf = malloc(cap);
	int n = snprintf(buf, cap,
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, blen);
	memcpy(buf + n, body, blen);
	set_answer_raw(buf, (size_t)n + blen);
	free(buf);
}

static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(g_listen, NULL, NULL);
		size_t got = 0;
		if (c < 0)
			return NULL;
		/* read the head, then Content-Length bytes of body */
		for (;;) {
			ssize_t n = recv(c, g_request + got, sizeof g_request - 1 - got, 0);
			char *end, *cl;
			if (n <= 0)
				break;
			got += (size_t)n;
			g_request[got] = '\0';
			end = strstr(g_request, "\r\n\r\n");
			if (!end)
				continue;
			cl = strcasestr(g_request, "Content-Length:");
			size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
			if (got >= (size_t)(end + 4 - g_request) + want)
				break;
		}
		pthread_mutex_lock(&g_mu);
		g_request_len = got;
		if (!g_close_only && g_answer) {
			size_t off = 0;
			while (off < g_answer_len) {
				ssize_t n = send(c, g_answer + off, g_answer_len - off, MSG_NOSIGNAL);
				if (n <= 0)
					break;
				off += (size_t)n;
			}
		}
		pthread_mutex_unlock(&g_mu);
		shutdown(c, SHUT_RDWR);
		close(c);
	}
}

static int setup_all(void **state)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int one = 1;

	(void)state;
	g_listen = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(g_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(g_listen, (struct sockaddr *)&a, sizeof a) < 0 || listen(g_listen, 16) < 0)
		return -1;
	getsockname(g_listen, (struct sockaddr *)&a, &al);
	g_port = ntohs(a.sin_port);
	if (factory_client_global_init() < 0)
		return -1;
	return pthread_create(&g_thread, NULL, server, NULL);
}

static int teardown_all(void **state)
{
	(void)state;
	shutdown(g_listen, SHUT_RDWR);
	close(g_listen);
	pthread_join(g_thread, NULL);
	free(g_answer);
	return 0;
}

static struct factory_client *client(void)
{
	char url[64];
	struct factory_client *fc = NULL;
	struct fc_opts o = { 2000, 3000 };

	snprintf(url, sizeof url, "http://127.0.0.1:%d", g_port);
	assert_int_equal(factory_client_new(url, "tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", &o, &fc), 0);
	return fc;
}

static const char WRIT[] = "00112233445566778899aabbccddeeff";
static const uint8_t UID[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t CSR[8] = { 0x30, 0x06, 1, 2, 3, 4, 5, 6 };

static int dac_with(const char *body, int status, struct factory_client **ret_fc)
{
	struct factory_client *fc = client();
	struct chip_dac d;
	int rc;

	set_answer(status, body);
	rc = factory_client_dac(fc, WRIT, UID, CSR, sizeof CSR, &d);
	*ret_fc = fc;
	return rc;
}

/* ---- tests ---- */

static void test_dac_good(void **state)
{
	struct factory_client *fc = client();
	struct chip_dac d;

	(void)state;
	set_answer(200, "{\"dac\":\"MAYBAQID\",\"pai\":\"MAQCAQ==\",\"serial\":1000,\"hsm_seq\":\"18446744073709551615\"}");
	assert_int_equal(factory_client_dac(fc, WRIT, UID, CSR, sizeof CSR, &d), 0);
	assert_int_equal(d.dac_len, 6);
	assert_int_equal(d.pai_len, 4);
	assert_int_equal(d.serial, 1000);
	assert_true(d.journal_seq == UINT64_MAX);
	/* what was sent: the token as a bearer, the writ in the path, uid hex and csr base64 */
	assert_non_null(strstr(g_request, "POST /v1/jobs/00112233445566778899aabbccddeeff/dac HTTP/1.1"));
	assert_non_null(strstr(g_request, "Authorization: Bearer tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"));
	assert_non_null(strstr(g_request, "\"uid\":\"0102030405060708090a0b0c0d0e0f10\""));
	assert_non_null(strstr(g_request, "\"csr\":\"MAYBAgMEBQY=\""));
	factory_client_close(fc);
}

static void expect_proto(const char *body, const char *words)
{
	struct factory_client *fc;
	int rc = dac_with(body, 200, &fc);

	if (rc != WRIT_E_PROTO || !strstr(factory_client_error(fc), words))
		fail_msg("answer %.80s: rc %d, error \"%s\", want PROTO with \"%s\"", body, rc, factory_client_error(fc),
			 words);
	factory_client_close(fc);
}

static void test_dac_garbage(void **state)
{
	(void)state;
	expect_proto("", "not JSON");
	expect_proto("not json at all", "not JSON");
	expect_proto("{\"dac\":", "not JSON");
	expect_proto("[1,2,3]", "not a JSON object");
	expect_proto("\"dac\"", "not JSON"); /* a bare string: jansson refuses it (no JSON_DECODE_ANY) */
	expect_proto("{}", "\"dac\" is missing");
	expect_proto("{\"dac\":12,\"pai\":\"MAQCAQ==\",\"serial\":1,\"hsm_seq\":1}", "\"dac\" is of the wrong type");
	expect_proto("{\"dac\":\"MAYBAQI\",\"pai\":\"MAQCAQ==\",\"serial\":1,\"hsm_seq\":1}", "not canonical base64");
	expect_proto("{\"dac\":\"MAYBAQ!D\",\"pai\":\"MAQCAQ==\",\"serial\":1,\"hsm_seq\":1}", "not canonical base64");
	expect_proto("{\"dac\":\"\",\"pai\":\"MAQCAQ==\",\"serial\":1,\"hsm_seq\":1}", "base64");
	expect_proto("{\"dac\":\"MAYBAQID\",\"pai\":null,\"serial\":1,\"hsm_seq\":1}", "\"pai\"");
	expect_proto("{\"dac\":\"MAYBAQID\",\"pai\":\"MAQCAQ==\",\"serial\":-1,\"hsm_seq\":1}", "\"serial\"");
	expect_proto("{\"dac\":\"MAYBAQID\",\"pai\":\"MAQCAQ==\",\"serial\":1.5,\"hsm_seq\":1}", "\"serial\"");
	expect_proto("{\"dac\":\"MAYBAQID\",\"pai\":\"MAQCAQ==\",\"serial\":\"12x\",\"hsm_seq\":1}", "\"serial\"");
	expect_proto("{\"dac\":\"MAYBAQID\",\"pai\":\"MAQCAQ==\",\"serial\":\"99999999999999999999999\",\"hsm_seq\":1}",
		     "\"serial\"");
	expect_proto("{\"dac\":\"MAYBAQID\",\"pai\":\"MAQCAQ==\",\"serial\":1,\"hsm_seq\":true}", "\"hsm_seq\"");
	/* duplicate keys are refused, not resolved either way */
	expect_proto("{\"dac\":\"MAYBAQID\",\"dac\":\"MAYBAQID\",\"pai\":\"MAQCAQ==\",\"serial\":1,\"hsm_seq\":1}", "not JSON");
	/* a certificate larger than a chip takes (600 bytes) */
	{
		size_t n = 4 * 201; /* 603 bytes of base64 payload */
		char *body = malloc(n + 128), *p;
		memcpy(body, "{\"dac\":\"", 8);
		p = body + 8;
		for (size_t i = 0; i < n; i++)
			*p++ = 'A';
		snprintf(p, 64, "\",\"pai\":\"MAQCAQ==\",\"serial\":1,\"hsm_seq\":1}");
		expect_proto(body, "longer than 600");
		free(body);
	}
}

static void test_oversized(void **state)
{
	struct factory_client *fc;
	size_t n = 200 * 1024;
	char *big = malloc(n + 1);
	int rc;

	(void)state;
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	rc = dac_with(big, 200, &fc);
	assert_int_equal(rc, WRIT_E_PROTO);
	assert_non_null(strstr(factory_client_error(fc), "larger than"));
	factory_client_close(fc);
	/* chunked, no Content-Length: the cap holds while reading */
	{
		size_t cap = n + 512, off;
		char *raw = malloc(cap);
		off = (size_t)snprintf(raw, cap, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
						 "%zx\r\n", n);
		memcpy(raw + off, big, n);
		off += n;
		memcpy(raw + off, "\r\n0\r\n\r\n", 7);
		off += 7;
		set_answer_raw(raw, off);
		free(raw);
		fc = client();
		struct chip_dac d;
		assert_int_equal(factory_client_dac(fc, WRIT, UID, CSR, sizeof CSR, &d), WRIT_E_PROTO);
		assert_non_null(strstr(factory_client_error(fc), "larger than"));
		factory_client_close(fc);
	}
	free(big);
}

static void test_lying_length(void **state)
{
	static const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"dac\":";
	struct factory_client *fc = client();
	struct chip_dac d;
	int rc;

	(void)state;
	set_answer_raw(raw, sizeof raw - 1);
	rc = factory_client_dac(fc, WRIT, UID, CSR, sizeof CSR, &d);
	assert_true(rc == WRIT_E_IO || rc == WRIT_E_PROTO);
	factory_client_close(fc);
	/* not HTTP at all */
	set_answer_raw("SSH-2.0-OpenSSH\r\n", 17);
	fc = client();
	rc = factory_client_dac(fc, WRIT, UID, CSR, sizeof CSR, &d);
	assert_true(rc < 0);
	factory_client_close(fc);
}

static void test_closed(void **state)
{
	struct factory_client *fc = client();
	struct chip_dac d;

	(void)state;
	pthread_mutex_lock(&g_mu);
	g_close_only = 1;
	pthread_mutex_unlock(&g_mu);
	assert_int_equal(factory_client_dac(fc, WRIT, UID, CSR, sizeof CSR, &d), WRIT_E_IO);
	assert_int_equal(factory_client_http(fc), 0);
	assert_non_null(strstr(factory_client_error(fc), "cannot reach the factory"));
	factory_client_close(fc);
}

static void test_statuses(void **state)
{
	struct factory_client *fc;

	(void)state;
	assert_int_equal(dac_with("{\"error\":\"writ 0011 has no quantity left\"}", 409, &fc), WRIT_E_QUOTA);
	assert_non_null(strstr(factory_client_error(fc), "has no quantity left"));
	assert_int_equal(factory_client_http(fc), 409);
	factory_client_close(fc);
	assert_int_equal(dac_with("{\"error\":\"the HSM is unreachable\"}", 503, &fc), WRIT_E_IO);
	assert_int_equal(factory_client_http(fc), 503);
	factory_client_close(fc);
	assert_int_equal(dac_with("{\"error\":\"revoked\"}", 403, &fc), WRIT_E_AUTH);
	factory_client_close(fc);
	assert_int_equal(dac_with("", 401, &fc), WRIT_E_AUTH);
	assert_non_null(strstr(factory_client_error(fc), "no error message"));
	factory_client_close(fc);
	/* garbage or a wrong type in an error answer */
	assert_int_equal(dac_with("<html>oops</html>", 500, &fc), WRIT_E_PROTO);
	factory_client_close(fc);
	assert_int_equal(dac_with("{\"error\":[1]}", 409, &fc), WRIT_E_QUOTA);
	assert_non_null(strstr(factory_client_error(fc), "no error message"));
	factory_client_close(fc);
	/* a message with terminal escapes is shown defanged */
	assert_int_equal(dac_with("{\"error\":\"bad\\u001b[2Jthing\\n\"}", 400, &fc), WRIT_E_INVAL);
	assert_null(strchr(factory_client_error(fc), 0x1b));
	assert_null(strchr(factory_client_error(fc), '\n'));
	factory_client_close(fc);
	/* a redirect is not followed */
	set_answer_raw("HTTP/1.1 302 Found\r\nLocation: http://example.com/\r\nContent-Length: 0\r\n\r\n", 71);
	fc = client();
	struct chip_dac d;
	assert_true(factory_client_dac(fc, WRIT, UID, CSR, sizeof CSR, &d) < 0);
	factory_client_close(fc);
}

static const char JOB_OK[] =
	"{\"writ\":\"00112233445566778899aabbccddeeff\",\"product\":\"lamp\",\"version\":\"1.4.0\",\"quantity\":10,"
	"\"issued\":2,\"remaining\":8,\"not_before\":1,\"not_after\":2000000000,"
	"\"recipe\":[\"discover\",\"keys\",\"dac\",\"chain\",\"factory-data\",\"secret\",\"otp\",\"firmware\",\"lock\","
	"\"verify\",\"record\",\"label\"],\"settings\":\"vendor_id = 0xFFF1\\n\",\"secret_labels\":[\"ota-key\"],"
	"\"fw_version\":3,\"fw_sig\":\"%s\",\"sb_pub\":\"%s\",\"debug_root_hash\":\"%s\",\"iterations\":1000,"
	"\"serial_prefix\":\"SN\",\"firmware_sha256\":\"%s\"}";

static char *hexrep(size_t n, char c)
{
	char *s = malloc(2 * n + 1);
	memset(s, c, 2 * n);
	s[2 * n] = '\0';
	return s;
}

/* the job templates are built at run time from JOB_OK (a test-only format string) */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int job_with(const char *fmt, const char *sig, struct fc_job *j, struct factory_client **ret_fc)
{
	char *pub = hexrep(65, '4'), *h = hexrep(32, 'a'), *body = malloc(8192);
	int rc;

	snprintf(body, 8192, fmt, sig, pub, h, h);
	set_answer(200, body);
	*ret_fc = client();
	memset(j, 0, sizeof *j);
	rc = factory_client_job(*ret_fc, WRIT, j);
	free(pub);
	free(h);
	free(body);
	return rc;
}

/* A 409's "code" decides what the line does: quota/window/revoked end the job, replay/
 * busy/scope fail only that device; a 409 without a code (an older factory) ends the job
 * as before. A 403 on records fails the device; on the job/dac/wrap it is the station. */
static void test_409_codes(void **state)
{
	static const struct {
		const char *body;
		int rc;
		enum fc_verdict v;
		const char *code;
	} cases[] = {
		{ "{\"error\":\"writ has no quantity left\",\"code\":\"quota\"}", WRIT_E_QUOTA, FC_JOB_ENDED, "quota" },
		{ "{\"error\":\"outside the writ's window\",\"code\":\"window\"}", WRIT_E_EXPIRED, FC_JOB_ENDED, "window" },
		{ "{\"error\":\"the writ is revoked\",\"code\":\"revoked\"}", WRIT_E_REVOKED, FC_JOB_ENDED, "revoked" },
		{ "{\"error\":\"this device already received a DAC for another key\",\"code\":\"replay\"}", WRIT_E_REPLAY,
		  FC_DEVICE, "replay" },
		{ "{\"error\":\"a DAC request for this device is in progress\",\"code\":\"busy\"}", WRIT_E_STATE, FC_DEVICE,
		  "busy" },
		{ "{\"error\":\"the CSR's UID is not the chip's\",\"code\":\"scope\"}", WRIT_E_SCOPE, FC_DEVICE, "scope" },
		/* an older factory: no code, as before */
		{ "{\"error\":\"writ has no quantity left\"}", WRIT_E_QUOTA, FC_JOB_ENDED, "" },
		/* a code this station does not know, or one that is not a word: ends the job */
		{ "{\"error\":\"x\",\"code\":\"unknown\"}", WRIT_E_QUOTA, FC_JOB_ENDED, "unknown" },
		{ "{\"error\":\"x\",\"code\":\"re\\u001bplay\"}", WRIT_E_QUOTA, FC_JOB_ENDED, "" },
		{ "{\"error\":\"x\",\"code\":7}", WRIT_E_QUOTA, FC_JOB_ENDED, "" },
	};
	struct factory_client *fc;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(dac_with(cases[i].body, 409, &fc), cases[i].rc);
		assert_int_equal(factory_client_verdict(fc, cases[i].rc, 0), cases[i].v);
		assert_string_equal(factory_client_code(fc), cases[i].code);
		assert_null(strchr(factory_client_error(fc), 0x1b));
		factory_client_close(fc);
	}
	/* 503: the factory is down; no answer: retry */
	assert_int_equal(dac_with("{\"error\":\"the HSM is unreachable\",\"code\":\"hsm\"}", 503, &fc), WRIT_E_IO);
	assert_int_equal(factory_client_verdict(fc, WRIT_E_IO, 0), FC_FACTORY_DOWN);
	factory_client_close(fc);
	/* 403: the credential on the dac endpoint; a device's record problem on records */
	assert_int_equal(dac_with("{\"error\":\"revoked station\"}", 403, &fc), WRIT_E_AUTH);
	assert_int_equal(factory_client_verdict(fc, WRIT_E_AUTH, 0), FC_STATION);
	assert_int_equal(factory_client_verdict(fc, WRIT_E_AUTH, 1), FC_DEVICE);
	factory_client_close(fc);
	assert_int_equal(dac_with("{\"error\":\"unknown token\"}", 401, &fc), WRIT_E_AUTH);
	assert_int_equal(factory_client_verdict(fc, WRIT_E_AUTH, 1), FC_STATION);
	factory_client_close(fc);
	/* 400 / 404: this device */
	assert_int_equal(dac_with("{\"error\":\"bad CSR\"}", 400, &fc), WRIT_E_INVAL);
	assert_int_equal(factory_client_verdict(fc, WRIT_E_INVAL, 0), FC_DEVICE);
	factory_client_close(fc);
	/* a record's 403 through factory_client_record */
	{
		struct fc_record r;
		uint64_t seq = 0;
		int dup = -1;
		memset(&r, 0, sizeof r);
		r.writ = WRIT;
		memcpy(r.uid, UID, 16);
		r.ok = 1;
		r.have_dac = 1;
		r.serial = 7;
		r.hsm_seq = 0;
		fc = client();
		set_answer(403, "{\"error\":\"this device's DAC went to another station\",\"code\":\"scope\"}");
		assert_int_equal(factory_client_record(fc, &r, &seq, &dup), WRIT_E_AUTH);
		assert_int_equal(factory_client_verdict(fc, WRIT_E_AUTH, 1), FC_DEVICE);
		/* hsm_seq 0 is sent (a DAC read back from the chip): the factory matches by sha/serial */
		assert_non_null(strstr(g_request, "\"hsm_seq\":0"));
		assert_non_null(strstr(g_request, "\"serial\":7"));
		set_answer(200, "{\"seq\":9,\"duplicate\":true}");
		assert_int_equal(factory_client_record(fc, &r, &seq, &dup), 0);
		assert_int_equal(seq, 9);
		assert_int_equal(dup, 1);
		set_answer(200, "{\"seq\":10}");
		assert_int_equal(factory_client_record(fc, &r, &seq, &dup), 0);
		assert_int_equal(dup, 0);
		set_answer(200, "{\"seq\":10,\"duplicate\":\"yes\"}");
		assert_int_equal(factory_client_record(fc, &r, &seq, &dup), WRIT_E_PROTO);
		factory_client_close(fc);
	}
}

static void test_job(void **state)
{
	char *sig = hexrep(64, '1');
	struct factory_client *fc;
	struct fc_job j;

	(void)state;
	assert_int_equal(job_with(JOB_OK, sig, &j, &fc), 0);
	assert_string_equal(j.product, "lamp");
	assert_int_equal(j.n_recipe, 12);
	assert_int_equal(j.n_secret_labels, 1);
	assert_string_equal(j.secret_labels[0], "ota-key");
	assert_int_equal(j.fw_version, 3);
	assert_int_equal(j.iterations, 1000);
	assert_string_equal(j.settings, "vendor_id = 0xFFF1\n");
	assert_int_equal(j.sb_pub[0], 0x44);
	fc_job_free(&j);
	factory_client_close(fc);
	/* a short signature, non-hex */
	assert_int_equal(job_with(JOB_OK, "abcd", &j, &fc), WRIT_E_PROTO);
	assert_non_null(strstr(factory_client_error(fc), "fw_sig"));
	factory_client_close(fc);
	{
		char *bad = hexrep(64, 'z');
		assert_int_equal(job_with(JOB_OK, bad, &j, &fc), WRIT_E_PROTO);
		assert_non_null(strstr(factory_client_error(fc), "not hex"));
		factory_client_close(fc);
		free(bad);
	}
	/* the recipe out of order, an unknown step, a step that is not a string */
	{
		static const char *const recipes[] = { "[\"keys\",\"discover\"]", "[\"discover\",\"format-disk\"]",
						       "[\"discover\",7]", "[]", "\"discover\"" };
		for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
			char fmt[2048];
			const char *at = strstr(JOB_OK, "\"recipe\":");
			const char *end = strstr(at, "],") + 1;
			snprintf(fmt, sizeof fmt, "%.*s\"recipe\":%s%s", (int)(at - JOB_OK), JOB_OK, recipes[i], end);
			assert_int_equal(job_with(fmt, sig, &j, &fc), WRIT_E_PROTO);
			assert_non_null(strstr(factory_client_error(fc), "recipe"));
			factory_client_close(fc);
		}
	}
	/* another job's answer */
	{
		char fmt[2048];
		snprintf(fmt, sizeof fmt, "%s", JOB_OK);
		memcpy(strstr(fmt, "0011"), "ffff", 4);
		assert_int_equal(job_with(fmt, sig, &j, &fc), WRIT_E_PROTO);
		factory_client_close(fc);
	}
	/* a newer factory: the writ's PAI; a serial prefix as long as a bundle allows (12) */
	{
		char fmt[2048];
		const char *at = strstr(JOB_OK, "\"serial_prefix\":\"SN\"");
		snprintf(fmt, sizeof fmt, "%.*s\"pai\":\"AQID\",\"serial_prefix\":\"ABCDEFGHIJKL\"%s",
			 (int)(at - JOB_OK), JOB_OK, at + strlen("\"serial_prefix\":\"SN\""));
		assert_int_equal(job_with(fmt, sig, &j, &fc), 0);
		assert_int_equal(j.pai_len, 3);
		assert_int_equal(j.pai[2], 3);
		assert_int_equal(strlen(j.serial_prefix), 12);
		fc_job_free(&j);
		factory_client_close(fc);
		/* without "pai" (an older factory): none */
		assert_int_equal(job_with(JOB_OK, sig, &j, &fc), 0);
		assert_int_equal(j.pai_len, 0);
		fc_job_free(&j);
		factory_client_close(fc);
		/* a "pai" that is not base64 */
		snprintf(fmt, sizeof fmt, "%.*s\"pai\":\"A!\",%s", (int)(at - JOB_OK), JOB_OK, at);
		assert_int_equal(job_with(fmt, sig, &j, &fc), WRIT_E_PROTO);
		assert_non_null(strstr(factory_client_error(fc), "pai"));
		factory_client_close(fc);
	}
	/* a quantity of the wrong type */
	{
		char fmt[2048];
		const char *at = strstr(JOB_OK, "\"quantity\":10");
		snprintf(fmt, sizeof fmt, "%.*s\"quantity\":\"10\"%s", (int)(at - JOB_OK), JOB_OK, at + 13);
		assert_int_equal(job_with(fmt, sig, &j, &fc), WRIT_E_PROTO);
		assert_non_null(strstr(factory_client_error(fc), "quantity"));
		factory_client_close(fc);
	}
	free(sig);
}

static void test_record_and_wrap(void **state)
{
	struct factory_client *fc = client();
	struct fc_record r;
	uint8_t out[200], dac[10] = { 0x30 }, pub[65] = { 4 }, bind[8] = { 0x30 };
	uint64_t seq = 0;
	size_t n = 0;

	(void)state;
	memset(&r, 0, sizeof r);
	r.writ = WRIT;
	memcpy(r.uid, UID, 16);
	r.ok = 0;
	r.step = "firmware";
	r.reason = "chip refused: VERIFY\x1b[31m";
	set_answer(200, "{\"seq\":42}");
	assert_int_equal(factory_client_record(fc, &r, &seq, NULL), 0);
	assert_int_equal(seq, 42);
	assert_non_null(strstr(g_request, "\"result\":\"failed\""));
	assert_non_null(strstr(g_request, "\"step\":\"firmware\""));
	assert_null(strstr(g_request, "\x1b"));
	set_answer(200, "{\"seq\":-4}");
	assert_int_equal(factory_client_record(fc, &r, &seq, NULL), WRIT_E_PROTO);
	set_answer(200, "{\"seq\":{}}");
	assert_int_equal(factory_client_record(fc, &r, &seq, NULL), WRIT_E_PROTO);
	set_answer(413, "{\"error\":\"body too large\"}");
	assert_int_equal(factory_client_record(fc, &r, &seq, NULL), WRIT_E_INVAL);
	/* wrap: the wrapped secret bounded by the caller's buffer */
	set_answer(200, "{\"wrapped\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
	assert_int_equal(factory_client_wrap(fc, WRIT, UID, dac, sizeof dac, pub, bind, sizeof bind, "ota-key", out, 16,
					     &n),
			 WRIT_E_PROTO);
	assert_int_equal(factory_client_wrap(fc, WRIT, UID, dac, sizeof dac, pub, bind, sizeof bind, "ota-key", out,
					     sizeof out, &n),
			 0);
	assert_int_equal(n, 69);
	factory_client_close(fc);
}

static void test_enrol(void **state)
{
	struct factory_client *fc = NULL;
	char url[64], station[64], token[FC_TOKEN_MAX];

	(void)state;
	snprintf(url, sizeof url, "http://127.0.0.1:%d", g_port);
	assert_int_equal(factory_client_new(url, NULL, NULL, &fc), 0);
	set_answer(200, "{\"station\":\"st-1\",\"token\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ\"}");
	assert_int_equal(factory_client_enrol(fc, "123-456", "bench 1", "L1", station, sizeof station, token), 0);
	assert_string_equal(station, "st-1");
	assert_string_equal(token, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ");
	assert_null(strstr(g_request, "Authorization"));
	set_answer(200, "{\"station\":\"st-1\",\"token\":\"short\"}");
	assert_int_equal(factory_client_enrol(fc, "1", "n", "l", station, sizeof station, token), WRIT_E_PROTO);
	set_answer(200, "{\"station\":\"st-1\"}");
	assert_int_equal(factory_client_enrol(fc, "1", "n", "l", station, sizeof station, token), WRIT_E_PROTO);
	factory_client_close(fc);
	/* bad base URLs */
	assert_int_equal(factory_client_new("ftp://x", NULL, NULL, &fc), WRIT_E_INVAL);
	assert_int_equal(factory_client_new("", NULL, NULL, &fc), WRIT_E_INVAL);
}

/* GET /v1/health, what a station paused for an update polls: no token sent; the flag
 * and the version read strictly; 503 and garbage are errors. */
static void test_health(void **state)
{
	struct factory_client *fc = client();
	struct fc_health h;
	char big[200];

	(void)state;
	set_answer(200, "{\"status\":\"ok\",\"version\":\"0.2.0\",\"busy\":false,\"update_pending\":true}");
	assert_int_equal(factory_client_health(fc, &h), 0);
	assert_int_equal(h.update_pending, 1);
	assert_string_equal(h.version, "0.2.0");
	assert_null(strstr(g_request, "Authorization"));
	assert_non_null(strstr(g_request, "GET /v1/health "));
	set_answer(200, "{\"status\":\"ok\"}"); /* an older factory: no flag, no version */
	assert_int_equal(factory_client_health(fc, &h), 0);
	assert_int_equal(h.update_pending, 0);
	assert_string_equal(h.version, "");
	set_answer(200, "{\"update_pending\":\"yes\"}");
	assert_int_equal(factory_client_health(fc, &h), WRIT_E_PROTO);
	set_answer(200, "{\"update_pending\":false,\"version\":7}");
	assert_int_equal(factory_client_health(fc, &h), WRIT_E_PROTO);
	snprintf(big, sizeof big, "{\"version\":\"%0100d\"}", 1);
	set_answer(200, big);
	assert_int_equal(factory_client_health(fc, &h), WRIT_E_PROTO);
	set_answer(200, "[true]");
	assert_int_equal(factory_client_health(fc, &h), WRIT_E_PROTO);
	set_answer(503, "{\"status\":\"degraded\",\"update_pending\":true}");
	assert_int_equal(factory_client_health(fc, &h), WRIT_E_IO);
	factory_client_close(fc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dac_good),   cmocka_unit_test(test_dac_garbage), cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_lying_length), cmocka_unit_test(test_closed),    cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_409_codes),
		cmocka_unit_test(test_job),        cmocka_unit_test(test_record_and_wrap), cmocka_unit_test(test_enrol),
		cmocka_unit_test(test_health),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
