# SPDX-License-Identifier: Apache-2.0
# `writ matter` per-device data commands end to end: SDK vectors through the CLI,
# refusals, labels read back with zbarimg, factory-data images read back by an
# independent Python reader (matter_formats.py). Needs the writ CLI in WRIT_BIN.
writ_shell_test(matter_cli
  SCRIPT ${CMAKE_CURRENT_LIST_DIR}/matter_cli.sh
  LABELS chip)
