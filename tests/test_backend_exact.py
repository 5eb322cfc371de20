"""The backend registry, devices and per-device generators, exactly (the strict test
backend of tests/strict_backend.py stands in for a GPU)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.backend import Backend, Device


def without_cuda(monkeypatch):
    """The backend registry as on a machine without CuPy (for this test)."""
    monkeypatch.setattr(backend, "_BACKENDS", {k: v for k, v in backend._BACKENDS.items()
                                               if k != "cuda"})


def test_a_registered_backend_owns_its_array_type(monkeypatch):
    class Arr(np.ndarray):
        pass
    monkeypatch.setattr(backend, "_BACKENDS", dict(backend._BACKENDS))
    monkeypatch.setattr(backend, "_BY_TYPE", dict(backend._BY_TYPE))
    b = Backend(name="toy", xp=np, array_type=Arr, from_host=lambda a, i: a.view(Arr),
                to_host=np.asarray, as_strided=None, scatter_add=None)
    backend.register_backend(b)
    a = np.zeros(3).view(Arr)
    assert backend.get_backend(a) is b
    assert backend.as_device("toy").backend is b


def test_cuda_availability_is_whether_a_cuda_backend_is_registered(monkeypatch):
    without_cuda(monkeypatch)
    monkeypatch.setattr(backend, "_cuda_reason", "no GPU here")
    assert backend.is_cuda_available() is False and mg.cuda.is_available() is False
    assert backend.cuda_unavailable_reason() == "no GPU here"
    backend._BACKENDS["cuda"] = backend._BACKENDS["strict"]
    assert backend.is_cuda_available() is True
    assert backend.cuda_unavailable_reason() is None


def test_devices_print_and_hash_as_their_string_form():
    assert str(Device("cpu")) == "cpu" and repr(Device("cpu")) == "device('cpu')"
    assert str(Device("strict")) == "strict:0" and str(Device("strict", 2)) == "strict:2"
    seen = {"cpu": 1, "strict:0": 2}
    assert seen[mg.device("cpu")] == 1 and seen[mg.device("strict")] == 2
    assert Device("cpu") in {"cpu"} and "strict:0" in {Device("strict")}
    assert len({Device("cpu"), Device("cpu"), Device("strict"), Device("strict", 1)}) == 3


def test_synchronize_waits_on_every_backend_or_the_one_asked(monkeypatch):
    calls = []
    for name, b in backend._BACKENDS.items():
        monkeypatch.setattr(b, "synchronize", lambda name=name: calls.append(name))
    backend.synchronize()
    assert sorted(calls) == sorted(backend._BACKENDS)
    calls.clear()
    backend.synchronize("strict")
    assert calls == ["strict"]
    calls.clear()
    backend.synchronize(Device("cpu"))
    assert calls == ["cpu"]


def _draws(device):
    return np.asarray(backend.default_rng_for(device).random(5))


def test_a_devices_generator_is_seeded_by_manual_seed_and_the_device_index(monkeypatch):
    """Each (seed, device index) gives its own stream, from ``hash((seed, index))`` in 32
    bits; the generator is made once per device and kept until the next manual_seed."""
    strict = backend._BACKENDS["strict"]
    monkeypatch.setattr(strict, "rngs", {})
    try:
        for seed in (3, 4):
            mg.manual_seed(seed)
            for index in (0, 1):
                dev = Device("strict", index)
                want = np.random.default_rng(hash((seed, index)) & 0xFFFFFFFF).random(5)
                np.testing.assert_array_equal(_draws(dev), want)
                assert backend.default_rng_for(dev) is backend.default_rng_for(dev)
        mg.manual_seed(3)
        assert backend.default_rng_for(Device("cpu")) is backend.host_rng()
    finally:
        mg.manual_seed(0)


def test_an_unseeded_device_generator_is_fresh_entropy(monkeypatch):
    strict = backend._BACKENDS["strict"]
    monkeypatch.setattr(strict, "rngs", {})
    monkeypatch.setattr(backend, "_seed", [None])
    first = _draws(Device("strict"))
    strict.rngs.clear()
    assert not np.array_equal(first, _draws(Device("strict")))


def test_dropout_masks_on_a_device_repeat_after_the_same_seed():
    x = mg.ones(200, device="strict")
    masks = []
    for _ in range(2):
        mg.manual_seed(11)
        masks.append(mg.functional.dropout(x, 0.5, training=True).numpy())
    np.testing.assert_array_equal(*masks)
    mg.manual_seed(12)
    assert not np.array_equal(masks[0], mg.functional.dropout(x, 0.5, training=True).numpy())
    mg.manual_seed(0)


@pytest.mark.parametrize("bad", [3, 1.5, object()])
def test_a_device_that_is_not_a_string_is_a_type_error(bad):
    with pytest.raises(TypeError, match="device must be a string like 'cpu' or 'cuda:0'"):
        backend.as_device(bad)


def test_strided_views_are_read_only():
    """Window views share memory with their array: writing through one would change many
    positions at once, so they are read-only."""
    x = np.arange(6.0)
    v = backend.as_strided(x, (2, 3), (8, 8))
    assert v.tolist() == [[0, 1, 2], [1, 2, 3]] and v.flags.writeable is False
    with pytest.raises(ValueError):
        v[0, 0] = 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_with_scipy_without_it_and_on_another_device(monkeypatch, dtype):
    import math
    import sys
    x = np.array([-1.5, 0.0, 0.3, 2.0], dtype=dtype)
    want = np.array([math.erf(v) for v in x.astype(np.float64)])
    tol = 1e-6 if dtype == np.float32 else 1e-15
    for scipy_there in (True, False):     # (the first pass is SciPy's only where installed)
        if not scipy_there:
            monkeypatch.setitem(sys.modules, "scipy.special", None)
        got = backend.erf(x)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        dev = backend.erf(mg.tensor(x, device="strict").data)
        assert backend.get_backend(dev).name == "strict"
        np.testing.assert_allclose(backend.to_host(dev), want, rtol=tol, atol=tol)


def test_device_strings_parse_exactly(monkeypatch):
    assert backend.as_device("cpu") is backend.as_device(None) is backend.as_device("cpu:3")
    assert (backend.as_device("strict:2").kind, backend.as_device("strict:2").index) == \
        ("strict", 2)
    assert backend.as_device("strict").index == 0
    with pytest.raises(ValueError) as err:
        backend.as_device("tpu:0")
    assert str(err.value) == "unknown device 'tpu:0' (known kinds: " + \
        ", ".join(sorted(backend._BACKENDS)) + ")"
    with pytest.raises(ValueError) as err:
        backend.as_device("strict:x")
    assert str(err.value) == "bad device index in 'strict:x'"
    without_cuda(monkeypatch)
    monkeypatch.setattr(backend, "_cuda_reason", "CuPy is not installed")
    with pytest.raises(RuntimeError) as err:
        backend.as_device("cuda:1")
    assert str(err.value) == (
        "device 'cuda:1' requested but CUDA is unavailable: CuPy is not installed. Install "
        "the GPU extra (pip install 'minigrad[cuda]') on a machine with an NVIDIA GPU and "
        "driver.")


def test_device_of_an_array_asks_its_backend_for_the_index(monkeypatch):
    strict = backend._BACKENDS["strict"]
    monkeypatch.setattr(strict, "array_index", lambda a: 3)
    d = backend.device_of(mg.zeros(2, device="strict").data)
    assert (d.kind, d.index) == ("strict", 3)
    assert backend.device_of(np.zeros(2)) is backend.as_device("cpu")


def test_mixing_devices_in_one_op_is_refused_by_name():
    a, b = mg.ones(2), mg.ones(2, device="strict")
    for x, y, first, second in ((a, b, "cpu", "strict:0"), (b, a, "strict:0", "cpu")):
        with pytest.raises(RuntimeError) as err:
            x + y
        assert str(err.value) == (f"Add: expected all tensors on the same device, found "
                                  f"{first} and {second}. Move them with .to(device) first.")
    with pytest.raises(RuntimeError, match="^Mul: .* found cpu and strict:0"):
        mg.tensor([1.0, 2.0]) * 2.0 * b                  # a number first changes nothing


def test_anything_that_is_not_a_registered_array_lives_on_the_cpu():
    cpu = backend._BACKENDS["cpu"]
    for x in (3.0, 2, [1.0, 2.0], np.float32(1.0), None):
        assert backend.get_backend(x) is cpu


def test_move_copies_only_across_devices_and_names_the_index(monkeypatch):
    a = np.arange(3.0)
    assert backend.move(a, Device("cpu")) is a
    s = mg.ones(2, device="strict").data
    assert backend.move(s, Device("strict")) is s
    strict = backend._BACKENDS["strict"]
    seen = []
    real = strict.from_host
    monkeypatch.setattr(strict, "from_host", lambda h, i: (seen.append(i), real(h, i))[1])
    backend.move(a, Device("strict", 2))
    assert seen == [2]


def test_manual_seed_seeds_the_generator_of_every_backend(monkeypatch):
    seeds = []
    strict = backend._BACKENDS["strict"]
    monkeypatch.setattr(strict, "seed", lambda s: seeds.append(s))
    mg.manual_seed(123)
    assert seeds == [123]


def test_device_of_passes_the_array_to_its_backend(monkeypatch):
    strict = backend._BACKENDS["strict"]
    arr = mg.zeros(2, device="strict").data
    monkeypatch.setattr(strict, "array_index", lambda a: 5 if a is arr else 0)
    assert backend.device_of(arr).index == 5


def test_a_device_equals_no_unknown_name_and_no_other_object():
    d = Device("cpu")
    assert d != "banana" and d != "tpu:0" and d != 3 and d != None  # noqa: E711
    assert d == "cpu" and Device("strict", 1) == "strict:1" and Device("strict", 1) != "strict"


def test_cuda_device_count_and_synchronize_ask_the_cuda_backend(monkeypatch):
    import types
    without_cuda(monkeypatch)
    calls = []
    monkeypatch.setattr(backend, "synchronize", lambda name=None: calls.append(name))
    assert mg.cuda.device_count() == 0
    mg.cuda.synchronize()
    assert calls == []
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 3)
    fake = types.SimpleNamespace(xp=types.SimpleNamespace(cuda=types.SimpleNamespace(
        runtime=runtime)))
    backend._BACKENDS["cuda"] = fake
    assert mg.cuda.device_count() == 3
    mg.cuda.synchronize()
    assert calls == ["cuda"]


def test_default_dtype_and_gradient_dtype_messages():
    with pytest.raises(TypeError) as err:
        mg.set_default_dtype("int32")
    assert str(err.value) == "default dtype must be a floating dtype, got int32"
    with pytest.raises(ValueError) as err:
        mg.set_default_dtype("float16")
    assert str(err.value) == (
        "default dtype float16 is not supported: use float32 or float64 (for float16 "
        "training use mixed precision: "
        "minigrad.mixed_precision.set_global_policy('mixed_float16'))")
    with pytest.raises(TypeError) as err:
        mg.tensor([1, 2], requires_grad=True)
    assert str(err.value) == (
        "only floating point tensors can require gradients; this tensor has dtype int64 "
        "(integer and bool tensors hold labels and masks). Convert with .astype('float32') "
        "first.")
