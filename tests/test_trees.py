"""The ranker's C twin (hmbatch/trees.py) against LightGBM itself: the same scores to the last
bit on rows that exercise every branch rule (NaN, exact zeros, values below 1e-35, values equal
to a threshold), a hand-written tree with each missing-value rule, and the refusals (no
compiler, a categorical model, a library built from another model)."""

from __future__ import annotations

import numpy as np
import pytest

from hmbatch import trees

lgb = pytest.importorskip("lightgbm")
needs_cc = pytest.mark.skipif(trees.compiler() is None, reason="no C compiler on this machine")


def lambdarank_model(tmp_path, rows=4000, features=6, **params):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = np.nan
    x[rng.random(x.shape) < 0.10] = 0.0
    y = ((np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) + rng.standard_normal(rows)) > 0.8).astype(int)
    data = lgb.Dataset(x, y, group=np.full(rows // 40, 40))
    booster = lgb.train({"objective": "lambdarank", "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1,
                         "num_threads": 1, **params}, data, 25)
    path = tmp_path / "model.txt"
    booster.save_model(str(path))
    return booster, path, x


@needs_cc
def test_the_twin_scores_as_lightgbm_bit_for_bit(tmp_path):
    booster, path, x = lambdarank_model(tmp_path)
    assert trees.build(path) is None
    model = trees.load(path)
    assert model is not None and model.digest == trees.digest(path)
    # the training rows, plus rows sitting exactly on thresholds and below LightGBM's zero
    thresholds = [float(t) for line in path.read_text().splitlines() if line.startswith("threshold=")
                  for t in line.split("=", 1)[1].split()]
    on = np.resize(np.array(thresholds, np.float32), (60, x.shape[1]))
    tiny = np.full((3, x.shape[1]), 1e-37, np.float32)
    tiny[1] = -1e-36
    for rows in (x, on, tiny, np.asfortranarray(x[:7]), x[:0]):
        expected = booster.predict(rows) if len(rows) else np.zeros(0)
        np.testing.assert_array_equal(model.predict(rows), expected)


def test_hand_written_trees_follow_each_missing_rule(tmp_path):
    """Tree 0: root on feature 0 (x <= 1.5, missing NaN, default right), left child on feature 1
    (x <= -2, missing zero, default left), right child on feature 1 (x <= 0.5, missing none: NaN
    counts as 0); leaves 1, 2, 3, 4 (left-left, left-right, right-left, right-right). Tree 1: one
    split at an infinite threshold (LightGBM writes `inf`), every row left (+10). Tree 2: a
    single leaf (+0.5)."""
    text = ("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=1\n\nTree=0\n"
            "num_leaves=4\nnum_cat=0\nsplit_feature=0 1 1\nthreshold=1.5 -2 0.5\n"
            "decision_type=8 6 0\nleft_child=1 -1 -3\nright_child=2 -2 -4\nleaf_value=1 2 3 4\n"
            "is_linear=0\nshrinkage=1\n\n\nTree=1\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nthreshold=inf\n"
            "decision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=10 20\nis_linear=0\nshrinkage=1\n\n\n"
            "Tree=2\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nthreshold=\ndecision_type=\nleft_child=\n"
            "right_child=\nleaf_value=0.5\nis_linear=0\nshrinkage=1\n\n\nend of trees\n")
    source = trees.c_source(text, "x")
    rows = {(1.0, -3.0): 1, (1.0, 0.0): 1, (1.0, 1e-36): 1, (1.0, 5.0): 2, (np.nan, -1.0): 3,
            (np.nan, np.nan): 3, (2.0, 0.4): 3, (2.0, 0.6): 4, (1.5, -2.0): 1}
    assert "isnan" in source and "INFINITY" in source
    if trees.compiler() is None:
        pytest.skip("no C compiler on this machine")
    path = tmp_path / "model.txt"
    path.write_text(text)
    assert trees.build(path) is None
    x = np.array(list(rows), np.float32)
    np.testing.assert_array_equal(trees.load(path).predict(x), np.array(list(rows.values()), np.float64) + 10.5)


def test_what_is_not_compiled(tmp_path, monkeypatch):
    """No compiler, or a model with categorical splits: build says False and writes nothing; a
    library built from another model is not loaded."""
    booster, path, x = lambdarank_model(tmp_path)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert "no C compiler" in trees.build(path) and not (tmp_path / trees.LIBRARY).exists()
    assert trees.load(path) is None
    monkeypatch.delenv("CC")
    if trees.compiler() is None:
        return
    x = np.abs(np.nan_to_num(x)).astype(int).astype(np.float32)
    data = lgb.Dataset(x, (x[:, 0] > 1).astype(int), group=np.full(len(x) // 40, 40), categorical_feature=[0])
    categorical = lgb.train({"objective": "lambdarank", "verbose": -1, "num_threads": 1}, data, 3)
    cat_path = tmp_path / "cat" / "model.txt"
    cat_path.parent.mkdir()
    categorical.save_model(str(cat_path))
    assert any(line.startswith("num_cat=") and line != "num_cat=0" for line in cat_path.read_text().splitlines())
    assert "categorical" in trees.build(cat_path) and not (cat_path.parent / trees.LIBRARY).exists()
    # a library built from another model beside this one
    assert trees.build(path) is None and trees.load(path) is not None
    path.write_text(path.read_text() + "\n")
    assert trees.load(path) is None
