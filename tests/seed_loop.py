"""The blog post's node class and merge loop, verbatim (Keras 3 layout).

The user guide shows how to run this loop on a fitted model's ``merger_``;
the tests run that snippet. Only the leaves differ from the blog: they are
float64 constants, because ``merger_`` computes in float64.
"""

import tensorflow as tf


class Node:
    def __init__(self, i, embedding, score, l=None, r=None):  # noqa: E741
        self.i = i
        self.score = score
        self.embedding = embedding
        self.left = l
        self.right = r

    def merge(self, other, merger):
        h, c, y = merger([self.embedding, other.embedding])
        score = tf.nn.l2_loss(y - c) + self.score + other.score
        return Node(-1, h, score, self, other)


def merge(x, m):
    while len(x) > 1:
        min_loss, min_node, min_i, min_j = float("inf"), None, 0, 0
        for i in range(len(x)):
            for j in range(len(x)):
                if i < j:
                    node = x[i].merge(x[j], m)
                    if node.score < min_loss:
                        min_node, min_loss, min_i, min_j = node, node.score, i, j
        next_x = x.copy()
        next_x[min_i] = min_node
        x = [next_x[idx] for idx in range(len(x)) if idx != min_j]
    return x[0]
