/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The production commands of the writ-cloud client: products (and offline PAIs),
 * firmware, product versions, factories (and their release pins), batches
 * (docs/cloud-api.md). Each checks its
 * arguments before it reads the token or opens a connection, so a usage error never
 * costs a request; options, outcomes and output are cmd_cloud.c's.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/keyops.h"
#include "cli/cloud.h"
#include "crypto/ec.h"
#include "crypto/fwsig.h"
#include "host/file.h"
#include "matter/spake2p.h"
#include "wire/bundle.h"
#include "wire/release.h"

#define PAI_FILE_MAX 4096 /* a PAI certificate (DER) given to pai-upload */
#define BATCH_ID_MAX 64
#define ENROL_CODE_MAX 64

/* ---- shared bits ---- */

static int check_text(const struct cloud *x, enum copt o, size_t max)
{
	const char *s = x->o.s[o];
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			break;
	if (n == 0 || n > max || i < n) {
		cloud_fail(x, "--%s is 1..%zu characters, without control characters", cloud_opt_name(o), max);
		return CLOUD_USAGE;
	}
	return CLOUD_OK;
}

/* GET path, then print the answer's list (list_key, one line per element). */
static int get_list(struct cloud *x, const char *path, const char *list_key, const char *lead)
{
	json_t *a;
	int rc;

	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", path, NULL, &a)) != CLOUD_OK)
		return rc;
	rc = cloud_print(x, a, list_key, lead);
	json_decref(a);
	return rc;
}

static int get_show(struct cloud *x, const char *path)
{
	json_t *a;
	int rc;

	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", path, NULL, &a)) != CLOUD_OK)
		return rc;
	rc = cloud_show(x, a);
	json_decref(a);
	return rc;
}

/* GET path (a file: bundle, writ, CSR) into --out. */
static int download(struct cloud *x, const char *path, const char *what)
{
	const uint8_t *b;
	size_t len = 0;
	int rc;

	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_raw(x, "GET", path, NULL, 0, NULL)) != CLOUD_OK)
		return rc;
	b = httpc_body(x->c, &len);
	if (len == 0) {
		cloud_fail(x, "the service sent an empty %s", what);
		return CLOUD_REFUSED;
	}
	if ((rc = cloud_save(x, x->o.s[O_OUT], b, len, 0644)) != CLOUD_OK)
		return rc;
	printf("%s written to %s (%zu bytes)\n", what, x->o.s[O_OUT], len);
	return CLOUD_OK;
}

/* A state change whose answer is small: printed as one line (lead first). */
static int post_line(struct cloud *x, const char *method, const char *path, json_t *body, const char *prefix,
		     const char *lead)
{
	json_t *a;
	int rc;

	if ((rc = cloud_open(x)) != CLOUD_OK) {
		json_decref(body);
		return rc;
	}
	if ((rc = cloud_post(x, method, path, body, &a)) != CLOUD_OK)
		return rc;
	if (!has(x, O_JSON) && prefix)
		printf("%s ", prefix);
	rc = cloud_print(x, a, NULL, lead);
	json_decref(a);
	return rc;
}

/* A --perms list (debug, reflash, reprovision, comma-separated; none_ok: "none" for no
 * rights) as a JSON array into *ret. */
static int perms_array(const struct cloud *x, enum copt o, int none_ok, json_t **ret)
{
	static const char *const names[] = { "debug", "reflash", "reprovision" };
	const char *p = x->o.s[o];
	json_t *a = json_array();
	size_t n, i;

	if (!a)
		return CLOUD_USAGE;
	if (none_ok && !strcmp(p, "none")) {
		*ret = a;
		return CLOUD_OK;
	}
	while (*p) {
		n = strcspn(p, ",");
		for (i = 0; i < 3 && (strlen(names[i]) != n || strncmp(p, names[i], n)); i++)
			;
		if (i == 3)
			break;
		json_array_append_new(a, json_string(names[i]));
		p += n;
		if (*p == ',' && !*++p)
			break;
	}
	if (*p || !json_array_size(a)) {
		json_decref(a);
		cloud_fail(x, "--%s is a comma-separated list of debug, reflash, reprovision%s", cloud_opt_name(o),
			   none_ok ? " (or none)" : "");
		return CLOUD_USAGE;
	}
	*ret = a;
	return CLOUD_OK;
}

