#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A minimal host for writ-devsim's tests, written from docs/device-protocol.md with the
# standard library only: frames (zlib CRC-32), DISCOVER / STATUS, over unix:, tcp: or a
# pty path. Prints one line per exchange: "<COMMAND> <status-name> key=value ...".
import os
import socket
import struct
import sys
import termios
import tty
import zlib

STATUS = ["OK", "FRAME", "INTEGRITY", "TOO_BIG", "UNKNOWN_COMMAND", "MALFORMED", "SEQUENCE",
          "STATE", "LOCKED", "VERIFY", "MISMATCH", "RNG", "STORAGE", "CRYPTO", "OTP", "DECRYPT",
          "ROLLBACK"]
CMDS = {"DISCOVER": 0x0001, "STATUS": 0x0002, "GENERATE_KEYS": 0x0010, "LOCK": 0x0060}


def frame(code, seq, payload=b""):
    hdr = b"WD" + struct.pack(">HII", code, seq, len(payload)) + payload
    return hdr + struct.pack(">I", zlib.crc32(hdr) & 0xFFFFFFFF)


class Link:
    def __init__(self, addr):
        if addr.startswith("unix:"):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.connect(addr[5:])
        elif addr.startswith("tcp:"):
            host, port = addr[4:].rsplit(":", 1)
            self.s = socket.create_connection((host, int(port)))
        else:
            path = addr[4:] if addr.startswith("pty:") else addr
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self.fd)
            self.s = None
        if self.s:
            self.s.settimeout(10)

    def send(self, b):
        if self.s:
            self.s.sendall(b)
        else:
            os.write(self.fd, b)

    def recv(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out)) if self.s else os.read(self.fd, n - len(out))
            if not chunk:
                raise EOFError("link closed")
            out += chunk
        return out

    def exchange(self, code, seq, payload=b""):
        self.send(frame(code, seq, payload))
        hdr = self.recv(12)
        assert hdr[:2] == b"WD", hdr
        status, rseq, n = struct.unpack(">HII", hdr[2:])
        body = self.recv(n + 4)
        crc_ok = struct.unpack(">I", body[n:])[0] == zlib.crc32(hdr + body[:n]) & 0xFFFFFFFF
        tlvs, off = {}, 0
        while off + 4 <= n:
            t, l = struct.unpack(">HH", body[off:off + 4])
            tlvs[t] = body[off + 4:off + 4 + l]
            off += 4 + l
        return status, rseq, tlvs, crc_ok


def describe(name, status, tlvs):
    parts = [name, STATUS[status] if status < len(STATUS) else str(status)]
    if 0x0002 in tlvs:
        parts.append("uid=" + tlvs[0x0002].hex().upper())
    if 0x0004 in tlvs:
        parts.append("lifecycle=%d" % tlvs[0x0004][0])
    if 0x0006 in tlvs:
        parts.append("state=0x%02x" % struct.unpack(">I", tlvs[0x0006])[0])
    if 0x0003 in tlvs:
        parts.append("family=" + tlvs[0x0003].decode())
    if 0x00F0 in tlvs:
        parts.append("detail=" + tlvs[0x00F0].decode().replace(" ", "_"))
    return " ".join(parts)


def main():
    addr, script = sys.argv[1], sys.argv[2:]
    link = Link(addr)
    seq = 100
    for step in script or ["DISCOVER", "STATUS"]:
        if step == "BADCRC":
            f = bytearray(frame(CMDS["STATUS"], seq + 1))
            f[-1] ^= 1
            link.send(bytes(f))
            hdr = link.recv(12)
            status, rseq, n = struct.unpack(">HII", hdr[2:])
            link.recv(n + 4)
            print("BADCRC %s seq=%d" % (STATUS[status], rseq))
            continue
        code = CMDS[step]
        if step != "DISCOVER":
            seq += 1
        try:
            status, rseq, tlvs, crc_ok = link.exchange(code, seq)
        except (EOFError, ConnectionError, OSError) as e:
            print("%s closed" % step)
            return 0
        print(describe(step, status, tlvs) + ("" if crc_ok else " badcrc"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
