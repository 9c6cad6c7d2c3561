#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Rework end to end with real processes: writ authority (local OEM) -> writ-hsmd ->
# writ-factory -> writ-station provisions a writ-devsim chip (the authority's debug-root
# hash burnt in OTP) under a production writ minted with --rework debug,reflash; then
# `writ-station rework --op reflash` re-flashes newer signed firmware through a token the
# HSM signs, locks, and posts a record naming the HSM's JT_DEBUG entry. The chip shows
# the new firmware and debug locked; the record never counts as production; a second
# rework with --op debug works too, and the HSM counted exactly two unlocks.
source "${WRIT_SRC:?}/tests/integration/rework_lib.sh"

rework_setup 1
UID0=${UIDS[0]}
check "the chip is provisioned with firmware $FW_VERSION" -n "$UID0"
records
nprod=$(grep -c '"operation":"provision"' records.jsonl)
check "one production record" "$nprod" = 1
j0=$(jnext)
sign_fw 4 fw-4.sig

run "$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr 0)" --device "$UID0" \
	--debug-root-pub root.hex --op reflash --firmware fw-4.bin --fw-version 4 --fw-sig fw-4.sig
check "writ-station rework --op reflash exits 0 ($(tail -n 3 "$ERR"))" "$RC" = 0
for s in chip challenge token unlock reflash lock record; do
	check_grep "a progress line for step $s" "\] $s " "$ERR"
done
check_grep "the summary names the writ and the journal seq" "^device=$UID0 op=reflash writ=$WRIT_ID hsm_seq=[0-9]+ firmware=4$" "$OUT"
seq=$(sed -n 's/.* hsm_seq=\([0-9]*\) .*/\1/p' "$OUT")

# the chip: new firmware, still secured, debug locked (in the running devsim)
must "$WRIT" chip status --connect "$(chip_addr 0)"
check_grep "the chip runs firmware 4" '^firmware-version 4$' "$OUT"
check_grep "the chip is still secured" '^lifecycle secured$' "$OUT"
check_grep "and not debug-unlocked" '^state keys,chain,factory-data,secret,firmware,otp,locked$' "$OUT"
must "$WRIT" chip debug status --connect "$(chip_addr 0)"
check_grep "debug locked" '^debug locked$' "$OUT"
check_grep "the chip saw debug key generation 1" '^key-generation 1$' "$OUT"
check_grep "writ-devsim logged the debug port staying closed (REFLASH only)" 'debug port closed' "$WORK/farm.log"

# the HSM journalled exactly one JT_DEBUG entry, at the seq the record names
must "$WRIT" hsm journal --socket "$HSOCK" --since "$j0"
check "the HSM journalled one entry, JT_DEBUG (type 8) at seq $seq" "$(grep -c . "$OUT"):$(awk '{print $1, $2}' "$OUT")" = "1:$seq type=8"
status hsm
check_grep "the writ's rework use is 1" "^writ $WRIT_ID .* rework 1/10 " "$OUT"
check "and no DAC beyond the production one" "$(counts hsm "$WRIT_ID")" = "issued 1 remaining 2"

# the record
records
/usr/bin/python3 - "$WORK/records.jsonl" "$UID0" "$WRIT_ID" "$seq" <<'PY' >rec.out 2>&1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rw = [r for r in recs if r["step"].startswith("rework-")]
r = rw[-1] if rw else {}
print("n", len(rw))
print("fields", r.get("step"), r.get("operation"), r.get("result"), r.get("uid") == sys.argv[2], r.get("writ") == sys.argv[3],
      r.get("hsm_seq") == int(sys.argv[4]), len(r.get("hsm_id", "")), r.get("firmware_version"), r.get("dac_sha256"),
      r.get("dac_serial"), r.get("station"))
print("production", sum(1 for x in recs if x["operation"] == "provision"))
PY
check "one rework record" "$(sed -n 's/^n //p' rec.out)" = 1
check "its fields: step, operation rework, ok, uid, writ, the token's seq, hsm_id, firmware 4, no DAC" \
	"$(sed -n 's/^fields //p' rec.out)" = "rework-reflash rework ok True True True 64 4   station-r"
check "still one production record" "$(sed -n 's/^production //p' rec.out)" = 1

