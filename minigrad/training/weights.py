"""A model's weights: Keras' get_weights / set_weights and the weight files."""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import io as wio
from ..nn.layers import set_slot, slot_array, weight_slots

__all__ = ["WeightsAPI"]


class WeightsAPI:
    """Keras' weight methods, for a Module (mixed into :class:`Model`)."""

    def get_weights(self) -> list:
        """Host copies of all weights, trainable and not, in Keras' order (per layer:
        kernel, bias, then statistics such as BatchNormalization's moving mean)."""
        return [backend.to_host(slot_array(s)).copy() for s in weight_slots(self)]

    def set_weights(self, weights) -> None:
        """Replace all weights with ``weights`` (as returned by :meth:`get_weights`).
        The count and every shape are checked before anything changes."""
        slots = weight_slots(self)
        weights = list(weights)
        if len(weights) != len(slots):
            raise ValueError(f"set_weights: the model has {len(slots)} weights, got "
                             f"{len(weights)}")
        for i, (s, w) in enumerate(zip(slots, weights)):
            cur = slot_array(s)
            if tuple(np.shape(w)) != tuple(cur.shape):
                m, a = s[0], s[1]
                raise ValueError(f"set_weights: weight {i} ('{a}' of "
                                 f"{getattr(m, 'name', type(m).__name__)}) has shape "
                                 f"{tuple(cur.shape)}, got {tuple(np.shape(w))}")
        for s, w in zip(slots, weights):
            set_slot(s, w)

    def save_weights(self, path) -> str:
        """Write all weights to an .npz file (no pickle, atomic). Returns the path."""
        if not self.parameters():
            raise RuntimeError("save_weights: the model has no weights yet (build it first)")
        return wio.save_arrays(path, self.state_dict())

    def load_weights(self, path) -> None:
        """Load weights saved by save_weights/save. Names, dtypes and shapes are all checked
        before anything changes; on any mismatch the model is left as it was."""
        headers = wio.read_headers(path)
        headers.pop(wio.CONFIG_KEY, None)
        targets = self._state_targets()
        if not targets:
            raise RuntimeError("load_weights: build the model first (give input_shape or call "
                               "it once) so its weights exist")
        missing = [k for k in targets if k not in headers]
        unexpected = [k for k in headers if k not in targets]
        problems = []
        if missing:
            problems.append(f"missing in file: {missing}")
        if unexpected:
            problems.append(f"unexpected in file: {unexpected}")
        for k, (kind, obj, attr) in targets.items():
            if k in headers:
                cur = obj.data if kind == "param" else getattr(obj, attr)
                shape, dtype = headers[k]
                if tuple(shape) != tuple(cur.shape) or dtype != cur.dtype:
                    problems.append(f"'{k}': file has {tuple(shape)} {dtype}, model has "
                                    f"{tuple(cur.shape)} {cur.dtype}")
        if problems:
            raise wio.WeightsFileError(f"cannot load {path}: " + "; ".join(problems))
        self.load_state_dict(wio.load_arrays(path, list(targets)))
