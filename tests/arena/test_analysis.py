"""Chapter 9's results read: crossovers, the table and the triangle's scores, from a
made-up results dict."""

from rnncourse.arena import analysis


def test_crossover_is_the_first_count_below_the_threshold(arena_results):
    results = arena_results
    assert analysis.crossover(results, "lstm") == 4
    assert analysis.crossover(results, "lstm", threshold=0.05) is None
    assert analysis.crossover(results, "transformer") is None
    assert analysis.recall_curve(results, "lstm") == ([2, 4, 8], [0.9, 0.4, 0.1])


def test_table_has_a_row_per_model_with_the_numbers(arena_results):
    text = analysis.table(arena_results)
    lines = text.splitlines()
    assert len(lines) == 4 and lines[0].count("|") == lines[2].count("|") == 11
    assert (
        "| LSTM | 1,000 | 0.40 / 0.10 | 0.50 | 2.50 | 1,000 | "
        "16.00 | 256.00 | 0.8 | 0.8 |" in text
    )


def test_triangle_scores_are_relative_to_the_best(arena_results):
    scores = analysis.triangle_scores(arena_results)
    assert (
        scores["transformer"][0] == 1.0 and scores["lstm"][0] == 0.25
    )  # training throughput
    assert (
        scores["lstm"][1] == 1.0 and scores["transformer"][1] == 0.0
    )  # smallest and largest state at 256
    assert abs(scores["transformer"][2] - (29 / 30 + 0.5 + 1.0) / 3) < 1e-12
