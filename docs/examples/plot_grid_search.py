"""
Choosing the number of clusters: GridSearchCV and ``n_clusters="auto"``
=======================================================================

:meth:`~sklearn_rae.RecursiveAutoencoderClustering.score` is the mean
log-likelihood per sample of the Gaussian mixture that the fitted tree and its
cut define (one component per flat cluster, a shared covariance, each sample
scored with the cluster that explains it best). Higher is better, it needs no
labels and it depends on the cut, so
:class:`~sklearn.model_selection.GridSearchCV` without ``scoring`` can choose
``n_clusters`` on held-out folds. ``n_clusters="auto"`` makes the same kind of
choice in a single fit, from the information criterion of every cut of its
own tree.
"""

# %%
# A grid search over ``n_clusters``
# ---------------------------------
# The wine data: 178 wines of three cultivars, 13 chemical measurements,
# standardised in the pipeline.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering, plot_dendrogram

X, y = load_wine(return_X_y=True)
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        ("rae", RecursiveAutoencoderClustering(max_iter=30, random_state=0)),
    ]
)
search = GridSearchCV(
    pipe,
    {"rae__n_clusters": range(1, 7)},
    cv=KFold(3, shuffle=True, random_state=0),
)
search.fit(X)  # no y: the score is unsupervised

results = pd.DataFrame(search.cv_results_)[
    ["param_rae__n_clusters", "mean_test_score", "std_test_score", "rank_test_score"]
]
print(results.to_string(index=False))
print("best:", search.best_params_)

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.errorbar(
    results["param_rae__n_clusters"].astype(int),
    results["mean_test_score"],
    yerr=results["std_test_score"],
    marker="o",
    capsize=3,
)
ax.set_xlabel("n_clusters")
ax.set_ylabel("held-out log-likelihood per sample")
ax.set_title("3-fold cross-validation on wine")
plt.show()

# %%
# The refitted best pipeline clusters all the data. The score chose the
# number of clusters without the labels; the cultivars say how well:
labels = search.best_estimator_[-1].labels_
print(
    "adjusted Rand index of the best pipeline against the cultivars:",
    round(adjusted_rand_score(y, labels), 3),
)

# %%
# One fit: ``n_clusters="auto"``
# ------------------------------
# Every cut of one tree is available at no extra cost, so ``"auto"`` computes
# the information criterion (:meth:`~sklearn_rae.RecursiveAutoencoderClustering.bic`)
# of each cut on the training data and keeps the lowest.
# ``cut_n_clusters_`` and ``cut_bic_`` hold it for every candidate: a clear
# minimum is a clear choice, a flat stretch is not.
model = RecursiveAutoencoderClustering(n_clusters="auto", max_iter=30, random_state=0)
model.fit(StandardScaler().fit_transform(X))
print("chosen number of clusters:", model.n_clusters_)
print(
    "adjusted Rand index against the cultivars:",
    round(adjusted_rand_score(y, model.labels_), 3),
)

# %%
# The criterion of every cut beside the tree, cut where it is lowest. With 13
# features and 178 samples the in-sample criterion is a weaker guide than the
# cross-validated score (the shared covariance alone has 91 parameters):
# compare the two choices above.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
shown = model.cut_n_clusters_ <= 15
left.plot(model.cut_n_clusters_[shown], model.cut_bic_[shown], marker="o")
left.axvline(model.n_clusters_, color="tab:red", linestyle="--", label="chosen")
left.set_xlabel("number of clusters (cut of the fitted tree)")
left.set_ylabel("BIC on the training data")
left.legend()
plot_dendrogram(model, ax=right)
heights = model.distances_
cut = heights[len(heights) - model.n_clusters_ : len(heights) - model.n_clusters_ + 2]
right.axhline(np.mean(cut), color="tab:red", linestyle="--")
right.set_title(f"the tree, cut into {model.n_clusters_} clusters")
plt.show()
