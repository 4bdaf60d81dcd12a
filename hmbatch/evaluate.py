"""`hmbatch evaluate`: MAP@12, recall@12 and coverage of every strategy and both baselines on the
current model's held-out week, overall and by customer segment; `--tune` fits the blend weights.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import numpy as np

from hmbatch import als, candidates, ranker
from hmbatch.errors import HmbatchError, InputError
from hmbatch.features import purchases_after
from hmbatch.metrics import Truth, map_at_k_matrix, recall_matrix
from hmbatch.candidates import set_wanted
from hmbatch.retrieve import STRATEGIES, Retriever, first_distinct
from hmbatch.serving import SLIM_COLUMNS, Block, Serving, blend
from hmbatch.sqlfiles import execute_file
from hmbatch.workspace import Workspace, atomic_write_text, signals_as_interrupt

BASELINES = ("baseline: last week's best sellers", "baseline: recent purchases + best sellers")
TUNE_GRID = {"dot": (0.0, 0.5, 1.0, 2.0, 4.0), "log_pop": (0.0, 0.5, 1.0, 2.0, 4.0),
             "rep": (0.0, 3.0, 10.0, 30.0, 100.0), "pop": (0.0, 1.0, 3.0, 10.0)}
TUNE_SAMPLE = 20000
BETAS = (0.5, 1.0, 2.0, 4.0, 8.0)
CHUNK = 8192
RANKER_CHUNK = 20000


def held_out(r: Retriever) -> Truth:
    """The held-out week's buyers and purchases, or an error naming the fix."""
    days = r.manifest["config"]["holdout_days"]
    if days <= 0:
        raise HmbatchError(f"model {r.run_dir.name} was trained with --holdout-days 0, so it has no "
                           "held-out week: train with --holdout-days 7 to evaluate")
    truth = purchases_after(r.con, r.cutoff, days)
    if not truth:
        raise HmbatchError(f"nobody bought anything in the {days} held-out days after {r.cutoff}")
    return Truth.from_sets(truth)


def buyers_block(s: Serving, customers: np.ndarray, strategy: str = "blend") -> Block:
    """The candidates of `customers` (sorted) as every strategy but the ranker sees them (the
    two-tower at the current beta), built by chunks, with the columns those strategies read."""
    parts = [s.block(customers[i:i + CHUNK], strategy).slim().cols for i in range(0, len(customers), CHUNK)]
    if not parts:
        return s.block(customers, strategy).slim()
    return joined(parts, customers)


def joined(parts: list[dict[str, np.ndarray]], customers: np.ndarray) -> Block:
    """One block of the slim columns of consecutive chunks of `customers`."""
    return Block({c: np.concatenate([p[c] for p in parts]) for c in SLIM_COLUMNS}, customers)


def served_lists(s: Serving, block: Block, strategy: str, weights: dict | None = None, k: int = 12) -> np.ndarray:
    """`strategy`'s lists of the block's customers, as `Serving.recommend` makes them."""
    return s.lists(block.customers, block, s.scores(block, strategy, weights), k)


def baselines(r: Retriever, customers: np.ndarray, k: int = 12) -> dict[str, np.ndarray]:
    """Lists of the two public baselines for `customers`, and of implicit's ALS with a popularity
    prior (the yardstick of the two-tower) when `implicit` is installed."""
    best = r.best_sellers(k)
    set_wanted(r.con, customers)
    execute_file(r.con, "serving/baseline_recent.sql", {"cutoff": str(r.cutoff), "days": 28})
    rows = r.con.execute("SELECT customer_idx, article_id, rank FROM baseline_recent "
                         "WHERE rank <= ?", [k]).fetchnumpy()
    recent = np.full((len(customers), k), -1, np.int64)
    recent[np.searchsorted(customers, rows["customer_idx"]), rows["rank"] - 1] = rows["article_id"]
    filled = first_distinct(np.concatenate([recent, np.broadcast_to(best, (len(customers), k))], axis=1), k)
    out = {BASELINES[0]: np.broadcast_to(best, (len(customers), k)), BASELINES[1]: filled}
    if als.available():  # the learned yardstick, a development dependency
        out[als.NAME] = als.recommend(r.con, r.cutoff, customers, k)
    return out


