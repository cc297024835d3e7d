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
    """Per set: the ARI of each check (maximum over the reference partitions).

    ``trained`` the weights trained on every sample, ``untrained`` the initial
    ones; ``seventh`` the untrained figure where the check on the training
    samples fires, else ``trained``; ``eighth`` the same with a fifth held out
    of training and the check on it; ``ninth`` the untrained figure where the
    held-out check fires, else ``seventh``.
    """
    columns = {
        key: [] for key in ("trained", "untrained", "seventh", "eighth", "ninth")
    }
    any_fired = {"seventh": False, "eighth": False}
    rises = []
    for reference in partitions:
        k = battery.n_clusters_of(reference)
        everything = fit(X, k, merge_cost, random_state, holdout=0.0)
        held = fit(X, k, merge_cost, random_state, holdout=0.2)
        untrained = battery.ari(
            reference, fit(X, k, merge_cost, random_state, max_iter=0).labels_
        )
        trained = battery.ari(reference, everything.labels_)
        seventh = untrained if fired(everything) else trained
        eighth = untrained if fired(held) else battery.ari(reference, held.labels_)
        ninth = untrained if fired(held) else seventh
        for key, value in zip(
            columns, (trained, untrained, seventh, eighth, ninth), strict=True
        ):
            columns[key].append(value)
        any_fired["seventh"] |= fired(everything)
        any_fired["eighth"] |= fired(held)
        if held.start_check_ is not None:
            check = held.start_check_
            rises.append(check.trained_objective - check.initial_objective)
    row = {key: max(values) for key, values in columns.items()}
    row["fired7"], row["fired8"] = any_fired["seventh"], any_fired["eighth"]
    row["rise"] = max(rises) if rises else np.nan
    return row


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
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    groups = ["wut", "graves", "g2mg", "h2mg", "classic"]
    rows = []
    keys = ("trained", "untrained", "seventh", "eighth", "ninth")
    print(
        "| set | trained | untrained | 7th: check | 8th: held out | 9th: held out "
        "decides | 7th fired | 8th fired | held-out rise |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for _, name, X, partitions in load_sets(args.folder, groups, args.names):
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
            + f" | {'yes' if row['fired7'] else ''} | {'yes' if row['fired8'] else ''}"
            f" | {row['rise']:+.4f} |",
            flush=True,
        )
    print()
    print(
        "| group | sets | 7th fired | 8th fired | trained | untrained "
        "| 7th | 8th | 9th |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for group in ("shapes and tables", "Gaussian", "classic tables"):
        members = [row for row in rows if group_of(row["name"]) == group]
        if not members:
            continue
        means = [np.mean([row[key] for row in members]) for key in keys]
        print(
            f"| {group} | {len(members)} | {sum(r['fired7'] for r in members)} | "
            f"{sum(r['fired8'] for r in members)} | "
            + " | ".join(f"{mean:.4f}" for mean in means)
            + " |"
        )


if __name__ == "__main__":
    main()
