# SPDX-License-Identifier: Apache-2.0
# lib/db against a real PostgreSQL 15: db_pg.sh starts a throw-away server
# (tests/pg_lib.sh), runs test_db's PostgreSQL half against it (including a server
# restart under a live pool) and stops it. Fails if the server cannot be started.
add_test(NAME db_pg COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/db_pg.sh $<TARGET_FILE:test_db>)
set_tests_properties(db_pg PROPERTIES LABELS cloud TIMEOUT 300
  ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin")
