# SPDX-License-Identifier: Apache-2.0
# Crash safety of writ-hsmd: SIGKILL under load from hsm_load (hsm_load.cmake), then
# the journal must account for every DAC handed out and never exceed the quantity.
writ_shell_test(hsm_crash
  SCRIPT ${CMAKE_CURRENT_LIST_DIR}/hsm_crash.sh
  LABELS hsm
  TIMEOUT 600)
# The same on tpm2-pkcs11 over swtpm (p11_backend.sh; the key-agreement key in the TPM):
# SIGKILL while the module and its SQLite store are mid-operation. A smaller writ (the TPM
# signs ~50 DACs/s here), normal build only.
writ_shell_test(hsm_crash_tpm2
  SCRIPT ${CMAKE_CURRENT_LIST_DIR}/hsm_crash.sh
  LABELS "hsm;hardening;tpm2;nosan"
  TIMEOUT 600)
set_property(TEST hsm_crash_tpm2 APPEND PROPERTY ENVIRONMENT
  WRIT_TEST_P11=tpm2 WRIT_CRASH_QUANTITY=1000 WRIT_CRASH_ITERATIONS=12)
