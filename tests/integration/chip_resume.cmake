# SPDX-License-Identifier: Apache-2.0
# A station process killed between the HSM's DAC and the chip storing its chain, and a
# new station resuming the chip: GET_CSR, a re-issue, no second unit of quantity.
writ_shell_test(chip_resume SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/chip_resume.sh LABELS chip TIMEOUT 300)
