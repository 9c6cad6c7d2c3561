/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Line telemetry in writ-cloud (docs/cloud-api.md "Line telemetry"): POST
 * /v1/sync/telemetry takes the stations' buckets a factory queued (factory credential;
 * each bucket stored once per (factory, station, run, start), so a push repeated after
 * a lost answer counts nothing twice), and GET /v1/telemetry sums them per factory, line
 * and station over a window for the factory's OEM and its ODM. Sums are done by the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "web/tele.h"

#define SYNC_BUCKETS_MAX 64        /* buckets per POST /v1/sync/telemetry */
#define SPAN_MAX (31 * 86400)      /* GET /v1/telemetry: until - since */
#define SERIES_POINTS_MAX 1500     /* points per line in the answer */
#define TOP_REASONS 10

struct tele_item {
	char station[CLOUD_NAME_MAX + 1], line[CLOUD_NAME_MAX + 1];
	struct tele_bucket b;
};

struct tele_push {
	struct tele_item *it;
	size_t n, accepted, duplicate;
};

static int tx_telemetry(struct call *k, void *arg)
{
	struct tele_push *t = arg;
	int64_t now = now_s();
	size_t i, j;
	int err;

	t->accepted = t->duplicate = 0;
	for (i = 0; i < t->n; i++) {
		const struct tele_item *x = &t->it[i];
		const struct tele_bucket *b = &x->b;
		struct db_param p[34];
		int64_t changed = 0;
		size_t np = 0;

		p[np++] = DB_I(k->who.factory_id);
		p[np++] = DB_T(x->station);
		p[np++] = DB_T(x->line);
		p[np++] = DB_T(b->run);
		p[np++] = DB_I(b->start);
		p[np++] = DB_I(b->window);
		p[np++] = DB_I(b->total);
		p[np++] = DB_I(b->ok);
		p[np++] = DB_I((int64_t)b->cycle_ms_sum);
		p[np++] = DB_I(b->other_reasons);
		for (j = 0; j < TELE_STEPS; j++)
			p[np++] = DB_I(b->fail[j]);
		for (j = 0; j < TELE_HIST_N; j++)
			p[np++] = DB_I(b->hist[j]);
		p[np++] = DB_I(now);
		err = db_exec(k->db,
			      "INSERT INTO telemetry (factory_id, station, line, run, start, win, total, ok, cycle_ms_sum,"
			      " other_reasons, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, h0, h1, h2, h3, h4, h5,"
			      " h6, h7, h8, h9, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			      " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			      " ON CONFLICT (factory_id, station, run, start) DO NOTHING",
			      p, np, &changed);
		if (err < 0)
			return err;
		if (!changed) {
			t->duplicate++;
			continue;
		}
		t->accepted++;
		for (j = 0; j < b->n_reasons; j++) {
			err = db_exec(k->db,
				      "INSERT INTO telemetry_reasons (factory_id, station, run, start, step, reason, n, line)"
				      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				      (struct db_param[]){ DB_I(k->who.factory_id), DB_T(x->station), DB_T(b->run),
							   DB_I(b->start), DB_I(b->reasons[j].step), DB_T(b->reasons[j].text),
							   DB_I(b->reasons[j].n), DB_T(x->line) },
				      8, NULL);
			if (err < 0)
				return err;
		}
	}
	return 0;
}

void tele_push_free(struct tele_push *t)
{
	if (t)
		free(t->it);
	free(t);
}

