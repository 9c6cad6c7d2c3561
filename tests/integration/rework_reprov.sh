#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Re-provisioning with real processes (rework_reprov.sh CASE; each CASE its own CTest test,
# label "debug"): a writ-devsim chip provisioned and locked by writ-station under a
# production writ (rework_lib.sh); a rework writ with reprovision rights (which grant
# issue-dac) loaded at the HSM; `writ-station rework --op reprovision` unlocks the chip
# with REPROVISION, has it make new keys, gets a DAC for the new key from writ-factory
# (POST /v1/rework/{writ}/dac: the HSM's op 2 under the rework writ), stores chain and
# the version's factory data, locks and records.
#   e2e         new DAC for a new on-chip key, same serial, verifies under the PAI; the
#               production quantity unchanged; the rework limit counted; the chip secured
#               again; the JT_REPROVISION entry; the rework-reprov record
#   no_bit      an unlock without REPROVISION: the chip refuses key generation
#   no_issue    a rework writ without issue-dac (debug rights only): the factory's DAC
#               endpoint refuses (409 scope), the HSM journals nothing
#   never_made  a device this HSM never made: refused (409 scope, "never certified")
#   spent       rights spent: the DAC is refused (409 quota), the chip keeps its chain
source "${WRIT_SRC:?}/tests/integration/rework_lib.sh"

CASE=${1:?usage: rework_reprov.sh CASE}

# rework_writ OUT PERMS [args]: a rework writ loaded at the HSM; prints its id.
rework_writ()
{
	local out=$1 perms=$2
	shift 2
	must "$WRIT" authority rework --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp \
		--vid "$VID" --pid "$PID" --rework "$perms" --out "$out" "$@"
	sed -n 's/^\([0-9a-f]\{32\}\)$/\1/p' "$OUT" | head -n 1
	must "$WRIT" hsm load --socket "$HSOCK" "$out"
}

# reprov I WRIT [args]: writ-station rework --op reprovision on chip I.
reprov()
{
	local i=$1 writ=$2
	shift 2
	run "$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr "$i")" \
		--device "${UIDS[$i]}" --debug-root-pub root.hex --op reprovision --writ "$writ" --session 120 "$@"
}

# chip_chain I DIR: the chip's DAC and PAI into DIR
chip_chain()
{
	mkdir -p "$2"
	must "$WRIT" chip chain --connect "$(chip_addr "$1")" --cert-dir "$2"
}

