"""
Model selection with a Pipeline and GridSearchCV
================================================

:meth:`~sklearn_rae.RecursiveAutoencoderClustering.score` is minus the mean
reconstruction error per merge of the tree built on held-out data (for the
default criterion, Ward's cost in the learned embedding scaled to unit
volume); higher is better and it needs no labels. So
:class:`~sklearn.model_selection.GridSearchCV` can choose hyperparameters
without a ``scoring`` argument.
"""

# %%
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering

X, y = load_wine(return_X_y=True)
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        (
            "rae",
            RecursiveAutoencoderClustering(n_clusters=3, random_state=0),
        ),
    ]
)
search = GridSearchCV(
    pipe,
    {"rae__shrinkage": [0.1, 0.3, 0.6, 1.0]},
    cv=KFold(3, shuffle=True, random_state=0),
)
search.fit(X)  # no y: the score is unsupervised

# %%
# Every candidate's cross-validated score:
results = pd.DataFrame(search.cv_results_)[
    ["param_rae__shrinkage", "mean_test_score", "std_test_score", "rank_test_score"]
]
print(results.to_string(index=False))
print("best:", search.best_params_)

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.errorbar(
    results["param_rae__shrinkage"].astype(float),
    results["mean_test_score"],
    yerr=results["std_test_score"],
    marker="o",
    capsize=3,
)
ax.set_xlabel("shrinkage")
ax.set_ylabel("score (minus mean merge loss)")
ax.set_title("3-fold cross-validation on wine")
plt.show()

# %%
# The refitted best pipeline clusters all the data. The score chose the
# encoder that summarises held-out data best; whether its clusters match the
# wine cultivars is a different question, answered here by the labels.
labels = search.best_estimator_[-1].labels_
print(
    "adjusted Rand index of the best pipeline against the cultivars:",
    round(adjusted_rand_score(y, labels), 3),
)
