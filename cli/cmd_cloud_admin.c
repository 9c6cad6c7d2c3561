/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writ-cloud client's account and read-back commands: whoami, users, tokens (a
 * new token is shown once, or written to a mode-600 file), alerts, devices (search, one
 * device's page, its label), production per factory, line telemetry, and
 * the record export that pages through all of a product's records with since/limit and
 * writes --out whole or not at all. Options, outcomes and output are cmd_cloud.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cloud.h"
#include "host/file.h"

#define RECORDS_PAGE 1000 /* records asked for per request of `records export` */

/* ---- accounts ---- */

int cloud_whoami(struct cloud *x)
{
	json_t *a;
	int rc;

	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", "/v1/me", NULL, &a)) != CLOUD_OK)
		return rc;
	rc = cloud_print(x, a, NULL, "user");
	json_decref(a);
	return rc;
}

/* A token just issued: to --token-out F (mode 600) or stdout, with its id/user on stderr. */
/* GET path for a command that shows its answer: with --json the answer is printed as
 * is and *ret is NULL; otherwise *ret is the parsed answer to show. */
static int get_to_show(struct cloud *x, const char *path, json_t **ret)
{
	int rc;

	*ret = NULL;
	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", path, NULL, ret)) != CLOUD_OK)
		return rc;
	if (has(x, O_JSON)) {
		rc = cloud_print_as_is(x);
		json_decref(*ret);
		*ret = NULL;
	}
	return rc;
}

static int new_token(struct cloud *x, json_t *a, const char *what)
{
	json_t *t = json_object_get(a, "token");
	int rc;

	if (has(x, O_JSON))
		return cloud_print_as_is(x);
	if (!json_is_string(t) || json_string_length(t) == 0) {
		cloud_fail(x, "the answer holds no token; is %s a writ-cloud?", httpc_base(x->c));
		return CLOUD_REFUSED;
	}
	if (has(x, O_TOKEN_OUT)) {
		if ((rc = cloud_save(x, x->o.s[O_TOKEN_OUT], (const uint8_t *)json_string_value(t), json_string_length(t),
				     0600)) != CLOUD_OK) {
			cloud_fail(x, "%s was made but its token is lost: revoke it (writ token revoke) and try again",
				   what);
			return rc;
		}
		printf("%s: token written to %s (mode 600)\n", what, x->o.s[O_TOKEN_OUT]);
		return CLOUD_OK;
	}
	fprintf(stderr, "%s; its token follows, shown only this once: keep it in a file of mode 600\n", what);
	cloud_put_clean(stdout, json_string_value(t), json_string_length(t));
	fputc('\n', stdout);
	return CLOUD_OK;
}

int cloud_user_add(struct cloud *x)
{
	static const char *const roles[] = { "oem-admin", "oem-security", "odm-engineer" };
	char what[200];
	json_t *a;
	size_t i;
	int rc;

	if ((rc = cloud_check_name(x, O_NAME)) != CLOUD_OK)
		return rc;
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(x->o.s[O_ROLE], roles[i]))
			break;
	if (i == sizeof(roles) / sizeof(roles[0])) {
		cloud_fail(x, "--role is oem-admin, oem-security or odm-engineer");
		return CLOUD_USAGE;
	}
	if (has(x, O_JSON) && has(x, O_TOKEN_OUT)) {
		cloud_fail(x, "--json prints the token; give --json or --token-out F, not both");
		return CLOUD_USAGE;
	}
	if ((rc = cloud_open(x)) != CLOUD_OK ||
	    (rc = cloud_post(x, "POST", "/v1/users",
			     json_pack("{s:s, s:s}", "name", x->o.s[O_NAME], "role", x->o.s[O_ROLE]), &a)) != CLOUD_OK)
		return rc;
	(void)!snprintf(what, sizeof(what), "user %s (%s) added", x->o.s[O_NAME], x->o.s[O_ROLE]);
	rc = new_token(x, a, what);
	json_decref(a);
	return rc;
}

