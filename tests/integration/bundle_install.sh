#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The factory bundle for real (issue 9): build the Debian packages, install them with
# apt into a clean Debian 12 root made by debootstrap (a folder, entered with chroot),
# start a writ-cloud on the host's loopback (outside the root), and inside the root run
# the one setup command, `writ-factory enrol --cloud URL --code CODE`, which sets up the
# factory's TLS too; then provision one writ-devsim chip through writ-station there over
# TLS with the factory CA pinned, check that its record reaches the cloud, and that
# `writ-factory doctor` (over TLS) finds the site healthy. The packages install in the
# release layout (/opt/writ/versions/V, /opt/writ/current, /usr/bin links), enrol pins
# the cloud's release key and enables the updater's timer, and one round of the
# packaged updater (its wrapper, as root, no systemd here: the restart is a script)
# takes a release published in the cloud over mutual TLS and switches to it. The cloud serves its database
# twice on the host's loopback: over TLS (writ-cloud tls-init) for the factory, whose
# root gets the portal CA as /etc/writ/tls/cloud-ca.pem before enrolling (so the site
# enrols and syncs over mutual TLS), and in plain HTTP (--insecure-http) for the writ CLI
# that plays the OEM and the ODM here (it trusts only the system's CAs).
#
# The base root is made once and kept as a tarball under the build dir
# (build/bundle/bookworm-minbase.tgz), with apt's lists and downloaded packages
# (build/bundle/apt-*), so a repeated run unpacks in seconds and downloads nothing.
# The mirror is the host's own (its apt sources), or $WRIT_DEBIAN_MIRROR. Needs root
# (chroot, mounts) and debootstrap (scripts/deps.sh); exits 77 (skipped) without them.
# Processes started inside the root are found by their /proc/PID/root and killed, and
# every mount is undone, whatever happens (trap).
set -euo pipefail
: "${WRIT_SRC:?}" "${WRIT_BIN:?}"
BUILD=$(cd "$WRIT_BIN/.." && pwd)
CACHE=$BUILD/bundle
PY=/usr/bin/python3
PASSED=0
FAILED=0
t0=$(date +%s.%N)
since() { $PY -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(date +%s.%N)"; }
check() { # what test-args...
	local what=$1
	shift
	if test "$@"; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); echo "FAIL: $what" >&2; fi
}

if [[ $(id -u) != 0 ]] || ! command -v debootstrap >/dev/null || ! command -v chroot >/dev/null; then
	echo "SKIP: needs root, chroot and debootstrap (scripts/deps.sh)" >&2
	exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/writ-test-bundle.XXXXXX")
