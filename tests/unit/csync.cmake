# SPDX-License-Identifier: Apache-2.0
# Unit tests of writ-factory's sync with writ-cloud: run cutting, answer parsers,
# cursors, backoff (factory/csync.c) and the store's pulled-writ table.
writ_test(test_csync SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_csync.c LIBS writ_factory PkgConfig::SQLITE3 LABELS cloud)
