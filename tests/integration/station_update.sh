#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-station and an update of the factory (docs/releases.md, "Taking a release"), with
# real processes on loopback: a writ-hsmd (SoftHSM), a writ-factory installed under a temp
# prefix with the PREFIX/versions/V + PREFIX/current scheme and run from PREFIX/current by
# restart.sh, a writ-devsim farm, and one writ-station run working through the farm.
# Mid-batch, version 0.2.0 is staged (the same binaries under another VERSION, as
# release_update.sh does) and `writ-factory update apply` runs. Checked: the station
# finishes the device at hand and pauses (its progress says so), the updater waits for
# it, switches and restarts writ-factory; the station (started as PREFIX/current/
# writ-station) sees that PREFIX/current now holds writ-station 0.2.0 too, hands over
# between devices and re-execs as 0.2.0, which goes on with the chips left and ends the
# batch: every chip provisioned, locked and recorded ok exactly once, nothing failed or
# half made, records = chips. Then a stale update.pending (an updater killed mid-update):
# the station pauses from its first job answer, makes no device, and stops after
# --update-wait-s with a message that says what to do.
source "${WRIT_SRC:?}/tests/integration/line_lib.sh"

N=16 # chips; the writ allows 30
# a large firmware image makes a device take long enough for an update to find the
# station in the middle of its batch
LINE_FW_BYTES=$((3 * 1024 * 1024)) line_setup 30
UPID=
SPID=
_su_cleanup()
{
	local p
	for p in "$UPID" "$SPID"; do
		[[ -n $p ]] && { kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; }
	done
	p=$(cat "$WORK/fac.pid" 2>/dev/null) || p=
	if [[ -n $p ]] && grep -qa writ-factory "/proc/$p/cmdline" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
	if [[ ${KEEP_WORKDIR:-0} == 1 ]]; then echo "workdir kept: $WORK" >&2; fi
	_line_cleanup
}
trap _su_cleanup EXIT

# ---- 0.1.0 installed under PREFIX; writ-factory runs from PREFIX/current ----
PREFIX=$WORK/prefix
mkdir -p "$PREFIX/versions/0.1.0" "$PREFIX/versions/0.2.0"
for p in writ-factory writ-station; do
	cp "$WRIT_BIN/$p" "$PREFIX/versions/0.1.0/"
	cp "$WRIT_BIN/$p" "$PREFIX/versions/0.2.0/"
done
echo 0.1.0 >"$PREFIX/versions/0.1.0/VERSION"
echo 0.2.0 >"$PREFIX/versions/0.2.0/VERSION"
ln -s versions/0.1.0 "$PREFIX/current"
cat >restart.sh <<EOS
#!/bin/sh
# stop writ-factory (only a pid that is still a writ-factory), start PREFIX/current/writ-factory
ours() { [ -f $WORK/fac.pid ] && grep -qa 'writ-factory' /proc/\$(cat $WORK/fac.pid)/cmdline 2>/dev/null; }
ours && kill -TERM \$(cat $WORK/fac.pid)
i=0; while ours && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i+1)); done
ours && kill -KILL \$(cat $WORK/fac.pid)
echo "restart \$(date +%s.%N)" >>$WORK/restarts.log
cd $WORK && setsid $PREFIX/current/writ-factory serve --insecure-http --state fac --listen 127.0.0.1:$FACTORY_PORT \
	--hsm hsm/hsmd.sock --drop drop >>$WORK/fac/factory.log 2>&1 </dev/null &
echo \$! >$WORK/fac.pid
EOS
sh restart.sh
loaded() { curl -s -o /dev/null "$FACTORY_URL/v1/health" && [[ ! -e drop/w.writ && ! -e drop/lamp.wbundle ]]; }
wait_for 20 loaded || { echo "FAIL: writ-factory: $(tail -n 5 fac/factory.log)" >&2; exit 1; }
running() { curl -s "$FACTORY_URL/v1/health" | jq -r .version; }
check "0.1.0 runs from the prefix" "$(running)" = 0.1.0
check "GET /v1/health says no update is pending" "$(curl -s "$FACTORY_URL/v1/health" | jq -r .update_pending)" = false
enrol st-1 line-1 st.token
mes_token

# ---- a batch with an update offered in its middle ----
start_farm farm "$N"
"$PREFIX/current/writ-station" run --factory "$FACTORY_URL" --token-file st.token --job "$WRIT_ID" --port-dir "$WORK/farm" \
	--once --parallel 1 --telemetry-window 0 --update-wait-s 120 >st.out 2>st.err &
SPID=$!
nrec() { records >/dev/null 2>&1 && jq -s '[.[] | select(.result == "ok")] | length' records.jsonl; }
some_made() { [[ $(grep -c . records.jsonl 2>/dev/null) -ge 2 ]] || { records >/dev/null 2>&1; false; }; }
wait_for 60 some_made || { echo "FAIL: the station made no device: $(tail -n 5 st.err)" >&2; exit 1; }
# stage 0.2.0 as `writ-factory update check` leaves it, then apply it between jobs
printf '{"installed":"0.1.0","previous":"","staged":"0.2.0","failed":"","state":"staged","last_error":"","at":%s}\n' \
	"$(date +%s)" >fac/update.json
"$FACTORYD" update apply --prefix "$PREFIX" --state fac --health "$FACTORY_URL/v1/health" --health-seconds 20 \
	--wait-seconds 120 --restart "sh $WORK/restart.sh" >upd.out 2>upd.err &
