"""Derive the generator's calibration tables from the real H&M reference extracts.

Run once by a developer (``python -m hmbatch.synth.calibrate REF_DIR``, from the repository root); the output is committed
under ``hmbatch/synth/data/`` so that ``hmbatch synth`` works without the reference folder. Every
figure written comes from ``shared/hm-reference``: category co-occurrence from the real article
rows, shares from the whole-data aggregates, ages and flags from the real customer rows. Numbers
that the extracts do not contain (a section number seen only by name) are filled with unused
codes, and colour codes missing from the sample follow H&M's visible numbering pattern.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from hmbatch.synth.calibrate import DATA_DIR, read_csv, shares, write_csv
from hmbatch.synth.calibrate.people import build_customers, build_daily_and_prices
from hmbatch.synth.calibrate.rake import rake, template_rows


# Colours absent from the 1,000-row article sample: code and perceived value/master, following
# the numbering visible in the sample (tens = hue family, 0 = Other, 1 = Light, 3 = Dark).
EXTRA_COLOURS = {
    "Unknown": ("-1", "-1", "Unknown", "-1", "Unknown"),
    "Bronze/Copper": ("4", "5", "Bright", "15", "Metal"),
    "Other Purple": ("60", "5", "Bright", "6", "Lilac Purple"),
    "Light Purple": ("61", "3", "Light", "6", "Lilac Purple"),
    "Other Blue": ("70", "5", "Bright", "2", "Blue"),
    "Other Turquoise": ("80", "5", "Bright", "7", "Turquoise"),
    "Dark Turquoise": ("83", "4", "Dark", "7", "Turquoise"),
    "Other Green": ("90", "5", "Bright", "19", "Green"),
}


def section_row_targets(rows: list[list], art_w: list[float], col: dict, ref: Path) -> dict:
    """Row share per section: its article share times its index group's rows-per-article lift.

    Without this margin the raking is free to pile a whole product type's sales onto one small
    section (all trousers sold from 'Mama').
    """
    lift = {k: v / shares(ref, "index_group_metrics.csv", "index_group_name")[k] for k, v in
            shares(ref, "transaction_index_group_metrics.csv", "index_group_name").items()}
    out: Counter = Counter()
    for r, w in zip(rows, art_w):
        out[r[col["section_name"]]] += w * lift[r[col["index_group_name"]]]
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


def build_templates(ref: Path) -> None:
    """Write templates.csv: co-occurring category tuples with article and row weights."""
    arts = read_csv(ref / "articles_sample_25col.csv")
    sold = read_csv(ref / "transaction_articles_sample.csv")
    header, rows, seeds = template_rows(arts, sold)
    col = {name: i for i, name in enumerate(header)}
    dims = {
        "product_type_name": shares(ref, "product_type_metrics.csv", "product_type_name"),
        "section_name": shares(ref, "section_metrics.csv", "section_name"),
        "index_group_name": shares(ref, "index_group_metrics.csv", "index_group_name"),
        "product_group_name": shares(ref, "product_group_metrics.csv", "product_group_name"),
    }
    art_w = rake(rows, seeds, {col[k]: v for k, v in dims.items()})
    # Section margins are soft (derived, not real): raked before the real margins each sweep.
    ptype = col["product_type_name"]
    targets = {ptype: shares(ref, "transaction_product_type_metrics.csv", "product_type_name"),
               col["section_name"]: section_row_targets(rows, art_w, col, ref)}
    for k in ("index_group_name", "product_group_name"):
        targets[col[k]] = shares(ref, f"transaction_{k[:-5]}_metrics.csv", k)
    row_w = rake(rows, art_w, targets, 50)
    out = [r + [f"{a:.8f}", f"{b:.8f}"] for r, a, b in zip(rows, art_w, row_w)]
    write_csv(DATA_DIR / "templates.csv", header + ["article_weight", "row_weight"], out)


def build_colours(ref: Path) -> None:
    """Write colours.csv: code, perceived value/master and article/row shares per colour."""
    combos = Counter(
        (r["colour_group_name"], r["colour_group_code"], r["perceived_colour_value_id"],
         r["perceived_colour_value_name"], r["perceived_colour_master_id"],
         r["perceived_colour_master_name"])
        for r in read_csv(ref / "articles_sample_25col.csv"))
    best: dict[str, tuple] = {}
    for combo, _ in combos.most_common():
        best.setdefault(combo[0], combo[1:])
    art = shares(ref, "color_metrics.csv", "colour_group_name")
    rows_share = shares(ref, "transaction_color_metrics.csv", "colour_group_name")
    out = []
    for name, share in art.items():
        code = best.get(name) or EXTRA_COLOURS[name]
        out.append([code[0], name, *code[1:], share, rows_share.get(name, 0.0)])
    header = ["colour_group_code", "colour_group_name", "perceived_colour_value_id",
              "perceived_colour_value_name", "perceived_colour_master_id",
              "perceived_colour_master_name", "article_share", "row_share"]
    write_csv(DATA_DIR / "colours.csv", header, out)


def build_text(ref: Path) -> None:
    """Write names.csv (real product names and descriptions by type) and graphical.csv."""
    seen, out = set(), []
    for name in ("articles_sample_25col.csv", "transaction_articles_sample.csv"):
        for r in read_csv(ref / name):
            key = (r["product_type_name"], r["prod_name"])
            if key not in seen:
                seen.add(key)
                out.append([r["product_type_name"], r["prod_name"], r["detail_desc"]])
    write_csv(DATA_DIR / "names.csv", ["product_type_name", "prod_name", "detail_desc"], out)
    graph = Counter((r["graphical_appearance_no"], r["graphical_appearance_name"])
                    for r in read_csv(ref / "articles_sample_25col.csv"))
    write_csv(DATA_DIR / "graphical.csv",
              ["graphical_appearance_no", "graphical_appearance_name", "weight"],
              [[k[0], k[1], n] for k, n in graph.most_common()])


def main(ref_dir: str) -> None:
    """Rebuild every table of synth_data from the reference folder."""
    ref = Path(ref_dir)
    DATA_DIR.mkdir(exist_ok=True)
    build_templates(ref)
    build_colours(ref)
    build_text(ref)
    build_customers(ref, DATA_DIR)
    build_daily_and_prices(ref, DATA_DIR)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/hm-reference")
