# SPDX-License-Identifier: Apache-2.0
# Issue 8, least privilege and secrets hygiene (label hardening; `ctest -L hardening`).
# harden_hsmd: the real writ-hsmd as a dedicated user under its seccomp allow-list.
writ_shell_test(harden_hsmd
  SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/harden_hsmd.sh
  LABELS hardening hsm
  TIMEOUT 180)
