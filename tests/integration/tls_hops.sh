#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TLS on every network hop, with real processes on loopback (docs/operations.md "TLS"):
#   - plain HTTP is refused at start unless --insecure-http on a loopback address;
#   - writ-cloud serves TLS 1.2+ with its key in its token (a TLS 1.1 client is refused);
#   - enrolment issues writ-factory a client certificate for a key it made non-extractable
#     in its own token; writ-factory syncs with it (the key is used through OpenSSL's
#     pkcs11 engine, never read);
#   - a factory credential with no certificate, a certificate from another CA, an expired
#     one, one the portal CA signed but never bound, and a revoked one: each refused with
#     its own clear message;
#   - writ-station talks to writ-factory over TLS with the factory CA pinned, and refuses a
#     factory it cannot verify;
#   - the cloud's server certificate and key rotate (tls-init again) while a client keeps
#     making requests and the factory keeps syncing: no request fails;
#   - no plaintext on the wire: the factory token is not in a capture of the hop.
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"
source "$WRIT_SRC/tests/integration/tls_lib.sh"

PY=/usr/bin/python3
CLOUDD=$WRIT_BIN/writ-cloud
FACTORYD=$WRIT_BIN/writ-factory
STATION=$WRIT_BIN/writ-station
FACTORY_ID=tls-fab1
CLOUD_PID=
FPID=
LOOP_PID=
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357 WRIT_FACTORY_TLS_PIN=8642 WRIT_FACTORY_TLS_SO_PIN=7531

_tls_cleanup()
{
	local p
	for p in "$LOOP_PID" "$FPID" "$CLOUD_PID"; do
		[[ -n $p ]] || continue
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	_cleanup
}

hsm_setup
trap _tls_cleanup EXIT

# ---- plain HTTP only on loopback, only when asked ----
CDB=sqlite:$WORK/cloud.db
must "$CLOUDD" init --db "$CDB"
run "$CLOUDD" serve --db "$CDB" --listen "0.0.0.0:$(free_port)" --insecure-http
check "writ-cloud refuses --insecure-http on a non-loopback address (exit 2)" "$RC" = 2
check_grep "... and says why" 'loopback' "$ERR"
run "$CLOUDD" serve --db "$CDB" --listen "127.0.0.1:$(free_port)"
check "writ-cloud refuses to serve plain HTTP without --insecure-http (exit 2)" "$RC" = 2
run "$FACTORYD" serve --state fac --listen "10.0.0.1:$(free_port)" --hsm x.sock --insecure-http
check "writ-factory refuses --insecure-http on a non-loopback address (exit 2)" "$RC" = 2

# ---- the portal with TLS ----
OEM=$("$CLOUDD" org add --db "$CDB" --kind oem --name acme --user alice 2>/dev/null)
"$CLOUDD" org add --db "$CDB" --kind odm --name foxy --user bob >/dev/null 2>&1
must "$CLOUDD" tls-init --tls ctls --host 127.0.0.1,localhost
check "tls-init writes the CA, the server chain and key URLs (mode 0600)" \
	"$(stat -c %a ctls/server.key) $(head -c 7 ctls/server.key) $(head -c 7 ctls/ca.key)" = "600 pkcs11: pkcs11:"
CPORT=$(free_port)
CURL_CLOUD=https://127.0.0.1:$CPORT
start_cloud()
{
	: >cloud.out
	"$CLOUDD" serve --db "$CDB" --listen "127.0.0.1:$CPORT" --threads 4 --tls ctls >cloud.out 2>>cloud.log &
	CLOUD_PID=$!
	wait_for 10 grep -q 'listening on https' cloud.out || { echo "FAIL: writ-cloud: $(tail -n 5 cloud.log)" >&2; exit 1; }
}
start_cloud
pass "writ-cloud serves TLS with its key in the token ($(head -n 1 cloud.out))"

