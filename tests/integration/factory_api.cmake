# SPDX-License-Identifier: Apache-2.0
# writ-factory end to end over loopback HTTP with a real writ-hsmd (curl, /usr/bin/python3).
writ_shell_test(factory_api SCRIPT ${CMAKE_SOURCE_DIR}/tests/integration/factory_api.sh LABELS line TIMEOUT 300)
