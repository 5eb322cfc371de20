"""compile / fit / evaluate / predict, callbacks, and a short real MNIST training."""
import csv
import math
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.keras import callbacks, layers, models, optimizers
from minigrad.keras.datasets import mnist
from minigrad.keras.utils import to_categorical


def small_cnn():
    return models.Sequential([
        layers.Conv2D(8, (3, 3), activation="relu", input_shape=(12, 12, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def toy_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 12, 12, 1)).astype(np.float32)
    labels = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype(int)
    return x, labels


def mlp(loss="categorical_crossentropy", out=2, act="softmax", metrics=("accuracy",)):
    m = models.Sequential([layers.Dense(16, activation="relu", input_shape=(4,)),
                           layers.Dense(out, activation=act)])
    m.compile(optimizer="adam", loss=loss, metrics=list(metrics))
    return m


def test_fit_evaluate_predict_small_cnn():
    x, labels = toy_data()
    y = to_categorical(labels, 10)
    model = small_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=32, epochs=3, verbose=0, validation_data=(x, y))
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(hist.history["loss"]) == 3 and hist.epoch == [0, 1, 2]
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert math.isfinite(loss) and 0 <= acc <= 1
    p = model.predict(x[:5])
    assert isinstance(p, np.ndarray) and p.shape == (5, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)


def test_evaluate_without_metrics_returns_loss_only():
    m = mlp(metrics=())
    x = np.random.default_rng(0).random((10, 4)).astype(np.float32)
    out = m.evaluate(x, to_categorical(np.arange(10) % 2, 2), verbose=0)
    assert isinstance(out, float)


def test_softmax_categorical_fusion_is_exact_for_confident_errors():
    m = mlp()
    # a saturated wrong prediction: clipped Keras loss would be -log(1e-7) = 16.1
    m.layers[-1].kernel.data[:] = 0
    m.layers[-1].bias.data[:] = np.array([0.0, 200.0], dtype=np.float32)
    x = np.zeros((1, 4), np.float32)
    loss = m.evaluate(x, np.array([[1.0, 0.0]], np.float32), verbose=0)[0]
    assert loss == pytest.approx(200.0, rel=1e-5)


def test_sparse_and_binary_and_mse_losses():
    rng = np.random.default_rng(1)
    x = rng.random((40, 4)).astype(np.float32)
    yl = (x[:, 0] > 0.5).astype(np.int64)
    m = mlp("sparse_categorical_crossentropy")
    h = m.fit(x, yl, epochs=2, verbose=0)
    assert "accuracy" in h.history
    mb = mlp("binary_crossentropy", out=1, act="sigmoid")
    mb.fit(x, yl.reshape(-1, 1).astype(np.float32), epochs=2, verbose=0)
    mr = mlp("mse", out=1, act=None, metrics=("mae",))
    h = mr.fit(x, x[:, :1], epochs=2, verbose=0)
    assert "mae" in h.history


def test_train_on_batch_returns_loss():
    m = mlp(metrics=())
    x = np.random.default_rng(2).random((8, 4)).astype(np.float32)
    v = m.train_on_batch(x, to_categorical(np.arange(8) % 2, 2))
    assert isinstance(v, float) and v > 0


def test_partial_batches_and_batch_larger_than_n():
    m = mlp()
    x = np.random.default_rng(3).random((10, 4)).astype(np.float32)
    y = to_categorical(np.arange(10) % 2, 2)
    m.fit(x, y, batch_size=3, epochs=1, verbose=0)
    m.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert m.predict(x, batch_size=4).shape == (10, 2)


def test_empty_data_raises_at_once():
    m = mlp()
    with pytest.raises(ValueError, match="0 samples"):
        m.fit(np.zeros((0, 4), np.float32), np.zeros((0, 2), np.float32), verbose=0)
    with pytest.raises(ValueError, match="0 samples"):
        m.evaluate(np.zeros((0, 4), np.float32), np.zeros((0, 2), np.float32), verbose=0)
    with pytest.raises(ValueError, match="0 samples"):
        m.predict(np.zeros((0, 4), np.float32))


def test_target_mismatches_raise_clearly():
    m = mlp()
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match=r"\(4,\).*to_categorical"):
        m.fit(x, np.array([0, 1, 0, 1]), verbose=0)
    with pytest.raises(ValueError, match="do not match the model output"):
        m.fit(x, np.zeros((4, 3), np.float32), verbose=0)
    with pytest.raises(ValueError, match="4 samples but y has 3"):
        m.fit(x, np.zeros((3, 2), np.float32), verbose=0)
    ms = mlp("sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="out of range"):
        ms.fit(x, np.array([0, 1, 2, -1]), verbose=0)


def test_not_compiled_raises():
    m = models.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32))


