#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: writ end to end on embedded defaults (SoftHSM, writ-devsim chips).
# An OEM authority mints a writ for one edge HSM; a line provisions simulated chips
# through it with no network (keys made on each chip, DACs from the HSM, factory data,
# the OTA key wrapped to each chip, signed firmware, lock) until the writ's quantity is
# spent, and the next chip is refused. Everything lands in demo-run/; `make demo-clean` removes it.
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
devsim_pid=""
cleanup() {
	[ -n "$hsmd_pid" ] && kill "$hsmd_pid" 2>/dev/null && wait "$hsmd_pid" 2>/dev/null
	[ -n "$devsim_pid" ] && kill "$devsim_pid" 2>/dev/null && wait "$devsim_pid" 2>/dev/null
	true
}
trap cleanup EXIT

step "OEM: create the authority (writ-signing key + Matter PAA, inside its own token)"
"$bin/writ" authority init --dir authority --vid FFF1 --cn "Demo OEM Matter PAA"

step "Factory: initialise the edge HSM (identity, key-agreement and PAI keys generated in its token)"
"$bin/writ-hsmd" init --state hsm --factory demo-factory-1 --oem-key authority/writ-signing.pub.pem

step "OEM: verify the HSM's enrolment bundle and certify its PAI"
"$bin/writ" authority certify --dir authority --enrolment hsm/enrolment.cbor --vid FFF1 --pid 8000 --out pai.der

step "OEM: sign firmware v3 with the secure-boot key (in the authority's token); the chips will check it"
head -c 1048576 /dev/urandom > firmware-v3.bin
"$bin/writ" firmware sign --authority authority --version 3 --in firmware-v3.bin --out firmware-v3.sig
sb_pub=$("$bin/writ" authority pubkey --dir authority --key secure-boot)
debug_root_hash=$("$bin/writ" authority pubkey --dir authority --key debug-root --hash)

step "OEM: mint a writ for $quantity devices of product 'lamp' (VID FFF1, PID 8000) with the OTA image key, encrypted to this HSM"
head -c 32 /dev/urandom > ota-image.key
writ_id=$("$bin/writ" authority mint --dir authority --enrolment hsm/enrolment.cbor --pai pai.der \
	--product lamp --vid FFF1 --pid 8000 --quantity "$quantity" --serial-first 100000 --days 7 \
	--secret ota-key=ota-image.key --out writ.cose)
shred -u ota-image.key 2>/dev/null || rm -f ota-image.key

step "Factory: start writ-hsmd (no network: a Unix socket only) and load the writ (it could arrive on a USB stick)"
"$bin/writ-hsmd" serve --state hsm > hsmd.log 2>&1 &
hsmd_pid=$!
for _ in $(seq 100); do [ -S hsm/hsmd.sock ] && break; sleep 0.05; done
"$bin/writ" hsm load --socket hsm/hsmd.sock writ.cose

step "Line: $((quantity + 1)) simulated chips (writ-devsim: libwrit-device on Mbed TLS, state in chips/)"
mkdir -p chips
"$bin/writ-devsim" --count "$((quantity + 1))" --dir chips > chips.ready 2> devsim.log &
devsim_pid=$!
for _ in $(seq 200); do [ "$(grep -c '^ready' chips.ready)" -gt "$quantity" ] && break; sleep 0.05; done
mkdir -p extra
mv "chips/chip-$quantity.sock" extra/ # one chip more than the writ allows, set aside for later
cat > lamp.settings <<SET
vendor_id = 0xFFF1
product_id = 0x8000
vendor_name = Demo OEM
product_name = Lamp
mfg_date = $(date +%Y-%m-%d)
hw_ver = 1
hw_ver_str = rev-A
SET
recipe=(--hsm hsm/hsmd.sock --writ "$writ_id" --settings lamp.settings --firmware firmware-v3.bin
	--fw-version 3 --fw-sig firmware-v3.sig --sb-pub "$sb_pub" --debug-root-hash "$debug_root_hash"
	--secret ota-key --records records.jsonl --cert-dir devices)

step "Line: provision them, 8 at a time: keys and CSR on the chip, DAC from the HSM, factory data, OTA key wrapped to each chip, OTP, firmware, lock"
mkdir -p devices
"$bin/writ" chip provision --connect-dir chips --parallel 8 "${recipe[@]}"

step "Check one device: its chain, its label"
first_uid=$(head -n 1 records.jsonl | sed 's/.*"uid":"\([0-9a-f]*\)".*/\1/')
"$bin/writ" matter check-chain --paa authority/paa.der --pai pai.der --dac "devices/$first_uid.dac.der"
qr=$(head -n 1 records.jsonl | sed 's/.*"qr":"\([^"]*\)".*/\1/')
manual=$(head -n 1 records.jsonl | sed 's/.*"manual":"\([0-9]*\)".*/\1/')
serial=$(head -n 1 records.jsonl | sed 's/.*"serial_number":"\([^"]*\)".*/\1/')
"$bin/writ" matter label --qr "$qr" --manual "$manual" --serial "$serial" --out "devices/$first_uid.label.png"
"$bin/writ" chip status --connect "unix:chips/chip-0.sock"

step "One more chip: the writ's quantity is spent, so the HSM refuses and the chip stays blank"
if "$bin/writ" chip provision --connect "unix:extra/chip-$quantity.sock" "${recipe[@]}"; then
	echo "demo: the HSM signed beyond the quantity: this is a bug" >&2
	exit 1
fi
kill "$devsim_pid"; wait "$devsim_pid" 2>/dev/null || true

step "Status and journal"
"$bin/writ" hsm status --socket hsm/hsmd.sock
"$bin/writ" hsm journal --socket hsm/hsmd.sock --max 6
kill "$hsmd_pid"; wait "$hsmd_pid" 2>/dev/null || true; hsmd_pid=""
"$bin/writ-hsmd" verify-journal --state hsm

step "Done. Look at:"
cat <<MSG
  $run/records.jsonl            one record per device (UID, serial, DAC hash, onboarding codes)
  $run/devices/                 each device's DAC, and the label of the first one (PNG)
  $run/chips/                   the simulated chips' flash/OTP (writ-devsim --state chips/chip-0.state --show)
  $run/pai.der, authority/paa.der  the Matter chain (writ matter check-chain --paa --pai --dac)
  $run/hsm/journal              the HSM's hash-chained journal (writ-hsmd verify-journal --state ...)
  $run/hsmd.log                 what the HSM logged, including the refusal
Remove it all with: make demo-clean
MSG
