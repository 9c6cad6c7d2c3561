#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Line telemetry end to end with real processes: two writ-station runs on two lines
# (writ-devsim farms, a writ whose quantity makes some devices fail at "dac"), one
# writ-factory, one writ-hsmd (SoftHSM), and a writ-cloud (SQLite, or PostgreSQL with
# the argument postgresql) that the factory
# reaches through cut_proxy.py. The cloud is killed before the line starts and comes
# back after it ended: the factory keeps the buckets, then every one arrives once, and
# GET /v1/telemetry's totals per line equal what each station's own summary line
# counted. Then: the API's tenancy (OEM and ODM of the factory see it, other orgs do
# not, a factory token may not read), and garbage refused by POST /v1/telemetry
# (station) and POST /v1/sync/telemetry (factory): malformed, oversized, negative
# counts, unknown steps, buckets in the future or far past, replays counted once.
# Last (E), a station's spool (--state DIR): it makes its devices, the factory goes away
# before the window closes, the station is killed with SIGKILL, garbage and a torn line
# are added to its spool; factory back, station restarted: the devices arrive exactly
# once in the cloud, and the station says what it skipped.
source "${WRIT_SRC:?}/tests/integration/line_lib.sh"
source "$WRIT_SRC/tests/pg_lib.sh"
ENGINE=${1:-sqlite} # the cloud's store: sqlite or postgresql (a private server)

PY=/usr/bin/python3
CLOUDD=$WRIT_BIN/writ-cloud
CLOUD_PID=
PROXY_PID=
FPID=
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357
N=12 # chips per line; the writ allows 20 devices: 4 fail at "dac"

line_setup 20
[[ ${KEEP_WORKDIR:-0} != 1 ]] || echo "workdir: $WORK" >&2
_tele_cleanup()
{
	local p
	for p in "$FPID" "$PROXY_PID" "$CLOUD_PID"; do
		[[ -n $p ]] || continue
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[[ $ENGINE != postgresql ]] || pg_stop
	_line_cleanup
}
trap _tele_cleanup EXIT
[[ -x $CLOUDD ]] || { echo "FAIL: $CLOUDD not built" >&2; exit 1; }


# ---- the cloud, two OEMs and two ODMs, the factory known to the first pair ----
if [[ $ENGINE == postgresql ]]; then
	pg_start
	CDB=$WRIT_PG_URL
	csql() { psql "$CDB" -qAtX -c "$1"; }
else
	CDB=sqlite:$WORK/cloud.db
	csql() { sqlite3 "$WORK/cloud.db" "$1"; }
fi
must "$CLOUDD" init --db "$CDB"
OEM=$("$CLOUDD" org add --db "$CDB" --kind oem --name acme --user alice 2>/dev/null)
ODM=$("$CLOUDD" org add --db "$CDB" --kind odm --name foxy --user bob 2>/dev/null)
OEM2=$("$CLOUDD" org add --db "$CDB" --kind oem --name globex --user gina 2>/dev/null)
ODM2=$("$CLOUDD" org add --db "$CDB" --kind odm --name other --user otto 2>/dev/null)
CPORT=$(free_port)
CURL_CLOUD=http://127.0.0.1:$CPORT
# shellcheck source=tests/integration/cloud_lib.sh
source "$WRIT_SRC/tests/integration/cloud_lib.sh"
start_proxy
start_cloud

RESP=$WORK/.resp
# capi METHOD PATH TOKEN [JSON | @FILE]: the cloud's API; sets CODE, answer in $RESP
cmust 201 POST /v1/factories "$OEM" "{\"id\": \"$FACTORY\", \"odm\": \"foxy\"}"
(umask 077 && jq -r .code "$RESP" >code)
must "$FACTORYD" enrol --cloud "$PROXY_URL" --code-file code --hsm hsm/hsmd.sock --token-out fac.token
FTOK=$(cat fac.token)

# ---- the factory, syncing through the proxy; two stations on two lines ----
"$FACTORYD" serve --insecure-http --state fac --listen "127.0.0.1:$FACTORY_PORT" --hsm hsm/hsmd.sock --drop drop \
	--cloud "$PROXY_URL" --cloud-token-file fac.token --sync-interval 1 >>fac/factory.log 2>&1 &
