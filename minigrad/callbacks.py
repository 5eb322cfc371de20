"""Training callbacks (Keras names): EarlyStopping, ModelCheckpoint, TerminateOnNaN,
LearningRateScheduler, CSVLogger, TensorBoard, and History (returned by fit)."""
from __future__ import annotations

import csv
import math
import os

import numpy as np

from .checks import number, positive_int

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "TerminateOnNaN",
           "LearningRateScheduler", "CSVLogger", "TensorBoard"]


class Callback:
    """Hooks called by ``fit``; ``self.model`` is set before training starts.

    ``rank_zero_only``: in data-parallel training only rank 0 runs it (the callbacks that
    write files)."""

    model = None
    rank_zero_only = False

    def set_model(self, model):
        """Called by fit before training: the model this callback watches."""
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Per-epoch logs: ``history.history['loss']``, ``['val_accuracy']``, ..."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def plot(self, metrics=None, ax=None):
        """Plot loss and metric curves (needs matplotlib, imported here)."""
        import matplotlib.pyplot as plt

        keys = [k for k in self.history if not k.startswith("val_")]
        if metrics is not None:
            keys = [k for k in keys if k in metrics]
        if ax is None:
            fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
            axes = axes[0]
        else:
            axes = [ax] * len(keys)
        epochs = [e + 1 for e in self.epoch]
        for a, k in zip(axes, keys):
            a.plot(epochs, self.history[k], "o-", label=k)
            if "val_" + k in self.history:
                a.plot(epochs, self.history["val_" + k], "s--", label="val_" + k)
            a.set_xlabel("epoch")
            a.set_xticks(epochs)                 # whole epochs, not 1.0, 1.2, ...
            a.set_ylabel(k)
            a.set_title(k)
            a.legend()
        return axes


def _better(mode, monitor):
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row (Keras: with patience 2, the second epoch without improvement is the
    last; with 0, the first)."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto",
                 restore_best_weights=False, verbose=0):
        self.monitor = monitor
        self.min_delta = abs(number(min_delta, "EarlyStopping", "min_delta"))
        self.patience = positive_int(patience, "EarlyStopping", "patience", minimum=0)
        self.mode = _better(mode, monitor)
        self.restore_best_weights, self.verbose = restore_best_weights, verbose

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch = 0, None
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def _improved(self, v):
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        v = (logs or {}).get(self.monitor)
        if v is None:
            raise KeyError(f"EarlyStopping: metric '{self.monitor}' not in logs "
                           f"{sorted(logs or {})}")
        if self._improved(v):
            self.best, self.wait = v, 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:       # `patience` epochs in a row without improvement
            self.model.stop_training = True
            self.stopped_epoch = epoch
            if self.restore_best_weights and self.best_weights is not None:
                self.model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping")


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after each epoch, or only when ``monitor`` improves.

    ``filepath`` may hold format fields: ``'ckpt-{epoch:02d}-{val_loss:.3f}.npz'``.
    Files are written atomically.
    """

    rank_zero_only = True

    def __init__(self, filepath, monitor="val_loss", save_best_only=False,
                 save_weights_only=False, mode="auto", verbose=0):
        self.filepath, self.monitor = str(filepath), monitor
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode, self.verbose = _better(mode, monitor), verbose
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            v = logs.get(self.monitor)
            if v is None:
                raise KeyError(f"ModelCheckpoint: metric '{self.monitor}' not in logs")
            better = v < self.best if self.mode == "min" else v > self.best
            if not better:
                return
            self.best = v
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {path}")


class TerminateOnNaN(Callback):
    """Stop training (without raising) as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at each epoch start: ``lr = schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = float(self.schedule(epoch, opt.lr))
        opt.lr = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {lr:.6g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.lr


class CSVLogger(Callback):
    """Append one CSV row of logs per epoch to ``filename``."""

    rank_zero_only = True

    def __init__(self, filename, separator=",", append=False):
        self.filename, self.sep, self.append = str(filename), separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        self.keys = None
        # opened now, as Keras does: a missing folder fails before training, not after an
        # epoch of it; without append an old file is emptied
        with open(self.filename, "a" if self.append else "w", newline=""):
            pass

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        new = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        with open(self.filename, "a", newline="") as f:
            w = csv.writer(f, delimiter=self.sep)
            if new:
                w.writerow(["epoch"] + self.keys)
            w.writerow([epoch] + [logs.get(k, "") for k in self.keys])


class TensorBoard(Callback):
    """Logs for TensorBoard (Keras' callback): per epoch the loss, the metrics and the
    learning rate under ``log_dir/train`` (``epoch_loss``, ``epoch_accuracy``,
    ``epoch_learning_rate``) and the validation numbers under ``log_dir/validation``;
    with ``update_freq=N`` (an int) also ``batch_loss`` every N batches; with
    ``histogram_freq=N`` histograms of every weight every N epochs.

    The event files are written by ``tensorboardX`` (pip install tensorboardX, or
    minigrad[interop]); view them with ``tensorboard --logdir LOG_DIR``.
    """

    rank_zero_only = True

    def __init__(self, log_dir="logs", histogram_freq: int = 0, update_freq="epoch"):
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = positive_int(histogram_freq, "TensorBoard", "histogram_freq",
                                           minimum=0)
        if update_freq not in ("epoch", "batch"):
            update_freq = positive_int(update_freq, "TensorBoard", "update_freq")
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers = None
        self._step = 0

    def _open(self):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError("TensorBoard needs tensorboardX: pip install tensorboardX (or "
                              "minigrad[interop])") from None
        self._writers = {k: SummaryWriter(os.path.join(self.log_dir, k))
                         for k in ("train", "validation")}

    def on_train_begin(self, logs=None):
        self._open()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.update_freq != "epoch" and self._step % self.update_freq == 0 and logs:
            self._writers["train"].add_scalar("batch_loss", logs["loss"], self._step)

    def on_epoch_end(self, epoch, logs=None):
        if self._writers is None:
            self._open()
        train, val = self._writers["train"], self._writers["validation"]
        for k, v in (logs or {}).items():
            if k.startswith("val_"):
                val.add_scalar(f"epoch_{k[4:]}", v, epoch)
            else:
                train.add_scalar(f"epoch_{k}", v, epoch)
        opt = getattr(self.model, "optimizer", None)
        if opt is not None:
            train.add_scalar("epoch_learning_rate", opt.lr, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            from . import backend
            for name, p in self.model.named_parameters():
                train.add_histogram(name, backend.to_host(p.data), epoch)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None):
        if self._writers is not None:
            for w in self._writers.values():
                w.close()
            self._writers = None
