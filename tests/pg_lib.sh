# SPDX-License-Identifier: Apache-2.0
# A private, throw-away PostgreSQL server for one test; sourced, not run.
#
#   source "$WRIT_SRC/tests/pg_lib.sh"
#   trap pg_stop EXIT            # or call pg_stop from your own EXIT trap
#   pg_start                     # exports WRIT_PG_URL and WRIT_PG_RESTART
#   ... clients connect with $WRIT_PG_URL ...
#   pg_restart                   # fast restart (all sessions are cut), waits until up
#   pg_stop                      # fast shutdown, removes everything; safe to repeat
#
# Each server lives in its own fresh directory /tmp/writ-pg-XXXXXX (data directory,
# unix socket, log) and listens on that socket only (listen_addresses = ''), so tests
# may run in parallel: the port only names the socket file. Authentication is "trust"
# (nothing but the owner can reach the socket directory) and fsync is off: this server's
# data does not outlive the test.
#
# PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the `postgres`
# system user (Debian's postgresql package creates it) and the directory is chowned to
# it; otherwise they run as the current user. The binaries are found through
# $WRIT_PG_BINDIR, then initdb on PATH, then /usr/lib/postgresql/<highest>/bin.
# WRIT_PG_RESTART is a shell command doing pg_restart's work, for a test program that
# restarts the server in the middle of its run.

PG_DIR=
PG_BINDIR=
PG_RUN=()

_pg_bindir()
{
	local d
	if [[ -n ${WRIT_PG_BINDIR:-} ]]; then
		echo "$WRIT_PG_BINDIR"
		return 0
	fi
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return 0
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5n -r); do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			echo "$d"
			return 0
		fi
	done
	echo "pg_lib: no PostgreSQL server binaries (initdb, pg_ctl); install postgresql" >&2
	return 1
}

# Run a server binary as the user that may own the cluster, from a directory it can read.
_pg_as_owner()
{
	(cd "$PG_DIR" && "${PG_RUN[@]}" "$@")
}

_pg_ctl()
{
	_pg_as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" "$@"
}

_pg_fail()
{
	echo "pg_lib: $*" >&2
	if [[ -n $PG_DIR && -f $PG_DIR/server.log ]]; then
		echo "pg_lib: last lines of $PG_DIR/server.log:" >&2
		tail -n 20 "$PG_DIR/server.log" >&2
	fi
	return 1
}

pg_start()
{
	local port=5432
	if [[ -n $PG_DIR ]]; then
		echo "pg_lib: a server is already running in $PG_DIR" >&2
		return 1
	fi
	PG_BINDIR=$(_pg_bindir) || return 1
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || _pg_fail "running as root, but there is no 'postgres' user" || return 1
		PG_RUN=(runuser -u postgres --)
	else
		PG_RUN=()
	fi
	# /tmp, not $TMPDIR: a unix socket path must stay under ~100 bytes, and as root
	# $TMPDIR may be a directory the postgres user cannot enter
	PG_DIR=$(mktemp -d /tmp/writ-pg-XXXXXX) || return 1
	if [[ $(id -u) -eq 0 ]]; then
		chown postgres: "$PG_DIR" || _pg_fail "cannot chown $PG_DIR" || return 1
	fi
	chmod 700 "$PG_DIR"
	_pg_as_owner "$PG_BINDIR/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync >"$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; _pg_fail "initdb failed"; return 1; }
	cat >>"$PG_DIR/data/postgresql.conf" <<-EOF
		# writ test fixture (tests/pg_lib.sh)
		listen_addresses = ''
		unix_socket_directories = '$PG_DIR'
		port = $port
		fsync = off
		full_page_writes = off
		shared_buffers = 32MB
		max_connections = 60
		logging_collector = off
	EOF
	_pg_ctl -w -t 60 start >/dev/null || { _pg_fail "the server did not start"; return 1; }
	export WRIT_PG_URL="postgresql:///postgres?host=$PG_DIR&port=$port&user=postgres"
	WRIT_PG_RESTART="cd $(printf '%q' "$PG_DIR") && $(printf '%q ' "${PG_RUN[@]}" "$PG_BINDIR/pg_ctl" \
		-D "$PG_DIR/data" -l "$PG_DIR/server.log" -m fast -w -t 60 restart) >/dev/null"
	export WRIT_PG_RESTART
}

pg_restart()
{
	[[ -n $PG_DIR ]] || { echo "pg_lib: no server to restart" >&2; return 1; }
	_pg_ctl -m fast -w -t 60 restart >/dev/null || { _pg_fail "the server did not restart"; return 1; }
}

# Stop the server (fast: sessions are cut) and remove its directory. Never fails, so it
# can run from an EXIT trap under set -e; does nothing when no server was started.
pg_stop()
{
	local pid
	[[ -n $PG_DIR ]] || return 0
	if [[ -f $PG_DIR/data/postmaster.pid ]]; then
		if ! _pg_ctl -m fast -w -t 30 stop >/dev/null 2>&1; then
			pid=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || true)
			[[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [[ ${KEEP_WORKDIR:-0} == 1 ]]; then
		echo "pg_lib: kept $PG_DIR" >&2
	else
		# a second try in case a late file of the server's shutdown raced the first
		rm -rf "$PG_DIR" 2>/dev/null || { sleep 0.5; rm -rf "$PG_DIR"; } || true
	fi
	PG_DIR=
	unset WRIT_PG_URL WRIT_PG_RESTART
	return 0
}
