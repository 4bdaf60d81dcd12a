"""`hmbatch run`, the weekly cycle: one command, runs that continue each other, and an interrupted
cycle that leaves the workspace as it was and names the step."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from hmbatch.cli import app

runner = CliRunner()
HMBATCH = str(Path(sys.executable).with_name("hmbatch"))
ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def week_earlier(src: Path, dst: Path) -> None:
    """The same files without the last 7 days of transactions: the week before's delivery."""
    dst.mkdir(parents=True)
    for name in ("articles.csv", "customers.csv", "sample_submission.csv"):
        shutil.copy(src / name, dst / name)
    lines = (src / "transactions_train.csv").read_text().splitlines(keepends=True)
    last = max(line[:10] for line in lines[1:])
    with duckdb.connect() as con:
        cut = str(con.execute("SELECT CAST(? AS DATE) - 7", [last]).fetchone()[0])
    (dst / "transactions_train.csv").write_text(lines[0] + "".join(l for l in lines[1:] if l[:10] <= cut))


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def current(ws: Path) -> Path:
    return ws / "models" / (ws / "models" / "CURRENT").read_text().strip()


def state(ws: Path, sub: Path) -> dict:
    """What a stopped run must leave as it was: the database, the current run, the submission."""
    return {"db": (ws / "hmbatch.duckdb").read_bytes(), "current": (ws / "models" / "CURRENT").read_text(),
            "sub": sub.read_bytes()}


def stopped_run(data: Path, ws: Path, sub: Path, point: str, options=()) -> dict:
    """`hmbatch run` in a child process, sent SIGTERM once it is paused at `point`: its exit code
    and output, and the workspace's state before and after."""
    before = state(ws, sub)
    proc = subprocess.Popen([HMBATCH, "run", str(data), "--workspace", str(ws), "--out", str(sub), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**ENV, "HMBATCH_PAUSE_AT": point})
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if f"hmbatch: paused at {point}" in line:
            break
    else:
        proc.wait()
        raise AssertionError(f"ended (exit {proc.returncode}) before {point}: {''.join(seen)[-2000:]}")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    return {"code": proc.returncode, "output": " ".join("".join(seen + [out, err]).split()), "before": before,
            "after": state(ws, sub), "tmp": list((ws / "tmp").iterdir())}


def assert_kept(stopped: dict, step: str) -> None:
    assert stopped["code"] == 130, stopped["output"][-3000:]
    assert f"stopped at step {step}" in stopped["output"]
    assert stopped["after"] == stopped["before"] and stopped["tmp"] == []


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    """Last week's delivery run from nothing; then this week's (one more week) run warm, stopped
    by SIGTERM at its last step (after its trainings and the submission), and run again."""
    root = tmp_path_factory.mktemp("cycle")
    data, before, ws, sub = root / "data", root / "before", root / "ws", root / "sub.csv"
    invoke("synth", data, "--scale", "tiny", "--seed", "2")
    week_earlier(data, before)
    first = invoke("run", before, "--workspace", ws, "--out", sub)
    first_final = current(ws)
    stopped = stopped_run(data, ws, sub, "run:6")
    second = invoke("run", data, "--workspace", ws, "--out", sub)
    return {"root": root, "data": data, "ws": ws, "first": first.output, "second": second.output,
            "first_final": first_final, "final": current(ws), "stopped": stopped}


def test_run_does_the_whole_cycle(cycle):
    out = cycle["second"]
    assert "held-out week after" in out and "baseline: last week's best sellers" in out
    assert "submission:" in out and "report:" in out
    final = manifest(cycle["final"])
    assert final["config"]["holdout_days"] == 0 and (cycle["final"] / "report.html").exists()
    lines = (cycle["root"] / "sub.csv").read_text().splitlines()
    customers = (cycle["data"] / "customers.csv").read_text().splitlines()
    assert lines[0] == "customer_id,prediction" and len(lines) == len(customers)
    assert all(len(line.split(",")[1].split()) == 12 for line in lines[1:])


