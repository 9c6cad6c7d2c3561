#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-factory <-> writ-cloud with real processes: a writ-cloud (SQLite), two
# writ-hsmd (SoftHSM) and a writ-factory that reaches the cloud through a TCP proxy this
# test controls (cut_proxy.py). Enrolment (enrol-info, enrol, add-hsm), then:
#   A. the cloud down for the whole production run (the writ comes by the file drop),
#      then up: everything arrives; the outage is logged once, not every round;
#   B. the link cut in the middle of a bundle download (twice), then whole; a records
#      push and a journal push cut in the middle of their bodies; the answers to a
#      records push and to a journal push lost after the cloud committed them (each then
#      sent again byte for byte: a duplicate, accepted as one);
#   C. the cloud killed (SIGKILL) and restarted in the middle of the upload of a journal
#      push and of a records push, the factory killed in the middle of a push and
#      restarted, and the cloud killed inside the transaction that ingests a large
#      records push (kill_in_tx.py: seen in the store, with no help from the cloud).
# After each: every factory record is in the cloud exactly once (seq and hash, from
# both stores), each batch's "produced" equals the factory's ok records and the HSM's
# DACs, GET /v1/records lists each device once, the cloud's cursors are the factory's
# and the HSMs' next seq, no alert was raised, and the factory's status shows nothing
# queued.
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"
source "$WRIT_SRC/tests/pg_lib.sh"
ENGINE=${1:-sqlite} # the cloud's store: sqlite or postgresql (a private server)

PY=/usr/bin/python3
CLOUDD=$WRIT_BIN/writ-cloud
FACTORYD=$WRIT_BIN/writ-factory
FACTORY_ID=foxy-sz1
CLOUD_PID=
PROXY_PID=
FPID=
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357

_sync_cleanup()
{
	local p
	for p in "$FPID" "$PROXY_PID" "$CLOUD_PID"; do
		[[ -n $p ]] || continue
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ ${KEEP_WORKDIR:-0} == 1 ]]; then echo "workdir kept: $WORK" >&2; fi
	[[ $ENGINE != postgresql ]] || pg_stop
	_cleanup
}

hsm_setup
trap _sync_cleanup EXIT
for tool in "$CLOUDD" "$FACTORYD"; do
	[[ -x $tool ]] || { echo "FAIL: $tool not built" >&2; exit 1; }
done

# ---- the cloud (SQLite), and the proxy the factory goes through ----
if [[ $ENGINE == postgresql ]]; then
	pg_start
	CDB=$WRIT_PG_URL
else
	CDB=sqlite:$WORK/cloud.db
fi
# csql SQL: a query on the cloud's store, rows as a|b|c
csql()
{
	if [[ $ENGINE == postgresql ]]; then
		psql "$CDB" -qAtX -c "$1"
	else
		sqlite3 "$WORK/cloud.db" "$1"
	fi
}
must "$CLOUDD" init --db "$CDB"
OEM=$("$CLOUDD" org add --db "$CDB" --kind oem --name acme --user alice 2>/dev/null)
ODM=$("$CLOUDD" org add --db "$CDB" --kind odm --name foxy --user bob 2>/dev/null)
CPORT=$(free_port)
CURL_CLOUD=http://127.0.0.1:$CPORT

# shellcheck source=tests/integration/cloud_lib.sh
source "$WRIT_SRC/tests/integration/cloud_lib.sh"
start_proxy

start_cloud

# capi METHOD PATH TOKEN [JSON | @FILE]: the cloud's API, directly; CODE and $RESP.
RESP=$WORK/.resp

# ---- the OEM and the ODM set up ----
cmust 201 POST /v1/users "$OEM" '{"name": "sally", "role": "oem-security"}'
SEC=$(jr .token)
cmust 201 POST /v1/products "$OEM" '{"id": "lamp", "name": "Lamp", "vid": 65521, "pid": 32768, "quota": 1000}'
cmust 201 POST /v1/products/lamp/invites "$OEM" '{"odm": "foxy"}'
cmust 201 POST /v1/factories "$OEM" "{\"id\": \"$FACTORY_ID\", \"odm\": \"foxy\"}"
(umask 077 && jr .code >code)
SETTINGS='vendor_id = 0xFFF1\nproduct_id = 0x8000\nvendor_name = Acme\nproduct_name = Lamp\nmfg_date = 2026-11-23\nhw_ver = 1\n'

