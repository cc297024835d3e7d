"""The default's shortfalls per set, and variants of it, on the development battery.

For each set (the suite's preprocessing and scoring, as ``benchmarks/battery.py``;
the classic tables standardised and in raw units as
``benchmarks/default_candidates.py``) it prints, at random state 0:

- ``auto``: the package's default, the criterion it kept (``b`` boundary, ``w``
  whitened means) and what the gap rule measured (``separation``, the smallest
  boundary cluster as a share of an equal share ``n / k``);
- ``wm``: ``merge_cost="whitened_means"`` alone; ``b0``: the untrained boundary
  tree of the unit-free start (the gap rule's candidate);
- ``ward``: SciPy's Ward tree of the preprocessed data (the floor's
  reference), ``ward0``: Ward's tree in the unit-free start (the package's
  untrained tree), ``kmeans``: ``KMeans(n_clusters=k, n_init=10)``;
- with ``--variants``, each variant's ARI and what it kept: ``soft`` (EM of
  the tied mixture as the refinement; kept ``w`` and its rounds), ``soft2``
  (``soft`` from the trained and the untrained cut; ``t`` or ``0`` the start
  kept), ``guard`` (the untrained tree kept, ``0``, where its sum of squares
  in the unit-free start is lower). The variants and the rule that judged
  them are in ``docs/default_experiments.md`` (third round).

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/default_variants.py \\
        ../shared/benchmarks/battery-dev --groups g2mg h2mg --variants soft soft2 guard

``docs/default_experiments.md`` holds its output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import fastcluster
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import battery  # noqa: E402

GAUSSIAN = ("g2mg", "h2mg")


def unit_free(X):
    scale = X.std(axis=0)
    scale[~(scale > 0)] = 1.0
    return (X - X.mean(axis=0)) / scale


def within_sum_of_squares(Z, labels):
    """Within-cluster sum of squares of ``labels`` in ``Z``, per sample."""
    total = 0.0
    for cluster in np.unique(labels):
        members = Z[labels == cluster]
        total += float(np.sum((members - members.mean(axis=0)) ** 2))
    return total / Z.shape[0]


def fit_package(X, k, merge_cost, **params):
    model = RecursiveAutoencoderClustering(
        n_clusters=k, merge_cost=merge_cost, random_state=0, **params
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return model


def ward_labels(Z, k):
    return battery.cut_into(fastcluster.linkage(Z, method="ward"), k)


def baseline_row(X, k):
    """Figures of the default and the references for one ``k``."""
    start = time.perf_counter()
    auto = fit_package(X, k, "auto")
    auto_s = time.perf_counter() - start
    report = auto.separation_
    if auto.merge_cost_ == "whitened_means":
        wm_labels = auto.labels_
    else:
        wm_labels = fit_package(X, k, "whitened_means").labels_
    b0_labels = (
        auto.labels_
        if auto.merge_cost_ == "boundary"
        # Standardised columns: the identity start is the unit-free start.
        else fit_package(unit_free(X), k, "boundary", max_iter=0).labels_
    )
    Z0 = unit_free(X)
    km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(X).labels_
    return {
        "auto": auto.labels_,
        "kept": auto.merge_cost_[0],
        "separation": report["separation"],
        "smallest": report["smallest_cluster"] * k,
        "wm": wm_labels,
        "b0": b0_labels,
        "ward": ward_labels(X, k),
        "ward0": ward_labels(Z0, k),
        "kmeans": km,
        "auto_s": auto_s,
    }


def suite_preprocess(X):
    """The suite's preprocessing: one overall scale, not per column."""
    X = np.asarray(X, dtype=np.float64)
    X = X[:, X.std(axis=0) > 0]
    noise = np.random.RandomState(0).normal(0.0, 1e-6 * X.std(), X.shape)
    X = X + noise
    return (X - X.mean(axis=0)) / X.std()


def load_classic(names):
    for loader in (load_iris, load_wine, load_breast_cancer, load_digits):
        data = loader()
        key = loader.__name__.removeprefix("load_")
        for kind in ("std", "raw"):
            name = f"classic/{key}_{kind}"
            if names and name not in names and f"{key}_{kind}" not in names:
                continue
            if kind == "std":
                X = StandardScaler().fit_transform(data.data)
            else:
                X = suite_preprocess(data.data)
            yield "classic", name, X, [data.target + 1]


def load_sets(folder, groups, names):
    batteries = [g for g in groups if g != "classic"]
    if batteries:
        for group, name, X, partitions, _ in battery.load_battery(
            folder, 4000, batteries
        ):
            if names and name not in names and f"{group}/{name}" not in names:
                continue
            yield group, f"{group}/{name}", X, partitions
    if "classic" in groups:
        yield from load_classic(names)


