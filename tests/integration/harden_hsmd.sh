#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-hsmd confined (issue 8, least privilege), tested with the real daemon, a real
# SoftHSM token and libseccomp's filter in the kernel, since systemd cannot be PID 1
# here. The daemon runs as `nobody` (a dedicated user, like dist/systemd/writ-hsmd.service)
# and must: still serve DACs under its allow-list; refuse socket(AF_INET/AF_INET6) while
# AF_UNIX works (WRIT_SECCOMP_SELFTEST=inet); show Seccomp: 2 and NoNewPrivs: 1 in
# /proc/PID/status; be non-dumpable (its /proc files belong to root and another
# process of its own user cannot read its environment) with a core limit of 0 and its
# writ table locked in RAM; and die of SIGSYS on a syscall outside the list
# (WRIT_SECCOMP_SELFTEST=kill tries execve). --no-seccomp is the negative control.
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/tests/integration/hsm_lib.sh"

if [[ $(id -u) -ne 0 ]]; then
	echo "FAIL: harden_hsmd runs writ-hsmd as a dedicated user (nobody) and needs root for that" >&2
	exit 1
fi
if ! command -v setpriv >/dev/null; then
	echo "FAIL: setpriv (util-linux) is needed to run writ-hsmd as a dedicated user" >&2
	exit 1
fi
hsm_setup
ASAN=0
if [[ $(nm -D "$HSMD" 2>/dev/null) == *__asan_init* ]]; then
	ASAN=1
fi

make_authority auth
make_hsm hsm
certify hsm pai.der
openssl x509 -inform DER -in auth/paa.der -out paa.pem
ID=$(mint w1.cose 3 1000)

# The dedicated user: nobody owns the state and the token store, root (this script,
# playing the factory service) is allowed on the socket with --allow-uid 0.
chmod 755 "$WORK"
chown -R nobody:nogroup hsm tokens
chmod 644 softhsm2.conf
cat >hsmd-as-nobody <<EOF
#!/bin/sh
exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$WRIT_BIN/writ-hsmd" "\$@"
EOF
chmod 755 hsmd-as-nobody
HSMD=$WORK/hsmd-as-nobody
NOBODY=$(id -u nobody)

# ---- 1. confined, it still serves DACs ----
WRIT_SECCOMP_SELFTEST=inet start_hsmd hsm --allow-uid 0
PID=${HSMD_PIDS[hsm]}
if ((ASAN)); then
	check_grep "ASan build: seccomp is off with a clear message" "seccomp: not installed: this is an ASan build" hsm/hsmd.log
else
	check_grep "writ-hsmd installed its allow-list" "seccomp: hsmd allow-list installed \(outside it: the process is killed\)" hsm/hsmd.log
fi
run "$WRIT" hsm load --socket hsm/hsmd.sock w1.cose
check "a writ loads under the filter" "$RC:$(cat "$OUT")" = "0:$ID"
for i in 1 2; do
	mkcsr "csr$i.der"
	run "$WRIT" hsm issue --socket hsm/hsmd.sock --writ "$ID" --csr "csr$i.der" --uid "0a0b0c0$i" \
		--out "dac$i.der" --pai-out "pai-out$i.der"
	check "DAC $i issued under the filter" "$RC" = 0
	openssl x509 -inform DER -in "dac$i.der" -out "dac$i.pem" 2>/dev/null || true
	run openssl verify -CAfile paa.pem -untrusted pai.pem "dac$i.pem"
	check "DAC $i verifies under PAA and PAI (openssl)" "$RC" = 0
done
check "status after 2 DACs: issued 2 remaining 1" "$(counts hsm "$ID")" = "issued 2 remaining 1"
run "$WRIT" hsm checkpoint --socket hsm/hsmd.sock
check "a checkpoint is written under the filter (journal fsync path)" "$RC" = 0

# ---- 2. no network: socket(AF_INET) refused inside the process, AF_UNIX allowed ----
if ((ASAN)); then
	echo "skip: AF_INET refusal (no filter in an ASan build)"
else
	check_grep "socket(AF_INET) is refused in writ-hsmd (EPERM)" \
		"seccomp self-test: socket\(AF_INET\) refused: Operation not permitted \(errno 1\)" hsm/hsmd.log
	check_grep "socket(AF_INET6) is refused in writ-hsmd (EPERM)" \
		"seccomp self-test: socket\(AF_INET6\) refused: Operation not permitted \(errno 1\)" hsm/hsmd.log
