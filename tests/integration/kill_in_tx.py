#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""SIGKILL writ-cloud while it is inside the transaction of one HTTP request, with no
help from the cloud (no test code in it): the store shows when the transaction is open.

    kill_in_tx.py PID sqlite DB_FILE   PROXY_LOG PATH [TIMEOUT_S]
    kill_in_tx.py PID postgresql URL   PROXY_LOG PATH [TIMEOUT_S]

While cut_proxy.py's PROXY_LOG shows a request to PATH (e.g. /v1/sync/records) sent and
not answered yet (nor its connection closed), watches the store:

  sqlite      the WAL write lock (byte 120 of DB_FILE-shm, fcntl F_GETLK: looked at,
              never taken), which writ-cloud holds from BEGIN IMMEDIATE to COMMIT;
  postgresql  pg_stat_activity (one psql session): a backend with a transaction id (it
              wrote) whose current statement is one of WRITES (those of the records
              ingest: PATH is /v1/sync/records for now).

When seen, the cloud is stopped (SIGSTOP, every thread) and the sign is checked again
while nothing moves: the request still unanswered, the transaction still open and not
committing (SQLite: no commit frame past the last committed one in DB_FILE-wal;
PostgreSQL: the statement is still one of WRITES, not COMMIT). Only then SIGKILL: the
transaction is rolled back (SQLite: on the next open; PostgreSQL: when its backend
finds the connection gone). Otherwise the cloud runs on (SIGCONT) and the watch goes on (also over
a request sent again on another connection) until one is answered 2xx (exit 1: missed)
or TIMEOUT_S (default 60) passes (exit 2).
Prints one line: what it saw; exit 0 after the kill.
"""
import fcntl
import os
import signal
import struct
import subprocess
import sys
import time

PID, ENGINE, DB, PLOG, PATH = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
TIMEOUT = float(sys.argv[6]) if len(sys.argv) > 6 else 60.0
# the statements of the records ingest (cloud/sync.c, tx_records); COMMIT is not one
WRITES = ("INSERT INTO frecords", "UPDATE devices SET record_seq", "UPDATE factories SET rec_next")
WAL_WRITE_LOCK = 120  # SQLite: WALINDEX_LOCK_OFFSET + 0 in the -shm file
deadline = time.monotonic() + TIMEOUT


def pushes():
    """[(connection, state)] of the requests to PATH in PROXY_LOG, in order; state is
    "open" (sent, not answered), "answered STATUS" or "closed"."""
    reqs, last = [], {}
    try:
        with open(PLOG) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        w = line.split()
        if len(w) < 2:
            continue
        if w[0] == "request" and len(w) >= 4:
            last[w[1]] = None
            if w[3] == PATH:
                last[w[1]] = [w[1], "open"]
                reqs.append(last[w[1]])
        elif w[0] == "answer" and last.get(w[1]) and last[w[1]][1] == "open":
            last[w[1]][1] = "answered " + (w[3] if len(w) > 3 else "?")
        elif w[0] in ("closed", "cut-down", "cut-up") and last.get(w[1]) and last[w[1]][1] == "open":
            last[w[1]][1] = "closed"
    return reqs


def in_flight():
    """The connection of the latest request to PATH sent and not answered yet (an earlier
    one may be from a client that died, its connection not seen closed yet), or None."""
    for conn, st in reversed(pushes()):
        if st == "open":
            return conn
    return None


def answered_ok():
    return any(st.startswith("answered 2") for _, st in pushes())


def stop_all():
    """SIGSTOP, then wait until every thread is stopped."""
    os.kill(PID, signal.SIGSTOP)
    for _ in range(2000):
        states = []
        for tid in os.listdir(f"/proc/{PID}/task"):
            try:
                with open(f"/proc/{PID}/task/{tid}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(s in "Tt" for s in states):
            return
        time.sleep(0.0002)
    raise SystemExit("kill_in_tx: the cloud did not stop")


class Sqlite:
    def __init__(self):
        self.shm = None

    def locked(self):
        if self.shm is None:
            try:
                self.shm = os.open(DB + "-shm", os.O_RDONLY)
            except OSError:
                return False
        # struct flock: l_type, l_whence, l_start, l_len, l_pid
        q = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, WAL_WRITE_LOCK, 1, 0)
        r = fcntl.fcntl(self.shm, fcntl.F_GETLK, q)
        return struct.unpack("hhqqi4x", r)[0] != fcntl.F_UNLCK

    def committing(self):
        """A commit frame in the WAL past the wal-index's last committed frame: the
        commit is written (a kill now may leave it durable)."""
        with open(DB + "-shm", "rb") as f:
            hdr = f.read(48)
        mx = struct.unpack_from("=I", hdr, 16)[0]
        with open(DB + "-wal", "rb") as f:
            wal = f.read()
        if len(wal) < 32:
            return False
        pgsz = struct.unpack_from(">I", wal, 8)[0]
        pgsz = 65536 if pgsz == 1 else pgsz
        salt = wal[16:24]
        off = 32 + mx * (24 + pgsz)
        while off + 24 <= len(wal):
            commit = struct.unpack_from(">I", wal, off + 4)[0]
            if wal[off + 8:off + 16] != salt:
                break
            if commit:
                return True
            off += 24 + pgsz
        return False

    def inside(self):
        return self.locked() and not self.committing()

    def describe(self):
        return "it holds the SQLite write lock and no commit frame is in the WAL"


class Postgres:
    def __init__(self):
        self.p = subprocess.Popen(["psql", DB, "-qAtX", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        self.query = None

    def ask(self):
        cond = " OR ".join(f"query LIKE '{w}%'" for w in WRITES)
        self.p.stdin.write("SELECT coalesce(max(substr(query, 1, 40)), '') FROM pg_stat_activity WHERE "
                           f"pid <> pg_backend_pid() AND backend_xid IS NOT NULL AND ({cond});\n")
        self.p.stdin.flush()
        self.query = self.p.stdout.readline().strip()
        return self.query

    def locked(self):
        return bool(self.ask())

    def inside(self):
        return bool(self.ask())

    def describe(self):
        return f"its PostgreSQL transaction has written and runs \"{self.query}…\""


def main():
    store = Sqlite() if ENGINE == "sqlite" else Postgres()
    looks = 0
    while time.monotonic() < deadline:
        conn = in_flight()
        if conn is None or not store.locked():
            if conn is None and answered_ok():
                print(f"kill_in_tx: missed: a request to {PATH} was answered ({looks} looks inside)")
                return 1
            time.sleep(0.0002)
            continue
        looks += 1
        stop_all()
        if in_flight() == conn and store.inside():
            os.kill(PID, signal.SIGKILL)
            print(f"kill_in_tx: writ-cloud {PID} killed (SIGKILL) while stopped inside the transaction of "
                  f"the request to {PATH} (connection {conn}, not answered): {store.describe()}")
            return 0
        os.kill(PID, signal.SIGCONT)
    print(f"kill_in_tx: timeout ({TIMEOUT:.0f} s, {looks} looks inside)")
    return 2


if __name__ == "__main__":
    sys.exit(main())
