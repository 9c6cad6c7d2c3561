#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Signed releases end to end with real processes on loopback (docs/releases.md): a
# writ-cloud (SQLite, SoftHSM token holding the release key), a writ-hsmd and a
# writ-factory enrolled with it, and the factory-side programs installed into a temp
# prefix with the PREFIX/versions/V + PREFIX/current scheme; writ-factory serve is run
# from PREFIX/current by restart.sh (the --restart command). "Versions" are the same
# binaries published under another version number: the updater writes the signed
# version into PREFIX/versions/V/VERSION and writ-factory reports it in GET /v1/health.
# Checked: a good update applies; a bad signature (tampered manifest, other key), a
# malformed manifest, a downgrade, the wrong channel, a tampered file are refused and
# nothing changes; kill -9 of the updater between staging and switch leaves the old
# version, between switch and health check is rolled back by the next run; a version
# failing its health check is rolled back by itself and not taken again; an update
# offered while a station works waits; the OEM's pin holds the factory on a version.
# release_update.sh [sqlite|postgresql]: the cloud's store (postgresql: a private server,
# tests/pg_lib.sh); the tampering SQL is written for each.
source "${WRIT_SRC:?}/tests/integration/hsm_lib.sh"
source "$WRIT_SRC/tests/pg_lib.sh"
ENGINE=${1:-sqlite}

PY=/usr/bin/python3
CLOUDD=$WRIT_BIN/writ-cloud
FACTORYD=$WRIT_BIN/writ-factory
FACTORY_ID=foxy-sz1
CLOUD_PID=
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357

_rel_cleanup()
{
	local p
	for p in "${UPID:-}" "${STATION_PID:-}" "$CLOUD_PID"; do
		[[ -n $p ]] && { kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; }
	done
	p=$(cat "${WORK:-/nonexistent}/fac.pid" 2>/dev/null) || p=
	if [[ -n $p ]] && grep -qa writ-factory "/proc/$p/cmdline" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
	if [[ ${KEEP_WORKDIR:-0} == 1 ]]; then echo "workdir kept: $WORK" >&2; fi
	[[ $ENGINE != postgresql ]] || pg_stop
	_cleanup
}

hsm_setup
trap _rel_cleanup EXIT

# ---- the cloud, its OEM and ODM, the factory enrolled ----
if [[ $ENGINE == postgresql ]]; then
	pg_start
	CDB=$WRIT_PG_URL
	csql() { psql "$CDB" -qAtX -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }
	# flip_last COLUMN: the SQL expression of COLUMN with the lowest bit of its last byte
	# flipped (always a change: replacing the byte by a constant is none 1 time in 256)
	flip_last() { echo "set_byte($1, length($1) - 1, get_byte($1, length($1) - 1) # 1)"; }
	blob() { echo "'\\x$1'::bytea"; }
else
	CDB=sqlite:$WORK/cloud.db
	csql() { sqlite3 "$WORK/cloud.db" "$1"; }
	flip_last() { echo "CAST(substr($1, 1, length($1) - 1) || CASE WHEN substr($1, -1) = X'00' THEN X'01' ELSE X'00' END AS BLOB)"; }
	blob() { echo "X'$1'"; }