int cloud_user_list(struct cloud *x)
{
	json_t *a;
	int rc;

	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", "/v1/users", NULL, &a)) != CLOUD_OK)
		return rc;
	rc = cloud_print(x, a, "users", "name");
	json_decref(a);
	return rc;
}

int cloud_token_add(struct cloud *x)
{
	char what[200];
	json_t *a, *id;
	size_t n = strlen(x->o.s[O_LABEL]);
	int rc;

	if (n == 0 || n > 64) {
		cloud_fail(x, "--label is 1..64 characters");
		return CLOUD_USAGE;
	}
	if (has(x, O_JSON) && has(x, O_TOKEN_OUT)) {
		cloud_fail(x, "--json prints the token; give --json or --token-out F, not both");
		return CLOUD_USAGE;
	}
	if ((rc = cloud_open(x)) != CLOUD_OK ||
	    (rc = cloud_post(x, "POST", "/v1/tokens", json_pack("{s:s}", "label", x->o.s[O_LABEL]), &a)) != CLOUD_OK)
		return rc;
	id = json_object_get(a, "id");
	if (json_is_integer(id))
		(void)!snprintf(what, sizeof(what), "token %lld made", (long long)json_integer_value(id));
	else if (json_is_string(id) && json_string_length(id) < 64 &&
		 strspn(json_string_value(id), "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.") ==
			 json_string_length(id))
		(void)!snprintf(what, sizeof(what), "token %s made", json_string_value(id));
	else
		(void)!snprintf(what, sizeof(what), "token made");
	rc = new_token(x, a, what);
	json_decref(a);
	return rc;
}

int cloud_token_list(struct cloud *x)
{
	char path[256] = "/v1/tokens";
	json_t *a;
	int rc;

	if (has(x, O_USER) && ((rc = cloud_check_name(x, O_USER)) != CLOUD_OK ||
			       (rc = cloud_path(x, path, sizeof(path), "/v1/tokens?user=%s", x->o.s[O_USER])) != CLOUD_OK))
		return rc;
	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", path, NULL, &a)) != CLOUD_OK)
		return rc;
	rc = cloud_print(x, a, "tokens", "id");
	json_decref(a);
	return rc;
}

int cloud_token_revoke(struct cloud *x)
{
	char path[256];
	json_t *a;
	int rc;

	if (!x->o.s[O_ID][0]) {
		cloud_fail(x, "--id is the token's id (writ token list)");
		return CLOUD_USAGE;
	}
	if ((rc = cloud_path(x, path, sizeof(path), "/v1/tokens/%s", x->o.s[O_ID])) != CLOUD_OK ||
	    (rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "DELETE", path, NULL, &a)) != CLOUD_OK)
		return rc;
	if (has(x, O_JSON))
		rc = cloud_print_as_is(x);
	else
		printf("token %s revoked\n", x->o.s[O_ID]);
	json_decref(a);
	return rc;
}

int cloud_alert_list(struct cloud *x)
{
	json_t *a;
	int rc;

	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", "/v1/alerts", NULL, &a)) != CLOUD_OK)
		return rc;
	rc = cloud_print(x, a, "alerts", "id");
	json_decref(a);
	return rc;
}

/* ---- devices ---- */

