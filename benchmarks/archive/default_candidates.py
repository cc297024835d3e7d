"""Candidate defaults on the development battery and the four classic tables.

Each candidate is a plain function ``(X, k, random_state) -> (linkage, labels,
info)`` (``linkage`` None for k-means). The script runs the chosen candidates
on:

- the development battery (a folder laid out as Gagolewski's benchmark suite:
  ``wut``, ``graves``, ``g2mg``, ``h2mg``; sets of at most 4,000 points), with
  the suite's preprocessing and scoring (see ``benchmarks/battery.py``);
- ``classic``: iris, wine, breast_cancer and digits standardised (``_std``)
  and in raw units with the suite's preprocessing, one overall scale
  (``_raw``);
- ``speed``: 5,000 blobs in 10 dimensions (8 centres), and digits and
  breast_cancer standardised, best of ``--repeat`` fits.

It prints per-set ARI (the best over reference partitions), the spread over
``--seeds``, the fit time as a ratio to scikit-learn's Ward measured on the
same set in the same run, and means per group. Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/default_candidates.py \\
        ../shared/benchmarks/battery-dev --groups wut graves g2mg h2mg classic speed

``docs/default_experiments.md`` holds its output.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import sys
import time
import warnings

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
)
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fast_default_prototype as fd  # noqa: E402

BATTERY_GROUPS = ("wut", "graves", "g2mg", "h2mg")
MAX_SAMPLES = 4000


def suite_preprocess(X):
    """The suite's preprocessing: one overall scale, not per column."""
    X = np.asarray(X, dtype=np.float64)
    X = X[:, X.std(axis=0) > 0]
    noise = np.random.RandomState(0).normal(0.0, 1e-6 * X.std(), X.shape)
    X = X + noise
    return (X - X.mean(axis=0)) / X.std()


def load_battery(folder, groups, names):
    with open(os.path.join(folder, "published_ari.csv")) as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        if row["battery"] not in groups or int(row["n"]) > MAX_SAMPLES:
            continue
        name = f"{row['battery']}/{row['dataset']}"
        if names and name not in names and row["dataset"] not in names:
            continue
        stem = os.path.join(folder, row["battery"], row["dataset"])
        X = suite_preprocess(np.loadtxt(f"{stem}.data.gz", ndmin=2))
        partitions = [
            np.loadtxt(path, dtype=int)
            for path in sorted(glob.glob(f"{stem}.labels*.gz"))
        ]
        yield row["battery"], name, X, partitions


def load_classic(names):
    loaders = {
        "iris": load_iris,
        "wine": load_wine,
        "breast_cancer": load_breast_cancer,
        "digits": load_digits,
    }
    for key, loader in loaders.items():
        data = loader()
        y = data.target + 1
        for kind in ("std", "raw"):
            name = f"classic/{key}_{kind}"
            if names and name not in names and f"{key}_{kind}" not in names:
                continue
            if kind == "std":
                X = StandardScaler().fit_transform(data.data)
            else:
                X = suite_preprocess(data.data)
            yield "classic", name, X, [y]


def load_speed(names):
    X, y = make_blobs(5000, n_features=10, centers=8, random_state=0)
    sets = [("blobs_5000x10", StandardScaler().fit_transform(X), y)]
    data = load_digits()
    sets.append(("digits_std", StandardScaler().fit_transform(data.data), data.target))
    data = load_breast_cancer()
    sets.append(
        ("breast_cancer_std", StandardScaler().fit_transform(data.data), data.target)
    )
    for key, X, y in sets:
        name = f"speed/{key}"
        if names and name not in names and key not in names:
            continue
        yield "speed", name, X, [y + 1]


# ---------------------------------------------------------------- candidates


def ward(X, k, random_state):
    model = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(X)
    return None, model.labels_, {}


def kmeans(X, k, random_state):
    model = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit(X)
    return None, model.labels_, {}


def _package(merge_cost, **params):
    def fit(X, k, random_state):
        from sklearn_rae import RecursiveAutoencoderClustering

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = RecursiveAutoencoderClustering(
                n_clusters=k, merge_cost=merge_cost, random_state=random_state, **params
            ).fit(X)
        return model.linkage_matrix_, model.labels_, {}

    return fit


def em_identity(X, k, random_state):
    linkage, _, info = fd.closed_form_metric_tree(
        X,
        k,
        shrinkage=0.3,
        target="identity",
        unit_free_start=False,
        random_state=random_state,
    )
    return linkage, fd.cut_labels(linkage, k), info


def em_lw(X, k, random_state):
    linkage, _, info = fd.closed_form_metric_tree(X, k, random_state=random_state)
    return linkage, fd.cut_labels(linkage, k), info