def test_non_finite_loss_stops_fit_naming_epoch_and_batch():
    m = mlp("mse", out=1, act=None, metrics=())
    x = np.ones((8, 4), np.float32)
    y = np.ones((8, 1), np.float32)
    y[5] = np.nan
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 3"):
        m.fit(x, y, batch_size=2, shuffle=False, verbose=0)
    h = m.fit(x, y, batch_size=2, shuffle=False, verbose=0,
              callbacks=[callbacks.TerminateOnNaN()])
    assert m.stop_training and h.epoch == [0]


def test_check_finite_reports_first_bad_index():
    m = mlp()
    x = np.zeros((6, 4), np.float32)
    x[4, 2] = np.inf
    with pytest.raises(ValueError, match=r"x\[4\]"):
        m.fit(x, to_categorical(np.arange(6) % 2, 2), verbose=0, check_finite=True)


def test_validation_split_and_callbacks(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.random((60, 4)).astype(np.float32)
    y = to_categorical((x[:, 0] > 0.5).astype(int), 2)
    m = mlp()
    log = tmp_path / "log.csv"
    ckpt = tmp_path / "w-{epoch:02d}.npz"
    seen = []
    es = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    h = m.fit(x, y, epochs=5, verbose=0, validation_split=0.25, validation_batch_size=7,
              callbacks=[callbacks.CSVLogger(log), callbacks.ModelCheckpoint(
                  str(ckpt), save_weights_only=True),
                  callbacks.LearningRateScheduler(lambda e, lr: (seen.append(lr), lr * 0.5)[1]),
                  es])
    assert "val_loss" in h.history
    assert len(h.epoch) == 2 and es.stopped_epoch == 1        # no 10.0 improvement
    with open(log) as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "epoch" and len(rows) == 3
    assert os.path.exists(tmp_path / "w-01.npz") and os.path.exists(tmp_path / "w-02.npz")
    assert seen[1] == pytest.approx(seen[0] * 0.5)


def test_fit_reproducible_with_seed():
    """One seed fixes initialisation, shuffling and dropout: bitwise-equal weights."""
    x, labels = toy_data(64)
    y = to_categorical(labels, 10)
    weights = []
    for seed in (11, 11, 12):
        mg.manual_seed(seed)
        m = models.Sequential([layers.Flatten(input_shape=(12, 12, 1)),
                               layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                               layers.Dense(10, activation="softmax")])
        m.compile(optimizer="adam", loss="categorical_crossentropy")
        m.fit(x, y, batch_size=16, epochs=2, verbose=0)
        weights.append(m.state_dict())
    for k in weights[0]:
        np.testing.assert_array_equal(weights[0][k], weights[1][k])
    assert not np.array_equal(weights[0]["1.kernel"], weights[2]["1.kernel"])


def test_progress_bar_output(capsys):
    m = mlp()
    x = np.random.default_rng(5).random((20, 4)).astype(np.float32)
    m.fit(x, to_categorical(np.arange(20) % 2, 2), batch_size=5, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "4/4 [" in out and "loss:" in out and "accuracy:" in out


def test_training_does_not_leak_tensors():
    m = mlp()
    x = np.random.default_rng(6).random((32, 4)).astype(np.float32)
    y = to_categorical(np.arange(32) % 2, 2)
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    base = _live_tensors()
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    m.evaluate(x, y, verbose=0)
    assert _live_tensors() == base


def test_predict_builds_no_graph():
    m = mlp()
    before = mg.is_grad_enabled()
    m.predict(np.zeros((3, 4), np.float32))
    assert mg.is_grad_enabled() == before
    out = m(np.zeros((3, 4), np.float32))
    assert out.creator is not None
    with mg.no_grad():
        assert m(np.zeros((3, 4), np.float32)).creator is None


def test_short_real_mnist_training():
    """One epoch of the article's CNN on real MNIST images reaches > 0.9 test accuracy."""
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train[:6000].reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
    x_test = x_test[:1000].reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
    y_train = to_categorical(y_train[:6000], 10)
    y_test = to_categorical(y_test[:1000], 10)
    mg.manual_seed(0)
    from test_nn import article_cnn
    model = article_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.9


def _live_tensors():
    """Tensors alive after a collection (by the object's type: ``isinstance`` would ask
    some objects, such as PyTorch's lazy modules, for ``__class__``, and they warn)."""
    import gc
    gc.collect()
    return sum(issubclass(type(o), mg.Tensor) for o in gc.get_objects())


def test_no_leak_after_exception_mid_fit():
    import gc
    base = _live_tensors()
    gc.disable()
    try:
        m = mlp("mse", out=1, act=None, metrics=())
        x = np.ones((8, 4), np.float32)
        y = np.ones((8, 1), np.float32)
        y[5] = np.nan
        with pytest.raises(FloatingPointError):
            m.fit(x, y, batch_size=2, shuffle=False, verbose=0)
        del m
    finally:
        gc.enable()
    assert _live_tensors() == base


def test_memory_flat_over_1000_steps():
    import tracemalloc
    m = mlp(metrics=())
    rng = np.random.default_rng(0)
    x = rng.random((16, 4)).astype(np.float32)
    y = to_categorical(np.arange(16) % 2, 2)
    for _ in range(50):
        m.train_on_batch(x, y)
    tracemalloc.start()
    for _ in range(100):
        m.train_on_batch(x, y)
    early, _ = tracemalloc.get_traced_memory()
    for _ in range(900):
        m.train_on_batch(x, y)
    late, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert late - early < 64 * 1024, (early, late)


@pytest.mark.parametrize("loss", ["categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_one_device_read_per_training_step(loss):
    """On a device (the strict backend counts reads like a GPU's), fit reads back one
    small array per step: the loss and metric sums for the progress bar (integer labels
    too: they are checked once before training, not for ignore_index at every step)."""
    from strict_backend import TRANSFERS
    from test_nn import article_cnn
    model = article_cnn().to("strict")
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((40, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 40)
    y = labels if loss.startswith("sparse") else to_categorical(labels, 10)
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)     # warm-up
    before = TRANSFERS["count"]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)            # 5 steps
    assert TRANSFERS["count"] - before == 5
    assert all(p.device == "strict" for p in model.parameters())


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mse"])
def test_micro_batches_give_the_whole_batch_update(loss):
    rng = np.random.default_rng(7)
    x = rng.random((50, 12, 12, 1), dtype=np.float32)
    y = to_categorical(rng.integers(0, 10, 50), 10)
    results = []
    for micro in (None, 16):
        mg.manual_seed(5)
        m = small_cnn()
        m.micro_batch_size = micro
        m.compile(optimizer="sgd", loss=loss, metrics=["mae"])
        out = m.train_on_batch(x, y)
        results.append((out, m.state_dict()))
    (l0, s0), (l1, s1) = results
    np.testing.assert_allclose(l0, l1, rtol=1e-5)
    for k in s0:
        np.testing.assert_allclose(s0[k], s1[k], rtol=1e-4, atol=1e-6)


def test_batch_coupled_models_are_not_split():
    m = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.BatchNormalization(),
                           layers.Dense(2, activation="softmax")])
    m.micro_batch_size = 2
    assert len(m._micro_batches(mg.zeros(10, 3))) == 1
    big = small_cnn()
    big.micro_batch_size = 64
    assert len(big._micro_batches(mg.zeros(130, 12, 12, 1))) == 3
    from test_nn import article_cnn
    auto = article_cnn()                       # ~150 KB of activations per image
    assert len(auto._micro_batches(mg.zeros(256, 28, 28, 1))) == 4
    assert len(mlp()._micro_batches(mg.zeros(1024, 4))) == 1


def test_value_metrics_see_the_output_after_a_fused_activation():
    rng = np.random.default_rng(8)
    x = rng.random((20, 4)).astype(np.float32)
    y = (x[:, :1] > 0.5).astype(np.float32)
    m = mlp("binary_crossentropy", out=1, act="sigmoid", metrics=("mae", "accuracy"))
    _, mae, acc = m.evaluate(x, y, verbose=0)
    p = m.predict(x)
    assert mae == pytest.approx(np.abs(p - y).mean(), rel=1e-5)
    assert acc == pytest.approx(((p > 0.5) == (y > 0.5)).mean())


def _float64_data(n=50, d=4):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))                   # float64, as NumPy makes it
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)


