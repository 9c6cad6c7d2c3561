# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness for the writ scope codec, Sign1 verification and sealed-writ opening.
writ_fuzz(fuzz_writ SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_writ.c LIBS writ_wire
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/writ)
if(TARGET fuzz_writ)
  target_compile_definitions(fuzz_writ PRIVATE
    WRIT_FUZZ_VECTORS="${CMAKE_SOURCE_DIR}/tests/vectors/matter-sdk-certs")
endif()
# The host-side secure-debug credential parsers (lib/wire/dbgcred.c).
writ_fuzz(fuzz_dbgcred SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_dbgcred.c LIBS writ_wire
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/dbgcred)
