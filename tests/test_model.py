"""The towers' id shortcut, with known answers: the shortcut adds exactly the article's id row
(article tower) and the position-weighted mean of the history's id rows (customer tower) to what
the same weights give without it."""

from __future__ import annotations

import numpy as np

from hmbatch.features import (ARTICLE_CATEGORICAL, ARTICLE_NUMERIC, CUSTOMER_CATEGORICAL, CUSTOMER_NUMERIC,
                              RECENT_ARTICLES, Vocabularies)

ARTICLES = np.array([101, 102, 103, 104], np.int64)


def vocab() -> Vocabularies:
    names = CUSTOMER_CATEGORICAL + ARTICLE_CATEGORICAL
    return Vocabularies(customer_ids=np.array([0, 1], np.int64), article_ids=ARTICLES,
                        product_codes=np.array([10, 20], np.int64), cardinality={n: 3 for n in names})


def columns():
    arts = {"article_id": ARTICLES, "product_code": np.array([10, 10, 20, 20], np.int64)}
    arts |= {n: np.array([1, 2, 3, 1], np.int64) for n in ARTICLE_CATEGORICAL}
    arts |= {n: np.linspace(0, 1, 4).astype(np.float32) for n in ARTICLE_NUMERIC}
    custs = {"customer_idx": np.array([0, 1], np.int64)}
    custs |= {n: np.array([1, 2], np.int64) for n in CUSTOMER_CATEGORICAL}
    custs |= {n: np.array([0.5, 0.1], np.float32) for n in CUSTOMER_NUMERIC}
    history = [[101, 103], [104]]  # most recent first; 0 pads
    for i, name in enumerate(RECENT_ARTICLES):
        custs[name] = np.array([h[i] if i < len(h) else 0 for h in history], np.int64)
    return custs, arts, history


def test_shortcut_adds_the_id_rows_to_the_towers_outputs():
    from hmbatch.model import HISTORY_HALF, TwoTower, embed
    custs, arts, history = columns()
    plain, short = (TwoTower(vocab(), 8, use_customer_id=False, shortcut=s) for s in (False, True))
    for model in (plain, short):
        embed(model.query_model, custs), embed(model.candidate_model, arts)
    for was, now in zip(plain.weights, short.weights):  # the shortcut adds no weight
        now.assign(was)
    ids = plain.candidate_model.id_embedding.layers[1].embeddings.numpy()
    row = {a: ids[i + 1] for i, a in enumerate(ARTICLES)}  # row 0 is the out-of-vocabulary slot
    np.testing.assert_allclose(embed(short.candidate_model, arts) - embed(plain.candidate_model, arts),
                               np.stack([row[a] for a in ARTICLES]), atol=1e-6)
    weight = [1.0, 0.5 ** (1 / HISTORY_HALF)]
    pooled = np.stack([sum(w * row[a] for w, a in zip(weight, h)) / sum(weight[:len(h)]) for h in history])
    np.testing.assert_allclose(embed(short.query_model, custs) - embed(plain.query_model, custs), pooled,
                               atol=1e-6)


def test_a_run_saved_without_the_shortcut_is_not_continued(tmp_path):
    """A run trained before the shortcut (its manifest has no id_shortcut) has the other model:
    training starts cold and says which option differs, asked for a warm start or not."""
    import dataclasses
    import datetime as dt
    import json

    from hmbatch.train import TrainConfig, warm_start
    from hmbatch.workspace import Workspace
    ws = Workspace(tmp_path)
    run = ws.models_dir / "run-old"
    run.mkdir(parents=True)
    old = {k: v for k, v in dataclasses.asdict(TrainConfig()).items() if k != "id_shortcut"}
    (run / "manifest.json").write_text(json.dumps({"config": old, "cutoff": "2020-09-15"}))
    ws.set_current_model(run)
    for asked in (False, True):
        assert warm_start(ws, None, TrainConfig(), dt.date(2020, 9, 22), asked=asked) == (
            None, "the current run run-old was trained with another --id-shortcut")
