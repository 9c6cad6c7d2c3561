#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-cloud, timed (make bench-cloud):
#  1. sync: a writ-factory with its writ-hsmd makes N devices (default 100 000) while the
#     cloud is down (DACs and ok records through the station API, bench/factory_load.py),
#     then the cloud comes up and the clock runs until every record and every journal
#     entry is verified and stored in the cloud's SQLite store. Records/s = N / seconds.
#  2. the same on PostgreSQL with BENCH_PG_DEVICES (default 20 000) devices.
#  3. API latency: wrk (a second process) on GET /v1/products/lamp and GET /v1/batches/ID,
#     16 connections for BENCH_SECONDS (default 5) against the SQLite instance: p50/p99.
# The last line is sync_100k_seconds=<seconds> (step 1; scaled to 100 000 when
# BENCH_DEVICES is smaller, and then said so). A drain that does not finish within
# BENCH_DRAIN_POLLS polls (default 6000: 10 min and more) is a failure: exit 1, what was
# missing on stderr, no figures.
# Usage: bash bench/bench_cloud.sh BUILD_DIR
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: bench_cloud.sh BUILD_DIR}" && pwd)
N=${BENCH_DEVICES:-100000}
NPG=${BENCH_PG_DEVICES:-20000}
SECS=${BENCH_SECONDS:-5}
POLLS=${BENCH_DRAIN_POLLS:-6000} # 0.1 s apart, plus the polls' own time
B=$build/bin
PY=/usr/bin/python3
for f in writ writ-cloud writ-hsmd writ-factory; do
	[[ -x $B/$f ]] || { echo "bench_cloud: $B/$f not built" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench_cloud: wrk missing (scripts/deps.sh installs it)" >&2; exit 1; }
source "$src/scripts/softhsm-env.sh"
source "$src/tests/pg_lib.sh"

# under the build directory, not /tmp: a real disk, so fsync counts
WORK=$(mktemp -d "$build/bench-cloud.XXXXXX")
PIDS=()
cleanup()
{
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	pg_stop 2>/dev/null || true
	[[ ${KEEP_WORKDIR:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
writ_softhsm_env "$WORK"
writ_test_pins
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
say() { echo "bench_cloud: $*" >&2; }

# run_round NAME DB DEVICES: a fresh cloud on DB, factory + HSM, DEVICES made offline,
# then the cloud up and the drain timed. Prints "seconds".
run_round()
{
	local name=$1 db=$2 n=$3 dir=$WORK/$1 cport fport oem odm code hsm wid t0 t1 status cursor drained=0
	mkdir -p "$dir"
	cd "$dir"
	"$B/writ-cloud" init --db "$db" --token "cloud-$name" >/dev/null
	oem=$("$B/writ-cloud" org add --db "$db" --token "cloud-$name" --kind oem --name acme --user alice 2>/dev/null)
	odm=$("$B/writ-cloud" org add --db "$db" --token "cloud-$name" --kind odm --name foxy --user bob 2>/dev/null)
	(umask 077; echo "$oem" >oem.tok; echo "$odm" >odm.tok)
	cport=$(free_port)
	"$B/writ-cloud" serve --insecure-http --db "$db" --token "cloud-$name" --listen "127.0.0.1:$cport" --threads 4 >cloud.log 2>&1 &
	local cpid=$!
	PIDS+=($cpid)
	export WRIT_CLOUD_URL=http://127.0.0.1:$cport
	for _ in $(seq 100); do curl -sf "$WRIT_CLOUD_URL/v1/health" >/dev/null && break; sleep 0.1; done
	W() { "$B/writ" "$@" --token-file "$TOKF"; }
	TOKF=oem.tok W product create --product lamp --name Lamp --vid FFF1 --pid 8000 --quota 1000000000 >/dev/null
	TOKF=oem.tok W product invite --product lamp --odm foxy >/dev/null
	code=$(TOKF=oem.tok W factory create --factory foxy-sz1 --odm foxy --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["code"])')
	"$B/writ-factory" enrol-info --cloud "$WRIT_CLOUD_URL" --code "$code" --out oem.pem >/dev/null
	"$B/writ-hsmd" init --state hsm --token "hsm-$name" --factory foxy-sz1 --oem-key oem.pem >/dev/null
	"$B/writ-hsmd" serve --state hsm >hsmd.log 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do [[ -S hsm/hsmd.sock ]] && break; sleep 0.05; done
	"$B/writ-factory" enrol --cloud "$WRIT_CLOUD_URL" --code "$code" --hsm hsm/hsmd.sock --token-out factory.tok >/dev/null
	hsm=$("$B/writ" hsm status --socket hsm/hsmd.sock 2>/dev/null | sed -n 's/.*hsm[ _]id[ =:]*\([0-9a-f]\{64\}\).*/\1/p' | head -n 1)
	[[ -n $hsm ]] || hsm=$(TOKF=odm.tok W factory list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["factories"][0]["hsms"][0]["id"])')
	head -c 65536 /dev/urandom >fw.bin
	local sha
	sha=$(TOKF=oem.tok W firmware upload --product lamp --image fw.bin --fw-version 1 --sign-in-portal --json 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["sha256"])' 2>/dev/null) || true
	if [[ -z $sha ]]; then
		# the portal's secure-boot key signs for oem-security only: add one
		local sec
		sec=$(curl -sf -H "Authorization: Bearer $oem" -d '{"name":"sally","role":"oem-security"}' "$WRIT_CLOUD_URL/v1/users" |
			$PY -c 'import json,sys; print(json.load(sys.stdin)["token"])')
		(umask 077; echo "$sec" >sec.tok)
		sha=$(TOKF=sec.tok W firmware upload --product lamp --image fw.bin --fw-version 1 --sign-in-portal --json |
			$PY -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
	fi
	printf 'vendor_id = 0xFFF1\nproduct_id = 0x8000\nmfg_date = 2026-11-23\nhw_ver = 1\n' >settings.txt
	TOKF=odm.tok W version create --product lamp --version 1.0 --firmware "$sha" --settings settings.txt >/dev/null
	TOKF=oem.tok W version approve --product lamp --version 1.0 >/dev/null
	wid=$(TOKF=odm.tok W batch create --product lamp --version 1.0 --factory foxy-sz1 --hsm "$hsm" --quantity "$n" \
		--days 2 --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	# the factory syncs once (writ + bundle in), then the cloud goes away
	fport=$(free_port)
	mkdir -p fac
	"$B/writ-factory" init --state fac --oem-key oem.pem --factory foxy-sz1 >/dev/null
	"$B/writ-factory" serve --insecure-http --state fac --listen "127.0.0.1:$fport" --hsm hsm/hsmd.sock --cloud "$WRIT_CLOUD_URL" \
		--cloud-token-file factory.tok --sync-interval 1 >factory.log 2>&1 &
	local fpid=$!
	PIDS+=($fpid)
	for _ in $(seq 300); do
		curl -sf "http://127.0.0.1:$fport/v1/status" 2>/dev/null | grep -q "$wid" && break
		sleep 0.1
	done
	kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true
	say "$name: cloud down; making $n devices through the factory"
	"$B/writ-factory" station add --state fac --name st1 --line L1 >station.out 2>&1
	local scode
	scode=$(grep -Eo '[A-Za-z0-9_-]{6,}' station.out | tail -n 1)
	curl -sf -d "{\"code\":\"$scode\",\"name\":\"st1\",\"line\":\"L1\"}" "http://127.0.0.1:$fport/v1/stations/enrol" |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["token"])' >station.tok
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=d -outform DER \
		-out csr.der 2>/dev/null
	$PY "$src/bench/factory_load.py" "http://127.0.0.1:$fport" station.tok "$wid" csr.der "$n" "${BENCH_LOAD_PROCS:-16}" >load.out
	say "$name: $(cat load.out)"
	# the cloud comes back: time the drain
	"$B/writ-cloud" serve --insecure-http --db "$db" --token "cloud-$name" --listen "127.0.0.1:$cport" --threads 4 >>cloud.log 2>&1 &
	cpid=$!
	PIDS+=($cpid)
	t0=$(date +%s.%N)
	for _ in $(seq "$POLLS"); do
		status=$(curl -sf -H "Authorization: Bearer $oem" "$WRIT_CLOUD_URL/v1/batches/$wid" 2>/dev/null || true)
		cursor=$(curl -sf -H "Authorization: Bearer $(cat factory.tok)" "$WRIT_CLOUD_URL/v1/sync/records/cursor" 2>/dev/null || true)
		if [[ -n $status && -n $cursor ]] && $PY -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["produced"] == int(sys.argv[2]) else 1)' "$status" "$n" &&
			$PY -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["next"] == int(sys.argv[2]) + 1 else 1)' "$cursor" "$n"; then
			drained=1
			break
		fi
		sleep 0.1
	done
	t1=$(date +%s.%N)
	[[ -n $status ]] || { say "$name: the cloud never answered"; exit 1; }
	# a drain that never finished has no figure: say what was missing and fail (no
	# sync_100k_seconds line follows)
	if [[ $drained != 1 ]]; then
		say "FAIL: $name: the drain did not finish within $POLLS polls ($(echo "$t0 $t1" | awk '{ printf "%.0f", $2 - $1 }') s):" \
			"batch ${status:0:300}; records cursor ${cursor:-no answer} (want produced=$n, next=$((n + 1)));" \
			"the factory's log: $(tail -n 5 factory.log | tr '\n' ' ')"
		exit 1
	fi
	echo "$t0 $t1" | awk '{ printf "%.2f\n", $2 - $1 }' >seconds
	LAST_OEM=$oem LAST_WID=$wid
	export LAST_OEM LAST_WID
	cd "$WORK"
}

say "$(nproc) CPUs; $N devices on SQLite, $NPG on PostgreSQL"
run_round sqlite "sqlite:$WORK/sqlite/cloud.db" "$N"
s_lite=$(cat "$WORK/sqlite/seconds")
# API latency against the SQLite instance, which is still up
wrk_run()
{
	wrk -t2 -c16 -d"${SECS}s" --latency -H "Authorization: Bearer $LAST_OEM" "$WRIT_CLOUD_URL$1" 2>&1 |
		awk -v p="$1" '/Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
			END { printf "  GET %-45s %8.0f req/s  p50 %s  p99 %s\n", p, r, p50, p99 }'
}
lat1=$(wrk_run /v1/products/lamp)
lat2=$(wrk_run "/v1/batches/$LAST_WID")
pg_start >/dev/null
run_round pg "$WRIT_PG_URL" "$NPG"
s_pg=$(cat "$WORK/pg/seconds")

echo "bench_cloud: records drained from a factory that produced through a cloud outage (journal + records, verified):"
awk -v n="$N" -v s="$s_lite" 'BEGIN { printf "  SQLite:     %7d devices in %6.2f s = %8.0f records/s\n", n, s, n / s }'
awk -v n="$NPG" -v s="$s_pg" 'BEGIN { printf "  PostgreSQL: %7d devices in %6.2f s = %8.0f records/s\n", n, s, n / s }'
echo "bench_cloud: API latency under load from wrk (2 threads, 16 connections, ${SECS} s, SQLite):"
echo "$lat1"
echo "$lat2"
if [[ $N -ne 100000 ]]; then
	echo "bench_cloud: BENCH_DEVICES=$N: sync_100k_seconds below is scaled linearly to 100 000"
fi
awk -v n="$N" -v s="$s_lite" 'BEGIN { printf "sync_100k_seconds=%.2f\n", s * 100000 / n }'
