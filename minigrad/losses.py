"""Loss objects with Keras names and call order ``loss(y_true, y_pred)``.

Each wraps a function of :mod:`minigrad.functional.loss` (PyTorch order: prediction
first). ``from_logits=True`` means ``y_pred`` holds unnormalised scores.

Reductions as in Keras: first one loss per sample (for the elementwise losses, MSE and
binary cross-entropy, the mean over the last axis; cross-entropy over (N, ..., C) gives
one per position), then ``'mean'`` (Keras' ``'sum_over_batch_size'``, the default),
``'sum'`` or ``'none'`` (the per-sample losses themselves).
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from .autograd import is_half
from .checks import one_of
from .tensor import Tensor

__all__ = ["Loss", "MeanSquaredError", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "BinaryCrossentropy", "get", "full_precision"]


def full_precision(y_pred):
    """A float16 or bfloat16 prediction converted to float32 (differentiably; anything
    else as it is): under mixed precision the loss is computed in float32, as in Keras."""
    if isinstance(y_pred, Tensor) and is_half(y_pred.dtype):
        return y_pred.astype(np.float32)
    return y_pred


class Loss:
    """Base class. Subclasses implement ``compute(y_pred, y_true, from_logits)``."""

    name = "loss"
    #: the output activation this loss can fuse with (softmax + cross-entropy)
    fuses_with = None
    kind = "regression"

    def __init__(self, from_logits: bool = False, reduction: str = "mean"):
        self.from_logits = from_logits
        reduction = _KERAS_REDUCTIONS.get(reduction, reduction)
        self.reduction = one_of(reduction, type(self).__name__, "reduction",
                                ("mean", "sum", "none"))

    def __call__(self, y_true, y_pred) -> Tensor:
        return self.value(y_pred, y_true, self.from_logits)

    def value(self, y_pred, y_true, from_logits: bool, checked: bool = False) -> Tensor:
        """The loss, computed in float32 whatever the prediction's dtype (mixed precision):
        what callers use; subclasses implement :meth:`compute`."""
        return self.compute(full_precision(y_pred), y_true, from_logits, checked)

    def compute(self, y_pred, y_true, from_logits: bool, checked: bool = False) -> Tensor:
        """The loss; ``checked=True`` when the targets were validated already (fit does
        it once for the whole data set, saving a device read per step)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}


#: Keras' other names for the reductions
_KERAS_REDUCTIONS = {"sum_over_batch_size": "mean", None: "none"}


def _per_sample(elementwise: Tensor, reduction: str) -> Tensor:
    """An elementwise loss reduced as Keras does: the mean over the last axis (one value
    per sample; a 1-D loss already has one), then ``reduction`` over the samples."""
    per_sample = elementwise.mean(axis=-1) if elementwise.ndim > 1 else elementwise
    if reduction == "none":
        return per_sample
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


class MeanSquaredError(Loss):
    """MSE = (1/n) sum (y - yhat)^2."""

    name = "mse"

    def compute(self, y_pred, y_true, from_logits, checked=False):
        if self.reduction == "mean":           # the mean of the per-sample means
            return F.mse_loss(y_pred, y_true)
        return _per_sample(F.mse_loss(y_pred, y_true, reduction="none"), self.reduction)


class CategoricalCrossentropy(Loss):
    """-sum_c y_c log(yhat_c) for one-hot / probability targets (N, C).

    On probabilities it clips to [1e-7, 1 - 1e-7] like Keras; after a softmax output
    layer, ``fit`` feeds it the logits instead (one fused, exact log-softmax op).
    """

    name = "categorical_crossentropy"
    fuses_with = "softmax"
    kind = "categorical"

    def compute(self, y_pred, y_true, from_logits, checked=False):
        positions = y_pred.shape[:-1]
        if y_pred.ndim > 2:          # (N, ..., C): one prediction per position, as Keras
            y_pred, y_true = _per_position(y_pred, y_true)
        if from_logits:
            loss = F.cross_entropy(y_pred, y_true, reduction=self.reduction,
                                   check_targets=not checked)
        else:
            loss = F.categorical_crossentropy(y_pred, y_true, reduction=self.reduction,
                                              check_targets=not checked)
        return loss.reshape(positions) if self.reduction == "none" else loss


def _per_position(y_pred, y_true):
    """(N, ..., C) predictions and their targets as (N * ..., C) rows (labels (N * ...,))."""
    c = y_pred.shape[-1]
    t = y_true.data if isinstance(y_true, Tensor) else y_true
    t = t.reshape(-1) if t.ndim == y_pred.ndim - 1 else t.reshape(-1, c)
    return y_pred.reshape(-1, c), t


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Cross-entropy with integer class labels (N,)."""

    name = "sparse_categorical_crossentropy"
    kind = "sparse"


class BinaryCrossentropy(Loss):
    """-[y log p + (1 - y) log(1 - p)], p clipped to [1e-7, 1 - 1e-7] (or from logits)."""

    name = "binary_crossentropy"
    fuses_with = "sigmoid"
    kind = "binary"

    def compute(self, y_pred, y_true, from_logits, checked=False):
        bce = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy
        if self.reduction == "mean":
            return bce(y_pred, y_true)
        return _per_sample(bce(y_pred, y_true, "none"), self.reduction)


_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
}


def get(identifier) -> Loss:
    """A Loss from a Keras name or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"unknown loss {identifier!r}; known: {sorted(_BY_NAME)}")
