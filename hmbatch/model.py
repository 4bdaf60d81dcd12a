"""The TFRS two-tower retrieval model: a customer (query) tower, an article (candidate) tower and
an in-batch softmax retrieval task with log-q correction and accidental hits removed.

Importing this module imports TensorFlow (several seconds): only `train` and the cold path of a
customer unknown to the saved embeddings do.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


@contextlib.contextmanager
def quiet_stderr():
    """Hides the C++ start-up chatter TensorFlow prints on import (CUDA probing, oneDNN notes)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    saved = os.dup(fd)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


with quiet_stderr():
    import tensorflow as tf  # noqa: E402
    import tensorflow_recommenders as tfrs  # noqa: E402

    tf.constant(0.0) + 1.0  # the first op probes for accelerators: keep that quiet too

from hmbatch.features import (ARTICLE_CATEGORICAL, ARTICLE_NUMERIC, CUSTOMER_CATEGORICAL,  # noqa: E402
                              CUSTOMER_NUMERIC, RECENT_ARTICLES, Vocabularies)

CATEGORY_DIM = 16
HISTORY_HALF = 4.0
# The towers' code has no Python control flow on tensors: autograph has nothing to convert in it,
# and converting it costs a second of each training process's first trace.
plain_graph = tf.autograph.experimental.do_not_convert


class LazyAdam(tf.keras.optimizers.Adam):
    """Adam whose embedding (sparse) updates touch only the rows of the batch.

    Keras's Adam decays the moments of every row of an embedding table at each step, which costs
    time in proportion to the table (1.4M customers x 64 at full scale) instead of the batch. Here
    a row's moments and weights change only when the row has a gradient, the usual "lazy" Adam of
    recommender systems; dense variables get the ordinary Adam update.
    """

    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        step = tf.cast(self.iterations + 1, variable.dtype)
        beta_1 = tf.cast(self.beta_1, variable.dtype)
        beta_2 = tf.cast(self.beta_2, variable.dtype)
        alpha = (tf.cast(self.learning_rate, variable.dtype) * tf.sqrt(1 - tf.pow(beta_2, step))
                 / (1 - tf.pow(beta_1, step)))
        index = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[index], self._velocities[index]
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(rows)[0])
        m_rows = tf.gather(m, rows) * beta_1 + values * (1 - beta_1)
        v_rows = tf.gather(v, rows) * beta_2 + tf.square(values) * (1 - beta_2)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))


def _category_embeddings(names, cardinality: dict[str, int]) -> dict[str, tf.keras.layers.Layer]:
    return {name: tf.keras.layers.Embedding(cardinality[name] + 1, CATEGORY_DIM, name=f"{name}_emb")
            for name in names}


def _mlp(dim: int, name: str) -> tf.keras.Sequential:
    return tf.keras.Sequential([tf.keras.layers.Dense(2 * dim, activation="relu"),
                                tf.keras.layers.Dense(dim)], name=name)


def _id_embedding(ids: np.ndarray, dim: int, name: str) -> tf.keras.Sequential:
    """Vocabulary lookup (unknown ids share the out-of-vocabulary slot 0) and its embedding."""
    return tf.keras.Sequential([tf.keras.layers.IntegerLookup(vocabulary=ids, mask_token=None),
                                tf.keras.layers.Embedding(len(ids) + 1, dim)], name=name)


