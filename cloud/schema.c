/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writ-cloud store. One schema text for both engines: @PK@ (an integer primary key
 * the engine numbers), @BLOB@ and @BIG@ are replaced by each engine's spelling. The
 * invariants the API promises are also constraints here, so no code path can break
 * them: allocated <= quota, serial ranges taken from a per-product counter, one HSM per
 * identity key, one journal entry per (HSM, seq), one device per (HSM, seq), one open
 * alert per (org, factory, HSM, kind).
 */
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "host/log.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS orgs (id @PK@, name TEXT NOT NULL UNIQUE,"
	" kind TEXT NOT NULL CHECK (kind IN ('oem', 'odm')), created @BIG@ NOT NULL);"
	"CREATE TABLE IF NOT EXISTS users (id @PK@, org_id @BIG@ NOT NULL REFERENCES orgs(id),"
	" name TEXT NOT NULL, role TEXT NOT NULL, created @BIG@ NOT NULL, UNIQUE (org_id, name));"
	"CREATE TABLE IF NOT EXISTS factories (id @PK@, name TEXT NOT NULL UNIQUE,"
	" oem_id @BIG@ NOT NULL REFERENCES orgs(id), odm_id @BIG@ NOT NULL REFERENCES orgs(id),"
	" created @BIG@ NOT NULL, last_contact @BIG@ NOT NULL DEFAULT 0,"
	" rec_next @BIG@ NOT NULL DEFAULT 1, rec_hash TEXT NOT NULL DEFAULT '',"
	" writ_seq_seen @BIG@ NOT NULL DEFAULT 0);"
	/* what a factory said waits in its queues, with the writ feed (a new table: no
	 * schema version, every store gets it at start) */
	"CREATE TABLE IF NOT EXISTS factory_queues (factory_id @BIG@ PRIMARY KEY REFERENCES factories(id),"
	" records @BIG@ NOT NULL, journal @BIG@ NOT NULL, telemetry @BIG@ NOT NULL, at @BIG@ NOT NULL);"
	"CREATE TABLE IF NOT EXISTS tokens (id @PK@, user_id @BIG@ REFERENCES users(id),"
	" factory_id @BIG@ REFERENCES factories(id), label TEXT NOT NULL, hash @BLOB@ NOT NULL UNIQUE,"
	" created @BIG@ NOT NULL, revoked @BIG@);"
	"CREATE TABLE IF NOT EXISTS org_keys (org_id @BIG@ PRIMARY KEY REFERENCES orgs(id),"
	" writ_pub @BLOB@ NOT NULL, paa_pub @BLOB@ NOT NULL, paa_der @BLOB@ NOT NULL,"
	" debug_pub @BLOB@ NOT NULL, sb_pub @BLOB@ NOT NULL);"
	"CREATE TABLE IF NOT EXISTS products (id @PK@, name TEXT NOT NULL UNIQUE, title TEXT NOT NULL,"
	" oem_id @BIG@ NOT NULL REFERENCES orgs(id), vid @BIG@ NOT NULL, pid @BIG@ NOT NULL,"
	" quota @BIG@ NOT NULL, allocated @BIG@ NOT NULL DEFAULT 0, produced @BIG@ NOT NULL DEFAULT 0,"
	" next_serial @BIG@ NOT NULL DEFAULT 1, pai_mode TEXT NOT NULL, sb_pub @BLOB@,"
	" created @BIG@ NOT NULL, debug_gen @BIG@ NOT NULL DEFAULT 1, rework_policy TEXT NOT NULL DEFAULT '', CHECK (allocated >= 0 AND allocated <= quota));"
	"CREATE TABLE IF NOT EXISTS invites (product_id @BIG@ NOT NULL REFERENCES products(id),"
	" odm_id @BIG@ NOT NULL REFERENCES orgs(id), created @BIG@ NOT NULL, PRIMARY KEY (product_id, odm_id));"
	"CREATE TABLE IF NOT EXISTS firmware (product_id @BIG@ NOT NULL REFERENCES products(id),"
	" sha256 @BLOB@ NOT NULL, fw_version @BIG@ NOT NULL, size @BIG@ NOT NULL, signature @BLOB@ NOT NULL,"
	" image @BLOB@ NOT NULL, created @BIG@ NOT NULL, PRIMARY KEY (product_id, sha256));"
	"CREATE TABLE IF NOT EXISTS versions (id @PK@, product_id @BIG@ NOT NULL REFERENCES products(id),"
	" name TEXT NOT NULL, digest @BLOB@ NOT NULL UNIQUE, firmware_sha256 @BLOB@ NOT NULL,"
	" fw_version @BIG@ NOT NULL, bundle @BLOB@ NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
	" created_by TEXT NOT NULL, created @BIG@ NOT NULL, decided_by TEXT NOT NULL DEFAULT '',"
	" decided @BIG@ NOT NULL DEFAULT 0, UNIQUE (product_id, name));"
	"CREATE TABLE IF NOT EXISTS codes (hash @BLOB@ PRIMARY KEY, factory_id @BIG@ NOT NULL REFERENCES factories(id),"
	" expires @BIG@ NOT NULL, used @BIG@);"
	"CREATE TABLE IF NOT EXISTS hsms (id @PK@, hsm_id @BLOB@ NOT NULL UNIQUE,"
	" factory_id @BIG@ NOT NULL REFERENCES factories(id), identity_pub @BLOB@ NOT NULL,"
	" kex_pub @BLOB@ NOT NULL, pai_pub @BLOB@ NOT NULL, pai_csr @BLOB@ NOT NULL, enrolled @BIG@ NOT NULL,"
	" next_seq @BIG@ NOT NULL DEFAULT 0, head @BLOB@ NOT NULL, last_contact @BIG@ NOT NULL DEFAULT 0,"
	" halted TEXT NOT NULL DEFAULT '', debug_pub @BLOB@);"
	"CREATE TABLE IF NOT EXISTS pais (product_id @BIG@ NOT NULL REFERENCES products(id),"
	" hsm_pk @BIG@ NOT NULL REFERENCES hsms(id), der @BLOB@ NOT NULL, PRIMARY KEY (product_id, hsm_pk));"
	"CREATE TABLE IF NOT EXISTS batches (id @PK@, writ_id @BLOB@ NOT NULL UNIQUE,"
	" product_id @BIG@ NOT NULL REFERENCES products(id), version_id @BIG@ NOT NULL REFERENCES versions(id),"
	" factory_id @BIG@ NOT NULL REFERENCES factories(id), hsm_pk @BIG@ NOT NULL REFERENCES hsms(id),"
	" org_id @BIG@ NOT NULL REFERENCES orgs(id), created_by TEXT NOT NULL, quantity @BIG@ NOT NULL,"
	" serial_first @BIG@ NOT NULL, serial_last @BIG@ NOT NULL, not_before @BIG@ NOT NULL,"
	" not_after @BIG@ NOT NULL, dac_days @BIG@ NOT NULL, state TEXT NOT NULL,"
	" produced @BIG@ NOT NULL DEFAULT 0, reissued @BIG@ NOT NULL DEFAULT 0, revocation_id @BLOB@,"
	" final_count @BIG@, created @BIG@ NOT NULL, CHECK (produced <= quantity));"
	/* rework rights (docs/cloud-api.md "Rework"): those a production batch carries
	 * (batch_id set, the batch's writ) and rework grants (kind 2 writs) */
	"CREATE TABLE IF NOT EXISTS reworks (id @PK@, writ_id @BLOB@ NOT NULL UNIQUE,"
	" product_id @BIG@ NOT NULL REFERENCES products(id), factory_id @BIG@ NOT NULL REFERENCES factories(id),"
	" hsm_pk @BIG@ NOT NULL REFERENCES hsms(id), org_id @BIG@ NOT NULL REFERENCES orgs(id),"
	" batch_id @BIG@ REFERENCES batches(id), created_by TEXT NOT NULL, perms @BLOB@ NOT NULL,"
	" key_gen @BIG@ NOT NULL, not_before @BIG@ NOT NULL, not_after @BIG@ NOT NULL, max_uses @BIG@ NOT NULL,"
	" session_max @BIG@ NOT NULL, devices TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,"
	" revocation_id @BLOB@, created @BIG@ NOT NULL);"
	"CREATE TABLE IF NOT EXISTS writs (seq @PK@, writ_id @BLOB@ NOT NULL UNIQUE,"
	" factory_id @BIG@ NOT NULL REFERENCES factories(id), hsm_pk @BIG@ NOT NULL REFERENCES hsms(id),"
	" kind @BIG@ NOT NULL, batch_id @BIG@ REFERENCES batches(id), version_digest @BLOB@ NOT NULL,"
	" sealed @BLOB@ NOT NULL, created @BIG@ NOT NULL, rework_id @BIG@ REFERENCES reworks(id));"
	"CREATE TABLE IF NOT EXISTS journal (hsm_pk @BIG@ NOT NULL REFERENCES hsms(id), seq @BIG@ NOT NULL,"
	" hash @BLOB@ NOT NULL, type @BIG@ NOT NULL, time @BIG@ NOT NULL, entry @BLOB@ NOT NULL,"
	" PRIMARY KEY (hsm_pk, seq));"
	"CREATE TABLE IF NOT EXISTS devices (id @PK@, hsm_pk @BIG@ NOT NULL REFERENCES hsms(id),"
	" hsm_seq @BIG@ NOT NULL, batch_id @BIG@ NOT NULL REFERENCES batches(id),"
	" product_id @BIG@ NOT NULL REFERENCES products(id), kind TEXT NOT NULL, idx @BIG@ NOT NULL,"
	" uid @BLOB@ NOT NULL, serial @BIG@ NOT NULL, dac_serial @BLOB@ NOT NULL, dac_sha256 @BLOB@ NOT NULL,"
	" time @BIG@ NOT NULL, record_seq @BIG@, record TEXT, UNIQUE (hsm_pk, hsm_seq));"
	"CREATE INDEX IF NOT EXISTS devices_batch ON devices (batch_id, id);"
	"CREATE INDEX IF NOT EXISTS devices_product ON devices (product_id, id);"
	"CREATE INDEX IF NOT EXISTS devices_serial ON devices (serial);"
	"CREATE INDEX IF NOT EXISTS devices_uid ON devices (uid);"
	"CREATE INDEX IF NOT EXISTS devices_dac_serial ON devices (dac_serial);"
	/* one per JT_DEBUG journal entry; rework_id NULL for a writ this portal did not
	 * issue to that HSM with rights (raised as bad_debug) */
	"CREATE TABLE IF NOT EXISTS rework_events (id @PK@, hsm_pk @BIG@ NOT NULL REFERENCES hsms(id),"
	" hsm_seq @BIG@ NOT NULL, rework_id @BIG@ REFERENCES reworks(id), writ_id @BLOB@ NOT NULL,"
	" uid @BLOB@ NOT NULL, perms @BLOB@ NOT NULL, operation @BIG@ NOT NULL, session @BIG@ NOT NULL,"
	" not_after @BIG@ NOT NULL, token_sha256 @BLOB@ NOT NULL, time @BIG@ NOT NULL, record_seq @BIG@,"
	" record TEXT, UNIQUE (hsm_pk, hsm_seq));"
	"CREATE INDEX IF NOT EXISTS rework_events_uid ON rework_events (uid);"
	"CREATE INDEX IF NOT EXISTS rework_events_rework ON rework_events (rework_id);"
	"CREATE TABLE IF NOT EXISTS frecords (factory_id @BIG@ NOT NULL REFERENCES factories(id),"
	" seq @BIG@ NOT NULL, hash TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (factory_id, seq));"
	/* one row per (org, factory, HSM, kind) and window: time and detail are the first
	 * occurrence's, last_seen and last_detail the latest's, occurrences how many were
	 * folded in; closed is 0 while repeats still fold into the row (sync.c alert_raise,
	 * the unique index ALERTS_OPEN below) */
	"CREATE TABLE IF NOT EXISTS alerts (id @PK@, time @BIG@ NOT NULL, org_id @BIG@ NOT NULL,"
	" factory_id @BIG@ NOT NULL DEFAULT 0, hsm_pk @BIG@ NOT NULL DEFAULT 0, kind TEXT NOT NULL,"
	" detail TEXT NOT NULL, occurrences @BIG@ NOT NULL DEFAULT 1, last_seen @BIG@ NOT NULL DEFAULT 0,"
	" last_detail TEXT NOT NULL DEFAULT '', closed @BIG@ NOT NULL DEFAULT 0);"
	/* line telemetry (api_telemetry.c): one row per station bucket, named by (factory,
	 * station, run, start) so a repeated push counts once; failures per step and the
	 * cycle-time histogram as columns, so a window is summed in SQL */
	"CREATE TABLE IF NOT EXISTS telemetry (factory_id @BIG@ NOT NULL REFERENCES factories(id),"
	" station TEXT NOT NULL, line TEXT NOT NULL, run TEXT NOT NULL, start @BIG@ NOT NULL, win @BIG@ NOT NULL,"
	" total @BIG@ NOT NULL, ok @BIG@ NOT NULL, cycle_ms_sum @BIG@ NOT NULL, other_reasons @BIG@ NOT NULL,"
	" f0 @BIG@ NOT NULL, f1 @BIG@ NOT NULL, f2 @BIG@ NOT NULL, f3 @BIG@ NOT NULL, f4 @BIG@ NOT NULL,"
	" f5 @BIG@ NOT NULL, f6 @BIG@ NOT NULL, f7 @BIG@ NOT NULL, f8 @BIG@ NOT NULL, f9 @BIG@ NOT NULL,"
	" f10 @BIG@ NOT NULL, f11 @BIG@ NOT NULL, f12 @BIG@ NOT NULL, h0 @BIG@ NOT NULL, h1 @BIG@ NOT NULL,"
	" h2 @BIG@ NOT NULL, h3 @BIG@ NOT NULL, h4 @BIG@ NOT NULL, h5 @BIG@ NOT NULL, h6 @BIG@ NOT NULL,"
	" h7 @BIG@ NOT NULL, h8 @BIG@ NOT NULL, h9 @BIG@ NOT NULL, received @BIG@ NOT NULL,"
	" PRIMARY KEY (factory_id, station, run, start), CHECK (ok <= total));"
	"CREATE INDEX IF NOT EXISTS telemetry_time ON telemetry (factory_id, start);"
	"CREATE TABLE IF NOT EXISTS telemetry_reasons (factory_id @BIG@ NOT NULL REFERENCES factories(id),"
	" station TEXT NOT NULL, run TEXT NOT NULL, start @BIG@ NOT NULL, step @BIG@ NOT NULL, reason TEXT NOT NULL,"
	" n @BIG@ NOT NULL, line TEXT NOT NULL, PRIMARY KEY (factory_id, station, run, start, step, reason));"
	"CREATE INDEX IF NOT EXISTS telemetry_reasons_time ON telemetry_reasons (factory_id, start);";

