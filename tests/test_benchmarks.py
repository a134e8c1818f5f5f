"""The benchmark harness: every op found, every PyTorch form timed and checked, results written."""
import json

import pytest
import torch

from benchmarks import run
from benchmarks.registry import Op, all_ops


def test_every_op_module_is_registered():
    ops = all_ops()
    assert "linear_scan" in ops
    for op in ops.values():
        assert op.bound in ("memory", "compute") and set(op.sizes) == set(op.dtypes) == {"cpu", "cuda"}
        assert op.kernels <= set(op.impls)


@pytest.mark.skipif(run.torch.cuda.is_available(), reason="checks the CPU run")
def test_cpu_run_writes_json_and_markdown(tmp_path):
    path = run.main(["--ops", "linear_scan", "--size", "2", "9", "3", "--reps", "2", "--warmup", "1", "--out", str(tmp_path)])
    report = json.loads(path.read_text())
    assert report["device_type"] == "cpu" and report["peaks"]["copy_GBps"] > 0
    runs = {(r["impl"], r["pass_"]) for r in report["results"]}
    assert runs == {(impl, p) for impl in ("loop", "parallel") for p in ("forward", "backward")}  # no kernel on a CPU
    for row in report["results"]:
        assert row["median_ms"] > 0 and 0 < row["fraction_of_peak"] and row["size"] == {"B": 2, "T": 9, "D": 3}
        assert row["GBps"] * 1e9 * row["median_ms"] / 1e3 == pytest.approx((3 if row["pass_"] == "forward" else 5) * 2 * 9 * 3 * 4)
        if row["pass_"] == "forward":
            assert row["max_rel_error"] < 1e-6
    table = path.with_suffix(".md").read_text()
    assert report["device"] in table and table.count("| linear_scan |") == 4


def test_sizes_by_name_and_their_options_reach_every_implementation():
    assert run._size(["2", "9", "3"]) == {"B": 2, "T": 9, "D": 3}
    assert run._size(["B=1", "T=9", "causal=true"]) == {"B": 1, "T": 9, "causal": True}
    with pytest.raises(SystemExit, match="B T D or KEY=VALUE"):
        run._size(["B=1", "9"])
    seen = []
    op = Op(name="scaled", impls={"scaled": lambda x, scale: seen.append(scale) or x * scale}, kernels=set(),
            sizes={"cpu": [], "cuda": []}, dtypes={"cpu": [torch.float32], "cuda": []},
            inputs=lambda size, dtype, device: (torch.randn(size["B"], size["T"], dtype=dtype, requires_grad=True),),
            bytes=lambda size, dtype, pass_: 8.0, flops=lambda size, pass_: 4.0, bound="memory",
            reference=lambda x, scale: x * scale, keywords=("scale",))
    rows = run._measure(op, {"B": 1, "T": 4, "scale": 3}, torch.float32, "cpu", {"copy": 1e9, "matmul": {}},
                        run._parse(["--reps", "2", "--warmup", "1"]))
    assert [r["pass_"] for r in rows] == ["forward", "backward"] and set(seen) == {3}
    assert rows[0]["max_rel_error"] < 1e-6
