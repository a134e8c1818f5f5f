"""The book's pages in the order of _toc.yml, shared by the notebook tests and the
browser tests."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _toc_files(entries):
    for entry in entries:
        if "file" in entry:
            yield entry["file"]
        for key in ("chapters", "sections", "parts"):
            yield from _toc_files(entry.get(key, []))


def toc_pages() -> list[str]:
    """Every page of the book, as its path without suffix
    ("notebooks/01_rnn_basics")."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"], *_toc_files(toc["parts"])]
