# SPDX-License-Identifier: Apache-2.0
# TLS on every network hop (issue 8): writ-cloud, writ-factory, writ-station with keys in
# SoftHSM tokens, refusals of bad client certificates, rotation under load.
writ_shell_test(tls_hops SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/tls_hops.sh LABELS "hardening" TIMEOUT 300)
# tls_renew: the factory's client certificate renewed (writ-factory tls-renew) while it
# syncs and a client makes requests; the old certificate retired at the new one's first
# use; every refusal of POST /v1/factory/tls/renew stores nothing; the timer and service.
# On SQLite and PostgreSQL (the latter in the normal build only: the cloud's code is the same).
foreach(engine sqlite postgresql)
  set(labels "hardening;tls")
  if(engine STREQUAL postgresql)
    set(labels "hardening;tls;nosan")
  endif()
  add_test(NAME tls_renew_${engine} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/tls_renew.sh ${engine})
  set_tests_properties(tls_renew_${engine} PROPERTIES LABELS "${labels}" TIMEOUT 300
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
endforeach()
