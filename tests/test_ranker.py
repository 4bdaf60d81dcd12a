"""The second stage with known answers: a planted rule the ranker must learn, labels checked
against the raw file, no leakage from a planted future purchase, determinism, and query == submit."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import append_rows, read_rows
from hmbatch import candidates, ranker
from hmbatch.cli import app
from hmbatch.data import connect_read_only
from hmbatch.workspace import Workspace

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def world(trained_world):
    """The shared world (conftest.trained_world), read only: its REBUYERS buy the other colour of
    last week's product, its run has the ranker with the two-tower's sources and features."""
    return trained_world


def current_run(ws: Path) -> Path:
    return ws / "models" / (ws / "models" / "CURRENT").read_text().strip()


def test_planted_rule_is_learned(world, tmp_path):
    """Rebuyers' held-out purchase is the other colour of last week's product: the ranker puts it
    in the top 12 for most of them; last week's best sellers almost never do."""
    out = tmp_path / "sub.csv"
    invoke("submit", "--out", out, "--workspace", world["ws"])
    lists = {r[0]: r[1].split() for r in read_rows(out)[1:]}
    found = [world["expected"][c][1].zfill(10) in lists[c] for c in world["expected"]]
    invoke("submit", "--out", out, "--strategy", "popular", "--workspace", world["ws"])
    popular = {r[0]: r[1].split() for r in read_rows(out)[1:]}
    found_popular = [world["expected"][c][1].zfill(10) in popular[c] for c in world["expected"]]
    assert np.mean(found) >= 0.8 and np.mean(found) >= np.mean(found_popular) + 0.5, (np.mean(found), np.mean(found_popular))
    info = json.loads((current_run(world["ws"]) / "ranker" / "ranker.json").read_text())
    top = list(info["feature_importance"])[:8]
    assert {"product_count", "sp_score", "sp_rank", "product_days_since"} & set(top), top


def test_labels_are_the_weeks_purchases(world):
    """Label 1 exactly for the candidates the customer bought in the 7 days after the cut-off,
    checked against the raw CSV."""
    con = connect_read_only(Workspace(world["ws"]))
    ids = dict(con.execute("SELECT customer_id, customer_idx FROM customers").fetchall())
    last = dt.date.fromisoformat(con.execute("SELECT max(t_dat) FROM transactions").fetchone()[0].isoformat())
    cutoff = last - dt.timedelta(days=14)
    bought = {(ids[r[1]], int(r[2])) for r in read_rows(world["data"] / "transactions_train.csv")[1:]
              if cutoff < dt.date.fromisoformat(r[0]) <= cutoff + dt.timedelta(days=7)}
    week = ranker.week_data(con, cutoff, ranker.RankerConfig(two_tower=False), None, sample=False)
    pairs = list(zip(week["cols"]["customer_idx"].tolist(), week["cols"]["article_id"].tolist()))
    assert len(pairs) == len(set(pairs))  # one row per customer and article
    assert week["label"].tolist() == [int(p in bought) for p in pairs]
    assert set(week["buyers"].tolist()) == {c for c, _ in bought}
    assert week["label"].sum() > 0
    con.close()


def features_at(ws: Path, cutoff: dt.date, customers: np.ndarray, snap: dict | None = None) -> dict[str, np.ndarray]:
    con = connect_read_only(Workspace(ws))
    config = candidates.CandidateConfig()
    candidates.prepare(con, cutoff, config)
    tt = (candidates.TwoTowerSource.at_cutoff(con, snap["customer_emb"], snap["article_ids"], snap["article_emb"])
          if snap else None)
    cols = ranker.features_of(con, customers, config, tt)
    con.close()
    return cols


OPTIONS = {"weeks": 4, "epochs": 1, "dim": 8, "batch_size": 256, "continue_weeks": 2}


def snapshots_of(ws: Path, end: dt.date, label_weeks: int, folder: Path, buyers_only: bool = False) -> dict:
    """The two-tower carried week by week to `end`, snapshotted before each of its last weeks."""
    from hmbatch import train
    con = connect_read_only(Workspace(ws))
    config = train.TrainConfig(holdout_days=0, **OPTIONS)
    _, _, _, snaps = train.week_by_week(config, con, end, label_weeks, folder, log=lambda *_: None,
                                        buyers_only=buyers_only)
    con.close()
    return snaps


