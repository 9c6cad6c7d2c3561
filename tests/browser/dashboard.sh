#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The dashboard's browser test (CTest label "browser"). Real processes on loopback, as
# in scripts/demo.sh: writ-cloud (SQLite + SoftHSM), writ-hsmd, writ-factory, and one
# writ-station line with writ-devsim chips. The CLI sets up what the dashboard does not
# do (products, factory enrolment, firmware, a version); then dashboard.mjs drives
# Debian's chromium through playwright-core: the OEM approves, the ODM orders a batch,
# the line produces, the device appears with its label; tenancy is checked on the page.
# On failure: screenshots and the programs' logs stay in the work dir (path printed).
set -euo pipefail
: "${WRIT_SRC:?}" "${WRIT_BIN:?}"
PY=/usr/bin/python3
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
NODE_DIR=$WRIT_SRC/tests/browser
[ -x "$CHROMIUM" ] || { echo "FAIL: $CHROMIUM missing: run scripts/deps.sh (Debian's chromium)" >&2; exit 1; }
[ -f "$NODE_DIR/node_modules/playwright-core/package.json" ] ||
	{ echo "FAIL: playwright-core missing: run scripts/browser-deps.sh (make check does)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/writ-test-browser.XXXXXX")
PIDS=()
rc=1
cleanup()
{
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if [[ $rc == 0 && ${KEEP_WORKDIR:-0} != 1 ]]; then
		rm -rf "$WORK"
	else
		echo "browser test: work dir kept: $WORK (screenshots *.png, logs *.log)"
	fi
}
trap cleanup EXIT
cd "$WORK"
source "$WRIT_SRC/scripts/softhsm-env.sh"
writ_softhsm_env "$WORK"
writ_test_pins
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_url() {
	for _ in $(seq 200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" != 000 ] && return 0
		sleep 0.05
	done
	echo "FAIL: $1 did not come up" >&2
	exit 1
}
json() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
as() { local who=$1; shift; "$WRIT_BIN/writ" "$@" --token-file "tokens/$who"; }
log() { "$@" >>setup.log 2>&1; }

DB=sqlite:$WORK/cloud.db
mkdir -p tokens && chmod 700 tokens
log "$WRIT_BIN/writ-cloud" init --db "$DB"
(umask 077
	"$WRIT_BIN/writ-cloud" org add --db "$DB" --kind oem --name acme --user alice >tokens/oem 2>>setup.log
	"$WRIT_BIN/writ-cloud" org add --db "$DB" --kind odm --name foxy --user bob >tokens/odm 2>>setup.log
	"$WRIT_BIN/writ-cloud" org add --db "$DB" --kind oem --name globex --user gina >tokens/oem2 2>>setup.log)
CPORT=$(free_port)
FPORT=$(free_port)
export WRIT_CLOUD_URL=http://127.0.0.1:$CPORT
FACTORY_URL=http://127.0.0.1:$FPORT
"$WRIT_BIN/writ-cloud" serve --insecure-http --db "$DB" --listen "127.0.0.1:$CPORT" --verbose >cloud.log 2>&1 &
PIDS+=($!)
wait_url "$WRIT_CLOUD_URL/v1/health"
(umask 077; curl -sf -H "Authorization: Bearer $(cat tokens/oem)" -d '{"name": "sam", "role": "oem-security"}' \
	"$WRIT_CLOUD_URL/v1/users" | json 'd["token"]' >tokens/sec)

# OEM acme: product lamp shared with foxy; a factory run by foxy. OEM globex: a product
# foxy was never invited to.
log as oem product create --product lamp --name "Smart lamp" --vid FFF1 --pid 8000 --quota 1000
log as oem product invite --product lamp --odm foxy
log as oem2 product create --product secret-thing --name "Not yours" --vid FFF2 --pid 8001 --quota 10
(umask 077; as oem factory create --factory sz1 --odm foxy --json | json 'd["code"]' >factory.code)
log "$WRIT_BIN/writ-factory" enrol-info --cloud "$WRIT_CLOUD_URL" --code-file factory.code --out oem-writ.pem
log "$WRIT_BIN/writ-hsmd" init --state hsm --factory sz1 --oem-key oem-writ.pem
"$WRIT_BIN/writ-hsmd" serve --state hsm >hsmd.log 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do [ -S hsm/hsmd.sock ] && break; sleep 0.05; done
log "$WRIT_BIN/writ-factory" init --state factory --oem-key oem-writ.pem --factory sz1
log "$WRIT_BIN/writ-factory" enrol --cloud "$WRIT_CLOUD_URL" --code-file factory.code --hsm hsm/hsmd.sock \
	--token-out tokens/factory
"$WRIT_BIN/writ-factory" serve --insecure-http --state factory --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock \
	--cloud "$WRIT_CLOUD_URL" --cloud-token-file tokens/factory --sync-interval 1 >factory.log 2>&1 &
PIDS+=($!)
wait_url "$FACTORY_URL/v1/status"

# ODM: firmware (signed in the portal by the OEM's security officer) and version 1.0.0,
# left pending: the OEM approves it on the page.
head -c 65536 /dev/urandom >fw.bin
fw=$(as sec firmware upload --product lamp --image fw.bin --fw-version 3 --sign-in-portal --json | json 'd["sha256"]')
printf 'vendor_id = 0xFFF1\nproduct_id = 0x8000\nvendor_name = Acme\nproduct_name = Smart lamp\nmfg_date = 2026-01-01\nhw_ver = 1\nhw_ver_str = rev-A\n' >lamp.settings
log as odm version create --product lamp --version 1.0.0 --firmware "$fw" --settings lamp.settings --serial-prefix LMP-

# the line: two simulated chips and an enrolled station, run by dashboard.mjs once the
# batch exists (line.sh BATCH)
mkdir -p chips labels
"$WRIT_BIN/writ-devsim" --count 2 --dir chips >chips.ready 2>>setup.log &
PIDS+=($!)
(umask 077
	"$WRIT_BIN/writ-factory" station add --state factory --name st1 --line L1 2>>setup.log |
		grep -Eo '[A-Za-z0-9_-]{6,}' | tail -n 1 >station.code)
log "$WRIT_BIN/writ-station" enrol --factory "$FACTORY_URL" --code-file station.code --name st1 --line L1 \
	--out tokens/station
for _ in $(seq 400); do [ "$(grep -c '^ready' chips.ready)" -ge 2 ] && break; sleep 0.05; done
cat >line.sh <<LINE
#!/usr/bin/env bash
# wait until the factory holds the batch's writ, then run the line once over the chips
set -euo pipefail
for _ in \$(seq 300); do
	curl -sf -H "Authorization: Bearer \$(cat $WORK/tokens/station)" "$FACTORY_URL/v1/jobs" | grep -q "\$1" && break
	sleep 0.1
done
exec "$WRIT_BIN/writ-station" run --factory "$FACTORY_URL" --token-file $WORK/tokens/station --job "\$1" \
	--port-dir $WORK/chips --once --label-dir $WORK/labels >>$WORK/station.log 2>&1
LINE

export DASH_URL=$WRIT_CLOUD_URL WORK CHROMIUM
export TOKEN_OEM=$(cat tokens/oem) TOKEN_ODM=$(cat tokens/odm) TOKEN_OEM2=$(cat tokens/oem2) TOKEN_FACTORY=$(cat tokens/factory)
set +e
(cd "$NODE_DIR" && timeout 120 node dashboard.mjs)
rc=$?
set -e
exit $rc