#define SCHEMA_VERSION "4"

/* At most one open alert per key: the conflict target of alert_raise's upsert. Made
 * after the migration, which gives an older store the column it names. */
#define ALERTS_OPEN "CREATE UNIQUE INDEX IF NOT EXISTS alerts_open ON alerts (org_id, factory_id, hsm_pk, kind) WHERE closed = 0"

/*
 * Version 1 -> 2 (secure debug and rework): the HSM's debug delegate key, the product's
 * debug key generation and rework policy, and writs that belong to rework rights
 * rather than to a batch (writs.batch_id becomes nullable, writs.rework_id appears).
 * The new tables came with the schema text above (CREATE ... IF NOT EXISTS). SQLite
 * cannot drop a NOT NULL, so writs is rebuilt there, keeping every seq (the factories'
 * feed positions). One transaction: a store is at version 1 or 2, never between.
 */
static const char migrate_common[] =
	"ALTER TABLE hsms ADD COLUMN debug_pub @BLOB@;"
	"ALTER TABLE products ADD COLUMN debug_gen @BIG@ NOT NULL DEFAULT 1;"
	"ALTER TABLE products ADD COLUMN rework_policy TEXT NOT NULL DEFAULT '';";
static const char migrate_pg[] =
	"ALTER TABLE writs ALTER COLUMN batch_id DROP NOT NULL;"
	"ALTER TABLE writs ADD COLUMN rework_id BIGINT REFERENCES reworks(id);";
