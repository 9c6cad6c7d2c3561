# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness for writ-hsmd's TPM key-agreement key file (hsm/tpmkex.c, --kex tpm).
writ_fuzz(fuzz_tpmkex
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_tpmkex.c
  LIBS writ_hsm
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/tpmkex)
