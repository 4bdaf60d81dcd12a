"""`make test`: the suite as two pytest processes side by side, one per core.

Most of the suite's time is spent in one thread (process starts, TensorFlow's import, small
DuckDB queries), so two processes finish it in little more than half the time on 2 cores. The
modules that read the shared trained world (`conftest.trained_world`, trained once per process)
run in one shard, every other module in the other, so the world is still trained once. Each
shard has its own temporary folder. The first shard's output is shown as it comes, the second's
when it ends; each shard's threads are capped at one (OpenMP for LightGBM, TensorFlow's pools):
with one process per core, more threads only contend for the cores. The exit code is the first
failing one of the two (0 when both pass; a shard whose modules hold none of the selected tests
counts as passed).

    python tests/shards.py [PYTEST OPTIONS...]      e.g. -m "not slow", -x, -k ranker

Plain `pytest` still runs the whole suite in one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
NO_TESTS = 5  # pytest's exit code when no test was selected
ONE_THREAD = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
# the modules that use conftest.trained_world: one shard, so it is trained once
WORLD = ("test_pipeline", "test_ranker", "test_ray", "test_reliability", "test_sources", "test_workspace_tools")


def shards() -> tuple[list[str], list[str]]:
    """(every module but WORLD's, WORLD's), as paths."""
    modules = sorted(p.stem for p in TESTS.glob("test_*.py"))
    missing = sorted(set(WORLD) - set(modules))
    if missing:
        raise SystemExit(f"tests/shards.py: WORLD names {missing[0]}, which is not a module of tests/")
    return ([str(TESTS / f"{m}.py") for m in modules if m not in WORLD],
            [str(TESTS / f"{m}.py") for m in WORLD])


def main(options: list[str]) -> int:
    started = time.perf_counter()
    rest, world = shards()
    env = {**{name: "1" for name in ONE_THREAD}, **os.environ}  # what the caller set wins
    with tempfile.TemporaryDirectory(prefix="hmbatch-shards-") as tmp:
        log = Path(tmp) / "world.log"
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *options]
        with open(log, "w") as handle:
            second = subprocess.Popen([*command, "--basetemp", str(Path(tmp) / "world"), *world],
                                      stdout=handle, stderr=subprocess.STDOUT, env=env)
            try:
                print(f"== shard 1 of 2: {len(rest)} modules", flush=True)
                first = subprocess.run([*command, "--basetemp", str(Path(tmp) / "rest"), *rest], env=env).returncode
                print(f"== shard 2 of 2: {len(WORLD)} modules (the shared trained world)", flush=True)
                second.wait()
            finally:
                if second.poll() is None:
                    second.kill()
                    second.wait()
        print(log.read_text(), end="", flush=True)
    codes = (first, second.returncode)
    if codes == (NO_TESTS, NO_TESTS):
        return NO_TESTS
    failed = [c for c in codes if c not in (0, NO_TESTS)]
    print(f"== shards: {'FAILED' if failed else 'passed'} (exit codes {codes[0]} and {codes[1]}) "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    return failed[0] if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
