"""Data-parallel training and the collectives in a world of threads (tests/thread_world.py):
the same checks as the mpiexec tests, inside this process, and each collective's
arithmetic with ranks that hold different values."""
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad.keras import callbacks, layers, losses, models

from thread_world import run_ranks


@pytest.fixture(autouse=True)
def float64():
    mg.set_default_dtype("float64")
    yield
    mg.set_default_dtype("float32")


def data(n):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 6))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    return x, y


def train(rank, n, tmp_path, loss="sparse_categorical_crossentropy", verbose=0, **fit):
    """The mpiexec test's program: rank 1 starts from other weights (rank 0's must win)."""
    x, y = data(n)
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                           layers.Dense(3, activation="softmax")])
    if rank == 1:
        m.layers[0].kernel.data += 1.0
    m.compile(optimizer=mg.optim.Adam(learning_rate=0.05), loss=loss, metrics=["accuracy"])
    log = callbacks.CSVLogger(str(tmp_path / "log.csv"))
    h = m.fit(x, y, batch_size=10, epochs=3, verbose=verbose, callbacks=[log],
              validation_data=(x[:7], y[:7]), **fit)
    ev = m.evaluate(x, y, batch_size=8, verbose=verbose)
    return {k: v.copy() for k, v in m.state_dict().items()}, h.history, ev


def assert_same_run(got, ref):
    state, hist, ev = got
    for k, v in ref[0].items():
        np.testing.assert_allclose(state[k], v, rtol=1e-10, atol=1e-12, err_msg=k)
    assert hist.keys() == ref[1].keys()
    for k, v in ref[1].items():
        np.testing.assert_allclose(hist[k], v, rtol=1e-10, err_msg=k)
    np.testing.assert_allclose(ev, ref[2], rtol=1e-10)


@pytest.mark.parametrize("n, shuffle", [(37, True), (31, False)])
def test_two_thread_ranks_train_the_weights_of_one_process(tmp_path, monkeypatch, n,
                                                           shuffle):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = run_ranks(lambda r: train(r, n, tmp_path / "one", shuffle=shuffle), 1,
                    monkeypatch)[0]
    two = run_ranks(lambda r: train(r, n, tmp_path / "two", shuffle=shuffle), 2,
                    monkeypatch)
    for got in two:
        assert_same_run(got, one)
    assert (tmp_path / "two" / "log.csv").read_text().count("\n") == 4   # rank 0 alone


def test_a_summed_loss_is_summed_over_the_ranks_unweighted(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    loss = losses.SparseCategoricalCrossentropy(reduction="sum")
    one = run_ranks(lambda r: train(r, 23, tmp_path / "a", loss=loss), 1, monkeypatch)[0]
    two = run_ranks(lambda r: train(r, 23, tmp_path / "b", loss=loss), 2, monkeypatch)
    for got in two:
        assert_same_run(got, one)



def test_frozen_weights_get_no_gradient_from_the_other_ranks(monkeypatch):
    """A layer frozen after compile stays in the optimizer's list; the ranks' gradients
    are combined for the trainable weights only (a zero gradient made up for a frozen
    one would let AdamW's decay move it)."""
    def run(rank):
        x, y = data(20)
        mg.manual_seed(0)
        m = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer=mg.optim.AdamW(learning_rate=0.05, weight_decay=0.5),
                  loss="sparse_categorical_crossentropy")
        m.layers[0].trainable = False
        before = m.get_weights()
        m.fit(x, y, batch_size=10, epochs=1, verbose=0)
        return before, m.get_weights(), m.layers[0].kernel.grad
    for before, after, grad in run_ranks(run, 2, monkeypatch):
        assert [np.array_equal(b, a) for b, a in zip(before, after)] == [True, True, False,
                                                                         False]
        assert grad is None

def test_only_rank_zero_prints(tmp_path, monkeypatch, capsys):
    run_ranks(lambda r: train(r, 20, tmp_path, verbose=1), 1, monkeypatch)
    alone = capsys.readouterr().out
    run_ranks(lambda r: train(r, 20, tmp_path, verbose=1), 2, monkeypatch)
    both = capsys.readouterr().out
    for text in (alone, both):
        assert text.count("Epoch 1/3") == 1 and text.count("Epoch 3/3") == 1
    # fit's three epoch lines and evaluate's: one of each, from rank 0
    assert both.count("val_loss") == alone.count("val_loss") == 3
    assert both.count("\n") == alone.count("\n")