int cloud_device_find(struct cloud *x)
{
	char path[512], hex[129];
	const char *k, *list = NULL;
	json_t *a, *v;
	int rc, n = has(x, O_SERIAL) + has(x, O_UID) + has(x, O_DAC_SERIAL);

	if (n != 1) {
		cloud_fail(x, "give exactly one of --serial S, --uid HEX, --dac-serial HEX");
		return CLOUD_USAGE;
	}
	if (has(x, O_SERIAL)) {
		if (!x->o.s[O_SERIAL][0] || strlen(x->o.s[O_SERIAL]) > 64) {
			cloud_fail(x, "--serial is 1..64 characters");
			return CLOUD_USAGE;
		}
		rc = cloud_path(x, path, sizeof(path), "/v1/devices?serial=%s", x->o.s[O_SERIAL]);
	} else if (has(x, O_UID)) {
		rc = cloud_check_hex(x, O_UID, 1, 64, hex, sizeof(hex));
		if (rc == CLOUD_OK)
			rc = cloud_path(x, path, sizeof(path), "/v1/devices?uid=%s", hex);
	} else {
		rc = cloud_check_hex(x, O_DAC_SERIAL, 1, 20, hex, sizeof(hex));
		if (rc == CLOUD_OK)
			rc = cloud_path(x, path, sizeof(path), "/v1/devices?dac_serial=%s", hex);
	}
	if (rc != CLOUD_OK || (rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", path, NULL, &a)) != CLOUD_OK)
		return rc;
	/* "matching devices": the answer's list, whatever its key (devices) */
	if (json_is_array(json_object_get(a, "devices"))) {
		list = "devices";
	} else {
		json_object_foreach(a, k, v) {
			if (json_is_array(v)) {
				list = k;
				break;
			}
		}
	}
	rc = list ? cloud_print(x, a, list, "serial") : cloud_show(x, a);
	json_decref(a);
	return rc;
}

/* Entries of a list in an answer, one indented line each under a "key:" line. */
static void show_list(json_t *a, const char *key, const char *lead)
{
	json_t *arr = json_object_get(a, key), *e;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return;
	printf("%s:\n", key);
	json_array_foreach(arr, i, e) {
		fputs("  ", stdout);
		cloud_line(stdout, e, lead);
	}
}

int cloud_device_show(struct cloud *x)
{
	static const char *const lists[][2] = { { "chain", "role" }, { "operations", "id" }, { "rework", NULL } };
	char path[64];
	const char *k;
	json_t *a, *v;
	size_t i;
	int rc;

	(void)!snprintf(path, sizeof(path), "/v1/devices/%lld", x->o.n[O_DEVICE]);
	if ((rc = get_to_show(x, path, &a)) != CLOUD_OK || !a)
		return rc;
	/* the device's own fields as "key: value", then its lists one entry a line */
	json_object_foreach(a, k, v) {
		if (json_is_array(v) && json_array_size(v) && json_is_object(json_array_get(v, 0)))
			continue;
		cloud_put_clean(stdout, k, strlen(k));
		fputs(": ", stdout);
		cloud_value(stdout, k, v, 200);
		fputc('\n', stdout);
	}
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		show_list(a, lists[i][0], lists[i][1]);
	json_object_foreach(a, k, v) {
		for (i = 0; i < sizeof(lists) / sizeof(lists[0]) && strcmp(k, lists[i][0]); i++)
			;
		if (i == sizeof(lists) / sizeof(lists[0]) && json_is_array(v) && json_array_size(v) &&
		    json_is_object(json_array_get(v, 0)))
			show_list(a, k, NULL);
	}
	json_decref(a);
	return CLOUD_OK;
}

int cloud_device_label(struct cloud *x)
{
	char path[64];
	const uint8_t *b;
	size_t len = 0;
	int rc;

	(void)!snprintf(path, sizeof(path), "/v1/devices/%lld/label.svg", x->o.n[O_DEVICE]);
	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_raw(x, "GET", path, NULL, 0, NULL)) != CLOUD_OK)
		return rc;
	b = httpc_body(x->c, &len);
	/* an SVG document, nothing else, goes into a file a viewer will open */
	if (len < 5 || (memcmp(b, "<svg", 4) && memcmp(b, "<?xml", 5))) {
		cloud_fail(x, "the answer is not an SVG image; is %s a writ-cloud?", httpc_base(x->c));
		return CLOUD_REFUSED;
	}
	if ((rc = cloud_save(x, x->o.s[O_OUT], b, len, 0600)) != CLOUD_OK)
		return rc;
	printf("label of device %lld written to %s (%zu bytes)\n", x->o.n[O_DEVICE], x->o.s[O_OUT], len);
	return CLOUD_OK;
}

/* ---- production and line telemetry ---- */

