/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writ CLI's writ-cloud commands (docs/cloud-api.md), shared between cmd_cloud.c
 * (options, dispatch, connection, error reporting, output), cmd_cloud_prod.c (products,
 * firmware, versions, factories, batches) and cmd_cloud_admin.c (accounts, alerts,
 * devices, records). Private to cli/: the entry points are in cli/cmds.h.
 */
#ifndef WRIT_CLI_CLOUD_H
#define WRIT_CLI_CLOUD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "web/httpc.h"

/* Exit statuses of every cloud command. */
#define CLOUD_OK 0
#define CLOUD_REFUSED 1 /* the service refused, or answered something unusable */
#define CLOUD_USAGE 2   /* usage, or a local file that cannot be read or written */
#define CLOUD_UNREACHABLE 3

#define CLOUD_DEFAULT_URL "http://127.0.0.1:8443"
#define CLOUD_URL_ENV "WRIT_CLOUD_URL"
#define CLOUD_TOKEN_ENV "WRIT_CLOUD_TOKEN"

/* Every option of every cloud command; a command allows and requires a subset. */
enum copt {
	O_CLOUD, O_TOKEN_FILE, O_JSON,
	O_PRODUCT, O_NAME, O_VID, O_PID, O_QUOTA, O_PAI_MODE, O_SB_PUB, O_ODM, O_HSM, O_PAI, O_OUT,
	O_IMAGE, O_FW_VERSION, O_SIGNATURE, O_SIGNATURE_FILE, O_SIGN_PORTAL,
	O_VERSION, O_FIRMWARE, O_SETTINGS, O_RECIPE, O_ITERATIONS, O_SERIAL_PREFIX, O_REASON,
	O_FACTORY, O_CODE, O_BATCH, O_QUANTITY, O_NOT_BEFORE, O_NOT_AFTER, O_DAYS, O_DAC_DAYS,
	O_FORMAT, O_SINCE, O_SERIAL, O_UID, O_DAC_SERIAL, O_ROLE, O_LABEL, O_ID, O_TOKEN_OUT,
	O_PERMS, O_LIMIT, O_SESSION, O_DEVICES, O_REWORK, O_REWORK_PERMS, O_REWORK_DAYS,
	O_DEVICE, O_BUCKET, O_UNTIL, O_LINE, O_UNPIN, O_USER,
	O_COUNT
};
/* each option is one bit of struct copts.given */
_Static_assert(O_COUNT <= 64, "struct copts.given has 64 bits");
#define OB(o) (UINT64_C(1) << (o))

struct copts {
	const char *s[O_COUNT]; /* the argument as given (argv) */
	long long n[O_COUNT];   /* numeric options, checked in range while parsing */
	uint64_t given;         /* OB(o) for each option present */
};

struct cloud;

struct cloud_cmd {
	const char *group, *sub; /* "batch", "create"; sub NULL for `writ whoami` */
	const char *args;        /* the synopsis after the command */
	const char *help;        /* what it does, its endpoint, details */
	uint64_t required, allowed; /* common options are always allowed */
	int anonymous;           /* sends no token (GET /v1/enrol/{code}) */
	int downloads;           /* answer is a file: --json does not apply */
	int (*run)(struct cloud *x);
};

struct cloud {
	const struct cloud_cmd *cmd;
	struct copts o;
	struct httpc *c;
	char name[64]; /* "writ batch create", for messages */
};

static inline int has(const struct cloud *x, enum copt o)
{
	return (x->o.given & OB(o)) != 0;
}

