"""Execute every notebook under examples/ headless (they must not rot).

Needs the optional ``notebooks`` extra (nbclient, nbformat, ipykernel, matplotlib);
skipped without it.
"""
import glob
import os
import sys

import pytest

pytestmark = pytest.mark.notebooks

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
NOTEBOOKS = sorted(glob.glob(os.path.join(EXAMPLES, "*.ipynb")))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 10


def _output_check():
    """``problems(nb)`` of examples/run_notebooks.py (it needs nbclient)."""
    pytest.importorskip("nbclient")
    sys.path.insert(0, EXAMPLES)
    try:
        from run_notebooks import problems
    finally:
        sys.path.remove(EXAMPLES)
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebooks_are_committed_with_clean_outputs(path):
    """Committed with their outputs (``examples/run_notebooks.py``) so that the pictures
    show where the repository is browsed: run top to bottom in one go, with pictures, no
    error, no machine path, a few hundred KB."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    problems = _output_check()
    assert problems(nb) == []
    kinds = {o.get("output_type") for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", [])}
    assert kinds & {"stream", "execute_result", "display_data"}


def test_the_output_check_finds_errors_paths_and_unrun_cells():
    nbformat = pytest.importorskip("nbformat")
    problems = _output_check()
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("1", execution_count=1, outputs=[v4.new_output(
            "stream", name="stderr", text="warning: /root/.cache/minigrad/mnist missing")]),
        v4.new_code_cell("2", execution_count=3, outputs=[v4.new_output(
            "error", ename="ValueError", evalue="x", traceback=[])])])
    found = problems(nb)
    assert any("cell 0: a machine path" in f for f in found)
    for text, machine in (("see https://example.org/a/b/c", False), ("43/43 - 160ms/step", False),
                          ("C:\\Users\\me\\data", True), ("~/data", True)):
        nb.cells[0].outputs[0]["text"] = text
        assert any("machine path" in f for f in problems(nb)) is machine, text
    assert any("cell 1: error ValueError" in f for f in found)
    assert any("execution counts [1, 3]" in f for f in found)
    nb.cells = nb.cells[:1]
    nb.cells[0].outputs[0]["text"] = "x" * (700 * 1024)
    assert any("at most 600 KB" in f for f in problems(nb))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    monkeypatch.delenv("MINIGRAD_FULL", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": EXAMPLES}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
