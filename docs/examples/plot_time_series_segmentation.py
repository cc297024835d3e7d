"""
Segmenting a multivariate time series
=====================================

A sequence is clustered by merging only neighbouring segments: passing the
chain graph ``0 - 1 - ... - n-1`` as ``connectivity`` makes every merge join
two adjacent runs of samples, the sequence recursive autoencoder of the
literature. Every flat cluster is then a contiguous segment of the series.

The series below has five regimes with different means in four channels and
Gaussian noise. The segments found are compared with the true regimes by the
adjusted Rand index, next to Ward's linkage under the same constraint.
"""

# %%
# A synthetic series with regime changes
# --------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from sklearn_rae import RecursiveAutoencoderClustering

rng = np.random.RandomState(0)
lengths = [120, 80, 150, 90, 160]
n_samples, n_channels = sum(lengths), 4
regimes = np.repeat(np.arange(len(lengths)), lengths)
means = np.cumsum(rng.uniform(2, 4, size=(len(lengths), n_channels)), axis=0)
means *= rng.choice([-1, 1], size=(1, n_channels))
series = means[regimes] + rng.normal(size=(n_samples, n_channels))

# %%
# Merging neighbours only
# -----------------------
# The chain graph as a sparse adjacency matrix: sample ``i`` may merge with
# ``i - 1`` and ``i + 1``. Training uses contiguous windows of the series.
chain = sp.diags(
    [1, 1], [-1, 1], shape=(n_samples, n_samples), format="csr", dtype=np.int8
)

model = RecursiveAutoencoderClustering(
    n_clusters=len(lengths), connectivity=chain, random_state=0
)
segments = model.fit_predict(series)
ward = AgglomerativeClustering(
    n_clusters=len(lengths), connectivity=chain, linkage="ward"
).fit_predict(series)

print(f"recursive autoencoder: ARI {adjusted_rand_score(regimes, segments):.3f}")
print(f"Ward, same chain:      ARI {adjusted_rand_score(regimes, ward):.3f}")
print("segment boundaries:", np.flatnonzero(np.diff(segments)) + 1)
print("true boundaries:   ", np.cumsum(lengths)[:-1])

# %%
# The series coloured by segment
# ------------------------------
fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, layout="constrained")
time = np.arange(n_samples)
for ax, labels, title in [
    (axes[0], regimes, "true regimes"),
    (axes[1], segments, "recursive autoencoder segments"),
]:
    for channel in range(n_channels):
        ax.plot(time, series[:, channel], color="0.8", lw=0.6)
    for label in np.unique(labels):
        inside = labels == label
        ax.scatter(time[inside], series[inside, 0], s=4, label=f"{label}")
    ax.set_title(title)
axes[1].set_xlabel("time step")
plt.show()
