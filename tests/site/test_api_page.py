"""The API reference (book/api.md) covers the whole package: every module, and every
name that a package exports in its ``__all__``."""

import importlib
import pkgutil
import re

import pytest
from conftest import ROOT

import rnncourse

API = ROOT / "book" / "api.md"
PUBLIC = [
    m.name
    for m in pkgutil.iter_modules(rnncourse.__path__)
    if not m.name.startswith("_")
]
PACKAGES = [
    "rnncourse",
    *(
        f"rnncourse.{m.name}"
        for m in pkgutil.iter_modules(rnncourse.__path__)
        if m.ispkg
    ),
]


def test_every_module_has_its_section():
    documented = set(re.findall(r"^\.\. automodule:: (\S+)", API.read_text(), re.M))
    missing = [
        f"rnncourse.{name}" for name in PUBLIC if f"rnncourse.{name}" not in documented
    ]
    assert not missing, f"book/api.md has no automodule for {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_has_an_entry(package, site):
    """Each name in __all__ is documented under the package (rnncourse.nn.LSTM) or its
    own module."""
    ids = set(
        re.findall(r'id="(rnncourse[\w.]+)"', (site / "book" / "api.html").read_text())
    )
    module = importlib.import_module(package)
    # arena and figures export no names of their own: their modules are documented
    for name in getattr(module, "__all__", ()):
        # a class or function names its module; data (a dict) does not
        home = getattr(getattr(module, name), "__module__", None) or package
        where = {f"{package}.{name}", f"{home}.{name}"}
        documented = where & ids or {
            i for i in ids if i.startswith(f"{package}.") and i.endswith(f".{name}")
        }
        assert documented, f"the API page documents none of {sorted(where)}"
