# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness for the release manifest (lib/wire/release.c); seeds: a manifest
# payload and a signed one (tests/fuzz/seeds/release, written by `test_release --seeds`).
writ_fuzz(fuzz_release SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_release.c LIBS writ_wire
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/release)
