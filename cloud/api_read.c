/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading what was made: device records (one per DAC the HSMs journalled, with the
 * factory's record once synced), device search and alerts (docs/cloud-api.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "crypto/x509_info.h"
#include "factory/record.h"
#include "host/file.h"
#include "matter/label.h"
#include "wire/bundle.h"

#define RECORDS_PAGE_MAX 10000

#define DEVICE_COLS                                                                                                   \
	"d.id, p.name, b.writ_id, d.kind, d.idx, d.uid, d.serial, d.dac_serial, d.dac_sha256, d.time, h.hsm_id,"       \
	" d.hsm_seq, f.name, d.record_seq, d.record, p.oem_id, b.org_id, d.product_id"
#define DEVICE_FROM                                                                                                   \
	" FROM devices d JOIN products p ON p.id = d.product_id JOIN batches b ON b.id = d.batch_id"                   \
	" JOIN hsms h ON h.id = d.hsm_pk JOIN factories f ON f.id = b.factory_id"

/* Readers of devices: the product's OEM (its OEM roles) and invited ODMs. */
static const char reader_clause[] =
	" AND ((? = 1 AND p.oem_id = ?) OR (? = 1 AND EXISTS (SELECT 1 FROM invites i WHERE i.product_id = p.id"
	" AND i.odm_id = ?)))";

static void reader_params(const struct call *k, struct db_param *p)
{
	p[0] = DB_I(k->who.oem);
	p[1] = DB_I(k->who.org_id);
	p[2] = DB_I(!k->who.oem && k->who.role == ROLE_ODM_ENGINEER);
	p[3] = DB_I(k->who.org_id);
}

static json_t *device_json(struct db_res *r, size_t i)
{
	/* the UID's length is read before json_pack: the order in which a call's arguments
	 * are evaluated is unspecified, so db_blob(..., &len) and len cannot be in one call */
	size_t len, uid_len = 0;
	const uint8_t *uid = db_blob(r, i, 5, &uid_len);
	json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:I, s:o, s:I, s:o, s:o, s:I, s:o, s:I, s:s}", "id",
			      (json_int_t)db_int(r, i, 0), "product", db_text(r, i, 1), "batch",
			      hexj(db_blob(r, i, 2, &len), 16), "operation", db_text(r, i, 3), "index",
			      (json_int_t)db_int(r, i, 4), "uid", hexj(uid, uid_len), "serial",
			      (json_int_t)db_int(r, i, 6), "dac_serial", hexj(db_blob(r, i, 7, &len), 12), "dac_sha256",
			      hexj(db_blob(r, i, 8, &len), 32), "time", (json_int_t)db_int(r, i, 9), "hsm",
			      hexj(db_blob(r, i, 10, &len), 32), "hsm_seq", (json_int_t)db_int(r, i, 11), "factory",
			      db_text(r, i, 12));
	json_t *rec;

	if (!o)
		return NULL;
	if (!db_isnull(r, i, 13) && (rec = json_loads(db_text(r, i, 14), 0, NULL)) != NULL) {
		json_object_set_new(o, "record_seq", json_integer(db_int(r, i, 13)));
		json_object_set_new(o, "station", json_incref(json_object_get(rec, "station")));
		json_object_set_new(o, "line", json_incref(json_object_get(rec, "line")));
		json_object_set_new(o, "result", json_incref(json_object_get(rec, "result")));
		json_object_set_new(o, "qr", json_incref(json_object_get(rec, "qr")));
		json_object_set_new(o, "manual", json_incref(json_object_get(rec, "manual")));
		json_object_set_new(o, "firmware_version", json_incref(json_object_get(rec, "firmware_version")));
		json_decref(rec);
	} else {
		json_object_set_new(o, "record_seq", json_null());
	}
	return o;
}

static const char *csv_cols[] = { "id", "product", "batch", "operation", "index", "uid", "serial", "dac_serial",
				  "dac_sha256", "time", "hsm", "hsm_seq", "factory", "record_seq", "station", "line",
				  "result", "qr", "manual", "firmware_version" };

/* One CSV line of a device (RFC 4180; text that a spreadsheet would run as a formula
 * gets a leading '). */
