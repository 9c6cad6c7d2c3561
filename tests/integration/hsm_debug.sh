#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Rework rights in writ-hsmd (op 8 and re-provisioning), with the real daemon and the
# real `writ` CLI: a debug-unlock token is signed only under a writ's rework rights, for
# a device this HSM certified (or the writ names), inside the rights' window, mask,
# session and limit; the token and its delegate chain verify in Python
# (python3-cryptography) under the authority's debug root; every refusal says why and
# journals nothing; the count survives a restart; a rework writ re-provisions a device
# (new key, same serial) without touching the production quantity.
source "$WRIT_SRC/tests/integration/hsm_lib.sh"
PY=/usr/bin/python3
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
HSM_ID=$(sed -n 's/^hsm-id //p' hsm/init.out)

W=$(mint w.cose 10 5000 --rework debug,reflash --rework-limit 3 --session 1800)
WN=$(mint wn.cose 5 7000)
must "$WRIT" hsm load --socket "$SOCK" w.cose
must "$WRIT" hsm load --socket "$SOCK" wn.cose
UA=00112233445566778899aabbccddeeff
UB=0102030405060708090a0b0c0d0e0f10
UC=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
mkcsr a.csr
mkcsr b.csr
must "$WRIT" hsm issue --socket "$SOCK" --writ "$W" --csr a.csr --uid $UA --out a.dac
SERIAL_A=$(awk '{print $2}' "$OUT")
must "$WRIT" hsm issue --socket "$SOCK" --writ "$WN" --csr b.csr --uid $UB --out b.dac
status hsm
check_grep "status shows the rights' use (0 of 3)" "^writ $W .* rework 0/3 until " "$OUT"

CH=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
tok() { run "$WRIT" hsm debug-token --socket "$SOCK" "$@"; }
tok --writ "$W" --uid $UA --challenge "$CH" --perms debug --session 900 --out t1 --chain-out c1
check "a token for a device this HSM certified: exit 0 ($(head -c 200 "$ERR"))" "$RC" -eq 0
check_grep "... with its journal seq and one certificate" '^seq [0-9]+ not-after [0-9]+ chain 1$' "$OUT"
check "the token is 156 bytes, the chain 209" "$(stat -c %s t1) $(stat -c %s c1)" = "156 209"
must "$WRIT" authority pubkey --dir auth --key debug-root
ROOT=$(cat "$OUT")

# ---- the token and the chain, checked by code that is not ours ----
"$PY" - t1 c1 "$ROOT" "$UA" "$CH" "$HSM_ID" >verify.out <<'PY' || true
import hashlib, struct, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
tok, chain = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
root = bytes.fromhex(sys.argv[3]); uid = bytes.fromhex(sys.argv[4]); ch = bytes.fromhex(sys.argv[5])
hsm = bytes.fromhex(sys.argv[6])
def verify(pub, msg, sig):
    k = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        k.verify(der, msg, ec.ECDSA(hashes.SHA256()))
        return 1
    except Exception:
        return 0
