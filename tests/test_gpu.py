"""CPU-vs-GPU agreement (allclose, never bitwise) for every op and for training steps.

Marked ``gpu``: skipped without CuPy and a CUDA device. The device-parametrised tests of
the other files also run on 'cuda' there.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.keras import layers, models

from catalogue import CATALOGUE

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("op", CATALOGUE, ids=[o.name for o in CATALOGUE])
@settings(max_examples=3)
@given(data=st.data())
def test_op_forward_and_backward_cpu_vs_gpu(op, data):
    shapes = data.draw(op.shapes)
    rng = np.random.default_rng(0)
    arrays = [op.domain(i)(rng.standard_normal(s)).astype(np.float32)
              for i, s in enumerate(shapes)]
    results = {}
    for dev in ("cpu", "cuda"):
        xs = [mg.tensor(a, device=dev, requires_grad=i not in op.targets)
              for i, a in enumerate(arrays)]
        y = op.fn(*xs)
        gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        y.backward(mg.tensor(gy, device=dev))
        results[dev] = [y.numpy()] + [x.grad.numpy() for x in xs if x.grad is not None]
        assert all(x.grad is None or x.grad.device == dev for x in xs)
    for a, b in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_labels_out_of_range_on_device():
    import minigrad.functional as F
    x = mg.zeros(2, 3, device="cuda")
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(x, mg.tensor([0, 3], device="cuda"))
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(x, mg.tensor([-1, 0], device="cuda"))


def cnn():
    return models.Sequential([
        layers.Conv2D(8, (3, 3), activation="relu", input_shape=(12, 12, 1)),
        layers.MaxPooling2D((2, 2)), layers.Flatten(), layers.Dropout(0.0),
        layers.Dense(10, activation="softmax")])


def test_training_steps_cpu_vs_gpu_and_weights_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((64, 12, 12, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    states = {}
    for dev in ("cpu", "cuda"):
        mg.manual_seed(3)
        m = cnn().to(dev)
        m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True)
        states[dev] = m.state_dict()
        assert all(p.device == dev for p in m.parameters())
        assert all(type(s["m"]) is type(p.data) for p, s in
                   ((p, m.optimizer.state[p]) for p in m.parameters()))
        if dev == "cuda":
            path = m.save_weights(tmp_path / "gpu.npz")
            cpu = cnn()
            cpu.load_weights(path)
            for k, v in cpu.state_dict().items():
                np.testing.assert_array_equal(v, states["cuda"][k])
            back = cnn().to("cuda")
            back.load_weights(path)
            assert back.parameters()[0].device == "cuda"
    for k in states["cpu"]:
        np.testing.assert_allclose(states["cpu"][k], states["cuda"][k], rtol=1e-4, atol=1e-5)


def test_mixed_devices_raise():
    with pytest.raises(RuntimeError, match="same device"):
        mg.ones(3) + mg.ones(3, device="cuda")


def test_dataloader_and_predict_on_gpu():
    from minigrad.data import DataLoader
    m = cnn().to("cuda")
    x = np.random.default_rng(0).random((10, 12, 12, 1), dtype=np.float32)
    p = m.predict(x, batch_size=4)
    assert isinstance(p, np.ndarray) and p.shape == (10, 10)
    for (xb,) in DataLoader((x,), batch_size=4, device="cuda"):
        assert xb.device == "cuda"


@pytest.mark.parametrize("shape", [(4, 96, 384), (2, 3, 1000), (5, 7)])
def test_the_row_kernels_agree_with_the_cpu_on_wide_rows(shape):
    """Layer normalisation and softmax over the last axis run as CuPy row kernels on the
    GPU (each used, not refused by its self-check) and agree with the CPU, forward and
    backward, on rows wider than one thread block."""
    import warnings

    import minigrad.functional as F
    rng = np.random.default_rng(7)
    x0 = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    w0, b0 = (rng.standard_normal(shape[-1:]).astype(np.float32) for _ in range(2))
    gy = rng.standard_normal(shape).astype(np.float32)
    got = {}
    for dev in ("cpu", "cuda"):
        x, w, b = (mg.tensor(a, device=dev, requires_grad=True) for a in (x0, w0, b0))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = F.layer_norm(x, shape[-1:], w, b) + F.softmax(x * 3, axis=-1)
            y.backward(mg.tensor(gy, device=dev))
        got[dev] = [y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()]
    for a, b in zip(got["cpu"], got["cuda"]):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)
