#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The packages themselves, without installing them (fast; needs no root): `make
# packages`'s script builds five .debs whose control files carry VERSION, whose
# Depends name the Debian package of every library each binary needs (found a second,
# independent way: objdump's NEEDED entries, resolved by the dynamic linker's cache and
# owned per dpkg -S), whose conffiles are in the package under /etc/writ, whose units
# start a program the package carries, and whose maintainer scripts parse and make a
# system user. The release layout (docs/releases.md "The packaged layout"): each program
# in /opt/writ/versions/VERSION with /usr/bin linking through /opt/writ/current, the
# packages breaking each other's other versions, and the maintainer scripts' handling of
# current and VERSION run for real by dpkg on the CLI's package in a private dpkg root
# (--root, --force-script-chrootless: its scripts touch only $DPKG_ROOT/opt/writ):
# install, upgrade, a newer release of the updater's kept, removal; writ-factory's
# updater timer and service verified and configured in factory.conf.
set -euo pipefail
: "${WRIT_SRC:?}" "${WRIT_BIN:?}"
PASSED=0
FAILED=0
check() { local what=$1; shift; if test "$@"; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); echo "FAIL: $what" >&2; fi; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/writ-test-packages.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

bash "$WRIT_SRC/scripts/packages.sh" "$WRIT_BIN/.." "$WORK/debs" >packages.log
version=$(tr -d ' \n' <"$WRIT_SRC/VERSION")
for name in writ-hsmd writ-factory writ-station writ-devsim writ; do
	deb=$(ls debs/"${name}"_*.deb)
	check "$name: one package" -f "$deb"
	dpkg-deb -f "$deb" Package Version Depends >ctl
	check "$name: Package" "$(dpkg-deb -f "$deb" Package)" = "$name"
	check "$name: Version is VERSION's" "$(dpkg-deb -f "$deb" Version)" = "$version"
	depends=$(dpkg-deb -f "$deb" Depends)
	rm -rf x && mkdir x && dpkg-deb -x "$deb" x && dpkg-deb -e "$deb" x/DEBIAN
	prog=x/opt/writ/versions/$version/$name
	check "$name: the program is in /opt/writ/versions/$version" -x "$prog" -a ! -L "$prog"
	check "$name: /usr/bin/$name links through /opt/writ/current" "$(readlink "x/usr/bin/$name")" = "/opt/writ/current/$name"
	check "$name: nothing else under /opt/writ (VERSION and current are the scripts')" \
		"$(cd x && find opt -mindepth 1 | sort | tr '\n' ' ')" = "opt/writ opt/writ/versions opt/writ/versions/$version ${prog#x/} "
	breaks=$(dpkg-deb -f "$deb" Breaks)
	for other in writ-hsmd writ-factory writ-station writ-devsim writ; do
		[[ $other == "$name" ]] && continue
		check "$name: breaks $other of any other version" \
			-n "$(grep -F "$other (<< $version), $other (>> $version)" <<<"$breaks")"
	done
	for s in preinst postinst prerm postrm; do
		check "$name: $s parses" -z "$(sh -n "x/DEBIAN/$s" 2>&1)"
		check "$name: no @WORD@ left in its $s" -z "$(grep -l '@[A-Z]*@' "x/DEBIAN/$s")"
	done
	# every NEEDED library's Debian package is in Depends
	for lib in $(objdump -p "$prog" | awk '/NEEDED/ {print $2}'); do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !p {print $NF; p = 1}')
		# usrmerge: dpkg knows a library under the path its package ships it at
		owner=
		for p in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
			owner=$( (dpkg -S "$p" 2>/dev/null || true) | sed -n '1s/:.*//p')
			[[ -z $owner ]] || break
		done
		check "$name: $lib ($owner) is in Depends" -n "$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//' | grep -x "$owner")"
	done
	if [[ $name == writ ]]; then
		check "writ (the CLI): no unit, no user: its scripts keep the layout only" \
			"$(find x/lib -name '*.service' 2>/dev/null | wc -l) $(grep -c 'SERVICE=no' x/DEBIAN/postinst)" = "0 1"
		check "writ (the CLI): its postinst leaves before the user part" \
			-n "$(grep -xF '	[ "$SERVICE" = yes ] || exit 0' x/DEBIAN/postinst)"
		continue
	fi
	check "$name: Depends on adduser" -n "$(grep -w adduser <<<"$depends")"
	while read -r conf; do
		check "$name: conffile $conf is in the package" -f "x$conf"
		check "$name: conffile $conf is under /etc/writ" "${conf#/etc/writ/}" != "$conf"
	done <x/DEBIAN/conffiles
	unit=x/lib/systemd/system/$name.service
	check "$name: carries $name.service" -f "$unit"
	exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
	check "$name: its unit starts a program it carries ($exec_start)" -x "x$exec_start"
	check "$name: its unit runs as $name" "$(sed -n 's/^User=//p' "$unit")" = "$name"
	if command -v systemd-analyze >/dev/null; then
		# systemd's own parser: every key known, the program executable (from where it
		# was unpacked here)
		sed "s|^ExecStart=|ExecStart=$WORK/x|" "$unit" >"$name.service"
		check "$name: systemd-analyze verify finds nothing: $(systemd-analyze verify --man=no "./$name.service" 2>&1)" \
			-z "$(systemd-analyze verify --man=no "./$name.service" 2>&1)"
	fi
	check "$name: postinst makes system user $name (once)" \
		"$(grep -c "getent passwd $name" x/DEBIAN/postinst) $(grep -c 'adduser --system' x/DEBIAN/postinst)" = "1 1"
	if [[ $name == writ-factory ]]; then
		# the updater: its timer and one-round service (tests/integration/harden_units.sh
		# checks the hardening), its wrapper, and its settings in the default config
		for u in writ-factory-update.service writ-factory-update.timer; do
			check "writ-factory: carries $u" -f "x/lib/systemd/system/$u"
		done
		wrapper=$(sed -n 's/^ExecStart=//p' x/lib/systemd/system/writ-factory-update.service)
		check "writ-factory: the updater's unit starts a program the package carries ($wrapper)" -x "x$wrapper"
		if command -v systemd-analyze >/dev/null; then
			sed "s|^ExecStart=|ExecStart=$WORK/x|" x/lib/systemd/system/writ-factory-update.service >writ-factory-update.service
			cp x/lib/systemd/system/writ-factory-update.timer .
			out=$(systemd-analyze verify --man=no ./writ-factory-update.service ./writ-factory-update.timer 2>&1)
			check "writ-factory: systemd-analyze verify of the updater's units finds nothing: $out" -z "$out"
		fi
		check "writ-factory: the updater runs as root (docs/releases.md says why)" \
			"$(sed -n 's/^User=//p' x/lib/systemd/system/writ-factory-update.service)" = root
		for key in $(grep -o 'WRIT_UPDATE_[A-Z][A-Z_]*' "x$wrapper" | sort -u); do
			check "writ-factory: factory.conf sets $key, which the updater's wrapper reads" \
				-n "$(grep "^$key=" x/etc/writ/factory.conf)"
		done
		check "writ-factory: factory.conf: prefix /opt/writ, channel stable, key /etc/writ/release.pem" \
			"$(grep -E '^WRIT_UPDATE_(PREFIX|CHANNEL|RELEASE_KEY)=' x/etc/writ/factory.conf | tr '\n' ' ')" = \
			"WRIT_UPDATE_PREFIX=/opt/writ WRIT_UPDATE_CHANNEL=stable WRIT_UPDATE_RELEASE_KEY=/etc/writ/release.pem "
		check "writ-factory: the wrapper parses" -z "$(sh -n "x$wrapper" 2>&1)"
		check "writ-factory: purge removes the pinned release key and the timer's enablement" \
			-n "$(grep 'rm -f .*/etc/writ/release.pem .*timers.target.wants/writ-factory-update.timer' x/DEBIAN/postrm)"
		# the client-certificate renewal timer (tls_renew.sh checks its units)
		for u in writ-factory-tls-renew.service writ-factory-tls-renew.timer; do
			check "writ-factory: carries $u" -f "x/lib/systemd/system/$u"
		done
		check "writ-factory: removal stops both timers" \
			-n "$(grep 'systemctl stop .*writ-factory-update.timer.*writ-factory-tls-renew.timer' x/DEBIAN/prerm)"
		check "writ-factory: purge removes the renewal timer's enablement" \
			-n "$(grep 'rm -f .*timers.target.wants/writ-factory-tls-renew.timer' x/DEBIAN/postrm)"
	fi
