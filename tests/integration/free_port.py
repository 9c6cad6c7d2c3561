#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Print a TCP port on 127.0.0.1 that nothing holds right now (free_port in hsm_lib.sh).

usage: free_port.py [TAKEN-FILE]

A test picks the port long before its daemon binds it, and may restart the daemon on
it later. bind(("127.0.0.1", 0)) hands out a port from the kernel's ephemeral range
(net.ipv4.ip_local_port_range), from which every outgoing connection made meanwhile
(curl, the daemons' own clients, other tests) also gets its local port: one of them
could hold ours when the daemon binds it (EADDRINUSE). So the port is taken at random
below that range, where the kernel never assigns one by itself, and a bind proves it
free. TAKEN-FILE lists the ports already handed to this test, one a line: they are not
given twice, and the new one is added.
"""
import os
import random
import socket
import sys

SPAN = 16384  # ports below the ephemeral range to choose from
LOWEST = 10000  # under this: well-known and registered services


def bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    taken_file = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
    taken = set()
    if taken_file and os.path.exists(taken_file):
        taken = {int(line) for line in open(taken_file) if line.strip().isdigit()}
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    first = max(LOWEST, low - SPAN)
    port = 0
    for _ in range(200 if low - first >= 100 else 0):
        p = random.randrange(first, low)
        if p not in taken and bindable(p):
            port = p
            break
    if not port:  # no room below the ephemeral range: let the kernel choose
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
    if taken_file:
        with open(taken_file, "a") as f:
            f.write("%d\n" % port)
    print(port)


if __name__ == "__main__":
    main()
