# SPDX-License-Identifier: Apache-2.0
# The chip side end to end: writ chip (lib/chip + station/line) against writ-devsim
# (libwrit-device) and a real writ-hsmd with SoftHSM; helpers in chip_lib.sh.
foreach(t flow faults cli)
  writ_shell_test(chip_${t}
    SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/chip_${t}.sh
    LABELS chip
    TIMEOUT 300)
endforeach()