# an update pending on the factory (docs/releases.md): the rework waits before touching
# the device, then goes on once the factory says it is done
touch fac/update.pending
ports0=$(grep -c 'debug port' "$WORK/farm.log" || true)
"$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr 0)" --device "$UID0" \
	--debug-root-pub root.hex --op debug --session 60 >upd.out 2>upd.err &
RW_PID=$!
j0=$(jnext)
wait_for 10 grep -q "waiting for the factory's update to finish" upd.err || true
check_grep "update pending: rework waits and says so" "waiting for the factory's update to finish before touching" upd.err
sleep 1
check "... asks the HSM for nothing meanwhile" "$(jnext)" = "$j0"
check "... and has not opened the debug port" "$(grep -c 'debug port' "$WORK/farm.log" || true)" = "$ports0"
rm fac/update.pending
RW_RC=0
wait "$RW_PID" || RW_RC=$?
check "the update done: the rework goes on and exits 0 ($(tail -n 1 upd.err))" "$RW_RC" = 0
check_grep "... saying the update is done" "the factory's update is done" upd.err

# a debug rework: DEBUG opens the port, then locks it again
run "$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr 0)" --device "$UID0" \
	--debug-root-pub root.hex --op debug --session 60
check "writ-station rework --op debug exits 0 ($(tail -n 2 "$ERR"))" "$RC" = 0
check_grep "writ-devsim logged the debug port open" 'debug port open' "$WORK/farm.log"
check "and closed again" "$(grep -c 'debug port' "$WORK/farm.log" | tr -d ' ')" -ge 2
check "the last port event is closed" "$(grep 'debug port' "$WORK/farm.log" | tail -n 1 | grep -c closed)" = 1
status hsm
check_grep "the HSM counted three unlocks (the reflash, the one after the update, this one)" "^writ $WRIT_ID .* rework 3/10 " "$OUT"

# a rework that fails at the chip (the image is older: ROLLBACK) is recorded as failed
sign_fw 2 fw-2.sig
run "$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr 0)" --device "$UID0" \
	--debug-root-pub root.hex --op reflash --firmware fw-2.bin --fw-version 2 --fw-sig fw-2.sig
check "an older image: exit 1" "$RC" = 1
check_grep "it says ROLLBACK and what to do" 'ROLLBACK.*|older than the installed' "$ERR"
records
check_grep "a failed rework-reflash record names the reason" '"reason":"firmware refused: ROLLBACK.*"result":"failed".*"step":"rework-reflash"' records.jsonl
must "$WRIT" chip status --connect "$(chip_addr 0)"
check_grep "the chip keeps firmware 4" '^firmware-version 4$' "$OUT"
check_grep "and is debug-locked" '^state keys,chain,factory-data,secret,firmware,otp,locked$' "$OUT"

# a chip that is not the --device: refused before a token is asked for
j1=$(jnext)
run "$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr 0)" \
	--device 00112233445566778899aabbccddeeff --debug-root-pub root.hex --op debug
