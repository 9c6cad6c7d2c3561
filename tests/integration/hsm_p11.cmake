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
# The integration suite again on the second backend: every test that makes its HSM with
# hsm_lib.sh's make_hsm, on tpm2-pkcs11 over a private swtpm (WRIT_TEST_P11=tpm2), the
# key-agreement key in the TPM itself (writ-hsmd init --kex tpm: Debian 12's tpm2-pkcs11
# lacks CKM_ECDH1_DERIVE). Five of the HSM's own tests (every TPM key path: init, start,
# refusals, writs, wraps, debug tokens, journal damage) also run under ASan+UBSan; the line,
# rework and chip tests exercise the same writ-hsmd code there on SoftHSM, so their tpm2
# runs are left to the normal build (nosan) to keep `make check` short.
foreach(t hsm_flow hsm_refusals hsm_journal hsm_socket hsm_checkpoint hsm_debug hsm_reissue hsm_wrap
          factory_api line_e2e line_faults line_resume line_writs rework_e2e chip_flow chip_cli)
  if(t MATCHES "^hsm_(flow|refusals|journal|debug|wrap)$")
    set(labels "hardening;hsm;tpm2")
  elseif(t MATCHES "^hsm_")
    set(labels "hardening;hsm;tpm2;nosan")
  else()
    set(labels "hardening;tpm2;nosan")
  endif()
  writ_shell_test(${t}_tpm2
    SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/${t}.sh
    LABELS "${labels}"
    TIMEOUT 300)
  set_property(TEST ${t}_tpm2 APPEND PROPERTY ENVIRONMENT WRIT_TEST_P11=tpm2)
endforeach()
