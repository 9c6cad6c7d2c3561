#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-devsim end to end: the simulated chip on a Unix socket, TCP and a pty answers
# DISCOVER / STATUS from an independent Python host (devsim_client.py); a torn state
# write (crash-at) leaves the previous state loadable; a corrupt state file is refused
# with a clear message; drop-after closes the link without executing the request;
# --count 4 serves four independent chips; SIGTERM exits 0.
set -euo pipefail
BIN=${WRIT_BIN:?}/writ-devsim
PY=/usr/bin/python3
CLIENT=${WRIT_SRC:?}/tests/integration/devsim_client.py
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
fail=0
check() { # DESC ACTUAL EXPECTED-REGEX
	if [[ "$2" =~ $3 ]]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', want /$3/"; fail=1; fi
}
# start NAME ARGS...: run writ-devsim, wait for its ready line(s); sets ADDR to the first
start() {
	local name=$1; shift
	"$BIN" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	PIDS+=($!)
	LAST=$!
	for _ in $(seq 100); do
		[ -s "$T/$name.out" ] && break
		sleep 0.05
	done
	ADDR=$(head -n1 "$T/$name.out" | sed -n 's/^ready //p')
	[ -n "$ADDR" ] || { echo "FAIL: $name did not get ready"; cat "$T/$name.err"; exit 1; }
}
stop() { kill -TERM "$1"; local rc=0; wait "$1" || rc=$?; check "exit 0 on SIGTERM" "$rc" '^0$'; }
UID1=00112233445566778899AABBCCDDEEFF

# --- unix
start u --state "$T/u.state" --uid $UID1 --listen "unix:$T/u.sock"
check "unix ready line" "$(cat "$T/u.out")" "^ready unix:$T/u.sock\$"
out=$($PY "$CLIENT" "$ADDR" DISCOVER STATUS)
check "unix DISCOVER" "$out" "DISCOVER OK uid=$UID1 lifecycle=0 state=0x80 family=writ-devsim"
check "unix STATUS" "$out" "STATUS OK uid=$UID1"
out=$($PY "$CLIENT" "$ADDR" DISCOVER GENERATE_KEYS STATUS BADCRC)
check "keys made" "$out" "STATUS OK uid=$UID1 lifecycle=1 state=0x81"
check "bad CRC is INTEGRITY, seq 0" "$out" "BADCRC INTEGRITY seq=0"
stop $LAST
show=$("$BIN" --state "$T/u.state" --show)
check "--show after restart" "$show" "lifecycle: provisioning"
check "--show flags" "$show" "flags: 0x81 keys debug"

# --- tcp (port 0 picks one)
start t --state "$T/t.state" --listen tcp:127.0.0.1:0
check "tcp ready line" "$ADDR" '^tcp:127\.0\.0\.1:[0-9]+$'
[ "${ADDR##*:}" != 0 ] || { echo "FAIL: port 0 announced"; fail=1; }
check "tcp DISCOVER" "$($PY "$CLIENT" "$ADDR" DISCOVER STATUS)" "STATUS OK uid=[0-9A-F]{32} lifecycle=0"
check "tcp second connection" "$($PY "$CLIENT" "$ADDR" DISCOVER)" "DISCOVER OK"
stop $LAST

# --- pty with a link
start p --state "$T/p.state" --listen "pty:$T/tty"
check "pty ready line" "$ADDR" '^pty:/dev/pts/[0-9]+$'
check "pty link" "$(readlink "$T/tty")" "^${ADDR#pty:}\$"
check "pty DISCOVER" "$($PY "$CLIENT" "$T/tty" DISCOVER STATUS)" "STATUS OK"
check "pty again" "$($PY "$CLIENT" "$ADDR" DISCOVER)" "DISCOVER OK"
stop $LAST

