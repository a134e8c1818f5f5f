"""Display the source of the package's code in a notebook.

Chapters show the code they teach with ``show(obj)`` instead of keeping a copy
of it in a cell, so the text always shows the code that actually runs.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class Source:
    """Highlighted source code that renders as HTML in Jupyter and as text elsewhere."""

    def __init__(self, code: str, where: str):
        self.code = code
        self.where = where

    def _repr_html_(self) -> str:
        # Inline styles (noclasses) render the same in JupyterLab, Colab and the
        # static site, none of which need to load a Pygments stylesheet.
        body = highlight(
            self.code, PythonLexer(), HtmlFormatter(noclasses=True, style="default")
        )
        return (
            '<div style="font-size: 0.8em; color: #666; margin-bottom: 2px">'
            f"{self.where}</div>"
            '<div style="max-height: 40em; overflow: auto; font-size: 0.9em">'
            f"{body}</div>"
        )

    def __repr__(self) -> str:
        return f"# {self.where}\n{self.code}"


def show(obj) -> Source:
    """Return the source of a module, class, function or method for display.

    In a notebook, end a cell with ``show(RNN)`` to print the highlighted code
    of ``RNN`` together with the file and line numbers it comes from.
    """
    # a decorated function (@torch.no_grad()): show the function, not the decorator
    obj = inspect.unwrap(obj)
    try:
        lines, first = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj)).resolve()
    except (TypeError, OSError) as err:
        raise TypeError(
            "show() needs a module, class, function or method defined in Python "
            f"source, got {obj!r}"
        ) from err
    try:
        path = path.relative_to(_PACKAGE_ROOT)
    except ValueError:
        pass
    first = max(first, 1)
    where = f"{path.as_posix()}, lines {first}-{first + len(lines) - 1}"
    return Source("".join(lines).rstrip() + "\n", where)
