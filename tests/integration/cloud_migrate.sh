#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The writ-cloud store moves from schema 1 to 2 (secure debug and rework), from 2 to 3
# (line telemetry) and from 3 to 4 (repeated alerts fold into one row, the alerts raised
# before are kept, closed): cloud_migrate.sh
# sqlite | postgresql. A version-1 store with data (cloud_schema_v1.sql) is opened by
# `writ-cloud init`: the schema becomes 2 once (init again changes nothing), the writ
# feed keeps its positions (a factory resumes where it was), every row survives, the
# new columns have their defaults, writs may belong to rework rights (batch_id NULL),
# and the server answers on it: the product shows debug_gen 1, the old HSM (enrolled
# without a debug key) cannot get rework rights.
set -euo pipefail
: "${WRIT_SRC:?}" "${WRIT_BIN:?}"
engine=${1:-sqlite}
source "$WRIT_SRC/scripts/softhsm-env.sh"
source "$WRIT_SRC/tests/pg_lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/writ-test-migrate.XXXXXX")
CPID=
cleanup()
{
	if [[ -n $CPID ]]; then kill "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true; fi
	[[ $engine == postgresql ]] && pg_stop
	if [[ ${KEEP_WORKDIR:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
writ_softhsm_env "$WORK"
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357
PASSED=0
FAILED=0
check()
{
	local what=$1
	shift
	if [[ "$1" == "$2" ]]; then
		PASSED=$((PASSED + 1))
		echo "ok: $what"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL: $what: got \"$1\", want \"$2\"" >&2
	fi
}

if [[ $engine == postgresql ]]; then
	pg_start
	DB=$WRIT_PG_URL
	sql() { psql "$DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
	SUBST='s/@PK@/BIGSERIAL PRIMARY KEY/g; s/@BLOB@/BYTEA/g; s/@BIG@/BIGINT/g'
	sed -e "$SUBST" \
		-e "s/@HEX(\([0-9a-f]*\))@/'\\\\x\1'::bytea/g" "$WRIT_SRC/tests/integration/cloud_schema_v1.sql" |
		psql "$DB" -qAtX -v ON_ERROR_STOP=1 >/dev/null
	# explicit ids do not move PostgreSQL's sequences: as a store in use would have them
	for t in orgs users factories tokens products versions hsms batches writs; do
		col=id
		[[ $t == writs ]] && col=seq
		sql "SELECT setval(pg_get_serial_sequence('$t', '$col'), (SELECT max($col) FROM $t))" >/dev/null
	done
	nullable() { sql "SELECT is_nullable FROM information_schema.columns WHERE table_name = '$1' AND column_name = '$2'"; }
	idx() { sql "SELECT count(*) FROM pg_indexes WHERE indexname = '$1'"; }
	T=t
else
	DB=sqlite:$WORK/cloud.db
	sql() { sqlite3 "$WORK/cloud.db" "$1"; }
	SUBST='s/@PK@/INTEGER PRIMARY KEY AUTOINCREMENT/g; s/@BLOB@/BLOB/g; s/@BIG@/INTEGER/g'
	sed -e "$SUBST" \
		-e "s/@HEX(\([0-9a-f]*\))@/X'\1'/g" "$WRIT_SRC/tests/integration/cloud_schema_v1.sql" | sqlite3 "$WORK/cloud.db"
	nullable() { sqlite3 "$WORK/cloud.db" "SELECT CASE \"notnull\" WHEN 0 THEN 'YES' ELSE 'NO' END FROM pragma_table_info('$1') WHERE name = '$2'"; }
	idx() { sql "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '$1'"; }
	T=1
fi
# the alerts table as version 3 left it (SQLite cannot drop a column: rebuilt on both)
alerts_v3()
{
	sql "DROP INDEX alerts_open; ALTER TABLE alerts RENAME TO alerts_v4;
		$(grep '^CREATE TABLE IF NOT EXISTS alerts ' "$WRIT_SRC/tests/integration/cloud_schema_v1.sql" | sed -e "$SUBST")
		INSERT INTO alerts SELECT id, time, org_id, factory_id, hsm_pk, kind, detail FROM alerts_v4;
		DROP TABLE alerts_v4" >/dev/null
}

check "the fixture is a version-1 store" "$(sql "SELECT v FROM meta WHERE k = 'schema'")" 1
# alerts as versions 1 to 3 raised them, one row per occurrence: two with one key
sql "INSERT INTO alerts (time, org_id, factory_id, hsm_pk, kind, detail) VALUES
	($(($(date +%s) - 60)), 1, 1, 0, 'bad_record', 'first'), ($(($(date +%s) - 30)), 1, 1, 0, 'bad_record', 'second')" >/dev/null
check "writs.batch_id is NOT NULL in version 1" "$(nullable writs batch_id)" NO
"$WRIT_BIN/writ-cloud" init --db "$DB" >/dev/null
check "writ-cloud init migrates it to version 4 (1 -> 2 -> 3 -> 4)" "$(sql "SELECT v FROM meta WHERE k = 'schema'")" 4
"$WRIT_BIN/writ-cloud" init --db "$DB" >/dev/null
check "init again changes nothing" "$(sql "SELECT v FROM meta WHERE k = 'schema'")" 4
check "the telemetry tables of version 3 exist, empty" "$(sql "SELECT (SELECT count(*) FROM telemetry) + (SELECT count(*) FROM telemetry_reasons)")" 0
check "the old alerts are kept, each one closed occurrence" \
	"$(sql "SELECT detail, occurrences, last_seen = time, last_detail, closed = time FROM alerts ORDER BY id")" \
	"first|1|$T|first|$T"$'\n'"second|1|$T|second|$T"
check "the index that folds open alerts exists" "$(idx alerts_open)" 1
# a version-3 store (alerts one row per occurrence, several with one key) goes to 4
alerts_v3
sql "UPDATE meta SET v = '3' WHERE k = 'schema'" >/dev/null
"$WRIT_BIN/writ-cloud" init --db "$DB" >/dev/null
check "a version-3 store migrates to 4: its alerts closed, the index made" \
	"$(sql "SELECT v FROM meta WHERE k = 'schema'")/$(sql "SELECT count(*) FROM alerts WHERE closed = time AND occurrences = 1 AND last_seen = time")/$(idx alerts_open)" \
	4/2/1
# a version-2 store (as the last release left it: no telemetry tables) goes to 4
alerts_v3
sql "DROP TABLE telemetry; DROP TABLE telemetry_reasons; UPDATE meta SET v = '2' WHERE k = 'schema'" >/dev/null
"$WRIT_BIN/writ-cloud" init --db "$DB" >/dev/null
check "a version-2 store migrates to 4 with the telemetry tables" \
	"$(sql "SELECT v FROM meta WHERE k = 'schema'")/$(sql "SELECT count(*) FROM telemetry")/$(idx alerts_open)" 4/0/1
if [[ $engine == postgresql ]]; then hexf="upper(encode(sealed, 'hex'))"; else hexf="hex(sealed)"; fi
check "the writ keeps its feed position and bytes" "$(sql "SELECT seq, kind, batch_id, $hexf FROM writs")" "7|1|1|C0FFEE"
check "writs.batch_id may be NULL (rework writs)" "$(nullable writs batch_id)" YES
check "writs.rework_id exists" "$(nullable writs rework_id)" YES
check "rows survive, new columns have their defaults" \
	"$(sql "SELECT p.allocated, p.debug_gen, p.rework_policy, (SELECT count(*) FROM hsms WHERE debug_pub IS NULL), (SELECT count(*) FROM batches), (SELECT count(*) FROM tokens) FROM products p")" \
	"5|1||1|1|2"
check "the rework tables exist" "$(sql "SELECT count(*) FROM reworks") $(sql "SELECT count(*) FROM rework_events")" "0 0"

# the server on the migrated store
: >"$WORK/cloud.log"
"$WRIT_BIN/writ-cloud" serve --insecure-http --db "$DB" --listen 127.0.0.1:0 --threads 2 >"$WORK/cloud.log" 2>&1 &
CPID=$!
port=
for ((i = 0; i < 100; i++)); do
	port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$WORK/cloud.log")
	[[ -n $port ]] && break
	sleep 0.1
done
URL=http://127.0.0.1:$port
UT=wc_$(printf 'u%.0s' {1..43})
FT=wc_$(printf 'f%.0s' {1..43})
api() { curl -s -X "$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' ${4:+--data-binary "$4"} "$URL$3"; }
check "GET product on the migrated store: debug_gen 1, no policy" \
	"$(api GET "$UT" /v1/products/lamp | jq -c '[.debug_gen, .rework_policy]')" "[1,null]"
check "GET /v1/alerts on the migrated store: the old alerts, closed, one occurrence each" \
	"$(api GET "$UT" /v1/alerts | jq -c '[.alerts[] | [.detail, .count, .first_seen == .last_seen, .last_detail, .open]]')" \
	'[["second",1,true,"second",false],["first",1,true,"first",false]]'
check "the factory's feed still starts with the old writ at 7" \
	"$(api GET "$FT" '/v1/sync/writs?since=0' | jq -c '[.writs[].seq, .next]')" "[7,7]"
check "an HSM enrolled before secure debug gets no rework rights (409 state)" \
	"$(api POST "$UT" /v1/rework '{"product": "lamp", "factory": "foxy-sz1", "hsm": "'"$(printf '33%.0s' {1..32})"'", "perms": ["debug"]}' | jq -r .code)" \
	state
kill "$CPID"
wait "$CPID" 2>/dev/null || true
CPID=
# a store a newer writ-cloud upgraded is refused, not written with this one's SQL
sql "UPDATE meta SET v = '5' WHERE k = 'schema'" >/dev/null
before=$(sql "SELECT count(*) FROM alerts")
rc=0
"$WRIT_BIN/writ-cloud" init --db "$DB" >newer.out 2>&1 || rc=$?
check "a store at a newer schema (5) is refused at start, saying what to do" \
	"$rc $(grep -c 'schema version 5, which this writ-cloud (schema 4) does not know: run the writ-cloud that upgraded it' newer.out)" "1 1"
check "... and left as it was" "$(sql "SELECT v FROM meta WHERE k = 'schema'") $(sql "SELECT count(*) FROM alerts")" "5 $before"
if grep -qE "ERROR: [A-Za-z]+Sanitizer|runtime error" "$WORK/cloud.log"; then
	FAILED=$((FAILED + 1))
	echo "FAIL: sanitizer report in the server's log" >&2
fi
echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
