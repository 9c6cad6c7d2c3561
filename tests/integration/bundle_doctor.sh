#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `writ-factory doctor` against a real site on loopback: a writ-cloud (SQLite), a
# writ-hsmd (SoftHSM) and a writ-factory enrolled with it, one station enrolled. Healthy
# first (exit 0), then each broken condition on its own, with its own check, message
# and exit code: the cloud down (1, and since when), the HSM down (2), free space below
# the threshold (2), the clock behind the HSM journal (an HSM whose clock runs ahead:
# writ-hsmd's --time-offset test knob) (2), a disk really full (a tmpfs, as root) (2), a
# tampered journal (2), the factory service
# down (2); and --json gives the same verdicts.
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"

PY=/usr/bin/python3
CLOUDD=$WRIT_BIN/writ-cloud
FACTORYD=$WRIT_BIN/writ-factory
CLOUD_PID=
FPID=
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357
_doc_cleanup()
{
	local p
	for p in "$FPID" "$CLOUD_PID"; do
		[[ -n $p ]] || continue
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[[ -z ${TINY:-} ]] || umount "$TINY" 2>/dev/null || umount -l "$TINY" 2>/dev/null || true
	_cleanup
}
hsm_setup
trap _doc_cleanup EXIT
json() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- the site ----
must "$CLOUDD" init --db "sqlite:$WORK/cloud.db"
OEM=$("$CLOUDD" org add --db "sqlite:$WORK/cloud.db" --kind oem --name acme --user alice 2>/dev/null)
"$CLOUDD" org add --db "sqlite:$WORK/cloud.db" --kind odm --name foxy --user bob >/dev/null 2>&1
CPORT=$(free_port)
CURL_CLOUD=http://127.0.0.1:$CPORT
start_cloud()
{
	"$CLOUDD" serve --insecure-http --db "sqlite:$WORK/cloud.db" --listen "127.0.0.1:$CPORT" >>cloud.log 2>&1 &
	CLOUD_PID=$!
	wait_for 10 curl -s -o /dev/null "$CURL_CLOUD/v1/health" || { echo "FAIL: writ-cloud did not start" >&2; exit 1; }
}
stop_cloud() { kill "$CLOUD_PID" 2>/dev/null || true; wait "$CLOUD_PID" 2>/dev/null || true; CLOUD_PID=; }
start_cloud
echo "$OEM" >oem.token
chmod 600 oem.token
WRIT_CLOUD_URL=$CURL_CLOUD "$WRIT" factory create --factory foxy-sz1 --odm foxy --json --token-file oem.token |
	json 'd["code"]' >code
chmod 600 code
must "$FACTORYD" enrol-info --cloud "$CURL_CLOUD" --code-file code --out oem.pem
must "$HSMD" init --state hsm --factory foxy-sz1 --oem-key oem.pem
start_hsmd hsm
must "$FACTORYD" init --state fac --oem-key oem.pem --factory foxy-sz1
must "$FACTORYD" enrol --cloud "$CURL_CLOUD" --code-file code --hsm hsm/hsmd.sock --token-out fac.token
(umask 077; "$FACTORYD" token add --state fac --role mes 2>/dev/null >mes.token)
FPORT=$(free_port)
FURL=http://127.0.0.1:$FPORT
start_factory()
{
	"$FACTORYD" serve --insecure-http --state fac --listen "127.0.0.1:$FPORT" --hsm hsm/hsmd.sock --cloud "$CURL_CLOUD" \
		--cloud-token-file fac.token --sync-interval 1 >>factory.log 2>&1 &
	FPID=$!
	wait_for 10 curl -s -o /dev/null "$FURL/v1/status" || { echo "FAIL: writ-factory did not start" >&2; exit 1; }
}
start_factory
"$FACTORYD" station add --state fac --name st1 --line L1 2>/dev/null | sed -n 's/^code //p' >st.code
chmod 600 st.code
must "$WRIT_BIN/writ-station" enrol --factory "$FURL" --code-file st.code --name st1 --line L1 --out st.token
mkdir -p etc # an empty configuration folder: every place comes from the flags

