# SPDX-License-Identifier: Apache-2.0
# Helpers of the chip-side integration tests, on top of hsm_lib.sh (sourced, not run):
# an authority, an edge HSM with a writ carrying a product secret, a signed firmware
# image, Matter settings, and writ-devsim chips started and stopped by these functions.
#
#   chip_setup [QUANTITY]     # authority + HSM + writ ($WRIT_ID) + firmware + settings
#   start_devsim NAME [--listen SPEC] [args]  # writ-devsim on unix:$WORK/NAME.sock (or
#                             # SPEC: tcp:127.0.0.1:0, pty), state NAME.state
#   stop_devsim NAME [SIG]
#   provision ADDR... [-- extra args]   # writ chip provision with the fixture's recipe
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"

DEVSIM=$WRIT_BIN/writ-devsim
declare -A DEVSIM_PIDS=() DEVSIM_ADDR=()

_chip_cleanup()
{
	local n
	for n in "${!DEVSIM_PIDS[@]}"; do
		kill -KILL "${DEVSIM_PIDS[$n]}" 2>/dev/null || true
		wait "${DEVSIM_PIDS[$n]}" 2>/dev/null || true
	done
	_cleanup
}

chip_setup()
{
	local q=${1:-20}
	hsm_setup
	trap _chip_cleanup EXIT
	[[ -x $DEVSIM ]] || { echo "FAIL: $DEVSIM not built" >&2; exit 1; }
	make_authority auth
	make_hsm hsm
	certify hsm pai.der
	head -c 32 /dev/urandom >ota.key
	WRIT_ID=$(mint w.cose "$q" 1000 --secret ota-key=ota.key)
	start_hsmd hsm
	must "$WRIT" hsm load --socket hsm/hsmd.sock w.cose
	head -c 1048576 /dev/urandom >fw.bin
	FW_VERSION=3
	must "$WRIT" firmware sign --authority auth --version "$FW_VERSION" --in fw.bin --out fw.sig
	must "$WRIT" authority pubkey --dir auth --key secure-boot
	SB_PUB=$(cat "$OUT")
	must "$WRIT" authority pubkey --dir auth --key debug-root --hash
	DBG_HASH=$(cat "$OUT")
	cat >settings.txt <<SET
# product-level Matter data; the line makes serial, passcode, discriminator per device
vendor_id = 0x$VID
product_id = 0x$PID
vendor_name = Acme
product_name = Lamp
mfg_date = 2026-11-23
hw_ver = 1
hw_ver_str = rev-A
SET
}

# start_devsim NAME [--listen SPEC] [writ-devsim args...]: wait (at most 10 s) for its
# "ready" line. SPEC defaults to unix:$WORK/NAME.sock; tcp:127.0.0.1:0 and pty work too.
# DEVSIM_ADDR[NAME] is the address it announced (e.g. tcp:127.0.0.1:PORT, pty:/dev/pts/N).
start_devsim()
{
	local name=$1 listen i
	shift
	listen="unix:$WORK/$name.sock"
	if [[ ${1:-} == --listen ]]; then
		listen=$2
		shift 2
	fi
	rm -f "$WORK/$name.sock" "$WORK/$name.ready"
	"$DEVSIM" --state "$WORK/$name.state" --listen "$listen" "$@" \
		>"$WORK/$name.ready" 2>>"$WORK/$name.log" &
	DEVSIM_PIDS[$name]=$!
	for ((i = 0; i < 200; i++)); do
		if grep -q '^ready ' "$WORK/$name.ready" 2>/dev/null; then
			DEVSIM_ADDR[$name]=$(sed -n 's/^ready //p' "$WORK/$name.ready" | head -n 1)
			return 0
		fi
		kill -0 "${DEVSIM_PIDS[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "writ-devsim $name did not become ready: $(tail -n 3 "$WORK/$name.log")" >&2
	return 1
}

stop_devsim()
{
	local name=$1 sig=${2:-TERM} pid
	pid=${DEVSIM_PIDS[$name]:-}
	[[ -n $pid ]] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "DEVSIM_PIDS[$name]"
}

# provision ADDR... [-- extra args]: run writ chip provision (RC, $OUT, $ERR as run).
provision()
{
	local conn=() extra=()
	while [[ $# -gt 0 && $1 != -- ]]; do conn+=(--connect "$1"); shift; done
	[[ ${1:-} == -- ]] && shift
	extra=("$@")
	run "$WRIT" chip provision "${conn[@]}" --hsm hsm/hsmd.sock --writ "$WRIT_ID" --settings settings.txt \
		--firmware fw.bin --fw-version "$FW_VERSION" --fw-sig fw.sig --sb-pub "$SB_PUB" \
		--debug-root-hash "$DBG_HASH" --secret ota-key --iterations 1000 --records records.jsonl \
		"${extra[@]}"
}