def em_lw_lloyd(
    X, k, random_state, max_rounds=10, fixed=False, batch_size=2000, restarts=0
):
    linkage, metric, info = fd.closed_form_metric_tree(
        X, k, max_rounds=max_rounds, batch_size=batch_size, random_state=random_state
    )
    labels = fd.cut_labels(linkage, k)
    refined, embedding, rounds = fd.lloyd_refine(
        X, labels, embedding=metric if fixed else None
    )
    info["lloyd_rounds"] = rounds
    if restarts:
        # Refinements from k-means++ starts in the last tree round's
        # embedding; the partition of highest classification likelihood wins.
        rng = np.random.default_rng(random_state)
        start_space = (X - X.mean(axis=0)) @ metric
        best = fd.classification_score(X, refined)
        info["start_kept"] = 0
        for start in range(1, restarts + 1):
            labels = fd.kmeans_plus_plus_labels(start_space, k, rng)
            if labels.max() + 1 < k:
                continue
            other, other_embedding, _ = fd.lloyd_refine(X, labels)
            if other.max() + 1 < k:
                continue
            other_score = fd.classification_score(X, other)
            if other_score > best:
                best, refined, embedding = other_score, other, other_embedding
                info["start_kept"] = start
    Z = (X - X.mean(axis=0)) @ embedding
    linkage = fd.constrained_ward_linkage(Z, refined)
    return linkage, fd.cut_labels(linkage, k), info


def _cem(unit_free_start, max_rounds=20):
    def fit(X, k, random_state):
        X = X - X.mean(axis=0)
        if unit_free_start:
            start = X / fd.column_scales(X)
        else:
            start = X
        labels = fd.cut_labels(fd.ward_linkage(start), k)
        refined, embedding, rounds = fd.lloyd_refine(X, labels, max_rounds=max_rounds)
        linkage = fd.constrained_ward_linkage(X @ embedding, refined)
        return linkage, fd.cut_labels(linkage, k), {"lloyd_rounds": rounds}

    return fit


def _boundary_parts(X, k):
    from sklearn_rae.engines.spanning import boundary_tree, spanning_edges

    Z = (X - X.mean(axis=0)) / fd.column_scales(X)
    first, second, n_graph = spanning_edges(Z)
    tree, _ = boundary_tree(Z, first, second, n_graph)
    return Z, first, second, tree.linkage


def boundary0(X, k, random_state):
    _, _, _, linkage = _boundary_parts(X, k)
    return linkage, fd.cut_labels(linkage, k), {}


def select_gap(X, k, random_state, means=None, guard=False):
    Z, first, second, b_linkage = _boundary_parts(X, k)
    b_labels = fd.cut_labels(b_linkage, k)
    smallest = np.bincount(b_labels).min()
    separation = fd.boundary_separation(Z, first, second, b_labels)
    info = {"smallest": int(smallest), "separation": separation}
    if smallest >= len(X) / (5 * k) and separation >= 2.0:
        info["kept"] = "b"
        return b_linkage, b_labels, info
    linkage, labels, more = (means or em_lw_lloyd)(X, k, random_state)
    info.update(more, kept="m")
    if guard:
        # The untrained Ward tree in the data's own scale, kept if its cut
        # explains the samples better as a tied Gaussian mixture.
        ward_tree = fd.ward_linkage(X)
        ward_labels = fd.cut_labels(ward_tree, k)
        trained = fd.classification_score(X, labels)
        untrained = fd.classification_score(X, ward_labels)
        info.update(score_trained=trained, score_ward=untrained)
        if untrained > trained:
            info["kept"] = "w"
            return ward_tree, ward_labels, info
    return linkage, labels, info


CANDIDATES = {
    "ward": ward,
    "kmeans": kmeans,
    "lm0": _package("learned_metric", max_iter=0),
    "adaptive": _package("adaptive"),
    # The adopted candidate as the package implements it (the default).
    "package": _package("auto"),
    "lm": _package("learned_metric"),
    "em": em_identity,
    "em_lw": em_lw,
    "em_lw_lloyd": em_lw_lloyd,
    "boundary0": boundary0,
    "cem": _cem(True),
    "em3_lloyd": lambda X, k, random_state: em_lw_lloyd(X, k, random_state, 3),
    "em3_kmeans": lambda X, k, random_state: em_lw_lloyd(X, k, random_state, 3, True),
    "select3": lambda X, k, random_state: select_gap(
        X, k, random_state, CANDIDATES["em3_lloyd"]
    ),
    "cem_id": _cem(False),
    "em3_full": lambda X, k, random_state: em_lw_lloyd(
        X, k, random_state, 3, batch_size=4000
    ),
    "select3_full": lambda X, k, random_state: select_gap(
        X, k, random_state, CANDIDATES["em3_full"]
    ),
    "select3_guard": lambda X, k, random_state: select_gap(
        X, k, random_state, CANDIDATES["em3_full"], guard=True
    ),
    "em3_restarts": lambda X, k, random_state: em_lw_lloyd(
        X, k, random_state, 3, batch_size=4000, restarts=4
    ),
    "select3_restarts": lambda X, k, random_state: select_gap(
        X, k, random_state, CANDIDATES["em3_restarts"], guard=True
    ),
    "select_gap": select_gap,
}


