"""The performance appendix (book/performance.md): its tables are built from the results
files, all of them, with the numbers the files hold."""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks import run

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import benchmark_tables  # noqa: E402

GPU_RUN = {
    "device": "NVIDIA H100 80GB HBM3",
    "device_type": "cuda",
    "date": "2026-11-20T08:30:00+00:00",
    "torch": "2.13.0+cu128",
    "triton": "3.7.1",
    "load_average_at_start": 0.4,
    "peaks": {"copy_GBps": 2871.5, "matmul_TFLOPs": {"bfloat16": 612.3}},
    "timing": "CUDA events, median of up to 10 runs after 2 warm-up calls",
    "results": [
        {
            "op": "softmax_attention",
            "impl": impl,
            "pass_": pass_,
            "dtype": "bfloat16",
            "size": {"B": 16, "H": 32, "T": 1024, "D": 64, "causal": causal},
            "median_ms": ms,
            "runs": 10,
            "GBps": 1.0e3 / ms,
            "TFLOPs": tflops,
            "fraction_of_peak": tflops / 612.3,
            "peak": "matrix product",
            **({"max_rel_error": 3.1e-3} if pass_ == "forward" else {}),
        }
        for impl, pass_, causal, ms, tflops in [
            ("triton", "forward", False, 0.412, 333.7),
            ("triton", "backward", False, 1.27, 270.4),
            ("sdpa_flash", "forward", True, 0.25, 274.9),
        ]
    ]
    + [
        {
            "op": "softmax_attention",
            "impl": "sdpa",
            "pass_": "forward",
            "dtype": "bfloat16",
            "size": {"B": 1, "H": 32, "T": 16384, "D": 64, "causal": False},
            "error": "out of memory",
        }
    ]
    + [
        {
            "op": "linear_scan",
            "impl": "triton",
            "pass_": "forward",
            "dtype": dtype,
            "size": {"B": 8, "T": 4096, "D": 1536},
            "median_ms": ms,
            "runs": 10,
            "GBps": gbps,
            "TFLOPs": gbps / 1.5e3,
            "fraction_of_peak": gbps / 2871.5,
            "peak": "copy bandwidth",
            "max_rel_error": 2.4e-7,
        }
        for dtype, ms, gbps in [("float32", 0.21, 2150.0), ("float16", 0.12, 1880.4)]
    ],
}


def _tables(markdown: str) -> dict[tuple[str, str], list[dict]]:
    """{(results file, op): rows as {column: cell}} of every table in the
    page's Markdown."""
    tables, file, op, header = {}, None, None, None
    for line in markdown.splitlines():
        if line.startswith("From `"):
            file = line.split("`")[1].rsplit("/", 1)[1]
        elif line.startswith("#### "):
            op, header = line[5:].split(" (")[0], None
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            elif not set(line) <= set("|-: "):
                tables.setdefault((file, op), []).append(dict(zip(header, cells)))
    return tables


def _close(cell: str, value: float, digits: int) -> bool:
    return float(cell.rstrip("%")) == pytest.approx(
        value, rel=0.51 * 10 ** (1 - digits)
    )


def _check_numbers(table: list[dict], rows: list[dict], on_cpu: bool, dtype: str):
    """The table's cells against the rows of the results file; ``dtype`` is the one its
    heading names."""
    assert len(table) == len(rows)
    for cells, row in zip(table, rows):
        dims = next(iter(cells))  # the first column, headed e.g. B×H×T×D
        assert cells[dims] == "×".join(str(row["size"][k]) for k in dims.split("×"))
        assert (cells["impl"], cells["pass"]) == (row["impl"], row["pass_"])
        assert cells.get("dtype", dtype) == row["dtype"]
        if "causal" in row["size"]:
            assert cells["causal"] == ("yes" if row["size"]["causal"] else "no")
        if "error" in row:
            assert cells["time (ms)"] == row["error"]
            continue
        assert _close(cells["time (ms)"], row["median_ms"], 3)
        rate = next(c for c in cells if c in ("GB/s", "GFLOP/s", "TFLOP/s"))
        expected = {
            "GB/s": row["GBps"],
            "GFLOP/s": row["TFLOPs"] * 1e3,
            "TFLOP/s": row["TFLOPs"],
        }[rate]
        assert rate == (
            "GB/s"
            if row["peak"] == "copy bandwidth"
            else "GFLOP/s"
            if on_cpu
            else "TFLOP/s"
        )
        assert _close(cells[rate], expected, 3)
        assert _close(cells["of peak"], 100 * row["fraction_of_peak"], 2)
        if "max_rel_error" in row:
            assert _close(cells["error"], row["max_rel_error"], 1)
        else:
            assert cells["error"] == ""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A results folder with two real CPU runs of the harness, a memory-bound op's and a
    compute-bound op's, and a GPU run written here."""
    folder = tmp_path_factory.mktemp("results")
    for op, size in [
        ("linear_scan", ["2", "9", "3"]),
        ("linear_attention", ["B=1", "H=2", "T=9", "K=4", "V=4"]),
    ]:
        path = run.main(
            [
                "--ops",
                op,
                "--size",
                *size,
                "--reps",
                "2",
                "--warmup",
                "1",
                "--out",
                str(folder / op),
            ]
        )
        path.rename(folder / f"{path.stem}-{op}.json")
    (folder / "2026-11-20-nvidia-h100-80gb-hbm3.json").write_text(json.dumps(GPU_RUN))
    return folder


