#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The packages themselves, without installing them (fast; needs no root): `make
# packages`'s script builds five .debs whose control files carry VERSION, whose
# Depends name the Debian package of every library each binary needs (found a second,
# independent way: objdump's NEEDED entries, resolved by the dynamic linker's cache and
# owned per dpkg -S), whose conffiles are in the package under /etc/writ, whose units
# start a program the package carries, and whose maintainer scripts parse and make a
# system user.
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
	# every NEEDED library's Debian package is in Depends
	for lib in $(objdump -p "x/usr/bin/$name" | awk '/NEEDED/ {print $2}'); do
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
		check "writ (the CLI): no unit, no maintainer scripts" ! -e x/DEBIAN/postinst
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
	for s in postinst prerm postrm; do
		check "$name: $s parses" -z "$(sh -n "x/DEBIAN/$s" 2>&1)"
	done
	check "$name: postinst makes system user $name (once)" \
		"$(grep -c "getent passwd $name" x/DEBIAN/postinst) $(grep -c 'adduser --system' x/DEBIAN/postinst)" = "1 1"
	check "$name: no @WORD@ left in its scripts" -z "$(grep -l '@[A-Z]*@' x/DEBIAN/post* x/DEBIAN/prerm)"
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
echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
