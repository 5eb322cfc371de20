"""Data-parallel training over MPI (conventionally ``import minigrad.distributed as dist``).

Each process (rank) holds the whole model and computes the gradient of its share of every
batch; the gradients are summed across ranks (MPI's all-reduce) before the optimizer step,
so every rank applies the same update and the weights stay identical everywhere. Launch:

    mpiexec -n 4 python train.py            # mpi4py and an MPI (pip install -e ".[mpi]")

``init()`` reads the world from MPI; without ``mpiexec`` (or without mpi4py) the world has
one rank and every call here does nothing, so the same program runs everywhere. After
``init()``, Keras' ``model.fit(x, y, batch_size=B)`` trains data-parallel with B the
GLOBAL batch (see ``minigrad.training``); an explicit loop uses ``DistributedSampler`` and
``all_reduce_gradients`` (or ``DataParallel``).

CPU arrays travel through mpi4py's buffer interface (no pickling). CuPy arrays use NCCL
(``cupy.cuda.nccl``), one process per GPU, the communicator set up through MPI.
"""
from __future__ import annotations

import sys
import traceback
from typing import Optional

import numpy as np

from . import backend
from .nn.module import Module
from .tensor import Tensor

__all__ = ["init", "is_initialized", "rank", "world_size", "barrier", "all_reduce",
           "broadcast", "broadcast_parameters", "all_reduce_gradients", "shard_rows",
           "DistributedSampler", "DataParallel", "BUCKET_BYTES"]

#: gradients are packed into messages of about this many bytes (few large all-reduces)
BUCKET_BYTES = 25 << 20

_world = {"comm": None, "rank": 0, "size": 1, "initialized": False, "nccl": None}


def init():
    """Set up the world from MPI; a world of one without ``mpiexec`` or without mpi4py.

    With more than one rank, an exception that ends a rank's program aborts the whole job
    (``MPI_Abort``) after printing that rank's traceback, instead of leaving the other
    ranks waiting forever in their next all-reduce. Returns ``(rank, world_size)``.
    """
    if not _world["initialized"]:
        try:
            from mpi4py import MPI
        except ImportError:
            MPI = None
        if MPI is not None:
            comm = MPI.COMM_WORLD
            _world.update(comm=comm, rank=comm.Get_rank(), size=comm.Get_size())
            if _world["size"] > 1:
                sys.excepthook = _abort_on_error
        _world["initialized"] = True
    return _world["rank"], _world["size"]


def _abort_on_error(kind, value, tb):
    # one write: mpiexec forwards each chunk of a rank's stderr on its own, and the abort
    # can end the job between two of them (the traceback was seen lost that way)
    sys.stderr.write(f"minigrad.distributed: rank {_world['rank']} of {_world['size']} "
                     f"failed; aborting the job:\n"
                     + "".join(traceback.format_exception(kind, value, tb)))
    sys.stderr.flush()
    _world["comm"].Abort(1)


def is_initialized() -> bool:
    return _world["initialized"]


def rank() -> int:
    """This process's rank (0 in a world of one)."""
    return _world["rank"]


def world_size() -> int:
    """The number of ranks (1 without MPI)."""
    return _world["size"]


def barrier() -> None:
    """Wait until every rank gets here."""
    if _world["size"] > 1:
        _world["comm"].Barrier()


def _array(x):
    return x.data if isinstance(x, Tensor) else x


def _nccl():
    """The NCCL communicator for CuPy arrays, made once from a unique id rank 0 sends."""
    if _world["nccl"] is None:                                # pragma: no cover (GPU)
        from cupy.cuda import nccl
        uid = nccl.get_unique_id() if _world["rank"] == 0 else None
        uid = _world["comm"].bcast(uid, root=0)
        _world["nccl"] = nccl.NcclCommunicator(_world["size"], uid, _world["rank"])
    return _world["nccl"]


def _nccl_type(dtype):                                         # pragma: no cover (GPU)
    from cupy.cuda import nccl
    return {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64,
            np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.int64): nccl.NCCL_INT64,
            np.dtype(np.int32): nccl.NCCL_INT32}[np.dtype(dtype)]


def _sum_in_place(a) -> None:
    """Sum array ``a`` over all ranks, in place (contiguous arrays only)."""
    if backend.get_backend(a).name == "cuda":                   # pragma: no cover (GPU)
        import cupy
        from cupy.cuda import nccl
        _nccl().allReduce(a.data.ptr, a.data.ptr, a.size, _nccl_type(a.dtype), nccl.NCCL_SUM,
                          cupy.cuda.get_current_stream().ptr)
        return
    from mpi4py import MPI
    _world["comm"].Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)


def all_reduce(x, op: str = "sum"):
    """``x`` (a Tensor or array) replaced, in place, by its sum (``op='sum'``) or mean
    (``'mean'``) over all ranks; returns it. No graph is recorded."""
    if op not in ("sum", "mean"):
        raise ValueError(f"all_reduce: op must be 'sum' or 'mean', got {op!r}")
    a = _array(x)
    if _world["size"] > 1:
        if not a.flags.c_contiguous:
            raise ValueError("all_reduce: the array must be contiguous")
        _sum_in_place(a)
        if op == "mean":
            a /= _world["size"]
    return x


