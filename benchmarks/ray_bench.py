"""`submit` with the local engine beside the Ray engine on 1..N local workers, for one workspace.

Usage::

    .venv/bin/python benchmarks/ray_bench.py --workspace /tmp/med-ws [--workers 1,2] [--strategy blend]

Each configuration runs in a fresh process (Python start and imports are part of what a user
waits for); Ray starts its own local cluster unless $RAY_ADDRESS names one. Prints a markdown
table and checks that every Ray file is byte-identical to the local one. Columns:

- total s: the command's wall time, process start to exit (Ray's start and shutdown included);
  customers/s: over that time; run customers/s: over the blocks' phase alone (actors loaded).
- init s: ray.init (start or connect); actors s: from asking for the actors to all of them
  ready (worker processes started, hmbatch imported, `Retriever.open` and the repurchase lists).
- compute s: the sum over workers of the time inside `submit.block_lines`; driver busy s: the
  blocks' phase minus the driver's time waiting for Ray (writing, receiving, unpickling).
- overhead ms/block: per block and worker, the blocks' phase time not spent computing
  (shipping arguments and lines, scheduling, idle).
- peak RSS MB: the driver process, and each actor.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONE = """
import json, resource, sys, time
from pathlib import Path
from hmbatch import engine
from hmbatch.workspace import Workspace
ws, out, strategy, kind = Workspace(Path(sys.argv[1])), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
workers = None if kind == "local" else int(kind)
result = engine.submit(ws, out, strategy, engine="local" if kind == "local" else "ray", workers=workers)
result["driver_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def run_one(ws: Path, out: Path, strategy: str, kind: str) -> dict:
    """One submit in a fresh process; its figures plus the process's wall time."""
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", ONE, str(ws), str(out), strategy, kind],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{kind}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall_s": wall, "bytes": out.stat().st_size}


def row(kind: str, res: dict, same: str) -> str:
    n = res["customers"]
    if kind == "local":
        return (f"| local | - | {res['wall_s']:.1f} | {n / res['wall_s']:,.0f} | - | - | - | - | - | - | "
                f"{res['driver_peak_rss_mb']:,.0f} | - | {same} |")
    ray = res["ray"]
    workers, blocks = ray["workers"], ray["blocks"]
    compute = sum(ray["worker_compute_s"])
    busy = ray["run_s"] - ray["driver_wait_s"]
    overhead_ms = 1000 * (ray["run_s"] * workers - compute) / blocks
    return (f"| ray | {workers} | {res['wall_s']:.1f} | {n / res['wall_s']:,.0f} | {n / ray['run_s']:,.0f} | "
            f"{ray['init_s']:.1f} | {ray['load_s']:.1f} | {compute:.1f} | {busy:.1f} | {overhead_ms:.0f} | "
            f"{res['driver_peak_rss_mb']:,.0f} | {', '.join(f'{m:,}' for m in ray['worker_peak_rss_mb'])} | {same} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--workers", default=",".join(str(n) for n in range(1, (os.cpu_count() or 1) + 1)),
                        help="comma-separated worker counts (default: 1..cores)")
    parser.add_argument("--strategy", default="blend")
    args = parser.parse_args()
    kinds = ["local"] + [str(int(n)) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:  # the workspace stays untouched
        results = {kind: run_one(args.workspace, Path(tmp) / f"{kind}.csv", args.strategy, kind) for kind in kinds}
        lines = [row(kind, res, "yes" if kind == "local" or filecmp.cmp(Path(tmp) / "local.csv",
                                                                          Path(tmp) / f"{kind}.csv", shallow=False)
                      else "NO") for kind, res in results.items()]
    first = results["local"]
    print(f"{first['customers']:,} customers, strategy {args.strategy}, {os.cpu_count()} cores, "
          f"{first['bytes'] / 1e6:,.0f} MB of CSV; Ray at {os.environ.get('RAY_ADDRESS') or 'a local cluster per run'}\n")
    print("| engine | workers | total s | customers/s | run customers/s | init s | actors s | compute s | "
          "driver busy s | overhead ms/block | driver peak RSS MB | actor peak RSS MB | identical |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
