"""Optimizers, each from its documented formula (g is the gradient, t the step count):

* Gradient descent / SGD:  theta <- theta - lr * g
* Momentum (Keras form):   v <- mu v - lr g;  theta <- theta + v
  (Nesterov:               theta <- theta + mu v - lr g)
* Adam (Kingma & Ba):      m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
                           m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t);
                           theta <- theta - lr m_hat / (sqrt(v_hat) + eps)
  The seed article's Adam omits the bias correction (m_hat = m, v_hat = v):
  ``Adam(bias_correction=False)`` reproduces it exactly.
* AdamW:                   Adam, then theta <- theta - lr * wd * theta (decoupled decay)
* RMSprop:                 s <- rho s + (1 - rho) g^2;  theta <- theta - lr g / (sqrt(s) + eps)

State is created lazily with ``xp.zeros_like(param)``, on the parameter's device, and all
updates are in place (the parameters' arrays keep their identity). On the CPU, states that
decay where the gradient is zero (momentum, Adam's m; v and RMSprop's s when epsilon >=
1e-10) are cleared of values near the subnormal range every ``FLUSH_EVERY`` steps, as
flush-to-zero hardware would: those values change no update, and cost 10-100x more.
"""
from __future__ import annotations

from typing import Iterable, Optional

from .. import tuning
from ..checks import number
from ..backend import get_array_module
from ..kernels.elementwise import fused
from ..nn.module import Parameter
from .clip import global_norm

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get"]

#: Every this many steps, decaying states are flushed of values near the subnormal range
#: (``Optimizer._flushed``); none of them can decay from the threshold into that range in
#: between (Adam's m by 0.9 ** 16 = 0.19 at most, against 2 ** -24).
FLUSH_EVERY = 16

#: A second moment (Adam's v, RMSprop's s) is flushed only when epsilon is at least this:
#: the square root of what is flushed (below 2.4e-38, or 2.4e-35 after Adam's bias
#: correction) is then under 5e-18, below float32's resolution of epsilon.
_EPS_FLUSH = 1e-10


