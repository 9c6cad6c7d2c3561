#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The systemd units of dist/systemd (issue 8, least privilege), checked without
# systemd as PID 1: `systemd-analyze verify` on each (ExecStart pointed at the binaries
# just built, since verify wants them to exist), the hardening options each must carry,
# `systemd-analyze security --offline` exposure scores, and dist/sysusers.d/writ.conf
# applied to an empty root by systemd-sysusers. What the units enforce from outside,
# harden_hsmd.sh shows from inside with the daemon's own seccomp filter.
set -euo pipefail
: "${WRIT_SRC:?}" "${WRIT_BIN:?}"
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }
for tool in systemd-analyze systemd-sysusers; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (Debian package systemd)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/writ-test-units.XXXXXX")
trap 'rm -rf "$T"' EXIT

UNITS=(writ-hsmd.service writ-factory.service writ-cloud.service writ-station@.service)
# every unit: option=value lines that must be present as such
COMMON=(NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateMounts=yes
	CapabilityBoundingSet= AmbientCapabilities= MemoryDenyWriteExecute=yes LockPersonality=yes
	LimitCORE=0 SystemCallFilter=@system-service SystemCallArchitectures=native RestrictNamespaces=yes
	RestrictSUIDSGID=yes ProtectKernelModules=yes ProtectKernelTunables=yes ProtectClock=yes
	UMask=0077)