static int csv_line(json_t *o, char **out, size_t *len, size_t *cap)
{
	size_t i, k;
	for (i = 0; i < sizeof(csv_cols) / sizeof(csv_cols[0]); i++) {
		json_t *v = json_object_get(o, csv_cols[i]);
		char num[32];
		const char *s = num;
		int quote, inject = 0;
		if (json_is_integer(v))
			(void)!snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		else if (json_is_string(v)) {
			s = json_string_value(v);
			inject = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r';
		} else
			num[0] = 0;
		quote = strpbrk(s, ",\"\r\n") != NULL;
		if (*len + 2 * strlen(s) + 8 > *cap) {
			size_t nc = (*cap + 2 * strlen(s) + 8) * 2;
			char *n = realloc(*out, nc);
			if (!n)
				return WRIT_E_NOMEM;
			*out = n;
			*cap = nc;
		}
		if (i)
			(*out)[(*len)++] = ',';
		if (quote)
			(*out)[(*len)++] = '"';
		if (inject)
			(*out)[(*len)++] = '\'';
		for (k = 0; s[k]; k++) {
			if (s[k] == '"')
				(*out)[(*len)++] = '"';
			(*out)[(*len)++] = s[k];
		}
		if (quote)
			(*out)[(*len)++] = '"';
	}
	(*out)[(*len)++] = '\n';
	return 0;
}

int records_args(struct call *k, struct records_args *ret)
{
	const char *since = query_arg(k, "since"), *limit = query_arg(k, "limit");

	memset(ret, 0, sizeof(*ret));
	ret->product = query_arg(k, "product");
	ret->batch = query_arg(k, "batch");
	ret->format = query_arg(k, "format");
	ret->since = since ? strtoll(since, NULL, 10) : 0;
	ret->limit = limit ? strtoll(limit, NULL, 10) : 1000;
	if (!ret->format)
		ret->format = "json";
	if (strcmp(ret->format, "json") && strcmp(ret->format, "jsonl") && strcmp(ret->format, "csv"))
		return fail(k, 400, "bad_request", "format: json, jsonl or csv"), WRIT_E_FORMAT;
	if (ret->since < 0 || ret->limit < 1 || ret->limit > RECORDS_PAGE_MAX)
		return fail(k, 400, "bad_request", "since >= 0; limit 1..%d", RECORDS_PAGE_MAX), WRIT_E_FORMAT;
	if (ret->batch && (!hex_ok(ret->batch, 16) || hex_decode(ret->batch, ret->batch_id, 16) < 0))
		return fail(k, 400, "bad_request", "batch: the batch id (32 hex digits)"), WRIT_E_FORMAT;
	return 0;
}

int h_records(struct call *k)
{
	struct records_args a;
	const char *prod, *batch, *format;
	struct db_param p[8];
	struct db_res *r = NULL;
	const uint8_t *bid = a.batch_id;
	long long s, l;
	char sql[1024];
	size_t i, np = 0, len = 0, cap = 0;
	char *out = NULL;
	json_t *list;
	int err;

	if (strcmp(k->method, "GET") || k->n_segs != 1)
		return fail(k, 405, "method", "GET /v1/records");
	if (k->who.role == ROLE_FACTORY)
		return forbid(k, "users");
	if (records_args(k, &a) < 0)
		return 0;
	prod = a.product;
	batch = a.batch;
	format = a.format;
	s = a.since;
	l = a.limit;
	(void)!snprintf(sql, sizeof(sql), "SELECT " DEVICE_COLS DEVICE_FROM " WHERE d.id > ?%s%s%s ORDER BY d.id LIMIT ?",
			prod ? " AND p.name = ?" : "", batch ? " AND b.writ_id = ?" : "", reader_clause);
	p[np++] = DB_I(s);
	if (prod)
		p[np++] = DB_T(prod);
	if (batch)
		p[np++] = DB_B(bid, 16);
	reader_params(k, p + np);
	np += 4;
	p[np++] = DB_I(l);
	if ((err = db_query(k->db, sql, p, np, &r)) < 0)
		return fail_db(k, err, "records");
	if (!strcmp(format, "json")) {
		list = json_array();
		for (i = 0; i < db_rows(r); i++)
			json_array_append_new(list, device_json(r, i));
		answer(k, 200, json_pack("{s:o, s:I}", "records", list, "next",
					 (json_int_t)(db_rows(r) ? db_int(r, db_rows(r) - 1, 0) : s)));
		db_res_free(r);
		return 0;
	}
	if (!strcmp(format, "csv")) {
		const char *hdr = "id,product,batch,operation,index,uid,serial,dac_serial,dac_sha256,time,hsm,hsm_seq,"
				  "factory,record_seq,station,line,result,qr,manual,firmware_version\n";
		cap = strlen(hdr) + 1024;
		if ((out = malloc(cap))) {
			len = strlen(hdr);
			memcpy(out, hdr, len);
		}
	}
	for (i = 0; out || !strcmp(format, "jsonl") ? i < db_rows(r) : 0; i++) {
		json_t *o = device_json(r, i);
		if (!o)
			break;
		if (!strcmp(format, "csv")) {
			err = csv_line(o, &out, &len, &cap);
		} else {
			char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
			size_t tl = t ? strlen(t) : 0;
			if (t && len + tl + 2 > cap) {
				size_t nc = (cap + tl + 2) * 2;
				char *n = realloc(out, nc);
				if (n) {
					out = n;
					cap = nc;
				}
			}
			if (t && len + tl + 2 <= cap) {
				memcpy(out + len, t, tl);
				len += tl;
				out[len++] = '\n';
			}
			free(t);
		}
		json_decref(o);
	}
	db_res_free(r);
	k->bytes = out ? (uint8_t *)out : malloc(1);
	k->bytes_len = out ? len : 0;
	k->content_type = !strcmp(format, "csv") ? "text/csv" : "application/x-ndjson";
	k->status = 200;
	return 0;
}

