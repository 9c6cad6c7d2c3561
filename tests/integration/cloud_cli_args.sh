#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The writ-cloud commands of the writ CLI without a service: every usage error exits 2
# before anything is sent (missing, misplaced and malformed options, numbers out of
# range, a token on argv, a token file others may read), every --help exits 0, and a
# well-formed command facing a loopback port nobody listens on exits 3 and says what to
# check.
source "${WRIT_SRC:?}/tests/integration/cloud_cli_lib.sh"

cloud_setup
export WRIT_CLOUD_TOKEN=wc_env-token
HSM=$(printf 'ab%.0s' {1..32})
SIG=$(printf 'cd%.0s' {1..64})
SHA=$(printf 'ef%.0s' {1..32})
printf 'firmware' >fw.bin
printf 'matter settings\n' >settings.txt

# ---- every command's --help ----
for c in "product create" "product list" "product show" "product invite" "product uninvite" "product pai-csr" \
	"product pai-upload" "firmware upload" "firmware list" "version create" "version list" "version show" \
	"version approve" "version reject" "version bundle" "factory create" "factory list" "factory code" \
	"factory enrol-info" "batch create" "batch list" "batch show" "batch writ" "batch revoke" "records export" \
	"device find" "device show" "device label" "factory release-pin" "user add" "user list" "token add" \
	"token list" "token revoke" "alert list" "whoami" production telemetry; do
	# shellcheck disable=SC2086
	expect_rc "writ $c --help" 0 "$WRIT" $c --help
	check_grep "writ $c --help: usage and endpoint" "^usage: writ $c.*" "$OUT"
done
for g in product version factory batch records device user token alert; do
	expect_rc "writ $g --help" 0 "$WRIT" "$g" --help
	expect_rc "writ $g without a subcommand" 2 "$WRIT" "$g"
	expect_rc "writ $g bogus" 2 "$WRIT" "$g" bogus
done
for g in production telemetry; do
	expect_rc "writ $g --help (a command without subcommands)" 0 "$WRIT" "$g" --help
	expect_rc "writ $g bogus" 2 "$WRIT" "$g" bogus
done
expect_rc "writ --help lists the cloud commands" 0 "$WRIT" --help
check_grep "writ --help: batch" "^  batch " "$OUT"
check_grep "writ --help: production" "^  production " "$OUT"
check_grep "writ --help: telemetry" "^  telemetry " "$OUT"
expect_rc "writ firmware --help lists upload" 0 "$WRIT" firmware --help
check_grep "writ firmware --help: upload" "writ firmware upload" "$OUT"
expect_rc "writ firmware sign still parses its own options" 2 "$WRIT" firmware sign
check_grep "writ firmware sign: its own message" "--version and --in are required" "$ERR"

