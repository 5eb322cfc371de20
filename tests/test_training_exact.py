"""fit / evaluate / predict exactly: the defaults (seen through the batches a layer gets),
history.params, initial_epoch and the indices callbacks get, the validation batch size,
the messages of a non-finite loss and of validation_split, metrics at their edges, a
subclassed Model, and data that lives on another device."""
import io

import numpy as np
import pytest

import minigrad as mg
from minigrad.keras import callbacks, layers, models
from minigrad.training import metrics
from minigrad.training.progress import ProgressBar


@pytest.fixture(autouse=True)
def float64():
    mg.set_default_dtype("float64")
    yield
    mg.set_default_dtype("float32")


def data(n=70, features=4):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, features))
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)


def model(optimizer="sgd", metrics_=("accuracy",), loss="sparse_categorical_crossentropy"):
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(3, activation="tanh", input_shape=(4,)),
                           layers.Dense(2, activation="softmax")])
    m.compile(optimizer=optimizer, loss=loss, metrics=list(metrics_))
    return m


def batch_sizes(m):
    """The batch sizes the first layer sees, as (training, size) pairs, from now on."""
    seen = []
    m.layers[0].register_forward_hook(
        lambda layer, inputs, out: seen.append((m.training, inputs[0].shape[0])))
    return seen


def test_fit_evaluate_predict_default_to_batches_of_32(capsys):
    x, y = data()
    m = model()
    seen = batch_sizes(m)
    h = m.fit(x, y)                                   # one epoch, batches of 32, verbose 1
    assert h.params == {"epochs": 1, "steps": 3, "verbose": 1}
    assert [s for t, s in seen] == [32, 32, 6] and all(t for t, _ in seen)
    assert len(h.history["loss"]) == 1 and "3/3 [" in capsys.readouterr().out
    seen.clear()
    m.fit(x, y, batch_size=None, verbose=0)
    assert [s for _, s in seen] == [32, 32, 6]
    seen.clear()
    m.evaluate(x, y)
    assert seen == [(False, 32), (False, 32), (False, 6)]
    assert "3/3 [" in capsys.readouterr().out          # evaluate's default verbose is 1
    seen.clear()
    m.evaluate(x, y, batch_size=None, verbose=0)
    m.predict(x)
    m.predict(x, batch_size=None)
    assert [s for _, s in seen] == [32, 32, 6] * 3
    assert capsys.readouterr().out == ""              # predict is quiet by default



def test_predict_shows_its_progress_when_asked(capsys):
    """As Keras' predict: verbose=1 and 2 print the step count and time at the end (no
    loss: predict has none); the predictions are the same as a quiet predict's."""
    x, _ = data()
    m = model()
    quiet = m.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    for verbose in (1, 2):
        out = m.predict(x, verbose=verbose)
        np.testing.assert_array_equal(out, quiet)
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 1 and lines[0].startswith("3/3 [==============================]")
        assert "ms/step" in lines[0] and "loss" not in lines[0]
    m.predict(x, batch_size=50, verbose=1)
    assert capsys.readouterr().out.startswith("2/2 [")


def test_predict_redraws_its_progress_line_on_a_terminal(monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    x, _ = data()
    m = model()
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    m.predict(x, verbose=1)
    frames = screen.getvalue().split("\r")[1:]
    assert frames[0].startswith("1/3 [=========>....................] - ETA: ")
    assert frames[-1].startswith("3/3 [==============================] - ")

def test_fit_shuffles_by_default():
    x, y = data(40)
    runs = {}
    for name, kw in (("default", {}), ("true", {"shuffle": True}),
                     ("false", {"shuffle": False})):
        m = model()
        mg.manual_seed(5)
        m.fit(x, y, batch_size=8, epochs=2, verbose=0, **kw)
        runs[name] = m.layers[0].kernel.numpy()
    np.testing.assert_array_equal(runs["default"], runs["true"])
    assert not np.allclose(runs["default"], runs["false"])


def test_the_validation_pass_uses_its_own_batch_size_or_fits():
    x, y = data(40)
    vx, vy = data(25)
    # the first is fit's check of the validation data's shape: one sample
    for kw, want in (({}, [1, 16, 9]), ({"validation_batch_size": 10}, [1, 10, 10, 5])):
        m = model()
        seen = batch_sizes(m)
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, validation_data=(vx, vy), **kw)
        assert [s for t, s in seen if not t] == want
        assert [s for t, s in seen if t] == [16, 16, 8]