cn_of() { openssl x509 -inform DER -in "$1" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p'; }
pub_of() { openssl x509 -inform DER -in "$1" -noout -pubkey | sha256sum | cut -c1-64; }
sha_of() { sha256sum "$1" | cut -c1-64; }

case $CASE in
e2e)
	rework_setup 1
	UID0=${UIDS[0]}
	chip_chain 0 before
	RP=$(rework_writ rp.cose debug,reprovision --rework-limit 4)
	check "a rework writ loaded" -n "$RP"
	q0=$(counts hsm "$WRIT_ID")
	j0=$(jnext)
	reprov 0 "$RP"
	check "writ-station rework --op reprovision exits 0 ($(tail -n 3 "$ERR"))" "$RC" = 0
	for s in chip challenge token unlock keys dac stored reprov lock record; do
		check_grep "a progress line for $s" " $s " "$ERR"
	done
	serial=$(sed -n 's/.* serial=\([0-9]*\) .*/\1/p' "$OUT")
	dsha=$(sed -n 's/.* dac_sha256=\([0-9a-f]*\) .*/\1/p' "$OUT")
	dseq=$(sed -n 's/.* dac_hsm_seq=\([0-9]*\) .*/\1/p' "$OUT")
	tseq=$(sed -n 's/.* hsm_seq=\([0-9]*\) serial=.*/\1/p' "$OUT")
	check_grep "the summary names the production writ and new onboarding codes" \
		"production_writ=$WRIT_ID qr=MT:[0-9A-Z.-]+ manual=[0-9]+$" "$OUT"
	# the chip: a new DAC for a new key, the same serial, under the PAI; secured, locked
	chip_chain 0 after
	D0=before/$UID0.dac.der
	D1=after/$UID0.dac.der
	check "the chip holds a new DAC" "$(sha_of "$D1")" != "$(sha_of "$D0")"
	check "... the one writ-factory gave (sha256)" "$(sha_of "$D1")" = "$dsha"
	check "... for a new key (made on the chip)" "$(pub_of "$D1")" != "$(pub_of "$D0")"
	check "... with the same device serial ($(cn_of "$D1"))" "$(cn_of "$D1")" = "$(cn_of "$D0")"
	check "... the serial the station reported" "$(cn_of "$D1")" = "lamp DAC $serial"
	openssl x509 -inform DER -in after/pai.der -out pai.pem
	openssl x509 -inform DER -in "$D1" -out dac1.pem
	run openssl verify -partial_chain -CAfile pai.pem dac1.pem
	check "... which verifies under the PAI ($(cat "$OUT" "$ERR" | head -c 200))" "$RC" = 0
	check "... the same PAI" "$(sha_of after/pai.der)" = "$(sha_of before/pai.der)"
	must "$WRIT" chip status --connect "$(chip_addr 0)"
	check_grep "the chip is secured again" '^lifecycle secured$' "$OUT"
	check_grep "and debug-locked, provisioned" '^state keys,chain,factory-data,secret,firmware,otp,locked$' "$OUT"
	must "$WRIT" chip debug status --connect "$(chip_addr 0)"
	check_grep "debug locked" '^debug locked$' "$OUT"
	run "$WRIT" chip keys --connect "$(chip_addr 0)"
	check "after the lock the chip refuses new keys" "$RC" = 1
	check_grep "... LOCKED, naming REPROVISION" 'LOCKED.*REPROVISION' "$ERR"
	# the HSM: quantity unchanged, two units of the rework rights (token, DAC)
	check "production quantity unchanged ($q0)" "$(counts hsm "$WRIT_ID")" = "$q0"
	status hsm
	check_grep "the rework writ's limit counted the token and the DAC (2 of 4)" "^writ $RP .* rework 2/4 " "$OUT"
	must "$WRIT" hsm journal --socket "$HSOCK" --since "$j0"
	check "two journal entries: JT_DEBUG then JT_REPROVISION" \
		"$(awk '{printf "%s %s;", $1, $2}' "$OUT")" = "$tseq type=8;$dseq type=9;"
	# the record
	records
	/usr/bin/python3 - "$WORK/records.jsonl" "$UID0" "$RP" "$tseq" <<'PY' >rec.out 2>&1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rw = [r for r in recs if r["step"] == "rework-reprov"]
r = rw[-1] if rw else {}
print("n", len(rw))
print("fields", r.get("operation"), r.get("result"), r.get("uid") == sys.argv[2], r.get("writ") == sys.argv[3],
      r.get("hsm_seq") == int(sys.argv[4]), r.get("device_serial"), r.get("dac_sha256"))
print("production", sum(1 for x in recs if x["operation"] == "provision"))
PY
	check "one rework-reprov record" "$(sed -n 's/^n //p' rec.out)" = 1
	check "its fields: rework, ok, uid, rework writ, the token's seq, serial, the new DAC's sha256" \
		"$(sed -n 's/^fields //p' rec.out)" = "rework ok True True True $serial $dsha"
	check "still one production record" "$(sed -n 's/^production //p' rec.out)" = 1
	# a debug rework afterwards still unlocks (the chip kept its product)
	run "$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr 0)" --device "$UID0" \
		--debug-root-pub root.hex --op debug --writ "$RP" --session 30
	check "a later debug rework unlocks the re-provisioned chip ($(tail -n 2 "$ERR"))" "$RC" = 0
	check "no sanitizer report from writ-factory" "$(grep -c '==[0-9]*==ERROR\|runtime error' fac/factory.log)" = 0
	;;
no_bit)
	rework_setup 1
	RP=$(rework_writ rp.cose debug,reprovision)
	challenge 0
	PERMS=debug token "$RP" "${UIDS[0]}" "$CHAL" --session 60
	check "a DEBUG-only token under the rework writ" "$RC" = 0
	unlock 0
	check "the chip unlocks with DEBUG only" "$RC" = 0
	chip_chain 0 before
	run "$WRIT" chip keys --connect "$(chip_addr 0)"
	check "an unlock without REPROVISION: the chip refuses key generation" "$RC" = 1
	check_grep "... LOCKED, naming REPROVISION ($(head -c 150 "$ERR"))" 'LOCKED.*REPROVISION' "$ERR"
	chip_chain 0 after
	check "... and keeps its DAC" "$(sha_of "after/${UIDS[0]}.dac.der")" = "$(sha_of "before/${UIDS[0]}.dac.der")"
	# the station never asks an unlock without the permission for --op reprovision
	run "$STATION" rework --factory "$FACTORY_URL" --token-file r.token --port "$(chip_addr 0)" \
		--device "${UIDS[0]}" --debug-root-pub root.hex --op reprovision --perms debug
	check "writ-station: --op reprovision with --perms debug is a usage error" "$RC" = 2
	;;