static int device_one(struct call *k);

int h_devices(struct call *k)
{
	const char *serial = query_arg(k, "serial"), *uid = query_arg(k, "uid"), *dser = query_arg(k, "dac_serial");
	uint8_t b[32];
	struct db_param p[6];
	struct db_res *r = NULL;
	char sql[1024], *end;
	const uint8_t *ub;
	json_t *list, *o;
	size_t i, np = 0, n;
	int err;

	if (k->n_segs > 1)
		return device_one(k);
	if (strcmp(k->method, "GET") || k->n_segs != 1)
		return fail(k, 405, "method", "GET /v1/devices?serial=|uid=|dac_serial=");
	if (k->who.role == ROLE_FACTORY)
		return forbid(k, "users");
	if (!!serial + !!uid + !!dser != 1)
		return fail(k, 400, "bad_request", "give exactly one of serial=, uid= (hex), dac_serial= (24 hex digits)");
	if (serial) {
		long long v = strtoll(serial, &end, 10);
		if (!serial[0] || *end || v < 0)
			return fail(k, 400, "bad_request", "serial: a device serial number");
		p[np++] = DB_I(v);
	} else {
		const char *h = uid ? uid : dser;
		n = strlen(h) / 2;
		if (!n || n > 32 || !hex_ok(h, n) || hex_decode(h, b, n) < 0 || (dser && n != 12))
			return fail(k, 400, "bad_request", "uid: 2..64 hex digits; dac_serial: 24 hex digits");
		p[np++] = DB_B(b, n);
	}
	(void)!snprintf(sql, sizeof(sql), "SELECT " DEVICE_COLS DEVICE_FROM " WHERE %s = ?%s ORDER BY d.id LIMIT 100",
			serial ? "d.serial" : uid ? "d.uid" : "d.dac_serial", reader_clause);
	reader_params(k, p + np);
	np += 4;
	if ((err = db_query(k->db, sql, p, np, &r)) < 0)
		return fail_db(k, err, "devices");
	list = json_array();
	for (i = 0; i < db_rows(r); i++) {
		ub = db_blob(r, i, 5, &n);
		if ((o = device_json(r, i)) != NULL)
			json_object_set_new(o, "rework", rework_history(k, db_int(r, i, 17), ub, n));
		json_array_append_new(list, o);
	}
	db_res_free(r);
	return answer(k, 200, json_pack("{s:o}", "devices", list));
}

int h_alerts(struct call *k)
{
	struct db_res *r = NULL;
	json_t *list;
	size_t i;
	int err;

	if (strcmp(k->method, "GET") || k->n_segs != 1)
		return fail(k, 405, "method", "GET /v1/alerts");
	if (!k->who.oem)
		return forbid(k, "OEM users");
	err = db_query(k->db,
		       "SELECT a.id, a.time, a.kind, coalesce(f.name, ''), a.hsm_pk, a.detail, a.occurrences, a.last_seen,"
		       " a.last_detail, CASE WHEN a.closed = 0 AND a.time > ? THEN 1 ELSE 0 END"
		       " FROM alerts a LEFT JOIN factories f ON f.id = a.factory_id"
		       " WHERE a.org_id = ? ORDER BY a.last_seen DESC, a.id DESC LIMIT 1000",
		       (struct db_param[]){ DB_I(now_s() - ALERT_WINDOW_S), DB_I(k->who.org_id) }, 2, &r);
	if (err < 0)
		return fail_db(k, err, "alerts");
	list = json_array();
	for (i = 0; i < db_rows(r); i++)
		json_array_append_new(list, json_pack("{s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:b}", "id",
						      (json_int_t)db_int(r, i, 0), "time", (json_int_t)db_int(r, i, 1),
						      "kind", db_text(r, i, 2), "factory", db_text(r, i, 3), "detail",
						      db_text(r, i, 5), "count", (json_int_t)db_int(r, i, 6), "first_seen",
						      (json_int_t)db_int(r, i, 1), "last_seen", (json_int_t)db_int(r, i, 7),
						      "last_detail", db_text(r, i, 8), "open", db_int(r, i, 9) == 1));
	db_res_free(r);
	return answer(k, 200, json_pack("{s:o}", "alerts", list));
}