fi
check_grep "socket(AF_UNIX) still works" "seccomp self-test: socket\(AF_UNIX\) allowed" hsm/hsmd.log

# ---- 3. /proc/PID/status: seccomp filter mode, no_new_privs; not dumpable ----
st=/proc/$PID/status
check "writ-hsmd runs as the dedicated user" "$(awk '/^Uid:/ {print $2}' "$st")" = "$NOBODY"
if ((ASAN)); then
	echo "skip: Seccomp: 2 (no filter in an ASan build)"
else
	check "/proc/PID/status: Seccomp: 2 (filter mode)" "$(awk '/^Seccomp:/ {print $2}' "$st")" = 2
	check "/proc/PID/status: NoNewPrivs: 1" "$(awk '/^NoNewPrivs:/ {print $2}' "$st")" = 1
fi
# A non-dumpable process's /proc/PID files belong to root, and its own uid may not
# read its memory or environment; a dumpable process of the same user is the control.
check "non-dumpable: /proc/PID/environ belongs to root, not to the daemon's user" \
	"$(stat -c %U "/proc/$PID/environ")" = root
setpriv --reuid=nobody --regid=nogroup --clear-groups -- sleep 30 &
CTL=$!
# read it once setpriv has changed user and exec'd sleep (until the exec, a process
# whose uid just changed is not dumpable either, and the control would fail)
ctl_ready() { [[ $(cat "/proc/$CTL/comm" 2>/dev/null) == sleep && $(awk '/^Uid:/ {print $2}' "/proc/$CTL/status" 2>/dev/null) == "$NOBODY" ]]; }
wait_for 10 ctl_ready || fail "the control (sleep as nobody) did not start within 10 s"
run setpriv --reuid=nobody --regid=nogroup --clear-groups -- cat "/proc/$CTL/environ"
check "control: the same user reads a dumpable process's environ" "$RC" = 0
run setpriv --reuid=nobody --regid=nogroup --clear-groups -- cat "/proc/$PID/environ"
check "the same user cannot read writ-hsmd's environ (holds WRIT_HSM_PIN)" "$RC" != 0
kill "$CTL" 2>/dev/null || true
wait "$CTL" 2>/dev/null || true
check "/proc/PID/limits: no core files (RLIMIT_CORE 0)" \
	"$(awk '/^Max core file size/ {print $5 "/" $6}' "/proc/$PID/limits")" = "0/0"
vmlck=$(awk '/^VmLck:/ {print $2}' "$st")
if ((ASAN)); then
	echo "skip: VmLck (AddressSanitizer turns mlock into a no-op)"
else
	check "the writ table and PIN buffers are locked in RAM (VmLck ${vmlck} kB)" "${vmlck:-0}" -gt 0
fi
stop_hsmd hsm TERM
check "writ-hsmd exits 0 on SIGTERM under the filter" "$HSMD_RC" = 0
run "$WRIT_BIN/writ-hsmd" verify-journal --state hsm
check "its journal verifies after the confined run" "$RC" = 0

# ---- 4. a syscall outside the list kills the process ----
if ((ASAN)); then
	echo "skip: SIGSYS kill (no filter in an ASan build)"
else
	: >hsm/hsmd.log
	if WRIT_SECCOMP_SELFTEST=kill start_hsmd hsm --allow-uid 0; then
		fail "writ-hsmd survived execve under its filter"
		stop_hsmd hsm KILL
	else
		check "execve under the filter: killed by SIGSYS (exit 128+31)" "$HSMD_RC" = 159
		check_grep "the self-test reached execve" "calling execve" hsm/hsmd.log
		check "execve did not return" "$(grep -c 'execve returned' hsm/hsmd.log)" = 0
	fi
fi

# ---- 5. negative control: --no-seccomp leaves the process unconfined ----
: >hsm/hsmd.log
WRIT_SECCOMP_SELFTEST=inet start_hsmd hsm --allow-uid 0 --no-seccomp
check "--no-seccomp: Seccomp: 0" "$(awk '/^Seccomp:/ {print $2}' "/proc/${HSMD_PIDS[hsm]}/status")" = 0
check_grep "--no-seccomp says so in the log" "seccomp: not installed \(--no-seccomp\)" hsm/hsmd.log
check_grep "--no-seccomp: socket(AF_INET) is allowed (the control)" "seccomp self-test: socket\(AF_INET\) allowed" hsm/hsmd.log
stop_hsmd hsm TERM
finish
