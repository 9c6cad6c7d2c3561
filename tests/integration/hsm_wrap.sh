#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Secret wrapping (op 6) and firmware signatures end to end, checked by code that is not
# ours: a chip played by Python (python3-cryptography, hsm_wrap_tool.py) makes its keys
# and CSR, gets its DAC from the real writ-hsmd, binds its key-agreement key, asks for
# the writ's secret and unwraps it with the spec's HKDF / AES-GCM; a `writ firmware
# sign` signature is verified in Python. Then every refusal of op 6, each with its
# status and reason, and none of them journalled; the secret never reaches the
# journal, the status answer or the log; a restart replays the sealed writ.
source "$WRIT_SRC/tests/integration/hsm_lib.sh"
PY=/usr/bin/python3
TOOL="$WRIT_SRC/tests/integration/hsm_wrap_tool.py"
hsm_setup
if ! "$PY" -c 'import cbor2, cryptography' 2>/dev/null; then
	echo "FAIL: $PY lacks cbor2 / cryptography (Debian python3-cbor2, python3-cryptography)" >&2
	exit 1
fi
make_authority auth
make_hsm hsm
certify hsm pai.der
start_hsmd hsm || exit 1
SOCK=$(sock_of hsm)

head -c 32 /dev/urandom >ota.bin
head -c 48 /dev/urandom >fleet.bin
W=$(mint w.cose 10 5000 --secret ota-key=ota.bin --secret fleet-2=fleet.bin)
must "$WRIT" hsm load --socket "$SOCK" w.cose
check "writ with two secrets loaded" "$(cat "$OUT")" = "$W"

# ---- the chip, in Python ----
DUID=00112233445566778899aabbccddeeff
mkdir chip
must "$PY" "$TOOL" keys chip $DUID
must "$WRIT" hsm issue --socket "$SOCK" --writ "$W" --csr chip/csr.der --uid $DUID --out chip/dac.der
wrap() { run "$WRIT" hsm wrap --socket "$SOCK" "$@"; }
wrap --writ "$W" --uid $DUID --dac chip/dac.der --enc-pub chip/enc_pub.bin --binding chip/binding.der \
	--label ota-key --out chip/ota.wrapped
check "wrap ota-key: exit 0 ($(head -c 200 "$ERR"))" "$RC" -eq 0
check "WRAPPED is 65 + 12 + 32 + 16 bytes" "$(stat -c %s chip/ota.wrapped)" -eq 125
run "$PY" "$TOOL" unwrap chip $DUID ota-key chip/ota.wrapped ota.bin
check "Python unwraps WRAPPED to the writ's secret ($(cat "$OUT"))" "$RC" -eq 0
# hex arguments and hex output
wrap --writ "$W" --uid $DUID --dac chip/dac.der --enc-pub "$(od -An -tx1 chip/enc_pub.bin | tr -d ' \n')" \
	--binding "$(od -An -tx1 chip/binding.der | tr -d ' \n')" --label fleet-2
check "wrap fleet-2 with hex arguments: exit 0" "$RC" -eq 0
tr -d '\n' <"$OUT" | xxd -r -p >chip/fleet.wrapped
run "$PY" "$TOOL" unwrap chip $DUID fleet-2 chip/fleet.wrapped fleet.bin
check "Python unwraps the 48-byte secret too ($(cat "$OUT"))" "$RC" -eq 0
run "$PY" "$TOOL" unwrap chip $DUID ota-key chip/fleet.wrapped fleet.bin
check "a WRAPPED does not open under another label" "$RC" -ne 0

# ---- the secret stays inside writ-hsmd ----
secret_in() { # FILE: 0 if either secret's bytes occur in FILE
	"$PY" - "$1" ota.bin fleet.bin <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
sys.exit(0 if any(open(f, "rb").read() in d for f in sys.argv[2:]) else 1)
PY
}
no_secret() { # WHAT FILE
	if secret_in "$2"; then fail "a secret is in $1 ($2)"; else pass "no secret in $1"; fi
}
no_secret "the journal file" hsm/journal
no_secret "writ-hsmd's log" hsm/hsmd.log
status hsm
cp "$OUT" status.txt
no_secret "the status answer" status.txt
"$PY" - hsm/journal "$W" $DUID >journal.out <<'PY' || true
import hashlib, sys
import cbor2
data, wid, uid = open(sys.argv[1], "rb").read(), bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
off, prev, wraps, sealed = 0, bytes(32), [], 0
while off + 4 <= len(data):
    n = int.from_bytes(data[off:off + 4], "big")
    if n == 0:
        break
    raw = data[off + 4:off + 4 + n]
    assert hashlib.sha256(raw).digest()[:4] == data[off + 4 + n:off + 8 + n]
    e = cbor2.loads(raw)
    assert e[2] == prev
    if e[4] == 3 and e[5][1] == wid:
        sealed = int(3 in e[5] and 2 not in e[5] and cbor2.loads(e[5][3]).tag == 96)
    if e[4] == 6:
        wraps.append(e[5])
    prev, off = hashlib.sha256(raw).digest(), off + 8 + n
