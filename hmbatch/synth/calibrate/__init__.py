"""Developer tooling that derives the synthetic generator's tables from the real H&M extracts.

Nothing here runs inside `hmbatch`: ``python -m hmbatch.synth.calibrate REF_DIR`` rewrites the
committed tables in ``hmbatch/synth/data/``; ``realism`` compares a generated folder with the
real figures (the tests use it).
"""

from __future__ import annotations

import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def read_csv(path: Path) -> list[dict[str, str]]:
    """Read a CSV file into a list of dicts (all values as strings)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    """Write rows with standard CSV quoting."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def shares(ref: Path, name: str, key: str) -> dict[str, float]:
    """Map category -> share from one of the reference metrics files."""
    return {row[key]: float(row["share"]) for row in read_csv(ref / name)}