# version NAME FW_VERSION FW_BYTES [PRODUCT]: firmware signed in the portal, a version,
# approved.
version()
{
	local p=${4:-lamp} sha
	head -c "$3" /dev/urandom >"fw-$p-$1.bin"
	cmust 201 POST "/v1/products/$p/firmware?fw_version=$2&sign=portal" "$SEC" "@fw-$p-$1.bin"
	sha=$(jr .sha256)
	cmust 201 POST "/v1/products/$p/versions" "$ODM" \
		"{\"name\": \"$1\", \"firmware\": \"$sha\", \"settings\": \"$SETTINGS\", \"serial_prefix\": \"LMP\"}"
	cmust 200 POST "/v1/products/$p/versions/$1/approve" "$SEC" '{}'
}

# batch VERSION HSM QUANTITY [NOT_BEFORE_FROM_NOW [PRODUCT]]: prints the batch (= writ) id.
batch()
{
	local now
	now=$(date +%s)
	cmust 201 POST /v1/batches "$ODM" "{\"product\": \"${5:-lamp}\", \"version\": \"$1\", \"factory\": \"$FACTORY_ID\",
		\"hsm\": \"$2\", \"quantity\": $3, \"not_before\": $((now + ${4:--60})), \"not_after\": $((now + 86400))}"
	jr .id
}

# ---- enrolment: the factory, its first HSM, a second HSM ----
run "$FACTORYD" enrol-info --cloud "$PROXY_URL" --code-file code --out oem.pem
check "enrol-info prints the factory id" "$RC $(sed -n 's/^factory //p' "$OUT")" = "0 $FACTORY_ID"
check "enrol-info writes the OEM's writ-signing key" "$(openssl pkey -pubin -in oem.pem -noout -text 2>/dev/null |
	grep -c 'prime256v1\|P-256')" -ge 1
run "$FACTORYD" enrol-info --cloud "$PROXY_URL" --code-file code --out oem.pem
check "enrol-info does not overwrite a file without --force" "$RC" -ne 0
run "$FACTORYD" enrol-info --cloud "$PROXY_URL" --code "$(cat code)" --code-file code --out x.pem
check "--code and --code-file together are refused" "$RC" -eq 2
must "$HSMD" init --state hsm --token writ-hsm --factory "$FACTORY_ID" --oem-key oem.pem
must "$HSMD" init --state hsm2 --token writ-hsm2 --factory "$FACTORY_ID" --oem-key oem.pem
start_hsmd hsm
start_hsmd hsm2
must "$FACTORYD" init --state fac --oem-key oem.pem --factory "$FACTORY_ID"
echo "stale" >taken.token
run "$FACTORYD" enrol --cloud "$PROXY_URL" --code-file code --hsm hsm/hsmd.sock --token-out taken.token
check "enrol refuses to overwrite a token file (before the code is spent)" "$RC" -ne 0 -a "$(cat taken.token)" = stale
run "$FACTORYD" enrol --cloud "$PROXY_URL" --code-file code --hsm hsm/hsmd.sock --token-out fac.token
check "enrol succeeds" "$RC" -eq 0
HSM1=$(sed -n 's/^hsm //p' "$OUT")
check "enrol prints the factory and a 64-hex HSM id" "$(sed -n 's/^factory //p' "$OUT") ${#HSM1}" = "$FACTORY_ID 64"
check "the token file is mode 0600" "$(stat -c %a fac.token)" = 600
check "the token is not printed" "$(grep -c "$(head -c 20 fac.token)" "$OUT" "$ERR" | awk -F: '{s+=$2} END {print s}')" = 0
run "$FACTORYD" enrol --cloud "$PROXY_URL" --code-file code --hsm hsm2/hsmd.sock --token-out other.token
check "a used code is refused (401) and leaves no token file" "$RC/$(grep -c 401 "$ERR")/$([[ -e other.token ]] && echo y)" = "1/1/"
run "$FACTORYD" add-hsm --cloud "$PROXY_URL" --cloud-token-file fac.token --hsm hsm2/hsmd.sock
HSM2=$(sed -n 's/^hsm //p' "$OUT")
check "add-hsm enrols the second HSM" "$RC ${#HSM2}" = "0 64"
cmust 200 GET /v1/factories "$OEM"
check "the cloud lists both HSMs of the factory" "$(jq '.factories[0].hsms | length' "$RESP")" = 2

