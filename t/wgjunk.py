#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Attack helper for the WireGuard tests, run inside a namespace.

capture IFACE PORT FILE   wait (30 s at most) for one WireGuard transport datagram (type 4, with a payload)
                          sent to UDP port PORT on IFACE and save its UDP payload to FILE; FILE.ready
                          appears once the capture socket is listening
replay HOST PORT FILE N   send that datagram N times to HOST:PORT from a fresh socket
garbage HOST PORT N       send N random datagrams shaped like every WireGuard message type, and some not
"""
import os
import random
import socket
import sys
import time


def capture(iface, port, out):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    s.bind((iface, 0))
    s.settimeout(0.5)
    open(out + ".ready", "w").close()  # the caller may send now
    end = time.time() + 30  # the caller keeps sending until this exits; a loaded machine is slow
    while time.time() < end:
        try:
            pkt = s.recv(65535)
        except socket.timeout:
            continue
        ihl = (pkt[0] & 15) * 4
        if pkt[9] != 17 or len(pkt) < ihl + 8:
            continue
        dport = int.from_bytes(pkt[ihl + 2:ihl + 4], "big")
        payload = pkt[ihl + 8:]
        if dport == port and payload[:4] == b"\x04\x00\x00\x00" and len(payload) > 32:
            open(out, "wb").write(payload)
            return 0
    return 1


def replay(host, port, path, n):
    data = open(path, "rb").read()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(n):
        s.sendto(data, (host, port))
    return 0


def garbage(host, port, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rnd = random.Random(1)
    shapes = [(1, 148), (2, 92), (3, 64), (4, 32), (4, 160), (4, 1500), (0, 100), (9, 40), (1, 147)]
    for i in range(n):
        t, ln = shapes[i % len(shapes)]
        body = bytes([t, 0, 0, 0]) + bytes(rnd.getrandbits(8) for _ in range(ln - 4))
        s.sendto(body, (host, port))
    s.sendto(b"", (host, port))
    s.sendto(os.urandom(3), (host, port))
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == "capture":
        return capture(argv[2], int(argv[3]), argv[4])
    if cmd == "replay":
        return replay(argv[2], int(argv[3]), argv[4], int(argv[5]))
    if cmd == "garbage":
        return garbage(argv[2], int(argv[3]), int(argv[4]))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