done
check "writ-hsmd depends on SoftHSM2 (its embedded token, loaded at run time)" \
	-n "$(dpkg-deb -f debs/writ-hsmd_*.deb Depends | grep -w softhsm2)"
check "writ-factory depends on writ-hsmd of its version" \
	-n "$(dpkg-deb -f debs/writ-factory_*.deb Depends | grep -F "writ-hsmd (= $version)")"
check "writ-factory depends on SoftHSM2 and the pkcs11 engine (its TLS token, its mTLS client key)" \
	"$(dpkg-deb -f debs/writ-factory_*.deb Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' |
		grep -cxE 'softhsm2|libengine-pkcs11-openssl')" = 2
check "writ-factory carries the SoftHSM2 store of its TLS token as a conffile" \
	-n "$(dpkg-deb -I debs/writ-factory_*.deb conffiles | grep -x /etc/writ/softhsm2-factory.conf)"
check "writ-factory's postinst makes its TLS folder and token store" \
	"$(dpkg-deb -I debs/writ-factory_*.deb postinst | grep -c '/var/lib/writ-factory/tokens.*/etc/writ/tls')" = 1
# ---- the layout's maintainer scripts, run by dpkg in a private root (the CLI's package:
# no user, no service; its scripts touch only $DPKG_ROOT/opt/writ) ----
IFS=. read -r vmaj vmin vpat <<<"${version%%-*}"
next=$vmaj.$vmin.$((vpat + 1)) # the next patch version
WRIT_PKG_VERSION=$next bash "$WRIT_SRC/scripts/packages.sh" "$WRIT_BIN/.." "$WORK/debs2" >>packages.log
R=$WORK/droot
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
: >"$R/var/lib/dpkg/status"
# the libraries are the host's: Depends are checked above, not here
dp() { dpkg --root="$R" --force-not-root --force-script-chrootless --force-depends --log=/dev/null "$@" >>dpkg.log 2>&1; }
W=$R/opt/writ
cur() { readlink "$W/current" 2>/dev/null || echo none; }
rc=0; dp -i debs/writ_"$version"_*.deb || rc=$?
check "dpkg installs writ $version (exit $rc)" "$rc" = 0
check "install: current -> versions/$version" "$(cur)" = "versions/$version"
check "install: VERSION next to the program" "$(cat "$W/versions/$version/VERSION" 2>&1)" = "$version"
check "install: the program through current reports $version" "$("$W/current/writ" --version 2>&1)" = "writ $version"
: >dpkg.log
rc=0; dp -i debs2/writ_"$next"_*.deb || rc=$?
check "dpkg upgrades to $next (exit $rc)" "$rc" = 0
check "upgrade: current -> versions/$next" "$(cur)" = "versions/$next"
check "upgrade: the same build reports the package's version, from VERSION" "$("$W/current/writ" --version 2>&1)" = "writ $next"
check "upgrade: the old version's folder is gone, without a dpkg warning" \
	"$(ls "$W/versions" | tr '\n' ' ')$(grep -c 'warning' dpkg.log)" = "$next 0"
