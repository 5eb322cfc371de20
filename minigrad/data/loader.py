"""Mini-batches for explicit loops (PyTorch's DataLoader, without worker processes)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import backend
from ..checks import positive_int
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "DataLoader"]


class Dataset:
    """Anything with ``__len__`` and ``__getitem__(index_array) -> tuple of arrays``."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, idx):
        raise NotImplementedError


class TensorDataset(Dataset):
    """Arrays sharing their first axis: ``TensorDataset(x, y)[i] -> (x[i], y[i])``."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        arrays = [a.data if isinstance(a, Tensor) else a for a in arrays]
        n = arrays[0].shape[0]
        for i, a in enumerate(arrays):
            if a.shape[0] != n:
                raise ValueError(f"TensorDataset: array 0 has {n} samples but array {i} has "
                                 f"{a.shape[0]}")
        self.arrays = arrays

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, idx):
        return tuple(a[idx] for a in self.arrays)


class DataLoader:
    """Iterate over a dataset in mini-batches of Tensors.

    Args:
        data: a Dataset, a single array, or a tuple of arrays (x, y, ...).
        batch_size: samples per batch.
        shuffle: reshuffle every epoch (each ``iter``).
        drop_last: drop the final batch when it is smaller than ``batch_size``.
        seed: seed of this loader's own generator (default: the one ``mg.manual_seed``
            seeds).
        device: move each batch there (default: leave it where the data is).

    Example:
        >>> for xb, yb in DataLoader((x_train, y_train), batch_size=64, shuffle=True):
        ...     loss = F.cross_entropy(model(xb), yb)
    """

    def __init__(self, data, batch_size: int = 32, shuffle: bool = False,
                 drop_last: bool = False, seed: Optional[int] = None, device=None):
        if isinstance(data, Dataset):
            self.dataset = data
        elif isinstance(data, (tuple, list)):
            self.dataset = TensorDataset(*data)
        else:
            self.dataset = TensorDataset(data)
        self.batch_size = positive_int(batch_size, "DataLoader", "batch_size")
        self.shuffle, self.drop_last = shuffle, drop_last
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.device = backend.as_device(device) if device is not None else None
        self._single = not isinstance(data, (tuple, list, Dataset))

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        rng = self._rng or backend.host_rng()
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            arrays = self.dataset[idx] if not self._contiguous(idx) else \
                self.dataset[slice(int(idx[0]), int(idx[-1]) + 1)]
            out = []
            for a in arrays:
                if self.device is not None:
                    a = backend.move(a, self.device)
                out.append(Tensor._wrap(a))
            yield out[0] if self._single else tuple(out)

    def _contiguous(self, idx):
        return not self.shuffle and len(idx) > 0