UPID=$!
paused() { grep -q 'paused for an update' st.err; }
wait_for 20 paused || true
# the device at hand is finished, then nothing is busy
idle() { grep -Eq '^line: paused for an update .* 0 busy finishing' st.err; }
wait_for 10 idle || true
AT_PAUSE=$(nrec)
check "the station paused for the update (its log says so)" "$(grep -c 'writ-station: paused for an update: the factory has an update pending (factory version 0.1.0)' st.err)" -eq 1
check "the update came mid-batch: some devices made before it, not all (made $AT_PAUSE of $N)" \
	"$((AT_PAUSE > 0 && AT_PAUSE < N))" = 1
check "while the station finishes and pauses, 0.1.0 runs" "$(readlink "$PREFIX/current")" = versions/0.1.0
sleep 3 # a while paused: no device may be made meanwhile (checked below)
# the progress line comes every 2 s while paused: wait for it rather than count on the 3 s
pause_line() { grep -Eq '^line: paused for an update of the factory for [0-9]+ s \(update pending[^)]*\).* 0 busy finishing' st.err; }
wait_for 15 pause_line || true
check "the progress line shows the pause, for how long and that nothing is busy" \
	"$(grep -Ec '^line: paused for an update of the factory for [0-9]+ s \(update pending[^)]*\).* 0 busy finishing' st.err)" -ge 1
check "paused: no device is made while the update waits" "$(nrec)" = "$AT_PAUSE"
URC=0
wait "$UPID" || URC=$?
UPID=
check "the updater applied 0.2.0 (exit 0)" "$URC $(readlink "$PREFIX/current") $(running)" = "0 versions/0.2.0 0.2.0"
check "the updater waited for the station's job in progress" "$(grep -c 'station has a job in progress' upd.err)" -ge 1
check "update.pending is gone once 0.2.0 is healthy" "$([[ -e fac/update.pending ]] && echo there || echo gone)" = gone
SRC=0
wait "$SPID" || SRC=$?
SPID=
stop_farm farm
check "the station saw the pause end on the new factory version" \
	"$(grep -Ec 'writ-station: the update is over: the factory runs version 0\.2\.0 \(was 0\.1\.0\); not resuming: this station was updated too after [0-9]+ s paused' st.err)" -eq 1
check "it started from PREFIX/current as 0.1.0" "$(grep -c "^writ-station: version 0.1.0 in $PREFIX/versions" st.err)" -eq 1
check "it noticed its own new version and took no new device before handing over" \
	"$(grep -c "writ-station: version 0.2.0 of writ-station is installed in $PREFIX/current (this is 0.1.0): finishing the 0 devices in progress" st.err)" -eq 1
check "it handed over what it had done" "$(grep -Ec "handing over to version 0\.2\.0" st.err) $(grep -Ec "starting version 0\.2\.0 \($PREFIX/current/writ-station\) in place of 0\.1\.0" st.err)" = "1 1"
check "the new process reports 0.2.0 and goes on from the devices done before ($AT_PAUSE)" \
	"$(grep -c "^writ-station: version 0.2.0 in $PREFIX/versions" st.err) $(grep -Eo 'version 0\.2\.0 goes on where the previous one stopped: [0-9]+ devices done' st.err | grep -Eo '[0-9]+ devices')" \
	= "1 $AT_PAUSE devices"
check "0.2.0 did not touch the chips 0.1.0 had finished (none 'already recorded')" "$(grep -c 'already provisioned' st.err)" -eq 0
check "the station ended the batch cleanly (exit 0)" "$SRC" -eq 0
check "summary: every chip ok once, none failed, one pause" "$(summary st.out) $(grep -Eo 'update_pauses=[0-9]+' st.out)" \
	= "ok=$N failed=0 already=0 update_pauses=1"
check "no device failed or was retried across the restart" "$(grep -Ec 'failed at|cannot reach the factory|not recorded' st.err)" -eq 0
records
check "records: one ok record per chip, each chip once" \
	"$(jq -s '[.[] | select(.result == "ok")] | "\(length) \(map(.uid) | unique | length)"' -r records.jsonl)" = "$N $N"
check "records: nothing failed" "$(jq -s '[.[] | select(.result != "ok")] | length' records.jsonl)" = 0
check "the factory counts the records it holds: $N" "$(curl -s -H @"$WORK/mes.hdr" "$FACTORY_URL/v1/status" | jq -r .records)" = "$N"
start_farm farm "$N"
check "every chip is locked with its firmware (none half made)" "$(locked_count "$WORK/farm")" = "$N"
stop_farm farm
check "writ-factory was restarted once by the update" "$(grep -c '^restart ' restarts.log)" -eq 2

# ---- a stale update.pending: pause from the first job answer, bounded wait ----
echo 0.3.0 >fac/update.pending
check "GET /v1/health says an update is pending" "$(curl -s "$FACTORY_URL/v1/health" | jq -r .update_pending)" = true
start_farm farm2 2
run "$PREFIX/current/writ-station" run --factory "$FACTORY_URL" --token-file st.token --job "$WRIT_ID" \
	--port-dir "$WORK/farm2" --once --parallel 1 --telemetry-window 0 --update-wait-s 3
stop_farm farm2
check "stale update.pending: the station stops with an error (exit 1)" "$RC" -eq 1
check "it paused from the job's answer" "$(grep -c "paused for an update: the job's answer says" "$ERR")" -eq 1
check "it says how long it waited and what to do" \
	"$(grep -c 'paused for an update of the factory for 3 s and it is still updating (--update-wait-s).*writ-factory update status' "$ERR")" -eq 1
check "no device was touched while paused" "$(summary "$OUT")" = "ok=0 failed=0 already=0"
rm -f fac/update.pending
run "$STATION" run --help
check "--help names --update-wait-s and --state" "$(grep -c -e '--update-wait-s S' -e '--state DIR' "$OUT")" -ge 2
finish
