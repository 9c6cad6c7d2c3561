# SPDX-License-Identifier: Apache-2.0
# writ-cloud: the loop (OEM -> ODM -> approval -> batches -> writ -> HSM -> journal and
# records back), role and tenant isolation and bad input, on SQLite and on PostgreSQL
# with two instances sharing the store.
foreach(engine sqlite postgresql)
  add_test(NAME cloud_flow_${engine} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cloud_flow.sh ${engine})
  set_tests_properties(cloud_flow_${engine} PROPERTIES LABELS cloud TIMEOUT 600
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()

# Rework (issue 6), cloud side: rework policy, grants, revocation and debug-key rotation
# through the API, a real writ-factory pulling the rework writs into a real writ-hsmd,
# the HSM's debug-unlock tokens coming back as device rework history, rework records.
foreach(engine sqlite postgresql)
  add_test(NAME cloud_rework_${engine} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cloud_flow.sh ${engine} cloud_rework.py)
  set_tests_properties(cloud_rework_${engine} PROPERTIES LABELS "cloud;debug" TIMEOUT 600
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()

# The store's schema 1 -> 2 migration (secure debug and rework), both engines.
foreach(engine sqlite postgresql)
  add_test(NAME cloud_migrate_${engine} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cloud_migrate.sh ${engine})
  set_tests_properties(cloud_migrate_${engine} PROPERTIES LABELS "cloud;debug" TIMEOUT 300
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()