def test_initial_epoch_and_the_indices_callbacks_get():
    class Record(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_epoch_begin(self, epoch, logs=None):
            self.calls.append(("epoch", epoch))

        def on_train_batch_end(self, batch, logs=None):
            self.calls.append(("batch", batch))
    x, y = data(10)
    rec = Record()
    h = model().fit(x, y, batch_size=4, epochs=3, initial_epoch=1, verbose=0,
                    callbacks=[rec])
    assert len(h.history["loss"]) == 2
    assert rec.calls == [("epoch", 1), ("batch", 0), ("batch", 1), ("batch", 2),
                         ("epoch", 2), ("batch", 0), ("batch", 1), ("batch", 2)]


def test_a_non_finite_loss_is_reported_exactly_or_handed_to_terminate_on_nan():
    x, y = data(12)
    m = model()
    m.layers[0].kernel.data[0, 0] = np.nan
    with pytest.raises(FloatingPointError) as err:
        m.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert str(err.value) == (
        "fit: the loss became nan at epoch 1, batch 1 of 3; that batch's update was not "
        "applied, so the weights are those of the step before. Lower the learning rate or "
        "check the data (check_finite=True finds non-finite inputs)")
    with pytest.raises(FloatingPointError) as err:
        m.train_on_batch(x, y)
    assert str(err.value) == ("train_on_batch: the loss is nan; the update was not applied "
                              "(the weights are unchanged)")
    seen = []

    class Batches(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, logs))
    h = m.fit(x, y, batch_size=4, epochs=2, verbose=0,
              callbacks=[callbacks.TerminateOnNaN(), Batches()])
    assert len(seen) == 1 and seen[0][0] == 0 and np.isnan(seen[0][1]["loss"])
    assert len(h.history["loss"]) == 1


@pytest.mark.parametrize("fraction", [1.0, 1.5, -0.25])
def test_validation_split_outside_0_1_is_refused_exactly(fraction):
    x, y = data(10)
    with pytest.raises(ValueError) as err:
        model().fit(x, y, validation_split=fraction, verbose=0)
    assert str(err.value) == f"fit: validation_split must be in (0, 1), got {fraction!r}"


def test_checking_validation_data_keeps_the_training_mode():
    x, y = data(10)
    m = model()
    m.fit(x, y, epochs=0, validation_data=(x[:3], y[:3]), verbose=0)
    assert m.training is True
    m.eval()
    m.fit(x, y, epochs=0, validation_data=(x[:3], y[:3]), verbose=0)
    assert m.training is False


def test_binary_accuracy_at_the_threshold_and_on_sequences():
    binary = metrics.accuracy_sum("binary")
    out = np.array([[0.5, 0.7], [0.2, 0.5]])
    y = np.array([[1.0, 0.5], [0.0, 1.0]])
    # 0.5 is not above the threshold: class 0; a label of 0.5 is class 0 as well
    assert binary(out, y, False) == pytest.approx(0.0 + 0.5)
    assert binary(np.array([[0.0, -1.0]]), np.array([[1.0, 0.0]]), True) == 0.5
    seq_out = np.zeros((2, 2, 3))
    seq_out[0, 0] = 1.0                                # 3 of 12 positions right
    seq_y = np.zeros((2, 2, 3))
    seq_y[0, 0] = seq_y[0, 1] = seq_y[1, 0] = 1.0
    # each position's mean over the last axis, summed over the positions
    assert binary(seq_out, seq_y, False) == pytest.approx(1.0 + 0.0 + 0.0 + 1.0)


def test_sparse_accuracy_takes_labels_of_shape_n_1():
    sparse = metrics.accuracy_sum("sparse")
    out = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert sparse(out, np.array([[1], [1], [1]]), False) == 2.0
    assert sparse(out, np.array([1, 0, 1]), False) == 3.0


