"""hmbatch: per-customer top-12 fashion recommendations for data in the H&M competition layout."""

__version__ = "0.1.0"

__all__ = ["open_workspace", "OpenWorkspace"]


def __getattr__(name: str):
    # `import hmbatch` stays light: the API (DuckDB, FAISS, NumPy) loads on first use.
    if name in ("open_workspace", "OpenWorkspace"):
        from hmbatch import api
        return getattr(api, name)
    raise AttributeError(f"module 'hmbatch' has no attribute {name!r}")
