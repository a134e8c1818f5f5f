"""The performance appendix's tables, written at build time from the benchmark
harness's results.

A page holds the directive-shaped placeholder

    ```{benchmark-results}
    ```

and, as Sphinx reads that page, :func:`results_markdown` replaces it with the
Markdown of every results file in ``benchmarks/results/*.json``: one section per
run (device and date), the software and measured peaks it records, and one
table per op. The page is read again at every build, so a new run always
shows. Where the extension is not loaded the placeholder is an
unknown directive, an error of the build rather than a page without numbers.
"""

from __future__ import annotations

import datetime
import json
import math
from itertools import groupby
from pathlib import Path

PLACEHOLDER = "```{benchmark-results}\n```"
RESULTS = (
    "benchmarks/results"  # relative to the book's source folder (the repository root)
)


def load_runs(folder: Path) -> list[dict]:
    """Every results file in ``folder``: GPU runs first, then by device, the newest run
    of a device first. Each run gains ``file``, the file's name."""
    runs = [
        dict(json.loads(path.read_text()), file=path.name)
        for path in sorted(Path(folder).glob("*.json"))
    ]
    runs.sort(key=lambda run: run["date"], reverse=True)
    # stable: dates stay newest first
    runs.sort(key=lambda run: (run["device_type"] != "cuda", run["device"]))
    return runs


def results_markdown(folder: Path, repository: str | None = None) -> str:
    """The appendix's generated part: a section for the GPU runs and one for the
    CPU runs.

    ``repository`` (``https://github.com/owner/name/blob/branch``), when given, links
    each file.
    """
    runs = load_runs(folder)
    lines = ["## GPU runs", ""]
    gpu = [run for run in runs if run["device_type"] == "cuda"]
    if not gpu:
        lines += [
            ":::{note}",
            "No GPU run has been committed yet, so there are no GPU numbers on this "
            "page: the Triton kernels have been checked on the CPU (under the Triton "
            "interpreter) but not timed. [Running the benchmarks]"
            "(#performance-reproduce) says how to add a GPU run.",
            ":::",
            "",
        ]
    lines += [line for run in gpu for line in _run(run, repository)]
    lines += ["## CPU runs", ""]
    cpu = [run for run in runs if run["device_type"] != "cuda"]
    if not cpu:
        lines += ["No CPU run has been committed yet.", ""]
    lines += [line for run in cpu for line in _run(run, repository)]
    return "\n".join(lines)


def _run(run: dict, repository: str | None) -> list[str]:
    date = datetime.datetime.fromisoformat(run["date"]).astimezone(
        datetime.timezone.utc
    )
    path = f"{RESULTS}/{run['file']}"
    source = f"[`{path}`]({repository}/{path})" if repository else f"`{path}`"
    peaks = run["peaks"]
    matmul = ", ".join(
        f"{_digits(rate * 1e3 if _on_cpu(run) else rate)} {_flop_unit(run)} ({dtype})"
        for dtype, rate in peaks["matmul_TFLOPs"].items()
    )
    lines = [
        f"### {run['device']}, {date:%Y-%m-%d %H:%M} UTC",
        "",
        f"From {source}. Software: torch {run['torch']}, "
        f"triton {run['triton'] or 'not installed'}. "
        f"Timing: {run['timing']}.",
        "",
        "Measured peaks"
        f"{' (' + run['peak_timing'] + ')' if 'peak_timing' in run else ''}: "
        f"copy {_digits(peaks['copy_GBps'])} GB/s; matrix product {matmul}.",
    ]
    if run.get("load_average_at_start") is not None and _on_cpu(run):
        lines[-1] += (
            f" The load average was {run['load_average_at_start']:.2f} when the run "
            "started: on a shared machine the times are slower and noisier than on an "
            "idle one."
        )
    lines.append("")
    for op, rows in groupby(
        sorted(run["results"], key=lambda r: r["op"]), key=lambda r: r["op"]
    ):
        rows = list(rows)
        dtypes = sorted({r["dtype"] for r in rows})
        lines += [
            f"#### {op} ({', '.join(dtypes)})",
            "",
            *_table(rows, run, dtype_column=len(dtypes) > 1),
            "",
        ]
    return lines


def _table(rows: list[dict], run: dict, dtype_column: bool) -> list[str]:
    """One op's rows in the order they were measured. Integer dimensions share a column
    (``B×T×D``); any other entry of the size (attention's ``causal``) gets its own; the
    dtype gets one only where the rows differ in it (otherwise the heading names it), so
    that the table fits the page."""
    dims = [
        k
        for k, v in rows[0]["size"].items()
        if isinstance(v, int) and not isinstance(v, bool)
    ]
    options = [k for k in rows[0]["size"] if k not in dims]
    memory = rows[0]["peak"] == "copy bandwidth"
    header = [
        "×".join(dims),
        *options,
        "impl",
        "pass",
        *["dtype"] * dtype_column,
        "time (ms)",
        "GB/s" if memory else _flop_unit(run),
        "of peak",
        "error",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] * (len(header) - 4) + ["---:"] * 4) + " |",
    ]
    for r in rows:
        cells = [
            "×".join(str(r["size"][k]) for k in dims),
            *(_option(r["size"][k]) for k in options),
            r["impl"],
            r["pass_"],
            *[r["dtype"]] * dtype_column,
        ]
        if "error" in r:
            cells += [r["error"], "", "", ""]
        else:
            achieved = (
                r["GBps"]
                if memory
                else (r["TFLOPs"] * 1e3 if _on_cpu(run) else r["TFLOPs"])
            )
            fraction = r.get("fraction_of_peak")
            cells += [
                _digits(r["median_ms"]),
                _digits(achieved),
                "" if fraction is None else f"{_digits(100 * fraction, 2)}%",
                _exponent(r["max_rel_error"]) if "max_rel_error" in r else "",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _on_cpu(run: dict) -> bool:
    return run["device_type"] != "cuda"


def _flop_unit(run: dict) -> str:
    """CPU rates read better in GFLOP/s, a GPU's in TFLOP/s."""
    return "GFLOP/s" if _on_cpu(run) else "TFLOP/s"


def _option(value) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _exponent(x: float) -> str:
    """One significant digit in the shortest exponent form, narrow enough for the
    tables: 3.6e-07 -> 4e-7."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _digits(x: float, significant: int = 3) -> str:
    """``x`` with ``significant`` digits and no exponent: 34128.5 -> 34129,
    51.94 -> 51.9, 0.00306 -> 0.00306."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def _fill_in(app, docname: str, source: list[str]) -> None:
    if PLACEHOLDER not in source[0]:
        return
    folder = Path(app.srcdir) / RESULTS
    # Sphinx counts a dependency that is not a file as changed, so the folder makes
    # every build read the page again: a new, changed or removed results file
    # always shows.
    app.env.note_dependency(str(folder))
    options = app.config.html_theme_options or {}
    repository = options.get("repository_url")
    if repository:
        repository = (
            f"{repository.rstrip('/')}/blob/"
            f"{options.get('repository_branch') or 'main'}"
        )
    source[0] = source[0].replace(PLACEHOLDER, results_markdown(folder, repository))


def setup(app):
    app.connect("source-read", _fill_in)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
