"""The README's Python examples run as written (in order, sharing one namespace)."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_examples_run(capsys):
    with open(os.path.join(ROOT, "README.md")) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
    assert len(blocks) >= 3
    ns = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), ns)
    x = ns["x"]
    assert x.grad is not None and ns["g"].requires_grad
    assert ns["loss"].item() < 2.3