int telemetry_req(struct call *k, struct tele_push **ret)
{
	struct tele_push *t = calloc(1, sizeof(*t));
	json_t *o, *arr, *v;
	char why[200];
	size_t i;

	*ret = NULL;
	if (!t)
		return fail(k, 503, "unavailable", "out of memory; try again"), WRIT_E_FORMAT;
	o = json_loadb(k->body ? k->body : "", k->body_len, JSON_REJECT_DUPLICATES, NULL);
	arr = json_object_get(o, "buckets");
	if (!json_is_object(o) || json_object_size(o) != 1 || !json_is_array(arr) || !json_array_size(arr) ||
	    json_array_size(arr) > SYNC_BUCKETS_MAX) {
		fail(k, 400, "bad_request", "the body is {\"buckets\": [1..%d {station, line, bucket}]}", SYNC_BUCKETS_MAX);
		goto refused;
	}
	t->n = json_array_size(arr);
	if (!(t->it = calloc(t->n, sizeof(*t->it)))) {
		fail(k, 503, "unavailable", "out of memory; try again");
		goto refused;
	}
	json_array_foreach(arr, i, v) {
		const char *st = json_string_value(json_object_get(v, "station"));
		const char *ln = json_string_value(json_object_get(v, "line"));
		if (!json_is_object(v) || json_object_size(v) != 3 || !st || !ln || !name_ok(st) || !name_ok(ln)) {
			fail(k, 400, "bad_request", "buckets[%zu]: {station, line, bucket} with names of 1..64 [A-Za-z0-9._-]",
			     i);
			goto refused;
		}
		/* no age limit here: a long outage may hold a bucket back for weeks */
		if (tele_parse(json_object_get(v, "bucket"), now_s(), 0, &t->it[i].b, why, sizeof(why)) < 0) {
			fail(k, 400, "bad_request", "buckets[%zu].bucket: %s", i, why);
			goto refused;
		}
		memcpy(t->it[i].station, st, strlen(st) + 1);
		memcpy(t->it[i].line, ln, strlen(ln) + 1);
	}
	json_decref(o);
	*ret = t;
	return 0;
refused:
	json_decref(o);
	tele_push_free(t);
	return WRIT_E_FORMAT;
}

/* POST /v1/sync/telemetry {"buckets": [{"station", "line", "bucket"}]} */
int telemetry_sync(struct call *k)
{
	struct tele_push *t = NULL;
	int err;

	if (telemetry_req(k, &t) < 0)
		return 0;
	err = in_tx(k, tx_telemetry, t);
	if (err < 0)
		fail_db(k, err, "telemetry");
	else
		answer(k, 200, json_pack("{s:I, s:I}", "accepted", (json_int_t)t->accepted, "duplicate",
					 (json_int_t)t->duplicate));
	tele_push_free(t);
	return 0;
}

static int arg_i64(const char *s, int64_t dflt, int64_t *ret)
{
	if (!s) {
		*ret = dflt;
		return 0;
	}
	if (!s[0] || strspn(s, "0123456789") != strlen(s) || strlen(s) > 12)
		return -1;
	*ret = strtoll(s, NULL, 10);
	return 0;
}

/* The summary object of one group: totals, yield, rate, cycle time, failures. */
static json_t *summary(const struct db_res *r, size_t row, size_t c0)
{
	uint64_t hist[TELE_HIST_N];
	int64_t total = db_int(r, row, c0), ok = db_int(r, row, c0 + 1), sum = db_int(r, row, c0 + 2);
	int64_t first = db_int(r, row, c0 + 3), end = db_int(r, row, c0 + 4);
	json_t *o, *fails = json_object(), *h = json_array();
	size_t i;

	for (i = 0; i < TELE_STEPS; i++) {
		int64_t n = db_int(r, row, c0 + 5 + i);
		if (n)
			json_object_set_new(fails, tele_step_name(i), json_integer(n));
	}
	for (i = 0; i < TELE_HIST_N; i++) {
		hist[i] = (uint64_t)db_int(r, row, c0 + 5 + TELE_STEPS + i);
		json_array_append_new(h, json_integer((json_int_t)hist[i]));
	}
	o = json_pack("{s:I, s:I, s:I, s:o, s:o, s:{s:I, s:I, s:o}, s:o, s:o, s:I, s:I}", "total", (json_int_t)total,
		      "ok", (json_int_t)ok, "failed", (json_int_t)(total - ok), "yield",
		      total ? json_real((double)ok / (double)total) : json_null(), "devices_per_hour",
		      end > first ? json_real((double)ok * 3600.0 / (double)(end - first)) : json_null(), "cycle_ms",
		      "p50", (json_int_t)tele_hist_pct(hist, 0.5), "p95", (json_int_t)tele_hist_pct(hist, 0.95), "mean",
		      ok ? json_integer(sum / ok) : json_null(), "cycle_hist", h, "fail_by_step", fails, "first",
		      (json_int_t)first, "end", (json_int_t)end);
	return o;
}

