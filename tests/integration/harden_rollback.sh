#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The rollback attack on the quota (issue 8): snapshot the edge HSM's state directory,
# provision N, restore the snapshot, try again. With `--counter tpm` (a TPM 2.0 NV
# counter, swtpm here as the embedded default) writ-hsmd refuses to serve the restored
# copy, writes nothing to it however often it is restarted, and serves again once the
# real state is back; the counter also survives a TPM restart. With `--counter none` the
# restored copy gives the N units back, as the threat model says: that fallback relies
# on the cloud's fork alert, which tests/integration/factory_sync.sh part D shows (a
# second history for sequence numbers the cloud holds is refused and raised as an
# alert). The daemon runs confined (seccomp) throughout: the TPM's connection is made
# before the filter and used under it.
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/tests/integration/hsm_lib.sh"

for tool in swtpm; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (Debian package swtpm)" >&2; exit 1; }
done
hsm_setup
N=3
Q=5

# ---- swtpm: a software TPM 2.0 with its NV state in a directory ----
SWTPM_PID=
# over Unix sockets: the TCTI connects for each command, and writ-hsmd's filter allows
# AF_UNIX only (a TCP TCTI fails closed: the journal stops, nothing is released)
start_swtpm()
{
	local i
	mkdir -p tpm
	rm -f tpm/sock tpm/sock.ctrl
	swtpm socket --tpm2 --tpmstate dir="$WORK/tpm" --server type=unixio,path="$WORK/tpm/sock" \
		--ctrl type=unixio,path="$WORK/tpm/sock.ctrl" --flags not-need-init,startup-clear >>tpm/swtpm.log 2>&1 &
	SWTPM_PID=$!
	TCTI="swtpm:path=$WORK/tpm/sock"
	for ((i = 0; i < 100; i++)); do
		[[ -S tpm/sock && -S tpm/sock.ctrl ]] && return 0
		sleep 0.05
	done
	echo "FAIL: swtpm did not listen: $(cat tpm/swtpm.log)" >&2
	exit 1
}
stop_swtpm()
{
	[[ -n $SWTPM_PID ]] || return 0
	kill -TERM "$SWTPM_PID" 2>/dev/null || true
	wait "$SWTPM_PID" 2>/dev/null || true
	SWTPM_PID=
}
trap 'stop_swtpm; _cleanup' EXIT
start_swtpm

make_authority auth

# issue_n STATE WRIT FIRST_UID_BYTE COUNT: COUNT DACs; prints how many succeeded
issue_n()
{
	local st=$1 id=$2 u=$3 n=$4 i ok=0
	for ((i = 0; i < n; i++)); do
		mkcsr "$st-csr-$u-$i.der"
		run "$WRIT" hsm issue --socket "$st/hsmd.sock" --writ "$id" --csr "$st-csr-$u-$i.der" \
			--uid "$(printf '%02x0b0c%02x' "$u" "$i")" --out "$st-dac-$u-$i.der"
		[[ $RC -eq 0 ]] && ok=$((ok + 1))
	done
	echo "$ok"
}

# ================= backend tpm =================
must "$HSMD" init --state hsmT --token hsm-tpm --factory "$FACTORY" --oem-key auth/writ-signing.pub.pem \
	--counter tpm --tpm-tcti "$TCTI"
check_grep "init with --counter tpm names the NV counter and its base" '^counter tpm nv 0x01[89ab][0-9a-f]{5} base [0-9]+$' "$OUT"
NV=$(sed -n 's/^counter tpm nv \(0x[0-9a-f]*\) .*/\1/p' "$OUT")
certify hsmT paiT.der
ID=$(ENROL=hsmT/enrolment.cbor PAI=paiT.der mint wT.cose "$Q" 1000)
check "the TCTI is kept in the state directory" "$(cat hsmT/tpm.tcti)" = "$TCTI"

start_hsmd hsmT
check_grep "writ-hsmd anchors its journal in the counter" "tpm: journal anchored in NV counter $NV" hsmT/hsmd.log
if [[ $(nm -D "$WRIT_BIN/writ-hsmd" 2>/dev/null) == *__asan_init* ]]; then
	check_grep "unconfined only because this is an ASan build" "seccomp: not installed: this is an ASan build" hsmT/hsmd.log
else
	check_grep "and runs confined" "seccomp: hsmd allow-list installed" hsmT/hsmd.log