fi
must "$CLOUDD" init --db "$CDB"
OEM=$("$CLOUDD" org add --db "$CDB" --kind oem --name acme --user alice 2>/dev/null)
ODM=$("$CLOUDD" org add --db "$CDB" --kind odm --name foxy --user bob 2>/dev/null)
# the operator's release key, made in the token before the portal serves
must "$CLOUDD" release key
cp "$OUT" operator-release.pem
CPORT=$(free_port)
CLOUD=http://127.0.0.1:$CPORT
"$CLOUDD" serve --insecure-http --db "$CDB" --listen "127.0.0.1:$CPORT" --threads 4 >cloud.out 2>cloud.log &
CLOUD_PID=$!
wait_for 10 grep -q 'listening on' cloud.out || { echo "FAIL: writ-cloud: $(tail -n 5 cloud.log)" >&2; exit 1; }
RESP=$WORK/.resp
capi()
{
	local args=(-s -o "$RESP" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3")
	[[ -z ${4:-} ]] || args+=(-H 'Content-Type: application/json' --data-binary "$4")
	CODE=$(curl "${args[@]}" "$CLOUD$2") || CODE=000
}
capi POST /v1/factories "$OEM" "{\"id\": \"$FACTORY_ID\", \"odm\": \"foxy\"}"
[[ $CODE == 201 ]] || { echo "FAIL (setup): factory: $CODE $(cat "$RESP")" >&2; exit 1; }
(umask 077 && jq -r .code "$RESP" >code)
must "$FACTORYD" enrol-info --cloud "$CLOUD" --code-file code --out oem.pem
must "$HSMD" init --state hsm --token writ-hsm --factory "$FACTORY_ID" --oem-key oem.pem
start_hsmd hsm || exit 1
must "$FACTORYD" init --state fac --oem-key oem.pem --factory "$FACTORY_ID"
must "$FACTORYD" enrol --cloud "$CLOUD" --code-file code --hsm hsm/hsmd.sock --token-out fac.token

# ---- the release key pinned at enrolment, and version 0.1.0 installed under PREFIX ----
check "enrol-info pinned the release key from the enrolment answer" "$(cmp release.pem operator-release.pem && echo same)" = same
check "the release key is a P-256 public key" "$(openssl pkey -pubin -in release.pem -noout -text 2>/dev/null |
	grep -c 'prime256v1\|P-256')" -ge 1
PROGS=(writ-factory writ-hsmd writ-station writ writ-devsim)
PREFIX=$WORK/prefix
mkdir -p "$PREFIX/versions/0.1.0" rel
for p in "${PROGS[@]}"; do cp "$WRIT_BIN/$p" "$PREFIX/versions/0.1.0/"; cp "$WRIT_BIN/$p" rel/; done
echo 0.1.0 >"$PREFIX/versions/0.1.0/VERSION"
ln -s versions/0.1.0 "$PREFIX/current"
FPORT=$(free_port)
FURL=http://127.0.0.1:$FPORT
cat >restart.sh <<EOS
#!/bin/sh
# the --restart command: stop writ-factory, start PREFIX/current/writ-factory
# (only a pid that is still a writ-factory serve: a stale pid file must not hit another process)
ours() { [ -f $WORK/fac.pid ] && grep -qa 'writ-factory' /proc/\$(cat $WORK/fac.pid)/cmdline 2>/dev/null; }
ours && kill -TERM \$(cat $WORK/fac.pid)
i=0; while ours && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i+1)); done
ours && kill -KILL \$(cat $WORK/fac.pid)
cd $WORK && setsid $PREFIX/current/writ-factory serve --insecure-http --state fac --listen 127.0.0.1:$FPORT --hsm hsm/hsmd.sock \
	>>$WORK/factory.log 2>&1 </dev/null &
echo \$! >$WORK/fac.pid
EOS
chmod +x restart.sh
sh restart.sh
wait_for 10 curl -sf -o /dev/null "$FURL/v1/health" || { echo "FAIL: writ-factory: $(tail -n 5 factory.log)" >&2; exit 1; }
running() { curl -s "$FURL/v1/health" | jq -r .version; }
linked() { readlink "$PREFIX/current"; }
check "0.1.0 runs from the prefix" "$(running)" = 0.1.0

UPD=("$FACTORYD" update run --prefix "$PREFIX" --state fac --cloud "$CLOUD" --cloud-token-file fac.token
	--release-key release.pem --channel stable --health "$FURL/v1/health" --health-seconds 8 --restart "sh $WORK/restart.sh")
# "${UPD[@]}" with every element equal to $1 replaced by $2 (not ${UPD[@]/a/b}: that
# rewrites inside every element, paths included: a clone under /tmp/ci-run1 broke it)
upd_with() {
	local a out=()
	for a in "${UPD[@]}"; do
		[[ $a == "$1" ]] && a=$2
		out+=("$a")
	done
	printf '%s\0' "${out[@]}"
}
publish() { must "$CLOUDD" release add --db "$CDB" --channel "$1" --version "$2" "${@:3}"; }
ustate() { jq -r "$1" fac/update.json; }

# ---- nothing published: nothing happens ----
run "${UPD[@]}"
check "no release: the updater exits 0" "$RC" -eq 0
check "no release: 0.1.0 still linked" "$(linked)" = versions/0.1.0

