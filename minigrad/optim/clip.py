"""Gradient clipping by the global norm, and parameter groups for weight decay.

The global norm of the gradients g_1, ..., g_n is ``sqrt(sum_i sum(g_i ** 2))``: the norm
of all of them laid end to end. Clipping scales every gradient by the same factor, so the
direction of the update is kept.
"""
from __future__ import annotations

import math

from ..checks import number
from ..tensor import Tensor

__all__ = ["global_norm", "clip_grad_norm", "clip_grad_norm_", "weight_decay_groups"]


def global_norm(arrays) -> float:
    """``sqrt(sum of the squares of every element of every array)``, as a Python float
    (one host read per array on a GPU)."""
    total = 0.0
    for g in arrays:
        total += float((g * g).sum())
    return math.sqrt(total)


def clip_grad_norm(parameters, max_norm: float) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their global norm is at most
    ``max_norm`` (PyTorch's ``clip_grad_norm_``: factor ``max_norm / (norm + 1e-6)`` when
    below 1); parameters without a gradient are skipped.

    Returns the global norm *before* clipping, as a 0-d Tensor (inf or NaN when a gradient
    is not finite: the gradients are then left as they are).
    """
    max_norm = number(max_norm, "clip_grad_norm", "max_norm", low=0.0)
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.data for p in parameters if p.grad is not None]
    norm = global_norm(grads)
    coef = max_norm / (norm + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= g.dtype.type(coef)
    return Tensor(norm, dtype=grads[0].dtype if grads else None)


clip_grad_norm_ = clip_grad_norm


def weight_decay_groups(parameters, weight_decay: float):
    """Two parameter groups: the matrices (kernels, embeddings: 2 or more axes) decayed by
    ``weight_decay``, and the vectors (biases, LayerNorm and BatchNorm scales and shifts)
    not decayed, as GPT-2 trains. Pass the result to an optimizer:
    ``AdamW(weight_decay_groups(model, 0.1), lr=3e-4)``.

    ``parameters`` is a Module or an iterable of parameters."""
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        parameters = parameters.parameters()
    params = list(parameters)
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
