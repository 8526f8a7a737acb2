#!/usr/bin/python3
"""Conformance probe: what one rank observes, written as one JSON file in $CONF_OUT (never on stdout, so
every target's log format is irrelevant). Usage: probe.py [TAG] [--bind] [--torch]
  TAG     names the record (`rank`, `wrapper`, ...).
  --bind  also tries to bind every MULTINODE_PORT_* port on 0.0.0.0 (host mode: the port must be free).
  --torch also runs a torch.distributed gloo all-reduce from MASTER_ADDR/MASTER_PORT and MULTINODE_*.
`hostname` and `getent hosts` are run as programs so that a target stand-in can answer for them."""
import json
import os
import socket
import subprocess
import sys

CONTRACT = ("MASTER_ADDR", "MASTER_PORT", "TF_CONFIG", "RANK", "WORLD_SIZE", "LOCAL_RANK")
args = sys.argv[1:]
tag = next((a for a in args if not a.startswith("--")), "rank")
env = {
    k: v
    for k, v in os.environ.items()
    if k.startswith("MULTINODE_") or k.startswith("DSTACK_") or k.startswith("BACKENDAI_") or k in CONTRACT
}
host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
hosts = [h for h in os.environ.get("MULTINODE_HOSTLIST_NOSLOTS", "").split(",") if h]
resolves = {}
for h in hosts:
    r = subprocess.run(["getent", "hosts", h], capture_output=True, text=True)
    resolves[h] = r.returncode == 0 and r.stdout.strip() != ""
record = {"tag": tag, "hostname": host, "env": env, "resolves": resolves, "pid": os.getpid()}
if "--bind" in args:
    bound = {}
    for k, v in env.items():
        if k.startswith("MULTINODE_PORT_"):
            s = socket.socket()
            try:
                s.bind(("0.0.0.0", int(v)))
                bound[k] = True
            except OSError:
                bound[k] = False
            finally:
                s.close()
    record["bind"] = bound
if "--torch" in args:
    import torch
    import torch.distributed as dist

    rank = int(os.environ["MULTINODE_NODE_RANK"])
    world = int(os.environ["MULTINODE_NUM_NODES"])
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world)
    x = torch.ones(4) * (rank + 1)
    dist.all_reduce(x)
    record["torch"] = {"world": dist.get_world_size(), "sum": x.tolist()}
    dist.destroy_process_group()
out = os.environ["CONF_OUT"]
path = os.path.join(out, f"probe-{tag}-{host}-{os.getpid()}.json")
with open(path + ".tmp", "w") as f:
    json.dump(record, f, sort_keys=True)
os.rename(path + ".tmp", path)