def test_a_subclassed_model_trains_and_passes_extra_arguments():
    class Scaled(models.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2, input_shape=(4,))

        def forward(self, x, scale=1.0):
            return self.dense(x) * scale

    mg.manual_seed(0)
    m = Scaled()
    x, y = data(8)
    out = m(x)
    np.testing.assert_allclose(m(x, 2.0).numpy(), 2 * out.numpy())
    np.testing.assert_allclose(m(x, scale=3.0).numpy(), 3 * out.numpy())
    np.testing.assert_array_equal(m.forward_logits(mg.tensor(x)).numpy(), out.numpy())
    with pytest.raises(TypeError) as err:
        m("abc")
    assert str(err.value) == "x must be an array, got str"
    m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    target = np.ones((8, 2))
    h = m.fit(x, target, batch_size=4, epochs=2, verbose=0)
    assert len(h.history["mae"]) == 2


def test_data_on_another_device_trains_like_host_data():
    x, y = data(20)
    y = np.eye(2)[y]
    results = []
    for device in ("cpu", "strict"):
        m = model(metrics_=("accuracy", "mae", "mse"), loss="categorical_crossentropy")
        m.to(device)
        xs, ys = mg.tensor(x, device=device), mg.tensor(y, device=device)
        mg.manual_seed(3)
        h = m.fit(xs, ys, batch_size=6, epochs=2, verbose=0, check_finite=True)
        results.append((h.history, m.evaluate(xs, ys, verbose=0), m.predict(xs)))
    (h0, e0, p0), (h1, e1, p1) = results
    for k in h0:
        np.testing.assert_allclose(h1[k], h0[k], rtol=1e-12, err_msg=k)
    np.testing.assert_allclose(e1, e0, rtol=1e-12)
    assert type(p1) is np.ndarray
    np.testing.assert_allclose(p1, p0, rtol=1e-12)


def test_the_progress_bar_defaults_and_its_smallest_fills(monkeypatch):
    from minigrad.training import progress
    now = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    out = Terminal()
    bar = ProgressBar(30, stream=out)                 # verbose 1, 30 characters wide
    now[0] = 0.1                                      # 0.1 s after the start: redrawn
    bar.update(1, {})
    assert out.getvalue() == "\r 1/30 [>" + "." * 29 + "] - ETA: 3s"
    now[0] = 0.5
    bar.update(2, {})
    assert out.getvalue().endswith("\r 2/30 [=>" + "." * 28 + "] - ETA: 7s")
    one = io.StringIO()
    bar = ProgressBar(1, stream=one)
    now[0] = 1.5
    bar.update(1, {}, finalize=True)
    assert one.getvalue() == "1/1 [" + "=" * 30 + "] - 1s 1000ms/step\n"


def bn_model():
    mg.manual_seed(0)
    return models.Sequential([layers.Dense(3, input_shape=(4,), name="d"),
                              layers.BatchNormalization(name="bn")])


