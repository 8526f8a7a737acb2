#!/usr/bin/python3
"""Stand-ins for backends that cannot be installed here (vLLM, Ray, SGLang, TensorRT-LLM). NOT the real
programs: each records its argv, environment, host name and cwd as JSON in $STANDIN_RECORD_DIR, then
behaves like the real one as far as a launcher can tell: a serving rank binds its port and answers HTTP
(any path: 200 + JSON), a worker reaches its head/leader over TCP and blocks, `ray start --head` leaves a
listener behind and returns. Usage: standin.py PROG ARGS... (the per-program files on PATH exec this)."""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROG = sys.argv[1]
ARGS = sys.argv[2:]
LIFETIME = float(os.environ.get("STANDIN_LIFETIME", "3600"))  # never linger forever


def record(extra=None):
    d = os.environ.get("STANDIN_RECORD_DIR")
    data = {
        "prog": PROG,
        "argv": ARGS,
        "env": dict(os.environ),
        "hostname": socket.gethostname(),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        **(extra or {}),
    }
    if not d:
        print(f"standin {PROG}: STANDIN_RECORD_DIR not set; record: {json.dumps(data)}", file=sys.stderr)
        return
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{PROG}.{socket.gethostname()}.{os.getpid()}.{int(time.time() * 1000)}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, sort_keys=True)
    os.rename(tmp, path)


def opt(name, default=None):
    """Value of --name V or --name=V."""
    for i, a in enumerate(ARGS):
        if a == name and i + 1 < len(ARGS):
            return ARGS[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def flag(name):
    return name in ARGS


def split_hostport(value, default_port):
    host, _, port = value.rpartition(":")
    return (host, int(port)) if host else (value, default_port)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"standin": PROG, "host": socket.gethostname(), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


def serve_http(host, port):
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer((host, port), Handler)
    print(f"standin {PROG}: serving http on {host}:{port}", flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def listen_tcp(host, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)

    def loop():
        while True:
            c, _ = s.accept()
            c.close()

    threading.Thread(target=loop, daemon=True).start()
    print(f"standin {PROG}: listening on {host}:{port}", flush=True)
    return s


def reach(host, port, timeout=60.0):
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            print(f"standin {PROG}: reached {host}:{port}", flush=True)
            return True
        except OSError:
            if time.time() > deadline:
                print(f"standin {PROG}: cannot reach {host}:{port}", file=sys.stderr, flush=True)
                return False
            time.sleep(0.2)


def block():
    time.sleep(LIFETIME)
    sys.exit(0)


def vllm():
    if not ARGS or ARGS[0] != "serve":
        record()
        return 0
    record()
    if flag("--headless"):
        block()
    serve_http(opt("--host", "0.0.0.0"), int(opt("--port", "8000")))
    block()


def ray():
    if ARGS[:1] == ["stop"]:
        record()
        return 0
    if ARGS[:1] != ["start"]:
        record()
        return 0
    if flag("--head"):
        record()
        port = int(opt("--port", "6379"))
        if flag("--block"):
            listen_tcp("0.0.0.0", port)
            block()
        # Like `ray start --head`: leave the head running and return.
        if os.fork() == 0:
            os.setsid()
            listen_tcp("0.0.0.0", port)
            block()
        time.sleep(0.2)
        return 0
    host, port = split_hostport(opt("--address", "127.0.0.1:6379"), 6379)
    ok = reach(host, port)
    record({"reached": ok})
    if not ok:
        return 1
    if flag("--block"):
        block()
    return 0


def sglang():
    record()
    nnodes = int(opt("--nnodes", "1"))
    node_rank = int(opt("--node-rank", "0"))
    dist = opt("--dist-init-addr")
    if nnodes > 1 and dist:
        host, port = split_hostport(dist, 29500)
        if node_rank == 0:
            listen_tcp("0.0.0.0", port)
        elif not reach(host, port):
            return 1
    if node_rank == 0:
        serve_http(opt("--host", "127.0.0.1"), int(opt("--port", "30000")))
    block()


def trtllm_serve():
    record()
    if int(os.environ.get("OMPI_COMM_WORLD_RANK", "0")) == 0:
        serve_http(opt("--host", "localhost"), int(opt("--port", "8000")))
    block()


def python():
    if ARGS[:2] == ["-m", "sglang.launch_server"]:
        del ARGS[:2]
        global PROG
        PROG = "sglang"
        return sglang()
    os.execv("/usr/bin/python3", ["/usr/bin/python3", *ARGS])


def llmapi_launch():
    record()
    if not ARGS:
        return 2
    os.execvp(ARGS[0], ARGS)


MAIN = {
    "vllm": vllm,
    "ray": ray,
    "python": python,
    "python3": python,
    "trtllm-serve": trtllm_serve,
    "trtllm-llmapi-launch": llmapi_launch,
}

if __name__ == "__main__":
    sys.exit(MAIN[PROG]() or 0)
