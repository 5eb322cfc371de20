"""Execute the notebooks in place, so that they are committed with their outputs (the
pictures show where the repository is browsed).

    python examples/run_notebooks.py                 # every notebook
    python examples/run_notebooks.py 05_mnist_cnn    # some of them

Each runs top to bottom in a fresh kernel, as a learner without the full data set would
run it: offline, on the MNIST sample bundled with minigrad, small settings
(MINIGRAD_FULL unset). Then the outputs are checked (tests/test_notebooks.py checks the
committed files the same way): no errors, no machine paths, a few hundred KB at most.
Needs the ``notebooks`` extra.
"""
import glob
import os
import re
import sys

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))

#: the largest a notebook with its outputs may be
MAX_BYTES = 600 * 1024

#: outputs must not show where the notebook was run: an absolute path of two or more
#: folders (a home, a checkout, a temporary folder; not a URL), a Windows path, ``~/``
MACHINE_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.-]+/){2,}|[A-Za-z]:\\[\w.-]+\\|~/")


def problems(nb) -> list:
    """What is wrong with a notebook's outputs (an empty list when nothing)."""
    found = []
    counts = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        counts.append(cell.get("execution_count"))
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: error {out.get('ename')}")
            text = out.get("text", "") + "".join(
                v for k, v in out.get("data", {}).items() if k.startswith("text/"))
            if isinstance(text, list):
                text = "".join(text)
            m = MACHINE_PATH.search(text)
            if m:
                found.append(f"cell {i}: a machine path in the output ({m.group(0)}...)")
    if counts != list(range(1, len(counts) + 1)):
        found.append("not executed top to bottom in one run (execution counts "
                     f"{counts})")
    size = len(nbformat.writes(nb).encode())
    if size > MAX_BYTES:
        found.append(f"{size / 1024:.0f} KB with outputs (at most {MAX_BYTES // 1024} KB)")
    return found


def run(path) -> list:
    nb = nbformat.read(path, as_version=4)
    nb = nbformat.from_dict(nbformat.validator.normalize(nb)[1])   # cell ids
    env = {"MINIGRAD_FULL": None, "MINIGRAD_DATA": None, "MINIGRAD_NO_DOWNLOAD": "1",
           "MPLBACKEND": None}
    saved = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": HERE}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nb.metadata.pop("widgets", None)
    nbformat.validate(nb)
    found = problems(nb)
    if not found:
        nbformat.write(nb, path)
    return found


def main(names):
    paths = sorted(glob.glob(os.path.join(HERE, "*.ipynb")))
    if names:
        paths = [p for p in paths if any(os.path.basename(p).startswith(n) for n in names)]
    failed = False
    for path in paths:
        found = run(path)
        name = os.path.basename(path)
        if found:
            failed = True
            print(f"{name}: NOT written:\n  " + "\n  ".join(found))
        else:
            print(f"{name}: {os.path.getsize(path) / 1024:.0f} KB with outputs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
