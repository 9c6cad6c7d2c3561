#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `writ firmware sign` with the authority token's secure-boot key, checked by Python
# (python3-cryptography) and by `writ firmware verify`; `writ authority init` makes the
# secure-boot and debug-root keys, also for an authority made before they existed, and
# `writ authority pubkey` prints them (and the SHA-256 a chip's OTP holds).
source "$WRIT_SRC/tests/integration/hsm_lib.sh"
PY=/usr/bin/python3
TOOL="$WRIT_SRC/tests/integration/hsm_wrap_tool.py"
hsm_setup
make_authority auth

for k in writ paa secure-boot debug-root; do
	run "$WRIT" authority pubkey --dir auth --key $k
	check "pubkey $k: 65 bytes in hex" "$RC$(tr -d '\n' <"$OUT" | wc -c)" = "0130"
	check "pubkey $k: an uncompressed point" "$(head -c 2 "$OUT")" = "04"
	declare "PUB_${k//-/_}=$(cat "$OUT")"
done
check "secure-boot and debug-root are different keys" "$PUB_secure_boot" != "$PUB_debug_root"
check "secure-boot is not the writ-signing key" "$PUB_secure_boot" != "$PUB_writ"
run "$WRIT" authority pubkey --dir auth --key secure-boot --hash
check "pubkey --hash is SHA-256 of the 65 bytes" "$(cat "$OUT")" = \
	"$(echo -n "$PUB_secure_boot" | xxd -r -p | sha256sum | cut -d' ' -f1)"
run "$WRIT" authority pubkey --dir auth --key nope
check "pubkey --key nope is a usage error" "$RC" -eq 2
run "$WRIT" authority init --dir auth --vid "$VID"
check "init again on a complete authority is refused" "$RC" -eq 1

head -c 100000 /dev/urandom >fw.bin
must "$WRIT" firmware sign --authority auth --version 7 --in fw.bin --out fw.sig
check "signature is 64 bytes (r || s)" "$(stat -c %s fw.sig)" -eq 64
run "$PY" "$TOOL" fwverify "$PUB_secure_boot" 7 fw.bin fw.sig
check "Python verifies the firmware signature ($(cat "$OUT"))" "$RC" -eq 0
run "$PY" "$TOOL" fwverify "$PUB_secure_boot" 8 fw.bin fw.sig
check "Python: not for version 8" "$RC" -ne 0

run "$WRIT" firmware verify --pub "$PUB_secure_boot" --version 7 --in fw.bin --sig fw.sig
check "writ firmware verify: good -> exit 0" "$RC" -eq 0
echo -n "$PUB_secure_boot" >sb.hex
xxd -p fw.sig | tr -d '\n' >fw.sig.hex
run "$WRIT" firmware verify --pub sb.hex --version 7 --in fw.bin --sig fw.sig.hex
check "verify with key and signature as hex files -> exit 0" "$RC" -eq 0
run "$WRIT" firmware verify --pub "$PUB_secure_boot" --version 6 --in fw.bin --sig fw.sig
check "wrong version -> exit 1" "$RC" -eq 1
run "$WRIT" firmware verify --pub "$PUB_debug_root" --version 7 --in fw.bin --sig fw.sig
check "wrong key -> exit 1" "$RC" -eq 1
cp fw.bin fw2.bin
flip_byte fw2.bin 5000 1
run "$WRIT" firmware verify --pub "$PUB_secure_boot" --version 7 --in fw2.bin --sig fw.sig
check "one image bit flipped -> exit 1" "$RC" -eq 1
head -c 99999 fw.bin >fw3.bin
run "$WRIT" firmware verify --pub "$PUB_secure_boot" --version 7 --in fw3.bin --sig fw.sig
check "image one byte shorter -> exit 1" "$RC" -eq 1
cp fw.sig bad.sig
flip_byte bad.sig 40 1
run "$WRIT" firmware verify --pub "$PUB_secure_boot" --version 7 --in fw.bin --sig bad.sig
check "one signature bit flipped -> exit 1" "$RC" -eq 1
run "$WRIT" firmware verify --pub "$PUB_secure_boot" --version 7 --in fw.bin
check "missing --sig -> exit 2" "$RC" -eq 2
run "$WRIT" firmware verify --pub 0411 --version 7 --in fw.bin --sig fw.sig
check "short --pub -> exit 2" "$RC" -eq 2
run "$WRIT" firmware sign --authority auth --version 7 --in missing.bin --out x.sig
check "sign a missing image -> exit 2" "$RC" -eq 2

finish