def broadcast(x, root: int = 0):
    """``x`` (a Tensor or array) replaced, in place, by rank ``root``'s; returns it."""
    a = _array(x)
    if _world["size"] > 1:
        if backend.get_backend(a).name == "cuda":               # pragma: no cover (GPU)
            import cupy
            _nccl().bcast(a.data.ptr, a.size, _nccl_type(a.dtype), root,
                          cupy.cuda.get_current_stream().ptr)
        else:
            _world["comm"].Bcast(a, root=root)
    return x


def broadcast_parameters(model: Module, root: int = 0) -> None:
    """Every parameter and buffer (BatchNormalization's statistics, ...) of ``model`` set
    to rank ``root``'s, so that all ranks start from the same weights."""
    if _world["size"] == 1:
        return
    for m in model.modules():
        for p in m._params.values():
            broadcast(p.data, root)
        for name in m._buffer_names():
            broadcast(getattr(m, name), root)


def all_reduce_gradients(parameters, scale: float = 1.0, op: str = "sum",
                         bucket_bytes: Optional[int] = None) -> None:
    """Sum (``op='sum'``) or average (``'mean'``) the gradients of ``parameters`` over all
    ranks, after multiplying them by ``scale``, in place. The gradients travel packed
    into buckets of about ``bucket_bytes`` (default ``BUCKET_BYTES``) per dtype: a few
    large messages, not one per tensor. A parameter without a gradient counts as zeros
    (and gets one)."""
    if op not in ("sum", "mean"):
        raise ValueError(f"all_reduce_gradients: op must be 'sum' or 'mean', got {op!r}")
    params = list(parameters.parameters() if isinstance(parameters, Module) else parameters)
    if _world["size"] == 1:
        if scale != 1.0:
            for p in params:
                if p.grad is not None:
                    p.grad.data *= p.grad.dtype.type(scale)
        return
    if op == "mean":
        scale = scale / _world["size"]
    for bucket in _buckets(params, bucket_bytes):
        xp = backend.get_array_module(bucket[0].data)
        flat = xp.concatenate([_grad_or_zeros(p).reshape(-1) for p in bucket])
        if scale != 1.0:
            flat *= flat.dtype.type(scale)
        _sum_in_place(flat)
        start = 0
        for p in bucket:
            p.grad = Tensor._wrap(flat[start:start + p.size].reshape(p.shape))
            start += p.size


def _grad_or_zeros(p):
    if p.grad is None:
        return backend.get_array_module(p.data).zeros_like(p.data)
    return p.grad.data


def _buckets(params, bucket_bytes: Optional[int] = None):
    """Parameters in order, grouped by dtype and device into runs of <= bucket_bytes
    (``BUCKET_BYTES`` by default)."""
    limit = bucket_bytes or BUCKET_BYTES
    out, cur, size, key = [], [], 0, None
    for p in params:
        k = (p.dtype, p.device)
        if cur and (k != key or size + p.data.nbytes > limit):
            out.append(cur)
            cur, size = [], 0
        cur.append(p)
        size += p.data.nbytes
        key = k
    if cur:
        out.append(cur)
    return out


def shard_rows(n: int, r: Optional[int] = None, size: Optional[int] = None) -> slice:
    """The rows of a batch of ``n`` that rank ``r`` (this one by default) computes: ``size``
    contiguous parts as equal as possible (a part is empty when n < size)."""
    r = _world["rank"] if r is None else r
    size = _world["size"] if size is None else size
    return slice(r * n // size, (r + 1) * n // size)


class DistributedSampler:
    """This rank's indices of a dataset of ``n`` examples for each epoch: one permutation
    (seeded by ``seed`` and the epoch, the same on every rank; the identity without
    ``shuffle``) dealt out round-robin, so every example is used exactly once per epoch
    across the ranks (the shares differ by at most one when ``n`` is not a multiple of the
    world size). Call ``set_epoch(e)`` before each epoch to reshuffle."""

    def __init__(self, n: int, shuffle: bool = True, seed: int = 0):
        self.n, self.shuffle, self.seed, self.epoch = int(n), shuffle, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        order = (np.random.default_rng((self.seed, self.epoch)).permutation(self.n)
                 if self.shuffle else np.arange(self.n))
        return order[_world["rank"]::_world["size"]]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return len(range(_world["rank"], self.n, _world["size"]))


class DataParallel(Module):
    """A model whose gradients are averaged over the ranks by ``sync_gradients()`` (call it
    between ``backward()`` and the optimizer's ``step()``); the weights are broadcast from
    rank 0 when it is made. Calling it calls the model."""

    def __init__(self, model: Module, bucket_bytes: Optional[int] = None):
        super().__init__()
        init()
        self.module = model
        self.bucket_bytes = bucket_bytes
        broadcast_parameters(model)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def sync_gradients(self) -> None:
        """Average the gradients over all ranks (in place, bucketed)."""
        all_reduce_gradients(self.module, op="mean", bucket_bytes=self.bucket_bytes)

