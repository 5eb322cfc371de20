"""Distiller and the quantized layers against hand computations (written from
mutation-testing survivors: the mixed loss's weights, the epoch loss, the printed line,
shuffling, the fake-quantized and int8 kernels, the layers' input checks)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import compress, optim
from minigrad.keras import layers, models

rng = np.random.default_rng(1)


def dense_model(seed, units=3, features=4, softmax=True):
    mg.manual_seed(seed)
    return models.Sequential([layers.Dense(units, activation="softmax" if softmax else None,
                                           input_shape=(features,))])


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_the_distillers_loss_is_its_formula():
    student, teacher = dense_model(0), dense_model(1)
    d = compress.Distiller(student=student, teacher=teacher, temperature=2.5, alpha=0.3)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    s = x @ student.layers[0].kernel.numpy() + student.layers[0].bias.numpy()   # logits
    t = x @ teacher.layers[0].kernel.numpy() + teacher.layers[0].bias.numpy()
    hard = -log_softmax(s)[np.arange(6), y].mean()
    T = 2.5
    p = np.exp(log_softmax(t / T))
    soft = T ** 2 * (p * (log_softmax(t / T) - log_softmax(s / T))).sum(-1).mean()
    assert d.loss(x, y).item() == pytest.approx(0.3 * hard + 0.7 * soft, rel=1e-5)
    assert d.loss(mg.tensor(x), y).item() == pytest.approx(0.3 * hard + 0.7 * soft, rel=1e-5)
    assert teacher.training is False                       # the teacher runs in eval mode


def test_fit_reports_the_mean_epoch_loss_and_prints_it(capsys):
    student, teacher = dense_model(0), dense_model(1)
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    d = compress.Distiller(student=student, teacher=teacher).compile(optim.SGD(lr=0.0))
    before = d.loss(x, y).item()                            # lr 0: the loss stays the same
    hist = d.fit(x, y, epochs=2, batch_size=4, verbose=1)
    assert hist is d.history and len(hist["loss"]) == 2
    assert hist["loss"] == pytest.approx([before, before], rel=1e-5)  # sample-weighted mean
    out = capsys.readouterr().out.splitlines()
    assert out == [f"epoch 1/2 - distillation loss {hist['loss'][0]:.4f}",
                   f"epoch 2/2 - distillation loss {hist['loss'][1]:.4f}"]
    d.fit(x, y, epochs=1, batch_size=4)                     # quiet by default
    assert capsys.readouterr().out == ""


def test_fit_shuffles_with_its_seed_and_builds_the_student():
    x = rng.standard_normal((12, 4)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    seen = []

    def run(**kw):
        mg.manual_seed(0)
        student = models.Sequential([layers.Dense(3, activation="softmax")])   # unbuilt
        d = compress.Distiller(student=student, teacher=dense_model(1))
        d.compile(optim.SGD(lr=0.5))
        orig = d.loss

        def loss(xb, yb):
            seen.append(np.asarray(yb).copy())
            return orig(xb, yb)
        d.loss = loss
        d.fit(x, y, epochs=1, batch_size=5, **kw)
        assert student.parameters()                         # built from the data
        return [w.copy() for w in student.get_weights()]
    seen.clear()
    plain = run(shuffle=False)
    assert [b.tolist() for b in seen] == [y[:5].tolist(), y[5:10].tolist(), y[10:].tolist()]
    seen.clear()
    a = run(seed=3)
    order = np.random.default_rng(3).permutation(12)
    assert [b.tolist() for b in seen] == [y[order[i:i + 5]].tolist() for i in (0, 5, 10)]
    seen.clear()
    b = run(seed=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)                 # the same seed, the same run
    assert any(not np.array_equal(u, v) for u, v in zip(a, plain))


def test_distiller_errors_and_evaluate():
    d = compress.Distiller(student=dense_model(0), teacher=dense_model(1))
    x = rng.standard_normal((4, 4)).astype(np.float32)
    with pytest.raises(RuntimeError, match=r"^Distiller: call compile\(optimizer\) first$"):
        d.fit(x, np.zeros(4, int))
    d.compile()
    assert isinstance(d.optimizer, optim.Adam) and d.metrics == ["accuracy"]
    assert d.compile(metrics=None).metrics == []
    with pytest.raises(ValueError, match=r"^Distiller\.fit: x has 4 samples but y has 3$"):
        d.fit(x, np.zeros(3, int))
    y = d.student.predict(x).argmax(-1)
    assert d.evaluate(x, y) == 1.0 and d.evaluate(x, (y + 1) % 3) == 0.0


def test_fake_quantize_and_quantized_kernels_are_q_times_s():
    w = rng.standard_normal((5, 3)).astype(np.float32)
    q, s = compress.quantize_per_channel(w)
    assert q.dtype == np.int8 and s.dtype == np.float32
    np.testing.assert_array_equal(q, np.rint(w / (np.abs(w).max(0) / 127)).astype(np.int8))
    assert np.abs(q).max(0).tolist() == [127, 127, 127]
    zero = compress.quantize_per_channel(np.zeros((2, 2), np.float32))
    assert zero[1].tolist() == [1.0, 1.0] and not zero[0].any()
    wt = mg.tensor(w, requires_grad=True)
    y = compress.FakeQuantize().apply(wt)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), q * s, rtol=1e-7)
    (y * mg.tensor(np.full((5, 3), 2.0, np.float32))).sum().backward()
    np.testing.assert_array_equal(wt.grad.numpy(), 2.0)     # straight through
    m = dense_model(2, softmax=False)
    qm = compress.quantize(m)
    k = qm.layers[0].compute_kernel().numpy()
    np.testing.assert_allclose(k, qm.layers[0].kernel_int8 * qm.layers[0].kernel_scale,
                               rtol=1e-7)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(qm.predict(x), x @ k + qm.layers[0].bias.numpy(), rtol=1e-5,
                               atol=1e-6)


def test_quantization_aware_converts_only_built_dense_and_conv_layers():
    mg.manual_seed(0)
    m = models.Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1)), layers.Flatten(),
                           layers.Dense(3)])
    x = rng.standard_normal((2, 5, 5, 1)).astype(np.float32)
    before = m.predict(x)
    assert compress.quantization_aware(m) is m
    assert type(m.layers[0]) is compress.QATConv2D and type(m.layers[2]) is compress.QATDense
    assert type(m.layers[1]) is layers.Flatten
    conv, dense = m.layers[0], m.layers[2]
    kc = compress.FakeQuantize().apply(conv.kernel).numpy()
    kd = compress.FakeQuantize().apply(dense.kernel).numpy()
    ref = models.Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1)), layers.Flatten(),
                             layers.Dense(3)])
    ref.set_weights([kc, conv.bias.numpy(), kd, dense.bias.numpy()])
    np.testing.assert_allclose(m.predict(x), ref.predict(x), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(m.predict(x), before)
    with pytest.raises(ValueError, match=r"^quantization_aware: the model has no built Dense "
                                         r"or Conv2D layer$"):
        compress.quantization_aware(models.Sequential([layers.Dense(3)]))


def test_quantized_layers_check_their_inputs():
    mg.manual_seed(0)
    m = models.Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 3), name="qc"),
                           layers.Flatten(), layers.Dense(4, name="qd")])
    q = compress.quantize(m)
    conv, dense = q.layers[0], q.layers[2]
    with pytest.raises(ValueError, match=r"^layer 'qc' \(QuantizedConv2D\): expected 3 input "
                                         r"channels, got shape \(1, 5, 5, 2\)$"):
        conv(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"got shape \(1, 5, 3\)$"):
        conv(np.zeros((1, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"^layer 'qd' \(QuantizedDense\): expected 18 "
                                         r"features, got shape \(1, 17\)$"):
        dense(np.zeros((1, 17), np.float32))
    with pytest.raises(ValueError, match=r"got shape \(18,\)$"):
        dense._check_input((18,))
    dense._check_input((2, 18))                                # fine
    conv._check_input((1, 5, 5, 3))
    mg.manual_seed(0)
    first = models.Sequential([layers.Conv2D(2, 3, input_shape=(3, 5, 5),
                                             data_format="channels_first", name="cf")])
    qf = compress.quantize(first).layers[0]
    qf._check_input((1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"^layer 'cf' \(QuantizedConv2D\): expected 3 input "
                                         r"channels, got shape \(1, 5, 5, 3\)$"):
        qf._check_input((1, 5, 5, 3))


def test_quantize_needs_a_sequential_model_and_rebinds_its_optimizer():
    from minigrad import nn
    with pytest.raises(TypeError, match=r"^quantize: expects a Sequential model$"):
        compress.quantize(nn.GPT(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    with pytest.raises(ValueError, match=r"^quantize: the model has no built Dense or Conv2D "
                                         r"layer$"):
        compress.quantize(models.Sequential([layers.Dense(3)]))
    m = dense_model(0)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    q = compress.quantize(m)
    assert q.optimizer.params == q.parameters()               # the copy's parameters
    assert all(p is not r for p in q.parameters() for r in m.parameters())


def test_quantize_records_how_close_the_copy_stays():
    m = dense_model(3, units=4, softmax=False)
    x = rng.standard_normal((7, 4)).astype(np.float32)
    q = compress.quantize(m, calibration_x=x)
    a, b = m.predict(x), q.predict(x)
    assert q.calibration == {"samples": 7,
                             "same_class": float((a.argmax(-1) == b.argmax(-1)).mean()),
                             "max_abs_diff": float(np.abs(a - b).max())}
    assert 0 < q.calibration["max_abs_diff"] < 0.05
    assert not hasattr(m, "calibration")


def test_documented_defaults_and_kernels_in_float32():
    d = compress.Distiller(student=dense_model(0), teacher=dense_model(1))
    assert (d.temperature, d.alpha) == (3.0, 0.1)
    x = rng.standard_normal((33, 4)).astype(np.float32)
    y = rng.integers(0, 3, 33)
    d.compile(optim.SGD(lr=0.01))
    hist = d.fit(x, y)
    assert len(hist["loss"]) == 1 and d.optimizer.iterations == 2   # batches of 32
    q = compress.quantize(dense_model(2, softmax=False))
    assert q.layers[0].compute_kernel().dtype == np.float32
    assert q.predict(x).dtype == np.float32
    seq = rng.standard_normal((2, 5, 4)).astype(np.float32)         # (N, T, features)
    np.testing.assert_allclose(q.predict(seq), seq @ q.layers[0].compute_kernel().numpy()
                               + q.layers[0].bias.numpy(), rtol=1e-5, atol=1e-6)


def test_the_distiller_takes_tensors_and_models_without_forward_logits():
    from minigrad import nn

    class Bare(nn.Module):
        def __init__(self, seed):
            super().__init__()
            mg.manual_seed(seed)
            self.d = nn.Dense(3, input_shape=(4,))

        def forward(self, x):
            return self.d(x)

        def predict(self, x):
            return self(mg.tensor(x)).numpy()
    s, tch = Bare(0), Bare(1)
    d = compress.Distiller(student=s, teacher=tch, temperature=2.0, alpha=0.5)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 3, 5)
    sl = x @ s.d.kernel.numpy() + s.d.bias.numpy()
    tl = x @ tch.d.kernel.numpy() + tch.d.bias.numpy()
    hard = -log_softmax(sl)[np.arange(5), y].mean()
    p = np.exp(log_softmax(tl / 2))
    soft = 4 * (p * (log_softmax(tl / 2) - log_softmax(sl / 2))).sum(-1).mean()
    assert d.loss(mg.tensor(x), y).item() == pytest.approx(0.5 * hard + 0.5 * soft, rel=1e-5)
    assert d.loss(x, y).item() == pytest.approx(0.5 * hard + 0.5 * soft, rel=1e-5)


def test_the_history_is_empty_before_fit():
    d = compress.Distiller(student=dense_model(0), teacher=dense_model(1))
    assert d.history == {}