print("WRAPS %d" % len(wraps))
print("SEALED %d" % sealed)
print("FIELDS %d" % all(sorted(w) == [1, 2, 3, 4, 5] and w[1] == wid and w[2] == uid for w in wraps))
print("LABELS %s" % ",".join(w[3] for w in wraps))
PY
check_grep "independent parser: two wrap entries (type 6)" '^WRAPS 2$' journal.out
check_grep "the writ with secrets is journalled sealed (COSE_Encrypt), not signed-in-clear" '^SEALED 1$' journal.out
check_grep "wrap entries hold writ id, UID, label, DAC and ENC_PUB digests only" '^FIELDS 1$' journal.out
check_grep "wrap entries name the labels" '^LABELS ota-key,fleet-2$' journal.out

# ---- refusals: each with status and reason, none journalled ----
seq_now() { status hsm; sed -n 's/.*journal entries \([0-9]*\).*/\1/p' "$OUT"; }
SEQ0=$(seq_now)
refused() { # WHAT STATUS-WORDS REASON-ERE wrap-args...
	local what=$1 st=$2 why=$3
	shift 3
	expect_refused "$what" "$st.*$why" "$WRIT" hsm wrap --socket "$SOCK" "$@"
}
OK_ARGS=(--dac chip/dac.der --enc-pub chip/enc_pub.bin --binding chip/binding.der)
# a writ that does not grant wrap-secret, with a device it certified
W2=$(mint w2.cose 5 7000)
must "$WRIT" hsm load --socket "$SOCK" w2.cose
mkdir chip2
must "$PY" "$TOOL" keys chip2 $DUID
must "$WRIT" hsm issue --socket "$SOCK" --writ "$W2" --csr chip2/csr.der --uid $DUID --out chip2/dac.der
SEQ0=$(seq_now)
refused "op not granted by the writ" "scope" "does not allow wrapping" --writ "$W2" --uid $DUID \
	--dac chip2/dac.der --enc-pub chip2/enc_pub.bin --binding chip2/binding.der --label ota-key
refused "label not in the writ" "not found" 'no secret labelled "wifi"' --writ "$W" --uid $DUID "${OK_ARGS[@]}" \
	--label wifi
refused "UID never issued a DAC under the writ" "not found" "never received a DAC" --writ "$W" \
	--uid ffeeddccbbaa99887766554433221100 "${OK_ARGS[@]}" --label ota-key
refused "writ not loaded" "not found" "not loaded" --writ 0123456789abcdef0123456789abcdef --uid $DUID \
	"${OK_ARGS[@]}" --label ota-key
"$PY" "$TOOL" foreign-dac chip >chip/foreign.der
refused "DAC from another PAI" "signature" "does not verify under writ" --writ "$W" --uid $DUID \
	--dac chip/foreign.der --enc-pub chip/enc_pub.bin --binding chip/binding.der --label ota-key
# a DAC this HSM issued, but to another device
DUID2=0102030405060708090a0b0c0d0e0f10
mkdir chip3
must "$PY" "$TOOL" keys chip3 $DUID2
must "$WRIT" hsm issue --socket "$SOCK" --writ "$W" --csr chip3/csr.der --uid $DUID2 --out chip3/dac.der
SEQ0=$(seq_now)
refused "another device's DAC" "scope" "not the one this HSM issued" --writ "$W" --uid $DUID --dac chip3/dac.der \
	--enc-pub chip/enc_pub.bin --binding chip/binding.der --label ota-key
"$PY" "$TOOL" bind chip $DUID chip3/enc_pub.bin >chip/other-binding.der
refused "binding over another ENC_PUB" "signature" "ENC_BINDING does not verify" --writ "$W" --uid $DUID \
	--dac chip/dac.der --enc-pub chip/enc_pub.bin --binding chip/other-binding.der --label ota-key
refused "binding by another device's key" "signature" "ENC_BINDING does not verify" --writ "$W" --uid $DUID2 \
	--dac chip3/dac.der --enc-pub chip/enc_pub.bin --binding chip/binding.der --label ota-key
cp chip/binding.der chip/flipped.der
flip_byte chip/flipped.der $(($(stat -c %s chip/flipped.der) - 3)) 1
refused "tampered binding (one bit of s)" "signature" "ENC_BINDING does not verify" --writ "$W" --uid $DUID \
	--dac chip/dac.der --enc-pub chip/enc_pub.bin --binding chip/flipped.der --label ota-key
refused "ENC_PUB not on the curve" "malformed" "not .*on the curve" --writ "$W" --uid $DUID --dac chip/dac.der \
	--enc-pub "$("$PY" "$TOOL" badpoint)" --binding chip/binding.der --label ota-key
refused "label with a capital letter" "invalid" "a-z 0-9" --writ "$W" --uid $DUID "${OK_ARGS[@]}" --label OTA
check "no refusal was journalled" "$(seq_now)" -eq "$SEQ0"

