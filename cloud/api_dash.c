/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Production over time (GET /v1/production, docs/cloud-api.md): devices the portal
 * verified, counted per factory per time bucket, for the dashboard's chart. Counting is
 * done by the store (one grouped query over the devices the caller may read), so a
 * page never pulls every record to draw a line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"

#define PROD_POINTS_MAX 2000
#define PROD_BUCKET_MIN 60
#define PROD_BUCKET_MAX (31 * 86400)

static int arg_int(const char *s, long long dflt, long long *ret)
{
	char *end;
	long long v;

	if (!s) {
		*ret = dflt;
		return 0;
	}
	/* digits only: strtoll alone would take " 1", "+1" */
	if (!s[0] || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
		return -1;
	v = strtoll(s, &end, 10);
	*ret = v;
	return 0;
}

int production_args(struct call *k, long long now, long long *ret_since, long long *ret_bucket)
{
	long long since, bucket;

	if (arg_int(query_arg(k, "bucket"), 3600, &bucket) < 0 || bucket < PROD_BUCKET_MIN || bucket > PROD_BUCKET_MAX)
		return fail(k, 400, "bad_request", "bucket: seconds per point, %d..%d", PROD_BUCKET_MIN, PROD_BUCKET_MAX),
		       WRIT_E_FORMAT;
	if (arg_int(query_arg(k, "since"), now - 86400, &since) < 0 || since < 0 || since > now ||
	    (now - since) / bucket >= PROD_POINTS_MAX)
		return fail(k, 400, "bad_request",
			    "since: Unix seconds in the past, at most %d buckets ago (widen bucket= for a longer span)",
			    PROD_POINTS_MAX), WRIT_E_FORMAT;
	*ret_since = since - since % bucket;
	*ret_bucket = bucket;
	return 0;
}

int h_production(struct call *k)
{
	static const char from[] =
		" FROM devices d JOIN products p ON p.id = d.product_id JOIN batches b ON b.id = d.batch_id"
		" JOIN factories f ON f.id = b.factory_id WHERE d.time >= ? AND d.kind = 'dac'"
		" AND ((? = 1 AND p.oem_id = ?) OR (? = 1 AND EXISTS (SELECT 1 FROM invites i WHERE i.product_id = p.id"
		" AND i.odm_id = ?)))";
	struct db_res *r = NULL, *t = NULL;
	struct db_param p[7];
	long long since, bucket, now = now_s();
	char sql[1024];
	json_t *list, *cur = NULL, *pts = NULL;
	const char *last = "";
	size_t i;
	int err;

	if (strcmp(k->method, "GET") || k->n_segs != 1)
		return fail(k, 405, "method", "GET /v1/production?since=T&bucket=S");
	if (k->who.role == ROLE_FACTORY)
		return forbid(k, "users");
	if (production_args(k, now, &since, &bucket) < 0)
		return 0;
	p[0] = DB_I(bucket);
	p[1] = DB_I(bucket);
	p[2] = DB_I(since);
	p[3] = DB_I(k->who.oem);
	p[4] = DB_I(k->who.org_id);
	p[5] = DB_I(!k->who.oem && k->who.role == ROLE_ODM_ENGINEER);
	p[6] = DB_I(k->who.org_id);
	(void)!snprintf(sql, sizeof(sql), "SELECT f.name, (d.time / ?) * ? AS t, count(*)%s GROUP BY f.name, t"
			" ORDER BY f.name, t", from);
	if ((err = db_query(k->db, sql, p, 7, &r)) < 0)
		return fail_db(k, err, "production");
	(void)!snprintf(sql, sizeof(sql), "SELECT f.name, count(*), sum(CASE WHEN d.record_seq IS NULL THEN 1 ELSE 0 END),"
			" max(d.time)%s GROUP BY f.name ORDER BY f.name", from);
	if ((err = db_query(k->db, sql, p + 2, 5, &t)) < 0) {
		db_res_free(r);
		return fail_db(k, err, "production");
	}
	list = json_array();
	for (i = 0; i < db_rows(r); i++) {
		if (!cur || strcmp(last, db_text(r, i, 0))) {
			cur = json_pack("{s:s, s:[]}", "factory", db_text(r, i, 0), "points");
			json_array_append_new(list, cur);
			pts = json_object_get(cur, "points");
			last = db_text(r, i, 0);
		}
		json_array_append_new(pts, json_pack("[I, I]", (json_int_t)db_int(r, i, 1), (json_int_t)db_int(r, i, 2)));
	}
	/* the totals of the window, beside each factory's series (same order: by name) */
	for (i = 0; i < db_rows(t); i++) {
		size_t j;
		json_t *f;
		json_array_foreach(list, j, f) {
			if (!strcmp(json_string_value(json_object_get(f, "factory")), db_text(t, i, 0))) {
				json_object_set_new(f, "devices", json_integer(db_int(t, i, 1)));
				json_object_set_new(f, "awaiting_record", json_integer(db_int(t, i, 2)));
				json_object_set_new(f, "last_device", json_integer(db_int(t, i, 3)));
			}
		}
	}
	db_res_free(r);
	db_res_free(t);
	return answer(k, 200, json_pack("{s:I, s:I, s:I, s:o}", "since", (json_int_t)since, "bucket", (json_int_t)bucket,
					"now", (json_int_t)now, "factories", list));
}
