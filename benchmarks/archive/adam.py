"""Keras' Adam against the package's NumPy copy of its update rule.

The merge encoder's weights are a few small arrays; training applies one Adam
step per tree. This script times 100 steps on a 10 x 10 embedding (the default
criterion's weights on 10 features) with ``keras.optimizers.Adam`` (a fresh
optimizer per fit, as each fit would need) and with
:class:`sklearn_rae._adam.Adam`, and checks that the two follow the same
trajectory.

    PYTHONPATH=$PWD python benchmarks/adam.py
"""

import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    import keras
    import tensorflow as tf

    from sklearn_rae._adam import Adam

    d, steps = 10, 100
    gradient = np.random.RandomState(0).randn(d, d)

    def keras_fit():
        variable = tf.Variable(np.eye(d))
        optimizer = keras.optimizers.Adam(1e-2)
        start = time.perf_counter()
        for _ in range(steps):
            optimizer.apply_gradients([(tf.constant(gradient), variable)])
        return time.perf_counter() - start, variable.numpy()

    def numpy_fit():
        weights, optimizer = {"kernel_embed": np.eye(d)}, Adam(1e-2)
        start = time.perf_counter()
        for _ in range(steps):
            weights = optimizer.apply(weights, {"kernel_embed": gradient})
        return time.perf_counter() - start, weights["kernel_embed"]

    print(f"| fit | keras.optimizers.Adam ({steps} steps) | NumPy Adam | ratio |")
    print("|---|---|---|---|")
    for fit in range(3):
        (keras_seconds, keras_weights), (numpy_seconds, numpy_weights) = (
            keras_fit(),
            numpy_fit(),
        )
        print(
            f"| {fit} | {keras_seconds * 1e3:.0f} ms | {numpy_seconds * 1e3:.2f} ms "
            f"| {keras_seconds / numpy_seconds:.0f}x |"
        )
    difference = np.abs(keras_weights - numpy_weights).max()
    print(f"\nlargest difference of the weights after {steps} steps: {difference:.1e}")


if __name__ == "__main__":
    main()