static const char migrate_lite[] =
	"CREATE TABLE writs_v2 (seq INTEGER PRIMARY KEY AUTOINCREMENT, writ_id BLOB NOT NULL UNIQUE,"
	" factory_id INTEGER NOT NULL REFERENCES factories(id), hsm_pk INTEGER NOT NULL REFERENCES hsms(id),"
	" kind INTEGER NOT NULL, batch_id INTEGER REFERENCES batches(id), version_digest BLOB NOT NULL,"
	" sealed BLOB NOT NULL, created INTEGER NOT NULL, rework_id INTEGER REFERENCES reworks(id));"
	"INSERT INTO writs_v2 (seq, writ_id, factory_id, hsm_pk, kind, batch_id, version_digest, sealed, created)"
	" SELECT seq, writ_id, factory_id, hsm_pk, kind, batch_id, version_digest, sealed, created FROM writs;"
	"DROP TABLE writs;"
	"ALTER TABLE writs_v2 RENAME TO writs;";

/*
 * Version 2 -> 3 (line telemetry): the tables telemetry and telemetry_reasons, which
 * the schema text creates (IF NOT EXISTS) in every store it opens; nothing else
 * changes, so the step is the version alone. A version-1 store takes 1 -> 2 first.
 */

/*
 * Version 3 -> 4 (repeated alerts fold into one row): the alerts table gains
 * occurrences, last_seen, last_detail and closed. The rows already there were raised
 * one per occurrence, several may share a key, so they are closed (closed = their
 * time): each stays one occurrence of its own, and the next raise of its key opens a
 * new row. ALERTS_OPEN is created in the same transaction.
 */
