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

# a debug rework: DEBUG opens the port, then locks it again
run "$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr 0)" --device "$UID0" \
	--debug-root-pub root.hex --op debug --session 60
check "writ-station rework --op debug exits 0 ($(tail -n 2 "$ERR"))" "$RC" = 0
check_grep "writ-devsim logged the debug port open" 'debug port open' "$WORK/farm.log"
check "and closed again" "$(grep -c 'debug port' "$WORK/farm.log" | tr -d ' ')" -ge 2
check "the last port event is closed" "$(grep 'debug port' "$WORK/farm.log" | tail -n 1 | grep -c closed)" = 1
status hsm
check_grep "the HSM counted two unlocks" "^writ $WRIT_ID .* rework 2/10 " "$OUT"

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
finish
