#!/usr/bin/python3
"""mpi4py twin of allreduce.c: every rank reports its host name, then one small and ten 8 MiB Allreduce calls.
Rank 0 prints "RESULT ok sum=<n(n+1)/2> ranks=<n>" when every reduction is right."""
import sys

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
print(f"RANK {rank} HOST {MPI.Get_processor_name()}", flush=True)
expect = size * (size + 1) // 2
total = comm.allreduce(rank + 1, op=MPI.SUM)
bad = total != expect
buf = np.full(8 * 1024 * 1024 // 8, float(rank + 1))
out = np.empty_like(buf)
for _ in range(10):
    comm.Allreduce(buf, out, op=MPI.SUM)
    bad = bad or not np.all(out == expect)
anybad = comm.reduce(bad, op=MPI.LOR, root=0)
if rank == 0:
    print(f"RESULT {'bad' if anybad else 'ok'} sum={total} ranks={size}", flush=True)
    sys.exit(1 if anybad else 0)
