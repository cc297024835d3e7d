"""
Benchmark figures
=================

Running time of building a tree against the number of samples. The
performance benchmark in ``benchmarks/`` writes its measurements to
``docs/_static/bench_scaling.csv`` (columns ``n``, ``method``, ``seconds``);
this example plots that file. When the file is absent it times a small run
itself instead, so the figure always shows measurements from one machine and
one run.
"""

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import linkage
from sklearn.cluster import AgglomerativeClustering

from sklearn_rae import RecursiveAutoencoderClustering

# The gallery runs examples from docs/examples; also allow the repository root.
candidates = [
    Path("../_static/bench_scaling.csv"),
    Path("docs/_static/bench_scaling.csv"),
]
csv_path = next((path for path in candidates if path.is_file()), None)


def time_small_run(sizes=(100, 200, 400, 800), n_features=8, repeats=2):
    """Best-of-``repeats`` seconds to build one tree, for a few sizes."""
    rng = np.random.RandomState(0)
    methods = {
        "sklearn-rae (untrained tree)": lambda X: RecursiveAutoencoderClustering(
            max_iter=0, random_state=0
        ).fit(X),
        "scipy average": lambda X: linkage(X, "average"),
        "sklearn Ward": lambda X: AgglomerativeClustering(linkage="ward").fit(X),
    }
    rows = []
    for n in sizes:
        X = rng.randn(n, n_features)
        for method, build in methods.items():
            best = np.inf
            for _ in range(repeats):
                start = time.perf_counter()
                build(X)
                best = min(best, time.perf_counter() - start)
            rows.append({"n": n, "method": method, "seconds": best})
    return pd.DataFrame(rows)


if csv_path is not None:
    timings = pd.read_csv(csv_path)
    source = f"from {csv_path.name}"
else:
    timings = time_small_run()
    source = "a small run timed while building these docs"
print(f"timings {source}")

# %%
# Seconds per tree
# ----------------
table = timings.pivot_table(
    index="n", columns="method", values="seconds", aggfunc="min"
)
print(table.to_string(float_format=lambda s: f"{s:.4f}"))

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
for method in table.columns:
    column = table[method].dropna()
    ax.loglog(column.index, column.to_numpy(), marker="o", label=method)
ax.set_xlabel("number of samples")
ax.set_ylabel("seconds")
ax.set_title(f"Building one tree ({source})")
ax.legend()
plt.show()

# %%
# Ratios
# ------
# Absolute times depend on the machine; ratios measured in one run are what
# carries over. Each method's time divided by the fastest method's at every
# size:
print((table.div(table.min(axis=1), axis=0)).round(1).to_string())
