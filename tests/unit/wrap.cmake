# SPDX-License-Identifier: Apache-2.0
# Unit tests of the chip-facing pieces: writ scope secrets, the op-6 request decoder,
# the secret wrap (lib/crypto/wrap.c) and firmware signatures (lib/crypto/fwsig.c).
writ_test(test_wrap_fw SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_wrap_fw.c LIBS writ_wire LABELS chip)
