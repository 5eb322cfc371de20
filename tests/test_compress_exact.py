"""Pruning and distillation against hand computations (written from mutation-testing
survivors: the optimizer's moments, masks that accumulate, the boundaries of k, large
logits, every message)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import compress, optim
from minigrad.keras import layers, models


def mlp(seed=0):
    mg.manual_seed(seed)
    return models.Sequential([layers.Dense(6, activation="relu", input_shape=(4,)),
                              layers.Dense(3)])


def adam_trained_dense_pair(seed):
    """Dense(6) -> Dense(3) after one Adam step (so the optimizer has moments)."""
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(6, input_shape=(4,)), layers.Dense(3)])
    m.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(seed)
    m.train_on_batch(rng.random((8, 4), dtype=np.float32), rng.random((8, 3), dtype=np.float32))
    return m


def test_pruning_zeroes_the_optimizers_moments_of_pruned_weights():
    m = adam_trained_dense_pair(seed=0)
    kernel = m.layers[0].kernel
    state = m.optimizer.state[kernel]
    assert all(np.abs(a).min() > 0 for a in (state["m"], state["v"]))
    before = {k: state[k].copy() for k in ("m", "v")}
    compress.prune(m, amount=0.5)
    mask = m.layers[0].kernel_mask
    assert not mask.all() and mask.any()
    for key in ("m", "v"):
        np.testing.assert_array_equal(state[key][~mask], 0)
        np.testing.assert_array_equal(state[key][mask], before[key][mask])   # kept ones


def test_a_second_pruning_keeps_the_first_ones_mask():
    m = mlp(1)
    compress.prune(m, amount=0.5)
    first = [layer.kernel_mask.copy() for layer in m.layers]
    compress.prune(m, amount=0.25, structured=True)          # whole units, per layer
    for layer, before in zip(m.layers, first):
        assert not (layer.kernel_mask & ~before).any()        # nothing comes back
        np.testing.assert_array_equal(layer.kernel.numpy()[~layer.kernel_mask], 0)
        units = (~layer.kernel_mask).all(axis=0)
        assert units.sum() == round(0.25 * layer.kernel.shape[-1])


def test_structured_pruning_of_a_convolution_drops_the_filters_of_smallest_l1_norm():
    mg.manual_seed(2)
    m = models.Sequential([layers.Conv2D(8, 3, input_shape=(6, 6, 2)), layers.Flatten(),
                           layers.Dense(2)])
    w = m.layers[0].kernel.numpy().copy()                     # (3, 3, 2, 8)
    norms = np.abs(w).sum(axis=(0, 1, 2))
    compress.prune(m, amount=0.375, structured=True)          # 3 of 8 filters
    gone = np.sort(np.argsort(norms)[:3])
    k = m.layers[0].kernel.numpy()
    np.testing.assert_array_equal(np.flatnonzero((k == 0).all(axis=(0, 1, 2))), gone)
    np.testing.assert_array_equal(k[..., np.setdiff1d(np.arange(8), gone)],
                                  w[..., np.setdiff1d(np.arange(8), gone)])


def test_pruning_exactly_one_weight_and_none():
    m = mlp(3)
    ws = [layer.kernel.numpy().copy() for layer in m.layers]
    n = sum(w.size for w in ws)                               # 24 + 18 = 42
    compress.prune(m, amount=0.4 / n)                         # round(0.4) = 0: nothing
    assert compress.sparsity(m) == 0.0
    assert all(getattr(layer, "kernel_mask", None) is None for layer in m.layers)
    compress.prune(m, amount=1.0 / n)                         # exactly the smallest one
    flat = np.concatenate([np.abs(w).ravel() for w in ws])
    smallest = np.argmin(flat)
    now = np.concatenate([layer.kernel.numpy().ravel() for layer in m.layers])
    assert np.flatnonzero(now == 0).tolist() == [smallest]
    assert compress.sparsity(m) == pytest.approx(1 / n)


def test_pruning_messages_and_sparsity_without_kernels():
    with pytest.raises(ValueError, match=r"^prune: amount must be"):
        compress.prune(mlp(), amount=1.5)
    unbuilt = models.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match=r"^prune: the model has no built Dense or Conv2D "
                                         r"layer$"):
        compress.prune(unbuilt)
    assert compress.sparsity(unbuilt) == 0.0
    assert compress.sparsity(models.Sequential([layers.Flatten(input_shape=(2, 2))])) == 0.0


def test_distillation_loss_is_stable_for_large_logits_and_zero_for_equal_ones():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((4, 5)) * 3
    t = rng.standard_normal((4, 5)) * 1000                     # exp(t / T) overflows alone
    T = 2.0

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))
    p = np.exp(log_softmax(t / T))
    kl = (p * (log_softmax(t / T) - log_softmax(s / T))).sum(-1).mean() * T ** 2
    got = compress.distillation_loss(mg.tensor(s), t, T)
    assert np.isfinite(got.item())
    assert got.item() == pytest.approx(kl, rel=1e-6, abs=1e-9)
    same = compress.distillation_loss(mg.tensor(s), s, 3.0)
    assert same.item() == pytest.approx(0.0, abs=1e-9)
    # per position for sequence models (N, T, C): the mean over all of them
    s3, t3 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    p3 = np.exp(log_softmax(t3 / T))
    kl3 = (p3 * (log_softmax(t3 / T) - log_softmax(s3 / T))).sum(-1).mean() * T ** 2
    got3 = compress.distillation_loss(mg.tensor(s3.reshape(6, 4)), t3.reshape(6, 4), T)
    assert got3.item() == pytest.approx(kl3, rel=1e-6)


def test_distiller_messages():
    a, b = mlp(), mlp(1)
    with pytest.raises(ValueError, match=r"^Distiller: temperature must be a finite number in "
                                         r"\(0\.0, inf\), got 0$"):
        compress.Distiller(student=a, teacher=b, temperature=0)
    with pytest.raises(ValueError, match=r"^Distiller: alpha must be a finite number in "
                                         r"\[0\.0, 1\.0\], got 1\.5$"):
        compress.Distiller(student=a, teacher=b, alpha=1.5)
    d = compress.Distiller(student=a, teacher=b, temperature=2, alpha=0.25)
    assert (d.temperature, d.alpha) == (2.0, 0.25)
    assert isinstance(d.compile("sgd").optimizer, optim.SGD)


def test_structured_pruning_zeroes_the_moments_too_and_plain_modules_prune():
    from minigrad import nn
    m = adam_trained_dense_pair(seed=1)
    compress.prune(m, amount=0.5, structured=True)
    for layer in m.layers:
        state = m.optimizer.state[layer.kernel]
        for key in ("m", "v"):
            np.testing.assert_array_equal(state[key][~layer.kernel_mask], 0)
    plain = nn.Sequential([nn.Dense(4, input_shape=(3,))])      # no optimizer attribute
    compress.prune(plain, amount=0.5)
    assert compress.sparsity(plain) == 0.5
    with pytest.raises(ValueError, match=r"^prune: amount must be a finite number in "
                                         r"\[0\.0, 1\.0\], got -0\.1$"):
        compress.prune(plain, amount=-0.1)


def test_distillation_loss_reads_nothing_back_from_the_device():
    from strict_backend import TRANSFERS
    rng = np.random.default_rng(3)
    s = mg.tensor(rng.standard_normal((4, 5)), device="strict", requires_grad=True)
    t = mg.tensor(rng.standard_normal((4, 5))).to("strict")
    before = TRANSFERS["count"]
    loss = compress.distillation_loss(s, t, 2.0)
    loss.backward()
    assert TRANSFERS["count"] == before                   # no host read per step
    host = compress.distillation_loss(mg.tensor(s.numpy()), t.numpy(), 2.0)
    assert loss.item() == pytest.approx(host.item(), rel=1e-12)
