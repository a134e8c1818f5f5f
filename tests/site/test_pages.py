"""Every page of the built site, loaded in headless Chromium as a reader would see it.

Each page: no JavaScript error, MathJax rendered every formula (and no raw TeX
is left), every image loaded and described, every solution folded until its
toggle is clicked, the Colab button built from _config.yml; a screenshot of
it in the light and in the dark theme goes to _build/screenshots/. Then the
search page, the animation that stands in for a widget, and the widgets
themselves, drawn from the state stored when the notebook ran.
"""

import re
from urllib.parse import quote_plus

import nbformat
import pytest
from conftest import CONFIG, ROOT, toc_pages

PAGES = toc_pages()
# The search must find a term from chapter 4 on chapter 4's page. The second
# case checks the mechanism with a chapter that exists already.
SEARCHES = [
    ("forget gate", "notebooks/04_lstm_gru"),
    ("exploding", "notebooks/03_vanishing_exploding"),
]

SETTLE = """async () => {
    for (const img of document.images) img.loading = "eager";
    await Promise.all([...document.images].map(img => img.decode().catch(() => null)));
    if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
}"""

MATH = """() => {
    const math = [...document.querySelectorAll("article .math")];
    return {total: math.length,
            rendered: math.filter(m => m.querySelector("mjx-container")).length,
            errors: [...document.querySelectorAll("mjx-merror")]
                .map(e => e.textContent)};
}"""

# The article's text outside code, formulas and scripts: where raw TeX would show.
PROSE = """() => {
    const article = document.querySelector("article").cloneNode(true);
    article.querySelectorAll("pre, code, mjx-container, script, style, .cell_output")
        .forEach(e => e.remove());
    return article.textContent;
}"""

IMAGES = """() => [...document.images].map(img => ({
    src: img.src.slice(0, 80), alt: img.alt,
    loaded: img.complete && img.naturalWidth > 0,
    inWidget: !!img.closest(".jupyter-widgets"),
    inArticle: !!img.closest("article")}))"""

# The share of each figure's pixels that are not fully opaque: on the dark theme a
# transparent figure's dark lines and labels would vanish into the page.
SEE_THROUGH = """() => [...document.querySelectorAll("article img")].map(img => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let clear = 0;
    for (let k = 3; k < pixels.length; k += 4) clear += pixels[k] < 255;
    return {src: img.src.slice(0, 80), share: clear / (pixels.length / 4)};
})"""

RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\begin\{|\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$")


def open_page(context, url: str):
    """Load ``url`` in a new tab, collecting every console error, uncaught exception and
    failed request."""
    tab = context.new_page()
    tab.errors = []
    tab.on(
        "console",
        lambda message: (
            tab.errors.append(f"console error: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    tab.on("pageerror", lambda error: tab.errors.append(f"uncaught exception: {error}"))
    tab.on(
        "requestfailed",
        lambda request: tab.errors.append(f"request failed: {request.url}"),
    )
    tab.goto(url, wait_until="load")
    tab.evaluate(SETTLE)
    if tab.locator("script[type='application/vnd.jupyter.widget-state+json']").count():
        tab.wait_for_selector(".jupyter-widgets", state="attached", timeout=20_000)
    return tab


def hidden_cells(page: str) -> int:
    """How many cells of the page's notebook carry the hide-input tag
    (0 for a Markdown page)."""
    path = ROOT / f"{page}.ipynb"
    if not path.exists():
        return 0
    return sum(
        "hide-input" in cell.metadata.get("tags", [])
        for cell in nbformat.read(path, as_version=4).cells
    )


def colab_url(page: str) -> str:
    owner_and_name = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    return (
        f"https://colab.research.google.com/github/{owner_and_name}/blob/"
        f"{CONFIG['repository']['branch']}/{page}.ipynb"
    )


@pytest.mark.parametrize("page", PAGES)
def test_page(page, base_url, light, screenshots):
    tab = open_page(light, f"{base_url}{page}.html")

    math = tab.evaluate(MATH)
    assert math["rendered"] == math["total"], (
        f"{page}: MathJax rendered {math['rendered']} of {math['total']} formulas"
    )
    assert not math["errors"], f"{page}: TeX errors {math['errors']}"
    raw = RAW_TEX.search(tab.evaluate(PROSE))
    assert raw is None, f"{page}: raw TeX on the page: {raw.group()!r}"

    for image in tab.evaluate(IMAGES):
        assert image["loaded"], f"{page}: image {image['src']} did not load"
        if image["inArticle"] and not image["inWidget"]:
            assert image["alt"] and not re.search(
                r"\.(png|svg|jpe?g|gif)$", image["alt"]
            ), (
                f"{page}: image {image['src']} has no alt text (alt={image['alt']!r}): "
                'give its cell "mystnb": {"image": {"alt": "..."}} metadata'
            )

    # as a reader first sees it
    tab.screenshot(path=screenshots / "light" / f"{page}.png", full_page=True)

    cells = tab.locator(".cell.tag_hide-input")
    assert cells.count() == hidden_cells(page), (
        f"{page}: {cells.count()} folded cells, the notebook tags {hidden_cells(page)}"
    )
    for i in range(cells.count()):
        cell = cells.nth(i)
        assert cell.locator(".cell_input").is_hidden(), (
            f"{page}: hidden cell {i} shows its code before a click"
        )
        cell.locator("summary").click()
        assert cell.locator(".cell_input").is_visible(), (
            f"{page}: hidden cell {i} stays hidden after a click"
        )

    if page.startswith("notebooks/"):
        colab = [
            a.get_attribute("href")
            for a in tab.locator("a[href*='colab.research.google.com']").all()
        ]
        assert colab == [colab_url(page)], (
            f"{page}: Colab links {colab}, expected {colab_url(page)}"
        )

    assert not tab.errors, f"{page}: " + "\n".join(tab.errors)
    tab.close()


@pytest.mark.parametrize("page", PAGES)
def test_page_in_dark_mode(page, base_url, dark, screenshots):
    tab = open_page(dark, f"{base_url}{page}.html")
    assert tab.evaluate("document.documentElement.dataset.theme") == "dark"
    for image in tab.evaluate(SEE_THROUGH):
        assert image["share"] == 0, (
            f"{page}: {image['share']:.0%} of figure {image['src']} is transparent, "
            "unreadable on the dark theme: draw it on a white face colour"
        )
    tab.screenshot(path=screenshots / "dark" / f"{page}.png", full_page=True)
    assert not tab.errors, f"{page} (dark): " + "\n".join(tab.errors)
    tab.close()


@pytest.mark.parametrize("term, page", SEARCHES)
def test_search_finds(term, page, base_url, light):
    if page not in PAGES:
        pytest.skip(
            f"{page} is not in _toc.yml yet, so the search for {term!r} cannot find it"
        )
    tab = open_page(light, f"{base_url}search.html?q={quote_plus(term)}")
    tab.wait_for_selector("#search-results .search-summary:not(:empty)", timeout=20_000)
    found = [
        a.get_attribute("href").split("?")[0]
        for a in tab.locator("#search-results ul.search li a").all()
    ]
    assert f"{page}.html" in found, f"searching {term!r} found {found}, not {page}"
    assert not tab.errors, "\n".join(tab.errors)
    tab.close()


def test_animation_plays_without_a_kernel(base_url, light):
    """The gradient-norm animation (chapter 3) stands in for the explorer widget on
    the site."""
    tab = open_page(light, f"{base_url}notebooks/03_vanishing_exploding.html")
    animation = tab.locator(".animation")
    assert animation.count() == 1, "chapter 3 should hold one scrubbable animation"
    frame = animation.locator("img")
    slider = animation.locator("input[type=range]")
    first = frame.get_attribute("src")
    slider.fill(slider.get_attribute("max"))
    assert frame.get_attribute("src") != first, (
        "moving the slider did not change the frame"
    )
    assert frame.evaluate("img => img.naturalWidth") > 0
    assert not tab.errors, "\n".join(tab.errors)
    tab.close()


@pytest.mark.parametrize(
    "page, control",
    [
        ("notebooks/01_rnn_basics", "temperature"),
        ("notebooks/03_vanishing_exploding", "radius"),
    ],
)
def test_widgets_show_their_stored_state(page, control, base_url, light):
    """Without a kernel the widgets cannot redraw, but they show what they showed when
    the notebook ran."""
    tab = open_page(light, f"{base_url}{page}.html")
    labels = [
        text.strip()
        for text in tab.locator(".jupyter-widgets .widget-label").all_inner_texts()
    ]
    assert control in labels, (
        f"{page}: the widget's {control!r} slider is not drawn (labels: {labels})"
    )
    assert not tab.errors, "\n".join(tab.errors)
    tab.close()
