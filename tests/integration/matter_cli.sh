#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The `writ matter` per-device data contract, end to end through the CLI:
#  - payload --json and spake2p --json against every Matter SDK vector in
#    tests/vectors (QR strings, manual codes, verifiers);
#  - invalid input exits non-zero (1 for values, 2 for usage) with a reason on stderr;
#  - labels: the PNG's QR decodes (zbarimg) to the payload; the SVG is well-formed XML;
#  - factory-data in all four formats from one settings file, read back and compared
#    by an independent reader (matter_formats.py).
set -u

src=${WRIT_SRC:?WRIT_SRC must point at the source tree}
writ=${WRIT_BIN:?WRIT_BIN must point at the build bin dir}/writ
vec=$src/tests/vectors
py=/usr/bin/python3
failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

[[ -x $writ ]] || { echo "FAIL: $writ not built" >&2; exit 1; }

# ---- payload vectors (every line with a QR string) ----
n=0
while read -r vid pid flow caps disc pass arrow qr manual rest; do
	[[ $arrow == "->" && $qr == MT:* ]] || continue
	qr=${qr%,}
	got=$("$writ" matter payload --vid "$vid" --pid "$pid" --flow "$flow" --caps "$caps" \
		--discriminator "$disc" --passcode "$pass" --json 2>&1)
	want="{\"qr\": \"$qr\", \"manual\": \"$manual\"}"
	[[ $got == "$want" ]] || fail "payload $vid $pid $flow $caps $disc $pass: got $got, want $want"
	n=$((n + 1))
done < <(grep -v '^#' "$vec/matter-sdk-payload-vectors.txt")
[[ $n -ge 12 ]] || fail "only $n payload vectors ran"

# hex input and defaults (flow 0, caps 4 OnNetwork, as the SDK's generate_setup_payload.py)
got=$("$writ" matter payload --vid 0xFFF1 --pid 0x8001 --discriminator 3840 --passcode 20202021 --json)
[[ $got == '{"qr": "MT:-24J0AFN00KA0648G00", "manual": "34970112332"}' ]] || fail "defaults/hex: $got"
got=$("$writ" matter payload --vid 0 --pid 0 --discriminator 3840 --passcode 20202021)
[[ $got == *"3497-011-2332"* && $got == *"MT:00000CQM00KA0648G00"* ]] || fail "human output: $got"

# ---- SPAKE2+ vectors ----
n=0
while IFS='|' read -r pass salt rest; do
	pass=$(echo "$pass" | tr -d ' ') salt=$(echo "$salt" | tr -d ' ')
	it=$(echo "$rest" | sed -E 's/^ *([0-9]+) *->.*/\1/')
	want=$(echo "$rest" | sed -E 's/.*-> *([^ ]+).*/\1/')
	[[ $pass =~ ^[0-9]+$ && $it =~ ^[0-9]+$ ]] || continue
	got=$("$writ" matter spake2p --passcode "$pass" --salt "$salt" --iterations "$it" --json 2>&1)
	[[ $got == "{\"verifier\": \"$want\"}" ]] || fail "spake2p $pass $salt $it: $got"
	n=$((n + 1))
done < <(grep -E '^[0-9]+ \|' "$vec/matter-sdk-spake2p-vectors.txt")
[[ $n -eq 7 ]] || fail "ran $n SPAKE2+ vectors, want 7"

# ---- refusals: expect CODE DESCRIPTION ARGS... ----
expect() {
	local want=$1 what=$2 rc
	shift 2
	"$writ" matter "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [[ $rc -ne $want ]]; then
		fail "$what: exit $rc, want $want ($(cat "$tmp/err"))"
	elif [[ ! -s $tmp/err ]]; then
		fail "$what: no reason on stderr"
	elif [[ -s $tmp/out ]]; then
		fail "$what: printed to stdout: $(cat "$tmp/out")"
	fi
}
P=(--vid 1 --pid 1 --discriminator 1)
for bad in 00000000 11111111 22222222 33333333 44444444 55555555 66666666 77777777 88888888 99999999 \
	12345678 87654321 100000000 0 -1 abc 2020202x ''; do
	expect 1 "payload passcode '$bad'" payload "${P[@]}" --passcode "$bad" --json
	expect 1 "spake2p passcode '$bad'" spake2p --passcode "$bad" --salt U1BBS0UyUCBLZXkgU2FsdA== --iterations 1000 --json
