#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The writ-cloud loop with real processes: cloud_flow.sh sqlite | postgresql [SCRIPT].
# sqlite: one writ-cloud on a SQLite file. postgresql: a private PostgreSQL server
# (tests/pg_lib.sh) and TWO writ-cloud instances on it sharing one token, the parallel
# batch race spread over both. The checks themselves are in SCRIPT (default
# cloud_api.py; cloud_rework.py for rework), which gets the store's URL as CLOUD_DB.
set -euo pipefail
: "${WRIT_SRC:?}" "${WRIT_BIN:?}"
engine=${1:-sqlite}
script=${2:-cloud_api.py}
source "$WRIT_SRC/scripts/softhsm-env.sh"
source "$WRIT_SRC/tests/pg_lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/writ-test-cloud.XXXXXX")
PIDS=()
cleanup()
{
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	[[ $engine == postgresql ]] && pg_stop
	if [[ ${KEEP_WORKDIR:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
export WORK
writ_softhsm_env "$WORK"
writ_test_pins
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357

if [[ $engine == postgresql ]]; then
	pg_start
	DB=$WRIT_PG_URL
	instances=2
else
	DB=sqlite:$WORK/cloud.db
	instances=1
fi

"$WRIT_BIN/writ-cloud" init --db "$DB" >/dev/null
export CLOUD_DB=$DB CLOUD_ENGINE=$engine
tok() { "$WRIT_BIN/writ-cloud" org add --db "$DB" --kind "$1" --name "$2" --user "$3" 2>/dev/null; }
printf '{"oem": "%s", "odm": "%s", "oem2": "%s", "odm2": "%s", "sec": ""}\n' \
	"$(tok oem acme alice)" "$(tok odm foxy bob)" "$(tok oem globex gina)" "$(tok odm shady sam)" >"$WORK/tokens.json"
export TOKENS_FILE=$WORK/tokens.json

# start_cloud N: one instance on an ephemeral loopback port; its URL is appended.
CLOUD_URLS=
start_cloud()
{
	local log=$WORK/cloud$1.log i port
	: >"$log"
	"$WRIT_BIN/writ-cloud" serve --insecure-http --db "$DB" --listen 127.0.0.1:0 --threads 4 >"$log" 2>&1 &
	PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)
		if [[ -n $port ]]; then
			CLOUD_URLS="$CLOUD_URLS http://127.0.0.1:$port"
			return 0
		fi
		sleep 0.1
	done
	echo "FAIL: writ-cloud did not start: $(cat "$log")" >&2
	exit 1
}
for ((n = 0; n < instances; n++)); do start_cloud "$n"; done
export CLOUD_URLS
rc=0
/usr/bin/python3 "$WRIT_SRC/tests/integration/$script" || rc=$?
# A clean stop, then what the sanitizers (in the ASan build) said about the servers.
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
PIDS=()
if grep -lE "ERROR: [A-Za-z]+Sanitizer|runtime error" "$WORK"/cloud*.log; then
	echo "FAIL: a writ-cloud instance reported a sanitizer error:" >&2
	grep -hE -A20 "ERROR: [A-Za-z]+Sanitizer|runtime error" "$WORK"/cloud*.log | head -60 >&2
	rc=1
fi
exit $rc
