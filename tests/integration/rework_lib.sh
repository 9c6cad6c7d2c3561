# SPDX-License-Identifier: Apache-2.0
# Helpers of the rework tests (rework_e2e.sh, rework_refusal.sh), on top of line_lib.sh
# (sourced, not run): a line with real processes (writ authority, writ-hsmd, writ-factory,
# writ-station, writ-devsim) whose production writ carries rework rights, chips
# provisioned and locked by writ-station with the authority's debug-root hash in OTP.
#
#   rework_setup CHIPS [mint args]  # default mint args: --rework debug,reflash
#                                   # sets UIDS[i] (chip i's UID), ROOT_PUB, SB_PUB, HSOCK
#   chip_addr I                     # unix:$WORK/farm/chip-I.sock
#   jnext                           # the HSM's next journal seq
#   challenge I                     # $CHAL: a fresh challenge from chip I
#   token WRIT UID CHAL [args]      # writ hsm debug-token into tok.bin / chain.bin (RC, $OUT)
#   unlock I [TOKEN CHAIN]          # writ chip debug unlock on chip I (RC, $OUT, $ERR)
#   sign_fw VERSION OUT             # fw-VERSION.bin signed with the authority's secure-boot key
source "${WRIT_SRC:?}/tests/integration/line_lib.sh"

declare -a UIDS=()

rework_setup()
{
	local n=$1 i
	shift
	if [[ $# -eq 0 ]]; then
		set -- --rework debug,reflash
	fi
	line_setup "$((n + 2))" "$@"
	HSOCK=$(sock_of hsm)
	start_factory
	enrol station-r R1 r.token
	mes_token
	start_farm farm "$n"
	station r.token --port-dir "$WORK/farm" --once
	if [[ $RC -ne 0 ]]; then
		echo "FAIL (setup): writ-station run exited $RC: $(tail -n 5 "$ERR")" >&2
		exit 1
	fi
	for ((i = 0; i < n; i++)); do
		must "$WRIT" chip status --connect "$(chip_addr "$i")"
		UIDS[i]=$(sed -n 's/^uid //p' "$OUT")
		grep -q '^lifecycle secured$' "$OUT" || { echo "FAIL (setup): chip $i not secured" >&2; exit 1; }
	done
	must "$WRIT" authority pubkey --dir auth --key debug-root
	ROOT_PUB=$(cat "$OUT")
	echo -n "$ROOT_PUB" >root.hex
	must "$WRIT" authority pubkey --dir auth --key secure-boot
	SB_PUB=$(cat "$OUT")
	echo -n "$SB_PUB" >sb.hex
}

chip_addr() { echo "unix:$WORK/farm/chip-$1.sock"; }

jnext()
{
	status hsm
	sed -n 's/.*journal entries \([0-9]*\).*/\1/p' "$OUT"
}

challenge()
{
	must "$WRIT" chip debug challenge --connect "$(chip_addr "$1")"
	CHAL=$(sed -n 's/^challenge //p' "$OUT")
}

token()
{
	local writ=$1 uid=$2 chal=$3
	shift 3
	run "$WRIT" hsm debug-token --socket "$HSOCK" --writ "$writ" --uid "$uid" --challenge "$chal" \
		--perms "${PERMS:-debug}" --out tok.bin --chain-out chain.bin "$@"
}

unlock()
{
	run "$WRIT" chip debug unlock --connect "$(chip_addr "$1")" --root-pub root.hex --chain "${3:-chain.bin}" \
		--token "${2:-tok.bin}"
}

sign_fw()
{
	head -c 200000 /dev/urandom >"fw-$1.bin"
	must "$WRIT" firmware sign --authority auth --version "$1" --in "fw-$1.bin" --out "$2"
}