/* ---- products ---- */

int cloud_product_create(struct cloud *x)
{
	const char *mode = x->o.s[O_PAI_MODE] ? x->o.s[O_PAI_MODE] : "portal";
	uint8_t pub[WRIT_P256_PUB_LEN];
	char hex[2 * WRIT_P256_PUB_LEN + 1];
	size_t n = 0;
	json_t *body;
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = check_text(x, O_NAME, 64)) != CLOUD_OK)
		return rc;
	if (strcmp(mode, "portal") && strcmp(mode, "offline")) {
		cloud_fail(x, "--pai-mode is portal (the portal's PAA certifies each HSM's PAI) or offline (you sign them)");
		return CLOUD_USAGE;
	}
	if (has(x, O_SB_PUB)) {
		if (arg_bytes(x->o.s[O_SB_PUB], sizeof(pub), sizeof(pub), pub, &n) < 0 || ec_p256_check_pub(pub) < 0) {
			cloud_fail(x, "--secure-boot-pub is a P-256 public key: 65 bytes (04||X||Y) as 130 hex digits, or "
				      "a file of them raw or in hex (writ authority pubkey --key secure-boot prints it)");
			return CLOUD_USAGE;
		}
		hex_encode(pub, sizeof(pub), hex);
	}
	body = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "id", x->o.s[O_PRODUCT], "name", x->o.s[O_NAME], "vid",
			 (json_int_t)x->o.n[O_VID], "pid", (json_int_t)x->o.n[O_PID], "quota", (json_int_t)x->o.n[O_QUOTA],
			 "pai_mode", mode);
	if (body && has(x, O_SB_PUB))
		json_object_set_new(body, "secure_boot_pub", json_string(hex));
	return post_line(x, "POST", "/v1/products", body, "created", "id");
}

int cloud_product_list(struct cloud *x)
{
	return get_list(x, "/v1/products", "products", "id");
}

int cloud_product_show(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s", x->o.s[O_PRODUCT])) != CLOUD_OK)
		return rc;
	return get_show(x, path);
}

int cloud_product_debug_rotate(struct cloud *x)
{
	char path[256], prefix[100];
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/debug-rotate", x->o.s[O_PRODUCT])) != CLOUD_OK)
		return rc;
	(void)!snprintf(prefix, sizeof(prefix), "product %s:", x->o.s[O_PRODUCT]);
	return post_line(x, "POST", path, json_object(), prefix, "debug_gen");
}

int cloud_product_rework_policy(struct cloud *x)
{
	char path[256];
	json_t *perms = NULL, *body;
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = perms_array(x, O_PERMS, 1, &perms)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/rework-policy", x->o.s[O_PRODUCT])) != CLOUD_OK) {
		json_decref(perms);
		return rc;
	}
	if (!json_array_size(perms) && (has(x, O_LIMIT) || has(x, O_DAYS) || has(x, O_SESSION))) {
		json_decref(perms);
		cloud_fail(x, "--perms none allows nothing: --limit, --days and --session go with permissions");
		return CLOUD_USAGE;
	}
	body = json_pack("{s:o}", "perms", perms);
	if (body && has(x, O_LIMIT))
		json_object_set_new(body, "limit", json_integer(x->o.n[O_LIMIT]));
	if (body && has(x, O_DAYS))
		json_object_set_new(body, "days", json_integer(x->o.n[O_DAYS]));
	if (body && has(x, O_SESSION))
		json_object_set_new(body, "session", json_integer(x->o.n[O_SESSION]));
	return post_line(x, "PUT", path, body, NULL, "product");
}

