# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness for journal entries as the cloud receives them (lib/wire/jentry.c,
# lib/wire/jseg.c). Seeds (seeds/jseg): runs of a real writ-hsmd journal, framed
# u32be(length) || entry, exported by tests/integration/jseg_tool.c --save.
writ_fuzz(fuzz_jseg
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_jseg.c
  LIBS writ_wire
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/jseg)
