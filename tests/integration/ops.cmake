# SPDX-License-Identifier: Apache-2.0
# Operations: health and Prometheus metrics of the real daemons (ops_metrics), and
# every binary's --help against the options its parser accepts (ops_help). Label "ops".
writ_shell_test(ops_metrics
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/ops_metrics.sh
  LABELS ops
  TIMEOUT 600)
add_test(NAME ops_help COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/integration/ops_help.py)
set_tests_properties(ops_help PROPERTIES LABELS ops TIMEOUT 300
  ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin")
