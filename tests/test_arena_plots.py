"""Chapter 9's table and figures: read from a results dict shaped as rnncourse.arena.load returns it."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnncourse import arena_plots  # noqa: E402


def _results():
    """Two made-up models in the arena's JSON layout (string keys, as json.loads gives them)."""
    def row(acc, bpc, speed, cache):
        return {"params": {"text": 1000}, "recall": {"accuracy": dict(zip(["2", "4", "8"], acc))},
                "copy": {"accuracy": 0.5}, "text": {"bpc": bpc, "tokens_per_s": speed},
                "inference": {str(c): {"seconds_per_token": 1e-3 * c, "state_bytes": cache(c)} for c in (16, 256)}}
    models = {"transformer": row([1.0, 1.0, 0.9], 2.0, 4000.0, lambda c: 100 * c),
              "lstm": row([0.9, 0.4, 0.1], 2.5, 1000.0, lambda c: 800)}
    return json.loads(json.dumps({"budget": {"pairs": [2, 4, 8]}, "models": models}))


def test_crossover_is_the_first_count_below_the_threshold():
    results = _results()
    assert arena_plots.crossover(results, "lstm") == 4
    assert arena_plots.crossover(results, "lstm", threshold=0.05) is None
    assert arena_plots.crossover(results, "transformer") is None
    assert arena_plots.recall_curve(results, "lstm") == ([2, 4, 8], [0.9, 0.4, 0.1])


def test_table_has_a_row_per_model_with_the_numbers():
    text = arena_plots.table(_results())
    lines = text.splitlines()
    assert len(lines) == 4 and lines[0].count("|") == lines[2].count("|") == 11
    assert "| LSTM | 1,000 | 0.40 / 0.10 | 0.50 | 2.50 | 1,000 | 16.00 | 256.00 | 0.8 | 0.8 |" in text


def test_triangle_scores_are_relative_to_the_best():
    scores = arena_plots.triangle_scores(_results())
    assert scores["transformer"][0] == 1.0 and scores["lstm"][0] == 0.25  # training throughput
    assert scores["lstm"][1] == 1.0 and scores["transformer"][1] == 0.0  # smallest and largest state at 256
    assert abs(scores["transformer"][2] - (29 / 30 + 0.5 + 1.0) / 3) < 1e-12


def test_figures_draw():
    results = _results()
    for draw in (arena_plots.plot_recall, arena_plots.plot_inference, arena_plots.plot_triangle):
        ax = draw(results)
        assert ax.get_legend() is not None
        plt.close("all")
