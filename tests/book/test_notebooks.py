"""The chapters as files: clean, listed in the book, readable in Colab, with
proper exercises.

(nbval executes every notebook in `make test`; these tests check what execution cannot.)
"""

import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "scripts"))
from student_version import student_version  # noqa: E402

from ._toc import toc_pages  # noqa: E402

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _read(path):
    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no chapter notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    for cell in _read(path).cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name} holds outputs: clear them"
            )


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    files = toc_pages()
    for f in files:
        assert any((ROOT / (f + ext)).exists() for ext in ("", ".md", ".ipynb")), (
            f"{f} is in _toc.yml but missing"
        )
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in files, f"{path.name} is not in _toc.yml"


MYST = re.compile(
    r"^(```|:::)\s*\{[\w-]+\}|\{(cite|doc|ref|numref|eq|term|download|glue)[:\w]*\}`",
    re.M,
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_is_plain_enough_for_colab(path):
    for cell in _read(path).cells:
        if cell.cell_type == "markdown":
            assert not MYST.search(cell.source), (
                "MyST syntax in a notebook cell (Colab cannot render it):\n"
                f"{cell.source[:200]}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_follow_the_convention(path):
    cells = _read(path).cells
    solutions = [i for i, c in enumerate(cells) if "### BEGIN SOLUTION" in c.source]
    assert len(solutions) >= 3, f"{path.name} has fewer than three exercises"
    grade_ids = []
    for i in solutions:
        meta = cells[i].metadata
        assert meta.get("nbgrader", {}).get("solution") is True, (
            f"solution cell {i} lacks nbgrader metadata"
        )
        assert {"hide-input", "remove-input"} & set(meta.get("tags", [])), (
            f"solution cell {i} is not hidden on the site"
        )
        check = cells[i + 1]
        assert re.search(r"\bcheck_\w+\(", check.source), (
            f"cell {i + 1} should call the exercise's checker"
        )
        grade = check.metadata.get("nbgrader", {})
        assert grade.get("grade") is True and grade.get("points", 0) > 0, (
            f"checker cell {i + 1} is not an autograded test"
        )
        grade_ids += [meta["nbgrader"]["grade_id"], grade["grade_id"]]
    assert len(grade_ids) == len(set(grade_ids)), "nbgrader grade_ids must be unique"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_seeded_and_installs_itself_in_colab(path):
    cells = [c for c in _read(path).cells if c.cell_type == "code"]
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert "google.colab" in cells[0].source and repo in cells[0].source, (
        "the first code cell installs the package from the repository named in "
        "_config.yml when in Colab"
    )
    assert any("seed_everything(" in c.source for c in cells), (
        f"{path.name} never seeds its generators"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_version_has_no_solutions_and_is_valid(path):
    nb = _read(path)
    student = student_version(nb)
    nbformat.validate(student)
    text = "\n".join(c.source for c in student.cells)
    assert "BEGIN SOLUTION" not in text
    for cell in nb.cells:
        for solution in SOLUTION.findall(cell.source):
            for line in solution.strip().splitlines():
                if (
                    len(line.strip()) > 12
                ):  # short lines ("return h") may legitimately recur
                    assert line.strip() not in text, (
                        f"solution text left in the student version: {line.strip()}"
                    )
    assert text.count("raise NotImplementedError()") == len(
        SOLUTION.findall("\n".join(c.source for c in nb.cells))
    )


@pytest.mark.parametrize("path", NOTEBOOKS[:1], ids=lambda p: p.name)
def test_student_version_runs_up_to_its_first_exercise(path):
    student = student_version(_read(path))
    first_check = next(
        i
        for i, c in enumerate(student.cells)
        if c.metadata.get("nbgrader", {}).get("grade")
    )
    client = NotebookClient(
        student,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert info.value.ename == "ExerciseError" and "not solved yet" in str(info.value)
    assert "Traceback" not in str(info.value), (
        "a student sees the checker's sentence, not a traceback"
    )
    ran = [
        i
        for i, c in enumerate(student.cells)
        if c.cell_type == "code" and c.execution_count
    ]
    assert max(ran) == first_check, (
        "execution should stop at the first unsolved exercise's checker, not before"
    )
