#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A deliberately misbehaving client of writ-hsmd's socket API (hsm_socket.sh).

usage: hsm_socket_client.py SOCKET CASE [SEED]
       hsm_socket_client.py SOCKET pipelined|pipelined-shut WRIT-ID-HEX CSR.der [UID-HEX]

Sends what CASE says on one connection and prints, on one line, what the daemon did:
each response frame as "response STATUS REASON", then "closed" if the daemon closed
the connection or "open" if it still held it after the wait; "; " between them. With
READY=PATH in the environment it creates PATH once its bytes are sent, so a test can
act on a client that is known to be connected and mid-frame (no guessed sleep). The
framing is the API's (u32be length || CBOR map); cbor2 (Debian's python3-cbor2, hence
/usr/bin/python3) decodes the responses, requests are written by hand so they can be
wrong in exactly one way.
"""
import os
import random
import socket
import struct
import sys

import cbor2


def frame(body):
    return struct.pack(">I", len(body)) + body


# CBOR written by hand: a1 = map(1), a2 = map(2), 01 = uint 1, 18 xx = uint8 ...
STATUS = bytes.fromhex("a10103")  # {1: 3}
ISSUE_OK_SHAPE = bytes.fromhex("a4") + bytes.fromhex("0102") + b"\x03\x50" + bytes(16) \
    + b"\x04\x41\x30" + b"\x05\x41\x01"  # {1:2, 3:h'00'*16, 4:h'30', 5:h'01'}

CASES = {
    # name: (bytes to send, shut the write side afterwards, seconds to wait)
    "len-ffffffff": (b"\xff\xff\xff\xff", False, 5),
    "len-over-max": (struct.pack(">I", 128 * 1024 + 1), False, 5),
    "len-zero": (b"\x00\x00\x00\x00", False, 5),
    "truncated-eof": (struct.pack(">I", 100) + b"\xa1" * 10, True, 5),
    "truncated-hold": (struct.pack(">I", 100) + b"\xa1" * 10, False, 2),
    "truncated-hold-long": (struct.pack(">I", 100) + b"\xa1" * 10, False, 8),
    "not-cbor": (frame(b"\xff" * 16), False, 5),
    "cbor-array": (frame(cbor2.dumps([1, 3])), False, 5),
    "cbor-trailing": (frame(STATUS + b"\x00"), False, 5),
    "cbor-indefinite-map": (frame(bytes.fromhex("bf0103ff")), False, 5),
    "cbor-duplicate-key": (frame(bytes.fromhex("a201030103")), False, 5),
    "cbor-deep-nesting": (frame(bytes.fromhex("a20103") + b"\x02" + b"\x81" * 20000 + b"\x00"), False, 5),
    "unknown-op": (frame(bytes.fromhex("a1011863")), False, 5),  # {1: 99}
    "op-zero": (frame(bytes.fromhex("a10100")), False, 5),
    "op-negative": (frame(bytes.fromhex("a10122")), False, 5),  # {1: -3}
    "op-text": (frame(cbor2.dumps({1: "status"})), False, 5),
    "text-keys": (frame(cbor2.dumps({"op": 3})), False, 5),
    "extra-key": (frame(bytes.fromhex("a201030901")), False, 5),  # {1: 3, 9: 1}
    "issue-missing-keys": (frame(bytes.fromhex("a10102")), False, 5),  # {1: 2}
    "issue-short-writ-id": (frame(cbor2.dumps({1: 2, 3: bytes(15), 4: b"0", 5: b"\x01"})), False, 5),
    "issue-long-uid": (frame(cbor2.dumps({1: 2, 3: bytes(16), 4: b"0", 5: b"\x01" * 33})), False, 5),
    "issue-extra-key": (frame(cbor2.dumps({1: 2, 3: bytes(16), 4: b"0", 5: b"\x01", 6: 0})), False, 5),
    "journal-max-zero": (frame(cbor2.dumps({1: 4, 6: 0, 7: 0})), False, 5),
    "journal-max-too-big": (frame(cbor2.dumps({1: 4, 6: 0, 7: 513})), False, 5),
    "checkpoint-extra-key": (frame(bytes.fromhex("a201070901")), False, 5),  # {1: 7, 9: 1}
    # well-formed requests: the connection stays open for the next one
    "status-twice": (frame(STATUS) * 2, False, 1),
    "issue-unknown-writ": (frame(ISSUE_OK_SHAPE), False, 1),
}


def random_case(seed):
    rng = random.Random(seed)
    if rng.random() < 0.5:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
    else:  # a sane length over random bytes, so the decoder sees them
        n = rng.randrange(1, 300)
        data = frame(bytes(rng.randrange(256) for _ in range(n)))
    return data, True, 5


def main():
    path, case = sys.argv[1], sys.argv[2]
    if case == "random":
        data, shut, wait = random_case(int(sys.argv[3]))
    elif case in ("pipelined", "pipelined-shut"):
        # a DAC request and a status request in one write: the answers must come back
        # in that order although the DAC waits for the journal and the status does not;
        # -shut then closes the sending side at once (the answers must still come)
        csr = open(sys.argv[4], "rb").read()
        uid = bytes.fromhex(sys.argv[5]) if len(sys.argv) > 5 else b"\x0a\x0b\x0c\x0d"
        issue = cbor2.dumps({1: 2, 3: bytes.fromhex(sys.argv[3]), 4: csr, 5: uid})
        data, shut, wait = frame(issue) + frame(STATUS), case == "pipelined-shut", 2
    else:
        data, shut, wait = CASES[case]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(wait)
    s.connect(path)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon may close before reading everything; what it answered counts
    if os.environ.get("READY"):
        open(os.environ["READY"], "w").close()
    out, buf = [], b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                out.append("closed")
                break
            buf += chunk
            while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                n = struct.unpack(">I", buf[:4])[0]
                m = cbor2.loads(buf[4:4 + n])
                buf = buf[4 + n:]
                what = "dac" if 3 in m else "writs" if 6 in m else ""
                out.append("response %s %s" % (m.get(1), m.get(2, what)))
    except socket.timeout:
        out.append("open")
    except ConnectionResetError:
        out.append("closed")
    if buf:
        out.append("junk %d bytes" % len(buf))
    s.close()
    print("; ".join(out))


if __name__ == "__main__":
    main()
