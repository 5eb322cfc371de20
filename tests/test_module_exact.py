"""Module.to and load_state_dict in detail (written from mutation-testing survivors: the
gradients and buffers a move carries, loaded arrays copied, every problem named)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def bn_model():
    mg.manual_seed(0)
    m = nn.Sequential([nn.Dense(3, input_shape=(4,)), nn.BatchNormalization()])
    m(np.random.default_rng(0).random((5, 4), dtype=np.float32))     # moving statistics
    return m


def test_to_moves_parameters_gradients_and_buffers():
    from strict_backend import StrictArray
    m = bn_model()
    for p in m.parameters():
        p.grad = mg.tensor(np.ones(p.shape, np.float32))
    before = {k: v.copy() for k, v in m.state_dict().items()}
    assert m.to("strict") is m
    bn = m[1]
    assert isinstance(bn.moving_mean, StrictArray) and isinstance(bn.moving_variance,
                                                                    StrictArray)
    for p in m.parameters():
        assert isinstance(p.data, StrictArray) and isinstance(p.grad.data, StrictArray)
        np.testing.assert_array_equal(p.grad.numpy(), 1.0)
    assert m[0]._device == "strict:0" and m.device == "strict:0"
    m.to("cpu")
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert isinstance(bn.moving_mean, np.ndarray)


def test_load_state_dict_copies_and_names_every_problem():
    m = bn_model()
    state = m.state_dict()
    state["0.kernel"] = np.full((4, 3), 2.0, np.float32)
    m.load_state_dict(state)
    state["0.kernel"][0, 0] = 99.0                     # the model holds a copy
    assert m[0].kernel.numpy()[0, 0] == 2.0
    bad = dict(state)
    bad["0.bias"] = np.zeros(5, np.float32)
    bad["1.gamma"] = np.ones(3, np.float64)
    del bad["1.beta"]
    bad["extra"] = np.zeros(1)
    before = m[0].kernel.numpy().copy()
    bad["0.kernel"] = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=(
            r"^cannot load state into Sequential: missing keys: \['1\.beta'\]; unexpected keys: "
            r"\['extra'\]; '0\.bias': shape \(5,\) in the file, \(3,\) in the model; "
            r"'1\.gamma': dtype float64 in the file, float32 in the model$")):
        m.load_state_dict(bad)
    np.testing.assert_array_equal(m[0].kernel.numpy(), before)   # nothing changed
    partial = {"0.kernel": np.ones((4, 3), np.float32), "extra": np.zeros(1)}
    m.load_state_dict(partial, strict=False)
    np.testing.assert_array_equal(m[0].kernel.numpy(), 1.0)
    with pytest.raises(ValueError, match=r"'0\.kernel': shape \(\) in the file"):
        m.load_state_dict({"0.kernel": 1.0}, strict=False)