done
expect 1 "discriminator 4096" payload --vid 1 --pid 1 --discriminator 4096 --passcode 20202021 --json
expect 1 "discriminator -1" payload --vid 1 --pid 1 --discriminator -1 --passcode 20202021 --json
expect 1 "vid 65536" payload --vid 65536 --pid 1 --discriminator 1 --passcode 20202021 --json
expect 1 "vid 0x10000" payload --vid 0x10000 --pid 1 --discriminator 1 --passcode 20202021 --json
expect 1 "pid 70000" payload --vid 1 --pid 70000 --discriminator 1 --passcode 20202021 --json
expect 1 "flow 3" payload "${P[@]}" --passcode 20202021 --flow 3 --json
expect 1 "caps 0x10" payload "${P[@]}" --passcode 20202021 --caps 0x10 --json
expect 1 "caps 256" payload "${P[@]}" --passcode 20202021 --caps 256 --json
expect 2 "payload missing --pid" payload --vid 1 --discriminator 1 --passcode 20202021 --json
expect 2 "payload unknown option" payload "${P[@]}" --passcode 20202021 --colour red
expect 2 "payload option without value" payload "${P[@]}" --passcode
expect 1 "salt 15 bytes" spake2p --passcode 20202021 --salt AAAAAAAAAAAAAAAAAAAA --iterations 1000 --json
expect 1 "salt 33 bytes" spake2p --passcode 20202021 \
	--salt AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --iterations 1000 --json
expect 1 "salt bad base64" spake2p --passcode 20202021 --salt 'U1BBS0UyUCBLZXkgU2FsdA=*' --iterations 1000 --json
expect 1 "salt unpadded" spake2p --passcode 20202021 --salt 'U1BBS0UyUCBLZXkgU2FsdA' --iterations 1000 --json
expect 1 "iterations 999" spake2p --passcode 20202021 --salt U1BBS0UyUCBLZXkgU2FsdA== --iterations 999 --json
expect 1 "iterations 100001" spake2p --passcode 20202021 --salt U1BBS0UyUCBLZXkgU2FsdA== --iterations 100001 --json
expect 2 "spake2p missing iterations" spake2p --passcode 20202021 --salt U1BBS0UyUCBLZXkgU2FsdA==
expect 2 "no subcommand" 
expect 2 "unknown subcommand" frobnicate
expect 1 "discriminator range" discriminator --range 10-5
expect 1 "discriminator range above 4095" discriminator --range 0-4096

# generators
for i in 1 2 3 4 5; do
	pc=$("$writ" matter passcode) || fail "passcode generation"
	"$writ" matter payload "${P[@]}" --passcode "$pc" --json >/dev/null || fail "generated passcode $pc refused"
done
d=$("$writ" matter discriminator --range 100-101 --json)
[[ $d == '{"discriminator": 100}' || $d == '{"discriminator": 101}' ]] || fail "discriminator range: $d"

# ---- labels ----
qr=MT:-24J0AFN00KA0648G00
"$writ" matter label --qr $qr --manual 34970112332 --serial SN-0001 --out "$tmp/l.png" || fail "PNG label"
"$writ" matter label --qr $qr --manual 3497-011-2332 --serial 'sn<&>"1' --out "$tmp/l.svg" || fail "SVG label"
if command -v zbarimg >/dev/null; then
	got=$(zbarimg --raw -q "$tmp/l.png" 2>/dev/null)
	[[ $got == "$qr" ]] || fail "zbarimg read '$got' from the PNG, want $qr"
	# a long (21-digit) code and a payload with every field at its maximum
	out=$("$writ" matter payload --vid 65535 --pid 65535 --flow 2 --caps 15 --discriminator 4095 \
		--passcode 99999998 --json)
	qr2=$(echo "$out" | $py -c 'import json,sys; print(json.load(sys.stdin)["qr"])')
	m2=$(echo "$out" | $py -c 'import json,sys; print(json.load(sys.stdin)["manual"])')
	"$writ" matter label --qr "$qr2" --manual "$m2" --serial ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234 \
		--out "$tmp/l2.png" || fail "PNG label, long code"
	got=$(zbarimg --raw -q "$tmp/l2.png" 2>/dev/null)
	[[ $got == "$qr2" ]] || fail "zbarimg read '$got', want $qr2"
else
	fail "zbarimg not installed (apt-get install zbar-tools; scripts/deps.sh)"
fi
$py - "$tmp/l.svg" <<'EOF' || fail "SVG label is not well-formed or misses its text"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
assert texts == ["3497-011-2332", 'SN: sn<&>"1'], texts
EOF
expect 1 "label bad check digit" label --qr $qr --manual 34970112331 --serial S1 --out "$tmp/x.png"
expect 1 "label bad QR" label --qr MT:-24J0AFN00KA0648G0 --manual 34970112332 --serial S1 --out "$tmp/x.png"
expect 1 "label PNG font lacks lowercase" label --qr $qr --manual 34970112332 --serial sn1 --out "$tmp/x.png"
expect 2 "label output type" label --qr $qr --manual 34970112332 --serial S1 --out "$tmp/x.jpg"

# ---- factory data ----
certs=$vec/matter-sdk-certs
cat >"$tmp/dev.conf" <<'EOF'
# one device
vendor_id = 0xFFF1
product_id = 0x8000
vendor_name = Writ Test, "Inc."
product_name = Lamp
serial_num = SN-0001
mfg_date = 2024-06-01
hw_ver = 3
hw_ver_str = rev C
discriminator = 3840
passcode = 20202021
spake2p_iterations = 1000
spake2p_salt = U1BBS0UyUCBLZXkgU2FsdA==
rd_id_uid = 00112233445566778899aabbccddeeff0011223344556677
EOF
FD=(factory-data --in "$tmp/dev.conf" --dac "$certs/Chip-Test-DAC-FFF1-8000-0000-Cert.pem"
	--pai "$certs/Chip-Test-PAI-FFF1-8000-Cert.pem")
