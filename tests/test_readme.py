"""The README's Python examples run as written, each block on its own."""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks():
    with open(os.path.join(ROOT, "README.md")) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_has_the_three_quickstart_blocks():
    assert len(blocks()) >= 3


@pytest.mark.parametrize("i", range(len(blocks())))
def test_readme_block_runs_on_its_own(i, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                # files a block writes land in a temporary folder
    ns = {}
    exec(compile(blocks()[i], f"README.md block {i + 1}", "exec"), ns)
    if "loss" in ns and hasattr(ns["loss"], "item"):
        assert ns["loss"].item() < 2.3                    # it learned something
    if "g" in ns:
        assert ns["x"].grad is not None and ns["g"].requires_grad
