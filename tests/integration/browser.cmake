# SPDX-License-Identifier: Apache-2.0
# The dashboard in a real browser (tests/browser/dashboard.sh): headless Debian chromium
# driven by playwright-core (scripts/browser-deps.sh installs it; make check runs that
# first), against real writ-cloud, writ-factory, writ-hsmd and a writ-station line of
# writ-devsim chips. `ctest -L browser` runs it alone. Not in the ASan tier (nosan): what
# it adds over cloud_flow is the page's JavaScript, which the sanitizers do not see.
add_test(NAME dashboard_browser COMMAND bash ${CMAKE_SOURCE_DIR}/tests/browser/dashboard.sh)
set_tests_properties(dashboard_browser PROPERTIES LABELS "browser;nosan" TIMEOUT 180
  ENVIRONMENT "WRIT_SRC=${CMAKE_SOURCE_DIR};WRIT_BIN=${CMAKE_BINARY_DIR}/bin;WRIT_P11_MODULE=${WRIT_SOFTHSM_MODULE}")