# ---- the line: stations and devices through the factory API ----
FPORT=$(free_port)
FURL=http://127.0.0.1:$FPORT
mkdir -p drop
start_factory()
{
	"$FACTORYD" serve --insecure-http --state fac --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock --hsm hsm2/hsmd.sock --drop drop \
		--cloud "$PROXY_URL" --cloud-token-file fac.token --sync-interval 1 >>factory.log 2>&1 &
	FPID=$!
	wait_for 10 curl -s -o /dev/null "$FURL/v1/status" || { echo "FAIL: writ-factory: $(tail -n 5 factory.log)" >&2; exit 1; }
}
stop_factory()
{
	kill -"${1:-TERM}" "$FPID" 2>/dev/null || true
	wait "$FPID" 2>/dev/null || true
	FPID=
}
fstatus() { curl -s -H "Authorization: Bearer $MES" "$FURL/v1/status" >status.json; }
# synced: the factory's status shows nothing queued and the last round was clean
synced()
{
	fstatus && [[ $(jq -r '"\(.cloud.queued_records) \(.cloud.queued_journal) \(.cloud.last_error)"' status.json) == "0 0 null" ]] &&
		[[ $(jq -r '.cloud.last_ok' status.json) != null ]]
}

# device WRIT FW_VERSION: one device through DAC and an ok record. The DAC is asked
# again after a 503, as a station does (a restarted HSM: the factory's first request on
# an old connection fails).
device()
{
	local uid dac i
	uid=$(head -c 16 /dev/urandom | xxd -p)
	mkcsr csr.der
	for i in 1 2 3; do
		dac=$(curl -s -f -X POST -H "Authorization: Bearer $STOK" -H 'Content-Type: application/json' \
			--data-binary "{\"uid\":\"$uid\",\"csr\":\"$(base64 -w0 csr.der)\"}" "$FURL/v1/jobs/$1/dac") && break
		dac=
		sleep 0.2
	done
	[[ -n $dac ]] || { echo "FAIL: DAC for $uid under $1" >&2; return 1; }
	curl -s -f -o /dev/null -X POST -H "Authorization: Bearer $STOK" -H 'Content-Type: application/json' \
		--data-binary "$(jq -c --arg w "$1" --arg u "$uid" --argjson fv "$2" \
			'{writ: $w, uid: $u, result: "ok", dac_sha256: .dac_sha256, serial: .serial, hsm_seq: .hsm_seq,
			  firmware_version: $fv, qr: "MT:TEST", manual: "12345678901"}' <<<"$dac")" "$FURL/v1/records" ||
		{ echo "FAIL: record of $uid" >&2; return 1; }
}
# failed WRIT: a failed device (no DAC), with a long reason so that records are large.
REASON=$(printf 'the chip did not answer after flashing; %.0s' {1..5})
failed()
{
	curl -s -f -o /dev/null -X POST -H "Authorization: Bearer $STOK" -H 'Content-Type: application/json' \
		--data-binary "{\"writ\":\"$1\",\"uid\":\"$(head -c 16 /dev/urandom | xxd -p)\",\"result\":\"failed\",\"step\":\"firmware\",\"reason\":\"${REASON:0:250}\"}" \
		"$FURL/v1/records"
}

# issued WRIT: the DACs both HSMs issued under WRIT
issued()
{
	local n=0 st v
	for st in hsm hsm2; do
		v=$(counts "$st" "$1" | sed -n 's/^issued \([0-9]*\) .*/\1/p')
		n=$((n + ${v:-0}))
	done
	echo "$n"
}