c = chain[:209]
print("CERT_MAGIC %d" % (c[:4] == b"WDC1" and c[4] == 1 and c[5] == 2))
print("CERT_SIG %d" % verify(root, c[:145], c[145:209]))
vid, pid = struct.unpack(">HH", c[6:10]); gen = struct.unpack(">I", c[12:16])[0]
print("CERT_SCOPE %d" % (vid == 0xFFF1 and pid == 0x8000 and gen == 1 and c[48:80] == hsm))
perms = c[32:48]
print("CERT_PERMS %s" % perms.hex())
deleg = c[80:145]
print("TOKEN_MAGIC %d" % (tok[:4] == b"WDT1" and tok[4] == 1 and tok[5:8] == b"\0\0\0"))
print("TOKEN_SIG %d" % verify(deleg, tok[:92] + tok[60:92], tok[92:156]))
nb, na = struct.unpack(">QQ", tok[24:40]); sess = struct.unpack(">I", tok[56:60])[0]
now = int(time.time())
print("TOKEN_FIELDS %d" % (tok[8:24] == uid and tok[60:92] == ch and sess == 900 and nb <= now < na and na - now <= 600))
print("TOKEN_PERMS %s" % tok[40:56].hex())
PY
check_grep "independent: the certificate is a WDC1 delegate" '^CERT_MAGIC 1$' verify.out
check_grep "independent: the certificate verifies under the authority's debug root" '^CERT_SIG 1$' verify.out
check_grep "independent: it names the product, generation 1 and this HSM" '^CERT_SCOPE 1$' verify.out
check_grep "independent: its mask is debug + reflash (bits 0 and 8)" '^CERT_PERMS 0{28}0101$' verify.out
check_grep "independent: the token is a WDT1" '^TOKEN_MAGIC 1$' verify.out
check_grep "independent: the token verifies under the delegate key (over token and challenge)" '^TOKEN_SIG 1$' verify.out
check_grep "independent: UID, challenge, session, a short window around now" '^TOKEN_FIELDS 1$' verify.out
check_grep "independent: the token asks for debug only" '^TOKEN_PERMS 0{30}01$' verify.out

# ---- refusals: each with its reason, none journalled ----
seq_now() { status hsm; sed -n 's/.*journal entries \([0-9]*\).*/\1/p' "$OUT"; }
refused() { # WHAT STATUS REASON-ERE debug-token args...
	local what=$1 st=$2 why=$3 before after
	shift 3
	before=$(seq_now)
	expect_refused "$what" "$st.*$why" "$WRIT" hsm debug-token --socket "$SOCK" --out tx --chain-out cx "$@"
	after=$(seq_now)
	check "... and journals nothing" "$after" = "$before"
}
OK=(--challenge "$CH" --session 600)
refused "a writ without rework rights" "scope" "carries no rework rights" --writ "$WN" --uid $UB --perms debug "${OK[@]}"
refused "a permission outside the rights' mask" "scope" "beyond writ .* rework rights" --writ "$W" --uid $UA \
	--perms debug,reprovision "${OK[@]}"
refused "a session longer than the rights allow" "scope" "longer than writ" --writ "$W" --uid $UA --perms debug \
	--challenge "$CH" --session 3600
refused "a device this HSM never certified" "scope" "never certified it" --writ "$W" --uid $UC --perms debug "${OK[@]}"
refused "the all-zero UID" "invalid" "must not be all zero" --writ "$W" --uid 00000000000000000000000000000000 \
	--perms debug "${OK[@]}"
refused "a writ this HSM never loaded" "not found" "not loaded" --writ 0123456789abcdef0123456789abcdef --uid $UA \
	--perms debug "${OK[@]}"
run "$WRIT" hsm debug-token --socket "$SOCK" --writ "$W" --uid ${UA:0:30} --perms debug "${OK[@]}" --out tx --chain-out cx
check "a short UID is a usage error (exit 2)" "$RC" -eq 2
run "$WRIT" hsm debug-token --socket "$SOCK" --writ "$W" --uid $UA --perms jtag "${OK[@]}" --out tx --chain-out cx
check "an unknown permission is a usage error (exit 2)" "$RC" -eq 2
# garbage at the socket: op 8 with wrong lengths and extra keys is a protocol error
"$PY" - "$SOCK" "$W" >garbage.out 2>garbage.err <<'PY' || true
import socket, struct, sys
import cbor2
sock, w = sys.argv[1], bytes.fromhex(sys.argv[2])
def call(m):
    s = socket.socket(socket.AF_UNIX); s.connect(sock)
    b = cbor2.dumps(m); s.sendall(struct.pack(">I", len(b)) + b)
    n = struct.unpack(">I", s.recv(4))[0]; d = b""
    while len(d) < n: d += s.recv(n - len(d))
    s.close(); return cbor2.loads(d)
