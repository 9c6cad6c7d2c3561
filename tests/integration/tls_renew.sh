#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The factory's client certificate renewed without downtime (docs/operations.md
# "Rotation without downtime"), with real processes on loopback: writ-cloud --tls, an
# enrolled writ-factory serve syncing every second over mutual TLS, a client making
# requests all along.
#   - tls-renew does nothing when the certificate is not due;
#   - tls-renew --force while the factory syncs: no request fails, the new pair is on
#     disk (new key in the token, non-extractable), the running factory uses it at its
#     next request (tls_certs.first_used), and the old certificate is then superseded
#     and refused;
#   - a key file whose cert-sha256 names another certificate is not taken (the running
#     factory keeps its pair and says why); a renewal interrupted between its renames
#     leaves a pair serve can start with; a pair that matches nothing is refused at start;
#   - POST /v1/factory/tls/renew refuses, with a clear 4xx and nothing stored: no client
#     certificate, another CA's, an expired one, one bound to another factory, the
#     superseded one, a revoked one, a user's token, a garbage body, a CSR that is not
#     PEM, garbage PEM, a CSR whose signature fails, RSA and P-384 keys, an oversized
#     body, and more renewals of one certificate than the bound;
#   - a portal that answers garbage, a certificate for another key, too much or an error:
#     tls-renew fails and leaves the pair as it was;
#   - writ-factory doctor reports the client certificate (ok, and a failure when mismatched);
#   - the systemd timer and service verify; a store made before renewal gets its columns.
# Usage: tls_renew.sh [sqlite|postgresql] (the portal's store; default sqlite).
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"
source "$WRIT_SRC/tests/integration/tls_lib.sh"
source "$WRIT_SRC/tests/pg_lib.sh"
ENGINE=${1:-sqlite}

PY=/usr/bin/python3
CLOUDD=$WRIT_BIN/writ-cloud
FACTORYD=$WRIT_BIN/writ-factory
FACTORY_ID=renew-fab1
CLOUD_PID=
FPID=
LOOP_PID=
WATCH_PID=
LIAR_PID=
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357 WRIT_FACTORY_TLS_PIN=8642 WRIT_FACTORY_TLS_SO_PIN=7531

_renew_cleanup()
{
	local p
	for p in "$LIAR_PID" "$WATCH_PID" "$LOOP_PID" "$FPID" "$CLOUD_PID"; do
		[[ -n $p ]] || continue
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[[ $ENGINE != postgresql ]] || pg_stop
	_cleanup
}

hsm_setup
trap _renew_cleanup EXIT
# q SQL: one query on the portal's store, rows as a|b|c (both engines)
q()
{
	if [[ $ENGINE == postgresql ]]; then
		psql "$CDB" -qAtX -c "$1"
	else
		sqlite3 cloud.db "$1"
	fi
}

# ---- the portal with TLS, an enrolled factory syncing over mutual TLS (as tls_hops.sh) ----
case $ENGINE in
sqlite) CDB=sqlite:$WORK/cloud.db ;;
postgresql)
	pg_start
	CDB=$WRIT_PG_URL
	;;
*)
	echo "usage: tls_renew.sh [sqlite|postgresql]" >&2
	exit 2
	;;
esac
must "$CLOUDD" init --db "$CDB"
OEM=$("$CLOUDD" org add --db "$CDB" --kind oem --name acme --user alice 2>/dev/null)
"$CLOUDD" org add --db "$CDB" --kind odm --name foxy --user bob >/dev/null 2>&1
must "$CLOUDD" tls-init --tls ctls --host 127.0.0.1,localhost
CPORT=$(free_port)
CURL_CLOUD=https://127.0.0.1:$CPORT
"$CLOUDD" serve --db "$CDB" --listen "127.0.0.1:$CPORT" --threads 4 --tls ctls >cloud.out 2>>cloud.log &
CLOUD_PID=$!
wait_for 10 grep -q 'listening on https' cloud.out || { echo "FAIL: writ-cloud: $(tail -n 5 cloud.log)" >&2; exit 1; }