int cloud_product_invite(struct cloud *x)
{
	char path[256];
	json_t *a;
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = cloud_check_name(x, O_ODM)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/invites", x->o.s[O_PRODUCT])) != CLOUD_OK ||
	    (rc = cloud_open(x)) != CLOUD_OK ||
	    (rc = cloud_post(x, "POST", path, json_pack("{s:s}", "odm", x->o.s[O_ODM]), &a)) != CLOUD_OK)
		return rc;
	if (has(x, O_JSON))
		rc = cloud_print(x, a, NULL, NULL);
	else
		printf("%s %s to product %s\n", x->o.s[O_ODM],
		       httpc_status(x->c) == 200 ? "was already invited" : "invited", x->o.s[O_PRODUCT]);
	json_decref(a);
	return rc;
}

int cloud_product_uninvite(struct cloud *x)
{
	char path[256];
	json_t *a;
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = cloud_check_name(x, O_ODM)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/invites/%s", x->o.s[O_PRODUCT], x->o.s[O_ODM])) !=
		    CLOUD_OK ||
	    (rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "DELETE", path, NULL, &a)) != CLOUD_OK)
		return rc;
	if (has(x, O_JSON))
		rc = cloud_print(x, a, NULL, NULL);
	else
		printf("%s no longer invited to product %s\n", x->o.s[O_ODM], x->o.s[O_PRODUCT]);
	json_decref(a);
	return rc;
}

int cloud_product_pai_csr(struct cloud *x)
{
	char path[256], hsm[65];
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK ||
	    (rc = cloud_check_hex(x, O_HSM, 32, 32, hsm, sizeof(hsm))) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/pai/%s/csr", x->o.s[O_PRODUCT], hsm)) != CLOUD_OK ||
	    (rc = download(x, path, "PAI CSR")) != CLOUD_OK)
		return rc;
	fprintf(stderr, "Sign it with your PAA, then: writ product pai-upload --product %s --hsm %s --pai PAI.der\n",
		x->o.s[O_PRODUCT], hsm);
	return CLOUD_OK;
}

int cloud_product_pai_upload(struct cloud *x)
{
	char path[256], hsm[65], *b64 = NULL;
	uint8_t *der = NULL;
	size_t len = 0, cap;
	json_t *a = NULL;
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK ||
	    (rc = cloud_check_hex(x, O_HSM, 32, 32, hsm, sizeof(hsm))) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/pai/%s", x->o.s[O_PRODUCT], hsm)) != CLOUD_OK)
		return rc;
	if (file_read(x->o.s[O_PAI], PAI_FILE_MAX, &der, &len) < 0 || len < 2 || der[0] != 0x30) {
		cloud_fail(x, "cannot read a DER certificate (at most %d bytes) from %s", PAI_FILE_MAX, x->o.s[O_PAI]);
		free(der);
		return CLOUD_USAGE;
	}
	cap = 4 * ((len + 2) / 3) + 1;
	b64 = malloc(cap);
	if (!b64 || matter_b64_encode(der, len, b64, cap) < 0) {
		rc = CLOUD_USAGE;
		goto out;
	}
	if ((rc = cloud_open(x)) != CLOUD_OK ||
	    (rc = cloud_post(x, "PUT", path, json_pack("{s:s}", "pai", b64), &a)) != CLOUD_OK)
		goto out;
	if (!has(x, O_JSON))
		printf("PAI for HSM %s uploaded: ", hsm);
	rc = cloud_print(x, a, NULL, NULL);
out:
	json_decref(a);
	free(der);
	free(b64);
	return rc;
}

/* ---- firmware ---- */

