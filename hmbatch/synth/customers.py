"""Synthetic customers: real marginals for age and flags, heavy-tailed activity, stable traits.

Ages follow the real per-year curve (peaks near 21 and 50, 1.2% missing); FN, Active, club status
and news frequency are drawn as real joint combinations; one postal code is shared by ~9% of the
customers, as in the real file. Activity is log-normal (a minority makes most purchases) inside a
window between joining and lapsing, so most customers are quiet in any given quarter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmbatch.synth.catalogue import STYLE_DIM
from hmbatch.synth.sampling import categorical
from hmbatch.synth.tables import Tables, normalised
from hmbatch.synth.taste import GROUPS, STYLES, personas_of

SHARED_POSTAL = 0.09  # share of customers on the one big postal code
FAVOURITES = 4  # favourite templates per customer


@dataclass
class Customers:
    """Per-customer arrays; the index is the customer number used everywhere else."""

    age: np.ndarray  # int32, -1 when missing
    flags: np.ndarray  # int32 row of flags.csv
    postal: np.ndarray  # int32 postal code number (0 = the shared one)
    persona: np.ndarray  # int32
    rate: np.ndarray  # float64 relative purchase rate
    first_day: np.ndarray  # int32 first day of the active window
    last_day: np.ndarray  # int32 day after the active window
    online: np.ndarray  # float64 probability that a visit is online
    loyalty: np.ndarray  # float64 probability of buying from a favourite template
    colour_pref: np.ndarray  # int32 preferred perceived colour master
    style: np.ndarray  # float32 (n, STYLE_DIM) unit vector: persona style plus own twist
    favourites: np.ndarray | None = None  # int32 (n, FAVOURITES) templates
    lines: np.ndarray | None = None  # int32 (n, MAX_LINES) favoured latent lines, -1 = none

    @property
    def size(self) -> int:
        """Number of customers."""
        return len(self.age)


def _ages(rng: np.random.Generator, tables: Tables, n: int) -> np.ndarray:
    """Ages drawn from the real per-year weights; -1 for the real share of missing ages."""
    values = np.array([int(a) if a else -1 for a in tables.ages["age"]])
    return values[categorical(rng, normalised(tables.ages["weight"]), n)].astype(np.int32)


def _postal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Postal code numbers: one shared by ~9%, the rest heavy-tailed over n / 3.9 codes."""
    n_codes = max(2, int(n / 3.9))
    rest = 1 + np.floor((n_codes - 1) * rng.random(n) ** 1.8).astype(np.int64)
    return np.where(rng.random(n) < SHARED_POSTAL, 0, rest).astype(np.int32)


def _windows(rng: np.random.Generator, n: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Active windows [first, last): a third active from the start, the rest join later."""
    join = np.where(rng.random(n) < 0.35, 0, rng.integers(0, n_days, n))
    stay = rng.exponential(0.8 * n_days, n).astype(np.int64) + 14
    return join.astype(np.int32), np.minimum(join + stay, n_days).astype(np.int32)


def _styles(rng: np.random.Generator, persona: np.ndarray) -> np.ndarray:
    """Unit style vectors: the persona's direction plus an individual one."""
    centre = rng.standard_normal((len(GROUPS) * STYLES, STYLE_DIM))
    vec = centre[persona] + 0.8 * rng.standard_normal((len(persona), STYLE_DIM))
    return (vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32)


def build_customers(rng: np.random.Generator, tables: Tables, n: int, n_days: int,
                    colour_share: np.ndarray) -> Customers:
    """Generate ``n`` customers over a calendar of ``n_days`` days.

    Args:
      rng: random generator.
      tables: calibration tables.
      n: number of customers.
      n_days: simulated days (training plus held-out).
      colour_share: real share of rows by perceived colour master (preferences follow it).

    Returns:
      The customers (favourites are filled in later, once personas are calibrated).
    """
    age = _ages(rng, tables, n)
    taste_age = np.where(age < 0, rng.integers(18, 60, n), age)
    first, last = _windows(rng, n, n_days)
    persona = personas_of(rng, taste_age)
    return Customers(
        age=age, flags=categorical(rng, normalised(tables.flags["weight"]), n).astype(np.int32),
        postal=_postal(rng, n), persona=persona, style=_styles(rng, persona),
        rate=rng.lognormal(0.0, 1.25, n), first_day=first, last_day=last,
        online=rng.beta(0.9, 0.38, n), loyalty=rng.beta(3.0, 2.0, n),
        colour_pref=categorical(rng, colour_share, n).astype(np.int32))