# ------------------------------------------------------------------ scoring


def score(candidate, X, partitions, random_state, repeat):
    """Best ARI over the partitions, the fit time (best of ``repeat``), infos."""
    scores, times, infos = [], [], []
    for reference in partitions:
        k = len(np.unique(reference[reference > 0]))
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            linkage, labels, info = candidate(X, k, random_state)
            best = min(best, time.perf_counter() - start)
        if linkage is not None:
            cut = fd.cut_labels(np.asarray(linkage), k)
            if adjusted_rand_score(cut, labels) < 1.0 - 1e-12:
                raise AssertionError("labels are not a cut of the linkage")
        kept = reference > 0
        scores.append(adjusted_rand_score(reference[kept], labels[kept]))
        times.append(best)
        infos.append(info)
    return max(scores), float(np.mean(times)), infos


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument(
        "--groups",
        nargs="+",
        default=["wut", "graves", "g2mg", "h2mg", "classic"],
        help="battery groups, 'classic' and/or 'speed'",
    )
    parser.add_argument("--sets", nargs="*", default=[], help="set names to run")
    parser.add_argument(
        "--candidates", nargs="+", default=["kmeans", "em_lw", "em_lw_lloyd"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--repeat", type=int, default=1, help="fits timed per set")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--verbose", action="store_true", help="print each info")
    args = parser.parse_args(argv)

    names = set(args.sets)
    sets = []
    battery = [g for g in args.groups if g in BATTERY_GROUPS]
    if battery:
        sets += list(load_battery(args.folder, battery, names))
    if "classic" in args.groups:
        sets += list(load_classic(names))
    if "speed" in args.groups:
        sets += list(load_speed(names))
    candidates = ["ward"] + [c for c in args.candidates if c != "ward"]

    results = []
    header = ["set", "n", "d"]
    for c in candidates:
        header += [c] + (["spread", "t/ward"] if c != "ward" else ["t (s)"])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for group, name, X, partitions in sets:
        row = {"group": group, "set": name, "n": X.shape[0], "d": X.shape[1]}
        cells = [name, str(X.shape[0]), str(X.shape[1])]
        for c in candidates:
            aris = []
            for seed in args.seeds:
                ari, seconds, infos = score(
                    CANDIDATES[c], X, partitions, seed, args.repeat
                )
                aris.append(ari)
                if args.verbose and any(infos):
                    short = [
                        {
                            key: i[key]
                            for key in i
                            if key not in ("shrinkage", "log_volume")
                        }
                        for i in infos
                    ]
                    print(f"    {name} {c} seed {seed}: {short}", file=sys.stderr)
            row[c] = {
                "ari": aris[0],
                "spread": max(aris) - min(aris),
                "seconds": seconds,
                "kept": [i.get("kept", "") for i in infos],
            }
            if c == "ward":
                cells += [f"{aris[0]:.3f}", f"{seconds:.3f}"]
            else:
                ratio = seconds / row["ward"]["seconds"]
                row[c]["ratio"] = ratio
                kept = "".join(row[c]["kept"])
                cells += [
                    f"{aris[0]:.3f}{' ' + kept if kept else ''}",
                    f"{max(aris) - min(aris):.3f}",
                    f"{ratio:.1f}",
                ]
        print("| " + " | ".join(cells) + " |", flush=True)
        results.append(row)

    print()
    print("| group | sets | " + " | ".join(candidates) + " |")
    print("|" + "---|" * (2 + len(candidates)))
    groups = sorted({r["group"] for r in results})
    summary = [(g, [r for r in results if r["group"] == g]) for g in groups]
    if {"wut", "graves"} <= set(groups):
        summary.append(
            ("wut+graves", [r for r in results if r["group"] in ("wut", "graves")])
        )
    if {"g2mg", "h2mg"} <= set(groups):
        summary.append(
            ("gaussian", [r for r in results if r["group"] in ("g2mg", "h2mg")])
        )
    for label, rows in summary:
        means = [np.mean([r[c]["ari"] for r in rows]) for c in candidates]
        print(f"| {label} | {len(rows)} | " + " | ".join(f"{m:.3f}" for m in means))
    for c in candidates[1:]:
        below = [r["set"] for r in results if r[c]["ari"] < r["ward"]["ari"] - 0.05]
        spread = max(r[c]["spread"] for r in results)
        print(
            f"{c}: {len(below)} sets more than 0.05 below Ward {below}; "
            f"largest seed spread {spread:.3f}"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1, default=float)


if __name__ == "__main__":
    main()
