"""The data-parallel steps of ``fit`` (see :mod:`minigrad.distributed`): which rank prints,
the epoch's order of the samples, and one global batch's gradient from every rank's
share. In a world of one, ``fit`` does not call them."""
from __future__ import annotations

import numpy as np

from .. import distributed as dist

__all__ = ["rank_view", "epoch_order", "combine_ranks"]


def rank_view(verbose, callbacks):
    """What this rank prints and runs: only rank 0 prints and runs the callbacks that write
    files (``rank_zero_only``); every rank runs the others (they see the same numbers, so
    EarlyStopping stops all ranks together)."""
    if dist.rank() == 0:
        return verbose, callbacks
    return 0, [c for c in callbacks or [] if not getattr(c, "rank_zero_only", False)]


def epoch_order(run):
    """This epoch's order of the samples (rank 0's, sent to all ranks), or None."""
    if not run.shuffle:
        return None
    order = run.rng.permutation(run.x.shape[0])
    return dist.broadcast(order) if dist.world_size() > 1 else order


def combine_ranks(model, vals, n, n_global):
    """The global batch's gradient and numbers from every rank's share: the mean loss of
    ``n`` of the ``n_global`` rows weighs n / n_global (a summed loss, 1), and the weighted
    gradients, losses and metric sums are summed over the ranks."""
    w = n / n_global if model.loss.reduction == "mean" else 1.0
    dist.all_reduce_gradients(model.trainable_weights, scale=w)
    totals = np.array([vals[0] * w] + list(vals[1:]), dtype=np.float64)
    dist.all_reduce(totals)
    return [float(v) for v in totals]
