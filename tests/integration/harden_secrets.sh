#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Secrets hygiene audit (issue 8): grep-able proof that no PIN, token or product secret
# reaches a log, an error message, an output or argv, and that nothing writes a private
# key out. 1) scripts/secrets-lint.py scans the source (rules R1..R6 there). 2) A
# whole line runs with distinctive, random PINs, tokens and an OTA secret, every daemon
# at debug level: writ-hsmd and writ-factory confined (seccomp), writ-station provisioning
# chips that receive the wrapped secret, writ-cloud with its token; plus the error paths
# (wrong PIN, wrong station token, wrong API token). Then every log and output, and the
# argv of every writ process sampled while it ran, is searched for each secret as raw
# bytes, hex, HEX and base64, and for PEM private-key armour.
source "${WRIT_SRC:?}/tests/integration/line_lib.sh"

rnd() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
AUTH_PIN=authpin$(rnd)
AUTH_SO=authso$(rnd)
HSM_PIN=hsmpin$(rnd)
HSM_SO=hsmso$(rnd)
CLOUD_PIN=cloudpin$(rnd)
CLOUD_SO=cloudso$(rnd)
WRONG_PIN=wrongpin$(rnd)
BAD_TOKEN=badtoken$(rnd)
# hsm_setup calls writ_test_pins: these PINs instead of the fixed test ones
writ_test_pins()
{
	export WRIT_AUTHORITY_PIN=$AUTH_PIN WRIT_AUTHORITY_SO_PIN=$AUTH_SO WRIT_HSM_PIN=$HSM_PIN WRIT_HSM_SO_PIN=$HSM_SO
	export WRIT_CLOUD_PIN=$CLOUD_PIN WRIT_CLOUD_SO_PIN=$CLOUD_SO
}
export WRIT_DEBUG=1

# ---- 1. the source ----
SRC_OK=1
LINT=$(/usr/bin/python3 "$WRIT_SRC/scripts/secrets-lint.py" "$WRIT_SRC") || SRC_OK=0
echo "$LINT"

# ---- 2. a line with known secrets ----
N=4
line_setup "$N"
[[ $SRC_OK == 1 ]] && pass "source scan: no private-key read or export, no PIN in a log call or on argv" ||
	fail "source scan found something (above)"
start_factory
enrol station-a L1 a.token
start_farm farm-a "$N"
mkdir -p labels

