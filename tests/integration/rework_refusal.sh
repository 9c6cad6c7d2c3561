#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One refusal of secure debug per run (rework_refusal.sh CASE; each CASE is its own CTest
# test), with real processes: a chip provisioned and locked by writ-station under a
# production writ with rework rights (rework_lib.sh), the HSM side through
# `writ hsm debug-token`, the chip side through `writ chip debug unlock` with files.
# Every HSM refusal journals nothing (the journal's next seq is unchanged); every chip
# refusal leaves the chip debug-locked. docs/device-protocol.md maps the ADAC conformance
# scenarios to these cases.
source "${WRIT_SRC:?}/tests/integration/rework_lib.sh"

CASE=${1:?usage: rework_refusal.sh CASE}

# hsm_refuses WHAT WORDS WRIT UID CHAL [debug-token args]: exit 1, WORDS in the reason,
# nothing journalled, no token file written.
hsm_refuses()
{
	local what=$1 words=$2 j
	shift 2
	j=$(jnext)
	rm -f tok.bin chain.bin
	token "$@"
	if [[ $RC -ne 1 ]]; then
		fail "$what: exit $RC, want 1: $(head -c 300 "$ERR")"
	elif ! grep -Eqi -- "$words" "$ERR"; then
		fail "$what: stderr lacks /$words/: $(head -c 300 "$ERR")"
	else
		pass "$what ($(head -n 1 "$ERR" | cut -c1-150))"
	fi
	check "$what: nothing journalled (next seq $j)" "$(jnext)" = "$j"
	check "$what: no token released" ! -e tok.bin
}

# token_ok WRIT UID CHAL [args]: the HSM signs; exactly one JT_DEBUG entry more.
token_ok()
{
	local j
	j=$(jnext)
	token "$@"
	if [[ $RC -ne 0 ]]; then
		echo "FAIL (setup): writ hsm debug-token: $(cat "$ERR")" >&2
		exit 1
	fi
	check "the HSM journalled the signed token (one entry)" "$(jnext)" = "$((j + 1))"
}

# chip_refuses WHAT WORDS I [TOKEN CHAIN]: writ chip debug unlock on chip I refused with
# WORDS in the chip's detail; the chip stays debug-locked.
chip_refuses()
{
	local what=$1 words=$2 i=$3
	shift 3
	unlock "$i" "$@"
	if [[ $RC -eq 0 ]]; then
		fail "$what: the chip unlocked: $(cat "$OUT")"
	elif ! grep -Eqi -- "$words" "$ERR"; then
		fail "$what: stderr lacks /$words/: $(head -c 300 "$ERR")"
	else
		pass "$what ($(head -n 1 "$ERR" | cut -c1-150))"
	fi
	must "$WRIT" chip debug status --connect "$(chip_addr "$i")"
	check_grep "$what: chip $i still debug-locked" '^debug locked$' "$OUT"
}

unlock_ok()
{
	unlock "$@"
	if [[ $RC -ne 0 ]]; then
		echo "FAIL (setup): writ chip debug unlock: $(cat "$ERR")" >&2
		exit 1
	fi
	must "$WRIT" chip debug lock --connect "$(chip_addr "$1")"
}

RANDOM_UID=$(head -c 16 /dev/urandom | xxd -p)
OTHER_UID=$(head -c 16 /dev/urandom | xxd -p)

case $CASE in
other_device)
	rework_setup 2
	hsm_refuses "HSM: a device it never certified" "never certified" "$WRIT_ID" "$RANDOM_UID" "$(printf '%064d' 0)"
	challenge 1
	token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL" # chip 0's UID, chip 1's challenge
	chip_refuses "chip: a token for another device" "another device" 1
	;;
replay)
	rework_setup 1
	challenge 0
	token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	unlock_ok 0
	chip_refuses "chip: the same token again" "replayed" 0
	challenge 0
	chip_refuses "chip: the same token after a new challenge" "replayed" 0
	;;
stale_challenge)
	rework_setup 1
	challenge 0
	token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	cp tok.bin tok1.bin
	challenge 0 # supersedes the one the token is for
	C2=$CHAL
	chip_refuses "chip: a token for a superseded challenge" "stale challenge" 0 tok1.bin
	# ADAC S_ADAC_006: the refused attempt used up the newest challenge as well
	token_ok "$WRIT_ID" "${UIDS[0]}" "$C2"
	chip_refuses "chip: then a token for the newest challenge (one attempt per challenge)" "replayed" 0
	challenge 0
	token "$WRIT_ID" "${UIDS[0]}" "$(printf '%064d' 7)"
	chip_refuses "chip: a token for a challenge it never issued" "not for the current challenge" 0
	;;
rights_window)
	rework_setup 1 --rework debug,reflash --rework-days 1
	challenge 0
	stop_hsmd hsm
	start_hsmd hsm --time-offset $((2 * 86400))
	hsm_refuses "HSM: the rights' window has ended (clock +2 days, rights for 1)" "rework rights ended" \
		"$WRIT_ID" "${UIDS[0]}" "$CHAL"
	;;
token_window)
	rework_setup 1
	stop_farm farm
	start_farm farm 1 --time-offset 7200 # the chip's clock 2 h ahead: the token (10 min) is over
	challenge 0
	token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	chip_refuses "chip: the token's window is over by the chip's clock" "token expired" 0
	stop_farm farm
	start_farm farm 1 --time-offset -600 # 10 min behind: not yet valid (the HSM allows 60 s)
	challenge 0
	token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	chip_refuses "chip: the chip's clock is before the window (the delegate's, which starts at minting)" \
		"not yet valid" 0
	;;
