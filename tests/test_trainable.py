"""Freezing weights, as in Keras (``layer.trainable = False``) and PyTorch
(``module.requires_grad_(False)``), and Keras' ``Layer.add_weight`` for custom layers."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.keras import layers, models


def data(n=40, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)


def mlp():
    return models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                              layers.Dense(3, activation="softmax")])


def changed(before, after):
    return [not np.array_equal(b, a) for b, a in zip(before, after)]


def test_a_frozen_layer_keeps_its_weights_and_the_others_train():
    x, y = data()
    m = mlp()
    m.layers[0].trainable = False
    m.compile("adam", "sparse_categorical_crossentropy")
    before = m.get_weights()
    m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert changed(before, m.get_weights()) == [False, False, True, True]
    assert m.layers[0].kernel.grad is None            # no gradient was even computed
    assert not m.layers[0].kernel.requires_grad and m.layers[1].kernel.requires_grad
    assert [w.shape for w in m.trainable_weights] == [(8, 3), (3,)]
    assert [w.shape for w in m.non_trainable_weights] == [(4, 8), (8,)]
    assert m.layers[0].trainable is False and m.layers[1].trainable is True
    text = m.summary(print_fn=None)
    assert "Trainable params: 27" in text and "Non-trainable params: 40" in text


def test_freezing_a_layer_before_it_is_built_freezes_the_weights_it_builds():
    x, y = data()
    m = models.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)])
    m.layers[0].trainable = False
    m.compile("sgd", "sparse_categorical_crossentropy")
    m.train_on_batch(x, y)
    assert not m.layers[0].kernel.requires_grad and not m.layers[0].bias.requires_grad
    assert m.layers[1].kernel.requires_grad


def test_a_whole_frozen_model_evaluates_in_fit_and_changes_nothing():
    """Keras runs fit on a model without trainable weights: losses and metrics, no update."""
    x, y = data()
    m = mlp()
    m.trainable = False
    assert all(layer.trainable is False for layer in m.layers)
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = m.get_weights()
    h = m.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    assert not any(changed(before, m.get_weights()))
    assert h["loss"][0] == pytest.approx(h["loss"][1], rel=1e-6)
    loss = m.train_on_batch(x, y)[0]
    assert loss == pytest.approx(m.evaluate(x, y, verbose=0)[0], rel=1e-5)
    assert m.trainable_weights == []


def test_unfreezing_takes_effect_after_compile_as_in_keras():
    x, y = data()
    m = mlp()
    m.layers[0].trainable = False
    m.compile("sgd", "sparse_categorical_crossentropy")
    m.layers[0].trainable = True
    m.compile("sgd", "sparse_categorical_crossentropy")
    before = m.get_weights()
    m.train_on_batch(x, y)
    assert all(changed(before, m.get_weights()))


def test_freezing_after_compile_stops_the_updates_at_once():
    x, y = data()
    m = mlp()
    m.compile("sgd", "sparse_categorical_crossentropy")
    m.layers[1].trainable = False
    before = m.get_weights()
    m.train_on_batch(x, y)
    assert changed(before, m.get_weights()) == [True, True, False, False]


def test_a_frozen_batch_normalization_runs_in_inference_mode():
    """Keras: a BatchNormalization with trainable=False normalises with its moving
    statistics during fit and does not update them (fine-tuning keeps them)."""
    x, y = data()
    m = models.Sequential([layers.Dense(6, input_shape=(4,)),
                           layers.BatchNormalization(), layers.Dense(3, activation="softmax")])
    bn = m.layers[1]
    bn.moving_mean = bn.moving_mean + 0.5               # statistics unlike the batch's
    bn.trainable = False
    m.compile("sgd", "sparse_categorical_crossentropy")
    mean, var = bn.moving_mean.copy(), bn.moving_variance.copy()
    m.train()
    h = m.layers[0](x)
    out = bn(h).numpy()
    expect = (h.numpy() - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-6)
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean, mean)
    np.testing.assert_array_equal(bn.moving_variance, var)
    frozen = bn.non_trainable_weights          # gamma, beta, then the statistics
    assert [w.shape for w in frozen] == [(6,)] * 4 and bn.trainable_weights == []
    assert frozen[0] is bn.gamma and frozen[2].data is bn.moving_mean
    assert [w.shape for w in m.non_trainable_weights] == [(6,)] * 4


def test_requires_grad_is_the_pytorch_spelling():
    m = mlp()
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    assert m.layers[1].trainable is False
    m.layers[1].requires_grad_()
    assert [p.requires_grad for p in m.parameters()] == [False, False, True, True]


def test_trainable_must_be_a_bool():
    m = mlp()
    with pytest.raises(TypeError, match="trainable must be True or False, got 0"):
        m.layers[0].trainable = 0
    assert m.layers[0].trainable is True and m.layers[0].kernel.requires_grad


def test_a_saved_model_keeps_its_frozen_layers(tmp_path):
    x, _ = data()
    m = mlp()
    m.layers[0].trainable = False
    back = models.load_model(m.save(tmp_path / "m.npz"), compile=False)
    assert [layer.trainable for layer in back.layers] == [False, True]
    assert not back.layers[0].kernel.requires_grad
    np.testing.assert_array_equal(back.predict(x), m.predict(x))
    assert "trainable" not in mlp().get_config()["layers"][0]["config"]


class Scale(layers.Layer):
    """A custom Keras layer: y = x * w + b, counting its calls in a non-trainable weight."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")
        self.b = self.add_weight(shape=(input_shape[-1],), initializer="zeros")
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x):
        self.calls.data += 1
        return x * self.w + self.b


