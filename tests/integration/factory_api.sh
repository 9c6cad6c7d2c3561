#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# writ-factory end to end: a real writ-hsmd with SoftHSM (hsm_lib.sh fixtures), a
# bundle and writs through the file drop, the station API over loopback HTTP (curl),
# every refusal with no state change, records as JSONL / CSV with the hash chain
# checked by independent Python code, the MES webhook (down, then up), and a full disk
# (the state directory on a small tmpfs, when this test may mount one).
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"

FACTORYD=$WRIT_BIN/writ-factory
PY=/usr/bin/python3
declare -a EXTRA_PIDS=()
MOUNTED=

_factory_cleanup()
{
	local p
	for p in "${EXTRA_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ -n $MOUNTED ]]; then
		umount "$MOUNTED" 2>/dev/null || true
	fi
	_cleanup
}

hsm_setup
trap _factory_cleanup EXIT
[[ -x $FACTORYD ]] || { echo "FAIL: $FACTORYD not built" >&2; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl (Debian package curl) is needed" >&2; exit 1; }


# api METHOD PATH [BODY|@FILE] [TOKEN]: CODE is the HTTP status, $RESP the body file.
RESP=$WORK/.resp
api()
{
	local method=$1 path=$2 body=${3:-} tok=${4:-} args
	args=(-s -o "$RESP" -w '%{http_code}' -X "$method")
	[[ -n $tok ]] && args+=(-H "Authorization: Bearer $tok")
	if [[ -n $body ]]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$body")
	fi
	CODE=$(curl "${args[@]}" "http://127.0.0.1:$PORT$path") || CODE=000
}

# expect_api WHAT STATUS METHOD PATH [BODY [TOKEN]]
expect_api()
{
	local what=$1 want=$2
	shift 2
	api "$@"
	if [[ $CODE == "$want" ]]; then
		pass "$what ($CODE $(head -c 150 "$RESP"))"
	else
		fail "$what: HTTP $CODE, want $want: $(head -c 300 "$RESP")"
	fi
}

jget() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$RESP" "$1"; }

# state_now: record count (store) and the HSM's issued counts, to prove no change.
state_now() { echo "records=$(sqlite3 "$FST/factory.db" 'select count(*) from records') $(snapshot hsm | grep '^writ ' | sed 's/ *$//')"; }

start_factory()
{
	local i
	"$FACTORYD" serve --insecure-http --state "$FST" --listen "127.0.0.1:$PORT" --hsm hsm/hsmd.sock --drop drop \
		--webhook "http://127.0.0.1:$WPORT/hook" >>factory.log 2>&1 &
	FPID=$!
	for ((i = 0; i < 200; i++)); do
		api GET /v1/status
		[[ $CODE == 401 ]] && return 0
		kill -0 "$FPID" 2>/dev/null || { echo "writ-factory exited: $(tail -n 5 factory.log)" >&2; return 1; }
		sleep 0.05
	done
	echo "writ-factory did not listen in 10 s" >&2
	return 1
}

stop_factory()
{
	local i
	kill -TERM "$FPID" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$FPID" 2>/dev/null || break
		sleep 0.05
	done
	FRC=0
	wait "$FPID" || FRC=$?
}

wait_file() { local i; for ((i = 0; i < 100; i++)); do [[ -e $1 ]] && return 0; sleep 0.1; done; return 1; }

# ---- the authority, the HSM, a bundle and two writs ----
make_authority auth
make_hsm hsm
certify hsm pai.der
start_hsmd hsm
head -c 65536 /dev/urandom >fw.bin
head -c 32 /dev/urandom >ota.key
cat >settings.txt <<SET
vendor_id = 0x$VID
product_id = 0x$PID
vendor_name = Acme
product_name = Lamp
SET
must "$WRIT" authority bundle --dir auth --product lamp --version 1.4.0 --firmware fw.bin --fw-version 3 \
	--settings settings.txt --secret ota-key --serial-prefix LMP --out lamp.wbundle
VD=$(sed -n 's/^version-digest //p' "$OUT")
FD=$(sed -n 's/^firmware-digest //p' "$OUT")
check "bundle prints both digests" ${#VD} -eq 64 -a ${#FD} -eq 64
check "firmware digest is SHA-256 of the image" "$FD" = "$(sha256sum fw.bin | cut -d' ' -f1)"
run "$WRIT" authority bundle --dir auth --product lamp --version 1 --firmware fw.bin --fw-version 3 \
	--settings settings.txt --recipe discover,dac,keys --out bad.wbundle
check "a recipe out of order is refused" "$RC" -ne 0
W1=$(mint w1.cose 3 1000 --version-digest "$VD" --firmware-digest "$FD" --secret ota-key=ota.key)
W2=$(mint w2.cose 5 2000 --version-digest "$VD" --firmware-digest "$FD")
W3=$(mint w3.cose 10 3000 --version-digest "$VD" --firmware-digest "$FD")

# ---- the factory: state on a small tmpfs when we may mount one ----
mkdir -p fstate
if [[ $(id -u) -eq 0 ]] && mount -t tmpfs -o size=8m writ-factory-test fstate 2>/dev/null; then
	MOUNTED=$WORK/fstate
fi
FST=$WORK/fstate/st
must "$FACTORYD" init --state "$FST" --oem-key auth/writ-signing.pub.pem --factory "$FACTORY"
run "$FACTORYD" init --state "$FST" --oem-key auth/writ-signing.pub.pem --factory "$FACTORY"
check "init twice is refused" "$RC" -ne 0
mkdir -p drop
cp lamp.wbundle drop/lamp.wbundle
cp w1.cose drop/w1.writ
cp w2.cose drop/w2.writ
cp w3.cose drop/w3.writ
# refused drops: a tampered writ, a bundle whose signature does not verify, one signed by another key
cp w1.cose drop/tampered.writ
flip_byte drop/tampered.writ 200
cp lamp.wbundle drop/badsig.wbundle
flip_byte drop/badsig.wbundle $(($(stat -c %s lamp.wbundle) - 5))
make_authority auth2 writ-authority-2
must "$WRIT" authority bundle --dir auth2 --product lamp --version 9.9.9 --firmware fw.bin --fw-version 3 \
	--settings settings.txt --out drop/otherkey.wbundle
PORT=$(free_port)
WPORT=$(free_port)
start_factory || exit 1

wait_file drop/done/w1.writ && wait_file drop/done/w2.writ && wait_file drop/done/w3.writ && wait_file drop/done/lamp.wbundle
check "the writs and the bundle were loaded from the drop" -e drop/done/w1.writ -a -e drop/done/lamp.wbundle
wait_file drop/refused/tampered.writ.reason || true
check "a tampered writ lands in refused/" -e drop/refused/tampered.writ
check_grep "with a reason" "tampered|another HSM|decrypt" drop/refused/tampered.writ.reason
check "a bundle with a bad signature lands in refused/" -e drop/refused/badsig.wbundle
check_grep "with a reason" "not signed by the pinned OEM" drop/refused/badsig.wbundle.reason
check_grep "a bundle of another key is refused" "not signed by the pinned OEM" drop/refused/otherkey.wbundle.reason
check "the firmware is kept by its digest" -e "$FST/firmware/$FD"

# ---- enrolment ----
must "$FACTORYD" station add --state "$FST" --name st1 --line L1
CODE1=$(sed -n 's/^code //p' "$OUT")
expect_api "enrol with a one-time code" 200 POST /v1/stations/enrol "{\"code\":\"$CODE1\",\"name\":\"st1\",\"line\":\"L1\"}"
TOK=$(jget '["token"]')
expect_api "the same code twice is refused" 401 POST /v1/stations/enrol "{\"code\":\"$CODE1\",\"name\":\"st1\",\"line\":\"L1\"}"
must "$FACTORYD" station add --state "$FST" --name st2 --line L1
CODE2=$(sed -n 's/^code //p' "$OUT")
expect_api "a code for another station name is refused" 403 POST /v1/stations/enrol "{\"code\":\"$CODE2\",\"name\":\"x\",\"line\":\"L1\"}"
expect_api "enrol station 2" 200 POST /v1/stations/enrol "{\"code\":\"$CODE2\",\"name\":\"st2\",\"line\":\"L1\"}"
TOK2=$(jget '["token"]')
ST2=$(jget '["station"]')
must "$FACTORYD" token add --state "$FST" --role mes
MES=$(cat "$OUT")
check "no token is stored in clear" "$(sqlite3 "$FST/factory.db" "select count(*) from tokens where hex(sha256) like '%$(printf %s "$TOK" | xxd -p | head -c 16 | tr a-f A-F)%'")" = 0

# ---- jobs ----
expect_api "GET /v1/jobs" 200 GET /v1/jobs "" "$TOK"
check_grep "the job for writ 1 is listed" "$W1" "$RESP"
check "jobs carry the recipe and quantity" "$(jget '["jobs"][0]["recipe"][0]')" = discover
expect_api "GET /v1/jobs/W1" 200 GET "/v1/jobs/$W1" "" "$TOK"
check "the job names its firmware digest" "$(jget '["firmware_sha256"]')" = "$FD"
check "the job carries the settings and secret labels" "$(jget '["secret_labels"][0]')" = ota-key
api GET "/v1/jobs/$W1/firmware" "" "$TOK"
check "the firmware image downloads intact" "$CODE" = 200 -a "$(sha256sum <"$RESP" | cut -d' ' -f1)" = "$FD"

# ---- DACs ----
dac_body() { echo "{\"uid\":\"$1\",\"csr\":\"$(base64 -w0 "$2")\"}"; }
UID1=$(head -c 16 /dev/urandom | xxd -p)
openssl ecparam -name prime256v1 -genkey -noout -out k1.pem
openssl req -new -key k1.pem -subj /CN=device -outform DER -out c1.der
openssl req -new -key k1.pem -subj /CN=device -outform DER -out c1b.der
BEFORE=$(state_now)
expect_api "an authenticated DAC request with an OpenSSL CSR" 200 POST "/v1/jobs/$W1/dac" "$(dac_body "$UID1" c1.der)" "$TOK"
$PY -c 'import json,sys,base64; d=json.load(open(sys.argv[1])); open("dac1.der","wb").write(base64.b64decode(d["dac"]))' "$RESP"
DSHA=$(jget '["dac_sha256"]')
DSER=$(jget '["serial"]')
DSEQ=$(jget '["hsm_seq"]')
check "the DAC verifies under the PAI" "$(openssl verify -partial_chain -CAfile pai.pem <(openssl x509 -inform DER -in dac1.der) 2>&1 | tail -n1 | grep -c OK)" = 1
check "the DAC is noted before it is answered" "$(sqlite3 "$FST/factory.db" "select state from dacs where uid='$UID1'")" = issued
check "its sha256 is noted" "$(sqlite3 "$FST/factory.db" "select dac_sha256 from dacs where uid='$UID1'")" = "$(sha256sum dac1.der | cut -d' ' -f1)"
expect_api "a new CSR for the same key repeats the noted answer" 200 POST "/v1/jobs/$W1/dac" "$(dac_body "$UID1" c1b.der)" "$TOK"
check "... the same DAC" "$(jget '["dac_sha256"]')" = "$DSHA"
check "... without a second HSM issuance" "$(counts hsm "$W1")" = "issued 1 remaining 2"
mkcsr c1c.der
expect_api "the same device with another key is refused" 409 POST "/v1/jobs/$W1/dac" "$(dac_body "$UID1" c1c.der)" "$TOK"
check "... with code replay" "$(jget '["code"]')" = replay
check "... without an HSM issuance" "$(counts hsm "$W1")" = "issued 1 remaining 2"

# ---- refusals, each with no state change ----
BEFORE=$(state_now)
UIDX=$(head -c 16 /dev/urandom | xxd -p)
mkcsr cx.der
GOOD=$(dac_body "$UIDX" cx.der)
expect_api "no token" 401 POST "/v1/jobs/$W1/dac" "$GOOD"
check "... with code auth" "$(jget '["code"]')" = auth
expect_api "an unknown token" 401 POST "/v1/jobs/$W1/dac" "$GOOD" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
must "$FACTORYD" station revoke --state "$FST" "$ST2"
expect_api "a revoked station" 403 POST "/v1/jobs/$W1/dac" "$GOOD" "$TOK2"
expect_api "an mes token on a station endpoint" 403 POST "/v1/jobs/$W1/dac" "$GOOD" "$MES"
expect_api "a station token on the mes endpoint" 403 GET "/v1/records" "" "$TOK"
expect_api "malformed JSON" 400 POST "/v1/jobs/$W1/dac" '{"uid": ' "$TOK"
check "... with code invalid" "$(jget '["code"]')" = invalid
expect_api "an all-zero UID (the HSM's WRIT_E_INVAL) is 400" 400 POST "/v1/jobs/$W1/dac" "$(dac_body 00000000000000000000000000000000 cx.der)" "$TOK"
expect_api "a wrong type" 400 POST "/v1/jobs/$W1/dac" "{\"uid\":12,\"csr\":\"AAAA\"}" "$TOK"
expect_api "an unknown field" 400 POST "/v1/jobs/$W1/dac" "{\"uid\":\"$UIDX\",\"csr\":\"$(base64 -w0 cx.der)\",\"x\":1}" "$TOK"
expect_api "a missing field" 400 POST "/v1/jobs/$W1/dac" "{\"uid\":\"$UIDX\"}" "$TOK"
expect_api "a duplicate field" 400 POST "/v1/jobs/$W1/dac" "{\"uid\":\"$UIDX\",\"uid\":\"$UIDX\",\"csr\":\"AAAA\"}" "$TOK"
expect_api "a bad uid size" 400 POST "/v1/jobs/$W1/dac" "{\"uid\":\"abcd\",\"csr\":\"$(base64 -w0 cx.der)\"}" "$TOK"
head -c 70000 /dev/zero | tr '\0' 'a' >big.json
expect_api "an oversized body (Content-Length)" 413 POST "/v1/jobs/$W1/dac" "@big.json" "$TOK"
head -c 17000 /dev/zero | tr '\0' 'a' >big16.json
expect_api "a records body over 16 KiB" 413 POST "/v1/records" "@big16.json" "$TOK"
CODE=$(curl -s -o "$RESP" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOK" -H 'Transfer-Encoding: chunked' \
	--data-binary @big.json "http://127.0.0.1:$PORT/v1/jobs/$W1/dac") || CODE=000
check "an oversized chunked body (413)" "$CODE" = 413
expect_api "an unknown writ" 404 POST "/v1/jobs/0123456789abcdef0123456789abcdef/dac" "$GOOD" "$TOK"
check "... with code unknown" "$(jget '["code"]')" = unknown
expect_api "an unknown endpoint" 404 GET "/v1/nothing" "" "$TOK"
mkcsr bad.der -newkey rsa:2048
expect_api "an RSA CSR is refused before anything is written" 400 POST "/v1/jobs/$W1/dac" "$(dac_body "$UIDX" bad.der)" "$TOK"
wrap_body() { echo "{\"uid\":\"$UIDX\",\"dac\":\"$(base64 -w0 dac1.der)\",\"enc_pub\":\"$1\",\"binding\":\"MAYCAQECAQE=\",\"label\":\"ota-key\"}"; }
expect_api "a wrap with an invalid ENC_PUB (the HSM's 400)" 400 POST "/v1/jobs/$W1/wrap" "$(wrap_body "04$(head -c 64 /dev/zero | xxd -p -c 200)")" "$TOK"
ENC=$(openssl ecparam -name prime256v1 -genkey -noout | openssl ec -pubout -outform DER 2>/dev/null | tail -c 65 | xxd -p -c 200)
expect_api "a wrap for a device without a DAC (the HSM's 409)" 409 POST "/v1/jobs/$W1/wrap" "$(wrap_body "$ENC")" "$TOK"
check "no refusal changed any state" "$(state_now)" = "$BEFORE"
check "no refusal left a DAC note" "$(sqlite3 "$FST/factory.db" "select count(*) from dacs where uid='$UIDX'")" = 0

# ---- records ----
rec_ok() { echo "{\"writ\":\"$1\",\"uid\":\"$2\",\"result\":\"ok\",\"dac_sha256\":\"$3\",\"serial\":$4,\"hsm_seq\":$5,\"firmware_version\":3,\"qr\":\"MT:Y.K9042C00KA0648G00\",\"manual\":\"34970112332\"}"; }
HOOK_DOWN_SINCE=$(date +%s) # the first record: the webhook starts failing and backing off
expect_api "an ok record" 200 POST /v1/records "$(rec_ok "$W1" "$UID1" "$DSHA" "$DSER" "$DSEQ")" "$TOK"
check "it is record 1" "$(jget '["seq"]')" = 1
expect_api "the same record again is not a second one" 200 POST /v1/records "$(rec_ok "$W1" "$UID1" "$DSHA" "$DSER" "$DSEQ")" "$TOK"
check "... it names record 1" "$(jget '["seq"]')" = 1
expect_api "an ok record with a wrong firmware_version" 400 POST /v1/records "$(rec_ok "$W1" "$UID1" "$DSHA" "$DSER" "$DSEQ" | sed 's/"firmware_version":3/"firmware_version":4/')" "$TOK"
check "... with code mismatch" "$(jget '["code"]')" = mismatch
expect_api "an ok record with a wrong dac_sha256" 400 POST /v1/records "$(rec_ok "$W1" "$UID1" "$(printf '0%.0s' {1..64})" "$DSER" "$DSEQ")" "$TOK"
expect_api "an ok record without a DAC" 404 POST /v1/records "$(rec_ok "$W1" "$UIDX" "$DSHA" 1 1)" "$TOK"
expect_api "a record with an unknown field" 400 POST /v1/records "{\"writ\":\"$W1\",\"uid\":\"$UIDX\",\"result\":\"failed\",\"step\":\"keys\",\"reason\":\"x\",\"zz\":1}" "$TOK"
expect_api "a failed-device record" 200 POST /v1/records "{\"writ\":\"$W1\",\"uid\":\"$UIDX\",\"result\":\"failed\",\"step\":\"keys\",\"reason\":\"chip did not answer\"}" "$TOK"
for i in 2 3; do
	U=$(head -c 16 /dev/urandom | xxd -p)
	mkcsr "c$i.der"
	expect_api "DAC $i" 200 POST "/v1/jobs/$W1/dac" "$(dac_body "$U" "c$i.der")" "$TOK"
	expect_api "record for DAC $i" 200 POST /v1/records "$(rec_ok "$W1" "$U" "$(jget '["dac_sha256"]')" "$(jget '["serial"]')" "$(jget '["hsm_seq"]')")" "$TOK"
done
BEFORE=$(state_now)
U=$(head -c 16 /dev/urandom | xxd -p)
mkcsr c4.der
expect_api "quantity spent: 409 with the HSM's reason" 409 POST "/v1/jobs/$W1/dac" "$(dac_body "$U" c4.der)" "$TOK"
check_grep "... which says so" "quantity|spent" "$RESP"
check "... with code quota" "$(jget '["code"]')" = quota
check "... and nothing changed" "$(state_now)" = "$BEFORE"
api GET /v1/jobs "" "$TOK"
check "the spent writ is no longer a job" "$(grep -c "$W1" "$RESP")" = 0
check "listed jobs say runnable" "$(jget '["jobs"][0]["runnable"]')" = True
expect_api "a spent job is still fetchable (a restarted station finishes)" 200 GET "/v1/jobs/$W1" "" "$TOK"
check "... marked not runnable" "$(jget '["runnable"]')" = False
check "... with the writ's PAI (base64 DER, as the DAC answers carry it)" \
	"$($PY -c 'import json,sys,base64; print(base64.b64decode(json.load(open(sys.argv[1]))["pai"]).hex())' "$RESP")" = "$(xxd -p -c 10000 pai.der)"
api GET "/v1/jobs/$W1/firmware" "" "$TOK"
check "... and its firmware" "$CODE" = 200 -a "$(sha256sum <"$RESP" | cut -d' ' -f1)" = "$FD"

expect_api "records as JSONL (mes)" 200 GET "/v1/records?since=0&limit=100" "" "$MES"
cp "$RESP" records.jsonl
check "JSONL holds the 4 records" "$(wc -l <records.jsonl)" = 4
expect_api "records since 2" 200 GET "/v1/records?since=2&format=jsonl" "" "$MES"
check "... holds 2" "$(wc -l <"$RESP")" = 2
expect_api "records as CSV" 200 GET "/v1/records?format=csv" "" "$MES"
check "CSV: a header and 4 lines" "$(wc -l <"$RESP")" = 5
check_grep "CSV header" "^seq,prev,hash,time,factory" "$RESP"
expect_api "a bad query is refused" 400 GET "/v1/records?since=x" "" "$MES"
run $PY - records.jsonl <<'PY'
# An independent check of the chain: canonical JSON = sorted keys, no whitespace.
import hashlib, json, sys
prev = "0" * 64
for n, line in enumerate(open(sys.argv[1]), 1):
    r = json.loads(line)
    h = r.pop("hash")
    assert r["seq"] == n, ("seq", n)
    assert r["prev"] == prev, ("prev", n)
    canon = json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert hashlib.sha256(canon.encode()).hexdigest() == h, ("hash", n)
    prev = h
ok = [json.loads(l) for l in open(sys.argv[1])]
assert ok[0]["result"] == "ok" and ok[0]["hsm_seq"] > 0 and ok[0]["version"] == "1.4.0"
assert ok[1]["result"] == "failed" and ok[1]["step"] == "keys"
print("chain ok", n)
PY
check "the hash chain verifies in Python" "$RC" = 0
check_grep "... over every record" "chain ok 4" "$OUT"

# ---- the webhook: down so far, now up: queued records arrive ----
check "records wait in the queue while the MES is down" "$(sqlite3 "$FST/factory.db" 'select count(*) from webhook_queue')" -ge 1
cat >hook.py <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        with open(sys.argv[2], "ab") as f:
            f.write(self.rfile.read(n) + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
$PY hook.py "$WPORT" hook.out &
EXTRA_PIDS+=($!)
# The factory retries a record 1, 2, 4 ... s after each failure (factory/webhook.c), so
# its next try after the MES comes back is at most as far away as its first failure is
# in the past (+1 s of polling). A fixed 40 s was too short when this test ran slowly
# (under ASan, on a loaded machine): wait twice the outage, and 20 s more.
HOOK_WAIT=$((2 * ($(date +%s) - HOOK_DOWN_SINCE) + 20))
echo "the MES was down $(($(date +%s) - HOOK_DOWN_SINCE)) s: waiting up to $HOOK_WAIT s for the webhook"
hook_got_all() { [[ -f hook.out && $(sort -u hook.out | wc -l) -ge 4 ]]; }
wait_for "$HOOK_WAIT" hook_got_all || true
check "the webhook received every record after being down" "$(sort -u hook.out 2>/dev/null | wc -l)" -ge 4
# the row leaves the queue only after the 200 and a store write: wait for that too
queue_empty() { [[ $(sqlite3 "$FST/factory.db" 'select count(*) from webhook_queue') == 0 ]]; }
wait_for 15 queue_empty || true
check "the queue drained" "$(sqlite3 "$FST/factory.db" 'select count(*) from webhook_queue')" = 0

# ---- a full disk ----
if [[ -n $MOUNTED ]]; then
	dd if=/dev/zero of=fstate/filler bs=64k 2>/dev/null || true
	BEFORE=$(state_now)
	api POST /v1/records "{\"writ\":\"$W2\",\"uid\":\"$UIDX\",\"result\":\"failed\",\"step\":\"keys\",\"reason\":\"x\"}" "$TOK"
	check "a full disk: a record is answered 503" "$CODE" = 503
	check_grep "... with a clear message" "disk full|free space" "$RESP"
	U=$(head -c 16 /dev/urandom | xxd -p)
	mkcsr c5.der
	expect_api "a full disk: a DAC is answered 503" 503 POST "/v1/jobs/$W2/dac" "$(dac_body "$U" c5.der)" "$TOK"
	check "... before the HSM was asked" "$(counts hsm "$W2")" = "issued 0 remaining 5"
	expect_api "records can still be read" 200 GET "/v1/records" "" "$MES"
	check "... all 4 are there" "$(wc -l <"$RESP")" = 4
	rm -f fstate/filler
	expect_api "space again: the DAC works" 200 POST "/v1/jobs/$W2/dac" "$(dac_body "$U" c5.der)" "$TOK"
	expect_api "and the record" 200 POST /v1/records "$(rec_ok "$W2" "$U" "$(jget '["dac_sha256"]')" "$(jget '["serial"]')" "$(jget '["hsm_seq"]')")" "$TOK"
	check "... as record 5" "$(jget '["seq"]')" = 5
else
	echo "skip: full-disk checks need a tmpfs mount (run as root)"
fi

# ---- a device's outcome over stations, retries and restarts ----
newdev() { DEV=$(head -c 16 /dev/urandom | xxd -p); mkcsr "$DEV.der"; }
dac_for() { expect_api "$1" 200 POST "/v1/jobs/$W3/dac" "$(dac_body "$DEV" "$DEV.der")" "$2"; DSHA=$(jget '["dac_sha256"]'); DSER=$(jget '["serial"]'); DSEQ=$(jget '["hsm_seq"]'); }
failed_body() { echo "{\"writ\":\"$W3\",\"uid\":\"$1\",\"result\":\"failed\",\"step\":\"$2\",\"reason\":\"$3\"}"; }
note_of() { sqlite3 "$FST/factory.db" "select state || ' ' || coalesce(record_ok, '-') || ' ' || coalesce(record_seq, 0) || ' ' || station_id from dacs where uid='$1'"; }
nrec() { sqlite3 "$FST/factory.db" "select count(*) from records where json like '%$1%'"; }
must "$FACTORYD" station add --state "$FST" --name st3 --line L2
CODE3=$(sed -n 's/^code //p' "$OUT")
ST3=$(sed -n 's/^station //p' "$OUT")
expect_api "enrol station 3" 200 POST /v1/stations/enrol "{\"code\":\"$CODE3\",\"name\":\"st3\",\"line\":\"L2\"}"
TOK3=$(jget '["token"]')

newdev
dac_for "failed then ok: the DAC" "$TOK"
expect_api "... a failed record (the label step, say)" 200 POST /v1/records "$(failed_body "$DEV" verify "first try")" "$TOK"
FSEQ=$(jget '["seq"]')
expect_api "... then the ok record of the retried device" 200 POST /v1/records "$(rec_ok "$W3" "$DEV" "$DSHA" "$DSER" "$DSEQ")" "$TOK"
check "... is a new record, not a duplicate" "$(jget '.get("duplicate", False)')" = False -a "$(jget '["seq"]')" -gt "$FSEQ"
OSEQ=$(jget '["seq"]')
check "... both records exist" "$(nrec "$DEV")" = 2
check "... the note points at the ok record" "$(note_of "$DEV" | cut -d' ' -f1-3)" = "recorded 1 $OSEQ"
expect_api "... the ok record again is its duplicate" 200 POST /v1/records "$(rec_ok "$W3" "$DEV" "$DSHA" "$DSER" "$DSEQ")" "$TOK"
check "... naming it" "$(jget '["seq"]'),$(jget '["duplicate"]')" = "$OSEQ,True"

newdev
openssl ecparam -name prime256v1 -genkey -noout -out "$DEV.pem"
openssl req -new -key "$DEV.pem" -subj /CN=device -outform DER -out "$DEV.der"
dac_for "another station's failed record: station 1's DAC" "$TOK"
expect_api "... station 3 records the device failed" 200 POST /v1/records "$(failed_body "$DEV" discover "not here")" "$TOK3"
check "... kept, naming no DAC" "$(sqlite3 "$FST/factory.db" "select json from records where json like '%not here%'" | grep -c "$DSHA")" = 0
check "... station 1's note stays open" "$(note_of "$DEV" | cut -d' ' -f1)" = issued
expect_api "... station 3 may not record station 1's DAC ok" 403 POST /v1/records "$(rec_ok "$W3" "$DEV" "$DSHA" "$DSER" "$DSEQ")" "$TOK3"
check "... code station" "$(jget '["code"]')" = station
openssl req -new -key "$DEV.pem" -subj /CN=device -outform DER -out "$DEV.der"
expect_api "resume on station 3: the same key asks again" 200 POST "/v1/jobs/$W3/dac" "$(dac_body "$DEV" "$DEV.der")" "$TOK3"
check "... the same DAC" "$(jget '["dac_sha256"]')" = "$DSHA"
check "... the note moved to station 3" "$(note_of "$DEV" | cut -d' ' -f4)" = "$ST3"
check_grep "... logged" "moved from station [0-9]+ to station $ST3" factory.log
expect_api "... station 3's ok record (hsm_seq 0: read back from the chip)" 200 POST /v1/records "$(rec_ok "$W3" "$DEV" "$DSHA" "$DSER" 0)" "$TOK3"
RSEQ=$(jget '["seq"]')
check "... names the HSM journal entry from the note" "$(sqlite3 "$FST/factory.db" "select json from records where seq=$RSEQ" | $PY -c 'import json,sys; print(json.load(sys.stdin)["hsm_seq"])')" = "$DSEQ"
expect_api "an ok record with a non-zero wrong hsm_seq is 400" 400 POST /v1/records "$(rec_ok "$W3" "$DEV" "$DSHA" "$DSER" $((DSEQ + 1000)))" "$TOK3"
expect_api "an ok record without hsm_seq" 200 POST /v1/records "$(rec_ok "$W3" "$DEV" "$DSHA" "$DSER" 0 | sed 's/"hsm_seq":0,//')" "$TOK3"
check "... is the duplicate" "$(jget '["seq"]'),$(jget '["duplicate"]')" = "$RSEQ,True"

newdev
dac_for "two ok records at once: the DAC" "$TOK"
BODY=$(rec_ok "$W3" "$DEV" "$DSHA" "$DSER" "$DSEQ")
PAR=()
for k in 1 2 3 4; do
	curl -s -o "par$k.out" -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
		--data-binary "$BODY" "http://127.0.0.1:$PORT/v1/records" &
	PAR+=($!)
done
wait "${PAR[@]}"
check "... give one record" "$(nrec "$DEV")" = 1
check "... and every answer names it" "$(cat par1.out par2.out par3.out par4.out | grep -o '"seq":[0-9]*' | sort -u | wc -l)" = 1

# the CSV export neutralises what a spreadsheet would run
newdev
expect_api "a failed record whose reason looks like a formula" 200 POST /v1/records "$(failed_body "$DEV" keys "=HYPERLINK(1)")" "$TOK"
expect_api "a failed record whose reason starts with @" 200 POST /v1/records "$(failed_body "$DEV" keys "@SUM(1+1),x")" "$TOK"
expect_api "records as CSV" 200 GET "/v1/records?format=csv" "" "$MES"
check "... a formula gets a leading '" "$(grep -c ",'=HYPERLINK(1)," "$RESP")" = 1
check "... also when quoted" "$(grep -c ",\"'@SUM(1+1),x\"," "$RESP")" = 1
check "... and no field starts with = or @" "$(grep -c ',[=@]' "$RESP")" = 0
expect_api "the JSONL keeps the text as it was" 200 GET "/v1/records?format=jsonl&limit=10000" "" "$MES"
check_grep "..." '"reason":"=HYPERLINK\(1\)"' "$RESP"

# the file drop: a FIFO does not wedge the serve loop
mkfifo drop/fifo.writ
cp w3.cose drop/again.writ
wait_file drop/done/again.writ || wait_file drop/refused/again.writ || true
check "a FIFO in the drop does not stop the scan" -e drop/done/again.writ -o -e drop/refused/again.writ
check "... and is left alone" -p drop/fifo.writ

expect_api "status (any role)" 200 GET /v1/status "" "$MES"
check_grep "status names the HSM" "\"up\":true" "$RESP"
must "$FACTORYD" token list --state "$FST"
MESID=$(awk -F'\t' '$2 == "mes" && $5 == "active" {print $1}' "$OUT" | head -n1)
check "token list shows the mes token" -n "$MESID"
must "$FACTORYD" token revoke --state "$FST" "$MESID"
expect_api "a revoked mes token is refused" 401 GET /v1/records "" "$MES"
run "$FACTORYD" token revoke --state "$FST" 999
check "revoking an unknown token fails" "$RC" -ne 0
stop_factory
check "SIGTERM stops writ-factory cleanly" "$FRC" = 0
check_grep "it says so" "stopping on signal" factory.log
finish
