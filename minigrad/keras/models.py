"""Keras model names: Sequential, Model, load_model."""
from __future__ import annotations

from .. import io as wio
from .. import nn as _layers
from ..optim import SGD, Adam, AdamW, LossScaleOptimizer, RMSprop
from ..training import Model, Sequential

__all__ = ["Sequential", "Model", "load_model", "LAYER_REGISTRY"]

# The fixed set of classes a saved architecture may name: a file can never make
# load_model import or call anything else.
LAYER_REGISTRY = {cls.__name__: cls for cls in (
    _layers.Dense, _layers.Conv2D, _layers.MaxPooling2D, _layers.AveragePooling2D,
    _layers.Flatten, _layers.Dropout, _layers.BatchNormalization, _layers.Activation,
    _layers.ReLU, _layers.Sigmoid, _layers.Tanh, _layers.Softmax, _layers.GELU,
    _layers.LeakyReLU, _layers.InputLayer, _layers.Embedding, _layers.LayerNormalization,
    _layers.TransformerBlock)}


def _layer_from_config(entry):
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise wio.WeightsFileError(f"bad layer entry in the architecture: {entry!r}")
    cls = LAYER_REGISTRY.get(entry["class_name"])
    if cls is None:
        raise wio.WeightsFileError(f"unknown layer class {entry['class_name']!r} in the "
                                   f"architecture; known: {sorted(LAYER_REGISTRY)}")
    cfg = dict(entry.get("config") or {})
    trainable = cfg.pop("trainable", True)
    try:
        layer = cls(**cfg)
        layer.trainable = trainable
    except (TypeError, ValueError) as exc:
        raise wio.WeightsFileError(f"bad config for {entry['class_name']}: {exc}") from None
    return layer


def _optimizer_from_config(path, cfg):
    """The optimizer a saved model was compiled with."""
    ocfg = dict(cfg or {})
    name = ocfg.pop("name", None)
    if name == "LossScaleOptimizer":
        inner = _optimizer_from_config(path, ocfg.pop("inner_optimizer", None))
        return _build_optimizer(path, LossScaleOptimizer, dict(ocfg, inner_optimizer=inner))
    cls = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop}.get(name)
    if cls is None:
        raise wio.WeightsFileError(f"{path}: unknown optimizer {name!r} in the saved "
                                   "compile settings (load with compile=False)")
    return _build_optimizer(path, cls, ocfg)


def _build_optimizer(path, cls, kwargs):
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise wio.WeightsFileError(f"{path}: bad compile settings ({exc}); load with "
                                   "compile=False to skip them") from None


def load_model(path, compile: bool = True) -> Sequential:
    """Rebuild a model saved with ``model.save(path)``: architecture, weights and (when
    saved) the compile settings."""
    cfg = wio.read_config(path)
    if not cfg or cfg.get("format") != wio.MODEL_FORMAT:
        raise wio.WeightsFileError(f"{path} holds no model architecture (was it written by "
                                   "save_weights? use model.load_weights)")
    version = cfg.get("version")
    if type(version) is not int or not 1 <= version <= wio.MODEL_VERSION:
        raise wio.WeightsFileError(
            f"{path}: model file version {version!r} is not one this minigrad reads (1 to "
            f"{wio.MODEL_VERSION}); a newer minigrad wrote it, or the file is damaged")
    mcfg = cfg["model"]
    if mcfg.get("class_name") != "Sequential":
        raise wio.WeightsFileError(f"unsupported model class {mcfg.get('class_name')!r}")
    model = Sequential([_layer_from_config(e) for e in mcfg.get("layers", [])],
                       name=mcfg.get("name"))
    if not model.parameters() and any(True for _ in model.layers):
        raise wio.WeightsFileError(f"{path}: the saved model has no input shape to build from")
    model.load_weights(path)
    comp = cfg.get("compile")
    if compile and comp:
        opt = _optimizer_from_config(path, comp.get("optimizer"))
        try:
            model.compile(optimizer=opt, loss=comp["loss"], metrics=comp.get("metrics"))
        except (TypeError, ValueError, KeyError) as exc:
            raise wio.WeightsFileError(f"{path}: bad compile settings ({exc}); load with "
                                       "compile=False to skip them") from None
    return model
