#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A retried device costs no second unit of quantity and never gets a clone. A device
# UID that has a DAC under a writ asks again: with the same public key (a new CSR over
# it, or the very same CSR) it gets a DAC again for the same device serial, with a new
# certificate serial, and the writ's `issued` count does not move while `reissued`
# counts it, even once the quantity is spent; with another key it is refused (-23, the
# reason says to set the chip aside) and nothing changes. The rule survives a clean
# restart and a SIGKILL; the secret wrap (op 6) accepts the latest and the earlier DAC
# of that device, not another device's; verify-journal accepts the journal, and an
# independent parser (python3-cbor2 + python3-cryptography) checks every dac and
# reissue entry against the certificates. The writ status map carries keys 14
# (version digest), 15 (firmware digest) and 16 (re-issues).
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
S=$(sock_of hsm)
VD=$(printf 'product version 1' | sha256sum | cut -c1-64)
FD=$(printf 'firmware image 1' | sha256sum | cut -c1-64)
head -c 32 /dev/urandom >ota.bin
ID=$(mint w.cose 3 5000 --secret ota-key=ota.bin --version-digest "$VD" --firmware-digest "$FD")
must "$WRIT" hsm load --socket "$S" w.cose

# reissued STATE WRIT-ID: the writ's re-issue count from `writ hsm status`
reissued()
{
	status "$1"
	sed -n "s/^writ $2 .* reissued \([0-9]*\) .*/\1/p" "$OUT"
}
# csr_for DIR OUT.der: a new CSR over DIR's existing device key
csr_for() { openssl req -new -key "$1/dev.key" -subj /CN=again -outform DER -out "$2" 2>/dev/null; }
certserial() { openssl x509 -inform DER -in "$1" -noout -serial; }
pubkey() { openssl x509 -inform DER -in "$1" -noout -pubkey; }
issue() { run "$WRIT" hsm issue --socket "$S" --writ "$ID" "$@"; }

# ---- the first DAC ----
U1=00112233445566778899aabbccddeeff
mkdir c1
must "$PY" "$TOOL" keys c1 $U1
issue --csr c1/csr.der --uid $U1 --out c1/dac1.der
check "first DAC: exit 0, serial 5000 ($(cat "$OUT" "$ERR"))" "$RC:$(cut -d' ' -f1-2 "$OUT")" = "0:serial 5000"
check "first DAC is not a re-issue" "$(grep -c reissued "$OUT")" = 0
check "status: issued 1 remaining 2" "$(counts hsm "$ID")" = "issued 1 remaining 2"
check "status: reissued 0" "$(reissued hsm "$ID")" = 0
check_grep "status shows the version and firmware digests" "^writ $ID .* version $VD firmware $FD\$" "$OUT"

# ---- the same key again: a new CSR over it, then the very first CSR ----
csr_for c1 c1/csr2.der
issue --csr c1/csr2.der --uid $U1 --out c1/dac2.der
check "same UID, same key (new CSR): exit 0 ($(head -c 300 "$ERR"))" "$RC" = 0
check "the re-issue has the same device serial and says re-issued" \
	"$(cut -d' ' -f1-2 "$OUT") $(cut -d' ' -f5 "$OUT")" = "serial 5000 reissued"
check "the re-issued DAC is a new certificate (new serial)" "$(certserial c1/dac1.der)" != "$(certserial c1/dac2.der)"
check "the re-issued DAC certifies the same key" "$(pubkey c1/dac1.der)" = "$(pubkey c1/dac2.der)"
run openssl verify -partial_chain -CAfile pai.pem <(openssl x509 -inform DER -in c1/dac2.der)
check "the re-issued DAC verifies under the PAI (openssl)" "$RC" = 0
check "re-issue used no quantity: issued 1 remaining 2" "$(counts hsm "$ID")" = "issued 1 remaining 2"
check "status: reissued 1" "$(reissued hsm "$ID")" = 1
issue --csr c1/csr.der --uid $U1 --out c1/dac3.der
check "same UID, the very same CSR: re-issued too" "$RC:$(cut -d' ' -f1-2 "$OUT")" = "0:serial 5000"
check "status: issued 1, reissued 2" "$(counts hsm "$ID") $(reissued hsm "$ID")" = "issued 1 remaining 2 2"

