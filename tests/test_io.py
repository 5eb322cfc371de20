"""Weight files: no pickle, JSON architectures via a registry, checks before any change,
atomic writes, zip-bomb refusal (RELIABILITY items 16-20)."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from minigrad import io as wio
from minigrad.keras import layers, models


def model():
    m = models.Sequential([layers.Dense(5, activation="relu", input_shape=(3,)),
                           layers.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return m


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def test_save_and_load_weights_roundtrip(tmp_path):
    a, b = model(), model()
    p = a.save_weights(tmp_path / "w")
    assert p.endswith(".npz")
    b.load_weights(p)
    assert same_weights(a, b)


def test_model_save_and_load_model(tmp_path):
    a = model()
    p = a.save(tmp_path / "m.npz")
    b = models.load_model(p)
    assert same_weights(a, b)
    assert [type(layer).__name__ for layer in b.layers] == ["Dense", "Dense"]
    x = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert b.loss.name == "categorical_crossentropy" and b.metrics_names == ["accuracy"]


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_planted_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    obj = np.empty(1, dtype=object)
    obj[0] = Evil()
    path = tmp_path / "evil.npz"
    np.savez(path, **{"0.kernel": obj})
    with pytest.raises(wio.WeightsFileError, match="objects"):
        model().load_weights(path)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(wio.WeightsFileError, match="not a minigrad"):
        model().load_weights(raw)
    with pytest.raises(wio.WeightsFileError):
        models.load_model(path)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_mismatch_raises_before_any_change(tmp_path):
    a = model()
    p = a.save_weights(tmp_path / "w.npz")
    other = models.Sequential([layers.Dense(5, activation="relu", input_shape=(4,)),
                               layers.Dense(2)])
    before = other.state_dict()
    with pytest.raises(wio.WeightsFileError, match=r"'0\.kernel': file has \(3, 5\)"):
        other.load_weights(p)
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    bigger = models.Sequential([layers.Dense(5, input_shape=(3,)), layers.Dense(2),
                                layers.Dense(2)])
    with pytest.raises(wio.WeightsFileError, match=r"missing in file: \['2\.kernel'"):
        bigger.load_weights(p)
    smaller = models.Sequential([layers.Dense(5, input_shape=(3,))])
    with pytest.raises(wio.WeightsFileError, match="unexpected in file"):
        smaller.load_weights(p)


def test_dtype_mismatch_is_refused(tmp_path):
    a = model()
    sd = {k: v.astype(np.float64) for k, v in a.state_dict().items()}
    p = wio.save_arrays(tmp_path / "f64.npz", sd)
    with pytest.raises(wio.WeightsFileError, match="float64"):
        model().load_weights(p)


def write_member(path, name, shape, payload_bytes):
    """An .npz with one float32 member whose header says ``shape``, followed by
    ``payload_bytes`` zero bytes (compressed)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, header.getvalue() + b"\0" * payload_bytes)


def test_zip_bomb_member_refused_without_unpacking(tmp_path):
    path = tmp_path / "bomb.npz"
    # the header claims 40 bytes of data; the member expands to 40 MB of zeros
    write_member(path, "1.bias.npy", (5, 2), 40 << 20)
    with pytest.raises(wio.WeightsFileError, match="declares"):
        wio.read_headers(path)
    assert os.path.getsize(path) < 1 << 20


def test_member_declaring_40_gb_is_refused_from_its_header(tmp_path):
    path = tmp_path / "huge.npz"
    write_member(path, "0.kernel.npy", (100000, 100000), 64)
    with pytest.raises(wio.WeightsFileError, match=r"\(100000, 100000\)"):
        model().load_weights(path)


def test_atomic_save_keeps_old_file_on_crash(tmp_path, monkeypatch):
    a = model()
    p = a.save_weights(tmp_path / "w.npz")
    with open(p, "rb") as f:
        old = f.read()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("crash mid-save")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        model().save_weights(p)
    with open(p, "rb") as f:
        assert f.read() == old
    assert [f for f in os.listdir(tmp_path) if f.startswith(".tmp")] == []


def test_registry_refuses_unknown_layer_classes(tmp_path):
    cfg = {"format": "minigrad-model", "version": 1,
           "model": {"class_name": "Sequential", "layers": [
               {"class_name": "os.system", "config": {"command": "echo"}}]}}
    p = wio.save_arrays(tmp_path / "arch.npz", {}, config=cfg)
    with pytest.raises(wio.WeightsFileError, match="unknown layer class 'os.system'"):
        models.load_model(p)


def test_save_before_build_is_a_clear_error(tmp_path):
    m = models.Sequential([layers.Dense(2)])
    with pytest.raises(RuntimeError, match="no weights"):
        m.save_weights(tmp_path / "w.npz")
