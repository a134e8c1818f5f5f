"""The whole nbgrader loop, as an instructor runs it, on real chapters.

For each chapter: the reference notebook gets full marks; the unchanged student
version gets zero on every autograded cell without crashing the grader; and a
submission with one planted mistake loses exactly that exercise's points.
(It executes each chapter three times, so it is the slowest test.)
"""

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from grade import grade  # noqa: E402
from student_version import student_version  # noqa: E402

# chapter -> (the exercise's solution grade_id, a wrong body, the checker's grade_id)
PLANTED = {
    "01_rnn_basics": (
        "temperature_probs",
        "    return torch.softmax(logits * temperature, dim=-1)\n",
        "check_temperature_probs",
    ),
    "05_seq2seq_attention": (
        "masked_softmax",
        "    return torch.softmax(scores, dim=-1)\n",
        "check_masked_softmax",
    ),
}


def _plant(nb, solution_id: str, wrong_body: str):
    """The reference notebook with one solution replaced by a wrong one."""
    nb = nbformat.from_dict(nb)
    cell = next(
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == solution_id
    )
    cell.source = re.sub(
        r"### BEGIN SOLUTION\n.*?### END SOLUTION\n?",
        wrong_body,
        cell.source,
        flags=re.S,
    )
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions")
    for chapter, (solution_id, wrong_body, _) in PLANTED.items():
        reference = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
        for student, nb in {
            "reference": reference,
            "unchanged": student_version(reference),
            "one_mistake": _plant(reference, solution_id, wrong_body),
        }.items():
            (submissions / student).mkdir(exist_ok=True)
            nbformat.write(nb, submissions / student / f"{chapter}.ipynb")
    rows = grade(submissions, tmp_path_factory.mktemp("course"))
    return {(row["student"], row["chapter"]): row for row in rows}


@pytest.mark.parametrize("chapter", PLANTED)
def test_reference_gets_full_marks(graded, chapter):
    row = graded["reference", chapter]
    assert row["max_score"] > 0 and row["score"] == row["max_score"]


@pytest.mark.parametrize("chapter", PLANTED)
def test_unchanged_student_version_gets_zero(graded, chapter):
    assert graded["unchanged", chapter]["score"] == 0


@pytest.mark.parametrize("chapter", PLANTED)
def test_one_mistake_loses_exactly_that_exercise(graded, chapter):
    reference, planted = graded["reference", chapter], graded["one_mistake", chapter]
    check_id = PLANTED[chapter][2]
    assert planted[check_id] == 0
    assert planted["score"] == reference["score"] - reference[check_id]
