#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every refusal rule of writ-hsmd (hsm/hsmd.c), one case each, against a real daemon:
# the client must exit 1 with the reason on stderr, write no DAC file, and the HSM's
# status (journal length, every writ's counts) must not move. Writs: for another HSM
# (encrypted to it, or only naming it), another factory, not yet valid, expired,
# tampered, signed by an unpinned authority, revoked (after and before loading);
# CSRs: bad signature, P-384, RSA, garbage; device UIDs: repeated with another key, all zero; the
# clock stepped back; the quantity spent. Set WRIT_TEST_SEED to replay the tamper case.
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/tests/integration/hsm_lib.sh"

hsm_setup
S=hsm/hsmd.sock

# ---- fixtures: authority, two HSMs, a second (unpinned) authority ----
make_authority auth
make_hsm hsm
make_hsm hsm2 writ-hsm2
HSM2_ID=$(sed -n 's/^hsm-id //p' hsm2/init.out)
make_authority auth2 writ-authority2
certify hsm pai.der
ID=$(mint good.cose 10 1000)
start_hsmd hsm
must "$WRIT" hsm load --socket "$S" good.cose
mkcsr csr.der
must "$WRIT" hsm issue --socket "$S" --writ "$ID" --csr csr.der --uid 0a0b0c01 --out dac-first.der
check "setup: one DAC issued" "$(counts hsm "$ID")" = "issued 1 remaining 9"

# refused_load DESCRIPTION WORDS WRIT.cose: loading is refused and nothing changes.
refused_load()
{
	local what=$1 words=$2 file=$3 before
	before=$(snapshot hsm)
	expect_refused "load: $what" "$words" "$WRIT" hsm load --socket "$S" "$file"
	check "load: $what: status and journal unchanged" "$(snapshot hsm)" = "$before"
}

# refused_issue DESCRIPTION WORDS WRIT-ID CSR UID: issuing is refused, no DAC is written,
# nothing changes.
refused_issue()
{
	local what=$1 words=$2 id=$3 csr=$4 uid=$5 before
	rm -f refused-dac.der
	before=$(snapshot hsm)
	expect_refused "issue: $what" "$words" \
		"$WRIT" hsm issue --socket "$S" --writ "$id" --csr "$csr" --uid "$uid" --out refused-dac.der
	check "issue: $what: no DAC file written" ! -e refused-dac.der
	check "issue: $what: status and journal unchanged" "$(snapshot hsm)" = "$before"
}

# ---- writs that are not for this HSM, factory or time ----
ENROL=hsm2/enrolment.cbor mint other-hsm.cose 10 3000 >/dev/null
refused_load "encrypted to another HSM" "decryption failed: writ does not decrypt .*another HSM" other-hsm.cose

mint names-hsm2.cose 10 3000 --hsm-id "$HSM2_ID" >/dev/null
refused_load "encrypted to this HSM but naming another" "is for another HSM" names-hsm2.cose

mint other-factory.cose 10 3000 --factory other >/dev/null
refused_load "for another factory" 'for factory "other"; this HSM belongs to "acme-sz1"' other-factory.cose

mint future.cose 10 3000 --not-before $((NOW + 86400)) --not-after $((NOW + 2 * 86400)) >/dev/null
refused_load "not yet valid" "outside validity window.*not valid before $((NOW + 86400))" future.cose

mint expired.cose 10 3000 --not-before $((NOW - 200000)) --not-after $((NOW - 100000)) >/dev/null
refused_load "expired" "outside validity window.*expired at $((NOW - 100000))" expired.cose

AUTH=auth2 mint unpinned.cose 10 3000 >/dev/null
refused_load "signed by an unpinned authority" "does not verify under the pinned OEM key" unpinned.cose

# ---- tampering: 20 single-byte flips at random offsets of a sealed writ ----
ID_T=$(mint tamper-base.cose 10 4000)
size=$(stat -c %s tamper-base.cose)
seed=${WRIT_TEST_SEED:-$(date +%s)}
RANDOM=$seed
echo "tamper seed $seed (set WRIT_TEST_SEED=$seed to replay)"
before=$(snapshot hsm)
loaded=0
for ((k = 0; k < 20; k++)); do
	off=$(((RANDOM * 32768 + RANDOM) % size))
	x=$((RANDOM % 255 + 1))
	cp tamper-base.cose tampered.cose
	flip_byte tampered.cose "$off" "$x"
	run "$WRIT" hsm load --socket "$S" tampered.cose
	# the reason depends on where the flip lands (AEAD, signature, encoding, algorithm)
	if [[ $RC -eq 1 ]] && grep -q "^writ hsm load: refused: " "$ERR"; then
		:
	else
		loaded=$((loaded + 1))
		fail "tampered writ (byte $off of $size xor $x) exit $RC: $(cat "$OUT" "$ERR")"
	fi
done
check "all 20 tampered copies were refused" "$loaded" = 0
check "tampering left status and journal unchanged" "$(snapshot hsm)" = "$before"
cp tamper-base.cose truncated.cose
truncate -s -1 truncated.cose
refused_load "truncated by one byte" "refused" truncated.cose
run "$WRIT" hsm load --socket "$S" tamper-base.cose
check "the untampered original still loads" "$RC:$(cat "$OUT")" = "0:$ID_T"

