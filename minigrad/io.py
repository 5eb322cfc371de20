"""Safe weight files: .npz without pickle (or .safetensors), atomic writes, checks before
any change.

The format follows the file name: ``.safetensors`` uses the ``safetensors`` package (the
format PyTorch and Hugging Face load safely; an optional extra), anything else .npz.

* writes go to a temporary file in the same folder, then ``os.replace``: a crash
  mid-save leaves the old file intact;
* reading never unpickles (``allow_pickle=False``); object arrays are refused;
* every member's header (name, dtype, shape) is read and checked against what the model
  expects BEFORE any array data is read, and a member whose declared size does not match
  its header is refused (no zip bomb is unpacked).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from typing import Dict, Optional

import numpy as np

__all__ = ["save_arrays", "read_headers", "load_arrays", "WeightsFileError"]

CONFIG_KEY = "__minigrad_config__"
#: the "format" and "version" of a whole-model file (``Sequential.save``); a reader refuses
#: a version newer than its own
MODEL_FORMAT = "minigrad-model"
MODEL_VERSION = 1
MAX_MEMBER_BYTES = 8 << 30


class WeightsFileError(ValueError):
    """The file is not a valid minigrad weights file, or does not fit the model."""


def is_safetensors(path) -> bool:
    return os.fspath(path).endswith(".safetensors")


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError("'.safetensors' files need the safetensors package: pip install "
                          "safetensors (or minigrad[interop])") from None
    return safetensors


def save_arrays(path, arrays: Dict[str, np.ndarray], config: Optional[dict] = None) -> str:
    """Write ``arrays`` (and an optional JSON ``config``) to ``path`` atomically, in the
    .npz format, or as safetensors when ``path`` ends in ``.safetensors`` (the config then
    in its metadata). A path without an extension gets ``.npz`` (as ``np.savez``); any
    other path is written exactly as given (``'w.h5'`` holds .npz data, and loads back).
    Returns the path written."""
    path = os.fspath(path)
    if not os.path.splitext(path)[1]:
        path += ".npz"
    payload = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype.hasobject:
            raise WeightsFileError(f"'{k}': object arrays cannot be saved")
        payload[k] = a
    if is_safetensors(path):
        meta = None if config is None else {CONFIG_KEY: json.dumps(config)}
        data = _safetensors().numpy.save(
            {k: np.ascontiguousarray(a) for k, a in payload.items()}, metadata=meta)
        return _write_atomically(path, lambda f: f.write(data))
    if config is not None:
        payload[CONFIG_KEY] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    return _write_atomically(path, lambda f: np.savez(f, **payload))


def _write_atomically(path: str, write) -> str:
    """``write(file)`` into a temporary file beside ``path``, then rename it to ``path``:
    a crash midway leaves the old file as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo):
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise WeightsFileError(f"member '{info.filename}': unsupported .npy version {version}")
        header_len = f.tell() if hasattr(f, "tell") else None
    return tuple(shape), np.dtype(dtype), header_len


def resolve(path) -> str:
    """The file ``save_arrays(path)`` wrote: ``path`` itself, or ``path + '.npz'`` when
    ``path`` has no extension."""
    path = os.fspath(path)
    if not os.path.isfile(path) and not os.path.splitext(path)[1] and \
            os.path.isfile(path + ".npz"):
        return path + ".npz"
    return path


def read_headers(path) -> Dict[str, tuple]:
    """``{name: (shape, dtype)}`` of every member, reading headers only.

    Raises:
        WeightsFileError: not a zip/.npz, object dtype, or a declared size that does not
            match the header (a compressed member that would expand beyond its array).
    """
    path = resolve(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    if is_safetensors(path):
        return _safetensors_headers(path)[0]
    if not zipfile.is_zipfile(path):
        raise WeightsFileError(f"{path} is not a minigrad .npz weights file (pickles and "
                               "other formats are refused)")
    out = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise WeightsFileError(f"{path}: unexpected member '{info.filename}'")
            name = info.filename[:-4]
            try:
                shape, dtype, hlen = _member_header(zf, info)
            except WeightsFileError:
                raise
            except Exception as exc:
                raise WeightsFileError(f"{path}: member '{name}' has a bad header: {exc}") from None
            if dtype.hasobject:
                raise WeightsFileError(f"{path}: member '{name}' holds Python objects "
                                       "(pickle); refused")
            nbytes = math.prod(shape) * dtype.itemsize      # Python ints: no overflow
            if nbytes > MAX_MEMBER_BYTES or (hlen is not None and info.file_size != hlen + nbytes):
                raise WeightsFileError(
                    f"{path}: member '{name}' declares {info.file_size} bytes but its header "
                    f"says {shape} {dtype}; refused")
            out[name] = (shape, dtype)
    return out


#: safetensors' dtype names and NumPy's (bfloat16 has no NumPy dtype: refused)
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U64": "uint64",
              "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}


def _safetensors_headers(path):
    """({name: (shape, dtype)}, metadata) of a safetensors file, from its header only (the
    library checks the header's offsets against the file's size)."""
    st = _safetensors()
    out = {}
    try:
        with st.safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
            for k in f.keys():
                sl = f.get_slice(k)
                name = sl.get_dtype()
                if name not in _ST_DTYPES:
                    raise WeightsFileError(f"{path}: tensor '{k}' has dtype {name}, which "
                                           "NumPy cannot hold")
                out[k] = (tuple(sl.get_shape()), np.dtype(_ST_DTYPES[name]))
    except WeightsFileError:
        raise
    except Exception as exc:                  # SafetensorError: bad or lying header
        raise WeightsFileError(f"{path} is not a valid safetensors file: {exc}") from None
    return out, meta


def load_arrays(path, names=None) -> Dict[str, np.ndarray]:
    """Read members (all, or ``names``) with ``allow_pickle=False``."""
    if is_safetensors(path):
        st = _safetensors()
        try:
            with st.safe_open(resolve(path), framework="numpy") as f:
                return {k: f.get_tensor(k) for k in (f.keys() if names is None else names)}
        except Exception as exc:
            raise WeightsFileError(f"{path}: cannot read its tensors: {exc}") from None
    with np.load(resolve(path), allow_pickle=False) as z:
        keys = z.files if names is None else names
        return {k: z[k] for k in keys}


def read_config(path) -> Optional[dict]:
    """The JSON config stored by ``save_arrays(config=...)``, or None."""
    if is_safetensors(path):
        raw = _safetensors_headers(resolve(path))[1].get(CONFIG_KEY)
        try:
            return None if raw is None else json.loads(raw)
        except ValueError as exc:
            raise WeightsFileError(f"{path}: bad architecture config: {exc}") from None
    headers = read_headers(path)
    if CONFIG_KEY not in headers:
        return None
    raw = load_arrays(path, [CONFIG_KEY])[CONFIG_KEY]
    try:
        return json.loads(raw.tobytes().decode())
    except ValueError as exc:
        raise WeightsFileError(f"{path}: bad architecture config: {exc}") from None