/* ---- one device: its page (GET /v1/devices/{id}) and its label ---- */

/* The columns after DEVICE_COLS that the device page needs. */
#define DEVICE_MORE ", d.hsm_pk, v.name, p.pai_mode, b.version_id" /* d.product_id is DEVICE_COLS' last */
#define DEVICE_MORE_FROM " JOIN versions v ON v.id = b.version_id"
enum { DM_PRODUCT = 17, DM_HSM, DM_VERSION, DM_PAI_MODE, DM_VERSION_ID };

static json_t *cert_json(const char *role, const uint8_t *der, size_t len)
{
	struct x509_info xi;

	if (x509_info_parse(der, len, &xi) < 0)
		return json_pack("{s:s, s:s}", "role", role, "error", "the stored certificate does not parse");
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o}", "role", role, "subject", xi.subject, "issuer",
			 xi.issuer, "serial", xi.serial, "not_before", (json_int_t)xi.not_before, "not_after",
			 (json_int_t)xi.not_after, "sha256", hexj(xi.sha256, 32), "der", b64j(der, len));
}

/* The chain a device's DAC hangs from: the DAC (what the journal proved: serial and
 * hash; the DAC itself stays with the device and the factory), the PAI the portal
 * certified or the OEM uploaded for that HSM, and the portal's PAA (portal mode only:
 * in offline mode the PAA is the OEM's own and the portal does not hold it). */
static json_t *chain_json(struct call *k, struct db_res *r)
{
	json_t *chain = json_array();
	struct db_res *pr = NULL;
	const uint8_t *b;
	uint8_t *paa = NULL;
	size_t len = 0;

	json_array_append_new(chain, json_pack("{s:s, s:o, s:o}", "role", "dac", "serial",
					       hexj(db_blob(r, 0, 7, &len), 12), "sha256",
					       hexj(db_blob(r, 0, 8, &len), 32)));
	if (db_query(k->db, "SELECT der FROM pais WHERE product_id = ? AND hsm_pk = ?",
		     (struct db_param[]){ DB_I(db_int(r, 0, DM_PRODUCT)), DB_I(db_int(r, 0, DM_HSM)) }, 2, &pr) == 0 &&
	    db_rows(pr) == 1 && (b = db_blob(pr, 0, 0, &len)) && len)
		json_array_append_new(chain, cert_json("pai", b, len));
	db_res_free(pr);
	if (!strcmp(db_text(r, 0, DM_PAI_MODE), "portal") && keys_paa_der(k->db, db_int(r, 0, 15), &paa, &len) == 0)
		json_array_append_new(chain, cert_json("paa", paa, len));
	free(paa);
	return chain;
}

/* The serial text printed on the label: the version's serial prefix and the number,
 * as the station made it (station/line.c). The prefix is in the signed bundle. */
static int serial_text(struct call *k, int64_t version_id, int64_t oem_id, long long serial, char *out, size_t cap)
{
	struct db_res *r = NULL;
	struct bundle *b = calloc(1, sizeof(*b));
	uint8_t pub[WRIT_P256_PUB_LEN];
	const uint8_t *msg;
	size_t len = 0;
	int err;

	if (!b)
		return WRIT_E_NOMEM;
	if ((err = keys_pub(k->db, oem_id, KEY_WRIT, pub)) < 0 ||
	    (err = db_query(k->db, "SELECT bundle FROM versions WHERE id = ?", (struct db_param[]){ DB_I(version_id) },
			    1, &r)) < 0)
		goto out;
	err = WRIT_E_NOTFOUND;
	if (db_rows(r) != 1 || !(msg = db_blob(r, 0, 0, &len)) ||
	    (err = bundle_verify(msg, len, pub, b)) < 0)
		goto out;
	err = snprintf(out, cap, "%s%llu", b->serial_prefix, (unsigned long long)serial) >= (int)cap ? WRIT_E_TOOBIG : 0;
out:
	db_res_free(r);
	free(b);
	return err;
}