int cloud_firmware_upload(struct cloud *x)
{
	char path[512], fwv[16], sig[2 * WRIT_P256_SIG_LEN + 1];
	uint8_t raw[WRIT_P256_SIG_LEN], *img = NULL;
	size_t len = 0, n = 0;
	json_t *a = NULL;
	int rc, k = has(x, O_SIGNATURE) + has(x, O_SIGNATURE_FILE) + has(x, O_SIGN_PORTAL);

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK)
		return rc;
	if (k != 1) {
		cloud_fail(x, "give exactly one of --signature HEX128, --signature-file F (as `writ firmware sign` "
			      "writes it) or --sign-in-portal (oem-security: the portal signs)");
		return CLOUD_USAGE;
	}
	if (has(x, O_SIGNATURE) && (rc = cloud_check_hex(x, O_SIGNATURE, WRIT_P256_SIG_LEN, WRIT_P256_SIG_LEN, sig,
							 sizeof(sig))) != CLOUD_OK)
		return rc;
	if (has(x, O_SIGNATURE_FILE)) {
		if (arg_bytes(x->o.s[O_SIGNATURE_FILE], sizeof(raw), sizeof(raw), raw, &n) < 0) {
			cloud_fail(x, "--signature-file %s must hold the 64-byte signature r||s, raw or as 128 hex digits",
				   x->o.s[O_SIGNATURE_FILE]);
			return CLOUD_USAGE;
		}
		hex_encode(raw, sizeof(raw), sig);
	}
	(void)!snprintf(fwv, sizeof(fwv), "%lld", x->o.n[O_FW_VERSION]);
	rc = has(x, O_SIGN_PORTAL) ? cloud_path(x, path, sizeof(path), "/v1/products/%s/firmware?fw_version=%s&sign=portal",
						x->o.s[O_PRODUCT], fwv)
				   : cloud_path(x, path, sizeof(path), "/v1/products/%s/firmware?fw_version=%s&signature=%s",
						x->o.s[O_PRODUCT], fwv, sig);
	if (rc != CLOUD_OK)
		return rc;
	if (file_read(x->o.s[O_IMAGE], FWSIG_IMAGE_MAX, &img, &len) < 0 || len == 0) {
		cloud_fail(x, "cannot read a firmware image of 1 byte..4 MiB from %s", x->o.s[O_IMAGE]);
		free(img);
		return CLOUD_USAGE;
	}
	if ((rc = cloud_open(x)) != CLOUD_OK ||
	    (rc = cloud_raw(x, "POST", path, img, len, "application/octet-stream")) != CLOUD_OK ||
	    (rc = cloud_answer(x, &a)) != CLOUD_OK)
		goto out;
	if (!has(x, O_JSON))
		printf("%s ", httpc_status(x->c) == 200 ? "already stored" : "stored");
	rc = cloud_print(x, a, NULL, "sha256");
out:
	json_decref(a);
	free(img);
	return rc;
}

int cloud_firmware_list(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/firmware", x->o.s[O_PRODUCT])) != CLOUD_OK)
		return rc;
	return get_list(x, path, "firmware", "sha256");
}

/* ---- versions ---- */

/* --recipe a,b,c into a JSON array of step names. */
static json_t *recipe_array(const struct cloud *x)
{
	const char *p = x->o.s[O_RECIPE], *e;
	json_t *arr = json_array();
	size_t n;

	while (arr) {
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || n >= BUNDLE_STEP_MAX || json_array_size(arr) >= BUNDLE_RECIPE_MAX ||
		    json_array_append_new(arr, json_stringn(p, n)) < 0) {
			cloud_fail(x, "--recipe is 1..%d step names separated by commas", BUNDLE_RECIPE_MAX);
			json_decref(arr);
			return NULL;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return arr;
}

static int version_path(const struct cloud *x, char *path, size_t cap, const char *tail)
{
	char fmt[64];
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = cloud_check_name(x, O_VERSION)) != CLOUD_OK)
		return rc;
	(void)!snprintf(fmt, sizeof(fmt), "/v1/products/%%s/versions/%%s%s", tail);
	return cloud_path(x, path, cap, fmt, x->o.s[O_PRODUCT], x->o.s[O_VERSION]);
}

