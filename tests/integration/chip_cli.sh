#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `writ chip` refuses bad input before it touches a chip or spends a DAC: missing or
# malformed options, unreachable chips, an unknown address form, bad settings, and a
# firmware image that its signature does not cover. Each exits non-zero with a reason.
source "${WRIT_SRC:?}/tests/integration/chip_lib.sh"

chip_setup 5
start_devsim c1
A="unix:$WORK/c1.sock"
base=(--connect "$A" --hsm hsm/hsmd.sock --writ "$WRIT_ID" --settings settings.txt --firmware fw.bin
	--fw-version "$FW_VERSION" --fw-sig fw.sig --sb-pub "$SB_PUB" --debug-root-hash "$DBG_HASH")

# expect_exit DESCRIPTION CODE WORDS CMD...
expect_exit()
{
	local what=$1 code=$2 words=$3
	shift 3
	run "$@"
	if [[ $RC -ne $code ]]; then
		fail "$what: exit $RC, want $code; stderr: $(head -c 300 "$ERR")"
	elif ! grep -Eqi -- "$words" "$ERR"; then
		fail "$what: stderr lacks /$words/: $(head -c 300 "$ERR")"
	else
		pass "$what ($(head -n 1 "$ERR" | cut -c1-120))"
	fi
}

expect_exit "no subcommand" 2 usage "$WRIT" chip
expect_exit "unknown subcommand" 2 unknown "$WRIT" chip frobnicate
expect_exit "discover without --connect" 2 'exactly one --connect' "$WRIT" chip discover
expect_exit "unknown address form" 1 'unix:PATH' "$WRIT" chip discover --connect "serial0"
expect_exit "nobody listening" 1 'cannot reach' "$WRIT" chip discover --connect "unix:$WORK/nobody.sock"
expect_exit "tcp with a host name (numeric only)" 1 'cannot reach' "$WRIT" chip discover --connect tcp:localhost:1
expect_exit "provision without --hsm" 2 'required' "$WRIT" chip provision --connect "$A"
expect_exit "a short writ id" 2 '32-hex-digit' "$WRIT" chip provision "${base[@]}" --writ abcd
head -c 63 fw.sig >short.sig
expect_exit "a 63-byte signature" 2 'fw-sig: short.sig is neither 128 hex digits nor a file of 64 bytes' "$WRIT" chip provision "${base[@]}" --fw-sig short.sig
expect_exit "a non-hex public key" 2 'sb-pub' "$WRIT" chip provision "${base[@]}" --sb-pub zz
expect_exit "a version out of range" 2 'fw-version' "$WRIT" chip provision "${base[@]}" --fw-version 4294967296
expect_exit "--parallel 0..64" 2 'parallel' "$WRIT" chip provision "${base[@]}" --parallel 65
expect_exit "five secrets" 2 'at most 4' "$WRIT" chip provision "${base[@]}" --secret a --secret b --secret c \
	--secret d --secret e
printf 'vendor_id = 0xFFF1\nvendor_id = 0xFFF1\n' >dup.settings
expect_exit "a settings file with a key twice" 2 'settings' "$WRIT" chip provision "${base[@]}" --settings dup.settings
printf 'colour = red\n' >unknown.settings
expect_exit "a settings file with an unknown key" 2 'settings' "$WRIT" chip provision "${base[@]}" \
	--settings unknown.settings
expect_exit "a missing firmware file" 2 'cannot read firmware' "$WRIT" chip provision "${base[@]}" --firmware nope.bin

# firmware its signature does not cover: refused before any chip or DAC
before=$(counts hsm "$WRIT_ID")
cp fw.bin fw-tampered.bin
flip_byte fw-tampered.bin 4096
expect_exit "a tampered image" 2 'not signed by the secure-boot key' "$WRIT" chip provision "${base[@]}" \
	--firmware fw-tampered.bin
expect_exit "the right image with another version number" 2 'not signed' "$WRIT" chip provision "${base[@]}" \
	--fw-version 4
check "no DAC was spent on any refusal" "$(counts hsm "$WRIT_ID")" = "$before"
run "$WRIT" chip status --connect "$A"
check "the chip is still blank (nothing but its open debug port)" "$(sed -n 's/^state //p' "$OUT")" = debug

# a writ id the HSM does not know: the chip gets keys but no DAC; the reason is the HSM's
expect_exit "an unknown writ" 1 'not loaded' "$WRIT" chip provision "${base[@]}" \
	--writ 00112233445566778899aabbccddeeff
finish