perm_mask)
	# the production writ's rights: debug,reflash; a rework writ's: debug only (its own
	# delegate certificate, mask = debug, for the same delegate key)
	rework_setup 1
	must "$WRIT" authority rework --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp \
		--vid "$VID" --pid "$PID" --rework debug --out rw.cose
	RW_ID=$(sed -n 's/^\([0-9a-f]\{32\}\)$/\1/p' "$OUT" | head -n 1)
	must "$WRIT" hsm load --socket "$HSOCK" rw.cose
	challenge 0
	PERMS=reprovision hsm_refuses "HSM: a permission outside the rights' mask" "beyond" "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	PERMS=debug,reflash hsm_refuses "HSM: reflash under debug-only rights" "beyond" "$RW_ID" "${UIDS[0]}" "$CHAL"
	PERMS=reflash token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	cp chain.bin chain-wide.bin
	cp tok.bin tok-reflash.bin
	challenge 0
	PERMS=debug token_ok "$RW_ID" "${UIDS[0]}" "$CHAL"
	cp chain.bin chain-debug.bin
	challenge 0
	PERMS=reflash token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	chip_refuses "chip: a token beyond the certificate's mask (reflash, chain of debug-only rights)" \
		"outside a certificate's mask" 0 tok.bin chain-debug.bin
	;;
chain_order)
	rework_setup 1
	challenge 0
	token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	cat chain.bin chain.bin >chain2.bin
	chip_refuses "chip: a chain of two delegates (wrong order)" "wrong chain order" 0 tok.bin chain2.bin
	;;
revoked)
	rework_setup 1
	must "$WRIT" authority revoke --dir auth --enrolment hsm/enrolment.cbor --revoke "$WRIT_ID" --out rev.cose
	must "$WRIT" hsm load --socket "$HSOCK" rev.cose
	challenge 0
	hsm_refuses "HSM: the writ (and its rework rights) revoked" "revoked" "$WRIT_ID" "${UIDS[0]}" "$CHAL"
	;;
key_generation)
	rework_setup 1
	must "$WRIT" authority rework --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp \
		--vid "$VID" --pid "$PID" --rework debug --key-gen 2 --out rw2.cose
	RW2=$(sed -n 's/^\([0-9a-f]\{32\}\)$/\1/p' "$OUT" | head -n 1)
	must "$WRIT" hsm load --socket "$HSOCK" rw2.cose
	challenge 0
	token_ok "$RW2" "${UIDS[0]}" "$CHAL"
	unlock_ok 0
	must "$WRIT" chip debug status --connect "$(chip_addr 0)"
	check_grep "the chip has seen key generation 2" '^key-generation 2$' "$OUT"
	challenge 0
	token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL" # generation 1 rights
	chip_refuses "chip: an older key generation" "older debug key generation" 0
	;;
tamper)
	rework_setup 1
	for spec in "tok.bin 100 signature" "tok.bin 30 window" "tok.bin 12 device" "chain.bin 150 certificate" \
		"chain.bin 40 certificate" "chain.bin 90 certificate"; do
		set -- $spec
		challenge 0
		token_ok "$WRIT_ID" "${UIDS[0]}" "$CHAL"
		flip_byte "$1" "$2" 1
		chip_refuses "chip: one bit of $1 byte $2 flipped" "does not verify|another device|does not end" 0
	done
	;;
outside_writ)
	rework_setup 1
	hsm_refuses "HSM: a device this HSM never certified" "never certified" "$WRIT_ID" "$RANDOM_UID" "$(printf '%064d' 1)"
	must "$WRIT" authority rework --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp \
		--vid "$VID" --pid "$PID" --rework debug --device "$RANDOM_UID" --out rwn.cose
	RWN=$(sed -n 's/^\([0-9a-f]\{32\}\)$/\1/p' "$OUT" | head -n 1)
	must "$WRIT" hsm load --socket "$HSOCK" rwn.cose
	hsm_refuses "HSM: a rework writ that names another device" "not one of the devices it names" \
		"$RWN" "${UIDS[0]}" "$(printf '%064d' 1)"
	# through writ-factory: 409 with the HSM's reason, nothing journalled
	j=$(jnext)
	body="{\"uid\":\"$OTHER_UID\",\"challenge\":\"$(printf '%064d' 2)\",\"perms\":\"$(printf '%032d' 1)\",\"session\":60,\"operation\":\"debug\"}"
	code=$(curl -s -o resp.json -w '%{http_code}' -H "Authorization: Bearer $(cat r.token)" \
		-H 'Content-Type: application/json' -d "$body" "$FACTORY_URL/v1/rework/token")
	check "factory: a device no writ covers -> 409 ($(cat resp.json))" "$code" = 409
	check_grep "factory: with the HSM's reason, code scope" '"code":"scope"' resp.json
	check "factory: nothing journalled" "$(jnext)" = "$j"
	;;
exhausted)
	rework_setup 1 --rework debug,reflash --rework-limit 2
	token_ok "$WRIT_ID" "${UIDS[0]}" "$(printf '%064d' 1)"
	token_ok "$WRIT_ID" "${UIDS[0]}" "$(printf '%064d' 2)"
	hsm_refuses "HSM: a third unlock under a limit of 2" "spent" "$WRIT_ID" "${UIDS[0]}" "$(printf '%064d' 3)"
	stop_hsmd hsm
	start_hsmd hsm
	hsm_refuses "HSM: still spent after a restart" "spent" "$WRIT_ID" "${UIDS[0]}" "$(printf '%064d' 4)"
	status hsm
	check_grep "status shows 2/2" "^writ $WRIT_ID .* rework 2/2 " "$OUT"
	;;
*)
	echo "unknown case $CASE" >&2
	exit 2
	;;
esac
finish