good = {1: 8, 3: w, 5: bytes(range(1, 17)), 12: bytes(32), 13: bytes(15) + b"\1", 14: 60, 15: 1}
def but(**kw):
    m = dict(good)
    for k, v in kw.items():
        if v is None:
            m.pop(int(k[1:]))
        else:
            m[int(k[1:])] = v
    return m
bad = [but(k12=bytes(31)), but(k13=bytes(17)), but(k14=0), but(k14=86401), but(k15=4), but(k15=0),
       but(k5=bytes(15)), but(k99=1), but(k13=None), but(k14="60")]
print("GARBAGE %s" % ",".join(str(call(m).get(1)) for m in bad))
PY
check_grep "malformed op 8 requests are protocol errors (-22), each" '^GARBAGE (-22,){9}-22$' garbage.out

# ---- the limit: 3 in all; counted durably ----
tok --writ "$W" --uid $UB --challenge "$CH" --perms reflash --session 60 --op reflash --out t2 --chain-out c2
check "a device certified under another writ of the product is covered too" "$RC" -eq 0
tok --writ "$W" --uid $UA --challenge "$CH" --perms debug,reflash --session 1800 --out t3 --chain-out c3
check "the third unlock, at the session limit" "$RC" -eq 0
refused "rework rights exhausted (3 of 3)" "quantity" "rework rights are spent \(3 of 3\)" --writ "$W" --uid $UA \
	--perms debug "${OK[@]}"
stop_hsmd hsm
start_hsmd hsm || exit 1
refused "still exhausted after a restart (the count is in the journal)" "quantity" "spent \(3 of 3\)" --writ "$W" \
	--uid $UA --perms debug "${OK[@]}"
"$PY" - hsm/journal "$W" >journal.out <<'PY' || true
import hashlib, sys
import cbor2
data, wid = open(sys.argv[1], "rb").read(), bytes.fromhex(sys.argv[2])
off, dbg = 0, []
while off + 4 <= len(data):
    n = int.from_bytes(data[off:off + 4], "big")
    if n == 0:
        break
    e = cbor2.loads(data[off + 4:off + 4 + n])
    if e[4] == 8:
        dbg.append(e[5])
    off += 8 + n
print("DEBUG %d" % len(dbg))
print("FIELDS %d" % all(sorted(d) == [1, 2, 3, 4, 5, 6, 7] and d[1] == wid and len(d[7]) == 32 for d in dbg))
print("OPS %s" % ",".join(str(d[5]) for d in dbg))
PY
check_grep "independent parser: three debug entries (type 8) in the journal" '^DEBUG 3$' journal.out
check_grep "... with writ, UID, permissions, session, operation, end and the token's digest" '^FIELDS 1$' journal.out
check_grep "... recording each operation (debug, re-flash, debug)" '^OPS 1,2,1$' journal.out

# ---- a rework writ: named devices; re-provisioning ----
R=$(AUTH=auth "$WRIT" authority rework --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp \
	--vid $VID --pid $PID --rework debug,reprovision --rework-limit 2 --device $UA --out r.cose)
must "$WRIT" hsm load --socket "$SOCK" r.cose
tok --writ "$R" --uid $UA --challenge "$CH" --perms debug --session 60 --out t4 --chain-out c4
check "a rework writ: a token for a device it names" "$RC" -eq 0
refused "a rework writ: a device it does not name" "scope" "not one of the devices it names" --writ "$R" --uid $UB \
	--perms debug "${OK[@]}"
mkcsr a2.csr
run "$WRIT" hsm issue --socket "$SOCK" --writ "$R" --csr a2.csr --uid $UA --out a2.dac
check "re-provisioning: a new DAC for a new key ($(head -c 200 "$ERR"))" "$RC" -eq 0
check "... the device keeps its serial" "$(awk '{print $2}' "$OUT")" = "$SERIAL_A"
check "... its DAC certifies the new key" "$(openssl x509 -inform DER -in a2.dac -noout -pubkey | md5sum)" = \
	"$(openssl req -inform DER -in a2.csr -noout -pubkey | md5sum)"
