# SPDX-License-Identifier: Apache-2.0
# writ-factory <-> writ-cloud: enrolment, the sync loop through a cut/refused/slow link
# (cut_proxy.py), the cloud and the factory killed mid-push, the cloud killed inside its
# ingest transaction (kill_in_tx.py) (curl, jq, sqlite3, python3; psql for postgresql).
# Under ASan+UBSan only the SQLite run: the factory's code is the same for both, and the
# cloud's PostgreSQL path runs under the sanitizers in cloud_flow_postgresql.
foreach(engine sqlite postgresql)
  set(labels cloud)
  if(engine STREQUAL postgresql)
    set(labels "cloud;nosan")
  endif()
  add_test(NAME factory_sync_${engine} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/factory_sync.sh ${engine})
  set_tests_properties(factory_sync_${engine} PROPERTIES LABELS "${labels}" TIMEOUT 600
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()
