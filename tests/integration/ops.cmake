# SPDX-License-Identifier: Apache-2.0
# Operations: health and Prometheus metrics of the real daemons (ops_metrics), and
# every binary's --help against the options its parser accepts (ops_help). Label "ops".
writ_shell_test(ops_metrics
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/ops_metrics.sh
  LABELS ops
  TIMEOUT 600)
