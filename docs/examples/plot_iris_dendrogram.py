"""
A dendrogram of iris
====================

Cluster the iris flowers with a recursive autoencoder, draw the tree with
:func:`~sklearn_rae.plot_dendrogram` and look at the last merges as a table
with :func:`~sklearn_rae.linkage_to_frame`.
"""

# %%
# Fit
# ---
# The merge costs are reconstruction errors, so the features are standardized
# first. The default criterion, ``"auto"``, builds the boundary criterion's tree
# and keeps it where the flat clusters are separated by gaps; the iris species
# touch, so it fits ``"whitened_means"``, which trains the merge encoder's
# embedding exactly (a few hundredths of a second on iris, no TensorFlow).
import matplotlib.pyplot as plt
from sklearn.datasets import load_iris
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import (
    RecursiveAutoencoderClustering,
    linkage_to_frame,
    plot_dendrogram,
)

iris = load_iris()
X = StandardScaler().fit_transform(iris.data)
model = RecursiveAutoencoderClustering(n_clusters=3, random_state=0)
model.fit(X)
print(f"kept {model.merge_cost_!r}; gap rule {model.separation_}")
print(
    f"{model.n_iter_} training steps, tree objective "
    f"{model.loss_curve_[0]:.3f} -> {model.loss_curve_[-1]:.3f}"
)
print(
    "adjusted Rand index against the species:",
    round(adjusted_rand_score(iris.target, model.labels_), 3),
)

# %%
# The tree
# --------
# 150 leaves are too many to read, so the dendrogram shows the last 30 merged
# nodes; the numbers in parentheses are their sizes. Each flat cluster has its
# own colour.
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
plot_dendrogram(model, ax=ax)
ax.set_title(f"iris, merge_cost='auto' (kept {model.merge_cost_!r})")
plt.show()

# %%
# Pass ``truncate_mode=None`` for every leaf, or any other argument of
# :func:`scipy.cluster.hierarchy.dendrogram`, for example ``p`` for the number
# of nodes shown.
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
plot_dendrogram(model, ax=ax, p=12)
plt.show()

# %%
# The top merges dwarf the rest: ``height_scale="sqrt"`` (the scale of
# distances, for Ward-type costs) or ``"log"`` shows the structure inside the
# clusters. The tick labels are still merge costs.
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
plot_dendrogram(model, ax=ax, height_scale="log")
plt.show()

# %%
# The tree as a table
# -------------------
# One row per merge: the node it creates, the two nodes it merges (ids below
# 150 are samples), its height and the number of samples under it.
frame = linkage_to_frame(model)
print(frame.tail(8).to_string(index=False))

# %%
# Training curve
# --------------
# ``loss_curve_`` holds the tree objective at every gradient step.
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(range(1, model.n_iter_ + 1), model.loss_curve_)
ax.set_xlabel("gradient step")
ax.set_ylabel("tree objective")
plt.show()
