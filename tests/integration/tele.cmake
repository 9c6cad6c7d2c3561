# SPDX-License-Identifier: Apache-2.0
# Line telemetry end to end (tele_outage.sh): two writ-station runs, writ-factory,
# writ-hsmd, writ-devsim and a writ-cloud (SQLite) cut off during the run; totals in the
# cloud equal the stations' summaries, tenancy of GET /v1/telemetry, garbage refused by
# both new POST endpoints. Label "bundle" (issue 9).
writ_shell_test(tele_outage
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/tele_outage.sh
  LABELS bundle
  TIMEOUT 300)
