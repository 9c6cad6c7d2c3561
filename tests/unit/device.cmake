# SPDX-License-Identifier: Apache-2.0
# libwrit-device through an in-memory PAL, with OpenSSL as the independent host side.
if(TARGET writ_devsim_support)
  writ_test(test_device
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_device.c
    LIBS writ_devsim_support writ_device
    LABELS chip)
endif()
