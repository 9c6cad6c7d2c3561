#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy on loopback that a test controls, to cut a network link on purpose.

    cut_proxy.py LISTEN_PORT TARGET_PORT CONTROL_FILE LOG_FILE

Forwards 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. CONTROL_FILE holds one line,
read again for every chunk and every new connection (a change applies at once, also to
open connections):

    pass                    forward everything
    refuse                  close every connection (new ones at once): the far end is
                            unreachable
    cut-down N [K [PATH]]   close a connection once more than N bytes went target ->
                            client on it (the answer is cut in the middle); at most K
                            connections (default 1), then forward as with pass.
                            With PATH, only the answer to an HTTP request to PATH (or
                            under it, if PATH ends with /) is cut, N counted from its
                            first byte:
                            `cut-down 0 1 /v1/sync/records` loses the whole answer to a
                            request the target has handled (it answers only when done)
    cut-up N [K [PATH]]     the same for client -> target (a request cut in the
                            middle); with PATH, N counts the body bytes of a request to
                            PATH, so any N below its Content-Length cuts the body
    slow BPS                forward client -> target at about BPS bytes per second, in
                            pieces of about BPS / 20 bytes (a small request is slow too)

The requests are read as HTTP/1.1 with a Content-Length (no pipelining is assumed, and
none is needed: a client sends its next request once the answer came). A cut closes both
sides with a TCP reset (SO_LINGER 0). LOG_FILE gets one line per event, flushed at once:
"conn N", "refused N", "request N METHOD PATH" (each request's head, as it went up),
"answer N STATUS" (the status line of each answer, as it came down), "closed N", and for a cut
"cut-down N BYTES" / "cut-up N BYTES" (bytes forwarded in that direction on the
connection), followed with PATH by "METHOD PATH body SENT/LENGTH". A request whose answer
a cut-down with PATH lost has its body saved to LOG_FILE.body-N (N the connection), so a
test can send exactly that request again. Stops on SIGTERM.
"""
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

LISTEN, TARGET, CTL, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
HEAD_MAX = 65536          # a request head longer than this is not parsed (forwarded as is)
SAVE_MAX = 16 << 20       # the body kept for LOG_FILE.body-N
lock = threading.Lock()
state = {"line": None, "cuts": 0, "conns": 0}
log_f = open(LOG, "a", buffering=1)


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


def matches(path, want):
    """A request's path is PATH of a cut: the same, or under it when PATH ends with /."""
    return path == want or (want.endswith("/") and path.startswith(want))


class Request:
    def __init__(self, method, path, length):
        self.method, self.path, self.length = method, path, length
        self.sent = 0        # body bytes forwarded
        self.body = None     # kept when a cut-down with PATH may need it
        self.answered = 0    # answer bytes forwarded

    def describe(self):
        return f"{self.method} {self.path} body {self.sent}/{self.length}"


class Upstream:
    """Splits what the client sends into request heads and bodies."""

    def __init__(self):
        self.head = b""
        self.left = 0        # body bytes of self.req still to come
        self.req = None      # the last request whose head was read
        self.opaque = False  # not HTTP as this proxy reads it: forward only

    def feed(self, data):
        """[(kind, bytes)]: kind "head" (bytes of a head), "start" (a head just ended:
        self.req is the new request) or "body" (bytes of self.req's body)."""
        parts = []
        while data and not self.opaque:
            if self.left:
                k = min(self.left, len(data))
                parts.append(("body", data[:k]))
                self.left -= k
                data = data[k:]
                continue
            before = len(self.head)
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                parts.append(("head", data))
                data = b""
                if len(self.head) > HEAD_MAX:
                    self.opaque = True
                break
            used = end + 4 - before
            parts.append(("head", data[:used]))
            data = data[used:]
            lines = self.head[:end].split(b"\r\n")
            self.head = b""
            words = lines[0].split(b" ")
            length = 0
            for h in lines[1:]:
                name, _, value = h.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or b"0")
                elif name.strip().lower() == b"transfer-encoding":
                    self.opaque = True
            if len(words) != 3:
                self.opaque = True
                break
            self.req = Request(words[0].decode(errors="replace"), words[1].decode(errors="replace"), length)
            self.left = length
            parts.append(("start", b""))
        if data:
            parts.append(("head", data))
        return parts


def handle(client, n):
    try:
        up = socket.create_connection(("127.0.0.1", TARGET), timeout=5)
    except OSError:
        reset(client)
        log(f"noconnect {n}")
        return
    up.settimeout(None)
    sent = {"down": 0, "up": 0}
    armed = {"down": True, "up": True}  # this connection may still be cut (no PATH)
    parser = Upstream()
    socks = [client, up]

    def cut(direction, keep, other, data, why=""):
        if keep:
            other.sendall(data[:keep])
        sent[direction] += keep
        log(f"cut-{direction} {n} {sent[direction]}{why}")

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
                m = mode()
                path = m[3] if m[0] in ("cut-up", "cut-down") and len(m) > 3 else None
                limit_bytes = int(m[1]) if m[0] in ("cut-up", "cut-down") else 0
                limit_conns = int(m[2]) if m[0] in ("cut-up", "cut-down") and len(m) > 2 else 1
                if direction == "up":
                    parts = parser.feed(data)
                else:
                    parts = [("answer", data)]
                for kind, chunk in parts:
                    req = parser.req
                    if kind == "start":
                        log(f"request {n} {req.method} {req.path}")
                        if path and m[0] == "cut-down" and matches(req.path, path) and req.length <= SAVE_MAX:
                            req.body = bytearray()
                        continue
                    if kind == "answer" and req and not req.answered:
                        line = chunk.split(b"\r\n", 1)[0].decode(errors="replace")
                        log(f"answer {n} {line}")
                    # a cut with PATH: this request's body, or its answer
                    if path and m[0] == f"cut-{direction}" and req and matches(req.path, path) and \
                            kind in ("body", "answer"):
                        done_bytes = req.sent if kind == "body" else req.answered
                        if done_bytes + len(chunk) > limit_bytes and take_cut(limit_conns):
                            keep = limit_bytes - done_bytes
                            if kind == "body":
                                req.sent += keep
                            why = f" {req.describe()}"
                            if kind == "answer" and req.body is not None:
                                name = f"{LOG}.body-{n}"
                                with open(name, "wb") as f:
                                    f.write(req.body)
                                why += f" saved {name}"
                            cut(direction, keep, other, chunk, why)
                            done = True
                            break
                    # a cut without PATH: bytes on this connection
                    if not path and m[0] == f"cut-{direction}" and armed[direction]:
                        if sent[direction] + len(chunk) > limit_bytes:
                            if take_cut(limit_conns):
                                cut(direction, max(0, limit_bytes - sent[direction]), other, chunk)
                                done = True
                                break
                            armed[direction] = False
                    if direction == "up" and m[0] == "slow":
                        bps = max(1, int(m[1]))
                        piece = min(4096, max(64, bps // 20))  # ~20 sends a second: a small body is slow too
                        for i in range(0, len(chunk), piece):
                            other.sendall(chunk[i:i + piece])
                            time.sleep(min(len(chunk) - i, piece) / bps)
                    else:
                        other.sendall(chunk)
                    sent[direction] += len(chunk)
                    if kind == "body":
                        req.sent += len(chunk)
                        if req.body is not None:
                            req.body += chunk
                    elif kind == "answer" and req:
                        req.answered += len(chunk)
                if done:
                    break
            if done:
                break
    except OSError:
        pass
    reset(client, up)
    log(f"closed {n}")


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