fi
must "$WRIT" hsm load --socket hsmT/hsmd.sock wT.cose
stop_hsmd hsmT TERM

# the attacker's snapshot, taken with the whole quantity still unspent
cp -a hsmT snapT
start_hsmd hsmT
check "provision $N (under the filter, through the TPM)" "$(issue_n hsmT "$ID" 1 "$N")" = "$N"
check "status: issued $N remaining $((Q - N))" "$(counts hsmT "$ID")" = "issued $N remaining $((Q - N))"
stop_hsmd hsmT TERM
check "writ-hsmd stopped cleanly" "$HSMD_RC" = 0

# the attack: restore the snapshot, start again
mv hsmT realT
cp -a snapT hsmT
before=$(sha256sum hsmT/journal | cut -d' ' -f1)
: >hsmT/hsmd.log
if start_hsmd hsmT; then
	fail "writ-hsmd serves a restored state directory with the TPM counter: $(counts hsmT "$ID")"
	stop_hsmd hsmT KILL
else
	check "the restored copy is refused (exit 1)" "$HSMD_RC" = 1
	check_grep "and the log says why: rollback" "tpm: ROLLBACK: the TPM counter says [0-9]+ journal entries were made, the journal holds [0-9]+" hsmT/hsmd.log
fi
for i in 1 2 3 4 5; do
	start_hsmd hsmT 2>/dev/null && { fail "restart $i of the restored copy served"; stop_hsmd hsmT KILL; }
done
check "five more restarts of the restored copy: still refused, its journal unchanged (nothing appended)" \
	"$(sha256sum hsmT/journal | cut -d' ' -f1)" = "$before"
check "no socket was ever opened for it" ! -e hsmT/hsmd.sock

# the index is a TPM counter (only TPM2_NV_Increment moves it; writ-hsmd checks the type),
# as tpm2-tools, an independent client, sees it
if command -v tpm2_nvundefine >/dev/null; then
	run tpm2_nvreadpublic -T "$TCTI" "$NV"
	check_grep "tpm2-tools (an independent client) sees a counter (nt=0x1) at $NV, written" "nt=0x1.*written" "$OUT"
fi

# the real state back: it serves, and the spent units stay spent
rm -rf hsmT
mv realT hsmT
start_hsmd hsmT
check "the real state serves again" -S hsmT/hsmd.sock
check "status after the attack: still issued $N remaining $((Q - N))" "$(counts hsmT "$ID")" = "issued $N remaining $((Q - N))"
check "the rest of the quantity is usable" "$(issue_n hsmT "$ID" 2 2)" = 2
stop_hsmd hsmT TERM

# a TPM restart keeps the counter (NV is non-volatile)
stop_swtpm
start_swtpm
: >hsmT/hsmd.log
start_hsmd hsmT
check "after a TPM restart the journal is still anchored" -S hsmT/hsmd.sock
check_grep "with the counter where it was" "tpm: journal anchored in NV counter $NV" hsmT/hsmd.log
stop_hsmd hsmT TERM

# ================= backend none (the documented fallback) =================
must "$HSMD" init --state hsmN --token hsm-none --factory "$FACTORY" --oem-key auth/writ-signing.pub.pem
check_grep "init without --counter: backend none" '^counter none$' "$OUT"
certify hsmN paiN.der
ID2=$(ENROL=hsmN/enrolment.cbor PAI=paiN.der mint wN.cose "$Q" 2000)
start_hsmd hsmN
must "$WRIT" hsm load --socket hsmN/hsmd.sock wN.cose
check_grep "writ-hsmd says it has no anchor" "rollback anchor: none" hsmN/hsmd.log
stop_hsmd hsmN TERM
cp -a hsmN snapN
start_hsmd hsmN
check "none: provision $N" "$(issue_n hsmN "$ID2" 3 "$N")" = "$N"
stop_hsmd hsmN TERM
rm -rf hsmN
cp -a snapN hsmN
start_hsmd hsmN
check "none: the restored copy serves and gives the $N units back (the attack works locally)" \
	"$(counts hsmN "$ID2")" = "issued 0 remaining $Q"
stop_hsmd hsmN TERM
# what catches it then: the cloud's fork alert on the records (tested there)
check_grep "none: the cloud's fork alert path is tested in factory_sync.sh part D" \
	'fork' "$WRIT_SRC/tests/integration/factory_sync.sh"
finish
