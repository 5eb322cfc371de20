"""The package's layout rules, checked on its source (README, "How minigrad is built").

minigrad is meant to be read: no file over 500 lines, no function with a cyclomatic
complexity over 20, imports that point down the layers (`nn` never imports the training
code) and no module that reaches into another package's private names.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minigrad"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(path):
    """The package a source file belongs to: `minigrad.nn` for minigrad/nn/layers.py."""
    return ".".join(path.relative_to(PACKAGE.parent).parent.parts)


def imported_modules(path):
    """(absolute module, names) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = package_of(path).split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module, [alias.name for alias in node.names]


def test_the_rules_see_the_whole_package():
    names = {module_name(p) for p in SOURCES}
    assert {"minigrad.autograd", "minigrad.nn.layers", "minigrad.training.model",
            "minigrad.functional.conv", "minigrad.kernels.cpu.conv"} <= names
    assert package_of(PACKAGE / "nn" / "layers.py") == "minigrad.nn"
    imports = dict(imported_modules(PACKAGE / "functional" / "loss.py"))
    assert imports["minigrad.functional.arithmetic"] == ["_as_tensor", "clip", "log"]


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_no_file_over_500_lines(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= 500, f"{path.relative_to(PACKAGE.parent)} has {lines} lines"


def test_no_function_with_cyclomatic_complexity_over_20():
    radon = pytest.importorskip("radon.complexity")
    too_complex = []
    for path in SOURCES:
        for block in radon.cc_visit(path.read_text(encoding="utf-8")):
            if block.complexity > 20:
                too_complex.append(f"{module_name(path)}.{block.fullname}: {block.complexity}")
    assert not too_complex, too_complex


def test_nn_never_imports_the_training_code():
    wrong = []
    for path in SOURCES:
        if not package_of(path).startswith("minigrad.nn"):
            continue
        for module, names in imported_modules(path):
            if (module == "minigrad.training" or module.startswith("minigrad.training.")
                    or (module == "minigrad" and "training" in names)):
                wrong.append(f"{module_name(path)} imports {module} {names}")
    assert not wrong, wrong


def test_no_module_imports_a_private_name_of_another_package():
    wrong = []
    for path in SOURCES:
        here = package_of(path)
        for module, names in imported_modules(path):
            if not module.startswith("minigrad"):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            # `from .arithmetic import _as_tensor` inside minigrad.functional is fine;
            # `from ..functional.conv import _pair` inside minigrad.nn is not.
            owner = module.rpartition(".")[0] if module != here else module
            if private and owner != here and module != here:
                wrong.append(f"{module_name(path)}: from {module} import {', '.join(private)}")
    assert not wrong, wrong


def test_the_code_needs_no_python_newer_than_it_claims():
    """pyproject.toml says ``requires-python = ">=3.9"``: vermin reads the package and the
    tests for syntax and standard-library features newer than that (``zip(strict=)``,
    ``match``, ``int | None`` evaluated at run time...)."""
    import subprocess
    import sys
    pytest.importorskip("vermin")
    root = PACKAGE.parent
    claimed = [ln for ln in (root / "pyproject.toml").read_text().splitlines()
               if ln.startswith("requires-python")]
    assert claimed == ['requires-python = ">=3.9"']
    run = "import sys, vermin; sys.argv[0] = 'vermin'; vermin.main()"
    out = subprocess.run([sys.executable, "-c", run, "--no-tips", "--eval-annotations",
                          "--violations", "-t=3.9-", "minigrad", "tests"],
                         cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
