"""The Keras ``models.Sequential``: the layer stack of :mod:`minigrad.nn` with the training
API of :class:`Model` and whole-model files."""
from __future__ import annotations

from .. import io as wio
from ..nn.sequential import Sequential as _LayerStack
from .model import Model

__all__ = ["Sequential"]


class Sequential(_LayerStack, Model):
    """A linear stack of layers with Keras' training API.

    Example:
        >>> model = Sequential([Dense(64, activation='relu', input_shape=(784,)),
        ...                     Dense(10, activation='softmax')])
        >>> model.compile(optimizer='adam', loss='categorical_crossentropy',
        ...               metrics=['accuracy'])
        >>> model.fit(x_train, y_train, batch_size=64, epochs=10)
    """

    def _weights_changed(self) -> None:
        self._bind_optimizer()

    def save(self, path) -> str:
        """Save architecture (JSON) and weights in one .npz file (no pickle, atomic)."""
        if not self.parameters():
            raise RuntimeError("save: the model has no weights yet (build it first)")
        cfg = {"format": wio.MODEL_FORMAT, "version": wio.MODEL_VERSION,
               "model": self.get_config()}
        if self.loss is not None:
            cfg["compile"] = {"loss": self.loss.name, "optimizer": self.optimizer.get_config(),
                              "metrics": list(self.metrics_names)}
        return wio.save_arrays(path, self.state_dict(), config=cfg)

    def export(self, path, format: str = "onnx", opset=None) -> str:
        """Write the model for other runtimes (Keras 3's ``export``); ``format='onnx'``
        (the only one): see :func:`minigrad.export.export_onnx`. Returns the path."""
        if format != "onnx":
            raise ValueError(f"export: format must be 'onnx', got {format!r}")
        from ..export import OPSET, export_onnx
        return export_onnx(self, path, opset or OPSET)