def test_set_weights_keeps_dtype_and_device_and_names_a_bad_shape():
    m = bn_model()
    m.to("strict")
    m.layers[0].kernel.data = m.layers[0].kernel.data.astype(np.float32)
    new = [np.full(w.shape, i + 1.0) for i, w in enumerate(m.get_weights())]   # float64
    m.set_weights(new)
    kernel, mean = m.layers[0].kernel, m.layers[1].moving_mean
    assert kernel.dtype == np.float32 and kernel.device == mg.device("strict")
    assert mg.backend.device_of(mean) == mg.device("strict") and mean.dtype == np.float64
    for got, want in zip(m.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    bad = list(new)
    bad[0] = np.zeros((3, 3))
    with pytest.raises(ValueError) as err:
        m.set_weights(bad)
    assert str(err.value) == "set_weights: weight 0 ('kernel' of d) has shape (4, 3), got (3, 3)"


def test_set_weights_names_a_module_without_a_name_by_its_class():
    class Scale(mg.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = mg.nn.Parameter(np.ones(2))

    class Wrapped(models.Model):
        def __init__(self):
            super().__init__()
            self.scale = Scale()

        def forward(self, x):
            return x * self.scale.w
    with pytest.raises(ValueError) as err:
        Wrapped().set_weights([np.ones(3)])
    assert str(err.value) == "set_weights: weight 0 ('w' of Scale) has shape (2,), got (3,)"


def test_weight_files_of_an_unbuilt_or_different_model_are_refused_exactly(tmp_path):
    empty = models.Sequential([layers.Dense(2)])
    with pytest.raises(RuntimeError) as err:
        empty.save_weights(tmp_path / "w.npz")
    assert str(err.value) == "save_weights: the model has no weights yet (build it first)"
    with pytest.raises(RuntimeError) as err:
        empty.save(tmp_path / "m.npz")
    assert str(err.value) == "save: the model has no weights yet (build it first)"
    path = bn_model().save_weights(tmp_path / "w.npz")
    with pytest.raises(RuntimeError) as err:
        empty.load_weights(path)
    assert str(err.value) == ("load_weights: build the model first (give input_shape or call "
                              "it once) so its weights exist")
    mg.manual_seed(0)
    other = models.Sequential([layers.Dense(3, input_shape=(4,), name="d"),
                               layers.Dense(1, name="e")])
    with pytest.raises(mg.io.WeightsFileError) as err:
        other.load_weights(path)
    msg = str(err.value)
    assert msg.startswith(f"cannot load {path}: missing in file: [")
    assert "]; unexpected in file: [" in msg


def test_a_model_file_of_another_version_is_refused(tmp_path):
    from minigrad import io as wio
    m = bn_model()
    path = m.save(tmp_path / "m.npz")
    cfg = wio.read_config(path)
    assert cfg["format"] == "minigrad-model" and cfg["version"] == 1
    loaded = models.load_model(path)
    for a, b in zip(loaded.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    for version in (2, 0, "1", None):
        cfg["version"] = version
        bad = wio.save_arrays(tmp_path / f"v{version}.npz", m.state_dict(), config=cfg)
        with pytest.raises(wio.WeightsFileError) as err:
            models.load_model(bad)
        assert str(err.value) == (
            f"{bad}: model file version {version!r} is not one this minigrad reads (1 to "
            "1); a newer minigrad wrote it, or the file is damaged")


@pytest.mark.parametrize("scale", [2.0, 2.0 ** 10])
def test_micro_batches_under_a_loss_scale_match_the_whole_batch(scale):
    """float32, a loss scale, logits with a binary accuracy: micro-batches of 8 give
    the whole batch's loss, accuracy (threshold 0 on logits) and update, and the backward
    runs in the model's dtype."""
    from minigrad.keras import losses
    mg.set_default_dtype("float32")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, :1] > 0.2).astype(np.float32)
    results = []
    for micro in (None, 8):
        mg.manual_seed(0)
        m = models.Sequential([layers.Dense(3, activation="tanh", input_shape=(4,)),
                               layers.Dense(1)])
        m.micro_batch_size = micro
        m.compile(optimizer=mg.optim.LossScaleOptimizer(mg.optim.SGD(learning_rate=0.5),
                                                        initial_scale=scale),
                  loss=losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
        logits = m.predict(x)
        dtypes, kept = [], []

        def watch(layer, inputs, out):
            out.register_hook(lambda g: dtypes.append(g.dtype))
            kept.append(out)
        m.layers[1].register_forward_hook(watch)
        loss, acc = m.train_on_batch(x, y)
        assert acc == pytest.approx(((logits > 0) == (y > 0.5)).mean())
        assert set(dtypes) == {np.dtype(np.float32)} and len(dtypes) == (5 if micro else 1)
        results.append((loss, m.state_dict()))
    (l0, s0), (l1, s1) = results
    np.testing.assert_allclose(l1, l0, rtol=1e-5)
    for k in s0:
        np.testing.assert_allclose(s1[k], s0[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_the_automatic_micro_batch_is_at_least_16_samples():
    m = model()
    m.activation_bytes_per_sample = lambda shape: 1 << 30    # every sample "huge"
    assert m._micro_batches(mg.zeros(40, 4)) == [slice(0, 16), slice(16, 32), slice(32, 40)]


def test_sparse_labels_of_shape_n_1_and_whole_floats_are_taken():
    x, y = data(12)
    runs = []
    for labels in (y, y.reshape(-1, 1), y.astype(np.float64)):
        m = model(optimizer=mg.optim.SGD(learning_rate=0.0))
        runs.append(m.evaluate(x, labels, verbose=0))
    np.testing.assert_array_equal(runs[1], runs[0])
    np.testing.assert_array_equal(runs[2], runs[0])
    with pytest.raises(ValueError) as err:
        model().evaluate(x, y + 0.5, verbose=0)
    assert str(err.value) == "evaluate: labels must be whole numbers"
    mg.manual_seed(0)
    seq = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(1, 4))])
    seq.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    # outputs (N, 1, 2): labels (N, 1) are one per position, not reshaped
    assert np.isfinite(seq.evaluate(x.reshape(12, 1, 4), y.reshape(-1, 1), verbose=0))
    with pytest.raises(ValueError, match=r"labels of shape \(12, 1\), got \(12,\)"):
        seq.evaluate(x.reshape(12, 1, 4), y, verbose=0)


def test_a_subclassed_model_keeps_its_mode_through_evaluate():
    class Net(models.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2, activation="softmax", input_shape=(4,))

        def forward(self, x):
            return self.dense(x)
    mg.manual_seed(0)
    m = Net()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(10)
    m.evaluate(x, y, verbose=0)
    assert m.training is True
    m.eval()
    m.evaluate(x, y, verbose=0)
    assert m.training is False
    h = m.fit(x, y, batch_size=5, epochs=1, verbose=0)
    assert len(h.history["accuracy"]) == 1


def test_one_sgd_step_is_exactly_w_minus_lr_times_the_gradient():
    x, y = data(10)
    m = model(optimizer=mg.optim.SGD(learning_rate=0.1))
    params = m.parameters()
    before = [p.numpy().copy() for p in params]
    loss = m.loss.value(m(x), mg.tensor(y), from_logits=False)
    grads = mg.grad(loss, params)
    m.train_on_batch(x, y)
    for p, w, g in zip(params, before, grads):
        np.testing.assert_allclose(p.numpy(), w - 0.1 * g.numpy(), rtol=1e-12, atol=1e-15)


def test_compile_defaults_names_and_metric_aliases():
    m = model()
    m.compile(loss="mse")
    assert type(m.optimizer).__name__ == "RMSprop"          # Keras' default
    with pytest.raises(ValueError) as err:
        m.compile(optimizer="sgd")
    assert str(err.value) == "compile: a loss is required"
    m.compile(optimizer="sgd", loss="categorical_crossentropy",
              metrics=["Accuracy", "acc", "MAE", "mean_absolute_error", "MSE",
                       "mean_squared_error"])
    assert m.metrics_names == ["accuracy", "accuracy", "mae", "mae", "mse", "mse"]
    for name in ("mae", "mean_squared_error"):        # labels (N,) against outputs (N, C)
        with pytest.raises(ValueError) as err:
            m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[name])
        short = "mae" if name == "mae" else "mse"
        assert str(err.value) == (f"metric '{short}' compares outputs with targets of the "
                                  "same shape; 'sparse_categorical_crossentropy' takes class "
                                  "labels (use 'accuracy')")
    for bad in (len, "f1"):
        with pytest.raises(ValueError) as err:
            m.compile(optimizer="sgd", loss="mse", metrics=[bad])
        assert str(err.value) == f"unknown metric {bad!r}; known: accuracy, mae, mse"
    with pytest.raises(ValueError) as err:
        m.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    assert str(err.value) == "'accuracy' needs a classification loss, not 'mse'"


