"""scikit-learn's API conformance checks."""

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


UNTRAINED_TREE = {
    "check_non_transformer_estimators_n_iter": (
        "merge_cost='auto' keeps the untrained boundary tree where its flat "
        "clusters are separated by gaps, as on the check's blobs: n_iter_ is 0."
    )
}


def _expected_failed_checks(estimator):
    if estimator.merge_cost == "cumulative":
        return SEED_CRITERION_FAILURES
    if estimator.merge_cost == "auto":
        return UNTRAINED_TREE
    return {}


@parametrize_with_checks(
    [
        RecursiveAutoencoderClustering(),
        RecursiveAutoencoderClustering(merge_cost="cumulative"),
        RecursiveAutoencoderClustering(merge_cost="whitened_means"),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