static const char migrate_alerts[] =
	"ALTER TABLE alerts ADD COLUMN occurrences @BIG@ NOT NULL DEFAULT 1;"
	"ALTER TABLE alerts ADD COLUMN last_seen @BIG@ NOT NULL DEFAULT 0;"
	"ALTER TABLE alerts ADD COLUMN last_detail TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE alerts ADD COLUMN closed @BIG@ NOT NULL DEFAULT 0;"
	"UPDATE alerts SET last_seen = time, last_detail = detail, closed = CASE WHEN time > 0 THEN time ELSE 1 END;"
	ALERTS_OPEN ";";

static char *subst(const char *in, const char *const pairs[][2], size_t n)
{
	size_t cap = strlen(in) * 2 + 1, len = 0, i, k;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (i = 0; in[i];) {
		for (k = 0; k < n; k++) {
			size_t pl = strlen(pairs[k][0]);
			if (!strncmp(in + i, pairs[k][0], pl)) {
				size_t rl = strlen(pairs[k][1]);
				memcpy(out + len, pairs[k][1], rl);
				len += rl;
				i += pl;
				break;
			}
		}
		if (k == n)
			out[len++] = in[i++];
	}
	out[len] = 0;
	return out;
}

static int migrate(struct db *db);

int schema_create(struct db *db)
{
	static const char *const lite[][2] = {
		{ "@PK@", "INTEGER PRIMARY KEY AUTOINCREMENT" }, { "@BLOB@", "BLOB" }, { "@BIG@", "INTEGER" },
	};
	static const char *const pg[][2] = {
		{ "@PK@", "BIGSERIAL PRIMARY KEY" }, { "@BLOB@", "BYTEA" }, { "@BIG@", "BIGINT" },
	};
	char *sql = db_kind(db) == DB_POSTGRES ? subst(schema, pg, 3) : subst(schema, lite, 3);
	int err;

	if (!sql)
		return WRIT_E_NOMEM;
	err = db_exec_script(db, sql);
	free(sql);
	if (err < 0)
		return err;
	/* a new store gets the current version; an older one keeps its own, then migrates */
	if ((err = db_exec(db, "INSERT INTO meta (k, v) VALUES ('schema', '" SCHEMA_VERSION "') ON CONFLICT (k) DO NOTHING",
			   NULL, 0, NULL)) < 0)
		return err;
	if ((err = release_schema(db)) < 0) /* api_release.c: new tables only */
		return err;
	if ((err = migrate(db)) < 0)
		return err;
	return db_exec(db, ALERTS_OPEN, NULL, 0, NULL);
}

