"""A test-only data-parallel world of threads, so that ``minigrad.distributed`` and the
data-parallel steps of ``fit``/``evaluate`` run inside the test process (where coverage
and mutation testing see them) instead of only under ``mpiexec``.

``run_ranks(fn, size)`` calls ``fn(rank)`` on ``size`` threads, each one a rank: a stand-in
``mpi4py`` whose ``COMM_WORLD`` all-reduces and broadcasts through shared slots and a
barrier (sums in rank order, as MPI does for a few ranks), and per-thread values of what
a process owns alone: its rank and its host random generator (``mg.manual_seed`` in one
thread seeds that thread's). The threads are named ``rank-R``. Returns the list of
results by rank; the first exception of any rank is raised (the others are released from
their barrier).
"""
from __future__ import annotations

import sys
import threading
import types

import numpy as np

from minigrad import backend
import minigrad.distributed as dist

IN_PLACE = object()
SUM = "sum"


class _Local(threading.local):
    rank = 0
    rng = None


class ThreadComm:
    """The few MPI communicator calls minigrad makes, between threads."""

    def __init__(self, size: int, local: _Local):
        self.size, self.local = size, local
        self.barrier = threading.Barrier(size, timeout=60)
        self.slots = [None] * size
        self.aborted = []

    def Get_rank(self):
        return self.local.rank

    def Get_size(self):
        return self.size

    def Barrier(self):
        self.barrier.wait()

    def Allreduce(self, sendbuf, recvbuf, op):
        assert sendbuf is IN_PLACE and op == SUM
        assert recvbuf.flags.c_contiguous
        self.slots[self.local.rank] = recvbuf.copy()
        self.barrier.wait()
        total = self.slots[0].copy()
        for s in self.slots[1:]:
            total += s
        self.barrier.wait()                 # every rank has read the slots
        recvbuf[...] = total

    def Bcast(self, buf, root=0):
        if self.local.rank == root:
            self.slots[root] = buf.copy()
        self.barrier.wait()
        if self.local.rank != root:
            buf[...] = self.slots[root]
        self.barrier.wait()

    def Abort(self, code):
        self.aborted.append(code)


class _ThreadRng(list):
    """``backend._host_rng``: slot 0 is this thread's generator."""

    def __init__(self, local: _Local):
        super().__init__([None])            # one slot, read through __getitem__
        self.local = local

    def __getitem__(self, i):
        assert i == 0
        if self.local.rng is None:
            self.local.rng = np.random.default_rng()
        return self.local.rng

    def __setitem__(self, i, value):
        assert i == 0
        self.local.rng = value


class _ThreadWorld(dict):
    """``dist._world`` with the rank read from the calling thread."""

    def __init__(self, local: _Local, **kw):
        super().__init__(**kw)
        self.local = local

    def __getitem__(self, key):
        if key == "rank":
            return self.local.rank
        return super().__getitem__(key)


def fake_mpi4py(comm) -> types.ModuleType:
    mpi = types.SimpleNamespace(COMM_WORLD=comm, IN_PLACE=IN_PLACE, SUM=SUM)
    module = types.ModuleType("mpi4py")
    module.MPI = mpi
    return module


def run_ranks(fn, size: int, monkeypatch, init: bool = True):
    """``[fn(0), ..., fn(size - 1)]``, each on its own thread-rank (see the module)."""
    local = _Local()
    comm = ThreadComm(size, local)
    monkeypatch.setitem(sys.modules, "mpi4py", fake_mpi4py(comm))
    monkeypatch.setattr(dist, "_world", _ThreadWorld(
        local, comm=None, rank=0, size=1, initialized=False, nccl=None))
    monkeypatch.setattr(backend, "_host_rng", _ThreadRng(local))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)   # init() replaces it
    if init:
        dist.init()
    results, errors = [None] * size, [None] * size

    def body(r):
        local.rank = r
        try:
            results[r] = fn(r)
        except BaseException as e:      # noqa: BLE001 - handed to the caller
            errors[r] = e
            comm.barrier.abort()

    threads = [threading.Thread(target=body, args=(r,), name=f"rank-{r}")
               for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    real = [e for e in errors if e is not None
            and not isinstance(e, threading.BrokenBarrierError)]
    if real:
        raise real[0]
    if any(e is not None for e in errors):
        raise errors[0]
    return results
