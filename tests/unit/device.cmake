# SPDX-License-Identifier: Apache-2.0
# libwrit-device through an in-memory PAL, with OpenSSL as the independent host side.
if(TARGET writ_devsim_support)
  writ_test(test_device
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_device.c
    LIBS writ_devsim_support writ_device
    LABELS chip)
endif()
# The secure-debug cases of the same program (docs/device-protocol.md, "Secure debug").
if(TARGET test_device)
  add_test(NAME test_debug COMMAND test_device debug)
  set_tests_properties(test_debug PROPERTIES LABELS "debug;chip" TIMEOUT 300
    ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin")
endif()
