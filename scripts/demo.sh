#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: the trust core of writ, end to end, on embedded defaults (SoftHSM).
# An OEM authority mints a writ for one edge HSM; the HSM, with no network, signs
# Matter DACs for simulated devices until the writ's quantity is spent, and refuses
# the next one. Everything lands in demo-run/; `make demo-clean` removes it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin="${WRIT_BIN:-$top/build/bin}"
run="$top/demo-run"
quantity="${DEMO_QUANTITY:-20}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

rm -rf "$run"
mkdir -p "$run/devices"
cd "$run"

# SoftHSM keeps its tokens in this folder; PINs come from the environment, never argv.
# shellcheck source=scripts/softhsm-env.sh
source "$top/scripts/softhsm-env.sh"
writ_softhsm_env "$run"
export WRIT_AUTHORITY_PIN=demo-authority-pin WRIT_AUTHORITY_SO_PIN=demo-authority-so
export WRIT_HSM_PIN=demo-hsm-pin WRIT_HSM_SO_PIN=demo-hsm-so

hsmd_pid=""
cleanup() { [ -n "$hsmd_pid" ] && kill "$hsmd_pid" 2>/dev/null && wait "$hsmd_pid" 2>/dev/null; true; }
trap cleanup EXIT

step "OEM: create the authority (writ-signing key + Matter PAA, inside its own token)"
"$bin/writ" authority init --dir authority --vid FFF1 --cn "Demo OEM Matter PAA"

step "Factory: initialise the edge HSM (identity, key-agreement and PAI keys generated in its token)"
"$bin/writ-hsmd" init --state hsm --factory demo-factory-1 --oem-key authority/writ-signing.pub.pem

step "OEM: verify the HSM's enrolment bundle and certify its PAI"
"$bin/writ" authority certify --dir authority --enrolment hsm/enrolment.cbor --vid FFF1 --pid 8000 --out pai.der

step "OEM: mint a writ for $quantity devices of product 'lamp' (VID FFF1, PID 8000), encrypted to this HSM"
writ_id=$("$bin/writ" authority mint --dir authority --enrolment hsm/enrolment.cbor --pai pai.der \
	--product lamp --vid FFF1 --pid 8000 --quantity "$quantity" --serial-first 100000 --days 7 --out writ.cose)

step "Factory: start writ-hsmd (no network: a Unix socket only) and load the writ (it could arrive on a USB stick)"
"$bin/writ-hsmd" serve --state hsm > hsmd.log 2>&1 &
hsmd_pid=$!
for _ in $(seq 100); do [ -S hsm/hsmd.sock ] && break; sleep 0.05; done
"$bin/writ" hsm load --socket hsm/hsmd.sock writ.cose

step "Line: $quantity simulated devices each make a key pair and a CSR; the HSM signs their DACs"
openssl x509 -inform der -in authority/paa.der -out paa.pem
openssl x509 -inform der -in pai.der -out pai.pem
ok=0
for i in $(seq 1 "$quantity"); do
	d="devices/dev$i"
	mkdir -p "$d"
	# stand-in for the chip (writ-devsim arrives with the chip-side issue): its key stays in its folder
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/chip-key.pem" \
		-subj "/CN=device $i" -outform DER -out "$d/csr.der" 2>/dev/null
	uid=$(printf '%016x' $((0x5EED0000 + i)))
	"$bin/writ" hsm issue --socket hsm/hsmd.sock --writ "$writ_id" --csr "$d/csr.der" --uid "$uid" \
		--out "$d/dac.der" > "$d/issue.txt"
	"$bin/writ" matter check-chain --paa authority/paa.der --pai pai.der --dac "$d/dac.der" > /dev/null
	ok=$((ok + 1))
	printf '\r  devices: %d/%d provisioned, chain valid (%s)' "$ok" "$quantity" "$(cat "$d/issue.txt")"
done
echo

step "One more device: the writ's quantity is spent, so the HSM refuses"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=extra \
	-outform DER -out extra.csr 2>/dev/null
if "$bin/writ" hsm issue --socket hsm/hsmd.sock --writ "$writ_id" --csr extra.csr --uid 00ff00ff --out extra.der; then
	echo "demo: the HSM signed beyond the quantity: this is a bug" >&2
	exit 1
fi

step "Status and journal"
"$bin/writ" hsm status --socket hsm/hsmd.sock
"$bin/writ" hsm journal --socket hsm/hsmd.sock --max 6
kill "$hsmd_pid"; wait "$hsmd_pid" 2>/dev/null || true; hsmd_pid=""
"$bin/writ-hsmd" verify-journal --state hsm

step "Done. Look at:"
cat <<MSG
  $run/devices/dev1/dac.der     a device certificate: openssl x509 -inform der -in ... -text
  $run/pai.der, authority/paa.der  the Matter chain (writ matter check-chain --paa --pai --dac)
  $run/hsm/journal              the HSM's hash-chained journal (writ-hsmd verify-journal --state ...)
  $run/hsmd.log                 what the HSM logged, including the refusal
Remove it all with: make demo-clean
MSG
