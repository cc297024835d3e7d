"""Hierarchical clustering with a recursive autoencoder merge criterion.

The estimator :class:`RecursiveAutoencoderClustering` follows scikit-learn's
clusterer API and exports its tree as a SciPy linkage matrix;
:func:`plot_dendrogram` and :func:`linkage_to_frame` show that tree.
"""

from ._estimator import RecursiveAutoencoderClustering
from ._plotting import linkage_to_frame, plot_dendrogram
from ._registry import register_criterion
from .metrics import dendrogram_purity

__all__ = [
    "RecursiveAutoencoderClustering",
    "dendrogram_purity",
    "linkage_to_frame",
    "plot_dendrogram",
    "register_criterion",
]
__version__ = "0.1.0"
