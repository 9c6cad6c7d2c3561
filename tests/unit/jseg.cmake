# SPDX-License-Identifier: Apache-2.0
# Unit tests of the journal entry codec (lib/wire/jentry.c) and of verifying runs of
# journal entries away from the HSM (lib/wire/jseg.c), as the cloud does.
writ_test(test_jseg SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_jseg.c LIBS writ_wire LABELS cloud hsm)
