"""The IDX reader and the MNIST loader, exactly: plain and gzip files, every checksum
path, every message, the search folders, and the download (a stand-in for urlopen that
records how it is called; the files come from a local folder)."""
import gzip
import hashlib
import io
import os
import urllib.request
import warnings

import numpy as np
import pytest

from minigrad.datasets import idx, mnist


def labels_bytes(labels):
    return (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + bytes(labels)


def images_bytes(n=2, rows=2, cols=3):
    return (b"\0\0\x08\x03" + n.to_bytes(4, "big") + rows.to_bytes(4, "big")
            + cols.to_bytes(4, "big") + bytes(range(n * rows * cols)))


# --- idx ------------------------------------------------------------------------------
def test_a_plain_idx_file_is_read_as_bytes(tmp_path):
    p = tmp_path / "labels-idx1-ubyte"
    p.write_bytes(labels_bytes([3, 1]))
    raw = idx.read_idx_bytes(p)
    assert type(raw) is bytes and raw == labels_bytes([3, 1])
    assert idx.parse_idx(raw, idx.LABELS_MAGIC).tolist() == [3, 1]


def test_an_empty_label_file_is_eight_bytes_and_parses():
    assert idx.parse_idx(labels_bytes([]), idx.LABELS_MAGIC).shape == (0,)


def test_parse_messages_are_exact():
    with pytest.raises(ValueError) as err:
        idx.parse_idx(labels_bytes([1]), idx.IMAGES_MAGIC, "f.gz")
    assert str(err.value) == "f.gz: bad IDX magic 2049, expected 2051 (images file)"
    with pytest.raises(ValueError) as err:
        idx.parse_idx(images_bytes(), idx.LABELS_MAGIC, "g.gz")
    assert str(err.value) == "g.gz: bad IDX magic 2051, expected 2049 (labels file)"
    with pytest.raises(ValueError) as err:
        idx.parse_idx(labels_bytes([1]), 7)
    assert str(err.value) == "<bytes>: bad IDX magic 2049, expected 7 (? file)"
    with pytest.raises(ValueError) as err:
        idx.parse_idx(images_bytes()[:12], idx.IMAGES_MAGIC, "h")
    assert str(err.value) == "h: truncated IDX header"
    with pytest.raises(ValueError) as err:
        idx.parse_idx(images_bytes()[:-2], idx.IMAGES_MAGIC, "i")
    assert str(err.value) == ("i: payload is 10 bytes but the header declares dims "
                              "(2, 2, 3) (12 bytes); the file is truncated or corrupt")
    with pytest.raises(ValueError) as err:
        idx.parse_idx(b"\0" * 7, idx.IMAGES_MAGIC, "j")
    assert str(err.value) == "j: too short for an IDX header (7 bytes)"


def write_gz(path, raw):
    with gzip.open(path, "wb") as f:
        f.write(raw)
    return path


def test_verify_by_sha256_then_md5(tmp_path):
    p = write_gz(tmp_path / "f.gz", labels_bytes([1]))
    raw = idx.read_idx_bytes(p)
    sha, md5 = hashlib.sha256(raw).hexdigest(), hashlib.md5(p.read_bytes()).hexdigest()
    idx.verify(p, raw, sha, None)
    idx.verify(p, raw, None, md5)                     # the file's MD5 alone
    idx.verify(p, raw, "0" * 64, md5)                 # a content check that fails falls
    with pytest.raises(idx.ChecksumError) as err:     # back to the file's MD5
        idx.verify(p, raw, None, "1" * 32)
    assert str(err.value) == (f"{p}: checksum mismatch (MD5 {md5}, expected {'1' * 32}); "
                              "the file is corrupt or not the published one")
    with pytest.raises(idx.ChecksumError, match="MD5"):
        idx.verify(p, raw, "0" * 64, "1" * 32)
    with pytest.raises(idx.ChecksumError) as err:
        idx.verify(p, raw, "0" * 64, None)
    assert str(err.value) == (f"{p}: SHA-256 of the content is {sha}, expected {'0' * 64}; "
                              "the file is corrupt or not the published one")


def test_load_pair_verifies_by_md5_names_the_file_and_checks_the_label_range(tmp_path):
    im = write_gz(tmp_path / "im.gz", images_bytes())
    lab = write_gz(tmp_path / "lab.gz", labels_bytes([9, 10]))
    with pytest.raises(idx.ChecksumError, match="MD5"):
        idx.load_pair(im, lab, {"im.gz": (None, "2" * 32)})
    with pytest.raises(ValueError) as err:
        idx.load_pair(im, lab, {})
    assert str(err.value) == f"{lab}: label 10 is out of range 0..9"
    x, y = idx.load_pair(im, lab, {}, num_classes=11)
    assert x.shape == (2, 2, 3) and y.tolist() == [9, 10]
    write_gz(lab, labels_bytes([1, 2])[:-1])
    with pytest.raises(ValueError, match=f"^{lab}: payload is 1 bytes"):
        idx.load_pair(im, lab, {})


# --- mnist: where it looks -------------------------------------------------------------
@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.setenv("MINIGRAD_NO_DOWNLOAD", "1")
    return tmp_path / "home"


def test_the_last_folder_searched_is_the_download_cache(home):
    assert mnist._candidates("mnist", None) == [home / ".cache" / "minigrad" / "mnist"]


def sample_files():
    return {f: idx.read_idx_bytes(mnist.SAMPLE_DIR / (mnist.SAMPLE_PREFIX + f))
            for f in mnist.FILES}


def content_checks(files):
    return {f: (hashlib.sha256(raw).hexdigest(), None) for f, raw in files.items()}


def test_a_folder_given_with_files_missing_is_named_with_them(home, tmp_path):
    d = tmp_path / "partial"
    d.mkdir()
    write_gz(d / mnist.FILES[1], labels_bytes([1]))
    with pytest.raises(mnist.DataNotFoundError) as err:
        mnist.load_data(path=d, sample=False)
    missing = [mnist.FILES[0], mnist.FILES[2], mnist.FILES[3]]
    assert str(err.value) == f"{d}: missing {', '.join(missing)}"


def test_nothing_anywhere_names_every_folder_and_the_mirror(home, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "data"))
    dirs = [tmp_path / "data" / "mnist", home / ".cache" / "minigrad" / "mnist"]
    msg = (f"mnist not found: put {', '.join(mnist.FILES)} in {dirs[0]} or {dirs[1]} (or set "
           f"MINIGRAD_DATA to a folder holding 'mnist/'), or allow a download from "
           f"{mnist.MIRRORS['mnist'][0]}")
    with pytest.raises(mnist.DataNotFoundError) as err:
        mnist.load_data(sample=False)
    assert str(err.value) == msg
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        (x, _), _ = mnist.load_data()
    assert [str(w.message) for w in rec] == [
        msg + ". Using the bundled sample (6,000 train / 1,000 test images)."]
    if "MUTANT_UNDER_TEST" not in os.environ:    # mutation testing adds a frame
        assert rec[0].filename == __file__
    assert x.shape == (6000, 28, 28) and mnist.data_source["mnist"] == "sample"
    with pytest.raises(ValueError) as err:
        mnist._load("fashion-mnist", mnist.FASHION_CHECKS, None, True)
    assert str(err.value) == "no bundled sample of fashion-mnist"
    mnist.data_source["mnist"] = None
    mnist.load_data(sample=True)
    assert mnist.data_source["mnist"] == "sample"


