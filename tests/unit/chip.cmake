# SPDX-License-Identifier: Apache-2.0
# lib/chip, the station's chip driver, against a fake chip on a Unix socket that answers
# with scripted good, corrupted, stale, malformed and hostile frames.
writ_test(test_chip
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_chip.c
  LIBS writ_chip Threads::Threads
  LABELS chip
  TIMEOUT 120)
