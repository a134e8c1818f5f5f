"""Write student versions of the chapters: every solution removed, every output cleared.

Uses nbgrader's own preprocessors, so what counts as a solution is exactly what
nbgrader's ``generate_assignment`` would remove: the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` in cells marked as solution
cells, which become ``raise NotImplementedError()``.

Usage: python scripts/student_version.py notebooks student/notebooks
"""

import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearOutput, ClearSolutions


def student_version(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of one notebook (a new object; the input is not changed)."""
    nb = nbformat.from_dict(notebook)
    resources: dict = {}
    for preprocessor in (ClearSolutions(), ClearOutput()):
        nb, resources = preprocessor.preprocess(nb, resources)
    nbformat.validate(nb)
    return nb


def main(source: str, target: str) -> None:
    out_dir = Path(target)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(source).glob("*.ipynb")):
        nb = student_version(nbformat.read(path, as_version=4))
        nbformat.write(nb, out_dir / path.name)
        print(f"{path} -> {out_dir / path.name}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