check "another --device than the chip: exit 1" "$RC" = 1
check_grep "says to attach the right device" 'attach the right device' "$ERR"
check "and nothing was journalled" "$(jnext)" = "$j1"
# POST /v1/rework/token with garbage: every answer is 4xx, nothing journalled
j2=$(jnext)
AUTH="Authorization: Bearer $(cat r.token)"
C64=$(printf '%064d' 5)
P32=$(printf '%032d' 1)
post_rw() # STATUS DESCRIPTION BODY [curl args]
{
	local want=$1 what=$2 body=$3 code
	shift 3
	code=$(curl -s -o rw.json -w '%{http_code}' -H "$AUTH" -H 'Content-Type: application/json' "$@" \
		--data-binary "$body" "$FACTORY_URL/v1/rework/token")
	check "rework/token: $what -> $want ($(head -c 120 rw.json))" "$code" = "$want"
}
post_rw 400 "malformed JSON" '{"uid":'
post_rw 400 "not an object" '[1,2]'
post_rw 400 "a missing field" "{\"uid\":\"$UID0\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":60}"
post_rw 400 "an unknown field" "{\"uid\":\"$UID0\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":60,\"operation\":\"debug\",\"x\":1}"
post_rw 400 "a short UID" "{\"uid\":\"${UID0:0:30}\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":60,\"operation\":\"debug\"}"
post_rw 400 "a non-hex UID" "{\"uid\":\"zz${UID0:2}\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":60,\"operation\":\"debug\"}"
post_rw 400 "the zero UID" "{\"uid\":\"$(printf '%032d' 0)\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":60,\"operation\":\"debug\"}"
post_rw 400 "a long challenge" "{\"uid\":\"$UID0\",\"challenge\":\"${C64}00\",\"perms\":\"$P32\",\"session\":60,\"operation\":\"debug\"}"
post_rw 400 "no permission" "{\"uid\":\"$UID0\",\"challenge\":\"$C64\",\"perms\":\"$(printf '%032d' 0)\",\"session\":60,\"operation\":\"debug\"}"
post_rw 400 "session 0" "{\"uid\":\"$UID0\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":0,\"operation\":\"debug\"}"
post_rw 400 "session over a day" "{\"uid\":\"$UID0\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":86401,\"operation\":\"debug\"}"
post_rw 400 "an unknown operation" "{\"uid\":\"$UID0\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":60,\"operation\":\"x\"}"
post_rw 404 "an unknown writ" "{\"uid\":\"$UID0\",\"challenge\":\"$C64\",\"perms\":\"$P32\",\"session\":60,\"operation\":\"debug\",\"writ\":\"$(printf '%032d' 9)\"}"
post_rw 409 "a permission beyond the rights (the HSM's scope)" "{\"uid\":\"$UID0\",\"challenge\":\"$C64\",\"perms\":\"$(printf '%029d' 0)200\",\"session\":60,\"operation\":\"debug\"}"
check_grep "  ... with the HSM's reason" 'beyond' rw.json
head -c 70000 /dev/zero | tr '\0' ' ' >big.json
post_rw 413 "a body over 64 KiB" @big.json
code=$(curl -s -o rw.json -w '%{http_code}' -d '{}' "$FACTORY_URL/v1/rework/token")
check "rework/token without a token -> 401" "$code" = 401
code=$(curl -s -o rw.json -w '%{http_code}' -H @"$WORK/mes.hdr" -d '{}' "$FACTORY_URL/v1/rework/token")
check "rework/token with an mes token -> 403" "$code" = 403
code=$(curl -s -o rw.json -w '%{http_code}' -H "$AUTH" "$FACTORY_URL/v1/rework/token")
check "GET rework/token -> 405" "$code" = 405
check "no garbage request was journalled" "$(jnext)" = "$j2"
# rework records with garbage: refused, nothing stored
records
nrec=$(grep -c . records.jsonl)
post_rec() # STATUS DESCRIPTION BODY
{
	local code
	code=$(curl -s -o rr.json -w '%{http_code}' -H "$AUTH" -H 'Content-Type: application/json' --data-binary "$3" \
		"$FACTORY_URL/v1/records")
	check "record: $2 -> $1 ($(head -c 120 rr.json))" "$code" = "$1"
}
HID=$(printf '%064d' 1)
post_rec 400 "a rework record with DAC fields" "{\"writ\":\"$WRIT_ID\",\"uid\":\"$UID0\",\"result\":\"ok\",\"step\":\"rework-debug\",\"hsm_id\":\"$HID\",\"hsm_seq\":3,\"serial\":1,\"dac_sha256\":\"$HID\"}"
post_rec 400 "an ok rework record without hsm_seq" "{\"writ\":\"$WRIT_ID\",\"uid\":\"$UID0\",\"result\":\"ok\",\"step\":\"rework-debug\"}"
post_rec 400 "an ok re-flash record without firmware_version" "{\"writ\":\"$WRIT_ID\",\"uid\":\"$UID0\",\"result\":\"ok\",\"step\":\"rework-reflash\",\"hsm_id\":\"$HID\",\"hsm_seq\":3}"
post_rec 400 "a rework record for the zero UID" "{\"writ\":\"$WRIT_ID\",\"uid\":\"$(printf '%032d' 0)\",\"result\":\"failed\",\"step\":\"rework-debug\",\"reason\":\"x\"}"
post_rec 404 "a rework record for an unknown writ" "{\"writ\":\"$(printf '%032d' 9)\",\"uid\":\"$UID0\",\"result\":\"failed\",\"step\":\"rework-debug\",\"reason\":\"x\"}"
records
check "no garbage record was stored" "$(grep -c . records.jsonl)" = "$nrec"
finish
