"""Numerical stability with exact expected values (RELIABILITY items 6-10), warning-free."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F


@pytest.fixture(autouse=True)
def strict_fp():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        yield


def test_softmax_large_logits(device):
    y = F.softmax(mg.tensor([1e4, 0.0], device=device))
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0])


def test_log_softmax_large_logits(device):
    y = F.log_softmax(mg.tensor([1e4, 0.0], device=device))
    np.testing.assert_array_equal(y.numpy(), [0.0, -1e4])


def test_cross_entropy_large_logits(device):
    x = mg.tensor([[1e4, 0.0]], device=device, requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor([1], device=device))
    assert loss.item() == 1e4
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, -1.0]])


def test_keras_categorical_crossentropy_clips(device):
    y_true = mg.tensor([[0, 1, 0], [0, 0, 1]], dtype="float32", device=device)
    y_pred = mg.tensor([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], device=device)
    loss = F.categorical_crossentropy(y_pred, y_true)
    assert loss.item() == pytest.approx(1.1769392, abs=1e-6)


def test_sigmoid_tanh_saturate_without_overflow(device):
    x = mg.tensor([1000.0, -1000.0], device=device, requires_grad=True)
    s = F.sigmoid(x)
    np.testing.assert_array_equal(s.numpy(), [1.0, 0.0])
    s.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    x.grad = None
    t = F.tanh(x)
    np.testing.assert_array_equal(t.numpy(), [1.0, -1.0])
    t.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_sigmoid_keeps_its_relative_precision_in_the_tails():
    x = np.linspace(-87, 87, 2001).astype(np.float32)
    s = F.sigmoid(mg.tensor(x)).numpy()
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(s, exact, rtol=1e-6, atol=0)      # e.g. 2e-9 at x = -20
    assert F.sigmoid(mg.tensor(np.float32([-88.8, -1e30]))).numpy().tolist() == [0.0, 0.0]


def test_relu_propagates_nan(device):
    with np.errstate(invalid="ignore"):
        y = F.relu(mg.tensor([-1.0, np.nan, 2.0], device=device))
    out = y.numpy()
    assert out[0] == 0 and np.isnan(out[1]) and out[2] == 2


def test_bce_with_logits_extremes():
    z = mg.tensor([1000.0, -1000.0], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, mg.tensor([1.0, 0.0]))
    assert loss.item() == 0.0
    loss.backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0])


def test_logsumexp_large():
    assert F.logsumexp(mg.tensor([1e4, 1e4]), axis=0).item() == pytest.approx(1e4 + np.log(2))


def test_labels_out_of_range_raise(device):
    x = mg.zeros(2, 3, device=device)
    for bad in ([0, 3], [-1, 0]):
        with pytest.raises(ValueError, match="out of range"):
            F.cross_entropy(x, mg.tensor(bad, device=device))


def test_target_shape_mismatch_raises():
    x = mg.zeros(2, 3)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        F.cross_entropy(x, mg.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="one-hot"):
        F.cross_entropy(x, mg.tensor([[0, 1, 0], [1, 0, 0]]))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        F.cross_entropy(x, mg.zeros(2, 4))
    with pytest.raises(ValueError, match="target shape"):
        F.mse_loss(x, mg.zeros(3, 2))

