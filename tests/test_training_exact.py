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


def test_micro_batches_under_a_loss_scale_match_the_whole_batch():
    """float32, a loss scale of 2**10, logits with a binary accuracy: micro-batches of 8 give
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
                                                        initial_scale=2.0 ** 10),
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
