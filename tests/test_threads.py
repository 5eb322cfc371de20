"""minigrad's own CPU threads: the setting, the split, and every threaded kernel against
its generic formula (bitwise: rows are never cut), on shapes large enough to be split."""
import os
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import tuning
from minigrad.kernels import elementwise as ew
from minigrad.kernels.cpu import threaded

needs_openblas = pytest.mark.skipif(tuning._blas_threads() is None,
                                    reason="BLAS thread count not settable here")


@pytest.fixture
def threads(monkeypatch):
    """A function that sets minigrad's thread count for one test; the setting before the
    test (and BLAS's thread count) comes back afterwards."""
    before = dict(tuning._THREADS)
    blas = tuning._blas_threads()

    def use(n):
        tuning._THREADS["n"] = n         # the split only: BLAS is left as it is
        return n
    yield use
    tuning._THREADS.clear()
    tuning._THREADS.update(before)
    if blas is not None:
        tuning._set_blas_threads(blas)


@pytest.fixture
def workers_seen(monkeypatch):
    """The names of the threads that ran a share of a kernel's work."""
    seen = []
    real = tuning.parallel

    def spy(fn, slices):
        def share(s):
            seen.append(threading.current_thread().name)
            fn(s)
        real(share, slices)
    monkeypatch.setattr(tuning, "parallel", spy)
    return seen


R = np.random.default_rng(0)


def a(*shape, dtype=np.float32):
    return R.standard_normal(shape).astype(dtype)


CASES = {
    "relu_grad": lambda: (a(600, 257), a(600, 257)),
    "gelu_tanh": lambda: (3 * a(64, 33, 80), 0.7978845608, 0.044715),
    "gelu_tanh_grad": lambda: (a(1025, 130), 3 * a(1025, 130), np.tanh(a(1025, 130)),
                               0.7978845608, 0.044715),
    "sum_rows": lambda: (a(301, 1000),),
    "layer_norm": lambda: (3 * a(999, 128) + 1, 1e-5),
    "layer_norm_grad": lambda: (a(999, 128), a(999, 128), np.abs(a(999, 1)) + 0.5),
    "softmax_rows": lambda: (3 * a(2001, 64),),
    "softmax_rows_grad": lambda: (a(2001, 64), np.abs(a(2001, 64)) / 8),
    "matmul": lambda: (a(301, 200), a(200, 90)),
}


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_threaded_kernels_equal_the_generic_formulas_bitwise(name, n, threads, workers_seen):
    args = CASES[name]()
    threads(n)
    got = threaded.elementwise_kernels()[name](*args)
    workers = set(workers_seen)
    assert len(workers) > 1
    threads(1)
    want = ew.GENERIC[name](*args)
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        if name == "matmul":        # BLAS may block a whole product and its rows apart
            np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-5)
        else:
            np.testing.assert_array_equal(g, w)
    assert len(workers_seen) == n and workers_seen.count("MainThread") == 1
    assert all(w == "MainThread" or w.startswith("minigrad-cpu") for w in workers)


def test_adam_step_in_slices_updates_every_value_as_one_step(threads, workers_seen):
    p, g, m, v = a(400, 300), a(400, 300), a(400, 300), np.abs(a(400, 300))
    mine = [x.copy() for x in (p, g, m, v)]
    threads(2)
    threaded.adam_step(*mine, 0.9, 0.999, 1e-3, 1.001, 1e-7)
    assert len(set(workers_seen)) == 2
    ew.adam_step_generic(p, g, m, v, 0.9, 0.999, 1e-3, 1.001, 1e-7)
    for x, y in zip(mine, (p, g, m, v)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((4, 64, 32), (4, 32, 300)),           # batches of both
    ((4, 64, 300), (300, 70)),             # batches of a times one matrix
    ((300, 200), (200, 90)),
])
def test_threaded_products_of_batches(a_shape, b_shape, threads, workers_seen):
    x, y = a(*a_shape), a(*b_shape)
    threads(2)
    got = threaded.matmul(x, y)
    assert len(set(workers_seen)) == 2
    np.testing.assert_allclose(got, x @ y, rtol=2e-6, atol=1e-5)
    threads(2)
    t = threaded.matmul(np.swapaxes(y, -1, -2) if y.ndim == x.ndim else y.T, np.ones(
        (y.shape[-2], 3), np.float32))      # transposed views go to BLAS as they are
    np.testing.assert_allclose(t, (np.swapaxes(y, -1, -2) if y.ndim == x.ndim else y.T)
                               @ np.ones((y.shape[-2], 3), np.float32), rtol=2e-6, atol=1e-5)


