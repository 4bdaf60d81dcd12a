"""What users read: `hmbatch status`, the HTML report (drawn in headless Chromium) and the Python
API, on a tiny synthetic world (one quick training run, evaluated, with a submission)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import UNKNOWN_CUSTOMER as UNKNOWN, copy_world
from hmbatch.cli import app

runner = CliRunner()
README = Path(__file__).resolve().parents[1] / "README.md"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def run_ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def world(trained_world, tmp_path_factory):
    """A copy of the shared tiny world (one customer of sample_submission.csv unknown to the
    database), evaluated and with a submission."""
    root = tmp_path_factory.mktemp("tools")
    copied = copy_world(trained_world, root)
    data, ws = copied["data"], copied["ws"]
    evaluation = json.loads(run_ok("evaluate", "--json", "--workspace", ws).stdout)
    run_ok("submit", "--workspace", ws)
    return {"root": root, "data": data, "ws": ws, "evaluation": evaluation}


def submission(ws: Path, strategy: str) -> dict[str, list[str]]:
    path = next((ws / "submissions").glob(f"submission-*-{strategy}.csv"))
    with open(path, newline="") as handle:
        return {c: p.split(" ") for c, p in list(csv.reader(handle))[1:]}


# -- status -------------------------------------------------------------------------------------

def test_status_on_empty_and_partial_workspace(world, tmp_path):
    empty = json.loads(run_ok("status", "--json", "--workspace", tmp_path / "nothing").stdout)
    assert {"database", "models", "current"} <= set(empty)
    assert empty["database"]["exists"] is False and empty["models"] == [] and empty["current"] is None
    assert empty["next"] == "hmbatch build-db DATA_DIR"
    (tmp_path / "partial").mkdir()
    shutil.copy(world["ws"] / "hmbatch.duckdb", tmp_path / "partial" / "hmbatch.duckdb")
    partial = json.loads(run_ok("status", "--json", "--workspace", tmp_path / "partial").stdout)
    assert partial["database"]["tables"]["articles"] == 400 and partial["models"] == []
    assert partial["next"] == "hmbatch train"
    text = run_ok("status", "--workspace", tmp_path / "partial").stdout
    assert "models: none" in text and "next: hmbatch train" in text


def test_status_of_a_trained_workspace(world):
    out = json.loads(run_ok("status", "--json", "--workspace", world["ws"]).stdout)
    db = out["database"]
    assert db["exists"] and db["size_bytes"] > 0 and db["fingerprint"] and db["built"] and db["build_id"]
    assert db["first_date"] < db["last_date"] and db["tables"]["transactions"] > 0
    [model] = out["models"]
    assert model["current"] and out["current"] == model["name"] and model["matches_database"] is True
    assert model["holdout_days"] == 7 and model["options"]["dim"] == 32
    assert model["evaluation"] == {k: v["map@12"] for k, v in world["evaluation"]["results"].items()}
    assert [s["name"] for s in out["submissions"]] == [f"submission-{model['name']}-ranker.csv"]
    assert "trained on this database" in run_ok("status", "--workspace", world["ws"]).stdout


# -- Python API ----------------------------------------------------------------------------------

def test_recommend_is_the_submission(world):
    import hmbatch
    expected = submission(world["ws"], "ranker")  # the default of a run with a ranker
    sample = [c for c in list(expected)[::25] if c != UNKNOWN] + [UNKNOWN]
    with hmbatch.open_workspace(world["ws"]) as ws:
        lists = ws.recommend(sample, k=12)
        assert list(lists) == sample
        assert lists == {c: expected[c] for c in sample}
        assert ws.recommend([UNKNOWN], k=12)[UNKNOWN] == expected[UNKNOWN]  # cold start, alone too
        assert len(ws.recommend(sample[:3], k=30)[sample[0]]) == 30


def test_recommend_takes_submit_strategies(world):
    import hmbatch
    run_ok("submit", "--strategy", "repurchase", "--workspace", world["ws"])
    expected = submission(world["ws"], "repurchase")
    sample = list(expected)[1::40]
    with hmbatch.open_workspace(world["ws"]) as ws:
        assert ws.recommend(sample, strategy="repurchase") == {c: expected[c] for c in sample}
        with pytest.raises(hmbatch.errors.HmbatchError, match="unknown strategy"):
            ws.recommend(sample, strategy="nope")


def test_evaluate_is_the_cli_json(world):
    import hmbatch
    with hmbatch.open_workspace(world["ws"]) as ws:
        assert json.loads(json.dumps(ws.evaluate())) == world["evaluation"]


def test_open_workspace_errors_match_the_cli(world, tmp_path):
    import hmbatch
    from hmbatch.errors import HmbatchError
    cases = {"empty": tmp_path / "empty", "stale": tmp_path / "stale"}
    shutil.copytree(world["ws"], cases["stale"], ignore=shutil.ignore_patterns("submissions"))
    run_dir = cases["stale"] / "models" / (cases["stale"] / "models" / "CURRENT").read_text().strip()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "fingerprint": "0" * 16}))
    for name, path in cases.items():
        cli = invoke("query", UNKNOWN, "--workspace", path)
        assert cli.exit_code == 1
        with pytest.raises(HmbatchError) as caught:
            hmbatch.open_workspace(path)
        assert f"error: {caught.value}" == " ".join(cli.output.split()), name
    assert "no trained model" in str(pytest.raises(HmbatchError, hmbatch.open_workspace, cases["empty"]).value)
    with hmbatch.open_workspace(cases["stale"], allow_stale=True) as ws:
        assert len(ws.recommend([UNKNOWN])[UNKNOWN]) == 12


def test_known_customers_do_not_import_tensorflow(world):
    customer = list(submission(world["ws"], "ranker"))[0]
    code = ("import sys, hmbatch; assert 'duckdb' not in sys.modules; "
            "ws = hmbatch.open_workspace(sys.argv[1]); lists = ws.recommend([sys.argv[2]]); "
            "assert len(lists[sys.argv[2]]) == 12; "
            "assert not any(m.startswith('tensorflow') for m in sys.modules), 'tensorflow imported'")
    proc = subprocess.run([sys.executable, "-c", code, str(world["ws"]), customer], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_readme_api_example_runs(world, tmp_path):
    text = README.read_text()
    block = re.search(r"## Python API.*?```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "hmbatch-work").symlink_to(world["ws"])
    proc = subprocess.run([sys.executable, "-c", block + "\nassert len(next(iter(lists.values()))) == 12\n"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- the report, drawn in Chromium -----------------------------------------------------------------

def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("Chromium not installed (.ci/run installs Debian's chromium package)")


def render(page: Path, tmp_path: Path) -> tuple[str, str]:
    """Loads `page` in headless Chromium with a JavaScript error collector; (DOM after scripts, log)."""
    probe = tmp_path / f"probe-{page.name}"
    collector = ("<script>window.addEventListener('error', e => document.documentElement.setAttribute("
                 "'data-js-errors', (document.documentElement.getAttribute('data-js-errors') || '') + e.message + ';'));</script>")
    probe.write_text(page.read_text().replace("<head>", "<head>" + collector, 1))
    profile = tmp_path / f"profile-{page.stem}"
    profile.mkdir()
    flags = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
    dom = subprocess.run(flags + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    return dom.stdout, dom.stderr


def check_drawn(html: str, dom: str, log: str) -> int:
    figures = int(re.search(r'name=hmbatch-figures content=(\d+)', html).group(1))
    divs = re.findall(r'<div id="(figure-\d+)" class="[^"]*plotly-graph-div', dom)
    assert len(divs) == figures, (divs, figures)
    for start, end in zip(divs, divs[1:] + [None]):
        chunk = dom[dom.index(f'id="{start}"'):dom.index(f'id="{end}"') if end else len(dom)]
        assert 'class="main-svg"' in chunk, f"{start} not drawn"
    errors = re.search(r'<html[^>]*data-js-errors="([^"]*)"', dom)
    assert errors is None and "Uncaught" not in log, errors and errors.group(1)
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="?https?:', html)  # nothing fetched
    return figures


def test_report_is_drawn_in_chromium(world, tmp_path):
    result = run_ok("report", "--workspace", world["ws"])
    page = world["ws"] / "models" / (world["ws"] / "models" / "CURRENT").read_text().strip() / "report.html"
    assert page.exists() and "report.html" in result.stdout
    html = page.read_text()
    for text in ("MAP@12", "recall@N", "union", "loss per epoch", "Weekly sales", "best sellers",
                 "Example customers", "carries", "repurchase", "bought_together"):
        assert text in html, text
    dom, log = render(page, tmp_path)
    assert check_drawn(html, dom, log) == 8
    assert dom.count("<caption>top 12 (ranker)</caption>") == 3


def test_report_uses_saved_candidate_recall_and_ranker(world, tmp_path):
    """The keys the ranker's run will write: the curves and the importance are drawn from them."""
    ws = tmp_path / "ws"
    shutil.copytree(world["ws"], ws, ignore=shutil.ignore_patterns("submissions"))
    run_dir = ws / "models" / (ws / "models" / "CURRENT").read_text().strip()
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    evaluation["candidate_recall"] = {"n": [10, 20], "sources": {"co-bought": [0.1, 0.2], "union": [0.3, 0.45]}}
    (run_dir / "evaluation.json").write_text(json.dumps(evaluation))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["ranker"] = {"feature_importance": {"rep_score": 120.0, "dot": 80.0}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "r.html"
    run_ok("report", "--out", out, "--workspace", ws)
    html = out.read_text()
    assert "co-bought" in html and "from evaluation.json" in html and "rep_score carries 60%" in html
    dom, log = render(out, tmp_path)
    assert check_drawn(html, dom, log) == 8
