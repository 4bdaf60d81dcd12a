"""`hmbatch train`: examples from DuckDB -> TFRS two-tower -> embeddings, FAISS index, manifest.

Everything is written into a new run folder under the workspace's tmp/ and moved into models/
only when complete; CURRENT then points at it, so an interrupted run changes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import datetime as dt
import json
import os
import shutil
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmbatch import __version__, features
from hmbatch.errors import HmbatchError
from hmbatch.workspace import Workspace, pause_point, remove_path, signals_as_interrupt

STEPS_PER_CALL = 20


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run; written into the run's manifest.

    Attributes:
        holdout_days: days at the end of the data kept out of training and features (0 = none).
        weeks: weeks of purchases before the cut-off used as training examples.
        epochs: passes over the examples.
        dim: embedding size of both towers.
        batch_size: examples per step; in-batch softmax cost grows with its square.
        learning_rate: Adam's learning rate.
        temperature: softmax temperature of the retrieval loss.
        use_customer_id: whether the customer tower also has a per-customer id embedding (off by
            default: measured on the collections worlds, the ranker scores as well or better
            without one, at every scale, and the model carries no per-customer parameters).
        id_shortcut: each tower adds its id part to its MLP's output (model.TwoTower): the score
            gains a history . article id term, which the ids learn beyond the metadata.
        recent_days: articles sold in this many days before the cut-off form the "recent" index.
        continue_weeks: weeks of examples each weekly continuation trains on (one epoch): the
            model seen up to one label week is carried to the next by these steps.
        half_life_weeks: an example's weight halves every this many weeks before the cut-off
            (0: every week weighs the same).
        seed: random seed (same seed, same machine: same model).
    """

    holdout_days: int = 7
    weeks: int = 12
    epochs: int = 2
    dim: int = 64
    batch_size: int = 1024
    learning_rate: float = 0.005
    temperature: float = 1.0
    use_customer_id: bool = False
    id_shortcut: bool = True
    recent_days: int = 28
    continue_weeks: int = 4
    half_life_weeks: float = 0.0
    seed: int = 0


def _tf_setup(seed: int | None):
    """Imports TensorFlow (only here) and, given a seed, seeds it: a seed is set only before
    weights are drawn, since setting one clears TensorFlow's kernel caches (about a second per
    graph function re-instantiated), and continued training draws nothing at random."""
    from hmbatch import model as model_mod
    tf = model_mod.tf
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
    return model_mod, tf


def sampling_probability(article_ids: np.ndarray) -> np.ndarray:
    """Each example's candidate frequency among the examples (for the log-q correction)."""
    _, inverse, counts = np.unique(article_ids, return_inverse=True, return_counts=True)
    return (counts[inverse] / len(article_ids)).astype(np.float32)


def recency_weight(asof: np.ndarray, half_life_weeks: float) -> np.ndarray:
    """Each example's weight, 0.5 ** (weeks before the latest week / half-life), mean 1."""
    if half_life_weeks <= 0 or len(asof) == 0:
        return np.ones(len(asof), np.float32)
    weeks = (asof.max() - asof).astype("timedelta64[D]").astype(np.float64) / 7
    weight = 0.5 ** (weeks / half_life_weeks)
    return (weight / weight.mean()).astype(np.float32)


_RUN_STEPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _multi_step(tf, model):
    """A graph function that runs several training steps per Python call (less overhead), one per
    model: the weekly continuations of a run train the same model on datasets of the same element
    types, so the graph traced for its first training serves them all (a trace costs seconds)."""
    if model in _RUN_STEPS:
        return _RUN_STEPS[model]

    @tf.function
    def run_steps(iterator, count):
        total = tf.constant(0.0)
        for _ in tf.range(count):
            total += model.train_step(next(iterator))["loss"]
        return total

    _RUN_STEPS[model] = run_steps
    return run_steps


def _build(model, batch: dict) -> None:
    """Creates the model's and its optimiser's variables before the training graph is traced: a
    graph function that creates variables on its first call is traced twice (seconds each)."""
    if not model.built:
        model.query_model(batch)
        model.candidate_model(batch)
    model.optimizer.build(model.trainable_variables)