# hsm_next HSM_ID: the cloud's journal cursor of an HSM (its next seq)
hsm_next()
{
	if [[ $ENGINE == postgresql ]]; then
		csql "select next_seq from hsms where encode(hsm_id, 'hex') = '$1'"
	else
		csql "select next_seq from hsms where lower(hex(hsm_id)) = '$1'"
	fi
}

# exactly_once WHAT WRIT...: the end state the cloud and the factory must agree on.
exactly_once()
{
	local what=$1 w fdb=fac/factory.db ok produced listed st id last
	shift
	last=$(sqlite3 "$fdb" 'select coalesce(max(seq), 0) from records')
	check "$what: the cloud's record cursor is the factory's next record ($((last + 1)))" \
		"$(csql "select rec_next from factories where name = '$FACTORY_ID'")" = $((last + 1))
	for st in hsm hsm2; do
		id=$HSM1
		[[ $st == hsm ]] || id=$HSM2
		status "$st"
		check "$what: the cloud's journal cursor of $st is the HSM's next entry" \
			"$(hsm_next "$id")" = "$(sed -n 's/.*journal entries \([0-9]*\).*/\1/p' "$OUT")"
	done
	capi GET /v1/alerts "$OEM"
	check "$what: no alert was raised (every retry was an honest one) ($(jq -c '[.alerts[] | .kind]' "$RESP"))" \
		"$CODE $(jq '.alerts | length' "$RESP")" = "200 0"
	sqlite3 "$fdb" 'select seq, hash from records order by seq' >f.rec
	csql "select r.seq, r.hash from frecords r join factories f on f.id = r.factory_id
		where f.name = '$FACTORY_ID' order by r.seq" >c.rec
	check "$what: every factory record is in the cloud exactly once ($(wc -l <f.rec) records)" \
		"$(md5sum <f.rec)" = "$(md5sum <c.rec)" -a -s f.rec
	for w in "$@"; do
		ok=$(sqlite3 "$fdb" "select count(*) from records where json like '%\"result\":\"ok\"%' and json like '%\"writ\":\"$w\"%'")
		capi GET "/v1/batches/$w" "$OEM"
		produced=$(jr .produced)
		capi GET "/v1/records?batch=$w&limit=10000" "$OEM"
		listed=$(jq '[.records[] | .uid] | unique | length' "$RESP")
		check "$what: batch ${w:0:8}: produced = the factory's ok records = devices listed once ($ok)" \
			"$produced $listed $(jq '.records | length' "$RESP")" = "$ok $ok $ok"
		check "$what: batch ${w:0:8}: the HSMs issued as many DACs" "$(issued "$w")" = "$ok"
	done
}

version 1.0.0 3 65536
B1=$(batch 1.0.0 "$HSM1" 40)

# ---- A. the cloud down for the whole run (the writ by the file drop), then up ----
capi GET "/v1/batches/$B1/writ" "$ODM"
cp "$RESP" drop/b1.writ.part && mv drop/b1.writ.part drop/b1.writ
capi GET /v1/products/lamp/versions/1.0.0/bundle "$ODM"
cp "$RESP" drop/v1.wbundle.part && mv drop/v1.wbundle.part drop/v1.wbundle
stop_cloud
start_factory
must "$FACTORYD" token add --state fac --role mes
MES=$(cat "$OUT")
wait_for 10 test -e drop/done/b1.writ -a -e drop/done/v1.wbundle
check "A: the writ and the bundle came by the drop" -e drop/done/b1.writ
must "$FACTORYD" station add --state fac --name st1 --line L1
SCODE=$(sed -n 's/^code //p' "$OUT")
STOK=$(curl -s -X POST -H 'Content-Type: application/json' \
	--data-binary "{\"code\":\"$SCODE\",\"name\":\"st1\",\"line\":\"L1\"}" "$FURL/v1/stations/enrol" | jq -r .token)