#define SUMS                                                                                                   \
	"sum(total), sum(ok), sum(cycle_ms_sum), min(start), max(start + win), sum(f0), sum(f1), sum(f2),"   \
	" sum(f3), sum(f4), sum(f5), sum(f6), sum(f7), sum(f8), sum(f9), sum(f10), sum(f11), sum(f12), sum(h0),"   \
	" sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8), sum(h9)"

static json_t *reasons_of(struct call *k, int64_t fid, const char *line, int64_t since, int64_t until, int *err)
{
	struct db_res *r = NULL;
	json_t *a = json_array();
	size_t i;

	*err = db_query(k->db,
			"SELECT step, reason, sum(n) AS s FROM telemetry_reasons WHERE factory_id = ? AND start >= ?"
			" AND start < ? AND (? = '' OR line = ?) GROUP BY step, reason ORDER BY s DESC, step, reason LIMIT 10",
			(struct db_param[]){ DB_I(fid), DB_I(since), DB_I(until), DB_T(line), DB_T(line) }, 5, &r);
	if (*err < 0) {
		json_decref(a);
		return NULL;
	}
	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "step", tele_step_name((size_t)db_int(r, i, 0)),
						   "reason", db_text(r, i, 1), "n", (json_int_t)db_int(r, i, 2)));
	db_res_free(r);
	return a;
}

int telemetry_args(struct call *k, int64_t now, const char **ret_factory, const char **ret_line, int64_t *ret_since,
		   int64_t *ret_until)
{
	const char *fname = query_arg(k, "factory"), *line = query_arg(k, "line");
	int64_t since, until;

	if (!fname || !name_ok(fname) || (line && !name_ok(line)))
		return fail(k, 400, "bad_request", "factory=NAME is required; line=NAME optional (1..64 [A-Za-z0-9._-])"),
		       WRIT_E_FORMAT;
	if (arg_i64(query_arg(k, "until"), now, &until) < 0 || arg_i64(query_arg(k, "since"), until - 86400, &since) < 0 ||
	    since >= until || until - since > SPAN_MAX)
		return fail(k, 400, "bad_request", "since < until, Unix seconds, at most %d days apart", SPAN_MAX / 86400),
		       WRIT_E_FORMAT;
	*ret_factory = fname;
	*ret_line = line;
	*ret_since = since;
	*ret_until = until;
	return 0;
}

