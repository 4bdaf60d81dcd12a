"""End to end on a tiny synthetic world: train, the index's exact twin, round trips, planted taste,
evaluate, submit and query through the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import copy_world
from hmbatch.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def world(trained_world, tmp_path_factory):
    """A copy of the shared world (conftest.trained_world: its planted taste, PLANTED customers
    who buy only from one small section): these tests evaluate, tune and train it further."""
    return copy_world(trained_world, tmp_path_factory.mktemp("world"))


def current_run(ws: Path) -> Path:
    return ws / "models" / (ws / "models" / "CURRENT").read_text().strip()


def test_loss_falls_and_manifest(world):
    manifest = json.loads((current_run(world["ws"]) / "manifest.json").read_text())
    # the first training's epochs (the weekly continuations after it each see other weeks)
    losses = [e["loss"] for e in manifest["training"]["epochs"] if e["stage"] == 0]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert manifest["config"]["holdout_days"] == 7 and manifest["fingerprint"]
    assert 0 <= manifest["retrieval"]["recall@12"] <= manifest["retrieval"]["recall@100"] <= 1


def test_index_is_exact_twin_of_towers(world):
    from hmbatch import features
    from hmbatch.index import NumpyIndex
    from hmbatch.model import embed, load_model
    from hmbatch.retrieve import Retriever
    from hmbatch.workspace import Workspace
    r = Retriever.open(Workspace(world["ws"]))
    model = load_model(r.run_dir, r.manifest)
    asof = r.cutoff + dt.timedelta(days=1)
    arts = features.article_features_at(r.con, asof)
    custs = features.customer_features_at(r.con, asof)
    art = np.hstack([embed(model.candidate_model, arts), arts["log_sales_7"][:, None] * 5])
    cust = embed(model.query_model, custs)
    # save/load round trip: reloaded towers give the saved embeddings
    np.testing.assert_allclose(cust, r.customer_emb, rtol=1e-4, atol=1e-4)
    recent = np.isin(arts["article_id"], r.recent.ids)
    oracle = NumpyIndex().build(art[recent], arts["article_id"][recent])
    queries = np.hstack([cust[:50], np.ones((50, 1), np.float32)])
    np.testing.assert_array_equal(oracle.search(queries, 12)[1], r.recent.search(queries, 12)[1])


def test_planted_taste_is_recovered(world):
    from hmbatch.serving import Serving
    from hmbatch.workspace import Workspace
    r = Serving.open(Workspace(world["ws"]))
    idx = r.customer_index(world["planted"])
    lists = r.recommend(idx, 12, "two-tower")
    section = dict(r.con.execute(
        "SELECT a.article_id, c.name FROM articles a JOIN categories c ON c.feature = 'section' "
        "AND c.code = a.section").fetchall())
    share = np.mean([section[a] == world["section"] for a in lists.ravel().tolist()])
    others = r.recommend(np.arange(200), 12, "two-tower")
    base = np.mean([section[a] == world["section"] for a in others.ravel().tolist()])
    assert share >= 0.6 and share > 3 * base, (share, base)


def test_evaluate_tune_and_saved_results(world):
    result = invoke("evaluate", "--tune", "--json", "--workspace", world["ws"])
    assert result.exit_code == 0, result.output
    saved = json.loads((current_run(world["ws"]) / "evaluation.json").read_text())
    names = set(saved["results"])
    assert names == {"ranker", "blend", "two-tower", "repurchase", "popular", "baseline: last week's best sellers",
                     "baseline: recent purchases + best sellers", "baseline: implicit ALS + popularity"}
    for res in saved["results"].values():
        assert 0 <= res["map@12"] <= 1 and 0 <= res["coverage"] <= 1
    manifest = json.loads((current_run(world["ws"]) / "manifest.json").read_text())
    assert manifest["blend"] == saved["weights"] == {**saved["tuning"]["weights"], "beta": manifest["blend"]["beta"]}
    assert set(saved["tuning"]["two_tower_map@12_by_beta"]) == {"0.5", "1.0", "2.0", "4.0", "8.0"}


def test_submit_format_and_order(world, tmp_path):
    out = tmp_path / "sub.csv"
    result = invoke("submit", "--out", out, "--workspace", world["ws"])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["customer_id", "prediction"]
    with open(world["data"] / "sample_submission.csv", newline="") as handle:
        expected = [r[0] for r in list(csv.reader(handle))[1:]]
    assert [r[0] for r in rows[1:]] == expected  # every customer once, in the file's order
    with open(world["data"] / "articles.csv", newline="") as handle:
        known = {r["article_id"] for r in csv.DictReader(handle)}
    for _, prediction in rows[1:]:
        items = prediction.split(" ")
        assert len(items) == 12 and len(set(items)) == 12 and set(items) <= known
        assert all(len(i) == 10 for i in items)
    assert not list(tmp_path.glob(".sub.csv*"))


@pytest.mark.parametrize("strategy", ["blend", "two-tower", "repurchase", "popular"])
def test_batch_equals_one_by_one_query(world, tmp_path, strategy):
    out = tmp_path / f"{strategy}.csv"
    assert invoke("submit", "--out", out, "--strategy", strategy, "--workspace", world["ws"]).exit_code == 0
    rows = list(csv.reader(open(out, newline="")))[1:]
    for customer, prediction in rows[:: max(1, len(rows) // 6)]:
        result = invoke("query", customer, "--json", "--strategy", strategy, "--workspace", world["ws"])
        assert result.exit_code == 0, result.output
        items = json.loads(result.output)["items"]
        assert " ".join(i["article_id"] for i in items) == prediction


def test_unknown_and_malformed_ids(world):
    unknown = invoke("query", "f" * 64, "--json", "--workspace", world["ws"])
    assert unknown.exit_code == 0
    body = json.loads(unknown.output)
    assert body["known"] is False and "cold-start" in body["note"] and len(body["items"]) == 12
    bad = invoke("query", "not-a-customer!", "--workspace", world["ws"])
    assert bad.exit_code == 1 and "malformed customer id" in bad.output
    short = invoke("query", "abc123", "--workspace", world["ws"])
    assert short.exit_code == 1 and "64 lowercase hexadecimal" in short.output


def _customers(data: Path) -> tuple[str, str]:
    """A customer with purchases and one without any (cold)."""
    with open(data / "transactions_train.csv", newline="") as handle:
        buyers = [r["customer_id"] for r in csv.DictReader(handle)]
    with open(data / "customers.csv", newline="") as handle:
        cold = sorted({r["customer_id"] for r in csv.DictReader(handle)} - set(buyers))
    assert cold, "the tiny world has customers without a purchase"
    return buyers[-1], cold[0]


@pytest.mark.parametrize("strategy", ["ranker", "blend", "two-tower", "repurchase", "popular"])
def test_any_k_gives_k_distinct_catalogue_articles(world, strategy):
    """Known, cold and unknown customers, through the API and `query`: k distinct articles of the
    catalogue for every k accepted, also past what the sources propose (the ranker keeps 80
    candidates per customer, as does every strategy)."""
    import hmbatch
    with open(world["data"] / "articles.csv", newline="") as handle:
        catalogue = {r["article_id"] for r in csv.DictReader(handle)}
    known, cold = _customers(world["data"])
    customers = [known, cold, "f" * 64]
    lists = hmbatch.open_workspace(world["ws"]).recommend(customers, k=100, strategy=strategy)
    short = hmbatch.open_workspace(world["ws"]).recommend(customers, k=1, strategy=strategy)
    for customer in customers:
        assert len(lists[customer]) == 100 and len(set(lists[customer])) == 100
        assert set(lists[customer]) <= catalogue and short[customer] == lists[customer][:1]
    for customer in customers:
        result = invoke("query", customer, "--k", "100", "--json", "--strategy", strategy, "--workspace", world["ws"])
        assert result.exit_code == 0, result.output
        assert [i["article_id"] for i in json.loads(result.output)["items"]] == lists[customer]


def test_single_source_strategies_rank_the_shared_candidates(world):
    """`repurchase` and `popular` are orders of the one candidate table (known answers from the
    CSV): a customer's own articles of the 12-week window by recency-weighted count (each purchase
    adds exp(-days before the cut-off / 14); ties: the latest bought, then the smaller id), then
    the age band's best sellers; `popular` is the band's best sellers of the cut-off's week."""
    import math
    from hmbatch.serving import Serving
    from hmbatch.workspace import Workspace
    with Serving.open(Workspace(world["ws"])) as s:
        cutoff = s.cutoff
        ids = dict(s.con.execute("SELECT customer_id, customer_idx FROM customers").fetchall())
        ages = dict(s.con.execute("SELECT customer_idx, age FROM customers").fetchall())
        with open(world["data"] / "transactions_train.csv", newline="") as handle:
            rows = [(dt.date.fromisoformat(t["t_dat"]), ids[t["customer_id"]], int(t["article_id"]))
                    for t in csv.DictReader(handle)]
        score, last = {}, {}
        for day, customer, article in rows:
            age = (cutoff - day).days
            if 0 <= age < 84:
                key = (customer, article)
                score[key] = score.get(key, 0.0) + math.exp(-age / 14)
                last[key] = min(last.get(key, 10**6), age)
        mine: dict[int, list] = {}
        for (customer, article), value in score.items():
            mine.setdefault(customer, []).append((-round(value, 9), last[(customer, article)], article))
        chosen = sorted(c for c, items in mine.items() if 2 <= len(items) <= 6)[:20]
        assert chosen
        lists = s.recommend(np.array(chosen), 12, "repurchase")
        for customer, row in zip(chosen, lists.tolist()):
            expected = [a for _, _, a in sorted(mine[customer])]
            assert row[:len(expected)] == expected, customer

        def band(age):
            return -1 if age is None else min(max((age - 15) // 10, 0), 4)
        week: dict[int, dict[int, int]] = {}
        for day, customer, article in rows:
            if 0 <= (cutoff - day).days < 7:
                for b in {-1, band(ages[customer])}:
                    week.setdefault(b, {})[article] = week.setdefault(b, {}).get(article, 0) + 1
        popular = s.recommend(np.array(chosen), 12, "popular")
        for customer, row in zip(chosen, popular.tolist()):
            sales = week[band(ages[customer])]
            expected = sorted(sales, key=lambda a: (-sales[a], a))[:12]
            assert row[:len(expected)] == expected, customer


def test_an_opened_run_can_build_and_attach_contexts_again(world):
    """The saved context an opened run reads (views) and a context built again on the same
    connection (tables, as the ranker's training and the benchmarks' ablation do) replace each
    other both ways, and the lists come back the same."""
    from hmbatch import candidates
    from hmbatch.serving import Serving
    from hmbatch.workspace import Workspace
    with Serving.open(Workspace(world["ws"])) as s:
        before = s.recommend(np.arange(30), 12, "ranker")
        candidates.prepare(s.con, s.cutoff, s.config)
        rebuilt = s.recommend(np.arange(30), 12, "ranker")
        candidates.attach_context(s.con, s.run_dir / "context")
        assert s.recommend(np.arange(30), 12, "ranker").tolist() == before.tolist() == rebuilt.tolist()


def test_lists_are_filled_from_articles_on_sale(world):
    """The fill order holds only articles sold in the 28 days before the cut-off, by last week's
    sales (known answer from the CSV), and every list past its sources takes from it in order."""
    from hmbatch.retrieve import MAX_K, Retriever
    from hmbatch.workspace import Workspace
    r = Retriever.open(Workspace(world["ws"]))
    try:
        cutoff = r.cutoff
        with open(world["data"] / "transactions_train.csv", newline="") as handle:
            rows = [(dt.date.fromisoformat(t["t_dat"]), int(t["article_id"])) for t in csv.DictReader(handle)]
        week, month = {}, {}
        for day, article in rows:
            if cutoff - dt.timedelta(days=28) < day <= cutoff:
                month[article] = month.get(article, 0) + 1
                if day > cutoff - dt.timedelta(days=7):
                    week[article] = week.get(article, 0) + 1
        expected = sorted(month, key=lambda a: (-week.get(a, 0), -month[a], a))[:MAX_K]
        assert len(expected) == MAX_K and r.fill_order.tolist() == expected
        assert set(r.pop_lists.ravel().tolist()) <= set(month)
        lists = np.array([[expected[3], -1, -1], [-1, -1, -1]])
        assert r.filled(lists).tolist() == [[expected[3], expected[0], expected[1]], expected[:3]]
    finally:
        r.con.close()


def test_interrupted_submit_leaves_no_file(world, tmp_path, monkeypatch):
    from hmbatch import submit as submit_mod
    calls = {"n": 0}
    original = submit_mod.format_lines

    def interrupt_on_second_chunk(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(submit_mod, "format_lines", interrupt_on_second_chunk)
    monkeypatch.setattr(submit_mod, "CHUNK", 100)
    out = tmp_path / "sub.csv"
    result = invoke("submit", "--out", out, "--workspace", world["ws"])
    assert result.exit_code == 130 and "interrupted" in result.output
    assert not out.exists() and not list(tmp_path.iterdir())


def test_same_seed_same_model(without_ranker, tmp_path):
    """The same options and seed on the same database train the same model (losses, embeddings)."""
    import shutil
    ws2 = tmp_path / "again"
    ws2.mkdir()
    shutil.copy(without_ranker / "hmbatch.duckdb", ws2 / "hmbatch.duckdb")
    assert invoke("train", "--workspace", ws2, *NO_RANKER_ARGS).exit_code == 0
    first = json.loads((current_run(without_ranker) / "manifest.json").read_text())
    second = json.loads((current_run(ws2) / "manifest.json").read_text())
    assert [e["loss"] for e in first["training"]["epochs"]] == [e["loss"] for e in second["training"]["epochs"]]
    np.testing.assert_array_equal(np.load(current_run(without_ranker) / "customer_embeddings.npy"),
                                  np.load(current_run(ws2) / "customer_embeddings.npy"))


def test_query_of_known_customer_does_not_import_tensorflow(world):
    import subprocess
    import sys
    customer = next(r for i, r in enumerate(csv.reader(open(world["data"] / "customers.csv"))) if i == 1)[0]
    code = ("import sys; from typer.testing import CliRunner; from hmbatch.cli import app; "
            f"r = CliRunner().invoke(app, ['query', '{customer}', '--workspace', sys.argv[1]]); "
            "assert r.exit_code == 0, r.output; "
            "assert not any(m.startswith('tensorflow') for m in sys.modules), 'tensorflow imported'")
    proc = subprocess.run([sys.executable, "-c", code, str(world["ws"])], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_candidate_recall_adds_up_over_chunks(world, monkeypatch):
    """evaluate counts the sources' recall on the candidates it ranks, chunk by chunk (built once):
    the same figures as one pass over every held-out buyer."""
    from hmbatch import candidates, evaluate as evaluate_mod, ranker
    from hmbatch.retrieve import Retriever
    from hmbatch.serving import Serving
    from hmbatch.workspace import Workspace
    monkeypatch.setattr(evaluate_mod, "RANKER_CHUNK", 50)
    chunked = evaluate_mod.evaluate(Workspace(world["ws"]), ("ranker",))["candidate_recall"]
    r = Retriever.open(Workspace(world["ws"]))
    try:
        truth = evaluate_mod.held_out(r)
        days = r.manifest["config"]["holdout_days"]
        Serving(r).block(truth.customers, "ranker")  # every buyer's candidates at once
        whole = candidates.source_recall(
            r.con, ranker.purchases_between(r.con, r.cutoff, r.cutoff + dt.timedelta(days=days)))
    finally:
        r.con.close()
    assert len(truth.customers) > 2 * 50 and whole["purchases"] == chunked["purchases"] > 0
    for source, curve in whole["sources"].items():
        assert chunked["sources"][source] == pytest.approx(curve), source
    assert whole["sources"]["union"][-1] > 0


@pytest.fixture
def buyer_builds(monkeypatch) -> tuple[list, object]:
    """(the (beta, customers) of each `evaluate.buyers_block` call from now on, the function)."""
    from hmbatch import evaluate as evaluate_mod
    builds, build = [], evaluate_mod.buyers_block
    monkeypatch.setattr(evaluate_mod, "buyers_block", lambda s, customers, *a: builds.append(
        (s.weights["beta"], len(customers))) or build(s, customers, *a))
    return builds, build


def test_tuned_figures_are_out_of_sample(world, buyer_builds):
    """evaluate --tune ranks each half of the buyers with beta and weights fitted on the other half:
    the blend's and the two-tower's reported MAP@12 are the cross-fitted lists' (known answer:
    recomputed here from the folds' saved weights), never the in-sample fit. The buyers are fewer
    than TUNE_SAMPLE, so their candidates are built once per beta of BETAS and never again, and
    not at all at the ranker's beta (1.0): the ranker's candidates, built first, serve there."""
    from hmbatch import evaluate as evaluate_mod
    from hmbatch.metrics import map_at_k_matrix
    from hmbatch.serving import Serving
    from hmbatch.workspace import Workspace
    builds, build = buyer_builds
    out = evaluate_mod.evaluate(Workspace(world["ws"]), ("blend", "two-tower"), do_tune=True)
    assert builds == [(beta, out["buyers"]) for beta in evaluate_mod.BETAS if beta != 1.0]
    folds = out["tuning"]["folds"]
    assert len(folds) == 2 and sum(f["scored_on"] for f in folds) == out["buyers"]
    with Serving.open(Workspace(world["ws"])) as s:
        truth = evaluate_mod.held_out(s.first_stage)
        n = len(truth.customers)
        order = np.random.default_rng(0).permutation(n)
        halves = (np.sort(order[:n // 2]), np.sort(order[n // 2:]))
        blend, tt = np.zeros(n), np.zeros(n)
        for fold, other in zip(folds, (halves[1], halves[0])):
            s.first_stage.weights = {**fold["weights"], "beta": fold["beta"]}
            customers = truth.customers[other]
            sub = evaluate_mod.subset(truth, other)
            blend[other] = map_at_k_matrix(s.recommend(customers, 12, "blend"), sub)
            tt[other] = map_at_k_matrix(s.recommend(customers, 12, "two-tower"), sub)
    assert out["results"]["blend"]["map@12"] == pytest.approx(blend.mean())
    assert out["results"]["two-tower"]["map@12"] == pytest.approx(tt.mean())
    assert out["tuning"]["map@12_other_half"] == pytest.approx(blend.mean())


def test_tuning_sample_is_taken_from_the_rankers_candidates(world, buyer_builds):
    """Known answer: with more buyers than TUNE_SAMPLE, the sample's candidates at the ranker's
    beta (1.0) are taken out of every buyer's, built for the ranker, not built again: they are
    the candidates a fresh build of the sample gives, column for column, and so are its scores."""
    from hmbatch import evaluate as evaluate_mod
    from hmbatch.metrics import map_at_k_matrix
    from hmbatch.serving import Serving
    from hmbatch.workspace import Workspace
    builds, build = buyer_builds
    with Serving.open(Workspace(world["ws"])) as s:
        truth = evaluate_mod.held_out(s.first_stage)
        _, _, shared = evaluate_mod.ranker_lists(s, truth.customers)
        assert shared is not None and s.ranker().beta == 1.0
        rows = np.arange(0, len(truth.customers), 2)
        scores, _ = evaluate_mod.beta_scores(s, truth, rows, {1.0: shared})
        assert builds == [(beta, len(rows)) for beta in evaluate_mod.BETAS if beta != 1.0]
        s.first_stage.weights = {**s.weights, "beta": 1.0}
        fresh = build(s, truth.customers[rows])
        taken = shared.take(rows)
        sample = evaluate_mod.subset(truth, rows)
        expected = map_at_k_matrix(evaluate_mod.served_lists(s, fresh, "two-tower"), sample)
    assert set(taken.cols) == set(fresh.cols) and np.array_equal(taken.customers, fresh.customers)
    for name, values in fresh.cols.items():
        np.testing.assert_array_equal(taken.cols[name], values, err_msg=name)
    np.testing.assert_array_equal(scores[1.0], expected)


def test_final_model_carries_tuned_blend_over(world, tmp_path):
    """Runs last: train on every week after `evaluate --tune`; the new model keeps the weights.
    It was trained with other options than the validation run (a cold start), so its report has
    no held-out week to draw and says which figures are missing and why."""
    from test_workspace_tools import check_drawn, render
    tuned = json.loads((current_run(world["ws"]) / "manifest.json").read_text())["blend"]
    assert tuned is not None
    result = invoke("train", "--holdout-days", "0", "--workspace", world["ws"], "--epochs", "1",
                    "--batch-size", "256", "--dim", "32")
    assert result.exit_code == 0, result.output
    final = json.loads((current_run(world["ws"]) / "manifest.json").read_text())
    assert final["config"]["holdout_days"] == 0 and final["blend"] == tuned
    assert "retrieval" not in final and final["warm_start"]["from"] is None
    evaluate = invoke("evaluate", "--workspace", world["ws"])
    assert evaluate.exit_code == 1 and "no held-out week" in evaluate.output
    assert invoke("submit", "--workspace", world["ws"]).exit_code == 0
    report = invoke("report", "--out", tmp_path / "r.html", "--workspace", world["ws"])
    assert report.exit_code == 0 and "missing:" in report.stdout and "--holdout-days 0" in report.stdout
    html = (tmp_path / "r.html").read_text()
    assert "no held-out week" in html and "true purchases unknown" in html
    dom, log = render(tmp_path / "r.html", tmp_path)
    assert check_drawn(html, dom, log) == 5  # with the ranker's feature importance


NO_RANKER_ARGS = ("--customer-id", "--ranker", "none", "--epochs", "2", "--dim", "8")


@pytest.fixture(scope="module")
def without_ranker(world, tmp_path_factory) -> Path:
    """A workspace of the same database whose run has no ranker and a customer id embedding
    (`--customer-id --ranker none`)."""
    import shutil
    ws = tmp_path_factory.mktemp("no ranker") / "with id"
    ws.mkdir()
    shutil.copy(world["ws"] / "hmbatch.duckdb", ws / "hmbatch.duckdb")
    result = invoke("train", "--workspace", ws, *NO_RANKER_ARGS)
    assert result.exit_code == 0, result.output
    return ws


def test_with_customer_id_trains_and_reloads(without_ranker):
    """`--customer-id` (the default has none: the customer tower is attributes and history only):
    the run trains with a per-customer id embedding, and its reloaded towers give the saved
    embeddings (the path of customers added later, with no trained id)."""
    from hmbatch import features
    from hmbatch.data import connect_read_only
    from hmbatch.model import embed, load_model
    from hmbatch.workspace import Workspace
    run = current_run(without_ranker)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["use_customer_id"] is True
    con = connect_read_only(Workspace(without_ranker))
    custs = features.customer_features_at(con, dt.date.fromisoformat(manifest["cutoff"]) + dt.timedelta(days=1))
    con.close()
    np.testing.assert_allclose(embed(load_model(run, manifest).query_model, custs),
                               np.load(run / "customer_embeddings.npy"), rtol=1e-4, atol=1e-4)


def test_ranker_strategy_without_a_ranker_is_one_line(without_ranker):
    result = invoke("query", "f" * 64, "--strategy", "ranker", "--workspace", without_ranker)
    assert result.exit_code == 1 and "has no ranker" in result.output
    result = invoke("query", "f" * 64, "--json", "--workspace", without_ranker)
    assert result.exit_code == 0 and json.loads(result.stdout)["strategy"] == "blend"