def test_every_results_file_has_its_section_with_the_files_numbers(results):
    markdown = benchmark_tables.results_markdown(results)
    tables = _tables(markdown)
    files = sorted(results.glob("*.json"))
    assert len(files) == 3
    for path in files:
        report = json.loads(path.read_text())
        assert f"`benchmarks/results/{path.name}`" in markdown
        assert f"### {report['device']}, " in markdown
        assert f"torch {report['torch']}, triton {report['triton']}" in markdown
        assert ("peak_timing" in report) == (
            report["device_type"] == "cpu"
        )  # the GPU run is written here
        if "peak_timing" in report:
            assert f"Measured peaks ({report['peak_timing']}): copy" in markdown
        ops = {r["op"] for r in report["results"]}
        assert ops and {op for file, op in tables if file == path.name} == ops
        for op in ops:
            rows = [r for r in report["results"] if r["op"] == op]
            dtypes = sorted({r["dtype"] for r in rows})
            assert f"#### {op} ({', '.join(dtypes)})" in markdown
            _check_numbers(
                tables[path.name, op], rows, report["device_type"] == "cpu", dtypes[0]
            )
    assert (
        "612 TFLOP/s (bfloat16)" in markdown and "2872 GB/s" in markdown
    )  # the GPU's measured peaks
    assert (
        "#### linear_scan (float16, float32)\n\n| B×T×D | impl | pass | dtype |"
        in markdown
    )
    assert "No GPU run" not in markdown
    assert (
        markdown.index("## GPU runs")
        < markdown.index("NVIDIA H100")
        < markdown.index("## CPU runs")
    )


def test_without_a_gpu_run_the_page_says_so(results, tmp_path):
    for path in results.glob("*.json"):
        if "nvidia" not in path.name:
            shutil.copy(path, tmp_path)
    markdown = benchmark_tables.results_markdown(tmp_path)
    gpu_section = markdown[
        markdown.index("## GPU runs") : markdown.index("## CPU runs")
    ]
    assert "No GPU run has been committed yet" in gpu_section and "|" not in gpu_section


def test_runs_of_one_device_are_grouped_newest_first(tmp_path):
    for date in ("2026-11-18T09:00:00+00:00", "2026-11-21T09:00:00+00:00"):
        (tmp_path / f"{date[:10]}-nvidia-h100-80gb-hbm3.json").write_text(
            json.dumps(dict(GPU_RUN, date=date))
        )
    (tmp_path / "2026-11-19-nvidia-a100.json").write_text(
        json.dumps(dict(GPU_RUN, device="NVIDIA A100"))
    )
    headings = re.findall(
        r"^### (.*)$", benchmark_tables.results_markdown(tmp_path), re.M
    )
    assert headings == [
        "NVIDIA A100, 2026-11-20 08:30 UTC",
        "NVIDIA H100 80GB HBM3, 2026-11-21 09:00 UTC",
        "NVIDIA H100 80GB HBM3, 2026-11-18 09:00 UTC",
    ]


def test_the_page_lists_every_committed_results_file():
    folder = ROOT / benchmark_tables.RESULTS
    markdown = benchmark_tables.results_markdown(folder)
    files = sorted(folder.glob("*.json"))
    assert files, "no results committed in benchmarks/results/"
    for path in files:
        assert f"`benchmarks/results/{path.name}`" in markdown
    assert (
        benchmark_tables.PLACEHOLDER in (ROOT / "book" / "performance.md").read_text()
    )


@pytest.mark.parametrize(
    "x, text",
    [(34128.512, "34129"), (51.94, "51.9"), (0.0030612, "0.00306"), (22.7, "23")],
)
def test_numbers_keep_their_significant_digits_without_an_exponent(x, text):
    assert benchmark_tables._digits(x, 2 if text == "23" else 3) == text
