# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness for lib/db's placeholder rewriting (db_sql_to_pg). Seeds
# (seeds/db_sql): literals with doubled quotes, a quoted identifier, line and nested
# block comments, an unterminated literal; written by hand.
writ_fuzz(fuzz_db_sql
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_db_sql.c
  LIBS writ_db
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/db_sql)
