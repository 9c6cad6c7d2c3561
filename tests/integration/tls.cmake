# SPDX-License-Identifier: Apache-2.0
# TLS on every network hop (issue 8): writ-cloud, writ-factory, writ-station with keys in
# SoftHSM tokens, refusals of bad client certificates, rotation under load.
writ_shell_test(tls_hops SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/tls_hops.sh LABELS "hardening" TIMEOUT 300)
# tls_renew: the factory's client certificate renewed (writ-factory tls-renew) while it
# syncs and a client makes requests; the old certificate retired at the new one's first
# use; every refusal of POST /v1/factory/tls/renew stores nothing; the timer and service.
writ_shell_test(tls_renew SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/tls_renew.sh LABELS "hardening;tls" TIMEOUT 300)
