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

# ---- writ-hsmd on tpm2-pkcs11 with its key-agreement key in the TPM (--kex tpm) ----
# (the whole HSM, line and rework suites run on this backend as *_tpm2 tests; here: what
# --kex tpm makes, and the refusals of a key file that is not this HSM's)
[[ -d auth ]] || make_authority auth
rm -rf hsm hsm2
make_hsm hsm writ-hsm-k
check_grep "init --kex tpm says where the key-agreement key is" '^kex tpm$' hsm/init.out
make_hsm hsm2 writ-hsm-k2
run pkcs11-tool --module "$HSM_MODULE" --token-label writ-hsm-k --login --pin "$WRIT_HSM_PIN" --list-objects --type privkey
check "the token holds identity, PAI and debug delegate keys" "$(grep -cE 'label: +writ-hsm-(identity|pai|debug)$' "$OUT")" = 3
check "the token holds no key-agreement key" "$(grep -c 'writ-hsm-kex' "$OUT" || true)" = 0
# kex.tpm read by an independent parser: a TPM2B_PUBLIC (TPM 2.0 Part 2, 12.2.4) whose
# attributes say born in this TPM and bound to it, decrypt only; and its point is the
# key-agreement key the enrolment bundle hands the OEM
run /usr/bin/python3 - hsm/kex.tpm hsm/enrolment.cbor <<'PY'
import struct, sys, cbor2
b = open(sys.argv[1], 'rb').read()
assert b[:4] == b'WKX1', 'magic'
size, = struct.unpack('>H', b[4:6])
pub = b[6:6 + size]
typ, name_alg, attrs = struct.unpack('>HHI', pub[:8])
FIXEDTPM, FIXEDPARENT, SDO, USERAUTH, NODA, RESTRICTED, DECRYPT, SIGN = 0x2, 0x10, 0x20, 0x40, 0x400, 0x10000, 0x20000, 0x40000
assert typ == 0x23 and name_alg == 0x0b, 'ECC, SHA-256'
need = FIXEDTPM | FIXEDPARENT | SDO | USERAUTH | DECRYPT
assert attrs & need == need, hex(attrs)
assert not attrs & (RESTRICTED | SIGN), hex(attrs)
o = 8
pol, = struct.unpack('>H', pub[o:o + 2]); o += 2 + pol
sym, = struct.unpack('>H', pub[o:o + 2]); o += 2
assert sym == 0x10, 'no symmetric'
scheme, = struct.unpack('>H', pub[o:o + 2]); o += 2
if scheme != 0x10:
    o += 2
curve, kdf = struct.unpack('>HH', pub[o:o + 4]); o += 4
assert curve == 3 and kdf == 0x10, 'P-256, no KDF'
xl, = struct.unpack('>H', pub[o:o + 2]); x = pub[o + 2:o + 2 + xl]; o += 2 + xl
yl, = struct.unpack('>H', pub[o:o + 2]); y = pub[o + 2:o + 2 + yl]
point = b'\x04' + x.rjust(32, b'\0') + y.rjust(32, b'\0')
outer = cbor2.loads(open(sys.argv[2], 'rb').read())     # {1: identity key, 2: COSE_Sign1}
sign1 = cbor2.loads(outer[2])
assert sign1.tag == 18
payload = cbor2.loads(sign1.value[2])                   # docs/hsm-api.md, enrolment key 4
assert payload[4] == point, 'the enrolment names another key-agreement key'
print('kex.tpm ok', hex(attrs))
PY
check "kex.tpm is a P-256 decrypt key born in the TPM, the one the enrolment names ($(cat "$OUT") $(tail -n 1 "$ERR"))" "$RC" = 0
certify hsm pai.der
mint w1.cose 3 1 >/dev/null
start_hsmd hsm
run "$WRIT" hsm load --socket "$(sock_of hsm)" w1.cose
check "a writ sealed to the TPM's key opens" "$RC" = 0
stop_hsmd hsm
cp hsm/kex.tpm kex.saved
cp hsm2/kex.tpm hsm/kex.tpm
start_hsmd hsm || true
check "another HSM's kex.tpm (same TPM, valid key): serve refuses" "${HSMD_RC:-0}" != 0
check_grep "... because the genesis names another key" 'genesis names other keys' hsm/hsmd.log
head -c 40 kex.saved >hsm/kex.tpm
start_hsmd hsm || true
check "a truncated kex.tpm: serve refuses" "${HSMD_RC:-0}" != 0
check_grep "... and says what the file is not" 'is not a writ-hsmd key-agreement key' hsm/hsmd.log
rm hsm/kex.tpm
start_hsmd hsm || true
check "no kex.tpm: serve refuses" "${HSMD_RC:-0}" != 0
check_grep "... and names the file" 'cannot read the key-agreement key .*kex.tpm' hsm/hsmd.log
cp kex.saved hsm/kex.tpm
start_hsmd hsm
check "the right kex.tpm back: serve starts" -S hsm/hsmd.sock
stop_hsmd hsm

# ---- keys are non-extractable on both (as the token itself reports them) ----
for b in soft tpm; do
	if [[ $b == soft ]]; then m=$WRIT_P11_MODULE; else m=$HSM_MODULE; fi
	run pkcs11-tool --module "$m" --token-label "probe-$b" --login --pin "$WRIT_HSM_PIN" --list-objects --type privkey
	check_grep "$b: the probe's private key is sensitive" 'Access:.*sensitive' "$OUT"
	check_grep "$b: the probe's private key is never extractable" 'Access:.*never extractable' "$OUT"
	check_grep "$b: CKA_ID was set (label and id)" 'ID:[[:space:]]+[0-9a-f]{40}' "$OUT"
done

finish