static int migrate(struct db *db)
{
	static const char *const lite[][2] = { { "@BLOB@", "BLOB" }, { "@BIG@", "INTEGER" } };
	static const char *const pg[][2] = { { "@BLOB@", "BYTEA" }, { "@BIG@", "BIGINT" } };
	struct db_res *r = NULL;
	char *sql = NULL;
	int err, v1, v2, v3;

	if ((err = db_query(db, "SELECT v FROM meta WHERE k = 'schema'", NULL, 0, &r)) < 0)
		return err;
	v1 = db_rows(r) == 1 && !strcmp(db_text(r, 0, 0), "1");
	v2 = db_rows(r) == 1 && !strcmp(db_text(r, 0, 0), "2");
	v3 = db_rows(r) == 1 && !strcmp(db_text(r, 0, 0), "3");
	if (db_rows(r) == 1 && !v1 && !v2 && !v3 && strcmp(db_text(r, 0, 0), SCHEMA_VERSION) != 0) {
		/* a newer writ-cloud upgraded this store: writing it with this one's SQL would
		 * break what that one relies on (e.g. the alerts' fold) */
		log_error("the store is at schema version %.20s, which this writ-cloud (schema " SCHEMA_VERSION
			  ") does not know: run the writ-cloud that upgraded it, or a newer one",
			  db_text(r, 0, 0));
		db_res_free(r);
		return WRIT_E_STATE;
	}
	db_res_free(r);
	if (!v1 && !v2 && !v3)
		return 0;
	if ((err = db_begin(db)) < 0)
		return err;
	if (v1) {
		sql = db_kind(db) == DB_POSTGRES ? subst(migrate_common, pg, 2) : subst(migrate_common, lite, 2);
		err = sql ? db_exec_script(db, sql) : WRIT_E_NOMEM;
		if (err == 0)
			err = db_exec_script(db, db_kind(db) == DB_POSTGRES ? migrate_pg : migrate_lite);
	}
	free(sql);
	sql = NULL;
	if (err == 0) {
		sql = db_kind(db) == DB_POSTGRES ? subst(migrate_alerts, pg, 2) : subst(migrate_alerts, lite, 2);
		err = sql ? db_exec_script(db, sql) : WRIT_E_NOMEM;
	}
	if (err == 0)
		err = db_exec(db, "UPDATE meta SET v = '" SCHEMA_VERSION "' WHERE k = 'schema' AND v IN ('1', '2', '3')",
			      NULL, 0, NULL);
	free(sql);
	if (err == 0)
		err = db_commit(db);
	if (err < 0)
		db_rollback(db);
	return err;
}
