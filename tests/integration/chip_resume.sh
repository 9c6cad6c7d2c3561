#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A station dies after the HSM issued a chip's DAC and before the chip stored its chain;
# a new `writ chip provision` process resumes the same chip (not reset, not replaced).
# The chip (writ-devsim --fault drop-after=4) drops its link at STORE_CHAIN, so the
# first station is killed (SIGKILL) while it waits to reconnect: the HSM has counted the
# DAC, the chip holds keys and no chain. The second station finds keys without a chain
# and no DAC in hand, asks the chip for a CSR over the same key (GET_CSR) and the HSM
# re-issues the DAC: every chip ends secured, the HSM's issued count equals the number
# of chips (never a second unit), each re-issue is counted, and the records show one
# device per chip. A chip that made new keys meanwhile is refused as a clone (-23) and
# costs nothing. Fixtures come from chip_lib.sh (sourced read-only).
source "${WRIT_SRC:?}/tests/integration/chip_lib.sh"

Q=10
chip_setup $Q
PY=/usr/bin/python3

station() # NAME: writ chip provision for one chip in the background; pid in $STATION
{
	"$WRIT" chip provision --connect "unix:$WORK/$1.sock" --hsm hsm/hsmd.sock --writ "$WRIT_ID" \
		--settings settings.txt --firmware fw.bin --fw-version "$FW_VERSION" --fw-sig fw.sig \
		--sb-pub "$SB_PUB" --debug-root-hash "$DBG_HASH" --secret ota-key --iterations 1000 \
		--records records.jsonl >"$1.out" 2>"$1.err" &
	STATION=$!
}
issued() { counts hsm "$WRIT_ID" | cut -d' ' -f2; }
reissued() { status hsm; sed -n "s/^writ $WRIT_ID .* reissued \([0-9]*\) .*/\1/p" "$OUT"; }
# the chip's flags from its state file, not over the protocol: with drop-after armed, a
# protocol request here could be the one the chip drops
chip_state() { "$DEVSIM" --state "$WORK/$1.state" --show | sed -n 's/^flags: 0x[0-9a-f]* //p' | tr ' ' ','; }

# kill_after_dac NAME WANT: start a station on chip NAME; SIGKILL it as soon as the HSM
# has counted WANT DACs (the chip then drops STORE_CHAIN, and the station waits 0.1 s
# before reconnecting: the kill lands in that gap).
kill_after_dac()
{
	local name=$1 want=$2 i
	station "$name"
	for ((i = 0; i < 2000; i++)); do
		[[ $(issued) == "$want" ]] && break
		kill -0 "$STATION" 2>/dev/null || break
		sleep 0.005
	done
	kill -KILL "$STATION" 2>/dev/null || true
	wait "$STATION" 2>/dev/null || true
}

N=3
for ((k = 1; k <= N; k++)); do
	name=resume$k
	start_devsim "$name" --fault drop-after=4
	kill_after_dac "$name" "$k"
	check "chip $k: the HSM counted its DAC before the station died" "$(issued)" = "$k"
	st=$(chip_state "$name")
	check "chip $k: the chip holds keys and no chain (state $st)" \
		"$([[ $st == *keys* && $st != *chain* ]] && echo yes)" = yes
	provision "unix:$WORK/$name.sock"
	check "chip $k: a new station resumes the chip and finishes ($(head -c 300 "$ERR"))" "$RC" = 0
	run "$WRIT" chip status --connect "unix:$WORK/$name.sock"
	check "chip $k: the chip is secured" "$(grep -c '^lifecycle secured$' "$OUT")" = 1
	check "chip $k: no second unit: issued $k" "$(issued)" = "$k"
	check "chip $k: the DAC was re-issued: reissued $k" "$(reissued)" = "$k"
done
check "the HSM issued exactly one DAC per chip: issued $N remaining $((Q - N))" \
	"$(counts hsm "$WRIT_ID")" = "issued $N remaining $((Q - N))"
check "one record per chip ($N), each UID once" "$("$PY" -c '
import json; u = [json.loads(l)["uid"] for l in open("records.jsonl")]; print(len(u), len(set(u)))')" = "$N $N"

# ---- a station that dies after STORE_CHAIN: the next one reads the chain back ----
# (drop-after=5: the chip stores its chain, then drops the link at the 5th request,
# STORE_FACTORY_DATA, once. The station is killed as soon as the chip's state file shows
# the chain; whichever request comes 5th - the dying station's or the next one's first
# - is dropped, and the flow reconnects. The chip is inspected through its state file,
# not the protocol, so the inspection is never the dropped request.)
name=chained
start_devsim "$name" --fault drop-after=5
re_before=$(reissued)
station "$name"
for ((i = 0; i < 2000; i++)); do
	"$DEVSIM" --state "$WORK/$name.state" --show 2>/dev/null | grep -q '^flags: .* chain' && break
	kill -0 "$STATION" 2>/dev/null || break
	sleep 0.005
done
kill -KILL "$STATION" 2>/dev/null || true
wait "$STATION" 2>/dev/null || true
st=$("$DEVSIM" --state "$WORK/$name.state" --show | sed -n 's/^flags: 0x[0-9a-f]* //p')
check "chained: the chip holds its chain and no factory data (flags $st)" \
	"$([[ $st == *chain* && $st != *factory-data* ]] && echo yes)" = yes
provision "unix:$WORK/$name.sock"
check "chained: a new station reads the chain back (GET_CHAIN) and finishes ($(head -c 300 "$ERR"))" "$RC" = 0
check "chained: the chip is secured" "$(chip_state "$name" | grep -c locked)" = 1
check "chained: no second unit and no re-issue" "$(issued):$(reissued)" = "$((N + 1)):$re_before"
check "chained: its record has the device serial of its DAC ($((1000 + N)))" \
	"$(tail -n 1 records.jsonl | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["serial"])')" = $((1000 + N))
N=$((N + 1))

# ---- a chip that made new keys after its DAC was issued: a clone, set aside ----
name=rekeyed
start_devsim "$name" --fault drop-after=4
kill_after_dac "$name" $((N + 1))
run "$PY" "$WRIT_SRC/tests/integration/devsim_client.py" "unix:$WORK/$name.sock" DISCOVER GENERATE_KEYS
check "rekeyed: the chip made new keys (no chain yet)" "$(grep -c '^GENERATE_KEYS OK' "$OUT")" = 1
before=$(counts hsm "$WRIT_ID")
provision "unix:$WORK/$name.sock"
check "rekeyed: refused (exit 1)" "$RC" = 1
check_grep "rekeyed: the reason says another key, set the chip aside" \
	'already certified under writ .* with another key; a chip that lost its key must be set aside' "$ERR"
check "rekeyed: nothing spent" "$(counts hsm "$WRIT_ID")" = "$before"
check "rekeyed: no record" "$(wc -l <records.jsonl)" = "$N"

stop_hsmd hsm TERM
run "$HSMD" verify-journal --state hsm
check "verify-journal after the runs ($(cat "$OUT"))" "$RC" = 0
finish