# argv of every process running a writ binary, sampled while the line runs
sample_argv()
{
	local d exe
	for d in /proc/[0-9]*; do
		exe=$(readlink "$d/exe" 2>/dev/null) || continue
		case $exe in "$WRIT_BIN"/*) tr '\0' ' ' <"$d/cmdline" 2>/dev/null >>argv.txt && echo >>argv.txt ;; esac
	done
}
: >argv.txt
"$STATION" run --factory "$FACTORY_URL" --token-file a.token --job "$WRIT_ID" --port-dir "$WORK/farm-a" \
	--parallel 2 --once --label-dir labels >station.out 2>station.err &
sp=$!
while kill -0 "$sp" 2>/dev/null; do
	sample_argv
	sleep 0.05
done
src=0
wait "$sp" || src=$?
check "the line provisioned $N chips ($(tail -n 1 station.err | cut -c1-120))" "$src" = 0
check_grep "all $N devices ok" "^devices=$N ok=$N failed=0 " station.out
check "argv was sampled from writ processes ($(sort -u argv.txt | grep -c .) distinct)" "$(grep -c writ- argv.txt)" -gt 0
for who in "writ-factory" "writ-station"; do
	f=fac/factory.log
	[[ $who == writ-station ]] && f=station.err
	if [[ $(nm -D "$WRIT_BIN/writ-hsmd" 2>/dev/null) == *__asan_init* ]]; then
		check_grep "$who ran without seccomp only because of ASan" "seccomp: not installed: this is an ASan build" "$f"
	else
		check_grep "$who ran under its seccomp allow-list" "seccomp: net allow-list installed" "$f"
	fi
done

# ---- error paths that handle a secret ----
run env WRIT_HSM_PIN="$WRONG_PIN" "$WRIT_BIN/writ-hsmd" serve --state hsm --socket "$WORK/wrong.sock"
cp "$ERR" wrongpin.err
check "writ-hsmd refuses a wrong PIN (exit $RC)" "$RC" -ne 0
(umask 077 && printf '%s\n' "$BAD_TOKEN" >bad.token)
run "$STATION" run --factory "$FACTORY_URL" --token-file bad.token --job "$WRIT_ID" --port-dir "$WORK/farm-a" --once
cp "$ERR" badtoken.err
check "writ-station with a wrong token is refused (exit $RC)" "$RC" -ne 0
run curl -s -H "Authorization: Bearer $BAD_TOKEN" "$FACTORY_URL/v1/status"
cp "$OUT" badtoken-factory.out

# ---- writ-cloud: its PIN, an API token shown once, a wrong token ----
must "$WRIT_BIN/writ-cloud" init --db "sqlite:$WORK/cloud.db"
cp "$OUT" cloud-init.out
cp "$ERR" cloud-init.err
run "$WRIT_BIN/writ-cloud" org add --db "sqlite:$WORK/cloud.db" --kind oem --name acme --user alice
API_TOKEN=$(head -n 1 "$OUT")
check "writ-cloud made an API token" -n "$API_TOKEN"
"$WRIT_BIN/writ-cloud" serve --insecure-http --db "sqlite:$WORK/cloud.db" --listen 127.0.0.1:0 --threads 2 --verbose >cloud.log 2>&1 &
cpid=$!
port=
for ((i = 0; i < 100; i++)); do
	port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' cloud.log 2>/dev/null || true)
	[[ -n $port ]] && break
	sleep 0.1
done
check "writ-cloud listens" -n "$port"
if [[ $(nm -D "$WRIT_BIN/writ-cloud" 2>/dev/null) == *__asan_init* ]]; then
	check_grep "writ-cloud ran without seccomp only because of ASan" "seccomp: not installed: this is an ASan build" cloud.log
else
	check_grep "writ-cloud runs under its seccomp allow-list" "seccomp: net allow-list installed" cloud.log
fi
sample_argv
run curl -s -H "Authorization: Bearer $API_TOKEN" "http://127.0.0.1:$port/v1/me"
cp "$OUT" cloud-me.out
check_grep "the API token works" '"user": *"alice"' cloud-me.out
run curl -s -H "Authorization: Bearer $BAD_TOKEN" "http://127.0.0.1:$port/v1/me"
cp "$OUT" cloud-bad.out
kill -TERM "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
run env WRIT_CLOUD_PIN="$WRONG_PIN" "$WRIT_BIN/writ-cloud" serve --insecure-http --db "sqlite:$WORK/cloud.db" --listen 127.0.0.1:0
cp "$ERR" cloud-wrongpin.err
check "writ-cloud refuses a wrong PIN (exit $RC)" "$RC" -ne 0
stop_factory TERM
stop_hsmd hsm TERM

# ---- the search ----
OTA_HEX=$(od -An -tx1 ota.key | tr -d ' \n')
STATION_TOKEN=$(tr -d '\n' <a.token)
# every log and output this run made, and the stores (not the secrets' own files, the
# SoftHSM token store, or the chips' flash, which hold them by design)
mapfile -t FILES < <(find "$WORK" -type f \( -name '*.log' -o -name '*.out' -o -name '*.err' -o -name '*.ready' \
	-o -name argv.txt -o -name '*.reason' \) | sort)
# and the stores: writ-hsmd's journal, writ-factory's state, writ-cloud's database
FILES+=("$WORK/hsm/journal")
mapfile -t -O "${#FILES[@]}" FILES < <(find "$WORK/fac" -type f ! -name '*.log' | sort; ls "$WORK"/cloud.db*)
check "the audit covers at least 10 logs and outputs (${#FILES[@]})" "${#FILES[@]}" -ge 10
printf '%s\n' "${FILES[@]}" >audit-files.txt
export AUDIT_NEEDLES="auth PIN=$AUTH_PIN;auth SO PIN=$AUTH_SO;HSM PIN=$HSM_PIN;HSM SO PIN=$HSM_SO;cloud PIN=$CLOUD_PIN;cloud SO PIN=$CLOUD_SO;wrong PIN=$WRONG_PIN;bad token=$BAD_TOKEN;station token=$STATION_TOKEN;OTA secret=hex:$OTA_HEX"
# the API token is printed once, on org add's stdout, by design: not in that file
cat >audit.py <<'PY'
import base64, os, sys
needles = []
for item in os.environ["AUDIT_NEEDLES"].split(";"):
    name, val = item.split("=", 1)
    raw = bytes.fromhex(val[4:]) if val.startswith("hex:") else val.encode()
    forms = {raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw), base64.b64encode(raw).rstrip(b"=")}
    needles.append((name, forms))
needles.append(("API token", {sys.argv[1].encode()}))
needles.append(("PEM private key", {b"PRIVATE KEY-----"}))
hits = 0
for path in (l.strip() for l in sys.stdin if l.strip()):
    data = open(path, "rb").read()
    for name, forms in needles:
        for f in forms:
            if len(f) >= 8 and f in data:
                print(f"LEAK {name} in {path}")
                hits += 1
print(f"searched {len(needles)} secrets in {sum(1 for _ in open(sys.argv[2]))} files: {hits} hits")
PY
/usr/bin/python3 audit.py "$API_TOKEN" audit-files.txt <audit-files.txt >audit.txt || true
cat audit.txt
check "no PIN, token, OTA secret or private key in any log, output, journal or argv" "$(grep -c '^LEAK' audit.txt)" = 0
check_grep "the search ran over every file" "^searched 12 secrets in [0-9]+ files: 0 hits" audit.txt
# the control: the same search finds each kind of secret when it is there
{ printf 'x %s\n' "$HSM_PIN"; printf '%s' "$OTA_HEX" | tr a-f A-F; echo; base64 <ota.key; cat a.token; } >control.txt
echo "$WORK/control.txt" >control-files.txt
/usr/bin/python3 audit.py "$API_TOKEN" control-files.txt <control-files.txt >control.audit || true
check "control: a planted PIN, HEX and base64 OTA secret and station token are all found" \
	"$(grep -c '^LEAK' control.audit)" -ge 4
finish