# wrong sizes: the CLI refuses (exit 2), the daemon refuses raw requests as protocol violations
run "$WRIT" hsm wrap --socket "$SOCK" --writ "$W" --uid 0011 "${OK_ARGS[@]}" --label ota-key
check "CLI: a UID of 2 bytes is a usage error" "$RC" -eq 2
raw() { "$PY" - "$@" <<'PY'
import sys, cbor2
w, uid, dac, enc, bind, label = sys.argv[1:7]
m = {1: 6, 3: bytes.fromhex(w), 5: bytes.fromhex(uid), 8: open(dac, "rb").read(), 9: open(enc, "rb").read()[:int(sys.argv[7])],
     10: open(bind, "rb").read(), 11: label}
print(cbor2.dumps(m).hex())
PY
}
for c in "uid15 ${DUID:2} 65" "enc64 $DUID 64"; do
	set -- $c
	req=$(raw "$W" "$2" chip/dac.der chip/enc_pub.bin chip/binding.der ota-key "$3")
	run "$PY" "$TOOL" raw "$SOCK" "$req"
	check "daemon: $1 refused as a protocol violation ($(head -c 80 "$OUT"))" -n "$(grep -- "1: -22" "$OUT")"
done
head -c 600 /dev/urandom >big.der
run "$WRIT" hsm wrap --socket "$SOCK" --writ "$W" --uid $DUID --dac big.der --enc-pub chip/enc_pub.bin \
	--binding chip/binding.der --label ota-key
check "a DAC that is not a certificate is refused (exit $RC)" "$RC" -ne 0
check "still nothing journalled for refusals" "$(seq_now)" -eq "$SEQ0"

# ---- restart: the sealed writ replays, wraps still work ----
stop_hsmd hsm
run "$HSMD" verify-journal --state hsm
check "verify-journal accepts the journal with wrap entries ($(cat "$OUT"))" "$RC" -eq 0
start_hsmd hsm || exit 1
wrap --writ "$W" --uid $DUID "${OK_ARGS[@]}" --label ota-key --out chip/ota2.wrapped
check "after a restart the replayed writ still wraps" "$RC" -eq 0
run "$PY" "$TOOL" unwrap chip $DUID ota-key chip/ota2.wrapped ota.bin
check "and it unwraps ($(cat "$OUT"))" "$RC" -eq 0
check "a fresh ephemeral key each time" "$(head -c 65 chip/ota.wrapped | od -An -tx1)" != \
	"$(head -c 65 chip/ota2.wrapped | od -An -tx1)"

# ---- revoked, expired ----
SEQ0=$(seq_now)
W3=$(mint w3.cose 5 9000 --secret ota-key=ota.bin --days 1)
must "$WRIT" hsm load --socket "$SOCK" w3.cose
mkdir chip4
must "$PY" "$TOOL" keys chip4 $DUID
must "$WRIT" hsm issue --socket "$SOCK" --writ "$W3" --csr chip4/csr.der --uid $DUID --out chip4/dac.der
C4=(--dac chip4/dac.der --enc-pub chip4/enc_pub.bin --binding chip4/binding.der --label ota-key)
wrap --writ "$W3" --uid $DUID "${C4[@]}" --out chip4/w
check "writ 3 wraps before it expires" "$RC" -eq 0
must "$WRIT" authority revoke --dir auth --enrolment hsm/enrolment.cbor --revoke "$W" --out rev.cose
must "$WRIT" hsm load --socket "$SOCK" rev.cose
SEQ0=$(seq_now)
refused "revoked writ" "revoked" "revoked" --writ "$W" --uid $DUID "${OK_ARGS[@]}" --label ota-key
# last: a clock run forward becomes the journal's trusted time
stop_hsmd hsm
start_hsmd hsm --time-offset 200000 || exit 1
SEQ0=$(seq_now)
refused "expired writ" "window" "expired at" --writ "$W3" --uid $DUID "${C4[@]}"
check "nothing journalled for the expired / revoked refusals" "$(seq_now)" -eq "$SEQ0"

# ---- mint refuses bad secrets ----
head -c 15 /dev/urandom >short.bin
head -c 65 /dev/urandom >long.bin
for bad in "ota-key=short.bin" "ota-key=long.bin" "OTA=ota.bin" "ota-key" "ota-key=missing.bin"; do
	run "$WRIT" authority mint --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp --vid $VID \
		--pid $PID --quantity 1 --serial-first 1 --out bad.cose --secret "$bad"
	check "mint refuses --secret $bad" "$RC" -ne 0
done
run "$WRIT" authority mint --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp --vid $VID \
	--pid $PID --quantity 1 --serial-first 1 --out bad.cose --secret a=ota.bin --secret a=fleet.bin
check "mint refuses a label given twice" "$RC" -ne 0
run "$WRIT" authority mint --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp --vid $VID \
	--pid $PID --quantity 1 --serial-first 1 --out bad.cose --secret a=ota.bin --ops issue-dac
check "mint refuses --secret without the wrap-secret op" "$RC" -ne 0

finish
