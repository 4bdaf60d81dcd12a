"""The FAISS index against its exact NumPy twin, and the save/load round trip."""

import numpy as np
import pytest

from hmbatch.errors import HmbatchError
from hmbatch.index import FaissIndex, NumpyIndex


@pytest.fixture
def vectors():
    rng = np.random.default_rng(7)
    return rng.normal(size=(500, 16)).astype(np.float32), rng.normal(size=(40, 16)).astype(np.float32)


def test_faiss_equals_numpy_oracle(vectors):
    articles, queries = vectors
    ids = np.arange(500) * 1000 + 1
    f_scores, f_ids = FaissIndex().build(articles, ids).search(queries, 12)
    n_scores, n_ids = NumpyIndex().build(articles, ids).search(queries, 12)
    np.testing.assert_array_equal(f_ids, n_ids)
    np.testing.assert_allclose(f_scores, n_scores, rtol=1e-5, atol=1e-5)


def test_round_trip(tmp_path, vectors):
    articles, queries = vectors
    ids = np.arange(500) + 7
    index = FaissIndex().build(articles, ids)
    index.save(tmp_path / "idx", {"cutoff": "2020-09-22"})
    loaded = FaissIndex.load(tmp_path / "idx")
    np.testing.assert_array_equal(index.search(queries, 10)[1], loaded.search(queries, 10)[1])
    assert '"cutoff": "2020-09-22"' in (tmp_path / "idx" / "index.json").read_text()


def test_more_k_than_articles_pads_with_minus_one(vectors):
    articles, queries = vectors
    scores, ids = NumpyIndex().build(articles[:5], np.arange(5)).search(queries[:2], 8)
    assert (ids[:, 5:] == -1).all() and (ids[:, :5] >= 0).all()
    assert (FaissIndex().build(articles[:5], np.arange(5)).search(queries[:2], 8)[1][:, 5:] == -1).all()


def test_nan_embeddings_are_refused(vectors):
    articles, _ = vectors
    articles[3, 2] = np.nan
    with pytest.raises(HmbatchError, match="NaN"):
        FaissIndex().build(articles, np.arange(500))


def test_corrupt_index_names_the_fix(tmp_path, vectors):
    FaissIndex().build(vectors[0], np.arange(500)).save(tmp_path / "idx")
    (tmp_path / "idx" / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(HmbatchError, match="hmbatch train"):
        FaissIndex.load(tmp_path / "idx")