@pytest.mark.parametrize("metric", ["mse", "mae"])
def test_value_metrics_of_a_fused_softmax_compare_the_probabilities(metric):
    x, y = data(12)
    onehot = np.eye(2)[y]
    m = model(optimizer=mg.optim.SGD(learning_rate=0.0), loss="categorical_crossentropy",
              metrics_=(metric,))
    p = m.predict(x)
    d = p - onehot
    want = (d * d).mean() if metric == "mse" else np.abs(d).mean()
    assert m.evaluate(x, onehot, verbose=0)[1] == pytest.approx(want, rel=1e-12)
    assert m.train_on_batch(x, onehot)[1] == pytest.approx(want, rel=1e-12)


def test_targets_are_checked_and_converted_by_the_loss_kind():
    from minigrad.training.data import as_targets
    y = np.array([1, 0, 2])
    for kind in ("binary", "regression", "categorical"):
        got = as_targets(y.reshape(3, 1), (3, 1), kind, "fit")
        assert got.dtype == np.float64 and got.tolist() == [[1.0], [0.0], [2.0]]
        with pytest.raises(ValueError) as err:
            as_targets(np.zeros((3, 2)), (3, 2, 3), kind, "fit")
        assert str(err.value) == ("fit: targets of shape (3, 2) do not match the model output "
                                  "shape (None, 2, 3)")
    mg.set_default_dtype("float32")
    assert as_targets(y.reshape(3, 1), (3, 1), "regression", "fit").dtype == np.float32
    kept = np.array([[0.5], [1.5], [2.5]])
    assert as_targets(kept, (3, 1), "regression", "fit") is kept
    with pytest.raises(ValueError) as err:
        as_targets(y, (3, 4), "categorical", "evaluate")
    assert str(err.value) == (
        "evaluate: targets of shape (3,) do not match the model output shape (None, 4) "
        "(integer labels: use to_categorical(y, num_classes) or "
        "loss='sparse_categorical_crossentropy')")
    with pytest.raises(ValueError) as err:
        as_targets(y, (3, 4), "regression", "fit")
    assert str(err.value) == "fit: targets of shape (3,) do not match the model output shape " \
                             "(None, 4)"


