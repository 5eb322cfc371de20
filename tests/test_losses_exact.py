"""The Keras loss objects (`minigrad.losses`), called as Keras calls them:
``loss(y_true, y_pred)``, each against its formula written out in NumPy.

Keras' reductions: a loss per sample (the mean over the last axis for elementwise losses,
MSE and binary cross-entropy; one value per position for cross-entropy over (N, T, C)),
then ``'mean'`` (Keras' sum_over_batch_size: the mean of those), ``'sum'`` (their sum) or
``'none'`` (them, shaped like the samples).
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import losses

RNG = np.random.default_rng(0)
P = RNG.uniform(0.05, 0.95, (4, 3))           # probabilities
Y = RNG.uniform(0.0, 1.0, (4, 3))             # soft targets (rows do not sum to 1)
Z = RNG.standard_normal((4, 3)) * 3           # logits
LABELS = np.array([2, 0, 1, 2])


def reduce(per_sample, reduction):
    return {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]


def call(loss, y_true, y_pred):
    pred = mg.tensor(y_pred, requires_grad=True)
    out = loss(y_true, pred)
    return out, pred


def log_softmax(z):
    s = z - z.max(-1, keepdims=True)
    return s - np.log(np.exp(s).sum(-1, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_is_the_mean_over_the_last_axis_then_the_reduction(reduction):
    out, pred = call(losses.MeanSquaredError(reduction=reduction), Y, P)
    per_sample = ((Y - P) ** 2).mean(axis=-1)
    np.testing.assert_allclose(out.numpy(), reduce(per_sample, reduction), rtol=1e-12)
    assert out.shape == (() if reduction != "none" else (4,))
    out.sum().backward()
    scale = {"mean": 1 / 12, "sum": 1 / 3, "none": 1 / 3}[reduction]
    np.testing.assert_allclose(pred.grad.numpy(), 2 * (P - Y) * scale, rtol=1e-12)


def test_mse_of_one_value_per_sample():
    y, p = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.5, 4.0])
    for reduction, want in (("mean", 1.25 / 3), ("sum", 1.25), ("none", [1.0, 0.25, 0.0])):
        out, _ = call(losses.MeanSquaredError(reduction=reduction), y, p)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_crossentropy_on_probabilities(reduction):
    out, pred = call(losses.BinaryCrossentropy(reduction=reduction), Y, P)
    per_sample = -(Y * np.log(P) + (1 - Y) * np.log(1 - P)).mean(axis=-1)
    np.testing.assert_allclose(out.numpy(), reduce(per_sample, reduction), rtol=1e-10)
    out.sum().backward()
    scale = {"mean": 1 / 12, "sum": 1 / 3, "none": 1 / 3}[reduction]
    np.testing.assert_allclose(pred.grad.numpy(), (P - Y) / (P * (1 - P)) * scale,
                               rtol=1e-10)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_crossentropy_from_logits(reduction):
    out, pred = call(losses.BinaryCrossentropy(from_logits=True, reduction=reduction), Y, Z)
    sig = 1 / (1 + np.exp(-Z))
    per_sample = -(Y * np.log(sig) + (1 - Y) * np.log(1 - sig)).mean(axis=-1)
    np.testing.assert_allclose(out.numpy(), reduce(per_sample, reduction), rtol=1e-10)
    out.sum().backward()
    scale = {"mean": 1 / 12, "sum": 1 / 3, "none": 1 / 3}[reduction]
    np.testing.assert_allclose(pred.grad.numpy(), (sig - Y) * scale, rtol=1e-10)


def test_binary_crossentropy_clips_certain_predictions_as_keras():
    out, _ = call(losses.BinaryCrossentropy(reduction="none"), np.array([[1.0, 0.0]]),
                  np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(out.numpy(), [-np.log(1e-7)], rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_categorical_crossentropy_on_probabilities_renormalises_rows(reduction):
    out, _ = call(losses.CategoricalCrossentropy(reduction=reduction), Y, P)
    q = P / P.sum(-1, keepdims=True)
    per_sample = -(Y * np.log(q)).sum(-1)
    np.testing.assert_allclose(out.numpy(), reduce(per_sample, reduction), rtol=1e-10)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_categorical_crossentropy_from_logits(reduction):
    out, pred = call(losses.CategoricalCrossentropy(from_logits=True, reduction=reduction),
                     Y, Z)
    per_sample = -(Y * log_softmax(Z)).sum(-1)
    np.testing.assert_allclose(out.numpy(), reduce(per_sample, reduction), rtol=1e-10)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sparse_categorical_crossentropy_per_position(from_logits, reduction):
    z = RNG.standard_normal((2, 3, 4))
    labels = RNG.integers(0, 4, (2, 3))
    pred = z if from_logits else np.exp(log_softmax(z))
    out, _ = call(losses.SparseCategoricalCrossentropy(from_logits=from_logits,
                                                       reduction=reduction), labels, pred)
    per_position = -np.take_along_axis(log_softmax(z), labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(out.numpy(), reduce(per_position, reduction), rtol=1e-6)
    assert out.shape == ((2, 3) if reduction == "none" else ())


def test_sparse_labels_and_one_hot_give_the_same_loss():
    sparse, _ = call(losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, Z)
    dense, _ = call(losses.CategoricalCrossentropy(from_logits=True), np.eye(3)[LABELS], Z)
    np.testing.assert_allclose(sparse.numpy(), dense.numpy(), rtol=1e-12)
    np.testing.assert_allclose(sparse.numpy(), -log_softmax(Z)[range(4), LABELS].mean(),
                               rtol=1e-12)


def test_the_order_is_keras_targets_first():
    with pytest.raises(ValueError, match=r"expected outputs of shape \(N, C\), got \(4,\)"):
        losses.SparseCategoricalCrossentropy()(mg.tensor(Z), LABELS)   # swapped
    out, pred = call(losses.CategoricalCrossentropy(), Y, P)
    out.backward()
    assert pred.grad is not None                   # the gradient reaches the prediction


def test_a_half_precision_prediction_gives_a_float32_loss():
    out = losses.MeanSquaredError()(Y.astype(np.float32), mg.tensor(P.astype(np.float16)))
    assert out.dtype == np.float32


def test_config_names_and_lookup():
    assert losses.BinaryCrossentropy(from_logits=True).get_config() == {
        "name": "binary_crossentropy", "from_logits": True}
    assert losses.MeanSquaredError().get_config() == {"name": "mse", "from_logits": False}
    assert losses.get("mean_squared_error").name == "mse"
    for name, cls in (("mse", losses.MeanSquaredError),
                      ("categorical_crossentropy", losses.CategoricalCrossentropy),
                      ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
                      ("binary_crossentropy", losses.BinaryCrossentropy)):
        got = losses.get(name)
        assert type(got) is cls and got.name == name and not got.from_logits
        assert got.reduction == "mean"
    mine = losses.BinaryCrossentropy()
    assert losses.get(mine) is mine
    with pytest.raises(ValueError) as e:
        losses.get("hinge")
    assert str(e.value) == ("unknown loss 'hinge'; known: ['binary_crossentropy', "
                            "'categorical_crossentropy', 'mean_squared_error', 'mse', "
                            "'sparse_categorical_crossentropy']")


def test_keras_names_of_the_reductions():
    assert losses.MeanSquaredError(reduction="sum_over_batch_size").reduction == "mean"
    assert losses.BinaryCrossentropy(reduction=None).reduction == "none"


def test_a_bad_reduction_is_named():
    with pytest.raises(ValueError) as e:
        losses.MeanSquaredError(reduction="avg")
    assert str(e.value) == ("MeanSquaredError: reduction must be one of ['mean', 'sum', "
                            "'none'], got 'avg'")


def test_the_base_class_has_no_formula():
    with pytest.raises(NotImplementedError):
        losses.Loss()(Y, mg.tensor(P))


def test_a_loss_object_checks_the_labels():
    probs = np.full((2, 3), 1 / 3)
    for loss in (losses.SparseCategoricalCrossentropy(),
                 losses.SparseCategoricalCrossentropy(from_logits=True)):
        with pytest.raises(ValueError, match="class label 3 is out of range for 3 classes"):
            loss(np.array([0, 3]), mg.tensor(probs))
        with pytest.raises(ValueError, match="class label 4 is out of range"):
            loss(np.array([[0, 4]]), mg.tensor(np.full((1, 2, 3), 1 / 3)))


def test_elementwise_losses_average_the_last_axis_of_sequences():
    y = RNG.uniform(0.1, 0.9, (2, 3, 4))
    p = RNG.uniform(0.1, 0.9, (2, 3, 4))
    out, _ = call(losses.MeanSquaredError(reduction="none"), y, p)
    np.testing.assert_allclose(out.numpy(), ((y - p) ** 2).mean(-1), rtol=1e-12)
    out, _ = call(losses.BinaryCrossentropy(reduction="sum"), y, p)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)
    np.testing.assert_allclose(out.numpy(), bce.sum(), rtol=1e-12)