# ---- usage errors: exit 2, nothing sent (the URL is not even valid) ----
U=(--cloud http://127.0.0.1:1)
expect_rc "missing options" 2 "$WRIT" product create --product lamp "${U[@]}"
check_grep "missing options named" "missing --name NAME --vid HEX --pid HEX --quota N" "$ERR"
expect_rc "a token on argv" 2 "$WRIT" product list --token wc_SECRETVALUE "${U[@]}"
check_grep "a token on argv: says where a token goes" "token-file" "$ERR"
check "a token on argv is not echoed" "$(grep -c SECRETVALUE "$ERR" || true)" = 0
expect_rc "--token=VALUE" 2 "$WRIT" whoami --token=wc_SECRETVALUE
check "--token=VALUE is not echoed" "$(grep -c SECRETVALUE "$ERR" || true)" = 0
expect_rc "an unknown option with a value" 2 "$WRIT" whoami --tokn=wc_SECRETVALUE
check "an unknown --x=VALUE is not echoed" "$(grep -c SECRETVALUE "$ERR" || true)" = 0
expect_rc "an option of another command" 2 "$WRIT" product list --quota 5 "${U[@]}"
check_grep "an option of another command: named" "--quota does not apply" "$ERR"
expect_rc "an option without its value" 2 "$WRIT" product show --product
expect_rc "a positional argument" 2 "$WRIT" product show lamp "${U[@]}"
expect_rc "--json on a download" 2 "$WRIT" batch writ --batch 1 --out w --json "${U[@]}"
PC=(product create --product lamp --name Lamp --vid FFF1 --pid 8000 --quota 100 "${U[@]}")
expect_rc "--vid not hex" 2 "$WRIT" "${PC[@]}" --vid zz
expect_rc "--vid 0" 2 "$WRIT" "${PC[@]}" --vid 0
expect_rc "--vid 0x10000" 2 "$WRIT" "${PC[@]}" --vid 10000
expect_rc "--quota 0" 2 "$WRIT" "${PC[@]}" --quota 0
expect_rc "--quota 10^9+1" 2 "$WRIT" "${PC[@]}" --quota 1000000001
expect_rc "--quota 12abc" 2 "$WRIT" "${PC[@]}" --quota 12abc
expect_rc "--quota -5" 2 "$WRIT" "${PC[@]}" --quota -5
expect_rc "--quota empty" 2 "$WRIT" "${PC[@]}" --quota ""
expect_rc "--pai-mode bogus" 2 "$WRIT" "${PC[@]}" --pai-mode cloud
expect_rc "--secure-boot-pub not a key" 2 "$WRIT" "${PC[@]}" --secure-boot-pub "04$SHA"
expect_rc "--product not a name" 2 "$WRIT" "${PC[@]}" --product "a/b"
expect_rc "--product too long" 2 "$WRIT" "${PC[@]}" --product "$(printf 'x%.0s' {1..65})"
FU=(firmware upload --product lamp --image fw.bin --fw-version 3 "${U[@]}")
expect_rc "firmware upload: no signature" 2 "$WRIT" "${FU[@]}"
expect_rc "firmware upload: two signatures" 2 "$WRIT" "${FU[@]}" --signature "$SIG" --sign-in-portal
expect_rc "firmware upload: short signature" 2 "$WRIT" "${FU[@]}" --signature abcd
expect_rc "firmware upload: --fw-version 2^32" 2 "$WRIT" "${FU[@]}" --fw-version 4294967296 --sign-in-portal
expect_rc "firmware upload: no image" 2 "$WRIT" "${FU[@]}" --image missing.bin --sign-in-portal
printf 'x' >bad.sig
expect_rc "firmware upload: bad signature file" 2 "$WRIT" "${FU[@]}" --signature-file bad.sig
VC=(version create --product lamp --version 1.0 --firmware "$SHA" --settings settings.txt "${U[@]}")
expect_rc "version create: --firmware not hex" 2 "$WRIT" "${VC[@]}" --firmware xyz
expect_rc "version create: no settings file" 2 "$WRIT" "${VC[@]}" --settings none.txt
expect_rc "version create: --iterations 10" 2 "$WRIT" "${VC[@]}" --iterations 10
expect_rc "version create: empty recipe step" 2 "$WRIT" "${VC[@]}" --recipe "discover,,keys"
printf '\xff\xfe\n' >latin1.txt
expect_rc "version create: settings not UTF-8" 2 "$WRIT" "${VC[@]}" --settings latin1.txt
expect_rc "version reject: no reason" 2 "$WRIT" version reject --product lamp --version 1.0 "${U[@]}"
BC=(batch create --product lamp --version 1.0 --factory sz1 --hsm "$HSM" --quantity 10 "${U[@]}")
expect_rc "batch create: no window end" 2 "$WRIT" "${BC[@]}"
expect_rc "batch create: both --not-after and --days" 2 "$WRIT" "${BC[@]}" --days 3 --not-after 2000000000
expect_rc "batch create: not-after before not-before" 2 "$WRIT" "${BC[@]}" --not-before 2000 --not-after 1000
expect_rc "batch create: --quantity -1" 2 "$WRIT" "${BC[@]}" --days 3 --quantity -1
expect_rc "batch create: --quantity 0" 2 "$WRIT" "${BC[@]}" --days 3 --quantity 0
expect_rc "batch create: short --hsm" 2 "$WRIT" "${BC[@]}" --days 3 --hsm abcd
expect_rc "batch create: --days 0" 2 "$WRIT" "${BC[@]}" --days 0
expect_rc "records export: --format xml" 2 "$WRIT" records export --product lamp --format xml "${U[@]}"
expect_rc "records export: --since x" 2 "$WRIT" records export --product lamp --since x "${U[@]}"
expect_rc "device find: nothing to find by" 2 "$WRIT" device find "${U[@]}"
expect_rc "device find: two keys" 2 "$WRIT" device find --serial 1 --uid abcd "${U[@]}"
expect_rc "device find: odd hex" 2 "$WRIT" device find --uid abc "${U[@]}"
for bad in 0 -1 abc 1x 1e3 " 1" +1 0x1 "" 1000000000000000000; do
	expect_rc "device show --device '$bad'" 2 "$WRIT" device show --device "$bad" "${U[@]}"
	check_grep "device show --device '$bad': says what an id is" "--device takes a number in 1\.\." "$ERR"
done
expect_rc "device show: no --device" 2 "$WRIT" device show "${U[@]}"
expect_rc "device show: --serial is find's" 2 "$WRIT" device show --device 1 --serial 1 "${U[@]}"
expect_rc "device label: no --out" 2 "$WRIT" device label --device 1 "${U[@]}"
check_grep "device label: missing --out named" "missing --out F" "$ERR"
expect_rc "device label: --json on a download" 2 "$WRIT" device label --device 1 --out l.svg --json "${U[@]}"
expect_rc "production: --bucket 59" 2 "$WRIT" production --bucket 59 "${U[@]}"
expect_rc "production: --bucket 2678401" 2 "$WRIT" production --bucket 2678401 "${U[@]}"
expect_rc "production: --since -1" 2 "$WRIT" production --since -1 "${U[@]}"
expect_rc "production: --since soon" 2 "$WRIT" production --since soon "${U[@]}"
expect_rc "production: --factory is telemetry's" 2 "$WRIT" production --factory sz1 "${U[@]}"
expect_rc "telemetry: no --factory" 2 "$WRIT" telemetry "${U[@]}"
check_grep "telemetry: missing --factory named" "missing --factory ID" "$ERR"
expect_rc "telemetry: --factory not a name" 2 "$WRIT" telemetry --factory "a b" "${U[@]}"
expect_rc "telemetry: --line not a name" 2 "$WRIT" telemetry --factory sz1 --line "l/1" "${U[@]}"
expect_rc "telemetry: --since after --until" 2 "$WRIT" telemetry --factory sz1 --since 2000 --until 1000 "${U[@]}"
check_grep "telemetry: --since after --until, said" "--since \(2000\) must be before --until \(1000\)" "$ERR"
expect_rc "telemetry: --until 0" 2 "$WRIT" telemetry --factory sz1 --until 0 "${U[@]}"
RP=(factory release-pin --factory sz1 "${U[@]}")
expect_rc "release-pin: neither --version nor --unpin" 2 "$WRIT" "${RP[@]}"
check_grep "release-pin: says what to give" "--version V to pin a release, or --unpin" "$ERR"
expect_rc "release-pin: both" 2 "$WRIT" "${RP[@]}" --version 1.2.3 --unpin
for bad in 1.2 v1.2.3 1.2.3+build 01.2.3 "" "1.2.3 "; do
	expect_rc "release-pin --version '$bad'" 2 "$WRIT" "${RP[@]}" --version "$bad"
done
check_grep "release-pin: says what a version is" "MAJOR.MINOR.PATCH" "$ERR"
expect_rc "release-pin: --factory not a name" 2 "$WRIT" factory release-pin --factory "../x" --unpin "${U[@]}"
expect_rc "token list --user not a name" 2 "$WRIT" token list --user "a&b=c" "${U[@]}"
expect_rc "token list --user empty" 2 "$WRIT" token list --user "" "${U[@]}"
expect_rc "user add: unknown role" 2 "$WRIT" user add --name bob --role root "${U[@]}"
expect_rc "user add: --json with --token-out" 2 "$WRIT" user add --name bob --role oem-admin --json --token-out t "${U[@]}"
expect_rc "token add: empty label" 2 "$WRIT" token add --label "" "${U[@]}"
expect_rc "--cloud not http" 2 "$WRIT" whoami --cloud ftp://127.0.0.1
check_grep "--cloud not http: says what a URL is" "http://HOST:PORT" "$ERR"

# ---- the token ----
unset WRIT_CLOUD_TOKEN
expect_rc "no token at all" 2 "$WRIT" whoami "${U[@]}"
check_grep "no token: says where one goes" "--token-file F .* or set WRIT_CLOUD_TOKEN" "$ERR"
cp token open-token
chmod 644 open-token
expect_rc "a token file others may read" 2 "$WRIT" whoami --token-file open-token "${U[@]}"
check_grep "a token file others may read: chmod 600" "chmod 600 open-token" "$ERR"
expect_rc "a missing token file" 2 "$WRIT" whoami --token-file none "${U[@]}"
: >empty-token
chmod 600 empty-token
expect_rc "an empty token file" 2 "$WRIT" whoami --token-file empty-token "${U[@]}"
expect_rc "enrol-info needs no token (and takes no --token-file)" 2 "$WRIT" factory enrol-info --code X --token-file token

# ---- no service: exit 3 ----
PORT=$(free_port)
export WRIT_CLOUD_URL=http://127.0.0.1:$PORT
T=(--token-file token)
expect_rc "unreachable: whoami" 3 "$WRIT" whoami "${T[@]}"
check_grep "unreachable: says so" "cannot reach writ-cloud" "$ERR"
check_grep "unreachable: says what to check" "--cloud URL or \\\$WRIT_CLOUD_URL" "$ERR"
check "unreachable: the token is not printed" "$(grep -c test-token "$ERR" || true)" = 0
expect_rc "unreachable: product create" 3 "$WRIT" product create --product lamp --name Lamp --vid FFF1 --pid 8000 --quota 100 "${T[@]}"
expect_rc "unreachable: product list (--json)" 3 "$WRIT" product list --json "${T[@]}"
expect_rc "unreachable: firmware upload" 3 "$WRIT" firmware upload --product lamp --image fw.bin --fw-version 3 --signature "$SIG" "${T[@]}"
expect_rc "unreachable: version create" 3 "$WRIT" version create --product lamp --version 1.0 --firmware "$SHA" --settings settings.txt "${T[@]}"
expect_rc "unreachable: batch create" 3 "$WRIT" batch create --product lamp --version 1.0 --factory sz1 --hsm "$HSM" --quantity 10 --days 30 "${T[@]}"
expect_rc "unreachable: batch writ" 3 "$WRIT" batch writ --batch 1 --out w.cose "${T[@]}"
check "unreachable: no file written" ! -e w.cose
expect_rc "unreachable: records export --out" 3 "$WRIT" records export --product lamp --out rec.jsonl "${T[@]}"
check "unreachable: no records file nor temp file" "$(ls rec.jsonl* 2>/dev/null | wc -l)" = 0
expect_rc "unreachable: factory enrol-info (anonymous)" 3 "$WRIT" factory enrol-info --code ABCDEFGHIJKLMNOPQRST
expect_rc "unreachable: --cloud beats the environment" 3 "$WRIT" whoami "${T[@]}" --cloud "http://127.0.0.1:$(free_port)/"
WRIT_CLOUD_TOKEN=wc_env-token expect_rc "unreachable: token from the environment" 3 "$WRIT" token list
expect_rc "unreachable: device show" 3 "$WRIT" device show --device 1 "${T[@]}"
expect_rc "unreachable: device label" 3 "$WRIT" device label --device 1 --out l.svg "${T[@]}"
check "unreachable: no label written" ! -e l.svg
expect_rc "unreachable: production" 3 "$WRIT" production "${T[@]}"
expect_rc "unreachable: telemetry" 3 "$WRIT" telemetry --factory sz1 "${T[@]}"
expect_rc "unreachable: factory release-pin" 3 "$WRIT" factory release-pin --factory sz1 --unpin "${T[@]}"
expect_rc "unreachable: token list --user" 3 "$WRIT" token list --user sally "${T[@]}"

finish
