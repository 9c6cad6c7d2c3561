# SPDX-License-Identifier: Apache-2.0
# lib/p11 against a real SoftHSM2 token, and the test-support library other tests use.

# writ_testenv: throw-away SoftHSM environments and file helpers (tests/support/testenv.h).
if(NOT TARGET writ_testenv)
  add_library(writ_testenv STATIC ${CMAKE_SOURCE_DIR}/tests/support/testenv.c)
  target_include_directories(writ_testenv PUBLIC ${CMAKE_SOURCE_DIR}/tests/support)
endif()

writ_test(test_p11
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_p11.c
  LIBS writ_p11 writ_crypto writ_testenv Threads::Threads ${CMAKE_DL_LIBS}
  LABELS hsm
  TIMEOUT 600)
