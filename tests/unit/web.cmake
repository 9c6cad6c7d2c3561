# SPDX-License-Identifier: Apache-2.0
# lib/web/httpc.c: escaping, token files, and requests against an in-process
# libmicrohttpd server on loopback (bounds, keep-alive, refused connection, error bodies).
writ_test(test_httpc
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_httpc.c
  LIBS writ_web PkgConfig::MHD
  LABELS cloud
  TIMEOUT 120)
