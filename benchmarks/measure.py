"""Runs one hmbatch command (or a benchmark helper) in this process and records its wall time and
peak memory: `python benchmarks/measure.py OUT.json hmbatch ARGS...` or
`python benchmarks/measure.py OUT.json module:function ARGS...`."""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time


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
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out, "w") as handle:
        json.dump({"wall_s": round(wall, 2), "max_rss_mb": round(rss_mb, 1), "exit_code": code,
                   "result": result}, handle)
    return code


if __name__ == "__main__":
    sys.exit(main())
