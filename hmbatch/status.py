"""`hmbatch status`: the workspace at a glance: the database, every model run, the current one and
the submissions written, read without a lock and without TensorFlow. An empty or half-built
workspace gives a status that says what is missing and the command that makes it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from hmbatch.workspace import Workspace

TABLES = ("articles", "customers", "transactions", "submission_customers", "article_stats",
          "customer_stats", "weekly_article_sales", "categories")


def _when(path: Path) -> str:
    return dt.datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")


def database_status(ws: Workspace) -> dict:
    """Size, dates, rows per table, fingerprint and build time of the database (exists: false
    and the next step when there is none)."""
    path = ws.db_path
    if not path.exists():
        return {"path": str(path), "exists": False, "next": "hmbatch build-db DATA_DIR"}
    out = {"path": str(path), "exists": True, "size_bytes": path.stat().st_size}
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall()) if "meta" in present else {}
            out["tables"] = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                             for t in TABLES if t in present}
    except duckdb.Error as exc:
        return {**out, "error": f"cannot be read: {str(exc).strip().splitlines()[0]}"}
    out.update({k: meta.get(k) for k in ("fingerprint", "built", "build_id", "first_date", "last_date")})
    out["load_report"] = json.loads(meta["load_report"]) if meta.get("load_report") else None
    return out


def model_status(run_dir: Path, fingerprint: str | None, current: str | None) -> dict:
    """One run folder: cut-off, held-out days, options, MAP@12 per strategy when evaluated,
    whether it was trained on the database now in the workspace."""
    out = {"name": run_dir.name, "current": run_dir.name == current, "path": str(run_dir)}
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {**out, "complete": False}
    config = manifest.get("config") or {}
    out.update({"complete": True, "created": manifest.get("created"), "cutoff": manifest.get("cutoff"),
                "holdout_days": config.get("holdout_days"), "options": config,
                "fingerprint": manifest.get("fingerprint"),
                "matches_database": None if fingerprint is None else manifest.get("fingerprint") == fingerprint,
                "ranker": "ranker" in manifest and manifest["ranker"] is not None,
                "evaluation": None})
    evaluation = run_dir / "evaluation.json"
    if evaluation.exists():
        try:
            results = json.loads(evaluation.read_text()).get("results", {})
            out["evaluation"] = {name: res.get("map@12") for name, res in results.items()}
        except ValueError:
            out["evaluation"] = None
    return out


def submissions_status(ws: Workspace) -> list[dict]:
    """The CSV files in the workspace's submissions/ folder, newest first."""
    if not ws.submissions_dir.is_dir():
        return []
    files = sorted((p for p in ws.submissions_dir.glob("*.csv") if p.is_file()),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    return [{"name": p.name, "path": str(p), "size_bytes": p.stat().st_size, "written": _when(p)} for p in files]


def status(ws: Workspace) -> dict:
    """The workspace at a glance.

    Returns:
        {"workspace", "database", "models" (a list, oldest first), "current" (a run name or None),
        "submissions", "next" (the command that would move the workspace on, or None)}.
    """
    database = database_status(ws)
    pointer = ws.models_dir / "CURRENT"
    current = pointer.read_text().strip() if pointer.exists() else None
    runs = sorted((p for p in ws.models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name) if ws.models_dir.is_dir() else []
    models = [model_status(run, database.get("fingerprint"), current) for run in runs]
    return {"workspace": str(ws.root), "exists": ws.root.is_dir(), "database": database,
            "models": models, "current": current, "submissions": submissions_status(ws),
            "next": _next_step(database, models, current)}


def _next_step(database: dict, models: list[dict], current: str | None) -> str | None:
    if not database["exists"]:
        return "hmbatch build-db DATA_DIR"
    chosen = next((m for m in models if m["current"]), None)
    if chosen is None or not chosen.get("complete"):
        return "hmbatch train"
    if chosen.get("matches_database") is False:
        return "hmbatch train (the current model was trained on another database)"
    if chosen.get("evaluation") is None and chosen.get("holdout_days"):
        return "hmbatch evaluate"
    return None
