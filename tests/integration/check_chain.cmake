# SPDX-License-Identifier: Apache-2.0
# `writ matter check-chain` over the Matter SDK vectors; needs the writ CLI in WRIT_BIN.
writ_shell_test(check_chain
  SCRIPT ${CMAKE_CURRENT_LIST_DIR}/check_chain.sh
  LABELS hsm)
