"""Batch normalisation (Keras' ``BatchNormalization``)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from ..checks import number
from ..tensor import Tensor
from .layers import Layer

__all__ = ["BatchNormalization"]


class _BatchNormTrain(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over the batch (and spatial) axes.

    Backward (per channel, m = samples per channel, xhat the normalised input):
    gx = gamma / sqrt(var + eps) * (gy - mean(gy) - xhat * mean(gy * xhat)).
    """

    autocast = "float32"

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        mean = x.mean(axis=self.axes, keepdims=True)
        var = x.var(axis=self.axes, keepdims=True)
        inv = 1.0 / xp.sqrt(var + self.eps)
        xhat = (x - mean) * inv
        self.xhat, self.inv, self.gamma = xhat, inv, gamma
        self.batch_mean, self.batch_var = mean, var
        return xhat * gamma + beta

    def backward(self, gy):
        need = self.needs_input_grad
        xhat = self.xhat
        ggamma = (gy * xhat).sum(axis=self.axes, keepdims=True) if need[1] else None
        gbeta = gy.sum(axis=self.axes, keepdims=True) if need[2] else None
        gx = None
        if need[0]:
            m_gy = gy.mean(axis=self.axes, keepdims=True)
            m_gyx = (gy * xhat).mean(axis=self.axes, keepdims=True)
            gx = (self.gamma * self.inv) * (gy - m_gy - xhat * m_gyx)
        return gx, ggamma, gbeta


class BatchNormalization(Layer):
    """Batch normalisation over the last axis (Keras defaults: momentum 0.99, eps 1e-3).

    Training: normalise with the batch statistics and update the moving averages
    ``moving = momentum * moving + (1 - momentum) * batch``. Inference: use the moving
    averages.
    """

    batch_coupled = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 name=None, input_shape=None):
        super().__init__(input_shape=input_shape, name=name)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ValueError(f"BatchNormalization: axis must be a non-zero integer (axis 0 "
                             f"is the batch), got {axis!r}")
        self.axis = axis
        self.momentum = number(momentum, "BatchNormalization", "momentum", 0.0, 1.0)
        self.epsilon = number(epsilon, "BatchNormalization", "epsilon", low=0.0,
                              low_open=True)
        if self.input_shape is not None:
            self.ensure_built(self.input_shape)

    def build(self, input_shape):
        # self.axis counts the batch axis (Keras), input_shape does not
        i = self.axis if self.axis < 0 else self.axis - 1
        if not -len(input_shape) <= i < len(input_shape):
            raise ValueError(f"layer '{self.name}' (BatchNormalization): axis {self.axis} is "
                             f"out of range for inputs of shape (batch, "
                             f"{', '.join(map(str, input_shape))})")
        c = input_shape[i]
        self.gamma = self.add_weight((c,), "ones")
        self.beta = self.add_weight((c,), "zeros")
        dt = self.gamma.dtype
        self.moving_mean = backend.move(np.zeros(c, dt), self._device)
        self.moving_variance = backend.move(np.ones(c, dt), self._device)

    def _buffer_names(self):
        return ("moving_mean", "moving_variance") if self.built else ()

    def call(self, x):
        axis = self.axis % x.ndim
        axes = tuple(i for i in range(x.ndim) if i != axis)
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        g, b = self.gamma.reshape(shape), self.beta.reshape(shape)
        if self.training and self.trainable:     # frozen (Keras): inference mode
            fn = _BatchNormTrain(axes, self.epsilon)
            y = fn.apply(x, g, b)
            mom = self.momentum
            bm = fn.batch_mean.reshape(-1)
            bv = fn.batch_var.reshape(-1)
            dt = self.moving_mean.dtype
            self.moving_mean = mom * self.moving_mean + (1 - mom) * bm.astype(dt)
            self.moving_variance = mom * self.moving_variance + (1 - mom) * bv.astype(dt)
            return y
        xp = get_array_module(x.data)
        inv = 1.0 / xp.sqrt(self.moving_variance + self.epsilon)
        mean = Tensor._wrap(self.moving_mean.reshape(shape))
        return (x - mean) * Tensor._wrap(inv.reshape(shape)) * g + b

    def get_config(self):
        return {"name": self.name, "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon}
