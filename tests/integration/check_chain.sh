#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `writ matter check-chain` over the Matter SDK's public attestation vectors
# (tests/vectors/matter-sdk-certs): the valid chains A and B and every commissioner_dut
# case (driven by its test_case_vector.json) must give exit 0 or 1 as the vector says,
# `openssl verify` must agree on the valid chains, and usage / I/O errors must give 2.
set -u

src=${WRIT_SRC:?WRIT_SRC must point at the source tree}
writ=${WRIT_BIN:?WRIT_BIN must point at the build bin dir}/writ
vec=$src/tests/vectors/matter-sdk-certs
failures=0

if [[ ! -x $writ ]]; then
	echo "FAIL: $writ not built (build the writ CLI first)" >&2
	exit 1
fi

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect CODE DESCRIPTION -- ARGS...: run writ matter check-chain, compare the exit code
expect() {
	local want=$1 what=$2 out err rc
	shift 3
	out=$(mktemp) err=$(mktemp)
	"$writ" matter check-chain "$@" >"$out" 2>"$err"
	rc=$?
	if [[ $rc -ne $want ]]; then
		fail "$what: exit $rc, want $want; stderr: $(cat "$err")"
	elif [[ $want -eq 0 && "$(cat "$out")" != ok ]]; then
		fail "$what: exit 0 but stdout is not \"ok\": $(cat "$out")"
	elif [[ $want -ne 0 && ! -s $err ]]; then
		fail "$what: exit $rc without a message on stderr"
	else
		echo "ok: $what (exit $rc) $(head -n 1 "$err")"
	fi
	rm -f "$out" "$err"
}

# both valid SDK chains: writ and openssl verify agree
check_valid() {
	local what=$1 paa=$2 pai=$3 dac=$4
	expect 0 "$what" -- --paa "$paa" --pai "$pai" --dac "$dac"
	if ! openssl verify -x509_strict -CAfile "$paa" -untrusted "$pai" "$dac" >/dev/null 2>&1; then
		fail "$what: openssl verify disagrees (refuses a chain writ accepts)"
	fi
}
check_valid "SDK chain A" "$vec/Chip-Test-PAA-FFF1-Cert.pem" "$vec/Chip-Test-PAI-FFF1-8000-Cert.pem" \
	"$vec/Chip-Test-DAC-FFF1-8000-0000-Cert.pem"
check_valid "SDK chain B (CN fallback)" "$vec/Chip-Test-PAA-NoVID-Cert.pem" \
	"$vec/Chip-Test-PAI-FFF2-8004-FB-Cert.pem" "$vec/Chip-Test-DAC-FFF2-8004-001C-FB-Cert.pem"

# DER input works as well as PEM
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in Chip-Test-PAA-FFF1-Cert Chip-Test-PAI-FFF1-8000-Cert Chip-Test-DAC-FFF1-8000-0000-Cert; do
	openssl x509 -in "$vec/$f.pem" -outform DER -out "$tmp/$f.der" || fail "openssl x509 $f"
done
expect 0 "SDK chain A as DER" -- --paa "$tmp/Chip-Test-PAA-FFF1-Cert.der" \
	--pai "$tmp/Chip-Test-PAI-FFF1-8000-Cert.der" --dac "$tmp/Chip-Test-DAC-FFF1-8000-0000-Cert.der"
expect 0 "SDK chain A at a fixed time" -- --paa "$vec/Chip-Test-PAA-FFF1-Cert.pem" \
	--pai "$vec/Chip-Test-PAI-FFF1-8000-Cert.pem" --dac "$vec/Chip-Test-DAC-FFF1-8000-0000-Cert.pem" --at 1700000000
expect 1 "SDK chain A before it was issued" -- --paa "$vec/Chip-Test-PAA-FFF1-Cert.pem" \
	--pai "$vec/Chip-Test-PAI-FFF1-8000-Cert.pem" --dac "$vec/Chip-Test-DAC-FFF1-8000-0000-Cert.pem" --at 1600000000
expect 1 "PAI and DAC swapped" -- --paa "$vec/Chip-Test-PAA-FFF1-Cert.pem" \
	--pai "$vec/Chip-Test-DAC-FFF1-8000-0000-Cert.pem" --dac "$vec/Chip-Test-PAI-FFF1-8000-Cert.pem"

# every commissioner_dut case, as its test_case_vector.json says
n=0
for dir in "$vec"/commissioner_dut/*/; do
	json=$dir/test_case_vector.json
	[[ -f $json ]] || continue
	case=$(basename "$dir")
	if grep -Eq '"is_success_case"[[:space:]]*:[[:space:]]*"?true' "$json"; then
		want=0
	elif grep -Eq '"is_success_case"[[:space:]]*:[[:space:]]*"?false' "$json"; then
		want=1
	else
		fail "$case: cannot read is_success_case"
		continue
	fi
	expect "$want" "commissioner_dut/$case" -- --paa "$vec/Chip-Test-PAA-FFF1-Cert.pem" \
		--pai "$dir/pai-Cert.pem" --dac "$dir/dac-Cert.pem"
	if [[ $want -eq 0 ]] && ! openssl verify -CAfile "$vec/Chip-Test-PAA-FFF1-Cert.pem" \
		-untrusted "$dir/pai-Cert.pem" "$dir/dac-Cert.pem" >/dev/null 2>&1; then
		fail "$case: openssl verify disagrees"
	fi
	n=$((n + 1))
done
[[ $n -ge 5 ]] || fail "only $n commissioner_dut cases found"

# usage and I/O errors
A=("--paa" "$vec/Chip-Test-PAA-FFF1-Cert.pem" "--pai" "$vec/Chip-Test-PAI-FFF1-8000-Cert.pem")
expect 2 "missing --dac" -- "${A[@]}"
expect 2 "unreadable file" -- "${A[@]}" --dac "$tmp/does-not-exist.pem"
expect 2 "bad --at" -- "${A[@]}" --dac "$vec/Chip-Test-DAC-FFF1-8000-0000-Cert.pem" --at yesterday
expect 2 "unknown option" -- "${A[@]}" --dac "$vec/Chip-Test-DAC-FFF1-8000-0000-Cert.pem" --frobnicate
expect 2 "a directory as a file" -- "${A[@]}" --dac "$tmp"
head -c 100000 /dev/zero >"$tmp/big"
expect 2 "an oversized file" -- "${A[@]}" --dac "$tmp/big"
: >"$tmp/empty.pem"
expect 2 "an empty file" -- "${A[@]}" --dac "$tmp/empty.pem"
echo "not a certificate" >"$tmp/junk.pem"
expect 1 "a file that is not a certificate" -- "${A[@]}" --dac "$tmp/junk.pem"
"$writ" matter >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "writ matter without a subcommand should exit 2"

if [[ $failures -ne 0 ]]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "all check-chain cases passed"