def soft_refine(X, labels, rounds=20, tolerance=1e-6):
    """EM of the tied, shrunk Gaussian mixture from the partition ``labels``.

    Returns the most probable partition, its metric ``L``, the number of
    rounds and the final mean log-likelihood per sample.
    """
    from scipy.special import logsumexp

    from sklearn_rae._numeric import number_by_first_appearance, within_residuals
    from sklearn_rae.criteria.whitened_means import (
        diagonal_shrinkage,
        inverse_square_root,
    )

    labels = number_by_first_appearance(labels)
    n, d = X.shape
    k = int(labels.max()) + 1
    responsibility = np.eye(k)[labels]
    previous = -np.inf
    n_rounds = 0
    for _ in range(rounds):
        n_rounds += 1
        weights = responsibility.sum(axis=0)
        means = responsibility.T @ X / weights[:, None]
        scatter = np.zeros((d, d))
        for cluster in range(k):
            centred = X - means[cluster]
            scatter += (centred * responsibility[:, cluster : cluster + 1]).T @ centred
        scatter /= n
        shrinkage = diagonal_shrinkage(within_residuals(X, labels))
        target = (1 - shrinkage) * scatter
        target[np.diag_indices_from(target)] += shrinkage * np.diag(scatter)
        kernel_embed = inverse_square_root(target)
        Z = X @ kernel_embed
        M = means @ kernel_embed
        log_density = np.log(weights / n)[None, :] - 0.5 * (
            (Z[:, None, :] - M[None, :, :]) ** 2
        ).sum(axis=2)
        total = logsumexp(log_density, axis=1)
        responsibility = np.exp(log_density - total[:, None])
        log_likelihood = float(
            np.mean(total)
            + np.linalg.slogdet(kernel_embed)[1]
            - 0.5 * d * np.log(2 * np.pi)
        )
        moved = np.argmax(responsibility, axis=1)
        for cluster in range(k):
            if not np.any(moved == cluster):
                moved[np.argmax(responsibility[:, cluster])] = cluster
        labels = number_by_first_appearance(moved)
        if abs(log_likelihood - previous) < tolerance:
            break
        previous = log_likelihood
    # The metric of the kept partition's responsibilities, as refine_partition.
    return labels, kernel_embed, n_rounds, log_likelihood


def _patched_fit(X, k, refine):
    """The default with ``refine_partition`` of the whitened means replaced."""
    from sklearn_rae.criteria import whitened_means

    original = whitened_means.refine_partition
    whitened_means.refine_partition = refine
    try:
        model = fit_package(X, k, "auto")
    finally:
        whitened_means.refine_partition = original
    return model


def soft(X, k):
    kept = {}

    def refine(centred, labels, rounds=20):
        refined, kernel_embed, n_rounds, _ = soft_refine(centred, labels)
        kept["rounds"] = n_rounds
        return refined, kernel_embed, n_rounds

    model = _patched_fit(X, k, refine)
    return model.labels_, model.merge_cost_[0] + str(kept.get("rounds", ""))


def soft2(X, k):
    kept = {}

    def refine(centred, labels, rounds=20):
        start = ward_labels(unit_free(centred), k)
        trained = soft_refine(centred, labels)
        untrained = soft_refine(centred, start)
        if untrained[3] > trained[3]:
            kept["start"] = "0"
            return untrained[:3]
        kept["start"] = "t"
        return trained[:3]

    model = _patched_fit(X, k, refine)
    return model.labels_, model.merge_cost_[0] + kept.get("start", "")


def guard(X, k):
    model = fit_package(X, k, "auto")
    if model.merge_cost_ != "whitened_means":
        return model.labels_, "b"
    Z0 = unit_free(X)
    start = ward_labels(Z0, k)
    if within_sum_of_squares(Z0, start) < within_sum_of_squares(Z0, model.labels_):
        return start, "0"
    return model.labels_, "w"


#: Variants by name: ``(X, k) -> (labels, kept)``.
VARIANTS = {"soft": soft, "soft2": soft2, "guard": guard}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument(
        "--groups", nargs="+", default=["wut", "graves", "g2mg", "h2mg", "classic"]
    )
    parser.add_argument("--sets", nargs="*", default=[])
    parser.add_argument("--variants", nargs="*", default=[])
    args = parser.parse_args(argv)
    columns = ["auto", "wm", "b0", "ward", "ward0", "kmeans", *args.variants]
    header = ["set", "n", "d", "kept", "sep", "smallest", *columns]
    header += [f"{variant} kept" for variant in args.variants]
    print("| " + " | ".join(header) + " |", flush=True)
    sums = {}
    for group, name, X, partitions in load_sets(args.folder, args.groups, args.sets):
        ks = sorted({battery.n_clusters_of(ref) for ref in partitions})
        per_k = {}
        for k in ks:
            row = baseline_row(X, k)
            for variant in args.variants:
                labels, kept = VARIANTS[variant](X, k)
                row[variant] = labels
                row[f"{variant} kept"] = kept
            per_k[k] = row
        scores = {}
        for column in columns:
            scores[column] = max(
                battery.ari(ref, per_k[battery.n_clusters_of(ref)][column])
                for ref in partitions
            )
        cells = [
            name,
            str(X.shape[0]),
            str(X.shape[1]),
            " ".join(per_k[k]["kept"] for k in ks),
            " ".join(f"{per_k[k]['separation']:.2f}" for k in ks),
            " ".join(f"{per_k[k]['smallest']:.2f}" for k in ks),
            *(f"{scores[c]:.3f}" for c in columns),
            *(" ".join(str(per_k[k][f"{v} kept"]) for k in ks) for v in args.variants),
        ]
        print("| " + " | ".join(cells) + " |", flush=True)
        family = (
            "Gaussian"
            if group in GAUSSIAN
            else ("classic std" if name.endswith("_std") else "classic raw")
            if group == "classic"
            else "shapes"
        )
        entry = sums.setdefault(family, {c: [] for c in columns})
        for column in columns:
            entry[column].append(scores[column])
        below = entry.setdefault("below", {c: [] for c in columns})
        for column in columns:
            if scores[column] < scores["ward"] - 0.05:
                below[column].append(name.split("/")[-1])
    for family, entry in sums.items():
        below = entry.pop("below")
        print(
            f"| mean {family} ({len(entry['auto'])}) | | | | | | "
            + " | ".join(f"{np.mean(entry[c]):.3f}" for c in columns)
            + " |"
        )
        for column in columns:
            print(f"  {family} {column} > 0.05 below Ward: {', '.join(below[column])}")


if __name__ == "__main__":
    main()
