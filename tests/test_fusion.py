"""The fusion planner: the fused plan and fuse=False compute the same thing, and with
fuse=False a training step runs every layer's own reference op."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.functional import activation, conv, linalg, loss
from minigrad.kernels.cpu import conv as fast_conv
from minigrad.kernels.cpu import pool as fast_pool
from minigrad.keras import layers, models
from minigrad.keras.utils import to_categorical

import models as models_


def article_cnn(fuse, seed=0):
    return models_.article_cnn(fuse, seed)


@pytest.fixture
def float64():
    mg.set_default_dtype("float64")
    yield


def batch(n=8):
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1)), to_categorical(rng.integers(0, 10, n), 10)


def test_fused_and_unfused_article_cnn_agree_in_float64(float64):
    x, y = batch()
    fused, plain = article_cnn(True), article_cnn(False)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(fused.predict(x), plain.predict(x), rtol=1e-12, atol=1e-15)
    for m in (fused, plain):
        m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    lf, lp = fused.train_on_batch(x, y), plain.train_on_batch(x, y)
    np.testing.assert_allclose(lf, lp, rtol=1e-10)
    for p, q in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-7, atol=1e-12)
    for a, b in zip(fused.get_weights(), plain.get_weights()):      # after the step
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fused.predict(x), plain.predict(x), rtol=1e-9, atol=1e-12)


def count_backwards(monkeypatch, classes):
    calls = {cls.__name__: 0 for cls in classes}
    for cls in classes:
        original = cls.backward

        def wrapped(self, *gys, _original=original, _name=cls.__name__):
            if type(self).__name__ == _name:
                calls[_name] += 1
            return _original(self, *gys)
        monkeypatch.setattr(cls, "backward", wrapped)
    return calls


CLASSES = [activation.ReLU, activation.Softmax, conv.MaxPool2d, conv.Conv2d,
           fast_conv.Conv2dGemm, fast_conv.Conv2dMaxPool, fast_pool.MaxPool2dStrided,
           linalg.Linear, loss.CrossEntropy]


def backward_calls(monkeypatch, fuse):
    """The backward of which Functions ran, how often, in one training step."""
    x, y = batch(4)
    m = article_cnn(fuse)
    m.compile(optimizer="adam", loss="categorical_crossentropy")
    calls = count_backwards(monkeypatch, CLASSES)
    m.train_on_batch(x.astype(np.float32), y)
    return calls


def test_fuse_false_step_walks_through_the_reference_ops(monkeypatch):
    calls = backward_calls(monkeypatch, fuse=False)
    assert calls["ReLU"] == 4 and calls["MaxPool2d"] == 2 and calls["Conv2d"] == 3
    assert calls["Softmax"] == 1 and calls["Linear"] == 2
    assert calls["Conv2dMaxPool"] == calls["Conv2dGemm"] == calls["MaxPool2dStrided"] == 0
    assert calls["CrossEntropy"] == 0


def test_fused_step_runs_the_named_fused_ops(monkeypatch):
    calls = backward_calls(monkeypatch, fuse=True)
    assert calls["Conv2dMaxPool"] == 2 and calls["Conv2dGemm"] == 1
    assert calls["CrossEntropy"] == 1
    assert calls["ReLU"] == 0 and calls["Softmax"] == 0 and calls["MaxPool2d"] == 0
    assert calls["Conv2d"] == 0


def test_plan_is_built_once_and_shown_by_summary():
    m = article_cnn(True)
    plan = m.plan()
    assert m.plan() is plan
    text = m.summary(print_fn=None, show_plan=True)
    assert "conv2d(max_pool=2)" in text and text.count("\n ") > 8
    labels = [s.label for s in plan]
    assert len(plan) == 7 and labels[-1] == "softmax" and plan[-1].final_activation
    m.add(layers.Dense(3))
    assert m.plan() is not plan                  # adding a layer makes a new plan
    unfused = article_cnn(False).plan()
    assert len(unfused) == 13 and all(len(s.layers) <= 1 for s in unfused)


@pytest.mark.parametrize("fuse", [True, False])
def test_fit_with_either_plan_learns(fuse):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(int)
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)),
                           layers.Dense(2, activation="softmax")], fuse=fuse)
    m.compile(optimizer=mg.optim.Adam(learning_rate=0.02), metrics=["accuracy"],
              loss="sparse_categorical_crossentropy")
    h = m.fit(x, labels, batch_size=16, epochs=20, verbose=0).history
    assert h["loss"][-1] < h["loss"][0] and h["accuracy"][-1] > 0.9
