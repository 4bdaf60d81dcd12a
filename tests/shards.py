"""`make test`: the suite as four pytest processes side by side on the machine's cores.

Most of the suite's time is spent in one thread (process starts, TensorFlow's import, small
DuckDB queries), so several processes finish it in little more than the suite's CPU time divided
by the cores. The modules are grouped so that the groups take about as long as each other
(GROUPS; every other module forms the last group, which ends with LAST), and the longest chains
of work that depend on each other (test_cycle's weekly runs, the trained world of
`conftest.trained_world` and the tests that read it) each have a process. That world is made
once for all the processes, in one folder of this run ($HMBATCH_TEST_WORLD_DIR): the first
process to need it makes it there under a lock, the others wait on the lock and copy it. Each
process has its own temporary folder and its threads capped at one (OpenMP for LightGBM and
FAISS, TensorFlow's pools, DuckDB's): with more processes than cores, more threads only contend
for them. Each group's output is shown when it ends. The exit code is the first failing
one (0 when all pass; a group whose modules hold none of the selected tests counts as passed).

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

from conftest import WORLD_DIR_ENV  # the folder where conftest.trained_world makes the world once

TESTS = Path(__file__).resolve().parent
NO_TESTS = 5  # pytest's exit code when no test was selected
ONE_THREAD = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "HMBATCH_THREADS")
# the groups of modules, one process each, of about equal CPU time (measured: `make test` prints
# each group's); the modules not named here open the last group, which ends with LAST (it reads
# the trained world: by the time that group reaches it, another has made it). Each module alone
# (2026-12-07, CPU seconds): test_cycle 106; test_model 11, test_pipeline 66, test_ray 21 (its
# cluster's processes 14 more), test_sources 4; test_ranker 57 with the world's making,
# test_reliability 48; the rest 94, test_workspace_tools 19. A group runs its modules in this
# order: the second group's first module does not read the world, so test_ranker's group takes
# the world's lock and makes it meanwhile. Of the arrangements tried, this one ended soonest
# (242 s; Ray's tests last in a group or first after the world, 262-293 s: the machine's drift is
# as large as the differences).
GROUPS = (("test_cycle",),
          ("test_model", "test_pipeline", "test_ray", "test_sources"),
          ("test_ranker", "test_reliability"))
LAST = ("test_workspace_tools",)


def groups() -> list[list[str]]:
    """The modules of each process, as paths: GROUPS, then every other module."""
    modules = sorted(p.stem for p in TESTS.glob("test_*.py"))
    named = [m for group in (*GROUPS, LAST) for m in group]
    missing = sorted(set(named) - set(modules))
    if missing:
        raise SystemExit(f"tests/shards.py: GROUPS or LAST names {missing[0]}, which is not a module of tests/")
    if len(named) != len(set(named)):
        raise SystemExit("tests/shards.py: a module is named twice in GROUPS and LAST")
    rest = [m for m in modules if m not in named] + list(LAST)
    return [[str(TESTS / f"{m}.py") for m in group] for group in (*GROUPS, rest) if group]


def main(options: list[str]) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hmbatch-shards-") as tmp:
        env = {**{name: "1" for name in ONE_THREAD}, **os.environ, WORLD_DIR_ENV: str(Path(tmp) / "world")}
        (Path(tmp) / "world").mkdir()
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *options]
        running = {}
        try:
            for number, paths in enumerate(groups(), start=1):
                log = Path(tmp) / f"group-{number}.log"
                with open(log, "w") as handle:
                    proc = subprocess.Popen([*command, "--basetemp", str(Path(tmp) / f"group-{number}"), *paths],
                                            stdout=handle, stderr=subprocess.STDOUT, env=env)
                running[proc] = (number, [Path(p).stem for p in paths], log)
            print(f"== {len(running)} pytest processes", flush=True)
            codes = {}
            while running:
                pid, status, usage = os.wait4(-1, 0)  # the next child to end, with its CPU time
                proc = next((p for p in running if p.pid == pid), None)
                if proc is None:
                    continue
                proc.returncode = os.waitstatus_to_exitcode(status)
                number, names, log = running.pop(proc)
                codes[number] = proc.returncode
                print(f"== group {number} ({', '.join(names)}): exit code {proc.returncode} after "
                      f"{time.perf_counter() - started:.0f} s, {usage.ru_utime + usage.ru_stime:.0f} s of CPU "
                      "(its child processes included)", flush=True)
                print(log.read_text(), end="", flush=True)
        finally:
            for proc in running:
                proc.kill()
                proc.wait()
    if all(c == NO_TESTS for c in codes.values()):
        return NO_TESTS
    failed = [codes[n] for n in sorted(codes) if codes[n] not in (0, NO_TESTS)]
    print(f"== shards: {'FAILED' if failed else 'passed'} (exit codes "
          f"{', '.join(str(codes[n]) for n in sorted(codes))}) in {time.perf_counter() - started:.0f} s", flush=True)
    return failed[0] if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
