"""Keras-style layers: Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dropout,
plus PyTorch's Linear (the activation layers are in :mod:`minigrad.nn.activations`,
BatchNormalization in :mod:`minigrad.nn.normalization`).

A layer builds its weights on first call (or at construction when ``input_shape`` is
given), so ``Dense(64)`` needs no input size. Shapes exclude the batch axis, as in Keras.
"""
from __future__ import annotations

import functools
from typing import Optional

import numpy as np

from .. import backend
from .. import functional as F
from .. import mixed_precision
from ..autograd import backend_array_types
from ..tensor import Tensor
from ..checks import int_pair, number, one_of, positive_int
from . import init as _init
from .module import Module, Parameter
from .weights import assign_weights, read_weights

__all__ = ["Layer", "Dense", "Linear", "Conv2D", "Flatten", "Dropout", "InputLayer",
           "ACTIVATIONS", "get_activation"]

ACTIVATIONS = {
    None: None, "linear": None,
    "relu": F.relu, "sigmoid": F.sigmoid, "tanh": F.tanh, "gelu": F.gelu,
    "softmax": F.softmax, "log_softmax": F.log_softmax, "leaky_relu": F.leaky_relu,
}


def get_activation(activation):
    """An activation function from its Keras name (or a callable as is)."""
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        names = sorted(k for k in ACTIVATIONS if k)
        raise ValueError(f"unknown activation {activation!r}; known: {names}") from None


def activation_name(fn) -> Optional[str]:
    """The name an activation function is known by ('relu', ...), as configs store it."""
    for k, v in ACTIVATIONS.items():
        if v is fn and k is not None:
            return k
    return getattr(fn, "__name__", None)


_counts: dict = {}


def _auto_name(cls_name: str) -> str:
    base = "".join("_" + c.lower() if c.isupper() else c for c in cls_name).lstrip("_")
    base = base.replace("2_d", "2d")
    n = _counts.get(base, 0)
    _counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def _marks_built(build):
    @functools.wraps(build)
    def built(self, *args, **kwargs):       # the subclass's own signature, passed through
        build(self, *args, **kwargs)
        self.built = True
    return built


