# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the edge-HSM integration tests (hsm_*.sh); sourced, not run.
# Each test gets a throw-away directory with its own SoftHSM2 token store, runs the
# real `writ` CLI and `writ-hsmd` from $WRIT_BIN, and counts its checks. Every wait
# is bounded; daemons started here are stopped (by pid) when the script exits.
#
# The edge HSM's PKCS#11 backend is chosen by WRIT_TEST_P11 (the authority always uses
# SoftHSM: it is the OEM's side, not writ-hsmd's):
#   softhsm (default)  SoftHSM2, tokens in $WORK/tokens
#   tpm2               tpm2-pkcs11 (Debian libtpm2-pkcs11-1) over a private swtpm started
#                      for the test (state in $WORK/tpm, a Unix socket), its store (SQLite)
#                      in $WORK/p11store. tpm2-pkcs11 keeps keys loaded and a TPM holds
#                      three transient objects, so it needs a resource manager: a private
#                      tpm2-abrmd on a private D-Bus session bus ($WORK/bus), reached with
#                      the TCTI tabrmd:bus_type=session (AF_UNIX only: writ-hsmd's seccomp
#                      filter refuses TCP). Straight to swtpm (swtpm:path=...) the 2nd
#                      key fails: "out of memory for object contexts".
#                      Tokens are created with C_InitToken, which tpm2-pkcs11 supports
#                      (no tpm2_ptool needed).
#
#   source "$WRIT_SRC/tests/integration/hsm_lib.sh"
#   hsm_setup                   # workdir, SoftHSM, PINs; cd into the workdir
#   make_authority auth         # writ authority init
#   make_hsm hsm [token]        # writ-hsmd init (factory acme-sz1), enrolment in hsm/
#   start_hsmd hsm [args]       # serve in the background, wait for the socket
#   run CMD...                  # sets RC, and $OUT / $ERR hold stdout / stderr
#   check "what" test-args...   # one counted check ([[ ]]-style arguments via test)
#   check_grep "what" ERE FILE  # one counted check that FILE matches ERE
#   free_port, wait_for S CMD   # a free loopback port; poll CMD for up to S seconds
#   finish                      # prints "N passed, M failed", exit status

set -euo pipefail

: "${WRIT_SRC:?WRIT_SRC must point at the source tree}"
: "${WRIT_BIN:?WRIT_BIN must point at the build bin dir}"
WRIT=$WRIT_BIN/writ
HSMD=$WRIT_BIN/writ-hsmd
FACTORY=acme-sz1
VID=FFF1
PID=8000

# shellcheck source=scripts/softhsm-env.sh
source "$WRIT_SRC/scripts/softhsm-env.sh"

PASSED=0
FAILED=0
declare -A HSMD_PIDS=()


_cleanup()
{
	local st pid
	for st in "${!HSMD_PIDS[@]}"; do
		pid=${HSMD_PIDS[$st]}
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	stop_swtpm
	if [[ -n ${WORK:-} && -d $WORK && ${KEEP_WORKDIR:-0} != 1 ]]; then
		rm -rf "$WORK"
	fi
}

hsm_setup()
{
	local tool
	for tool in "$WRIT" "$HSMD"; do
		if [[ ! -x $tool ]]; then
			echo "FAIL: $tool not built" >&2
			exit 1
		fi
	done
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/writ-test-hsm.XXXXXX")
	trap _cleanup EXIT
	cd "$WORK"
	writ_softhsm_env "$WORK"
	hsm_backend_setup
	writ_test_pins
	OUT=$WORK/.out
	ERR=$WORK/.err
	# shellcheck disable=SC2034 # for the test scripts
	NOW=$(date +%s)
}

# ---- the PKCS#11 backend of writ-hsmd: p11_backend.sh ----
# shellcheck source=tests/integration/p11_backend.sh
source "$WRIT_SRC/tests/integration/p11_backend.sh"

pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# check DESCRIPTION TEST-ARGS...: one counted check; the arguments are given to `test`.
check()
{
	local what=$1
	shift
	if test "$@"; then pass "$what"; else fail "$what [test $*]"; fi
}

# check_grep DESCRIPTION ERE FILE: one counted check that FILE has a line matching ERE.
check_grep()
{
	if grep -Eq -- "$2" "$3"; then pass "$1"; else fail "$1: /$2/ not in $3: $(tail -n 5 "$3")"; fi
}

