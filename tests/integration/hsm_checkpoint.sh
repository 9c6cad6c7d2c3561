#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# "Checkpoint now" (op 7, `writ hsm checkpoint`) and verifying a real writ-hsmd journal
# away from the HSM as the cloud does (lib/wire/jseg.c through jseg_tool): before a
# checkpoint the tail after the last one is not accepted; `writ hsm checkpoint` signs
# it, and a second call writes nothing; a verifier continues from its cursor, takes a
# re-send as duplicates, and refuses a run that does not continue its cursor (fork,
# gap). verify-journal still passes, and after a restart.
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/tests/integration/hsm_lib.sh"

TOOL=$WRIT_BIN/jseg_tool
hsm_setup
S=hsm/hsmd.sock
make_authority auth
make_hsm hsm
certify hsm pai.der
ID=$(mint w.cose 10 1000)
start_hsmd hsm
must "$WRIT" hsm load --socket "$S" w.cose
for i in 1 2 3; do
	mkcsr "csr$i.der"
	must "$WRIT" hsm issue --socket "$S" --writ "$ID" --csr "csr$i.der" --uid "0a00000$i" --out "dac$i.der"
done

# 0 genesis, 1 checkpoint, 2 start, 3 writ, 4..6 DACs: only 0..1 are signed
run "$TOOL" "$S" hsm/enrolment.cbor
check "before a checkpoint: genesis and the first checkpoint accepted, 5 entries unsigned ($(cat "$OUT"))" \
	"$RC:$(cut -d' ' -f1-8 "$OUT")" = "0:accepted 2 duplicates 0 tail 5 next 2"

run "$WRIT" hsm checkpoint --socket "$S"
check "writ hsm checkpoint signs the tail: checkpoint 7, next 8" "$RC:$(cat "$OUT")" = "0:checkpoint 7 next 8"
run "$WRIT" hsm checkpoint --socket "$S"
check "a second checkpoint call writes nothing (next unchanged)" "$RC:$(cat "$OUT")" = "0:checkpoint 7 next 8"
check "status agrees: 8 journal entries" "$(snapshot hsm | head -n 1)" = "factory $FACTORY, journal entries 8"

run "$TOOL" "$S" hsm/enrolment.cbor
check "after the checkpoint the whole journal verifies: 8 accepted, 3 DACs, the writ re-verified ($(cat "$OUT"))" \
	"$RC:$(sed -E 's/ hash [0-9a-f]{64}//' "$OUT")" = "0:accepted 8 duplicates 0 tail 0 next 8 dac 3 reissue 0 wrap 0 writ 1/1"
H8=$(sed -n 's/.* hash \([0-9a-f]*\) .*/\1/p' "$OUT")

# the next push continues from the cursor
mkcsr csr4.der
must "$WRIT" hsm issue --socket "$S" --writ "$ID" --csr csr4.der --uid 0a000004 --out dac4.der
run "$TOOL" "$S" hsm/enrolment.cbor --next 8 --hash "$H8"
check "from the cursor, a new DAC without a checkpoint is not accepted" \
	"$RC:$(cut -d' ' -f1-8 "$OUT")" = "0:accepted 0 duplicates 0 tail 1 next 8"
run "$WRIT" hsm checkpoint --socket "$S"
check "checkpoint again: 9, next 10" "$RC:$(cat "$OUT")" = "0:checkpoint 9 next 10"
run "$TOOL" "$S" hsm/enrolment.cbor --next 8 --hash "$H8"
check "from the cursor: the DAC and the checkpoint accepted ($(cat "$OUT"))" \
	"$RC:$(sed -E 's/ hash [0-9a-f]{64}//' "$OUT")" = "0:accepted 2 duplicates 0 tail 0 next 10 dac 1 reissue 0 wrap 0 writ 0/0"
H10=$(sed -n 's/.* hash \([0-9a-f]*\) .*/\1/p' "$OUT")

run "$TOOL" "$S" hsm/enrolment.cbor --next 10 --hash "$H10" --since 5
check "a re-send of 5..9 is five duplicates, nothing new" \
	"$RC:$(cut -d' ' -f1-8 "$OUT")" = "0:accepted 0 duplicates 5 tail 0 next 10"
run "$TOOL" "$S" hsm/enrolment.cbor --next 10 --hash "$H8" --since 5
check "the same entries against another stored hash are a fork ($(cat "$OUT"))" \
	"$RC:$(cut -d' ' -f1-3 "$OUT")" = "1:refused replayed fork:"
run "$TOOL" "$S" hsm/enrolment.cbor --next 3 --hash "$H8" --since 4
check "a run that starts past the cursor is a gap ($(cat "$OUT"))" \
	"$RC:$(cut -d' ' -f1-6 "$OUT")" = "1:refused journal does not verify gap:"

stop_hsmd hsm TERM
check "writ-hsmd exits 0" "$HSMD_RC" = 0
run "$HSMD" verify-journal --state hsm
check_grep "verify-journal passes: 10 entries, 3 checkpoints (nothing left to sign at stop)" \
	"^journal ok: 10 entries, 3 signed checkpoints" "$OUT"
start_hsmd hsm
run "$WRIT" hsm checkpoint --socket "$S"
check "after a restart the start entry is signed: checkpoint 11, next 12" "$RC:$(cat "$OUT")" = "0:checkpoint 11 next 12"
run "$TOOL" "$S" hsm/enrolment.cbor --next 10 --hash "$H10"
check "the verifier continues across the restart" "$RC:$(cut -d' ' -f1-8 "$OUT")" = "0:accepted 2 duplicates 0 tail 0 next 12"
stop_hsmd hsm TERM
run "$HSMD" verify-journal --state hsm
check_grep "verify-journal passes after the restart" "^journal ok: 12 entries, 4 signed checkpoints" "$OUT"
expect_refused "writ hsm checkpoint without a daemon" "cannot connect" "$WRIT" hsm checkpoint --socket "$S"

# Export under group commit: many clients at once, so entries are queued while the
# leader writes a batch with the lock released. Every exported entry must be the one
# with the seq asked for (an export offset once ignored the batch in flight).
start_hsmd hsm
ID2=$(mint w2.cose 300 5000)
must "$WRIT" hsm load --socket "$S" w2.cose
must "$WRIT_BIN/hsm_load" --socket "$S" --writ "$ID2" --threads 8 --count 200 --csr-pool 16
must "$WRIT" hsm checkpoint --socket "$S"
run /usr/bin/python3 - "$S" <<'PY'
import socket, struct, sys
import cbor2
def call(m):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    b = cbor2.dumps(m)
    s.sendall(struct.pack(">I", len(b)) + b)
    h = b""
    while len(h) < 4:
        h += s.recv(4 - len(h))
    n, o = struct.unpack(">I", h)[0], b""
    while len(o) < n:
        o += s.recv(n - len(o))
    return cbor2.loads(o)
bad, total, since = [], 0, 0
while True:
    got = call({1: 4, 6: since, 7: 97}).get(7, [])
    for i, e in enumerate(got):
        if cbor2.loads(e)[1] != since + i:
            bad.append(since + i)
    total += len(got)
    since += len(got)
    if len(got) < 97:
        break
print("entries", total, "misplaced", len(bad), bad[:5])
PY
check "export after concurrent DACs: every entry at its seq ($(cat "$OUT"))" "$RC:$(cut -d' ' -f3-4 "$OUT")" = "0:misplaced 0"
stop_hsmd hsm TERM

finish
