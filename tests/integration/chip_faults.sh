#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a real line sees, through the station's driver against writ-devsim's injected
# faults: a chip that drops its link mid-operation, a flaky chip that corrupts frames, a
# chip whose RNG fails its health test, a chip that is already provisioned, a chip killed
# (SIGKILL) at random points mid-provisioning and restarted, and torn state writes. Each
# chip ends either provisioned and locked or refused with a reason; the HSM never
# issues more than one DAC per chip.
source "${WRIT_SRC:?}/tests/integration/chip_lib.sh"

chip_setup 40

# ---- a link that drops mid-operation: the driver reconnects and resumes ----
start_devsim drop --fault drop-after=6
provision "unix:$WORK/drop.sock"
check "a chip that drops its link is provisioned anyway ($(head -c 200 "$ERR"))" "$RC" = 0
check "the record shows reconnects" "$(tail -n 1 records.jsonl | grep -Ec '"reconnects":[1-9]')" = 1

# ---- a flaky chip that corrupts frames: resends with the same seq ----
start_devsim flaky --fault corrupt=10 --seed 7
# a corrupted answer is dropped and the station resends when its timeout runs out: 500 ms
# (a chip on a local socket answers in a few) instead of the line's 5 s default
provision "unix:$WORK/flaky.sock" -- --timeout-ms 500
check "a chip corrupting 10% of its frames is provisioned anyway ($(head -c 200 "$ERR"))" "$RC" = 0

# ---- an RNG that fails its health test: no key, no DAC ----
before=$(counts hsm "$WRIT_ID")
start_devsim rng --fault bad-rng
provision "unix:$WORK/rng.sock"
check "a chip with a failing RNG is refused (exit 1)" "$RC" = 1
check_grep "the reason names the RNG" 'RNG' "$ERR"
check "no DAC spent on it" "$(counts hsm "$WRIT_ID")" = "$before"

# ---- a chip that was provisioned before ----
start_devsim old --fault provisioned
provision "unix:$WORK/old.sock"
check "an already provisioned chip is refused (exit 1)" "$RC" = 1
check_grep "the reason says so" 'already provisioned' "$ERR"
check "no DAC spent on it" "$(counts hsm "$WRIT_ID")" = "$before"

# ---- SIGKILL at random points, restart on the same state: resumed, never half-written ----
for i in 1 2 3 4 5 6; do
	name=kill$i
	start_devsim "$name"
	"$WRIT" chip provision --connect "unix:$WORK/$name.sock" --hsm hsm/hsmd.sock --writ "$WRIT_ID" \
		--settings settings.txt --firmware fw.bin --fw-version "$FW_VERSION" --fw-sig fw.sig \
		--sb-pub "$SB_PUB" --debug-root-hash "$DBG_HASH" --secret ota-key --iterations 1000 \
		--records records.jsonl >"$name.out" 2>"$name.err" &
	station=$!
	# somewhere between the first command and the end of the firmware transfer
	sleep "0.$((RANDOM % 40 + 2))"
	stop_devsim "$name" KILL
	run "$DEVSIM" --state "$WORK/$name.state" --show
	check "kill $i: the state file loads after SIGKILL" "$RC" = 0
	start_devsim "$name"
	src=0
	wait "$station" || src=$?
	check "kill $i: the station resumed and finished ($(tail -c 200 "$name.err"))" "$src" = 0
	run "$WRIT" chip status --connect "unix:$WORK/$name.sock"
	check "kill $i: the chip is secured" "$(grep -c '^lifecycle secured$' "$OUT")" = 1
done

# ---- torn state writes: the chip dies in the middle of its N-th commit ----
for n in 2 4 6; do
	name=torn$n
	start_devsim "$name" --fault "crash-at=$n"
	"$WRIT" chip provision --connect "unix:$WORK/$name.sock" --hsm hsm/hsmd.sock --writ "$WRIT_ID" \
		--settings settings.txt --firmware fw.bin --fw-version "$FW_VERSION" --fw-sig fw.sig \
		--sb-pub "$SB_PUB" --debug-root-hash "$DBG_HASH" --secret ota-key --iterations 1000 \
		--records records.jsonl >"$name.out" 2>"$name.err" &
	station=$!
	for ((k = 0; k < 200; k++)); do
		kill -0 "${DEVSIM_PIDS[$name]}" 2>/dev/null || break
		sleep 0.02
	done
	stop_devsim "$name"
	run "$DEVSIM" --state "$WORK/$name.state" --show
	check "torn write at commit $n: the previous state loads" "$RC" = 0
	start_devsim "$name"
	src=0
	wait "$station" || src=$?
	check "torn write at commit $n: the station resumed and finished ($(tail -c 200 "$name.err"))" "$src" = 0
done

# ---- the count: one DAC per provisioned chip, never more ----
made=$(wc -l <records.jsonl)
check "every provisioned chip has one record (11 expected)" "$made" = 11
check "the HSM issued exactly one DAC per provisioned chip" "$(counts hsm "$WRIT_ID")" \
	= "issued $made remaining $((40 - made))"
check "no UID was recorded twice" "$(/usr/bin/python3 -c '
import json; u=[json.loads(l)["uid"] for l in open("records.jsonl")]; print(len(u)-len(set(u)))')" = 0
finish
