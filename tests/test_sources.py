"""The candidate sources as the registry (candidates.SOURCES) runs them, on the shared tiny world:
quotas by name, a source turned off, and the options' errors."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
from typer.testing import CliRunner

from hmbatch import candidates
from hmbatch.cli import app


def candidate_table(ws, config: candidates.CandidateConfig) -> dict[str, np.ndarray]:
    """Temp table cand of every customer a week before the end, as float arrays (NULL: NaN)."""
    con = duckdb.connect(str(ws / "hmbatch.duckdb"), read_only=True)
    try:
        cutoff = con.execute("SELECT max(t_dat) FROM transactions").fetchall()[0][0] - dt.timedelta(days=7)
        candidates.prepare(con, cutoff, config)
        n = con.execute("SELECT count(*) FROM customers").fetchall()[0][0]
        candidates.generate(con, np.arange(n), config)
        cols = con.execute("SELECT * FROM cand ORDER BY customer_idx, cand_rank").fetchnumpy()
    finally:
        con.close()
    return {k: np.ma.filled(np.ma.asarray(v, np.float64), np.nan) for k, v in cols.items()}


def test_quotas_cut_each_source_and_zero_turns_it_off(trained_world):
    base = candidate_table(trained_world["ws"], candidates.CandidateConfig())
    config = candidates.CandidateConfig(quotas=candidates.parse_quotas(["repurchase=0", "same_product=3"]))
    cut = candidate_table(trained_world["ws"], config)
    assert list(cut) == list(base)
    assert np.isfinite(base["rep_rank"]).any() and np.nanmax(base["sp_rank"]) > 3
    assert not np.isfinite(cut["rep_rank"]).any() and not np.isfinite(cut["rep_score"]).any()
    assert np.nanmax(cut["sp_rank"]) == 3
    # the same customers, each still capped at 80 candidates; the places repurchase held go to others
    assert set(cut["customer_idx"]) == set(base["customer_idx"]) and np.nanmax(cut["cand_rank"]) <= 80
    assert np.isfinite(cut["band_src_rank"]).sum() >= np.isfinite(base["band_src_rank"]).sum()


def test_a_wrong_quota_is_one_line(trained_world):
    result = CliRunner().invoke(app, ["train", "--quota", "recency=5", "--workspace", str(trained_world["ws"])])
    assert result.exit_code == 1
    assert "--quota 'recency=5': write NAME=K" in result.output and "repurchase" in result.output
    assert "Traceback" not in result.output
