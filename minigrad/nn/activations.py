"""Activation layers (Keras names): Activation('relu'), ReLU, Sigmoid, Tanh, GELU, Softmax,
LeakyReLU."""
from __future__ import annotations

from .. import functional as F
from ..checks import number
from .layers import Layer, activation_name

__all__ = ["Activation", "ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LeakyReLU"]


class Activation(Layer):
    """Applies an activation by name: ``Activation('relu')``."""

    def __init__(self, activation, name=None, input_shape=None):
        super().__init__(input_shape=input_shape, name=name, activation=activation)

    def call(self, x):
        return x

    def get_config(self):
        return {"name": self.name, "activation": activation_name(self.activation)}


class _NamedActivation(Activation):
    """An Activation layer whose activation is fixed by the class."""

    act = None

    def __init__(self, name=None, input_shape=None):
        super().__init__(self.act, name=name, input_shape=input_shape)

    def get_config(self):
        return {"name": self.name}


class ReLU(_NamedActivation):
    """max(0, x) as a layer."""
    act = "relu"


class Sigmoid(_NamedActivation):
    """1 / (1 + e^-x) as a layer."""
    act = "sigmoid"


class Tanh(_NamedActivation):
    """tanh(x) as a layer."""
    act = "tanh"


class GELU(_NamedActivation):
    """x Phi(x) as a layer."""
    act = "gelu"


class Softmax(_NamedActivation):
    """Softmax over the last axis as a layer."""
    act = "softmax"


class LeakyReLU(Layer):
    """``x`` if positive else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.3, name=None, input_shape=None):
        super().__init__(input_shape=input_shape, name=name)
        self.negative_slope = number(negative_slope, "LeakyReLU", "negative_slope")

    def call(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}
