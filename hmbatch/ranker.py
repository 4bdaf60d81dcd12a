"""The second stage: a LightGBM LambdaRank ranker over point-in-time features of the candidates.

Training (`hmbatch train --ranker lightgbm`, after the two-tower): for each of the `weeks` label
weeks before the cut-off, the candidates and features of that week's buyers are built from rows
dated before the week only (sql/candidates/, sql/ranking/), labelled with what each
buyer bought in it; customer-weeks with no bought candidate are dropped. The latest week stops the
boosting early, then the ranker is fitted again on every week with that many rounds.

No leakage, by construction: every SQL step reads rows up to its cut-off, and the two-tower that
scores the training weeks' candidates is trained up to the earliest label week (it never saw a
label); serving uses the run's own two-tower, trained up to the serving cut-off.

Serving: the run folder holds the ranker (`ranker/model.txt`), its C twin where a C compiler was
found (`ranker/model.so`, `trees.py`: the same scores, faster) and its manifest (`ranker/ranker.json`:
features, importance, figures); the serving cut-off's candidate context is saved as Parquet
(`context/`) for every run (`context_step`), so that `query` answers one customer without
rebuilding it. `serving.Serving` scores the candidates with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np

from hmbatch import candidates, trees
from hmbatch.candidates import CandidateConfig, TwoTowerSource
from hmbatch.errors import HmbatchError
from hmbatch.retrieve import CONTEXT
from hmbatch.sqlfiles import execute_file
from hmbatch.workspace import pause_point

# the ranking features' SQL: the customer's own, the article's own, the pair's (`features_of`)
CUSTOMER_SQL, ARTICLE_SQL, PAIR_SQL = ("ranking/customer_features.sql", "ranking/article_features.sql",
                                       "ranking/pair_features.sql")
ID_COLUMNS = ("customer_idx", "article_id", "band")  # not features: who and what (band: the age band)
# the two-tower's features: its sources' columns and the two computed in Python (features_of)
TT_FEATURES = tuple(c for s in candidates.SOURCES if s.two_tower for c in (s.score, s.rank)) + (
    "tt_dot", "tt_history_sim")
TT_BETA = 1.0  # the two-tower source's popularity weight, the same in the label weeks and at serving
# the feature list's version, saved with each ranker: label-week sets of another version are never
# reused, and a run whose ranker has them is not continued (training starts cold once). Raise it
# with any change to the features (a run saved before versions existed has version 1).
FEATURE_VERSION = 1
CHUNK = 20000
SETS, SET_FILES = "sets", ("features", "labels", "groups")


@dataclass(frozen=True)
class RankerConfig:
    """Options of the ranker; written into the run's manifest.

    Attributes:
        weeks: label weeks before the cut-off to train on (the latest one also stops the boosting).
        n_candidates: candidates per customer (`--candidates`).
        n_inactive: candidates per customer without a purchase in the window.
        rounds: the most boosting rounds.
        learning_rate, num_leaves, min_data_in_leaf: LightGBM's.
        early_stopping: rounds without a better MAP@12 on the latest week before stopping.
        max_groups_per_week: buyers sampled per label week (bounds time and memory at full scale).
        negatives_per_group: candidates not bought kept per customer-week (sampled) for the fit.
        two_tower: use the two-tower as a source and a feature.
        seed: random seed of the sampling and of LightGBM.
        quotas: (source, candidates per customer) of the sources given other quotas than their
            defaults (`--quota NAME=K`); held as the full list of candidates.SOURCES.
    """

    weeks: int = 4
    n_candidates: int = 80
    n_inactive: int = 24
    rounds: int = 200
    learning_rate: float = 0.1
    num_leaves: int = 31
    min_data_in_leaf: int = 100
    early_stopping: int = 20
    max_groups_per_week: int = 40000
    negatives_per_group: int = 40
    two_tower: bool = True
    seed: int = 0
    quotas: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "quotas", CandidateConfig(quotas=tuple(self.quotas)).quotas)

    def candidates(self) -> CandidateConfig:
        return CandidateConfig(n_candidates=self.n_candidates, n_inactive=self.n_inactive, quotas=self.quotas)


def _fetch(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """The last result as arrays: NULLs become NaN so LightGBM sees them as missing (the feature
    SQL already returns FLOAT with NaN; this covers other queries)."""
    out = {}
    for name, values in con.fetchnumpy().items():
        if np.ma.isMaskedArray(values):
            values = np.ma.filled(values.astype(np.float64), np.nan)
        out[name] = np.asarray(values)
    return out


def features_of(con: duckdb.DuckDBPyConnection, customer_idx: np.ndarray, config: CandidateConfig,
                two_tower: TwoTowerSource | None) -> dict[str, np.ndarray]:
    """Candidates and their features for known customers, at the context's cut-off: the
    collector's columns, the customer's own features (sql/ranking/customer_features.sql), the
    article's (article_features.sql), the pair's (pair_features.sql) and the two-tower's. The
    customer's and the article's rows are given to each candidate here, by position: joining them
    in SQL and fetching them once per candidate cost twice the CPU.

    Returns:
        Columns, one row per candidate, ordered by customer_idx then the collector's rank: the
        ids as integers, every feature as float32 (NaN: missing).
    """
    cand = candidates.generate(con, customer_idx, config, two_tower)
    customers = _fetch(execute_file(con, CUSTOMER_SQL, {}))
    articles = _fetch(execute_file(con, ARTICLE_SQL, {}))
    pairs = _fetch(execute_file(con, PAIR_SQL, {}))
    # the pairs' rows are cand's (the same order), less any whose customer or article has no row
    rows = np.searchsorted(_rank_key(cand["customer_idx"], cand["cand_rank"]),
                           _rank_key(pairs.pop("customer_idx"), pairs.pop("cand_rank")))
    cust, art = cand["customer_idx"][rows], cand["article_id"][rows]
    of_customer = np.searchsorted(customers.pop("customer_idx"), cust)
    of_article = np.searchsorted(articles.pop("article_id"), art)
    cols = {"customer_idx": cust, "article_id": art, "band": customers.pop("band")[of_customer]}
    for name, values in cand.items():
        if name not in cols:
            cols[name] = np.ma.filled(np.ma.asarray(values)[rows].astype(np.float32), np.nan)
    cols.update((name, values[of_customer]) for name, values in customers.items())
    cols.update((name, values[of_article]) for name, values in articles.items())
    cols.update(pairs)
    n = len(cust)
    cols["tt_dot"] = (two_tower.dot(cust, art) if two_tower and n else np.full(n, np.nan, np.float32))
    cols["tt_history_sim"] = (two_tower.history_sim(con, cust, art) if two_tower and n
                              else np.full(n, np.nan, np.float32))
    return cols


def _rank_key(customer_idx: np.ndarray, cand_rank: np.ndarray) -> np.ndarray:
    return (np.asarray(customer_idx, np.int64) << 32) + np.asarray(cand_rank, np.int64)


def feature_names(cols: dict[str, np.ndarray], two_tower: bool) -> list[str]:
    """The model's inputs: every column but the ids, without the two-tower's when it is off."""
    return [c for c in cols if c not in ID_COLUMNS and (two_tower or c not in TT_FEATURES)]


def matrix(cols: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """The features as a float32 matrix (rows x features), filled column by column into a
    Fortran-ordered array: several times faster than stacking, and LightGBM reads it as it is."""
    out = np.empty((len(names), len(cols[names[0]]) if names else 0), np.float32)
    for row, name in enumerate(names):
        out[row] = cols[name]
    return out.T


def purchases_between(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> dict[str, np.ndarray]:
    """Distinct (customer_idx, article_id) bought with start < t_dat <= end."""
    return _fetch(con.execute("SELECT DISTINCT customer_idx, article_id FROM transactions "
                              "WHERE t_dat > ? AND t_dat <= ? ORDER BY ALL", [start, end]))


def pair_keys(customer_idx: np.ndarray, article_id: np.ndarray) -> np.ndarray:
    return np.asarray(customer_idx, np.int64) * (1 << 32) + np.asarray(article_id, np.int64)


def week_data(con: duckdb.DuckDBPyConnection, cutoff: dt.date, config: RankerConfig,
              past: dict | None, sample: bool = True, compact=None) -> dict:
    """Candidates, features and labels of the buyers of the week after `cutoff`.

    Args:
        past: the two-tower as of `cutoff`, which never saw this week (`train.snapshot`).
        sample: keep at most `max_groups_per_week` buyers.
        compact: f(cols, label) applied to each chunk of buyers as soon as it is built, so that
            only its result is kept and the chunk's columns are freed (bounds memory at full
            scale); "parts" then holds the results and "cols" and "label" are None.

    Returns:
        {"cols", "label", "parts", "candidates", "bought", "buyers", "recall"}: the feature
        columns of the buyers' candidates, 1 where bought (or the chunks' `compact` results), the
        week's candidate and bought counts, the buyers scored and the sources' recall.
    """
    truth = purchases_between(con, cutoff, cutoff + dt.timedelta(days=7))
    truth_keys = pair_keys(truth["customer_idx"], truth["article_id"])
    buyers = np.unique(truth["customer_idx"]).astype(np.int64)
    if sample and len(buyers) > config.max_groups_per_week:
        rng = np.random.default_rng([config.seed, cutoff.toordinal()])
        buyers = np.sort(rng.choice(buyers, config.max_groups_per_week, replace=False))
    cand_config = config.candidates()
    candidates.prepare(con, cutoff, cand_config)
    tt = (TwoTowerSource.at_cutoff(con, past["customer_emb"], past["article_ids"], past["article_emb"], TT_BETA)
          if past is not None and config.two_tower else None)
    parts, recall, rows, bought = [], None, 0, 0
    for start in range(0, len(buyers), CHUNK):
        cols = features_of(con, buyers[start:start + CHUNK], cand_config, tt)
        if start == 0:
            recall = candidates.source_recall(con, truth)
        label = np.isin(pair_keys(cols["customer_idx"], cols["article_id"]), truth_keys).astype(np.int8)
        rows, bought = rows + len(label), bought + int(label.sum())
        parts.append(compact(cols, label) if compact else (cols, label))
        del cols, label
    out = {"cols": None, "label": None, "parts": parts, "candidates": rows, "bought": bought,
           "buyers": buyers, "recall": recall}
    if compact is None and parts:
        out["cols"] = {}
        for name in list(parts[0][0]):  # column by column, each chunk's freed as it goes
            out["cols"][name] = np.concatenate([p[0].pop(name) for p in parts])
        out["label"], out["parts"] = np.concatenate([p[1] for p in parts]), None
    return out


def groups_with_a_purchase(cols: dict[str, np.ndarray], label: np.ndarray, negatives: int,
                           seed) -> tuple[np.ndarray, np.ndarray]:
    """(rows to keep, group sizes): the customer-weeks with at least one bought candidate, each
    with all its bought candidates and at most `negatives` others (a fixed random sample; `seed`:
    a seed, or a numpy Generator whose stream goes on from one call to the next)."""
    cust = cols["customer_idx"]
    if len(cust) == 0:
        return np.zeros(0, bool), np.zeros(0, np.int64)
    _, start, sizes = np.unique(cust, return_index=True, return_counts=True)
    hits = np.add.reduceat(label.astype(np.int64), start)
    group_of_row = np.repeat(np.arange(len(sizes)), sizes)
    # negatives ranked by a random key within their group: keep the first `negatives`
    key = np.random.default_rng(seed).random(len(cust)) + (label > 0)
    order = np.lexsort((-key, group_of_row))
    slot = np.empty(len(cust), np.int64)
    slot[order] = np.arange(len(cust)) - np.repeat(start, sizes)
    keep = (hits[group_of_row] > 0) & ((label > 0) | (slot < negatives + hits[group_of_row]))
    return keep, np.bincount(group_of_row[keep], minlength=len(sizes))[hits > 0]


def lgb_params(config: RankerConfig) -> dict:
    return {"objective": "lambdarank", "metric": "map", "eval_at": [12], "learning_rate": config.learning_rate,
            "num_leaves": config.num_leaves, "min_data_in_leaf": config.min_data_in_leaf,
            "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
            "lambdarank_truncation_level": 20, "max_bin": 63, "seed": config.seed, "deterministic": True,
            "force_row_wise": True, "num_threads": 0, "verbose": -1}


def training_set(config: RankerConfig, seed) -> Callable:
    """week_data's `compact` for the fit: each chunk of a week's buyers reduced to (feature names,
    (features, labels, group sizes)) of the customer-weeks with a purchase among their candidates,
    negatives sampled (one random stream over the week's chunks in turn: the same rows as sampling
    the whole week at once)."""
    rng = np.random.default_rng(seed)

    def compact(cols: dict[str, np.ndarray], label: np.ndarray) -> tuple:
        names = feature_names(cols, config.two_tower)
        keep, sizes = groups_with_a_purchase(cols, label, config.negatives_per_group, rng)
        return names, (matrix({name: cols[name][keep] for name in names}, names), label[keep], sizes)

    return compact


def fit(sets: list[tuple], names: list[str], config: RankerConfig, log=print):
    """Fits the ranker: early stopping on the latest week, then every week with the best rounds.

    Args:
        sets: `training_set` of each label week, the latest first.

    Returns:
        (booster, figures).
    """
    import lightgbm as lgb
    if not sets or sum(len(s[2]) for s in sets[1:]) == 0 or len(sets[0][2]) == 0:
        raise HmbatchError("too few buyers with a purchase among their candidates to train the ranker: "
                           "use more --ranker-weeks, or --ranker none")
    params = lgb_params(config)

    def dataset(parts):
        return lgb.Dataset(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                           group=np.concatenate([p[2] for p in parts]), feature_name=names,
                           free_raw_data=True)

    started = time.perf_counter()
    train_set, valid_set = dataset(sets[1:]), dataset(sets[:1])
    history: dict = {}
    booster = lgb.train(params, train_set, config.rounds, valid_sets=[valid_set], valid_names=["latest"],
                        callbacks=[lgb.early_stopping(config.early_stopping, verbose=False),
                                   lgb.record_evaluation(history)])
    best = max(booster.best_iteration, 1)
    valid_map = history["latest"]["map@12"][best - 1]
    log(f"ranker: best round {best} (MAP@12 {valid_map:.4f} on the latest week's buyers with a "
        f"candidate bought); fitting again on all {len(sets)} weeks")
    pause_point("train:ranker-fit")
    booster = lgb.train(params, dataset(sets), best)
    figures = {"best_round": best, "valid_map@12_groups_with_purchase": valid_map,
               "rows": int(sum(len(s[1]) for s in sets)), "groups": int(sum(len(s[2]) for s in sets)),
               "fit_seconds": round(time.perf_counter() - started, 2)}
    return booster, figures


def importance(booster, names: list[str]) -> dict[str, float]:
    gains = booster.feature_importance(importance_type="gain")
    total = max(float(gains.sum()), 1e-12)
    return dict(sorted(((n, round(float(g) / total, 5)) for n, g in zip(names, gains)),
                       key=lambda kv: -kv[1]))


def train_ranker(tmp_dir: Path, con: duckdb.DuckDBPyConnection, cutoff: dt.date, manifest: dict,
                 config: RankerConfig, log=print, snapshots: dict | None = None,
                 reuse: dict | None = None) -> dict:
    """Trains the ranker for a run being written in `tmp_dir` (its two-tower already exported).
    Each label week's training set is kept in the run (ranker/sets/) for the next warm start.

    Args:
        snapshots: the two-tower as of each label week's cut-off (`train.week_by_week`), which
            scores that week; required when config.two_tower, for the weeks not in `reuse`.
        reuse: training sets of label weeks that have not changed since an earlier run
            (`reusable_sets`), by the week's cut-off: taken as they are.

    Returns:
        The ranker's manifest (also written to tmp_dir/ranker/ranker.json).
    """
    started = time.perf_counter()
    reuse = dict(reuse or {})
    label_cutoffs = label_weeks(cutoff, config.weeks)
    missing = [w for w in label_cutoffs if w not in reuse and w not in (snapshots or {})]
    if config.two_tower and missing:
        raise HmbatchError(f"the ranker's two-tower needs a two-tower snapshot at label week {missing[0]}: "
                           "train them together with `hmbatch train`")
    folder = tmp_dir / "ranker"
    sets, names, recall = [], reuse.pop("features", None), None
    for week_cutoff in label_cutoffs:
        t0 = time.perf_counter()
        if week_cutoff in reuse:
            sets.append(reuse[week_cutoff])
            log(f"ranker: label week after {week_cutoff}: its set of the earlier run reused")
        else:
            w = week_data(con, week_cutoff, config, snapshots[week_cutoff] if config.two_tower else None,
                          compact=training_set(config, [config.seed, week_cutoff.toordinal()]))
            if not w["parts"]:
                raise HmbatchError(f"nobody bought anything in the week after {week_cutoff}: use fewer "
                                   "--ranker-weeks, or --ranker none")
            fresh = w["parts"][0][0]
            if names is not None and fresh != names:
                raise HmbatchError("the earlier run's ranker has other features than this version's: "
                                   "train with --cold-start")
            names, recall = fresh, recall or w["recall"]
            sets.append(tuple(np.concatenate([p[1][i] for p in w["parts"]]) for i in range(3)))
            log(f"ranker: label week after {week_cutoff}: {len(w['buyers']):,} buyers, "
                f"{w['candidates']:,} candidates, {w['bought']:,} bought "
                f"({time.perf_counter() - t0:.1f} s)")
            del w
        save_set(folder / SETS / str(week_cutoff), sets[-1])
    feature_s = time.perf_counter() - started
    booster, figures = fit(sets, names, config, log)
    booster.save_model(str(folder / "model.txt"))
    t0 = time.perf_counter()
    why_not = trees.build(folder / "model.txt")
    figures["compiled"] = why_not is None
    log(f"ranker: compiled to C for scoring ({time.perf_counter() - t0:.1f} s)" if why_not is None else
        f"ranker: not compiled to C ({why_not}): LightGBM scores it")
    info = {"config": dataclasses.asdict(config), "candidates": config.candidates().manifest(),
            "features": names, "feature_version": FEATURE_VERSION, "feature_importance": importance(booster, names),
            "label_weeks": [str(w) for w in label_cutoffs],
            "reused_weeks": [str(w) for w in label_cutoffs if w in reuse],
            "two_tower": ({"scored_by": "the two-tower carried week by week: each label week by its "
                                        "snapshot as of the week's cut-off", "beta": TT_BETA}
                          if config.two_tower else None),
            "training_recall": recall,
            "figures": {**figures, "feature_seconds": round(feature_s, 2),
                        "seconds": round(time.perf_counter() - started, 2)}}
    (folder / "ranker.json").write_text(json.dumps(info, indent=2))
    return info


def label_weeks(cutoff: dt.date, weeks: int) -> list[dt.date]:
    """The cut-offs of the `weeks` label weeks before `cutoff`, the latest first."""
    return [cutoff - dt.timedelta(days=7 * k) for k in range(1, weeks + 1)]


def save_set(folder: Path, parts: tuple) -> None:
    """Writes one label week's (features, labels, group sizes) as .npy files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in zip(SET_FILES, parts):
        np.save(folder / f"{name}.npy", values)


