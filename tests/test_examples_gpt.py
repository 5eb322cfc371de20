"""The GPT examples run and reach their targets; the bundled text loads."""
import gzip
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from minigrad.datasets import load_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *args):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_gpt_addition_is_exact_on_held_out_pairs():
    out = run_example("gpt_addition.py", "--steps", "400")
    acc = float(re.search(r"held-out pairs ([0-9.]+)", out).group(1))
    assert acc >= 0.99, out
    assert "85 + 50 = 135" in out


def test_gpt_chars_trains_reports_bits_and_samples(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    out = run_example("gpt_chars.py", "--text", str(text), "--steps", "60", "--layers", "1",
                      "--width", "32", "--heads", "2", "--block-size", "16", "--sample", "40",
                      "--dropout", "0")
    bigram = float(re.search(r"bigram baseline: ([0-9.]+)", out).group(1))
    final = float(re.search(r"validation: ([0-9.]+) bits/char", out).group(1))
    assert final < bigram, out                # the context helps on a repetitive text
    assert out.rstrip().splitlines()[-1]      # a sample was printed


def test_bigram_baseline_counts_pairs_with_add_one_smoothing():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import gpt_chars
    finally:
        sys.path.pop(0)
    train, val = np.array([0, 1, 0, 1, 0]), np.array([0, 1])
    # P(1 | 0) = (2 + 1) / (2 + 2): two 0->1 pairs, add-one over 2 symbols
    assert gpt_chars.bigram_bits(train, val, 2) == pytest.approx(-np.log2(3 / 4))


def test_bundled_hamlet_and_text_files(tmp_path):
    text = load_text("hamlet")
    assert len(text) > 170_000 and text.startswith("Hamlet\n")
    assert "HAMLET:\nTo be, or not to be: that is the question:" in text
    f = tmp_path / "a.txt"
    f.write_text("héllo", encoding="utf-8")
    assert load_text(str(f)) == "héllo"
    with pytest.raises(FileNotFoundError, match=r"no file .*nope.txt.*'hamlet'"):
        load_text(str(tmp_path / "nope.txt"))
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        load_text(str(tmp_path / "bin.txt"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        load_text(str(tmp_path / "empty.txt"))


def test_hamlet_conversion_script_reproduces_the_bundled_file(tmp_path):
    """examples/data/make_hamlet.py's conversion, on a sample of the Markdown edition."""
    sys.path.insert(0, os.path.join(ROOT, "examples", "data"))
    try:
        import make_hamlet
    finally:
        sys.path.pop(0)
    md = ("# Hamlet\n\n## ACT I\n\n_Enter BERNARDO and\nFRANCISCO_\n\n**BERNARDO**  \n"
          "Who's there?\n\n**HAMLET**  \n_\\[Aside]_  \nA little more than kin.\n")
    assert make_hamlet.to_plain(md) == (
        "Hamlet\n\nACT I\n\n[Enter BERNARDO and\nFRANCISCO]\n\nBERNARDO:\nWho's there?\n\n"
        "HAMLET:\n[Aside]\nA little more than kin.\n")
    with gzip.open(make_hamlet.OUT, "rb") as f:
        assert f.read().decode("utf-8") == load_text("hamlet")
