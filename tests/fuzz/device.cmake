# SPDX-License-Identifier: Apache-2.0
# libFuzzer harnesses for libwrit-device: the packet decoder + dispatcher (wdev_process on
# an in-memory PAL with a fixed RNG) and the WFD1 factory-data parser. Seeds: valid
# frames for each command (seeds/device) and a valid WFD1 blob (seeds/device_wfd).
if(TARGET writ_devsim_support)
  writ_fuzz(fuzz_device SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_device.c
            LIBS writ_devsim_support writ_device
            SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/device)
  writ_fuzz(fuzz_device_wfd SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_device_wfd.c
            LIBS writ_devsim_support writ_device
            SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/device_wfd)
endif()
# The secure-debug certificate/token parser (wdev_dbg_parse) and DEBUG_UNLOCK around it.
if(TARGET writ_devsim_support)
  writ_fuzz(fuzz_debug SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_debug.c
            LIBS writ_devsim_support writ_device
            SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/debug)
endif()