RESP=$WORK/.resp
capi() # METHOD PATH TOKEN [JSON] [curl args...]: CODE, $RESP
{
	local m=$1 p=$2 t=$3 body=${4:-}
	shift 4 2>/dev/null || shift $#
	local args=(-s --cacert ctls/ca.pem -o "$RESP" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $t")
	[[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
	CODE=$(curl "${args[@]}" "$@" "$CURL_CLOUD$p") || CODE=000
}
capi POST /v1/factories "$OEM" "{\"id\": \"$FACTORY_ID\", \"odm\": \"foxy\"}"
(umask 077 && jq -r .code "$RESP" >code)
mkdir -p ftls && chmod 700 ftls && cp ctls/ca.pem ftls/cloud-ca.pem
must "$FACTORYD" enrol-info --cloud "$CURL_CLOUD" --code-file code --out oem.pem --tls ftls
must "$HSMD" init --state hsm --token writ-hsm --factory "$FACTORY_ID" --oem-key oem.pem
start_hsmd hsm
must "$FACTORYD" init --state fac --oem-key oem.pem --factory "$FACTORY_ID"
must "$FACTORYD" enrol --cloud "$CURL_CLOUD" --code-file code --hsm hsm/hsmd.sock --token-out fac.token --tls ftls
FTOK=$(cat fac.token)
must "$FACTORYD" tls-init --tls ftls --host 127.0.0.1
FPORT=$(free_port)
FURL=https://127.0.0.1:$FPORT
"$FACTORYD" serve --state fac --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock --cloud "$CURL_CLOUD" \
	--cloud-token-file fac.token --sync-interval 1 --tls ftls >>factory.log 2>&1 &
FPID=$!
wait_for 10 curl -s --cacert ftls/ca.pem -o /dev/null "$FURL/v1/status" ||
	{ echo "FAIL: writ-factory: $(tail -n 5 factory.log)" >&2; exit 1; }
must "$FACTORYD" token add --state fac --role mes
MES=$(grep -Eo '[A-Za-z0-9_-]{40,}' "$OUT" | tail -n 1)
fstatus() { curl -s --cacert ftls/ca.pem -H "Authorization: Bearer $MES" "$FURL/v1/status" >status.json; }
synced() { fstatus && [[ $(jq -r '.cloud.last_error' status.json) == null && $(jq -r '.cloud.last_ok' status.json) != null ]]; }
if wait_for 20 synced; then pass "writ-factory syncs with writ-cloud over mutual TLS"; else
	fail "writ-factory does not sync: $(cat status.json) $(tail -n 3 factory.log)"; fi
fp_of() { openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-64; }
OLD_FP=$(fp_of ftls/client.pem)
cp ftls/client.pem old-client.pem
OLD_KEY=$(head -n 1 ftls/client.key)
check "the enrolment certificate is bound and in use" \
	"$(q "SELECT count(*) FROM tls_certs WHERE fp = '$OLD_FP' AND first_used IS NOT NULL AND superseded IS NULL")" = 1

# ---- not due: nothing happens ----
run "$FACTORYD" tls-renew --tls ftls --cloud "$CURL_CLOUD" --cloud-token-file fac.token
check "tls-renew when the certificate is not due: exit 0, says so and when it expires" \
	"$RC $(grep -c '^not due' "$OUT") $(grep -c 'expires .* (in 39[67] days)' "$OUT")" = "0 1 1"
check "... and changes nothing" "$(fp_of ftls/client.pem) $(q 'SELECT count(*) FROM tls_certs')" = "$OLD_FP 1"
run "$FACTORYD" tls-renew --tls ftls --cloud "$CURL_CLOUD" --cloud-token-file fac.token --if-expiring-within 10000
check "--if-expiring-within out of range: usage (exit 2)" "$RC" = 2

# ---- the renewal, under load ----
# a client making requests, and a watcher of the factory's sync status, all along
: >loop.log
: >watch.log
(
	while :; do
		c=$(curl -s --cacert ctls/ca.pem -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OEM" \
			"$CURL_CLOUD/v1/me") || c=000
		echo "$c" >>loop.log
		sleep 0.05
	done
) &
LOOP_PID=$!
(
	while :; do
		curl -s --cacert ftls/ca.pem -H "Authorization: Bearer $MES" "$FURL/v1/status" 2>/dev/null |
			jq -r '.cloud.last_error // "ok"' >>watch.log 2>/dev/null
		sleep 0.2
	done
) &
WATCH_PID=$!
# both under way before the renewal (a few looks each, however slow the machine)
looks() { [[ $(wc -l <loop.log) -ge 3 && $(wc -l <watch.log) -ge 3 ]]; }
wait_for 30 looks || fail "the client and the watcher did not start within 30 s"
N401=$(grep -c 'client_cert\|401' cloud.log || true)
run "$FACTORYD" tls-renew --tls ftls --cloud "$CURL_CLOUD" --cloud-token-file fac.token --if-expiring-within 400
check "tls-renew --if-expiring-within 400 renews (exit 0) and says when the new one expires" \
	"$RC $(grep -c '^renewed: .*expires' "$OUT")" = "0 1"
[[ $RC == 0 ]] || cat "$ERR" >&2
NEW_FP=$(fp_of ftls/client.pem)
cp ftls/client.pem new-client.pem
NEW_LABEL=$(sed -n '1s/.*object=\([^;]*\).*/\1/p' ftls/client.key)
check "a new certificate for a new key" "$([[ $NEW_FP != "$OLD_FP" && $(head -n 1 ftls/client.key) != "$OLD_KEY" ]] && echo y)" = y
check "client.key: the key's URL, then cert-sha256 of client.pem (mode 0600)" \
	"$(sed -n 2p ftls/client.key) $(stat -c %a ftls/client.key)" = "cert-sha256 $NEW_FP 600"
check "no client.next.pem left behind" "$(test -e ftls/client.next.pem && echo left)" = ""
check "the new certificate chains to the portal CA, for client auth" \
	"$(openssl verify -CAfile ctls/ca.pem -purpose sslclient ftls/client.pem 2>&1 | tail -n 1)" = "ftls/client.pem: OK"
check "... names the same factory" "$(openssl x509 -in ftls/client.pem -noout -subject | sed 's/.*CN *= *//')" = "factory:$FACTORY_ID"
GNUTLS_PIN=$WRIT_FACTORY_TLS_PIN p11tool --provider "$WRIT_P11_MODULE" --login --list-all-privkeys \
	"pkcs11:token=writ-factory-tls;object=$NEW_LABEL" >keys.txt 2>/dev/null || true
check "the new key is sensitive and never extractable in the token" \
	"$(grep -c 'CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE' keys.txt)" = 1
check "the cloud bound it to the factory, renewing the old one" \
	"$(q "SELECT count(*) FROM tls_certs t JOIN factories f ON f.id = t.factory_id WHERE t.fp = '$NEW_FP' AND f.name = '$FACTORY_ID' AND t.renews = '$OLD_FP'")" = 1
in_use() { [[ $(q "SELECT count(*) FROM tls_certs WHERE fp = '$NEW_FP' AND first_used IS NOT NULL") == 1 ]]; }
if wait_for 15 in_use; then pass "the running writ-factory uses the new certificate (no restart)"; else
	fail "the factory never used the new certificate: $(tail -n 3 factory.log)"; fi
IN_USE_AT=$(date +%s)
WATCHED=$(wc -l <watch.log)
check "... and the portal retired the old one" \
	"$(q "SELECT count(*) FROM tls_certs WHERE fp = '$OLD_FP' AND superseded IS NOT NULL AND revoked IS NULL")" = 1
check_grep "... saying so in its log" "renewed client certificate ${NEW_FP:0:16}.* in use; ${OLD_FP:0:16}.* superseded" cloud.log
# more sync rounds, with the new pair only: one that ended a second or more after the
# new certificate was seen in use, and a few more looks by the watcher (more than 10 in
# all), rather than a fixed 3 s that a slow machine fills with fewer of them
after_renewal()
{
	local n
	n=$(wc -l <watch.log)
	[[ $n -gt 10 && $n -ge $((WATCHED + 5)) ]] && synced && (($(jq -r .cloud.last_ok status.json) > IN_USE_AT + 1))
}
wait_for 30 after_renewal || fail "no sync round with the new pair alone within 30 s: $(cat status.json)"
kill "$LOOP_PID" "$WATCH_PID" 2>/dev/null
wait "$LOOP_PID" "$WATCH_PID" 2>/dev/null || true
LOOP_PID= WATCH_PID=
check "the client kept working through the renewal ($(wc -l <loop.log) requests, none failed)" \
	"$(grep -vc '^200$' loop.log)" = 0
check "the factory's sync never failed ($(wc -l <watch.log) looks at its status)" \
	"$(grep -vc '^ok$' watch.log) $(wc -l <watch.log | awk '{print ($1 > 10)}')" = "0 1"
check "the portal refused no factory request meanwhile" "$(grep -c 'client_cert\|401' cloud.log || true)" = "$N401"
if synced; then pass "the factory still syncs"; else fail "the factory lost the cloud: $(cat status.json)"; fi

# ---- the factory's requests, by certificate ----
ENG=(--engine pkcs11 --key-type ENG --pass "$WRIT_FACTORY_TLS_PIN")
fcall() { capi GET /v1/sync/writs "$FTOK" "" "$@"; }
fcall --cert old-client.pem --key "$OLD_KEY" "${ENG[@]}"
check "the old certificate is refused now (401 client_cert)" "$CODE $(jq -r .code "$RESP")" = "401 client_cert"
check_grep "... as superseded by its renewal" "superseded by its renewal" "$RESP"
NEW_KEY=$(head -n 1 ftls/client.key)
fcall --cert ftls/client.pem --key "$NEW_KEY" "${ENG[@]}"
check "the new certificate is accepted (200)" "$CODE" = 200

# ---- a key file that names another certificate is not taken ----
cp ftls/client.key good.key
printf '%s\ncert-sha256 %s\n' "$NEW_KEY" "$OLD_FP" >ftls/client.key.new && chmod 600 ftls/client.key.new
mv ftls/client.key.new ftls/client.key
N_MISMATCH=$(grep -c 'keeping the current client certificate.*does not go with the key' factory.log || true)
MISMATCH_AT=$(date +%s)
# the factory looks at the pair before each sync round (every second here)
mismatch_said() { (($(grep -c 'keeping the current client certificate.*does not go with the key' factory.log) > N_MISMATCH)); }
if wait_for 15 mismatch_said; then pass "the running factory keeps its pair and says why"; else
	fail "the running factory did not say it keeps its pair within 15 s: $(tail -n 3 factory.log)"; fi
# synced_after T: the factory's last round ended without error a second or more after T
synced_after() { synced && (($(jq -r .cloud.last_ok status.json) > $1)); }
if wait_for 15 synced_after "$MISMATCH_AT"; then pass "... and still syncs with it"; else
	fail "a mismatched key file broke the sync: $(cat status.json)"; fi
cp good.key ftls/client.key.new && mv ftls/client.key.new ftls/client.key
FIXED_AT=$(date +%s)
if wait_for 15 synced_after "$FIXED_AT"; then pass "the factory syncs once the key file matches again"; else
	fail "no sync after the fix: $(cat status.json)"; fi

# ---- a renewal interrupted between its renames, then a restart ----
# the state tls-renew leaves after writing client.next.pem and client.key, before the
# last rename: client.pem is still the old certificate
kill -TERM "$FPID" 2>/dev/null
wait "$FPID" 2>/dev/null || true
FPID=
cp ftls/client.pem ftls/client.next.pem
cp old-client.pem ftls/client.pem
start_factory()
{
	"$FACTORYD" serve --state fac --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock --cloud "$CURL_CLOUD" \
		--cloud-token-file fac.token --sync-interval 1 --tls ftls >>factory.log 2>&1 &
	FPID=$!
	wait_for 10 curl -s --cacert ftls/ca.pem -o /dev/null "$FURL/v1/status"
}
if start_factory && wait_for 15 synced; then
	pass "between a renewal's renames, serve starts with the pair client.key names (client.next.pem) and syncs"
else
	fail "serve does not use client.next.pem: $(tail -n 3 factory.log) $(cat status.json 2>/dev/null)"
fi
run "$FACTORYD" tls-renew --tls ftls --cloud "$CURL_CLOUD" --cloud-token-file fac.token
check "tls-renew reads the expiry of that certificate (not due)" "$RC $(grep -c '^not due' "$OUT")" = "0 1"
kill -TERM "$FPID" 2>/dev/null
wait "$FPID" 2>/dev/null || true
FPID=
rm ftls/client.next.pem
run "$FACTORYD" serve --state fac --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock --cloud "$CURL_CLOUD" \
	--cloud-token-file fac.token --sync-interval 1 --tls ftls
check "a client.pem that does not go with client.key, and no client.next.pem: serve refuses to start (exit 1)" "$RC" = 1
check_grep "... saying so" 'does not go with the key file' "$ERR"
cp new-client.pem ftls/client.pem
if start_factory && wait_for 15 synced; then pass "with the pair restored, serve starts and syncs"; else
	fail "no restart: $(tail -n 3 factory.log)"; fi

# ---- refusals of POST /v1/factory/tls/renew: each clear, each storing nothing ----
certtool --generate-privkey --ecc --curve secp256r1 --outfile p256.key 2>/dev/null
certtool --generate-privkey --ecc --curve secp384r1 --outfile p384.key 2>/dev/null
certtool --generate-privkey --rsa --bits 2048 --outfile rsa.key 2>/dev/null
for k in p256 p384 rsa; do
	openssl req -new -key $k.key -subj "/CN=aaaaaaaa" -out $k.csr 2>/dev/null
done
# a CSR whose signature fails: a byte of the signed subject changed
openssl req -in p256.csr -outform DER -out p256.der
$PY -c 'import sys; d=open("p256.der","rb").read(); open("bad.der","wb").write(d.replace(b"aaaaaaaa", b"aaaaaaab"))'
openssl req -inform DER -in bad.der -out bad.csr 2>/dev/null || $PY -c '
import base64; d=open("bad.der","rb").read(); b=base64.b64encode(d).decode()
open("bad.csr","w").write("-----BEGIN CERTIFICATE REQUEST-----\n"+"\n".join(b[i:i+64] for i in range(0,len(b),64))+"\n-----END CERTIFICATE REQUEST-----\n")'
check "(the tampered CSR fails openssl's own check)" "$(openssl req -in bad.csr -verify -noout 2>&1 | grep -c 'verify failure\|verification failure\|bad signature')" -ge 1
csr_json() { jq -Rs '{csr: .}' "$1"; }
ROWS0=$(q 'SELECT count(*) FROM tls_certs')
STATE0=$(q 'SELECT fp, revoked, superseded FROM tls_certs ORDER BY fp' | sha256sum)
renew() # BODY [curl args]: POST /v1/factory/tls/renew with the factory token
{
	local body=$1
	shift
	capi POST /v1/factory/tls/renew "$FTOK" "$body" "$@"
}
CUR=(--cert ftls/client.pem --key "$NEW_KEY" "${ENG[@]}")
refused() # WHAT CODE ERRCODE BODY [curl args]
{
	local what=$1 want=$2 ecode=$3 body=$4
	shift 4
	renew "$body" "$@"
	check "$what: $want $ecode ($(jq -r .error "$RESP" 2>/dev/null | cut -c1-90))" \
		"$CODE $(jq -r .code "$RESP" 2>/dev/null)" = "$want $ecode"
}
# the other-CA, expired and other-factory certificates (tls_lib.sh; unbound.pem is bound
# to another factory just below)
bad_client_certs "$FACTORY_ID" ctls
mv unbound.pem elsewhere.pem
# elsewhere.pem: a portal-CA certificate bound to another factory
q "INSERT INTO tls_certs (fp, factory_id, cert, not_after, issued) VALUES ('$(fp_of elsewhere.pem)', 999999, 'x', 4102444800, 0)"
ROWS0=$((ROWS0 + 1))
STATE0=$(q 'SELECT fp, revoked, superseded FROM tls_certs ORDER BY fp' | sha256sum)
GOOD=$(csr_json p256.csr)
refused "no client certificate" 401 client_cert "$GOOD"
refused "another CA's certificate" 401 client_cert "$GOOD" --cert other-leaf.pem --key leaf.key
refused "an expired certificate" 401 client_cert "$GOOD" --cert expired.pem --key leaf.key
check_grep "... has expired" "has expired" "$RESP"
refused "a certificate bound to another factory" 401 client_cert "$GOOD" --cert elsewhere.pem --key leaf.key
check_grep "... not bound to this factory" "not bound to this factory" "$RESP"
refused "the superseded certificate" 401 client_cert "$GOOD" --cert old-client.pem --key "$OLD_KEY" "${ENG[@]}"
capi POST /v1/factory/tls/renew "$OEM" "$GOOD"
check "a user's token, not a factory's: 403" "$CODE" = 403
capi GET /v1/factory/tls/renew "$FTOK" "" "${CUR[@]}"
check "GET: 405" "$CODE" = 405
capi POST /v1/factory/tls/other "$FTOK" "$GOOD" "${CUR[@]}"
check "another path under /v1/factory: 404" "$CODE" = 404
refused "a body that is not JSON" 400 bad_request 'garbage{' "${CUR[@]}"
refused "no csr field" 400 bad_request '{}' "${CUR[@]}"
refused "an unknown field" 400 bad_request "$(jq -c '. + {x: 1}' <<<"$GOOD")" "${CUR[@]}"
refused "csr not a string" 400 bad_request '{"csr": 5}' "${CUR[@]}"
refused "a CSR that is not PEM" 400 bad_csr '{"csr": "MIIB this is no PEM"}' "${CUR[@]}"
refused "garbage inside the PEM armour" 400 bad_csr \
	'{"csr": "-----BEGIN CERTIFICATE REQUEST-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE REQUEST-----\n"}' "${CUR[@]}"
refused "a CSR whose signature fails (no proof of possession)" 422 bad_csr "$(csr_json bad.csr)" "${CUR[@]}"
refused "an RSA CSR" 422 csr_key "$(csr_json rsa.csr)" "${CUR[@]}"
refused "a P-384 CSR" 422 csr_key "$(csr_json p384.csr)" "${CUR[@]}"
head -c 9000 /dev/zero | tr '\0' 'A' >big.txt
refused "an oversized body (9000 bytes)" 413 too_big "{\"csr\": \"$(cat big.txt)\"}" "${CUR[@]}"
check "none of these stored or changed anything" \
	"$(q 'SELECT count(*) FROM tls_certs') $(q 'SELECT fp, revoked, superseded FROM tls_certs ORDER BY fp' | sha256sum)" = "$ROWS0 $STATE0"

# ---- the bound: one certificate renews at most 3 times; unused renewals retire ----
for i in 1 2 3; do
	renew "$GOOD" "${CUR[@]}"
	[[ $CODE == 201 ]] || break
done
check "three renewals of one certificate are answered (201)" "$CODE $i" = "201 3"
check "... each a certificate for the CSR's key" \
	"$(jq -r .cert "$RESP" | openssl x509 -noout -pubkey | sha256sum) $(jq -r .fingerprint "$RESP" | wc -c)" = \
	"$(openssl pkey -in p256.key -pubout | sha256sum) 65"
check "... and only the last unused one stays live (the factory holds 2 live certificates)" \
	"$(q "SELECT count(*) FROM tls_certs f WHERE factory_id = (SELECT id FROM factories WHERE name = '$FACTORY_ID') AND revoked IS NULL AND superseded IS NULL")" = 2
ROWS1=$(q 'SELECT count(*) FROM tls_certs')
refused "a fourth renewal of the same certificate" 409 too_many_renewals "$GOOD" "${CUR[@]}"
check "... stores nothing" "$(q 'SELECT count(*) FROM tls_certs')" = "$ROWS1"

# ---- revoked ----
must "$CLOUDD" tls-revoke --db "$CDB" --name "$FACTORY_ID"
ROWS2=$(q 'SELECT count(*) FROM tls_certs')
refused "a revoked certificate" 401 client_cert "$GOOD" "${CUR[@]}"
check_grep "... is revoked" "is revoked" "$RESP"
run "$FACTORYD" tls-renew --tls ftls --cloud "$CURL_CLOUD" --cloud-token-file fac.token --force
check "tls-renew with a revoked certificate fails (exit 1) and says why" "$RC $(grep -c 'revoked' "$ERR")" = "1 1"
check "... leaving client.pem, client.key and the store as they were" \
	"$(fp_of ftls/client.pem) $(cat ftls/client.key | sha256sum) $(q 'SELECT count(*) FROM tls_certs')" = \
	"$NEW_FP $(sha256sum <good.key) $ROWS2"

# ---- writ-factory doctor shows the client certificate's expiry ----
mkdir -p dconf && printf 'WRIT_FACTORY_TLS_DIR=%s/ftls\n' "$WORK" >dconf/factory.conf
run "$FACTORYD" doctor --conf-dir dconf --state fac --hsm hsm/hsmd.sock --hsmd-state hsm --json
check "doctor: client-cert ok, with its expiry" \
	"$(jq -r '.checks[] | select(.check == "client-cert") | .level + " " + (.message | test("expires .* in 39[67] days") | tostring)' "$OUT")" = "ok true"
printf '%s\ncert-sha256 %s\n' "$NEW_KEY" "$OLD_FP" >ftls/client.key.new && chmod 600 ftls/client.key.new
cp ftls/client.key good2.key && mv ftls/client.key.new ftls/client.key
run "$FACTORYD" doctor --conf-dir dconf --state fac --hsm hsm/hsmd.sock --hsmd-state hsm --json
check "doctor: a client.key that names another certificate is a failure" \
	"$(jq -r '.checks[] | select(.check == "client-cert") | .level' "$OUT")" = failure
mv good2.key ftls/client.key

# ---- a lying portal: tls-renew checks the answer before it touches the pair ----
# a plain-HTTP stand-in on loopback (the answer is what is tested, not TLS)
cat >liar.py <<'EOF2'
import http.server, json, sys
case = {"n": 0}
CASES = sys.argv[2:]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        kind = open("liar.case").read().strip()
        status, body = 201, b""
        if kind == "notjson":
            body = b"<html>garbage"
        elif kind == "nocert":
            body = json.dumps({"fingerprint": "00" * 32}).encode()
        elif kind == "notpem":
            body = json.dumps({"cert": "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n"}).encode()
        elif kind == "otherkey":
            body = json.dumps({"cert": open("old-client.pem").read()}).encode()
        elif kind == "huge":
            body = json.dumps({"cert": "A" * (2 << 20)}).encode()
        elif kind == "error":
            status, body = 500, json.dumps({"error": "\x1b[31mboom\x07", "code": "internal"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF2
LPORT=$(free_port)
$PY liar.py "$LPORT" &
LIAR_PID=$!
wait_for 10 curl -s -o /dev/null -X POST "http://127.0.0.1:$LPORT/" -d x 2>/dev/null || true
pair() { cat ftls/client.pem ftls/client.key | sha256sum | cut -c1-64; }
PAIR=$(pair)
for kind in notjson nocert notpem otherkey huge error; do
	echo "$kind" >liar.case
	run "$FACTORYD" tls-renew --tls ftls --cloud "http://127.0.0.1:$LPORT" --cloud-token-file fac.token --force
	check "a portal answering $kind: tls-renew fails (exit 1), client.pem and client.key untouched ($(tail -n 2 "$ERR" | head -n 1 | cut -c1-70))" \
		"$RC $(pair)$(test -e ftls/client.next.pem && echo ' next.pem left')" = "1 $PAIR"
done
check "... and its message reaches the terminal without control characters" \
	"$(grep -c 'HTTP 500: \[31mboom internal' "$ERR") $(grep -c $'\x1b' "$ERR")" = "1 0"
kill "$LIAR_PID" 2>/dev/null
wait "$LIAR_PID" 2>/dev/null || true
LIAR_PID=

# ---- a store made before renewal: tls_certs gets the new columns, its rows kept ----
must "$CLOUDD" init --db "sqlite:$WORK/old.db"
sqlite3 old.db "CREATE TABLE tls_certs (fp TEXT PRIMARY KEY, factory_id BIGINT NOT NULL, cert TEXT NOT NULL,
	not_after BIGINT NOT NULL, issued BIGINT NOT NULL, revoked BIGINT); INSERT INTO tls_certs VALUES ('ab', 1, 'x', 1, 1, NULL)"
must "$CLOUDD" tls-revoke --db "sqlite:$WORK/old.db" --name no-such-factory
check "an old tls_certs table is migrated (renews, first_used, superseded) and keeps its rows" \
	"$(sqlite3 old.db 'SELECT fp, renews IS NULL, first_used IS NULL, superseded IS NULL FROM tls_certs')" = "ab|1|1|1"

# ---- the systemd units ----
if command -v systemd-analyze >/dev/null; then
	for u in writ-factory-tls-renew.service writ-factory-tls-renew.timer; do
		sed -e "s|/usr/bin/|$WRIT_BIN/|" -e "s|/usr/libexec/writ/|$WRIT_SRC/dist/libexec/|" \
			"$WRIT_SRC/dist/systemd/$u" >"$u"
	done
	out=$(systemd-analyze verify --man=no writ-factory-tls-renew.timer writ-factory-tls-renew.service 2>&1) || true
	check "the timer and its service verify ($out)" "$out" = ""
	check "the timer runs daily, spread" "$(grep -c '^OnCalendar=daily$\|^RandomizedDelaySec=\|^Persistent=true$' writ-factory-tls-renew.timer)" = 3
	check "the service runs tls-renew as writ-factory, confined" \
		"$(grep -c '^User=writ-factory$\|^NoNewPrivileges=yes$\|^ProtectSystem=strict$\|^Type=oneshot$' writ-factory-tls-renew.service)" = 4
else
	echo "skip: systemd-analyze is not installed"
fi

kill -TERM "$FPID" 2>/dev/null
wait "$FPID" 2>/dev/null || true
FPID=
if grep -l 'Sanitizer\|runtime error' cloud.log factory.log >/dev/null 2>&1; then fail "sanitizer reports in the logs"; fi
finish