# ---- another key for that UID: a clone, refused, nothing changes ----
mkcsr other.der
before=$(snapshot hsm)
expect_refused "same UID, another key" \
	"replay.*device UID $U1 already certified under writ $ID with another key; a chip that lost its key must be set aside" \
	"$WRIT" hsm issue --socket "$S" --writ "$ID" --csr other.der --uid $U1 --out clone.der
check "no DAC file for the clone" ! -e clone.der
check "status and journal unchanged by the refusal" "$(snapshot hsm)" = "$before"

# ---- wrap: the latest DAC of the device, and an earlier one (same key) ----
wrap() # DAC-FILE [UID]
{
	run "$WRIT" hsm wrap --socket "$S" --writ "$ID" --uid "${2:-$U1}" --dac "$1" --enc-pub c1/enc_pub.bin \
		--binding c1/binding.der --label ota-key --out c1/ota.wrapped
}
wrap c1/dac3.der
check "wrap with the latest (re-issued) DAC: exit 0 ($(head -c 200 "$ERR"))" "$RC" = 0
run "$PY" "$TOOL" unwrap c1 $U1 ota-key c1/ota.wrapped ota.bin
check "the chip unwraps the secret ($(cat "$OUT"))" "$RC" = 0
wrap c1/dac1.der
check "wrap with the first DAC (same key): exit 0 ($(head -c 200 "$ERR"))" "$RC" = 0

# ---- a second and third device spend the quantity; a re-issue still works ----
U2=0f0e0d0c0b0a09080706050403020100
mkdir c2
must "$PY" "$TOOL" keys c2 $U2
issue --csr c2/csr.der --uid $U2 --out c2/dac.der
check "second device: serial 5001" "$RC:$(cut -d' ' -f1-2 "$OUT")" = "0:serial 5001"
wrap c2/dac.der
check "wrap for device 1 with device 2's DAC: refused (scope)" "$RC:$(grep -c 'not the one this HSM issued' "$ERR")" = "1:1"
mkcsr c3.der
issue --csr c3.der --uid 33333333333333333333333333333333 --out c3.der.dac
check "third device: serial 5002" "$RC:$(cut -d' ' -f1-2 "$OUT")" = "0:serial 5002"
check "quantity spent: issued 3 remaining 0" "$(counts hsm "$ID")" = "issued 3 remaining 0"
expect_refused "a new device once the quantity is spent" "quantity" \
	"$WRIT" hsm issue --socket "$S" --writ "$ID" --csr other.der --uid 44444444444444444444444444444444 --out x.der
csr_for c2 c2/csr2.der
issue --csr c2/csr2.der --uid $U2 --out c2/dac2.der
check "a re-issue after the quantity is spent: serial 5001, exit 0 ($(head -c 200 "$ERR"))" \
	"$RC:$(cut -d' ' -f1-2 "$OUT")" = "0:serial 5001"
check "status: issued 3 remaining 0, reissued 3" "$(counts hsm "$ID") $(reissued hsm "$ID")" = "issued 3 remaining 0 3"

