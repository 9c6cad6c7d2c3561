# SPDX-License-Identifier: Apache-2.0
# COSE interoperability: cose_tool exposes lib/crypto/cose.c on the command line and
# cose_interop.py checks it against an independent Python implementation (Debian's
# python3-cbor2 + python3-cryptography, hence /usr/bin/python3, not the one on PATH).
add_executable(cose_tool ${CMAKE_SOURCE_DIR}/tests/integration/cose_tool.c)
target_link_libraries(cose_tool PRIVATE writ_crypto)
set_target_properties(cose_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME cose_interop
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/integration/cose_interop.py $<TARGET_FILE:cose_tool>)
set_tests_properties(cose_interop PROPERTIES LABELS hsm TIMEOUT 300)
