"""The start check after gradient training, measured on the battery.

For ``merge_cost="learned_metric"`` (or ``--merge-cost``) at each reference
partition's number of clusters, random state 0: the ARI of the trained tree,
of the untrained tree (``max_iter=0``), and "with the check" (the untrained
figure where the start check fired, the trained one elsewhere), with the
check's two objectives. A set's score is the maximum over its reference
partitions, as in ``benchmarks/battery.py``; the groups are its batteries'
(shapes: wut and graves; Gaussian: g2mg and h2mg) and the four classic tables
standardised. The package's reverting is switched off here, so that the
trained weights are scored also where the check fires. The rule these
figures decide is the seventh round of
``docs/default_experiments.md``. Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/start_check.py ../shared/benchmarks/battery-dev
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import battery  # noqa: E402
from default_variants import load_sets  # noqa: E402

import sklearn_rae._training as training  # noqa: E402
from sklearn_rae import RecursiveAutoencoderClustering  # noqa: E402


def fit(X, k, merge_cost, **params):
    model = RecursiveAutoencoderClustering(
        n_clusters=k, merge_cost=merge_cost, random_state=0, **params
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return model


def score_set(X, partitions, merge_cost):
    trained, untrained, checked, fired, rises = [], [], [], [], []
    for reference in partitions:
        k = battery.n_clusters_of(reference)
        model = fit(X, k, merge_cost)
        start = model.start_check_
        trained_ari = battery.ari(reference, model.labels_)
        untrained_ari = battery.ari(
            reference, fit(X, k, merge_cost, max_iter=0).labels_
        )
        has_fired = start is not None and start.worsened
        trained.append(trained_ari)
        untrained.append(untrained_ari)
        checked.append(untrained_ari if has_fired else trained_ari)
        fired.append(has_fired)
        rises.append(
            np.nan
            if start is None
            else start.trained_objective - start.initial_objective
        )
    return {
        "trained": max(trained),
        "untrained": max(untrained),
        "checked": max(checked),
        "fired": any(fired),
        "rise": float(np.nanmax(rises)) if not np.all(np.isnan(rises)) else np.nan,
    }


def group_of(name):
    battery_name = name.split("/")[0]
    if battery_name == "classic":
        return "classic tables"
    return battery.group_of(battery_name)


def main(argv=None):
    # The "trained" figures are those of the trained weights, also where the
    # check fires; "with check" is then the untrained figure.
    training.CHECK_REVERTS = False
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--merge-cost", default="learned_metric")
    parser.add_argument("--names", nargs="*", default=[])
    args = parser.parse_args(argv)
    groups = ["wut", "graves", "g2mg", "h2mg", "classic"]
    rows = []
    print("| set | trained | untrained | with check | fired | objective rise |")
    print("|---|---|---|---|---|---|")
    for _, name, X, partitions in load_sets(args.folder, groups, args.names):
        if name.startswith("classic/") and name.endswith("_raw"):
            continue
        row = {"name": name, **score_set(X, partitions, args.merge_cost)}
        rows.append(row)
        print(
            f"| {name} | {row['trained']:.3f} | {row['untrained']:.3f} | "
            f"{row['checked']:.3f} | {'yes' if row['fired'] else ''} | "
            f"{row['rise']:+.4f} |",
            flush=True,
        )
    print()
    print(
        "| group | sets | fired | fired and raised / lowered (> 0.005) | trained "
        "| with check | untrained |"
    )
    print("|---|---|---|---|---|---|---|")
    for group in ("shapes and tables", "Gaussian", "classic tables"):
        members = [row for row in rows if group_of(row["name"]) == group]
        if not members:
            continue
        fired = [row for row in members if row["fired"]]
        raised = sum(row["checked"] > row["trained"] + 0.005 for row in fired)
        lowered = sum(row["checked"] < row["trained"] - 0.005 for row in fired)
        means = [
            np.mean([row[key] for row in members])
            for key in ("trained", "checked", "untrained")
        ]
        print(
            f"| {group} | {len(members)} | {len(fired)} | {raised} / {lowered} | "
            + " | ".join(f"{mean:.4f}" for mean in means)
            + " |"
        )


if __name__ == "__main__":
    main()
