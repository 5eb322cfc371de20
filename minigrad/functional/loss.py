"""Losses: MSE, cross-entropy (fused with log-softmax), NLL, binary cross-entropy.

The formulas are the seed article's:

* MSE = (1/n) sum_i (y_i - yhat_i)^2
* Cross entropy = -sum_i y_i log(yhat_i)  (per sample; averaged over the batch)

Cross-entropy from logits is ONE op: forward log-softmax by max shift, backward
(softmax - onehot) / N, so ``cross_entropy([[1e4, 0]], [1])`` is exactly 1e4.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor, as_array
from .activation import sigmoid_array
from .arithmetic import _as_tensor, clip, log
from .reduce import mean as _mean
from .reduce import sum as _sum

__all__ = ["mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "categorical_crossentropy",
           "check_class_targets"]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return _mean(loss)
    if reduction == "sum":
        return _sum(loss)
    return loss


def _elementwise_target(target, pred: Tensor, name: str):
    """The target of an elementwise loss, which must have the prediction's shape."""
    t = _target_array(target, pred)
    if tuple(t.shape) != pred.shape:
        raise ValueError(f"{name}: target shape {tuple(t.shape)} does not match prediction "
                         f"shape {pred.shape}")
    return t.astype(pred.dtype, copy=False)


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _target_array(target, like: Tensor):
    """The target as an array on ``like``'s device (never part of the graph)."""
    if isinstance(target, Tensor):
        arr = target.data
        if target.device != like.device:
            raise RuntimeError(f"target is on {target.device} but the prediction is on "
                               f"{like.device}")
        return arr
    return as_array(target, device=like.device, copy=False)


def check_class_targets(t, num_classes: int) -> None:
    """Raise ValueError unless every label in ``t`` is in ``[0, num_classes)``.

    Runs on every backend (NumPy would accept -1 and CuPy wraps out-of-range indices
    silently); on a GPU it costs one small device-to-host read.
    """
    if t.size == 0:
        return
    xp = get_array_module(t)
    lo, hi = xp.min(t), xp.max(t)
    lo, hi = int(lo), int(hi)
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"class label {bad} is out of range for {num_classes} classes "
                         f"(labels must be in [0, {num_classes - 1}])")


def _class_target(logits: Tensor, target, check: bool):
    """Validate a target for (N, C) outputs: int labels (N,) or probabilities (N, C)."""
    t = _target_array(target, logits)
    if logits.ndim != 2:
        raise ValueError(f"expected outputs of shape (N, C), got {logits.shape}")
    n, c = logits.shape
    if t.dtype.kind == "b":
        raise TypeError(
            f"class targets have dtype bool (shape {tuple(t.shape)}): a mask, not labels. "
            "Pass integer class indices (for example target.astype(int)) or float "
            "probabilities")
    if t.dtype.kind in "iu":
        if t.shape != (n,):
            raise ValueError(
                f"integer class targets must have shape ({n},) for outputs of shape "
                f"{logits.shape}, got {tuple(t.shape)}"
                + (" (one-hot targets must be floating point)" if t.shape == (n, c) else ""))
        if check:
            check_class_targets(t, c)
        return t, True
    if t.shape != (n, c):
        raise ValueError(
            f"probability/one-hot targets must have the outputs' shape {logits.shape}, got "
            f"{tuple(t.shape)}" + (" (integer labels need an integer dtype)"
                                   if t.shape == (n,) else ""))
    return t.astype(logits.dtype, copy=False), False


class CrossEntropy(Function):
    """loss_i = logsumexp(x_i) - x_i[t_i] (labels) or -sum_c t_ic log_softmax(x_i)_c;
    d loss_i / d x_i = softmax(x_i) * sum_c t_ic - t_i.

    ``keep`` (labels only): a 0/1 weight per row; rows with 0 (``ignore_index``) have loss
    and gradient 0 and the mean is over the kept rows."""

    autocast = "float32"

    def __init__(self, target, is_index, reduction, keep=None):
        self.t, self.is_index, self.reduction = target, is_index, reduction
        self.keep = keep

    def forward(self, x):
        xp = get_array_module(x)
        s = x - x.max(axis=1, keepdims=True)
        logp = s - xp.log(xp.exp(s).sum(axis=1, keepdims=True))
        self.logp = logp
        n = x.shape[0]
        if self.is_index:
            loss = -logp[xp.arange(n), self.t]
        else:
            loss = -(self.t * logp).sum(axis=1)
        if self.keep is not None:
            loss *= self.keep
        if self.reduction == "mean":
            count = self._count()          # NaN when every row is ignored, as PyTorch
            return loss.sum() / x.dtype.type(count) if count else \
                xp.asarray(xp.nan, dtype=x.dtype)
        if self.reduction == "sum":
            return loss.sum()
        return loss

    def _count(self) -> int:
        """How many rows the mean is over (the kept ones; one host read with ``keep``)."""
        if self.keep is None:
            return self.logp.shape[0]
        if not hasattr(self, "count"):
            self.count = int(self.keep.sum())
        return self.count

    def _scale(self, gy):
        if self.reduction == "mean":
            return gy * (1.0 / max(self._count(), 1))
        if self.reduction == "sum":
            return gy
        return gy.reshape(-1, 1)

    def backward(self, gy):
        xp = get_array_module(gy)
        g = xp.exp(self.logp)
        n = g.shape[0]
        if self.is_index:
            g[xp.arange(n), self.t] -= 1
        else:
            g *= self.t.sum(axis=1, keepdims=True)
            g -= self.t
        if self.keep is not None:
            g *= self.keep[:, None]
        g *= self._scale(gy)
        return g

    def backward_graph(self, gy):
        from .activation import softmax
        from .shape import reshape
        xp = get_array_module(self.logp)
        x = self.inputs[0]
        t = self.t
        if self.is_index:
            t = xp.eye(x.shape[1], dtype=x.dtype)[t]
        g = softmax(x, 1) * Tensor._wrap(t.sum(axis=1, keepdims=True)) - Tensor._wrap(t)
        if self.keep is not None:
            g = g * Tensor._wrap(self.keep[:, None])
        if self.reduction == "mean":
            return g * (gy * (1.0 / max(self._count(), 1)))
        if self.reduction == "sum":
            return g * gy
        return g * reshape(gy, (-1, 1))


