#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy on loopback that a test controls, to cut a network link on purpose.

    cut_proxy.py LISTEN_PORT TARGET_PORT CONTROL_FILE LOG_FILE

Forwards 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. CONTROL_FILE holds one line,
read again for every chunk and every new connection (a change applies at once, also to
open connections):

    pass              forward everything
    refuse            close every connection (new ones at once): the far end is unreachable
    cut-down N [K]    close a connection once more than N bytes went target -> client on it
                      (the answer is cut in the middle); at most K connections (default 1),
                      then forward as with pass
    cut-up N [K]      the same for client -> target (a request body cut in the middle)
    slow BPS          forward client -> target at about BPS bytes per second

A cut closes both sides with a TCP reset (SO_LINGER 0). LOG_FILE gets one line per
event, flushed at once: "conn N", "cut-down N BYTES", "cut-up N BYTES", "refused N",
"request N METHOD PATH" (the request line of each HTTP request seen client -> target).
Stops on SIGTERM.
"""
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

LISTEN, TARGET, CTL, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
state = {"line": None, "cuts": 0, "conns": 0}
log_f = open(LOG, "a", buffering=1)
REQ = re.compile(rb"(GET|POST|PUT|DELETE|HEAD) (/[^ \r\n]*) HTTP/1\.[01]\r\n")


def log(msg):
    with lock:
        log_f.write(msg + "\n")


def mode():
    """The control line split in words; resets the cut count when the line changed."""
    try:
        line = open(CTL).read().strip()
    except OSError:
        line = "pass"
    with lock:
        if line != state["line"]:
            state["line"] = line
            state["cuts"] = 0
    return line.split() or ["pass"]


def take_cut(limit):
    with lock:
        if state["cuts"] >= limit:
            return False
        state["cuts"] += 1
        return True


def reset(*socks):
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass


def handle(client, n):
    try:
        up = socket.create_connection(("127.0.0.1", TARGET), timeout=5)
    except OSError:
        reset(client)
        log(f"noconnect {n}")
        return
    up.settimeout(None)
    sent = {"down": 0, "up": 0}
    armed = {"down": True, "up": True}  # this connection may still be cut
    last_req = b""
    socks = [client, up]
    try:
        while True:
            m = mode()
            if m[0] == "refuse":
                log(f"refused {n}")
                break
            r, _, _ = select.select(socks, [], [], 0.1)
            done = False
            for s in r:
                data = s.recv(65536)
                if not data:
                    done = True
                    break
                direction = "up" if s is client else "down"
                other = up if s is client else client
                if direction == "up":
                    last_req += data
                    pos = 0
                    for mt in REQ.finditer(last_req):
                        log(f"request {n} {mt.group(1).decode()} {mt.group(2).decode()}")
                        pos = mt.end()
                    last_req = last_req[pos:][-300:]  # a request line may straddle two chunks
                m = mode()
                if m[0] == f"cut-{direction}" and armed[direction]:
                    limit_bytes = int(m[1])
                    if sent[direction] + len(data) > limit_bytes:
                        if take_cut(int(m[2]) if len(m) > 2 else 1):
                            keep = max(0, limit_bytes - sent[direction])
                            if keep:
                                other.sendall(data[:keep])
                            log(f"cut-{direction} {n} {sent[direction] + keep}")
                            done = True
                            break
                        armed[direction] = False
                if direction == "up" and m[0] == "slow":
                    bps = max(1, int(m[1]))
                    for i in range(0, len(data), 4096):
                        other.sendall(data[i:i + 4096])
                        time.sleep(min(len(data) - i, 4096) / bps)
                else:
                    other.sendall(data)
                sent[direction] += len(data)
            if done:
                break
    except OSError:
        pass
    reset(client, up)


def main():
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", LISTEN))
    srv.listen(64)
    log("listening")
    while True:
        c, _ = srv.accept()
        with lock:
            state["conns"] += 1
            n = state["conns"]
        if mode()[0] == "refuse":
            reset(c)
            log(f"refused {n}")
            continue
        log(f"conn {n}")
        threading.Thread(target=handle, args=(c, n), daemon=True).start()


if __name__ == "__main__":
    main()
