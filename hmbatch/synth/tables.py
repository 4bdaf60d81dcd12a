"""Load the embedded calibration tables of the synthetic generator (``hmbatch/synth/data``).

The tables are small CSV files derived from the real H&M extracts by ``synth_calibrate``; they are
read with the standard library so that generating data needs neither pandas nor the reference
folder.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).with_name("data")


def read_table(name: str) -> dict[str, list[str]]:
    """Read one embedded CSV into column name -> list of strings.

    Args:
      name: file name inside ``data``.

    Returns:
      The columns in file order.
    """
    with open(DATA_DIR / name, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    return {col: [r[i] for r in rows] for i, col in enumerate(header)}


def as_float(values: list[str]) -> np.ndarray:
    """Convert a column of numeric strings to float64."""
    return np.array([float(v) for v in values], dtype=np.float64)


def normalised(values: list[str]) -> np.ndarray:
    """Convert weights to float64 probabilities summing to one."""
    w = as_float(values)
    return w / w.sum()


@dataclass(frozen=True)
class Tables:
    """All calibration tables, as loaded columns."""

    templates: dict[str, list[str]]
    colours: dict[str, list[str]]
    graphical: dict[str, list[str]]
    names: dict[str, list[str]]
    ages: dict[str, list[str]]
    flags: dict[str, list[str]]
    daily: dict[str, list[str]]
    prices: dict[str, list[str]]


@lru_cache(maxsize=1)
def load_tables() -> Tables:
    """Load every calibration table once per process."""
    return Tables(**{name: read_table(f"{name}.csv") for name in Tables.__dataclass_fields__})