def test_bad_y_and_an_unbuilt_model_in_fit():
    x, y = data(10)
    m = model()
    with pytest.raises(TypeError) as err:
        m.fit(x, "labels", verbose=0)
    assert str(err.value) == "y must be an array, got str"
    with pytest.raises(ValueError) as err:
        m.fit(x, np.float64(1.0), verbose=0)
    assert str(err.value) == "fit: x has 10 samples but y has 0 (shapes (10, 4) and ())"
    unbuilt = models.Sequential([layers.Dense(2, activation="softmax")])
    unbuilt.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    unbuilt.fit(x, y, verbose=0)
    assert unbuilt.layers[0].kernel.shape == (4, 2)


def test_progress_of_fit_and_evaluate_on_a_terminal_counts_the_steps(monkeypatch):
    from minigrad.training import progress
    now = [0.0]

    def tick():
        now[0] += 1.0
        return now[0]
    monkeypatch.setattr(progress.time, "perf_counter", tick)

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    out = Terminal()
    monkeypatch.setattr("sys.stdout", out)
    x, y = data(12)
    m = model()
    m.fit(x, y, batch_size=4, verbose=1)
    text = out.getvalue()
    for step in (1, 2, 3):
        assert f"\r{step}/3 [" in text
    assert "- loss: " in text.split("\r1/3 [")[1].split("\r")[0]
    out.seek(0)
    out.truncate()
    m.evaluate(x, y, batch_size=4)                  # verbose 1 by default: redrawn
    text = out.getvalue()
    for step in (1, 2, 3):
        assert f"\r{step}/3 [" in text
    assert "- loss: " in text.split("\r1/3 [")[1].split("\r")[0]


def test_validation_split_that_leaves_a_side_empty_is_refused_exactly():
    x, y = data(10)
    with pytest.raises(ValueError) as err:
        model().fit(x, y, validation_split=0.05, verbose=0)
    assert str(err.value) == "fit: validation_split=0.05 leaves an empty split of 10 samples"
    m = model()
    seen = batch_sizes(m)
    m.fit(x, y, validation_split=0.4, batch_size=10, verbose=0)     # 4 of 10, as many as
    assert [s for t, s in seen if t] == [6]                          # x has features
    seen.clear()
    m.fit(x, y, validation_split=0.1, batch_size=10, verbose=0)     # one sample
    assert [s for t, s in seen if t] == [9]


def test_inputs_as_lists_integers_or_a_scalar():
    x, y = data(6)
    m = model()
    np.testing.assert_array_equal(m.predict(x.tolist()), m.predict(x))
    ints = (np.arange(24) % 5).reshape(6, 4)
    out = m.predict(ints.astype(np.uint8))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, m.predict(ints.astype(np.float64)))
    with pytest.raises(ValueError) as err:
        m.predict(np.float64(2.0))
    assert str(err.value) == "predict: got 0 samples (x has shape ())"
    with pytest.raises(ValueError) as err:
        m.predict(np.zeros((0, 4)))
    assert str(err.value) == "predict: got 0 samples (x has shape (0, 4))"

    class ShapeOnly:
        shape = (2, 4)
    with pytest.raises(TypeError) as err:
        m.predict(ShapeOnly())
    assert str(err.value) == "x must be an array, got ShapeOnly"
    with pytest.raises(TypeError) as err:
        m.predict(x.astype(np.complex128))
    assert str(err.value) == ("x has dtype complex128: the model takes real numbers (bool, "
                              "integer or floating point) and would drop the imaginary part")
    with pytest.raises(TypeError) as err:
        m.predict(np.array([["a", "b"]]))
    assert str(err.value) == ("x has dtype <U1: the model takes real numbers (bool, integer or "
                              "floating point)")


