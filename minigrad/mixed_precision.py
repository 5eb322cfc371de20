"""Mixed precision: compute in float16 (or bfloat16), keep the weights in float32.

Half-precision arithmetic is twice as fast on GPUs with tensor cores and halves the
memory of activations, but float16 holds only about 3 decimal digits and numbers between
6e-8 and 65504. Three parts make training in it work, as in Keras and PyTorch:

1. **Autocast** (:class:`autocast`). Inside ``with autocast('float16'):`` the ops that
   gain from half precision (matrix products, convolutions: Functions whose class says
   ``autocast = "low"``) convert their float32 inputs to float16 first; the ops that need
   float32's range or precision (softmax, log-softmax, the losses, layer and batch
   normalisation, sums, exp, log, pow: ``autocast = "float32"``) convert their float16
   inputs to float32; every other op runs in the dtypes it is given. The decision is
   made in one place, ``Function.apply``. A conversion is an op of the graph, so each
   weight's gradient comes back to it in float32.
2. **Policies** (:class:`Policy`, Keras' names). ``set_global_policy('mixed_float16')``
   before building a model: its layers keep their weights in float32 (the *master
   weights*, which the optimizer updates, with its state, in float32) and run their
   computation under ``autocast('float16')``. A layer's ``dtype_policy`` can be set on its
   own (``layer.dtype_policy = 'float32'`` keeps one layer in float32).
3. **Dynamic loss scaling** (:class:`minigrad.optim.LossScaleOptimizer`). Small gradients
   underflow to zero in float16. The loss is multiplied by a scale S (2**15 at first)
   before backpropagation, so every gradient is S times larger while in float16; the
   optimizer divides by S before its update. When a gradient overflows (inf or NaN), the
   step is skipped (the weights stay as they were) and S is halved; after
   ``dynamic_growth_steps`` clean steps in a row S is doubled. ``Model.compile`` wraps the
   optimizer in it when the model's layers use ``mixed_float16``.

Example:
    >>> mg.mixed_precision.set_global_policy('mixed_float16')
    >>> model = models.Sequential([layers.Dense(256, activation='relu', input_shape=(784,)),
    ...                            layers.Dense(10, activation='softmax')])
    >>> model.compile('adam', 'sparse_categorical_crossentropy')   # loss scaling added
    >>> model.fit(x, y)
    >>> mg.mixed_precision.set_global_policy('float32')

A custom training loop does the same by hand::

    opt = optim.LossScaleOptimizer(optim.Adam(model.parameters(), 1e-3))
    with mg.autocast('float16'):
        loss = F.cross_entropy(model(x), y)      # cross-entropy runs in float32
    opt.zero_grad()
    opt.scale_loss(loss).backward()               # gradients S times larger
    opt.step()                                    # unscaled, checked, applied or skipped

On the CPU NumPy has no fast float16 products (they are slower than float32): there the
policy is for testing what a GPU run will do.
"""
from __future__ import annotations

import functools
from typing import Optional

import numpy as np

from .autograd import _autocast_dtype
from .dtypes import get_default_dtype

__all__ = ["autocast", "Policy", "set_global_policy", "global_policy", "default_policy",
           "half_dtype"]


def half_dtype(name) -> np.dtype:
    """The NumPy dtype of 'float16' or 'bfloat16' (the latter from the optional
    ``ml_dtypes`` package).

    Raises:
        ValueError: for any other name; ImportError when bfloat16 is asked without
            ``ml_dtypes`` installed.
    """
    key = np.dtype(name).name if not isinstance(name, str) else name
    if key == "float16":
        return np.dtype(np.float16)
    if key == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise ImportError("bfloat16 needs the ml_dtypes package "
                              "(pip install ml_dtypes)") from None
        return np.dtype(ml_dtypes.bfloat16)
    raise ValueError(f"autocast computes in 'float16' or 'bfloat16', got {name!r}")


class autocast:
    """Context manager (and decorator): matrix products and convolutions inside run in
    ``dtype`` ('float16' or 'bfloat16'), softmax, losses, normalisation and reductions in
    float32 (see the module docstring). ``enabled=False`` turns autocast off inside an
    autocast region. Thread- and task-local, like ``no_grad``.

    Example:
        >>> with mg.autocast('float16'):
        ...     y = x @ W                  # float16, whatever x and W are stored in
        ...     p = F.softmax(y)           # float32
    """

    def __init__(self, dtype="float16", enabled: bool = True):
        self.dtype = half_dtype(dtype) if enabled else None
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_autocast_dtype.set(self.dtype))
        return self

    def __exit__(self, *exc):
        _autocast_dtype.reset(self._tokens.pop())
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.dtype or "float16", enabled=self.dtype is not None):
                return fn(*args, **kwargs)
        return wrapper


def autocast_dtype() -> Optional[np.dtype]:
    """The dtype autocast computes in here, or None outside autocast."""
    return _autocast_dtype.get()


class Policy:
    """A layer's dtypes, by Keras' names: ``'float32'`` and ``'float64'`` (weights and
    computation in that dtype), ``'mixed_float16'`` and ``'mixed_bfloat16'`` (weights in
    float32, computation under :class:`autocast` in the 16-bit dtype).

    Attributes:
        name: the policy's name.
        variable_dtype: the dtype of the layer's weights.
        compute_dtype: the dtype of its products and convolutions.
    """

    _NAMES = ("float32", "float64", "mixed_float16", "mixed_bfloat16")

    def __init__(self, name: str):
        if isinstance(name, Policy):
            name = name.name
        if name not in self._NAMES:
            hint = (" (training in pure float16 needs float32 master weights: use "
                    "'mixed_float16')" if name in ("float16", "bfloat16") else "")
            raise ValueError(f"unknown dtype policy {name!r}; known: "
                             f"{list(self._NAMES)}{hint}")
        self.name = name
        mixed = name.startswith("mixed_")
        self.variable_dtype = np.dtype(np.float32) if mixed else np.dtype(name)
        self.compute_dtype = half_dtype(name[len("mixed_"):]) if mixed else self.variable_dtype

    @property
    def is_mixed(self) -> bool:
        """True when the computation is in a 16-bit dtype and the weights in float32."""
        return self.compute_dtype != self.variable_dtype

    def scope(self) -> autocast:
        """The autocast region a layer of this policy computes in (autocast off for the
        float32 and float64 policies)."""
        if self.is_mixed:
            return autocast(self.compute_dtype)
        return autocast(enabled=False)

    def __eq__(self, other):
        return isinstance(other, Policy) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f'<Policy "{self.name}">'


_global_policy: list = [None]      # None: the default dtype's policy


def set_global_policy(policy) -> None:
    """Set the policy of the layers built from now on: a name, a :class:`Policy`, or None.
    The default dtype's own policy ('float32' unless changed) and None both restore the
    default: layers that follow the default dtype and any surrounding :class:`autocast`.
    Layers built before keep theirs."""
    policy = None if policy is None else Policy(policy)
    if policy is not None and policy.name == get_default_dtype().name:
        policy = None
    _global_policy[0] = policy


def global_policy() -> Policy:
    """The policy new layers get."""
    return _global_policy[0] or default_policy()


def default_policy() -> Policy:
    """The policy of a layer that has none of its own: the default dtype's ('float32'
    unless changed by ``set_default_dtype``)."""
    return Policy(get_default_dtype().name)


def explicit_global_policy() -> Optional[Policy]:
    """The policy set with :func:`set_global_policy`, or None when none was set (layers
    then follow the default dtype and any surrounding :class:`autocast`)."""
    return _global_policy[0]