def fit(config: TrainConfig, examples: dict[str, np.ndarray], vocab, progress=None, model=None,
        epochs: int | None = None, stage: int = 0):
    """Trains the two-tower model on `examples` (emptied on the way to save memory).

    Args:
        model: a model to continue training (its weights and optimiser state), else a new one.
        epochs: passes over the examples (default: config.epochs).
        stage: which training of a run this is (0: the first); seeds each stage's shuffles.

    Returns:
        (model, figures of each epoch).
    """
    model_mod, tf = _tf_setup(config.seed + stage if model is None else None)
    examples["sampling_prob"] = sampling_probability(examples["article_id"])
    examples["weight"] = recency_weight(examples.pop("asof_date"), config.half_life_weeks)
    n = len(examples["article_id"])
    tensors = {}
    for name in list(examples):
        values = examples.pop(name)
        if values.dtype.kind in "iuf":
            tensors[name] = tf.constant(model_mod.to_tensors({name: values})[name])

    n_epochs = config.epochs if epochs is None else epochs
    # Shuffle positions, not rows: a shuffle buffer of millions of dict elements costs many GB. One
    # dataset (one iterator) for every epoch, its batches cut per epoch: a dataset made anew each
    # epoch would capture another copy of the examples.
    orders = np.stack([np.random.default_rng([config.seed, stage, epoch]).permutation(n)
                       for epoch in range(n_epochs)]) if n else np.zeros((0, 0), np.int64)
    data = (tf.data.Dataset.from_tensor_slices(orders)
            .flat_map(model_mod.plain_graph(lambda order: tf.data.Dataset.from_tensor_slices(order)
                                            .batch(config.batch_size)))
            .map(model_mod.plain_graph(lambda rows: {k: tf.gather(t, rows) for k, t in tensors.items()}))
            .prefetch(2))

    if model is None:
        model = model_mod.TwoTower(vocab, config.dim, config.temperature, config.use_customer_id,
                                   config.id_shortcut)
        model.compile(optimizer=model_mod.LazyAdam(learning_rate=config.learning_rate))
    if n == 0:  # a continuation over weeks without a purchase: nothing to learn
        return model, []
    steps = -(-n // config.batch_size)
    _build(model, {k: t[:2] for k, t in tensors.items()})
    run_steps = _multi_step(tf, model)
    figures = []
    iterator = iter(data)
    for epoch in range(n_epochs):
        started, done, losses = time.perf_counter(), 0, []
        while done < steps:
            count = min(STEPS_PER_CALL, steps - done)
            with model_mod.quiet_stderr() if epoch == done == 0 else contextlib.nullcontext():
                losses.append(float(run_steps(iterator, tf.constant(count))) / count)
            done += count
            pause_point("train:fit")
            if progress:
                rate = min(done * config.batch_size, n) / (time.perf_counter() - started)
                progress(epoch, done, steps, np.mean(losses[-5:]) / config.batch_size, rate)
        seconds = time.perf_counter() - started
        figures.append({"stage": stage, "epoch": epoch + 1, "examples": n,
                        "loss": float(np.mean(losses)) / config.batch_size,
                        "seconds": round(seconds, 2), "examples_per_s": round(n / seconds, 1)})
        if not np.isfinite(figures[-1]["loss"]):
            raise HmbatchError("training diverged (loss is NaN): retry with a lower --learning-rate")
    return model, figures


def export(run_dir: Path, model, con, asof: dt.date, config: TrainConfig, info: dict) -> dict:
    """Writes the article index (all and recent), customer embeddings and tower weights.

    Args:
        info: written beside each index (data cut-off, database fingerprint, options).
    """
    from hmbatch import model as model_mod
    from hmbatch.index import FaissIndex, check_finite
    arts = features.article_features_at(con, asof)
    art_emb = check_finite(model_mod.embed(model.candidate_model, arts), "article")
    log_pop = (arts["log_sales_7"] * 5).astype(np.float32)  # ln(1 + sales of the last 7 days)
    vectors = np.hstack([art_emb, log_pop[:, None]])
    info = {**info, "vectors": "article embedding + ln(1 + sales of the last 7 days)"}
    FaissIndex().build(vectors, arts["article_id"]).save(run_dir / "index_all", info)
    recent = _sold_since(con, arts["article_id"], asof - dt.timedelta(days=config.recent_days), asof)
    FaissIndex().build(vectors[recent], arts["article_id"][recent]).save(
        run_dir / "index_recent", {**info, "restricted_to": f"articles sold in the {config.recent_days} days before {asof}"})
    custs = features.customer_features_at(con, asof)
    cust_emb = check_finite(model_mod.embed(model.query_model, custs), "customer") / config.temperature
    np.save(run_dir / "customer_embeddings.npy", cust_emb.astype(np.float32))
    model.save_weights(str(run_dir / "towers" / "weights"))
    return {"articles": len(art_emb), "recent_articles": int(recent.sum()), "customers": len(cust_emb)}


def _sold_since(con, article_ids: np.ndarray, start: dt.date, asof: dt.date) -> np.ndarray:
    sold = con.execute("SELECT DISTINCT article_id FROM transactions WHERE t_dat >= ? AND t_dat < ?",
                       [start, asof]).fetchnumpy()["article_id"]
    return np.isin(article_ids, sold)


def holdout_recall(run_dir: Path, con, cutoff: dt.date, days: int, beta: float = 1.0) -> dict:
    """recall@12 and recall@100 of the two-tower retrieval alone on the held-out days.

    Args:
        run_dir: a run folder written by `export` (recent index and customer embeddings).
        beta: the weight of ln(1 + last week's sales), the index vectors' last coordinate.
    """
    from hmbatch.index import FaissIndex
    from hmbatch.metrics import recall_at_k
    truth = features.purchases_after(con, cutoff, days)
    if not truth:
        return {}
    idx = np.array(sorted(truth), np.int64)
    emb = np.load(run_dir / "customer_embeddings.npy", mmap_mode="r")
    idx = idx[idx < len(emb)]
    queries = np.hstack([emb[idx], np.full((len(idx), 1), beta, np.float32)])
    found = FaissIndex.load(run_dir / "index_recent").search(queries, 100)[1]
    preds = dict(zip(idx.tolist(), found))
    return {"buyers": len(truth), "recall@12": recall_at_k(preds, truth, 12),
            "recall@100": recall_at_k(preds, truth, 100)}


def previous_blend(ws: Workspace) -> dict | None:
    """The tuned blend weights of the current model, carried over by a run without a held-out week."""
    try:
        manifest = json.loads((ws.current_model() / "manifest.json").read_text())
    except (HmbatchError, OSError, ValueError):
        return None
    return manifest.get("blend")


class CustomerRows:
    """The embeddings of some customers, read like the whole (customers x dim) array by
    customer_idx. Asking for a customer who is not among them raises instead of reading a wrong
    row: a label week's snapshot holds only that week's buyers, the only customers it scores."""

    def __init__(self, customer_idx: np.ndarray, emb: np.ndarray, n_customers: int):
        self.customer_idx, self.emb = customer_idx, emb
        self.shape = (n_customers, emb.shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, customer_idx) -> np.ndarray:
        idx = np.asarray(customer_idx, np.int64)
        pos = np.minimum(np.searchsorted(self.customer_idx, idx), max(len(self.customer_idx) - 1, 0))
        found = (self.customer_idx[pos] == idx) if len(self.customer_idx) else np.zeros(idx.shape, bool)
        if not found.all():
            raise KeyError(f"customer_idx {idx[~found].ravel()[0]} is not in this two-tower snapshot")
        return np.asarray(self.emb[pos])


class Snapshot(Mapping):
    """A two-tower snapshot saved in a folder: {"customer_emb", "article_ids", "article_emb"}, each
    array opened memory-mapped when asked for, so that nothing stays mapped (and resident) once
    the label week that reads it is done. When the snapshot holds only some customers (its
    customer_idx.npy), "customer_emb" is their `CustomerRows`."""

    NAMES = ("customer_emb", "article_ids", "article_emb")

    def __init__(self, folder: Path):
        self.folder = folder

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.NAMES:
            raise KeyError(name)
        values = np.load(self.folder / f"{name}.npy", mmap_mode="r")
        if name == "customer_emb" and (self.folder / "customer_idx.npy").exists():
            info = json.loads((self.folder / "customers.json").read_text())
            return CustomerRows(np.load(self.folder / "customer_idx.npy"), values, info["customers"])
        return values

    def __iter__(self):
        return iter(self.NAMES)

    def __len__(self) -> int:
        return len(self.NAMES)


def week_buyers(con, cutoff: dt.date) -> np.ndarray:
    """customer_idx of everyone who bought in the 7 days after `cutoff`, sorted."""
    return np.asarray(con.execute("SELECT DISTINCT customer_idx FROM transactions WHERE t_dat > ? AND t_dat <= ? "
                                  "ORDER BY 1", [cutoff, cutoff + dt.timedelta(days=7)]
                                  ).fetchnumpy()["customer_idx"], np.int64)


def snapshot(model, con, cutoff: dt.date, config: TrainConfig, folder: Path,
             customers: np.ndarray | None = None) -> Snapshot:
    """The model's embeddings as of the day after `cutoff`, saved in `folder`: what scores the
    week after `cutoff` with a model that has not seen it.

    Args:
        customers: the customer_idx to embed (sorted; default: every customer). A label week
            needs only its buyers: at full scale about 80,000 of 1.37M customers.

    Returns:
        {"customer_emb": (customers, dim) by customer_idx, "article_ids": sorted ids,
         "article_emb": (articles, dim)}, read from `folder` when asked for.
    """
    from hmbatch import model as model_mod
    asof = cutoff + dt.timedelta(days=1)
    folder.mkdir(parents=True, exist_ok=True)
    arts = features.article_features_at(con, asof)
    np.save(folder / "article_ids.npy", arts["article_id"].astype(np.int64))
    np.save(folder / "article_emb.npy", check_finite_array(model_mod.embed(model.candidate_model, arts), "article"))
    del arts
    custs = features.customer_features_at(con, asof, customers)
    np.save(folder / "customer_emb.npy",
            check_finite_array(model_mod.embed(model.query_model, custs), "customer") / config.temperature)
    if customers is not None:
        np.save(folder / "customer_idx.npy", np.asarray(custs["customer_idx"], np.int64))
        n = con.execute("SELECT count(*) FROM customers").fetchone()[0]
        (folder / "customers.json").write_text(json.dumps({"customers": int(n)}))
    return Snapshot(folder)


def week_by_week(config: TrainConfig, con, cutoff: dt.date, label_weeks: int, folder: Path,
                 progress=None, log=print, start: Path | None = None, buyers_only: bool = False):
    """Trains up to the first of the `label_weeks` weeks before `cutoff` (or starts from the run
    `start`, up to its cut-off), then carries the model one week at a time to `cutoff`: before
    each label week it is snapshotted (it has seen everything up to that week and nothing after),
    then trained one epoch on the `continue_weeks` weeks up to the week's end. The last step's
    model is the one served, so the weeks the ranker learns from and the week it serves are scored
    by equally fresh models; next week's run continues from it the same way (`warm_start`).

    Args:
        buyers_only: each snapshot embeds only the customers who buy in its label week (all a
            label week scores; at full scale a 17th of the customers) instead of every customer.

    Returns:
        (model, vocabularies, figures of every epoch, {label week cut-off: snapshot}).
    """
    first = cutoff - dt.timedelta(days=7 * label_weeks)
    if start is None:
        examples = features.training_examples(con, first, config.weeks)
        if len(examples["article_id"]) == 0:
            raise HmbatchError(f"no purchases in the {config.weeks} weeks up to {first}: use a larger "
                               "--weeks, a smaller --holdout-days or fewer --ranker-weeks")
        log(f"{len(examples['article_id']):,} training examples from {config.weeks} weeks up to {first}")
        vocab = features.vocabularies(con, examples)
        model, epochs = fit(config, examples, vocab, progress)
        week = first
    else:
        model, vocab, week = continued_model(start, con, cutoff, config)
        epochs = []
        log(f"two-tower: continuing run {start.name} from its cut-off {week}")
    snapshots = {}
    while week < cutoff:
        if week >= first:
            snapshots[week] = snapshot(model, con, week, config, folder / str(week),
                                       week_buyers(con, week) if buyers_only else None)
        examples = features.training_examples(con, week + dt.timedelta(days=7), config.continue_weeks)
        log(f"two-tower: as of {week}, continuing on {len(examples['article_id']):,} examples "
            f"of the {config.continue_weeks} weeks up to {week + dt.timedelta(days=7)}")
        shifted = (lambda epoch, *rest, at=len(epochs): progress(at + epoch, *rest)) if progress else None
        model, more = fit(config, examples, vocab, shifted, model, epochs=1,
                          stage=(week - first).days // 7 + 1)
        epochs += more
        week += dt.timedelta(days=7)
    return model, vocab, epochs, snapshots


MODEL_SHAPE = ("dim", "temperature", "use_customer_id", "id_shortcut", "recent_days")


def warm_start(ws: Workspace, con, config: TrainConfig, cutoff: dt.date, label_weeks: int = 0,
               asked: bool = False, veto=None) -> tuple[Path | None, str]:
    """The run to continue from and why, or (None, why not): the current run, when it was trained
    with the same options (asked: with the same model shape: dim, temperature, customer ids), its
    cut-off is 0 to 4 whole weeks before `cutoff` (the validated run before the final one, or last
    week's run before this week's), the rows up to its cut-off are the ones it saw, and it kept
    the ranker's training set of each of the `label_weeks` weeks before `cutoff` that falls
    before its own cut-off (those weeks are not scored again). `veto(run)`: a later stage's reason
    not to continue the run (its ranker has another version's features), or None."""
    try:
        run = ws.current_model()
        manifest = json.loads((run / "manifest.json").read_text())
    except (HmbatchError, OSError, ValueError):
        return None, "no current run to continue from"
    old = manifest.get("config", {})
    same = MODEL_SHAPE if asked else [f for f in dataclasses.asdict(config) if f != "holdout_days"]
    changed = [k for k in same if old.get(k) != getattr(config, k)]
    if changed:
        return None, f"the current run {run.name} was trained with another --{changed[0].replace('_', '-')}"
    if veto is not None and (reason := veto(run)):
        return None, reason
    if manifest.get("data_signature") != features.data_signature(con, dt.date.fromisoformat(manifest["cutoff"])):
        return None, f"the rows up to the current run {run.name}'s cut-off are not the ones it was trained on"
    gap = (cutoff - dt.date.fromisoformat(manifest["cutoff"])).days
    if gap < 0 or gap % 7 or gap > 28:
        return None, (f"the current run {run.name}'s cut-off {manifest['cutoff']} is not 0 to 4 whole "
                      f"weeks before {cutoff}")
    if not (run / "towers").exists():
        return None, f"the current run {run.name} has no saved towers"
    start = dt.date.fromisoformat(manifest["cutoff"])
    for week in (cutoff - dt.timedelta(days=7 * k) for k in range(1, label_weeks + 1)):
        if week < start and not (run / "ranker" / "sets" / str(week)).exists():
            return None, f"the current run {run.name} has no ranker training set of the week after {week}"
    return run, f"continuing the current run {run.name} ({gap // 7} week(s) newer data)"


def finished_run(ws: Workspace, identity: dict) -> Path | None:
    """The newest run of the workspace whose manifest has this `identity` (hmbatch's version, the
    database's fingerprint, the options of every stage, the cut-off and the run it started from): this
    training's result already, since the same inputs train the same model (the seeds are fixed
    and the kernels deterministic). A cycle stopped after its trainings finds them when it is
    run again."""
    for run in sorted((p for p in ws.models_dir.glob("run-*") if p.is_dir()), reverse=True):
        try:
            if json.loads((run / "manifest.json").read_text()).get("identity") == identity:
                return run
        except (OSError, ValueError):
            continue
    return None


def nothing_to_learn(run: Path, cutoff: dt.date, tables: str) -> bool:
    """Whether continuing `run` (which `warm_start` chose: the rows up to its cut-off are the ones it
    saw) would train on nothing and embed the same rows with the same weights: its cut-off is
    `cutoff` and the articles and customers tables are as it saw them (`tables`, their
    `features.tables_signature` now). Next week's validation run is such a continuation of this
    week's final run."""
    manifest = json.loads((run / "manifest.json").read_text())
    return manifest["cutoff"] == str(cutoff) and manifest.get("tables_signature") == tables


def reuse_export(run: Path, tmp: Path, info: dict) -> dict:
    """What `export` and `model.save_vocab` would write for `run`'s own model, taken from it
    (hard links where the file system allows, else copies; runs are never changed in place), the
    indexes' info written for the new run. TensorFlow is not imported. Returns the sizes `export`
    returns."""
    for name in ("towers", "vocab", "index_all", "index_recent", "customer_embeddings.npy"):
        source = run / name
        if source.is_dir():
            shutil.copytree(source, tmp / name, copy_function=_link_or_copy)
        else:
            _link_or_copy(source, tmp / name)
    for name in ("index_all", "index_recent"):
        index_json = tmp / name / "index.json"
        saved = json.loads(index_json.read_text())
        index_json.unlink()  # a link to the run's file: written anew, not through the link
        index_json.write_text(json.dumps({**saved, **info, "embeddings_of": run.name}, indent=2))
    training = json.loads((run / "manifest.json").read_text())["training"]
    return {k: training[k] for k in ("articles", "recent_articles", "customers")}


def _link_or_copy(source, target) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def continued_model(run: Path, con, cutoff: dt.date, config: TrainConfig):
    """The run's two-tower with its vocabularies extended to the customers who bought since and
    to the articles added to the database: (model, vocabularies, the run's cut-off)."""
    from hmbatch import model as model_mod
    manifest = json.loads((run / "manifest.json").read_text())
    start = dt.date.fromisoformat(manifest["cutoff"])
    _tf_setup(config.seed)
    old_vocab = model_mod.load_vocab(run)
    window = start - dt.timedelta(days=7 * config.continue_weeks)
    buyers = con.execute("SELECT DISTINCT customer_idx FROM transactions WHERE t_dat > ? AND t_dat <= ?",
                         [window, cutoff]).fetchnumpy()["customer_idx"]
    fresh = features.vocabularies(con, {"customer_idx": np.asarray(buyers, np.int64)})
    vocab = dataclasses.replace(fresh, customer_ids=np.union1d(old_vocab.customer_ids, fresh.customer_ids))
    asof = start + dt.timedelta(days=1)
    sample = (features.customer_features_at(con, asof, np.arange(2)),
              {k: v[:2] for k, v in features.article_features_at(con, asof).items()})
    try:
        model = model_mod.extended(model_mod.load_model(run, manifest), old_vocab, vocab,
                                   dataclasses.asdict(config), sample)
    except ValueError as exc:
        raise HmbatchError(f"cannot continue run {run.name} ({exc}): train with --cold-start") from None
    model.compile(optimizer=model_mod.LazyAdam(learning_rate=config.learning_rate))
    return model, vocab, start


def give_back_freed_memory() -> None:
    """Returns the C heap's free pages to the system (glibc's malloc_trim): what TensorFlow freed
    stays counted in the process's memory otherwise. Does nothing where there is no glibc."""
    import ctypes
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def check_finite_array(vectors: np.ndarray, what: str) -> np.ndarray:
    from hmbatch.index import check_finite
    return check_finite(vectors, what).astype(np.float32)


def train(ws: Workspace, config: TrainConfig, progress=None, log=print, extra_steps=(),
          snapshot_weeks: int = 0, warm: bool | None = None, veto=None, stages: dict | None = None) -> Path:
    """Trains a model on the workspace's database and makes it current.

    Args:
        ws: the workspace (its database must exist).
        config: the run's options.
        progress: optional callback(epoch, step, steps, loss, examples_per_s) for a progress bar.
        log: where one-line notes go.
        extra_steps: later stages trained in the same run (the ranker): each is called as
            step(run_tmp_dir, con, cutoff, manifest, snapshots) -> (manifest key, figures) before
            the run is moved into place, so an interrupted or failed step leaves the current model
            as it was.
        snapshot_weeks: label weeks before the cut-off whose two-tower snapshots the steps need
            (`week_by_week`); 0: one plain training.
        warm: continue the current run (True), train from nothing (False), or continue it when it
            can be (None: `warm_start` decides, and the manifest says why).
        veto: see `warm_start`.
        stages: the options of the `extra_steps` (JSON values): with hmbatch's version, the
            database's fingerprint, `config`, the cut-off and the starting run, they make the
            run's identity. An earlier run of the same identity is made current again instead of
            training anew (not with `warm=False`, a cold start asked for).

    Returns:
        The new run folder (or the earlier one of the same identity).

    Raises:
        HmbatchError: no database, no training examples, or training diverged.
    """
    from hmbatch.data import connect_read_only, read_meta
    with ws.writer_lock("train"), contextlib.ExitStack() as stack:
        stack.enter_context(signals_as_interrupt())
        con = connect_read_only(ws)
        meta = read_meta(con)
        cutoff, last = features.dates(con, config.holdout_days)
        started = time.perf_counter()
        start, why = (warm_start(ws, con, config, cutoff, snapshot_weeks, bool(warm), veto) if warm is not False
                      else (None, "--cold-start"))
        if warm and start is None:
            raise HmbatchError(f"--warm-start: {why}")
        # through JSON, as a manifest holds it (tuples become lists), to compare with the saved ones
        identity = json.loads(json.dumps({"hmbatch": __version__, "fingerprint": meta["fingerprint"],
                                          "config": dataclasses.asdict(config),
                                          "stages": stages or {}, "cutoff": str(cutoff),
                                          "from": start.name if start else None}))
        if warm is not False and (done := finished_run(ws, identity)):
            log(f"two-tower: run {done.name} is this training's result already (the same files, options "
                "and starting run): it is made current again")
            con.close()
            ws.set_current_model(done)
            return done
        tables = features.tables_signature(con)
        reused = start is not None and nothing_to_learn(start, cutoff, tables)
        if reused:
            why += "; nothing new to learn (the same cut-off, articles and customers): its towers, embeddings and indexes are reused"
        else:
            from hmbatch import model as model_mod  # TensorFlow (seconds), only when the towers run
            stack.enter_context(signals_as_interrupt())  # handlers of ours, whatever the import set
        log(f"two-tower: {'warm start, ' if start else 'cold start, '}{why}")
        info = {"cutoff": str(cutoff), "fingerprint": meta["fingerprint"], "options": dataclasses.asdict(config)}
        tmp = ws.tmp_path("train")
        try:
            tmp.mkdir(parents=True)
            if reused:
                model, epochs, snapshots = None, [], {}
                sizes = reuse_export(start, tmp, info)
            else:
                model, vocab, epochs, snapshots = week_by_week(config, con, cutoff, snapshot_weeks,
                                                               tmp / "two_tower_weeks", progress, log, start,
                                                               buyers_only=True)
                sizes = export(tmp, model, con, cutoff + dt.timedelta(days=1), config, info)
                model_mod.save_vocab(tmp, vocab)
            train_s = time.perf_counter() - started
            pause_point("train:export")
            manifest = {
                "config": dataclasses.asdict(config), "cutoff": str(cutoff), "last_date": str(last),
                "fingerprint": meta["fingerprint"], "created": dt.datetime.now().isoformat(timespec="seconds"),
                "training": {"examples": epochs[0]["examples"] if epochs else 0, "seconds": round(train_s, 2),
                             "epochs": epochs, "snapshots": [str(w) for w in snapshots], **sizes},
                "blend": previous_blend(ws) if config.holdout_days == 0 else None,
                "warm_start": {"from": start.name if start else None, "why": why, "reused": reused},
                "data_signature": features.data_signature(con, cutoff),
                "tables_signature": tables,
                "identity": identity,
            }
            if config.holdout_days > 0:
                manifest["retrieval"] = holdout_recall(tmp, con, cutoff, config.holdout_days)
            if extra_steps and model is not None:  # the two-tower is exported: free it for the next stage
                del model
                model_mod.tf.keras.backend.clear_session()
                gc.collect()
                give_back_freed_memory()
            for step in extra_steps:
                key, figures = step(tmp, con, cutoff, manifest, snapshots, start)
                manifest[key] = figures
            del snapshots
            remove_path(tmp / "two_tower_weeks")
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
            run_dir = ws.models_dir / _run_name(config)
            os.replace(tmp, run_dir)
        finally:
            remove_path(tmp)
            con.close()
        ws.set_current_model(run_dir)
    return run_dir


def _run_name(config: TrainConfig) -> str:
    return f"run-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}-h{config.holdout_days}"
