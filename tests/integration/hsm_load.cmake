# SPDX-License-Identifier: Apache-2.0
# hsm_load: a multi-threaded load client of writ-hsmd's socket API (fresh device keys
# and CSRs, unique UIDs, reconnect after a daemon kill, an fsync'd log of every DAC
# received). Used by the crash test (hsm_crash.sh) and by bench/bench_hsm.sh.
add_executable(hsm_load ${CMAKE_SOURCE_DIR}/tests/integration/hsm_load.c)
target_link_libraries(hsm_load PRIVATE writ_wire writ_crypto writ_host Threads::Threads)
set_target_properties(hsm_load PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
