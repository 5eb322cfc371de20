"""minigrad.io's checks, each with its exact message, and the .npy versions and paths it
reads (written from mutation-testing survivors)."""
import io as _io
import json
import os
import sys
import zipfile

import numpy as np
import pytest

from minigrad import io as wio
from minigrad.io import WeightsFileError


def npz_with(path, members):
    """A zip of raw members ``{filename: bytes}``."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return str(path)


def npy(arr, version=None):
    buf = _io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), version=version, allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_every_npy_header_version_numpy_writes_is_read(tmp_path, version):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    p = npz_with(tmp_path / "v.npz", {"w.npy": npy(a, version)})
    assert wio.read_headers(p) == {"w": ((2, 3), np.dtype(np.float32))}
    np.testing.assert_array_equal(wio.load_arrays(p)["w"], a)


def test_an_unknown_npy_version_is_refused(tmp_path):
    data = bytearray(npy(np.zeros(3, np.float32)))
    data[6] = 9                                            # the major version byte
    p = npz_with(tmp_path / "v.npz", {"w.npy": bytes(data)})
    with pytest.raises(WeightsFileError, match=r"member 'w\.npy': unsupported \.npy version"
                                               r" \(9, 0\)$"):
        wio.read_headers(p)


def test_header_checks_and_their_messages(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=r"^weights file not found: .*nope\.npz$"):
        wio.read_headers(missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x80\x04not a zip")
    with pytest.raises(WeightsFileError, match=r"junk\.npz is not a minigrad \.npz weights file "
                                               r"\(pickles and other formats are refused\)$"):
        wio.read_headers(junk)
    p = npz_with(tmp_path / "extra.npz", {"w.npy": npy(np.zeros(2)), "notes.txt": b"hi"})
    with pytest.raises(WeightsFileError, match=r"extra\.npz: unexpected member 'notes\.txt'$"):
        wio.read_headers(p)
    p = npz_with(tmp_path / "bad.npz", {"w.npy": b"\x93NUMPY\x01\x00garbage"})
    with pytest.raises(WeightsFileError, match=r"bad\.npz: member 'w' has a bad header: "):
        wio.read_headers(p)
    p = npz_with(tmp_path / "obj.npz", {"w.npy": npy(np.array([{"a": 1}], dtype=object))})
    with pytest.raises(WeightsFileError, match=r"obj\.npz: member 'w' holds Python objects "
                                               r"\(pickle\); refused$"):
        wio.read_headers(p)
    good = npy(np.zeros(4, np.float32))
    p = npz_with(tmp_path / "lie.npz", {"w.npy": good + b"\x00" * 8})   # more than declared
    with pytest.raises(WeightsFileError, match=r"lie\.npz: member 'w' declares \d+ bytes but "
                                               r"its header says \(4,\) float32; refused$"):
        wio.read_headers(p)


def test_a_member_of_exactly_the_largest_size_is_allowed(tmp_path, monkeypatch):
    a = np.zeros(4, np.float32)                             # 16 bytes of data
    p = npz_with(tmp_path / "edge.npz", {"w.npy": npy(a)})
    monkeypatch.setattr(wio, "MAX_MEMBER_BYTES", 16)
    assert wio.read_headers(p) == {"w": ((4,), np.dtype(np.float32))}
    monkeypatch.setattr(wio, "MAX_MEMBER_BYTES", 15)
    with pytest.raises(WeightsFileError, match="declares"):
        wio.read_headers(p)


def test_paths_without_an_extension_and_names(tmp_path):
    arrays = {"a": np.ones(2), "b": np.zeros((1, 3))}
    written = wio.save_arrays(tmp_path / "w", arrays)
    assert written == str(tmp_path / "w.npz") and os.path.isfile(written)
    assert wio.resolve(tmp_path / "w") == written              # found again without it
    assert wio.resolve(tmp_path / "other") == str(tmp_path / "other")
    assert wio.resolve(tmp_path / "w.h5") == str(tmp_path / "w.h5")   # has an extension
    assert sorted(wio.load_arrays(tmp_path / "w")) == ["a", "b"]
    assert list(wio.load_arrays(tmp_path / "w", ["b"])) == ["b"]
    # a file that exists under the given name is that file, even without an extension
    bare = tmp_path / "bare"
    wio.save_arrays(tmp_path / "bare.h5", {"x": np.ones(1)})
    os.replace(tmp_path / "bare.h5", bare)
    wio.save_arrays(tmp_path / "bare.npz", {"y": np.ones(1)})
    assert wio.resolve(bare) == str(bare) and list(wio.load_arrays(bare)) == ["x"]


def test_config_round_trip_and_bad_config(tmp_path):
    p = wio.save_arrays(tmp_path / "c.npz", {"a": np.ones(1)}, config={"k": [1, 2]})
    assert wio.read_config(p) == {"k": [1, 2]}
    assert wio.read_config(wio.save_arrays(tmp_path / "n.npz", {"a": np.ones(1)})) is None
    raw = np.frombuffer(b"{not json", dtype=np.uint8)
    p = npz_with(tmp_path / "badcfg.npz", {wio.CONFIG_KEY + ".npy": npy(raw)})
    with pytest.raises(WeightsFileError, match=r"badcfg\.npz: bad architecture config: "):
        wio.read_config(p)


def test_safetensors_messages(tmp_path, monkeypatch):
    st = pytest.importorskip("safetensors.numpy")
    p = wio.save_arrays(tmp_path / "w.safetensors", {"a": np.arange(3.0), "b": np.ones(2)},
                        config={"z": 1})
    assert sorted(wio.load_arrays(p)) == ["a", "b"]
    assert list(wio.load_arrays(p, ["b"])) == ["b"]
    assert wio.read_config(p) == {"z": 1}
    with pytest.raises(WeightsFileError, match=r"w\.safetensors: cannot read its tensors: "):
        wio.load_arrays(p, ["missing"])
    bad = tmp_path / "cfg.safetensors"
    bad.write_bytes(st.save({"a": np.ones(1)}, metadata={wio.CONFIG_KEY: "{oops"}))
    with pytest.raises(WeightsFileError, match=r"cfg\.safetensors: bad architecture config: "):
        wio.read_config(bad)
    # bfloat16 written by hand in the format (8-byte header length, JSON header, data)
    header = json.dumps({"t": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    bf = tmp_path / "bf.safetensors"
    bf.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 4)
    with pytest.raises(WeightsFileError, match=r"bf\.safetensors: tensor 't' has dtype BF16, "
                                               r"which NumPy cannot hold$"):
        wio.read_headers(bf)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(ImportError, match=r"^'\.safetensors' files need the safetensors "
                                          r"package: pip install safetensors \(or "
                                          r"minigrad\[interop\]\)$"):
        wio.read_headers(p)


def test_writes_go_through_a_temporary_file_beside_the_target(tmp_path, monkeypatch):
    moves = []
    real = os.replace

    def replace(src, dst):
        moves.append((src, dst))
        return real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    for name in ("w.npz", "w.safetensors"):
        if name.endswith("safetensors"):
            pytest.importorskip("safetensors")
        dst = tmp_path / name
        wio.save_arrays(dst, {"a": np.ones(2)})
        src = moves[-1][0]
        assert moves[-1][1] == str(dst)
        assert os.path.dirname(src) == str(tmp_path)            # the same folder: atomic
        assert os.path.basename(src).startswith(".tmp-")
        assert src.endswith(os.path.splitext(name)[1])
    assert sorted(os.listdir(tmp_path)) == ["w.npz", "w.safetensors"]    # no leftovers


def test_object_arrays_pickles_and_configless_files(tmp_path):
    with pytest.raises(WeightsFileError, match=r"^'a': object arrays cannot be saved$"):
        wio.save_arrays(tmp_path / "o.npz", {"a": np.array([{"x": 1}], dtype=object)})
    assert not os.listdir(tmp_path)
    pickled = tmp_path / "p.npz"
    np.savez(pickled, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        wio.load_arrays(pickled)                       # never unpickled, even when asked
    st = pytest.importorskip("safetensors.numpy")
    p = wio.save_arrays(tmp_path / "n.safetensors", {"a": np.ones(1)})
    assert wio.read_config(p) is None
