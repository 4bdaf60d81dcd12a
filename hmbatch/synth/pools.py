"""What is on sale each week: per-category article pools, colour siblings and row prices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmbatch.synth.catalogue import Catalogue
from hmbatch.synth.sampling import GroupedCdf, grouped_cdf


@dataclass(frozen=True)
class Pools:
    """Live articles weighted by popularity times life cycle, by (week, segment) and by week.

    A segment is an (index group, product group) pair: wide enough that even a small catalogue
    has a real choice in it each week; finer taste acts when candidates are compared.

    Attributes:
      by_template: groups ``week * n_templates + template``.
      by_segment: groups ``week * n_segments + segment``.
      by_week: groups ``week`` (the fallback when a segment has nothing on sale that week).
      segment_of: segment of each template.
    """

    by_template: GroupedCdf
    by_segment: GroupedCdf
    by_week: GroupedCdf
    segment_of: np.ndarray

    def draw(self, week: np.ndarray, template: np.ndarray, u: np.ndarray,
             exact: bool = False) -> np.ndarray:
        """One article per row from the week's pool of its template (``exact``) or segment.

        Rows whose pool is empty that week fall back to the segment, then to the whole week.
        """
        week = week.astype(np.int64)
        n_segments = int(self.segment_of.max()) + 1
        group = week * n_segments + self.segment_of[template]
        level = np.where(self.by_segment.empty()[group], 0, 1)
        if exact:
            by_t = week * len(self.segment_of) + template
            use_t = ~self.by_template.empty()[by_t]
            group[use_t], level[use_t] = by_t[use_t], 2
        group[level == 0] = week[level == 0]
        out = np.empty(len(week), dtype=np.int64)
        for lvl, cdf in enumerate((self.by_week, self.by_segment, self.by_template)):
            rows = np.flatnonzero(level == lvl)
            out[rows] = cdf.sample(group[rows], u[rows])
        return out


def live_entries(cat: Catalogue, n_weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (article, week) pair of an article on sale, with its weight that week.

    Returns:
      (article index, week, popularity times life-cycle weight), grouped by article.
    """
    start = np.maximum(cat.launch, 0)
    stop = np.minimum(cat.launch + cat.life, n_weeks)
    span = np.maximum(stop - start, 0)
    art = np.repeat(np.arange(cat.size), span)
    offset = np.arange(len(art)) - np.repeat(np.cumsum(span) - span, span)
    week = np.repeat(start, span) + offset
    return art, week, cat.pop[art] * cat.curve((week - cat.launch[art]).astype(np.float64), art)


def build_pools(cat: Catalogue, n_weeks: int, segment_of: np.ndarray) -> Pools:
    """Expand every article over the weeks it is on sale and build both sampling tables."""
    art, week, weight = live_entries(cat, n_weeks)
    n_seg, n_tmpl = int(segment_of.max()) + 1, len(segment_of)
    tmpl = cat.template[art]
    return Pools(
        by_template=grouped_cdf(week * n_tmpl + tmpl, weight, art, n_weeks * n_tmpl),
        by_segment=grouped_cdf(week * n_seg + segment_of[tmpl], weight, art, n_weeks * n_seg),
        by_week=grouped_cdf(week, weight, art, n_weeks), segment_of=segment_of)


def live(cat: Catalogue, article: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Whether each article is on sale in the given week."""
    return (cat.launch[article] <= week) & (week < cat.launch[article] + cat.life[article])


def siblings(rng: np.random.Generator, cat: Catalogue, article: np.ndarray) -> np.ndarray:
    """Another colour variant of the same product (the article itself when it has none)."""
    order = np.argsort(cat.product, kind="stable")
    counts = np.bincount(cat.product)
    starts = np.concatenate([[0], np.cumsum(counts)])
    prod = cat.product[article]
    n = counts[prod]
    pos_of = np.empty(cat.size, dtype=np.int64)
    pos_of[order] = np.arange(cat.size) - starts[cat.product[order]]
    step = 1 + (rng.random(len(article)) * np.maximum(n - 1, 1)).astype(np.int64)
    pick = (pos_of[article] + np.where(n > 1, step, 0)) % n
    return order[starts[prod] + pick]


def row_prices(cat: Catalogue, article: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Full price, or the markdown price once the article is old enough."""
    old = (week - cat.launch[article]) >= cat.markdown_age[article]
    return np.where(old, cat.markdown_price[article], cat.price[article])
