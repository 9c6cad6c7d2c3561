# SPDX-License-Identifier: Apache-2.0
# Unit tests of lib/wire/writ.c (scope codec, seal/open).
writ_test(test_writ SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_writ.c LIBS writ_wire LABELS hsm)
