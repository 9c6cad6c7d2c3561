# SPDX-License-Identifier: Apache-2.0
# libFuzzer harnesses of writ-factory: the bundle codec, the JSON request validators and
# the line telemetry bucket parser, and writ-station's telemetry spool and self-update
# hand-over readers.
writ_fuzz(fuzz_bundle SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_bundle.c LIBS writ_wire
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/bundle)
writ_fuzz(fuzz_factory_json SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_factory_json.c LIBS writ_factory
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/factory_json)
writ_fuzz(fuzz_tele SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_tele.c LIBS writ_web
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/tele)
# writ-station's telemetry spool reader (station/telemetry.c), fed whole spool files.
# (station/telemetry.c is compiled in: the rest of writ_station_client is not needed)
writ_fuzz(fuzz_tele_spool SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_tele_spool.c ${CMAKE_SOURCE_DIR}/station/telemetry.c
          LIBS writ_web writ_host
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/tele_spool)
if(TARGET fuzz_tele_spool)
  target_include_directories(fuzz_tele_spool PRIVATE ${CMAKE_SOURCE_DIR})
endif()
# writ-station's self-update hand-over reader (station/selfupdate.c), fed whole texts.
writ_fuzz(fuzz_station_carry SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_station_carry.c
          ${CMAKE_SOURCE_DIR}/station/selfupdate.c LIBS writ_host
          SEEDS ${CMAKE_SOURCE_DIR}/tests/fuzz/seeds/station_carry)
if(TARGET fuzz_station_carry)
  target_include_directories(fuzz_station_carry PRIVATE ${CMAKE_SOURCE_DIR})
endif()