def reusable_sets(run_dir: Path, config: RankerConfig, weeks: list[dt.date]) -> dict:
    """The training sets of `weeks` that an earlier run saved with the same options (its label
    weeks' rows, labels and features are the same as long as the data up to them is), memory-
    mapped, plus their "features"; {} when the options or the feature version differ or nothing
    is there."""
    try:
        info = json.loads((run_dir / "ranker" / "ranker.json").read_text())
    except (OSError, ValueError):
        return {}
    now = json.loads(json.dumps(dataclasses.asdict(config)))  # as the manifest writes it
    same = {k: v for k, v in info.get("config", {}).items() if k != "weeks"} == \
        {k: v for k, v in now.items() if k != "weeks"}
    if not same or info.get("feature_version", 1) != FEATURE_VERSION:
        return {}
    out: dict = {"features": info["features"]}
    for week in weeks:
        folder = run_dir / "ranker" / SETS / str(week)
        if all((folder / f"{n}.npy").exists() for n in SET_FILES):
            out[week] = tuple(np.load(folder / f"{n}.npy", mmap_mode="r") for n in SET_FILES)
    return out


def resolve_config(ws, holdout_days: int, **explicit) -> RankerConfig:
    """The ranker's options: those given, else (for a run without a held-out week) the current
    model's, chosen on its held-out week, else the defaults."""
    base = {}
    if holdout_days == 0:
        try:
            manifest = json.loads((ws.current_model() / "manifest.json").read_text())
            base = (manifest.get("ranker") or {}).get("config") or {}
        except (HmbatchError, OSError, ValueError):
            base = {}
    fields = {f.name for f in dataclasses.fields(RankerConfig)}
    chosen = {k: v for k, v in base.items() if k in fields}
    chosen.update({k: v for k, v in explicit.items() if v is not None})
    return RankerConfig(**chosen)


