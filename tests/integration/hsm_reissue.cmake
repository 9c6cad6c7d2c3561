# SPDX-License-Identifier: Apache-2.0
# Re-issue of a DAC to a device that already has one under the writ, for the same key
# (no quantity used), and the refusal of another key (a clone); across restarts, with
# the wrap op and an independent journal parser (Debian's python3-cbor2 and
# python3-cryptography in /usr/bin).
writ_shell_test(hsm_reissue SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/hsm_reissue.sh LABELS hsm TIMEOUT 240)