@pytest.fixture(scope="module")
def carried(world, tmp_path_factory) -> tuple[dt.date, dict]:
    """(the run's cut-off, the two-tower carried week by week to it and snapshotted at its 3 label
    weeks), trained once for the tests below."""
    manifest = json.loads((current_run(world["ws"]) / "manifest.json").read_text())
    cutoff = dt.date.fromisoformat(manifest["cutoff"])
    return cutoff, snapshots_of(world["ws"], cutoff, 3, tmp_path_factory.mktemp("snapshots"))


def test_no_leakage_from_a_planted_future_purchase(world, carried, tmp_path):
    """Purchases dated after a cut-off change no candidate and no feature of that cut-off, the
    two-tower's snapshot at it (carried week by week) and its two sources and features included."""
    end, before_snaps = carried
    cutoff = end - dt.timedelta(days=14)  # the first label week: the model continues past it
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    rows = read_rows(data / "transactions_train.csv")[1:]
    customer, article = rows[-1][1], rows[0][2]
    future = [[(cutoff + dt.timedelta(days=d)).isoformat(), customer, article, "0.5", "1"] for d in (1, 3, 9)]
    append_rows(data / "transactions_train.csv", future * 5)
    invoke("build-db", data, "--workspace", tmp_path / "ws")
    con = connect_read_only(Workspace(world["ws"]))
    active = np.array([c for (c,) in con.execute(
        "SELECT DISTINCT customer_idx FROM transactions WHERE t_dat <= ? ORDER BY 1", [cutoff]).fetchall()])
    con.close()
    # the snapshot at `cutoff` is taken before the model continues into the planted week
    snaps = [before_snaps[cutoff], snapshots_of(tmp_path / "ws", end, 3, tmp_path / "after")[cutoff]]
    for name in ("customer_emb", "article_emb", "article_ids"):
        np.testing.assert_array_equal(snaps[0][name], snaps[1][name], err_msg=name)
    before = features_at(world["ws"], cutoff, active, snaps[0])
    after = features_at(tmp_path / "ws", cutoff, active, snaps[1])
    assert before.keys() == after.keys() and len(before["article_id"]) > 0
    assert np.isfinite(before["tt_dot"]).any() and np.isfinite(before["ts_rank"]).any()
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)


def test_snapshots_follow_the_weeks(carried):
    """Each label week gets its own snapshot, taken before the model trains on that week: the
    carried model moves between snapshots."""
    end, snaps = carried
    assert sorted(snaps) == [end - dt.timedelta(days=d) for d in (21, 14, 7)]
    embs = [snaps[w]["article_emb"] for w in sorted(snaps)]
    for first, second in zip(embs, embs[1:]):
        assert first.shape == second.shape and not np.array_equal(first, second)