int cloud_version_create(struct cloud *x)
{
	char path[256], fw[65];
	uint8_t *settings = NULL;
	size_t len = 0, n;
	json_t *body = NULL, *s = NULL, *r;
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = cloud_check_name(x, O_VERSION)) != CLOUD_OK ||
	    (rc = cloud_check_hex(x, O_FIRMWARE, 32, 32, fw, sizeof(fw))) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/versions", x->o.s[O_PRODUCT])) != CLOUD_OK)
		return rc;
	if (has(x, O_SERIAL_PREFIX) && ((n = strlen(x->o.s[O_SERIAL_PREFIX])) == 0 || n > BUNDLE_PREFIX_MAX)) {
		cloud_fail(x, "--serial-prefix is 1..%d characters", BUNDLE_PREFIX_MAX);
		return CLOUD_USAGE;
	}
	if (file_read(x->o.s[O_SETTINGS], BUNDLE_SETTINGS_MAX, &settings, &len) < 0 || len == 0 ||
	    memchr(settings, 0, len) || !(s = json_stringn((const char *)settings, len))) {
		cloud_fail(x, "cannot read Matter settings text (1..%d bytes of UTF-8) from %s", BUNDLE_SETTINGS_MAX,
			   x->o.s[O_SETTINGS]);
		free(settings);
		return CLOUD_USAGE;
	}
	free(settings);
	body = json_pack("{s:s, s:s, s:o}", "name", x->o.s[O_VERSION], "firmware", fw, "settings", s);
	if (!body)
		return CLOUD_USAGE;
	if (has(x, O_RECIPE)) {
		if (!(r = recipe_array(x))) {
			json_decref(body);
			return CLOUD_USAGE;
		}
		json_object_set_new(body, "recipe", r);
	}
	if (has(x, O_ITERATIONS))
		json_object_set_new(body, "iterations", json_integer((json_int_t)x->o.n[O_ITERATIONS]));
	if (has(x, O_SERIAL_PREFIX) && json_object_set_new(body, "serial_prefix", json_string(x->o.s[O_SERIAL_PREFIX])) < 0) {
		json_decref(body);
		cloud_fail(x, "--serial-prefix must be UTF-8 text");
		return CLOUD_USAGE;
	}
	return post_line(x, "POST", path, body, "created", "name");
}

int cloud_version_list(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/products/%s/versions", x->o.s[O_PRODUCT])) != CLOUD_OK)
		return rc;
	return get_list(x, path, "versions", "name");
}

int cloud_version_show(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = version_path(x, path, sizeof(path), "")) != CLOUD_OK)
		return rc;
	return get_show(x, path);
}

static int version_decide(struct cloud *x, const char *verb, json_t *body)
{
	char path[256], prefix[200];
	int rc;

	if ((rc = version_path(x, path, sizeof(path), verb)) != CLOUD_OK) {
		json_decref(body);
		return rc;
	}
	(void)!snprintf(prefix, sizeof(prefix), "product %s version %s:", x->o.s[O_PRODUCT], x->o.s[O_VERSION]);
	return post_line(x, "POST", path, body, prefix, "state");
}

int cloud_version_approve(struct cloud *x)
{
	return version_decide(x, "/approve", json_object());
}

int cloud_version_reject(struct cloud *x)
{
	int rc = check_text(x, O_REASON, 1024);

	if (rc != CLOUD_OK)
		return rc;
	return version_decide(x, "/reject", json_pack("{s:s}", "reason", x->o.s[O_REASON]));
}

int cloud_version_bundle(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = version_path(x, path, sizeof(path), "/bundle")) != CLOUD_OK)
		return rc;
	return download(x, path, "bundle");
}

/* ---- factories ---- */

int cloud_factory_create(struct cloud *x)
{
	int rc;

	if ((rc = cloud_check_name(x, O_FACTORY)) != CLOUD_OK || (rc = cloud_check_name(x, O_ODM)) != CLOUD_OK)
		return rc;
	rc = post_line(x, "POST", "/v1/factories", json_pack("{s:s, s:s}", "id", x->o.s[O_FACTORY], "odm", x->o.s[O_ODM]),
		       "registered", "id");
	if (rc == CLOUD_OK && !has(x, O_JSON))
		fprintf(stderr, "Give the code to the factory's operator for enrolment: it works once, within 24 hours "
				"(writ factory code makes a new one).\n");
	return rc;
}

