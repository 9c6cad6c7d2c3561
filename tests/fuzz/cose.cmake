# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness for the COSE decoders (built only with -DWRIT_FUZZ=ON and clang).
# Seeds are valid objects for the harness's fixed keys, made with tests/integration/cose_tool.
writ_fuzz(fuzz_cose SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_cose.c LIBS writ_crypto
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/cose)
