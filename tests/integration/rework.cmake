# SPDX-License-Identifier: Apache-2.0
# Rework with real processes (label "debug"): the whole flow through writ-station rework
# (rework_e2e), and each refusal on its own (rework_refusal.sh CASE), each starting its
# own authority, writ-hsmd, writ-factory and writ-devsim. docs/device-protocol.md maps
# the ADAC conformance scenarios to these.
writ_shell_test(rework_e2e
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/rework_e2e.sh
  LABELS debug line
  TIMEOUT 120)
foreach(c other_device replay stale_challenge rights_window token_window perm_mask chain_order revoked
          key_generation tamper outside_writ exhausted)
  add_test(NAME rework_refusal_${c}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/rework_refusal.sh ${c})
  set_tests_properties(rework_refusal_${c} PROPERTIES LABELS "debug" TIMEOUT 120
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()
# Re-provisioning (rework_reprov.sh CASE): end to end, and its refusals.
foreach(c e2e no_bit no_issue never_made spent)
  add_test(NAME rework_reprov_${c}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/rework_reprov.sh ${c})
  set_tests_properties(rework_reprov_${c} PROPERTIES LABELS "debug" TIMEOUT 120
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()
