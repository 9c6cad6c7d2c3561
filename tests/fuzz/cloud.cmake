# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness of writ-cloud's request parsing: every JSON body and every query the
# API takes, through the parse functions the handlers call (cloud/cloud.h, "request
# parsing"), and rec_check on the records a push carries. Seeds (seeds/cloud_req): one
# valid request per endpoint, written by hand; byte 0 picks the endpoint (enum ep in the
# harness), byte 1 the caller. Labelled cloud too (ctest -L cloud): the non-fuzz tiers
# run -LE fuzz, so it stays out of them.
writ_fuzz(fuzz_cloud_req SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_cloud_req.c LIBS writ_cloud
          SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/cloud_req)
if(WRIT_FUZZ)
  set_tests_properties(fuzz_cloud_req PROPERTIES LABELS "fuzz;cloud")
endif()
