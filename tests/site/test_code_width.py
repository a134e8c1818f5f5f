"""Every code block of the site fits the page's code column without scrolling sideways.

At a 1280 x 900 window (the `light` context) the column fits the project's line
length, 88 characters (pyproject.toml; the stylesheet is _static/code-width.css):
so every code cell, every output (printed lines, library warnings, tables) and
every listing of the package (rnncourse.show) of every page must fit it. The
folded cells (solutions, hidden inputs) are unfolded before they are measured.
A failure names each block that overflows: its page, its cell, its first line,
and how many characters it needs against how many the column fits.
"""

import nbformat
import pytest
from conftest import ROOT, toc_pages

PAGES = toc_pages()

# Unfold every folded cell and toggle, then measure every <pre> of the article and
# every block of a cell that scrolls sideways (a listing of rnncourse.show, a table).
# The text's display formulas are prose, not code: MathJax scrolls the few that are
# wider than the column. A block inside another that overflows is reported, not
# the one around it.
MEASURE = """() => {
    const article = document.querySelector("article");
    article.querySelectorAll("details").forEach(d => { d.open = true; });
    article.querySelectorAll(".toggle-hidden")
        .forEach(e => e.classList.remove("toggle-hidden"));
    const scrolls = e => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
    const blocks = [...article.querySelectorAll("pre, div.cell *")]
        .filter(e => e.tagName === "PRE" || scrolls(e));
    const over = blocks.filter(e => e.scrollWidth > e.clientWidth + 1);
    const cells = [...article.querySelectorAll("div.cell")];
    return over.filter(e => !over.some(o => o !== e && e.contains(o))).map(e => {
        const pre = e.tagName === "PRE" ? e : e.querySelector("pre");
        const cell = e.closest("div.cell");
        const text = (pre || e).innerText;
        const result = {
            cell: cell ? cells.indexOf(cell) : null,
            part: !cell ? "" : cell.querySelector(".cell_input")?.contains(e)
                ? "input" : "output",
            first: (text.split("\\n").find(line => line.trim()) || "").trim(),
            tag: e.tagName.toLowerCase(),
            needs: e.scrollWidth, fits: e.clientWidth, unit: "px",
        };
        if (pre) {
            // characters: the longest line, against the width of the pre's font
            const probe = document.createElement("span");
            probe.textContent = "x".repeat(100);
            pre.appendChild(probe);
            const width = probe.getBoundingClientRect().width / 100;
            probe.remove();
            const style = getComputedStyle(pre);
            const inner = pre.clientWidth - parseFloat(style.paddingLeft)
                - parseFloat(style.paddingRight);
            result.needs = Math.max(...text.split("\\n").map(line => line.length));
            result.fits = Math.floor(inner / width + 0.01);
            result.unit = "characters";
        }
        return result;
    });
}"""
CELLS = "() => document.querySelectorAll('article div.cell').length"


def notebook_cells(page: str, on_page: int) -> list[str] | None:
    """The notebook's name for each cell the page shows, in order ("cell 12, id
    cell-12"), or None for a Markdown page or if the page does not show one cell per
    code cell."""
    path = ROOT / f"{page}.ipynb"
    if not path.exists():
        return None
    cells = nbformat.read(path, as_version=4).cells
    shown = [
        f"cell {i}, id {cell.get('id', '?')}"
        for i, cell in enumerate(cells)
        if cell.cell_type == "code"
        and "remove-cell" not in cell.metadata.get("tags", [])
    ]
    return shown if len(shown) == on_page else None


def describe(page: str, block: dict, names: list[str] | None) -> str:
    if block["cell"] is None:
        where = f"a <{block['tag']}> outside the cells"
    else:
        where = f"code cell {block['cell']} of the page"
        if names:
            where += f" ({names[block['cell']]})"
        where += f", {block['part']}"
    return (
        f"{page}: {where}, {block['first'][:60]!r}: {block['needs']} "
        f"{block['unit']}, the column fits {block['fits']}"
    )


def test_code_fits_the_column(base_url, light):
    """At 1280 x 900, no block of any page of the book scrolls sideways."""
    tab = light.new_page()
    assert tab.viewport_size == {"width": 1280, "height": 900}
    overflowing = []
    for page in PAGES:
        tab.goto(f"{base_url}{page}.html", wait_until="load")
        tab.evaluate(
            "async () => { if (window.MathJax && MathJax.startup)"
            " await MathJax.startup.promise; }"
        )
        names = notebook_cells(page, tab.evaluate(CELLS))
        overflowing += [describe(page, b, names) for b in tab.evaluate(MEASURE)]
    tab.close()
    if overflowing:
        pytest.fail(
            f"{len(overflowing)} blocks are wider than the code column at 1280 px "
            "(wrap the code at 88 characters, print shorter lines):\n"
            + "\n".join(overflowing),
            pytrace=False,
        )