status hsm
check_grep "... no production quantity was used (2 of 10 issued)" "^writ $W .* issued 1 remaining 9 " "$OUT"
check_grep "... one unit of the rework writ's rights" "^writ $R .* rework 2/2 " "$OUT"
expect_refused "re-provisioning beyond the rights' limit" "quantity.*spent" "$WRIT" hsm issue --socket "$SOCK" \
	--writ "$R" --csr a2.csr --uid $UA --out a3.dac
run "$WRIT" hsm issue --socket "$SOCK" --writ "$W" --csr a2.csr --uid $UA --out a4.dac
check "the production writ now re-issues for the new key" "$RC $(awk '{print $5}' "$OUT")" = "0 reissued"
expect_refused "... and refuses the old key (a clone)" "replay.*another key" "$WRIT" hsm issue --socket "$SOCK" \
	--writ "$W" --csr a.csr --uid $UA --out a5.dac
stop_hsmd hsm
start_hsmd hsm || exit 1
run "$WRIT" hsm issue --socket "$SOCK" --writ "$W" --csr a2.csr --uid $UA --out a6.dac
check "after a restart the re-provisioned key is still the device's" "$RC $(awk '{print $5}' "$OUT")" = "0 reissued"
R2=$(AUTH=auth "$WRIT" authority rework --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp \
	--vid $VID --pid $PID --rework reprovision --out r2.cose)
must "$WRIT" hsm load --socket "$SOCK" r2.cose
mkcsr c.csr
expect_refused "re-provisioning a device this HSM never made" "scope.*never certified" "$WRIT" hsm issue \
	--socket "$SOCK" --writ "$R2" --csr c.csr --uid $UC --out c.dac

# ---- a revoked batch's devices are not covered by rights that name no device ----
must "$WRIT" authority revoke --dir auth --enrolment hsm/enrolment.cbor --revoke "$W" --out revw.cose
must "$WRIT" hsm load --socket "$SOCK" revw.cose
R3=$(AUTH=auth "$WRIT" authority rework --dir auth --enrolment hsm/enrolment.cbor --pai pai.der --product lamp \
	--vid $VID --pid $PID --rework debug --out r3.cose)
must "$WRIT" hsm load --socket "$SOCK" r3.cose
CH3=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
refused "a device of a revoked batch, under rights that name no device" "scope" "never certified it" --writ "$R3" \
	--uid $UA --perms debug --challenge "$CH3" --session 60
tok --writ "$R3" --uid $UB --challenge "$CH3" --perms debug --session 60 --out t5 --chain-out c5
check "... while a device of a batch still in force is covered" "$RC" -eq 0

# ---- revocation and the rights' window ----
must "$WRIT" authority revoke --dir auth --enrolment hsm/enrolment.cbor --revoke "$R2" --out rev.cose
must "$WRIT" hsm load --socket "$SOCK" rev.cose
CH2=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
W3=$(mint w3.cose 2 9000 --rework debug --rework-days 1)
must "$WRIT" hsm load --socket "$SOCK" w3.cose
expect_refused "a revoked rework writ" "revoked" "$WRIT" hsm issue --socket "$SOCK" --writ "$R2" --csr c.csr \
	--uid $UA --out c.dac
stop_hsmd hsm
start_hsmd hsm --time-offset $((2 * 86400)) || exit 1
refused "rights whose window has ended" "validity window" "rework rights ended" --writ "$W3" --uid $UA --perms debug \
	--challenge "$CH2" --session 60
check "no sanitizer report from writ-hsmd" "$(grep -c 'Sanitizer\|runtime error' hsm/hsmd.log)" = 0
finish
