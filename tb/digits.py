"""A small MLP on scikit-learn's bundled digits, compressed for the EIE engine.

The 8 x 8 digit images (pixels 0..16) feed a 64-32-10 ReLU MLP trained in floating point.
Both layers are pruned, weight-shared and encoded by ``gen.compress``; the biases ride on
extra columns so the engine, which computes ``W a`` only, runs the whole network on chip:

- layer 1 sees the raw pixels plus a constant input 16; its weights are the trained ones
  divided by 16 (the network was trained on pixels / 16) with ``b1 / 16`` on the constant
  column, and one extra row whose only weight (on the constant column) is the layer's
  largest, so that after ReLU and the shift it is a constant ``H`` for layer 2;
- layer 2's bias column holds ``b2`` scaled by the hidden layer's fixed-point scale and
  divided by ``H``.

The class is the argmax of layer 2's raw accumulators. The integer model is
``tb.eie_golden.forward`` on the compressed layers, so the RTL must agree with it exactly.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from gen.compress import compress

from .eie_golden import forward
from .golden import requantize

__all__ = ["DigitsModel", "build_model", "load_split"]

HIDDEN = 32
PIXEL_MAX = 16
HIDDEN_FRAC = 8          # fractional bits of the hidden activations on chip


def load_split(seed=0):
    """Digits as integer pixels, split 75/25 with stratification."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    return train_test_split(x.astype(np.int64), y, test_size=0.25, random_state=seed,
                            stratify=y)


@dataclass
class DigitsModel:
    """The trained float network, its compressed layers and how to run them."""

    mlp: object
    layers: list
    relu: list
    shift: list
    act_width: int

    def inputs(self, pixels):
        """Engine inputs: pixels with the constant bias input appended."""
        pixels = np.atleast_2d(pixels)
        return np.hstack([pixels, np.full((len(pixels), 1), PIXEL_MAX, dtype=np.int64)])

    def predict_float(self, pixels):
        return self.mlp.predict(np.atleast_2d(pixels) / PIXEL_MAX)

    def predict_int(self, pixels):
        """Classes from the exact integer model of the compressed network."""
        acc = forward(self.layers, self.inputs(pixels), relu=self.relu, shift=self.shift,
                      act_width=self.act_width)
        return np.argmax(np.asarray(acc, dtype=np.int64), axis=1)


def build_model(x_train, y_train, *, pes, density=(0.5, 0.5), act_width=16, code_width=16,
                seed=0, max_iter=600):
    """Train the MLP and compress it for ``pes`` PEs."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    mlp = MLPClassifier(hidden_layer_sizes=(HIDDEN,), max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        # Reaching max_iter is fine here: the accuracy is what is reported.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x_train / PIXEL_MAX, y_train)
    w1, w2 = mlp.coefs_[0].T, mlp.coefs_[1].T
    b1, b2 = mlp.intercepts_

    m1 = np.zeros((HIDDEN + 1, x_train.shape[1] + 1))
    m1[:HIDDEN, :-1] = w1 / PIXEL_MAX
    m1[:HIDDEN, -1] = b1 / PIXEL_MAX
    m1[HIDDEN, -1] = np.abs(m1).max()
    layer1 = compress(m1, pes=pes, density=density[0], code_width=code_width)
    shift1 = max(0, layer1.frac_bits - HIDDEN_FRAC)
    scale = 2.0 ** (layer1.frac_bits - shift1)        # hidden value 1.0 on chip
    const = int(requantize(np.array([layer1.dense()[HIDDEN, -1] * PIXEL_MAX]), shift=shift1,
                           relu=True, out_width=act_width)[0])
    if const <= 0:
        raise ValueError(f"the bias carrier of layer 1 quantized to {const}; use more "
                         f"code_width or a higher density")
    m2 = np.zeros((w2.shape[0], HIDDEN + 1))
    m2[:, :HIDDEN] = w2
    m2[:, HIDDEN] = b2 * scale / const
    layer2 = compress(m2, pes=pes, density=density[1], code_width=code_width)
    return DigitsModel(mlp=mlp, layers=[layer1, layer2], relu=[True, False],
                       shift=[shift1, None], act_width=act_width)
