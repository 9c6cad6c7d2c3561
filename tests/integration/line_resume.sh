#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-station picking up what an earlier run left (helpers in line_lib.sh): enrolment
# with the one-time code from stdin or the environment, never on the command line; a
# station killed between lock and record (the rerun verifies the locked chip and posts
# its one ok record, hsm_seq 0; a third run counts it as already recorded); a chip that
# regenerated its keys (a clone of a UID that already got a DAC) fails alone while the
# other chips of the same run finish.
source "${WRIT_SRC:?}/tests/integration/line_lib.sh"

LINE_FW_BYTES=${LINE_FW_BYTES:-2097152} # a long firmware step: time to cut the factory off
line_setup 20
start_factory
mes_token

# ---- enrolment: the code is never on argv ----
must "$FACTORYD" station add --state fac --name station-s --line L1
code=$(grep -Eo '[A-Za-z0-9_-]{6,}' "$OUT" | tail -n 1)
run "$STATION" enrol --factory "$FACTORY_URL" --code "$code" --name station-s --line L1 --out s.token
check "--code CODE on the command line: refused (exit 2)" "$RC" = 2
check_grep "and says where the code goes instead" 'code-file' "$ERR"
check "no token written" ! -e s.token
rm -f code.fifo
mkfifo code.fifo
exec 3<>code.fifo
"$STATION" enrol --factory "$FACTORY_URL" --code - --name station-s --line L1 --out s.token \
	<code.fifo >enrol.out 2>enrol.err &
pe=$!
# once it is writ-station (exec'd): before that, /proc/PID/cmdline is this script's
exec_done() { [[ $(cat "/proc/$pe/comm" 2>/dev/null) == writ-station ]]; }
wait_for 10 exec_done || fail "writ-station enrol did not start within 10 s"
cmdline=$(tr '\0' ' ' <"/proc/$pe/cmdline" 2>/dev/null || true)
check "while enrolling, the code is not on the process's command line" -n "$cmdline" -a "${cmdline/$code/}" = "$cmdline"
printf '%s\n' "$code" >&3
exec 3>&-
rce=0
wait $pe || rce=$?
rm -f code.fifo
check "enrol with the code from stdin (--code -) works (exit $rce: $(head -c 200 enrol.err))" "$rce" = 0
check "the token file is mode 600" "$(stat -c %a s.token 2>/dev/null)" = 600
check "the token is not in the output" "$(grep -c -F -e "$(cat s.token)" enrol.out enrol.err | awk -F: '{s+=$2} END {print s}')" = 0
must "$FACTORYD" station add --state fac --name station-e --line L2
code=$(grep -Eo '[A-Za-z0-9_-]{6,}' "$OUT" | tail -n 1)
WRIT_ENROL_CODE=$code run "$STATION" enrol --factory "$FACTORY_URL" --name station-e --line L2 --out e.token
check "enrol with the code from WRIT_ENROL_CODE works (exit $RC)" "$RC" = 0
must "$FACTORYD" station add --state fac --name station-f --line L3
code=$(grep -Eo '[A-Za-z0-9_-]{6,}' "$OUT" | tail -n 1)
(umask 077 && printf '%s\n' "$code" >f.code)
run "$STATION" enrol --factory "$FACTORY_URL" --code-file f.code --name station-f --line L3 --out a.token
check "enrol with the code from --code-file works (exit $RC)" "$RC" = 0

# chip_flags STATE: the flags a chip's state file holds (offline, while the farm runs)
chip_flags() { "$DEVSIM" --state "$1" --show 2>/dev/null | sed -n 's/^flags: 0x[0-9a-f]* *//p'; }
chip_uid() { "$DEVSIM" --state "$1" --show 2>/dev/null | sed -n 's/^uid: //p' | tr 'A-F' 'a-f'; }
# ok_of UID / failed_of UID: records of that UID
rec_of()
{
	records
	/usr/bin/python3 -c 'import json,sys; print(sum(1 for l in open("records.jsonl") if l.strip() and json.loads(l)["uid"].lower() == sys.argv[1] and json.loads(l)["result"] == sys.argv[2]))' "$1" "$2"
}

