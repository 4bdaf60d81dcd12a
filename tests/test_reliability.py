"""Real signals sent to real subprocesses at several points of build-db and submit, and to this
process at two points of train; the lock between two processes; SIGKILL leftovers; a stale model;
an unwritable workspace."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import copy_world

HMBATCH = str(Path(sys.executable).with_name("hmbatch"))
ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def run(*args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([HMBATCH, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def start(*args, pause_at: str) -> subprocess.Popen:
    """Starts a command that stops at the test-only pause point `pause_at` (see
    hmbatch.workspace.pause_point) and waits there until it is signalled."""
    return subprocess.Popen([HMBATCH, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**ENV, "HMBATCH_PAUSE_AT": pause_at})


def wait_paused(proc: subprocess.Popen, point: str) -> None:
    """Reads the command's stderr until it says it reached `point`: from then on it cannot move
    before the signal, whatever the machine's speed."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if f"hmbatch: paused at {point}" in line:
            return
    proc.wait()
    raise AssertionError(f"the command ended (exit {proc.returncode}) before {point}: {''.join(seen)[-2000:]}")


def meta(ws: Path, key: str) -> str:
    with duckdb.connect(str(ws / "hmbatch.duckdb"), read_only=True) as con:
        return con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()[0]


def fingerprint(ws: Path) -> str:
    return meta(ws, "fingerprint")


def build_id(ws: Path) -> str:
    return meta(ws, "build_id")


def current(ws: Path) -> str:
    return (ws / "models" / "CURRENT").read_text().strip()


def tmp_entries(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "tmp").iterdir() if not p.name.startswith(".probe"))


@pytest.fixture(scope="module")
def world(trained_world, tmp_path_factory):
    """A copy of the shared tiny world and its trained run, under paths with a space and
    non-ASCII characters; the tests rebuild and retrain it."""
    return copy_world(trained_world, tmp_path_factory.mktemp("reliable"), "dätä dir", "wörk space")


def assert_stopped(proc: subprocess.Popen, sig: signal.Signals) -> None:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err)
    assert f"stopped by {sig.name}" in err and "Traceback" not in err + (out or "")


@pytest.mark.parametrize("sig, point", [(signal.SIGTERM, "build-db:03_transactions"),
                                        (signal.SIGINT, "build-db:05_aggregates")])
def test_build_db_interrupted_keeps_database(world, sig, point):
    ws, before = world["ws"], build_id(world["ws"])
    proc = start("build-db", world["data"], "--workspace", ws, pause_at=point)
    wait_paused(proc, point)
    assert any(n.startswith("build-") for n in tmp_entries(ws))  # the new database is half built
    assert_stopped(proc, sig)
    assert build_id(ws) == before and tmp_entries(ws) == []
    assert run("query", "f" * 64, "--workspace", ws).returncode == 0  # still works with its model


@pytest.mark.parametrize("sig, point", [(signal.SIGTERM, "train:fit"), (signal.SIGINT, "train:export")])
def test_train_interrupted_keeps_current_model(world, monkeypatch, sig, point):
    """In this process (a training process costs TensorFlow's import; test_cycle signals one in a
    child process): the signal is sent to this process from the pause point itself, so it
    arrives there, whatever the machine's speed, and goes through the command's own handler."""
    from typer.testing import CliRunner
    from hmbatch import train as train_mod
    from hmbatch import workspace
    from hmbatch.cli import app
    ws, before = world["ws"], current(world["ws"])
    runs = sorted(p.name for p in (ws / "models").iterdir())
    seen = []

    def signalled_at(name: str) -> None:
        if name == point:
            seen.append(tmp_entries(ws))
            os.kill(os.getpid(), sig)
            while True:  # the handler's exception ends the wait
                time.sleep(0.05)

    monkeypatch.setattr(train_mod, "pause_point", signalled_at)
    monkeypatch.setattr(workspace, "_received", [])  # the signal this process saw, forgotten after
    # --cold-start: the current run has the same options and cut-off, so a warm start would train nothing
    result = CliRunner().invoke(app, ["train", "--workspace", str(ws), "--epochs", "1", "--weeks", "2", "--dim", "16",
                                      "--cold-start", "--ranker", "none"])
    assert result.exit_code == 130, result.output
    assert f"stopped by {sig.name}" in result.output and "Traceback" not in result.output
    if point == "train:export":
        assert any(n.startswith("train-") for n in seen[0])  # the run folder was half written
    assert current(ws) == before and sorted(p.name for p in (ws / "models").iterdir()) == runs
    assert tmp_entries(ws) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_submit_interrupted_leaves_no_file(world, tmp_path, sig):
    out = tmp_path / "sub mission.csv"
    out.write_text("previous submission\n")
    proc = start("submit", "--out", out, "--workspace", world["ws"], pause_at="submit:chunk")
    wait_paused(proc, "submit:chunk")
    assert any(tmp_path.glob(".sub mission.csv.*.tmp"))  # the first chunk is written
    assert_stopped(proc, sig)
    assert out.read_text() == "previous submission\n" and not list(tmp_path.glob(".*.tmp"))


