"""Experiment 29: a route for shapes that touch through noise (archive).

Prototypes of the candidate trees (Genie's Gini-corrected merging along a
spanning tree, mutual-reachability spanning trees, cuts that ignore small
components) and the route rules of ``noisy_shapes.md``, run on the
development battery with the suite's conventions. Imports private modules:
it is an archive, not a maintained benchmark.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/archive/noisy_shapes.py \
        ../shared/benchmarks/battery-dev diag --csv /tmp/diag.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from battery import ari, cut_into, load_battery, n_clusters_of  # noqa: E402

from sklearn_rae.criteria.embedded import column_scales  # noqa: E402
from sklearn_rae.engines.spanning import _prim_edges  # noqa: E402


# ---------------------------------------------------------------- trees
def unit_free(X):
    Z = (X - X.mean(axis=0)) / column_scales(X)
    return Z


def core_distances(Z, M):
    """Distance to the M-th nearest sample, the sample itself counted (HDBSCAN)."""
    if M <= 1:
        return np.zeros(Z.shape[0])
    index = NearestNeighbors(n_neighbors=M).fit(Z)
    distance, _ = index.kneighbors(Z)
    return distance[:, -1]


def mr_prim_edges(Z, core):
    """MST of the mutual-reachability distance max(core_a, core_b, |a - b|)."""
    n = Z.shape[0]
    in_tree = np.zeros(n, dtype=bool)
    best = np.full(n, np.inf)
    parent = np.zeros(n, dtype=np.intp)
    first = np.empty(n - 1, dtype=np.intp)
    second = np.empty(n - 1, dtype=np.intp)
    weight = np.empty(n - 1)
    current = 0
    in_tree[0] = True
    sq = np.einsum("ij,ij->i", Z, Z)
    for step in range(n - 1):
        d2 = sq - 2.0 * Z @ Z[current] + sq[current]
        d = np.sqrt(np.maximum(d2, 0.0))
        d = np.maximum(d, np.maximum(core, core[current]))
        closer = (d < best) & ~in_tree
        best[closer] = d[closer]
        parent[closer] = current
        candidates = np.where(in_tree, np.inf, best)
        j = int(np.argmin(candidates))
        first[step], second[step], weight[step] = parent[j], j, best[j]
        in_tree[j] = True
        current = j
    return first, second, weight


def euclid_mst(Z):
    first, second = _prim_edges(Z - Z.mean(axis=0))
    w = np.sqrt(np.einsum("ij,ij->i", Z[first] - Z[second], Z[first] - Z[second]))
    return first, second, w


def gini_index(sizes):
    k = sizes.shape[0]
    if k <= 1:
        return 0.0
    s = np.sort(sizes)
    coef = 2.0 * np.arange(1, k + 1) - k - 1
    return float(coef @ s) / ((k - 1) * s.sum())


def genie_linkage(first, second, weight, n, threshold=0.3):
    """Genie's merges along a spanning tree, as a SciPy linkage matrix.

    Edges are taken shortest first; while the Gini index of the cluster sizes
    exceeds ``threshold``, the next merge is instead along the shortest
    unused edge incident to a cluster of the smallest size. Heights are the
    edge lengths (running maximum). Returns (linkage, edge order).
    """
    order = np.argsort(weight, kind="stable")
    first, second, weight = first[order], second[order], weight[order]
    n_edges = first.shape[0]
    label = np.arange(n)  # cluster id (root) of each sample
    members = {i: [i] for i in range(n)}
    size = np.ones(n, dtype=np.intp)  # by cluster id
    node = np.arange(n)  # linkage id by cluster id
    used = np.zeros(n_edges, dtype=bool)
    # counts of cluster sizes, for the Gini index in O(distinct sizes)
    count = {1: n}
    n_clusters = n
    pointer = 0
    rows = []
    merged_edges = []
    # Gini numerator: sum over pairs i<j |c_i - c_j|
    pair_sum = 0.0

    def gini_now():
        if n_clusters <= 1:
            return 0.0
        return pair_sum / ((n_clusters - 1) * n)

    def abs_sum_to(c):
        # sum over clusters of |c - c_i| using the size counts
        return sum(m * abs(c - s) for s, m in count.items())

    for _ in range(n - 1):
        if gini_now() > threshold:
            smallest = min(count)
            small = size[label[first]] == smallest
            small |= size[label[second]] == smallest
            small &= ~used
            e = int(np.argmax(small))
        else:
            while used[pointer]:
                pointer += 1
            e = pointer
        used[e] = True
        a, b = label[first[e]], label[second[e]]
        ca, cb = int(size[a]), int(size[b])
        # remove a and b from the size multiset, add a + b
        for c in (ca, cb):
            count[c] -= 1
            if count[c] == 0:
                del count[c]
            pair_sum -= abs_sum_to(c)
        # after removing ca (its pairs with all others incl. cb) and then cb
        # (its pairs with the rest), the pair (ca, cb) was subtracted once.
        n_clusters -= 1
        c = ca + cb
        pair_sum += abs_sum_to(c)
        count[c] = count.get(c, 0) + 1
        if len(members[a]) < len(members[b]):
            a, b = b, a
        label[members[b]] = a
        members[a].extend(members[b])
        del members[b]
        size[a] = c
        rows.append((min(node[a], node[b]), max(node[a], node[b]), weight[e], c))
        node[a] = n + len(rows) - 1
        merged_edges.append(order[e])
    Z = np.array(rows, dtype=np.float64)
    Z[:, 2] = np.maximum.accumulate(Z[:, 2])
    return Z, np.array(merged_edges)


def single_linkage(first, second, weight, n):
    return genie_linkage(first, second, weight, n, threshold=1.0)


def cut_ignoring_small(Z, k, min_size):
    """The deepest cut whose clusters of at least min_size are k; the small
    components are attached to the big cluster they merge into first."""
    n = Z.shape[0] + 1
    size = np.ones(2 * n - 1, dtype=np.intp)
    for i in range(n - 1):
        size[n + i] = size[int(Z[i, 0])] + size[int(Z[i, 1])]
    # undo merges from the top while the number of big clusters <= k
    best = None
    big = {2 * n - 2}
    for step in range(n - 2, -1, -1):
        node = n + step
        if node in big:
            big.discard(node)
            for child in (int(Z[step, 0]), int(Z[step, 1])):
                if size[child] >= min_size:
                    big.add(child)
            if len(big) == k:
                best = step
            if len(big) > k:
                break
    if best is None:
        return cut_into(Z, k)
    # labels: cut at `best` (merges >= best undone), big clusters keep
    # labels, small components join the big cluster they merge into first.
    labels = cut_into(Z, n - best)
    return relabel_small(Z, labels, best, min_size, n)


def relabel_small(Z, labels, best, min_size, n):
    counts = np.bincount(labels)
    # walk merges from best upwards: a small cluster merging with a big one
    # joins it.
    parent_of = {}
    # map each linkage node at the cut to its label
    comp = {}
    for i in range(n):
        comp.setdefault(labels[i], i)
    out = labels.copy()
    big = counts >= min_size
    # union-find over labels for merges >= best
    rep = np.arange(counts.shape[0])
    node_label = {}
    # node of each sample at the cut: follow merges < best
    owner = np.arange(2 * n - 1)
    lab_of_node = {}
    for i in range(n):
        lab_of_node[i] = labels[i]
    for step in range(best):
        lab_of_node[n + step] = lab_of_node[int(Z[step, 0])]
    bigset = set(np.flatnonzero(big).tolist())
    group = {l: (l if l in bigset else None) for l in range(counts.shape[0])}
    members = {l: [l] for l in range(counts.shape[0])}
    for step in range(best, n - 1):
        la = find_root(rep, lab_of_node[int(Z[step, 0])])
        lb = find_root(rep, lab_of_node[int(Z[step, 1])])
        ga, gb = group[la], group[lb]
        if ga is not None and gb is not None:
            lab_of_node[n + step] = la
            continue  # two big clusters: stop joining them
        rep[lb] = la
        group[la] = ga if ga is not None else gb
        members[la].extend(members.pop(lb))
        lab_of_node[n + step] = la
    final = np.empty(counts.shape[0], dtype=np.intp)
    for l in range(counts.shape[0]):
        r = find_root(rep, l)
        final[l] = group[r] if group[r] is not None else r
    return np.unique(final[labels], return_inverse=True)[1]


def find_root(rep, x):
    while rep[x] != x:
        rep[x] = rep[rep[x]]
        x = rep[x]
    return x


# --------------------------------------------------------------- data
def classic_tables():
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    for name in ("iris", "wine", "breast_cancer", "digits"):
        data = getattr(datasets, f"load_{name}")()
        X = data.data[:, data.data.std(axis=0) > 0]
        y = data.target + 1
        yield "tables", f"{name}_std", StandardScaler().fit_transform(X), [y], {}
        noise = np.random.RandomState(0).normal(0.0, 1e-6 * X.std(), X.shape)
        Xr = X + noise
        Xr = (Xr - Xr.mean(axis=0)) / Xr.std()
        yield "tables", f"{name}_raw", Xr, [y], {}


def sets(folder, max_samples, batteries, tables):
    yield from load_battery(folder, max_samples, batteries)
    if tables:
        yield from classic_tables()


# ------------------------------------------------------------ diagnose
def diag(args):
    import genieclust

    rows = []
    for battery, name, X, partitions, published in sets(
        args.folder, args.max_samples, args.batteries, args.tables
    ):
        row = {"set": f"{battery}/{name}", "n": X.shape[0]}
        Z = unit_free(X)
        n = Z.shape[0]
        m = max(2, int(np.ceil(np.log2(n))))
        t = time.perf_counter()
        f, s, w = euclid_mst(Z)
        row["t_mst"] = time.perf_counter() - t
        t = time.perf_counter()
        L_genie, _ = genie_linkage(f, s, w, n, 0.3)
        row["t_genie"] = time.perf_counter() - t
        L_single, _ = single_linkage(f, s, w, n)
        trees = {"genie": L_genie, "single": L_single}
        for M in args.M:
            core = core_distances(Z, M)
            fm, sm, wm = mr_prim_edges(Z, core)
            trees[f"genieM{M}"] = genie_linkage(fm, sm, wm, n, 0.3)[0]
            trees[f"singleM{M}"] = single_linkage(fm, sm, wm, n)[0]
        for key, L in trees.items():
            row[key] = max(ari(r, cut_into(L, n_clusters_of(r))) for r in partitions)
        for M in args.M:
            row[f"singleM{M}_ig"] = max(
                ari(r, cut_ignoring_small(trees[f"singleM{M}"], n_clusters_of(r), m))
                for r in partitions
            )
        row["single_ig"] = max(
            ari(r, cut_ignoring_small(L_single, n_clusters_of(r), m))
            for r in partitions
        )
        t = time.perf_counter()
        gc = []
        for r in partitions:
            g = genieclust.Genie(n_clusters=n_clusters_of(r), gini_threshold=0.3, M=1)
            gc.append(g.fit_predict(Z))
        row["t_genieclust"] = (time.perf_counter() - t) / len(partitions)
        row["genieclust"] = max(ari(r, l) for r, l in zip(partitions, gc))
        row["own_vs_gc"] = min(
            adjusted_rand_score(l, cut_into(L_genie, n_clusters_of(r)))
            for r, l in zip(partitions, gc)
        )
        row.update({f"pub_{k}": v for k, v in published.items()})
        rows.append(row)
        print(
            " ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in row.items()
                if not k.startswith("pub_")
            ),
            flush=True,
        )
    write_csv(args.csv, rows)


def separation_on(first, second, length, labels, quantile=0.9):
    """boundary_separation with given edge lengths (for MR trees)."""
    side_a, side_b = labels[first], labels[second]
    inside = side_a == side_b
    ratios = []
    for edge in np.flatnonzero(~inside).tolist():
        near = inside & np.isin(side_a, (side_a[edge], side_b[edge]))
        if not near.any():
            return 0.0
        spaced = length[near & (length > 0)]
        spacing = float(np.quantile(spaced, quantile)) if spaced.size else 0.0
        ratios.append(length[edge] / max(spacing, 1e-300))
    return float(min(ratios)) if ratios else float("inf")


def diag_rules(args):
    """Run 1: the statistics of rules R1 and R2 beside the default's fits."""
    from sklearn_rae import RecursiveAutoencoderClustering
    from sklearn_rae._choose_k import cut_persistence, distinct_row_ids

    rows = []
    for battery, name, X, partitions, published in sets(
        args.folder, args.max_samples, args.batteries, args.tables
    ):
        Z = unit_free(X)
        n = Z.shape[0]
        f, s, w = euclid_mst(Z)
        L_genie, _ = genie_linkage(f, s, w, n, 0.3)
        L_genie2 = L_genie.copy()
        L_genie2[:, 2] = L_genie2[:, 2] ** 2
        core = core_distances(Z, 5)
        fm, sm, wm = mr_prim_edges(Z, core)
        L_mr, _ = genie_linkage(fm, sm, wm, n, 0.3)
        row_ids = distinct_row_ids(X)
        for j, r in enumerate(partitions):
            k = n_clusters_of(r)
            row = {"set": f"{battery}/{name}", "part": j, "n": n, "k": k}
            t = time.perf_counter()
            auto = RecursiveAutoencoderClustering(n_clusters=k, random_state=0).fit(X)
            row["t_auto"] = time.perf_counter() - t
            row["kept"] = auto.merge_cost_
            row["auto"] = ari(r, auto.labels_)
            rep = auto.separation_
            row["gap_sep"] = rep["separation"]
            row["gap_small"] = rep["smallest_cluster"]
            gap_kept = rep["persistence"] is None and auto.merge_cost_ == "boundary"
            row["gap_kept"] = gap_kept
            t = time.perf_counter()
            wmf = RecursiveAutoencoderClustering(
                n_clusters=k, merge_cost="whitened_means", random_state=0
            ).fit(X)
            row["t_wm"] = time.perf_counter() - t
            row["wm"] = ari(r, wmf.labels_)
            row["p_wm"] = cut_persistence(X, wmf.linkage_matrix_, k, row_ids)
            row["genie"] = ari(r, cut_into(L_genie, k))
            row["p_genie"] = cut_persistence(X, L_genie2, k, row_ids)
            lab_mr = cut_into(L_mr, k)
            row["genieM5"] = ari(r, lab_mr)
            row["mr_sep"] = separation_on(fm, sm, wm, lab_mr)
            row["mr_small"] = np.bincount(lab_mr).min() / n
            rows.append(row)
            print(" ".join(f"{a}={b:.3f}" if isinstance(b, float) else f"{a}={b}"
                           for a, b in row.items()), flush=True)
    write_csv(args.csv, rows)