for i in $(seq 8); do device "$B1" 3; done
for i in $(seq 3); do failed "$B1"; done
sleep 4 # several rounds (interval 1 s) against a cloud that is down
fstatus
check "A: production went on: 11 records, all queued" "$(jq -r '"\(.records) \(.cloud.queued_records)"' status.json)" = "11 11"
check "A: the journal is queued too" "$(jq '.cloud.queued_journal' status.json)" -gt 0
check "A: the status says the cloud is unreachable" "$(jq -r '"\(.cloud.last_ok) \(.cloud.reachable)"' status.json)" = "null false"
check "A: the outage is logged once, not every round" "$(grep -c 'unreachable since' factory.log)" = 1
check_grep "A: ... with what is queued" 'unreachable since [0-9]+ .*[0-9]+ records and [0-9]+ journal entries queued' factory.log
start_cloud
wait_for 60 synced || true
check "A: once the cloud is up, nothing is queued" "$(jq -r '"\(.cloud.queued_records) \(.cloud.queued_journal)"' status.json)" = "0 0"
# the portal sees the factory's queue as the factory reports it with the writ feed
RECOVERED=$(date +%s)
cloud_queue() { capi GET /v1/factories "$OEM" && jq -r '.factories[0].queued | "\(.records) \(.journal) \(.at)"' "$RESP"; }
cloud_queue_empty() { read -r qr qj qat <<<"$(cloud_queue)" && [[ $qr == 0 && $qj == 0 && $qat -ge $RECOVERED ]]; }
wait_for 30 cloud_queue_empty || true
check "A: the portal shows the factory's queue, empty since the cloud came back ($(cloud_queue))" \
	"$(cloud_queue | cut -d' ' -f1-2)" = "0 0"
fq() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat fac.token)" "$CURL_CLOUD/v1/sync/writs?since=0&$1"; }
check "A: queue counts that are not counts are refused (400)" \
	"$(fq 'queued_records=-1&queued_journal=0&queued_telemetry=0') $(fq 'queued_records=1x&queued_journal=0&queued_telemetry=0') $(fq 'queued_records=99999999999999999999&queued_journal=0&queued_telemetry=0') $(fq 'queued_records=1')" = "400 400 400 400"
check_grep "A: the end of the outage is logged" 'reachable again after' factory.log
check "A: the writ the drop loaded was pulled again, harmlessly (loaded)" \
	"$(sqlite3 fac/factory.db "select state from cloud_writs where id = '$B1'")" = loaded
exactly_once A "$B1"
JN=$(jq -c '[.hsms[].journal_next]' status.json)
sleep 3
fstatus
check "an idle factory's rounds do not grow the HSM journals (checkpoints only after new entries)" \
	"$(jq -c '[.hsms[].journal_next]' status.json)" = "$JN"

# ---- B. the link cut: a bundle download (twice), pushes mid-body, answers after the commit ----
version 2.0.0 4 1500000
# before the batch: the factory pulls its writ within a second
proxy cut-down 262144 2 /v1/sync/bundles/
B2=$(batch 2.0.0 "$HSM2" 20)
jobs_has() { curl -s -H "Authorization: Bearer $STOK" "$FURL/v1/jobs" | jq -e --arg w "$1" 'any(.jobs[]; .writ == $w)' >/dev/null; }
wait_for 30 jobs_has "$B2" || fail "B: the writ for HSM 2 did not become a job within 30 s"
check "B: the proxy cut two downloads" "$(grep -c '^cut-down .* GET /v1/sync/bundles/' proxy.log)" = 2
check "B: the writ for HSM 2 became a job once its bundle arrived" \
	"$(curl -s -H "Authorization: Bearer $STOK" "$FURL/v1/jobs" | jq --arg w "$B2" '[.jobs[] | select(.writ == $w)] | length')" = 1
check "B: the bundle was stored once" "$(grep -c 'cloud: bundle .* loaded' factory.log)" = 1
check_grep "B: the cut download was logged as a wait" 'waits: its bundle .* could not be fetched' factory.log
check "B: no writ was refused" "$(sqlite3 fac/factory.db "select count(*) from cloud_writs where state != 'loaded'")" = 0
proxy pass
# a backup of HSM 2's state (stopped: a consistent copy), restored in D
stop_hsmd hsm2
cp -a hsm2 hsm2.bak
start_hsmd hsm2
for i in $(seq 5); do device "$B2" 4; done
wait_for 30 synced || true
exactly_once B "$B1" "$B2"