class Optimizer:
    """Base class. ``step()`` walks the parameters that have a gradient and calls
    ``update_one(param, grad_array, state, lr)`` for each.

    Takes parameters PyTorch-style (``SGD(model.parameters(), lr=0.1)``, or parameter
    groups ``[{"params": [...], "weight_decay": 0.0}, ...]`` that set the weight decay of
    some parameters) or none, Keras-style (``Adam(learning_rate=1e-3)``; ``compile`` binds
    the model's). ``learning_rate`` may be a float or a schedule ``step -> lr``.

    Clipping (Keras' options): ``clipnorm`` scales each gradient to norm at most
    ``clipnorm``; ``global_clipnorm`` scales all of them by one factor
    ``clipnorm / max(global norm, clipnorm)`` (see :mod:`minigrad.optim.clip`).
    """

    #: The factor ``fit`` multiplies the loss's gradient by before backpropagation (1 here;
    #: the current loss scale in :class:`~minigrad.optim.LossScaleOptimizer`).
    loss_scale = 1.0

    def __init__(self, params=None, learning_rate=0.01, lr=None, weight_decay: float = 0.0,
                 clipnorm: Optional[float] = None, global_clipnorm: Optional[float] = None):
        if isinstance(params, (int, float)):      # Keras: Adam(0.001)
            params, learning_rate = None, params
        if lr is not None:
            learning_rate = lr
        where = type(self).__name__
        if not callable(learning_rate):
            learning_rate = number(learning_rate, where, "learning_rate", low=0.0)
        self.learning_rate = learning_rate
        self.weight_decay = number(weight_decay, where, "weight_decay", low=0.0)
        self.clipnorm = None if clipnorm is None else number(clipnorm, where, "clipnorm",
                                                              low=0.0, low_open=True)
        self.global_clipnorm = None if global_clipnorm is None else number(
            global_clipnorm, where, "global_clipnorm", low=0.0, low_open=True)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(f"{where}: pass clipnorm or global_clipnorm, not both")
        #: {parameter: weight decay} for parameters whose group sets one
        self.decays = {}
        self.iterations = 0
        #: {parameter: its state dict}, keyed by the parameter object itself (PyTorch's
        #: ``optimizer.state[p]``); only parameters that are bound have state.
        self.state = {}
        self.params = []
        if params is not None:
            self.bind(params)

    def bind(self, params: Iterable) -> "Optimizer":
        """Set the parameters to optimise; the state of parameters that stay is kept, that
        of the others dropped.

        Raises:
            ValueError: on an empty list (a model whose layers are not built yet has no
                parameters), a duplicated parameter, or a tensor that needs no grad.
        """
        params, decays = self._ungroup(params)
        if not params:
            raise ValueError(
                "optimizer got an empty parameter list: nothing to train. If the model "
                "builds its weights on first call, build it first (give input_shape, call "
                "model.build(shape) or run one batch through it), or pass the optimizer to "
                "compile(), which binds the parameters when they exist")
        seen = {}
        for i, p in enumerate(params):
            if not (getattr(p, "requires_grad", False) or isinstance(p, Parameter)):
                # (a frozen Parameter may stay in the list, as in PyTorch: no update)
                raise ValueError(f"optimizer: parameter {i} is a tensor that does not "
                                 "require grad")
            if p in seen:
                raise ValueError(f"optimizer: parameters {seen[p]} and {i} are the same "
                                 "tensor; pass each parameter once")
            seen[p] = i
        self.state = {p: st for p, st in self.state.items() if p in seen}
        self.params, self.decays = params, decays
        return self

    def _ungroup(self, params):
        """(parameters, {parameter: weight decay}) from a list of parameters and groups."""
        flat, decays = [], {}
        for item in params:
            if not isinstance(item, dict):
                flat.append(item)
                continue
            unknown = sorted(set(item) - {"params", "weight_decay"})
            if "params" not in item or unknown:
                raise ValueError(f"{type(self).__name__}: a parameter group is a dict with "
                                 f"'params' and optionally 'weight_decay', got keys "
                                 f"{sorted(item)}")
            group = list(item["params"])
            flat += group
            if "weight_decay" in item:
                wd = number(item["weight_decay"], type(self).__name__, "weight_decay",
                            low=0.0)
                decays.update((p, wd) for p in group)
        return flat, decays

    def decay(self, p) -> float:
        """The weight decay of parameter ``p`` (its group's, else the optimizer's)."""
        return self.decays.get(p, self.weight_decay) if self.decays else self.weight_decay

    @property
    def lr(self) -> float:
        """The learning rate for the next step (schedules evaluated at ``iterations``)."""
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @lr.setter
    def lr(self, value) -> None:
        self.learning_rate = value

    def zero_grad(self) -> None:
        """Forget the gradients of the optimised parameters."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient (schedules read ``iterations``)."""
        if self.iterations == 0:
            tuning.training_step_begins()
        lr = self.lr
        self.iterations += 1
        scale = self._global_clip_factor()
        for p in self.params:
            if p.grad is None:
                continue
            g = p.grad.data
            if scale is not None:
                g = g * g.dtype.type(scale)
            if self.clipnorm is not None:
                xp = get_array_module(g)
                norm = xp.sqrt((g * g).sum())
                g = g * xp.minimum(1.0, self.clipnorm / (norm + 1e-12))
            st = self.state.get(p)
            if st is None:
                st = self.state[p] = {}
            self.update_one(p, g, st, lr)
        if self.iterations % FLUSH_EVERY == 0:
            flushed = self._flushed()
            for st in self.state.values():
                for key, binades in flushed.items():
                    if key in st:
                        tuning.flush_tiny(st[key], binades)

    def _global_clip_factor(self):
        """``global_clipnorm / max(norm, global_clipnorm)`` over every gradient, or None
        (no clipping asked, or nothing to clip)."""
        if self.global_clipnorm is None:
            return None
        norm = global_norm(p.grad.data for p in self.params if p.grad is not None)
        return None if norm <= self.global_clipnorm else self.global_clipnorm / norm

    def _flushed(self) -> dict:
        """{state key: binades above the smallest normal float}: the states that decay
        where the gradient is zero, and below what they are set to zero (on the CPU, every
        ``FLUSH_EVERY`` steps; see ``tuning.flush_tiny``)."""
        return {}

    def update_one(self, p, g, state, lr) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        lr = self.learning_rate
        cfg = {"name": type(self).__name__, "learning_rate": lr if not callable(lr) else self.lr,
               "weight_decay": self.weight_decay}
        if self.clipnorm is not None:
            cfg["clipnorm"] = self.clipnorm
        if self.global_clipnorm is not None:
            cfg["global_clipnorm"] = self.global_clipnorm
        return cfg


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2
    weight decay (added to the gradient: g <- g + wd * theta, as PyTorch's SGD).

    Plain gradient descent is ``SGD(momentum=0)``: theta <- theta - lr * g.
    """

    def __init__(self, params=None, learning_rate=0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, lr=None, clipnorm=None,
                 global_clipnorm=None):
        super().__init__(params, learning_rate, lr, weight_decay, clipnorm, global_clipnorm)
        momentum = number(momentum, "SGD", "momentum", low=0.0)
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), nesterov

    def update_one(self, p, g, state, lr):
        xp = get_array_module(g)
        wd = self.decay(p)
        if wd:
            g = g + wd * p.data
        if self.momentum == 0:
            p.data -= lr * g
            return
        v = state.get("v")
        if v is None:
            v = state["v"] = xp.zeros_like(p.data)
        v *= self.momentum
        v -= lr * g
        if self.nesterov:
            p.data += self.momentum * v - lr * g
        else:
            p.data += v

    def _flushed(self):
        # v is added to the parameter as it is: below 2e-31 (float32) it changes no
        # parameter larger than 1e-23
        return {"v": 24}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba; Keras defaults: eps = 1e-7).

    Args:
        learning_rate: step size (float or schedule).
        beta_1, beta_2: decay rates of the first and second moment estimates.
        epsilon: added to sqrt(v_hat).
        bias_correction: False reproduces the seed article's formula
            theta <- theta - lr m / (sqrt(v) + eps).
        weight_decay: L2 penalty added to the gradient (Adam) or decoupled (AdamW).
    """

    decoupled = False

    def __init__(self, params=None, learning_rate=0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, bias_correction: bool = True,
                 weight_decay: float = 0.0, lr=None, clipnorm=None, betas=None, eps=None,
                 global_clipnorm=None):
        super().__init__(params, learning_rate, lr, weight_decay, clipnorm, global_clipnorm)
        if betas is not None:
            beta_1, beta_2 = betas
        if eps is not None:
            epsilon = eps
        where = type(self).__name__
        self.beta_1 = number(beta_1, where, "beta_1", 0.0, 1.0, high_open=True)
        self.beta_2 = number(beta_2, where, "beta_2", 0.0, 1.0, high_open=True)
        self.epsilon = number(epsilon, where, "epsilon", low=0.0)
        self.bias_correction = bias_correction

    def update_one(self, p, g, state, lr):
        xp = get_array_module(g)
        wd = self.decay(p)
        if wd and not self.decoupled:
            g = g + wd * p.data
        m = state.get("m")
        if m is None:
            m = state["m"] = xp.zeros_like(p.data)
            state["v"] = xp.zeros_like(p.data)
            state["t"] = 0
        v = state["v"]
        state["t"] += 1
        t = state["t"]
        b1, b2 = self.beta_1, self.beta_2
        if self.bias_correction:
            c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        else:
            c1 = c2 = 1.0
        if self.decoupled and wd:
            p.data -= (lr * wd) * p.data
        # m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
        # theta <- theta - lr * (m / c1) / (sqrt(v / c2) + eps)      (in place, one kernel
        # on GPUs)
        fused("adam_step", p.data)(p.data, g, m, v, b1, b2, lr / c1, 1.0 / c2,
                                          self.epsilon)

    def _flushed(self):
        # m below 2e-31 (float32) makes steps under lr * 2e-31 / (0.1 * eps) (2e-23 lr at
        # Keras' eps), and lr * m would be subnormal; v: see _EPS_FLUSH
        return {"m": 24, "v": 1} if self.epsilon >= _EPS_FLUSH else {"m": 24}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "bias_correction": self.bias_correction}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter; default wd 0.004 as Keras)."""

    decoupled = True

    def __init__(self, params=None, learning_rate=0.001, weight_decay: float = 0.004, **kw):
        super().__init__(params, learning_rate, weight_decay=weight_decay, **kw)


class RMSprop(Optimizer):
    """RMSprop (Keras defaults rho = 0.9, eps = 1e-7)."""

    def __init__(self, params=None, learning_rate=0.001, rho: float = 0.9,
                 epsilon: float = 1e-7, weight_decay: float = 0.0, lr=None, clipnorm=None,
                 global_clipnorm=None):
        super().__init__(params, learning_rate, lr, weight_decay, clipnorm, global_clipnorm)
        self.rho = number(rho, "RMSprop", "rho", 0.0, 1.0, high_open=True)
        self.epsilon = number(epsilon, "RMSprop", "epsilon", low=0.0)

    def update_one(self, p, g, state, lr):
        xp = get_array_module(g)
        wd = self.decay(p)
        if wd:
            g = g + wd * p.data
        s = state.get("s")
        if s is None:
            s = state["s"] = xp.zeros_like(p.data)
        s *= self.rho
        s += (1 - self.rho) * (g * g)
        denom = xp.sqrt(s)
        denom += self.epsilon
        p.data -= lr * g / denom

    def _flushed(self):
        return {"s": 1} if self.epsilon >= _EPS_FLUSH else {}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(identifier) -> Optimizer:
    """An optimizer from a Keras name ('adam', 'sgd', 'rmsprop', 'adamw') or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; known: {sorted(_BY_NAME)}")
