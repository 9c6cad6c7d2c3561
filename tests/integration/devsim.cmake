# SPDX-License-Identifier: Apache-2.0
# writ-devsim over unix, tcp and pty with its fault injection (needs /usr/bin/python3).
if(TARGET writ-devsim)
  writ_shell_test(devsim SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/devsim.sh LABELS chip TIMEOUT 120)
endif()