int cloud_production(struct cloud *x)
{
	char path[128], q[64];
	json_t *a, *arr, *f, *pt;
	size_t i, j;
	int rc, n = 0;

	q[0] = '\0';
	if (has(x, O_SINCE))
		n = snprintf(q, sizeof(q), "?since=%lld", x->o.n[O_SINCE]);
	if (has(x, O_BUCKET))
		(void)!snprintf(q + n, sizeof(q) - (size_t)n, "%cbucket=%lld", n ? '&' : '?', x->o.n[O_BUCKET]);
	(void)!snprintf(path, sizeof(path), "/v1/production%s", q);
	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", path, NULL, &a)) != CLOUD_OK)
		return rc;
	arr = json_object_get(a, "factories");
	if (has(x, O_JSON) || !json_is_array(arr)) {
		rc = cloud_print(x, a, "factories", "factory");
		json_decref(a);
		return rc;
	}
	fputs("since=", stdout);
	cloud_value(stdout, "since", json_object_get(a, "since"), 0);
	printf(" bucket=%llds now=", (long long)json_integer_value(json_object_get(a, "bucket")));
	cloud_value(stdout, "now", json_object_get(a, "now"), 0);
	fputc('\n', stdout);
	if (json_array_size(arr) == 0)
		fprintf(stderr, "%s: no devices made in the window\n", x->name);
	/* a factory per line with its totals, each bucket (start, devices) indented under it */
	json_array_foreach(arr, i, f) {
		json_t *pts = json_incref(json_object_get(f, "points"));
		json_object_del(f, "points");
		cloud_line(stdout, f, "factory");
		json_array_foreach(pts, j, pt) {
			fputs("  ", stdout);
			cloud_value(stdout, "time", json_array_get(pt, 0), 0);
			fputc(' ', stdout);
			cloud_value(stdout, NULL, json_array_get(pt, 1), 0);
			fputc('\n', stdout);
		}
		json_decref(pts);
	}
	json_decref(a);
	return CLOUD_OK;
}

/* One telemetry summary on one line: lead's value, then the figures a person reads. */
static void tele_line(json_t *o, const char *lead)
{
	static const char *const keys[] = { "total", "ok", "failed", "yield", "devices_per_hour" };
	json_t *c = json_object_get(o, "cycle_ms"), *v;
	size_t i;

	if (lead)
		cloud_value(stdout, lead, json_object_get(o, lead), 100);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!(v = json_object_get(o, keys[i])))
			continue;
		printf("%s%s=", lead || i ? " " : "", keys[i]);
		if (json_is_real(v))
			printf("%.3f", json_real_value(v));
		else
			cloud_value(stdout, keys[i], v, 100);
	}
	if (json_is_object(c)) {
		fputs(" cycle_ms=", stdout);
		cloud_value(stdout, NULL, json_object_get(c, "p50"), 0);
		fputc('/', stdout);
		cloud_value(stdout, NULL, json_object_get(c, "p95"), 0);
		fputc('/', stdout);
		cloud_value(stdout, NULL, json_object_get(c, "mean"), 0);
	}
	fputc('\n', stdout);
}

