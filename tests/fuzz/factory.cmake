# SPDX-License-Identifier: Apache-2.0
# libFuzzer harnesses of writ-factory: the bundle codec, the JSON request validators and
# the line telemetry bucket parser.
writ_fuzz(fuzz_bundle SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_bundle.c LIBS writ_wire
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/bundle)
writ_fuzz(fuzz_factory_json SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_factory_json.c LIBS writ_factory
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/factory_json)
writ_fuzz(fuzz_tele SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_tele.c LIBS writ_web
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/tele)
