# SPDX-License-Identifier: Apache-2.0
# writ-factory <-> writ-cloud: enrolment, the sync loop through a cut/refused/slow link
# (cut_proxy.py), the cloud and the factory killed mid-push (curl, jq, sqlite3, python3).
writ_shell_test(factory_sync SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/factory_sync.sh LABELS cloud TIMEOUT 600)
