"""minigrad.compress: int8 quantization, magnitude pruning, distillation."""
import os
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import compress
from minigrad.keras import layers, models

from models import article_cnn

rng = np.random.default_rng(0)


@pytest.fixture(scope="module")
def mnist_small():
    from minigrad.keras.datasets import mnist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x, y), (xt, yt) = mnist.load_data()
    return (x[:3000].reshape(-1, 28, 28, 1).astype("float32") / 255, y[:3000],
            xt[:1000].reshape(-1, 28, 28, 1).astype("float32") / 255, yt[:1000])


@pytest.fixture(scope="module")
def trained(mnist_small):
    x, y, xt, yt = mnist_small
    m = article_cnn(seed=0)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return m


def test_quantize_per_channel_is_symmetric_and_round_trips_within_half_a_step():
    w = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    w[..., 2] = 0                                            # an all-zero channel
    q, s = compress.quantize_per_channel(w)
    assert q.dtype == np.int8 and s.shape == (4,)
    assert np.abs(q).max() == 127 and q.min() >= -127
    np.testing.assert_allclose(s[[0, 1, 3]], np.abs(w[..., [0, 1, 3]]).max(axis=(0, 1, 2)) / 127)
    assert np.all(q[..., 2] == 0) and s[2] == 1
    assert np.all(np.abs(q * s - w) <= s / 2 + 1e-7)


def test_quantized_cnn_keeps_accuracy_and_its_file_is_4x_smaller(trained, mnist_small,
                                                                  tmp_path):
    _, _, xt, yt = mnist_small
    q = compress.quantize(trained, xt[:100])
    float_acc = trained.evaluate(xt, yt, verbose=0)[1]
    int8_acc = q.evaluate(xt, yt, verbose=0)[1]
    assert abs(int8_acc - float_acc) <= 0.005
    assert q.calibration["samples"] == 100 and q.calibration["same_class"] > 0.98
    kinds = [type(layer).__name__ for layer in q.layers]
    assert kinds.count("QuantizedConv2D") == 3 and kinds.count("QuantizedDense") == 2
    assert all(not hasattr(layer, "kernel") for layer in q.layers
               if isinstance(layer, (compress.QuantizedDense, compress.QuantizedConv2D)))
    # the original is untouched; the int8 model's weights file is >= 3.5x smaller
    assert type(trained.layers[0]) is layers.Conv2D
    f = trained.save_weights(str(tmp_path / "float.npz"))
    g = q.save_weights(str(tmp_path / "int8.npz"))
    assert os.path.getsize(f) / os.path.getsize(g) >= 3.5
    with np.load(g) as d:
        assert d["0.kernel_int8"].dtype == np.int8 and d["0.kernel_scale"].dtype == np.float32
    # a quantized copy loads the file and predicts the same
    other = compress.quantize(article_cnn(seed=7))
    other.load_weights(g)
    np.testing.assert_array_equal(other.predict(xt[:20]), q.predict(xt[:20]))


def test_quantized_model_computes_with_the_dequantized_kernel():
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(3, activation="relu", input_shape=(4,))])
    q = compress.quantize(m)
    layer = q.layers[0]
    w = layer.kernel_int8.astype(np.float32) * layer.kernel_scale
    x = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(q.predict(x), np.maximum(x @ w + layer.bias.numpy(), 0),
                               rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="no built Dense or Conv2D"):
        compress.quantize(models.Sequential([layers.Flatten(input_shape=(2, 2))]))