def denoised_separation(Z, labels, core, factor=2.0, quantile=0.9):
    """R3's statistic: the gap test on the MST of the core samples."""
    kept = core <= factor * np.median(core)
    Zc = Z[kept]
    f, s, w = euclid_mst(Zc)
    lab = labels[kept]
    if np.unique(lab).shape[0] < np.unique(labels).shape[0]:
        return 0.0, kept.mean()
    return separation_on(f, s, w, lab, quantile), kept.mean()


def diag_r3(args):
    """Run 2: R3's statistic for three candidate partitions."""
    from sklearn_rae import RecursiveAutoencoderClustering

    rows = []
    for battery, name, X, partitions, published in sets(
        args.folder, args.max_samples, args.batteries, args.tables
    ):
        Z = unit_free(X)
        n = Z.shape[0]
        m = max(2, int(np.ceil(np.log2(n))))
        f, s, w = euclid_mst(Z)
        L_a, _ = genie_linkage(f, s, w, n, 0.3)
        core = core_distances(Z, 5)
        fm, sm, wm = mr_prim_edges(Z, core)
        L_b, _ = genie_linkage(fm, sm, wm, n, 0.3)
        L_c, _ = single_linkage(fm, sm, wm, n)
        for j, r in enumerate(partitions):
            k = n_clusters_of(r)
            row = {"set": f"{battery}/{name}", "part": j, "n": n, "k": k}
            auto = RecursiveAutoencoderClustering(n_clusters=k, random_state=0).fit(X)
            row["kept"] = auto.merge_cost_
            row["auto"] = ari(r, auto.labels_)
            rep = auto.separation_
            row["gap_kept"] = rep["persistence"] is None and auto.merge_cost_ == "boundary"
            for key, labels in (
                ("a", cut_into(L_a, k)),
                ("b", cut_into(L_b, k)),
                ("c", cut_ignoring_small(L_c, k, m)),
            ):
                row[key] = ari(r, labels)
                sep, share = denoised_separation(Z, labels, core)
                row[f"sep_{key}"] = sep
                row[f"small_{key}"] = np.bincount(labels).min() / n
            row["core_share"] = share
            rows.append(row)
            print(" ".join(f"{a}={b:.3f}" if isinstance(b, float) else f"{a}={b}"
                           for a, b in row.items()), flush=True)
    write_csv(args.csv, rows)


