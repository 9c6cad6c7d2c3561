#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every writ-cloud command of the writ CLI against a real writ-cloud (SQLite store,
# SoftHSM token, loopback): an OEM admin sets up users, tokens, products and a factory;
# a real writ-hsmd pins the OEM key that `factory enrol-info` fetched and enrols; the
# ODM uploads firmware the portal signed and creates a version; OEM security approves
# it; the ODM makes a batch (and one over quota is refused: exit 1 with the service's
# code); the writ and bundle download; a batch is revoked; an offline-PAI product gets
# its PAI from `writ authority certify`; records, devices and alerts read back. Devices
# made under the batch (the HSM's journal and the factory's records pushed as
# writ-factory would, cloud_cli_factory.py) are read back with device show and label,
# production and telemetry, each checked against the API's own answer; the release pin
# is set and cleared; and unknown ids, other tenants and wrong roles are refused (exit 1).
source "${WRIT_SRC:?}/tests/integration/cloud_cli_lib.sh"

CLOUDD=$WRIT_BIN/writ-cloud
HSMD=$WRIT_BIN/writ-hsmd
cloud_setup
for tool in "$CLOUDD" "$HSMD"; do
	[[ -x $tool ]] || { echo "FAIL: $tool not built" >&2; exit 1; }
done
for tool in curl jq openssl; do
	command -v $tool >/dev/null || { echo "FAIL: $tool is needed" >&2; exit 1; }
done
# shellcheck source=scripts/softhsm-env.sh
source "$WRIT_SRC/scripts/softhsm-env.sh"
writ_softhsm_env "$WORK"
writ_test_pins
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357

DB=sqlite:$WORK/cloud.db
"$CLOUDD" init --db "$DB" >/dev/null
"$CLOUDD" org add --db "$DB" --kind oem --name acme --user alice 2>/dev/null >alice.token
"$CLOUDD" org add --db "$DB" --kind odm --name foxy --user bob 2>/dev/null >bob.token
"$CLOUDD" org add --db "$DB" --kind odm --name shady --user sam 2>/dev/null >sam.token
chmod 600 ./*.token
"$CLOUDD" serve --insecure-http --db "$DB" --listen 127.0.0.1:0 --threads 2 >cloud.log 2>&1 &
BG_PIDS+=($!)
for _ in $(seq 100); do
	PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' cloud.log)
	[[ -n $PORT ]] && break
	sleep 0.1
done
[[ -n $PORT ]] || { echo "FAIL: writ-cloud did not start: $(cat cloud.log)" >&2; exit 1; }
export WRIT_CLOUD_URL=http://127.0.0.1:$PORT
A=(--token-file alice.token)
B=(--token-file bob.token)
# the API's own answer, to check the CLI's against
api() { curl -s -H "Authorization: Bearer $(cat "$1")" "$WRIT_CLOUD_URL$2"; } # api TOKEN_FILE PATH

# ---- accounts ----
expect_rc "whoami" 0 "$WRIT" whoami "${A[@]}"
check_grep "whoami: alice, oem-admin" "^alice .*org=acme.*role=oem-admin" "$OUT"
expect_rc "user add (oem-security), token to a file" 0 "$WRIT" user add --name sally --role oem-security --token-out sally.token "${A[@]}"
check "user add: the token file is mode 600" "$(stat -c %a sally.token)" = 600
S=(--token-file sally.token)
expect_rc "the new user's token works" 0 "$WRIT" whoami "${S[@]}"
check_grep "the new user is oem-security" "role=oem-security" "$OUT"
expect_rc "an ODM may not add an OEM admin" 1 "$WRIT" user add --name eve --role oem-admin "${B[@]}"
check_grep "refused with the service's code" "refused \\(400 bad_request\\)" "$ERR"
expect_rc "user list" 0 "$WRIT" user list "${A[@]}"
check "user list: alice and sally" "$(cut -d' ' -f1 "$OUT" | sort | tr '\n' ' ')" = "alice sally "
expect_rc "token add" 0 "$WRIT" token add --label laptop --json "${A[@]}"
TOKID=$(jq -r .id "$OUT")
jq -r .token "$OUT" >laptop.token
chmod 600 laptop.token
expect_rc "the second token works" 0 "$WRIT" whoami --token-file laptop.token
expect_rc "token list" 0 "$WRIT" token list "${A[@]}"
check_grep "token list: the laptop token" "label=laptop" "$OUT"
expect_rc "token list --user (oem-admin)" 0 "$WRIT" token list --user sally --json "${A[@]}"
check "token list --user: the API's own answer" "$(jq -cS . "$OUT")" = "$(api alice.token /v1/tokens?user=sally | jq -cS .)"
check "token list --user: sally's first token" "$(jq -r '.tokens | length' "$OUT")" = 1
expect_rc "token list --user, for a person" 0 "$WRIT" token list --user sally "${A[@]}"
check_grep "token list --user: a line per token" "^[0-9]+ .*label=first" "$OUT"
expect_rc "token list --user: a name no user has" 0 "$WRIT" token list --user nobody "${A[@]}"
check_grep "token list --user nobody: says none" "no tokens" "$ERR"
expect_rc "token list --user: only an oem-admin" 1 "$WRIT" token list --user alice "${S[@]}"
check_grep "token list --user as oem-security: 403" "refused \(403 forbidden\)" "$ERR"
expect_rc "token revoke" 0 "$WRIT" token revoke --id "$TOKID" "${A[@]}"
expect_rc "a revoked token is refused" 1 "$WRIT" whoami --token-file laptop.token
check_grep "a revoked token: 401 and what to do" "401 unauthenticated.*" "$ERR"
check_grep "a revoked token: next step" "next: check the token" "$ERR"

# ---- products ----
expect_rc "product create" 0 "$WRIT" product create --product lamp --name "Smart lamp" --vid FFF1 --pid 8000 --quota 100 "${A[@]}"
check_grep "product create: a line" "^created lamp .*quota=100" "$OUT"
expect_rc "product create again: conflict" 1 "$WRIT" product create --product lamp --name L --vid FFF1 --pid 8000 --quota 1 "${A[@]}"
check_grep "product create again: 409 conflict" "refused \\(409 conflict\\)" "$ERR"
expect_rc "an ODM cannot see an uninvited product" 1 "$WRIT" product show --product lamp "${B[@]}"
check_grep "uninvited: 404" "refused \\(404 not_found\\)" "$ERR"
expect_rc "product invite" 0 "$WRIT" product invite --product lamp --odm foxy "${A[@]}"
check_grep "product invite: said" "^foxy invited to product lamp$" "$OUT"
expect_rc "product invite again" 0 "$WRIT" product invite --product lamp --odm foxy "${A[@]}"
check_grep "product invite again: said" "already invited" "$OUT"
expect_rc "product invite shady" 0 "$WRIT" product invite --product lamp --odm shady "${A[@]}"
expect_rc "product uninvite" 0 "$WRIT" product uninvite --product lamp --odm shady "${A[@]}"
expect_rc "the uninvited ODM no longer sees it" 1 "$WRIT" product show --product lamp --token-file sam.token
expect_rc "product list (ODM)" 0 "$WRIT" product list "${B[@]}"
check_grep "product list: lamp" "^lamp .*vid=0xfff1" "$OUT"
expect_rc "product show" 0 "$WRIT" product show --product lamp "${A[@]}"
check_grep "product show: invited foxy" "^invited: foxy$" "$OUT"
expect_rc "product show --json" 0 "$WRIT" product show --product lamp --json "${A[@]}"
check "product show --json: the service's JSON" "$(jq -r .pid "$OUT")" = 32768

# ---- factory, enrolment ----
expect_rc "factory create" 0 "$WRIT" factory create --factory foxy-sz1 --odm foxy --json "${A[@]}"
CODE=$(jq -r .code "$OUT")
check "factory create: a 20-character code" "${#CODE}" = 20
expect_rc "factory enrol-info --out" 0 "$WRIT" factory enrol-info --code "$CODE" --out oem.pem
check_grep "factory enrol-info: the factory" "^foxy-sz1 oem=acme" "$OUT"
check_grep "factory enrol-info: a PEM" "BEGIN PUBLIC KEY" oem.pem
expect_rc "enrol-info of an unknown code" 1 "$WRIT" factory enrol-info --code AAAAAAAAAAAAAAAAAAAA
"$HSMD" init --state hsm --factory foxy-sz1 --oem-key oem.pem >/dev/null 2>&1
curl -s -X POST -H 'Content-Type: application/json' \
	--data "{\"code\": \"$CODE\", \"enrolment\": \"$(base64 -w0 hsm/enrolment.cbor)\"}" \
	"$WRIT_CLOUD_URL/v1/enrol" >enrol.json
HSM=$(jq -r .hsm enrol.json)
jq -r .token enrol.json >factory.token
chmod 600 factory.token
check "the HSM enrolled with the code from the CLI" "${#HSM}" = 64
expect_rc "factory list (ODM)" 0 "$WRIT" factory list "${B[@]}"
check_grep "factory list: the HSM under its factory" "^  hsm $HSM " "$OUT"
expect_rc "factory code" 0 "$WRIT" factory code --factory foxy-sz1 "${A[@]}"
check_grep "factory code: a new code" "^factory foxy-sz1: [A-Z0-9]{20} " "$OUT"
expect_rc "an ODM cannot make codes" 1 "$WRIT" factory code --factory foxy-sz1 "${B[@]}"
check_grep "an ODM cannot make codes: 403 and what to do" "403 forbidden" "$ERR"

# ---- firmware ----
head -c 3000 /dev/urandom >fw.bin
expect_rc "firmware upload --sign-in-portal (oem-security)" 0 "$WRIT" firmware upload --product lamp --image fw.bin --fw-version 3 --sign-in-portal --json "${S[@]}"
FW=$(jq -r .sha256 "$OUT")
FWSIG=$(jq -r .signature "$OUT")
check "firmware upload: the image's SHA-256" "$FW" = "$(sha256sum fw.bin | cut -d' ' -f1)"
printf '%s\n' "$FWSIG" >fw.sig
expect_rc "firmware upload --signature-file (ODM, the same image)" 0 "$WRIT" firmware upload --product lamp --image fw.bin --fw-version 3 --signature-file fw.sig "${B[@]}"
check_grep "firmware upload again: already stored" "^already stored $FW" "$OUT"
expect_rc "firmware upload: a signature for another version" 1 "$WRIT" firmware upload --product lamp --image fw.bin --fw-version 4 --signature "$FWSIG" "${B[@]}"
check_grep "bad signature: 422" "refused \\(422 bad_signature\\)" "$ERR"
expect_rc "firmware list" 0 "$WRIT" firmware list --product lamp "${B[@]}"
check "firmware list: one image" "$(grep -c "^$FW " "$OUT")" = 1

# ---- versions ----
printf 'vendor_id = 0xFFF1\nproduct_id = 0x8000\nvendor_name = Acme\nproduct_name = Lamp\nmfg_date = 2026-11-23\nhw_ver = 1\n' >settings.txt
expect_rc "version create" 0 "$WRIT" version create --product lamp --version 1.0.0 --firmware "$FW" --settings settings.txt --serial-prefix LMP- "${B[@]}"
check_grep "version create: pending" "^created 1.0.0 .*state=pending" "$OUT"
expect_rc "version create (recipe, iterations)" 0 "$WRIT" version create --product lamp --version 1.0.1 --firmware "$FW" --settings settings.txt --recipe discover,keys,dac,chain,factory-data,otp,firmware,lock,verify,record --iterations 2000 "${B[@]}"
expect_rc "version list" 0 "$WRIT" version list --product lamp "${A[@]}"
check "version list: two" "$(grep -c 'state=pending' "$OUT")" = 2
expect_rc "an ODM cannot approve" 1 "$WRIT" version approve --product lamp --version 1.0.0 "${B[@]}"
expect_rc "version approve (oem-security)" 0 "$WRIT" version approve --product lamp --version 1.0.0 "${S[@]}"
check_grep "version approve: approved" "^product lamp version 1.0.0: approved" "$OUT"
expect_rc "version reject" 0 "$WRIT" version reject --product lamp --version 1.0.1 --reason "wrong recipe" "${A[@]}"
expect_rc "version show" 0 "$WRIT" version show --product lamp --version 1.0.1 "${B[@]}"
check_grep "version show: the reason" "^reason: wrong recipe$" "$OUT"
check_grep "version show: rejected" "^state: rejected$" "$OUT"
expect_rc "version approve of a decided version" 1 "$WRIT" version approve --product lamp --version 1.0.1 "${A[@]}"
check_grep "a decided version: 409 state" "refused \\(409 state\\)" "$ERR"
expect_rc "version bundle" 0 "$WRIT" version bundle --product lamp --version 1.0.0 --out lamp.wbundle "${B[@]}"
check "version bundle: a file" -s lamp.wbundle

# ---- batches ----
BC=(batch create --product lamp --version 1.0.0 --factory foxy-sz1 --hsm "$HSM")
expect_rc "batch create" 0 "$WRIT" "${BC[@]}" --quantity 5 --days 1 --json "${B[@]}"
BATCH=$(jq -r .id "$OUT")
check "batch create: serials 1..5" "$(jq -r '"\(.serial_first)..\(.serial_last)"' "$OUT")" = 1..5
expect_rc "batch create over quota" 1 "$WRIT" "${BC[@]}" --quantity 96 --days 1 "${B[@]}"
check_grep "over quota: 409 quota and the service's message" "^writ batch create: refused \\(409 quota\\): .+" "$ERR"
expect_rc "batch create for an unapproved version" 1 "$WRIT" batch create --product lamp --version 1.0.1 --factory foxy-sz1 --hsm "$HSM" --quantity 1 --days 1 "${B[@]}"
expect_rc "batch list" 0 "$WRIT" batch list --product lamp "${A[@]}"
check_grep "batch list: the batch" "^$BATCH .*state=active" "$OUT"
expect_rc "batch show" 0 "$WRIT" batch show --batch "$BATCH" "${B[@]}"
check_grep "batch show: quantity" "^quantity: 5$" "$OUT"
expect_rc "batch writ" 0 "$WRIT" batch writ --batch "$BATCH" --out lamp.writ "${B[@]}"
check "batch writ: a file" -s lamp.writ
# ---- devices made under the batch: one device's page and label, production, telemetry ----
"$HSMD" serve --state hsm >hsmd.log 2>&1 &
BG_PIDS+=($!)
for _ in $(seq 100); do [[ -S hsm/hsmd.sock ]] && break; sleep 0.1; done
run "$WRIT" hsm load --socket hsm/hsmd.sock lamp.writ
check "the HSM loads the writ the CLI downloaded" "$RC" = 0
for i in 1 2; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=d \
		-outform DER -out "csr$i.der" 2>/dev/null
	run "$WRIT" hsm issue --socket hsm/hsmd.sock --writ "$BATCH" --csr "csr$i.der" --uid "$(openssl rand -hex 16)" --out "dac$i.der"
	check "DAC $i under the batch" "$RC" = 0
done
run "$WRIT" hsm checkpoint --socket hsm/hsmd.sock
check "the HSM signs its journal" "$RC" = 0
DIGEST=$("$WRIT" version show --product lamp --version 1.0.0 --json "${A[@]}" | jq -r .digest)
QR=MT:-24J0AFN00KA0648G00
MANUAL=34970112332
"$PY" "$WRIT_SRC/tests/integration/cloud_cli_factory.py" "$WRIT_CLOUD_URL" factory.token hsm/hsmd.sock "$HSM" \
	"$BATCH" "$DIGEST" "$QR" "$MANUAL" >pushed.json
check "the journal is accepted" "$(jq -r '.journal[0]' pushed.json)" = 200
check "2 records are accepted" "$(jq -r '.records[0]' pushed.json) $(jq -r '.records[1].accepted' pushed.json)" = "200 2"
check "a telemetry bucket is accepted" "$(jq -r '.telemetry[0]' pushed.json)" = 200
TSTART=$(jq -r .telemetry_start pushed.json)
expect_rc "device find --serial 1 --json" 0 "$WRIT" device find --serial 1 --json "${A[@]}"
DEV=$(jq -r '.devices[0].id' "$OUT")
check "device find: a device id" -n "$DEV"
expect_rc "device show --json (ODM)" 0 "$WRIT" device show --device "$DEV" --json "${B[@]}"
check "device show --json: the API's own answer" "$(jq -cS . "$OUT")" = "$(api bob.token "/v1/devices/$DEV" | jq -cS .)"
check "device show --json: its chain dac, pai, paa" "$(jq -r '[.chain[].role] | join(",")' "$OUT")" = dac,pai,paa
expect_rc "device show" 0 "$WRIT" device show --device "$DEV" "${A[@]}"
check_grep "device show: its id" "^id: $DEV$" "$OUT"
check_grep "device show: its serial" "^serial: 1$" "$OUT"
check_grep "device show: its version" "^version: 1.0.0$" "$OUT"
check_grep "device show: the chain's DAC on its own line" "^  dac serial=[0-9a-f]+ sha256=$(jq -r '.chain[0].sha256' <(api alice.token "/v1/devices/$DEV"))$" "$OUT"
check_grep "device show: the chain's PAI" "^  pai .*subject=.*PAI" "$OUT"
check_grep "device show: its operations" "^operations:$" "$OUT"
expect_rc "device show: an unknown id" 1 "$WRIT" device show --device 999999 "${A[@]}"
check_grep "an unknown device: 404 and what to do" "refused \(404 not_found\).*" "$ERR"
check_grep "an unknown device: next step" "next: check the names and ids" "$ERR"
expect_rc "device show: another ODM" 1 "$WRIT" device show --device "$DEV" --token-file sam.token
check_grep "another ODM: 404" "refused \(404 not_found\)" "$ERR"
expect_rc "device show: a factory credential" 1 "$WRIT" device show --device "$DEV" --token-file factory.token
check_grep "a factory credential: 403 and what to do" "refused \(403 forbidden\)" "$ERR"
expect_rc "device label" 0 "$WRIT" device label --device "$DEV" --out label.svg "${B[@]}"
check "device label: the API's own SVG" "$(sha256sum <label.svg)" = "$(api bob.token "/v1/devices/$DEV/label.svg" | sha256sum)"
check "device label: mode 600" "$(stat -c %a label.svg)" = 600
check_grep "device label: an SVG" "<svg" label.svg
check_grep "device label: said" "^label of device $DEV written to label.svg" "$OUT"
expect_rc "device label: an unknown id" 1 "$WRIT" device label --device 999999 --out nolabel.svg "${A[@]}"
check "device label: nothing written for an unknown id" ! -e nolabel.svg
expect_rc "device label: another ODM" 1 "$WRIT" device label --device "$DEV" --out nolabel.svg --token-file sam.token
check "device label: nothing written for another ODM" ! -e nolabel.svg
NOW=$(date +%s)
SINCE=$((NOW - 3600))
expect_rc "production --json" 0 "$WRIT" production --since "$SINCE" --bucket 60 --json "${A[@]}"
check "production --json: 2 devices at foxy-sz1" "$(jq -c '[.factories[] | {factory, devices}]' "$OUT")" = '[{"factory":"foxy-sz1","devices":2}]'
check "production --json: the API's own answer (but for now)" "$(jq -cS 'del(.now)' "$OUT")" = "$(api alice.token "/v1/production?since=$SINCE&bucket=60" | jq -cS 'del(.now)')"
expect_rc "production (ODM)" 0 "$WRIT" production "${B[@]}"
check_grep "production: a line per factory" "^foxy-sz1 awaiting_record=0 devices=2 last_device=[0-9-]+T" "$OUT"
check "production: its buckets add up to 2" "$(awk '/^  /{n += $2} END {print n}' "$OUT")" = 2
expect_rc "production: another ODM sees none" 0 "$WRIT" production --token-file sam.token
check_grep "production: another ODM, said" "no devices made in the window" "$ERR"
expect_rc "production: a factory credential" 1 "$WRIT" production --token-file factory.token
check_grep "production: a factory credential, 403" "refused \(403 forbidden\)" "$ERR"
expect_rc "production: --since in the future" 1 "$WRIT" production --since $((NOW + 3600)) "${A[@]}"
check_grep "production: --since in the future, 400" "refused \(400 bad_request\)" "$ERR"
expect_rc "telemetry --json" 0 "$WRIT" telemetry --factory foxy-sz1 --since "$SINCE" --until "$((NOW + 60))" --json "${A[@]}"
check "telemetry --json: the API's own answer" "$(jq -cS . "$OUT")" = "$(api alice.token "/v1/telemetry?factory=foxy-sz1&since=$SINCE&until=$((NOW + 60))" | jq -cS .)"
check "telemetry --json: the bucket's counts" "$(jq -c '.totals | [.total, .ok, .failed]' "$OUT")" = "[3,2,1]"
expect_rc "telemetry --line (ODM)" 0 "$WRIT" telemetry --factory foxy-sz1 --line L1 --since "$TSTART" "${B[@]}"
check_grep "telemetry: the totals" "^totals total=3 ok=2 failed=1 yield=0.667 " "$OUT"
check_grep "telemetry: the line" "^line L1 total=3 ok=2 failed=1 " "$OUT"
check_grep "telemetry: the station" "^  station st1 total=3 ok=2 failed=1 " "$OUT"
expect_rc "telemetry: an unknown factory" 1 "$WRIT" telemetry --factory nowhere "${A[@]}"
check_grep "telemetry: an unknown factory, 404" "refused \(404 not_found\)" "$ERR"
expect_rc "telemetry: another ODM" 1 "$WRIT" telemetry --factory foxy-sz1 --token-file sam.token
expect_rc "telemetry: a factory credential" 1 "$WRIT" telemetry --factory foxy-sz1 --token-file factory.token
check_grep "telemetry: a factory credential, 403" "refused \(403 forbidden\)" "$ERR"
expect_rc "telemetry: a window over 31 days" 1 "$WRIT" telemetry --factory foxy-sz1 --since 1000 --until 9000000 "${A[@]}"
check_grep "telemetry: a window over 31 days, 400" "refused \(400 bad_request\)" "$ERR"

# ---- release pin ----
expect_rc "factory release-pin --version (oem-security)" 0 "$WRIT" factory release-pin --factory foxy-sz1 --version 1.2.3 "${S[@]}"
check_grep "release-pin: said" "^factory foxy-sz1: release pinned to 1.2.3$" "$OUT"
curl -s -H "Authorization: Bearer $(cat factory.token)" "$WRIT_CLOUD_URL/v1/releases/latest?channel=stable" >latest.json
check_grep "the factory is held on the pin (not published: said so)" "pinned a version not published" latest.json
expect_rc "factory release-pin --unpin --json" 0 "$WRIT" factory release-pin --factory foxy-sz1 --unpin --json "${A[@]}"
check "release-pin --unpin --json: the API's answer" "$(jq -c . "$OUT")" = '{"version":""}'
curl -s -H "Authorization: Bearer $(cat factory.token)" "$WRIT_CLOUD_URL/v1/releases/latest?channel=stable" >latest.json
check "unpinned: no pin in the factory's answer" "$(grep -c 'pinned a version' latest.json || true)" = 0
expect_rc "release-pin: an ODM may not" 1 "$WRIT" factory release-pin --factory foxy-sz1 --version 1.2.3 "${B[@]}"
check_grep "release-pin: an ODM, 403 and what to do" "refused \(403 forbidden\)" "$ERR"
check_grep "release-pin: an ODM, next step" "next: your role may not do this" "$ERR"
expect_rc "release-pin: an unknown factory" 1 "$WRIT" factory release-pin --factory nowhere --unpin "${A[@]}"
check_grep "release-pin: an unknown factory, 404" "refused \(404 not_found\)" "$ERR"

expect_rc "batch revoke" 0 "$WRIT" batch revoke --batch "$BATCH" "${S[@]}"
check_grep "batch revoke: revoking" "^batch $BATCH: revoking revocation=[0-9a-f]{32}" "$OUT"
expect_rc "batch show after revoke" 0 "$WRIT" batch show --batch "$BATCH" --json "${A[@]}"
check "batch state: revoking" "$(jq -r .state "$OUT")" = revoking

# ---- offline PAI ----
expect_rc "product create (offline PAI)" 0 "$WRIT" product create --product bulb --name Bulb --vid FFF1 --pid 8001 --quota 10 --pai-mode offline "${A[@]}"
expect_rc "product pai-csr" 0 "$WRIT" product pai-csr --product bulb --hsm "$HSM" --out pai.csr "${A[@]}"
check "product pai-csr: a CSR that verifies" "$(openssl req -in pai.csr -inform DER -noout -verify 2>&1 | grep -c 'verify OK')" = 1
expect_rc "product pai-upload: a CSR is not a PAI" 1 "$WRIT" product pai-upload --product bulb --hsm "$HSM" --pai pai.csr "${A[@]}"
check_grep "not a PAI: 4xx with the reason" "refused \\(4[0-9][0-9] [a-z_]+\\)" "$ERR"
run "$WRIT" authority init --dir auth --vid FFF1
run "$WRIT" authority certify --dir auth --enrolment hsm/enrolment.cbor --vid FFF1 --out pai.der
check "writ authority certify made the PAI" -s pai.der
expect_rc "product pai-upload" 0 "$WRIT" product pai-upload --product bulb --hsm "$HSM" --pai pai.der "${A[@]}"
check_grep "product pai-upload: its SHA-256" "pai_sha256=$(sha256sum pai.der | cut -d' ' -f1)" "$OUT"

# ---- reading back ----
expect_rc "alert list" 0 "$WRIT" alert list "${A[@]}"
expect_rc "device find --serial" 0 "$WRIT" device find --serial 1 "${A[@]}"
expect_rc "device find --uid --json" 0 "$WRIT" device find --uid 00112233445566778899aabbccddeeff --json "${A[@]}"
check "device find --json: the service's JSON" "$(jq -r '.devices | length' "$OUT")" = 0
for f in jsonl csv json; do
	expect_rc "records export --format $f" 0 "$WRIT" records export --product lamp --format $f --out "rec.$f" "${A[@]}"
	check "records export --format $f: a file, mode 600" "$(stat -c %a "rec.$f")" = 600
done
check "records export json: one object, the 2 records" "$(jq '.records | length' rec.json)" = 2
check_grep "records export csv: the header" "^id,product,batch" rec.csv
expect_rc "records export of a batch" 0 "$WRIT" records export --product lamp --batch "$BATCH" "${A[@]}"

finish
