"""The weights of a module as Keras lists them (``get_weights`` / ``set_weights``): every
parameter and statistic, module by module, as host arrays."""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["weight_slots", "read_weights", "assign_weights"]


def weight_slots(module) -> list:
    """(owner, attribute, is_param) of every weight of ``module`` and its sub-modules (a
    Parameter, or a statistic kept as an array when ``is_param`` is False), in
    Keras' order: module by module, its parameters (kernel, bias, gamma, beta), then its
    statistics (BatchNormalization's moving mean and variance, a pruned layer's mask)."""
    slots = []
    for _, m in module.named_modules():
        slots += [(m, name, True) for name in m._params]
        slots += [(m, name, False) for name in m._buffer_names()]
    return slots


def _slot_array(slot):
    m, name, is_param = slot
    return getattr(m, name).data if is_param else getattr(m, name)


def read_weights(module) -> list:
    """Host copies of every weight of ``module``, in :func:`weight_slots`' order."""
    return [backend.to_host(_slot_array(s)).copy() for s in weight_slots(module)]


def assign_weights(module, weights, count_error, shape_error) -> None:
    """Put copies of ``weights`` in ``module``'s weight slots, each in the dtype and on the
    device it has. The count, then every shape, is checked before anything changes:
    ``count_error(have, got)`` and ``shape_error(index, slot, have, got)`` make the
    exception raised (layers and models word it differently)."""
    slots, weights = weight_slots(module), list(weights)
    if len(weights) != len(slots):
        raise count_error(len(slots), len(weights))
    for i, (slot, w) in enumerate(zip(slots, weights)):
        have, got = tuple(_slot_array(slot).shape), tuple(np.shape(w))
        if got != have:
            raise shape_error(i, slot, have, got)
    for (m, name, is_param), w in zip(slots, weights):
        cur = _slot_array((m, name, is_param))
        new = backend.move(np.array(w, dtype=cur.dtype), backend.device_of(cur))
        if is_param:
            getattr(m, name).data = new
        else:
            setattr(m, name, new)