FPID=$!
wait_for 20 test ! -e drop/w.writ || { echo "FAIL: the factory did not load the writ: $(tail -n 5 fac/factory.log)" >&2; exit 1; }
wait_for 10 curl -s -o /dev/null "$FACTORY_URL/v1/status" || { echo "FAIL: writ-factory did not come up" >&2; exit 1; }
enrol st-a line-1 a.token
enrol st-b line-2 b.token
mes_token
fstatus() { curl -s -H @"$WORK/mes.hdr" "$FACTORY_URL/v1/status" >status.json; }
queued_tele() { fstatus && jq -r '.cloud.queued_telemetry' status.json; }
drained() { [[ $(queued_tele) == 0 ]]; }

# ---- A. the cloud is down for the whole run ----
stop_cloud KILL
start_farm farm-a "$N"
start_farm farm-b "$N"
"$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$WRIT_ID" --port-dir "$WORK/farm-a" --once \
	--parallel 4 --telemetry-window 10 >a.out 2>a.err &
SA=$!
"$STATION" run --factory "$FACTORY_URL" --token-file b.token --job "$WRIT_ID" --port-dir "$WORK/farm-b" --once \
	--parallel 4 --telemetry-window 10 >b.out 2>b.err &
SB=$!
wait "$SA" || true
wait "$SB" || true
stop_farm farm-a
stop_farm farm-b
read -r OKA FAILA POSTA UNSA < <(sed -nE 's/.*\<ok=([0-9]+) failed=([0-9]+).*telemetry_posted=([0-9]+) telemetry_unsent=([0-9]+).*/\1 \2 \3 \4/p' a.out)
read -r OKB FAILB POSTB UNSB < <(sed -nE 's/.*\<ok=([0-9]+) failed=([0-9]+).*telemetry_posted=([0-9]+) telemetry_unsent=([0-9]+).*/\1 \2 \3 \4/p' b.out)
# (a slow machine may see a chip time out: the totals below come from the summaries)
check "both stations ran chips (summary lines: $(cat a.out b.out | tr '\n' ' '))" \
	"$((OKA + FAILA > 0 && OKB + FAILB > 0))" = 1
check "the writ's quantity made devices fail" "$((OKA + OKB <= 20 && FAILA + FAILB >= 1))" = 1
check "each station posted its buckets, none left unsent" "$((POSTA > 0 && POSTB > 0)) $UNSA $UNSB" = "1 0 0"
# the factory's status, once it shows every bucket queued and the cloud unreachable
# (a sync round has to fail first; a fixed 2 s may not cover one on a loaded machine)
all_queued() { [[ $(queued_tele) == "$((POSTA + POSTB))" && $(jq -r '.cloud.reachable' status.json) == false ]]; }
wait_for 15 all_queued || true
check "with the cloud down the factory keeps every bucket queued" "$(queued_tele)" = "$((POSTA + POSTB))"
check "the outage is in the factory's status" "$(jq -r '.cloud.reachable' status.json)" = false

# ---- B. the cloud is back: everything arrives once ----
start_cloud
wait_for 30 drained || { echo "FAIL: telemetry did not drain: $(cat status.json)" >&2; exit 1; }
check "every bucket is in the cloud once" "$(csql 'SELECT count(*), count(DISTINCT station || run || start) FROM telemetry')" \
	= "$((POSTA + POSTB))|$((POSTA + POSTB))"
NOW=$(date +%s)
capi GET "/v1/telemetry?factory=$FACTORY&since=$((NOW - 3600))" "$OEM"
check "GET /v1/telemetry for the OEM: 200" "$CODE" = 200
cp "$RESP" tele.json
check "factory totals equal the stations' summaries" "$(jq -r '.totals | "\(.ok) \(.failed) \(.total)"' tele.json)" \
	= "$((OKA + OKB)) $((FAILA + FAILB)) $((OKA + FAILA + OKB + FAILB))"
