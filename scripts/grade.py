"""Grade a folder of submissions with nbgrader and write the scores to a CSV file.

The submissions folder holds one folder per student with that student's
chapter notebooks in it, named as the chapters are (``01_rnn_basics.ipynb``):

    submissions/alice/01_rnn_basics.ipynb
    submissions/bob/01_rnn_basics.ipynb

Each chapter is an nbgrader assignment of one notebook: its checker cells are
the autograded tests, each worth the points in its metadata. nbgrader re-runs
every submitted notebook in a fresh kernel, so a student's outputs are never
trusted. Usage:

    python scripts/grade.py SUBMISSIONS [--course DIR] [--out grades.csv]
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nbgrader(course: Path, *args: str) -> None:
    # nbgrader runs alembic for its gradebook: put this environment's scripts first on
    # the PATH.
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            *args,
            f"--CourseDirectory.root={course}",
            "--ExecutePreprocessor.timeout=300",
            "--log-level=WARN",
        ],
        check=True,
        env=env,
    )


def grade(submissions: Path, course: Path) -> list[dict]:
    """Autograde every submitted notebook; return one row per student and chapter."""
    if course.exists():
        shutil.rmtree(course)
    chapters = sorted({nb.stem for nb in submissions.glob("*/*.ipynb")})
    if not chapters:
        raise SystemExit(
            f"no submissions found: expected {submissions}/<student>/<chapter>.ipynb"
        )
    for chapter in chapters:
        source = ROOT / "notebooks" / f"{chapter}.ipynb"
        if not source.exists():
            raise SystemExit(
                f"{chapter}.ipynb is not a chapter of this course (no {source})"
            )
        (course / "source" / chapter).mkdir(parents=True)
        shutil.copy(source, course / "source" / chapter)
        # records the tests and points
        nbgrader(course, "generate_assignment", chapter, "--force")
    for notebook in sorted(submissions.glob("*/*.ipynb")):
        target = course / "submitted" / notebook.parent.name / notebook.stem
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, target)
    for chapter in chapters:
        nbgrader(course, "autograde", chapter, "--force")
    return scores(course)


def scores(course: Path) -> list[dict]:
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for assignment in gradebook.assignments:
            for submission in gradebook.assignment_submissions(assignment.name):
                notebook = gradebook.find_submission_notebook(
                    assignment.name, assignment.name, submission.student_id
                )
                row = {
                    "student": submission.student_id,
                    "chapter": assignment.name,
                    "score": notebook.score,
                    "max_score": notebook.max_score,
                }
                row.update({grade.name: grade.score for grade in notebook.grades})
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("submissions", type=Path)
    parser.add_argument(
        "--course",
        type=Path,
        default=ROOT / "_build" / "grading",
        help="nbgrader's course folder, rebuilt on each run (default: _build/grading)",
    )
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    args = parser.parse_args()
    rows = grade(args.submissions.resolve(), args.course.resolve())
    fields = ["student", "chapter", "score", "max_score"] + sorted(
        {k for r in rows for k in r} - {"student", "chapter", "score", "max_score"}
    )
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(
            f"{row['student']:>12s}  {row['chapter']}: {row['score']:g} / "
            f"{row['max_score']:g}"
        )
    print(f"scores written to {args.out}")


if __name__ == "__main__":
    main()