def training_step(config: RankerConfig, log=print):
    """The ranker as a step of `train.train`: trained into the run folder before it is moved."""

    def step(tmp_dir: Path, con: duckdb.DuckDBPyConnection, cutoff: dt.date, manifest: dict,
             snapshots: dict, warm_from: Path | None = None):
        reuse = reusable_sets(warm_from, config, label_weeks(cutoff, config.weeks)) if warm_from else None
        info = train_ranker(tmp_dir, con, cutoff, manifest, config, log, snapshots, reuse)
        return "ranker", info

    return step


def context_step(config: CandidateConfig):
    """A step of `train.train`: the serving cut-off's candidate context (sql/candidates/00_context.sql)
    saved in the run as Parquet (context/), its options in the manifest ("candidates"): every
    strategy scores the candidates built on it."""

    def step(tmp_dir: Path, con: duckdb.DuckDBPyConnection, cutoff: dt.date, manifest: dict,
             snapshots: dict, warm_from: Path | None = None):
        candidates.prepare(con, cutoff, config)
        candidates.save_context(con, tmp_dir / CONTEXT)
        return "candidates", config.manifest()

    return step


def train_run(ws, config, ranker: str = "lightgbm", warm: bool | None = None, progress=None, log=print,
              **ranker_options) -> Path:
    """`hmbatch train`: the two-tower, then (ranker="lightgbm") the ranker, in one run folder made
    current at the end; the two-tower is snapshotted at each label week the ranker's two-tower
    sources and features score.

    Args:
        config: the two-tower's options (train.TrainConfig).
        ranker: "lightgbm" or "none".
        warm: see train.train.
        ranker_options: RankerConfig fields given explicitly (None: the default, or with
            --holdout-days 0 the current run's).

    Returns:
        The new run folder.
    """
    from hmbatch import train as train_mod
    if ranker not in ("lightgbm", "none"):
        raise HmbatchError(f"unknown --ranker {ranker!r}: choose lightgbm or none")
    # the candidates' options (--candidates, --quota) hold for every strategy, with a ranker or not
    ranker_config = resolve_config(ws, config.holdout_days, **ranker_options)
    steps, snapshot_weeks, veto = [context_step(ranker_config.candidates())], 0, None
    stages = {"candidates": ranker_config.candidates().manifest(), "ranker": None}
    if ranker == "lightgbm":
        steps.append(training_step(ranker_config, log))
        snapshot_weeks = ranker_config.weeks if ranker_config.two_tower else 0
        veto = other_features
        stages["ranker"] = {**dataclasses.asdict(ranker_config), "feature_version": FEATURE_VERSION}
    return train_mod.train(ws, config, progress, log, steps, snapshot_weeks, warm, veto, stages)