# ---- the station dies between lock and record ----
start_farm farm-r 1
"$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$WRIT_ID" --port-dir "$WORK/farm-r" \
	--once --factory-retry-s 120 >r1.out 2>r1.err &
pr=$!
# once the secret is on the chip, the station needs the factory only to record: cut it off
for ((i = 0; i < 1000; i++)); do
	[[ $(chip_flags "$WORK/farm-r/chip-0.state") == *secret* ]] && break
	sleep 0.01
done
stop_factory KILL
for ((i = 0; i < 1000; i++)); do
	[[ $(chip_flags "$WORK/farm-r/chip-0.state") == *locked* ]] && break
	sleep 0.02
done
sleep 0.5 # verify, then the record cannot be posted (the station retries)
kill -KILL $pr 2>/dev/null
wait $pr 2>/dev/null || true
check "the chip was locked by the killed run" "$(chip_flags "$WORK/farm-r/chip-0.state")" = \
	"keys chain factory-data secret firmware otp locked"
start_factory
U=$(chip_uid "$WORK/farm-r/chip-0.state")
check "and no record of it yet" "$(rec_of "$U" ok):$(rec_of "$U" failed)" = "0:0"
issued0=$(counts hsm "$WRIT_ID" | awk '{print $2}')
station a.token --port-dir "$WORK/farm-r" --once
cp "$OUT" r2.out
cp "$ERR" r2.err
check "the rerun finishes the locked chip (exit $RC: $(tail -n 3 r2.err | head -c 400))" "$RC" = 0
check_grep "saying it was locked but not recorded" 'locked but not recorded' r2.err
check "counted as one ok device" "$(summary r2.out)" = "ok=1 failed=0 already=0"
check "exactly one ok record for that UID, no failed one" "$(rec_of "$U" ok):$(rec_of "$U" failed)" = "1:0"
check "no DAC issued by the rerun" "$(counts hsm "$WRIT_ID" | awk '{print $2}')" = "$issued0"
station a.token --port-dir "$WORK/farm-r" --once
cp "$OUT" r3.out
check "a third run: already recorded, not a new device (exit $RC)" "$RC:$(summary r3.out)" = \
	"0:ok=0 failed=0 already=1"
check "still exactly one ok record for that UID" "$(rec_of "$U" ok)" = 1
stop_farm farm-r

# ---- a clone: the UID that got a DAC, with new keys, among good chips ----
"$DEVSIM" --state "$WORK/clone.state" --uid "$U" --listen "unix:$WORK/clone.sock" >clone.ready 2>>clone.log &
pcl=$!
for ((i = 0; i < 400; i++)); do
	[[ -S $WORK/clone.sock ]] && break
	sleep 0.05
done
start_farm farm-n 3
station a.token --port-dir "$WORK/farm-n" --port "unix:$WORK/clone.sock" --parallel 2 --once
cp "$OUT" n.out
cp "$ERR" n.err
check "a clone among good chips: exit 1" "$RC" = 1
check_grep "the clone fails at the DAC step with the factory's reason" "uid $U failed at dac: .*(another key|replay)" n.err
check "the line did not stop for it" "$(grep -c 'the job ended\|line stopped' n.err)" = 0
check "the 3 good chips are secured" "$(locked_count "$WORK/farm-n")" = 3
check "counted: ok 3, failed 1" "$(summary n.out)" = "ok=3 failed=1 already=0"
check "the original's one ok record stands; the clone is recorded failed" "$(rec_of "$U" ok):$(rec_of "$U" failed)" = "1:1"
stop_farm farm-n
kill -TERM $pcl 2>/dev/null || true
wait $pcl 2>/dev/null || true
finish