# ---- the status map itself (keys 14, 15, 16), read by cbor2 ----
"$PY" - "$S" "$ID" "$VD" "$FD" >statusmap.out 2>&1 <<'PY' || true
import socket, struct, sys
import cbor2
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = cbor2.dumps({1: 3})
s.sendall(struct.pack(">I", len(req)) + req)
def rd(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("short read")
        b += c
    return b
m = cbor2.loads(rd(struct.unpack(">I", rd(4))[0]))
w = [x for x in m[6] if x[1] == bytes.fromhex(sys.argv[2])][0]
ok = (w[14] == bytes.fromhex(sys.argv[3]) and w[15] == bytes.fromhex(sys.argv[4]) and w[16] == 3
      and w[5] == 3 and w[6] == 0)
print("STATUSMAP", "ok" if ok else "bad", sorted(w.keys()))
PY
check_grep "status map: 14 version digest, 15 firmware digest, 16 reissued = 3 (cbor2)" "^STATUSMAP ok" statusmap.out

# ---- restarts: the rule comes back from the journal ----
after_restart()
{
	local how=$1
	check "$how: issued 3 remaining 0, reissued 3" "$(counts hsm "$ID") $(reissued hsm "$ID")" = "issued 3 remaining 0 $2"
	expect_refused "$how: same UID, another key is still refused" "another key" \
		"$WRIT" hsm issue --socket "$S" --writ "$ID" --csr other.der --uid $U1 --out clone.der
	csr_for c1 c1/csr-r.der
	issue --csr c1/csr-r.der --uid $U1 --out c1/dac-r.der
	check "$how: same UID, same key: re-issued, serial 5000" "$RC:$(cut -d' ' -f1-2,5 "$OUT")" = "0:serial 5000 reissued"
	wrap c1/dac-r.der
	check "$how: wrap with the newest DAC ($(head -c 200 "$ERR"))" "$RC" = 0
	wrap c1/dac2.der
	check "$how: wrap with an earlier DAC of that device" "$RC" = 0
}
stop_hsmd hsm TERM
start_hsmd hsm || exit 1
after_restart "after a restart" 3
stop_hsmd hsm KILL
start_hsmd hsm || exit 1
after_restart "after a SIGKILL and restart" 4
check "reissued 5 in the end" "$(reissued hsm "$ID")" = 5
stop_hsmd hsm TERM

run "$HSMD" verify-journal --state hsm
check "verify-journal accepts the journal with reissue entries ($(cat "$OUT" "$ERR"))" "$RC" = 0

# ---- the journal, read by code that is not ours ----
"$PY" - hsm/journal "$ID" c1 c2 >journal.out 2>&1 <<'PY' || true
import glob, hashlib, sys
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
data, wid = open(sys.argv[1], "rb").read(), bytes.fromhex(sys.argv[2])
off, prev, seq, dacs, re = 0, bytes(32), 0, [], []
while off + 4 <= len(data):
    n = int.from_bytes(data[off:off + 4], "big")
    if n == 0 and not any(data[off:]):
        break
    raw = data[off + 4:off + 4 + n]
    assert hashlib.sha256(raw).digest()[:4] == data[off + 4 + n:off + 8 + n], "frame check"
    e = cbor2.loads(raw)
    assert e[1] == seq and e[2] == prev, "chain"
    if e[4] == 4:
        dacs.append(e[5])
    elif e[4] == 7:
        re.append(e[5])
    prev, seq, off = hashlib.sha256(raw).digest(), seq + 1, off + 8 + n
def res(good, what):
    print(("PASS " if good else "FAIL ") + what)
res(len(dacs) == 3, "journal: 3 dac entries (the quantity), got %d" % len(dacs))
res(len(re) == 5, "journal: 5 reissue entries, got %d" % len(re))
res(all(sorted(d.keys()) == [1, 2, 3, 4, 5, 6, 7] for d in dacs + re), "journal: dac and reissue bodies have keys 1..7")
first = {d[3]: d for d in dacs}
res(all(r[3] in first and all(r[k] == first[r[3]][k] for k in (1, 2, 4, 7)) for r in re),
    "journal: every reissue names a device with a dac entry: same writ, index, serial, key digest")
serials = [d[5] for d in dacs + re]
res(len(set(serials)) == len(serials), "journal: every DAC certificate serial is unique")
# the key digests are SHA-256 of the certified key (uncompressed point), per the DACs
hashes = {d[6]: d[7] for d in dacs + re}
checked = 0
for path in glob.glob(sys.argv[3] + "/dac*.der") + glob.glob(sys.argv[4] + "/dac*.der"):
    der = open(path, "rb").read()
    pub = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    h = hashlib.sha256(der).digest()
    if h in hashes and hashes[h] == hashlib.sha256(pub).digest():
        checked += 1
    else:
        print("FAIL %s: not journalled with its key digest" % path)
res(checked == 6, "journal: each DAC handed out is journalled with SHA-256 of its key (%d)" % checked)
PY
while read -r word rest; do
	case $word in
	PASS) pass "$rest" ;;
	FAIL) fail "$rest" ;;
	*) fail "journal parser: $word $rest" ;;
	esac
done <journal.out
finish
