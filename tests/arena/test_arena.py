"""Chapter 9's arena: the models' sizes match, everything runs on a tiny budget, the
inference costs behave as the architectures say, and the cached results match the code
that produced them."""

import json

import pytest

from rnncourse import arena
from rnncourse.data.recall import associative_recall
from rnncourse.data.selective_copy import selective_copy
from rnncourse.data.text import char_corpus
from rnncourse.measure import n_params
from rnncourse.nn import build


@pytest.mark.parametrize(
    "vocab",
    [
        associative_recall(1, 2).vocab_size,
        selective_copy(1).vocab_size,
        len(char_corpus().vocab),
    ],
)
def test_parameter_counts_match_within_ten_percent(vocab):
    counts = {
        name: n_params(build(config)) for name, config in arena.configs(vocab).items()
    }
    assert set(counts) == set(arena.MODELS)
    assert max(counts.values()) <= 1.10 * min(counts.values()), counts


def test_tiny_run_and_inference_costs():
    results = arena.run(
        arena.QUICK, models=("transformer", "mamba"), log=lambda *a: None
    )
    assert results["source_hash"] == arena.source_hash(arena.QUICK)
    for name in ("transformer", "mamba"):
        row = results["models"][name]
        assert set(row["recall"]["accuracy"]) == set(arena.QUICK.pairs)
        assert (
            0 <= row["copy"]["accuracy"] <= 1
            and row["text"]["bpc"] > 0
            and row["text"]["tokens_per_s"] > 0
        )
        assert set(row["inference"]) == set(arena.QUICK.contexts)
    cache = results["models"]["transformer"]["inference"]
    state = results["models"]["mamba"]["inference"]
    short, long = arena.QUICK.contexts
    assert (
        cache[long]["state_bytes"] == cache[short]["state_bytes"] * long // short
    )  # the KV cache grows
    assert (
        state[long]["state_bytes"] == state[short]["state_bytes"]
    )  # the recurrent state does not
    json.dumps(results)  # JSON-ready
    for name, (base, changes) in arena.ABLATIONS.items():
        row = results["ablations"][name]
        assert (row["base"], row["changes"]) == (base, changes) and set(
            row["recall"]["accuracy"]
        ) == set(arena.QUICK.pairs)
    assert results["ablations"]["retnet_no_conv"]["params"] < arena.n_params(
        arena.build(arena.configs(associative_recall(1, 2).vocab_size)["retnet"])
    )  # the convolution's weights are gone


def test_models_measured_in_parallel_processes_come_back_in_order():
    results = arena.run(
        arena.QUICK,
        models=("rwkv", "lstm"),
        jobs=2,
        ablations=("retnet_no_conv",),
        log=lambda *a: None,
    )
    assert list(results["models"]) == ["rwkv", "lstm"] and list(
        results["ablations"]
    ) == ["retnet_no_conv"]
    assert results["seconds"] > 0
    assert results["machine"]["jobs"] == 2 and results["machine"]["threads"] == 1
    assert all(
        set(row["recall"]["accuracy"]) == set(arena.QUICK.pairs)
        for row in results["models"].values()
    )


def test_hash_follows_the_code_not_the_prose():
    same = arena._code('def f(x):\n    """Doc."""\n    return x + 1  # one\n')
    assert same == arena._code("def f(x):\n    return x + 1\n")
    assert same != arena._code("def f(x):\n    return x + 2\n")
    assert arena.source_hash() != arena.source_hash(
        arena.QUICK
    )  # the budget is part of it


def test_cached_results_match_the_code(tmp_path):
    """`make arena` wrote rnncourse/arena.json from today's code and budget; a stale
    file is refused."""
    results = arena.load()
    assert set(results["models"]) == set(arena.MODELS) and set(
        results["ablations"]
    ) == set(arena.ABLATIONS)
    stale = dict(results, source_hash="0" * 64)
    (tmp_path / "stale.json").write_text(json.dumps(stale))
    with pytest.raises(ValueError, match="run `make arena`"):
        arena.load(tmp_path / "stale.json")
    with pytest.raises(ValueError, match="no arena results"):
        arena.load(tmp_path / "missing.json")
