# SPDX-License-Identifier: Apache-2.0
# Unit tests of line telemetry: the bucket and its parser (lib/web/tele.c), the
# station's windows (station/telemetry.c), writ-factory's telemetry store.
writ_test(test_tele SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_tele.c
          LIBS writ_factory writ_station_client writ_web LABELS bundle)
