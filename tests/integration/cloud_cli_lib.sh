# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the writ-cloud CLI tests (cloud_cli_*.sh); sourced, not run.
#
#   cloud_setup               # workdir (removed at exit), a token file of mode 600
#   run CMD...                # sets RC; $OUT / $ERR are files with stdout / stderr
#   expect_rc "what" RC CMD...  # run, one counted check of the exit status
#   check "what" test-args...   # one counted check ([[ ]]-style arguments via test)
#   check_grep "what" ERE FILE  # one counted check that FILE matches ERE
#   free_port                 # a loopback port with no listener (at that moment)
#   finish                    # prints "N passed, M failed", exit status

set -euo pipefail

: "${WRIT_SRC:?WRIT_SRC must point at the source tree}"
: "${WRIT_BIN:?WRIT_BIN must point at the build bin dir}"
WRIT=$WRIT_BIN/writ
PY=/usr/bin/python3
PASSED=0
FAILED=0
declare -a BG_PIDS=()

_cloud_cleanup()
{
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ -n ${WORK:-} && -d $WORK && ${KEEP_WORKDIR:-0} != 1 ]]; then
		rm -rf "$WORK"
	fi
}

cloud_setup()
{
	[[ -x $WRIT ]] || { echo "FAIL: $WRIT not built" >&2; exit 1; }
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/writ-test-cloud.XXXXXX")
	trap _cloud_cleanup EXIT
	cd "$WORK"
	OUT=$WORK/.out
	ERR=$WORK/.err
	unset WRIT_CLOUD_URL WRIT_CLOUD_TOKEN
	printf 'wc_test-token\n' >token
	chmod 600 token
}

pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }

run()
{
	set +e
	"$@" >"$OUT" 2>"$ERR"
	RC=$?
	set -e
}

expect_rc()
{
	local what=$1 want=$2
	shift 2
	run "$@"
	# under ASan+UBSan a finding could hide behind an expected exit status of 1
	if grep -qE 'Sanitizer|runtime error:' "$ERR"; then
		fail "$what: sanitizer report: $(head -c 2000 "$ERR")"
	elif [[ $RC == "$want" ]]; then
		pass "$what (exit $RC)"
	else
		fail "$what: exit $RC, want $want; stdout: $(head -c 300 "$OUT"); stderr: $(head -c 500 "$ERR")"
	fi
}

check()
{
	local what=$1
	shift
	if test "$@"; then
		pass "$what"
	else
		fail "$what"
	fi
}

check_grep()
{
	if grep -qE -e "$2" "$3"; then
		pass "$1"
	else
		fail "$1: /$2/ not in $(head -c 500 "$3")"
	fi
}

free_port() { $PY "$WRIT_SRC/tests/integration/free_port.py" "${WORK:+$WORK/.ports}"; } # see free_port.py

finish()
{
	echo "$PASSED passed, $FAILED failed"
	[[ $FAILED -eq 0 ]]
}
