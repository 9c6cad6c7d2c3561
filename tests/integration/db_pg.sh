#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lib/db against PostgreSQL: start a private server (tests/pg_lib.sh), run the
# PostgreSQL half of test_db against it, stop it. The test program restarts the server
# itself in the middle of its pool test (through $WRIT_PG_RESTART). Usage:
#   db_pg.sh path/to/test_db
set -euo pipefail
: "${WRIT_SRC:?WRIT_SRC must point at the source tree}"
test_db=${1:?usage: db_pg.sh path/to/test_db}

# shellcheck source=tests/pg_lib.sh
source "$WRIT_SRC/tests/pg_lib.sh"
trap pg_stop EXIT
pg_start
"$test_db" pg