# --- faults: bad-rng, provisioned, drop-after
start r --state "$T/r.state" --listen "unix:$T/r.sock" --fault bad-rng
check "bad-rng: no keys" "$($PY "$CLIENT" "$ADDR" DISCOVER GENERATE_KEYS STATUS)" "GENERATE_KEYS RNG.*STATUS OK uid=[0-9A-F]+ lifecycle=0 state=0x80"
stop $LAST
start pr --state "$T/pr.state" --listen "unix:$T/pr.sock" --fault provisioned
check "provisioned: locked" "$($PY "$CLIENT" "$ADDR" DISCOVER GENERATE_KEYS)" "lifecycle=2 state=0x77.*GENERATE_KEYS LOCKED"
stop $LAST
start d --state "$T/d.state" --listen "unix:$T/d.sock" --fault drop-after=2
out=$($PY "$CLIENT" "$ADDR" DISCOVER GENERATE_KEYS)
check "drop-after: closed before answering" "$out" "GENERATE_KEYS closed"
check "drop-after: not executed" "$($PY "$CLIENT" "$ADDR" DISCOVER STATUS)" "STATUS OK uid=[0-9A-F]+ lifecycle=0 state=0x80"
stop $LAST
start c --state "$T/c.state" --listen "unix:$T/c.sock" --fault corrupt=100 --seed 7
check "corrupt=100: every answer damaged" "$($PY "$CLIENT" "$ADDR" DISCOVER 2>&1 || true)" "badcrc|Error|closed|assert"
stop $LAST

# --- crash-at: commit 1 is the new file, commit 2 is GENERATE_KEYS, commit 3 is torn
start k --state "$T/k.state" --uid $UID1 --listen "unix:$T/k.sock" --fault crash-at=3
$PY "$CLIENT" "$ADDR" DISCOVER GENERATE_KEYS >/dev/null
out=$($PY "$CLIENT" "$ADDR" DISCOVER GENERATE_KEYS 2>&1 || true)
check "crash-at: link lost mid-commit" "$out" "GENERATE_KEYS closed"
rc=0; wait $LAST || rc=$?
check "crash-at: exit 137" "$rc" '^137$'
[ -e "$T/k.state.tmp" ] && check "torn temp file left" "$(stat -c %s "$T/k.state.tmp")" '^4170$'
check "previous state still loads" "$("$BIN" --state "$T/k.state" --show)" "flags: 0x81 keys debug"
start k2 --state "$T/k.state" --listen "unix:$T/k.sock"
check "chip serves after the crash" "$($PY "$CLIENT" "$ADDR" DISCOVER)" "DISCOVER OK uid=$UID1 lifecycle=1"
stop $LAST

# --- corrupt state files are refused with a clear message
cp "$T/k.state" "$T/bad.state"
# flip (not set) one byte: writing a fixed value leaves the file intact when it held it
$PY -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[200]^=0x01; open(p,"wb").write(b)' "$T/bad.state"
rc=0; err=$("$BIN" --state "$T/bad.state" --show 2>&1) || rc=$?
check "corrupt state refused" "$rc" '^1$'
check "corrupt state message" "$err" "corrupt state file: checksum mismatch; refusing to load it"
head -c 100 "$T/k.state" >"$T/short.state"
err=$("$BIN" --state "$T/short.state" --listen "unix:$T/x.sock" 2>&1) || true
check "truncated state message" "$err" "corrupt state file: wrong size"
printf 'hello' >"$T/junk.state"
err=$("$BIN" --state "$T/junk.state" --show 2>&1) || true
check "junk state message" "$err" "corrupt state file"

# --- many chips
mkdir "$T/many"
start m --count 4 --dir "$T/many"
for _ in $(seq 100); do [ "$(wc -l <"$T/m.out")" -ge 4 ] && break; sleep 0.05; done
check "4 ready lines" "$(wc -l <"$T/m.out")" '^4$'
uids=""
for i in 0 1 2 3; do
	grep -qx "ready unix:$T/many/chip-$i.sock" "$T/m.out" || { echo "FAIL: no ready line for chip $i"; fail=1; }
	o=$($PY "$CLIENT" "unix:$T/many/chip-$i.sock" DISCOVER)
	check "chip $i answers" "$o" "DISCOVER OK"
	uids="$uids $(echo "$o" | sed -n 's/.*uid=\([0-9A-F]*\).*/\1/p')"
done
check "4 distinct UIDs" "$(echo $uids | tr ' ' '\n' | sort -u | wc -l)" '^4$'
$PY "$CLIENT" "unix:$T/many/chip-2.sock" DISCOVER GENERATE_KEYS >/dev/null
check "chips are independent" "$($PY "$CLIENT" "unix:$T/many/chip-1.sock" DISCOVER)" "state=0x80"
stop $LAST
[ -e "$T/many/chip-3.state" ] || { echo "FAIL: chip-3.state missing"; fail=1; }

[ $fail -eq 0 ] && echo "all passed"
exit $fail