def test_load_data_and_fashion_pass_the_folder_given(tmp_path, home, monkeypatch):
    files = sample_files()
    d = tmp_path / "given"
    d.mkdir()
    for f, raw in files.items():
        write_gz(d / f, raw)
    monkeypatch.setattr(mnist, "MNIST_CHECKS", content_checks(files))
    (x, y), _ = mnist.load_data(path=d, sample=False)
    assert x.shape == (6000, 28, 28) and mnist.data_source["mnist"] == f"full: {d}"
    monkeypatch.setattr(mnist, "FASHION_CHECKS", content_checks(files))
    (x, y), _ = mnist.load_fashion_mnist(path=d)
    assert mnist.data_source["fashion-mnist"] == f"full: {d}"


# --- mnist: the download ---------------------------------------------------------------
class Mirror:
    """urlopen for a folder of files: records (url, timeout), the read sizes and the
    folder's entries while each response is read."""

    def __init__(self, files, watch):
        self.files, self.watch = files, watch
        self.calls, self.reads, self.seen = [], [], []

    def __call__(self, url, timeout=None):
        self.calls.append((url, timeout))
        name = url.rsplit("/", 1)[-1]
        if name not in self.files or url.startswith("http://down/"):
            raise OSError("unreachable")
        body = io.BytesIO(gzip.compress(self.files[name], mtime=0))
        mirror = self

        class Response:
            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False

            def read(self, n=-1):
                mirror.reads.append(n)
                mirror.seen.append(sorted(os.listdir(mirror.watch)))
                return body.read(n)
        return Response()


def _mirror(monkeypatch, tmp_path, files, urls=("http://down/", "http://up/")):
    cache = tmp_path / "a" / "b" / "cache"           # two folders that do not exist yet
    m = Mirror(files, cache)
    monkeypatch.setattr(urllib.request, "urlopen", m)
    monkeypatch.setitem(mnist.MIRRORS, "mnist", list(urls))
    monkeypatch.delenv("MINIGRAD_NO_DOWNLOAD", raising=False)
    return m, cache


