"""Metrics for ``compile(metrics=[...])``: each returns a device scalar, the SUM over the
batch (fit and evaluate add them up and divide by the number of samples).

Every metric takes (out, y, logits): ``logits`` is True when ``out`` holds scores before a
sigmoid/softmax (argmax is the same; the binary threshold moves from 0.5 to 0).
"""
from __future__ import annotations

from ..backend import get_array_module

__all__ = ["resolve"]


def resolve(metrics, loss):
    """(names, functions) of the metrics asked for (a name or a list of names), for a
    model trained with ``loss``."""
    if isinstance(metrics, str):             # Keras accepts metrics='accuracy'
        metrics = [metrics]
    names, fns = [], []
    for m in metrics or []:
        key = m.lower() if isinstance(m, str) else m
        if key in ("accuracy", "acc"):
            if loss.kind not in ("categorical", "sparse", "binary"):
                raise ValueError(f"'accuracy' needs a classification loss, not "
                                 f"'{loss.name}'")
            names.append("accuracy")
            fns.append(accuracy_sum(loss.kind))
        elif key in ("mae", "mean_absolute_error", "mse", "mean_squared_error"):
            name = "mae" if key in ("mae", "mean_absolute_error") else "mse"
            if loss.kind == "sparse":
                raise ValueError(f"metric {name!r} compares outputs with targets of the "
                                 f"same shape; '{loss.name}' takes class labels (use "
                                 "'accuracy')")
            names.append(name)
            fns.append(mae_sum if name == "mae" else mse_sum)
        else:
            raise ValueError(f"unknown metric {m!r}; known: accuracy, mae, mse")
    return names, fns


def accuracy_sum(kind):
    # summed over the samples; for sequence outputs (N, T, C) each sample counts the
    # fraction of its positions that are right (Keras' mean over all positions)
    def per_sample(hits):
        return hits.reshape(hits.shape[0], -1).mean(axis=1).sum()

    def categorical(out, y, logits):
        xp = get_array_module(out)
        return per_sample(xp.argmax(out, axis=-1) == xp.argmax(y, axis=-1))

    def sparse(out, y, logits):
        xp = get_array_module(out)
        return per_sample(xp.argmax(out, axis=-1) == y.reshape(out.shape[:-1]))

    def binary(out, y, logits):
        thr = 0.0 if logits else 0.5
        return ((out > thr) == (y > 0.5)).mean(axis=-1).sum()
    return {"categorical": categorical, "sparse": sparse, "binary": binary}[kind]


def mae_sum(out, y, logits):
    xp = get_array_module(out)
    return xp.abs(out - y).reshape(out.shape[0], -1).mean(axis=1).sum()


def mse_sum(out, y, logits):
    d = out - y
    return (d * d).reshape(out.shape[0], -1).mean(axis=1).sum()
