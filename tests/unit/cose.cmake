# SPDX-License-Identifier: Apache-2.0
# Unit tests of lib/crypto/cose.c (COSE_Sign1 / COSE_Encrypt), with RFC 9052 / COSE WG
# known answers inline in the test source.
writ_test(test_cose SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_cose.c LIBS writ_crypto LABELS hsm)
