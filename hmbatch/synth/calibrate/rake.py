"""Category templates from real article rows, and raking of their weights to real shares.

A template is one real co-occurring tuple of the article hierarchy (product type within product
group, department within index, section within index group, garment group). The 1,000 full rows
of articles.csv give complete tuples; the 815 sold articles (9 columns) add tuples whose codes
are looked up from the full rows by name, or given unused codes when the name never appears there.
"""

from __future__ import annotations

from collections import Counter, defaultdict

HEADER = ["product_type_no", "product_type_name", "product_group_name", "department_no",
          "department_name", "index_code", "index_name", "index_group_no", "index_group_name",
          "section_no", "section_name", "garment_group_no", "garment_group_name"]


def _most_common(rows: list[dict], key_cols: tuple, val_cols: tuple) -> dict:
    """Map each key tuple to its most frequent value tuple."""
    counts: dict = defaultdict(Counter)
    for r in rows:
        counts[tuple(r[c] for c in key_cols)][tuple(r[c] for c in val_cols)] += 1
    return {k: c.most_common(1)[0][0] for k, c in counts.items()}


def _new_codes(names: set[str], used: set[str], start: int) -> dict[str, str]:
    """Give each unknown name an unused integer code, in sorted name order."""
    codes, nxt = {}, start
    for name in sorted(names):
        while str(nxt) in used:
            nxt += 1
        codes[name] = str(nxt)
        used.add(str(nxt))
    return codes


def _lookups(arts: list[dict], sold: list[dict]) -> dict:
    """Build the name -> code tables used to complete the 9-column rows."""
    ptype = _most_common(arts, ("product_type_name",), ("product_type_no",))
    section = _most_common(arts, ("section_name",), ("section_no",))
    garment = _most_common(arts, ("garment_group_name",), ("garment_group_no",))
    flat = lambda d: {k[0]: v[0] for k, v in d.items()}  # noqa: E731
    ptype, section, garment = flat(ptype), flat(section), flat(garment)
    ptype.update(_new_codes({r["product_type_name"] for r in sold} - set(ptype),
                            set(ptype.values()), 400))
    section.update(_new_codes({r["section_name"] for r in sold} - set(section),
                              set(section.values()), 2))
    garment.update(_new_codes({r["garment_group_name"] for r in sold} - set(garment),
                              set(garment.values()), 1030))
    idx_cols = ("index_code", "index_name", "index_group_no")
    dep_cols = ("department_no", "department_name")
    return {
        "ptype": ptype, "section": section, "garment": garment,
        "index_by_section": _most_common(arts, ("section_name",), idx_cols),
        "index_by_group": _most_common(arts, ("index_group_name", "product_group_name"), idx_cols),
        "index_by_group_only": _most_common(arts, ("index_group_name",), idx_cols),
        "dep_keys": [
            (("section_name", "product_type_name"), _most_common(
                arts, ("section_name", "product_type_name"), dep_cols)),
            (("index_code", "product_type_name"), _most_common(
                arts, ("index_code", "product_type_name"), dep_cols)),
            (("index_code", "garment_group_name"), _most_common(
                arts, ("index_code", "garment_group_name"), dep_cols)),
            (("index_code",), _most_common(arts, ("index_code",), dep_cols)),
        ],
    }


def _complete(r: dict, lk: dict) -> list[str]:
    """Turn one 9-column sold-article row into a full template tuple."""
    idx = (lk["index_by_section"].get((r["section_name"],))
           or lk["index_by_group"].get((r["index_group_name"], r["product_group_name"]))
           or lk["index_by_group_only"][(r["index_group_name"],)])
    full = dict(r, index_code=idx[0], index_name=idx[1], index_group_no=idx[2])
    dep = next(table[tuple(full[c] for c in cols)] for cols, table in lk["dep_keys"]
               if tuple(full[c] for c in cols) in table)
    full.update(department_no=dep[0], department_name=dep[1],
                product_type_no=lk["ptype"][r["product_type_name"]],
                section_no=lk["section"][r["section_name"]],
                garment_group_no=lk["garment"][r["garment_group_name"]])
    return [full[c] for c in HEADER]


def template_rows(arts: list[dict], sold: list[dict]) -> tuple[list[str], list[list], list]:
    """Distinct template tuples with seed weights (full rows count 1, sold rows 0.5).

    Args:
      arts: rows of articles_sample_25col.csv.
      sold: rows of transaction_articles_sample.csv.

    Returns:
      The header, the template rows (lists of strings) and their seed weights.
    """
    lk = _lookups(arts, sold)
    seeds: Counter = Counter()
    for r in arts:
        seeds[tuple(r[c] for c in HEADER)] += 1.0
    for r in sold:
        seeds[tuple(_complete(r, lk))] += 0.5
    keys = sorted(seeds)
    return HEADER, [list(k) for k in keys], [seeds[k] for k in keys]


def rake(rows: list[list], seeds: list[float], targets: dict[int, dict[str, float]],
         rounds: int = 200) -> list[float]:
    """Iterative proportional fitting of template weights to category shares.

    Args:
      rows: template tuples.
      seeds: starting weights (the real co-occurrence counts).
      targets: column index -> {category: share}; categories absent from the templates are
        dropped and the remaining shares renormalised.
      rounds: IPF sweeps.

    Returns:
      Weights summing to 1 whose margins match the targets as closely as the tuples allow.
    """
    w = [float(s) for s in seeds]
    for _ in range(rounds):
        for col, share in targets.items():
            present = {r[col] for r in rows}
            norm = sum(v for k, v in share.items() if k in present)
            cur: Counter = Counter()
            for r, x in zip(rows, w):
                cur[r[col]] += x
            total = sum(cur.values())
            w = [x * (share.get(r[col], 0.0) / norm) / (cur[r[col]] / total) if cur[r[col]]
                 else 0.0 for r, x in zip(rows, w)]
    total = sum(w)
    return [x / total for x in w]
