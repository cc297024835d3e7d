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
  in the unit-free start is lower); fourth round: ``iso`` (Lloyd's algorithm
  in the unit-free start as the refinement, kept, ``i``, iff its residuals pass
  a sphericity test, printed as ``(p, max ratio, min ratio)``; else ``w``),
  ``iso_all`` (the same without the test) and ``oas`` (the refinement's
  covariance shrunk with OAS's intensity, printed); fifth round: ``persist``
  (the boundary tree kept, ``B``, where the gap rule rejects it but its cut
  into ``k`` is the more persistent in its tree, printed as ``(P_b, P_w)``),
  ``persist2`` (the same with ``P_b >= 2 P_w``) and ``persist_sph``
  (``persist``, except where the whitened means' refinement found spherical
  clusters, ``s``); sixth round: ``scale_gate`` (the unit-free start's
  per-column scales only where the columns' interquartile ranges differ by
  more than 10, else one overall scale) and ``scale_shrunk`` (the scales
  shrunk towards their geometric mean by ``1 - log10`` of that ratio), kept
  printed with the ratio ``r``. The variants and the rules that judged them
  are in ``docs/default_experiments.md`` (third to sixth rounds).

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


#: The fits of the last :func:`baseline_row` per ``k``, for the variants that
#: only choose between them (fifth round).
FITTED = {}


def _fit_recording_sphericity(X, k, merge_cost):
    """A fit, and whether its last sphericity test passed (None if none ran)."""
    from sklearn_rae.criteria import whitened_means

    original = whitened_means.looks_spherical
    passed = []

    def recording(Z, labels):
        passed.append(original(Z, labels))
        return passed[-1]

    whitened_means.looks_spherical = recording
    try:
        model = fit_package(X, k, merge_cost)
    finally:
        whitened_means.looks_spherical = original
    return model, (passed[-1] if passed else None)


def baseline_row(X, k):
    """Figures of the default and the references for one ``k``."""
    start = time.perf_counter()
    auto, auto_spherical = _fit_recording_sphericity(X, k, "auto")
    auto_s = time.perf_counter() - start
    report = auto.separation_
    if auto.merge_cost_ == "whitened_means":
        wm_model, wm_spherical = auto, auto_spherical
    else:
        wm_model, wm_spherical = _fit_recording_sphericity(X, k, "whitened_means")
    wm_labels = wm_model.labels_
    b0_model = (
        auto
        if auto.merge_cost_ == "boundary"
        # Standardised columns: the identity start is the unit-free start.
        else fit_package(unit_free(X), k, "boundary", max_iter=0)
    )
    b0_labels = b0_model.labels_
    FITTED[k] = {
        "auto": auto,
        "wm": wm_model,
        "wm_spherical": wm_spherical,
        "b0": b0_model,
        "smallest": report["smallest_cluster"] * k,
    }
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


def load_sets(folder, groups, names, max_samples=4000):
    batteries = [g for g in groups if g != "classic"]
    if batteries:
        for group, name, X, partitions, _ in battery.load_battery(
            folder, max_samples, batteries
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


def lloyd_unit_free(Xc, labels, rounds=100):
    """Lloyd's algorithm in the fixed unit-free metric ``Xc diag(1 / std)``.

    The fourth round's variant, now the package's ``isotropic_partition``.
    """
    from sklearn_rae.criteria.whitened_means import isotropic_partition

    return isotropic_partition(Xc, labels, rounds)


def sphericity(Z, labels):
    """Whether the residuals of ``labels`` in ``Z`` look spherical.

    Residuals projected off the span of the centred cluster means; their
    eigenvalues against the Marchenko-Pastur edges with a margin of 1.5 (the
    package's ``sphericity`` and ``looks_spherical`` since the fourth round).
    Returns ``(spherical, p, max ratio, min ratio)``.
    """
    from sklearn_rae.criteria import whitened_means

    report = whitened_means.sphericity(Z, labels)
    spherical = whitened_means.looks_spherical(Z, labels)
    return spherical, report["p"], report["largest"], report["smallest"]


def _iso(X, k, test):
    from sklearn_rae.criteria import whitened_means

    original = whitened_means.refine_partition
    kept = {}

    def refine(centred, labels, rounds=20):
        iso_labels, iso_embed, iso_moves = lloyd_unit_free(centred, labels)
        if test:
            spherical, p, high, low = sphericity(centred @ iso_embed, iso_labels)
            kept["test"] = f"{'i' if spherical else 'w'}({p},{high:.2f},{low:.2f})"
        else:
            spherical = True
            kept["test"] = "i"
        if spherical:
            return iso_labels, iso_embed, iso_moves
        return original(centred, labels, rounds)

    model = _patched_fit(X, k, refine)
    return model.labels_, model.merge_cost_[0] + kept.get("test", "")


def iso(X, k):
    return _iso(X, k, test=True)


def iso_all(X, k):
    return _iso(X, k, test=False)


def oas_within_scatter(X, labels):
    """The refinement's scatter shrunk towards its diagonal by OAS's intensity."""
    from sklearn.covariance import OAS

    from sklearn_rae._numeric import within_residuals

    residuals = within_residuals(X, labels)
    scatter = residuals.T @ residuals / residuals.shape[0]
    spread = np.sqrt(np.mean(residuals**2, axis=0))
    spread[~(spread > 0)] = 1.0
    shrinkage = float(OAS(assume_centered=True).fit(residuals / spread).shrinkage_)
    shrunk = (1 - shrinkage) * scatter
    shrunk[np.diag_indices_from(shrunk)] += shrinkage * np.diag(scatter)
    return shrunk, shrinkage


def oas(X, k):
    from sklearn_rae.criteria import whitened_means

    original_refine = whitened_means.refine_partition
    original_scatter = whitened_means.shrunk_within_scatter
    kept = {}

    def refine(centred, labels, rounds=20):
        whitened_means.shrunk_within_scatter = oas_within_scatter
        try:
            result = original_refine(centred, labels, rounds)
        finally:
            whitened_means.shrunk_within_scatter = original_scatter
        kept["s"] = f"{oas_within_scatter(centred, result[0])[1]:.3f}"
        return result

    model = _patched_fit(X, k, refine)
    return model.labels_, model.merge_cost_[0] + kept.get("s", "")


def cut_persistence(X, linkage, k):
    """The persistence of ``linkage``'s cut into ``k`` (``_choose_k``'s).

    ``nan`` when a cluster of the cut holds fewer than ``m`` distinct rows.
    The package's own function since the fifth round landed.
    """
    from sklearn_rae._choose_k import cut_persistence as package_cut_persistence

    return package_cut_persistence(X, linkage, k)


def _persist(X, k, factor, spherical_keeps_means):
    """The default, or the boundary tree where its cut outlives the means' cut.

    ``kept``: ``b`` (gap rule), ``B`` (persistence), ``w`` (means), followed by
    ``(P_b, P_w)``; ``s`` where the sphericity test kept the means.
    """
    fitted = FITTED[k]
    auto = fitted["auto"]
    if auto.merge_cost_ == "boundary":
        return auto.labels_, "b"
    p_b = cut_persistence(X, fitted["b0"].linkage_matrix_, k)
    p_w = cut_persistence(X, fitted["wm"].linkage_matrix_, k)
    figures = f"({p_b:.2f},{p_w:.2f})"
    if spherical_keeps_means and fitted["wm_spherical"]:
        return auto.labels_, "s" + figures
    p_w_counted = 0.0 if np.isnan(p_w) else p_w
    if (
        fitted["smallest"] >= 0.2
        and p_b >= factor * p_w_counted
        and (p_b > p_w_counted)
    ):
        return fitted["b0"].labels_, "B" + figures
    return auto.labels_, "w" + figures


def persist(X, k):
    return _persist(X, k, 1.0, spherical_keeps_means=False)


def persist2(X, k):
    return _persist(X, k, 2.0, spherical_keeps_means=False)


def persist_sph(X, k):
    return _persist(X, k, 1.0, spherical_keeps_means=True)


def spread_ratio(X):
    """``r``: the largest over the smallest non-zero interquartile range."""
    upper, lower = np.percentile(X, [75, 25], axis=0)
    spread = upper - lower
    spread = spread[spread > 0]
    if spread.size < 2:
        return float("inf")
    return float(spread.max() / spread.min())


def today_scales(X):
    scale = np.std(X, axis=0)
    scale[~(scale > 0)] = 1.0
    return scale


def gated_scales(X):
    """(a): per-column scales if ``r > 10``, else one overall scale."""
    scale = today_scales(X)
    if spread_ratio(X) > 10:
        return scale
    return np.full_like(scale, np.sqrt(np.mean(np.std(X, axis=0) ** 2)))


def shrunk_scales(X):
    """(b): scales shrunk towards their geometric mean, ``a = 1 - log10 r``."""
    scale = today_scales(X)
    spread = np.std(X, axis=0)
    moving = spread > 0
    if not np.any(moving):
        return scale
    intensity = min(1.0, max(0.0, 1.0 - np.log10(spread_ratio(X))))
    geometric = np.exp(np.mean(np.log(spread[moving])))
    scale[moving] = spread[moving] ** (1.0 - intensity) * geometric**intensity
    return scale


def _scaled_fit(X, k, scales):
    """The default with ``column_scales`` (the unit-free start) replaced."""
    from sklearn_rae.criteria import embedded, whitened_means

    original = embedded.column_scales
    embedded.column_scales = scales
    whitened_means.column_scales = scales
    try:
        model = fit_package(X, k, "auto")
    finally:
        embedded.column_scales = original
        whitened_means.column_scales = original
    return model.labels_, f"{model.merge_cost_[0]}(r={spread_ratio(X):.1f})"


def scale_gate(X, k):
    return _scaled_fit(X, k, gated_scales)


def scale_shrunk(X, k):
    return _scaled_fit(X, k, shrunk_scales)


#: Variants by name: ``(X, k) -> (labels, kept)``.
VARIANTS = {
    "soft": soft,
    "soft2": soft2,
    "guard": guard,
    "iso": iso,
    "iso_all": iso_all,
    "oas": oas,
    "persist": persist,
    "persist2": persist2,
    "persist_sph": persist_sph,
    "scale_gate": scale_gate,
    "scale_shrunk": scale_shrunk,
}


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