class CustomerTower(tf.keras.Model):
    """Customer attributes, point-in-time purchase history and (optionally) a customer id.

    The history is pooled over the article tower's own id embedding (shared, not a second table):
    whatever the article ids learn, say that a collection's articles belong together, carries
    over to every customer who bought one of them, including customers never seen in training.
    Recent purchases weigh more (the 8 most recent, halving every `HISTORY_HALF` positions).
    With `shortcut`, the pooled history is also added to the MLP's output (see `TwoTower`).
    """

    def __init__(self, vocab: Vocabularies, dim: int, article_ids: tf.keras.layers.Layer,
                 use_id: bool = True, shortcut: bool = False):
        super().__init__(name="customer_tower")
        self.use_id = use_id
        self.shortcut = shortcut
        if use_id:
            self.id_embedding = _id_embedding(vocab.customer_ids, dim, "customer_id")
        self.article_ids = article_ids
        self.categories = _category_embeddings(CUSTOMER_CATEGORICAL, vocab.cardinality)
        self.mlp = _mlp(dim, "customer_mlp")
        self.position_weight = tf.constant(
            [0.5 ** (i / HISTORY_HALF) for i in range(len(RECENT_ARTICLES))], tf.float32)[None, :, None]

    @plain_graph
    def call(self, features: dict[str, tf.Tensor], training=None) -> tf.Tensor:
        parts = [self.categories[n](features[n]) for n in CUSTOMER_CATEGORICAL]
        parts.append(tf.stack([features[n] for n in CUSTOMER_NUMERIC], axis=1))
        recent = tf.stack([features[n] for n in RECENT_ARTICLES], axis=1)
        mask = tf.cast(tf.not_equal(recent, 0), tf.float32)[:, :, None] * self.position_weight
        pooled = tf.reduce_sum(self.article_ids(recent) * mask, axis=1)
        pooled = pooled / tf.maximum(tf.reduce_sum(mask, axis=1), 1e-3)
        parts.append(pooled)
        if self.use_id:
            parts.append(self.id_embedding(features["customer_idx"]))
        out = self.mlp(tf.concat(parts, axis=1))
        return out + pooled if self.shortcut else out


class ArticleTower(tf.keras.Model):
    """Article id, product code (so a new colour starts from its product), attributes, and
    time-aware features (age since first sale, recent sales). With `shortcut`, the id embedding
    is also added to the MLP's output (see `TwoTower`)."""

    def __init__(self, vocab: Vocabularies, dim: int, shortcut: bool = False):
        super().__init__(name="article_tower")
        self.shortcut = shortcut
        self.id_embedding = _id_embedding(vocab.article_ids, dim, "article_id")
        self.code_embedding = _id_embedding(vocab.product_codes, dim, "product_code")
        self.categories = _category_embeddings(ARTICLE_CATEGORICAL, vocab.cardinality)
        self.mlp = _mlp(dim, "article_mlp")

    @plain_graph
    def call(self, features: dict[str, tf.Tensor], training=None) -> tf.Tensor:
        ids = self.id_embedding(features["article_id"])
        parts = [ids, self.code_embedding(features["product_code"])]
        parts += [self.categories[n](features[n]) for n in ARTICLE_CATEGORICAL]
        parts.append(tf.stack([features[n] for n in ARTICLE_NUMERIC], axis=1))
        out = self.mlp(tf.concat(parts, axis=1))
        return out + ids if self.shortcut else out


class TwoTower(tfrs.Model):
    """Customer and article towers trained with in-batch softmax retrieval.

    The loss is corrected for popularity with each candidate's sampling probability (log-q), and
    in-batch negatives that are the positive article itself (accidental hits) are removed.

    With `shortcut` (the default of `train`), each tower adds its id part to its MLP's output:
    the article tower its id embedding, the customer tower its pooled history of the same
    embeddings. The score then holds a term history . article id, a factored item-to-item
    similarity (as in FISM) that reaches the ids without passing through the MLPs, where the
    metadata columns dominate: what the ids learn that no column names (a hidden collection's
    articles bought by the same customers) scores directly. No weights are added.
    """

    def __init__(self, vocab: Vocabularies, dim: int = 64, temperature: float = 1.0,
                 use_customer_id: bool = True, shortcut: bool = False):
        super().__init__()
        self.candidate_model = ArticleTower(vocab, dim, shortcut)
        self.query_model = CustomerTower(vocab, dim, self.candidate_model.id_embedding, use_customer_id,
                                         shortcut)
        self.task = tfrs.tasks.Retrieval(temperature=temperature, remove_accidental_hits=True)

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        return self.task(self.query_model(features), self.candidate_model(features),
                         candidate_sampling_probability=features["sampling_prob"],
                         candidate_ids=features["article_id"], sample_weight=features.get("weight"),
                         compute_metrics=False)


def embed(tower: tf.keras.Model, columns: dict[str, np.ndarray], batch_size: int = 8192) -> np.ndarray:
    """Runs a tower over NumPy columns in batches; returns float32 embeddings."""
    data = tf.data.Dataset.from_tensor_slices(to_tensors(columns)).batch(batch_size)
    out = [tower(batch).numpy() for batch in data]
    dim = tower.mlp.layers[-1].units
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, dim), np.float32)