def other_features(run: Path) -> str | None:
    """Why the ranker cannot continue `run` (a run whose ranker has another version's features:
    its label-week sets cannot be reused, and the weeks before its cut-off have no snapshot to
    build them again), or None."""
    try:
        info = json.loads((run / "ranker" / "ranker.json").read_text())
    except (OSError, ValueError):
        return None  # no ranker: nothing to reuse
    if info.get("feature_version", 1) != FEATURE_VERSION:
        return (f"the current run {run.name}'s ranker has the features of another version "
                f"({info.get('feature_version', 1)}, now {FEATURE_VERSION})")
    return None


class Ranker:
    """A run's ranker opened for serving: the LightGBM model and what it was trained with."""

    def __init__(self, run_dir: Path):
        import lightgbm as lgb
        folder = run_dir / "ranker"
        self.info = json.loads((folder / "ranker.json").read_text())
        self.booster = lgb.Booster(model_file=str(folder / "model.txt"))
        self.compiled = trees.load(folder / "model.txt")  # its C twin, the same scores faster, if built
        self.names = self.info["features"]
        self.two_tower = bool(self.info["config"]["two_tower"])
        # the popularity weight the label weeks were scored with, not the blend's tuned one
        self.beta = (self.info.get("two_tower") or {}).get("beta", TT_BETA)

    @staticmethod
    def exists(run_dir: Path) -> bool:
        return (run_dir / "ranker" / "model.txt").exists()

    def score(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """The ranker's score of each candidate row of `features_of`."""
        if len(cols["customer_idx"]) == 0:
            return np.zeros(0, np.float64)
        features = matrix(cols, self.names)
        if self.compiled is not None:
            return self.compiled.predict(features)
        return self.booster.predict(features, num_threads=0)
