# SPDX-License-Identifier: Apache-2.0
# lib/base device-protocol codec: frames, the stream receiver, strict TLVs.
writ_test(test_wdp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_wdp.c
  LIBS writ_base
  LABELS chip)
