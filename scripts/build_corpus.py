"""Rebuild rnncourse/data/python_docs.txt.gz from the running Python's pydoc_data.

The shipped file was made with Python 3.11.7; shipping it (rather than reading
pydoc_data at run time) keeps the corpus identical on every Python version.
Run: python scripts/build_corpus.py
"""

import gzip
import re
from pathlib import Path
from pydoc_data.topics import topics

# Typographic characters mapped to ASCII, so the vocabulary stays small.
ASCII = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u201d": '"',
        "\u201c": '"',
        "\u2026": "...",
        "\u2014": "--",
        "\u2013": "-",
        "\u00df": "ss",
        "\u00b0": " degrees",
    }
)


def build() -> str:
    text = "\n\n".join(topics[key].strip() for key in sorted(topics)).translate(ASCII)
    if any(not (32 <= ord(c) < 127 or c == "\n") for c in text):
        raise ValueError(
            "the corpus holds characters outside printable ASCII; "
            "extend the ASCII table"
        )
    return re.sub(r"\n{3,}", "\n\n", text) + "\n"


if __name__ == "__main__":
    out = (
        Path(__file__).resolve().parent.parent
        / "rnncourse"
        / "data"
        / "python_docs.txt.gz"
    )
    with gzip.GzipFile(
        out, "wb", mtime=0
    ) as f:  # mtime=0: the same bytes on every rebuild
        f.write(build().encode("ascii"))
    print(f"wrote {out}")