def test_the_download_goes_through_hidden_temporary_files_in_the_cache(tmp_path, monkeypatch):
    files = sample_files()
    m, cache = _mirror(monkeypatch, tmp_path, files)
    assert mnist._download("mnist", cache, content_checks(files)) is True
    assert sorted(os.listdir(cache)) == sorted(mnist.FILES)
    assert m.calls[:2] == [("http://down/" + mnist.FILES[0], 20),
                           ("http://up/" + mnist.FILES[0], 20)]
    assert {n for n in m.reads} == {1 << 20}
    during = m.seen[0]                                # the first file, being fetched
    assert len(during) == 1 and during[0].startswith(".part-")
    assert all(len([e for e in s if e.startswith(".part-")]) == 1 for s in m.seen)
    calls = len(m.calls)                              # everything there: nothing fetched
    assert mnist._download("mnist", cache, content_checks(files)) is True
    assert len(m.calls) == calls


def test_only_the_missing_files_are_fetched(tmp_path, monkeypatch):
    files = sample_files()
    m, cache = _mirror(monkeypatch, tmp_path, files, urls=("http://up/",))
    cache.mkdir(parents=True)
    write_gz(cache / mnist.FILES[0], files[mnist.FILES[0]])
    assert mnist._download("mnist", cache, content_checks(files)) is True
    assert [u for u, _ in m.calls] == ["http://up/" + f for f in mnist.FILES[1:]]
    assert sorted(os.listdir(cache)) == sorted(mnist.FILES)


def test_a_download_failing_its_md5_is_deleted_with_an_exact_message(tmp_path, monkeypatch):
    files = sample_files()
    m, cache = _mirror(monkeypatch, tmp_path, files, urls=("http://up/",))
    checks = {f: (None, "3" * 32) for f in files}
    with pytest.raises(idx.ChecksumError) as err:
        mnist._download("mnist", cache, checks)
    body = gzip.compress(files[mnist.FILES[0]], mtime=0)
    assert str(err.value) == (
        f"http://up/{mnist.FILES[0]}: checksum mismatch (MD5 {hashlib.md5(body).hexdigest()}, "
        f"expected {'3' * 32}); the file is corrupt or not the published one; the "
        "downloaded file was deleted")
    assert os.listdir(cache) == []


def test_no_mirror_answering_or_no_download_allowed_is_false(tmp_path, monkeypatch):
    files = sample_files()
    m, cache = _mirror(monkeypatch, tmp_path, {}, urls=("http://down/", "http://up/"))
    assert mnist._download("mnist", cache, content_checks(files)) is False
    assert os.listdir(cache) == []
    monkeypatch.setenv("MINIGRAD_NO_DOWNLOAD", "1")
    other = tmp_path / "never"
    assert mnist._download("mnist", other, content_checks(files)) is False
    assert not other.exists() and len(m.calls) == 2
    monkeypatch.setenv("MINIGRAD_NO_DOWNLOAD", "0")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert mnist._download("mnist", blocked / "cache", content_checks(files)) is False


def test_load_data_downloads_into_the_cache_and_loads_it(tmp_path, home, monkeypatch):
    files = sample_files()
    m, _ = _mirror(monkeypatch, tmp_path, files, urls=("http://up/",))
    cache = m.watch = home / ".cache" / "minigrad" / "mnist"
    monkeypatch.setattr(mnist, "MNIST_CHECKS", content_checks(files))
    (x, y), (xt, yt) = mnist.load_data(sample=False)
    assert sorted(os.listdir(cache)) == sorted(mnist.FILES)
    assert mnist.data_source["mnist"] == f"full: {cache}"
    (xs, ys), _ = mnist.load_data(sample=True)
    assert np.array_equal(x, xs) and np.array_equal(y, ys)


def test_a_download_with_other_content_fails_its_sha256(tmp_path, monkeypatch):
    files = sample_files()
    checks = content_checks(files)
    wrong = dict(files)
    wrong[mnist.FILES[0]] = files[mnist.FILES[2]]           # test images as train images
    m, cache = _mirror(monkeypatch, tmp_path, wrong, urls=("http://up/",))
    with pytest.raises(idx.ChecksumError) as err:
        mnist._download("mnist", cache, checks)
    got = hashlib.sha256(files[mnist.FILES[2]]).hexdigest()
    assert str(err.value) == (f"http://up/{mnist.FILES[0]}: SHA-256 of the content is {got}, "
                              f"expected {checks[mnist.FILES[0]][0]}; the file is corrupt or "
                              "not the published one; the downloaded file was deleted")
    assert os.listdir(cache) == []
