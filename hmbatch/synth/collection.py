"""Latent collections: articles launched together, grouped into hidden lines no column names.

Every article belongs to one collection: the articles of one index group launched in the same
week (so within 7 days of each other) are shuffled and cut into collections of about
COLLECTION_SIZE articles, spanning many product types (a smaller launch is one collection).
Collections are dealt into hidden *lines*, families of about COLLECTIONS_PER_LINE collections of
one index group spread over the whole calendar (a designer's recurring look). Each customer
favours 1 to MAX_LINES lines, drawn from the index groups of their favourite categories; in any
week the collections they favour are their lines' collections on sale. Whoever bought line L's
earlier collections is therefore likely to buy its next one: learnable from purchase histories
(a new collection is bought by the same customers as its line's older ones), invisible in the
metadata. ``outfits.py`` makes baskets follow them; the oracle scores them with ``line_lift``.
"""

from __future__ import annotations

import numpy as np

from hmbatch.synth.catalogue import Catalogue
from hmbatch.synth.customers import Customers
from hmbatch.synth.tables import Tables

COLLECTION_SIZE = 30  # articles per collection (a launch of one index group in one week is cut)
COLLECTIONS_PER_LINE = 10  # collections per hidden line
MAX_LINES = 3  # a customer favours 1 .. MAX_LINES lines (fewer when two draws coincide)


def index_groups(tables: Tables) -> np.ndarray:
    """Index group number of each template."""
    return np.unique(tables.templates["index_group_name"], return_inverse=True)[1]


def _cut(rng: np.random.Generator, bucket: np.ndarray, size: int) -> np.ndarray:
    """Shuffle the members of each bucket and cut every bucket into pieces of about ``size``.

    Returns:
      The piece of each member, numbered densely in bucket order.
    """
    order = np.lexsort((rng.random(len(bucket)), bucket))
    _, dense, count = np.unique(bucket[order], return_inverse=True, return_counts=True)
    pos = np.arange(len(bucket)) - (np.cumsum(count) - count)[dense]
    pieces = np.maximum(1, np.rint(count / size)).astype(np.int64)
    out = np.empty(len(bucket), dtype=np.int64)
    out[order] = (np.cumsum(pieces) - pieces)[dense] + pos * pieces[dense] // count[dense]
    return out


def _lines(rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
    """Deal the collections of each index group (``group``) into that group's lines, evenly."""
    order = np.lexsort((rng.random(len(group)), group))
    count = np.bincount(group)
    n_lines = np.maximum(1, np.rint(count / COLLECTIONS_PER_LINE)).astype(np.int64)
    first = np.cumsum(n_lines) - n_lines
    pos = np.arange(len(group)) - (np.cumsum(count) - count)[group[order]]
    out = np.empty(len(group), dtype=np.int64)
    out[order] = first[group[order]] + pos % n_lines[group[order]]
    return out


def _customer_lines(rng: np.random.Generator, cust: Customers, template_group: np.ndarray,
                    line_group: np.ndarray) -> np.ndarray:
    """1 .. MAX_LINES distinct lines per customer, each of the index group of a favourite."""
    n, n_groups = cust.size, int(template_group.max()) + 1
    count = np.bincount(line_group, minlength=n_groups)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    slot = rng.integers(0, cust.favourites.shape[1], (n, MAX_LINES))
    group = template_group[cust.favourites[np.arange(n)[:, None], slot]]
    lines = first[group] + (rng.random((n, MAX_LINES)) * count[group]).astype(np.int64)
    wanted = np.arange(MAX_LINES)[None, :] < rng.integers(1, MAX_LINES + 1, n)[:, None]
    lines[~wanted | (count[group] == 0)] = -1
    for j in range(1, MAX_LINES):
        lines[(lines[:, :j] == lines[:, j:j + 1]).any(axis=1), j] = -1
    return lines.astype(np.int32)


def add_collections(rng: np.random.Generator, tables: Tables, cat: Catalogue,
                    cust: Customers) -> None:
    """Fill ``cat.collection``, ``cat.line`` and ``cust.lines`` (favourites must be drawn).

    Args:
      rng: a generator of its own (spawned), so that the rest of the world does not change.
      tables: calibration tables.
      cat: catalogue.
      cust: customers.
    """
    group = index_groups(tables)
    article_group = group[cat.template].astype(np.int64)
    week = cat.launch.astype(np.int64) - int(cat.launch.min())
    collection = _cut(rng, article_group * (int(week.max()) + 1) + week, COLLECTION_SIZE)
    collection_group = np.zeros(int(collection.max()) + 1, dtype=np.int64)
    collection_group[collection] = article_group
    line_of = _lines(rng, collection_group)
    cat.collection = collection.astype(np.int32)
    cat.line = line_of[collection].astype(np.int32)
    line_group = np.zeros(int(line_of.max()) + 1, dtype=np.int64)
    line_group[line_of] = collection_group
    cust.lines = _customer_lines(rng, cust, group, line_group)


def line_lift(cat: Catalogue, cust: Customers, segment_of: np.ndarray, buyers: np.ndarray,
              cand: np.ndarray, week: int, p: float) -> np.ndarray:
    """Log-odds lift of each candidate for each buyer from the buyer's favoured lines.

    A basket line is redrawn with probability p among the favoured lines' articles on sale in its
    template, else its segment; at the segment level, such an article is bought about
    1 - p + p * W / W_fav times as often as without collections (W: on-sale weight of its segment,
    W_fav: of the segment's favoured-line articles). The lift is log1p(p * W / W_fav) on
    favoured-line candidates on sale, 0 elsewhere (outfits are ignored).

    Args:
      cat, cust: catalogue and customers (with collections).
      segment_of: segment of each template.
      buyers, cand: customers and candidate articles scored.
      week: the week scored.
      p: chance that a line is redrawn from the favoured lines.

    Returns:
      float32 array (len(buyers), len(cand)).
    """
    age = (week - cat.launch).astype(np.float64)
    on = (age >= 0) & (age < cat.life)
    weight = np.where(on, cat.pop * cat.curve(np.maximum(age, 0.0), np.arange(cat.size)), 0.0)
    seg = segment_of[cat.template].astype(np.int64)
    n_seg, n_lines = int(segment_of.max()) + 1, int(cat.line.max()) + 1
    by_seg = np.bincount(seg, weight, n_seg)
    by_line = np.bincount(cat.line * n_seg + seg, weight, n_lines * n_seg).reshape(n_lines, n_seg)
    lines, s = cust.lines[buyers], seg[cand]
    fav_weight = np.zeros((len(buyers), len(cand)), dtype=np.float32)
    for j in range(lines.shape[1]):
        fav_weight += np.where(lines[:, j:j + 1] >= 0, by_line[lines[:, j]][:, s], 0.0)
    fav = (lines[:, :, None] == cat.line[cand][None, None, :]).any(axis=1) & (weight[cand] > 0)
    ratio = by_seg[s][None, :] / np.maximum(fav_weight, 1e-30)
    return np.where(fav, np.log1p(p * ratio), 0.0).astype(np.float32)
