# SPDX-License-Identifier: Apache-2.0
# Secret wrapping (writ-hsmd op 6) and firmware signatures against an independent
# Python implementation (Debian's python3-cryptography + python3-cbor2 in /usr/bin).
writ_shell_test(hsm_wrap SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/hsm_wrap.sh LABELS "hsm;chip" TIMEOUT 300)
writ_shell_test(firmware_sign SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/firmware_sign.sh LABELS chip TIMEOUT 180)
