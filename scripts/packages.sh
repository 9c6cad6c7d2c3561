#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make packages`: the factory bundle as Debian packages, built with dpkg-deb from a
# finished build (no debhelper): writ-hsmd, writ-factory, writ-station, writ-devsim and
# writ (the CLI). Each program is installed in the release layout (docs/releases.md "The
# packaged layout"): /opt/writ/versions/VERSION/PROGRAM, with /usr/bin/PROGRAM a link
# through /opt/writ/current, which the maintainer scripts (dist/debian/layout.sh.in)
# point at the package's version and `writ-factory update` switches to the releases it
# stages; the packages break every other version of each other (one current for all).
# Each daemon package carries its systemd unit (dist/systemd/), its default
# configuration as conffiles under /etc/writ/ (dist/etc/), a start wrapper
# (dist/libexec/) and maintainer scripts that create its system user
# (dist/debian/*.in); writ-factory also carries the updater's timer and service. Depends
# are computed by dpkg-shlibdeps from the binaries, plus what is loaded at run time
# (SoftHSM2) or called (adduser). The version is VERSION's.
#   scripts/packages.sh [BUILD_DIR [OUT_DIR]]   -> OUT_DIR/*.deb (default BUILD_DIR/packages)
# WRIT_PKG_VERSION=V packs the same build as version V (tests: an upgrade, as
# release_update.sh publishes one build under several versions).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
out=${2:-$build/packages}
version=${WRIT_PKG_VERSION:-$(tr -d ' \n' <"$top/VERSION")}
arch=$(dpkg --print-architecture)
stage=$build/packages.stage
rm -rf "$stage"
mkdir -p "$stage" "$out"
rm -f "$out"/*.deb

ALL=(writ-hsmd writ-factory writ-station writ-devsim writ)
vdir=/opt/writ/versions/$version

# pkg NAME BINARY USER|- "EXTRA DEPENDS" "GROUPS" "DESCRIPTION" CONF...
pkg()
{
	local name=$1 bin=$2 user=$3 extra=$4 groups=$5 desc=$6
	shift 6
	local root=$stage/$name deps size conf f other breaks="" service=no
	mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root$vdir" "$root/usr/share/doc/$name"
	[[ -x $build/bin/$bin ]] || { echo "packages: $build/bin/$bin is not built (make build)" >&2; exit 1; }
	install -m 0755 "$build/bin/$bin" "$root$vdir/$bin"
	strip --strip-unneeded "$root$vdir/$bin"
	ln -s "/opt/writ/current/$bin" "$root/usr/bin/$bin"
	for other in "${ALL[@]}"; do
		[[ $other == "$name" ]] || breaks="${breaks:+$breaks, }$other (<< $version), $other (>> $version)"
	done
	printf 'writ %s\nLicense: Apache-2.0\n' "$version" >"$root/usr/share/doc/$name/copyright"
	# dpkg-shlibdeps reads a debian/control; a two-stanza one is enough
	mkdir -p "$root.shl/debian"
	printf 'Source: writ\n\nPackage: %s\nArchitecture: any\n' "$name" >"$root.shl/debian/control"
	deps=$(cd "$root.shl" && dpkg-shlibdeps -O "$root$vdir/$bin" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
	rm -rf "$root.shl"
	[[ -z $extra ]] || deps="$deps, $extra"
	if [[ $user != - ]]; then
		mkdir -p "$root/etc/writ" "$root/lib/systemd/system" "$root/usr/libexec/writ"
		install -m 0644 "$top/dist/systemd/$name.service" "$root/lib/systemd/system/"
		install -m 0755 "$top/dist/libexec/$name-run" "$root/usr/libexec/writ/"
		# units and wrappers besides the daemon's own (e.g. writ-factory-tls-renew.timer, and
		# the updater's writ-factory-update.timer/.service: docs/releases.md "The packaged layout")
		for extra_file in "$top/dist/systemd/$name"-*.service "$top/dist/systemd/$name"-*.timer; do
			[[ ! -e $extra_file ]] || install -m 0644 "$extra_file" "$root/lib/systemd/system/"
		done
		for extra_file in "$top/dist/libexec/$name"-*-run; do
			[[ ! -e $extra_file ]] || install -m 0755 "$extra_file" "$root/usr/libexec/writ/"
		done
		: >"$root/DEBIAN/conffiles"
		for conf in "$@"; do
			install -m 0644 "$top/dist/etc/$conf" "$root/etc/writ/$conf"
			echo "/etc/writ/$conf" >>"$root/DEBIAN/conffiles"
		done
		deps="$deps, adduser"
		service=yes
	fi
	for f in preinst postinst prerm postrm; do
		sed -e "/^#LAYOUT#\$/{r $top/dist/debian/layout.sh.in" -e 'd}' "$top/dist/debian/$f.in" |
			sed -e "s|@PKG@|$name|g" -e "s|@PROG@|$bin|g" -e "s|@VERSION@|$version|g" -e "s|@SERVICE@|$service|g" \
				-e "s|@USER@|$user|g" -e "s|@HOME@|/var/lib/$user|g" \
				-e "s|@GROUPS@|$groups|g" -e "s|@EXTRA@|$(extra_$f "$name")|" -e "s|@PURGE@|$(purge_of "$name")|" \
				>"$root/DEBIAN/$f"
		chmod 0755 "$root/DEBIAN/$f"
	done
	size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
	cat >"$root/DEBIAN/control" <<CTL
Package: $name
Version: $version
Architecture: $arch
Maintainer: writ developers <writ@localhost>
Section: admin
Priority: optional
Installed-Size: $size
Depends: $deps
Breaks: $breaks
Homepage: https://localhost/writ
Description: $desc
 Part of writ, authorization-based secure provisioning for device factories:
 the cloud decides, the edge enforces, records close the loop.
CTL
	dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${name}_${version}_${arch}.deb" >/dev/null
	echo "packages: $out/${name}_${version}_${arch}.deb"
	echo "  Depends: $deps"
}

# what a postinst does beyond the user (one sed line: no newlines, no |)
extra_postinst()
{
	case $1 in
	writ-hsmd) echo 'install -d -o writ-hsmd -g writ-hsmd -m 0700 /var/lib/writ-hsmd/tokens' ;;
	writ-factory) echo 'install -d -o writ-factory -g writ-factory -m 0700 /var/lib/writ-factory/drop /var/lib/writ-factory/tokens; install -d -o writ-factory -g writ-factory -m 0755 /etc/writ/tls' ;;
	# whichever of writ-station and writ-devsim comes second puts the station in the
	# chips' group (the unit's User= takes the user's groups)
	writ-devsim) echo 'if getent passwd writ-station >/dev/null; then adduser --quiet writ-station writ-devsim; fi' ;;
	*) echo ':' ;;
	esac
}
extra_prerm()
{
	case $1 in
	writ-factory) echo 'if [ -d /run/systemd/system ]; then systemctl stop writ-factory-update.timer writ-factory-update.service writ-factory-tls-renew.timer writ-factory-tls-renew.service \|\| true; fi' ;;
	*) echo ':' ;;
	esac
}
extra_postrm() { echo ':'; }
extra_preinst() { echo ':'; }
purge_of()
{
	case $1 in
	writ-factory) echo 'rm -f /etc/writ/cloud.conf /etc/writ/factory.token /etc/writ/doctor.token /etc/writ/oem-writ-signing.pem /etc/writ/release.pem /etc/systemd/system/timers.target.wants/writ-factory-update.timer /etc/systemd/system/timers.target.wants/writ-factory-tls-renew.timer' ;;
	writ-station) echo 'rm -f /etc/writ/station.token' ;;
	*) echo ':' ;;
	esac
}

pkg writ-hsmd writ-hsmd writ-hsmd "softhsm2" "" \
	"edge HSM daemon of writ (keys in a PKCS#11 token)" hsmd.conf softhsm2.conf
# softhsm2: the factory's own TLS token; the pkcs11 engine: its mTLS client key, used
# through OpenSSL by libcurl (loaded at run time, so not in the binary's NEEDED)
pkg writ-factory writ-factory writ-factory "writ-hsmd (= $version), softhsm2, libengine-pkcs11-openssl" "writ-hsmd" \
	"factory service of writ (stations, writs, records, cloud sync)" factory.conf softhsm2-factory.conf
pkg writ-station writ-station writ-station "" "dialout writ-devsim" \
	"programming station of writ (one line)" station.conf
pkg writ-devsim writ-devsim writ-devsim "" "" \
	"simulated chip of writ (the device library on a state file)" devsim.conf
pkg writ writ - "" "" "operator CLI of writ (portal, HSM, chips, firmware, Matter)"
