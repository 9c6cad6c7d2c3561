# SPDX-License-Identifier: Apache-2.0
"""One request to writ-hsmd's socket API (docs/hsm-api.md: u32be length || CBOR map),
for the Python tests that talk to a real daemon (cloud_api.py, cloud_cli_factory.py)."""
import socket
import struct

import cbor2


def hsm_call(sock_path, m):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    body = cbor2.dumps(m)
    s.sendall(struct.pack(">I", len(body)) + body)
    hdr = b""
    while len(hdr) < 4:
        hdr += s.recv(4 - len(hdr))
    n = struct.unpack(">I", hdr)[0]
    out = b""
    while len(out) < n:
        out += s.recv(n - len(out))
    s.close()
    return cbor2.loads(out)