# doctor [ARGS...]: RC, $OUT (text); the site's places from flags
doctor()
{
	run "$FACTORYD" doctor --conf-dir etc --hsm "${D_HSM:-hsm/hsmd.sock}" --hsmd-state "${D_HSTATE:-hsm}" --state fac \
		--cloud "$CURL_CLOUD" --factory-url "$FURL" --factory-token-file mes.token "$@"
}
# level CHECK: the worst level of that check in doctor --json's output in $OUT
level()
{
	$PY -c '
import json, sys
d = json.load(open(sys.argv[1])); order = ["ok", "warning", "failure"]
ls = [c["level"] for c in d["checks"] if c["check"] == sys.argv[2]]
print(max(ls, key=order.index) if ls else "absent")' "$OUT" "$1"
}
# expect WHAT EXIT CHECK LEVEL ERE [ARGS...]: doctor's exit code, that check's level in
# --json, and the text output's line for it matching ERE
expect()
{
	local what=$1 want=$2 chk=$3 lvl=$4 ere=$5 text
	shift 5
	doctor "$@"
	text=$(cat "$OUT")
	doctor --json "$@"
	if [[ $RC != "$want" ]]; then
		fail "$what: exit $RC, want $want: $text"
	elif [[ $(level "$chk") != "$lvl" ]]; then
		fail "$what: check $chk is $(level "$chk"), want $lvl: $text"
	elif ! grep -Eq -- "$ere" <<<"$text"; then
		fail "$what: /$ere/ not in: $text"
	else
		pass "$what: $(grep -E -- "$ere" <<<"$text" | head -n 1 | cut -c1-150)"
	fi
}

# ---- healthy ----
wait_for 10 sh -c "curl -sf -H 'Authorization: Bearer $(cat mes.token)' $FURL/v1/status | grep -q '\"last_ok\": *[0-9]'" || true
expect "healthy site: all good" 0 hsm ok '^all good'
check "--json says ok" "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"])' "$OUT")" = ok
for c in journal clock-journal factory cloud clock-cloud queue disk stations update; do
	check "healthy: $c ok" "$(level "$c")" = ok
done

# ---- an update that was rolled back (update.json as the updater leaves it) ----
printf '{"installed": "0.1.0", "previous": "", "staged": "", "failed": "9.9.9", "state": "rolled-back", "last_error": "9.9.9 failed its health check", "at": 0}\n' \
	>fac/update.json
expect "an update rolled back: a warning with why" 1 update warning 'WARN +update .*was rolled back: 9\.9\.9 failed its health check'
rm fac/update.json
doctor --json
check "no update.json: the update check is ok again" "$(level update)" = ok

# ---- the cloud down: a warning, and since when ----
stop_cloud
wait_for 15 sh -c "curl -sf -H 'Authorization: Bearer $(cat mes.token)' $FURL/v1/status | grep -q '\"reachable\": *false'" ||
	fail "the factory did not notice the cloud going down"
expect "cloud down: a warning with since when" 1 cloud warning \
	'WARN +cloud .*unreachable.*(lost it at|last good sync was) .*ago'
start_cloud

# ---- the disk below the threshold ----
expect "disk below --min-free-mb: a failure" 2 disk failure 'FAIL +disk .*MiB free for the factory.*below' \
	--min-free-mb 100000000

# ---- a disk that is really full: a 4 MiB tmpfs holding a copy of the store, filled
#      (needs root to mount; the threshold above covers the rest)
if [[ $(id -u) == 0 ]] && mkdir -p tiny && mount -t tmpfs -o size=4m writ-test-tiny "$WORK/tiny" 2>/dev/null; then
	TINY=$WORK/tiny
	cp fac/factory.db tiny/
	dd if=/dev/zero of=tiny/fill bs=64k 2>/dev/null || true
	expect "a full disk: a failure" 2 disk failure 'FAIL +disk +only 0 MiB free for the factory' --state tiny
	umount "$TINY" && TINY=
fi

# ---- a tampered journal (a copy of the state, one byte flipped in the middle) ----
cp -a hsm hsm-bad
rm -f hsm-bad/hsmd.sock
flip_byte hsm-bad/journal 60 # inside the first entry; XOR, so the byte always changes
D_HSTATE=hsm-bad expect "tampered journal: a failure" 2 journal failure 'FAIL +journal .*does not verify'

# ---- the clock behind the HSM journal: an HSM whose clock runs 2 h ahead ----
make_skewed() {
	must "$HSMD" init --state hsm-ahead --token writ-hsm-ahead --factory foxy-sz1 --oem-key oem.pem --time-offset 7200
}
make_skewed
start_hsmd hsm-ahead --time-offset 7200
D_HSM=hsm-ahead/hsmd.sock D_HSTATE=hsm-ahead expect "clock behind the journal: a failure" 2 clock-journal failure \
	'FAIL +clock-journal .*before the HSM journal'
stop_hsmd hsm-ahead

# ---- the HSM down ----
stop_hsmd hsm
expect "HSM down: a failure" 2 hsm failure 'FAIL +hsm .*does not answer'
check "HSM down: the factory says its HSM is not up" "$(level factory)" = failure
start_hsmd hsm

# ---- the factory service down ----
kill "$FPID"; wait "$FPID" 2>/dev/null || true; FPID=
expect "factory down: a failure" 2 factory failure 'FAIL +factory .*does not answer'

# ---- usage ----
run "$FACTORYD" doctor --min-free-mb zero
check "a bad flag is a usage error (3: not to be taken for a failure)" "$RC" = 3
finish