ROOT=$WORK/root
MOUNTS=()
CLOUD_PID=
CLOUD_TLS_PID=
cleanup()
{
	local p m i
	# processes inside the root (started by this test: the root is its own)
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/root" 2>/dev/null) == "$ROOT" ]] && kill -KILL "${p#/proc/}" 2>/dev/null || true
	done
	[[ -z ${DEVSIM_PID:-} ]] || wait "$DEVSIM_PID" 2>/dev/null || true
	for p in $CLOUD_PID $CLOUD_TLS_PID; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	sleep 0.2
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "cleanup: cannot unmount $m" >&2
	done
	if [[ ${KEEP_WORKDIR:-0} == 1 ]]; then echo "workdir kept: $WORK" >&2; else rm -rf --one-file-system "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK"

# ---- 1. the packages ----
t=$(date +%s.%N)
bash "$WRIT_SRC/scripts/packages.sh" "$BUILD" "$WORK/debs" >packages.log
echo "measure: packages built in $(since "$t") s"
check "five packages" "$(ls debs/*.deb | wc -l)" = 5

# ---- 2. a clean Debian 12 root (cached) ----
mirror=${WRIT_DEBIAN_MIRROR:-}
if [[ -z $mirror ]]; then
	mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	[[ -n $mirror ]] || mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\)\/* bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
	[[ -n $mirror ]] || mirror=http://deb.debian.org/debian
fi
mkdir -p "$CACHE/apt-archives/partial" "$CACHE/apt-lists/partial"
tarball=$CACHE/bookworm-minbase.tgz
t=$(date +%s.%N)
if [[ ! -s $tarball ]]; then
	rm -rf "$CACHE/base.tmp"
	debootstrap --variant=minbase bookworm "$CACHE/base.tmp" "$mirror" >debootstrap.log 2>&1 ||
		{ tail -n 20 debootstrap.log >&2; echo "FAIL: debootstrap from $mirror" >&2; exit 1; }
	tar -C "$CACHE/base.tmp" --numeric-owner -czf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$CACHE/base.tmp"
	echo "measure: debootstrap (uncached) $(since "$t") s"
fi
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xzf "$tarball"
echo "measure: root ready in $(since "$t") s"
mnt() { # mount args... target
	mount "$@"
	MOUNTS+=("${@: -1}")
}
mnt -t proc proc "$ROOT/proc"
mnt --bind /dev "$ROOT/dev"
mnt --bind "$CACHE/apt-archives" "$ROOT/var/cache/apt/archives"
mnt --bind "$CACHE/apt-lists" "$ROOT/var/lib/apt/lists"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
inroot() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

# ---- 3. install with apt (Depends pull the libraries, SoftHSM2, adduser) ----
t=$(date +%s.%N)
if [[ -z $(find "$CACHE/apt-lists" -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1) ]]; then
	inroot apt-get update -qq >apt.log 2>&1 || { tail -n 20 apt.log >&2; echo "FAIL: apt-get update in the root" >&2; exit 1; }
fi
mkdir -p "$ROOT/tmp/debs"
cp debs/*.deb "$ROOT/tmp/debs/"
if ! inroot sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/debs/*.deb' \
	>>apt.log 2>&1; then
	tail -n 30 apt.log >&2
	echo "FAIL: apt-get install of the packages" >&2
	exit 1
fi
echo "measure: packages installed with their dependencies in $(since "$t") s"
for u in writ-hsmd writ-factory writ-station writ-devsim; do
	check "system user $u" -n "$(inroot getent passwd "$u")"
done
check "writ-factory may reach the HSM's socket (group writ-hsmd)" \
	-n "$(inroot id -nG writ-factory | tr ' ' '\n' | grep -x writ-hsmd)"
check "writ-station may reach writ-devsim's chips (group writ-devsim)" \
	-n "$(inroot id -nG writ-station | tr ' ' '\n' | grep -x writ-devsim)"
check "conffiles are registered" "$(inroot dpkg-query -W -f='${Conffiles}' writ-factory | grep -c /etc/writ/factory.conf)" = 1
check "units installed" -f "$ROOT/lib/systemd/system/writ-hsmd.service"
version=$(tr -d ' \n' <"$WRIT_SRC/VERSION")
check "the release layout: /opt/writ/current -> versions/$version" "$(readlink "$ROOT/opt/writ/current")" = "versions/$version"
check "the release layout: VERSION next to the programs" "$(cat "$ROOT/opt/writ/versions/$version/VERSION")" = "$version"
for p in writ-hsmd writ-factory writ-station writ-devsim writ; do
	check "/usr/bin/$p links through /opt/writ/current" "$(readlink "$ROOT/usr/bin/$p")" = "/opt/writ/current/$p"
	check "$p --version says $version" "$(inroot "$p" --version)" = "$p $version"
done
check "the updater's timer and service are installed" \
	"$(ls "$ROOT"/lib/systemd/system/writ-factory-update.{timer,service} | wc -l)" = 2
check "the factory's TLS folder and token store exist for writ-factory" \
	"$(inroot stat -c '%U %a' /etc/writ/tls /var/lib/writ-factory/tokens | tr '\n' ' ')" = "writ-factory 755 writ-factory 700 "
# the maintainer scripts are idempotent: configure again changes nothing and fails nothing
if inroot dpkg-reconfigure writ-hsmd writ-factory writ-station writ-devsim >>apt.log 2>&1 &&
	inroot /var/lib/dpkg/info/writ-factory.postinst configure >>apt.log 2>&1; then
	PASSED=$((PASSED + 1))
else
	FAILED=$((FAILED + 1)); echo "FAIL: a second configure failed" >&2
fi

# ---- 4. the cloud on the host's loopback, outside the root ----
# shellcheck source=scripts/softhsm-env.sh
source "$WRIT_SRC/scripts/softhsm-env.sh"
writ_softhsm_env "$WORK/cloudhsm"
export WRIT_CLOUD_PIN=2468 WRIT_CLOUD_SO_PIN=1357
free_port() { $PY "$WRIT_SRC/tests/integration/free_port.py" "$WORK/.ports"; } # see free_port.py
CPORT=$(free_port)
FPORT=$(free_port)
export WRIT_CLOUD_URL=http://127.0.0.1:$CPORT
"$WRIT_BIN/writ-cloud" init --db "sqlite:$WORK/cloud.db" >cloud.log 2>&1
mkdir -p tokens && chmod 700 tokens
(umask 077
	"$WRIT_BIN/writ-cloud" org add --db "sqlite:$WORK/cloud.db" --kind oem --name acme --user alice >tokens/oem 2>>cloud.log
	"$WRIT_BIN/writ-cloud" org add --db "sqlite:$WORK/cloud.db" --kind odm --name foxy --user bob >tokens/odm 2>>cloud.log)
# the operator's release key: the enrolment answer carries it for the factory to pin
"$WRIT_BIN/writ-cloud" release key >operator-release.pem 2>>cloud.log
"$WRIT_BIN/writ-cloud" serve --insecure-http --db "sqlite:$WORK/cloud.db" --listen "127.0.0.1:$CPORT" >>cloud.log 2>&1 &
CLOUD_PID=$!
TPORT=$(free_port)
CLOUD_TLS_URL=https://127.0.0.1:$TPORT
"$WRIT_BIN/writ-cloud" tls-init --tls "$WORK/ctls" --host 127.0.0.1,localhost >>cloud.log 2>&1
"$WRIT_BIN/writ-cloud" serve --tls "$WORK/ctls" --db "sqlite:$WORK/cloud.db" --listen "127.0.0.1:$TPORT" >>cloud.log 2>&1 &
CLOUD_TLS_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "$WRIT_CLOUD_URL/v1/health" && break; sleep 0.1; done
for _ in $(seq 100); do curl -s --cacert "$WORK/ctls/ca.pem" -o /dev/null "$CLOUD_TLS_URL/v1/health" && break; sleep 0.1; done
as() { local who=$1; shift; "$WRIT_BIN/writ" "$@" --token-file "tokens/$who"; }
json() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
(umask 077; curl -sf -H "Authorization: Bearer $(cat tokens/oem)" -d '{"name": "sam", "role": "oem-security"}' \
	"$WRIT_CLOUD_URL/v1/users" | json 'd["token"]' >tokens/sec)
as oem product create --product lamp --name Lamp --vid FFF1 --pid 8000 --quota 100 >>cloud.log
as oem product invite --product lamp --odm foxy >>cloud.log
code=$(as oem factory create --factory foxy-sz1 --odm foxy --json | json 'd["code"]')

# ---- 5. the one setup command, inside the root ----
# the site's own setting: this test's port instead of the default 0.0.0.0:8440
sed -i "s/^WRIT_FACTORY_LISTEN=.*/WRIT_FACTORY_LISTEN=127.0.0.1:$FPORT/" "$ROOT/etc/writ/factory.conf"
# the OEM's portal CA, dropped by the admin before enrolling: mutual TLS to the cloud
install -m 0644 "$WORK/ctls/ca.pem" "$ROOT/etc/writ/tls/cloud-ca.pem"
# a different release key pinned already (say, by hand): refused before anything is
# sent, the pin kept; the code is not spent
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -pubout >other-release.pem 2>/dev/null
install -m 0644 other-release.pem "$ROOT/etc/writ/release.pem"
rc=0
inroot writ-factory enrol --cloud "$CLOUD_TLS_URL" --code "$code" >enrol0.out 2>enrol0.err || rc=$?
check "enrol refuses to pin over a different release key (exit $rc), saying what to do" \
	"$rc:$(grep -c 'pins another release key than the one this cloud signs with: refused, the pin is kept.*replace /etc/writ/release.pem by hand and run this again' enrol0.err)" = 1:1
check "... the other pin is kept" "$(cmp "$ROOT/etc/writ/release.pem" other-release.pem && echo same)" = same
check "... and the factory was not enrolled" ! -e "$ROOT/etc/writ/factory.token"
rm "$ROOT/etc/writ/release.pem"
t=$(date +%s.%N)
if inroot writ-factory enrol --cloud "$CLOUD_TLS_URL" --code "$code" >enrol.out 2>enrol.err; then
	PASSED=$((PASSED + 1))
else
	FAILED=$((FAILED + 1)); echo "FAIL: writ-factory enrol" >&2; cat enrol.err >&2
	cat "$ROOT"/var/log/writ/*.log >&2 2>/dev/null || true
	exit 1
fi
echo "measure: enrol (token, HSM keys, enrolment, services) in $(since "$t") s"
check "enrol says the site is ready, over mutual TLS" -n "$(grep 'site ready: factory foxy-sz1.*(mutual TLS)' enrol.out)"
check "the client certificate chains to the portal CA" \
	"$(openssl verify -CAfile "$WORK/ctls/ca.pem" -purpose sslclient "$ROOT/etc/writ/tls/client.pem" 2>&1 | tail -n 1)" = \
	"$ROOT/etc/writ/tls/client.pem: OK"
check "its key is a URL into the factory's token, 0600 writ-factory" \
	"$(inroot stat -c '%a %U' /etc/writ/tls/client.key) $(cut -c1-30 "$ROOT/etc/writ/tls/client.key")" = \
	"600 writ-factory pkcs11:token=writ-factory-tls;"
# names as the root knows them (the host's /etc/passwd numbers its users differently)
check "the HSM's journal belongs to writ-hsmd" "$(inroot stat -c %U /var/lib/writ-hsmd/journal)" = writ-hsmd
check "the factory token is 0600 writ-factory" "$(inroot stat -c '%a %U' /etc/writ/factory.token)" = "600 writ-factory"
check "the PIN file is 0600 writ-hsmd" "$(inroot stat -c '%a %U' /etc/writ/hsm.pin)" = "600 writ-hsmd"
check "the TLS token's PIN files are 0600 writ-factory" \
	"$(inroot stat -c '%a %U' /etc/writ/factory-tls.pin /etc/writ/factory-tls.so-pin | tr '\n' ' ')" = \
	"600 writ-factory 600 writ-factory "
check "tls-init made the factory CA and server certificate" \
	"$(ls "$ROOT/etc/writ/tls/ca.pem" "$ROOT/etc/writ/tls/server.pem" | wc -l)" = 2
check "the server key is a URL into the factory's own token, not a key" \
	"$(cut -c1-30 "$ROOT/etc/writ/tls/server.key")" = "pkcs11:token=writ-factory-tls;"
check "the factory's token is in its own store, all writ-factory's" \
	"$(find "$ROOT/var/lib/writ-factory/tokens" -mindepth 1 ! -user "$(inroot id -u writ-factory)" | wc -l) \
$(find "$ROOT/var/lib/writ-factory/tokens" -mindepth 1 -maxdepth 1 -type d | wc -l)" = "0 1"
check "enrol pinned the cloud's release key where the updater's config says (/etc/writ/release.pem)" \
	"$(cmp "$ROOT/etc/writ/release.pem" operator-release.pem && echo same)" = same
check "enrol enabled the updater's timer (the link systemctl enable makes; no systemd here)" \
	"$(readlink "$ROOT/etc/systemd/system/timers.target.wants/writ-factory-update.timer")" = \
	/lib/systemd/system/writ-factory-update.timer
check "enrol said so, and how to run a round without systemd" \
	-n "$(grep 'writ-factory-update.timer enabled (release key /etc/writ/release.pem); no systemd here' enrol.err)"
check "writ-hsmd runs as its user" "$(stat -c %u "/proc/$(cat "$ROOT/run/writ/writ-hsmd.pid")")" = "$(inroot id -u writ-hsmd)"
check "writ-factory runs as its user" "$(stat -c %u "/proc/$(cat "$ROOT/run/writ/writ-factory.pid")")" = \
	"$(inroot id -u writ-factory)"
# a run cut after the enrolment (here: before cloud.conf) is finished by running it
# again, though the code is spent
rm "$ROOT/etc/writ/cloud.conf"
rc=0
inroot writ-factory enrol --cloud "$CLOUD_TLS_URL" --code "$code" >enrol1.out 2>enrol1.err || rc=$?
check "enrol after a cut run finishes the setup (exit $rc)" "$rc:$(grep -c 'finishing the setup' enrol1.err)" = 0:1
check "... and writes cloud.conf again" -n "$(grep "^WRIT_CLOUD_URL=$CLOUD_TLS_URL\$" "$ROOT/etc/writ/cloud.conf")"
# a second run is harmless: it finds the site enrolled and the services running
inroot writ-factory enrol --cloud "$CLOUD_TLS_URL" --code "$code" >enrol2.out 2>enrol2.err
check "enrol again: already enrolled" -n "$(grep 'enrolled already' enrol2.err)"

FURL=https://127.0.0.1:$FPORT
FCA=$ROOT/etc/writ/tls/ca.pem
fstatus() { curl -sf --cacert "$FCA" -H "Authorization: Bearer $(cat "$ROOT/etc/writ/doctor.token")" "$FURL/v1/status"; }
for _ in $(seq 100); do fstatus >/dev/null 2>&1 && break; sleep 0.1; done
check "the packaged writ-factory serves TLS with the factory CA" -n "$(fstatus)"
check "... and no plain HTTP" -z "$(curl -s -m 5 "http://127.0.0.1:$FPORT/v1/status" 2>/dev/null)"
check "the TLS server answers for localhost too" -n "$(curl -sf --cacert "$FCA" --resolve "localhost:$FPORT:127.0.0.1" \
	-H "Authorization: Bearer $(cat "$ROOT/etc/writ/doctor.token")" "https://localhost:$FPORT/v1/status")"

# ---- 6. the OEM's and ODM's side: firmware, version, approval, a batch for that HSM ----
hsm_id=$(as odm factory list --json | json 'd["factories"][0]["hsms"][0]["id"]')
head -c 65536 /dev/urandom >fw.bin
fw=$(as sec firmware upload --product lamp --image fw.bin --fw-version 3 --sign-in-portal --json | json 'd["sha256"]')
printf 'vendor_id = 0xFFF1\nproduct_id = 0x8000\nvendor_name = Acme\nproduct_name = Lamp\nmfg_date = %s\nhw_ver = 1\nhw_ver_str = A\n' \
	"$(date +%Y-%m-%d)" >lamp.settings
as odm version create --product lamp --version 1.0.0 --firmware "$fw" --settings lamp.settings --serial-prefix LMP- >>cloud.log
as oem version approve --product lamp --version 1.0.0 >>cloud.log
batch=$(as odm batch create --product lamp --version 1.0.0 --factory foxy-sz1 --hsm "$hsm_id" --quantity 5 --days 1 \
	--json | json 'd["id"]')
for _ in $(seq 300); do fstatus | grep -q "$batch" && break; sleep 0.1; done
check "the factory in the root pulled the batch's writ" -n "$(fstatus | grep "$batch")"

# ---- 7. one chip through writ-station, inside the root ----
t=$(date +%s.%N)
scode=$(inroot writ-factory station add --state /var/lib/writ-factory --name st1 --line L1 2>/dev/null | sed -n 's/^code //p')
inroot sh -c "umask 077; printf '%s\n' '$scode' >/root/st1.code"
# the station's copy of the factory CA (here the same root: docs/operations.md)
inroot install -m 0644 /etc/writ/tls/ca.pem /etc/writ/factory-ca.pem
inroot writ-station enrol --factory "$FURL" --factory-ca /etc/writ/factory-ca.pem --code-file /root/st1.code --name st1 --line L1 --out /etc/writ/station.token \
	>station.log 2>&1
mkdir -p "$ROOT/tmp/chips"
inroot writ-devsim --count 1 --dir /tmp/chips >devsim.ready 2>>station.log &
DEVSIM_PID=$!
for _ in $(seq 100); do grep -q '^ready' devsim.ready && break; sleep 0.1; done
if inroot writ-station run --factory "$FURL" --factory-ca /etc/writ/factory-ca.pem --token-file /etc/writ/station.token --job "$batch" --port-dir /tmp/chips \
	--once >>station.log 2>&1; then
	PASSED=$((PASSED + 1))
else
	FAILED=$((FAILED + 1)); echo "FAIL: writ-station run in the root" >&2; tail -n 20 station.log >&2
fi
echo "measure: one device provisioned in $(since "$t") s"
produced=0
for _ in $(seq 150); do
	produced=$(as oem batch show --batch "$batch" --json 2>/dev/null | json 'd["produced"]' 2>/dev/null || echo 0)
	[[ $produced == 1 ]] && break
	sleep 0.2
done
check "the device's record reached the cloud (produced $produced)" "$produced" = 1

# ---- 8. doctor on the installed site ----
rc=0
inroot writ-factory doctor >doctor.out 2>&1 || rc=$?
check "doctor finds the installed site healthy (exit $rc)" "$rc" = 0
[[ $rc == 0 ]] || cat doctor.out >&2
check "doctor saw the station work" -n "$(grep -E 'stations .*1 seen working in the last 24 h; the last: st1' doctor.out)"

# the HSM stops (as after a reboot where nothing restarts it): doctor says so, and the
# enrol command, run again, starts it
kill "$(cat "$ROOT/run/writ/writ-hsmd.pid")"
for _ in $(seq 50); do kill -0 "$(cat "$ROOT/run/writ/writ-hsmd.pid")" 2>/dev/null || break; sleep 0.1; done
rc=0
inroot writ-factory doctor >doctor2.out 2>&1 || rc=$?
check "doctor: the HSM down is a failure (exit $rc)" "$rc:$(grep -cE '^FAIL +hsm ' doctor2.out)" = 2:1
inroot writ-factory enrol --cloud "$CLOUD_TLS_URL" --code "$code" >enrol3.out 2>enrol3.err
check "enrol again starts the stopped HSM" -n "$(grep 'writ-hsmd started' enrol3.err)"
rc=1
for _ in $(seq 50); do
	rc=0
	inroot writ-factory doctor >doctor3.out 2>&1 || rc=$?
	[[ $rc != 0 ]] || break
	sleep 0.2
done
check "doctor green again (exit $rc)" "$rc" = 0
[[ $rc == 0 ]] || cat doctor3.out >&2

# ---- 9. one round of the packaged updater: a release published in the cloud ----
# the next patch version (semver: a release's version is MAJOR.MINOR.PATCH[-PRE])
IFS=. read -r vmaj vmin vpat <<<"${version%%-*}"
new=$vmaj.$vmin.$((vpat + 1))
mkdir -p rel
for p in writ-hsmd writ-factory writ-station writ-devsim writ; do cp "$WRIT_BIN/$p" rel/; done
"$WRIT_BIN/writ-cloud" release add --db "sqlite:$WORK/cloud.db" --channel stable --version "$new" rel/* >>cloud.log 2>&1 ||
	{ tail -n 5 cloud.log >&2; echo "FAIL: writ-cloud release add $new" >&2; exit 1; }
# no systemd in this root: the restart is a script (writ-factory again from /opt/writ/current)
cat >"$ROOT/usr/local/sbin/writ-test-restart" <<'EOS'
#!/bin/sh
pid=$(cat /run/writ/writ-factory.pid 2>/dev/null || true)
if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
fi
setsid setpriv --reuid writ-factory --regid writ-factory --init-groups /usr/libexec/writ/writ-factory-run \
	>>/var/log/writ/writ-factory.log 2>&1 </dev/null &
echo $! >/run/writ/writ-factory.pid
EOS
chmod 755 "$ROOT/usr/local/sbin/writ-test-restart"
sed -i -e 's|^WRIT_UPDATE_RESTART=.*|WRIT_UPDATE_RESTART=/usr/local/sbin/writ-test-restart|' \
	-e 's|^WRIT_UPDATE_HEALTH_SECONDS=.*|WRIT_UPDATE_HEALTH_SECONDS=30|' "$ROOT/etc/writ/factory.conf"
t=$(date +%s.%N)
rc=0
inroot /usr/libexec/writ/writ-factory-update-run >update.out 2>update.err || rc=$?
echo "measure: one update round (fetch, verify, stage, switch, restart, health) in $(since "$t") s"
check "the updater's round (exit $rc) installs $new" "$rc $(readlink "$ROOT/opt/writ/current")" = "0 versions/$new"
[[ $rc == 0 ]] || tail -n 20 update.err >&2
check "... its state says installed" "$(jq -r '.state + " " + .installed' "$ROOT/var/lib/writ-factory/update.json")" = "installed $new"
check "... the restarted service reports $new over TLS" \
	"$(curl -sf --cacert "$FCA" "$FURL/v1/health" | jq -r .version)" = "$new"
check "... /usr/bin/writ-hsmd is $new now" "$(inroot writ-hsmd --version)" = "writ-hsmd $new"
check "... the release's files are the published ones" "$(cmp "$ROOT/opt/writ/versions/$new/writ-factory" rel/writ-factory && echo same)" = same
rc=0
inroot /usr/libexec/writ/writ-factory-update-run >update2.out 2>update2.err || rc=$?
check "a second round finds nothing to do (exit $rc)" "$rc $(readlink "$ROOT/opt/writ/current")" = "0 versions/$new"
rc=0
inroot writ-factory doctor >doctor4.out 2>&1 || rc=$?
check "doctor after the update (exit $rc): the service runs $new, the release key is pinned" \
	"$rc:$(grep -cE "^ok +update +version $new \(updater: installed; release key pinned\)" doctor4.out)" = 0:1
[[ $rc == 0 ]] || cat doctor4.out >&2

# ---- 10. purge and install again: services stopped, the HSM's state and PINs kept ----
hsmd_pid=$(cat "$ROOT/run/writ/writ-hsmd.pid")
factory_pid=$(cat "$ROOT/run/writ/writ-factory.pid")
rc=0
inroot sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq writ writ-station writ-devsim writ-factory writ-hsmd' \
	>>apt.log 2>&1 || rc=$?
check "apt purge works (exit $rc)" "$rc" = 0
for _ in $(seq 100); do
	kill -0 "$hsmd_pid" 2>/dev/null || kill -0 "$factory_pid" 2>/dev/null || break
	sleep 0.1
done
check "purge stopped writ-hsmd and writ-factory" \
	"$(kill -0 "$hsmd_pid" 2>/dev/null && echo hsmd; kill -0 "$factory_pid" 2>/dev/null && echo factory)" = ""
check "purge keeps the HSM's journal and PINs" "$(ls "$ROOT/var/lib/writ-hsmd/journal" "$ROOT/etc/writ/hsm.pin" | wc -l)" = 2
check "purge keeps the HSM's token store" -n "$(ls "$ROOT/var/lib/writ-hsmd/tokens")"
check "purge removes the site's cloud settings and tokens" \
	"$(ls "$ROOT/etc/writ/cloud.conf" "$ROOT/etc/writ/factory.token" "$ROOT/etc/writ/doctor.token" 2>/dev/null | wc -l)" = 0
check "purge removes the conffiles" ! -e "$ROOT/etc/writ/factory.conf"
check "purge removes the release key's pin and the timer's link" \
	"$(ls "$ROOT/etc/writ/release.pem" "$ROOT/etc/systemd/system/timers.target.wants/writ-factory-update.timer" 2>/dev/null | wc -l)" = 0
check "purge removes the packages' version and leaves the updater's release, still current" \
	"$(ls "$ROOT/opt/writ/versions" | tr '\n' ' ')$(readlink "$ROOT/opt/writ/current")" = "$new versions/$new"
rc=0
inroot sh -c 'dpkg -i /tmp/debs/*.deb' >>apt.log 2>&1 || rc=$?
check "the packages install again over the kept users and state (exit $rc)" "$rc" = 0
check "... and keep the updater's newer release current" "$(readlink "$ROOT/opt/writ/current")" = "versions/$new"
check "... saying so" -n "$(grep "current -> versions/$new (version $new, newer than this package's $version" apt.log)"

# the wrapper without the TLS folder's server certificate: refused on 0.0.0.0 (the
# package's default listen address), plain HTTP with a warning only on loopback
mv "$ROOT/etc/writ/tls/server.pem" "$ROOT/etc/writ/tls/server.pem.away"
rc=0
inroot setpriv --reuid writ-factory --regid writ-factory --clear-groups /usr/libexec/writ/writ-factory-run \
	>wrapper.out 2>&1 || rc=$?
check "without TLS the wrapper refuses a non-loopback listen address (exit $rc)" \
	"$rc:$(grep -c 'no TLS: /etc/writ/tls/server.pem is missing; run writ-factory enrol' wrapper.out)" = 2:1
mv "$ROOT/etc/writ/tls/server.pem.away" "$ROOT/etc/writ/tls/server.pem"

echo "measure: whole test $(since "$t0") s"
echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