for u in "${UNITS[@]}"; do
	src=$WRIT_SRC/dist/systemd/$u
	[[ -f $src ]] || { fail "$u is missing"; continue; }
	sed -e "s|/usr/bin/|$WRIT_BIN/|" -e "s|/usr/libexec/writ/|$WRIT_SRC/dist/libexec/|" "$src" >"$T/$u"
	# a packaged unit starts a wrapper (dist/libexec) that reads /etc/writ/*.conf: its
	# secrets' options are in the wrapper
	wrapper=$(sed -n 's|^ExecStart=/usr/libexec/writ/\([a-z-]*\).*|\1|p' "$src")
	secrets_src=$src
	[[ -z $wrapper ]] || secrets_src="$src $WRIT_SRC/dist/libexec/$wrapper"
	if out=$(systemd-analyze verify --man=no "$T/$u" 2>&1) && [[ -z $out ]]; then
		pass "$u: systemd-analyze verify is silent"
	else
		fail "$u: systemd-analyze verify: $out"
	fi
	for opt in "${COMMON[@]}"; do
		[[ $u == writ-station@.service && $opt == UMask=0077 ]] && opt=UMask=0027
		if grep -qx -- "$opt" "$src"; then :; else fail "$u lacks $opt"; fi
	done
	pass "$u carries the ${#COMMON[@]} common hardening options"
	grep -qE '^User=writ-[a-z]+$' "$src" && pass "$u: a dedicated user ($(sed -n 's/^User=//p' "$src"))" ||
		fail "$u: no dedicated User="
	grep -qE '^StateDirectory=' "$src" && pass "$u: StateDirectory=" || fail "$u: no StateDirectory="
	grep -qE '^SystemCallFilter=~@privileged ' "$src" && pass "$u: @privileged denied" || fail "$u: @privileged allowed"
	grep -qE '^RestrictAddressFamilies=' "$src" && pass "$u: RestrictAddressFamilies=" || fail "$u: no RestrictAddressFamilies="
	# shellcheck disable=SC2086 # two files when there is a wrapper
	grep -qhE -- '--pin-file|--token-file|--cloud-token-file' $secrets_src && ! grep -qhE 'PIN=|_PIN ' $secrets_src &&
		pass "$u: secrets come from LoadCredential files, never argv or Environment=" || fail "$u: a secret on argv?"
	score=$(systemd-analyze security --offline=true "$T/$u" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	max=2.0
	[[ $u == writ-hsmd.service ]] && max=1.0
	if [[ -n $score ]] && awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
		pass "$u: systemd-analyze security exposure $score (at most $max)"
	else
		fail "$u: exposure ${score:-unknown}, want at most $max"
	fi
done

# the updater (docs/releases.md "The packaged layout"): one round per timer tick, as
# root on purpose (it writes /opt/writ and restarts writ-hsmd and writ-factory), so the
# checks differ: root stated, no capability but DAC on writ-factory's files, nothing
# writable but /opt/writ and writ-factory's state, the common hardening otherwise
u=writ-factory-update.service
src=$WRIT_SRC/dist/systemd/$u
tsrc=$WRIT_SRC/dist/systemd/writ-factory-update.timer
if [[ -f $src && -f $tsrc ]]; then
	sed -e "s|/usr/libexec/writ/|$WRIT_SRC/dist/libexec/|" "$src" >"$T/$u"
	cp "$tsrc" "$T/"
	if out=$(systemd-analyze verify --man=no "$T/$u" "$T/writ-factory-update.timer" 2>&1) && [[ -z $out ]]; then
		pass "$u and its timer: systemd-analyze verify is silent"
	else
		fail "$u, writ-factory-update.timer: systemd-analyze verify: $out"
	fi
	missing=
	for opt in "${COMMON[@]}"; do
		case $opt in CapabilityBoundingSet= | UMask=0077) continue ;; esac
		grep -qx -- "$opt" "$src" || missing="$missing $opt"
	done
	[[ -z $missing ]] && pass "$u carries the common hardening options" || fail "$u lacks$missing"
	[[ $(sed -n 's/^User=//p' "$src") == root && $(sed -n 's/^Type=//p' "$src") == oneshot ]] &&
		pass "$u: a oneshot run as root, said so" || fail "$u: not User=root Type=oneshot"
	[[ $(sed -n 's/^CapabilityBoundingSet=//p' "$src") == "CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH" ]] &&
		pass "$u: no capability but DAC" || fail "$u: capabilities: $(sed -n 's/^CapabilityBoundingSet=//p' "$src")"
	[[ $(sed -n 's/^ReadWritePaths=//p' "$src") == "/opt/writ /var/lib/writ-factory" ]] &&
		pass "$u: writes only /opt/writ and writ-factory's state" || fail "$u: ReadWritePaths=$(sed -n 's/^ReadWritePaths=//p' "$src")"
	grep -qx 'SystemCallFilter=~@privileged @mount @debug @cpu-emulation @obsolete @raw-io @reboot @swap @module @clock' "$src" &&
		pass "$u: @privileged denied" || fail "$u: @privileged allowed"
	score=$(systemd-analyze security --offline=true "$T/$u" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	if [[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
		pass "$u: systemd-analyze security exposure $score (at most 2.0, as root)"
	else
		fail "$u: exposure ${score:-unknown}, want at most 2.0"
	fi
	every=$(sed -n 's/^OnUnitInactiveSec=\([0-9]*\)min$/\1/p' "$tsrc")
	[[ -n $every && $every -le 15 && -n $(sed -n 's/^RandomizedDelaySec=//p' "$tsrc") &&
		$(sed -n 's/^WantedBy=//p' "$tsrc") == timers.target ]] &&
		pass "writ-factory-update.timer: every $every min with jitter, wanted by timers.target" ||
		fail "writ-factory-update.timer: no rounds every few minutes with jitter"
else
	fail "$u or writ-factory-update.timer is missing"
fi

# writ-hsmd takes no network input: AF_UNIX only, and no network namespace at all
h=$WRIT_SRC/dist/systemd/writ-hsmd.service
grep -qx 'RestrictAddressFamilies=AF_UNIX' "$h" && pass "writ-hsmd: RestrictAddressFamilies=AF_UNIX only" ||
	fail "writ-hsmd: address families other than AF_UNIX"
grep -qx 'PrivateNetwork=yes' "$h" && grep -qx 'IPAddressDeny=any' "$h" && grep -qx 'PrivateDevices=yes' "$h" &&
	pass "writ-hsmd: PrivateNetwork, IPAddressDeny=any, PrivateDevices" || fail "writ-hsmd: network or devices reachable"

# the users, created in an empty root
mkdir -p "$T/root/etc"
systemd-sysusers --root="$T/root" "$WRIT_SRC/dist/sysusers.d/writ.conf" >/dev/null 2>&1 || true
for user in writ-hsmd writ-factory writ-cloud writ-station; do
	line=$(grep "^$user:" "$T/root/etc/passwd" || true)
	if [[ -n $line && ${line##*:} == /usr/sbin/nologin && $(cut -d: -f3 <<<"$line") -gt 0 ]]; then
		pass "sysusers: $user is a system user without a login shell"
	else
		fail "sysusers: $user: '$line'"
	fi
done
grep -q '^writ-hsmd:x:[0-9]*:writ-factory$' "$T/root/etc/group" && pass "sysusers: only writ-factory joins writ-hsmd (the socket)" ||
	fail "sysusers: writ-hsmd group: $(grep '^writ-hsmd:' "$T/root/etc/group")"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 && $PASSED -gt 0 ]]
