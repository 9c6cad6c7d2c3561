#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A second PKCS#11 implementation (issue 8): what writ needs from a token, on SoftHSM2
# and on tpm2-pkcs11 over a private swtpm (through tpm2-abrmd, hsm_lib.sh). p11_probe
# opens each token through lib/p11, installs writ-hsmd's seccomp allow-list and then
# generates, finds, signs (4 threads), draws random bytes and derives; every capability
# the token lacks must be named by lib/p11 ("this token lacks CKM_...") and refused
# without asking the token. writ-hsmd init on a token without CKM_ECDH1_DERIVE (writs
# are sealed to the HSM's ECDH key) refuses with that sentence and generates no key.
source "${WRIT_SRC:?WRIT_SRC must point at the source tree}/tests/integration/hsm_lib.sh"

PROBE=$WRIT_BIN/p11_probe
[[ -x $PROBE ]] || { echo "FAIL: $PROBE not built" >&2; exit 1; }

# ---- SoftHSM2: everything writ needs ----
WRIT_TEST_P11=softhsm
hsm_setup
run "$PROBE" --module "${WRIT_P11_MODULE:?}" --token probe-soft --create
check "SoftHSM: p11_probe exits 0 under the seccomp filter" "$RC" = 0
for l in "lacks none -" "lacks sign -" "lacks derive -" "keygen sign ok" "sign ok" "threads ok" "random ok" \
	"keygen derive ok" "ecdh ok"; do
	check_grep "SoftHSM: $l" "^$l\$" "$OUT"
done
cp "$OUT" softhsm.probe

# ---- tpm2-pkcs11 over swtpm ----
WRIT_TEST_P11=tpm2
hsm_backend_setup
t0=$(date +%s%N)
# Under ASan, LeakSanitizer finds one ASN1_STRING (OpenSSL) lost per C_Sign inside
# tpm2-pkcs11 1.9 (33 for 1 + 32 signatures; the same probe on SoftHSM loses none): not
# writ's, so leak checking is off for this one process (no effect in a normal build).
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	run "$PROBE" --module "$HSM_MODULE" --token probe-tpm --create
t1=$(date +%s%N)
cp "$OUT" tpm2.probe
grep -v '^writ: info' "$ERR" | head -n 8 || true
check "tpm2-pkcs11: p11_probe exits 0 under the seccomp filter (what it lacks refused, the rest works)" "$RC" = 0
echo "tpm2-pkcs11 probe took $(((t1 - t0) / 1000000)) ms: $(tr '\n' ';' <tpm2.probe)"
for l in "lacks none -" "lacks sign -" "keygen sign ok" "sign ok" "threads ok" "random ok"; do
	check_grep "tpm2-pkcs11: $l" "^$l\$" tpm2.probe
done
if grep -q '^lacks derive -$' tpm2.probe; then
	# a tpm2-pkcs11 with C_DeriveKey (newer than Debian 12's 1.9.0): ECDH must work
	check_grep "tpm2-pkcs11 with ECDH: ecdh ok" '^ecdh ok$' tpm2.probe
else
	check_grep "tpm2-pkcs11: lib/p11 names the missing mechanism" \
		'^lacks derive this token lacks CKM_ECDH1_DERIVE \(ECDH key derivation\)$' tpm2.probe
	check_grep "tpm2-pkcs11: an ECDH key pair is refused as unsupported" '^keygen derive unsupported$' tpm2.probe
	check_grep "tpm2-pkcs11: no ECDH view" '^ecdh unsupported$' tpm2.probe

	# writ-hsmd on it: refused up front, with the reason
	make_authority auth
	expect_refused "writ-hsmd init on tpm2-pkcs11 names the missing mechanism" \
		'token "writ-hsm": this token lacks CKM_ECDH1_DERIVE.*writs are sealed to the HSM' \
		"$HSMD" init --state hsm --token writ-hsm --factory "$FACTORY" --oem-key auth/writ-signing.pub.pem \
		--module "$HSM_MODULE"
	check "writ-hsmd init wrote no journal" ! -e hsm/journal
	run pkcs11-tool --module "$HSM_MODULE" --token-label writ-hsm --login --pin "$WRIT_HSM_PIN" --list-objects
	check "writ-hsmd init left no key on the token" "$(grep -c 'writ-hsm-' "$OUT" || true)" = 0
fi

# ---- keys are non-extractable on both (as the token itself reports them) ----
for b in soft tpm; do
	if [[ $b == soft ]]; then m=$WRIT_P11_MODULE; else m=$HSM_MODULE; fi
	run pkcs11-tool --module "$m" --token-label "probe-$b" --login --pin "$WRIT_HSM_PIN" --list-objects --type privkey
	check_grep "$b: the probe's private key is sensitive" 'Access:.*sensitive' "$OUT"
	check_grep "$b: the probe's private key is never extractable" 'Access:.*never extractable' "$OUT"
	check_grep "$b: CKA_ID was set (label and id)" 'ID:[[:space:]]+[0-9a-f]{40}' "$OUT"
done

finish
