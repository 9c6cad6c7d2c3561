# SPDX-License-Identifier: Apache-2.0
# Signed releases end to end (docs/releases.md): publish, fetch, verify, refuse, stage,
# apply between jobs, crash and health-check rollback, the OEM's pin. Real processes.
# release_update_sqlite and release_update_postgresql: the cloud's store (the release API,
# cloud/api_release.c, on each; PostgreSQL: a private server, tests/pg_lib.sh; in the
# normal build only: under ASan the cloud's code is the same as on SQLite).
foreach(engine sqlite postgresql)
  set(labels bundle)
  if(engine STREQUAL postgresql)
    set(labels "bundle;cloud;nosan")
  endif()
  add_test(NAME release_update_${engine} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/release_update.sh ${engine})
  set_tests_properties(release_update_${engine} PROPERTIES LABELS "${labels}" TIMEOUT 300
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()

# writ-station and an update of the factory (station_update.sh): the line pauses for an
# update offered mid-batch and resumes on the new version; nothing lost or made twice.
add_test(NAME station_update COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/station_update.sh)
set_tests_properties(station_update PROPERTIES LABELS "bundle" TIMEOUT 300
  ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
