#!/usr/bin/python3
"""Stand-ins for services that use each other (conformance scenario cf-uses-dynamo).

  uses.py serve NAME PORT...   rank 0 answers every connection on each PORT with one JSON line naming
                               NAME, its host name and the port; "quit" ends it. Other ranks exit 0.
  uses.py other PORT           as serve, and writes its own address to $CONF_OUT/other.addr first.
  uses.py front SVC:PORT... -- BLOCKED...
                               for each used service SVC (env MULTINODE_USES_<SVC>_ADDR/_PORT_<PORT>) one
                               request, expected to be answered; then each BLOCKED (SVC:NAME for a port
                               of SVC's leader given as `name=port` in env USES_BLOCKED_<NAME>, or `other`)
                               expected to get no answer; then "quit" to every server. The outcome goes to
                               $CONF_OUT/uses-front.out (JSON).
A server gives up after 90 s whatever happens, so nothing outlives a failed run.
"""
import json
import os
import socket
import sys
import threading
import time


def env_key(s):
    return "".join(c if c.isalnum() else "_" for c in s.upper())


def wait_for(path, seconds):
    end = time.time() + seconds
    while time.time() < end and not os.path.exists(path):
        time.sleep(0.1)


def serve(name, ports, addr_file=None):
    if os.environ.get("MULTINODE_NODE_RANK", "0") != "0":
        # Members stay (a group is ready only while every rank is alive) until the frontend is done.
        wait_for(os.path.join(os.environ["CONF_OUT"], "uses-front.out"), 90)
        return 0
    done = threading.Event()
    socks = []
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(p)))
        s.listen(16)
        socks.append(s)
    if addr_file:
        with open(addr_file + ".tmp", "w") as f:
            f.write(socket.gethostbyname(socket.gethostname()))
        os.rename(addr_file + ".tmp", addr_file)

    def loop(s, port):
        while not done.is_set():
            try:
                c, _ = s.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                try:
                    data = c.recv(100).decode(errors="replace").strip()
                except OSError:
                    data = ""
                reply = {"service": name, "hostname": socket.gethostname(), "port": int(port),
                         "rank": os.environ.get("MULTINODE_NODE_RANK")}
                try:
                    c.sendall((json.dumps(reply) + "\n").encode())
                except OSError:
                    pass
                if data == "quit":
                    done.set()

    for s, p in zip(socks, ports):
        threading.Thread(target=loop, args=(s, p), daemon=True).start()
    done.wait(90)
    return 0


def ask(addr, port, msg="hello", timeout=0.8):
    try:
        with socket.create_connection((addr, int(port)), timeout=timeout) as c:
            c.settimeout(timeout)
            c.sendall(msg.encode())
            return json.loads(c.makefile().readline())
    except (OSError, ValueError) as e:
        return {"error": type(e).__name__}


def front(args):
    out = os.environ["CONF_OUT"]
    sep = args.index("--") if "--" in args else len(args)
    used, blocked = args[:sep], args[sep + 1:]
    result = {"reached": {}, "blocked": {}, "env": {k: v for k, v in os.environ.items()
                                                  if k.startswith("MULTINODE_USES_")}}
    servers = []
    for u in used:
        svc, port = u.split(":")
        pre = "MULTINODE_USES_" + env_key(svc) + "_"
        addr = os.environ.get(pre + "ADDR", "")
        p = os.environ.get(pre + "PORT_" + env_key(port), "")
        result["reached"][u] = ask(addr, p) if addr and p else {"error": "no env"}
        servers.append((addr, p))
    for b in blocked:
        if b == "other":
            path = os.path.join(out, "other.addr")
            for _ in range(200):
                if os.path.exists(path):
                    break
                time.sleep(0.1)
            addr = open(path).read().strip() if os.path.exists(path) else ""
            port = os.environ.get("USES_OTHER_PORT", "")
            servers.append((addr, port))
        else:
            svc, port = b.split(":")
            addr = os.environ.get("MULTINODE_USES_" + env_key(svc) + "_ADDR", "")
            port = os.environ.get("USES_BLOCKED_" + env_key(port), "")
        result["blocked"][b] = ask(addr, port)
    with open(os.path.join(out, "uses-front.out.tmp"), "w") as f:
        json.dump(result, f)
    os.rename(os.path.join(out, "uses-front.out.tmp"), os.path.join(out, "uses-front.out"))
    # Every server ends: the used ones through their allowed port; the other one from its own namespace
    # cannot be told (it is fenced off), so it ends when it sees the result file.
    for addr, p in servers:
        if addr and p:
            ask(addr, p, "quit")
    return 0


def other(port):
    out = os.environ["CONF_OUT"]
    t = threading.Thread(target=serve, args=("other", [port], os.path.join(out, "other.addr")),
                         daemon=True)
    t.start()
    for _ in range(900):
        if os.path.exists(os.path.join(out, "uses-front.out")) or not t.is_alive():
            return 0
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        sys.exit(serve(sys.argv[2], sys.argv[3:]))
    if cmd == "other":
        sys.exit(other(sys.argv[2]))
    if cmd == "front":
        sys.exit(front(sys.argv[2:]))
    sys.exit("unknown command " + cmd)