/* GET /v1/telemetry?factory=NAME[&line=L][&since=T][&until=T] */
int h_telemetry(struct call *k)
{
	const char *fname = NULL, *line = NULL;
	struct db_res *r = NULL, *g = NULL, *s = NULL, *pts = NULL, *st = NULL;
	int64_t now = now_s(), since, until, fid;
	json_t *lines = NULL, *tot = NULL, *reasons = NULL;
	size_t i, j;
	int err;

	if (strcmp(k->method, "GET") || k->n_segs != 1)
		return fail(k, 405, "method", "GET /v1/telemetry?factory=NAME[&line=L][&since=T][&until=T]");
	if (k->who.role == ROLE_FACTORY)
		return forbid(k, "users of the factory's OEM or ODM");
	if (telemetry_args(k, now, &fname, &line, &since, &until) < 0)
		return 0;
	/* tenancy: the factory's OEM and the ODM that runs it; anyone else sees no factory */
	err = db_query(k->db, "SELECT id FROM factories WHERE name = ? AND (oem_id = ? OR odm_id = ?)",
		       (struct db_param[]){ DB_T(fname), DB_I(k->who.org_id), DB_I(k->who.org_id) }, 3, &r);
	if (err < 0)
		return fail_db(k, err, "telemetry");
	if (db_rows(r) != 1) {
		db_res_free(r);
		return fail(k, 404, "not_found", "no factory %s visible to you", fname);
	}
	fid = db_int(r, 0, 0);
	db_res_free(r);
	if (!line)
		line = "";
	{
		struct db_param p[5] = { DB_I(fid), DB_I(since), DB_I(until), DB_T(line), DB_T(line) };
		if ((err = db_query(k->db, "SELECT line, " SUMS " FROM telemetry WHERE factory_id = ? AND start >= ? AND"
					   " start < ? AND (? = '' OR line = ?) GROUP BY line ORDER BY line",
				    p, 5, &g)) < 0 ||
		    (err = db_query(k->db, "SELECT " SUMS " FROM telemetry WHERE factory_id = ? AND start >= ? AND"
					   " start < ? AND (? = '' OR line = ?)",
				    p, 5, &s)) < 0 ||
		    (err = db_query(k->db, "SELECT line, station, " SUMS " FROM telemetry WHERE factory_id = ? AND start >= ?"
					   " AND start < ? AND (? = '' OR line = ?) GROUP BY line, station ORDER BY line, station",
				    p, 5, &st)) < 0 ||
		    (err = db_query(k->db, "SELECT line, start, sum(total), sum(ok)" " FROM telemetry WHERE factory_id = ?"
					   " AND start >= ? AND start < ? AND (? = '' OR line = ?) GROUP BY line, start"
					   " ORDER BY line, start",
				    p, 5, &pts)) < 0)
			goto dberr;
	}
	lines = json_array();
	for (i = 0; i < db_rows(g); i++) {
		json_t *l = summary(g, i, 1), *pa = json_array();
		size_t n = 0;
		for (j = 0; j < db_rows(pts); j++)
			if (!strcmp(db_text(pts, j, 0), db_text(g, i, 0)) && n++ < SERIES_POINTS_MAX)
				json_array_append_new(pa, json_pack("[I, I, I]", (json_int_t)db_int(pts, j, 1),
								    (json_int_t)db_int(pts, j, 2),
								    (json_int_t)db_int(pts, j, 3)));
		json_object_set_new(l, "line", json_string(db_text(g, i, 0)));
		json_object_set_new(l, "points", pa);
		pa = json_array();
		for (j = 0; j < db_rows(st); j++) {
			json_t *one;
			if (strcmp(db_text(st, j, 0), db_text(g, i, 0)))
				continue;
			one = summary(st, j, 2);
			json_object_set_new(one, "station", json_string(db_text(st, j, 1)));
			json_array_append_new(pa, one);
		}
		json_object_set_new(l, "stations", pa);
		if (!(reasons = reasons_of(k, fid, db_text(g, i, 0), since, until, &err)))
			goto dberr;
		json_object_set_new(l, "top_reasons", reasons);
		json_array_append_new(lines, l);
	}
	tot = summary(s, 0, 0);
	if (!(reasons = reasons_of(k, fid, line, since, until, &err)))
		goto dberr;
	json_object_set_new(tot, "top_reasons", reasons);
	{
		json_t *bounds = json_array();
		for (i = 0; i < TELE_HIST_N; i++)
			json_array_append_new(bounds, i + 1 < TELE_HIST_N ? json_integer(tele_hist_bound(i)) : json_null());
		answer(k, 200, json_pack("{s:s, s:o, s:I, s:I, s:o, s:o, s:o}", "factory", fname, "line",
					 line[0] ? json_string(line) : json_null(), "since", (json_int_t)since, "until",
					 (json_int_t)until, "hist_bounds_ms", bounds, "totals", tot, "lines", lines));
	}
	db_res_free(g);
	db_res_free(s);
	db_res_free(pts);
	db_res_free(st);
	return 0;
dberr:
	json_decref(lines);
	json_decref(tot);
	db_res_free(g);
	db_res_free(s);
	db_res_free(pts);
	db_res_free(st);
	return fail_db(k, err, "telemetry");
}
