"""The benchmark harness: every op found, every PyTorch form timed and checked,
results written."""

import json

import pytest
import torch

from benchmarks import run
from benchmarks.registry import Op, all_ops


def test_every_op_module_is_registered():
    ops = all_ops()
    assert "linear_scan" in ops
    for op in ops.values():
        assert op.bound in ("memory", "compute") and set(op.sizes) == set(
            op.dtypes
        ) == {"cpu", "cuda"}
        assert op.kernels <= set(op.impls)


@pytest.mark.skipif(run.torch.cuda.is_available(), reason="checks the CPU run")
def test_cpu_run_writes_json_and_markdown(tmp_path):
    path = run.main(
        [
            "--ops",
            "linear_scan",
            "--size",
            "2",
            "9",
            "3",
            "--reps",
            "2",
            "--warmup",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    report = json.loads(path.read_text())
    assert path.name.endswith(
        "-linear_scan.json"
    )  # beside the day's full run, not over it
    assert report["device_type"] == "cpu" and report["peaks"]["copy_GBps"] > 0
    runs = {(r["impl"], r["pass_"]) for r in report["results"]}
    assert runs == {
        (impl, p) for impl in ("loop", "parallel") for p in ("forward", "backward")
    }  # no kernel on a CPU
    for row in report["results"]:
        assert (
            row["median_ms"] > 0
            and 0 < row["fraction_of_peak"]
            and row["size"] == {"B": 2, "T": 9, "D": 3}
        )
        assert row["GBps"] * 1e9 * row["median_ms"] / 1e3 == pytest.approx(
            (3 if row["pass_"] == "forward" else 5) * 2 * 9 * 3 * 4
        )
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
    op = Op(
        name="scaled",
        impls={"scaled": lambda x, scale: seen.append(scale) or x * scale},
        kernels=set(),
        sizes={"cpu": [], "cuda": []},
        dtypes={"cpu": [torch.float32], "cuda": []},
        inputs=lambda size, dtype, device: (
            torch.randn(size["B"], size["T"], dtype=dtype, requires_grad=True),
        ),
        bytes=lambda size, dtype, pass_: 8.0,
        flops=lambda size, pass_: 4.0,
        bound="memory",
        reference=lambda x, scale: x * scale,
        keywords=("scale",),
    )
    rows = run._measure(
        op,
        {"B": 1, "T": 4, "scale": 3},
        torch.float32,
        "cpu",
        {"copy": 1e9, "matmul": {}},
        run._parse(["--reps", "2", "--warmup", "1"]),
    )
    assert [r["pass_"] for r in rows] == ["forward", "backward"] and set(seen) == {3}
    assert rows[0]["max_rel_error"] < 1e-6


def test_attention_counts_flashattention2s_flops_on_its_sizes(monkeypatch):
    from benchmarks.ops import softmax_attention

    op = all_ops()["softmax_attention"]
    size = dict(B=2, H=3, T=128, D=16, causal=False)
    assert op.flops(size, "forward") == 4 * 2 * 3 * 128 * 128 * 16
    assert op.flops(dict(size, causal=True), "forward") == op.flops(size, "forward") / 2
    assert op.flops(size, "backward") == 2.5 * op.flops(size, "forward")
    gpu = op.sizes["cuda"]
    assert {(s["T"], s["D"], s["causal"]) for s in gpu} == {
        (T, D, c)
        for T in (1024, 2048, 4096, 8192, 16384)
        for D in (64, 128)
        for c in (False, True)
    }
    assert all(s["B"] * s["T"] == 16384 and s["H"] * s["D"] == 2048 for s in gpu)
    assert op.dtypes["cuda"] == [torch.bfloat16] and {
        "triton",
        "sdpa",
        "sdpa_flash",
    } <= set(op.impls)
    # the naive form is left out where its T x T matrices would not fit, and on a
    # GPU altogether
    monkeypatch.setattr(
        softmax_attention,
        "available_bytes",
        lambda device: 2 * softmax_attention.naive_bytes(size),
    )
    assert not op.skip("naive", size, "cpu") and op.skip(
        "naive", dict(size, T=129), "cpu"
    )
    assert not op.skip("tiled", dict(size, T=10**6), "cpu") and op.skip(
        "tiled", size, "cuda"
    )


@pytest.mark.skipif(run.torch.cuda.is_available(), reason="checks the CPU run")
def test_attention_runs_causal_and_not_on_the_cpu(tmp_path):
    sizes = [
        ["--size", "B=2", "H=2", "T=37", "D=16", f"causal={c}"]
        for c in ("false", "true")
    ]
    path = run.main(
        [
            "--ops",
            "softmax_attention",
            *sizes[0],
            *sizes[1],
            "--reps",
            "2",
            "--warmup",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    rows = json.loads(path.read_text())["results"]
    assert {(r["impl"], r["size"]["causal"]) for r in rows} == {
        (i, c) for i in ("naive", "tiled", "sdpa") for c in (False, True)
    }
    for row in rows:
        assert row["TFLOPs"] * 1e12 * row["median_ms"] / 1e3 == pytest.approx(
            (1 if row["pass_"] == "forward" else 2.5)
            * 4
            * 2
            * 2
            * 37
            * 37
            * 16
            / (2 if row["size"]["causal"] else 1)
        )
        if row["pass_"] == "forward":
            assert row["max_rel_error"] < 1e-5
