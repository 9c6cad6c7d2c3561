#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Health and Prometheus metrics of real daemons: a writ-cloud (SQLite), a writ-hsmd
# (SoftHSM) and a writ-factory syncing with the cloud. Each exposition is read by a
# strict parser (prom_parse.py); every value checked is compared before and after
# something happened (devices made, an HSM refusal, a cloud refusal, a sync), so a
# metric that does not move fails. Who may read /metrics: the cloud's only with the
# operator's metrics token (no tenant token, whatever its role), the factory's only
# with an mes token (not a station's).
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"

PY=/usr/bin/python3
PROM="$PY $WRIT_SRC/tests/integration/prom_parse.py"
CLOUDD=$WRIT_BIN/writ-cloud
FACTORYD=$WRIT_BIN/writ-factory
FACTORY_ID=foxy-sz1
CLOUD_PID=
FPID=
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357

_ops_cleanup()
{
	local p
	for p in "$FPID" "$CLOUD_PID"; do
		[[ -n $p ]] || continue
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ -n ${WORK:-} ]] && grep -lE "ERROR: [A-Za-z]+Sanitizer|runtime error" "$WORK"/*.log "$WORK"/hsm/*.log 2>/dev/null; then
		echo "FAIL: a daemon reported a sanitizer error" >&2
		grep -hE -A20 "ERROR: [A-Za-z]+Sanitizer|runtime error" "$WORK"/*.log "$WORK"/hsm/*.log | head -40 >&2
		_cleanup
		exit 1 # in an EXIT trap, this is the script's status
	fi
	_cleanup
}

hsm_setup
trap _ops_cleanup EXIT

check "the parser refuses malformed expositions" "$($PROM selftest >/dev/null 2>&1; echo $?)" = 0

# scrape URL TOKEN OUT: GET URL (TOKEN may be empty); CODE, and the body in OUT; the
# Content-Type in OUT.type.
scrape()
{
	local args=(-s -o "$3" -w '%{http_code} %{time_total} %{content_type}')
	[[ -z $2 ]] || args+=(-H "Authorization: Bearer $2")
	read -r CODE STIME CTYPE < <(curl "${args[@]}" "$1" || echo "000 0 none") || true
	echo "$CTYPE" >"$3.type"
	[[ $CODE != 200 ]] || echo "$1 $STIME" >>scrape-times
}
# v FILE NAME [k=v...]: a value of a parsed exposition
v() { $PROM get "$@"; }

# ---- the cloud, with a metrics token ----
CDB=sqlite:$WORK/cloud.db
must "$CLOUDD" init --db "$CDB"
OEM=$("$CLOUDD" org add --db "$CDB" --kind oem --name acme --user alice 2>/dev/null)
ODM=$("$CLOUDD" org add --db "$CDB" --kind odm --name foxy --user bob 2>/dev/null)
OEM2=$("$CLOUDD" org add --db "$CDB" --kind oem --name globex --user gina 2>/dev/null)
(umask 077 && openssl rand -hex 32 >metrics.token)
MTOK=$(cat metrics.token)
CPORT=$(free_port)
CURL_CLOUD=http://127.0.0.1:$CPORT
echo short >short.token
run "$CLOUDD" serve --insecure-http --db "$CDB" --listen "127.0.0.1:$CPORT" --metrics-token-file short.token
check "serve refuses a metrics token shorter than 16 characters (exit 2)" "$RC" = 2
"$CLOUDD" serve --insecure-http --db "$CDB" --listen "127.0.0.1:$CPORT" --threads 4 --metrics-token-file metrics.token \
	>cloud.out 2>>cloud.log &
CLOUD_PID=$!
wait_for 10 grep -q 'listening on' cloud.out || { echo "FAIL: writ-cloud: $(tail -n 5 cloud.log)" >&2; exit 1; }

RESP=$WORK/.resp
# shellcheck source=tests/integration/cloud_lib.sh
source "$WRIT_SRC/tests/integration/cloud_lib.sh"

cmust 201 POST /v1/users "$OEM" '{"name": "sally", "role": "oem-security"}'
SEC=$(jr .token)
cmust 201 POST /v1/products "$OEM" '{"id": "lamp", "name": "Lamp", "vid": 65521, "pid": 32768, "quota": 1000}'
cmust 201 POST /v1/products/lamp/invites "$OEM" '{"odm": "foxy"}'
cmust 201 POST /v1/factories "$OEM" "{\"id\": \"$FACTORY_ID\", \"odm\": \"foxy\"}"
(umask 077 && jr .code >code)

# who may read the cloud's /metrics
for who in none OEM SEC ODM OEM2 wrong; do
	case $who in
	none) t= ;;
	wrong) t=wc_$(openssl rand -hex 20) ;;
	*) t=${!who} ;;
	esac
	scrape "$CURL_CLOUD/metrics" "$t" m.$who
	check "cloud /metrics: caller $who gets 401 and no metric" "$CODE $(grep -c '^writ_' m.$who || true)" = "401 0"
done
scrape "$CURL_CLOUD/metrics" "$MTOK" c0.prom
check "cloud /metrics with the metrics token: 200" "$CODE" = 200
check "cloud /metrics: Content-Type is the 0.0.4 text format" "$(cat c0.prom.type)" = "text/plain; version=0.0.4; charset=utf-8"
run $PROM check c0.prom
check "cloud /metrics parses strictly ($(cat "$OUT" "$ERR"))" "$RC" = 0
check "cloud /metrics lists the factory, never contacted" \
	"$(v c0.prom writ_cloud_factory_last_contact_seconds factory=$FACTORY_ID oem=acme)" = 0
capi GET /v1/health ""
check "cloud /v1/health answers without a token" "$CODE $(jr .status)" = "200 ok"

# ---- enrolment, the HSM and the factory ----
must "$FACTORYD" enrol-info --cloud "$CURL_CLOUD" --code-file code --out oem.pem
must "$HSMD" init --state hsm --token writ-hsm --factory "$FACTORY_ID" --oem-key oem.pem
start_hsmd hsm
must "$FACTORYD" init --state fac --oem-key oem.pem --factory "$FACTORY_ID"
must "$FACTORYD" enrol --cloud "$CURL_CLOUD" --code-file code --hsm hsm/hsmd.sock --token-out fac.token
HSM1=$(sed -n 's/^hsm //p' "$OUT")
FTOK=$(cat fac.token)

SETTINGS='vendor_id = 0xFFF1\nproduct_id = 0x8000\nvendor_name = Acme\nproduct_name = Lamp\nmfg_date = 2026-11-23\nhw_ver = 1\n'
head -c 4096 /dev/urandom >fw.bin
cmust 201 POST "/v1/products/lamp/firmware?fw_version=3&sign=portal" "$SEC" "@fw.bin"
FWSHA=$(jr .sha256)
cmust 201 POST /v1/products/lamp/versions "$ODM" \
	"{\"name\": \"1.0\", \"firmware\": \"$FWSHA\", \"settings\": \"$SETTINGS\", \"serial_prefix\": \"LMP\"}"
cmust 200 POST /v1/products/lamp/versions/1.0/approve "$SEC" '{}'
NOW=$(date +%s)
cmust 201 POST /v1/batches "$ODM" "{\"product\": \"lamp\", \"version\": \"1.0\", \"factory\": \"$FACTORY_ID\",
	\"hsm\": \"$HSM1\", \"quantity\": 3, \"not_before\": $((NOW - 60)), \"not_after\": $((NOW + 86400))}"
B1=$(jr .id)

# The factory reaches its HSM through a path that needs escaping in a label value.
WEIRD='we"ird\path.sock'
ln -s hsm/hsmd.sock "$WEIRD"
mkdir -p drop
FPORT=$(free_port)
FURL=http://127.0.0.1:$FPORT
"$FACTORYD" serve --insecure-http --state fac --listen "127.0.0.1:$FPORT" --hsm "$WEIRD" --drop drop --cloud "$CURL_CLOUD" \
	--cloud-token-file fac.token --sync-interval 1 >>factory.log 2>&1 &
FPID=$!
wait_for 10 curl -s -o /dev/null "$FURL/v1/health" || { echo "FAIL: writ-factory: $(tail -n 5 factory.log)" >&2; exit 1; }
must "$FACTORYD" token add --state fac --role mes
MES=$(cat "$OUT")
must "$FACTORYD" station add --state fac --name st1 --line L1
SCODE=$(sed -n 's/^code //p' "$OUT")
STOK=$(curl -s -X POST -H 'Content-Type: application/json' \
	--data-binary "{\"code\":\"$SCODE\",\"name\":\"st1\",\"line\":\"L1\"}" "$FURL/v1/stations/enrol" | jq -r .token)
job_ready() { curl -s -H "Authorization: Bearer $STOK" "$FURL/v1/jobs" | grep -q "$B1"; }
wait_for 60 job_ready || { echo "FAIL: the writ never became a job: $(tail -n 5 factory.log)" >&2; exit 1; }

CODE=$(curl -s -o health.json -w '%{http_code}' "$FURL/v1/health")
check "factory /v1/health without a token: 200 ok, one HSM up" "$CODE $(jq -r '"\(.status) \(.hsms_up)"' health.json)" = "200 ok 1"
for who in none STOK FTOK; do
	case $who in none) t= ;; *) t=${!who} ;; esac
	scrape "$FURL/metrics" "$t" fm.$who
	check "factory /metrics: caller $who is refused, no metric" \
		"$([[ $CODE == 401 || $CODE == 403 ]] && echo refused) $(grep -c '^writ_' fm.$who || true)" = "refused 0"
done
scrape "$FURL/metrics" "$MES" f0.prom
check "factory /metrics with an mes token: 200, 0.0.4 text" "$CODE $(cat f0.prom.type)" = "200 text/plain; version=0.0.4; charset=utf-8"
run $PROM check f0.prom
check "factory /metrics parses strictly ($(cat "$OUT" "$ERR"))" "$RC" = 0
check "factory /metrics: the socket label is escaped and reads back as the path" \
	"$($PROM label f0.prom writ_factory_hsm_up socket)" = "$WEIRD"
check "factory /metrics: the HSM is up" "$(v f0.prom writ_factory_hsm_up hsm=$HSM1)" = 1
check "before: the writ is loaded with quantity 3, none issued" \
	"$(v f0.prom writ_hsm_writ_quantity writ=$B1) $(v f0.prom writ_hsm_writ_issued writ=$B1)" = "3 0"
scrape "$CURL_CLOUD/metrics" "$MTOK" c1.prom

# ---- production: three devices, then one too many ----
device()
{
	local uid dac
	uid=$(head -c 16 /dev/urandom | xxd -p)
	mkcsr csr.der
	dac=$(curl -s -X POST -H "Authorization: Bearer $STOK" -H 'Content-Type: application/json' \
		--data-binary "{\"uid\":\"$uid\",\"csr\":\"$(base64 -w0 csr.der)\"}" -w '\n%{http_code}' "$FURL/v1/jobs/$B1/dac")
	DCODE=$(tail -n 1 <<<"$dac")
	[[ $DCODE == 200 ]] || return 0
	curl -s -f -o /dev/null -X POST -H "Authorization: Bearer $STOK" -H 'Content-Type: application/json' \
		--data-binary "$(head -n 1 <<<"$dac" | jq -c --arg w "$B1" --arg u "$uid" \
			'{writ: $w, uid: $u, result: "ok", dac_sha256: .dac_sha256, serial: .serial, hsm_seq: .hsm_seq,
			  firmware_version: 3, qr: "MT:TEST", manual: "12345678901"}')" "$FURL/v1/records" || DCODE=record
}
for i in 1 2 3; do
	device
	check "device $i: DAC and record" "$DCODE" = 200
done
device
check "a fourth device is refused by the HSM (409)" "$DCODE" = 409
# refused by the file drop: a writ with one byte flipped (the HSM refuses it), a bundle
# that is not one (the factory refuses it)
capi GET "/v1/batches/$B1/writ" "$ODM"
cp "$RESP" bad.writ
flip_byte bad.writ 40
cp bad.writ drop/bad.writ.part && mv drop/bad.writ.part drop/bad.writ
head -c 300 /dev/urandom >drop/bad.wbundle.part && mv drop/bad.wbundle.part drop/bad.wbundle
wait_for 10 test -e drop/refused/bad.writ -a -e drop/refused/bad.wbundle || true
check "the drop refused the tampered writ and the junk bundle" -e drop/refused/bad.wbundle.reason -a -e drop/refused/bad.writ.reason
# a cloud-side refusal: a batch over the product's quota
capi POST /v1/batches "$ODM" "{\"product\": \"lamp\", \"version\": \"1.0\", \"factory\": \"$FACTORY_ID\",
	\"hsm\": \"$HSM1\", \"quantity\": 5000, \"not_before\": $((NOW - 60)), \"not_after\": $((NOW + 86400))}"
check "a batch over the quota is refused (409 quota)" "$CODE $(jr .code)" = "409 quota"
# a sync refusal: a records push that is not JSON
capi POST /v1/sync/records "$FTOK" 'not json'
check "a malformed records push is refused (400)" "$CODE" = 400

synced()
{
	curl -s -H "Authorization: Bearer $MES" "$FURL/v1/status" >status.json &&
		[[ $(jq -r '"\(.cloud.queued_records) \(.cloud.queued_journal) \(.cloud.last_ok != null)"' status.json) == "0 0 true" ]]
}
wait_for 60 synced || true
scrape "$FURL/metrics" "$MES" f1.prom
run $PROM check f1.prom
check "factory /metrics after production parses strictly ($(cat "$OUT" "$ERR"))" "$RC" = 0
check "devices per batch (HSM): issued 0 -> 3, remaining 3 -> 0" \
	"$(v f0.prom writ_hsm_writ_issued writ=$B1)->$(v f1.prom writ_hsm_writ_issued writ=$B1) $(v f0.prom writ_hsm_writ_remaining writ=$B1)->$(v f1.prom writ_hsm_writ_remaining writ=$B1)" = "0->3 3->0"
check "devices per batch (factory store): recorded 0 -> 3" \
	"$(v f0.prom writ_factory_dacs writ=$B1 state=recorded)->$(v f1.prom writ_factory_dacs writ=$B1 state=recorded)" = "0->3"
check "HSM refusals by reason: quota +1 on dac" \
	"$(v f0.prom writ_factory_hsm_refusals_total op=dac reason=quota)->$(v f1.prom writ_factory_hsm_refusals_total op=dac reason=quota)" = "0->1"
check "DAC-issue latency histogram: count 0 -> 3" \
	"$(v f0.prom writ_factory_dac_issue_duration_seconds_count)->$(v f1.prom writ_factory_dac_issue_duration_seconds_count)" = "0->3"
check "DAC-issue latency: the sum grew" "$($PY -c "print(int($(v f1.prom writ_factory_dac_issue_duration_seconds_sum) > 0))")" = 1
check "the HSM's journal grew" "$(v f1.prom writ_hsm_journal_next hsm=$HSM1)" -gt "$(v f0.prom writ_hsm_journal_next hsm=$HSM1)"
check "HSM refusals: a writ load refused +1" \
	"$(v f0.prom writ_factory_hsm_refusals_total op=load)->$(v f1.prom writ_factory_hsm_refusals_total op=load)" = "0->1"
check "bundles refused +1" \
	"$(v f0.prom writ_factory_bundles_refused_total)->$(v f1.prom writ_factory_bundles_refused_total)" = "0->1"
check "records 0 -> 3" "$(v f0.prom writ_factory_records)->$(v f1.prom writ_factory_records)" = "0->3"
check "sync: nothing queued once synced, last success set, lag small" \
	"$(v f1.prom writ_factory_sync_queued_records) $(v f1.prom writ_factory_sync_queued_journal_entries) $(($(v f1.prom writ_factory_sync_last_success_seconds) > 0)) $(($(v f1.prom writ_factory_sync_lag_seconds) < 30))" = "0 0 1 1"

# an alert repeated: record 1 resent changed, three times (409 fork each), folds into one
for i in 1 2 3; do
	capi POST /v1/sync/records "$FTOK" '{"records": ["{\"seq\": 1, \"hash\": \"00\"}"]}'
done
check "a stored record resent changed, three times: 409 fork" "$CODE $(jr .code)" = "409 fork"

scrape "$CURL_CLOUD/metrics" "$MTOK" c2.prom
run $PROM check c2.prom
check "cloud /metrics after production parses strictly ($(cat "$OUT" "$ERR"))" "$RC" = 0
check "cloud: devices of the batch 0 -> 3, quantity 3" \
	"$(v c1.prom writ_cloud_batch_devices batch=$B1 factory=$FACTORY_ID oem=acme product=lamp)->$(v c2.prom writ_cloud_batch_devices batch=$B1) $(v c2.prom writ_cloud_batch_quantity batch=$B1)" = "0->3 3"
check "cloud: the factory's last contact is recent" \
	"$(($(v c2.prom writ_cloud_factory_last_contact_seconds factory=$FACTORY_ID) >= NOW))" = 1
check "cloud: the HSM's journal cursor moved" \
	"$(v c2.prom writ_cloud_hsm_journal_next hsm=$HSM1)" -gt "$(v c1.prom writ_cloud_hsm_journal_next hsm=$HSM1)"
check "cloud refusals: batches/quota +1" \
	"$(v c1.prom writ_cloud_refusals_total route=batches code=quota)->$(v c2.prom writ_cloud_refusals_total route=batches code=quota)" = "0->1"
check "cloud refusals: sync/bad_request +1" \
	"$(v c1.prom writ_cloud_refusals_total route=sync code=bad_request)->$(v c2.prom writ_cloud_refusals_total route=sync code=bad_request)" = "0->1"
check "cloud: sync requests counted" \
	"$(v c2.prom writ_cloud_http_requests_total route=sync status=200)" -gt "$(v c1.prom writ_cloud_http_requests_total route=sync status=200)"
check "cloud: the latency histogram of /v1/batches moved" \
	"$(v c2.prom writ_cloud_http_request_duration_seconds_count route=batches)" -gt "$(v c1.prom writ_cloud_http_request_duration_seconds_count route=batches)"
check "cloud: the store answered" "$(v c2.prom writ_cloud_store_up)" = 1
capi GET /v1/alerts "$OEM"
check "cloud: alerts_total counts occurrences (fork 0 -> 3), the OEM sees one alert of count 3" \
	"$(v c1.prom writ_cloud_alerts_total oem=acme kind=fork)->$(v c2.prom writ_cloud_alerts_total oem=acme kind=fork) $(jr '[.alerts[] | select(.kind == "fork") | .count] | tostring')" = "0->3 [3]"
check "cloud: the other OEM's tenant has no batch of acme's (labels carry the OEM)" \
	"$(v c2.prom writ_cloud_batch_devices oem=globex)" = 0

# ---- health when the HSM is gone ----
kill -TERM "${HSMD_PIDS[hsm]}"
wait "${HSMD_PIDS[hsm]}" 2>/dev/null || true
unset 'HSMD_PIDS[hsm]'
CODE=$(curl -s -o health.json -w '%{http_code}' "$FURL/v1/health")
check "factory /v1/health with its HSM stopped: 503 degraded" "$CODE $(jq -r .status health.json)" = "503 degraded"
scrape "$FURL/metrics" "$MES" f2.prom
check "factory /metrics: the HSM is down (0), still well-formed" \
	"$(v f2.prom writ_factory_hsm_up socket="$WEIRD") $($PROM check f2.prom >/dev/null 2>&1; echo $?)" = "0 0"

# what a scrape costs (informational: tests never assert on wall-clock time)
sed -e "s|^$CURL_CLOUD/metrics|writ-cloud|; s|^$FURL/metrics|writ-factory|" scrape-times |
	awk '{n[$1]++; t[$1]+=$2} END {for (u in n) printf "scrape %s /metrics: %d scrapes, mean %.1f ms\n", u, n[u], 1000*t[u]/n[u]}'
echo "DAC issue latency (factory around the HSM call): $(v f1.prom writ_factory_dac_issue_duration_seconds_count) DACs," \
	"sum $(v f1.prom writ_factory_dac_issue_duration_seconds_sum) s"
finish
