# SPDX-License-Identifier: Apache-2.0
# libFuzzer harness of writ-cloud's request-body checks (jreq, value checks, rec_check).
# Seeds (seeds/cloud_req): one valid body per endpoint shape, written by hand; the first
# byte picks the endpoint.
writ_fuzz(fuzz_cloud_req SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_cloud_req.c LIBS writ_cloud
          SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds/cloud_req)
