# SPDX-License-Identifier: Apache-2.0
# lib/host atomic file writes.
writ_test(test_file
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_file.c
  LIBS writ_host
  LABELS hsm)