check "line-1 equals station st-a's summary" "$(jq -r '.lines[] | select(.line == "line-1") | "\(.ok) \(.failed)"' tele.json)" = "$OKA $FAILA"
check "per station: st-a on line-1 with its own counts and failures by step" \
	"$(jq -r '.lines[] | select(.line == "line-1") | .stations[] | "\(.station) \(.ok) \(.failed) \(.fail_by_step | add // 0)"' tele.json)" \
	= "st-a $OKA $FAILA $FAILA"
check "line-2 equals station st-b's summary" "$(jq -r '.lines[] | select(.line == "line-2") | "\(.ok) \(.failed)"' tele.json)" = "$OKB $FAILB"
check "the failures by step and by reason add up; the quota's refusal is among them at dac" \
	"$(jq -r '"\(.totals.fail_by_step | add) \(.totals.top_reasons | map(.n) | add) \(.totals.fail_by_step.dac >= 1)"' tele.json)" \
	= "$((FAILA + FAILB)) $((FAILA + FAILB)) true"
check "yield, devices/hour and cycle time are given" \
	"$(jq -r '.totals | "\((.yield * .total | round) == .ok) \(.devices_per_hour > 0) \(.cycle_ms.p50 > 0) \(.cycle_ms.p95 >= .cycle_ms.p50) \(.cycle_hist | add)"' tele.json)" \
	= "true true true true $((OKA + OKB))"
capi GET "/v1/telemetry?factory=$FACTORY&line=line-2&since=$((NOW - 3600))" "$OEM"
check "line= narrows to one line" "$CODE $(jq -r '"\(.lines | length) \(.totals.ok)"' "$RESP")" = "200 1 $OKB"

# ---- C. tenancy ----
capi GET "/v1/telemetry?factory=$FACTORY" "$ODM"
check "the ODM that runs the factory sees it" "$CODE $(jq -r .totals.total "$RESP")" = "200 $((OKA + FAILA + OKB + FAILB))"
capi GET "/v1/telemetry?factory=$FACTORY" "$OEM2"
check "another OEM does not see the factory (404)" "$CODE" = 404
capi GET "/v1/telemetry?factory=$FACTORY" "$ODM2"
check "another ODM does not see the factory (404)" "$CODE" = 404
capi GET "/v1/telemetry?factory=$FACTORY" "$FTOK"
check "a factory credential may not read telemetry (403)" "$CODE" = 403
capi GET "/v1/telemetry?factory=$FACTORY" ""
check "no credential: 401" "$CODE" = 401
capi GET "/v1/telemetry?factory=$FACTORY&since=10&until=5" "$OEM"
check "since after until: 400" "$CODE" = 400

# ---- D. garbage refused, replays counted once ----
RUN=00000000000000ee
START=$(((NOW / 60 - 5) * 60))
bucket() # bucket START [jq filter]: a valid bucket of one ok and one failed device, edited
{
	jq -c "${2:-.}" <<B
{"run":"$RUN","start":$1,"window":60,"total":2,"ok":1,"fail":{"lock":1},
 "reasons":[{"step":"lock","reason":"chip refused the lock","n":1}],"other_reasons":0,
 "cycle_ms_sum":900,"cycle_hist":[0,0,1,0,0,0,0,0,0,0]}
B
}
spost() # spost BODY: POST /v1/telemetry as station st-a; sets CODE
{
	CODE=$(curl -s -o "$RESP" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat a.token)" \
		-H 'Content-Type: application/json' --data-binary "$1" "$FACTORY_URL/v1/telemetry") || CODE=000
}
fpost() { capi POST /v1/sync/telemetry "$FTOK" "$1"; } # as the factory
declare -A GARBAGE=(
	[malformed]='{"buckets": [' [not-an-array]='{"buckets": {}}' [empty]='{"buckets": []}'
	[negative]="{\"buckets\": [$(bucket "$START" '.total = -1')]}"
	[negative-fail]="{\"buckets\": [$(bucket "$START" '.fail.lock = -1 | .ok = 3')]}"
	[unknown-step]="{\"buckets\": [$(bucket "$START" '.fail = {"teleport": 1} | .reasons[0].step = "teleport"')]}"
	[future]="{\"buckets\": [$(bucket $(((NOW / 60 + 60) * 60)))]}"
	[far-past]="{\"buckets\": [$(bucket $(((NOW / 60 - 60 * 24 * 40) * 60)))]}"
	[sums]="{\"buckets\": [$(bucket "$START" '.ok = 2')]}"
	[extra]="{\"buckets\": [$(bucket "$START" '.extra = 1')]}"
)
for g in "${!GARBAGE[@]}"; do
	spost "${GARBAGE[$g]}"
	check "station POST /v1/telemetry refuses $g (400)" "$CODE" = 400
done
$PY -c 'import sys; sys.stdout.write("{\"buckets\": [" + ",".join(["{\"x\": \"" + "a" * 1000 + "\"}"] * 80) + "]}")' >big.json
spost "$(cat big.json)"
check "station POST /v1/telemetry refuses an oversized body (413)" "$CODE" = 413
ONE="{\"buckets\": [$(bucket "$START")]}"
spost "$ONE"
check "a valid station bucket is taken" "$CODE $(jq -c . "$RESP")" = '200 {"accepted":1,"duplicate":0}'
spost "$ONE"
check "its replay is counted once" "$CODE $(jq -c . "$RESP")" = '200 {"accepted":0,"duplicate":1}'
spost "{\"buckets\": [$(bucket "$START" '.total = 3 | .ok = 2 | .cycle_hist[2] = 2')]}"
check "other counts under the same (station, run, start) are refused (409)" "$CODE" = 409
CURL_MES=$(sed 's/^Authorization: Bearer //' "$WORK/mes.hdr")
CODE=$(curl -s -o "$RESP" -w '%{http_code}' -X POST -H "Authorization: Bearer $CURL_MES" --data-binary "$ONE" \
	"$FACTORY_URL/v1/telemetry")
check "an mes token may not post telemetry (403)" "$CODE" = 403
wait_for 30 drained || { echo "FAIL: the station bucket did not reach the cloud" >&2; exit 1; }
capi GET "/v1/telemetry?factory=$FACTORY&line=line-1&since=$((NOW - 3600))" "$OEM"
check "the replayed bucket counts once in the cloud" "$(jq -r .totals.total "$RESP")" = "$((OKA + FAILA + 2))"

item() { printf '{"station": "st-x", "line": "line-9", "bucket": %s}' "$1"; }
for g in malformed not-an-array empty; do
	fpost "${GARBAGE[$g]}"
	check "POST /v1/sync/telemetry refuses $g (400)" "$CODE" = 400
done
for g in negative negative-fail unknown-step future sums extra; do
	b=$(jq -c '.buckets[0]' <<<"${GARBAGE[$g]}")
	fpost "{\"buckets\": [$(item "$b")]}"
	check "POST /v1/sync/telemetry refuses $g (400)" "$CODE" = 400
done
fpost "{\"buckets\": [{\"station\": \"a b\", \"line\": \"l\", \"bucket\": $(bucket "$START")}]}"
check "POST /v1/sync/telemetry refuses a bad station name (400)" "$CODE" = 400
fpost "$(cat big.json)"
check "POST /v1/sync/telemetry refuses an oversized body (413)" "$CODE" = 413
X="{\"buckets\": [$(item "$(bucket "$START")")]}"
fpost "$X"
check "the cloud takes a factory's bucket" "$CODE $(jq -c . "$RESP")" = '200 {"accepted":1,"duplicate":0}'
fpost "$X"
check "and counts its replay once" "$CODE $(jq -c . "$RESP")" = '200 {"accepted":0,"duplicate":1}'
capi POST /v1/sync/telemetry "$OEM" "$X"
check "a user may not push telemetry (403)" "$CODE" = 403
capi GET "/v1/telemetry?factory=$FACTORY&line=line-9&since=$((NOW - 3600))" "$OEM"
check "line-9 holds that one bucket once" "$(jq -r '"\(.totals.total) \(.totals.top_reasons[0].reason)"' "$RESP")" \
	= "2 chip refused the lock"

# ---- E. a station's unsent telemetry survives kill -9 (writ-station run --state DIR) ----
# The station makes its devices; the factory goes away before the window closes, so the
# bucket cannot be posted; the station is killed with SIGKILL; the factory comes back and
# the station is started again on the same --state: the devices arrive once, in the
# factory and in the cloud. Garbage and a torn line in the spool are skipped and said.
W2=$(drop_writ w2 10)
[[ ${#W2} == 32 ]] || { echo "FAIL (setup): the second writ: $W2" >&2; exit 1; }
enrol st-c line-3 c.token
NC=5
start_farm farm-c "$NC"
mkdir -p "$WORK/empty"
# The window has to stay open from the first device until the kill: one that closes while
# the factory is up is posted, and the spool is left empty (nothing to test); one that
# closes while it is down is rewritten as B lines. Windows follow the clock (start = now -
# now % window), so: a 300 s window, entered with at least 90 s of it left (making the
# devices is bounded at 60 s below; stopping the factory and the kill take a few). 300 s
# is the longest window whose still-open bucket the restarted station can post right
# away: the factory refuses a bucket that ends more than TELE_FUTURE_SLACK (300 s,
# lib/web/tele.h) after now.
TW=300
(($(date +%s) % TW <= TW - 90)) || sleep $((TW + 1 - $(date +%s) % TW))
E_WINDOW=$(($(date +%s) / TW))
: >c1.err
"$STATION" run --factory "$FACTORY_URL" --token-file c.token --job "$W2" --port-dir "$WORK/farm-c" --parallel 2 \
	--telemetry-window "$TW" --state "$WORK/st-c" >c1.out 2>c1.err &
SC=$!
made() { grep -q "^line: done $NC, failed 0" c1.err; }
wait_for 60 made || { echo "FAIL: station st-c did not make its devices: $(tail -n 5 c1.err)" >&2; exit 1; }
kill -TERM "$FPID"
wait "$FPID" 2>/dev/null || true
FPID=
sleep 1 # the station notices nothing: it has no device left and its window is open
kill -KILL "$SC"
wait "$SC" 2>/dev/null || true
stop_farm farm-c
check "the station's run, up to the kill, stayed inside one $TW s telemetry window" "$(($(date +%s) / TW))" = "$E_WINDOW"
SPOOL=$WORK/st-c/telemetry.spool
owed() # devices in the spool: the last line of each (run, start), open or closed
{
	sed -nE 's/^[OB] //p' "$SPOOL" | jq -s -r 'group_by(.run, .start) | map(last.total) | add // 0'
}
OWED=$(owed)
NB=$(sed -nE 's/^[OB] //p' "$SPOOL" | jq -s -r 'group_by(.run, .start) | length')
check "after kill -9 the spool holds every device the factory never got ($OWED of $NC)" "$OWED" = "$NC"
check "... in one bucket, still open: no B line (a closed window)" "$NB $(grep -c '^B ' "$SPOOL" || true)" = "1 0"
check "each device of the run was appended to the spool as it finished" "$(grep -c '^O ' "$SPOOL")" -ge "$OWED"
printf 'B {"run": "00000000000000aa", broken\n' >>"$SPOOL"
printf 'O {"run":"00000000000000bb","start":60,"window":60,"total":-1}\n' >>"$SPOOL"
printf 'O {"run":"00000000000000cc","sta' >>"$SPOOL"
"$FACTORYD" serve --insecure-http --state fac --listen "127.0.0.1:$FACTORY_PORT" --hsm hsm/hsmd.sock --drop drop \
	--cloud "$PROXY_URL" --cloud-token-file fac.token --sync-interval 1 >>fac/factory.log 2>&1 &
FPID=$!
wait_for 10 curl -s -o /dev/null "$FACTORY_URL/v1/health" || { echo "FAIL: writ-factory did not come back" >&2; exit 1; }
run "$STATION" run --factory "$FACTORY_URL" --token-file c.token --job "$W2" --port-dir "$WORK/empty" --once \
	--telemetry-window 60 --state "$WORK/st-c"
check "the restarted station ends cleanly" "$RC" -eq 0
check "it says what it skipped in the spool and why" \
	"$(grep -c "telemetry spool .*: skipped 2 damaged lines, first line [0-9]*: not JSON.* and 1 torn last line (a crash while writing); the $NB valid bucket" "$ERR")" -eq 1
check "it queued the earlier run's bucket with its devices" \
	"$(grep -Ec "telemetry spool .*: $NB buckets? of earlier runs \($OWED devices\) queued for the factory" "$ERR")" -eq 1
check "it posted it and owes nothing" "$(grep -Eo 'telemetry_posted=[0-9]+ telemetry_unsent=[0-9]+' "$OUT")" \
	= "telemetry_posted=$NB telemetry_unsent=0"
check "the spool is empty once the factory took everything" "$(grep -c . "$SPOOL" || true)" = 0
run "$STATION" run --factory "$FACTORY_URL" --token-file c.token --job "$W2" --port-dir "$WORK/empty" --once \
	--telemetry-window 60 --state "$WORK/st-c"
check "a third start has nothing left to send" "$RC $(grep -c 'earlier runs' "$ERR") $(grep -Eo 'telemetry_posted=[0-9]+' "$OUT")" \
	= "0 0 telemetry_posted=0"
wait_for 30 drained || { echo "FAIL: st-c's telemetry did not reach the cloud: $(cat status.json)" >&2; exit 1; }
capi GET "/v1/telemetry?factory=$FACTORY&line=line-3&since=$((NOW - 3600))" "$OEM"
check "the cloud shows st-c's $NC devices exactly once" \
	"$CODE $(jq -r '"\(.totals.total) \(.totals.ok) \(.lines[0].stations[0].station)"' "$RESP")" = "200 $NC $NC st-c"
check "each of st-c's buckets is stored once in the cloud" \
	"$(csql "SELECT count(*) = count(DISTINCT run || start) FROM telemetry WHERE station = 'st-c'")" = "$([[ $ENGINE == postgresql ]] && echo t || echo 1)"
finish