int cloud_telemetry(struct cloud *x)
{
	char path[512], num[24];
	json_t *a, *lines, *l, *st;
	size_t i, j, k = 0;
	int rc;

	if ((rc = cloud_check_name(x, O_FACTORY)) != CLOUD_OK || (has(x, O_LINE) && (rc = cloud_check_name(x, O_LINE)) != CLOUD_OK))
		return rc;
	if (has(x, O_SINCE) && has(x, O_UNTIL) && x->o.n[O_SINCE] >= x->o.n[O_UNTIL]) {
		cloud_fail(x, "--since (%lld) must be before --until (%lld)", x->o.n[O_SINCE], x->o.n[O_UNTIL]);
		return CLOUD_USAGE;
	}
	if ((rc = cloud_path(x, path, sizeof(path), "/v1/telemetry?factory=%s", x->o.s[O_FACTORY])) != CLOUD_OK)
		return rc;
	k = strlen(path);
	if (has(x, O_LINE) &&
	    (rc = cloud_path(x, path + k, sizeof(path) - k, "&line=%s", x->o.s[O_LINE])) != CLOUD_OK)
		return rc;
	k = strlen(path);
	if (has(x, O_SINCE)) {
		(void)!snprintf(num, sizeof(num), "%lld", x->o.n[O_SINCE]);
		if ((rc = cloud_path(x, path + k, sizeof(path) - k, "&since=%s", num)) != CLOUD_OK)
			return rc;
		k = strlen(path);
	}
	if (has(x, O_UNTIL)) {
		(void)!snprintf(num, sizeof(num), "%lld", x->o.n[O_UNTIL]);
		if ((rc = cloud_path(x, path + k, sizeof(path) - k, "&until=%s", num)) != CLOUD_OK)
			return rc;
	}
	if ((rc = get_to_show(x, path, &a)) != CLOUD_OK || !a)
		return rc;
	lines = json_object_get(a, "lines");
	fputs("factory ", stdout);
	cloud_value(stdout, NULL, json_object_get(a, "factory"), 100);
	fputs(" since=", stdout);
	cloud_value(stdout, "since", json_object_get(a, "since"), 0);
	fputs(" until=", stdout);
	cloud_value(stdout, "until", json_object_get(a, "until"), 0);
	fputc('\n', stdout);
	if (json_is_object(json_object_get(a, "totals"))) {
		fputs("totals ", stdout);
		tele_line(json_object_get(a, "totals"), NULL);
	}
	if (json_array_size(lines) == 0)
		fprintf(stderr, "%s: no telemetry in the window\n", x->name);
	/* a line per production line, its stations indented under it */
	json_array_foreach(lines, i, l) {
		fputs("line ", stdout);
		tele_line(l, "line");
		json_array_foreach(json_object_get(l, "stations"), j, st) {
			fputs("  station ", stdout);
			tele_line(st, "station");
		}
	}
	json_decref(a);
	return CLOUD_OK;
}

/* ---- records ---- */

/* One CSV record of s[pos..n) (quotes may hold line breaks): the index after it. */
static size_t csv_end(const char *s, size_t n, size_t pos)
{
	int q = 0;

	for (; pos < n; pos++) {
		if (s[pos] == '"')
			q = !q;
		else if (s[pos] == '\n' && !q)
			return pos + 1;
	}
	return n;
}

/* Field idx of the CSV record r[0..n) unquoted into out; -1 if it has no such field. */
static int csv_field(const char *r, size_t n, size_t idx, char *out, size_t cap)
{
	size_t i = 0, f = 0, k = 0;
	int q = 0;

	while (i < n && r[i] != '\n' && r[i] != '\r') {
		if (f == idx && !q && r[i] == ',')
			break;
		if (r[i] == '"') {
			if (q && i + 1 < n && r[i + 1] == '"') {
				if (f == idx && k + 1 < cap)
					out[k++] = '"';
				i += 2;
				continue;
			}
			q = !q;
		} else if (r[i] == ',' && !q) {
			f++;
		} else if (f == idx && k + 1 < cap) {
			out[k++] = r[i];
		}
		i++;
	}
	out[k] = '\0';
	return f >= idx ? 0 : -1;
}

static int seq_of(const char *s, long long *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -1;
	*ret = v;
	return 0;
}

struct page {
	size_t n;          /* records in it */
	int have_cursor;   /* cursor: where the next page starts */
	long long cursor;
};

/* The cursor a record gives: its "id" (writ-cloud's record number, what since= counts),
 * or "seq". */
static int record_cursor(json_t *rec, long long *ret)
{
	json_t *v = json_object_get(rec, "id");

	if (!json_is_integer(v))
		v = json_object_get(rec, "seq");
	if (!json_is_integer(v))
		return -1;
	*ret = (long long)json_integer_value(v);
	return 0;
}