def to_tensors(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Casts columns to the dtypes the towers take: int64 ids and codes, float32 numbers."""
    out = {}
    for name, values in columns.items():
        if values.dtype.kind in "iu":
            out[name] = values.astype(np.int64)
        elif values.dtype.kind == "f":
            out[name] = values.astype(np.float32)
    return out


def save_vocab(run_dir: Path, vocab: Vocabularies) -> None:
    """Saves what the towers are rebuilt from (ids, codes, category sizes)."""
    folder = run_dir / "vocab"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("customer_ids", "article_ids", "product_codes"):
        np.save(folder / f"{name}.npy", getattr(vocab, name))
    (folder / "cardinality.json").write_text(json.dumps(vocab.cardinality))


def load_vocab(run_dir: Path) -> Vocabularies:
    """Reads what `save_vocab` wrote."""
    folder = run_dir / "vocab"
    arrays = {n: np.load(folder / f"{n}.npy") for n in ("customer_ids", "article_ids", "product_codes")}
    return Vocabularies(**arrays, cardinality=json.loads((folder / "cardinality.json").read_text()))


def from_config(vocab: Vocabularies, config: dict) -> TwoTower:
    """A new two-tower of a run's saved config, its weights drawn from the run's seed. A run saved
    before the id shortcut existed has none in its config: it was trained without one."""
    tf.keras.utils.set_random_seed(config["seed"])
    return TwoTower(vocab, config["dim"], config["temperature"], config["use_customer_id"],
                    config.get("id_shortcut", False))


def load_model(run_dir: Path, manifest: dict) -> TwoTower:
    """Rebuilds a run's two-tower model from its vocabularies and saved weights."""
    model = from_config(load_vocab(run_dir), manifest["config"])
    model.load_weights(str(run_dir / "towers" / "weights")).expect_partial()
    return model


def _id_tables(model: TwoTower) -> dict[int, str]:
    """id(embedding table variable) -> the vocabulary field it is indexed by."""
    tables = {id(model.candidate_model.id_embedding.layers[1].embeddings): "article_ids",
              id(model.candidate_model.code_embedding.layers[1].embeddings): "product_codes"}
    if model.query_model.use_id:
        tables[id(model.query_model.id_embedding.layers[1].embeddings)] = "customer_ids"
    return tables


def extended(old: TwoTower, old_vocab: Vocabularies, vocab: Vocabularies, config: dict,
             sample: tuple[dict[str, np.ndarray], dict[str, np.ndarray]]) -> TwoTower:
    """A new model over `vocab` (a superset of `old_vocab`: customers and articles added since)
    holding `old`'s weights: every known id keeps its row, a new id starts as a copy of the
    out-of-vocabulary row (so an id not yet trained on scores exactly as an unknown one did, not
    as a random vector), everything else is copied as it is.

    Args:
        old: a model with its weights restored (`load_model`).
        config: the run's config (dim, temperature, use_customer_id, id_shortcut, seed).
        sample: (customer columns, article columns) of a few rows, to build both models' weights.
    """
    if vocab.cardinality != old_vocab.cardinality:
        raise ValueError("the category codes changed since the earlier run")
    new = from_config(vocab, config)
    for model in (old, new):
        embed(model.query_model, sample[0])
        embed(model.candidate_model, sample[1])
    tables_old, tables_new = _id_tables(old), _id_tables(new)
    for was, now in zip(old.weights, new.weights):
        if id(was) in tables_old:
            field = tables_old[id(was)]
            if tables_new.get(id(now)) != field:
                raise ValueError("the two models' weights are laid out differently")
            old_ids, new_ids = getattr(old_vocab, field), getattr(vocab, field)
            table, values = now.numpy(), was.numpy()
            _, at_old, at_new = np.intersect1d(old_ids, new_ids, assume_unique=True, return_indices=True)
            table[:] = values[0]  # new ids start as the out-of-vocabulary row: as before, until trained
            table[at_new + 1] = values[at_old + 1]
            now.assign(table)
        elif was.shape == now.shape:
            now.assign(was)
        else:
            raise ValueError(f"weight {was.name} has shape {was.shape} before and {now.shape} now")
    return new
