"""scikit-learn's API conformance checks, for every merge_cost that clusters.

The gradient-trained criteria run with few steps: the checks are about the
API, and each fits dozens of small models.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_rae import RecursiveAutoencoderClustering

SEED_CRITERION_FAILURES = {
    "check_clustering": (
        "merge_cost='cumulative' reproduces the original recursive autoencoder, whose "
        "cost adds both children's scores: every merge with a leaf is cheaper than "
        "one with a subtree, so its trees are size-balanced and ignore the data's "
        "geometry (ARI near 0 on blobs, below the check's 0.4)."
    )
}


def _expected_failed_checks(estimator):
    if estimator.merge_cost == "cumulative":
        return SEED_CRITERION_FAILURES
    return {}


@parametrize_with_checks(
    [
        RecursiveAutoencoderClustering(),
        RecursiveAutoencoderClustering(merge_cost="whitened_means"),
        RecursiveAutoencoderClustering(merge_cost="learned_metric", max_iter=5),
        RecursiveAutoencoderClustering(merge_cost="boundary", max_iter=5),
        RecursiveAutoencoderClustering(merge_cost="adaptive", max_iter=5),
        RecursiveAutoencoderClustering(merge_cost="cumulative"),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
