"""minigrad.functional (conventionally imported as ``F``): every differentiable op.

Ops are grouped by family, one module each: arithmetic, reduce, shape, linalg,
activation, loss, conv, transformer (embedding, layer normalisation, attention).
"""
from .activation import dropout, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .arithmetic import (abs, add, clip, div, exp, log, maximum, minimum, mul, neg, pow,
                         sqrt, sub, where)
from .conv import avg_pool2d, conv2d, max_pool2d
from .linalg import linear, matmul
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits,
                   categorical_crossentropy, cross_entropy, mse_loss, nll_loss)
from .reduce import argmax, argmin, logsumexp, max, mean, min, sum, var
from .transformer import (attention, causal_mask, embedding, layer_norm,
                          scaled_dot_product_attention)
from .shape import (broadcast_to, concatenate, expand_dims, flatten, pad, reshape, squeeze,
                    stack, sum_to, transpose)

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "dropout",
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip",
    "maximum", "minimum", "where", "conv2d", "max_pool2d", "avg_pool2d", "matmul",
    "linear", "mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "categorical_crossentropy", "sum", "mean", "var",
    "max", "min", "argmax", "argmin", "logsumexp", "reshape", "transpose", "broadcast_to",
    "sum_to", "concatenate", "stack", "pad", "flatten", "squeeze", "expand_dims",
]