def test_pruning_is_global_by_magnitude_and_survives_fit_and_saving(mnist_small, tmp_path):
    x, y, xt, yt = mnist_small
    m = article_cnn(seed=1)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x[:1000], y[:1000], epochs=1, batch_size=64, verbose=0)   # Adam has moments
    kernels = [layer.kernel.numpy().copy() for layer in compress._kernels(m)]
    compress.prune(m, amount=0.8)
    flat = np.concatenate([np.abs(k).ravel() for k in kernels])
    thr = np.sort(flat)[int(round(0.8 * flat.size)) - 1]
    for layer, before in zip(compress._kernels(m), kernels):
        w = layer.kernel.numpy()
        assert np.all(w[np.abs(before) > thr] == before[np.abs(before) > thr])   # kept
        assert np.all(w[np.abs(before) < thr] == 0)                               # pruned
    assert compress.sparsity(m) == pytest.approx(0.8, abs=1e-4)
    zero = [layer.kernel.numpy() == 0 for layer in compress._kernels(m)]
    m.fit(x[:1000], y[:1000], epochs=1, batch_size=64, verbose=0)
    for layer, z in zip(compress._kernels(m), zero):
        assert np.all(layer.kernel.numpy()[z] == 0)                  # still exactly zero
    path = m.save_weights(str(tmp_path / "pruned.npz"))
    with np.load(path) as d:
        assert d["0.kernel_mask"].dtype == bool and d["0.kernel_mask"].mean() < 0.6
    compress.prune(m, amount=0.9)                                     # more: sparser
    assert compress.sparsity(m) == pytest.approx(0.9, abs=1e-4)


def test_structured_pruning_removes_whole_filters():
    mg.manual_seed(0)
    m = models.Sequential([layers.Conv2D(8, 3, input_shape=(6, 6, 1)), layers.Flatten(),
                           layers.Dense(4)])
    conv = m.layers[0]
    norms = np.abs(conv.kernel.numpy()).reshape(-1, 8).sum(0)
    compress.prune(m, amount=0.5, structured=True)
    w = conv.kernel.numpy()
    dead = np.all(w.reshape(-1, 8) == 0, axis=0)
    assert dead.sum() == 4
    assert set(np.nonzero(dead)[0]) == set(np.argsort(norms)[:4])
    with pytest.raises(ValueError, match="amount"):
        compress.prune(m, amount=1.5)


def test_distillation_loss_formula_and_the_student_learns(mnist_small, trained):
    x, y, xt, yt = mnist_small
    s_logits = rng.standard_normal((4, 10))
    t_logits = rng.standard_normal((4, 10)) * 3
    T = 2.5

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    p, q = softmax(t_logits / T), softmax(s_logits / T)
    kl = (p * (np.log(p) - np.log(q))).sum(1).mean() * T * T
    got = compress.distillation_loss(mg.tensor(s_logits), t_logits, T)
    assert got.item() == pytest.approx(kl, rel=1e-10)

    mg.manual_seed(0)
    student = models.Sequential([layers.Flatten(input_shape=(28, 28, 1)),
                                 layers.Dense(32, activation="relu"),
                                 layers.Dense(10, activation="softmax")])
    teacher_before = [w.copy() for w in trained.get_weights()]
    d = compress.Distiller(student=student, teacher=trained, temperature=3.0, alpha=0.2)
    d.compile(optimizer=mg.optim.Adam(learning_rate=2e-3))
    hist = d.fit(x, y, epochs=2, batch_size=64)
    assert hist["loss"][1] < hist["loss"][0]
    assert d.evaluate(xt, yt) > 0.7
    for a, b in zip(trained.get_weights(), teacher_before):      # the teacher is not trained
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="alpha"):
        compress.Distiller(student, trained, alpha=2.0)
    with pytest.raises(RuntimeError, match="compile"):
        compress.Distiller(student, trained).fit(x[:10], y[:10])


def test_fake_quantize_rounds_forward_and_passes_gradients_straight_through():
    w = mg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = compress.FakeQuantize().apply(w)
    q, s = compress.quantize_per_channel(w.numpy())
    np.testing.assert_allclose(y.numpy(), q * s, rtol=1e-6)      # s is float32 there
    g = rng.standard_normal((4, 3))
    y.backward(mg.tensor(g))
    np.testing.assert_array_equal(w.grad.numpy(), g)


def test_quantization_aware_training_then_quantize(mnist_small):
    """After QAT the int8 model computes exactly what the model computed in training (the
    same rounded kernels): quantization costs nothing more."""
    x, y, xt, yt = mnist_small
    m = article_cnn(seed=2)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    compress.quantization_aware(m)
    assert type(m.layers[0]).__name__ == "QATConv2D"
    m.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert m.evaluate(xt, yt, verbose=0)[1] > 0.8
    q = compress.quantize(m)
    np.testing.assert_allclose(q.predict(xt[:50]), m.predict(xt[:50]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no built Dense or Conv2D"):
        compress.quantization_aware(models.Sequential([layers.Flatten(input_shape=(2, 2))]))