/* jsonl: one JSON object per line, passed through; the cursor is the last one's. */
static int page_jsonl(const uint8_t *b, size_t len, FILE *out, struct page *p)
{
	size_t i = 0, e, last = 0, last_len = 0;
	json_t *j;

	while (i < len) {
		for (e = i; e < len && b[e] != '\n'; e++)
			;
		if (e > i && !(e == i + 1 && b[i] == '\r')) {
			p->n++;
			last = i;
			last_len = e - i;
			if (fwrite(b + i, 1, e - i, out) != e - i || fputc('\n', out) == EOF)
				return -1;
		}
		i = e + 1;
	}
	if (p->n) {
		j = json_loadb((const char *)b + last, last_len, 0, NULL);
		if (record_cursor(j, &p->cursor) == 0)
			p->have_cursor = 1;
		json_decref(j);
	}
	return 0;
}

/* csv: the header line once (first page), then the rows; the cursor is the last row's
 * "id" (or "seq") column. */
static int page_csv(const uint8_t *b, size_t len, FILE *out, int first, struct page *p)
{
	const char *s = (const char *)b;
	size_t h = csv_end(s, len, 0), i, e, last = 0, last_len = 0, col;
	char field[64];
	int seq_col = -1;

	if (len == 0)
		return 0;
	for (col = 0; col < 64 && csv_field(s, h, col, field, sizeof(field)) == 0; col++) {
		if (!strcmp(field, "id")) {
			seq_col = (int)col;
			break;
		}
		if (!strcmp(field, "seq") && seq_col < 0)
			seq_col = (int)col;
	}
	if (first && (fwrite(s, 1, h, out) != h || (h && s[h - 1] != '\n' && fputc('\n', out) == EOF)))
		return -1;
	for (i = h; i < len; i = e) {
		e = csv_end(s, len, i);
		if (e - i <= 2 && (s[i] == '\n' || s[i] == '\r'))
			continue;
		p->n++;
		last = i;
		last_len = e - i;
		if (fwrite(s + i, 1, e - i, out) != e - i || (s[e - 1] != '\n' && fputc('\n', out) == EOF))
			return -1;
	}
	if (p->n && seq_col >= 0 && csv_field(s + last, last_len, (size_t)seq_col, field, sizeof(field)) == 0 &&
	    seq_of(field, &p->cursor) == 0)
		p->have_cursor = 1;
	return 0;
}

/* json: {"records": [...], "next"?: N}; the records are written as elements of one
 * array; the cursor is "next", else the last record's. */
static int page_json(const struct cloud *x, json_t *a, FILE *out, size_t *written, struct page *p)
{
	json_t *arr = json_object_get(a, "records"), *e, *nx = json_object_get(a, "next");
	size_t i;

	if (!json_is_array(arr)) {
		cloud_fail(x, "the answer has no \"records\" list");
		return -1;
	}
	json_array_foreach(arr, i, e) {
		if (fputs((*written)++ ? ",\n" : "\n", out) == EOF || json_dumpf(e, out, JSON_COMPACT) < 0)
			return -1;
	}
	p->n = json_array_size(arr);
	if (json_is_integer(nx)) {
		p->cursor = json_integer_value(nx);
		p->have_cursor = 1;
	} else if (p->n && record_cursor(json_array_get(arr, p->n - 1), &p->cursor) == 0) {
		p->have_cursor = 1;
	}
	return 0;
}

/* --out F: a temporary file beside it, renamed over it when the export is complete. */
static FILE *out_open(const struct cloud *x, char *tmp, size_t cap)
{
	FILE *f;
	int fd;

	if (snprintf(tmp, cap, "%s.XXXXXX", x->o.s[O_OUT]) >= (int)cap)
		return NULL;
	fd = mkstemp(tmp);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
	}
	return f;
}

static int out_finish(const struct cloud *x, FILE *f, const char *tmp)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, x->o.s[O_OUT]) != 0)
		return -1;
	return file_fsync_dir(x->o.s[O_OUT]) < 0 ? -1 : 0;
}

