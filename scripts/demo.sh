#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: the whole writ story on embedded defaults (SQLite, SoftHSM, writ-devsim
# chips), every program started for real on loopback:
#   writ-cloud (the OEM's portal) - writ-factory + writ-hsmd (one factory) - two
#   writ-station lines with DEMO_CHIPS simulated chips each.
# The OEM sets up a product and invites its ODM; the ODM brings firmware and a version;
# the OEM approves; the ODM orders a batch; the writ reaches the factory's HSM; the
# portal goes down and the lines produce anyway; the portal comes back and every
# record is verified into it; one chip more than the batch allows is refused; the OEM
# grants rework rights and one device is re-flashed under them.
# Everything lands in demo-run/; `make demo-clean` removes it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin="${WRIT_BIN:-$top/build/bin}"
run="$top/demo-run"
chips="${DEMO_CHIPS:-50}"
quantity=$((2 * chips))
PY=/usr/bin/python3

n=0
step() { n=$((n + 1)); printf '\033[1m%2d. %s\033[0m\n' "$n" "$*"; }
quiet() { "$@" >>"$run/demo.log" 2>&1; }
json() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

if [ -f "$run/cloud.pid" ]; then kill "$(cat "$run/cloud.pid")" 2>/dev/null || true; fi # a previous demo's portal
rm -rf "$run"
mkdir -p "$run"
cd "$run"
: >demo.log