def _frozen_mlp():
    m = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(4,)),
                           layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizers.SGD(learning_rate=0.0),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_data_of_another_floating_dtype_runs_in_the_models_dtype_as_in_keras():
    """Keras layers cast their inputs to their dtype: float64 data (NumPy's default) into
    a float32 model computes in float32 (not silently in float64, at twice the cost), in
    fit, evaluate, predict, train_on_batch and a call on an array."""
    x, labels = _float64_data()
    x32 = x.astype(np.float32)
    m = _frozen_mlp()
    assert m.predict(x).dtype == np.float32
    assert m(x).dtype == np.float32
    np.testing.assert_array_equal(m.predict(x), m.predict(x32))
    assert m.evaluate(x, labels, verbose=0) == m.evaluate(x32, labels, verbose=0)
    assert m.train_on_batch(x, labels) == m.train_on_batch(x32, labels)
    h64 = m.fit(x, labels, epochs=1, batch_size=16, shuffle=False, verbose=0).history
    h32 = m.fit(x32, labels, epochs=1, batch_size=16, shuffle=False, verbose=0).history
    assert h64 == h32


def test_a_float64_model_takes_float32_data_in_float64():
    mg.set_default_dtype("float64")
    try:
        m = _frozen_mlp()
        x, _ = _float64_data()
    finally:
        mg.set_default_dtype("float32")
    assert m.predict(x.astype(np.float32)).dtype == np.float64
    np.testing.assert_array_equal(m.predict(x.astype(np.float32)),
                                  m.predict(x.astype(np.float32).astype(np.float64)))
