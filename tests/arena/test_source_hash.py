"""The arena's stamp is computed from the code that runs, not from a list: editing any
module on the path that builds, trains and times the models changes it; prose and other
modules don't."""

import shutil
from pathlib import Path

import pytest

import rnncourse
from rnncourse.arena import run_path, source_hash

PACKAGE = Path(rnncourse.__file__).parent


@pytest.fixture
def package(tmp_path) -> Path:
    """A copy of the package's source, to edit."""
    copy = tmp_path / "rnncourse"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_run_path_holds_every_module_the_models_run_through():
    modules = set(run_path())
    # the four modules a hand-kept list once forgot
    assert {
        "rnncourse.nn.short_conv",
        "rnncourse.ops.backend",
        "rnncourse.training",
        "rnncourse.data.long_range",
    } <= modules
    assert {"rnncourse.nn.mamba", "rnncourse.ops.linear_attention.reference"} <= modules
    # drawing, exercises and chapter helpers do not produce the results
    assert not any(
        m.startswith(("rnncourse.figures", "rnncourse.exercises")) for m in modules
    )
    assert "rnncourse.arena.analysis" not in modules


def test_a_copy_of_the_package_has_the_same_hash(package):
    assert source_hash(root=package) == source_hash()


def test_editing_code_on_the_run_path_changes_the_hash(package):
    before = source_hash(root=package)
    path = package / "nn" / "short_conv.py"
    path.write_text(path.read_text() + "\nTAPS = 4\n")
    assert source_hash(root=package) != before


def test_prose_and_modules_off_the_run_path_leave_it(package):
    before = source_hash(root=package)
    path = package / "nn" / "short_conv.py"
    path.write_text(
        "# a new comment\n" + path.read_text().replace('"""', '""" An edit.', 1)
    )
    figures = package / "figures" / "diagrams.py"
    figures.write_text(figures.read_text() + "\nEDITED = True\n")
    assert source_hash(root=package) == before


def test_a_module_newly_imported_on_the_run_path_joins_it(package):
    (package / "nn" / "gate.py").write_text("SCALE = 2.0\n")
    retnet = package / "nn" / "retnet.py"
    retnet.write_text(
        "from rnncourse.nn.gate import SCALE  # noqa: F401\n" + retnet.read_text()
    )
    assert "rnncourse.nn.gate" in run_path(package)
    before = source_hash(root=package)
    (package / "nn" / "gate.py").write_text("SCALE = 3.0\n")
    assert source_hash(root=package) != before