def autok_sets(folder):
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    for name in ("iris", "wine", "breast_cancer", "digits"):
        data = getattr(datasets, f"load_{name}")()
        yield name + "_std", StandardScaler().fit_transform(data.data), [data.target + 1]
        yield name + "_raw", data.data, [data.target + 1]
    for seed in range(5):
        X, y = datasets.make_blobs(1500, centers=5, random_state=seed)
        yield f"blobs5_{seed}", X, [y + 1]
    for battery, name, X, partitions, _ in load_battery(folder, 4000, ["wut", "graves"]):
        yield f"{battery}/{name}", X, partitions


def autok(args):
    """Run 4/5: n_clusters="auto" picks (whatever _choose_k is on the path)."""
    import warnings

    from sklearn_rae import RecursiveAutoencoderClustering

    rows = []
    for name, X, partitions in autok_sets(args.folder):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = RecursiveAutoencoderClustering(n_clusters="auto", random_state=0)
            model.fit(X)
        ks = sorted({n_clusters_of(r) for r in partitions})
        found = model.n_clusters_ in ks
        row = {
            "set": name,
            "true_k": " ".join(map(str, ks)),
            "auto_k": model.n_clusters_,
            "found": found,
            "ari": max(ari(r, model.labels_) for r in partitions),
            "kept": model.merge_cost_,
            "warned_range": any("range stops" in str(w.message) for w in caught),
            "warned_bound": any("bound of the search" in str(w.message) for w in caught),
        }
        rows.append(row)
        print(" ".join(f"{a}={b:.3f}" if isinstance(b, float) else f"{a}={b}"
                       for a, b in row.items()), flush=True)
    shapes = [r for r in rows if "/" in r["set"]]
    print("battery shapes:", len(shapes), "found", sum(r["found"] for r in shapes),
          "mean ARI", np.mean([r["ari"] for r in shapes]))
    write_csv(args.csv, rows)


def write_csv(path, rows):
    if not path or not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as file:
        w = csv.DictWriter(file, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("mode", choices=["diag", "rules", "r3", "autok"])
    p.add_argument("--max-samples", type=int, default=4000)
    p.add_argument("--batteries", nargs="+")
    p.add_argument("--tables", action="store_true")
    p.add_argument("--M", type=int, nargs="+", default=[5, 10])
    p.add_argument("--csv")
    args = p.parse_args()
    {"diag": diag, "rules": diag_rules, "r3": diag_r3, "autok": autok}[args.mode](args)


if __name__ == "__main__":
    main()