def test_a_label_weeks_snapshot_of_its_buyers_holds_their_rows(world, carried, tmp_path):
    """`train` snapshots only each label week's buyers (all a week scores): their rows are the
    whole snapshot's, the other customers raise instead of reading a wrong row."""
    end, whole = carried
    con = connect_read_only(Workspace(world["ws"]))
    bought = {w: set(np.unique(ranker.purchases_between(con, w, w + dt.timedelta(days=7))["customer_idx"]).tolist())
              for w in whole}
    con.close()
    some = snapshots_of(world["ws"], end, 3, tmp_path / "some", buyers_only=True)
    for week, buyers in bought.items():
        rows = some[week]["customer_emb"]
        assert sorted(rows.customer_idx.tolist()) == sorted(buyers) and len(rows) == len(whole[week]["customer_emb"])
        idx = np.array(sorted(buyers), np.int64)
        np.testing.assert_allclose(rows[idx], whole[week]["customer_emb"][idx], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(some[week]["article_emb"], whole[week]["article_emb"])
        other = next(c for c in range(len(rows)) if c not in buyers)
        with pytest.raises(KeyError, match="not in this two-tower snapshot"):
            rows[np.array([other])]


@pytest.mark.parametrize("two_tower", [True, False])
def test_ranker_training_is_deterministic(world, carried, tmp_path, two_tower):
    manifest = json.loads((current_run(world["ws"]) / "manifest.json").read_text())
    cutoff, snaps = carried
    con = connect_read_only(Workspace(world["ws"]))
    config = ranker.RankerConfig(two_tower=two_tower, weeks=3)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        ranker.train_ranker(tmp_path / name, con, cutoff, manifest, config, log=lambda *_: None,
                            snapshots=snaps if two_tower else None)
    con.close()
    assert (tmp_path / "a" / "ranker" / "model.txt").read_bytes() == (tmp_path / "b" / "ranker" / "model.txt").read_bytes()
    names = json.loads((tmp_path / "a" / "ranker" / "ranker.json").read_text())["features"]
    assert ("tt_dot" in names and "ts_rank" in names) == two_tower


def test_query_equals_submit_for_the_ranker(world, tmp_path):
    """The ranker with its two-tower sources and features (the world's run has them on)."""
    info = json.loads((current_run(world["ws"]) / "ranker" / "ranker.json").read_text())
    assert "tt_dot" in info["features"] and info["two_tower"]["beta"] == ranker.TT_BETA
    out = tmp_path / "sub.csv"
    invoke("submit", "--out", out, "--workspace", world["ws"])
    lines = {r[0]: r[1].split() for r in read_rows(out)[1:]}
    for customer in sorted(world["expected"])[:8] + sorted(lines)[:4]:
        result = json.loads(invoke("query", customer, "--json", "--workspace", world["ws"]).stdout)
        assert result["strategy"] == "ranker"
        assert [item["article_id"] for item in result["items"]] == lines[customer]
        assert all(item["sources"] for item in result["items"])


def test_each_strategy_from_one_candidate_set_per_beta(world, monkeypatch):
    """`Serving.recommend_each` (the report's) gives every strategy the lists `recommend` gives,
    building the candidates once per two-tower beta: here the ranker's (TT_BETA) and another one
    for the rest, so 2 builds for the 5 strategies."""
    from hmbatch.retrieve import STRATEGIES
    from hmbatch.serving import Serving
    idx = np.array(list(range(0, 400, 7)) + [-1], np.int64)
    with Serving.open(Workspace(world["ws"])) as s:
        s.first_stage.weights = {**s.weights, "beta": ranker.TT_BETA / 2}
        expected = {strategy: s.recommend(idx, 12, strategy) for strategy in STRATEGIES}
        builds, build = [], s.block
        monkeypatch.setattr(s, "block", lambda *args: builds.append(args[1]) or build(*args))
        got = s.recommend_each(idx, STRATEGIES, 12)
    assert sorted(got) == sorted(STRATEGIES) and len(builds) == 2
    for strategy in STRATEGIES:
        np.testing.assert_array_equal(got[strategy], expected[strategy])


def test_unknown_customer_gets_the_cold_start_list(world):
    result = json.loads(invoke("query", "f" * 64, "--json", "--workspace", world["ws"]).stdout)
    assert not result["known"] and len(result["items"]) == 12 and result["note"]


def test_a_run_with_another_versions_ranker_features_is_not_continued(tmp_path):
    """A run whose ranker was trained with other features (another FEATURE_VERSION): its
    label-week sets cannot be stacked with this version's and the weeks before its cut-off have
    no snapshot to build them again, so training starts cold and says why, asked for a warm start
    or not, and its sets are not offered for reuse. A run saved before versions existed has
    version 1, this version's features: it passes."""
    import dataclasses

    from hmbatch.train import TrainConfig, warm_start
    ws = Workspace(tmp_path)
    run = ws.models_dir / "run-other"
    (run / "ranker").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"config": dataclasses.asdict(TrainConfig()),
                                                   "cutoff": "2020-09-15"}))
    config = ranker.RankerConfig()
    info = {"config": dataclasses.asdict(config), "features": ["rep_score"], "feature_version": 2}
    (run / "ranker" / "ranker.json").write_text(json.dumps(info))
    ws.set_current_model(run)
    why = "the current run run-other's ranker has the features of another version (2, now 1)"
    assert ranker.FEATURE_VERSION == 1 and ranker.other_features(run) == why
    for asked in (False, True):
        assert warm_start(ws, None, TrainConfig(), dt.date(2020, 9, 22), asked=asked,
                          veto=ranker.other_features) == (None, why)
    assert ranker.reusable_sets(run, config, [dt.date(2020, 9, 8)]) == {}
    del info["feature_version"]
    (run / "ranker" / "ranker.json").write_text(json.dumps(info))
    assert ranker.other_features(run) is None
    assert ranker.reusable_sets(run, config, [dt.date(2020, 9, 8)]) == {"features": ["rep_score"]}
