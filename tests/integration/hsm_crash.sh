#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash safety of writ-hsmd: hsm_load asks for DACs from 8 threads while this script
# kills the daemon with SIGKILL at random moments (after 10-150 more DACs) and restarts it;
# hsm_load reconnects and goes on until the writ's quantity is spent. Afterwards the
# journal is read by an independent parser (Debian's python3-cbor2) and must account
# for every certificate a client received, must never exceed the quantity, must hold
# no device serial or certificate serial twice, and must verify with writ-hsmd; after a
# last restart the daemon's counts must match the journal and it must refuse to issue
# beyond the quantity. Knobs: WRIT_CRASH_QUANTITY (default 2000), WRIT_CRASH_ITERATIONS
# (default 25), WRIT_CRASH_KEEP=1 keeps the work directory.
set -u

bin=${WRIT_BIN:?WRIT_BIN must point at the build bin dir}
writ=$bin/writ
hsmd=$bin/writ-hsmd
load=$bin/hsm_load
py=/usr/bin/python3
quantity=${WRIT_CRASH_QUANTITY:-2000}
iterations=${WRIT_CRASH_ITERATIONS:-25}
min_kills=5
passed=0 failed=0
daemon_pid= load_pid=

for f in "$writ" "$hsmd" "$load"; do
	if [[ ! -x $f ]]; then
		echo "FAIL: $f not built" >&2
		exit 1
	fi
done
if ! "$py" -c 'import cbor2' 2>/dev/null; then
	echo "FAIL: $py cannot import cbor2 (apt-get install python3-cbor2)" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/writ-crash-XXXXXX")
