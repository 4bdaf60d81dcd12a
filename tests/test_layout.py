"""The package's shape: data flows one way through the stages, with no import circle anywhere.

Every `import hmbatch...` counts, those inside functions included. A module may import modules of
its own or earlier layers (LAYERS, top to bottom) and never one of a later layer; the synthetic
generator (`hmbatch.synth`) stands apart and uses only the foundation.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hmbatch"

# The pipeline, in the order the data flows: raw files -> database -> features -> two-tower ->
# index -> candidates -> ranking -> lists (query, submit, evaluate) -> output and CLI.
LAYERS = [
    ["errors"],
    ["workspace", "sqlfiles", "metrics"],
    ["data"],                      # raw CSV / Parquet -> DuckDB (sql/0*_*.sql)
    ["features"],                  # point-in-time features (sql/features/)
    ["index"],                     # FAISS interface and its exact twin
    ["model", "train", "als"],     # the TFRS two-tower and its training, exporting the index; ALS, its yardstick
    ["candidates", "retrieve"],    # candidate sources (sql/candidates/, FAISS) and their scores
    ["trees"],                     # a LightGBM model compiled to C (the ranker's twin for scoring)
    ["ranker"],                    # ranking features (sql/ranking/) and the LightGBM ranker
    ["serving"],                   # the opened run and its one `recommend`, every strategy
    ["query", "submit", "evaluate", "engine"],  # lists for one customer, every customer, the held-out week
    ["status", "report", "api", "cycle"],  # what users read; `hmbatch run`, the weekly cycle
    ["output"],                    # rich tables and progress bars
    ["cli", "__init__"],
]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 2:
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, name: str) -> set[str]:
    """The hmbatch modules `path` imports, at any depth of its code."""
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("hmbatch")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("hmbatch"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path, name) if m in modules and m != name}
            for name, path in modules.items()}


def layer_of(name: str) -> int | None:
    short = name.split(".", 1)[1] if "." in name else "__init__"
    for i, layer in enumerate(LAYERS):
        if short in layer:
            return i
    return None


def test_no_import_circle():
    edges = graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])


def test_every_pipeline_module_has_a_layer():
    pipeline = [m for m in graph() if not m.startswith("hmbatch.synth") and m != "hmbatch.sql"]
    assert [m for m in pipeline if layer_of(m) is None] == []


def test_data_flows_one_way():
    wrong = []
    for name, deps in graph().items():
        if name.startswith("hmbatch.synth"):
            wrong += [f"{name} -> {d}" for d in deps
                      if not d.startswith("hmbatch.synth") and layer_of(d) not in (0, 1)]
            continue
        here = layer_of(name)
        wrong += [f"{name} -> {d}" for d in deps
                  if not d.startswith("hmbatch.synth") and layer_of(d) is not None and layer_of(d) > here]
    assert wrong == []


def test_calibration_tooling_is_not_used_at_run_time():
    runtime = [m for m in graph() if not m.startswith("hmbatch.synth.calibrate")]
    edges = graph()
    assert [m for m in runtime if any(d.startswith("hmbatch.synth.calibrate") for d in edges[m])] == []
