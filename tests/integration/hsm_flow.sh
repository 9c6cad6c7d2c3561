#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The edge HSM's whole life with real SoftHSM tokens: authority and HSM init, PAI
# enrolment, a writ for 5 devices loaded and spent DAC by DAC, the 6th refused; every
# DAC checked by OpenSSL and by `writ matter check-chain`, its subject VID/PID and
# device serial; the journal verified offline after SIGTERM; after a restart the count
# survived and new DACs keep unique certificate serials.
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/tests/integration/hsm_lib.sh"

Q=5
FIRST=1000
hsm_setup

# ---- init and enrolment ----
make_authority auth
check "authority wrote its PAA and the writ-signing public key" -s auth/paa.der -a -s auth/writ-signing.pub.pem
openssl x509 -inform DER -in auth/paa.der -out paa.pem
make_hsm hsm
check "writ-hsmd init wrote the enrolment bundle and the journal" -s hsm/enrolment.cbor -a -s hsm/journal
HSM_ID=$(sed -n 's/^hsm-id //p' hsm/init.out)
check "init printed a 64-hex-digit HSM id" "$(grep -Ec '^[0-9a-f]{64}$' <<<"$HSM_ID")" = 1
certify hsm pai.der
run openssl verify -CAfile paa.pem pai.pem
check "the PAI verifies under the PAA (openssl verify)" "$RC" = 0
ID=$(mint w1.cose "$Q" "$FIRST")
check "mint printed a 32-hex-digit writ id" "$(grep -Ec '^[0-9a-f]{32}$' <<<"$ID")" = 1

# ---- load ----
start_hsmd hsm
run "$WRIT" hsm load --socket hsm/hsmd.sock w1.cose
check "writ hsm load exits 0 and prints the writ id" "$RC:$(cat "$OUT")" = "0:$ID"
check "status before any DAC: issued 0 remaining $Q" "$(counts hsm "$ID")" = "issued 0 remaining $Q"
check_grep "status names the factory" "^factory $FACTORY," "$OUT"
run "$WRIT" hsm load --socket hsm/hsmd.sock w1.cose
check "loading the same writ again is idempotent" "$RC:$(cat "$OUT")" = "0:$ID"

# ---- issue until the quantity is spent ----
dac_serials=()
for ((i = 1; i <= Q; i++)); do
	mkcsr "csr$i.der"
	run "$WRIT" hsm issue --socket hsm/hsmd.sock --writ "$ID" --csr "csr$i.der" --uid "0a0b0c0$i" \
		--out "dac$i.der" --pai-out "pai-out$i.der"
	want=$((FIRST + i - 1))
	if [[ $RC -ne 0 ]]; then
		fail "DAC $i: exit $RC: $(cat "$ERR")"
		continue
	fi
	check "DAC $i: device serial $want, in order" "$(sed -n 's/^serial \([0-9]*\) seq [0-9]*$/\1/p' "$OUT")" = "$want"
	openssl x509 -inform DER -in "dac$i.der" -out "dac$i.pem"
	run openssl verify -CAfile paa.pem -untrusted pai.pem "dac$i.pem"
	check "DAC $i: openssl verify -CAfile paa.pem -untrusted pai.pem" "$RC" = 0
	run "$WRIT" matter check-chain --paa auth/paa.der --pai pai.der --dac "dac$i.der"
	check "DAC $i: writ matter check-chain" "$RC:$(cat "$OUT")" = "0:ok"
	subj=$(openssl x509 -in "dac$i.pem" -noout -subject -nameopt oneline)
	check "DAC $i: subject VID $VID" "$(grep -c "1.3.6.1.4.1.37244.2.1 = $VID" <<<"$subj")" = 1
	check "DAC $i: subject PID $PID" "$(grep -c "1.3.6.1.4.1.37244.2.2 = $PID" <<<"$subj")" = 1
	check "DAC $i: subject CN names device $want" "$(grep -c "CN = lamp DAC $want," <<<"$subj")" = 1
	check "DAC $i: the returned PAI is the enrolled PAI" "$(cmp -s pai.der "pai-out$i.der" && echo same)" = same
	check "DAC $i: the key is the CSR's" \
		"$(openssl x509 -in "dac$i.pem" -noout -pubkey)" = \
		"$(openssl req -inform DER -in "csr$i.der" -noout -pubkey)"
	dac_serials+=("$(openssl x509 -in "dac$i.pem" -noout -serial)")
	check "status after DAC $i" "$(counts hsm "$ID")" = "issued $i remaining $((Q - i))"
done
check "all $Q DAC serial numbers are distinct" "$(printf '%s\n' "${dac_serials[@]}" | sort -u | wc -l)" = "$Q"

mkcsr csr6.der
before=$(snapshot hsm)
expect_refused "DAC $((Q + 1)) is refused: quantity spent" "quantity spent" \
	"$WRIT" hsm issue --socket hsm/hsmd.sock --writ "$ID" --csr csr6.der --uid 0a0b0c06 --out dac6.der
check "no DAC file for the refused request" ! -e dac6.der
check "a refusal changes neither counts nor journal" "$(snapshot hsm)" = "$before"
check "status: issued $Q remaining 0" "$(counts hsm "$ID")" = "issued $Q remaining 0"

# ---- stop, verify the journal offline, restart ----
stop_hsmd hsm TERM
check "writ-hsmd exits 0 on SIGTERM" "$HSMD_RC" = 0
check "the socket is removed on exit" ! -e hsm/hsmd.sock
run "$HSMD" verify-journal --state hsm
# genesis, checkpoint, start, writ, 5 DACs, closing checkpoint
check "verify-journal: exit 0, $((Q + 5)) entries, 2 checkpoints, no torn tail" \
	"$RC:$(grep -c "^journal ok: $((Q + 5)) entries, 2 signed checkpoints, last time [0-9]*$" "$OUT")" = "0:1"

start_hsmd hsm
check_grep "restart replays the journal" "journal verified: $((Q + 5)) entries" hsm/hsmd.log
check "after restart: issued $Q remaining 0" "$(counts hsm "$ID")" = "issued $Q remaining 0"
expect_refused "after restart the writ is still spent" "quantity spent" \
	"$WRIT" hsm issue --socket hsm/hsmd.sock --writ "$ID" --csr csr6.der --uid 0a0b0c06 --out dac6.der
check "no DAC file after the refused request" ! -e dac6.der

# a second writ after the restart: serials continue, certificate serials stay unique
ID2=$(mint w2.cose 2 2000)
must "$WRIT" hsm load --socket hsm/hsmd.sock w2.cose
run "$WRIT" hsm issue --socket hsm/hsmd.sock --writ "$ID2" --csr csr6.der --uid 0a0b0c06 --out dac7.der
check "a second writ issues its first device serial 2000" "$RC:$(cut -d' ' -f1-2 "$OUT")" = "0:serial 2000"
dac_serials+=("$(openssl x509 -inform DER -in dac7.der -noout -serial)")
check "DAC serials stay unique across the restart" "$(printf '%s\n' "${dac_serials[@]}" | sort -u | wc -l)" = $((Q + 1))
run "$WRIT" matter check-chain --paa auth/paa.der --pai pai.der --dac dac7.der
check "the DAC after the restart checks out" "$RC" = 0
check "status of both writs" "$(counts hsm "$ID") / $(counts hsm "$ID2")" = "issued $Q remaining 0 / issued 1 remaining 1"
stop_hsmd hsm TERM
run "$HSMD" verify-journal --state hsm
check "verify-journal after the second run" "$RC" = 0

finish
