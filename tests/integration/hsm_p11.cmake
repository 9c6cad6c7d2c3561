# SPDX-License-Identifier: Apache-2.0
# Issue 8, a second PKCS#11 implementation (label hardening): p11_probe exercises what writ
# needs from a token through lib/p11 under writ-hsmd's seccomp filter; hsm_p11.sh runs it
# and writ-hsmd on SoftHSM2 and on tpm2-pkcs11 over swtpm (WRIT_TEST_P11, hsm_lib.sh).
add_executable(p11_probe ${CMAKE_SOURCE_DIR}/tests/integration/p11_probe.c)
target_link_libraries(p11_probe PRIVATE writ_p11 writ_crypto writ_host Threads::Threads)
set_target_properties(p11_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
writ_shell_test(hsm_p11_tpm2
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/hsm_p11.sh
  LABELS "hardening;hsm"
  TIMEOUT 240)
