"""Time every implementation of every op on this machine: ``python -m benchmarks.run``
(``make bench``).

Writes ``benchmarks/results/<date>-<device>.json`` (``<date>-<device>-<op>.json`` for a
run of chosen ops, ``--ops``) and a markdown table beside it. Each run is reported with
its median time, the bytes per second and FLOPs per second it achieved (from the least
traffic and arithmetic the op needs, ``Op.bytes`` and ``Op.flops``), and that rate as a
fraction of the device's measured peak: the copy bandwidth for a memory-bound op, the
matrix-product rate for a compute-bound one. Every result is also checked against the
op's float64 reference on the first sequence of the batch. On a CPU only the PyTorch
forms run; on a CUDA GPU the Triton kernels too.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import re
from pathlib import Path

import torch

from benchmarks.registry import PASSES, Op, all_ops
from benchmarks.timing import copy_bandwidth, device_name, matmul_rate, median_seconds

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> Path:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ops = all_ops()
    chosen = [ops[name] for name in (args.ops or ops)]
    started = datetime.datetime.now(datetime.timezone.utc)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"measuring the peaks of {device_name(device)} ...", flush=True)
    peaks = _peaks(device, {dtype for op in chosen for dtype in op.dtypes[device]})
    rows = []
    for op in chosen:
        sizes = [_size(s) for s in args.size] if args.size else op.sizes[device]
        for dtype in op.dtypes[device]:
            for size in sizes:
                rows += _measure(op, size, dtype, device, peaks, args)
    report = {
        "device": device_name(device),
        "device_type": device,
        "date": started.isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "triton": _triton_version(),
        "load_average_at_start": load,
        "peaks": {
            "copy_GBps": peaks["copy"] / 1e9,
            "matmul_TFLOPs": {
                str(d).removeprefix("torch."): r / 1e12
                for d, r in peaks["matmul"].items()
            },
        },
        "timing": ("CUDA events" if device == "cuda" else "time.perf_counter")
        + f", median of up to {args.reps} runs after {args.warmup} warm-up calls",
        "peak_timing": "the fastest of 10 runs after 2 warm-up calls",
        "results": rows,
    }
    # a run of chosen ops gets its own file beside the day's full run instead of
    # replacing it
    return _write(
        report,
        Path(args.out),
        started,
        suffix="".join(f"-{name}" for name in args.ops or []),
    )


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", nargs="*", help="op names (default: all)")
    parser.add_argument(
        "--size",
        nargs="+",
        action="append",
        metavar="DIM",
        help="replace the device's grid of sizes (repeatable): B T D, or named entries "
        "such as B=1 H=4 T=256 D=64 causal=true for ops with other dimensions",
    )
    parser.add_argument(
        "--reps", type=int, default=10, help="timed runs per measurement (median)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument(
        "--budget",
        type=float,
        default=5.0,
        help="seconds per measurement before stopping at 3 runs",
    )
    parser.add_argument(
        "--out",
        default=str(RESULTS),
        help="folder for the JSON file and the markdown table",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's choice); "
        "1 gives steadier numbers on a shared machine",
    )
    return parser.parse_args(argv)


def _size(values: list[str]) -> dict:
    """``["2", "9", "3"]`` -> {B: 2, T: 9, D: 3};
    ``["T=9", "causal=true"]`` -> {T: 9, causal: True}."""
    if len(values) == 3 and not any("=" in v for v in values):
        return dict(zip("BTD", map(int, values)))
    if not all("=" in v for v in values):
        raise SystemExit(
            f"--size takes B T D or KEY=VALUE entries, got: {' '.join(values)}"
        )
    flags = {"true": True, "false": False}
    return {
        key: flags[value.lower()] if value.lower() in flags else int(value)
        for key, _, value in (v.partition("=") for v in values)
    }


def _peaks(device: str, dtypes: set) -> dict:
    matmul_dtypes = sorted(dtypes, key=str) if device == "cuda" else [torch.float32]
    return {
        "copy": copy_bandwidth(device),
        "matmul": {d: matmul_rate(device, d) for d in matmul_dtypes},
    }


def _measure(
    op: Op, size: dict, dtype: torch.dtype, device: str, peaks: dict, args
) -> list[dict]:
    """Time each implementation's forward and backward at one size; one row per
    (implementation, pass)."""
    inputs = op.inputs(size, dtype, device)
    options = {key: size[key] for key in op.keywords}
    expected = op.reference(*(x[:1].detach().double() for x in inputs), **options)
    rows = []
    for impl, fn in op.impls.items():
        if (impl in op.kernels and device != "cuda") or op.skip(impl, size, device):
            continue
        for pass_ in PASSES:
            row = dict(
                op=op.name,
                impl=impl,
                pass_=pass_,
                dtype=str(dtype).removeprefix("torch."),
                size=size,
            )
            try:
                row.update(
                    _time_pass(
                        functools.partial(fn, **options), inputs, pass_, device, args
                    )
                )
            except torch.cuda.OutOfMemoryError:
                row["error"] = "out of memory"
                rows.append(row)
                continue
            if pass_ == "forward":
                with torch.no_grad():
                    out = fn(*(x[:1] for x in inputs), **options)
                row["max_rel_error"] = (
                    (out.double() - expected).abs().max() / expected.abs().max()
                ).item()
            seconds = row["median_ms"] / 1e3
            row["GBps"] = op.bytes(size, dtype, pass_) / seconds / 1e9
            row["TFLOPs"] = op.flops(size, pass_) / seconds / 1e12
            peak = (
                peaks["copy"] / 1e9
                if op.bound == "memory"
                else peaks["matmul"].get(dtype, 0) / 1e12
            )
            row["fraction_of_peak"] = (
                (row["GBps"] if op.bound == "memory" else row["TFLOPs"]) / peak
                if peak
                else None
            )
            row["peak"] = "copy bandwidth" if op.bound == "memory" else "matrix product"
            print(_line(row), flush=True)
            rows.append(row)
    return rows


def _time_pass(fn, inputs, pass_: str, device: str, args) -> dict:
    if pass_ == "forward":

        def call():
            with torch.no_grad():
                return fn(*inputs)
    else:
        out = fn(*inputs)
        dout = torch.randn_like(out)

        def call():
            return torch.autograd.grad(out, inputs, dout, retain_graph=True)

    seconds, runs = median_seconds(
        call, device, warmup=args.warmup, reps=args.reps, budget_s=args.budget
    )
    return {"median_ms": seconds * 1e3, "runs": runs}


def _line(row: dict) -> str:
    size = " ".join(f"{k}={v}" for k, v in row["size"].items())
    rate = (
        f"{row['GBps']:8.2f} GB/s"
        if row["peak"] == "copy bandwidth"
        else f"{row['TFLOPs']:8.3g} TFLOP/s"
    )
    fraction = (
        ""
        if row["fraction_of_peak"] is None
        else f"  {100 * row['fraction_of_peak']:5.1f}% of peak"
    )
    return (
        f"{row['op']:>12} {row['impl']:>10} {row['pass_']:>8} {row['dtype']:>8} "
        f"{size:>28}  {row['median_ms']:10.3f} ms {rate}{fraction}"
    )


def _triton_version() -> str | None:
    try:
        import triton
    except ImportError:
        return None
    return triton.__version__


def _write(
    report: dict, out: Path, started: datetime.datetime, suffix: str = ""
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", report["device"].lower()).strip("-")
    stem = out / f"{started:%Y-%m-%d}-{slug}{suffix}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    stem.with_suffix(".md").write_text(_markdown(report))
    print(f"wrote {stem}.json and .md")
    return stem.with_suffix(".json")


def _markdown(report: dict) -> str:
    peaks = report["peaks"]
    matmul = ", ".join(
        f"{v:.2f} TFLOP/s ({k})" for k, v in peaks["matmul_TFLOPs"].items()
    )
    lines = [
        f"# Benchmarks on {report['device']}, {report['date']}",
        "",
        f"torch {report['torch']}, triton {report['triton'] or 'not installed'}; "
        f"{report['timing']}.",
        f"Measured peaks: copy {peaks['copy_GBps']:.1f} GB/s; matrix product {matmul}.",
    ]
    if report["device_type"] == "cpu":
        lines.append(
            f"CPU timings are noisy on a shared machine (load average "
            f"{report['load_average_at_start']:.2f} at the start); only the PyTorch "
            f"forms run on the CPU."
        )
    lines += [
        "",
        "GB/s and TFLOP/s count the least traffic and arithmetic the op needs; "
        "*of peak* is that rate over the measured copy bandwidth (memory-bound ops) "
        "or matrix-product rate (compute-bound ops). *error*: max |out - ref| / "
        "max |ref| of the forward output against the float64 reference.",
        "",
        "| op | impl | pass | dtype | size | time (ms) | GB/s | TFLOP/s | of peak "
        "| error |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["results"]:
        # each op names its own dimensions
        size = " ".join(f"{k}={v}" for k, v in r["size"].items())
        row = f"| {r['op']} | {r['impl']} | {r['pass_']} | {r['dtype']} | {size} |"
        if "error" in r:
            lines.append(f"{row} {r['error']} | | | | |")
            continue
        error = f"{r['max_rel_error']:.1e}" if "max_rel_error" in r else ""
        lines.append(
            f"{row} {r['median_ms']:.3f} | {r['GBps']:.2f} | {r['TFLOPs']:.3g} | "
            f"{100 * r['fraction_of_peak']:.1f}% | {error} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
