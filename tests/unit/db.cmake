# SPDX-License-Identifier: Apache-2.0
# lib/db: the same tests against SQLite (here) and PostgreSQL (db_pg, which starts a
# private server with tests/pg_lib.sh and runs this binary with "pg").
writ_test(test_db
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_db.c
  LIBS writ_db Threads::Threads
  ARGS sqlite
  LABELS cloud
  TIMEOUT 300)
