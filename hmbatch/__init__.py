"""hmbatch: per-customer top-12 fashion recommendations for data in the H&M competition layout."""

__version__ = "0.1.0"
