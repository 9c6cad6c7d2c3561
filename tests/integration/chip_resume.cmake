# SPDX-License-Identifier: Apache-2.0
# A station process killed between the HSM's DAC and the chip storing its chain, and a
# new station resuming the chip: GET_CSR, a re-issue, no second unit of quantity.
writ_shell_test(chip_resume SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/chip_resume.sh LABELS chip TIMEOUT 300)
# The kill must land in the station's 0.1 s reconnect gap: under a loaded machine (other
# tests at -j2) the poll that spots the DAC can miss it, so this test runs alone.
set_tests_properties(chip_resume PROPERTIES RUN_SERIAL TRUE)