def test_sigkill_leftovers_are_cleaned_by_next_run(world, tmp_path):
    ws, before = world["ws"], build_id(world["ws"])
    proc = start("build-db", world["data"], "--workspace", ws, pause_at="build-db:04_submission_customers")
    wait_paused(proc, "build-db:04_submission_customers")
    proc.kill()
    proc.wait()
    assert build_id(ws) == before and tmp_entries(ws)  # old db intact, leftovers present
    out = tmp_path / "s.csv"
    stale_partial = tmp_path / f".s.csv.{proc.pid}.tmp"
    stale_partial.write_text("half")
    run("submit", "--out", out, "--workspace", ws)
    assert not stale_partial.exists()
    run("build-db", world["data"], "--workspace", ws)
    assert tmp_entries(ws) == [] and build_id(ws) != before


def test_second_writer_stops_with_message(world):
    ws = world["ws"]
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from hmbatch.workspace import Workspace\n"
        "with Workspace(Path(sys.argv[1])).writer_lock('train'):\n"
        "    print('held', flush=True); sys.stdin.read()"), str(ws)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run("build-db", world["data"], "--workspace", ws, check=False)
        assert proc.returncode == 1 and "is busy (held by pid" in proc.stderr
        assert "Traceback" not in proc.stderr
        # readers are not blocked by a writer
        assert run("query", "f" * 64, "--workspace", ws).returncode == 0
    finally:
        holder.kill()
        holder.wait()


def test_rebuild_from_the_same_files_keeps_the_model_current(world):
    ws = world["ws"]
    before = (fingerprint(ws), build_id(ws))
    run("build-db", world["data"], "--workspace", ws)
    assert fingerprint(ws) == before[0] and build_id(ws) != before[1]  # a new file, the same data
    assert run("query", "f" * 64, "--workspace", ws).returncode == 0
    assert run("submit", "--workspace", ws).returncode == 0


def test_stale_model_is_refused_unless_allowed(world, tmp_path):
    ws, changed = world["ws"], tmp_path / "changed data"
    shutil.copytree(world["data"], changed)
    tx = changed / "transactions_train.csv"
    lines = tx.read_text().splitlines(keepends=True)
    lines[5] = lines[5].replace(",2\n", ",1\n") if lines[5].endswith(",2\n") else lines[5].replace(",1\n", ",2\n")
    tx.write_text("".join(lines))  # one row's sales channel changed
    run("build-db", changed, "--workspace", ws)  # the data changed: the model is now stale
    proc = run("query", "f" * 64, "--workspace", ws, check=False)
    assert proc.returncode == 1 and "run `hmbatch train` again" in proc.stderr
    assert "--allow-stale" in proc.stderr
    assert run("submit", "--workspace", ws, check=False).returncode == 1
    assert run("query", "f" * 64, "--allow-stale", "--workspace", ws).returncode == 0
    run("build-db", world["data"], "--workspace", ws)  # back to the original files
    assert run("query", "f" * 64, "--workspace", ws).returncode == 0  # the model matches again


def test_unwritable_workspace_is_one_line(world, tmp_path):
    blocker = tmp_path / "not a folder"
    blocker.write_text("a file where the workspace should be")
    proc = run("build-db", world["data"], "--workspace", blocker, check=False)
    assert proc.returncode == 1 and "not writable" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2


def test_full_disk_message(world, tmp_path, monkeypatch):
    import errno
    from typer.testing import CliRunner
    from hmbatch import submit as submit_mod
    from hmbatch.cli import app

    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.csv"))

    monkeypatch.setattr(submit_mod, "format_lines", no_space)
    out = tmp_path / "x.csv"
    out.write_text("previous\n")
    result = CliRunner().invoke(app, ["submit", "--out", str(out), "--workspace", str(world["ws"])])
    assert result.exit_code == 1 and "no space left on the device" in result.output
    assert out.read_text() == "previous\n" and not list(tmp_path.glob(".*.tmp"))
