# SPDX-License-Identifier: Apache-2.0
# Unit tests of writ-factory's pure parts: the bundle codec (lib/wire/bundle.c), the
# record hash chain and the JSON request validators.
writ_test(test_factory SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_factory.c LIBS writ_factory LABELS line debug)