def test_each_run_continues_the_one_before(cycle):
    """The first validation run starts from nothing; every later run continues the current one:
    this week's validation run from last week's final run (same cut-off: nothing to train), the
    final run one week further, reusing the ranker's label weeks that did not change."""
    runs = sorted(p for p in (cycle["ws"] / "models").iterdir() if p.is_dir())
    assert len(runs) == 4
    warm = [manifest(r)["warm_start"]["from"] for r in runs]
    assert warm[0] is None and warm[1:] == [runs[0].name, runs[1].name, runs[2].name]
    validation, final = manifest(runs[2]), manifest(runs[3])
    assert validation["cutoff"] == manifest(runs[1])["cutoff"] and validation["training"]["epochs"] == []
    assert len(final["training"]["epochs"]) == 1
    assert validation["ranker"]["reused_weeks"] == validation["ranker"]["label_weeks"]
    assert final["ranker"]["reused_weeks"] == final["ranker"]["label_weeks"][1:]
    # this week's validation run had nothing to learn: last week's final towers, embeddings and
    # indexes, linked, not computed again (no TensorFlow in that step)
    assert [manifest(r)["warm_start"]["reused"] for r in runs] == [False, False, True, False]
    assert "nothing new to learn" in cycle["stopped"]["output"] and "nothing new to learn" not in cycle["first"]
    for name in ("customer_embeddings.npy", "index_all/index.faiss", "index_recent/ids.npy", "towers/weights.index"):
        assert (runs[2] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    assert json.loads((runs[2] / "index_all" / "index.json").read_text())["fingerprint"] == validation["fingerprint"]


def test_nothing_to_learn_needs_the_same_cutoff_articles_and_customers(cycle, tmp_path):
    """A continuation reuses its run only when its cut-off is the run's and the articles and
    customers tables are the ones the run saw (the rows up to the cut-off are checked before)."""
    import datetime as dt
    from hmbatch.features import tables_signature
    from hmbatch.train import nothing_to_learn
    run = cycle["final"]
    cutoff = dt.date.fromisoformat(manifest(run)["cutoff"])
    db = tmp_path / "copy.duckdb"
    shutil.copy(cycle["ws"] / "hmbatch.duckdb", db)
    with duckdb.connect(str(db)) as con:
        assert nothing_to_learn(run, cutoff, tables_signature(con))
        assert not nothing_to_learn(run, cutoff - dt.timedelta(days=7), tables_signature(con))
        con.execute("UPDATE customers SET customer_id = customer_id || 'x' WHERE customer_idx = 0")
        assert not nothing_to_learn(run, cutoff, tables_signature(con))
        con.execute("UPDATE customers SET customer_id = rtrim(customer_id, 'x') WHERE customer_idx = 0")
        assert nothing_to_learn(run, cutoff, tables_signature(con))
        con.execute("UPDATE articles SET product_code = product_code + 1 WHERE article_id = (SELECT min(article_id) FROM articles)")
        assert not nothing_to_learn(run, cutoff, tables_signature(con))


@pytest.mark.parametrize("point,step,options", [
    ("build-db:03_transactions", "1/6 (build-db)", ()),
    ("train:fit", "2/6 (train --holdout-days 7)", ("--cold-start",))])
def test_an_interrupted_run_keeps_the_workspace(cycle, tmp_path, point, step, options):
    """SIGTERM at any step: exit 130, the step named, and the database, the current model and the
    submission as they were before the command (the last step: see the next test). The run
    stopped in its training is asked for a cold start: it trains from nothing although the
    current run could be continued, and says why."""
    ws, sub = tmp_path / "ws", tmp_path / "sub.csv"
    shutil.copytree(cycle["ws"], ws)
    shutil.copy(cycle["root"] / "sub.csv", sub)
    stopped = stopped_run(cycle["data"], ws, sub, point, options)
    assert_kept(stopped, step)
    if "--cold-start" in options:
        assert "two-tower: cold start, --cold-start" in stopped["output"]


def test_a_run_stopped_at_its_last_step_keeps_the_workspace_and_resumes(cycle):
    """This week's run, stopped at the report (its trainings done, the submission written): the
    workspace is last week's. Run again, it makes current again the trainings it finished (the
    same files, options and starting runs) instead of training anew."""
    assert_kept(cycle["stopped"], "6/6 (report)")
    assert cycle["stopped"]["before"]["current"].strip() == cycle["first_final"].name
    assert cycle["second"].count("is this training's result already") == 2
    runs = sorted(p for p in (cycle["ws"] / "models").iterdir() if p.is_dir())
    assert cycle["final"] == runs[-1] and manifest(runs[-1])["warm_start"]["from"] == runs[-2].name


def test_final_report_carries_the_validation_figures(cycle, tmp_path):
    """The report `hmbatch run` writes for the final model (no held-out week of its own) draws the
    held-out figures of the validation run it continues, named as such: all 8 figures."""
    from test_workspace_tools import check_drawn, render
    page = cycle["final"] / "report.html"
    html = page.read_text()
    validation = manifest(cycle["final"])["warm_start"]["from"]
    assert f"validation run {validation}" in html and "MAP@12" in html
    dom, log = render(page, tmp_path)
    assert check_drawn(html, dom, log) == 8


def test_a_failing_step_is_one_line_and_keeps_the_workspace(cycle, tmp_path):
    """A step fails in its child process: its one-line error comes back to `hmbatch run`, which
    names the step, exits 1 and keeps the workspace."""
    ws, bad = tmp_path / "ws", tmp_path / "bad"
    shutil.copytree(cycle["ws"], ws)
    shutil.copytree(cycle["data"], bad)
    (bad / "transactions_train.csv").unlink()
    db = (ws / "hmbatch.duckdb").read_bytes()
    proc = subprocess.run([HMBATCH, "run", str(bad), "--workspace", str(ws)], capture_output=True, text=True,
                          env=ENV, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "transactions_train.csv" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert "stopped at step 1/6 (build-db)" in " ".join(proc.stdout.split())
    assert (ws / "hmbatch.duckdb").read_bytes() == db


def test_each_step_runs_in_a_child_process_that_dies_with_it(cycle, tmp_path):
    """Each step runs in a child process (the peak memory is the largest step's). A child killed
    outright (SIGKILL, as the out-of-memory killer does) ends the run with one line naming the
    step, and the workspace is kept."""
    ws = tmp_path / "ws"
    shutil.copytree(cycle["ws"], ws)
    db = (ws / "hmbatch.duckdb").read_bytes()
    proc = subprocess.Popen([HMBATCH, "run", str(cycle["data"]), "--workspace", str(ws)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**ENV, "HMBATCH_PAUSE_AT": "build-db:03_transactions"})
    for line in proc.stderr:
        if "hmbatch: paused at build-db:03_transactions" in line:
            break
    children = [pid for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(children) == 1  # the step's process, paused inside build-db
    os.kill(int(children[0]), signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out + err
    assert "step build-db ended without a result" in " ".join(err.split())
    assert "stopped at step 1/6 (build-db)" in " ".join(out.split())
    assert (ws / "hmbatch.duckdb").read_bytes() == db
