"""What fit, evaluate and the layers compute, checked against exact oracles: NumPy
formulas on the model's own predictions, and evaluate on the same data with a zero
learning rate (then fit's numbers must be evaluate's)."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.keras import callbacks, layers, models, optimizers
from minigrad.keras.utils import to_categorical


def data(n=50, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    labels = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    return x, labels


def frozen(model, loss, metrics=("accuracy",)):
    """Compiled with a zero learning rate: fit changes no weight."""
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss=loss,
                  metrics=list(metrics))
    return model


def mlp(out, act, d=4):
    mg.manual_seed(1)
    return models.Sequential([layers.Dense(8, activation="tanh", input_shape=(d,)),
                              layers.Dense(out, activation=act)])


def np_ce(p, onehot):
    return float(-(onehot * np.log(np.clip(p, 1e-7, 1 - 1e-7))).sum(1).mean())


def np_bce(p, t):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())


@pytest.fixture(autouse=True)
def float64():
    mg.set_default_dtype("float64")
    yield


@pytest.mark.parametrize("batch_size", [7, 50, 64])
def test_categorical_fit_numbers_equal_the_formula_on_predictions(batch_size):
    x, labels = data()
    y = to_categorical(labels, 3)
    m = frozen(mlp(3, "softmax"), "categorical_crossentropy")
    p = m.predict(x)
    h = m.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, shuffle=False).history
    loss, acc = np_ce(p, y), float((p.argmax(1) == labels).mean())
    np.testing.assert_allclose(h["loss"], [loss, loss], rtol=1e-10)
    np.testing.assert_allclose(h["accuracy"], [acc, acc], rtol=1e-12)
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=batch_size, verbose=0),
                               [loss, acc], rtol=1e-10)


def test_sparse_fit_numbers_equal_the_formula_on_predictions():
    x, labels = data()
    m = frozen(mlp(3, "softmax"), "sparse_categorical_crossentropy")
    p = m.predict(x)
    h = m.fit(x, labels, batch_size=16, epochs=1, verbose=0).history
    np.testing.assert_allclose(h["loss"], [np_ce(p, np.eye(3)[labels])], rtol=1e-10)
    np.testing.assert_allclose(h["accuracy"], [(p.argmax(1) == labels).mean()], rtol=1e-12)


def test_binary_accuracy_thresholds_probabilities_at_one_half():
    """The sigmoid is fused into the loss (the metric then sees logits and thresholds at
    0): the accuracy must be that of the probabilities at 0.5."""
    x, labels = data()
    t = (labels > 0).astype(float)[:, None]
    m = mlp(1, "sigmoid")
    frozen(m, "binary_crossentropy")
    p = m.predict(x)
    # the data tells the thresholds apart: 0.5 on logits is 0.62 on probabilities
    assert ((p > 0.5) != (p > 1 / (1 + np.exp(-0.5)))).sum() >= 3 and (p < 0.5).sum() >= 3
    h = m.fit(x, t, batch_size=10, epochs=1, verbose=0).history
    np.testing.assert_allclose(h["loss"], [np_bce(p, t)], rtol=1e-9)
    np.testing.assert_allclose(h["accuracy"], [((p > 0.5) == (t > 0.5)).mean()], rtol=1e-12)
    np.testing.assert_allclose(m.evaluate(x, t, verbose=0),
                               [np_bce(p, t), ((p > 0.5) == (t > 0.5)).mean()], rtol=1e-9)


def test_regression_metrics_equal_their_formulas():
    x, labels = data()
    t = np.stack([x[:, 0] * 2, x[:, 1] - 1], axis=1)
    m = frozen(mlp(2, None), "mse", metrics=("mae", "mse"))
    p = m.predict(x)
    h = m.fit(x, t, batch_size=9, epochs=1, verbose=0).history
    mse, mae = float(((p - t) ** 2).mean()), float(np.abs(p - t).mean())
    np.testing.assert_allclose([h["loss"][0], h["mae"][0], h["mse"][0]], [mse, mae, mse],
                               rtol=1e-10)


def test_validation_split_holds_out_the_last_samples_aligned():
    x, labels = data(60)
    y = to_categorical(labels, 3)
    m = frozen(mlp(3, "softmax"), "categorical_crossentropy")
    h = m.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_split=0.25,
              shuffle=True).history
    np.testing.assert_allclose([h["val_loss"][0], h["val_accuracy"][0]],
                               m.evaluate(x[-15:], y[-15:], verbose=0), rtol=1e-10)
    np.testing.assert_allclose([h["loss"][0], h["accuracy"][0]],
                               m.evaluate(x[:-15], y[:-15], verbose=0), rtol=1e-10)


def test_validation_data_numbers_equal_evaluate():
    x, labels = data(40)
    y = to_categorical(labels, 3)
    xv, lv = data(23, seed=5)
    yv = to_categorical(lv, 3)
    m = mlp(3, "softmax")
    m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(xv, yv)).history
    np.testing.assert_allclose([h["val_loss"][-1], h["val_accuracy"][-1]],
                               m.evaluate(xv, yv, verbose=0), rtol=1e-10)


class BatchLosses(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.epochs[-1].append(logs["loss"])


def per_sample_order(shuffle, seed=0, epochs=3):
    """The order in which fit visits the samples, read from per-sample batch losses."""
    x, labels = data(24)
    m = frozen(mlp(3, "softmax"), "sparse_categorical_crossentropy")
    with mg.no_grad():
        logits = m.forward_logits(mg.tensor(x))
        own = F.cross_entropy(logits, mg.tensor(labels), reduction="none").numpy()
    rec = BatchLosses()
    mg.manual_seed(seed)
    m.fit(x, labels, batch_size=1, epochs=epochs, verbose=0, shuffle=shuffle, callbacks=[rec])
    orders = []
    for losses in rec.epochs:
        idx = [int(np.argmin(np.abs(own - v))) for v in losses]
        np.testing.assert_allclose(losses, own[idx], rtol=1e-10)
        orders.append(idx)
    return orders


def test_shuffle_visits_every_sample_once_per_epoch_in_a_new_order():
    orders = per_sample_order(True)
    for o in orders:
        assert sorted(o) == list(range(24))
    assert orders[0] != list(range(24)) and orders[0] != orders[1] != orders[2]
    assert per_sample_order(True) == orders                 # seeded
    assert per_sample_order(True, seed=1) != orders
    assert per_sample_order(False) == [list(range(24))] * 3


def test_batchnorm_moving_statistics_and_inference_formula():
    rng = np.random.default_rng(0)
    bn = layers.BatchNormalization(momentum=0.8, epsilon=0.01, input_shape=(3,))
    bn.gamma.data[:] = [1.5, -0.5, 2.0]
    bn.beta.data[:] = [0.1, 0.2, -0.3]
    mm, mv = np.zeros(3), np.ones(3)
    for _ in range(4):
        xb = rng.standard_normal((10, 3)) * [1, 3, 0.5] + [2, -1, 0]
        y = bn(mg.tensor(xb))
        mu, var = xb.mean(0), xb.var(0)
        np.testing.assert_allclose(y.numpy(), (xb - mu) / np.sqrt(var + 0.01) * bn.gamma.numpy()
                                   + bn.beta.numpy(), rtol=1e-10)
        mm, mv = 0.8 * mm + 0.2 * mu, 0.8 * mv + 0.2 * var
        np.testing.assert_allclose(bn.moving_mean, mm, rtol=1e-12)
        np.testing.assert_allclose(bn.moving_variance, mv, rtol=1e-12)
    bn.eval()
    xt = rng.standard_normal((5, 3))
    np.testing.assert_allclose(bn(mg.tensor(xt)).numpy(),
                               (xt - mm) / np.sqrt(mv + 0.01) * bn.gamma.numpy()
                               + bn.beta.numpy(), rtol=1e-10)
    np.testing.assert_allclose(bn.moving_mean, mm, rtol=1e-12)     # eval: no update


@pytest.mark.parametrize("pool", [dict(pool_size=2, strides=1), dict(pool_size=3, strides=2),
                                  dict(pool_size=2, padding="same"), dict(pool_size=(2, 3))])
def test_pooling_that_the_fused_op_cannot_do_runs_as_its_own_layer(pool):
    """Conv2D + MaxPooling2D fuse only for a square window whose stride is its size and
    'valid' padding; other poolings must give the layer-by-layer result."""
    mg.manual_seed(3)
    model = models.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(9, 10, 2)),
                               layers.MaxPooling2D(**pool), layers.Flatten(), layers.Dense(3)])
    x = mg.tensor(np.random.default_rng(0).standard_normal((2, 9, 10, 2)))
    out = model(x)
    h = x
    for layer in model.layers:
        h = layer(h)
    np.testing.assert_allclose(out.numpy(), h.numpy(), rtol=1e-12)
    conv = model.layers[0]
    ref = F.relu(F.conv2d(x, conv.kernel, conv.bias, layout="NHWC"))
    k = pool["pool_size"]
    s = pool.get("strides") or k
    ref = F.max_pool2d(ref, k, s, pool.get("padding", 0), layout="NHWC")
    np.testing.assert_allclose(model.layers[1](model.layers[0](x)).numpy(), ref.numpy(),
                               rtol=1e-12)


def test_train_on_batch_returns_the_loss_and_metrics_of_the_batch_before_the_step():
    x, labels = data()
    m = frozen(mlp(3, "softmax"), "sparse_categorical_crossentropy")
    p = m.predict(x)
    loss, acc = m.train_on_batch(x, labels)
    np.testing.assert_allclose(loss, np_ce(p, np.eye(3)[labels]), rtol=1e-10)
    np.testing.assert_allclose(acc, (p.argmax(1) == labels).mean(), rtol=1e-12)
    m.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    assert isinstance(m.train_on_batch(x, labels), float)       # no metrics: the loss alone


def test_micro_batches_of_a_summed_loss_give_the_whole_batch_update():
    """With reduction='sum' each micro-batch's loss counts fully (weight 1, not its share
    of the batch), in float32 as in float64."""
    from minigrad.keras import losses
    mg.set_default_dtype("float32")
    x, labels = data(n=40)
    x = x.astype(np.float32)
    results = []
    for micro in (None, 8):
        m = mlp(3, "softmax")
        m.micro_batch_size = micro
        m.compile(optimizer=optimizers.SGD(learning_rate=0.01),
                  loss=losses.SparseCategoricalCrossentropy(reduction="sum"))
        results.append((m.train_on_batch(x, labels), m.state_dict()))
    (l0, s0), (l1, s1) = results
    assert len(m._micro_batches(mg.zeros(40, 4))) == 5
    np.testing.assert_allclose(l0, l1, rtol=1e-5)
    for k in s0:
        assert s1[k].dtype == np.float32
        np.testing.assert_allclose(s0[k], s1[k], rtol=1e-4, atol=1e-6)


def test_binary_accuracy_from_logits_thresholds_at_zero():
    """A linear output with BinaryCrossentropy(from_logits=True): the outputs are logits,
    so a sample counts as positive when its output is above 0."""
    from minigrad.keras import losses
    x, labels = data()
    t = (labels > 0).astype(float)[:, None]
    m = mlp(1, None)
    m.compile(optimizer=optimizers.SGD(learning_rate=0.0),
              loss=losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    z = m.predict(x)
    assert ((z > 0) != (z > 0.5)).sum() >= 3
    _, acc = m.evaluate(x, t, verbose=0)
    np.testing.assert_allclose(acc, ((z > 0) == (t > 0.5)).mean(), rtol=1e-12)


def test_categorical_accuracy_on_sequence_outputs_counts_every_position():
    """One-hot targets (N, T, C): each sample scores the fraction of its positions whose
    argmax over the classes is right (the class axis is the last one)."""
    mg.manual_seed(2)
    m = models.Sequential([layers.Dense(4, input_shape=(3, 5))])
    m.compile(optimizer=optimizers.SGD(learning_rate=0.0),
              loss=__import__("minigrad").keras.losses.CategoricalCrossentropy(
                  from_logits=True), metrics=["accuracy"])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3, 5))
    labels = rng.integers(0, 4, (6, 3))
    z = m.predict(x)
    _, acc = m.evaluate(x, np.eye(4)[labels], verbose=0)
    np.testing.assert_allclose(acc, (z.argmax(-1) == labels).mean(), rtol=1e-12)


def test_validation_prints_nothing_of_its_own(capsys):
    """verbose=2: one line per epoch, the validation numbers on it (the validation pass
    draws no progress line of its own)."""
    x, labels = data()
    m = frozen(mlp(3, "softmax"), "sparse_categorical_crossentropy")
    m.fit(x[:40], labels[:40], validation_data=(x[40:], labels[40:]), epochs=2, verbose=2,
          batch_size=10)
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(" [")[0] for ln in lines] == ["Epoch 1/2", "4/4", "Epoch 2/2", "4/4"]
    assert all("val_loss" in ln for ln in lines[1::2])