def segments(r: Retriever, customers: np.ndarray) -> np.ndarray:
    set_wanted(r.con, customers)
    return np.asarray(execute_file(r.con, "serving/segments.sql", {"cutoff": str(r.cutoff)})
                      .fetchnumpy()["segment"])


def score_lists(lists: np.ndarray, truth: Truth, seg: np.ndarray, n_articles: int) -> dict:
    ap = map_at_k_matrix(lists, truth)
    out = {"map@12": float(ap.mean()), "recall@12": float(recall_matrix(lists, truth, 12).mean()),
           "coverage": float(len(np.unique(lists[lists >= 0])) / n_articles)}
    out["segments"] = {s: {"buyers": int((seg == s).sum()), "map@12": float(ap[seg == s].mean())}
                       for s in ("no history", "active last month", "inactive") if (seg == s).any()}
    return out


def subset(truth: Truth, take: np.ndarray) -> Truth:
    """The buyers at rows `take` (sorted) of `truth`, renumbered."""
    rows, arts = truth.keys // 2**32, truth.keys % 2**32
    mask = np.isin(rows, take)
    keys = np.searchsorted(take, rows[mask]) * 2**32 + arts[mask]
    return Truth(truth.customers[take], np.sort(keys), truth.counts[take])


class HitRanks:
    """MAP@12 of many weightings of one block's blend signals, computed from where each bought
    candidate ranks: the same figure as ranking every customer's candidates and scoring the top
    12 (`Layout.top`, then `map_at_k_matrix`), without sorting any row.

    A customer's candidates are distinct articles (the collector keeps one row per article).
    A customer whose purchases are all outside their candidates scores 0 under any weights, so
    only the customers with a bought candidate are kept. A bought candidate's rank is the number
    of their candidates scored higher, plus those scored the same that the collector put first
    (the stable sort's order); it is on the list if that is under 12.
    """

    def __init__(self, block: Block, truth: Truth, k: int = 12):
        self.k, self.n = k, len(truth.customers)
        ids = block.layout.ids
        bought = truth.hits(ids)  # the block's rows are truth's buyers, in its order
        rows = np.flatnonzero(bought.any(axis=1))
        self.filled = ids[rows] >= 0
        self.signals = {name: values[rows] for name, values in block.signals().items()}
        hit_row, self.hit_col = np.nonzero(bought[rows])  # row-major: grouped by customer
        self.hit_row = hit_row
        self.earlier = np.arange(ids.shape[1])[None, :] < self.hit_col[:, None]
        self.first_of_row = np.searchsorted(hit_row, hit_row)
        self.denominator = np.minimum(truth.counts[rows], k)[hit_row].astype(np.float64)

    def map(self, weights: dict[str, float]) -> float:
        """MAP@k of the blend with `weights` over every buyer of `truth`."""
        if len(self.hit_row) == 0:
            return 0.0
        score = blend(self.signals, weights, self.filled)
        score = np.where(np.isfinite(score), score, -np.inf)
        mine = score[self.hit_row, self.hit_col][:, None]
        rows = score[self.hit_row]
        rank = (rows > mine).sum(axis=1) + ((rows == mine) & self.earlier).sum(axis=1)
        listed = (rank < self.k) & np.isfinite(mine[:, 0])
        # each listed hit's precision: (listed hits of its row ranked at or above it) / (rank + 1);
        # sorted by (row, rank), a row's hits stay where they were, so its first is first_of_row
        order = np.lexsort((rank, self.hit_row))
        cum = np.cumsum(listed[order])
        start = self.first_of_row[order]
        above = np.empty(len(rank), np.int64)
        above[order] = cum - np.where(start > 0, cum[np.maximum(start - 1, 0)], 0)
        return float((listed * above / (rank + 1) / self.denominator).sum() / self.n)


