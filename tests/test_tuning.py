"""The CPU tuning helpers, in this process: what the allocator setting asks glibc for (a
stand-in C library records the calls; tests/test_process.py checks the real effect in a
fresh process), and the exact slices of micro-batches and cache-sized chunks."""
import ctypes
import platform

import numpy as np
import pytest

import minigrad as mg
from minigrad import tuning

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


class FakeLibc:
    """Records mallopt(param, value) calls and answers ``result`` (glibc: 1 = done)."""

    def __init__(self, result=1):
        self.calls, self.result = [], result

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.result


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    opened = []

    def cdll(name):
        opened.append(name)
        return fake
    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(tuning, "_ALLOCATOR_CACHE", {"enabled": None, "applied": False})
    fake.opened = opened
    return fake


def test_the_allocator_cache_asks_glibc_for_32_mb_blocks_from_the_heap_and_no_trimming(libc):
    assert tuning.set_cpu_allocator_cache() is True
    assert libc.opened == [None]                      # the process's own C library
    assert libc.calls == [(M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30)]
    assert tuning._ALLOCATOR_CACHE == {"enabled": True, "applied": True}


def test_turning_it_off_restores_glibcs_defaults(libc):
    assert tuning.set_cpu_allocator_cache(False) is True
    assert libc.calls == [(M_MMAP_THRESHOLD, 128 << 10), (M_TRIM_THRESHOLD, 128 << 10)]
    assert tuning._ALLOCATOR_CACHE == {"enabled": False, "applied": False}
    tuning.training_step_begins()                     # the user's choice stands
    assert len(libc.calls) == 2


def test_the_first_training_step_turns_it_on_once(libc):
    tuning.training_step_begins()
    tuning.training_step_begins()
    assert libc.calls == [(M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30)]


def test_a_refused_mallopt_is_reported_and_stops_at_the_first_refusal(libc):
    libc.result = 0
    assert tuning.set_cpu_allocator_cache(True) is False
    assert libc.calls == [(M_MMAP_THRESHOLD, 32 << 20)]
    assert tuning._ALLOCATOR_CACHE == {"enabled": True, "applied": False}
    assert tuning.set_cpu_allocator_cache(False) is False
    assert libc.calls[1:] == [(M_MMAP_THRESHOLD, 128 << 10)]


@pytest.mark.parametrize("error", [OSError, AttributeError])
def test_no_c_library_or_no_mallopt_is_false_not_an_error(monkeypatch, libc, error):
    def cdll(name):
        raise error("no libc")
    monkeypatch.setattr(ctypes, "CDLL", cdll)
    assert tuning.set_cpu_allocator_cache(True) is False
    assert tuning._ALLOCATOR_CACHE["enabled"] is True


def test_other_systems_are_left_alone(monkeypatch, libc):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert tuning.set_cpu_allocator_cache(True) is False
    assert libc.calls == [] and libc.opened == []
    assert tuning._ALLOCATOR_CACHE == {"enabled": True, "applied": False}


def test_micro_batches_are_exact_slices_on_the_cpu_and_one_slice_elsewhere():
    cpu = np.zeros((25, 2))
    assert tuning.micro_batches(cpu, 25, 10) == [slice(0, 10), slice(10, 20), slice(20, 25)]
    assert tuning.micro_batches(cpu, 10, 10) == [slice(0, 10)]
    assert tuning.micro_batches(cpu, 5, 10) == [slice(0, 5)]
    other = mg.zeros(25, 2, device="strict").data     # like a GPU: one launch, whole batch
    assert tuning.micro_batches(other, 25, 10) == [slice(0, 25)]


def test_batch_chunks_are_cache_sized_on_the_cpu_and_one_slice_elsewhere():
    cpu = np.zeros(3)
    per = tuning.CPU_CHUNK_BYTES // 4
    assert tuning.batch_chunks(cpu, 4, per) == [slice(0, 4)]          # exactly one chunk
    assert tuning.batch_chunks(cpu, 9, per) == [slice(0, 4), slice(4, 8), slice(8, 9)]
    assert tuning.batch_chunks(cpu, 3, 2 * tuning.CPU_CHUNK_BYTES) == \
        [slice(0, 1), slice(1, 2), slice(2, 3)]                       # at least one item
    other = mg.zeros(3, device="strict").data
    assert tuning.batch_chunks(other, 9, per) == [slice(0, 9)]


def test_batch_chunks_of_one_byte_items():
    cpu = np.zeros(1)
    n = tuning.CPU_CHUNK_BYTES + 1
    assert tuning.batch_chunks(cpu, n, 1) == [slice(0, n - 1), slice(n - 1, n)]
    assert tuning.batch_chunks(cpu, n, 0) == [slice(0, n)]      # nothing to chunk


def test_flush_tiny_threshold_is_binades_above_the_smallest_normal_and_cpu_only():
    tiny = np.finfo(np.float32).tiny
    a = np.array([2.5 * tiny, 1.5 * tiny, -1.5 * tiny, 0.5], np.float32)
    tuning.flush_tiny(a, 1)                        # below 2 * tiny: set to zero
    assert a.tolist() == [np.float32(2.5 * tiny), 0.0, 0.0, 0.5]
    b = np.array([3.9, 4.1]) * np.finfo(np.float64).tiny
    tuning.flush_tiny(b, 2)
    assert b[0] == 0 and b[1] != 0
    dev = mg.tensor([1.5 * tiny], device="strict").data     # a GPU flushes in hardware
    tuning.flush_tiny(dev, 1)
    assert float(dev[0]) != 0
    ints = np.array([0, 1])
    tuning.flush_tiny(ints, 40)
    assert ints.tolist() == [0, 1]
