# SPDX-License-Identifier: Apache-2.0
# Crash safety of writ-hsmd: SIGKILL under load from hsm_load (hsm_load.cmake), then
# the journal must account for every DAC handed out and never exceed the quantity.
writ_shell_test(hsm_crash
  SCRIPT ${CMAKE_CURRENT_LIST_DIR}/hsm_crash.sh
  LABELS hsm
  TIMEOUT 600)
