# SPDX-License-Identifier: Apache-2.0
# libFuzzer harnesses for lib/matter: the base38 / QR decoders, the WFD1 parser, and the
# factory-data encoders fed with structs built from fuzz input.
writ_fuzz(fuzz_base38
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_base38.c
  LIBS writ_matter
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/base38)

writ_fuzz(fuzz_wfd
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_wfd.c
  LIBS writ_matter
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/wfd)

writ_fuzz(fuzz_factory_data
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_factory_data.c
  LIBS writ_matter
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/factory_data)
