"""A model's weights: Keras' get_weights / set_weights and the weight files."""
from __future__ import annotations

from .. import io as wio
from ..nn.weights import assign_weights, read_weights

__all__ = ["WeightsAPI"]


class WeightsAPI:
    """Keras' weight methods, for a Module (mixed into :class:`Model`)."""

    def get_weights(self) -> list:
        """Host copies of all weights, trainable and not, in Keras' order (per layer:
        kernel, bias, then statistics such as BatchNormalization's moving mean)."""
        return read_weights(self)

    def set_weights(self, weights) -> None:
        """Replace all weights with ``weights`` (as returned by :meth:`get_weights`).
        The count and every shape are checked before anything changes."""
        assign_weights(
            self, weights,
            lambda have, got: ValueError(f"set_weights: the model has {have} weights, got "
                                         f"{got}"),
            lambda i, slot, have, got: ValueError(
                f"set_weights: weight {i} ('{slot[1]}' of "
                f"{getattr(slot[0], 'name', type(slot[0]).__name__)}) has shape {have}, "
                f"got {got}"))

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