static int device_label(struct call *k, struct db_res *r)
{
	const char *qr, *manual;
	char serial[64];
	char *svg = NULL;
	size_t len = 0;
	json_t *rec;
	int err;

	if (db_isnull(r, 0, 13) || !(rec = json_loads(db_text(r, 0, 14), 0, NULL)))
		return fail(k, 404, "not_found",
			    "no label yet: the onboarding codes come with the factory's record of this device, which has not "
			    "reached the portal; let the factory sync, then retry");
	qr = json_string_value(json_object_get(rec, "qr"));
	manual = json_string_value(json_object_get(rec, "manual"));
	if ((err = serial_text(k, db_int(r, 0, DM_VERSION_ID), db_int(r, 0, 15), db_int(r, 0, 6), serial,
			       sizeof(serial))) < 0) {
		json_decref(rec);
		return fail_db(k, err == WRIT_E_NOTFOUND || err == WRIT_E_BADSIG ? WRIT_E_IO : err, "label");
	}
	err = qr && manual ? matter_label_svg(qr, manual, serial, &svg, &len) : WRIT_E_INVAL;
	json_decref(rec);
	if (err == WRIT_E_NOMEM)
		return fail(k, 500, "internal", "out of memory");
	if (err < 0)
		return fail(k, 409, "state", "this device's record holds no valid onboarding codes (QR, manual code), so "
			    "there is no label to draw; see its record");
	k->bytes = (uint8_t *)svg;
	k->bytes_len = len;
	k->content_type = "image/svg+xml";
	k->status = 200;
	return 0;
}

static int device_one(struct call *k)
{
	struct db_param p[5];
	struct db_res *r = NULL, *hr = NULL;
	const char *id = k->segs[1];
	char sql[1024], *end;
	long long v;
	json_t *o, *hist;
	const uint8_t *uid;
	size_t i, len = 0;
	int err, label = k->n_segs == 3 && !strcmp(k->segs[2], "label.svg");

	if (strcmp(k->method, "GET") || (k->n_segs != 2 && !label))
		return fail(k, 405, "method", "GET /v1/devices/{id} or /v1/devices/{id}/label.svg");
	if (k->who.role == ROLE_FACTORY)
		return forbid(k, "users");
	/* digits only: strtoll alone would take " 1" and "+1" */
	v = strspn(id, "0123456789") == strlen(id) ? strtoll(id, &end, 10) : -1;
	if (!id[0] || v <= 0 || strlen(id) > 18)
		return fail(k, 400, "bad_request", "a device id is the number the device search answered (\"id\")");
	p[0] = DB_I(v);
	reader_params(k, p + 1);
	(void)!snprintf(sql, sizeof(sql), "SELECT " DEVICE_COLS DEVICE_MORE DEVICE_FROM DEVICE_MORE_FROM " WHERE d.id = ?%s",
			reader_clause);
	if ((err = db_query(k->db, sql, p, 5, &r)) < 0)
		return fail_db(k, err, "device");
	if (db_rows(r) != 1) {
		db_res_free(r);
		return fail(k, 404, "not_found", "no such device (or not one of your products): search again");
	}
	if (label) {
		err = device_label(k, r);
		db_res_free(r);
		return err;
	}
	o = device_json(r, 0);
	if (!o) {
		db_res_free(r);
		return fail(k, 500, "internal", "out of memory");
	}
	json_object_set_new(o, "version", json_string(db_text(r, 0, DM_VERSION)));
	json_object_set_new(o, "chain", chain_json(k, r));
	/* every operation the portal knows on this chip (a DAC, a re-issue): its history */
	uid = db_blob(r, 0, 5, &len);
	p[0] = DB_B(uid, len);
	p[1] = DB_I(db_int(r, 0, DM_PRODUCT));
	hist = json_array();
	if ((err = db_query(k->db, "SELECT " DEVICE_COLS DEVICE_FROM " WHERE d.uid = ? AND d.product_id = ? ORDER BY d.id"
				   " LIMIT 100", p, 2, &hr)) < 0) {
		json_decref(hist);
		json_decref(o);
		db_res_free(r);
		return fail_db(k, err, "device history");
	}
	for (i = 0; i < db_rows(hr); i++)
		json_array_append_new(hist, device_json(hr, i));
	json_object_set_new(o, "operations", hist);
	json_object_set_new(o, "rework", rework_history(k, db_int(r, 0, DM_PRODUCT), uid, len));
	db_res_free(hr);
	db_res_free(r);
	return answer(k, 200, o);
}
