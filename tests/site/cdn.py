"""The files the website loads from CDNs, served to the browser test from npm packages.

The built pages load MathJax (Sphinx), RequireJS and the Jupyter widget
manager (myst-nb) from jsDelivr, which serves npm packages' files, and
matplotlib's animations load Font Awesome from another CDN; but the machines
that test the site reach only package registries. The browser test answers
those requests from copies of the same npm packages, which
`python tests/site/cdn.py FOLDER` fetches with `npm pack` (the Makefile does this
once, into .venv/cdn).
"""

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# URL prefix on the CDN -> the npm package (and version) whose files lie under it
MIRRORS = {
    "https://cdn.jsdelivr.net/npm/mathjax@3/": "mathjax@3.2.2",
    "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/": (
        "@jupyter-widgets/html-manager@1.0.6"
    ),
    "https://cdn.jsdelivr.net/npm/requirejs@2.3.4/": "requirejs@2.3.4",
    # The icons of matplotlib's HTML animations (FuncAnimation.to_jshtml)
    "https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/": "font-awesome@4.4.0",
}


def folder_of(package: str) -> str:
    """Where a package is unpacked inside the mirror:
    "@jupyter-widgets/html-manager@1.0.6" -> "html-manager@1.0.6"."""
    return package.rsplit("/", 1)[-1]


def local_file(url: str, mirror: Path) -> Path | None:
    """The mirrored file that answers ``url``, or None if the mirror does not
    hold it."""
    url = url.split("?")[0]
    for prefix, package in MIRRORS.items():
        if url.startswith(prefix):
            path = mirror / folder_of(package) / url[len(prefix) :]
            return path if path.is_file() else None
    return None


def is_complete(mirror: Path) -> bool:
    return all(
        (mirror / folder_of(package) / "package.json").is_file()
        for package in MIRRORS.values()
    )


def fetch(mirror: Path) -> None:
    """Download each package's tarball from the npm registry and unpack it into
    ``mirror``."""
    for package in MIRRORS.values():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                ["npm", "pack", "--silent", "--pack-destination", tmp, package],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            (tarball,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tarball) as archive:
                for member in archive.getmembers():
                    # drop the tarball's "package/" folder
                    member.name = member.name.split("/", 1)[1]
                archive.extractall(mirror / folder_of(package), filter="data")


if __name__ == "__main__":
    fetch(Path(sys.argv[1]))
