"""`submit --engine ray` on a local Ray cluster of 2 CPUs: the file is byte-identical to the local
engine's for every strategy, a worker that dies mid-run is restarted and its block resent, a Ray
address that answers nothing is one line, SIGTERM keeps the previous file and stops the cluster
the command started, and the local engine never imports Ray."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import copy_world
from hmbatch import engine
from hmbatch.cli import app
from hmbatch.workspace import Workspace

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed: pip install 'hmbatch[ray]'", allow_module_level=True)

HMBATCH = str(Path(sys.executable).with_name("hmbatch"))
# Clusters started by ray.init use token authentication (the token in ~/.ray/auth_token); a
# process connecting to one by address must say so.
AUTH = {"RAY_AUTH_MODE": "token"}
ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **AUTH}
ENV.pop("RAY_ADDRESS", None)


@pytest.fixture(scope="module", autouse=True)
def token_auth():
    """RAY_AUTH_MODE=token in this process before it imports Ray, for the module's tests only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RAY_ADDRESS", raising=False)
        for key, value in AUTH.items():
            patch.setenv(key, value)
        yield

# A local cluster for the module, held by a helper process: it prints the cluster's address, and
# shuts the cluster down when its stdin closes.
CLUSTER = ("import sys, ray\n"
           "ray.init(address='local', num_cpus=2, include_dashboard=False, logging_level='ERROR')\n"
           "print(ray.get_runtime_context().gcs_address, flush=True)\n"
           "sys.stdin.read()\n"
           "ray.shutdown()\n")


def run(*args, env=ENV, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([HMBATCH, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def world(trained_world, tmp_path_factory):
    """A copy of the shared tiny world, its workspace path with a space and a non-ASCII letter."""
    root = tmp_path_factory.mktemp("ray world")
    copied = copy_world(trained_world, root, "data", "wörk space")
    return {"data": copied["data"], "ws": Workspace(copied["ws"]), "root": root}


@pytest.fixture(scope="module")
def cluster():
    helper = subprocess.Popen([sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=ENV)
    try:
        address = helper.stdout.readline().strip()
        assert address, "the Ray cluster did not start"
        yield address
    finally:
        helper.stdin.close()
        helper.wait(timeout=60)


# Every strategy is one scorer behind the same `Serving.recommend`, so the ranker (its own thread
# of candidates) and one other strategy cover the engine's paths.
ENGINE_STRATEGIES = ("ranker", "blend")
# the tiny world's 1,000 customers in 4 Ray blocks; the local file is written in one
BLOCK = 300


@pytest.fixture(scope="module")
def local_files(world):
    """The local engine's file for each strategy the engine is checked with."""
    out = {}
    for strategy in ENGINE_STRATEGIES:
        out[strategy] = world["root"] / f"local-{strategy}.csv"
        engine.submit(world["ws"], out[strategy], strategy)
    return out


def ray_submit(world, cluster, monkeypatch, strategy: str, out: Path) -> dict:
    monkeypatch.setenv("RAY_ADDRESS", cluster)
    return engine.submit(world["ws"], out, strategy, engine="ray", workers=2, block=BLOCK)


@pytest.mark.parametrize("strategy", ENGINE_STRATEGIES)
def test_ray_file_is_byte_identical(world, cluster, local_files, monkeypatch, tmp_path, strategy):
    out = tmp_path / "ray.csv"
    blocks = []
    monkeypatch.setenv("RAY_ADDRESS", cluster)
    result = engine.submit(world["ws"], out, strategy, engine="ray", workers=2, block=BLOCK,
                           progress=lambda done, total: blocks.append((done, total)))
    assert out.read_bytes() == local_files[strategy].read_bytes()
    assert result["engine"] == "ray" and result["ray"]["workers"] == 2 and not result["ray"]["started_cluster"]
    assert sum(result["ray"]["worker_blocks"]) == result["ray"]["blocks"] == len(blocks) >= 2
    assert blocks[-1] == (result["customers"], result["customers"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_killed_worker_is_restarted_and_the_file_is_the_same(world, cluster, local_files, monkeypatch, tmp_path):
    monkeypatch.setenv(engine.FAULT_ENV, "exit-after-first-block")
    out = tmp_path / "ray.csv"
    result = ray_submit(world, cluster, monkeypatch, "blend", out)
    assert result["ray"]["restarted_actors"] == 1
    assert out.read_bytes() == local_files["blend"].read_bytes()


def test_unreachable_cluster_is_one_line(world):
    proc = run("submit", "--engine", "ray", "-w", world["ws"].root, env={**ENV, "RAY_ADDRESS": "127.0.0.1:1"},
               timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "RAY_ADDRESS=127.0.0.1:1" in lines[0], proc.stderr


def test_missing_ray_names_the_extra(world, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    result = CliRunner().invoke(app, ["submit", "--engine", "ray", "-w", str(world["ws"].root)])
    assert result.exit_code == 1 and "pip install 'hmbatch[ray]'" in result.output


def test_local_engine_never_imports_ray(world, tmp_path):
    code = ("import sys; from typer.testing import CliRunner; from hmbatch.cli import app; "
            "r = CliRunner().invoke(app, ['submit', '--out', sys.argv[2], '-w', sys.argv[1]]); "
            "assert r.exit_code == 0, r.output; print('ray' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, str(world["ws"].root), str(tmp_path / "s.csv")],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


def session_processes(pid: int) -> list[str]:
    """Command lines of the Ray processes of the cluster started by the driver `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if re.search(rf"session_[0-9_-]+_{pid}\b", cmdline):
            found.append(cmdline)
    return found


def test_sigterm_keeps_previous_file_and_stops_the_cluster(world, tmp_path):
    out = tmp_path / "sub mission.csv"
    out.write_text("previous submission\n")
    proc = subprocess.Popen([HMBATCH, "submit", "--engine", "ray", "--workers", "2", "--out", str(out),
                             "-w", str(world["ws"].root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**ENV, "HMBATCH_PAUSE_AT": "submit:chunk"})
    for line in proc.stderr:  # the first block is written and the command waits for the signal
        if "hmbatch: paused at submit:chunk" in line:
            break
    else:
        proc.wait()
        pytest.fail(f"submit ended (exit {proc.returncode}) before its first block")
    assert any(tmp_path.glob(".sub mission.csv.*.tmp")) and session_processes(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "stopped by SIGTERM" in err and "Traceback" not in err, err
    assert out.read_text() == "previous submission\n" and not list(tmp_path.glob(".*.tmp"))
    assert session_processes(proc.pid) == []
