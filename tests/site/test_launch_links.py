"""The launch buttons of every chapter page open the notebook that the repository holds
at that path, and the repository they name comes from _config.yml alone."""

import re
import subprocess
from html import unescape
from urllib.parse import urljoin, urlsplit

import nbformat
import pytest
from conftest import CONFIG, ROOT, toc_pages

REPOSITORY = CONFIG["repository"]["url"]
BRANCH = CONFIG["repository"]["branch"]
OWNER_AND_NAME = REPOSITORY.removeprefix("https://github.com/")
CHAPTERS = [page for page in toc_pages() if page.startswith("notebooks/")]


def _links(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', html)]


def _in_repository(path: str) -> bool:
    """Whether git tracks ``path`` (a file on disk only, where there is no
    git checkout)."""
    if not (ROOT / ".git").exists():
        return (ROOT / path).is_file()
    return (
        subprocess.run(
            ["git", "ls-files", "--error-unmatch", path], cwd=ROOT, capture_output=True
        ).returncode
        == 0
    )


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks in _toc.yml"


@pytest.mark.parametrize("page", CHAPTERS)
def test_launch_buttons_open_the_notebook_in_the_repository(page, site):
    links = _links((site / f"{page}.html").read_text())
    colab = [
        link for link in links if link.startswith(CONFIG["launch_buttons"]["colab_url"])
    ]
    binder = [
        link
        for link in links
        if link.startswith(CONFIG["launch_buttons"]["binderhub_url"])
    ]
    assert colab == [
        f"{CONFIG['launch_buttons']['colab_url']}/github/{OWNER_AND_NAME}/blob/{BRANCH}/{page}.ipynb"
    ]
    assert binder == [
        f"{CONFIG['launch_buttons']['binderhub_url']}/v2/gh/{OWNER_AND_NAME}/{BRANCH}"
        f"?urlpath=lab/tree/{page}.ipynb"
    ]
    for path in (
        colab[0].split(f"/blob/{BRANCH}/", 1)[1],
        binder[0].split("urlpath=lab/tree/", 1)[1],
    ):
        assert _in_repository(path), (
            f"{page}: a launch button opens {path}, which the repository does not hold"
        )


@pytest.mark.parametrize("page", CHAPTERS)
def test_download_button_gives_the_repositorys_notebook(page, site):
    url = f"http://site/{page}.html"
    downloads = [
        urlsplit(urljoin(url, link)).path.lstrip("/")
        for link in _links((site / f"{page}.html").read_text())
        if link.endswith(".ipynb") and "_sources/" in link
    ]
    assert downloads == [f"_sources/{page}.ipynb"], (
        f"{page}: download links {downloads}"
    )
    offered = nbformat.read(site / downloads[0], as_version=4)
    stored = nbformat.read(ROOT / f"{page}.ipynb", as_version=4)
    assert [c.source for c in offered.cells] == [c.source for c in stored.cells], (
        f"{page}: the download button offers another notebook than the repository's "
        f"{page}.ipynb"
    )


@pytest.mark.parametrize("page", CHAPTERS)
def test_repository_buttons_name_the_configured_repository(page, site):
    github = [
        link
        for link in _links((site / f"{page}.html").read_text())
        if link.startswith("https://github.com/")
    ]
    assert REPOSITORY in github, f"{page}: no repository button linking {REPOSITORY}"
    assert any(link.startswith(f"{REPOSITORY}/issues/new?") for link in github), (
        f"{page}: no issues button"
    )


def test_the_repository_url_is_written_in_config_alone():
    """Everything else derives it, except the Colab install cell, which cannot read
    _config.yml (tests/test_notebooks.py checks that cell names the same repository)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    pattern = re.compile(re.escape(f"github.com/{OWNER_AND_NAME}"), re.I)
    for name in tracked:
        path = ROOT / name
        if (
            name == "_config.yml"
            or not path.is_file()
            or path.suffix in {".gz", ".png"}
        ):
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":
            code = [
                c.source
                for c in nbformat.reads(text, as_version=4).cells
                if c.cell_type == "code"
            ]
            # the first code cell installs the package in Colab
            text = "\n".join(code[1:])
        assert not pattern.search(text), (
            f"{name} names the repository; derive it from _config.yml instead"
        )