# SoftHSM keeps every token in this folder; PINs come from the environment, never argv.
# shellcheck source=scripts/softhsm-env.sh
source "$top/scripts/softhsm-env.sh"
writ_softhsm_env "$run"
export WRIT_CLOUD_PIN=demo-cloud-pin WRIT_CLOUD_SO_PIN=demo-cloud-so
export WRIT_HSM_PIN=demo-hsm-pin WRIT_HSM_SO_PIN=demo-hsm-so

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_url() {
	for _ in $(seq 200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" != 000 ] && return 0
		sleep 0.05
	done
	echo "demo: $1 did not come up" >&2
	exit 1
}
# the factory's status, as its MES integration sees it (a read-only token)
fstatus() { curl -sf -H "Authorization: Bearer $(cat tokens/mes)" "$FACTORY_URL/v1/status"; }

CPORT=$(free_port)
FPORT=$(free_port)
export WRIT_CLOUD_URL=http://127.0.0.1:$CPORT
FACTORY_URL=http://127.0.0.1:$FPORT
start_cloud() {
	"$bin/writ-cloud" serve --insecure-http --db sqlite:cloud/cloud.db --listen "127.0.0.1:$CPORT" >>cloud.log 2>&1 &
	CLOUD_PID=$!
	PIDS+=("$CLOUD_PID")
	wait_url "$WRIT_CLOUD_URL/v1/health"
}
# as ROLE: run the writ CLI with that user's token file
as() { local who=$1; shift; "$bin/writ" "$@" --token-file "tokens/$who"; }

mkdir -p cloud tokens && chmod 700 tokens
step "Portal: writ-cloud on $WRIT_CLOUD_URL (SQLite store; the OEM's keys generated inside its SoftHSM token)"
quiet "$bin/writ-cloud" init --db sqlite:cloud/cloud.db
(umask 077
	"$bin/writ-cloud" org add --db sqlite:cloud/cloud.db --kind oem --name acme --user alice >tokens/oem 2>>demo.log
	"$bin/writ-cloud" org add --db sqlite:cloud/cloud.db --kind odm --name foxconnish --user bob >tokens/odm 2>>demo.log)
start_cloud
(umask 077; curl -sf -H "Authorization: Bearer $(cat tokens/oem)" -d '{"name": "sam", "role": "oem-security"}' \
	"$WRIT_CLOUD_URL/v1/users" | json 'd["token"]' >tokens/sec)

step "OEM (alice, oem-admin): product 'lamp' (VID FFF1, PID 8000), lifetime quota 1000, workspace shared with the ODM"
quiet as oem product create --product lamp --name "Smart lamp" --vid FFF1 --pid 8000 --quota 1000
quiet as oem product invite --product lamp --odm foxconnish

step "OEM: registers factory 'shenzhen-1', run by the ODM; its one-time enrolment code goes to the factory"
as oem factory create --factory shenzhen-1 --odm foxconnish --json | json 'd["code"]' >factory.code
chmod 600 factory.code

step "Factory: writ-hsmd pins the OEM's writ key, makes its own keys in its token; the HSM enrols with the code"
quiet "$bin/writ-factory" enrol-info --cloud "$WRIT_CLOUD_URL" --code-file factory.code --out oem-writ.pem
quiet "$bin/writ-hsmd" init --state hsm --factory shenzhen-1 --oem-key oem-writ.pem
"$bin/writ-hsmd" serve --state hsm >hsmd.log 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do [ -S hsm/hsmd.sock ] && break; sleep 0.05; done
quiet "$bin/writ-factory" init --state factory --oem-key oem-writ.pem --factory shenzhen-1
(umask 077; "$bin/writ-factory" token add --state factory --role mes 2>>demo.log | grep -Eo '[A-Za-z0-9_-]{40,}' |
	tail -n 1 >tokens/mes)
quiet "$bin/writ-factory" enrol --cloud "$WRIT_CLOUD_URL" --code-file factory.code --hsm hsm/hsmd.sock --token-out tokens/factory
rm -f factory.code
hsm_id=$(as odm factory list --json | json 'd["factories"][0]["hsms"][0]["id"]')
"$bin/writ-factory" serve --insecure-http --state factory --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock \
	--cloud "$WRIT_CLOUD_URL" --cloud-token-file tokens/factory --sync-interval 1 >factory.log 2>&1 &
PIDS+=($!)
wait_url "$FACTORY_URL/v1/status"

step "ODM (bob): firmware v3, signed in the portal by the OEM's security officer (the secure-boot key never leaves the token)"
head -c 262144 /dev/urandom >firmware-v3.bin
fw=$(as sec firmware upload --product lamp --image firmware-v3.bin --fw-version 3 --sign-in-portal --json | json 'd["sha256"]')
cat >lamp.settings <<SET
vendor_id = 0xFFF1
product_id = 0x8000
vendor_name = Acme
product_name = Smart lamp
mfg_date = $(date +%Y-%m-%d)
hw_ver = 1
hw_ver_str = rev-A
SET
step "ODM: version 1.0.0 = that firmware + Matter settings + recipe, frozen and signed as a bundle"
quiet as odm version create --product lamp --version 1.0.0 --firmware "$fw" --settings lamp.settings --serial-prefix LMP-
step "OEM: approves version 1.0.0"
quiet as oem version approve --product lamp --version 1.0.0
step "ODM: batch of $quantity at shenzhen-1 for 7 days; the portal mints its writ, encrypted to that HSM"
batch=$(as odm batch create --product lamp --version 1.0.0 --factory shenzhen-1 --hsm "$hsm_id" --quantity "$quantity" \
	--days 7 --json | json 'd["id"]')
for _ in $(seq 200); do
	fstatus | grep -q "$batch" && break
	sleep 0.1
done
step "Factory: pulled the writ and the bundle; the HSM verified the writ and holds it (batch $batch)"

step "The portal goes down. The factory keeps producing."
kill "$CLOUD_PID"; wait "$CLOUD_PID" 2>/dev/null || true

step "Lines: 2 stations, $chips simulated chips each (writ-devsim: keys made on the chip, CSR, DAC, factory data, OTP, signed firmware, lock)"
for line in L1 L2; do
	mkdir -p "chips-$line" "labels-$line"
	"$bin/writ-devsim" --count "$chips" --dir "chips-$line" >"chips-$line.ready" 2>>demo.log &
	PIDS+=($!)
	(umask 077
		"$bin/writ-factory" station add --state factory --name "station-$line" --line "$line" 2>>demo.log |
			grep -Eo '[A-Za-z0-9_-]{6,}' | tail -n 1 >"station-$line.code")
	quiet "$bin/writ-station" enrol --factory "$FACTORY_URL" --code-file "station-$line.code" --name "station-$line" \
		--line "$line" --out "tokens/station-$line"
	rm -f "station-$line.code"
done
for line in L1 L2; do
	for _ in $(seq 400); do [ "$(grep -c '^ready' "chips-$line.ready")" -ge "$chips" ] && break; sleep 0.05; done
done
"$bin/writ-station" run --factory "$FACTORY_URL" --token-file tokens/station-L1 --job "$batch" --port-dir chips-L1 \
	--parallel 8 --once --label-dir labels-L1 >>station-L1.log 2>&1 &
l1=$!
"$bin/writ-station" run --factory "$FACTORY_URL" --token-file tokens/station-L2 --job "$batch" --port-dir chips-L2 \
	--parallel 8 --once --label-dir labels-L2 >>station-L2.log 2>&1
wait "$l1"
for line in L1 L2; do echo "    $line: $(grep -E '^writ-station: [0-9]+ devices' "station-$line.log" | tail -n 1 | sed 's/^writ-station: //')"; done
queued=$(fstatus | json 'd["cloud"]["queued_records"]')
step "Factory: $quantity devices made offline; $queued records queued for the portal"

step "One chip more than the batch allows: the HSM refuses, the chip stays blank"
mkdir -p chips-extra
"$bin/writ-devsim" --count 1 --dir chips-extra >chips-extra.ready 2>>demo.log &
PIDS+=($!)
for _ in $(seq 200); do grep -q '^ready' chips-extra.ready && break; sleep 0.05; done
if "$bin/writ-station" run --factory "$FACTORY_URL" --token-file tokens/station-L1 --job "$batch" --port-dir chips-extra \
	--once >station-extra.log 2>&1; then
	echo "demo: a device beyond the quantity was made: this is a bug" >&2
	exit 1
fi
echo "    $(grep -Eo 'HTTP 409 \(quota\): .*' station-extra.log | head -n 1)"

step "The portal comes back; the factory drains: HSM journal (checkpoint-signed) and records, verified"
start_cloud
for _ in $(seq 600); do
	produced=$(as oem batch show --batch "$batch" --json 2>/dev/null | json 'd["produced"]' 2>/dev/null || echo 0)
	left=$(fstatus | json 'd["cloud"]["queued_records"]')
	[ "$produced" = "$quantity" ] && [ "$left" = 0 ] && break
	sleep 0.2
done
as oem batch show --batch "$batch" | grep -E '^(state|quantity|produced|serial_first|serial_last):' | sed 's/^/    /'
[ "$produced" = "$quantity" ] || { echo "demo: the portal counts $produced of $quantity" >&2; exit 1; }
quiet as oem records export --product lamp --format csv --out records.csv
step "Portal: $produced devices verified for batch $batch; records in records.csv"

first=$(ls labels-L1/*.png | head -n 1)
uid=$(basename "$first" .png)
step "One device, as the portal knows it:"
as oem device find --uid "$uid" | head -n 1 | tr ' ' '\n' | grep -E '^(serial|uid|dac_serial|station|line|qr|manual|result)=' |
	sed 's/^/    /' 
step "OEM security (sam): rework rights for the factory's HSM: debug + re-flash, 5 unlocks, 30 days (a rework writ)"
grant=$(as sec rework grant --product lamp --factory shenzhen-1 --hsm "$hsm_id" --perms debug,reflash --limit 5 --days 30 \
	--json | json 'd["id"]')
for _ in $(seq 300); do
	"$bin/writ" hsm status --socket hsm/hsmd.sock 2>/dev/null | grep -q "^writ $grant .* rework " && break
	sleep 0.1
done
"$bin/writ" hsm status --socket hsm/hsmd.sock | grep -q "^writ $grant .* rework " ||
	{ echo "demo: the rework writ did not reach the HSM" >&2; exit 1; }
head -c 131072 /dev/urandom >firmware-v4.bin
as sec firmware upload --product lamp --image firmware-v4.bin --fw-version 4 --sign-in-portal --json >firmware-v4.json
as oem product show --product lamp --json >product.json
root=$(json 'd["debug_root_pub"]' <product.json)
ruid=$("$bin/writ" chip discover --connect unix:chips-L1/chip-0.sock | sed -n 's/^uid //p')
step "Line L1 reworks device $ruid: challenge, token from the HSM, unlock, re-flash v4 (secure-boot checked), lock, record"
"$bin/writ-station" rework --factory "$FACTORY_URL" --token-file tokens/station-L1 --port unix:chips-L1/chip-0.sock \
	--device "$ruid" --debug-root-pub "$root" --op reflash --firmware firmware-v4.bin --fw-version 4 \
	--fw-sig "$(json 'd["signature"]' <firmware-v4.json)" --sb-pub "$(json 'd["secure_boot_pub"]' <product.json)" \
	>station-rework.log 2>&1 ||
	{ echo "demo: the rework failed:" >&2; tail -n 5 station-rework.log >&2; exit 1; }
sed -n 's/^writ-station rework: /    /p' station-rework.log | tail -n 7
for _ in $(seq 300); do
	nrw=$(as oem device find --uid "$ruid" --json 2>/dev/null | json 'len(d["devices"][0].get("rework", []))' 2>/dev/null ||
		echo 0)
	[ "$nrw" -ge 1 ] && break
	sleep 0.2
done
[ "$nrw" -ge 1 ] || { echo "demo: the portal has no rework history for $ruid" >&2; exit 1; }
used=$(as oem rework show --rework "$grant" --json | json 'd["used"]')
step "Portal: device $ruid shows its rework (the HSM's signed journal and the station's record); grant used $used of 5"

# The portal stays up for the dashboard; `make demo-clean` stops it.
stop_cloud_for_good=0
[ "${DEMO_KEEP_PORTAL:-1}" = 1 ] || stop_cloud_for_good=1
if [ "$stop_cloud_for_good" = 0 ]; then
	kill "$CLOUD_PID" 2>/dev/null || true
	wait "$CLOUD_PID" 2>/dev/null || true
	setsid "$bin/writ-cloud" serve --insecure-http --db sqlite:cloud/cloud.db --listen "127.0.0.1:$CPORT" >>cloud.log 2>&1 </dev/null &
	echo $! >cloud.pid
	disown
	wait_url "$WRIT_CLOUD_URL/v1/health"
fi
cat <<MSG

Look at:
  the dashboard            $WRIT_CLOUD_URL/  (left running; sign in with a token:
                             OEM admin alice: $(cat tokens/oem)
                             ODM engineer bob: $(cat tokens/odm))
  $run/records.csv         every device as the portal verified it (serial, UID, DAC, station, QR)
  $run/labels-L1/          each device's onboarding label (PNG/SVG), DAC and the PAI
  $run/hsm/journal         the edge HSM's signed journal (writ-hsmd verify-journal --state $run/hsm)
  $run/*.log               what each program said (cloud, factory, stations, HSM)
  the portal's API          $WRIT_CLOUD_URL (tokens in $run/tokens/)
Stop the portal and remove it all with: make demo-clean
MSG