# free_port: a TCP port on 127.0.0.1 that nothing holds right now, below the ephemeral
# range (so no outgoing connection gets it before the daemon binds it) and not handed
# out before in this test (free_port.py).
free_port() { /usr/bin/python3 "$WRIT_SRC/tests/integration/free_port.py" "${WORK:+$WORK/.ports}"; }

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds (0) or SECONDS pass (1).
wait_for()
{
	local n=$(($1 * 10)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# run CMD...: run a command that may fail; RC is its exit code, $OUT / $ERR its output.
run()
{
	RC=0
	"$@" >"$OUT" 2>"$ERR" || RC=$?
}

# must CMD...: a setup step that has to succeed; aborts the script otherwise.
must()
{
	run "$@"
	if [[ $RC -ne 0 ]]; then
		echo "FAIL (setup): $* exited $RC" >&2
		cat "$ERR" >&2
		exit 1
	fi
}

# expect_refused DESCRIPTION WORDS CMD...: exit code 1 and WORDS (an extended regex,
# case-insensitive) on stderr.
expect_refused()
{
	local what=$1 words=$2
	shift 2
	run "$@"
	if [[ $RC -ne 1 ]]; then
		fail "$what: exit $RC, want 1; stderr: $(head -c 400 "$ERR")"
	elif ! grep -Eqi -- "$words" "$ERR"; then
		fail "$what: stderr lacks /$words/: $(head -c 400 "$ERR")"
	else
		pass "$what ($(head -n 1 "$ERR" | cut -c1-140))"
	fi
}

finish()
{
	echo "$PASSED passed, $FAILED failed"
	[[ $FAILED -eq 0 && $PASSED -gt 0 ]]
}

# ---- fixtures ----

# make_authority DIR [TOKEN]
make_authority()
{
	local dir=$1 token=${2:-writ-authority}
	must "$WRIT" authority init --dir "$dir" --vid "$VID" --token "$token"
}

# make_hsm STATE [TOKEN [FACTORY [AUTHDIR]]]: initialise an HSM pinned to AUTHDIR's key.
make_hsm()
{
	local st=$1 token=${2:-writ-hsm} factory=${3:-$FACTORY} auth=${4:-auth}
	local mod=()
	mapfile -t mod < <(hsm_module_args)
	must "$HSMD" init --state "$st" --token "$token" --factory "$factory" --oem-key "$auth/writ-signing.pub.pem" \
		"${mod[@]}"
	cp "$OUT" "$st/init.out"
}

# certify STATE OUT.der [AUTHDIR]: the authority certifies STATE's PAI; also writes OUT.pem
certify()
{
	local st=$1 out=$2 auth=${3:-auth}
	must "$WRIT" authority certify --dir "$auth" --enrolment "$st/enrolment.cbor" --vid "$VID" --out "$out"
	openssl x509 -inform DER -in "$out" -out "${out%.der}.pem"
}

# mint OUT.cose QUANTITY SERIAL_FIRST [extra mint args...]: prints the writ id.
# Defaults: authority auth, HSM hsm, PAI pai.der; override with AUTH= ENROL= PAI=.
mint()
{
	local out=$1 q=$2 first=$3
	shift 3
	must "$WRIT" authority mint --dir "${AUTH:-auth}" --enrolment "${ENROL:-hsm/enrolment.cbor}" \
		--pai "${PAI:-pai.der}" --product lamp --vid "$VID" --pid "$PID" --quantity "$q" \
		--serial-first "$first" --out "$out" "$@"
	cat "$OUT"
}

# mkcsr OUT.der [openssl -newkey args...]: a fresh CSR (default EC P-256).
mkcsr()
{
	local out=$1
	shift
	if [[ $# -eq 0 ]]; then
		set -- -newkey ec -pkeyopt ec_paramgen_curve:P-256
	fi
	openssl req -new "$@" -nodes -keyout /dev/null -subj /CN=device -outform DER -out "$out" 2>/dev/null
}

# flip_byte FILE OFFSET [XOR]: XOR one byte in place (default 0xff).
flip_byte()
{
	local f=$1 off=$2 x=${3:-255} b
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is one octal escape
	printf "$(printf '\\%03o' $(((b ^ x) & 255)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# ---- the daemon ----

sock_of() { echo "$1/hsmd.sock"; }

# start_hsmd STATE [serve args...]: start writ-hsmd serve, log to STATE/hsmd.log, wait
# (at most 10 s; HSMD_START_TICKS / 20 s) for its socket. Returns non-zero if it exits or never listens; its
# exit code is then in HSMD_RC.
start_hsmd()
{
	local st=$1 i pid
	shift
	rm -f "$st/hsmd.sock"
	"$HSMD" serve --state "$st" "$@" >>"$st/hsmd.log" 2>&1 &
	pid=$!
	HSMD_PIDS[$st]=$pid
	HSMD_RC=
	for ((i = 0; i < ${HSMD_START_TICKS:-200}; i++)); do
		if [[ -S $st/hsmd.sock ]]; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			HSMD_RC=0
			wait "$pid" || HSMD_RC=$?
			unset "HSMD_PIDS[$st]"
			echo "writ-hsmd for $st exited ($HSMD_RC) before listening: $(tail -n 2 "$st/hsmd.log")" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "writ-hsmd for $st did not listen within $((${HSMD_START_TICKS:-200} / 20)) s" >&2
	return 1
}

# stop_hsmd STATE [SIGNAL]: signal the daemon (default TERM) and wait at most 10 s for it
# to exit; then SIGKILL. HSMD_RC is its exit status.
stop_hsmd()
{
	local st=$1 sig=${2:-TERM} pid i
	pid=${HSMD_PIDS[$st]:-}
	[[ -n $pid ]] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "writ-hsmd for $st ignored SIG$sig for 10 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	HSMD_RC=0
	wait "$pid" 2>/dev/null || HSMD_RC=$?
	unset "HSMD_PIDS[$st]"
}

# status STATE: `writ hsm status` into $OUT (must succeed).
status() { must "$WRIT" hsm status --socket "$(sock_of "$1")"; }

# counts STATE WRIT-ID: prints "issued N remaining M" for one writ, or nothing.
counts()
{
	status "$1"
	sed -n "s/^writ $2 .* issued \([0-9]*\) remaining \([0-9]*\) .*/issued \1 remaining \2/p" "$OUT"
}

# snapshot STATE: the whole status text (journal length and every writ's counts).
snapshot() { status "$1"; cat "$OUT"; }
