#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Carry an exact number of bytes over TCP and check they all arrived intact (the WireGuard tests run it in
their namespaces; iperf3's counts miss what is in flight when it ends the test).

recv PORT            accept one connection on PORT, read to EOF, answer "COUNT SHA256" and print it
send HOST PORT BYTES send BYTES random bytes, half-close, print "COUNT SHA256 | ANSWER" (the receiver's)
"""
import hashlib
import os
import socket
import sys


def recv(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(60)
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    ans = "%d %s" % (n, h.hexdigest())
    c.sendall(ans.encode())
    c.close()
    print(ans)


def send(host, port, count):
    s = socket.create_connection((host, port), timeout=30)
    s.settimeout(120)
    h, n = hashlib.sha256(), 0
    while n < count:
        d = os.urandom(min(1 << 16, count - n))
        s.sendall(d)
        h.update(d)
        n += len(d)
    s.shutdown(socket.SHUT_WR)
    ans = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        ans += d
    print("%d %s | %s" % (n, h.hexdigest(), ans.decode(errors="replace")))


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(int(sys.argv[2]))
    elif sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
