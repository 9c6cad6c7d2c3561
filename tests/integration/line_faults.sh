#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a real line goes through, with real processes on loopback (helpers in
# line_lib.sh): a job cannot be run past its quantity or outside its window; a station
# without a credential, with a wrong one or a revoked one is refused; kill -9 of a
# station mid-run and a rerun (no duplicate record, quota kept, every chip locked);
# kill -9 of writ-factory mid-run and a restart (the station retries, nothing lost);
# chips that corrupt frames; a chip that dies mid-way (recorded as failed with its
# step, finished by a rerun).
source "${WRIT_SRC:?}/tests/integration/line_lib.sh"

LINE_FW_BYTES=${LINE_FW_BYTES:-524288}
line_setup 60
start_factory
enrol station-a L1 a.token
SA=$STATION_ID
mes_token

# ok_per_uid: "N M" = ok records, most ok records for one UID
ok_per_uid()
{
	records
	/usr/bin/python3 - <<'PY'
import collections, json
recs = [json.loads(l) for l in open("records.jsonl") if l.strip()]
c = collections.Counter(r["uid"] for r in recs if r["result"] == "ok")
print(sum(c.values()), max(c.values()) if c else 0)
PY
}

# ---- credentials ----
start_farm farm-cred 1
station nope.token --port-dir "$WORK/farm-cred" --once
check "no token file: refused (exit 1)" "$RC" = 1
check_grep "and says why" 'token file' "$ERR"
printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' >bad.token
chmod 600 bad.token
station bad.token --port-dir "$WORK/farm-cred" --once
check "an unknown token: refused (exit 1)" "$RC" = 1
check_grep "with the factory's 401" '401' "$ERR"
cp a.token loose.token
chmod 644 loose.token
station loose.token --port-dir "$WORK/farm-cred" --once
check "a token file readable by others: refused" "$RC" = 1
check_grep "and says to chmod it" 'chmod 600' "$ERR"
enrol station-r L9 r.token
must "$FACTORYD" station revoke --state fac "$STATION_ID"
station r.token --port-dir "$WORK/farm-cred" --once
check "a revoked station: refused (exit 1)" "$RC" = 1
check_grep "with the factory's 403" '403' "$ERR"
run "$WRIT" chip status --connect "unix:$WORK/farm-cred/chip-0.sock"
check "the chip was not touched by any refused station" "$(grep -c '^lifecycle blank$' "$OUT")" = 1
station a.token
check "no port at all: usage (exit 2)" "$RC" = 2
stop_farm farm-cred

# ---- quantity: a writ for 10, 12 chips ----
W10=$(drop_writ w10 10)
start_farm farm-q 12
run "$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$W10" --port-dir "$WORK/farm-q" \
	--parallel 4 --once
check "12 chips on a writ for 10: exit 1" "$RC" = 1
check_grep "the line says the job ended (quantity)" 'job ended|quantity' "$ERR"
check "exactly 10 chips secured" "$(locked_count "$WORK/farm-q")" = 10
check "the HSM issued exactly 10" "$(counts hsm "$W10")" = "issued 10 remaining 0"
records
check "10 ok records for that writ" "$(/usr/bin/python3 -c 'import json,sys; print(sum(1 for l in open("records.jsonl") if l.strip() and json.loads(l)["result"] == "ok" and json.loads(l)["writ"] == sys.argv[1]))' "$W10")" = 10
stop_farm farm-q

# ---- window: a writ not valid yet ----
WF=$(drop_writ wfuture 5 --not-before $((NOW + 86400)) --days 30)
start_farm farm-w 2
run "$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$WF" --port-dir "$WORK/farm-w" --once
check "a writ outside its window: exit 1" "$RC" = 1
check "no chip secured" "$(locked_count "$WORK/farm-w")" = 0
run "$WRIT" chip status --connect "unix:$WORK/farm-w/chip-0.sock"
check "no chip touched (still blank)" "$(grep -c '^lifecycle blank$' "$OUT")" = 1
stop_farm farm-w

# ---- corrupt frames ----
start_farm farm-c 8 --fault corrupt=5
station a.token --port-dir "$WORK/farm-c" --parallel 4 --once --timeout-ms 500
check "chips corrupting 5 % of frames: all provisioned (exit 0; $(tail -n 2 "$ERR" | head -c 300))" "$RC" = 0
check "all 8 secured" "$(locked_count "$WORK/farm-c")" = 8
stop_farm farm-c

# ---- kill -9 the station mid-run, then rerun ----
start_farm farm-k 16
"$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$WRIT_ID" --port-dir "$WORK/farm-k" \
	--parallel 4 --once >k1.out 2>k1.err &
pk=$!
for ((i = 0; i < 400; i++)); do
	[[ $(grep -c 'line: done' k1.err 2>/dev/null) -ge 1 ]] && grep -qE 'done [3-9]|done 1[0-9]' k1.err && break
	sleep 0.05