# a newer release the updater installed (versions/9.0.0 with its release.cose) is current
mkdir -p "$W/versions/9.0.0"
cp "$W/versions/$next/writ" "$W/versions/9.0.0/"
echo 9.0.0 >"$W/versions/9.0.0/VERSION"
: >"$W/versions/9.0.0/release.cose"
ln -sfn versions/9.0.0 "$W/current"
: >dpkg.log
rc=0; dp -i debs2/writ_"$next"_*.deb || rc=$?
check "reinstall under a newer release of the updater's (exit $rc): current kept" "$(cur)" = versions/9.0.0
check "... and dpkg's output says so and how to switch" -n "$(grep 'is kept; to run the package.s: ln -sfn' dpkg.log)"
rc=0; dp -r writ || rc=$?
check "removal (exit $rc): the package's folder goes, the updater's release and current stay" \
	"$(ls "$W/versions" | tr '\n' ' ')$(cur)" = "9.0.0 versions/9.0.0"
# a current pointing at nothing (the updater's release removed by hand) is replaced
rm -rf "$W/versions/9.0.0"
rc=0; dp -i debs/writ_"$version"_*.deb || rc=$?
check "install over a dangling current (exit $rc): current -> versions/$version" "$(cur)" = "versions/$version"
# an upgrade that failed after the preinst let go of them: dpkg calls abort-upgrade
rm -f "$W/current" "$W/versions/$version/VERSION"
rc=0; DPKG_ROOT=$R sh "$R/var/lib/dpkg/info/writ.postinst" abort-upgrade "$next" >>dpkg.log 2>&1 || rc=$?
check "postinst abort-upgrade (exit $rc) puts VERSION and current back" \
	"$(cur) $(cat "$W/versions/$version/VERSION" 2>&1)" = "versions/$version $version"
rc=0; dp -r writ || rc=$?
check "removal of the last package (exit $rc) leaves no /opt/writ" ! -e "$W"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