/* Messages: "writ batch create: ..." on stderr. */
void cloud_fail(const struct cloud *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Load the token (unless the command is anonymous) and make the client. Returns
 * CLOUD_OK or an exit status, having said why. */
int cloud_open(struct cloud *x);

/*
 * One JSON request: body (stolen: decref'd here, may be NULL) to method path; on a 2xx
 * JSON-object answer *ret holds it (the caller decrefs) and CLOUD_OK is returned.
 * Otherwise the reason is printed and the exit status returned: refused (the service's
 * message and code, and what to do next), unreachable, not JSON.
 */
int cloud_call(struct cloud *x, const char *method, const char *path, json_t *body, json_t **ret);
/* cloud_call with a body that must be there: a NULL body (json_pack refused an
 * argument that is not UTF-8 text) is a usage error. */
int cloud_post(struct cloud *x, const char *method, const char *path, json_t *body, json_t **ret);
/* The same for any body and answer (uploads, downloads): the answer is httpc_body. */
int cloud_raw(struct cloud *x, const char *method, const char *path, const void *body, size_t len,
	      const char *content_type);

/* After cloud_raw: the answer as a JSON object into *ret, or the exit status. */
int cloud_answer(struct cloud *x, json_t **ret);

/* A path or query from fmt where each %s is replaced by its argument percent-encoded
 * (httpc_escape); nothing else in fmt is special. CLOUD_USAGE when it does not fit. */
int cloud_path(const struct cloud *x, char *out, size_t cap, const char *fmt, ...);

/* The answer for a person, or with --json the service's text as is. show: one
 * "key: value" line per field (a single object); otherwise one line per object: for
 * list_key the elements of that array (lead printed first), else the object itself. */
int cloud_print(const struct cloud *x, json_t *a, const char *list_key, const char *lead);
int cloud_show(const struct cloud *x, json_t *a);
/* One object on one line: lead's value first, then key=value for the rest. */
void cloud_line(FILE *f, json_t *o, const char *lead);
/* A scalar for a person: strings with control characters dropped; times as UTC. */
void cloud_value(FILE *f, const char *key, json_t *v, size_t max_chars);

/* The answer's body on stdout as is (--json). */
int cloud_print_as_is(const struct cloud *x);
/* A peer's text on a terminal: control characters (C0, DEL, C1) become '?'. */
void cloud_put_clean(FILE *f, const char *s, size_t n);

/* Write the answer body (a download) to path atomically; CLOUD_USAGE if it cannot be. */
int cloud_save(const struct cloud *x, const char *path, const uint8_t *data, size_t len, unsigned mode);

/* Checks of argument values; each prints what is wanted and returns CLOUD_USAGE. */
int cloud_check_name(const struct cloud *x, enum copt o);
int cloud_check_hex(const struct cloud *x, enum copt o, size_t min_bytes, size_t max_bytes, char *out, size_t cap);
const char *cloud_opt_name(enum copt o);

/* The commands (cmd_cloud_admin.c). */
int cloud_whoami(struct cloud *x);
int cloud_user_add(struct cloud *x);
int cloud_user_list(struct cloud *x);
int cloud_token_add(struct cloud *x);
int cloud_token_list(struct cloud *x);
int cloud_token_revoke(struct cloud *x);
int cloud_alert_list(struct cloud *x);
int cloud_device_find(struct cloud *x);
int cloud_device_show(struct cloud *x);
int cloud_device_label(struct cloud *x);
int cloud_production(struct cloud *x);
int cloud_telemetry(struct cloud *x);
int cloud_records_export(struct cloud *x);

/* The commands (cmd_cloud_prod.c). */
int cloud_product_create(struct cloud *x);
int cloud_product_list(struct cloud *x);
int cloud_product_show(struct cloud *x);
int cloud_product_invite(struct cloud *x);
int cloud_product_uninvite(struct cloud *x);
int cloud_product_pai_csr(struct cloud *x);
int cloud_product_pai_upload(struct cloud *x);
int cloud_firmware_upload(struct cloud *x);
int cloud_firmware_list(struct cloud *x);
int cloud_version_create(struct cloud *x);
int cloud_version_list(struct cloud *x);
int cloud_version_show(struct cloud *x);
int cloud_version_approve(struct cloud *x);
int cloud_version_reject(struct cloud *x);
int cloud_version_bundle(struct cloud *x);
int cloud_product_debug_rotate(struct cloud *x);
int cloud_product_rework_policy(struct cloud *x);
int cloud_rework_grant(struct cloud *x);
int cloud_rework_list(struct cloud *x);
int cloud_rework_show(struct cloud *x);
int cloud_rework_revoke(struct cloud *x);
int cloud_factory_create(struct cloud *x);
int cloud_factory_list(struct cloud *x);
int cloud_factory_code(struct cloud *x);
int cloud_factory_enrol_info(struct cloud *x);
int cloud_factory_release_pin(struct cloud *x);
int cloud_batch_create(struct cloud *x);
int cloud_batch_list(struct cloud *x);
int cloud_batch_show(struct cloud *x);
int cloud_batch_writ(struct cloud *x);
int cloud_batch_revoke(struct cloud *x);

#endif
