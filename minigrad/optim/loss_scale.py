"""Dynamic loss scaling for mixed-precision training (see :mod:`minigrad.mixed_precision`).

In float16 a gradient smaller than about 6e-8 becomes zero. Multiplying the loss by a
scale S before backpropagation makes every gradient S times larger on its way through
the float16 ops; the update then uses gradient / S. A scale too large makes some
gradient overflow to inf instead, and the algorithm (Micikevicius et al., "Mixed
Precision Training", 2018; Keras' and PyTorch's defaults) keeps S as large as it can:

* every step: if all gradients are finite, divide them by S and apply the inner
  optimizer's update; else skip the step (the weights and the optimizer's state stay as
  they were) and halve S;
* after ``dynamic_growth_steps`` finite steps in a row, double S.
"""
from __future__ import annotations

from .. import backend
from ..backend import get_array_module
from ..checks import number, positive_int
from .optimizers import Optimizer, get

__all__ = ["LossScaleOptimizer"]

#: Below this scale every float16 gradient would be zero (2**-24 is float16's smallest
#: positive number): gradients that still overflow there come from the model, not from
#: the scale.
MIN_SCALE = 2.0 ** -24


class LossScaleOptimizer(Optimizer):
    """Wrap an optimizer with dynamic loss scaling (Keras' ``LossScaleOptimizer``).

    Args:
        inner_optimizer: the optimizer that makes the updates (an instance or a name).
        initial_scale: the first loss scale S (default 2**15).
        dynamic: False keeps S fixed (steps with non-finite gradients are still skipped).
        dynamic_growth_steps: double S after this many finite steps in a row (2000).

    Attributes:
        loss_scale: the current S; ``fit`` multiplies the loss's gradient by it.
        skipped_steps: how many steps were skipped for non-finite gradients.

    Everything else (``learning_rate``, ``lr``, ``iterations``, ``state``, ``params``) is
    the inner optimizer's: a skipped step does not count in its ``iterations``.
    """

    _OWN = frozenset({"inner_optimizer", "loss_scale", "dynamic", "dynamic_growth_steps",
                      "initial_scale", "skipped_steps", "_good_steps"})

    def __init__(self, inner_optimizer, initial_scale: float = 2.0 ** 15,
                 dynamic: bool = True, dynamic_growth_steps: int = 2000):
        # no Optimizer.__init__: the parameters, the state and the schedule are the inner
        # optimizer's (attributes not in _OWN are read from and written to it)
        where = "LossScaleOptimizer"
        inner = get(inner_optimizer)
        if isinstance(inner, LossScaleOptimizer):
            raise TypeError(f"{where}: the optimizer is already a LossScaleOptimizer")
        self.inner_optimizer = inner
        self.initial_scale = number(initial_scale, where, "initial_scale", low=0.0,
                                    low_open=True)
        self.loss_scale = self.initial_scale
        self.dynamic = bool(dynamic)
        self.dynamic_growth_steps = positive_int(dynamic_growth_steps, where,
                                                 "dynamic_growth_steps")
        self.skipped_steps = 0
        self._good_steps = 0

    def __getattr__(self, name):
        # only called for names not found on the instance or its class
        if name.startswith("__") or name == "inner_optimizer":
            raise AttributeError(name)
        return getattr(self.inner_optimizer, name)

    def __setattr__(self, name, value):
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:                               # learning_rate, lr, ...: the inner optimizer's
            setattr(self.inner_optimizer, name, value)

    def bind(self, params) -> "LossScaleOptimizer":
        self.inner_optimizer.bind(params)
        return self

    def zero_grad(self) -> None:
        self.inner_optimizer.zero_grad()

    def scale_loss(self, loss):
        """``loss * loss_scale``: backpropagate this one instead of the loss."""
        return loss * self.loss_scale

    def step(self) -> bool:
        """Unscale the gradients and apply the inner optimizer's update, or skip the
        step when a gradient is inf or NaN; then adjust the scale. Returns True when the
        update was applied.

        Raises:
            FloatingPointError: when the gradients are not finite even with the scale at
                ``MIN_SCALE``: the model's own numbers overflow (check the data, the
                learning rate, or keep the layer that overflows in float32).
        """
        grads = [p.grad.data for p in self.inner_optimizer.params if p.grad is not None]
        if grads and not _all_finite(grads):
            self.skipped_steps += 1
            self._good_steps = 0
            if self.dynamic:
                if self.loss_scale / 2 < MIN_SCALE:
                    raise FloatingPointError(
                        f"LossScaleOptimizer: the gradients are inf or NaN even with the "
                        f"loss scale at {self.loss_scale:g}: the model's numbers overflow "
                        "(check the data and the learning rate, or keep the layer that "
                        "overflows in float32: layer.dtype_policy = 'float32')")
                self.loss_scale /= 2
            return False
        inv = 1.0 / self.loss_scale
        for g in grads:                   # gradients own their arrays (engine rule)
            g *= g.dtype.type(inv)
        self.inner_optimizer.step()
        if self.dynamic:
            self._good_steps += 1
            if self._good_steps >= self.dynamic_growth_steps:
                self.loss_scale *= 2
                self._good_steps = 0
        return True

    def get_config(self) -> dict:
        return {"name": "LossScaleOptimizer",
                "inner_optimizer": self.inner_optimizer.get_config(),
                "initial_scale": self.initial_scale, "dynamic": self.dynamic,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    def __repr__(self):
        return (f"LossScaleOptimizer({type(self.inner_optimizer).__name__}, "
                f"loss_scale={self.loss_scale:g})")


def _all_finite(grads) -> bool:
    """True when every element of every gradient is finite: one device read in all."""
    xp = get_array_module(grads[0])
    flags = xp.stack([xp.isfinite(g).all() for g in grads])
    return bool(backend.to_host(flags.all()))
