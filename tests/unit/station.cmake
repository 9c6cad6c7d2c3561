# SPDX-License-Identifier: Apache-2.0
# writ-station's factory client against a peer that answers badly (loopback HTTP).
writ_test(test_station_client
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_station_client.c
  LIBS writ_station_client Threads::Threads
  LABELS line)