def cross_entropy(logits, target, reduction: str = "mean", check_targets: bool = True,
                  ignore_index: int = -100) -> Tensor:
    """Softmax cross-entropy from unnormalised scores, fused and stable.

    loss_i = -sum_c y_ic log softmax(x_i)_c; with integer labels ``t`` this is
    ``logsumexp(x_i) - x_i[t_i]``.

    Args:
        logits: (N, C) scores.
        target: integer labels (N,) in [0, C), or probabilities / one-hot (N, C).
        reduction: ``'mean'`` (over N), ``'sum'`` or ``'none'`` (shape (N,)).
        check_targets: range-check integer labels (on GPU one small read).
        ignore_index: a label value whose rows count for nothing (loss 0, no gradient);
            the mean is over the other rows (NaN when there are none), as PyTorch. With
            ``check_targets=False`` a negative ``ignore_index`` is not looked for.

    Example:
        >>> F.cross_entropy(mg.tensor([[1e4, 0.0]]), mg.tensor([1])).item()
        10000.0
    """
    _check_reduction(reduction)
    x = _as_tensor(logits)
    t = _target_array(target, x)
    keep = None
    # check_targets=False promises labels in [0, C): a negative ignore_index cannot occur,
    # and looking for it would cost a host read on a GPU at every training step
    if t.dtype.kind in "iu" and ignore_index is not None and (check_targets or
                                                              ignore_index >= 0):
        xp = get_array_module(t)
        ignored = t == ignore_index
        if bool(ignored.any()):
            keep = (~ignored).astype(x.dtype)
            t = xp.where(ignored, 0, t)
    t, is_index = _class_target(x, t, check_targets)
    return CrossEntropy(t, is_index, reduction, keep).apply(x)


def nll_loss(log_probs, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer labels given log-probabilities (N, C):
    loss_i = -log_probs[i, t_i]."""
    _check_reduction(reduction)
    x = _as_tensor(log_probs)
    t, is_index = _class_target(x, target, True)
    if not is_index:
        raise ValueError("nll_loss takes integer class labels; use cross_entropy for "
                         "probability targets")
    xp = get_array_module(x.data)
    loss = -x[xp.arange(x.shape[0]), t]
    return _reduce(loss, reduction)


def mse_loss(pred, target, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(1/n) sum (y - yhat)^2``; shapes must match exactly."""
    _check_reduction(reduction)
    p = _as_tensor(pred)
    t = Tensor._wrap(_target_array(target, p)) if not isinstance(target, Tensor) else target
    if t.shape != p.shape:
        raise ValueError(f"mse_loss: target shape {t.shape} does not match prediction "
                         f"shape {p.shape}")
    if t.dtype != p.dtype and not t.requires_grad:
        t = Tensor._wrap(t.data.astype(p.dtype))
    d = p - t
    return _reduce(d * d, reduction)


_EPS = 1e-7


def binary_cross_entropy(prob, target, reduction: str = "mean") -> Tensor:
    """``-[t log p + (1 - t) log(1 - p)]`` with p clipped to [1e-7, 1 - 1e-7] (as Keras)."""
    _check_reduction(reduction)
    p = _as_tensor(prob)
    t = Tensor._wrap(_elementwise_target(target, p, "binary_cross_entropy"))
    pc = clip(p, _EPS, 1 - _EPS)
    loss = -(t * log(pc) + (1 - t) * log(1 - pc))
    return _reduce(loss, reduction)


class BCEWithLogits(Function):
    """loss = max(z, 0) - z t + log(1 + e^-|z|);  d loss / dz = sigmoid(z) - t."""

    autocast = "float32"

    def __init__(self, t):
        self.t = t

    def forward(self, z):
        xp = get_array_module(z)
        self.z = z
        return xp.maximum(z, 0) - z * self.t + xp.log1p(xp.exp(-xp.abs(z)))

    def backward(self, gy):
        return gy * (sigmoid_array(self.z) - self.t)

    def backward_graph(self, gy):
        from .activation import sigmoid
        return gy * (sigmoid(self.inputs[0]) - Tensor._wrap(self.t))


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable op."""
    _check_reduction(reduction)
    z = _as_tensor(logits)
    t = _elementwise_target(target, z, "binary_cross_entropy_with_logits")
    return _reduce(BCEWithLogits(t).apply(z), reduction)


def categorical_crossentropy(prob, target, reduction: str = "mean",
                             check_targets: bool = True) -> Tensor:
    """Keras' categorical cross-entropy on probabilities (N, C).

    Rows of ``prob`` are renormalised to sum to 1, clipped to [1e-7, 1 - 1e-7], and
    ``-sum_c t_c log p_c`` is averaged over the batch. Prefer ``cross_entropy`` on logits.
    """
    _check_reduction(reduction)
    p = _as_tensor(prob)
    t, is_index = _class_target(p, target, check_targets)
    xp = get_array_module(p.data)
    if is_index:
        t = xp.eye(p.shape[1], dtype=p.dtype)[t]
    p = p / _sum(p, 1, keepdims=True)
    loss = -_sum(Tensor._wrap(t) * log(clip(p, _EPS, 1 - _EPS)), 1)
    return _reduce(loss, reduction)