# ---- revocation ----
ID_R=$(mint revoked.cose 10 5000)
must "$WRIT" hsm load --socket "$S" revoked.cose
mkcsr csr-r.der
must "$WRIT" hsm issue --socket "$S" --writ "$ID_R" --csr csr-r.der --uid 0b000001 --out dac-r.der
must "$WRIT" authority revoke --dir auth --enrolment hsm/enrolment.cbor --revoke "$ID_R" --out revocation.cose
run "$WRIT" hsm load --socket "$S" revocation.cose
check "the revocation writ loads" "$RC" = 0
check "status: the revoked writ shows REVOKED, remaining 0" \
	"$(grep -c "^writ $ID_R .* issued 1 remaining 0 .* REVOKED$" <<<"$(snapshot hsm)")" = 1
refused_issue "under a revoked writ" "revoked" "$ID_R" csr-r.der 0b000002
refused_load "re-loading a revoked writ" "refused: revoked: writ $ID_R was revoked" revoked.cose

ID_R2=$(mint revoked-early.cose 10 6000)
must "$WRIT" authority revoke --dir auth --enrolment hsm/enrolment.cbor --revoke "$ID_R2" --out revocation2.cose
must "$WRIT" hsm load --socket "$S" revocation2.cose
refused_load "revoked before it was loaded" "refused: revoked: writ $ID_R2 was revoked" revoked-early.cose
refused_issue "under a writ revoked before loading" "revoked" "$ID_R2" csr-r.der 0b000003
refused_issue "under a writ never loaded" "not found.*not loaded" 00112233445566778899aabbccddeeff csr.der 0b000004

# ---- CSRs ----
mkcsr csr-good.der
cp csr-good.der csr-badsig.der
flip_byte csr-badsig.der $(($(stat -c %s csr-badsig.der) - 2)) 1
# (OpenSSL 3.0's `req -verify` reports a failure but may still exit 0)
run openssl req -inform DER -in csr-badsig.der -noout -verify
check "openssl agrees the flipped CSR does not verify" \
	"$(cat "$OUT" "$ERR" | grep -c "verify failure")$RC" != 00
refused_issue "CSR with a bad signature" "CSR signature does not verify" "$ID" csr-badsig.der 0c000001
mkcsr csr-p384.der -newkey ec -pkeyopt ec_paramgen_curve:P-384
refused_issue "CSR with a P-384 key" "not an EC P-256 key" "$ID" csr-p384.der 0c000002
mkcsr csr-rsa.der -newkey rsa:2048
refused_issue "CSR with an RSA key" "not an EC P-256 key" "$ID" csr-rsa.der 0c000003
head -c 300 /dev/urandom >csr-garbage.der
refused_issue "a garbage CSR" "CSR is malformed" "$ID" csr-garbage.der 0c000004
run "$WRIT" hsm issue --socket "$S" --writ "$ID" --csr csr-good.der --uid 0c000005 --out dac-good.der
check "the unflipped CSR is accepted" "$RC" = 0

# ---- device UIDs ----
# 0a0b0c01 has a DAC for csr.der's key: another key for it would be a clone (the same
# key would be a re-issue, hsm_reissue.sh)
refused_issue "the same device UID with another key" \
	"replay.*0a0b0c01 already certified under writ $ID with another key; a chip that lost its key must be set aside" \
	"$ID" csr-good.der 0a0b0c01
refused_issue "an all-zero device UID" "not all zero" "$ID" csr-good.der 00000000

# ---- quantity spent ----
ID_Q=$(mint one.cose 1 7000)
must "$WRIT" hsm load --socket "$S" one.cose
must "$WRIT" hsm issue --socket "$S" --writ "$ID_Q" --csr csr-good.der --uid 0d000001 --out dac-q.der
refused_issue "a writ whose quantity is spent" "quantity spent.*1 of 1 issued" "$ID_Q" csr-good.der 0d000002

# ---- clock stepped back ----
stop_hsmd hsm TERM
start_hsmd hsm --time-offset -100000
check_grep "start with the clock back: warned" "before the journal's last trusted time" hsm/hsmd.log
mint clock.cose 10 8000 >/dev/null
refused_issue "the clock stepped back 100000 s" "clock moved backwards" "$ID" csr-good.der 0e000001
refused_load "a writ while the clock is back" "clock moved backwards" clock.cose
stop_hsmd hsm TERM
start_hsmd hsm
run "$WRIT" hsm issue --socket "$S" --writ "$ID" --csr csr-good.der --uid 0e000002 --out dac-c.der
check "with the clock corrected issuing works again" "$RC" = 0
check "issued count after all refusals: 2 + 1 of 10" "$(counts hsm "$ID")" = "issued 3 remaining 7"
stop_hsmd hsm TERM
run "$HSMD" verify-journal --state hsm
check "the journal verifies after every refusal" "$RC" = 0

finish
