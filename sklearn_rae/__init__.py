"""Hierarchical clustering with a recursive autoencoder merge criterion.

The estimator :class:`RecursiveAutoencoderClustering` follows scikit-learn's
clusterer API and exports its tree as a SciPy linkage matrix.
"""

from ._estimator import RecursiveAutoencoderClustering

__all__ = ["RecursiveAutoencoderClustering"]
__version__ = "0.1.0"
