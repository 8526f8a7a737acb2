"""torch.distributed gloo all-reduce for the Slurm root tests, one process per rank (env:// rendezvous)."""
import json
import os
import socket

import torch
import torch.distributed as dist

rank = int(os.environ["MULTINODE_NODE_RANK"])
size = int(os.environ["MULTINODE_NUM_NODES"])
dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=size)
t = torch.full((4,), float(rank + 1))
dist.all_reduce(t)
big = torch.ones(1 << 20)
dist.all_reduce(big)
result = {
    "rank": rank,
    "size": size,
    "host": socket.gethostname(),
    "sum": t.tolist(),
    "big": big[0].item(),
    "master": os.environ["MASTER_ADDR"] + ":" + os.environ["MASTER_PORT"],
}
print("torch " + json.dumps(result, sort_keys=True), flush=True)
with open(os.path.join(os.environ["MN_TEST_OUT"], "torch-%d.json" % rank), "w") as f:
    json.dump(result, f)
dist.destroy_process_group()