def test_rank_view_keeps_the_callbacks_every_rank_runs(monkeypatch):
    from minigrad.training import parallel
    stop, log = callbacks.EarlyStopping(), callbacks.CSVLogger("unused.csv")
    views = run_ranks(lambda r: parallel.rank_view(2, [stop, log]), 2, monkeypatch)
    assert views[0] == (2, [stop, log])
    assert views[1] == (0, [stop])
    assert run_ranks(lambda r: parallel.rank_view(1, None), 2, monkeypatch)[1] == (0, [])


def test_all_reduce_sums_or_averages_in_place(monkeypatch):
    def body(r):
        a = np.array([1.0, 2.0]) * (r + 1)
        t = mg.tensor([10.0 * (r + 1)])
        assert dist.all_reduce(a) is a and dist.all_reduce(t, op="mean") is t
        with pytest.raises(ValueError) as err:
            dist.all_reduce(np.ones((3, 4))[:, ::2])
        assert str(err.value) == "all_reduce: the array must be contiguous"
        return a, t.numpy()
    for a, t in run_ranks(body, 3, monkeypatch):
        np.testing.assert_array_equal(a, [6.0, 12.0])
        np.testing.assert_array_equal(t, [20.0])


def test_broadcast_and_broadcast_parameters_take_the_roots_values(monkeypatch):
    def body(r):
        a = np.full(3, float(r))
        dist.broadcast(a, root=1)
        mg.manual_seed(r)                         # different weights on every rank
        m = models.Sequential([layers.Dense(2, input_shape=(3,)),
                               layers.BatchNormalization()])
        m.layers[1].moving_mean[...] = r + 5.0
        dist.broadcast_parameters(m)
        return a, {k: v.copy() for k, v in m.state_dict().items()}
    (a0, s0), (a1, s1) = run_ranks(body, 2, monkeypatch)
    np.testing.assert_array_equal(a0, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(a1, a0)
    assert s0.keys() == s1.keys() and any("moving_mean" in k for k in s0)
    for k in s0:
        np.testing.assert_array_equal(s1[k], s0[k], err_msg=k)
    mean = next(k for k in s0 if "moving_mean" in k)
    np.testing.assert_array_equal(s0[mean], [5.0, 5.0])


@pytest.mark.parametrize("bucket_bytes", [None, 24])
def test_all_reduce_gradients_scales_sums_and_fills_missing_ones(monkeypatch, bucket_bytes):
    def body(r):
        p = mg.tensor([1.0, 1.0, 1.0], requires_grad=True)
        q = mg.tensor([[1.0, 1.0]], requires_grad=True)
        s = mg.tensor([1.0], dtype="float32", requires_grad=True)
        p.grad = mg.tensor([1.0, 2.0, 3.0]) * (r + 1)
        if r == 0:
            q.grad = mg.tensor([[4.0, 8.0]])      # rank 1 has none: it counts as zeros
        s.grad = mg.tensor([2.0], dtype="float32")
        dist.all_reduce_gradients([p, q, s], scale=0.5, bucket_bytes=bucket_bytes)
        out = [p.grad.numpy(), q.grad.numpy(), s.grad.numpy()]
        dist.all_reduce_gradients([p], op="mean", bucket_bytes=bucket_bytes)
        with pytest.raises(ValueError, match="all_reduce_gradients: op must be 'sum' or "
                                             "'mean', got 'max'"):
            dist.all_reduce_gradients([p], op="max")
        return out + [p.grad.numpy(), q.grad.dtype, s.grad.dtype]
    for pg, qg, sg, pmean, qd, sd in run_ranks(body, 2, monkeypatch):
        np.testing.assert_array_equal(pg, [1.5, 3.0, 4.5])
        np.testing.assert_array_equal(qg, [[2.0, 4.0]])
        np.testing.assert_array_equal(sg, [2.0])
        np.testing.assert_array_equal(pmean, [1.5, 3.0, 4.5])   # already equal on both
        assert qd == np.float64 and sd == np.float32


def test_data_parallel_averages_the_gradients_of_the_ranks(monkeypatch):
    def body(r):
        mg.manual_seed(r)
        model = mg.nn.Dense(2, input_shape=(3,))
        dp = dist.DataParallel(model, bucket_bytes=16)
        x = mg.tensor(np.arange(12.0).reshape(4, 3) * (r + 1))
        dp(x).sum().backward()
        grads = [p.grad.numpy().copy() for p in model.parameters()]
        dp.sync_gradients()
        return grads, [p.grad.numpy() for p in model.parameters()], model.state_dict()
    (g0, m0, s0), (g1, m1, s1) = run_ranks(body, 2, monkeypatch)
    for k in s0:
        np.testing.assert_array_equal(s0[k], s1[k])        # rank 0's weights on both
    for a, b, ma, mb in zip(g0, g1, m0, m1):
        np.testing.assert_allclose(ma, (a + b) / 2, rtol=1e-12)
        np.testing.assert_array_equal(ma, mb)


def test_sampler_and_shards_split_the_data_between_the_ranks(monkeypatch):
    def body(r):
        s = dist.DistributedSampler(11, seed=3)
        plain = dist.DistributedSampler(5, shuffle=False)
        return list(s), len(s), list(plain), len(plain), dist.shard_rows(7)
    (a, na, p0, np0, r0), (b, nb, p1, np1, r1) = run_ranks(body, 2, monkeypatch)
    assert sorted(a + b) == list(range(11)) and (na, nb) == (6, 5)
    assert (len(a), len(b)) == (6, 5)
    order = np.random.default_rng((3, 0)).permutation(11)
    assert a == list(order[0::2]) and b == list(order[1::2])
    assert (p0, p1, np0, np1) == ([0, 2, 4], [1, 3], 3, 2)
    assert (r0, r1) == (slice(0, 3), slice(3, 7))


def test_init_reads_the_world_and_aborts_the_job_on_an_error(monkeypatch, capsys):
    ranks = run_ranks(lambda r: (dist.barrier(), dist.rank(), dist.world_size(),
                                 dist.is_initialized())[1:], 2, monkeypatch)
    assert ranks == [(0, 2, True), (1, 2, True)]
    assert sys.excepthook is dist._abort_on_error
    assert dist.init() == (0, 2)                  # once: not read again
    comm = dist._world["comm"]
    try:
        raise ValueError("rank zero broke")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    err = capsys.readouterr().err
    assert err.startswith("minigrad.distributed: rank 0 of 2 failed; aborting the job:\n")
    assert "ValueError: rank zero broke" in err
    assert comm.aborted == [1]


class PerRankStdout:
    """sys.stdout that keeps what each rank's thread writes apart."""

    def __init__(self):
        import threading
        self.current, self.text = threading.current_thread, {}

    def write(self, s):
        name = self.current().name
        self.text[name] = self.text.get(name, "") + s

    def flush(self):
        pass


def test_rank_zero_alone_prints_fit_and_evaluate(tmp_path, monkeypatch):
    out = PerRankStdout()
    monkeypatch.setattr(sys, "stdout", out)
    run_ranks(lambda r: train(r, 20, tmp_path, verbose=1), 2, monkeypatch)
    assert set(out.text) == {"rank-0"}
    text = out.text["rank-0"]
    assert text.count("Epoch 1/3") == 1 and text.count("val_loss") == 3
    assert text.count("\n") == 3 * 2 + 1           # three epochs (title and line), evaluate


def test_rank_view_runs_callbacks_without_the_flag_everywhere(monkeypatch):
    from minigrad.training import parallel

    class Plain:                                   # a callback by duck typing
        pass
    plain = Plain()
    views = run_ranks(lambda r: parallel.rank_view(1, [plain]), 2, monkeypatch)
    assert views == [(1, [plain]), (0, [plain])]


def test_ranks_seeded_differently_shuffle_in_rank_zeros_order(tmp_path, monkeypatch):
    x, y = data(24)

    def body(r):
        mg.manual_seed(0)
        m = models.Sequential([layers.Dense(3, activation="tanh", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer=mg.optim.SGD(learning_rate=0.3),
                  loss="sparse_categorical_crossentropy")
        mg.manual_seed(100 + r)                    # each rank's own shuffling generator
        m.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return m.state_dict()
    s0, s1 = run_ranks(body, 2, monkeypatch)
    one = run_ranks(body, 1, monkeypatch)[0]
    for k in s0:
        np.testing.assert_array_equal(s1[k], s0[k])
        np.testing.assert_allclose(s0[k], one[k], rtol=1e-10, err_msg=k)


# In a world of one (moved here from test_distributed.py, whose other tests run
# mpiexec: mutation testing leaves that file out)
def test_shards_and_sampler_use_every_example_once():
    for n in (0, 1, 5, 10, 37):
        for size in (1, 2, 3):
            parts = [dist.shard_rows(n, r, size) for r in range(size)]
            rows = [i for p in parts for i in range(n)[p]]
            assert rows == list(range(n))
            assert max(len(range(n)[p]) for p in parts) - min(
                len(range(n)[p]) for p in parts) <= 1
    s = dist.DistributedSampler(11, seed=3)
    first = s.indices()
    assert sorted(first) == list(range(11)) and len(s) == 11       # a world of one
    s.set_epoch(1)
    assert sorted(s.indices()) == list(range(11)) and list(s.indices()) != list(first)
    assert list(dist.DistributedSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


def test_world_of_one_calls_change_nothing_and_check_their_arguments():
    dist.init()
    x = mg.tensor([1.0, 2.0])
    assert dist.all_reduce(x) is x and dist.broadcast(x) is x
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
    with pytest.raises(ValueError, match="op must be 'sum' or 'mean'"):
        dist.all_reduce(x, op="max")
    p = mg.tensor([1.0, 1.0], requires_grad=True)
    p.grad = mg.tensor([2.0, 4.0])
    dist.all_reduce_gradients([p], scale=0.5)
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, 2.0])
    model = mg.nn.Dense(2, input_shape=(3,))
    dp = dist.DataParallel(model)
    out = dp(mg.ones(4, 3))
    assert out.shape == (4, 2)
    out.sum().backward()
    before = [p.grad.numpy().copy() for p in model.parameters()]
    dp.sync_gradients()                                  # the mean over one rank: unchanged
    for p, g in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_buckets_group_by_dtype_and_size(monkeypatch):
    monkeypatch.setattr(dist, "BUCKET_BYTES", 100)
    ps = [mg.zeros(10, dtype="float32"), mg.zeros(10, dtype="float32"),
          mg.zeros(3, dtype="float64"), mg.zeros(30, dtype="float32")]
    sizes = [[p.size for p in b] for b in dist._buckets(ps)]
    assert sizes == [[10, 10], [3], [30]]
    assert [[p.size for p in b] for b in dist._buckets(ps, 40)] == [[10], [10], [3], [30]]


@pytest.fixture
def world(monkeypatch):
    """A fresh, plain (not yet initialised) world; returns a setter for mpi4py."""
    monkeypatch.setattr(dist, "_world", {"comm": None, "rank": 0, "size": 1,
                                         "initialized": False, "nccl": None})
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)

    def with_mpi(module):
        monkeypatch.setitem(sys.modules, "mpi4py", module)
    return with_mpi


def test_init_without_mpi4py_or_with_one_rank_changes_nothing(world):
    hook = sys.excepthook
    world(None)                                     # as if mpi4py were not installed
    assert dist.init() == (0, 1) and dist.is_initialized()
    a = np.arange(3.0)
    assert dist.all_reduce(a, op="mean") is a and a.tolist() == [0.0, 1.0, 2.0]
    assert dist.broadcast(a) is a
    dist.barrier()
    assert sys.excepthook is hook


def test_init_reads_rank_and_size_from_the_communicator(world):
    from thread_world import fake_mpi4py

    class Comm:
        def __init__(self, rank, size):
            self.rank, self.size = rank, size

        def Get_rank(self):
            return self.rank

        def Get_size(self):
            return self.size
    world(fake_mpi4py(Comm(0, 1)))
    hook = sys.excepthook
    assert dist.init() == (0, 1) and sys.excepthook is hook      # one rank: no abort hook
    dist._world["initialized"] = False
    world(fake_mpi4py(Comm(2, 3)))
    assert dist.init() == (2, 3) and dist.rank() == 2 and dist.world_size() == 3
    assert sys.excepthook is dist._abort_on_error


def test_the_abort_message_carries_the_whole_traceback(world, capsys):
    import traceback

    class Comm:
        codes = []

        def Abort(self, code):
            self.codes.append(code)
    dist._world.update(comm=Comm(), rank=1, size=2)
    try:
        raise KeyError("lost")
    except KeyError:
        info = sys.exc_info()
    dist._abort_on_error(*info)
    assert capsys.readouterr().err == (
        "minigrad.distributed: rank 1 of 2 failed; aborting the job:\n"
        + "".join(traceback.format_exception(*info)))
    assert Comm.codes == [1]


def test_barrier_waits_for_every_rank(monkeypatch):
    import time
    flags = []

    def body(r):
        if r == 1:
            time.sleep(0.2)
            flags.append("one")
        dist.barrier()
        return list(flags)
    seen = run_ranks(body, 2, monkeypatch)
    assert seen[0] == ["one"]


def test_collectives_default_to_root_zero_and_scale_by_any_factor(monkeypatch):
    def body(r):
        a = np.full(2, float(r))
        dist.broadcast(a)
        mg.manual_seed(r)
        m = models.Sequential([layers.Dense(2, input_shape=(2,)),
                               layers.BatchNormalization()])
        m.layers[1].moving_mean[...] = 10.0 + r
        dist.broadcast_parameters(m, root=1)
        p = mg.tensor([1.0, 2.0], requires_grad=True)
        p.grad = mg.tensor([1.0, 2.0])
        dist.all_reduce_gradients([p], scale=2.0)
        dp = dist.DataParallel(Offset())
        return a, m.state_dict(), p.grad.numpy(), dp(mg.ones(1, 2), offset=3.0).numpy()
    (a0, s0, g0, o0), (a1, s1, g1, _) = run_ranks(body, 2, monkeypatch)
    assert a0.tolist() == a1.tolist() == [0.0, 0.0]
    for k in s1:
        np.testing.assert_array_equal(s0[k], s1[k])
    mean = next(k for k in s0 if "moving_mean" in k)
    assert s0[mean].tolist() == [11.0, 11.0]
    mg.manual_seed(1)
    want = mg.nn.Dense(2, input_shape=(2,)).state_dict()
    kernel = next(k for k in s0 if k.endswith("kernel"))
    np.testing.assert_array_equal(s0[kernel], want["kernel"])
    assert g0.tolist() == g1.tolist() == [4.0, 8.0] and o0.tolist() == [[4.0, 4.0]]


class Offset(mg.nn.Module):
    def forward(self, x, offset=0.0):
        return x + offset


def test_a_world_of_one_scales_gradients_and_leaves_missing_ones(world):
    world(None)
    dist.init()
    p = mg.tensor([1.0, 1.0], requires_grad=True)
    q = mg.tensor([1.0], requires_grad=True)
    p.grad = mg.tensor([2.0, 4.0])
    dist.all_reduce_gradients([p, q], scale=2.0)
    assert p.grad.numpy().tolist() == [4.0, 8.0] and q.grad is None
    dist.all_reduce_gradients([p])
    assert p.grad.numpy().tolist() == [4.0, 8.0]


def test_buckets_fill_up_to_the_limit_exactly(monkeypatch):
    ps = [mg.zeros(5, dtype="float64"), mg.zeros(5, dtype="float64"),
          mg.zeros(5, dtype="float64"), mg.zeros(2, dtype="float32")]
    sizes = [[p.size for p in b] for b in dist._buckets(ps, 80)]
    assert sizes == [[5, 5], [5], [2]]
    four = [mg.zeros(5, dtype="float64") for _ in range(4)]
    assert [[p.size for p in b] for b in dist._buckets(four, 80)] == [[5, 5], [5, 5]]
    assert [[p.size for p in b] for b in dist._buckets(ps, 120)] == [[5, 5, 5], [2]]


def test_the_sampler_defaults_to_seed_zero_and_reshuffles_by_epoch():
    s = dist.DistributedSampler(9)
    assert s.indices().tolist() == np.random.default_rng((0, 0)).permutation(9).tolist()
    s.set_epoch(3)
    assert s.epoch == 3
    assert s.indices().tolist() == np.random.default_rng((0, 3)).permutation(9).tolist()

