"""MAP@12 and its companions against hand-computed answers."""

import numpy as np
import pytest

from hmbatch.metrics import Truth, average_precision, coverage, map_at_k, map_at_k_matrix, recall_at_k


def test_hand_computed_average_precision():
    # hits at ranks 1 and 3 of 2 bought: (1/1 + 2/3) / 2
    assert average_precision([10, 20, 30], {10, 30}) == pytest.approx((1 + 2 / 3) / 2)
    # fewer than 12 bought: divided by the number bought, not by 12
    assert average_precision([5, 6, 7], {7}) == pytest.approx(1 / 3)
    # more than 12 bought: divided by 12
    assert average_precision(list(range(12)), set(range(20))) == pytest.approx(1.0)
    assert average_precision([1, 2], set()) == 0.0


def test_same_article_bought_twice_counts_once():
    # the truth is a set of distinct articles: buying 10 twice is one relevant article
    assert average_precision([99, 10], {10}) == pytest.approx(0.5)
    # a list repeating an article does not score it twice
    assert average_precision([10, 10, 20], {10, 20}) == pytest.approx((1 + 2 / 3) / 2)


def test_matrix_scoring_equals_the_list_scoring_with_repeats():
    """Kaggle's MAP@12 on lists with repeated articles: ["A","A","B"] against {B} is 1/3."""
    from hmbatch.metrics import Truth, map_at_k_matrix
    lists = np.array([[5, 5, 7], [7, 5, 5], [1, 2, 3]])
    truth_sets = {0: {7}, 1: {5, 7}, 2: {3, 9}}
    truth = Truth.from_sets(truth_sets)
    expected = [average_precision(row, truth_sets[i]) for i, row in enumerate(lists.tolist())]
    assert expected[0] == pytest.approx(1 / 3)
    np.testing.assert_allclose(map_at_k_matrix(lists, truth), expected)


def test_only_buyers_are_counted():
    predictions = {1: np.array([7]), 2: np.array([8]), 3: np.array([9])}
    truth = {1: {7}, 3: {1}}  # customer 2 bought nothing: not in the mean
    assert map_at_k(predictions, truth) == pytest.approx(0.5)
    assert map_at_k({}, {1: {7}}) == 0.0  # a buyer without a list scores 0


def test_only_first_twelve_count():
    assert average_precision(list(range(100, 112)) + [5], {5}) == 0.0


def test_matrix_version_matches_reference():
    rng = np.random.default_rng(1)
    truth = {c: set(rng.choice(40, rng.integers(1, 15), replace=False).tolist()) for c in range(200)}
    preds = {c: rng.permutation(40)[:12] for c in range(200)}
    t = Truth.from_sets(truth)
    matrix = np.stack([preds[c] for c in t.customers.tolist()])
    assert map_at_k_matrix(matrix, t).mean() == pytest.approx(map_at_k(preds, truth))


def test_recall_and_coverage():
    assert recall_at_k({1: np.array([1, 2, 3])}, {1: {1, 9}}, 12) == pytest.approx(0.5)
    assert coverage({1: np.array([1, 2]), 2: np.array([2, 3])}, n_articles=6) == pytest.approx(0.5)


def test_score_file_hand_computed(tmp_path):
    from hmbatch.evaluate import score_file
    truth = tmp_path / "truth.csv"
    truth.write_text("t_dat,customer_id,article_id,price,sales_channel_id\n"
                     "2020-09-23,a,0000000010,0.01,2\n2020-09-23,a,0000000010,0.01,2\n"  # bought twice
                     "2020-09-24,a,0000000030,0.02,1\n2020-09-25,b,0000000050,0.01,2\n"
                     "2020-09-25,c,0000000070,0.01,2\n")
    sub = tmp_path / "sub.csv"
    # a: hits at ranks 1 and 3 of 2 bought; b: hit at rank 3 of 1 (the repeated id keeps its two
    # places, as Kaggle's MAP@12 scores it); c has no list (scores 0); d bought nothing (not counted)
    sub.write_text("customer_id,prediction\na,0000000010 0000000020 0000000030\n"
                   "b,0000000099 0000000099 0000000050\nd,0000000010\n")
    out = score_file(sub, truth)
    assert out["buyers"] == 3 and out["buyers_with_a_list"] == 2
    assert out["map@12"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 3 + 0) / 3)


def test_score_file_rejects_a_bad_prediction(tmp_path):
    from hmbatch.errors import InputError
    from hmbatch.evaluate import score_file
    truth = tmp_path / "truth.csv"
    truth.write_text("t_dat,customer_id,article_id,price,sales_channel_id\n2020-09-23,a,10,0.01,2\n")
    sub = tmp_path / "sub.csv"
    sub.write_text("customer_id,prediction\na,0000000010 oops\n")
    with pytest.raises(InputError, match="line 2: prediction"):
        score_file(sub, truth)


def test_top_distinct_counts_a_repeated_id_once_at_its_best_score():
    """Known answer: a list of recent purchases filled with best sellers that repeat two of them
    (different positional scores) gives 4 distinct ids, each once, in order."""
    from hmbatch.retrieve import top_distinct
    ids = np.array([[7, 3, -1, 3, 9, 7, 5]])
    score = np.array([[6.0, 5.0, -np.inf, 3.0, 2.0, 1.0, 0.0]])
    lists, positions = top_distinct(ids, score, 4)
    assert lists.tolist() == [[7, 3, 9, 5]] and positions.tolist() == [[0, 1, 4, 6]]
    lists, _ = top_distinct(ids, score, 6)
    assert lists.tolist() == [[7, 3, 9, 5, -1, -1]]
