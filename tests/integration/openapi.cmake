# SPDX-License-Identifier: Apache-2.0
# docs/openapi.yaml: parses, is OpenAPI 3.0.x, every $ref resolves, every operation has
# its error answers and a security decision, and it matches the tables of
# docs/cloud-api.md and the routes and error codes of cloud/*.c; then deliberate breaks
# are checked to be caught. Debian's python3-yaml, hence /usr/bin/python3.
add_test(NAME openapi_lint
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/integration/openapi_lint.py
                 --yaml ${CMAKE_SOURCE_DIR}/docs/openapi.yaml
                 --doc ${CMAKE_SOURCE_DIR}/docs/cloud-api.md
                 --cloud ${CMAKE_SOURCE_DIR}/cloud)
set_tests_properties(openapi_lint PROPERTIES LABELS "cloud;lint" TIMEOUT 120)
