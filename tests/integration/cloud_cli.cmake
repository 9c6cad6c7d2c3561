# SPDX-License-Identifier: Apache-2.0
# The writ CLI's writ-cloud commands: usage errors and an unreachable service without a
# server (cloud_cli_args), then every command against the real writ-cloud (cloud_cli).
writ_shell_test(cloud_cli_args SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/cloud_cli_args.sh LABELS cloud TIMEOUT 300)
# Every command against a real writ-cloud on SQLite (and a real writ-hsmd for enrolment).
writ_shell_test(cloud_cli SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/cloud_cli.sh LABELS cloud TIMEOUT 600)
