"""Generate a synthetic, seeded copy of the Amazon customer reviews Parquet dataset.

Same columns and types as the public ``amazon-reviews-pds/parquet`` dataset used by the AWS
"Introducing AWS Glue for Ray" post, partitioned Hive-style by ``product_category=``.

Runs standalone (``python generate.py --rows 20000 --out data/raw/reviews --seed 7``) or as a
Glue-style python-shell job (``--data_root DIR --rows N [--seed S]``). A relative path is taken
relative to this script's folder. Idempotent: a ``_SUCCESS`` marker records the parameters, and
a second run with the same parameters does nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

HERE = Path(__file__).resolve().parent
# Bump when the generated content changes, so old data is not mistaken for new.
GENERATOR_VERSION = 1
MARKER = "_SUCCESS"

SCHEMA = pa.schema(
    [
        ("marketplace", pa.string()),
        ("customer_id", pa.string()),
        ("review_id", pa.string()),
        ("product_id", pa.string()),
        ("product_parent", pa.string()),
        ("product_title", pa.string()),
        ("star_rating", pa.int32()),
        ("helpful_votes", pa.int32()),
        ("total_votes", pa.int32()),
        ("vine", pa.string()),
        ("verified_purchase", pa.string()),
        ("review_headline", pa.string()),
        ("review_body", pa.string()),
        ("review_date", pa.date32()),
        ("year", pa.int32()),
        ("product_category", pa.string()),
    ]
)

CATEGORIES = {
    # category: (share of reviews, words for titles)
    "Books": (0.26, ["Novel", "Guide", "Cookbook", "History", "Poems", "Atlas", "Memoir"]),
    "Electronics": (0.20, ["Headphones", "Charger", "Speaker", "Cable", "Tablet", "Camera"]),
    "Toys": (0.15, ["Puzzle", "Blocks", "Doll", "Robot", "Kite", "Board Game"]),
    "Kitchen": (0.15, ["Kettle", "Knife Set", "Blender", "Pan", "Grinder", "Scale"]),
    "Wireless": (0.14, ["Phone Case", "Earbuds", "Router", "Power Bank", "Smartwatch"]),
    "Sports": (0.10, ["Yoga Mat", "Dumbbell", "Bottle", "Helmet", "Tent", "Racket"]),
}
MARKETPLACES = (["US", "UK", "DE", "FR", "JP"], [0.80, 0.07, 0.06, 0.04, 0.03])
ADJECTIVES = ["Classic", "Deluxe", "Compact", "Pro", "Essential", "Ultra", "Smart", "Mini"]
HEADLINES = {
    1: ["Terrible", "Broke after a week", "Do not buy", "Waste of money"],
    2: ["Disappointing", "Not as described", "Meh", "Expected more"],
    3: ["It's okay", "Average", "Does the job", "Mixed feelings"],
    4: ["Pretty good", "Happy with it", "Solid choice", "Nice"],
    5: ["Five Stars", "Love it!", "Excellent", "Perfect", "Highly recommend"],
}
SENTENCES = [
    "Arrived on time.",
    "The packaging was fine.",
    "My kids use it every day.",
    "Quality is what you would expect for the price.",
    "I bought this as a gift.",
    "Customer service answered quickly.",
    "Would buy again.",
    "The instructions were unclear.",
    "It matches the pictures.",
    "Battery life could be better.",
]
ALPHANUM = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
FIRST_DAY = np.datetime64("2005-01-01")
LAST_DAY = np.datetime64("2015-08-31")


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (HERE / p).resolve()


def _codes(rng: np.random.Generator, n: int, width: int, prefix: str) -> np.ndarray:
    chars = rng.choice(ALPHANUM, size=(n, width))
    return np.char.add(prefix, chars.view(f"<U{width}").ravel())


def build_table(rows: int, seed: int) -> pa.Table:
    """The whole synthetic dataset as one table; the same (rows, seed) gives the same table."""
    rng = np.random.default_rng(seed)
    names = list(CATEGORIES)
    shares = np.array([CATEGORIES[c][0] for c in names])

    # A product catalogue: each product has a category, an ASIN-like id, a parent and a
    # "quality" that pulls its star ratings up or down, so some products are clearly low rated.
    n_products = max(rows // 8, len(names))
    p_category = rng.choice(len(names), size=n_products, p=shares / shares.sum())
    p_id = _codes(rng, n_products, 7, "B00")
    p_parent = rng.integers(100_000_000, 999_999_999, size=n_products).astype(str)
    p_quality = rng.normal(0.0, 1.0, size=n_products)
    adjective = rng.choice(ADJECTIVES, size=n_products)
    p_title = np.array(
        [
            f"{adjective[i]} {rng.choice(CATEGORIES[names[p_category[i]]][1])} #{i % 97 + 1}"
            for i in range(n_products)
        ]
    )

    # Reviews: popular products get more reviews (a Zipf-like draw over the catalogue).
    weights = 1.0 / np.arange(1, n_products + 1) ** 0.8
    product = rng.permutation(n_products)[
        rng.choice(n_products, size=rows, p=weights / weights.sum())
    ]
    quality = p_quality[product]
    base = np.array([0.08, 0.05, 0.08, 0.19, 0.60])
    # Shift probability mass towards 1-2 stars for poor products, towards 5 for good ones.
    tilt = np.exp(np.outer(quality, np.array([-1.2, -0.8, -0.2, 0.3, 0.6])))
    probs = base * tilt
    probs /= probs.sum(axis=1, keepdims=True)
    star = (probs.cumsum(axis=1) < rng.random(rows)[:, None]).sum(axis=1) + 1
    star = np.minimum(star, 5).astype(np.int32)

    # Most reviews get no votes at all; the rest get a few, occasionally many.
    voted = rng.random(rows) < 0.45
    total = np.where(voted, rng.geometric(0.25, size=rows), 0).astype(np.int32)
    helpful_share = np.clip(rng.beta(3, 1.5, size=rows) - (star <= 2) * 0.25, 0, 1)
    helpful = np.floor(total * helpful_share).astype(np.int32)

    days = rng.integers(0, int((LAST_DAY - FIRST_DAY).astype(int)) + 1, size=rows)
    review_date = FIRST_DAY + days.astype("timedelta64[D]")
    year = review_date.astype("datetime64[Y]").astype(int) + 1970

    headline = np.empty(rows, dtype=object)
    for s, options in HEADLINES.items():
        mask = star == s
        headline[mask] = rng.choice(options, size=int(mask.sum()))
    sentence_idx = rng.integers(0, len(SENTENCES), size=(rows, 3))
    sentences = np.array(SENTENCES, dtype=object)[sentence_idx]
    body = sentences[:, 0] + " " + sentences[:, 1] + " " + sentences[:, 2]

    market_names, market_p = MARKETPLACES
    columns = {
        "marketplace": rng.choice(market_names, size=rows, p=market_p),
        "customer_id": rng.integers(10_000, 53_000_000, size=rows).astype(str),
        "review_id": _codes(rng, rows, 13, "R"),
        "product_id": p_id[product],
        "product_parent": p_parent[product],
        "product_title": p_title[product],
        "star_rating": star,
        "helpful_votes": helpful,
        "total_votes": total,
        "vine": np.where(rng.random(rows) < 0.01, "Y", "N"),
        "verified_purchase": np.where(rng.random(rows) < 0.8, "Y", "N"),
        "review_headline": headline,
        "review_body": body,
        "review_date": review_date,
        "year": year.astype(np.int32),
        "product_category": np.array(names)[p_category[product]],
    }
    arrays = [pa.array(columns[f.name], type=f.type) for f in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _wanted_marker(rows: int, seed: int) -> dict[str, int]:
    return {"rows": rows, "seed": seed, "version": GENERATOR_VERSION}


def already_generated(out: Path, rows: int, seed: int) -> bool:
    marker = out / MARKER
    try:
        found = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return {k: found.get(k) for k in ("rows", "seed", "version")} == _wanted_marker(rows, seed)


def generate(out: Path, rows: int, seed: int) -> bool:
    """Write the dataset to ``out`` unless it is already there; True when it wrote."""
    if rows <= 0:
        raise ValueError(f"--rows must be positive, got {rows}")
    if already_generated(out, rows, seed):
        return False
    table = build_table(rows, seed)
    # Write next to the target, then swap it in: a crash never leaves a half dataset
    # that carries a marker.
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    ds.write_dataset(
        table,
        staging,
        format="parquet",
        partitioning=["product_category"],
        partitioning_flavor="hive",
        basename_template="part-{i}.parquet",
    )
    marker = {**_wanted_marker(rows, seed), "categories": sorted(CATEGORIES)}
    (staging / MARKER).write_text(json.dumps(marker) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out)
    return True


def parse_args(argv: list[str]) -> argparse.Namespace:
    # Glue-style (--data_root, plus --JOB_NAME etc., which are ignored) or standalone (--out).
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", help="dataset folder (default data/raw/reviews)")
    target.add_argument("--data_root", help="same as --out (the job argument)")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: list[str]) -> None:
    args = parse_args(argv[1:])
    out = _resolve(args.out or args.data_root or "data/raw/reviews")
    started = time.perf_counter()
    wrote = generate(out, args.rows, args.seed)
    elapsed = time.perf_counter() - started
    if wrote:
        print(f"generated {args.rows} reviews (seed {args.seed}) in {out} in {elapsed:.1f}s")
    else:
        print(f"data for rows={args.rows} seed={args.seed} already in {out}; nothing to do")


if __name__ == "__main__":
    main(sys.argv)