def test_a_custom_layer_makes_its_weights_with_add_weight():
    x, y = data()
    m = models.Sequential([Scale(input_shape=(4,)), layers.Dense(3, activation="softmax")])
    scale = m.layers[0]
    assert scale.w.dtype == np.float32 and scale.w.name == "w"
    np.testing.assert_array_equal(scale.w.numpy(), np.ones(4))
    assert [w.shape for w in scale.trainable_weights] == [(4,), (4,)]
    assert [w.shape for w in scale.non_trainable_weights] == [()]
    m.compile("sgd", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=10, verbose=0)
    assert not np.array_equal(scale.w.numpy(), np.ones(4))
    assert scale.calls.item() == 4 and scale.calls.grad is None
    scale.trainable = False
    scale.trainable = True                  # a weight made non-trainable stays so
    assert not scale.calls.requires_grad and scale.w.requires_grad
    assert "Non-trainable params: 1" in m.summary(print_fn=None)
    assert len(scale.get_weights()) == 3


def test_add_weight_defaults_and_bad_arguments():
    layer = layers.Layer()
    w = layer.add_weight(shape=(30, 20))        # Keras' default: Glorot uniform
    limit = np.sqrt(6 / 50)
    assert w.shape == (30, 20) and w.requires_grad
    assert np.abs(w.numpy()).max() <= limit and np.abs(w.numpy()).max() > limit / 2
    assert layer.add_weight().shape == ()
    d = layer.add_weight(shape=(2,), initializer="zeros", dtype="float64")
    assert d.dtype == np.float64
    with pytest.raises(ValueError, match="unknown initializer 'nope'"):
        layer.add_weight(shape=(2,), initializer="nope")
    with pytest.raises(ValueError, match="add_weight: shape must be a tuple of "):
        layer.add_weight(shape=(2, -1))
    with pytest.raises(TypeError, match="trainable must be True or False"):
        layer.add_weight(shape=(2,), trainable="no")


def test_a_pytorch_optimizer_over_all_parameters_leaves_the_frozen_ones():
    """PyTorch's fine-tuning loop: parameters frozen with requires_grad_(False) may stay
    in the optimizer's list; they get no gradient, so no update."""
    import minigrad.functional as F
    from minigrad import nn, optim
    x, y = data()
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(3)])
    model(mg.tensor(x[:1]))
    model.layers[0].requires_grad_(False)
    opt = optim.Adam(model.parameters(), learning_rate=0.01)
    before = [p.numpy().copy() for p in model.parameters()]
    for _ in range(2):
        loss = F.cross_entropy(model(mg.tensor(x)), y)
        model.zero_grad()
        loss.backward()
        opt.step()
    assert changed(before, [p.numpy() for p in model.parameters()]) == [False, False, True,
                                                                          True]
    with pytest.raises(ValueError, match="parameter 0 is a tensor that does not require grad"):
        optim.SGD([mg.zeros(3)])                        # a plain tensor: surely a mistake


def test_add_weight_refuses_empty_axes_and_keeps_requires_grad_a_bool():
    layer = layers.Layer()
    with pytest.raises(ValueError, match=r"positive integers, got \(0, 3\)"):
        layer.add_weight(shape=(0, 3))
    assert layer.add_weight(shape=(np.int64(2),)).shape == (2,)
    assert layer.add_weight(shape=(2,), trainable=False).requires_grad is False


def test_a_distiller_refuses_a_frozen_student():
    from minigrad import compress
    x, y = data()
    teacher, student = mlp(), mlp()
    student.trainable = False
    d = compress.Distiller(student=student, teacher=teacher)
    d.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"^Distiller.fit: every weight of the student is "
                                         r"frozen \(trainable=False\): nothing to train$"):
        d.fit(x, y)


def test_a_damaged_trainable_flag_in_a_saved_model_is_named(tmp_path):
    from minigrad import io as wio
    m = mlp()
    m.layers[0].trainable = False
    path = m.save(tmp_path / "m.npz")
    cfg = wio.read_config(path)
    cfg["model"]["layers"][0]["config"]["trainable"] = "no"
    bad = wio.save_arrays(tmp_path / "bad.npz", m.state_dict(), config=cfg)
    with pytest.raises(wio.WeightsFileError, match="bad config for Dense: Dense: trainable "
                                                   "must be True or False, got 'no'"):
        models.load_model(bad)