class Layer(Module):
    """A Module with Keras conventions: lazy ``build(input_shape)``, ``output_shape``,
    a name, an optional ``activation`` applied last, and ``get_config()``.

    Subclasses implement ``build(input_shape)`` (create weights; shapes exclude the batch
    axis), ``call(x)`` and ``compute_output_shape(input_shape)``.

    A layer takes the global dtype policy in force when it is made
    (:func:`minigrad.mixed_precision.set_global_policy`); ``dtype_policy`` changes it.
    """

    def __init__(self, input_shape=None, name: Optional[str] = None, activation=None):
        super().__init__()
        self.name = name or _auto_name(type(self).__name__)
        self.activation = get_activation(activation)
        self.built = False
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self._device = backend.as_device("cpu")
        self._policy = mixed_precision.explicit_global_policy()

    # subclasses override
    def build(self, input_shape) -> None:
        self.built = True

    def __init_subclass__(cls, **kwargs):
        # A subclass's build() marks the layer built when it returns, as Keras' does: a
        # layer built by calling build() directly is not built again (new weights) by its
        # first call, and its buffers (moving statistics) are in its state dict.
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _marks_built(cls.__dict__["build"])

    def call(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {"name": self.name}

    def _on_device(self, device) -> None:
        self._device = device

    @property
    def dtype_policy(self) -> mixed_precision.Policy:
        """The layer's :class:`~minigrad.mixed_precision.Policy`: its weights' dtype
        (``variable_dtype``) and the dtype it computes in (``compute_dtype``). Set it to
        a policy or a name ('float32', 'mixed_float16', ...) before the layer is built
        (the weights' dtype cannot change after), or to None to follow the default."""
        return self._policy or mixed_precision.default_policy()

    @dtype_policy.setter
    def dtype_policy(self, policy) -> None:
        new = None if policy is None else mixed_precision.Policy(policy)
        if self.built and self.parameters():
            want = (new or mixed_precision.default_policy()).variable_dtype
            if want != self.variable_dtype:
                raise ValueError(f"layer '{self.name}': its weights are {self.variable_dtype} "
                                 f"already; a {want} policy must be set before the layer is "
                                 "built")
        for m in self.modules():              # with its sub-layers (attention's Dense...)
            if isinstance(m, Layer):
                m._policy = new

    @property
    def compute_dtype(self) -> np.dtype:
        """The dtype of this layer's products and convolutions (see dtype_policy)."""
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> np.dtype:
        """The dtype of this layer's weights: that of the weights it has, once built."""
        ps = self.parameters()
        return ps[0].dtype if ps else self.dtype_policy.variable_dtype

    def add_weight(self, shape=(), initializer=None, dtype=None, trainable: bool = True,
                   name: Optional[str] = None) -> Parameter:
        """A new weight for ``build`` (Keras' ``add_weight``; assign it to an attribute).

        Args:
            shape: its shape (a tuple of positive integers; ``()`` for a scalar).
            initializer: a name from :mod:`minigrad.nn.init` ('glorot_uniform', the
                default, 'zeros', 'ones', 'he_normal', 'random_normal', ...) or a
                callable ``(shape, dtype) -> array``.
            dtype: default: the layer's variable dtype (see ``dtype_policy``).
            trainable: False makes a weight that training never updates (a counter, a
                statistic), even after ``layer.trainable = True``.
            name: the Parameter's name.
        """
        if not isinstance(trainable, bool):
            raise TypeError(f"layer '{self.name}': add_weight: trainable must be True or "
                            f"False, got {trainable!r}")
        shape = tuple(shape)
        if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0
                   for n in shape):
            raise ValueError(f"layer '{self.name}': add_weight: shape must be a tuple of "
                             f"positive integers, got {shape!r}")
        shape = tuple(int(n) for n in shape)
        dtype = np.dtype(dtype or self.dtype_policy.variable_dtype)
        host = _init.get("glorot_uniform" if initializer is None else initializer)(shape, dtype)
        p = Parameter.from_array(backend.move(host, self._device), name=name)
        if not trainable:
            p.requires_grad = False
            self._non_trainable = self._non_trainable + (p,)
        return p

    def ensure_built(self, input_shape) -> None:
        """Build for ``input_shape`` (no batch axis) unless already built."""
        if not self.built:
            self.build(tuple(input_shape))         # marks the layer built
            self.input_shape = tuple(input_shape)

    def _as_input(self, x) -> Tensor:
        """Arrays (host or device) become Tensors on this layer's device."""
        if isinstance(x, Tensor):
            return x
        if not isinstance(x, backend_array_types()):
            x = np.asarray(x)
        return Tensor._wrap(backend.move(x, self._device))

    def prepare(self, x) -> Tensor:
        """``x`` as a floating Tensor on this layer's device, the layer built for it and
        its shape checked."""
        x = self._as_input(x)
        if x.dtype.kind != "f":
            raise TypeError(f"layer '{self.name}': input has dtype {x.dtype}; convert it to "
                            "float32 first (uint8 pixel arithmetic would wrap around)")
        self.ensure_built(x.shape[1:])
        self._check_input(x.shape)
        if self._policy is not None and not self._policy.is_mixed and \
                x.dtype.itemsize < self._policy.compute_dtype.itemsize:
            x = x.astype(self._policy.compute_dtype)   # a float32 layer after float16 ones
        return x

    def forward(self, x, apply_activation: bool = True):
        """Run the layer (building it on first call), then its activation unless
        ``apply_activation`` is False (a loss then takes the output before it)."""
        y = self.call(self.prepare(x))
        if apply_activation and self.activation is not None:
            y = self.activation(y)
        return y

    def _check_input(self, shape) -> None:
        pass

    def _buffer_names(self):
        # a pruned layer's mask (minigrad.compress.prune) is saved with its weights
        return ("kernel_mask",) if getattr(self, "kernel_mask", None) is not None else ()

    #: layers whose output for one sample depends on the others in the batch
    batch_coupled = False

    @property
    def output_shape(self):
        if self.input_shape is None:
            return None
        return (None,) + tuple(self.compute_output_shape(self.input_shape))

    def count_params(self) -> int:
        """Number of weights in this layer."""
        return int(sum(p.size for p in self.parameters()))

    def get_weights(self):
        """Host copies of the layer's weights, trainable and not, in Keras' order (kernel,
        bias, then statistics such as BatchNormalization's moving mean and variance)."""
        return read_weights(self)

    def set_weights(self, weights) -> None:
        """Replace the weights, in :meth:`get_weights`' order (the count and every shape
        checked before any change; each keeps its dtype and device)."""
        assign_weights(
            self, weights,
            lambda have, got: ValueError(f"layer '{self.name}' has {have} weights, got {got}"),
            lambda i, slot, have, got: ValueError(
                f"layer '{self.name}': weight shape {got} does not match {have}"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name='{self.name}')"


def _shape_mismatch(layer, expected, got, hint=""):
    return ValueError(
        f"Input to layer '{layer.name}' ({type(layer).__name__}) is incompatible: expected "
        f"shape {expected}, received shape {got}" + (f" ({hint})" if hint else ""))


class InputLayer(Layer):
    """Declares the input shape of a Sequential model (no computation)."""

    def __init__(self, input_shape, name=None):
        super().__init__(input_shape=input_shape, name=name)

    def call(self, x):
        return x

    def get_config(self):
        return {"name": self.name, "input_shape": list(self.input_shape)}


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``.

    Args:
        units: output features.
        activation: name ('relu', 'softmax', ...) or callable, or None.
        use_bias: add a bias vector.
        kernel_initializer, bias_initializer: initialiser names.
        input_shape: (features,) to build at construction.

    Shapes: (N, ..., in) -> (N, ..., units) (the last axis is transformed, as in Keras);
    kernel (in, units), bias (units,).
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 input_shape=None, name=None, input_dim: Optional[int] = None):
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        super().__init__(input_shape=input_shape, name=name, activation=activation)
        self.units = positive_int(units, "Dense", "units")
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        if self.input_shape is not None:
            self.ensure_built(self.input_shape)

    def build(self, input_shape):
        if len(input_shape) == 0:
            raise ValueError(
                f"layer '{self.name}' (Dense) expects inputs of shape (batch, ..., features), "
                "got one number per sample; reshape it to (batch, 1)")
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer)

    def _check_input(self, shape):
        if len(shape) < 2 or shape[-1] != self.kernel.shape[0]:
            expected = (None,) + tuple(self.input_shape[:-1]) + (self.kernel.shape[0],)
            raise _shape_mismatch(self, expected, tuple(shape))

    def compute_kernel(self):
        """The kernel this layer computes with: its weights (a quantized layer's int8
        values times their scales, see ``minigrad.compress``)."""
        return self.kernel

    def linear(self, x, activation=None):
        """``F.linear`` with this layer's weights (``activation='relu'`` fused: the
        fusion planner uses it)."""
        return F.linear(x, self.compute_kernel(), self.bias if self.use_bias else None,
                        activation=activation)

    def call(self, x):
        return self.linear(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {"name": self.name, "units": self.units,
                "activation": activation_name(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
                "input_shape": list(self.input_shape) if self.input_shape else None}


class Linear(Dense):
    """PyTorch-style ``Linear(in_features, out_features, bias=True)``: a Dense layer
    built for ``in_features`` (weights are stored as (in, out))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, name=None):
        super().__init__(out_features, use_bias=bias, input_shape=(in_features,), name=name)


class Conv2D(Layer):
    """2-D convolution, Keras layout: inputs (N, H, W, C), kernel (kh, kw, C, filters).

    Args:
        filters: output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: 'valid' (no padding) or 'same' (output size ceil(H / s)).
        activation, use_bias, kernel_initializer, bias_initializer, input_shape: as Dense.
        data_format: 'channels_last' (N, H, W, C) or 'channels_first' (N, C, H, W).
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 activation=None, use_bias: bool = True, data_format: str = "channels_last",
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name, activation=activation)
        self.filters = positive_int(filters, "Conv2D", "filters")
        self.kernel_size = int_pair(kernel_size, "Conv2D", "kernel_size")
        self.strides = int_pair(strides, "Conv2D", "strides")
        one_of(padding, "Conv2D", "padding", ("valid", "same"))
        one_of(data_format, "Conv2D", "data_format", ("channels_last", "channels_first"))
        self.padding, self.data_format, self.use_bias = padding, data_format, use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        if self.input_shape is not None:
            self.ensure_built(self.input_shape)

    @property
    def _layout(self):
        return "NHWC" if self.data_format == "channels_last" else "NCHW"

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"layer '{self.name}' (Conv2D) expects inputs of shape "
                             f"(batch, H, W, C), got feature shape {tuple(input_shape)}")
        c = input_shape[-1] if self.data_format == "channels_last" else input_shape[0]
        kh, kw = self.kernel_size
        self.kernel = self.add_weight((kh, kw, c, self.filters), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer)

    def _check_input(self, shape):
        c = self.kernel.shape[2]
        if self.data_format == "channels_last":
            expect, got_c = (None, None, None, c), shape[-1]
        else:
            expect, got_c = (None, c, None, None), (shape[1] if len(shape) > 1 else None)
        if len(shape) != 4 or got_c != c:
            hint = ""
            if len(shape) == 4 and self.data_format == "channels_last" and shape[1] == c:
                hint = ("the input looks channels-first (N, C, H, W); this layer is "
                        "channels_last: transpose the data to (N, H, W, C) or build the "
                        "layer with data_format='channels_first'")
            elif len(shape) == 4 and self.data_format == "channels_first" and shape[-1] == c:
                hint = ("the input looks channels-last (N, H, W, C); this layer is "
                        "channels_first")
            raise _shape_mismatch(self, expect, tuple(shape), hint)

    def call(self, x):
        return self.convolve(x)

    def compute_kernel(self):
        """The kernel this layer computes with (see ``Dense.compute_kernel``)."""
        return self.kernel

    def convolve(self, x, activation=None, max_pool=None):
        """This layer's convolution of ``x`` by :func:`F.conv2d`, with its fused options
        (the fusion planner uses them: ``minigrad.nn.fusion``)."""
        b = self.bias if self.use_bias else None
        kernel = self.compute_kernel()
        if self.data_format == "channels_last":
            return F.conv2d(x, kernel, b, self.strides, self.padding, layout="NHWC",
                            activation=activation, max_pool=max_pool)
        # channels_first: PyTorch's layout, kernel (O, C, kh, kw) as a view of ours
        return F.conv2d(x, F.transpose(kernel, 3, 2, 0, 1), b, self.strides,
                        self.padding, layout="NCHW", activation=activation,
                        max_pool=max_pool)

    def compute_output_shape(self, input_shape):
        from ..functional.conv import conv_output_size
        if self.data_format == "channels_last":
            H, W = input_shape[0], input_shape[1]
        else:
            H, W = input_shape[1], input_shape[2]
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        if self.padding == "same":
            Ho, Wo = -(-H // sh), -(-W // sw)
        else:
            Ho, Wo = conv_output_size(H, kh, sh), conv_output_size(W, kw, sw)
        if Ho <= 0 or Wo <= 0:
            raise ValueError(f"layer '{self.name}' (Conv2D): kernel {self.kernel_size} does "
                             f"not fit input {H}x{W}")
        if self.data_format == "channels_last":
            return (Ho, Wo, self.filters)
        return (self.filters, Ho, Wo)

    def get_config(self):
        return {"name": self.name, "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "activation": activation_name(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
                "input_shape": list(self.input_shape) if self.input_shape else None}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...)."""

    def call(self, x):
        return F.flatten(x, 1)

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)


class Dropout(Layer):
    """Inverted dropout while training (rate = fraction dropped); identity in eval mode."""

    def __init__(self, rate: float, name=None, input_shape=None):
        super().__init__(input_shape=input_shape, name=name)
        self.rate = number(rate, "Dropout", "rate", low=0.0, high=1.0, high_open=True)

    def call(self, x):
        return F.dropout(x, self.rate, self.training)

    def get_config(self):
        return {"name": self.name, "rate": self.rate}
