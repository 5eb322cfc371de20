"""Safe weight files: .npz without pickle, atomic writes, checks before any change.

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
MAX_MEMBER_BYTES = 8 << 30


class WeightsFileError(ValueError):
    """The file is not a valid minigrad weights file, or does not fit the model."""


def save_arrays(path, arrays: Dict[str, np.ndarray], config: Optional[dict] = None) -> str:
    """Write ``arrays`` (and an optional JSON ``config``) to ``path`` atomically, in the
    .npz format. A path without an extension gets ``.npz`` (as ``np.savez``); any other
    path is written exactly as given (``'w.h5'`` holds .npz data, and loads back).
    Returns the path written."""
    path = os.fspath(path)
    if not os.path.splitext(path)[1]:
        path += ".npz"
    folder = os.path.dirname(os.path.abspath(path))
    payload = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype.hasobject:
            raise WeightsFileError(f"'{k}': object arrays cannot be saved")
        payload[k] = a
    if config is not None:
        payload[CONFIG_KEY] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
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


def load_arrays(path, names=None) -> Dict[str, np.ndarray]:
    """Read members (all, or ``names``) with ``allow_pickle=False``."""
    with np.load(resolve(path), allow_pickle=False) as z:
        keys = z.files if names is None else names
        return {k: z[k] for k in keys}


def read_config(path) -> Optional[dict]:
    """The JSON config stored by ``save_arrays(config=...)``, or None."""
    headers = read_headers(path)
    if CONFIG_KEY not in headers:
        return None
    raw = load_arrays(path, [CONFIG_KEY])[CONFIG_KEY]
    try:
        return json.loads(raw.tobytes().decode())
    except ValueError as exc:
        raise WeightsFileError(f"{path}: bad architecture config: {exc}") from None
