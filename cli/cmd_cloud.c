/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ product|version|factory|batch|records|device|user|token|alert|whoami` and
 * `writ firmware upload|list`: a client of writ-cloud's API (docs/cloud-api.md). This
 * file holds what every command shares: one option table (each command allows and
 * requires a subset, so a misplaced option is a usage error rather than silently
 * ignored), the dispatch, the connection (the token only from a mode-600 file or the
 * environment, never argv), the mapping of outcomes to exit statuses (0 done, 1
 * refused, 2 usage, 3 unreachable) with what to do next, and the output (one line per
 * object for a person, the service's own JSON with --json). The commands themselves are
 * in cmd_cloud_prod.c (production) and cmd_cloud_admin.c (accounts, alerts, devices,
 * records).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/ct.h"
#include "cli/cloud.h"
#include "cli/cmds.h"
#include "host/file.h"
#include "wire/bundle.h"

/* ---- options ---- */

struct optdef {
	const char *name, *meta;
	char kind; /* 's' string, 'd' decimal, 'x' hexadecimal, 'f' flag */
	long long min, max;
};

static const struct optdef optdefs[O_COUNT] = {
	[O_CLOUD] = { "cloud", "URL", 's', 0, 0 },
	[O_TOKEN_FILE] = { "token-file", "F", 's', 0, 0 },
	[O_JSON] = { "json", NULL, 'f', 0, 0 },
	[O_PRODUCT] = { "product", "ID", 's', 0, 0 },
	[O_NAME] = { "name", "NAME", 's', 0, 0 },
	[O_VID] = { "vid", "HEX", 'x', 1, 0xfffe },
	[O_PID] = { "pid", "HEX", 'x', 1, 0xffff },
	[O_QUOTA] = { "quota", "N", 'd', 1, 1000000000 },
	[O_PAI_MODE] = { "pai-mode", "MODE", 's', 0, 0 },
	[O_SB_PUB] = { "secure-boot-pub", "HEX|FILE", 's', 0, 0 },
	[O_ODM] = { "odm", "ORG", 's', 0, 0 },
	[O_HSM] = { "hsm", "HEX64", 's', 0, 0 },
	[O_PAI] = { "pai", "F.der", 's', 0, 0 },
	[O_OUT] = { "out", "F", 's', 0, 0 },
	[O_IMAGE] = { "image", "F", 's', 0, 0 },
	[O_FW_VERSION] = { "fw-version", "N", 'd', 0, 0xffffffffLL },
	[O_SIGNATURE] = { "signature", "HEX128", 's', 0, 0 },
	[O_SIGNATURE_FILE] = { "signature-file", "F", 's', 0, 0 },
	[O_SIGN_PORTAL] = { "sign-in-portal", NULL, 'f', 0, 0 },
	[O_VERSION] = { "version", "NAME", 's', 0, 0 },
	[O_FIRMWARE] = { "firmware", "SHA256", 's', 0, 0 },
	[O_SETTINGS] = { "settings", "FILE", 's', 0, 0 },
	[O_RECIPE] = { "recipe", "a,b,c", 's', 0, 0 },
	[O_ITERATIONS] = { "iterations", "N", 'd', BUNDLE_ITER_MIN, BUNDLE_ITER_MAX },
	[O_SERIAL_PREFIX] = { "serial-prefix", "P", 's', 0, 0 },
	[O_REASON] = { "reason", "TEXT", 's', 0, 0 },
	[O_FACTORY] = { "factory", "ID", 's', 0, 0 },
	[O_CODE] = { "code", "CODE", 's', 0, 0 },
	[O_BATCH] = { "batch", "ID", 's', 0, 0 },
	[O_QUANTITY] = { "quantity", "N", 'd', 1, 1000000000 },
	[O_NOT_BEFORE] = { "not-before", "T", 'd', 0, 1LL << 40 },
	[O_NOT_AFTER] = { "not-after", "T", 'd', 0, 1LL << 40 },
	[O_DAYS] = { "days", "N", 'd', 1, 36500 },
	[O_DAC_DAYS] = { "dac-days", "N", 'd', 1, 36500 },
	[O_FORMAT] = { "format", "jsonl|csv|json", 's', 0, 0 },
	[O_SINCE] = { "since", "N", 'd', 0, 1LL << 62 },
	[O_SERIAL] = { "serial", "S", 's', 0, 0 },
	[O_UID] = { "uid", "HEX", 's', 0, 0 },
	[O_DAC_SERIAL] = { "dac-serial", "HEX", 's', 0, 0 },
	[O_ROLE] = { "role", "ROLE", 's', 0, 0 },
	[O_LABEL] = { "label", "TEXT", 's', 0, 0 },
	[O_ID] = { "id", "ID", 's', 0, 0 },
	[O_TOKEN_OUT] = { "token-out", "F", 's', 0, 0 },
	[O_PERMS] = { "perms", "LIST", 's', 0, 0 },
	[O_LIMIT] = { "limit", "N", 'd', 1, 1000000 },
	[O_SESSION] = { "session", "S", 'd', 1, 86400 },
	[O_DEVICES] = { "devices", "HEX,HEX", 's', 0, 0 },
	[O_REWORK] = { "rework", "ID", 's', 0, 0 },
	[O_REWORK_PERMS] = { "rework-perms", "LIST", 's', 0, 0 },
	[O_REWORK_DAYS] = { "rework-days", "N", 'd', 1, 3650 },
	[O_DEVICE] = { "device", "ID", 'd', 1, 999999999999999999LL },
	[O_BUCKET] = { "bucket", "S", 'd', 60, 2678400 },
	[O_UNTIL] = { "until", "T", 'd', 1, 1LL << 40 },
	[O_LINE] = { "line", "NAME", 's', 0, 0 },
	[O_UNPIN] = { "unpin", NULL, 'f', 0, 0 },
	[O_USER] = { "user", "NAME", 's', 0, 0 },
};

#define OPT_TOKEN_ARGV 1000
#define OPT_HELP 1001

const char *cloud_opt_name(enum copt o)
{
	return optdefs[o].name;
}

#define P OB(O_PRODUCT)
#define V OB(O_VERSION)

static const struct cloud_cmd cmds[] = {
	{ "product", "create", "--product ID --name NAME --vid HEX --pid HEX --quota N [--pai-mode portal|offline] "
			       "[--secure-boot-pub HEX|FILE]",
	  "Create a product (oem-admin): POST /v1/products. --quota is the lifetime total that may ever be\n"
	  "produced (1..10^9). --pai-mode portal (the default): the portal's PAA certifies each HSM's PAI;\n"
	  "offline: you sign each PAI yourself (product pai-csr, pai-upload). --secure-boot-pub (65 bytes: 130\n"
	  "hex digits, or a file raw or hex): you sign firmware offline with your own key; without it the\n"
	  "portal's secure-boot key is the product's.",
	  P | OB(O_NAME) | OB(O_VID) | OB(O_PID) | OB(O_QUOTA), OB(O_PAI_MODE) | OB(O_SB_PUB), 0, 0,
	  cloud_product_create },
	{ "product", "list", "", "The products you may see: GET /v1/products.", 0, 0, 0, 0, cloud_product_list },
	{ "product", "show", "--product ID",
	  "One product with its keys, quota, allocation and invited ODMs: GET /v1/products/{p}.", P, 0, 0, 0,
	  cloud_product_show },
	{ "product", "invite", "--product ID --odm ORG",
	  "Let an ODM see the product and produce it (oem-admin): POST /v1/products/{p}/invites.", P | OB(O_ODM), 0,
	  0, 0, cloud_product_invite },
	{ "product", "uninvite", "--product ID --odm ORG",
	  "Take an ODM's invitation back (oem-admin): DELETE /v1/products/{p}/invites/{odm}.", P | OB(O_ODM), 0, 0,
	  0, cloud_product_uninvite },
	{ "product", "debug-rotate", "--product ID",
	  "Move the product to the next debug key generation (oem-admin, oem-security): POST\n"
	  "/v1/products/{p}/debug-rotate. Every rework right minted afterwards carries it, and a chip that has\n"
	  "seen it refuses delegates of older generations. Prints the new generation.", P, 0, 0, 0,
	  cloud_product_debug_rotate },
	{ "product", "rework-policy", "--product ID --perms LIST|none [--limit N] [--days N] [--session S]",
	  "What rework rights an ODM's batch may carry (oem-admin, oem-security): PUT\n"
	  "/v1/products/{p}/rework-policy. --perms is a comma-separated list of debug, reflash, reprovision\n"
	  "(none: ODM batches carry no rework rights, the default); --limit unlocks (default 10), --days\n"
	  "(default 90) and --session seconds (default 3600) are the most a batch may ask.",
	  P | OB(O_PERMS), OB(O_LIMIT) | OB(O_DAYS) | OB(O_SESSION), 0, 0, cloud_product_rework_policy },
	{ "product", "pai-csr", "--product ID --hsm HEX64 --out F.der",
	  "Download an edge HSM's PAI CSR (DER) to sign offline (OEM roles, offline PAI mode):\n"
	  "GET /v1/products/{p}/pai/{hsm}/csr.", P | OB(O_HSM) | OB(O_OUT), 0, 0, 1, cloud_product_pai_csr },
	{ "product", "pai-upload", "--product ID --hsm HEX64 --pai F.der",
	  "Upload the PAI you signed for an edge HSM (oem-admin, oem-security; offline PAI mode):\n"
	  "PUT /v1/products/{p}/pai/{hsm}.", P | OB(O_HSM) | OB(O_PAI), 0, 0, 0, cloud_product_pai_upload },
	{ "firmware", "upload", "--product ID --image F --fw-version N (--signature HEX128 | --signature-file F | "
				"--sign-in-portal)",
	  "Upload a firmware image (1 byte..4 MiB): POST /v1/products/{p}/firmware. The signature (\"writ fw v1\",\n"
	  "r||s: 128 hex digits, or a file of 64 raw bytes or hex, as `writ firmware sign` writes) must verify\n"
	  "with the product's secure-boot key. --sign-in-portal (oem-security) has the portal sign it with the\n"
	  "product's secure-boot key, when the portal holds it. Uploading the same image again is not an error.",
	  P | OB(O_IMAGE) | OB(O_FW_VERSION), OB(O_SIGNATURE) | OB(O_SIGNATURE_FILE) | OB(O_SIGN_PORTAL), 0, 0,
	  cloud_firmware_upload },
	{ "firmware", "list", "--product ID", "The product's firmware images: GET /v1/products/{p}/firmware.", P, 0, 0,
	  0, cloud_firmware_list },
	{ "version", "create", "--product ID --version NAME --firmware SHA256 --settings FILE [--recipe a,b,c] "
			       "[--iterations N] [--serial-prefix P]",
	  "Create a product version, pending approval (odm-engineer, oem-admin): POST /v1/products/{p}/versions.\n"
	  "--firmware is the SHA-256 of an uploaded image (firmware list); --settings a file of Matter settings\n"
	  "text (at most 16 KiB); --recipe the steps, in order (discover,keys,dac,chain,factory-data,secret,otp,\n"
	  "firmware,lock,verify,record,label); --iterations the SPAKE2+ PBKDF2 count (1000..100000).",
	  P | V | OB(O_FIRMWARE) | OB(O_SETTINGS), OB(O_RECIPE) | OB(O_ITERATIONS) | OB(O_SERIAL_PREFIX), 0, 0,
	  cloud_version_create },
	{ "version", "list", "--product ID", "The product's versions and their states: GET /v1/products/{p}/versions.",
	  P, 0, 0, 0, cloud_version_list },
	{ "version", "show", "--product ID --version NAME",
	  "One version (with the reason when rejected): GET /v1/products/{p}/versions/{v}.", P | V, 0, 0, 0,
	  cloud_version_show },
	{ "version", "approve", "--product ID --version NAME",
	  "Approve a pending version for production (oem-admin, oem-security):\n"
	  "POST /v1/products/{p}/versions/{v}/approve.", P | V, 0, 0, 0, cloud_version_approve },
	{ "version", "reject", "--product ID --version NAME --reason TEXT",
	  "Reject a pending version (oem-admin, oem-security): POST /v1/products/{p}/versions/{v}/reject.",
	  P | V | OB(O_REASON), 0, 0, 0, cloud_version_reject },
	{ "version", "bundle", "--product ID --version NAME --out F.wbundle",
	  "Download the version's signed bundle: GET /v1/products/{p}/versions/{v}/bundle.", P | V | OB(O_OUT), 0,
	  0, 1, cloud_version_bundle },
	{ "factory", "create", "--factory ID --odm ORG",
	  "Register a factory run by an ODM (oem-admin): POST /v1/factories. Prints its one-time enrolment code\n"
	  "(valid 24 hours) for the factory's operator.", OB(O_FACTORY) | OB(O_ODM), 0, 0, 0, cloud_factory_create },
	{ "factory", "list", "", "Factories and their edge HSMs: GET /v1/factories.", 0, 0, 0, 0, cloud_factory_list },
	{ "factory", "code", "--factory ID",
	  "A new one-time enrolment code for a factory (oem-admin): POST /v1/factories/{f}/codes.", OB(O_FACTORY), 0,
	  0, 0, cloud_factory_code },
	{ "factory", "release-pin", "--factory ID (--version V | --unpin)",
	  "Pin the release of the factory-side programs a factory runs (oem-admin, oem-security of the\n"
	  "factory's OEM): PUT /v1/factories/{f}/release-pin. --version V (MAJOR.MINOR.PATCH[-PRE]): the\n"
	  "factory takes V instead of its channel's latest, also an older one (a way back); --unpin: it\n"
	  "follows its channel's latest again. See docs/releases.md.",
	  OB(O_FACTORY), V | OB(O_UNPIN), 0, 0, cloud_factory_release_pin },
	{ "factory", "enrol-info", "--code CODE [--out OEM-KEY.pem]",
	  "What an enrolment code is for, without using it (no token needed): GET /v1/enrol/{code}. --out writes\n"
	  "the OEM's writ-signing public key as PEM for `writ-hsmd init --oem-key`.", OB(O_CODE), OB(O_OUT), 1, 0,
	  cloud_factory_enrol_info },
	{ "batch", "create", "--product ID --version NAME --factory ID --hsm HEX64 --quantity N "
			     "(--not-after T | --days N) [--not-before T] [--dac-days N] "
			     "[--rework-perms LIST [--limit N] [--rework-days N] [--session S]]",
	  "Create a production batch (odm-engineer): POST /v1/batches. The version must be approved, the factory\n"
	  "run by your organisation and the HSM enrolled there; the quantity must fit in the product's quota.\n"
	  "Times are Unix seconds; --not-before defaults to now, --days N sets --not-after N days after it.\n"
	  "--rework-perms (debug, reflash, reprovision, comma-separated) gives the HSM rework rights for the\n"
	  "batch's devices from --not-before for --rework-days (default 90), --limit unlocks (default 10),\n"
	  "sessions of at most --session seconds (default 3600): only within the product's rework policy.",
	  P | V | OB(O_FACTORY) | OB(O_HSM) | OB(O_QUANTITY),
	  OB(O_NOT_BEFORE) | OB(O_NOT_AFTER) | OB(O_DAYS) | OB(O_DAC_DAYS) | OB(O_REWORK_PERMS) | OB(O_LIMIT) |
		  OB(O_REWORK_DAYS) | OB(O_SESSION),
	  0, 0, cloud_batch_create },
	{ "batch", "list", "--product ID", "The product's batches: GET /v1/batches?product=P.", P, 0, 0, 0,
	  cloud_batch_list },
	{ "batch", "show", "--batch ID", "One batch, its serial range, state and counts: GET /v1/batches/{id}.",
	  OB(O_BATCH), 0, 0, 0, cloud_batch_show },
	{ "batch", "writ", "--batch ID --out F.cose",
	  "Download the batch's sealed writ: GET /v1/batches/{id}/writ.", OB(O_BATCH) | OB(O_OUT), 0, 0, 1,
	  cloud_batch_writ },
	{ "batch", "revoke", "--batch ID",
	  "Revoke a batch (oem-admin, oem-security, the ODM that made it): POST /v1/batches/{id}/revoke. Its\n"
	  "unused units return to the quota once the HSM's journal shows the revocation loaded.", OB(O_BATCH), 0, 0,
	  0, cloud_batch_revoke },
	{ "rework", "grant", "--product ID --factory ID --hsm HEX64 --perms LIST [--limit N] [--days N] "
			     "[--session S] [--devices HEX32,HEX32...]",
	  "Grant rework rights to a factory's edge HSM (oem-admin, oem-security): POST /v1/rework. A rework writ\n"
	  "(kind 2) reaches the HSM through the factory's writ feed. --perms: debug, reflash, reprovision\n"
	  "(comma-separated); --limit unlocks in all (default 10, never the product's quota); --days from now\n"
	  "(default 90); --session the longest unlock in seconds (default 3600); --devices: only these chip\n"
	  "UIDs (1..64), otherwise every device the HSM made of the product. Prints the grant's id.",
	  P | OB(O_FACTORY) | OB(O_HSM) | OB(O_PERMS), OB(O_LIMIT) | OB(O_DAYS) | OB(O_SESSION) | OB(O_DEVICES), 0, 0,
	  cloud_rework_grant },
	{ "rework", "list", "[--product ID]",
	  "Rework rights you may see (grants and those of batches), with their use: GET /v1/rework.", 0, P, 0, 0,
	  cloud_rework_list },
	{ "rework", "show", "--rework ID",
	  "One grant: its rights, key generation, used/limit and state: GET /v1/rework/{id}.", OB(O_REWORK), 0, 0, 0,
	  cloud_rework_show },
	{ "rework", "revoke", "--rework ID",
	  "Revoke a grant (oem-admin, oem-security): POST /v1/rework/{id}/revoke. A revocation writ reaches the\n"
	  "HSM through the factory's feed; the HSM signs no unlock under the grant once it has loaded it.",
	  OB(O_REWORK), 0, 0, 0, cloud_rework_revoke },
	{ "records", "export", "--product ID [--batch ID] [--since N] [--format jsonl|csv|json] [--out F]",
	  "All device records of a product (or one batch), page by page: GET /v1/records. --since N starts\n"
	  "after record N; --format jsonl (the default) and csv are the service's; json is one object\n"
	  "{\"records\": [...]}. --out F is written whole or not at all (mode 600: records hold setup codes).",
	  P, OB(O_BATCH) | OB(O_SINCE) | OB(O_FORMAT) | OB(O_OUT), 0, 1, cloud_records_export },
	{ "device", "find", "--serial S | --uid HEX | --dac-serial HEX",
	  "Find devices by serial number, chip UID or DAC certificate serial: GET /v1/devices.", 0,
	  OB(O_SERIAL) | OB(O_UID) | OB(O_DAC_SERIAL), 0, 0, cloud_device_find },
	{ "device", "show", "--device ID",
	  "One device (product readers): GET /v1/devices/{id}, ID being the \"id\" that device find or records\n"
	  "export gave. Prints its fields, then its certificate chain (the DAC from the HSM's signed journal,\n"
	  "the PAI, the portal's PAA), every operation on the same chip (DAC, re-issue) and its rework history,\n"
	  "one line each.", OB(O_DEVICE), 0, 0, 0, cloud_device_show },
	{ "device", "label", "--device ID --out F.svg",
	  "Download a device's onboarding label (product readers): GET /v1/devices/{id}/label.svg, an SVG with\n"
	  "the Matter QR code, the manual pairing code and the serial text, drawn from the factory record once\n"
	  "it has synced. F is written whole or not at all, mode 600: the codes are the device's setup secret.",
	  OB(O_DEVICE) | OB(O_OUT), 0, 0, 1, cloud_device_label },
	{ "production", NULL, "[--since T] [--bucket S]",
	  "Devices made per factory over time (product readers): GET /v1/production. Counts verified DACs (not\n"
	  "re-issues) per factory in buckets of --bucket seconds (60..2678400, default 3600) from --since (Unix\n"
	  "seconds, default a day ago; at most 2000 buckets back). One line per factory with its totals\n"
	  "(devices, awaiting_record: DACs whose factory record has not arrived yet, last_device), then one\n"
	  "indented line per bucket: its start and count.", 0, OB(O_SINCE) | OB(O_BUCKET), 0, 0, cloud_production },
	{ "telemetry", NULL, "--factory ID [--line NAME] [--since T] [--until T]",
	  "Line telemetry of a factory (users of its OEM and of the ODM that runs it): GET /v1/telemetry. Sums\n"
	  "the stations' buckets that start in [--since, --until) (Unix seconds; default the day before\n"
	  "--until, which defaults to now; at most 31 days), for every line or only --line. Prints the\n"
	  "totals, then one line per line and an indented line per station: total, ok, failed, yield, devices\n"
	  "per hour, cycle time p50/p95/mean in ms. --json has the histogram, the failures by step and the top\n"
	  "reasons too.", OB(O_FACTORY), OB(O_LINE) | OB(O_SINCE) | OB(O_UNTIL), 0, 0, cloud_telemetry },
	{ "user", "add", "--name NAME --role oem-admin|oem-security|odm-engineer [--token-out F]",
	  "Add a user to your organisation (oem-admin: oem-admin, oem-security; odm-engineer: odm-engineer):\n"
	  "POST /v1/users. The new user's token is shown once: on stdout, or written to --token-out F (mode 600).",
	  OB(O_NAME) | OB(O_ROLE), OB(O_TOKEN_OUT), 0, 0, cloud_user_add },
	{ "user", "list", "", "The users of your organisation: GET /v1/users.", 0, 0, 0, 0, cloud_user_list },
	{ "token", "add", "--label TEXT [--token-out F]",
	  "Another token for yourself: POST /v1/tokens. Shown once: on stdout, or written to --token-out F\n"
	  "(mode 600).", OB(O_LABEL), OB(O_TOKEN_OUT), 0, 0, cloud_token_add },
	{ "token", "list", "[--user NAME]",
	  "Your tokens: GET /v1/tokens. --user NAME (oem-admin): the tokens of that user of your organisation,\n"
	  "to revoke one of them (writ token revoke --id ID); a name no user has lists none.", 0, OB(O_USER), 0, 0,
	  cloud_token_list },
	{ "token", "revoke", "--id ID",
	  "Revoke a token (yours; an oem-admin: any of its organisation): DELETE /v1/tokens/{id}.", OB(O_ID), 0, 0, 0,
	  cloud_token_revoke },
	{ "alert", "list", "", "Alerts (forks, bad journals) of your organisation (OEM roles): GET /v1/alerts.", 0, 0,
	  0, 0, cloud_alert_list },
	{ "whoami", NULL, "", "Who the token belongs to: GET /v1/me.", 0, 0, 0, 0, cloud_whoami },
};

#undef P
#undef V

static const char *const groups[][2] = {
	{ "product", "products, their invited ODMs, offline PAIs, debug key generation and rework policy" },
	{ "firmware", "firmware images (upload, list; sign and verify work locally)" },
	{ "version", "product versions: create, approve or reject, download bundles" },
	{ "factory", "factories, their enrolment codes and release pins" },
	{ "batch", "production batches: create, inspect, download writs, revoke" },
	{ "rework", "rework rights (debug unlock, re-flash): grant, inspect, revoke" },
	{ "records", "export device records" },
	{ "device", "find a device, show it, download its label" },
	{ "production", "devices made per factory over time" },
	{ "telemetry", "line telemetry of a factory: yield, throughput, cycle time, failures" },
	{ "user", "users of your organisation" },
	{ "token", "your API tokens" },
	{ "alert", "alerts" },
	{ "whoami", "who the token belongs to" },
};

static uint64_t common_opts(const struct cloud_cmd *c)
{
	return OB(O_CLOUD) | (c->anonymous ? 0 : OB(O_TOKEN_FILE)) | (c->downloads ? 0 : OB(O_JSON));
}

static void cmd_name(const struct cloud_cmd *c, char *out, size_t cap)
{
	(void)!snprintf(out, cap, "writ %s%s%s", c->group, c->sub ? " " : "", c->sub ? c->sub : "");
}

static void help_footer(FILE *f)
{
	fprintf(f, "Common options:\n"
		   "  --cloud URL     the service (or $%s; default %s)\n"
		   "  --token-file F  a file of mode 600 holding your token (or $%s); a token is\n"
		   "                  never taken on the command line\n"
		   "  --json          print the service's JSON answer as is (for scripts)\n"
		   "Exit status: 0 done, 1 the service refused (its message and code are printed), 2 usage\n"
		   "or a local file that cannot be read or written, 3 the service cannot be reached.\n",
		CLOUD_URL_ENV, CLOUD_DEFAULT_URL, CLOUD_TOKEN_ENV);
}

static void help_cmd(FILE *f, const struct cloud_cmd *c)
{
	char name[64];

	cmd_name(c, name, sizeof(name));
	fprintf(f, "usage: %s %s\n%s\n", name, c->args, c->help);
	help_footer(f);
}

static void help_group(FILE *f, const char *group)
{
	size_t i;
	char name[64];

	fprintf(f, "usage:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].group, group) != 0)
			continue;
		cmd_name(&cmds[i], name, sizeof(name));
		fprintf(f, "  %s %s\n", name, cmds[i].args);
	}
	fprintf(f, "Run `writ %s <subcommand> --help` for what each does.\n", group);
	help_footer(f);
}

void cloud_usage_lines(FILE *f)
{
	size_t i;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(groups[i][0], "firmware") != 0)
			fprintf(f, "  %-11s %s (writ-cloud)\n", groups[i][0], groups[i][1]);
}

int cloud_is_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(groups[i][0], name))
			return 1;
	return 0;
}

void cloud_fail(const struct cloud *x, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", x->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The option as typed, without a value given with "=" (which might be a secret). */
static void opt_shown(const char *arg, char *out, size_t cap)
{
	size_t n = strcspn(arg, "=");

	if (n >= cap)
		n = cap - 1;
	memcpy(out, arg, n);
	out[n] = '\0';
}

static int num(struct cloud *x, enum copt o, const char *s)
{
	const struct optdef *d = &optdefs[o];
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, d->kind == 'x' ? 16 : 10);
	/* strtoll would take leading blanks and a sign: a number here starts with a digit */
	if (errno || *end || end == s || !(d->kind == 'x' ? isxdigit((unsigned char)*s) : isdigit((unsigned char)*s)) ||
	    v < d->min || v > d->max) {
		if (d->kind == 'x')
			cloud_fail(x, "--%s takes a hexadecimal number in 0x%llx..0x%llx, not \"%s\"", d->name, d->min,
				   d->max, s);
		else
			cloud_fail(x, "--%s takes a number in %lld..%lld, not \"%s\"", d->name, d->min, d->max, s);
		return -1;
	}
	x->o.n[o] = v;
	return 0;
}

/* Returns -1 to go on, or the exit status. */
static int parse(struct cloud *x, int argc, char **argv)
{
	const struct cloud_cmd *c = x->cmd;
	struct option lo[O_COUNT + 3];
	uint64_t allowed = c->required | c->allowed | common_opts(c), missing;
	char shown[64];
	int i, k, n = 0;

	for (i = 0; i < O_COUNT; i++)
		lo[n++] = (struct option){ optdefs[i].name, optdefs[i].kind == 'f' ? no_argument : required_argument,
					   NULL, i };
	lo[n++] = (struct option){ "token", optional_argument, NULL, OPT_TOKEN_ARGV };
	lo[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	opterr = 0;
	optind = 1;
	while ((k = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (k == OPT_HELP) {
			help_cmd(stdout, c);
			return CLOUD_OK;
		}
		if (k == OPT_TOKEN_ARGV) {
			cloud_fail(x, "a token is never taken on the command line (any user can read it in the process "
				      "list): put it in a file of mode 600 and give --token-file F, or set %s",
				   CLOUD_TOKEN_ENV);
			return CLOUD_USAGE;
		}
		if (k == ':' || k == '?') {
			opt_shown(argv[optind - 1], shown, sizeof(shown));
			if (k == ':')
				cloud_fail(x, "option %s needs a value (see %s --help)", shown, x->name);
			else
				cloud_fail(x, "unknown option \"%s\" (see %s --help)", shown, x->name);
			return CLOUD_USAGE;
		}
		if (!(allowed & OB(k))) {
			cloud_fail(x, "--%s does not apply here (see %s --help)", optdefs[k].name, x->name);
			return CLOUD_USAGE;
		}
		x->o.given |= OB(k);
		x->o.s[k] = optarg;
		if ((optdefs[k].kind == 'd' || optdefs[k].kind == 'x') && num(x, (enum copt)k, optarg) < 0)
			return CLOUD_USAGE;
	}
	if (optind < argc) {
		cloud_fail(x, "unexpected argument \"%s\": every value is given with an option (see %s --help)",
			   argv[optind], x->name);
		return CLOUD_USAGE;
	}
	missing = c->required & ~x->o.given;
	if (missing) {
		fprintf(stderr, "%s: missing", x->name);
		for (i = 0; i < O_COUNT; i++)
			if (missing & OB(i))
				fprintf(stderr, " --%s %s", optdefs[i].name, optdefs[i].meta);
		fprintf(stderr, "\nusage: %s %s\n", x->name, c->args);
		return CLOUD_USAGE;
	}
	return -1;
}

int cmd_cloud(int argc, char **argv)
{
	const struct cloud_cmd *c = NULL;
	struct cloud x;
	size_t i;
	int rc, shift = 1;

	if (argc < 1 || !cloud_is_command(argv[0]))
		return CLOUD_USAGE;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].group, argv[0]) && !cmds[i].sub)
			c = &cmds[i];
	if (!c) {
		if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
			help_group(argc < 2 ? stderr : stdout, argv[0]);
			return argc < 2 ? CLOUD_USAGE : CLOUD_OK;
		}
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (!strcmp(cmds[i].group, argv[0]) && !strcmp(cmds[i].sub, argv[1]))
				c = &cmds[i];
		if (!c) {
			fprintf(stderr, "writ %s: unknown subcommand \"%s\"\n", argv[0], argv[1]);
			help_group(stderr, argv[0]);
			return CLOUD_USAGE;
		}
		shift = 2;
	}
	memset(&x, 0, sizeof(x));
	x.cmd = c;
	cmd_name(c, x.name, sizeof(x.name));
	/* getopt sees argv[shift-1] as the program name */
	rc = parse(&x, argc - shift + 1, argv + shift - 1);
	if (rc >= 0)
		return rc;
	if (httpc_global_init() < 0) {
		cloud_fail(&x, "cannot initialise libcurl");
		return CLOUD_UNREACHABLE;
	}
	rc = c->run(&x);
	httpc_free(x.c);
	httpc_global_cleanup();
	return rc;
}

/* ---- connection and outcomes ---- */

int cloud_open(struct cloud *x)
{
	struct httpc_opts opts = { .connect_timeout_ms = 5000, .timeout_ms = 120000, .max_answer = 0 };
	char token[HTTPC_TOKEN_MAX];
	const char *url = x->o.s[O_CLOUD], *file = x->o.s[O_TOKEN_FILE];
	int err;

	if (!url)
		url = getenv(CLOUD_URL_ENV);
	if (!url || !*url)
		url = CLOUD_DEFAULT_URL;
	if (!x->cmd->anonymous) {
		err = httpc_token_load(file, CLOUD_TOKEN_ENV, token);
		if (err == WRIT_E_NOTFOUND && !file) {
			cloud_fail(x, "no token: give --token-file F (a file of mode 600 holding your writ-cloud token) or "
				      "set %s", CLOUD_TOKEN_ENV);
			return CLOUD_USAGE;
		}
		if (err == WRIT_E_AUTH) {
			cloud_fail(x, "the token file %s may be read by other users: chmod 600 %s, and consider "
				      "revoking the token (writ token revoke)", file, file);
			return CLOUD_USAGE;
		}
		if (err == WRIT_E_NOTFOUND || err == WRIT_E_IO) {
			cloud_fail(x, "cannot read the token file %s: %s", file,
				   err == WRIT_E_NOTFOUND ? "no such file" : "not a readable regular file");
			return CLOUD_USAGE;
		}
		if (err < 0) {
			cloud_fail(x, "%s%s does not hold a token: its first line must be the token (1..%u printable "
				      "characters, no spaces)", file ? "the token file " : "$",
				   file ? file : CLOUD_TOKEN_ENV, HTTPC_TOKEN_MAX - 1);
			return CLOUD_USAGE;
		}
	}
	err = httpc_new(url, x->cmd->anonymous ? NULL : token, &opts, &x->c);
	writ_memzero(token, sizeof(token));
	if (err == WRIT_E_INVAL) {
		cloud_fail(x, "the service URL \"%.200s\" is not http://HOST:PORT or https://HOST:PORT (--cloud or $%s)",
			   url, CLOUD_URL_ENV);
		return CLOUD_USAGE;
	}
	if (err < 0) {
		cloud_fail(x, "%s", writ_strerror(err));
		return CLOUD_UNREACHABLE;
	}
	return CLOUD_OK;
}

static const char *next_step(long status)
{
	switch (status) {
	case 401:
		return "check the token (--token-file F or $" CLOUD_TOKEN_ENV "): it may be mistyped or revoked; "
		       "`writ whoami` tries it";
	case 403:
		return "your role may not do this (`writ whoami` shows it): ask a user who holds the right role";
	case 404:
		return "check the names and ids: an object of another organisation, or a product your ODM is not "
		       "invited to, is not found either";
	case 405:
		return "this writ and the service disagree about the API: check that both are the same release";
	case 413:
		return "the request is larger than the service takes";
	case 503:
		return "the service cannot reach its store or token: retry later";
	default:
		return NULL;
	}
}

/* What the transfer's outcome means for the user: CLOUD_OK for a 2xx answer. */
static int outcome(struct cloud *x, int rc, const char *method, const char *path)
{
	long st = httpc_status(x->c);
	const char *hint;

	if (rc == WRIT_E_IO) {
		cloud_fail(x, "cannot reach writ-cloud: %s\n  next: check the address (--cloud URL or $%s) and that "
			      "writ-cloud runs there and is reachable from this machine",
			   httpc_error(x->c), CLOUD_URL_ENV);
		return CLOUD_UNREACHABLE;
	}
	if (rc == WRIT_E_TOOBIG) {
		cloud_fail(x, "%s; is %s a writ-cloud?", httpc_error(x->c), httpc_base(x->c));
		return CLOUD_REFUSED;
	}
	if (rc == WRIT_E_INVAL) {
		cloud_fail(x, "cannot make the request %s %.80s...: %s", method, path, httpc_error(x->c));
		return CLOUD_USAGE;
	}
	if (rc < 0) {
		cloud_fail(x, "%s", writ_strerror(rc));
		return CLOUD_REFUSED;
	}
	if (st >= 200 && st < 300)
		return CLOUD_OK;
	if (st >= 400) {
		if (httpc_code(x->c)[0])
			fprintf(stderr, "%s: refused (%ld %s): %s\n", x->name, st, httpc_code(x->c), httpc_error(x->c));
		else
			fprintf(stderr, "%s: refused (HTTP %ld): %s\n", x->name, st, httpc_error(x->c));
		hint = next_step(st);
		if (hint)
			fprintf(stderr, "  next: %s\n", hint);
		return CLOUD_REFUSED;
	}
	cloud_fail(x, "unexpected answer HTTP %ld to %s %s; is %s a writ-cloud?", st, method, path, httpc_base(x->c));
	return CLOUD_REFUSED;
}

int cloud_call(struct cloud *x, const char *method, const char *path, json_t *body, json_t **ret)
{
	json_t *a = NULL;
	int rc;

	*ret = NULL;
	rc = httpc_json(x->c, method, path, body, &a);
	json_decref(body);
	rc = outcome(x, rc, method, path);
	if (rc != CLOUD_OK) {
		json_decref(a);
		return rc;
	}
	if (!a) {
		cloud_fail(x, "the answer to %s %s is not a JSON object; is %s a writ-cloud?", method, path,
			   httpc_base(x->c));
		return CLOUD_REFUSED;
	}
	*ret = a;
	return CLOUD_OK;
}

int cloud_post(struct cloud *x, const char *method, const char *path, json_t *body, json_t **ret)
{
	*ret = NULL;
	if (!body) {
		cloud_fail(x, "every argument must be UTF-8 text");
		return CLOUD_USAGE;
	}
	return cloud_call(x, method, path, body, ret);
}

int cloud_answer(struct cloud *x, json_t **ret)
{
	size_t len = 0;
	const uint8_t *b = httpc_body(x->c, &len);
	json_t *a = json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES, NULL);

	*ret = NULL;
	if (!json_is_object(a)) {
		json_decref(a);
		cloud_fail(x, "the answer is not a JSON object; is %s a writ-cloud?", httpc_base(x->c));
		return CLOUD_REFUSED;
	}
	*ret = a;
	return CLOUD_OK;
}

int cloud_raw(struct cloud *x, const char *method, const char *path, const void *body, size_t len,
	      const char *content_type)
{
	return outcome(x, httpc_request(x->c, method, path, body, len, content_type), method, path);
}

int cloud_path(const struct cloud *x, char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	size_t k = 0;
	int n;

	va_start(ap, fmt);
	while (*fmt) {
		if (fmt[0] == '%' && fmt[1] == 's') {
			const char *s = va_arg(ap, const char *);
			n = httpc_escape(s, out + k, cap - k);
			if (n < 0)
				goto toolong;
			k += (size_t)n;
			fmt += 2;
			continue;
		}
		if (k + 1 >= cap)
			goto toolong;
		out[k++] = *fmt++;
	}
	va_end(ap);
	out[k] = '\0';
	return CLOUD_OK;
toolong:
	va_end(ap);
	cloud_fail(x, "an argument is too long for a request path");
	return CLOUD_USAGE;
}

/* ---- output ---- */

static int is_time_key(const char *k)
{
	static const char *const keys[] = { "created", "code_expires", "not_before", "not_after", "last_contact",
					    "time", "revoked_at", "decided", "enrolled", "expires", "since", "until",
					    "now", "last_device", "first", "end" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return 0;
}

/* A peer's text on a terminal: ASCII control characters and the C1 controls (U+0080..
 * U+009F, which some terminals obey) become '?'; other UTF-8 passes. */
void cloud_put_clean(FILE *f, const char *s, size_t n)
{
	size_t i;
	unsigned char ch;

	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f) {
			fputc('?', f);
		} else if (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f) {
			fputc('?', f);
			i++;
		} else {
			fputc(ch, f);
		}
	}
}

void cloud_value(FILE *f, const char *key, json_t *v, size_t max_chars)
{
	char tbuf[32];
	struct tm tm;
	time_t t;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (json_string_length(v) == 0)
			fputs("\"\"", f);
		else if (max_chars && json_string_length(v) > max_chars)
			fprintf(f, "(%zu characters; --json shows them)", json_string_length(v));
		else
			cloud_put_clean(f, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		if (key && (!strcmp(key, "vid") || !strcmp(key, "pid"))) {
			fprintf(f, "0x%04llx", (unsigned long long)json_integer_value(v));
		} else if (key && is_time_key(key)) {
			t = (time_t)json_integer_value(v);
			if (json_integer_value(v) <= 0)
				fputs("-", f);
			else if (gmtime_r(&t, &tm) && strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm))
				fputs(tbuf, f);
			else
				fprintf(f, "%lld", (long long)json_integer_value(v));
		} else {
			fprintf(f, "%lld", (long long)json_integer_value(v));
		}
		break;
	case JSON_REAL:
		fprintf(f, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("yes", f);
		break;
	case JSON_FALSE:
		fputs("no", f);
		break;
	case JSON_NULL:
		fputs("-", f);
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			fputs("-", f);
			break;
		}
		for (i = 0; i < json_array_size(v); i++) {
			json_t *e = json_array_get(v, i);
			if (json_is_object(e) || json_is_array(e)) {
				fprintf(f, "(%zu entries)", json_array_size(v));
				break;
			}
			if (i)
				fputc(',', f);
			cloud_value(f, NULL, e, max_chars);
		}
		break;
	case JSON_OBJECT:
		fprintf(f, "(%zu fields)", json_object_size(v));
		break;
	}
}

void cloud_line(FILE *f, json_t *o, const char *lead)
{
	const char *k;
	json_t *v;
	int first = 1;

	if (!json_is_object(o)) {
		cloud_value(f, NULL, o, 100);
		fputc('\n', f);
		return;
	}
	if (lead && (v = json_object_get(o, lead)) != NULL) {
		cloud_value(f, lead, v, 100);
		first = 0;
	}
	json_object_foreach(o, k, v) {
		if (lead && !strcmp(k, lead))
			continue;
		if (!first)
			fputc(' ', f);
		first = 0;
		cloud_put_clean(f, k, strlen(k));
		fputc('=', f);
		cloud_value(f, k, v, 100);
	}
	fputc('\n', f);
}

int cloud_print_as_is(const struct cloud *x)
{
	size_t len = 0;
	const uint8_t *b = httpc_body(x->c, &len);

	if (fwrite(b, 1, len, stdout) != len || (len && b[len - 1] != '\n' && fputc('\n', stdout) == EOF))
		return CLOUD_USAGE;
	return CLOUD_OK;
}

int cloud_print(const struct cloud *x, json_t *a, const char *list_key, const char *lead)
{
	json_t *arr, *e;
	size_t i;

	if (has(x, O_JSON))
		return cloud_print_as_is(x);
	if (!list_key) {
		cloud_line(stdout, a, lead);
		return CLOUD_OK;
	}
	arr = json_object_get(a, list_key);
	if (!json_is_array(arr)) {
		cloud_fail(x, "the answer has no \"%s\" list; is %s a writ-cloud?", list_key, httpc_base(x->c));
		return CLOUD_REFUSED;
	}
	if (json_array_size(arr) == 0)
		fprintf(stderr, "%s: no %s\n", x->name, list_key);
	json_array_foreach(arr, i, e)
		cloud_line(stdout, e, lead);
	return CLOUD_OK;
}

int cloud_show(const struct cloud *x, json_t *a)
{
	const char *k;
	json_t *v;

	if (has(x, O_JSON))
		return cloud_print_as_is(x);
	json_object_foreach(a, k, v) {
		cloud_put_clean(stdout, k, strlen(k));
		fputs(": ", stdout);
		cloud_value(stdout, k, v, 200);
		fputc('\n', stdout);
	}
	return CLOUD_OK;
}

int cloud_save(const struct cloud *x, const char *path, const uint8_t *data, size_t len, unsigned mode)
{
	int err = file_write_atomic(path, data, len, mode);

	if (err < 0) {
		cloud_fail(x, "cannot write %s: %s", path, writ_strerror(err));
		return CLOUD_USAGE;
	}
	return CLOUD_OK;
}

/* ---- argument checks ---- */

int cloud_check_name(const struct cloud *x, enum copt o)
{
	const char *s = x->o.s[o];
	size_t i, n = s ? strlen(s) : 0;

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			break;
	if (n == 0 || n > 64 || i < n || !strcmp(s, ".") || !strcmp(s, "..")) {
		cloud_fail(x, "--%s is a name: 1..64 of A-Z a-z 0-9 . _ -", optdefs[o].name);
		return CLOUD_USAGE;
	}
	return CLOUD_OK;
}

int cloud_check_hex(const struct cloud *x, enum copt o, size_t min_bytes, size_t max_bytes, char *out, size_t cap)
{
	const char *s = x->o.s[o];
	size_t i, n = s ? strlen(s) : 0;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			break;
	if (i < n || n % 2 || n < 2 * min_bytes || n > 2 * max_bytes || n >= cap) {
		if (min_bytes == max_bytes)
			cloud_fail(x, "--%s is %zu hex digits", optdefs[o].name, 2 * min_bytes);
		else
			cloud_fail(x, "--%s is %zu..%zu hex digits (an even number)", optdefs[o].name, 2 * min_bytes,
				   2 * max_bytes);
		return CLOUD_USAGE;
	}
	/* the service prints hex in lower case; send it so */
	for (i = 0; i < n; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') : s[i];
	out[n] = '\0';
	return CLOUD_OK;
}