no_issue)
	rework_setup 1
	RD=$(rework_writ rd.cose debug)
	chip_chain 0 before
	j0=$(jnext)
	reprov 0 "$RD" --perms debug,9
	check "a rework writ with debug rights only: exit 1" "$RC" = 1
	check_grep "the HSM refuses the permission beyond the rights (nothing signed)" 'beyond' "$ERR"
	check "nothing journalled" "$(jnext)" = "$j0"
	# the factory's DAC endpoint directly: the writ does not allow DAC issuance
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj "/CN=x" \
		-outform DER -out x.csr 2>/dev/null
	body="{\"uid\":\"${UIDS[0]}\",\"csr\":\"$(base64 -w0 x.csr)\"}"
	code=$(curl -s -o d.json -w '%{http_code}' -H "Authorization: Bearer $(cat r.token)" \
		-H 'Content-Type: application/json' -d "$body" "$FACTORY_URL/v1/rework/$RD/dac")
	check "POST /v1/rework/{debug-only writ}/dac -> 409 ($(cat d.json))" "$code" = 409
	check_grep "... code scope, the HSM's reason" '"code":"scope".*DAC issuance|DAC issuance.*"code":"scope"' d.json
	code=$(curl -s -o d.json -w '%{http_code}' -H "Authorization: Bearer $(cat r.token)" \
		-H 'Content-Type: application/json' -d "$body" "$FACTORY_URL/v1/rework/$WRIT_ID/dac")
	check "POST /v1/rework/{production writ}/dac -> 400 mismatch ($(cat d.json))" "$code" = 400
	check "nothing journalled" "$(jnext)" = "$j0"
	status hsm
	check_grep "no rework unit spent" "^writ $RD .* rework 0/" "$OUT"
	;;
never_made)
	rework_setup 1
	RP=$(rework_writ rp.cose debug,reprovision)
	j0=$(jnext)
	OTHER=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj "/CN=$OTHER" \
		-outform DER -out x.csr 2>/dev/null
	body="{\"uid\":\"$OTHER\",\"csr\":\"$(base64 -w0 x.csr)\"}"
	code=$(curl -s -o d.json -w '%{http_code}' -H "Authorization: Bearer $(cat r.token)" \
		-H 'Content-Type: application/json' -d "$body" "$FACTORY_URL/v1/rework/$RP/dac")
	check "a device this HSM never made -> 409 ($(cat d.json))" "$code" = 409
	check_grep "... scope: never certified by this HSM" '"code":"scope"' d.json
	check_grep "... the HSM's reason" 'never certified' d.json
	check "nothing journalled" "$(jnext)" = "$j0"
	status hsm
	check_grep "no rework unit spent" "^writ $RP .* rework 0/" "$OUT"
	;;
spent)
	rework_setup 1
	RP=$(rework_writ rp.cose debug,reprovision --rework-limit 3)
	reprov 0 "$RP"
	check "the first re-provisioning (2 of 3 units) ($(tail -n 2 "$ERR"))" "$RC" = 0
	chip_chain 0 before
	j0=$(jnext)
	reprov 0 "$RP"
	check "the second: the token takes the last unit, the DAC is refused: exit 1" "$RC" = 1
	check_grep "it says the rights are spent and what to do" 'spent.*ask the OEM for new rights' "$ERR"
	check "one entry journalled (the token), no DAC" "$(jnext)" = "$((j0 + 1))"
	status hsm
	check_grep "the rights are spent (3 of 3)" "^writ $RP .* rework 3/3 " "$OUT"
	must "$WRIT" chip status --connect "$(chip_addr 0)"
	check_grep "the chip is debug-locked, secured" '^lifecycle secured$' "$OUT"
	check_grep "... with its chain and factory data" '^state keys,chain,factory-data,secret,firmware,otp,locked$' "$OUT"
	records
	check_grep "a failed rework-reprov record names the reason" '"reason":"re-provisioning failed.*spent.*"result":"failed".*"step":"rework-reprov"' records.jsonl
	reprov 0 "$RP"
	check "a third: the token is refused (rights spent): exit 1" "$RC" = 1
	check_grep "... nothing signed" 'did not give a token' "$ERR"
	;;
*)
	echo "rework_reprov.sh: unknown case $CASE" >&2
	exit 2
	;;
esac
finish
