"""BatchNormalization's gradients and statistics against their formulas (written from
mutation-testing survivors: no test had checked the gradients of gamma and beta, a frozen
scale, or channels on axis 1)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.normalization import _BatchNormTrain

rng = np.random.default_rng(0)


def bn_reference(x, gamma, beta, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta, mean, var


@pytest.mark.parametrize("shape,axes", [((6, 3), (0,)), ((4, 3, 5, 2), (0, 2, 3)),
                                        ((3, 4, 2, 5), (0, 1, 2))])
@pytest.mark.parametrize("needs", [(True, True, True), (True, False, False),
                                   (False, True, True), (False, True, False)])
def test_batch_norm_gradients_of_every_input(shape, axes, needs):
    C = [s for i, s in enumerate(shape) if i not in axes][0]
    bshape = [1] * len(shape)
    bshape[[i for i in range(len(shape)) if i not in axes][0]] = C
    x = rng.standard_normal(shape) * 2 + 1
    g = rng.standard_normal(bshape) + 1.5
    b = rng.standard_normal(bshape)
    ts = [mg.tensor(a, requires_grad=n) for a, n in zip((x, g, b), needs)]
    assert mg.gradcheck(lambda *a: _BatchNormTrain(axes, 1e-3).apply(*a), ts, eps=1e-6,
                        atol=1e-6, rtol=1e-5)
    y = _BatchNormTrain(axes, 1e-3).apply(*ts)
    up = rng.standard_normal(shape)
    y.backward(up)
    ref, _, var = bn_reference(x, g, b, axes, 1e-3)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12)
    xhat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(var + 1e-3)
    want = {1: (up * xhat).sum(axis=axes, keepdims=True), 2: up.sum(axis=axes, keepdims=True)}
    for i in (1, 2):
        if needs[i]:
            np.testing.assert_allclose(ts[i].grad.numpy(), want[i], rtol=1e-10)
        else:
            assert ts[i].grad is None


def test_the_layer_with_channels_on_axis_1_trains_and_infers_by_its_formulas():
    x = (rng.standard_normal((8, 3, 4, 5)) * 3 + 2).astype(np.float32)
    layer = nn.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-3)
    y = layer(x)
    ref, mean, var = bn_reference(x.astype(np.float64), 1.0, 0.0, (0, 2, 3), 1e-3)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)
    assert layer.moving_mean.dtype == np.float32 and layer.moving_mean.shape == (3,)
    np.testing.assert_allclose(layer.moving_mean, 0.1 * mean.reshape(-1), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance, 0.9 + 0.1 * var.reshape(-1), rtol=1e-5)
    layer.eval()
    z = layer(x)
    mm = layer.moving_mean.reshape(1, 3, 1, 1)
    mv = layer.moving_variance.reshape(1, 3, 1, 1)
    np.testing.assert_allclose(z.numpy(), (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-5,
                               atol=1e-6)