def test_a_model_starts_not_stopped_and_a_lazily_built_one_trains():
    assert model().stop_training is False

    class Lazy(models.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2, activation="softmax")     # built by the first call

        def forward(self, x):
            return self.dense(x)
    mg.manual_seed(0)
    m = Lazy()
    m.compile(optimizer=mg.optim.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy")
    x, y = data(8)
    m.fit(x, y, batch_size=8, verbose=0)
    first = m.dense.kernel.numpy().copy()
    m.fit(x, y, batch_size=8, verbose=0)
    assert not np.allclose(m.dense.kernel.numpy(), first)


def test_inputs_take_the_dtype_of_the_models_weights():
    mg.set_default_dtype("float32")
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(2, input_shape=(4,))])
    ints = (np.arange(12) % 5).reshape(3, 4)
    assert m.predict(ints.astype(np.uint8)).dtype == np.float32
    assert m.predict(ints.astype(np.float64)).dtype == np.float32     # as Keras
    assert m.predict(ints.astype(np.float32)).dtype == np.float32
    unbuilt = models.Sequential([layers.Dense(2)])        # no weights yet: default dtype
    assert unbuilt.predict(ints.astype(np.float64)).dtype == np.float32
    mg.set_default_dtype("float64")
    m64 = models.Sequential([layers.Dense(2, input_shape=(4,))])
    mg.set_default_dtype("float32")
    assert m64.predict(ints.astype(np.uint8)).dtype == np.float64
    assert m64.predict(ints.astype(np.float32)).dtype == np.float64
    mg.set_default_dtype("float64")     # the model's weights decide, not the default
    try:
        assert m.predict(ints.astype(np.float64)).dtype == np.float32
        assert m.predict(ints.astype(np.uint8)).dtype == np.float32
    finally:
        mg.set_default_dtype("float32")
    no_weights = models.Sequential([layers.Flatten(input_shape=(4,))])
    assert no_weights.predict(ints.astype(np.float64)).dtype == np.float32   # the default
    assert no_weights.predict(ints.astype(np.uint8)).dtype == np.float32


def test_load_model_keeps_the_layer_names(tmp_path):
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(3, input_shape=(4,), name="first"),
                           layers.Dense(2, activation="softmax", name="out")])
    back = models.load_model(m.save(tmp_path / "m.npz"))
    assert [layer.name for layer in back.layers] == ["first", "out"]
    assert back.name == m.name and m.name.startswith("sequential")


def test_load_model_defaults_and_damaged_configs(tmp_path):
    from minigrad import io as wio
    m = bn_model()
    path = m.save(tmp_path / "m.npz")
    cfg = wio.read_config(path)
    del cfg["model"]["name"]
    nameless = wio.save_arrays(tmp_path / "nameless.npz", m.state_dict(), config=cfg)
    assert models.load_model(nameless).name.startswith("sequential")
    del cfg["model"]["layers"]
    empty = wio.save_arrays(tmp_path / "empty.npz", m.state_dict(), config=cfg)
    with pytest.raises(RuntimeError, match="build the model first"):
        models.load_model(empty)
    m.compile(optimizer=mg.optim.LossScaleOptimizer(mg.optim.SGD()), loss="mse")
    cfg = wio.read_config(m.save(tmp_path / "scaled.npz"))
    del cfg["compile"]["optimizer"]["inner_optimizer"]
    bad = wio.save_arrays(tmp_path / "bad.npz", m.state_dict(), config=cfg)
    with pytest.raises(wio.WeightsFileError) as err:
        models.load_model(bad)
    assert str(err.value) == (f"{bad}: unknown optimizer None in the saved compile settings "
                              "(load with compile=False)")
