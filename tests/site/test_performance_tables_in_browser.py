"""The performance appendix as a reader sees it: a section for every results file, and
tables that fit the page's width (no table scrolls sideways or reaches past
the text)."""

from conftest import ROOT
from test_pages import open_page

RESULTS = sorted((ROOT / "benchmarks" / "results").glob("*.json"))

TABLES = """() => [...document.querySelectorAll("article table")].map(table => {
    const box = table.parentElement,
        text = table.closest("article").getBoundingClientRect();
    return {columns: table.rows[0].cells.length,
            right: table.getBoundingClientRect().right, textRight: text.right,
            scrolls: box.scrollWidth > box.clientWidth};
})"""


def test_every_results_file_has_its_section(base_url, light):
    tab = open_page(light, f"{base_url}book/performance.html")
    text = tab.locator("article").inner_text()
    for path in RESULTS:
        assert f"benchmarks/results/{path.name}" in text, (
            f"the performance page does not show {path.name}"
        )
    assert tab.locator("article h3").count() == len(
        RESULTS
    )  # one heading per run: its device and date
    assert not tab.errors, "\n".join(tab.errors)
    tab.close()


def test_tables_fit_the_page(base_url, light):
    tab = open_page(light, f"{base_url}book/performance.html")
    tables = tab.evaluate(TABLES)
    assert tables, "the performance page shows no table"
    for i, table in enumerate(tables):
        assert not table["scrolls"], (
            f"table {i} ({table['columns']} columns) scrolls sideways: it is wider "
            "than the text"
        )
        assert table["right"] <= table["textRight"] + 1, (
            f"table {i} reaches past the text: {table}"
        )
    tab.close()
