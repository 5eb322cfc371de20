"""IDX parsing and verification, the search order, the bundled sample, to_categorical
(RELIABILITY items 21-22)."""
import gzip
import os

import numpy as np
import pytest

from minigrad.datasets import idx, mnist
from minigrad.keras.utils import to_categorical


def write_gz(path, raw):
    with gzip.open(path, "wb") as f:
        f.write(raw)


def images_bytes(n=3, rows=2, cols=2, magic=2051):
    return (magic.to_bytes(4, "big") + n.to_bytes(4, "big") + rows.to_bytes(4, "big")
            + cols.to_bytes(4, "big") + bytes(i % 256 for i in range(n * rows * cols)))


def test_parse_valid_images_and_labels():
    a = idx.parse_idx(images_bytes(), 2051)
    assert a.shape == (3, 2, 2) and a.dtype == np.uint8
    lab = idx.parse_idx((2049).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([1, 2, 9]),
                        2049)
    assert lab.tolist() == [1, 2, 9]


def test_bad_magic_and_truncation_are_clear_value_errors():
    with pytest.raises(ValueError, match="bad IDX magic 2049, expected 2051"):
        idx.parse_idx(images_bytes(magic=2049), 2051)
    with pytest.raises(ValueError, match="truncated"):
        idx.parse_idx(images_bytes()[:-3], 2051)
    with pytest.raises(ValueError, match="too short"):
        idx.parse_idx(b"\0\0", 2051)


def test_checksum_mismatch_raises(tmp_path):
    p = tmp_path / "f.gz"
    write_gz(p, images_bytes())
    with pytest.raises(idx.ChecksumError, match="SHA-256"):
        idx.verify(p, idx.read_idx_bytes(p), sha256="0" * 64)


def test_corrupt_gzip_is_a_value_error(tmp_path):
    p = tmp_path / "f.gz"
    write_gz(p, images_bytes(n=200))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        idx.read_idx_bytes(p)


def make_folder(tmp_path, n_img=4, n_lab=4, label_max=9):
    d = tmp_path / "mnist"
    d.mkdir()
    for prefix in ("train", "t10k"):
        write_gz(d / f"{prefix}-images-idx3-ubyte.gz", images_bytes(n_img, 28, 28))
        labels = bytes([label_max] * n_lab)
        write_gz(d / f"{prefix}-labels-idx1-ubyte.gz",
                 (2049).to_bytes(4, "big") + n_lab.to_bytes(4, "big") + labels)
    return d


def test_wrong_content_in_search_path_is_rejected_by_checksum(tmp_path, monkeypatch):
    make_folder(tmp_path)
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    with pytest.raises(idx.ChecksumError):
        mnist.load_data(sample=False)


def test_count_and_label_range_checks(tmp_path):
    d = make_folder(tmp_path, n_img=4, n_lab=3)
    with pytest.raises(ValueError, match="4 images but .* 3 labels"):
        idx.load_pair(d / "train-images-idx3-ubyte.gz", d / "train-labels-idx1-ubyte.gz", {})
    (tmp_path / "other").mkdir()
    d2 = make_folder(tmp_path / "other", label_max=11)
    with pytest.raises(ValueError, match="label 11 is out of range"):
        idx.load_pair(d2 / "train-images-idx3-ubyte.gz", d2 / "train-labels-idx1-ubyte.gz", {})


def test_nothing_found_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("MINIGRAD_NO_DOWNLOAD", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(mnist.DataNotFoundError, match="put train-images-idx3-ubyte.gz"):
        mnist.load_data(sample=False)
    with pytest.warns(UserWarning, match="bundled sample"):
        (x, y), _ = mnist.load_data()
    assert x.shape == (6000, 28, 28) and mnist.data_source["mnist"] == "sample"
    with pytest.raises(mnist.DataNotFoundError):
        mnist.load_fashion_mnist()


def test_bundled_sample_is_real_mnist():
    (x, y), (xt, yt) = mnist.load_data(sample=True)
    assert x.dtype == np.uint8 and x.shape == (6000, 28, 28) and xt.shape == (1000, 28, 28)
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]     # the official first labels
    assert set(np.unique(y)) == set(range(10))
    size = sum(f.stat().st_size for f in mnist.SAMPLE_DIR.iterdir())
    assert size < 2_000_000


@pytest.mark.skipif(not os.environ.get("MINIGRAD_DATA") or not os.path.isdir(
    os.path.join(os.environ.get("MINIGRAD_DATA", ""), "mnist")), reason="full MNIST not present")
def test_full_mnist_loads_and_verifies():
    (x, y), (xt, yt) = mnist.load_data(sample=False)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert y.shape == (60000,) and yt.shape == (10000,)


def test_to_categorical():
    out = to_categorical([0, 2, 1], 3)
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]])
    assert out.dtype == np.float32
    assert to_categorical(np.array([[1], [0]])).shape == (2, 2)
    with pytest.raises(ValueError, match="out of range"):
        to_categorical([3], 3)
    with pytest.raises(ValueError, match="negative"):
        to_categorical([-1], 3)