RESP=$WORK/.resp
capi() # METHOD PATH TOKEN [JSON] [curl args...]: CODE, $RESP
{
	local m=$1 p=$2 t=$3 body=${4:-}
	shift 4 2>/dev/null || shift $#
	local args=(-s --cacert ctls/ca.pem -o "$RESP" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $t")
	[[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
	CODE=$(curl "${args[@]}" "$@" "$CURL_CLOUD$p") || CODE=000
}
capi GET /v1/me "$OEM"
check "an OEM user reaches the portal over TLS without a client certificate" "$CODE" = 200

# TLS versions: 1.2 and 1.3 accepted, 1.1 refused (a downgrade attempt)
PROTO=$(openssl s_client -brief -connect "127.0.0.1:$CPORT" -CAfile ctls/ca.pem </dev/null 2>&1 |
	sed -n 's/^Protocol version: *//p' | head -n 1)
check "the default handshake is TLS 1.3 ($PROTO)" "$PROTO" = TLSv1.3
run openssl s_client -brief -connect "127.0.0.1:$CPORT" -CAfile ctls/ca.pem -tls1_2 </dev/null
check "TLS 1.2 is accepted, the chain verifies" "$RC $(grep -c '^Protocol version: TLSv1.2' "$ERR") $(grep -c '^Verification: OK' "$ERR")" = "0 1 1"
run openssl s_client -brief -connect "127.0.0.1:$CPORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null
check "a TLS 1.1 client (downgrade) is refused, no session set up" "$RC $(grep -c '^Protocol version' "$ERR")" = "1 0"

# ---- enrolment issues the client certificate ----
capi POST /v1/factories "$OEM" "{\"id\": \"$FACTORY_ID\", \"odm\": \"foxy\"}"
check "the OEM adds the factory" "$CODE" = 201
(umask 077 && jq -r .code "$RESP" >code)
mkdir -p ftls && chmod 700 ftls && cp ctls/ca.pem ftls/cloud-ca.pem
must "$FACTORYD" enrol-info --cloud "$CURL_CLOUD" --code-file code --out oem.pem --tls ftls
must "$HSMD" init --state hsm --token writ-hsm --factory "$FACTORY_ID" --oem-key oem.pem
start_hsmd hsm
must "$FACTORYD" init --state fac --oem-key oem.pem --factory "$FACTORY_ID"
run "$FACTORYD" enrol --cloud "$CURL_CLOUD" --code-file code --hsm hsm/hsmd.sock --token-out fac.token --tls ftls
check "enrol over TLS succeeds and keeps a client certificate" "$RC $(test -s ftls/client.pem && echo y)" = "0 y"
[[ $RC == 0 ]] || cat "$ERR" >&2
check "the certificate chains to the portal CA" \
	"$(openssl verify -CAfile ctls/ca.pem -purpose sslclient ftls/client.pem 2>&1 | tail -n 1)" = "ftls/client.pem: OK"
check "client.key names a key in the factory's token, not a key" "$(cut -c1-30 ftls/client.key)" = "pkcs11:token=writ-factory-tls;"
LABEL=$(sed -n 's/.*object=\([^;]*\).*/\1/p' ftls/client.key)
GNUTLS_PIN=$WRIT_FACTORY_TLS_PIN p11tool --provider "$WRIT_P11_MODULE" --login --list-all-privkeys \
	"pkcs11:token=writ-factory-tls;object=$LABEL" >keys.txt 2>/dev/null || true
check "the client key is sensitive and never extractable in the token" \
	"$(grep -c 'CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE' keys.txt)" = 1
check "the cloud bound the certificate to the factory" "$(sqlite3 cloud.db 'SELECT count(*) FROM tls_certs')" = 1
FTOK=$(cat fac.token)

# ---- the factory syncs over mutual TLS ----
must "$FACTORYD" tls-init --tls ftls --host 127.0.0.1
FPORT=$(free_port)
FURL=https://127.0.0.1:$FPORT
start_factory()
{
	"$FACTORYD" serve --state fac --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock --cloud "$CURL_CLOUD" \
		--cloud-token-file fac.token --sync-interval 1 --tls ftls >>factory.log 2>&1 &
	FPID=$!
	wait_for 10 curl -s --cacert ftls/ca.pem -o /dev/null "$FURL/v1/status" ||
		{ echo "FAIL: writ-factory: $(tail -n 5 factory.log)" >&2; exit 1; }
}
start_factory
must "$FACTORYD" token add --state fac --role mes
MES=$(grep -Eo '[A-Za-z0-9_-]{40,}' "$OUT" | tail -n 1)
fstatus() { curl -s --cacert ftls/ca.pem -H "Authorization: Bearer $MES" "$FURL/v1/status" >status.json; }
synced() { fstatus && [[ $(jq -r '.cloud.last_error' status.json) == null && $(jq -r '.cloud.last_ok' status.json) != null ]]; }
if wait_for 20 synced; then pass "writ-factory syncs with writ-cloud over mutual TLS"; else
	fail "writ-factory does not sync: $(cat status.json) $(tail -n 3 factory.log)"; fi

# ---- refusals of the factory credential ----
# a factory request (GET /v1/sync/writs) with the factory's bearer token and various certificates
fcall() { capi GET "/v1/sync/writs" "$FTOK" "" "$@"; }
fcall
check "no client certificate: 401" "$CODE $(jq -r .code "$RESP")" = "401 client_cert"
check_grep "... saying so" 'no client certificate was presented' "$RESP"
# certificates to refuse: from another CA, expired, never bound (tls_lib.sh)
bad_client_certs "$FACTORY_ID" ctls
fcall --cert other-leaf.pem --key leaf.key
check "a certificate from another CA: 401" "$CODE" = 401
check_grep "... not issued by this portal's TLS CA" "not issued by this portal's TLS CA" "$RESP"
check "(the portal CA signed both test certificates)" "$(openssl verify -CAfile ctls/ca.pem unbound.pem 2>&1 | tail -n 1)" = "unbound.pem: OK"
fcall --cert expired.pem --key leaf.key
check "an expired certificate: 401" "$CODE" = 401
check_grep "... has expired" "has expired" "$RESP"
fcall --cert unbound.pem --key leaf.key
check "a portal-CA certificate never bound to the factory: 401" "$CODE" = 401
check_grep "... not bound to this factory" "not bound to this factory" "$RESP"
fcall --cert ftls/client.pem --engine pkcs11 --key-type ENG --key "$(cat ftls/client.key)" --pass "$WRIT_FACTORY_TLS_PIN"
check "the factory's own certificate (key in its token, via curl's pkcs11 engine): 200" "$CODE" = 200

# ---- no plaintext on the wire: the factory token is not in a capture of the hop ----
if command -v tshark >/dev/null && tshark -D 2>/dev/null | grep -q '\blo\b'; then
	# the call once tshark says it captures (its start alone can take seconds), then
	# tshark's own stop: a SIGINT right after the call loses the packets not yet written
	tshark -i lo -f "tcp port $CPORT" -w wire.pcap -a duration:10 >/dev/null 2>tshark.err &
	TSHARK=$!
	wait_for 30 grep -q 'Capturing on' tshark.err || fail "tshark did not start capturing: $(cat tshark.err)"
	fcall --cert ftls/client.pem --engine pkcs11 --key-type ENG --key "$(cat ftls/client.key)" --pass "$WRIT_FACTORY_TLS_PIN"
	wait "$TSHARK" || true
	check "the capture has TLS records and no bearer token in clear" \
		"$(tshark -r wire.pcap -Y tls 2>/dev/null | wc -l | awk '{print ($1 > 0)}') $(grep -c -a "$FTOK" wire.pcap)" = "1 0"
else
	echo "skip: tshark cannot capture on lo here"
fi

# ---- rotation: a new server key and certificate while clients keep working ----
OLD_FP=$(openssl x509 -in ctls/server.pem -noout -fingerprint -sha256)
: >loop.log
(
	while :; do
		c=$(curl -s --cacert ctls/ca.pem -o /dev/null -w '%{http_code}' "$CURL_CLOUD/v1/health") || c=000
		echo "$c" >>loop.log
		sleep 0.05
	done
) &
LOOP_PID=$!
requests() { (($(wc -l <loop.log) >= $1)); }
wait_for 30 requests 3 || fail "the client loop made no requests in 30 s"
sleep 1 # the new key's label carries the second
must "$CLOUDD" tls-init --tls ctls --host 127.0.0.1,localhost
NEW_FP=$(openssl x509 -in ctls/server.pem -noout -fingerprint -sha256)
check "tls-init made a new server certificate" "$OLD_FP" != "$NEW_FP"
seen()
{
	[[ $(openssl s_client -connect "127.0.0.1:$CPORT" -CAfile ctls/ca.pem </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null) == "$NEW_FP" ]]
}
if wait_for 10 seen; then pass "the running writ-cloud presents the new certificate (no restart)"; else
	fail "writ-cloud still presents the old certificate"; fi
SEEN_AT=$(date +%s)
# more requests on the new pair (a count, not a fixed 2 s a slow machine fills with few)
wait_for 30 requests $(($(wc -l <loop.log) + 10)) || fail "the client loop stalled after the rotation"
kill "$LOOP_PID" 2>/dev/null; wait "$LOOP_PID" 2>/dev/null || true
LOOP_PID=
check "the client kept working through the rotation ($(wc -l <loop.log) requests, none failed)" \
	"$(grep -vc '^200$' loop.log)" = 0
# a sync round that ended a second or more after the new certificate was seen
synced_after() { synced && (($(jq -r .cloud.last_ok status.json) > $1)); }
if wait_for 15 synced_after "$SEEN_AT"; then pass "the factory still syncs after the rotation"; else
	fail "the factory lost the cloud: $(cat status.json)"; fi

# ---- revocation ----
run "$CLOUDD" tls-revoke --db "$CDB" --name "$FACTORY_ID"
check "tls-revoke revokes the factory's certificate" "$RC $(grep -c '^1 client' "$OUT")" = "0 1"
fcall --cert ftls/client.pem --engine pkcs11 --key-type ENG --key "$(cat ftls/client.key)" --pass "$WRIT_FACTORY_TLS_PIN"
check "a revoked certificate: 401" "$CODE" = 401
check_grep "... revoked" "is revoked" "$RESP"
revoked_seen() { fstatus && jq -r '.cloud.last_error' status.json | grep -q 'revoked'; }
if wait_for 10 revoked_seen; then pass "the factory's sync is refused and says why ($(jq -r .cloud.last_error status.json | cut -c1-100))"; else
	fail "the factory's status does not show the refusal: $(cat status.json)"; fi

# ---- writ-station -> writ-factory over TLS, the factory CA pinned ----
must "$FACTORYD" station add --state fac --name st1 --line L1
(umask 077 && grep -Eo '[A-Za-z0-9_-]{6,}' "$OUT" | tail -n 1 >st1.code)
run "$STATION" enrol --factory "$FURL" --factory-ca ctls/ca.pem --code-file st1.code --name st1 --line L1 --out st1.token
check "a station that pins another CA refuses the factory" "$RC" -ne 0 -a ! -e st1.token
check_grep "... with a certificate error" 'certificate|SSL|TLS' "$ERR"
run "$STATION" enrol --factory "$FURL" --factory-ca ftls/ca.pem --code-file st1.code --name st1 --line L1 --out st1.token
check "a station that pins the factory CA enrols over TLS" "$RC $(test -s st1.token && echo y)" = "0 y"
[[ $RC == 0 ]] || cat "$ERR" >&2
check "the station token still authenticates (bearer over TLS)" \
	"$(curl -s --cacert ftls/ca.pem -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat st1.token)" "$FURL/v1/jobs")" = 200

# both daemons stop cleanly (under ASan this is also where leaks would show)
stop_rc() # PID: STOP_RC is its exit status after SIGTERM
{
	kill -TERM "$1" 2>/dev/null || true
	STOP_RC=0
	wait "$1" || STOP_RC=$?
}
stop_rc "$FPID"
FPID=
check "writ-factory stops on SIGTERM with exit 0" "$STOP_RC" = 0
stop_rc "$CLOUD_PID"
CLOUD_PID=
check "writ-cloud stops on SIGTERM with exit 0" "$STOP_RC" = 0

# ---- the fallback without a token: a PEM key file, only if no one else may read it ----
mkdir -m 700 ftls2
cp ftls/ca.pem ftls2/
certtool --generate-privkey --ecc --outfile ftls2/server.key 2>/dev/null
chmod 644 ftls2/server.key
cat >tmpl.fsrv <<EOF
cn = "127.0.0.1"
ip_address = "127.0.0.1"
tls_www_server
signing_key
expiration_days = 30
EOF
GNUTLS_PIN=$WRIT_FACTORY_TLS_PIN certtool --provider "$WRIT_P11_MODULE" --generate-certificate \
	--load-privkey ftls2/server.key --load-ca-certificate ftls/ca.pem --load-ca-privkey "$(cat ftls/ca.key)" \
	--template tmpl.fsrv --outfile ftls2/server.pem 2>/dev/null
run "$FACTORYD" serve --state fac --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock --tls ftls2
check "a PEM server key readable by others is refused at start (exit 1)" "$RC" = 1
check_grep "... with the fix" 'chmod 600' "$ERR"
chmod 600 ftls2/server.key
"$FACTORYD" serve --state fac --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock --tls ftls2 >>factory2.log 2>&1 &
FPID=$!
if wait_for 10 curl -s --cacert ftls/ca.pem -o /dev/null "$FURL/v1/health"; then
	pass "the fallback (PEM key, mode 0600) serves TLS"; else fail "the fallback does not serve: $(tail -n 3 factory2.log)"; fi
# a half-done rotation (a certificate whose key is not in server.key) is not taken
FP2=$(openssl x509 -in ftls2/server.pem -noout -fingerprint -sha256)
cp ftls/server.pem ftls2/server.pem.new && mv ftls2/server.pem.new ftls2/server.pem
sleep 0.2
check "a certificate that does not match the key is not taken: the old pair stays" \
	"$(openssl s_client -connect "127.0.0.1:$FPORT" -CAfile ftls/ca.pem </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null)" = "$FP2"
check_grep "... and the factory says why" 'keeping the current certificate.*does not match' factory2.log
stop_rc "$FPID"
FPID=
if grep -l 'Sanitizer\|runtime error' cloud.log factory.log factory2.log >/dev/null 2>&1; then fail "sanitizer reports in the logs"; fi

finish
