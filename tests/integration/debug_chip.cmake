# SPDX-License-Identifier: Apache-2.0
# Secure debug on a real writ-devsim through lib/chip (unlock, STATUS, lock, replay
# refused, unlock gone after a restart), and the same through `writ chip debug`.
if(TARGET writ-devsim)
  writ_test(debug_chip
    SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/debug_chip.c
    LIBS writ_chip writ_devsim_support
    LABELS debug chip
    TIMEOUT 120)
  add_dependencies(debug_chip writ-devsim writ)
endif()
