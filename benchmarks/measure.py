"""Runs one hmbatch command (or a benchmark helper) in this process and records its wall time and
peak memory: `python benchmarks/measure.py OUT.json hmbatch ARGS...` or
`python benchmarks/measure.py OUT.json module:function ARGS...`."""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time


def peak_rss_mb() -> float:
    """The peak RSS of this process or of any child it waited for (`hmbatch run`'s steps), in MB.

    This process' own peak is VmHWM, not getrusage(RUSAGE_SELF): Linux carries a process' peak
    RSS over fork and exec into ru_maxrss, so a benchmark started by a parent that held a large
    file in memory (cycle.py reads the whole transactions file to cut the weekly deliveries) would
    report the parent's peak as its own. The children's ru_maxrss is not affected (their parent,
    this process, is small when it forks them).
    """
    with open("/proc/self/status") as status:
        own_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return max(own_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def main() -> int:
    out, target, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    started = time.perf_counter()
    code, result = 0, None
    if target == "hmbatch":
        from hmbatch.cli import app
        try:
            app(args=args, prog_name="hmbatch", standalone_mode=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
    else:
        module, function = target.split(":")
        sys.path.insert(0, "benchmarks")
        result = getattr(importlib.import_module(module), function)(*args)
    wall = time.perf_counter() - started
    rss_mb = peak_rss_mb()
    with open(out, "w") as handle:
        json.dump({"wall_s": round(wall, 2), "max_rss_mb": round(rss_mb, 1), "exit_code": code,
                   "result": result}, handle)
    return code


if __name__ == "__main__":
    sys.exit(main())
