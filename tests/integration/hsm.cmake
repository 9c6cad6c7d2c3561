# SPDX-License-Identifier: Apache-2.0
# The edge HSM end to end: the real writ-hsmd and writ CLI over a Unix socket with
# SoftHSM2 tokens in a throw-away directory (helpers in hsm_lib.sh). hsm_socket needs
# Debian's python3-cbor2 (/usr/bin/python3).
foreach(t flow refusals journal socket)
  writ_shell_test(hsm_${t}
    SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/hsm_${t}.sh
    LABELS hsm
    TIMEOUT 180)
endforeach()
# Op 7 (checkpoint now), and a real writ-hsmd journal verified as the cloud does
# (lib/wire/jseg.c) by jseg_tool.
add_executable(jseg_tool ${CMAKE_SOURCE_DIR}/tests/integration/jseg_tool.c)
target_link_libraries(jseg_tool PRIVATE writ_wire writ_crypto writ_host)
set_target_properties(jseg_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
writ_shell_test(hsm_checkpoint
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/hsm_checkpoint.sh
  LABELS hsm cloud
  TIMEOUT 180)
# Rework rights (op 8, re-provisioning) in writ-hsmd, with an independent check of the
# token and chain (python3-cryptography).
writ_shell_test(hsm_debug
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/hsm_debug.sh
  LABELS "debug;hsm"
  TIMEOUT 180)