int cloud_records_export(struct cloud *x)
{
	const char *fmt = x->o.s[O_FORMAT] ? x->o.s[O_FORMAT] : "jsonl";
	char path[1024], since[24], limit[24], tmp[4096] = "";
	long long cursor = has(x, O_SINCE) ? x->o.n[O_SINCE] : 0;
	size_t total = 0, written = 0, len = 0;
	const uint8_t *b;
	FILE *out = stdout;
	json_t *a = NULL;
	struct page p;
	int rc, first = 1;

	if (strcmp(fmt, "jsonl") && strcmp(fmt, "csv") && strcmp(fmt, "json")) {
		cloud_fail(x, "--format is jsonl, csv or json");
		return CLOUD_USAGE;
	}
	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = cloud_open(x)) != CLOUD_OK)
		return rc;
	if (has(x, O_OUT) && !(out = out_open(x, tmp, sizeof(tmp)))) {
		cloud_fail(x, "cannot create a file beside %s: %s", x->o.s[O_OUT], strerror(errno));
		return CLOUD_USAGE;
	}
	if (!strcmp(fmt, "json") && fputs("{\"records\": [", out) == EOF)
		goto write_fail;
	(void)!snprintf(limit, sizeof(limit), "%d", RECORDS_PAGE);
	for (;;) {
		(void)!snprintf(since, sizeof(since), "%lld", cursor);
		rc = has(x, O_BATCH) ? cloud_path(x, path, sizeof(path), "/v1/records?product=%s&batch=%s&since=%s&limit=%s"
									   "&format=%s", x->o.s[O_PRODUCT], x->o.s[O_BATCH],
						  since, limit, fmt)
				     : cloud_path(x, path, sizeof(path), "/v1/records?product=%s&since=%s&limit=%s&format=%s",
						  x->o.s[O_PRODUCT], since, limit, fmt);
		if (rc != CLOUD_OK)
			goto out;
		memset(&p, 0, sizeof(p));
		if (!strcmp(fmt, "json")) {
			if ((rc = cloud_call(x, "GET", path, NULL, &a)) != CLOUD_OK)
				goto out;
			if (page_json(x, a, out, &written, &p) < 0)
				goto write_fail;
			json_decref(a);
			a = NULL;
		} else {
			if ((rc = cloud_raw(x, "GET", path, NULL, 0, NULL)) != CLOUD_OK)
				goto out;
			b = httpc_body(x->c, &len);
			if ((!strcmp(fmt, "csv") ? page_csv(b, len, out, first, &p) : page_jsonl(b, len, out, &p)) < 0)
				goto write_fail;
		}
		first = 0;
		total += p.n;
		if (p.n == 0)
			break;
		if (!p.have_cursor) {
			if (p.n < RECORDS_PAGE)
				break; /* a last page: no need to go on */
			cloud_fail(x, "cannot page on: the records carry no \"id\" (nor the answer a \"next\")");
			rc = CLOUD_REFUSED;
			goto out;
		}
		if (p.cursor <= cursor) {
			cloud_fail(x, "the service's pages do not move on (since=%lld gave record %lld); stopping", cursor,
				   p.cursor);
			rc = CLOUD_REFUSED;
			goto out;
		}
		cursor = p.cursor;
	}
	if (!strcmp(fmt, "json") && fputs(written ? "\n]}\n" : "]}\n", out) == EOF)
		goto write_fail;
	if (out != stdout) {
		if (out_finish(x, out, tmp) < 0) {
			out = stdout;
			goto write_fail;
		}
		out = stdout;
		tmp[0] = '\0';
		fprintf(stderr, "%s: %zu records written to %s\n", x->name, total, x->o.s[O_OUT]);
	} else if (fflush(stdout) != 0) {
		goto write_fail;
	} else {
		fprintf(stderr, "%s: %zu records\n", x->name, total);
	}
	rc = CLOUD_OK;
	goto out;
write_fail:
	cloud_fail(x, "cannot write the records%s%s: %s", has(x, O_OUT) ? " to " : "",
		   has(x, O_OUT) ? x->o.s[O_OUT] : "", strerror(errno));
	rc = CLOUD_USAGE;
out:
	json_decref(a);
	if (out != stdout)
		fclose(out);
	if (tmp[0])
		unlink(tmp);
	return rc;
}