@pytest.mark.parametrize("call", [
    lambda: threaded.matmul(a(300, 200), a(200, 90)),
    lambda: threaded.gelu_tanh(a(300, 300), 0.8, 0.04),
    lambda: threaded.softmax_rows(a(3000, 64)),
    lambda: threaded.sum_rows(a(3000, 64)),
])
def test_one_thread_or_small_work_runs_the_generic_kernel_in_one_piece(call, threads,
                                                                       workers_seen):
    threads(1)
    call()
    assert workers_seen == []
    threads(2)
    threaded.gelu_tanh(a(2, 100), 0.8, 0.04)            # 200 values: not worth a thread
    threaded.softmax_rows(a(4000, 64), 0)               # along the axis that would be cut
    threaded.layer_norm(a(4000, 64), 1e-5, (0, 1))      # over several axes
    threaded.matmul(a(2, 200), a(200, 90))              # 36,000 multiply-adds
    threaded.relu_grad(a(300, 300), a(300))             # shapes that broadcast
    assert workers_seen == []


def test_split_shares_the_work_and_refuses_small_pieces(threads):
    threads(3)
    assert tuning.split(10, 3) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert tuning.split(10, 4) == [slice(0, 5), slice(5, 10)]
    assert tuning.split(10, 6) is None and tuning.split(0, 1) is None
    threads(1)
    assert tuning.split(10, 1) is None


def test_an_error_in_a_thread_is_raised_after_every_share_is_done(threads):
    threads(2)
    done = []

    def work(s):
        if s.start > 0:
            raise ValueError("share 2 failed")
        threading.Event().wait(0.05)
        done.append(s)
    with pytest.raises(ValueError, match="share 2 failed"):
        tuning.parallel(work, [slice(0, 1), slice(1, 2)])
    assert done == [slice(0, 1)]


def test_a_kernel_called_from_a_worker_runs_in_one_piece(threads):
    threads(2)
    seen = []

    def work(s):
        seen.append(tuning.split(1000, 1))
    tuning.parallel(work, [slice(0, 1), slice(1, 2)])
    assert sorted(map(str, seen)) == ["None", "[slice(0, 500, None), slice(500, 1000, None)]"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_cpu_threads_refuses_what_is_not_a_count(bad, threads):
    with pytest.raises(ValueError) as e:
        tuning.set_cpu_threads(bad)
    assert str(e.value) == f"set_cpu_threads: n must be a positive integer, got {bad!r}"


@needs_openblas
def test_set_cpu_threads_puts_blas_on_one_thread_and_gives_it_back(threads):
    tuning.set_cpu_threads(1)
    before = tuning._blas_threads()
    assert tuning.set_cpu_threads(2) == 2 and tuning.cpu_threads() == 2
    assert tuning._blas_threads() == 1
    assert tuning.set_cpu_threads(3) == 3 and tuning._blas_threads() == 1
    assert tuning.set_cpu_threads(1) == 1 and tuning.cpu_threads() == 1
    assert tuning._blas_threads() == before


def test_without_a_settable_blas_minigrad_keeps_one_thread(threads, monkeypatch):
    tuning.set_cpu_threads(1)
    monkeypatch.setattr(tuning, "_BLAS", {"functions": []})
    assert tuning.set_cpu_threads(2) == 1 and tuning.cpu_threads() == 1


def test_the_default_count_is_the_environment_variable_or_the_usable_cores(threads,
                                                                          monkeypatch):
    tuning.set_cpu_threads(1)
    monkeypatch.setattr(tuning, "_BLAS", {"functions": [(lambda n: None, lambda: 4)]})
    monkeypatch.setenv("MINIGRAD_CPU_THREADS", "3")
    assert tuning.set_cpu_threads() == 3
    monkeypatch.delenv("MINIGRAD_CPU_THREADS")
    monkeypatch.setattr(tuning, "_usable_cores", lambda: 5)
    assert tuning.set_cpu_threads() == 5
    tuning.set_cpu_threads(1)


def test_a_forked_child_starts_its_own_workers(threads):
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    threads(2)
    tuning.parallel(lambda s: None, [slice(0, 1), slice(1, 2)])     # the parent's pool
    pid = os.fork()
    if pid == 0:                                                    # pragma: no cover
        ok = False
        try:
            x = a(300, 300)
            ok = np.array_equal(threaded.gelu_tanh(x, 0.8, 0.04)[0],
                                ew.gelu_tanh_generic(x, 0.8, 0.04)[0])
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_training_with_threads_gives_the_same_model_as_without(threads):
    """A GPT step (products, GELU, layer norm, softmax, Adam) on one thread and on two."""
    from minigrad import nn, optim
    results = []
    for n in (1, 2):
        threads(n)
        mg.manual_seed(0)
        model = nn.GPT(vocab_size=11, block_size=16, n_layer=1, n_head=2, n_embd=128)
        opt = optim.AdamW(model.parameters(), lr=1e-3)
        idx = np.random.default_rng(1).integers(0, 11, (32, 16))
        for _ in range(2):
            loss = model.loss(mg.tensor(idx[:, :-1]), mg.tensor(idx[:, 1:]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        results.append([p.numpy().copy() for p in model.parameters()])
    for p1, p2 in zip(*results, strict=True):
        np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)
