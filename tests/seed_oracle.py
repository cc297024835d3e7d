"""An independent, naive port of the original recursive autoencoder's merge loop.

It follows the blog post's ``merge`` line by line (every pair ``i < j`` of the
list evaluated at every merge, strict ``<`` so ties go to the first pair, the
merged node takes position ``i`` and position ``j`` is removed), in float64
NumPy instead of one Keras call per pair. The tests compare the package's
trees with it.
"""

import numpy as np


def seed_merge(X, weights):
    """Greedy tree of the seed's ``merge``; returns rows (left id, right id, score)."""
    kernel_encode, bias_encode = weights["kernel_encode"], weights["bias_encode"]
    kernel_decode, bias_decode = weights["kernel_decode"], weights["bias_decode"]
    n = len(X)
    nodes = [(i, np.asarray(X[i], dtype=np.float64), 0.0) for i in range(n)]
    rows = []
    next_id = n
    while len(nodes) > 1:
        min_loss, min_i, min_j, min_h = float("inf"), 0, 0, None
        for i in range(len(nodes)):
            for j in range(len(nodes)):
                if i < j:
                    c = np.concatenate([nodes[i][1], nodes[j][1]])
                    h = c @ kernel_encode + bias_encode
                    o = h @ kernel_decode + bias_decode
                    score = 0.5 * np.sum((o - c) ** 2) + nodes[i][2] + nodes[j][2]
                    if score < min_loss:
                        min_loss, min_i, min_j, min_h = score, i, j, h
        rows.append((nodes[min_i][0], nodes[min_j][0], min_loss))
        nodes[min_i] = (next_id, min_h, min_loss)
        next_id += 1
        del nodes[min_j]
    return np.array(rows).reshape(-1, 3)


def random_weights(n_features, rng, bias_scale=0.1):
    """Glorot-uniform kernels and small random biases."""
    d = n_features
    limit = np.sqrt(6.0 / (3 * d))
    return {
        "kernel_encode": rng.uniform(-limit, limit, (2 * d, d)),
        "bias_encode": rng.normal(scale=bias_scale, size=d),
        "kernel_decode": rng.uniform(-limit, limit, (d, 2 * d)),
        "bias_decode": rng.normal(scale=bias_scale, size=2 * d),
    }