int cloud_factory_list(struct cloud *x)
{
	json_t *a, *arr, *f, *h;
	size_t i, k;
	int rc;

	if ((rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", "/v1/factories", NULL, &a)) != CLOUD_OK)
		return rc;
	arr = json_object_get(a, "factories");
	if (has(x, O_JSON) || !json_is_array(arr)) {
		rc = cloud_print(x, a, "factories", "id");
		json_decref(a);
		return rc;
	}
	if (json_array_size(arr) == 0)
		fprintf(stderr, "%s: no factories\n", x->name);
	/* a factory per line, each of its HSMs on an indented line under it */
	json_array_foreach(arr, i, f) {
		cloud_line(stdout, f, "id");
		json_array_foreach(json_object_get(f, "hsms"), k, h) {
			fputs("  hsm ", stdout);
			cloud_line(stdout, h, "id");
		}
	}
	json_decref(a);
	return CLOUD_OK;
}

int cloud_factory_code(struct cloud *x)
{
	char path[256], prefix[100];
	int rc;

	if ((rc = cloud_check_name(x, O_FACTORY)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/factories/%s/codes", x->o.s[O_FACTORY])) != CLOUD_OK)
		return rc;
	(void)!snprintf(prefix, sizeof(prefix), "factory %s:", x->o.s[O_FACTORY]);
	return post_line(x, "POST", path, json_object(), prefix, "code");
}

int cloud_factory_release_pin(struct cloud *x)
{
	const char *v = has(x, O_VERSION) ? x->o.s[O_VERSION] : "";
	char path[256], prefix[100];
	int rc;

	if (has(x, O_VERSION) == has(x, O_UNPIN)) {
		cloud_fail(x, "give --version V to pin a release, or --unpin to follow the channel's latest: one of them");
		return CLOUD_USAGE;
	}
	if (has(x, O_VERSION) && !release_version_ok(v)) {
		cloud_fail(x, "--version is a release version: MAJOR.MINOR.PATCH[-PRE], e.g. 1.4.0 or 1.5.0-rc.1");
		return CLOUD_USAGE;
	}
	if ((rc = cloud_check_name(x, O_FACTORY)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/factories/%s/release-pin", x->o.s[O_FACTORY])) != CLOUD_OK)
		return rc;
	(void)!snprintf(prefix, sizeof(prefix), "factory %s: release pinned to", x->o.s[O_FACTORY]);
	if (!*v) {
		json_t *a;
		if ((rc = cloud_open(x)) != CLOUD_OK ||
		    (rc = cloud_post(x, "PUT", path, json_pack("{s:s}", "version", ""), &a)) != CLOUD_OK)
			return rc;
		if (has(x, O_JSON))
			rc = cloud_print_as_is(x);
		else
			printf("factory %s: release unpinned (it follows its channel's latest)\n", x->o.s[O_FACTORY]);
		json_decref(a);
		return rc;
	}
	return post_line(x, "PUT", path, json_pack("{s:s}", "version", v), prefix, "version");
}

int cloud_factory_enrol_info(struct cloud *x)
{
	uint8_t pub[WRIT_P256_PUB_LEN], pem_pub[WRIT_P256_PUB_LEN];
	json_t *a, *hex, *pem;
	char path[256];
	int rc;

	if ((rc = check_text(x, O_CODE, ENROL_CODE_MAX)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/enrol/%s", x->o.s[O_CODE])) != CLOUD_OK ||
	    (rc = cloud_open(x)) != CLOUD_OK || (rc = cloud_call(x, "GET", path, NULL, &a)) != CLOUD_OK)
		return rc;
	if (has(x, O_OUT)) {
		/* the PEM an HSM will pin must be the key the answer names in hex */
		hex = json_object_get(a, "writ_signing_pub");
		pem = json_object_get(a, "writ_signing_pem");
		if (!json_is_string(hex) || !json_is_string(pem) || hex_decode(json_string_value(hex), pub, sizeof(pub)) < 0 ||
		    json_string_length(hex) != 2 * sizeof(pub) ||
		    ec_pub_from_pem((const uint8_t *)json_string_value(pem), json_string_length(pem), pem_pub) < 0 ||
		    memcmp(pub, pem_pub, sizeof(pub)) != 0) {
			cloud_fail(x, "the answer's writ_signing_pem is not the key writ_signing_pub names: not written");
			json_decref(a);
			return CLOUD_REFUSED;
		}
		if ((rc = cloud_save(x, x->o.s[O_OUT], (const uint8_t *)json_string_value(pem), json_string_length(pem),
				     0644)) != CLOUD_OK) {
			json_decref(a);
			return rc;
		}
		fprintf(stderr, "OEM writ-signing key written to %s: pin it in the HSM with writ-hsmd init --oem-key %s\n",
			x->o.s[O_OUT], x->o.s[O_OUT]);
	}
	rc = cloud_print(x, a, NULL, "factory");
	json_decref(a);
	return rc;
}

/* ---- batches ---- */

static int check_batch_id(const struct cloud *x)
{
	return check_text(x, O_BATCH, BATCH_ID_MAX);
}

int cloud_batch_create(struct cloud *x)
{
	long long nb = has(x, O_NOT_BEFORE) ? x->o.n[O_NOT_BEFORE] : (long long)time(NULL), na;
	char hsm[65];
	json_t *body;
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = cloud_check_name(x, O_VERSION)) != CLOUD_OK ||
	    (rc = cloud_check_name(x, O_FACTORY)) != CLOUD_OK ||
	    (rc = cloud_check_hex(x, O_HSM, 32, 32, hsm, sizeof(hsm))) != CLOUD_OK)
		return rc;
	if (has(x, O_NOT_AFTER) == has(x, O_DAYS)) {
		cloud_fail(x, "give the end of the batch's window: --not-after T (Unix seconds) or --days N, one of them");
		return CLOUD_USAGE;
	}
	na = has(x, O_NOT_AFTER) ? x->o.n[O_NOT_AFTER] : nb + x->o.n[O_DAYS] * 86400;
	if (na <= nb) {
		cloud_fail(x, "--not-after (%lld) must be later than --not-before (%lld)", na, nb);
		return CLOUD_USAGE;
	}
	body = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "product", x->o.s[O_PRODUCT], "version",
			 x->o.s[O_VERSION], "factory", x->o.s[O_FACTORY], "hsm", hsm, "quantity",
			 (json_int_t)x->o.n[O_QUANTITY], "not_before", (json_int_t)nb, "not_after", (json_int_t)na);
	if (body && has(x, O_DAC_DAYS))
		json_object_set_new(body, "dac_days", json_integer((json_int_t)x->o.n[O_DAC_DAYS]));
	if (!has(x, O_REWORK_PERMS) && (has(x, O_LIMIT) || has(x, O_REWORK_DAYS) || has(x, O_SESSION))) {
		json_decref(body);
		cloud_fail(x, "--limit, --rework-days and --session go with --rework-perms");
		return CLOUD_USAGE;
	}
	if (has(x, O_REWORK_PERMS)) {
		json_t *perms = NULL, *rw;
		if ((rc = perms_array(x, O_REWORK_PERMS, 0, &perms)) != CLOUD_OK) {
			json_decref(body);
			return rc;
		}
		rw = json_pack("{s:o}", "perms", perms);
		if (rw && has(x, O_LIMIT))
			json_object_set_new(rw, "limit", json_integer(x->o.n[O_LIMIT]));
		if (rw && has(x, O_REWORK_DAYS))
			json_object_set_new(rw, "days", json_integer(x->o.n[O_REWORK_DAYS]));
		if (rw && has(x, O_SESSION))
			json_object_set_new(rw, "session", json_integer(x->o.n[O_SESSION]));
		if (body && rw)
			json_object_set_new(body, "rework", rw);
		else
			json_decref(rw);
	}
	return post_line(x, "POST", "/v1/batches", body, "created", "id");
}

int cloud_batch_list(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/batches?product=%s", x->o.s[O_PRODUCT])) != CLOUD_OK)
		return rc;
	return get_list(x, path, "batches", "id");
}

int cloud_batch_show(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = check_batch_id(x)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/batches/%s", x->o.s[O_BATCH])) != CLOUD_OK)
		return rc;
	return get_show(x, path);
}

int cloud_batch_writ(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = check_batch_id(x)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/batches/%s/writ", x->o.s[O_BATCH])) != CLOUD_OK)
		return rc;
	return download(x, path, "sealed writ");
}

int cloud_batch_revoke(struct cloud *x)
{
	char path[256], prefix[100];
	int rc;

	if ((rc = check_batch_id(x)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/batches/%s/revoke", x->o.s[O_BATCH])) != CLOUD_OK)
		return rc;
	(void)!snprintf(prefix, sizeof(prefix), "batch %s:", x->o.s[O_BATCH]);
	return post_line(x, "POST", path, json_object(), prefix, "state");
}

/* ---- rework ---- */

int cloud_rework_grant(struct cloud *x)
{
	char hsm[65];
	json_t *perms = NULL, *devs, *body;
	const char *p;
	int rc;

	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK || (rc = cloud_check_name(x, O_FACTORY)) != CLOUD_OK ||
	    (rc = cloud_check_hex(x, O_HSM, 32, 32, hsm, sizeof(hsm))) != CLOUD_OK ||
	    (rc = perms_array(x, O_PERMS, 0, &perms)) != CLOUD_OK)
		return rc;
	body = json_pack("{s:s, s:s, s:s, s:o}", "product", x->o.s[O_PRODUCT], "factory", x->o.s[O_FACTORY], "hsm", hsm,
			 "perms", perms);
	if (body && has(x, O_LIMIT))
		json_object_set_new(body, "limit", json_integer(x->o.n[O_LIMIT]));
	if (body && has(x, O_DAYS))
		json_object_set_new(body, "days", json_integer(x->o.n[O_DAYS]));
	if (body && has(x, O_SESSION))
		json_object_set_new(body, "session", json_integer(x->o.n[O_SESSION]));
	if (body && has(x, O_DEVICES)) {
		devs = json_array();
		for (p = x->o.s[O_DEVICES]; devs && *p;) {
			size_t n = strcspn(p, ","), i;
			for (i = 0; i < n && isxdigit((unsigned char)p[i]); i++)
				;
			if (n != 32 || i != n || json_array_size(devs) >= 64) {
				json_decref(devs);
				json_decref(body);
				cloud_fail(x, "--devices is 1..64 chip UIDs of 16 bytes (32 hex digits), comma-separated");
				return CLOUD_USAGE;
			}
			json_array_append_new(devs, json_stringn(p, n));
			p += n;
			if (*p == ',' && !*++p)
				break;
		}
		if (!json_array_size(devs)) {
			json_decref(devs);
			json_decref(body);
			cloud_fail(x, "--devices is 1..64 chip UIDs of 16 bytes (32 hex digits), comma-separated");
			return CLOUD_USAGE;
		}
		json_object_set_new(body, "devices", devs);
	}
	return post_line(x, "POST", "/v1/rework", body, "granted", "id");
}

int cloud_rework_list(struct cloud *x)
{
	char path[256];
	int rc;

	if (!has(x, O_PRODUCT))
		return get_list(x, "/v1/rework", "rework", "id");
	if ((rc = cloud_check_name(x, O_PRODUCT)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/rework?product=%s", x->o.s[O_PRODUCT])) != CLOUD_OK)
		return rc;
	return get_list(x, path, "rework", "id");
}

static int check_rework_id(const struct cloud *x)
{
	char hex[33];
	return cloud_check_hex(x, O_REWORK, 16, 16, hex, sizeof(hex));
}

int cloud_rework_show(struct cloud *x)
{
	char path[256];
	int rc;

	if ((rc = check_rework_id(x)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/rework/%s", x->o.s[O_REWORK])) != CLOUD_OK)
		return rc;
	return get_show(x, path);
}

int cloud_rework_revoke(struct cloud *x)
{
	char path[256], prefix[100];
	int rc;

	if ((rc = check_rework_id(x)) != CLOUD_OK ||
	    (rc = cloud_path(x, path, sizeof(path), "/v1/rework/%s/revoke", x->o.s[O_REWORK])) != CLOUD_OK)
		return rc;
	(void)!snprintf(prefix, sizeof(prefix), "rework %s:", x->o.s[O_REWORK]);
	return post_line(x, "POST", path, json_object(), prefix, "state");
}
