#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two writs run in parallel on two lines of one factory, against one edge HSM: their
# quotas are independent and the HSM stays the authority on counts. Writ A (6 devices)
# and writ B (4 devices, a second batch through the factory's file drop) each get 8
# chips; each line makes exactly its writ's quantity, the extra chips stay unlocked,
# the HSM's counts and the factory's records agree per writ, and no device appears
# under both writs.
source "${WRIT_SRC:?}/tests/integration/line_lib.sh"

line_setup 6
start_factory
WA=$WRIT_ID
WB=$(drop_writ second 4)
check "the second writ was loaded from the drop" -e drop/done/second.writ
enrol station-a L1 a.token
enrol station-b L2 b.token
mes_token
start_farm farm-a 8
start_farm farm-b 8
"$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$WA" --port-dir "$WORK/farm-a" \
	--parallel 4 --once >a.out 2>a.err &
pa=$!
"$STATION" run --factory "$FACTORY_URL" --token-file b.token --job "$WB" --port-dir "$WORK/farm-b" \
	--parallel 4 --once >b.out 2>b.err &
pb=$!
wait $pa || true
wait $pb || true
check "line A made exactly writ A's 6 ($(tail -n 2 a.err | tr '\n' ' '))" "$(locked_count "$WORK/farm-a")" = 6
check "line B made exactly writ B's 4 ($(tail -n 2 b.err | tr '\n' ' '))" "$(locked_count "$WORK/farm-b")" = 4
check "the HSM counts writ A: issued 6 remaining 0" "$(counts hsm "$WA")" = "issued 6 remaining 0"
check "the HSM counts writ B: issued 4 remaining 0" "$(counts hsm "$WB")" = "issued 4 remaining 0"
records
check "the factory holds 6 ok records for writ A and 4 for writ B, no UID under both" "$(/usr/bin/python3 - "$WA" "$WB" <<'PY'
import json, sys
recs = [json.loads(l) for l in open("records.jsonl") if l.strip()]
ok = [r for r in recs if r["result"] == "ok"]
a = {r["uid"] for r in ok if r["writ"] == sys.argv[1]}
b = {r["uid"] for r in ok if r["writ"] == sys.argv[2]}
na = sum(1 for r in ok if r["writ"] == sys.argv[1])
nb = sum(1 for r in ok if r["writ"] == sys.argv[2])
print(na, nb, len(a), len(b), len(a & b))
PY
)" = "6 4 6 4 0"
finish
