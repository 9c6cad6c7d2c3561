# SPDX-License-Identifier: Apache-2.0
# lib/crypto X.509: CSR parsing and proof of possession, certificate building with an
# external signer, and the Matter PAA/PAI/DAC profile and chain checks against the SDK's
# public vectors (tests/vectors/matter-sdk-certs, found through WRIT_SRC).

writ_test(test_x509
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_x509.c
  LIBS writ_crypto
  LABELS hsm)

writ_test(test_matter_cert
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_matter_cert.c
  LIBS writ_crypto
  LABELS hsm)

# What the dashboard shows of a certificate (lib/crypto/x509_info.c): the SDK's PAI,
# and garbage of every kind.
writ_test(test_x509_info
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_x509_info.c
  LIBS writ_crypto
  LABELS "hsm;cloud")