def tune(block: Block, truth: Truth) -> tuple[dict, float]:
    """Grid search of the blend weights that maximise MAP@12 of the block's candidates (ranked
    alone, before any fill) against `truth`."""
    best, best_map = None, -1.0
    ranks = HitRanks(block, truth)
    for values in itertools.product(*TUNE_GRID.values()):
        weights = dict(zip(TUNE_GRID, values))
        score = ranks.map(weights)
        if score > best_map + 1e-12:
            best, best_map = weights, score
    return best, best_map


def beta_scores(s: Serving, truth: Truth, rows: np.ndarray,
                prebuilt: dict[float, Block]) -> tuple[dict[float, np.ndarray], dict[float, Block]]:
    """The two-tower's AP@12 of each buyer at `rows` for each popularity weight in BETAS (it
    changes which articles FAISS returns, so each value builds the candidates anew, but for
    those of every buyer already `prebuilt` at a beta), and, when `rows` are every buyer, the
    candidates at each beta (so that none is built twice)."""
    sample, out, blocks = subset(truth, rows), {}, {}
    every = len(rows) == len(truth.customers)
    for beta in BETAS:
        s.first_stage.weights = {**s.weights, "beta": beta}
        if beta in prebuilt:
            block = prebuilt[beta] if every else prebuilt[beta].take(rows)
        else:
            block = buyers_block(s, sample.customers)
        out[beta] = map_at_k_matrix(served_lists(s, block, "two-tower"), sample)
        if every:
            blocks[beta] = block
    return out, blocks


def best_beta(scores: dict[float, np.ndarray], among: np.ndarray) -> float:
    """The beta of the best mean AP over the buyers `among` (a mask), the one nearest 1 on ties."""
    return max(BETAS, key=lambda b: (round(float(scores[b][among].mean()), 12), -abs(b - 1.0)))