# proxy_mark: what the proxy logs from now on is proxy_new; proxy_new_has ERE: a line of it
proxy_mark() { PLINE=$(wc -l <proxy.log); }
proxy_new() { tail -n +$((PLINE + 1)) proxy.log; }
proxy_new_has() { proxy_new | grep -q "$1"; }
# cut_push WHAT MODE...: the proxy set to cut as MODE says, then a device (HSM 2) and two
# failed ones for the factory to push; waits for the cut (its log line in $CUT), then for
# the sync after it.
cut_push()
{
	local what=$1
	shift
	proxy_mark
	proxy "$@"
	device "$B2" 4
	failed "$B2"
	failed "$B2"
	wait_for 20 proxy_new_has '^cut-' || true
	CUT=$(proxy_new | grep '^cut-' | head -n 1)
	check "B: $what ($CUT)" -n "$CUT"
	proxy pass
	wait_for 30 synced || fail "B: $what: the factory did not sync after the cut ($(jq -c .cloud status.json))"
}
# the part of the body that went up: "SENT LENGTH" from a cut's log line
cut_body() { sed -n 's|.* body \([0-9]*\)/\([0-9]*\).*|\1 \2|p' <<<"$CUT"; }
mid_body() { read -r sent len <<<"$(cut_body)" && [[ $sent -gt 0 && $sent -lt $len ]]; }
cut_push "a records push cut in the middle of its body" cut-up 100 1 /v1/sync/records
check "B: ... (cut after $(cut_body | tr ' ' /) bytes)" -n "$(mid_body && echo y)"
cut_push "a journal push cut in the middle of its body" cut-up 100 1 /v1/sync/journal
check "B: ... (cut after $(cut_body | tr ' ' /) bytes)" -n "$(mid_body && echo y)"

# replay PATH: the request whose answer the last cut lost, sent again byte for byte (as
# a factory would that did not learn it was taken): HTTP code in CODE, the answer in
# $RESP, the number of records or entries it holds in N
replay()
{
	local conn body resent
	conn=$(cut -d' ' -f2 <<<"$CUT")
	body=$(sed -n 's/.* saved \(.*\)$/\1/p' <<<"$CUT")
	check "B: ... after the cloud had answered it 200 (committed)" \
		"$(grep "^answer $conn " proxy.log | tail -n 1)" = "answer $conn HTTP/1.1 200 OK"
	# the factory's HTTP client (libcurl) sent it again at once, on a new connection
	# (a request on a reused connection that got no answer is retried)
	resent=$(proxy_new | sed -n "s|^request \([0-9]*\) POST $1\$|\1|p" | grep -vx "$conn" | head -n 1)
	check "B: ... the factory sent it again itself, and the cloud answered 200" \
		"$(grep "^answer ${resent:-none} " proxy.log | head -n 1)" = "answer ${resent:-none} HTTP/1.1 200 OK"
	N=$(jq '.records // .entries | length' "$body")
	CODE=$(curl -s -o "$RESP" -w '%{http_code}' -H "Authorization: Bearer $(cat fac.token)" \
		-H 'Content-Type: application/json' --data-binary "@$body" "$CURL_CLOUD$1") || CODE=000
}
cut_push "the answer to a records push lost after the cloud committed it" cut-down 0 1 /v1/sync/records
replay /v1/sync/records
check "B: the same records push again: $N duplicates, nothing new ($(cat "$RESP"))" \
	"$CODE $(jq -c '[.accepted, .duplicate, .next]' "$RESP")" = \
	"200 [0,$N,$(csql "select rec_next from factories where name = '$FACTORY_ID'")]"
cut_push "the answer to a journal push lost after the cloud committed it" cut-down 0 1 /v1/sync/journal
replay /v1/sync/journal
check "B: the same journal push again: $N duplicates, nothing new ($(cat "$RESP"))" \
	"$CODE $(jq -c '[.accepted, .duplicate, .next]' "$RESP")" = "200 [0,$N,$(hsm_next "$HSM2")]"
exactly_once "B (cut pushes)" "$B1" "$B2"