# ---- a good update ----
publish stable 0.2.0 rel/*
run "${UPD[@]}"
check "0.2.0: applied (exit 0)" "$RC" -eq 0
check "0.2.0: current -> versions/0.2.0" "$(linked)" = versions/0.2.0
check "0.2.0: the new writ-factory runs and reports 0.2.0" "$(running)" = 0.2.0
check "0.2.0: update.json says installed" "$(ustate '.state + " " + .installed')" = "installed 0.2.0"
check "0.2.0: the staged files are the published ones" "$(cmp "$PREFIX/versions/0.2.0/writ-hsmd" rel/writ-hsmd && echo same)" = same
capi GET "/v1/releases/latest?channel=stable" "$(cat fac.token)"
jq -r .manifest "$RESP" | base64 -d >m020.cose
WANT="0.2.0 stable $(for p in $(printf '%s\n' "${PROGS[@]}" | LC_ALL=C sort); do
	printf '%s:%s:%s ' "$p" "$(stat -c %s "rel/$p")" "$(sha256sum "rel/$p" | cut -c1-64)"; done)"
check "an independent COSE implementation verifies the manifest (python3-cbor2, python3-cryptography)" \
	"$($PY "$WRIT_SRC/tests/integration/release_interop.py" m020.cose release.pem 2>&1)" = "${WANT% }"
expect_refused "a version is published once per channel (a second add of 0.2.0 is refused)" \
	"0\.2\.0 is already published on stable" "$CLOUDD" release add --db "$CDB" --channel stable --version 0.2.0 rel/*
check "0.2.0: modes kept" "$(stat -c %a "$PREFIX/versions/0.2.0/writ-factory")" = "$(stat -c %a rel/writ-factory)"
must "$FACTORYD" token add --state fac --role mes
MES=$(cat "$OUT")
fstatus() { curl -s -H "Authorization: Bearer $MES" "$FURL/v1/status"; }
check "GET /v1/status shows update {installed, state}" "$(fstatus | jq -r '.update.installed + " " + .update.state')" = "0.2.0 installed"

# refused REASON_REGEX DESCRIPTION: the last run was refused (exit 3) with that reason
# in update.json and on stderr, and nothing changed.
refused()
{
	if [[ $RC -ne 3 ]]; then
		fail "$2: exit $RC, want 3: $(tail -n 3 "$ERR")"
	elif ! ustate .last_error | grep -Eqi -- "$1"; then
		fail "$2: last_error lacks /$1/: $(ustate .last_error)"
	elif [[ $(linked) != "$3" || $(running) != "${3#versions/}" ]]; then
		fail "$2: something changed: $(linked), running $(running)"
	else
		pass "$2 ($(ustate .last_error))"
	fi
}
drop_release() { csql "DELETE FROM release_files WHERE release_id IN (SELECT id FROM releases WHERE version = '$1');
	DELETE FROM releases WHERE version = '$1';"; }

# ---- refusals ----
publish stable 0.1.5 rel/*
run "${UPD[@]}"
check "a lower version published later is not offered over 0.2.0" "$RC $(linked) $(ustate .state)" = "0 versions/0.2.0 installed"
csql "UPDATE releases SET channel = 'hidden' WHERE version = '0.2.0'" # a cloud that offers an older version
run "${UPD[@]}"
refused "downgrade" "a downgrade (0.1.5 offered to 0.2.0) is refused" versions/0.2.0
csql "UPDATE releases SET channel = 'stable' WHERE version = '0.2.0'"
drop_release 0.1.5

publish beta 0.3.0 rel/*
csql "UPDATE releases SET channel = 'stable' WHERE version = '0.3.0'" # a cloud that mixes channels up
run "${UPD[@]}"
refused "wrong channel" "a release signed for channel beta offered on stable is refused" versions/0.2.0
drop_release 0.3.0

publish stable 0.3.1 rel/*
csql "UPDATE releases SET manifest = $(flip_last manifest) WHERE version = '0.3.1'"
run "${UPD[@]}"
refused "bad signature" "a manifest with a tampered signature is refused" versions/0.2.0
drop_release 0.3.1
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -pubout >other.pem 2>/dev/null
publish stable 0.3.2 rel/*
mapfile -d '' -t UPD2 < <(upd_with release.pem other.pem)
run "${UPD2[@]}"
refused "bad signature" "a release signed by another key than the pinned one is refused" versions/0.2.0
csql "UPDATE releases SET manifest = $(blob d28443a10126a0f640) WHERE version = '0.3.2'"
run "${UPD[@]}"
refused "malformed|bad signature" "a garbage manifest is refused" versions/0.2.0
drop_release 0.3.2

publish stable 0.3.3 rel/*
csql "UPDATE release_files SET content = $(flip_last content)
	WHERE name = 'writ-station' AND release_id = (SELECT id FROM releases WHERE version = '0.3.3')"
run "${UPD[@]}"
refused "SHA-256" "a release with a tampered file is refused" versions/0.2.0
check "a refused release leaves nothing staged" "$(ls "$PREFIX/versions" | tr '\n' ' ')" = "0.1.0 0.2.0 "
drop_release 0.3.3

# ---- kill -9 between staging and switch: the old version keeps running ----
publish stable 0.4.0 rel/*
run env WRIT_UPDATE_CRASH_AT=staged "${UPD[@]}"
check "crash after staging: the updater died (SIGKILL)" "$RC" -eq 137
check "crash after staging: 0.2.0 still linked and running" "$(linked) $(running)" = "versions/0.2.0 0.2.0"
run "${UPD[@]}"
check "the next run installs 0.4.0" "$RC $(linked) $(running)" = "0 versions/0.4.0 0.4.0"

# ---- kill -9 between switch and health check: the next run rolls back ----
publish stable 0.5.0 rel/*
run env WRIT_UPDATE_CRASH_AT=switched "${UPD[@]}"
check "crash after the switch: the updater died (SIGKILL)" "$RC" -eq 137
check "crash after the switch: current already -> 0.5.0, 0.4.0 still runs" "$(linked) $(running)" = "versions/0.5.0 0.4.0"
mapfile -d '' -t UPD2 < <(upd_with run apply)
run "${UPD2[@]}"
check "the next run rolls back (exit 4)" "$RC" -eq 4
check "rolled back: 0.4.0 linked and running" "$(linked) $(running)" = "versions/0.4.0 0.4.0"
check "rolled back: update.json says why" "$(ustate .state)" = rolled-back
run "${UPD[@]}"
check "an interrupted version is tried again and installs" "$RC $(linked) $(running)" = "0 versions/0.5.0 0.5.0"

# ---- a version that fails its health check is rolled back by itself ----
mkdir -p bad
cp rel/* bad/
printf '#!/bin/sh\nexit 1\n' >bad/writ-factory
chmod 755 bad/writ-factory
publish stable 0.6.0 bad/*
run "${UPD[@]}"
check "0.6.0 (broken writ-factory): rolled back (exit 4)" "$RC" -eq 4
check "0.6.0: 0.5.0 linked and running again" "$(linked) $(running)" = "versions/0.5.0 0.5.0"
check "0.6.0: last_error names the health check" "$(ustate .last_error | grep -c 'health check')" -eq 1
run "${UPD[@]}"
refused "rolled back" "0.6.0 is not taken again" versions/0.5.0

# ---- an update offered while a station works waits for it ----
must "$FACTORYD" station add --state fac --name st1 --line L1
SCODE=$(sed -n 's/^code //p' "$OUT")
STOK=$(curl -s -X POST -H 'Content-Type: application/json' \
	--data-binary "{\"code\":\"$SCODE\",\"name\":\"st1\",\"line\":\"L1\"}" "$FURL/v1/stations/enrol" | jq -r .token)
# the station works: it asks for its job every 0.5 s until station.stop appears. Before
# each request it notes the time (to the nanosecond) in station.last; after each, a line
# in station.log.
(while [[ ! -e station.stop ]]; do
	date +%s.%N >station.last
	curl -s -o /dev/null -H "Authorization: Bearer $STOK" "$FURL/v1/jobs/00000000000000000000000000000000"
	echo done >>station.log
	sleep 0.5
done) &
STATION_PID=$!
wait_for 10 test -s station.log || true
check "a working station makes the factory busy" "$(curl -s "$FURL/v1/health" | jq -r .busy)" = true
publish stable 0.7.0 rel/*
"${UPD[@]}" >upd7.out 2>upd7.err &
UPID=$!
is_waiting() { [[ $(ustate .state 2>/dev/null) == waiting ]]; }
wait_for 10 is_waiting || true
check "0.7.0 is staged and waits" "$(ustate '.state + " " + .staged')" = "waiting 0.7.0"
check "stations are told an update is pending" "$(fstatus | jq -r .update.pending)" = true
sleep 3
check "while the station works, 0.5.0 runs" "$(linked) $(running)" = "versions/0.5.0 0.5.0"
touch station.stop
wait "$STATION_PID" || true
STATION_PID=
LAST=$(cat station.last)
URC=0
wait "$UPID" || URC=$?
UPID=
DONE=$(date +%s.%N)
check "after the station stopped, 0.7.0 was applied" "$URC $(linked) $(running)" = "0 versions/0.7.0 0.7.0"
# The factory is busy while time(NULL) - time(NULL)-at-the-last-request < 10
# (factory/update.c, UPDATE_BUSY_SECONDS): whole seconds, so the switch comes more than
# 9 s (the 10 s window less up to 1 s of rounding) after the last request was sent.
# LAST is taken before that request and DONE after the updater exits, so the idle time
# measured here can only be longer than the factory's, never shorter.
IDLE=$(awk -v d="$DONE" -v l="$LAST" 'BEGIN { printf "%.3f", d - l }')
check "not before the station had been idle for the busy window (10 s, less 1 s of rounding): $IDLE s" \
	"$(awk -v d="$DONE" -v l="$LAST" 'BEGIN { print (d - l > 9) ? "yes" : "no" }')" = yes
check "the updater logged why it waited" "$(grep -c 'station has a job in progress' upd7.err)" -ge 1
# after an install the updater keeps the installed and the previous version it staged;
# 0.1.0 (put there by hand, no release.cose) is not its own and stays
check "old versions pruned: 0.1.0 (not staged by the updater), 0.5.0 (previous), 0.7.0 (installed) left" \
	"$(ls "$PREFIX/versions" | tr '\n' ' ')" = "0.1.0 0.5.0 0.7.0 "

# ---- the OEM's pin ----
capi PUT "/v1/factories/$FACTORY_ID/release-pin" "$ODM" '{"version": "0.5.0"}'
check "an ODM cannot pin a release (403)" "$CODE" = 403
capi PUT "/v1/factories/$FACTORY_ID/release-pin" "$(cat fac.token)" '{"version": "0.5.0"}'
check "a factory cannot pin its own release (403)" "$CODE" = 403
capi PUT "/v1/factories/$FACTORY_ID/release-pin" "$OEM" '{"version": "v5"}'
check "a pin that is no version is refused (400)" "$CODE" = 400
capi PUT "/v1/factories/$FACTORY_ID/release-pin" "$OEM" '{"version": "0.5.0"}'
check "the OEM pins 0.5.0" "$CODE" = 200
capi PUT "/v1/factories/$FACTORY_ID/release-pin" "$OEM" '{"version": "0.4.0"}'
capi GET "/v1/releases/latest?channel=stable" "$(cat fac.token)"
check "a second pin replaces the first: latest offers 0.4.0, pinned" "$(jq -r '.version + " " + (.pinned | tostring)' "$RESP")" = "0.4.0 true"
capi PUT "/v1/factories/$FACTORY_ID/release-pin" "$OEM" '{"version": "0.5.0"}'
publish stable 0.8.0 rel/*
run "${UPD[@]}"
check "pinned: the factory goes to 0.5.0, not the latest 0.8.0" "$RC $(linked) $(running)" = "0 versions/0.5.0 0.5.0"
run "${UPD[@]}"
check "pinned: the next round changes nothing" "$RC $(linked) $(running)" = "0 versions/0.5.0 0.5.0"
capi PUT "/v1/factories/$FACTORY_ID/release-pin" "$OEM" '{"version": ""}'
run "${UPD[@]}"
check "unpinned: the latest (0.8.0) installs" "$RC $(linked) $(running)" = "0 versions/0.8.0 0.8.0"

# ---- garbage from the cloud ----
capi GET "/v1/releases/latest?channel=Stable!" "$(cat fac.token)"
check "a bad channel is refused (400)" "$CODE" = 400
capi GET "/v1/releases/stable/0.8.0/files/..%2Fcloud.db" "$(cat fac.token)"
check "a path in a file name is not served (404)" "$CODE" = 404
capi GET "/v1/releases/latest?channel=stable" "$OEM"
check "only a factory credential reads releases (403)" "$CODE" = 403

finish
