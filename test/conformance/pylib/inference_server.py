"""Stand-in for seed 000's `python -m inference_server` (NOT a real server): records what the leader
observes with the conformance probe, then exits 0."""
import os
import runpy
import sys

sys.argv = [os.path.join(os.path.dirname(__file__), "..", "probe.py"), "inference-server"]
runpy.run_path(sys.argv[0], run_name="__main__")