done
kill -KILL $pk 2>/dev/null
wait $pk 2>/dev/null || true
before=$(counts hsm "$WRIT_ID")
station a.token --port-dir "$WORK/farm-k" --parallel 4 --once
cp "$ERR" k2.err
echo "rerun after kill -9: rc $RC; $(grep 'failed at' k2.err | grep -v 'already provisioned' | head -n 4)"
read -r nok maxok <<<"$(ok_per_uid)"
check "after kill -9 and a rerun: no UID has two ok records" "$maxok" = 1
issued=$(counts hsm "$WRIT_ID" | awk '{print $2}')
check "after kill -9 and a rerun: the HSM never went past the quantity (60)" "$issued" -le 60
check "after kill -9 and a rerun: every chip of the farm ends secured ($before before the rerun)" \
	"$(locked_count "$WORK/farm-k")" = 16
stop_farm farm-k

# ---- kill -9 the factory mid-run and restart it ----
start_farm farm-f 16
read -r ok0 _ <<<"$(ok_per_uid)"
issued0=$(counts hsm "$WRIT_ID" | awk '{print $2}')
"$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$WRIT_ID" --port-dir "$WORK/farm-f" \
	--parallel 4 --once --factory-retry-s 60 >f1.out 2>f1.err &
pf=$!
for ((i = 0; i < 400; i++)); do
	grep -qE 'done [3-9]|done 1[0-9]' f1.err 2>/dev/null && break
	sleep 0.05
done
stop_factory KILL
sleep 1
start_factory
rcf=0
wait $pf || rcf=$?
check "the station rode out a factory restart (exit $rcf: $(tail -n 2 f1.err | head -c 300))" "$rcf" = 0
check "all 16 chips secured" "$(locked_count "$WORK/farm-f")" = 16
read -r ok1 maxok <<<"$(ok_per_uid)"
check "16 more ok records, none twice" "$((ok1 - ok0)):$maxok" = "16:1"
issued=$(counts hsm "$WRIT_ID" | awk '{print $2}')
check "nothing lost: the DACs the HSM issued meanwhile ($((issued - issued0))) are the new ok records ($((ok1 - ok0)))" \
	"$((issued - issued0))" = "$((ok1 - ok0))"
stop_farm farm-f

# ---- a chip that dies mid-way (torn state write at its 3rd commit) ----
start_farm farm-d 1 --fault crash-at=3
station a.token --port-dir "$WORK/farm-d" --once --timeout-ms 1000
check "a chip dying mid-way: exit 1" "$RC" = 1
check_grep "the failure names the step and the chip" 'uid [0-9a-f]{32} failed at [a-z-]+:' "$ERR"
records
check_grep "and it is recorded as failed with its step" '"result": *"failed"' records.jsonl
stop_farm farm-d
start_farm farm-d 1
station a.token --port-dir "$WORK/farm-d" --once
check "a rerun finishes the chip (exit $RC: $(tail -n 2 "$ERR" | head -c 300))" "$RC" = 0
check "and it is secured" "$(locked_count "$WORK/farm-d")" = 1
stop_farm farm-d

# ---- locked chips of this job, already recorded ok: done, not new ----
start_farm farm-c 8
read -r okc0 _ <<<"$(ok_per_uid)"
issuedc0=$(counts hsm "$WRIT_ID" | awk '{print $2}')
station a.token --port-dir "$WORK/farm-c" --once
cp "$OUT" c2.out
cp "$ERR" c2.err
check "chips of this job already recorded ok: not failed (exit $RC: $(tail -n 2 c2.err | head -c 300))" "$RC" = 0
check "and counted as already recorded, none as new" "$(summary c2.out)" = \
	"ok=0 failed=0 already=8"
read -r okc1 maxok <<<"$(ok_per_uid)"
check "no second ok record for any of them" "$((okc1 - okc0)):$maxok" = "0:1"
check "no DAC issued" "$(counts hsm "$WRIT_ID" | awk '{print $2}')" = "$issuedc0"
stop_farm farm-c

# ---- a locked chip that is not this job's is refused and recorded as failed ----
start_farm farm-p 2 --fault provisioned
station a.token --port-dir "$WORK/farm-p" --once
check "chips locked by someone else: refused (exit 1)" "$RC" = 1
check_grep "as already provisioned" 'already provisioned' "$ERR"
records
check "and recorded as failed" "$(/usr/bin/python3 - "$WORK/farm-p" "$DEVSIM" <<'PY2'
import json, subprocess, sys, glob
uids = set()
for st in glob.glob(sys.argv[1] + "/chip-*.state"):
    out = subprocess.run([sys.argv[2], "--state", st, "--show"], capture_output=True, text=True).stdout
    for l in out.splitlines():
        if l.startswith("uid: "):
            uids.add(l[5:].strip().lower())
recs = [json.loads(l) for l in open("records.jsonl") if l.strip()]
print(sum(1 for r in recs if r["uid"].lower() in uids and r["result"] == "failed"),
      sum(1 for r in recs if r["uid"].lower() in uids and r["result"] == "ok"))
PY2
)" = "2 0"
stop_farm farm-p
finish
