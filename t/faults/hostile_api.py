#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A hostile daemon for the CLI fault tests: answers the node's local API or control's admin API on a unix
socket with every string field full of terminal controls (OSC 52 clipboard write, clear screen, CR+LF and a
forged line, C1 CSI as UTF-8 and as a raw byte, DEL). What `weft status`, `weft nodes list`... print from it
must carry none of them.

    hostile_api.py node|control SOCKET
"""
import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

# \x9b stands for the raw byte 0x9b (not UTF-8): patched into the encoded JSON below
EVIL = "x\x1b]52;c;SGVsbG8=\x07\x1b[2J\r\nFORGED line\u009b31m<RAW9B>31m\x7fend\x00tail"


def evil_json(obj):
    text = json.dumps(obj, ensure_ascii=False)
    return text.encode("utf-8").replace(b"<RAW9B>", b"\x9b")


def peer(i):
    return {"ID": i, "Name": EVIL + ".tail.example.", "HostName": EVIL, "OS": EVIL,
            "Addresses": ["100.64.0.%d/32" % (i + 1), "fd7a:115c:a1e0::%d/128" % (i + 1)],
            "NodeKey": "nodekey:" + "ab" * 32, "Online": True, "LastSeen": 0, "Expired": False,
            "Relay": EVIL, "RelayRegion": 999, "RelayConnected": True, "Direct": EVIL,
            "InEngine": True, "LastHandshake": 0, "RxBytes": 1, "TxBytes": 2}


NODE = {
    "/v1/status": (200, {"State": "Running", "LoginServer": EVIL, "Error": EVIL, "AuthURL": EVIL,
                         "ControlConnected": True, "HomeDERP": 999, "HomeDERPConnected": True,
                         "Domain": EVIL, "Self": dict(peer(0), Name="self." + EVIL),
                         "Peers": [peer(1), peer(2)]}),
    "/v1/ping": (200, {"Peer": EVIL, "IP": EVIL, "Path": EVIL, "RTTms": 1.5}),
    "/v1/down": (200, {"State": EVIL}),
    "/v1/logout": (500, {"Error": EVIL, "Kind": "internal"}),
}

CONTROL = {
    "/v1/nodes": (200, {"nodes": [{"id": 1, "name": EVIL, "user": EVIL, "ipv4": EVIL, "ipv6": EVIL,
                                   "online": EVIL, "expired": False, "last_seen": EVIL, "tags": [EVIL]}]}),
    "/v1/users": (200, {"users": [{"id": 1, "name": EVIL, "nodes": 1, "created": EVIL}]}),
    "/v1/authkeys": (200, {"authkeys": [{"id": 1, "user": EVIL, "key": EVIL, "reusable": True,
                                         "ephemeral": False, "used": EVIL, "expiration": EVIL,
                                         "tags": [EVIL]}]}),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        path = self.path.split("?")[0]
        if KIND == "node" and path == "/v1/up":
            # a streamed answer: the login URL, then an error
            body = evil_json({"AuthURL": EVIL}) + b"\n" + evil_json({"Error": EVIL, "Kind": "refused"}) + b"\n"
            return self.answer(200, body, "application/x-ndjson")
        table = NODE if KIND == "node" else CONTROL
        if path in table:
            status, obj = table[path]
            return self.answer(status, evil_json(obj))
        # anything else: an error whose text is hostile (both CLIs' error keys)
        return self.answer(500, evil_json({"Error": EVIL, "error": EVIL}))

    do_GET = handle_any
    do_POST = handle_any


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        req, _ = super().get_request()
        return req, ("unix", 0)  # BaseHTTPRequestHandler wants a (host, port) client address


if __name__ == "__main__":
    KIND, path = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    Server(path, Handler).serve_forever()
