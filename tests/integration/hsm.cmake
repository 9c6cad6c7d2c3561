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
