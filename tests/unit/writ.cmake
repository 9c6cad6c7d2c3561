# SPDX-License-Identifier: Apache-2.0
# Unit tests of lib/wire/writ.c (scope codec, seal/open).
writ_test(test_writ SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_writ.c LIBS writ_wire LABELS hsm)
# Unit tests of the other peer-facing decoders in lib/wire (cbu, hsmproto, enrol).
writ_test(test_wire SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_wire.c LIBS writ_wire LABELS hsm)
# The host side of the secure-debug credentials (lib/wire/dbgcred.c) against the chip's
# own parser.
if(TARGET writ_device)
  writ_test(test_dbgcred SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_dbgcred.c LIBS writ_wire writ_device
    LABELS "debug;hsm")
endif()