def _serve(tmp_path, files):
    """A local 'mirror' reachable through file:// URLs."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, raw in files.items():
        write_gz(mirror / name, raw)
    return mirror.as_uri() + "/"


def test_download_verifies_then_renames(tmp_path, monkeypatch):
    (xs, ys), (xt, yt) = mnist.load_data(sample=True)
    sample = {}
    for f in mnist.FILES:
        sample[f] = idx.read_idx_bytes(mnist.SAMPLE_DIR / (mnist.SAMPLE_PREFIX + f))
    checks = {f: (__import__("hashlib").sha256(raw).hexdigest(), None) for f, raw in sample.items()}
    url = _serve(tmp_path, sample)
    monkeypatch.setitem(mnist.MIRRORS, "mnist", ["file:///nonexistent/", url])
    monkeypatch.delenv("MINIGRAD_NO_DOWNLOAD", raising=False)
    cache = tmp_path / "cache"
    assert mnist._download("mnist", cache, checks)
    assert sorted(os.listdir(cache)) == sorted(mnist.FILES)      # no temporary files left
    (x, y), _ = mnist._load_folder(cache, checks)
    assert np.array_equal(x, xs) and np.array_equal(y, ys)


def test_download_with_wrong_content_deletes_and_raises(tmp_path, monkeypatch):
    url = _serve(tmp_path, {f: images_bytes() for f in mnist.FILES})
    monkeypatch.setitem(mnist.MIRRORS, "mnist", [url])
    monkeypatch.delenv("MINIGRAD_NO_DOWNLOAD", raising=False)
    cache = tmp_path / "cache"
    with pytest.raises(idx.ChecksumError, match="deleted"):
        mnist._download("mnist", cache, mnist.MNIST_CHECKS)
    assert os.listdir(cache) == []


def labels_bytes(labels):
    return (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + bytes(labels)


def write_fashion(folder, gzip_name):
    """Four small IDX files; ``gzip_name`` False strips the gzip file-name field, as
    Debian's dataset-fashion-mnist does (the same data, other bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {"train-images-idx3-ubyte.gz": images_bytes(3, 28, 28),
                "train-labels-idx1-ubyte.gz": labels_bytes([1, 2, 9]),
                "t10k-images-idx3-ubyte.gz": images_bytes(2, 28, 28),
                "t10k-labels-idx1-ubyte.gz": labels_bytes([0, 4])}
    for name, raw in contents.items():
        with open(folder / name, "wb") as raw_file:
            with gzip.GzipFile(filename=name[:-3] if gzip_name else "", mode="wb",
                               fileobj=raw_file, mtime=0) as f:
                f.write(raw)
    import hashlib
    return {name: (hashlib.sha256(raw).hexdigest(), None) for name, raw in contents.items()}


def test_fashion_mnist_is_verified_by_content_so_recompressed_copies_load(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("MINIGRAD_NO_DOWNLOAD", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    checks = write_fashion(tmp_path / "named", gzip_name=True)
    write_fashion(tmp_path / "stripped", gzip_name=False)
    a, b = (tmp_path / "named" / mnist.FILES[0]), (tmp_path / "stripped" / mnist.FILES[0])
    assert a.read_bytes() != b.read_bytes()
    monkeypatch.setattr(mnist, "FASHION_CHECKS", checks)
    for folder in ("named", "stripped"):
        (x, y), (xt, yt) = mnist.load_fashion_mnist(path=tmp_path / folder)
        assert x.shape == (3, 28, 28) and y.tolist() == [1, 2, 9] and yt.tolist() == [0, 4]
    # Debian's installed folder is searched
    monkeypatch.setitem(mnist.SYSTEM_DIRS, "fashion-mnist", [tmp_path / "stripped"])
    (x, y), _ = mnist.load_fashion_mnist()
    assert mnist.data_source["fashion-mnist"] == f"full: {tmp_path / 'stripped'}"
    # other content is refused, whatever its wrapper
    (tmp_path / "stripped" / mnist.FILES[1]).write_bytes(gzip.compress(labels_bytes([1, 2, 8])))
    with pytest.raises(idx.ChecksumError, match="SHA-256"):
        mnist.load_fashion_mnist(path=tmp_path / "stripped")


def test_fashion_mnist_checks_are_the_published_content_digests():
    assert mnist.FASHION_CHECKS["train-labels-idx1-ubyte.gz"] == (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", None)
    for sha, md5 in mnist.FASHION_CHECKS.values():
        assert len(sha) == 64 and md5 is None
    assert mnist.SYSTEM_DIRS["fashion-mnist"][0].as_posix() == "/usr/share/datasets/fashion-mnist"
    for url in mnist.MIRRORS["fashion-mnist"]:        # no https on S3 website endpoints
        assert not (url.startswith("https://") and "s3-website" in url)


def test_idx_header_whose_dimensions_overflow_is_a_clear_error():
    # 2^31 * 2^31 * 4 = 2^64: wraps to 0 in 64-bit arithmetic, matching an empty payload
    huge = ((2051).to_bytes(4, "big") + (2**31).to_bytes(4, "big") * 2
            + (4).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="header declares dims"):
        idx.parse_idx(huge, 2051)