def tune_out_of_sample(s: Serving, truth: Truth,
                       prebuilt: dict[float, Block] | None = None) -> tuple[dict, dict[str, np.ndarray], Block]:
    """Fits beta and the blend weights on one half of the buyers and ranks the other half with
    them, then the other way round (2-fold cross-fitting): every buyer's two-tower and blend list
    comes from weights fitted on other buyers, so their MAP@12 is out of sample. The weights kept
    for serving are fitted on (a sample of at most TUNE_SAMPLE of) all buyers. Each set of
    candidates is built once: the sample's at each beta of BETAS (beta changes what FAISS
    retrieves), and every buyer's at each beta chosen, unless the sample is every buyer; those
    of every buyer `prebuilt` at a beta ({beta: block}, the ranker's) are not built again.

    Returns:
        (the tuning figures, {"two-tower": lists, "blend": lists} of every buyer, out of sample,
         every buyer's candidates at the kept beta).
    """
    rng = np.random.default_rng(0)
    n = len(truth.customers)
    order = rng.permutation(n)
    halves = (np.sort(order[:n // 2]), np.sort(order[n // 2:]))
    sampled = np.sort(rng.choice(n, min(n, TUNE_SAMPLE), replace=False))
    prebuilt = prebuilt or {}
    scores, built = beta_scores(s, truth, sampled, prebuilt)  # every buyer's too, when sampled are all
    built = {**prebuilt, **built}

    def block_at(beta: float) -> Block:
        if beta not in built:
            s.first_stage.weights = {**s.weights, "beta": beta}
            built[beta] = buyers_block(s, truth.customers)
        return built[beta]

    lists = {"two-tower": np.full((n, 12), -1, np.int64), "blend": np.full((n, 12), -1, np.int64)}
    folds = []
    for fit, other in ((halves[0], halves[1]), (halves[1], halves[0])):
        beta = best_beta(scores, np.isin(sampled, fit))
        block = block_at(beta)
        fit_rows = fit if len(fit) <= TUNE_SAMPLE // 2 else np.sort(rng.choice(fit, TUNE_SAMPLE // 2, replace=False))
        weights, _ = tune(block.take(fit_rows), subset(truth, fit_rows))
        scored = block.take(other)
        lists["two-tower"][other] = served_lists(s, scored, "two-tower")
        lists["blend"][other] = served_lists(s, scored, "blend", weights)
        folds.append({"beta": beta, "weights": weights, "fitted_on": int(len(fit_rows)),
                      "scored_on": int(len(other)),
                      "map@12": float(map_at_k_matrix(lists["blend"][other], subset(truth, other)).mean())})
    beta = best_beta(scores, np.ones(len(sampled), bool))
    block = block_at(beta)
    s.first_stage.weights = {**s.weights, "beta": beta}
    weights, fitted = tune(block.take(sampled), subset(truth, sampled))
    return ({"weights": weights, "beta": beta, "map@12_fitted": fitted,
             "map@12_other_half": float(map_at_k_matrix(lists["blend"], truth).mean()), "folds": folds,
             "two_tower_map@12_by_beta": {str(b): float(v.mean()) for b, v in scores.items()}}, lists, block)


def ranker_lists(s: Serving, customers: np.ndarray, k: int = 12) -> tuple[np.ndarray, dict, Block | None]:
    """The ranker's lists for `customers` (sorted), by chunks, as `Serving.recommend` makes
    them, and each candidate source's recall@N and the union's (the share of true purchases the
    ranker can reach at all), counted on the candidates each chunk was ranked from (built once).
    Third: those candidates with the columns the other strategies read (`buyers_block` at the
    ranker's two-tower beta), or None when the ranker has no two-tower source."""
    # a run without a ranker stops here, with the error that names the fix
    with_two_tower = s.two_tower("ranker") is not None
    days = s.manifest["config"]["holdout_days"]
    truth = ranker.purchases_between(s.con, s.cutoff, s.cutoff + dt.timedelta(days=days))
    lists, hits, slim = [], [], []
    for i in range(0, len(customers), RANKER_CHUNK):
        block = s.block(customers[i:i + RANKER_CHUNK], "ranker")
        lists.append(served_lists(s, block, "ranker", k=k))
        hits.append(candidates.source_hits(s.con, truth))  # the chunk's wanted and cand tables
        if with_two_tower:
            slim.append(block.slim().cols)
    shared = joined(slim, customers) if slim else None
    return np.concatenate(lists), candidates.recall_of(candidates.added_hits(hits)), shared


def ranker_figures(s: Serving, recall: dict) -> dict:
    """The candidates' recall (`ranker_lists`) and the ranker's top features."""
    rk = s.ranker()
    top = dict(list(rk.info["feature_importance"].items())[:12])
    return {"candidate_recall": {**recall, "n_candidates": s.config.n_candidates},
            "ranker": {"top_features": top, "figures": rk.info["figures"]}}


def evaluate(ws: Workspace, strategies: tuple[str, ...] = STRATEGIES, do_tune: bool = False,
             allow_stale: bool = False) -> dict:
    """Scores the strategies and baselines on the held-out week; saves evaluation.json.

    Args:
        ws: the workspace.
        strategies: which strategies to score (the baselines are always scored).
        do_tune: fit the blend weights first and save them in the model's manifest.
        allow_stale: go on when the model was trained on another database.

    Returns:
        The saved results.
    """
    with ws.writer_lock("evaluate", wait_s=30), signals_as_interrupt():
        served = Serving.open(ws, allow_stale)
        r = served.first_stage
        truth = held_out(r)
        out = {"model": r.run_dir.name, "cutoff": str(r.cutoff), "buyers": len(truth.customers)}
        crossed: dict[str, np.ndarray] = {}
        has_ranker = served.default == "ranker"
        prebuilt: dict[float, Block] = {}
        if has_ranker:  # first: its candidates are the other strategies' at the ranker's beta
            ranked, recall, shared = ranker_lists(served, truth.customers)
            if shared is not None:
                prebuilt[served.ranker().beta] = shared
        if do_tune:  # its candidates at the kept beta are every buyer's: not built again below
            out["tuning"], crossed, block = tune_out_of_sample(served, truth, prebuilt)
            r.weights = {"beta": out["tuning"]["beta"], **out["tuning"]["weights"]}
            manifest = {**r.manifest, "blend": r.weights}
            atomic_write_text(r.run_dir / "manifest.json", json.dumps(manifest, indent=2))
        elif float(r.weights["beta"]) in prebuilt:
            block = prebuilt[float(r.weights["beta"])]
        else:
            block = buyers_block(served, truth.customers)
        out["weights"] = r.weights
        if has_ranker:
            out.update(ranker_figures(served, recall))
        seg = segments(r, truth.customers)
        n_articles = len(r.article_ids)
        out["results"] = {}
        for s in strategies:
            if s == "ranker" and not has_ranker and len(strategies) > 1:
                continue  # "all" on a run trained with --ranker none
            if s == "ranker":  # without a ranker, ranker_lists stops with the error that names the fix
                lists = ranked if has_ranker else ranker_lists(served, truth.customers)[0]
            else:  # tuned strategies: each buyer ranked with weights fitted on the other half
                lists = crossed[s] if s in crossed else served_lists(served, block, s)
            out["results"][s] = score_lists(lists, truth, seg, n_articles)
        for name, lists in baselines(r, truth.customers).items():
            out["results"][name] = score_lists(np.ascontiguousarray(lists), truth, seg, n_articles)
        atomic_write_text(r.run_dir / "evaluation.json", json.dumps(out, indent=2))
        served.close()
    return out


def score_file(submission: Path, truth_csv: Path, k: int = 12) -> dict:
    """MAP@12 of a submission CSV against a file of true purchases in the transactions layout
    (say, `hmbatch synth`'s heldout_transactions.csv, or a week you held back yourself).

    Raises:
        InputError: a missing or malformed file, or a prediction that is not a list of ids.
    """
    import duckdb
    from hmbatch.data import SAMPLE_COLUMNS, TRANSACTION_COLUMNS, check_header
    from hmbatch.sqlfiles import duckdb_config
    check_header(submission, SAMPLE_COLUMNS)
    check_header(truth_csv, TRANSACTION_COLUMNS)
    con = duckdb.connect(config=duckdb_config())
    read = "read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"')"
    try:
        bought = con.execute(f"SELECT customer_id, CAST(article_id AS BIGINT) FROM {read} GROUP BY ALL",
                             [str(truth_csv)]).fetchall()
        rows = con.execute(f"SELECT customer_id, coalesce(prediction, '') FROM {read}",
                           [str(submission)]).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{submission} or {truth_csv}: cannot be read ({str(exc).splitlines()[0]})") from None
    sets: dict[str, set[int]] = {}
    for customer, article in bought:
        sets.setdefault(customer, set()).add(article)
    predictions = {customer: _parse_prediction(text, submission, line, k)
                   for line, (customer, text) in enumerate(rows, start=2)}
    names = sorted(sets)
    matrix = np.full((len(names), k), -1, np.int64)
    for row, name in enumerate(names):
        items = predictions.get(name, [])
        matrix[row, :len(items)] = items
    truth = Truth.from_sets({i: sets[n] for i, n in enumerate(names)})
    covered = sum(1 for n in names if n in predictions)
    return {"buyers": len(names), "buyers_with_a_list": covered,
            "map@12": float(map_at_k_matrix(matrix, truth, k).mean()) if names else 0.0}


def _parse_prediction(text: str, path: Path, line: int, k: int) -> list[int]:
    try:
        items = [int(token) for token in text.split()]
    except ValueError:
        raise InputError(f"{path}: line {line}: prediction {text[:60]!r} is not a list of article ids") from None
    return items[:k]  # a repeated article keeps its places and counts once, at its first rank (Kaggle)
