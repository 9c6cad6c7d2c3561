# SPDX-License-Identifier: Apache-2.0
# Issue 8, least privilege and secrets hygiene (label hardening; `ctest -L hardening`).
# harden_hsmd: the real writ-hsmd as a dedicated user under its seccomp allow-list.
writ_shell_test(harden_hsmd
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/harden_hsmd.sh
  LABELS hardening hsm
  TIMEOUT 180)
# harden_units: dist/systemd units verified and scored by systemd-analyze, users by sysusers.
writ_shell_test(harden_units
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/harden_units.sh
  LABELS hardening
  TIMEOUT 120)
# harden_secrets: secrets-lint.py over the source, then a line with known PINs, tokens
# and an OTA secret; every log, output, store and argv searched for them.
writ_shell_test(harden_secrets
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/harden_secrets.sh
  LABELS hardening
  TIMEOUT 300)
# harden_rollback: snapshot, provision, restore: refused with the TPM NV counter (swtpm),
# units given back with the `none` fallback (the cloud's fork alert: factory_sync part D).
writ_shell_test(harden_rollback
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/harden_rollback.sh
  LABELS hardening hsm
  TIMEOUT 300)
# harden_clock: the clock bound to the TPM's (TPM2_ReadClock, swtpm): forward beyond the
# tolerance refused at start, within it served, re-anchored after a TPM reset.
writ_shell_test(harden_clock
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/harden_clock.sh
  LABELS hardening hsm
  TIMEOUT 180)
