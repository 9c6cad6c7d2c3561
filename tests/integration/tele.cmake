# SPDX-License-Identifier: Apache-2.0
# Line telemetry end to end (tele_outage.sh): two writ-station runs, writ-factory,
# writ-hsmd, writ-devsim and a writ-cloud (SQLite) cut off during the run; totals in the
# cloud equal the stations' summaries, tenancy of GET /v1/telemetry, garbage refused by
# both new POST endpoints. Label "bundle" (issue 9).
# With PostgreSQL too (not under the sanitizers: the cloud's code is the same).
foreach(engine sqlite postgresql)
  set(labels bundle)
  if(engine STREQUAL postgresql)
    set(labels "bundle;nosan")
  endif()
  add_test(NAME tele_outage_${engine} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/tele_outage.sh ${engine})
  set_tests_properties(tele_outage_${engine} PROPERTIES LABELS "${labels}" TIMEOUT 300
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()
