# SPDX-License-Identifier: Apache-2.0
# libFuzzer harnesses for lib/crypto X.509: CSR parsing and the Matter certificate checks.
writ_fuzz(fuzz_csr
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_csr.c
  LIBS writ_crypto
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/csr)

writ_fuzz(fuzz_matter_cert
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_matter_cert.c
  LIBS writ_crypto
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/matter_cert)

writ_fuzz(fuzz_x509_info
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_x509_info.c
  LIBS writ_crypto
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/matter_cert)