for f in esp-csv esp-nvs nrf-cbor wfd; do
	"$writ" matter "${FD[@]}" --format $f --out "$tmp/fd.$f" || fail "factory-data $f"
done
grep -q 20202021 "$tmp/fd.esp-csv" && fail "the passcode leaked into the CSV"
$py "$src/tests/integration/matter_formats.py" --nvs "$tmp/fd.esp-nvs" --csv "$tmp/fd.esp-csv" \
	--cbor "$tmp/fd.nrf-cbor" --wfd "$tmp/fd.wfd" --schema "$vec/nrfconnect_factory_data.schema" \
	--passcode 20202021 || fail "independent reader refused the images"

# the reader is not a rubber stamp: a flipped bit in a page header, an entry or a blob
# chunk must be caught
for off in 8 100 300 1000; do
	cp "$tmp/fd.esp-nvs" "$tmp/bad.nvs"
	$py -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[$off]^=1; open(p,'wb').write(b)" "$tmp/bad.nvs"
	$py "$src/tests/integration/matter_formats.py" --nvs "$tmp/bad.nvs" --csv "$tmp/fd.esp-csv" \
		--cbor "$tmp/fd.nrf-cbor" --wfd "$tmp/fd.wfd" --schema "$vec/nrfconnect_factory_data.schema" \
		--passcode 20202021 2>/dev/null && fail "the reader accepted an NVS image with byte $off flipped"
done

# with the passcode explicitly included, a CD, and a larger partition
echo "include_passcode = yes" >>"$tmp/dev.conf"
FD+=(--cd "$certs/Chip-Test-CD-FFF2-8001.der")
for f in esp-csv nrf-cbor wfd; do
	"$writ" matter "${FD[@]}" --format $f --out "$tmp/fdp.$f" || fail "factory-data $f with passcode"
done
"$writ" matter "${FD[@]}" --format esp-nvs --size 0x10000 --out "$tmp/fdp.esp-nvs" || fail "esp-nvs 64K"
[[ $(stat -c %s "$tmp/fdp.esp-nvs") -eq 65536 ]] || fail "NVS image size"
[[ $(stat -c %a "$tmp/fdp.wfd") == 600 ]] || fail "an image holding a passcode should be mode 0600"
$py "$src/tests/integration/matter_formats.py" --nvs "$tmp/fdp.esp-nvs" --csv "$tmp/fdp.esp-csv" \
	--cbor "$tmp/fdp.nrf-cbor" --wfd "$tmp/fdp.wfd" --schema "$vec/nrfconnect_factory_data.schema" \
	--passcode 20202021 --expect-passcode || fail "independent reader (with passcode)"

expect 2 "factory-data bad format" "${FD[@]}" --format json --out "$tmp/x"
expect 1 "factory-data --size not a page multiple" "${FD[@]}" --format esp-nvs --size 0x6001 --out "$tmp/x"
expect 1 "factory-data --size too small" "${FD[@]}" --format esp-nvs --size 0x2000 --out "$tmp/x"
printf 'vendor_id = 0xFFF1\ncolour = red\n' >"$tmp/bad.conf"
expect 1 "settings unknown key" factory-data --format wfd --in "$tmp/bad.conf" \
	--dac "$certs/Chip-Test-DAC-FFF1-8000-0000-Cert.pem" --pai "$certs/Chip-Test-PAI-FFF1-8000-Cert.pem" --out "$tmp/x"
sed 's/0x8000/0x8001/' "$tmp/dev.conf" >"$tmp/pid.conf"
expect 1 "DAC for another PID" factory-data --format wfd --in "$tmp/pid.conf" \
	--dac "$certs/Chip-Test-DAC-FFF1-8000-0000-Cert.pem" --pai "$certs/Chip-Test-PAI-FFF1-8000-Cert.pem" --out "$tmp/x"
expect 1 "PAI as DAC" factory-data --format wfd --in "$tmp/dev.conf" \
	--dac "$certs/Chip-Test-PAI-FFF1-8000-Cert.pem" --pai "$certs/Chip-Test-PAI-FFF1-8000-Cert.pem" --out "$tmp/x"
sed 's/^hw_ver_str.*//' "$tmp/dev.conf" >"$tmp/nohw.conf"
expect 1 "nRF without hw_ver_str" factory-data --format nrf-cbor --in "$tmp/nohw.conf" \
	--dac "$certs/Chip-Test-DAC-FFF1-8000-0000-Cert.pem" --pai "$certs/Chip-Test-PAI-FFF1-8000-Cert.pem" --out "$tmp/x"

if [[ $failures -ne 0 ]]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "ok"
