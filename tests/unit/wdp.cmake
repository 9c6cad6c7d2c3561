# SPDX-License-Identifier: Apache-2.0
# lib/base device-protocol codec: frames, the stream receiver, strict TLVs.
writ_test(test_wdp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_wdp.c
  LIBS writ_base
  LABELS chip)

# lib/base's shared CBOR head encoder (RFC 8949 Appendix A examples).
writ_test(test_cborh
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cborh.c
  LIBS writ_base
  LABELS hsm)
