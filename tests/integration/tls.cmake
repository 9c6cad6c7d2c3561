# SPDX-License-Identifier: Apache-2.0
# TLS on every network hop (issue 8): writ-cloud, writ-factory, writ-station with keys in
# SoftHSM tokens, refusals of bad client certificates, rotation under load.
writ_shell_test(tls_hops SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/tls_hops.sh LABELS "hardening" TIMEOUT 300)
