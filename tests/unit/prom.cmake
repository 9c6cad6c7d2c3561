# SPDX-License-Identifier: Apache-2.0
# lib/host/prom.c: the Prometheus text exposition writer (escaping, histograms).
writ_test(test_prom
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_prom.c
  LIBS writ_host
  LABELS ops)
