"""Keras-style training: compile / fit / evaluate / predict and the weights of a model.

The training step, written out (the seed article's loop)::

    out  = model(x)                 # forward propagation
    loss = loss_fn(out, y)          # loss
    loss.backward()                 # backpropagation
    optimizer.step()                # parameter update
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import backend, tuning
from .. import callbacks as cbks
from .. import distributed as dist
from .. import losses as losses_mod
from ..autograd import no_grad
from ..backend import get_array_module
from ..checks import positive_int
from ..nn.module import Module
from ..optim import optimizers as optim_mod
from ..optim.loss_scale import LossScaleOptimizer
from ..tensor import Tensor, get_default_dtype
from . import metrics as metrics_mod
from .data import (Run, as_batch_array, as_targets, batch, check_finite_data, read_scalars,
                   split_off_validation)
from . import parallel
from .progress import ProgressBar
from .weights import WeightsAPI

__all__ = ["Model"]


class Model(Module, WeightsAPI):
    """A Module with Keras' training API. :class:`~minigrad.nn.Sequential` is one.

    Subclasses implement ``forward(x)``; ``forward_logits(x)`` may return the
    pre-activation output of a final softmax/sigmoid so the loss can fuse with it.
    """

    def __init__(self):
        super().__init__()
        self.optimizer = self.loss = None
        self.metrics_names, self._metric_fns = [], []
        self.stop_training = False
        self._value_metrics = False

    #: False: the loss takes the model's output as it is, never the logits before a final
    #: softmax/sigmoid (Sequential(fuse=False) sets it, with its layers unfused)
    fuse = True

    # --- hooks for subclasses ---------------------------------------------------------------
    def forward_logits(self, x):
        """The output before a final activation the loss can absorb (default: forward)."""
        return self.forward(x)

    def final_activation_name(self) -> Optional[str]:
        return None

    def final_activation(self, logits: Tensor) -> Tensor:
        """Apply the activation that forward_logits left out (default: none)."""
        return logits

    def compute_output_shape(self, input_shape):
        """Output shape (no batch axis) for inputs of ``input_shape``, or None when it
        can only be found by running the model."""
        return None

    def build(self, input_shape) -> None:
        """Create weights for inputs of ``input_shape`` (batch axis included or not)."""

    # --- compile -------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None) -> None:
        """Choose the optimizer, the loss and the metrics.

        Args:
            optimizer: name ('adam', 'sgd', 'rmsprop', 'adamw') or an Optimizer.
            loss: name ('mse', 'categorical_crossentropy',
                'sparse_categorical_crossentropy', 'binary_crossentropy') or a Loss.
            metrics: list of 'accuracy'/'acc', 'mae', 'mse'.
        """
        if loss is None:
            raise ValueError("compile: a loss is required")
        opt = optim_mod.get(optimizer)
        if self._computes_in_float16() and not isinstance(opt, LossScaleOptimizer):
            opt = LossScaleOptimizer(opt)      # as Keras: float16 gradients need it
        loss_obj = losses_mod.get(loss)
        self.optimizer, self.loss = opt, loss_obj
        self.metrics_names, self._metric_fns = metrics_mod.resolve(metrics, loss_obj)
        self._value_metrics = any(n in ("mae", "mse") for n in self.metrics_names)
        self._bind_optimizer()

    def _bind_optimizer(self) -> None:
        """Give the optimizer the weights that train (a frozen model trains none, as in
        Keras: fit then only computes the loss and metrics)."""
        weights = self.trainable_weights
        if self.optimizer is not None and weights:
            self.optimizer.bind(weights)

    def _computes_in_float16(self) -> bool:
        """True when some layer has the 'mixed_float16' policy."""
        return any(m._policy is not None and m._policy.name == "mixed_float16"
                   for m in self.modules())

    def _require_compiled(self, what):
        if self.loss is None:
            raise RuntimeError(f"{what}: call model.compile(optimizer, loss) first")

    # --- data checks -------------------------------------------------------------------------
    def _prepare_x(self, x, what):
        x = as_batch_array(x, "x")
        if x.shape[0] == 0 if x.ndim else True:
            raise ValueError(f"{what}: got 0 samples (x has shape {tuple(x.shape)})")
        return x

    def _prepare(self, x, y, what):
        x = self._prepare_x(x, what)
        y = as_batch_array(y, "y")
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{what}: x has {x.shape[0]} samples but y has "
                             f"{y.shape[0] if y.ndim else 0} (shapes {tuple(x.shape)} and "
                             f"{tuple(y.shape)})")
        self._ensure_built(x)
        out_shape = self._output_shape(x)
        return x, as_targets(y, out_shape, self.loss.kind, what)

    def _ensure_built(self, x):
        if not self.has_parameters():
            self.build(tuple(x.shape[1:]))
        if self.optimizer is not None and not self.optimizer.params and self.has_parameters():
            self._bind_optimizer()

    def _output_shape(self, x):
        shape = self.compute_output_shape(tuple(x.shape[1:]))
        if shape is not None:
            return (x.shape[0],) + tuple(shape)
        with no_grad():
            was = self.training
            self.eval()
            out = self.forward(self._to_input(x[:1]))
            self.train(was)
        return out.shape

    def _to_input(self, xb) -> Tensor:
        """A batch of inputs as a Tensor on the model's device, in the model's dtype (as
        Keras layers cast their inputs: float64 data into a float32 model computes in
        float32; integer pixels become floats)."""
        dev, dtype = self._input_place()
        xb = backend.move(xb, dev) if not isinstance(xb, np.ndarray) or dev != "cpu" else xb
        if xb.dtype != dtype:
            xb = xb.astype(dtype)
        return Tensor._wrap(xb)

    def _input_place(self):
        """(device, dtype) of the model's inputs: the device of its first weight and the
        dtype of its first floating one (the CPU and the default dtype while it has none),
        in one walk of the weights (this runs once per batch)."""
        dev = None
        for _, p in self.named_parameters():
            dev = dev or p.device
            if p.dtype.kind == "f":
                return dev, p.dtype
        return dev or backend.as_device("cpu"), np.dtype(get_default_dtype())

    def _to_target(self, yb):
        return backend.move(yb, self.device)

    # --- one step ------------------------------------------------------------------------------
    def _loss_and_output(self, xb, yb):
        """(loss, output array for metrics, metric output is logits?)."""
        # while a layer has a forward hook it sees its real output: no fused loss then
        fused = self.fuse and self.loss.fuses_with is not None and \
            not self.loss.from_logits and self.final_activation_name() == \
            self.loss.fuses_with and not self._hooked_layers()
        if fused:
            out = self.forward_logits(xb)
            loss = self.loss.value(out, yb, from_logits=True, checked=True)
            if self._value_metrics:      # mae/mse compare the model's real output
                with no_grad():
                    return loss, self.final_activation(out).data, False
            return loss, out.data, True
        else:
            out = self.forward(xb)
            loss = self.loss.value(out, yb, from_logits=self.loss.from_logits, checked=True)
        return loss, out.data, fused or self.loss.from_logits

    def _metric_values(self, out, yb, logits):
        return [fn(out, yb, logits) for fn in self._metric_fns]

    #: On the CPU, a batch whose activations outgrow the cache is run as micro-batches
    #: whose gradients add up to the whole batch's (the same update, up to rounding), so
    #: the time per sample stays flat as the batch grows. ``'auto'`` sizes them to about
    #: ``MICRO_BATCH_BYTES`` of activations; an int fixes the size; None turns it off.
    #: Models with batch-coupled layers (BatchNormalization) always see the whole batch;
    #: GPUs too.
    micro_batch_size = "auto"
    MICRO_BATCH_BYTES = 10 << 20

    def activation_bytes_per_sample(self, input_shape):
        """Bytes of activations one sample produces in a forward pass (None: unknown)."""
        return None

    def _micro_batches(self, xb):
        n = xb.shape[0]
        size = self.micro_batch_size
        if size == "auto":
            per = self.activation_bytes_per_sample(tuple(xb.shape[1:]))
            size = max(16, self.MICRO_BATCH_BYTES // per) if per else None
        if not size or n <= size or any(getattr(m, "batch_coupled", False)
                                        for m in self.modules()):
            return [slice(0, n)]
        return tuning.micro_batches(xb.data, n, int(size))

    def _train_step(self, xb, yb, n_global=None):
        """Forward, backward and, when the loss is finite, the optimizer's update.

        Returns [loss, *metric sums] as host floats (one device-to-host read); a
        non-finite loss leaves the weights as they were (no update is applied).
        Data-parallel (``n_global``: the size of the global batch of which ``xb`` is this
        rank's share), the gradients and numbers are first combined over the ranks.
        """
        self.optimizer.zero_grad()
        if xb.shape[0]:
            loss, mets = self._gradients(xb, yb)
        else:                                 # a rank with no rows of a tiny last batch
            loss, mets = np.zeros(()), [np.zeros(())] * len(self._metric_fns)
        vals = read_scalars([loss] + mets)
        if n_global is not None and dist.world_size() > 1:
            vals = parallel.combine_ranks(self, vals, xb.shape[0], n_global)
        if math.isfinite(vals[0]):
            self.optimizer.step()
        return vals

    def _gradients(self, xb, yb):
        """The batch loss and metric sums (device scalars), gradients left in ``.grad``;
        a batch too large for the cache runs as micro-batches (see micro_batch_size)."""
        scale = self.optimizer.loss_scale       # mixed precision's loss scale, else 1
        if scale == 1.0:
            return self._backward_passes(xb, yb, 1.0)
        # a scale too large overflows float16 gradients to inf (and inf * 0 to NaN) in the
        # backward pass: the LossScaleOptimizer skips that step, no warning is due
        with np.errstate(over="ignore", invalid="ignore"):
            return self._backward_passes(xb, yb, scale)

    def _backward_passes(self, xb, yb, scale):
        parts = self._micro_batches(xb)
        if len(parts) == 1:
            loss, out, logits = self._loss_and_output(xb, yb)
            _backward(loss, scale)
            return loss.data, self._metric_values(out, yb, logits)
        n = xb.shape[0]
        total = mets = None
        for s in parts:
            ys = yb[s]
            loss, out, logits = self._loss_and_output(Tensor._wrap(xb.data[s]), ys)
            w = (s.stop - s.start) / n if self.loss.reduction == "mean" else 1.0
            _backward(loss, w * scale)
            total = loss.data * w if total is None else total + loss.data * w
            m = self._metric_values(out, ys, logits)
            mets = m if mets is None else [a + b for a, b in zip(mets, m)]
        return total, mets

    def train_on_batch(self, x, y):
        """One optimizer step on one batch. Returns the loss (a float), or
        ``[loss, *metrics]`` when metrics were compiled (as Keras)."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare(x, y, "train_on_batch")
        self.train()
        vals = self._train_step(self._to_input(x), self._to_target(y))
        if not math.isfinite(vals[0]):
            raise FloatingPointError(f"train_on_batch: the loss is {vals[0]}; the update was "
                                     "not applied (the weights are unchanged)")
        n = x.shape[0]
        out = [vals[0]] + [v / n for v in vals[1:]]
        return out[0] if len(out) == 1 else out

    # --- fit -----------------------------------------------------------------------------------
    def fit(self, x, y, batch_size: int = 32, epochs: int = 1, verbose: int = 1,
            callbacks=None, validation_split: float = 0.0, validation_data=None,
            shuffle: bool = True, initial_epoch: int = 0, check_finite: bool = False,
            validation_batch_size: Optional[int] = None):
        """Train for ``epochs`` passes over (x, y) in mini-batches.

        Args:
            x: inputs (N, ...) as NumPy/CuPy arrays or Tensors.
            y: targets matching the loss (one-hot (N, C), labels (N,), values (N, ...)).
            batch_size: samples per step; the last batch may be smaller.
            epochs: number of passes.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
            callbacks: list of Callback.
            validation_split: fraction of the data (taken from the end, before shuffling)
                held out for validation.
            validation_data: (x_val, y_val) evaluated after each epoch.
            shuffle: reshuffle the training data every epoch (seeded by mg.manual_seed).
            check_finite: raise on the first non-finite input value, naming its index.
            validation_batch_size: batch size of the validation pass (default: batch_size).

        Returns:
            A History whose ``history`` maps 'loss', metrics and 'val_*' to lists.

        Raises:
            FloatingPointError: when a batch loss is NaN/Inf (naming the epoch and batch),
                unless a TerminateOnNaN callback is given (then training stops quietly).
        """
        self._require_compiled("fit")
        batch_size = positive_int(32 if batch_size is None else batch_size, "fit",
                                  "batch_size")
        if dist.world_size() > 1:              # data-parallel: batch_size is the global one
            verbose, callbacks = parallel.rank_view(verbose, callbacks)
        epochs = positive_int(epochs, "fit", "epochs", minimum=0)
        initial_epoch = positive_int(initial_epoch, "fit", "initial_epoch", minimum=0)
        if validation_batch_size is not None:
            validation_batch_size = positive_int(validation_batch_size, "fit",
                                                 "validation_batch_size")
        x, y = self._prepare(x, y, "fit")
        dist.broadcast_parameters(self)        # every rank starts from rank 0's weights
        if check_finite:
            check_finite_data(x, "x")
        if validation_data is not None:
            validation_data = self._validation_pair(validation_data)
        elif validation_split:
            x, y, validation_data = split_off_validation(x, y, validation_split)
        history = cbks.History()
        cb_list = [history] + list(callbacks or [])
        run = Run(x, y, batch_size, math.ceil(x.shape[0] / batch_size), epochs, shuffle,
                   verbose, cb_list, any(isinstance(c, cbks.TerminateOnNaN) for c in cb_list),
                   validation_data, validation_batch_size or batch_size, backend.host_rng())
        history.params = {"epochs": epochs, "steps": run.steps, "verbose": verbose}
        for cb in cb_list:
            cb.set_model(self)
        self.stop_training = False
        for cb in cb_list:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self._fit_epoch(run, epoch)
            if self.stop_training:
                break
        for cb in cb_list:
            cb.on_train_end()
        return history

    def _fit_epoch(self, run, epoch):
        """One pass over the (shuffled) data, then validation, the progress line and the
        epoch's callbacks."""
        if run.verbose:
            print(f"Epoch {epoch + 1}/{run.epochs}")
        for cb in run.callbacks:
            cb.on_epoch_begin(epoch)
        self.train()
        bar = ProgressBar(run.steps, run.verbose)
        tot, seen = self._fit_batches(run, epoch, bar)
        logs = self._logs(tot, max(seen, 1))
        if run.validation is not None and not self.stop_training:
            vx, vy = run.validation
            vres = self.evaluate(vx, vy, batch_size=run.validation_batch_size, verbose=0,
                                 return_dict=True)
            logs.update({f"val_{k}": v for k, v in vres.items()})
        bar.update(seen and run.steps, logs, finalize=True)
        for cb in run.callbacks:
            cb.on_epoch_end(epoch, logs)

    def _fit_batches(self, run, epoch, bar):
        """The training steps of one epoch: (loss and metric sums, samples seen)."""
        order = parallel.epoch_order(run)
        tot = np.zeros(1 + len(self._metric_fns))
        seen = 0
        for b in range(run.steps):
            xb, yb = batch(run.x, run.y, b, run.batch_size, order)
            rows = dist.shard_rows(xb.shape[0])          # all of them in a world of one
            vals = self._train_step(self._to_input(xb[rows]), self._to_target(yb[rows]),
                                    xb.shape[0])
            if not math.isfinite(vals[0]):
                run.non_finite_loss(epoch, b, vals[0])
                break
            tot[0] += vals[0] * xb.shape[0]
            tot[1:] += vals[1:]
            seen += xb.shape[0]
            logs = self._logs(tot, seen)
            for cb in run.callbacks[1:]:
                cb.on_train_batch_end(b, {**logs, "loss": vals[0]})
            bar.update(b + 1, logs)
            if self.stop_training:
                break
        return tot, seen

    def _validation_pair(self, validation_data):
        """(x_val, y_val) checked before the first epoch (a tuple of two arrays)."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val), got "
                             f"{type(validation_data).__name__}"
                             + (f" of length {len(validation_data)}"
                                if isinstance(validation_data, (tuple, list)) else ""))
        vx, vy = self._prepare(*validation_data, "fit (validation_data)")
        was = self.training
        self.eval()
        try:
            with no_grad():                       # the layers check the input shape
                self.forward(self._to_input(vx[:1]))
        finally:
            self.train(was)
        return vx, vy

    def _logs(self, tot, count):
        logs = {"loss": float(tot[0] / count)}
        for name, v in zip(self.metrics_names, tot[1:]):
            logs[name] = float(v / count)
        return logs

    # --- evaluate / predict -----------------------------------------------------------------------
    def evaluate(self, x, y, batch_size: int = 32, verbose: int = 1, return_dict: bool = False):
        """Loss and metrics over (x, y), in eval mode, without building a graph.

        Returns:
            The loss when no metrics were compiled, else ``[loss, *metrics]`` (or a dict).
        """
        self._require_compiled("evaluate")
        batch_size = positive_int(32 if batch_size is None else batch_size, "evaluate",
                                  "batch_size")
        x, y = self._prepare(x, y, "evaluate")
        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        was = self.training
        self.eval()
        tot = np.zeros(1 + len(self._metric_fns))
        ranks, me = dist.world_size(), dist.rank()
        if ranks > 1 and me != 0:
            verbose = 0
        bar = ProgressBar(steps, verbose)
        try:
            with no_grad():
                for b in range(steps):
                    if b % ranks != me:          # data-parallel: batches dealt round-robin
                        continue
                    sl = slice(b * batch_size, min((b + 1) * batch_size, n))
                    xb, yb = self._to_input(x[sl]), self._to_target(y[sl])
                    loss, out, logits = self._loss_and_output(xb, yb)
                    vals = read_scalars([loss.data] + self._metric_values(out, yb, logits))
                    tot[0] += vals[0] * (sl.stop - sl.start)
                    tot[1:] += vals[1:]
                    bar.update(b + 1, self._logs(tot, sl.stop))
        finally:
            self.train(was)
        if ranks > 1:
            dist.all_reduce(tot)                 # every rank reports the same numbers
        logs = self._logs(tot, n)
        bar.update(steps, logs, finalize=True)
        if return_dict:
            return logs
        vals = [logs["loss"]] + [logs[k] for k in self.metrics_names]
        return vals[0] if len(vals) == 1 else vals

    def predict(self, x, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """The model's outputs for ``x`` as a host NumPy array (eval mode, no graph).

        ``verbose``: 0 quiet (the default here; Keras' is 1), 1 or 2 the progress line."""
        batch_size = positive_int(32 if batch_size is None else batch_size, "predict",
                                  "batch_size")
        x = self._prepare_x(x, "predict")
        self._ensure_built(x)
        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        bar = ProgressBar(steps, verbose)
        outs = []
        was = self.training
        self.eval()
        try:
            with no_grad():
                for b in range(steps):
                    xb = self._to_input(x[b * batch_size:(b + 1) * batch_size])
                    outs.append(self.forward(xb).data)
                    bar.update(b + 1, {})
        finally:
            self.train(was)
        bar.update(steps, {}, finalize=True)
        xp = get_array_module(outs[0])
        return backend.to_host(xp.concatenate(outs, axis=0))

    def __call__(self, x, *args, **kwargs):
        if not isinstance(x, Tensor):
            x = self._to_input(as_batch_array(x, "x"))
        return super().__call__(x, *args, **kwargs)       # Module.__call__: hooks, forward


def _backward(loss, factor):
    """``loss.backward()`` with the upstream gradient ``factor``; nothing when every weight
    is frozen (the loss then has no graph)."""
    if loss.requires_grad:
        xp = get_array_module(loss.data)
        loss.backward(None if factor == 1.0 else xp.full(loss.shape, factor, loss.dtype))
