"""Weight initialisers (Keras names), drawn on the seeded host generator.

* glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))   (Keras' default)
* glorot_normal:  N(0, 2 / (fan_in + fan_out)) truncated at 2 sigma
* he_uniform:     U(-l, l), l = sqrt(6 / fan_in)
* he_normal:      N(0, 2 / fan_in) truncated at 2 sigma
* lecun_uniform:  U(-l, l), l = sqrt(3 / fan_in)
* zeros, ones
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend

__all__ = ["fans", "get", "INITIALIZERS"]


def fans(shape):
    """(fan_in, fan_out) of a kernel: Dense (in, out) or Conv (kh, kw, in, out)."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _uniform(limit_fn):
    def init(shape, dtype):
        fi, fo = fans(shape)
        lim = limit_fn(fi, fo)
        return backend.host_rng().uniform(-lim, lim, size=shape).astype(dtype)
    return init


def _truncated_normal(var_fn):
    def init(shape, dtype):
        fi, fo = fans(shape)
        # stddev of a normal truncated at 2 sigma is 0.8796 of the untruncated one
        std = math.sqrt(var_fn(fi, fo)) / 0.87962566103423978
        rng = backend.host_rng()
        out = rng.standard_normal(size=shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = rng.standard_normal(size=int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * std).astype(dtype)
    return init


INITIALIZERS = {
    "glorot_uniform": _uniform(lambda fi, fo: math.sqrt(6.0 / (fi + fo))),
    "xavier_uniform": _uniform(lambda fi, fo: math.sqrt(6.0 / (fi + fo))),
    "he_uniform": _uniform(lambda fi, fo: math.sqrt(6.0 / fi)),
    "lecun_uniform": _uniform(lambda fi, fo: math.sqrt(3.0 / fi)),
    "glorot_normal": _truncated_normal(lambda fi, fo: 2.0 / (fi + fo)),
    "he_normal": _truncated_normal(lambda fi, fo: 2.0 / fi),
    # Keras' RandomUniform() and RandomNormal() defaults
    "uniform": lambda shape, dtype: backend.host_rng().uniform(-0.05, 0.05, size=shape)
    .astype(dtype),
    "normal": lambda shape, dtype: (backend.host_rng().standard_normal(size=shape) * 0.05)
    .astype(dtype),
    "zeros": lambda shape, dtype: np.zeros(shape, dtype),
    "ones": lambda shape, dtype: np.ones(shape, dtype),
}
INITIALIZERS["random_uniform"] = INITIALIZERS["uniform"]     # Keras' string names
INITIALIZERS["random_normal"] = INITIALIZERS["normal"]


def get(name):
    """An initialiser ``(shape, dtype) -> host array`` by name (or a callable as is)."""
    if callable(name):
        return name
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown initializer {name!r}; known: {sorted(INITIALIZERS)}") from None