# ---- C. the cloud killed mid-upload and inside its ingest transaction, the factory killed mid-push ----
# failed_many WRIT N: N failed devices, as `failed` makes one, over one connection
failed_many()
{
	$PY - "$FPORT" "$STOK" "$1" "$2" "${REASON:0:250}" <<'EOF'
import http.client, json, os, sys
port, token, writ, n, reason = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for i in range(n):
    c.request("POST", "/v1/records", json.dumps({"writ": writ, "uid": os.urandom(16).hex(), "result": "failed",
              "step": "firmware", "reason": reason}), {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status // 100 != 2:
        sys.exit(f"FAIL: failed record {i}: HTTP {r.status}")
EOF
}
# mid_push PATH: waits (30 s at most) for a push to PATH going up the slow link since
# proxy_mark, and for part of its body to go; its connection number in CONN (empty if
# none came)
mid_push()
{
	CONN=
	MPATH=$1
	wait_for 30 proxy_new_has "^request [0-9]* POST $1\$" || return 0
	CONN=$(proxy_new | grep "^request [0-9]* POST $1\$" | tail -n 1 | cut -d' ' -f2)
	sleep 0.5
}
# unanswered: the push mid_push saw had no answer (the proxy logs an answer's status line)
unanswered()
{
	sleep 0.2
	[[ -n $CONN ]] && ! proxy_new | sed -n "\|^request $CONN POST $MPATH\$|,\$p" | grep -q "^answer $CONN "
}
stop_cloud
for i in $(seq 6); do device "$B1" 3; done
failed_many "$B1" 1500
for i in $(seq 3); do device "$B2" 4; done
# a journal push is a few KB: at 2000 B/s it takes more than a second
proxy slow 2000
proxy_mark
start_cloud
mid_push /v1/sync/journal
stop_cloud KILL
check "C: the cloud was killed during the upload of a journal push (connection ${CONN:-none}, not answered)" \
	-n "$(unanswered && echo y)"
proxy slow 40000
proxy_mark
start_cloud
mid_push /v1/sync/records
stop_cloud KILL
check "C: the cloud was killed during the upload of a records push (connection ${CONN:-none}, not answered)" \
	-n "$(unanswered && echo y)"
proxy_mark
start_cloud
mid_push /v1/sync/records
stop_factory KILL
check "C: the factory was killed during the upload of a records push (connection ${CONN:-none}, not answered)" \
	-n "$(unanswered && echo y)"
# the restarted factory pushes the 1500 records again, slowly; then at full speed, and
# the cloud is killed inside the transaction that stores them
proxy_mark
start_factory
mid_push /v1/sync/records
REC0=$(csql "select rec_next from factories where name = '$FACTORY_ID'")
$PY "$WRIT_SRC/tests/integration/kill_in_tx.py" "$CLOUD_PID" "$ENGINE" "${CDB#sqlite:}" proxy.log /v1/sync/records 60 \
	>kill_in_tx.out 2>&1 &
KPID=$!
sleep 0.2
proxy pass
KRC=0
wait "$KPID" || KRC=$?
check "C: the cloud was killed inside its ingest transaction ($(cat kill_in_tx.out))" "$KRC" = 0
stop_cloud # reaps it
check "C: ... and that transaction left nothing (the record cursor did not move: $REC0)" \
	"$(csql "select rec_next from factories where name = '$FACTORY_ID'") $(csql "select count(*) from frecords")" = \
	"$REC0 $((REC0 - 1))"
start_cloud
wait_for 60 synced || true
check "C: after the restarts nothing is queued" "$(jq -r '"\(.cloud.queued_records) \(.cloud.queued_journal) \(.cloud.last_error)"' status.json)" = "0 0 null"
exactly_once C "$B1" "$B2"
check "no writ pulled from the cloud so far was refused" "$(sqlite3 fac/factory.db "select count(*) from cloud_writs where state = 'refused'")" = 0

# ---- E. writs the HSM refuses: for good (damaged in the cloud's store), for now (not valid yet) ----
cmust 201 POST /v1/products "$OEM" '{"id": "bulb", "name": "Bulb", "vid": 65521, "pid": 32768, "quota": 20000000}'
cmust 201 POST /v1/products/bulb/invites "$OEM" '{"odm": "foxy"}'
version 1.0.0 3 4096 bulb
now=$(date +%s)
capi POST /v1/batches "$ODM" "{\"product\": \"bulb\", \"version\": \"1.0.0\", \"factory\": \"$FACTORY_ID\",
	\"hsm\": \"$HSM1\", \"quantity\": 17000000, \"not_before\": $((now - 60)), \"not_after\": $((now + 86400))}"
check "E: the cloud refuses a batch larger than one HSM writ can hold" "$CODE $(jr .code)" = "400 bad_request"
# a writ damaged in the cloud's store (the factory must not be able to tell a store
# fault from an attack, and the HSM refuses it for good): made while the link is down
proxy refuse
BIG=$(batch 1.0.0 "$HSM1" 5 -60 bulb)
if [[ $ENGINE == postgresql ]]; then
	csql "update writs set sealed = '\\x00'::bytea where writ_id = decode('$BIG', 'hex')"
else
	csql "update writs set sealed = X'00' where writ_id = X'$BIG'"
fi
LATER=$(batch 1.0.0 "$HSM1" 5 3600)
proxy pass
writ_state() { sqlite3 fac/factory.db "select state from cloud_writs where id = '$1'"; }
later_waits() { [[ $(writ_state "$BIG") == refused && $(writ_state "$LATER") == pending ]] &&
	sqlite3 fac/factory.db "select reason from cloud_writs where id = '$LATER'" | grep -q 'not valid before'; }
wait_for 30 later_waits || true
check "E: a writ the HSM refuses is kept refused, with the HSM's reason" \
	"$(writ_state "$BIG") $(sqlite3 fac/factory.db "select length(reason) > 5 from cloud_writs where id = '$BIG'")" = "refused 1"
check "E: a writ not valid yet waits, offered again later" "$(writ_state "$LATER") $(sqlite3 fac/factory.db \
	"select attempts >= 1 and next_at > strftime('%s','now') from cloud_writs where id = '$LATER'")" = "pending 1"
sleep 3
check "E: the refused writ is not offered again (one log line)" "$(grep -c "($BIG) refused" factory.log)" = 1
fstatus
check "E: the status counts them" "$(jq -r '"\(.cloud.writs_refused) \(.cloud.writs_pending)"' status.json)" = "1 1"

# ---- D. HSM 2 restored from its backup: its journal forks from what the cloud verified ----
stop_hsmd hsm2
rm -rf hsm2
mv hsm2.bak hsm2
start_hsmd hsm2
device "$B2" 4
# journal_stopped is set mid-round, last_error at the round's end: wait for both
stopped()
{
	fstatus && [[ $(jq -r --arg h "$HSM2" '.cloud.journal_stopped | index($h)' status.json) != null ]] &&
		[[ $(jq -r '.cloud.last_error' status.json) != null ]]
}
wait_for 30 stopped || true
check "D: the factory stops pushing the forked journal" "$(jq -r --arg h "$HSM2" '.cloud.journal_stopped | index($h)' status.json)" != null
check_grep "D: ... and says so loudly" "THE CLOUD REFUSED THE JOURNAL OF EDGE HSM $HSM2 \(fork" factory.log
capi GET /v1/alerts "$OEM"
check "D: the cloud raised a fork alert" "$(jq '[.alerts[] | select(.kind == "fork")] | length' "$RESP")" -ge 1
check "D: the forked HSM's device record waits; nothing else is queued" \
	"$(jq -r '"\(.cloud.queued_records) \(.cloud.last_error != null)"' status.json)" = "1 true"
check "the token never reached the factory's log" "$(grep -c "$(head -c 20 fac.token)" factory.log)" = 0

stop_factory
check "writ-factory stops cleanly with the sync thread" "$(grep -c 'stopping on signal' factory.log)" -ge 1
check "no sanitizer report from writ-factory or writ-cloud" "$(cat factory.log cloud.log | grep -c 'Sanitizer\|runtime error')" = 0
finish
