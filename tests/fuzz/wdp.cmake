# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness for the device protocol codec (lib/base/wdp.c): the stream receiver
# fed at fuzz-chosen split points, frame re-encoding, and the strict TLV parser against
# the driver's and the chip's specs. Seeds (seeds/wdp): one header byte k, k chunk sizes,
# then valid frames (DISCOVER request and answer, STATUS, GENERATE_KEYS, a refusal with
# DETAIL, FW_CHUNK, INTEGRITY seq 0) and a mixed stream with garbage, a bad CRC and an
# oversized header; made with Python's struct + zlib.crc32.
writ_fuzz(fuzz_wdp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_wdp.c
  LIBS writ_base
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/wdp)
