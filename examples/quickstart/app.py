"""Quickstart rank program (Python stdlib only).

Every rank listens on MULTINODE_PORT_PEER (7000) and answers one JSON line about itself. Rank 0 also serves
HTTP on MULTINODE_PORT_HTTP (8080): each request asks every rank over the cluster network and returns their
host names, addresses and ranks, plus the sum of the values they report. /healthz is 200 only when every
rank answers.
"""
import json
import os
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RANK = int(os.environ["MULTINODE_NODE_RANK"])
HOSTS = os.environ["MULTINODE_HOSTLIST_NOSLOTS"].split(",")
PEER_PORT = int(os.environ.get("MULTINODE_PORT_PEER", "7000"))
HTTP_PORT = int(os.environ.get("MULTINODE_PORT_HTTP", "8080"))


def me():
    return {
        "rank": RANK,
        "hostname": socket.gethostname(),
        "address": os.environ.get("MULTINODE_NODE_IP", ""),
        "value": (RANK + 1) * 10,
    }


class Peer(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write((json.dumps(me()) + "\n").encode())


class PeerServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def ask(host):
    with socket.create_connection((host, PEER_PORT), timeout=2) as s:
        return json.loads(s.makefile().readline())


def gather():
    ranks, errors = [], []
    for h in HOSTS:
        try:
            ranks.append(ask(h))
        except OSError as e:
            errors.append(f"{h}: {e}")
    return ranks, errors


class Web(BaseHTTPRequestHandler):
    def do_GET(self):
        ranks, errors = gather()
        if self.path == "/healthz":
            body = {"ok": not errors, "errors": errors}
            code = 200 if not errors else 503
        else:
            body = {
                "service": os.environ.get("MULTINODE_SERVICE"),
                "served_by": me()["hostname"],
                "ranks": ranks,
                "sum": sum(r["value"] for r in ranks),
                "errors": errors,
            }
            code = 200 if not errors else 502
        data = (json.dumps(body, indent=2) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        if self.path != "/healthz":
            sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    # Bind this rank's own cluster address: works in overlay and host mode, and without root (loopback).
    bind = os.environ.get("MULTINODE_NODE_IP", "0.0.0.0")
    peer = PeerServer((bind, PEER_PORT), Peer)
    threading.Thread(target=peer.serve_forever, daemon=True).start()
    info = me()
    print(f"rank {RANK}/{len(HOSTS)} on {info['hostname']} ({info['address']}), peer port {PEER_PORT}", flush=True)
    if RANK == 0:
        print(f"serving HTTP on :{HTTP_PORT}", flush=True)
        ThreadingHTTPServer((bind, HTTP_PORT), Web).serve_forever()
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
