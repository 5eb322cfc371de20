"""Reading and verifying IDX files (the MNIST format), plain or gzip-compressed.

IDX: a 4-byte magic (0, 0, type code, number of dimensions), one big-endian uint32 per
dimension, then the payload. MNIST images have magic 2051 (0x0803: uint8, 3 dims) and
labels 2049 (0x0801: uint8, 1 dim).
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
from typing import Optional

import numpy as np

__all__ = ["read_idx_bytes", "parse_idx", "verify", "ChecksumError"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


class ChecksumError(ValueError):
    """A data file's content does not match its published checksum."""


def read_idx_bytes(path) -> bytes:
    """The decompressed bytes of an IDX file (``.gz`` or plain)."""
    with open(path, "rb") as f:
        head = f.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot decompress ({exc}); the file is corrupt or "
                         "truncated") from None


def verify(path, raw: bytes, sha256: Optional[str] = None, gz_md5: Optional[str] = None):
    """Check ``raw`` (decompressed content) by SHA-256, or the file itself by MD5.

    Raises:
        ChecksumError: naming the file and both digests.
    """
    if sha256 is not None:
        got = hashlib.sha256(raw).hexdigest()
        if got == sha256:
            return
        if gz_md5 is None:
            raise ChecksumError(f"{path}: SHA-256 of the content is {got}, expected {sha256}; "
                                "the file is corrupt or not the published one")
    if gz_md5 is not None:
        with open(path, "rb") as f:
            got_md5 = hashlib.md5(f.read()).hexdigest()
        if got_md5 != gz_md5:
            raise ChecksumError(f"{path}: checksum mismatch (MD5 {got_md5}, expected "
                                f"{gz_md5}); the file is corrupt or not the published one")


def parse_idx(raw: bytes, expected_magic: int, path="<bytes>") -> np.ndarray:
    """Parse IDX bytes, checking the magic number, the dimensions and the payload length.

    Raises:
        ValueError: naming the file and what is wrong (never a bare reshape error).
    """
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        kind = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}.get(expected_magic, "?")
        raise ValueError(f"{path}: bad IDX magic {magic}, expected {expected_magic} ({kind} "
                         "file)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims) + header          # Python ints: no overflow
    if len(raw) != expected:
        raise ValueError(f"{path}: payload is {len(raw) - header} bytes but the header "
                         f"declares dims {dims} ({expected - header} bytes); the file is "
                         "truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_pair(images_path, labels_path, checks: dict, num_classes: int = 10):
    """(images, labels) from two IDX files, verified then parsed; counts and label
    range are checked."""
    out = []
    for path, magic in ((images_path, IMAGES_MAGIC), (labels_path, LABELS_MAGIC)):
        raw = read_idx_bytes(path)
        sha, md5 = checks.get(os.path.basename(path), (None, None))
        verify(path, raw, sha, md5)
        out.append(parse_idx(raw, magic, path))
    images, labels = out
    if images.ndim != 3:
        raise ValueError(f"{images_path}: expected 3 dimensions (N, rows, cols), got "
                         f"{images.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images_path} has {images.shape[0]} images but {labels_path} has "
                         f"{labels.shape[0]} labels")
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"{labels_path}: label {int(labels.max())} is out of range 0.."
                         f"{num_classes - 1}")
    return images, labels