cleanup() {
	[[ -n $load_pid ]] && kill -9 "$load_pid" 2>/dev/null
	[[ -n $daemon_pid ]] && kill -9 "$daemon_pid" 2>/dev/null
	! declare -F stop_swtpm >/dev/null || stop_swtpm
	wait 2>/dev/null
	if [[ ${WRIT_CRASH_KEEP:-0} == 1 ]]; then
		echo "work directory kept: $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
cd "$tmp" || exit 1

pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...: pass if the command succeeds
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
die() {
	echo "FAIL: $*" >&2
	[[ -f hsmd.log ]] && tail -n 20 hsmd.log >&2
	echo "$passed passed, $((failed + 1)) failed"
	exit 1
}

# shellcheck source=scripts/softhsm-env.sh
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/scripts/softhsm-env.sh"
writ_softhsm_env "$tmp"
writ_test_pins
# the edge HSM's PKCS#11 backend (WRIT_TEST_P11=softhsm|tpm2, p11_backend.sh)
# shellcheck source=tests/integration/p11_backend.sh
source "$WRIT_SRC/tests/integration/p11_backend.sh"
WORK=$tmp
hsm_backend_setup
mapfile -t backend_args < <(hsm_module_args)
sock=$tmp/hsm/hsmd.sock

# start_daemon: run writ-hsmd serve in the background and wait for its socket (the
# socket appears only after the journal was verified and replayed)
start_daemon() {
	rm -f "$sock"
	"$hsmd" serve --state hsm 2>>hsmd.log &
	daemon_pid=$!
	for _ in $(seq 300); do
		[[ -S $sock ]] && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

kill_daemon() {
	kill -9 "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}

# ---- an authority, an HSM, a writ for $quantity devices ----
"$writ" authority init --dir auth --vid FFF1 >setup.log 2>&1 || die "writ authority init"
"$hsmd" init --state hsm --factory acme-sz1 --oem-key auth/writ-signing.pub.pem "${backend_args[@]}" >>setup.log 2>&1 ||
	die "writ-hsmd init"
"$writ" authority certify --dir auth --enrolment hsm/enrolment.cbor --vid FFF1 --out pai.der >>setup.log 2>&1 ||
	die "writ authority certify"
serial_first=1000
id=$("$writ" authority mint --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp --vid FFF1 \
	--pid 8000 --quantity "$quantity" --serial-first $serial_first --out w1.cose 2>>setup.log) ||
	die "writ authority mint"
start_daemon || die "writ-hsmd serve did not come up"
"$writ" hsm load --socket "$sock" w1.cose >>setup.log 2>&1 || die "writ hsm load"

# ---- load under repeated SIGKILL ----
"$load" --socket "$sock" --writ "$id" --threads 8 --count $((quantity * 2)) --log dacs.log \
	--reconnect-seconds 60 >load.out 2>load.err &
load_pid=$!
kills=0
for ((i = 0; i < iterations; i++)); do
	# kill after a random amount of progress (10..150 more DACs handed out), so the
	# number of kills does not depend on how fast this machine issues DACs; a short
	# random extra delay lands the kill at any point of a request, not just after one
	start=$(wc -l <dacs.log 2>/dev/null || echo 0)
	want=$((start + RANDOM % 141 + 10))
	for _ in $(seq 400); do
		[[ $(wc -l <dacs.log 2>/dev/null || echo 0) -ge $want ]] && break
		kill -0 "$load_pid" 2>/dev/null || break
		sleep 0.01
	done
	sleep "0.00$((RANDOM % 10))"
	kill -0 "$load_pid" 2>/dev/null || break
	before=$(wc -l <dacs.log 2>/dev/null || echo 0)
	kill_daemon
	kills=$((kills + 1))
	echo "kill $kills: $before DACs handed out so far"
	start_daemon || die "writ-hsmd did not restart after kill $kills"
done
# let the load run to the end of the quantity against a daemon that stays up
for _ in $(seq 1200); do
	kill -0 "$load_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$load_pid" 2>/dev/null; then
	kill -TERM "$load_pid"
	fail "hsm_load did not finish within 120 s of the last kill"
fi
wait "$load_pid"
load_rc=$?
load_pid=
cat load.out
sed 's/^/  /' load.err
# A client refused for the quantity while the last DACs were still being made durable
# is right to stop; if a kill then lost those in-flight DACs (never handed out), the
# quantity is not quite spent. A second load against the daemon that stays up finishes
# it, appending to the same client log.
"$load" --socket "$sock" --writ "$id" --threads 2 --count "$quantity" --log dacs.log --reconnect-seconds 10 \
	>load2.out 2>load2.err || true
sed 's/^/  top-up: /' load2.out
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=

logged=$(wc -l <dacs.log)
echo "kills while hsm_load ran: $kills; DACs handed out to clients: $logged"
check "hsm_load ended cleanly (exit $load_rc)" test "$load_rc" -eq 0
check "hsm_load was stopped by the quota" grep -Eq 'refused_quota=[1-9]' load.out
check "the daemon was killed mid-work at least $min_kills times ($kills)" test "$kills" -ge "$min_kills"
check "DACs handed out ($logged) <= quantity ($quantity)" test "$logged" -le "$quantity"
check "no device serial twice in the client log" \
	test -z "$(awk '{print $2}' dacs.log | sort | uniq -d)"
check "writ-hsmd verify-journal accepts the journal" "$hsmd" verify-journal --state hsm

# ---- the journal, read by code that is not ours ----
"$py" - hsm/journal dacs.log "$quantity" "$serial_first" >journal.out 2>&1 <<'EOF'
import hashlib, sys
import cbor2

path, log_path, quantity, serial_first = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = open(path, "rb").read()
off, prev, seq, dacs, reissues = 0, bytes(32), 0, [], []
prefix = None
ok = True

def result(good, what):
    global ok
    print(("PASS " if good else "FAIL ") + what)
    ok = ok and good

while off < len(data):
    if off + 4 > len(data):
        result(False, "journal ends inside a frame header at offset %d" % off)
        break
    n = int.from_bytes(data[off:off + 4], "big")
    if n == 0 and not any(data[off:]):
        break  # the zeros reserved after the last frame
    raw, check = data[off + 4:off + 4 + n], data[off + 4 + n:off + 8 + n]
    if len(raw) != n or len(check) != 4 or hashlib.sha256(raw).digest()[:4] != check:
        result(False, "torn or corrupt frame at offset %d" % off)
        break
    e = cbor2.loads(raw)
    if e[1] != seq or e[2] != prev:
        result(False, "chain broken at seq %d" % seq)
        break
    if e[4] == 1:
        prefix = e[5][7]
    elif e[4] == 4:
        dacs.append(e[5])
    elif e[4] == 7:
        reissues.append(e[5])  # a DAC again for a device's same key: no quantity
    prev, seq, off = hashlib.sha256(raw).digest(), seq + 1, off + 8 + n

print("entries=%d dac_entries=%d" % (seq, len(dacs)))
print("DAC_ENTRIES %d" % len(dacs))
result(not reissues, "journal: no reissue entries (every UID of the load is fresh): %d" % len(reissues))
result(len(dacs) <= quantity, "journal DAC entries (%d) <= quantity (%d)" % (len(dacs), quantity))
result(len(dacs) == quantity, "the load ran to the quantity: journal DAC entries == %d" % quantity)
for key, name in ((4, "device serial"), (5, "DAC serial"), (2, "index"), (3, "device UID"), (6, "DAC hash")):
    vals = [d[key] for d in dacs]
    result(len(set(vals)) == len(vals), "journal: every %s is unique" % name)
result(all(0 <= d[2] < quantity and d[4] == serial_first + d[2] for d in dacs),
       "journal: indices inside the quantity, device serial = serial-first + index")
result(prefix is not None and all(len(d[5]) == 12 and d[5][:4] == prefix for d in dacs),
       "journal: DAC serials are 12 bytes under the HSM's serial prefix")
by_hash = {d[6].hex(): d[4] for d in dacs}
missing = bad = 0
for line in open(log_path):
    w = line.split()
    if len(w) != 4 or w[0] != "serial" or w[2] != "sha256":
        bad += 1
    elif by_hash.get(w[3]) != int(w[1]):
        missing += 1
result(bad == 0, "client log lines are whole (%d malformed)" % bad)
result(missing == 0, "every DAC a client received is in the journal with its serial (%d missing)" % missing)
sys.exit(0 if ok else 1)
EOF
sed -n 's/^entries=/journal: entries=/p' journal.out
while read -r word rest; do
	case $word in
	PASS) pass "$rest" ;;
	FAIL) fail "$rest" ;;
	esac
done <journal.out
grep -Evq '^(PASS|FAIL|entries=|DAC_ENTRIES)' journal.out && fail "journal parser: $(cat journal.out)"
journaled=$(sed -n 's/^DAC_ENTRIES //p' journal.out)
journaled=${journaled:-0}
echo "DACs journaled: $journaled; journaled but lost to a kill before the reply: $((journaled - logged))"

# ---- a last restart: the daemon's counts come from the journal; no more than Q ----
start_daemon || die "writ-hsmd did not restart for the final checks"
"$writ" hsm status --socket "$sock" >status.out 2>&1
cat status.out
status_issued=$(sed -n "s/^writ $id .* issued \([0-9]*\) remaining \([0-9]*\).*/\1/p" status.out)
status_remaining=$(sed -n "s/^writ $id .* issued \([0-9]*\) remaining \([0-9]*\).*/\2/p" status.out)
check "status after restart: issued ($status_issued) = journal DAC entries ($journaled)" \
	test "${status_issued:-x}" = "$journaled"
check "status after restart: issued + remaining = quantity" \
	test "$((${status_issued:-0} + ${status_remaining:-0}))" -eq "$quantity"
"$load" --socket "$sock" --writ "$id" --threads 2 --count 10 --log dacs.log >more.out 2>more.err
cat more.out
check "after the quantity, further DACs are refused" grep -Eq '^issued=0 refused_quota=[1-9]' more.out
check "no DAC was logged after the quantity" test "$(wc -l <dacs.log)" -eq "$logged"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=
check "writ-hsmd verify-journal after the final stop" "$hsmd" verify-journal --state hsm

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
