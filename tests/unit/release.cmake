# SPDX-License-Identifier: Apache-2.0
# Unit tests of lib/wire/release.c (release manifests, semver, the take-or-refuse rule).
writ_test(test_release SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_release.c LIBS writ_wire LABELS bundle)
