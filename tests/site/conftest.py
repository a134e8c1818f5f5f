"""The built website, served on localhost and opened in headless Chromium.

These tests need the site that `make book` builds, so they run only when
RNNCOURSE_SITE names it: `make site-test` (the last step of `make test`) does,
`pytest tests` alone skips them and says why. The browser is Debian's
Chromium driven by Playwright; where no Chromium is installed they skip.
"""

import functools
import http.server
import mimetypes
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import cdn  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "book"))
from _toc import toc_pages  # noqa: E402,F401  (the browser tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
# Copies of the scripts the pages load from CDNs (`make site-test` fetches them).
MIRROR = ROOT / ".venv" / "cdn"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def site() -> Path:
    """The built site's folder."""
    path = os.environ.get("RNNCOURSE_SITE")
    if not path:
        pytest.skip(
            "the site tests run on the built site: `make site-test` after `make book` "
            "(part of `make test`)"
        )
    site = (ROOT / path).resolve()
    assert (site / "index.html").exists(), (
        f"no built site in {site}: run `make book` first"
    )
    return site


@pytest.fixture(scope="session")
def base_url(site):
    """The site served by http.server on a free port of localhost, in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def browser(site):
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "no Chromium found (Debian: apt-get install chromium): the pages were NOT "
            "checked in a browser"
        )
    if not cdn.is_complete(MIRROR):
        pytest.skip(
            f"no copies of the pages' CDN scripts in {MIRROR} (`make site-test` "
            "fetches them with npm): the pages were NOT checked in a browser"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, temporary user-data-dir.
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


def _offline(route):
    """Serve localhost, answer the CDNs from the mirror, refuse the rest (the page sees
    a failed request)."""
    url = route.request.url
    if url.startswith("http://127.0.0.1:"):
        return route.continue_()
    local = cdn.local_file(url, MIRROR)
    if local is None:
        return route.abort()
    # The pages load these scripts with crossorigin="anonymous": a CDN allows that with
    # this header.
    route.fulfill(
        path=local,
        content_type=mimetypes.guess_type(local.name)[0] or "application/octet-stream",
        headers={"Access-Control-Allow-Origin": "*"},
    )


def _context(browser, color_scheme: str):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme=color_scheme
    )
    context.route(re.compile(r".*"), _offline)
    return context


@pytest.fixture(scope="session")
def light(browser):
    """A browser context in the light colour scheme."""
    context = _context(browser, "light")
    yield context
    context.close()


@pytest.fixture(scope="session")
def dark(browser):
    """A browser context that prefers the dark colour scheme: the theme follows it."""
    context = _context(browser, "dark")
    yield context
    context.close()


@pytest.fixture(scope="session")
def screenshots(site) -> Path:
    """Where every page's screenshot goes (under _build/, not committed)."""
    folder = site.parent / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder
