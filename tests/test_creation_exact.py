"""The tensor constructors (`minigrad.creation`) against NumPy: shapes given either way,
dtypes, devices, gradients, seeding, memory sharing, and their messages."""
import numpy as np
import pytest

import minigrad as mg


@pytest.mark.parametrize("make,value", [(mg.zeros, 0.0), (mg.ones, 1.0)])
def test_zeros_and_ones(make, value):
    for t in (make(2, 3), make((2, 3)), make([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
        np.testing.assert_array_equal(t.numpy(), np.full((2, 3), value))
    t = make(4, dtype="float64", requires_grad=True)
    assert t.dtype == np.float64 and t.requires_grad and t.shape == (4,)
    assert make(np.int64(2), 3).shape == (2, 3)
    assert make(2, device="strict").device == "strict"


def test_empty_has_the_shape_dtype_and_device_asked_for():
    e = mg.empty(3, 2)
    assert e.shape == (3, 2) and e.dtype == np.float32 and not e.requires_grad
    assert mg.empty((4,), dtype="int32").dtype == np.int32
    assert mg.empty(2, device="strict").device == "strict"
    assert mg.empty(2, requires_grad=True).requires_grad
    assert mg.full_like(e, 1.0, requires_grad=True).requires_grad
    assert not mg.full_like(e, 1.0).requires_grad


def test_full_and_the_like_constructors():
    f = mg.full(3, 2.5)
    assert f.shape == (3,) and f.dtype == np.float32
    np.testing.assert_array_equal(f.numpy(), [2.5] * 3)
    g = mg.full((2, 2), 7, dtype="int64", requires_grad=False)
    assert g.dtype == np.int64 and g.numpy().tolist() == [[7, 7], [7, 7]]
    assert mg.full([1, 2], 1.0, requires_grad=True).requires_grad
    src = mg.tensor(np.ones((2, 3), np.float64))
    for like, value in ((mg.zeros_like, 0), (mg.ones_like, 1)):
        t = like(src)
        assert t.shape == (2, 3) and t.dtype == np.float64 and not t.requires_grad
        np.testing.assert_array_equal(t.numpy(), value)
        assert like(src, dtype="float32").dtype == np.float32
        assert like(src, requires_grad=True).requires_grad
    fl = mg.full_like(src, 4.0)
    assert fl.dtype == np.float64 and float(fl.numpy().sum()) == 24.0
    assert mg.full_like(src, 4, dtype="int32").dtype == np.int32
    on = mg.zeros(2, device="strict")
    assert mg.ones_like(on).device == "strict" and mg.full_like(on, 3).device == "strict"


def test_arange_follows_numpy_with_the_default_float_dtype():
    a = mg.arange(5)
    assert a.dtype == np.int64 and a.numpy().tolist() == [0, 1, 2, 3, 4]
    assert mg.arange(2, 5).numpy().tolist() == [2, 3, 4]
    assert mg.arange(5, 0, -2).numpy().tolist() == [5, 3, 1]
    b = mg.arange(0.0, 1.0, 0.25)
    assert b.dtype == np.float32 and b.numpy().tolist() == [0.0, 0.25, 0.5, 0.75]
    c = mg.arange(3, dtype="float64", requires_grad=True)
    assert c.dtype == np.float64 and c.requires_grad
    assert mg.arange(3, device="strict").device == "strict"
    with pytest.raises(ValueError) as e:
        mg.arange(0, 10, 0)
    assert str(e.value) == "arange: step must not be zero"
    with pytest.raises((TypeError, ValueError)) as e:
        mg.arange(0, "10")
    assert str(e.value).startswith("arange: stop must be")


@pytest.mark.parametrize("make", [mg.rand, mg.randn])
def test_random_tensors_are_seeded_and_the_same_on_every_device(make):
    mg.manual_seed(3)
    a = make(200, 50)
    mg.manual_seed(3)
    b = make((200, 50), device="strict")
    assert a.shape == b.shape == (200, 50) and a.dtype == np.float32
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mg.manual_seed(4)
    assert not np.array_equal(make(200, 50).numpy(), a.numpy())
    x = a.numpy()
    if make is mg.rand:
        assert x.min() >= 0 and x.max() < 1 and abs(x.mean() - 0.5) < 0.01
    else:
        assert abs(x.mean()) < 0.02 and abs(x.std() - 1) < 0.02
    c = make(3, dtype="float64", requires_grad=True)
    assert c.dtype == np.float64 and c.requires_grad


def test_from_numpy_shares_memory_and_checks_its_argument():
    arr = np.zeros(3, np.float32)
    t = mg.from_numpy(arr)
    arr[1] = 5.0
    assert t.numpy()[1] == 5.0 and t.dtype == np.float32
    with pytest.raises(TypeError) as e:
        mg.from_numpy([1.0, 2.0])
    assert str(e.value) == "from_numpy expects a numpy.ndarray, got list"


def test_tensor_copies_and_keeps_numpy_dtypes():
    arr = np.arange(3, dtype=np.float64)
    t = mg.tensor(arr, requires_grad=True)
    arr[0] = 9
    assert t.numpy()[0] == 0 and t.dtype == np.float64 and t.requires_grad
    assert mg.tensor([1.5, 2.5]).dtype == np.float32
    assert mg.tensor([[1, 2]], dtype="float32").shape == (1, 2)


class FakeDLPack:
    def __init__(self, kind):
        self.kind = kind

    def __dlpack__(self, stream=None):
        raise AssertionError("not reached")

    def __dlpack_device__(self):
        return (self.kind, 0)


def test_from_dlpack_shares_memory_and_names_what_it_cannot_take():
    arr = np.arange(4.0)
    t = mg.from_dlpack(arr, requires_grad=True)
    arr[0] = 7.0
    assert t.numpy()[0] == 7.0 and t.requires_grad
    with pytest.raises(TypeError) as e:
        mg.from_dlpack([1, 2])
    assert str(e.value) == ("from_dlpack expects an object with __dlpack__ (a PyTorch, JAX "
                            "or CuPy tensor, a NumPy array), got list")
    with pytest.raises(ValueError) as e:
        mg.from_dlpack(FakeDLPack(4))
    assert str(e.value) == ("from_dlpack: DLPack device type 4 is not supported (CPU and "
                            "CUDA are)")


def test_devices_dtypes_and_defaults_are_passed_through():
    for make in (mg.rand, mg.randn):
        t = make(2, 3, device="strict", dtype="float16")
        assert t.device == "strict" and t.dtype == np.float16 and not t.requires_grad
        assert not make(2).requires_grad
    assert mg.zeros_like(mg.zeros(2, device="strict")).device == "strict"
    a = mg.arange(4, dtype="int32")
    assert a.dtype == np.int32 and mg.arange(1.0, 2.0, 0.5, dtype="float16").dtype == np.float16
    with pytest.raises((TypeError, ValueError)) as e:
        mg.arange("0", 10)
    assert str(e.value).startswith("arange: start must be")
    assert not mg.from_dlpack(np.zeros(2)).requires_grad


class OnlyDLPack:
    def __dlpack__(self, stream=None):
        raise AssertionError("not reached")


def test_from_dlpack_needs_both_protocol_methods_and_cupy_for_cuda_memory():
    with pytest.raises(TypeError, match="got OnlyDLPack"):
        mg.from_dlpack(OnlyDLPack())
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed")
    except ImportError:
        pass
    with pytest.raises(ValueError) as e:
        mg.from_dlpack(FakeDLPack(2))
    assert str(e.value) == ("from_dlpack: the array is in CUDA memory; install CuPy to use "
                            "it from minigrad")
