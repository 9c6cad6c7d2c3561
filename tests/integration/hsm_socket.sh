#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-hsmd's socket API against a hostile local client (hsm_socket_client.py): random
# bytes, a length of 0xFFFFFFFF, an empty or truncated frame, frames of non-CBOR,
# CBOR that is not a request map, unknown ops, extra / missing / mistyped keys. Each
# gets a clear error response and a closed connection (or just the close); the daemon
# keeps serving, journals none of it, and stops cleanly even while a client hangs on
# a half-sent frame.
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/tests/integration/hsm_lib.sh"

PY=/usr/bin/python3
CLIENT=$WRIT_SRC/tests/integration/hsm_socket_client.py
if ! $PY -c 'import cbor2' 2>/dev/null; then
	echo "FAIL: $PY lacks cbor2 (apt-get install python3-cbor2)" >&2
	exit 1
fi

hsm_setup
S=hsm/hsmd.sock
make_authority auth
make_hsm hsm
certify hsm pai.der
ID=$(mint w.cose 20 1000)
start_hsmd hsm
must "$WRIT" hsm load --socket "$S" w.cose
# shellcheck disable=SC2153 # HSMD_PIDS is hsm_lib.sh's
HSMD_PID=${HSMD_PIDS[hsm]:?}
before=$(snapshot hsm)

# poke CASE WANT: the client's one-line account of the exchange must equal WANT, and
# the daemon must still answer `writ hsm status` afterwards.
poke()
{
	local case=$1 want=$2 got
	got=$($PY "$CLIENT" "$S" "$case" 2>&1) || true
	check "$case: $want" "$got" = "$want"
	run "$WRIT" hsm status --socket "$S"
	check "$case: the daemon still serves" "$RC" = 0
}

MALFORMED="response -22 malformed request; closed"
TOOBIG="response -5 request frame too large; closed"

poke len-ffffffff "$TOOBIG"
poke len-over-max "$TOOBIG"
poke len-zero "closed"
poke truncated-eof "closed"
poke not-cbor "$MALFORMED"
poke cbor-array "$MALFORMED"
poke cbor-trailing "$MALFORMED"
poke cbor-indefinite-map "$MALFORMED"
poke cbor-duplicate-key "$MALFORMED"
poke cbor-deep-nesting "$MALFORMED"
poke unknown-op "$MALFORMED"
poke op-zero "$MALFORMED"
poke op-negative "$MALFORMED"
poke op-text "$MALFORMED"
poke text-keys "$MALFORMED"
poke extra-key "$MALFORMED"
poke issue-missing-keys "$MALFORMED"
poke issue-short-writ-id "$MALFORMED"
poke issue-long-uid "$MALFORMED"
poke issue-extra-key "$MALFORMED"
poke journal-max-zero "$MALFORMED"
poke journal-max-too-big "$MALFORMED"
poke checkpoint-extra-key "$MALFORMED"
# well-formed requests keep the connection for the next one
poke status-twice "response 0 writs; response 0 writs; open"
poke issue-unknown-writ "response -4 CSR is malformed (malformed input); open"

# random bytes, half of them behind a plausible length: an error and a close, never
# a success, never silence
seed=${WRIT_TEST_SEED:-$(date +%s)}
echo "random seed $seed (set WRIT_TEST_SEED=$seed to replay)"
bad=0
for ((k = 0; k < 30; k++)); do
	got=$($PY "$CLIENT" "$S" random $((seed + k)) 2>&1) || true
	if ! grep -Eq '^(response -[0-9]+ [^;]*; )?closed$' <<<"$got"; then
		bad=$((bad + 1))
		fail "random bytes (seed $((seed + k))): $got"
	fi
done
check "30 random-byte connections: each refused and closed" "$bad" = 0

# 64 hostile clients at once
pids=()
for ((k = 0; k < 64; k++)); do
	$PY "$CLIENT" "$S" random $((seed + 1000 + k)) >"par$k.out" 2>&1 &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
check "64 concurrent random-byte clients finished" "$bad" = 0
check "64 concurrent random-byte clients: each refused and closed" \
	"$(cat par*.out | grep -Ecv '^(response -[0-9]+ [^;]*; )?closed$')" = 0

# a client that hangs on a half-sent frame does not block the others
rm -f hold.ready
READY=hold.ready $PY "$CLIENT" "$S" truncated-hold >hold.out 2>&1 &
hold=$!
wait_for 30 test -e hold.ready || fail "the hanging client did not send its half frame within 30 s"
run "$WRIT" hsm status --socket "$S"
check "status is served while another client hangs mid-frame" "$RC" = 0
wait "$hold" || true
check "the hanging client was neither answered nor dropped" "$(cat hold.out)" = "open"

check "the daemon process is alive after all of it" "$(kill -0 "$HSMD_PID" 2>/dev/null && echo alive)" = alive
check "nothing was journaled and no count moved" "$(snapshot hsm)" = "$before"
mkcsr csr.der
run "$WRIT" hsm issue --socket "$S" --writ "$ID" --csr csr.der --uid 01020304 --out dac.der
check "a real DAC is still issued" "$RC" = 0
mkcsr csr2.der
got=$($PY "$CLIENT" "$S" pipelined "$ID" csr2.der 2>&1) || true
check "pipelined DAC + status are answered in order ($got)" "$got" = "response 0 dac; response 0 writs; open"
# the same, closing the sending side right after: while the DAC waits for the disk the
# connection is at end of input; both answers still come, then the close (8 times: a
# connection freed while still listed as ready once showed only under this timing)
shut_ok=0
for i in 1 2 3 4 5 6 7 8; do
	mkcsr csr-shut.der
	got=$($PY "$CLIENT" "$S" pipelined-shut "$ID" csr-shut.der "0a0b0d0$i" 2>&1) || true
	[[ $got == "response 0 dac; response 0 writs; closed" ]] && shut_ok=$((shut_ok + 1))
done
check "pipelined DAC + status then end of input: answered in order and closed, 8 of 8 (last: $got)" "$shut_ok" = 8
check_grep "the daemon logs the malformed requests" "sent a malformed request; closing the connection" hsm/hsmd.log

# SIGTERM while a client holds a half-sent frame: a bounded stop, a journal that verifies
rm -f hold.ready
READY=hold.ready $PY "$CLIENT" "$S" truncated-hold-long >hold.out 2>&1 &
hold=$!
wait_for 30 test -e hold.ready || fail "the hanging client did not send its half frame within 30 s"
stop_hsmd hsm TERM
check "SIGTERM with a hanging client: exit 0" "$HSMD_RC" = 0
check_grep "… and stops cleanly without waiting for it" "stopped" hsm/hsmd.log
wait "$hold" || true
check "the hanging client saw the connection close" "$(cat hold.out)" = "closed"
run "$HSMD" verify-journal --state hsm
check "the journal verifies after that stop" "$RC" = 0
start_hsmd hsm
check "after restart: the DACs are counted" "$(counts hsm "$ID")" = "issued 10 remaining 10"
stop_hsmd hsm TERM

finish
