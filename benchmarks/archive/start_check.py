"""The start check after gradient training, measured on the battery.

For ``merge_cost="learned_metric"`` (or ``--merge-cost``) at each reference
partition's number of clusters (``--random-state``, default 0): the ARI of the
weights trained on every sample (also where a check fires), of the untrained
tree (``max_iter=0``), of the check on the training samples alone (the
untrained figure where it fires), and of the package's fit (where there is a
hold-out, the check on the held-out samples decides), with the rise of the
package's check's objective. A set's score is the maximum over its reference
partitions, as in ``benchmarks/battery.py``; the groups are its batteries'
(shapes: wut and graves; Gaussian: g2mg and h2mg) and the four classic tables
standardised. Beside them, SciPy's Ward tree on the same data cut at the same
number of clusters, and at the end the sets where the package's fit is more
than 0.05 below its own untrained tree or below SciPy's Ward tree. Sets of
more than ``--max-samples`` points (default 4,000, the battery's convention)
are left out; ``--max-samples 10000`` takes the whole development battery.
The seventh to ninth rounds of ``docs/default_experiments.md`` hold its
figures. Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/start_check.py ../shared/benchmarks/battery-dev
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
from scipy.cluster.hierarchy import fcluster, ward

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import battery  # noqa: E402
from default_variants import load_sets  # noqa: E402

import sklearn_rae._training as training  # noqa: E402
from sklearn_rae import RecursiveAutoencoderClustering  # noqa: E402


def fit(X, k, merge_cost, random_state, holdout=None, **params):
    """One fit; ``holdout`` the share held out for the check (None: the package's)."""
    saved = training.HOLDOUT_FRACTION
    if holdout is not None:
        training.HOLDOUT_FRACTION = holdout
    model = RecursiveAutoencoderClustering(
        n_clusters=k, merge_cost=merge_cost, random_state=random_state, **params
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
    finally:
        training.HOLDOUT_FRACTION = saved
    return model


def fired(model):
    return model.start_check_ is not None and model.start_check_.worsened


def score_set(X, partitions, merge_cost, random_state):
    """Per set: the ARI of each fit (maximum over the reference partitions).

    ``trained``: the weights trained on every sample, also where a check
    fires; ``untrained``: the initial ones (``max_iter=0``); ``seventh``: the
    check on the training samples alone (no hold-out); ``package``: the
    package's fit, the held-out check deciding where there is a hold-out.
    """
    keys = ("trained", "untrained", "seventh", "package", "ward")
    columns = {key: [] for key in keys}
    ward_tree = ward(X)
    any_fired = {"seventh": False, "package": False}
    rises = []
    for reference in partitions:
        k = battery.n_clusters_of(reference)
        training.CHECK_REVERTS = False
        everything = fit(X, k, merge_cost, random_state, holdout=0.0)
        training.CHECK_REVERTS = True
        package = fit(X, k, merge_cost, random_state)
        untrained = fit(X, k, merge_cost, random_state, max_iter=0)
        trained = battery.ari(reference, everything.labels_)
        untrained = battery.ari(reference, untrained.labels_)
        values = (
            trained,
            untrained,
            untrained if fired(everything) else trained,
            battery.ari(reference, package.labels_),
            battery.ari(reference, fcluster(ward_tree, k, criterion="maxclust")),
        )
        for key, value in zip(keys, values, strict=True):
            columns[key].append(value)
        any_fired["seventh"] |= fired(everything)
        any_fired["package"] |= fired(package)
        if package.start_check_ is not None:
            check = package.start_check_
            rises.append(check.trained_objective - check.initial_objective)
    row = {key: max(values) for key, values in columns.items()}
    row["fired7"], row["fired"] = any_fired["seventh"], any_fired["package"]
    row["rise"] = max(rises) if rises else np.nan
    return row


def group_of(name):
    battery_name = name.split("/")[0]
    if battery_name == "classic":
        return "classic tables"
    return battery.group_of(battery_name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--merge-cost", default="learned_metric")
    parser.add_argument("--names", nargs="*", default=[])
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--max-samples", type=int, default=4000)
    args = parser.parse_args(argv)
    groups = ["wut", "graves", "g2mg", "h2mg", "classic"]
    rows = []
    keys = ("trained", "untrained", "seventh", "package", "ward")
    print(
        "| set | trained | untrained | check on training samples | package "
        "| SciPy Ward | that fired | package's fired | objective rise |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    sets = load_sets(args.folder, groups, args.names, args.max_samples)
    for _, name, X, partitions in sets:
        if name.startswith("classic/") and name.endswith("_raw"):
            continue
        row = {
            "name": name,
            **score_set(X, partitions, args.merge_cost, args.random_state),
        }
        rows.append(row)
        print(
            f"| {name} | "
            + " | ".join(f"{row[key]:.3f}" for key in keys)
            + f" | {'yes' if row['fired7'] else ''} | {'yes' if row['fired'] else ''}"
            f" | {row['rise']:+.4f} |",
            flush=True,
        )
    print()
    print(
        "| group | sets | fired on training samples | package's fired | trained "
        "| untrained | check on training samples | package | SciPy Ward |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for group in ("shapes and tables", "Gaussian", "classic tables"):
        members = [row for row in rows if group_of(row["name"]) == group]
        if not members:
            continue
        means = [np.mean([row[key] for row in members]) for key in keys]
        print(
            f"| {group} | {len(members)} | {sum(r['fired7'] for r in members)} | "
            f"{sum(r['fired'] for r in members)} | "
            + " | ".join(f"{mean:.4f}" for mean in means)
            + " |"
        )

    print()
    for floor in ("untrained", "ward"):
        below = [
            f"{row['name']} ({row['package']:.3f} against {row[floor]:.3f})"
            for row in rows
            if row["package"] < row[floor] - 0.05
        ]
        print(
            f"package more than 0.05 below {floor}: {len(below)} of {len(rows)}"
            + (": " + ", ".join(below) if below else "")
        )


if __name__ == "__main__":
    main()
