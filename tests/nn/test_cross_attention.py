"""CrossAttention: shapes, masking, weights that sum to one, the three scores, and clear
errors."""

import pytest
import torch

from rnncourse.exercises.seq2seq_attention import additive_score_reference
from rnncourse.nn.cross_attention import CrossAttention, masked_softmax


def _inputs(B=3, S=6, D_q=8, D_k=8, lengths=(6, 4, 1), seed=0):
    g = torch.Generator().manual_seed(seed)
    query, keys = torch.randn(B, D_q, generator=g), torch.randn(B, S, D_k, generator=g)
    mask = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
    return query, keys, mask


@pytest.mark.parametrize("score", ["additive", "dot", "general"])
def test_shapes_masking_and_normalisation(score):
    query, keys, mask = _inputs()
    context, alpha = CrossAttention(8, 8, 5, score)(query, keys, mask)
    assert context.shape == (3, 8) and alpha.shape == (3, 6)
    assert (alpha[~mask] == 0).all(), "padded positions get exactly zero weight"
    torch.testing.assert_close(alpha.sum(1), torch.ones(3))
    torch.testing.assert_close(context, torch.einsum("bs,bsd->bd", alpha, keys))
    assert torch.allclose(context[2], keys[2, 0]), "a source of one position is copied"


@pytest.mark.parametrize("score", ["additive", "dot", "general"])
def test_padding_does_not_change_the_result(score):
    query, keys, mask = _inputs()
    attention = CrossAttention(8, 8, 5, score)
    context, alpha = attention(query, keys, mask)
    noisy = keys.masked_fill(~mask[..., None], 1e3)  # whatever sits in the padding
    context2, alpha2 = attention(query, noisy, mask)
    torch.testing.assert_close(context, context2) and torch.testing.assert_close(
        alpha, alpha2
    )


def test_scores_follow_their_equations():
    query, keys, mask = _inputs(D_q=4, D_k=7)
    additive = CrossAttention(4, 7, 5, "additive").score
    e = additive(query, additive.prepare(keys))
    torch.testing.assert_close(
        e,
        additive_score_reference(
            query, keys, additive.W_q.weight, additive.W_k.weight, additive.v.weight[0]
        ),
    )
    general = CrossAttention(4, 7, score="general").score
    torch.testing.assert_close(
        general(query, general.prepare(keys)),
        torch.einsum("bq,qk,bsk->bs", query, general.W.weight, keys),
    )
    dot = CrossAttention(7, 7, score="dot").score
    q7 = torch.randn(3, 7)
    torch.testing.assert_close(
        dot(q7, dot.prepare(keys)), torch.einsum("bd,bsd->bs", q7, keys)
    )


def test_masked_softmax_gradient_is_zero_on_padding():
    scores = torch.randn(2, 5, requires_grad=True)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    (masked_softmax(scores, mask) * torch.randn(2, 5)).sum().backward()
    assert (scores.grad[~mask] == 0).all()


def test_bad_input_names_the_expected_shape():
    attention = CrossAttention(8, 6, 4)
    query, keys, mask = (
        torch.randn(2, 8),
        torch.randn(2, 5, 6),
        torch.ones(2, 5, dtype=torch.bool),
    )
    with pytest.raises(
        ValueError, match=r"query must have shape \(B, D_q\) with D_q=8"
    ):
        attention(torch.randn(2, 7), keys, mask)
    with pytest.raises(
        ValueError, match=r"keys must have shape \(B, S, D_k\) with B=2 and D_k=6"
    ):
        attention(query, torch.randn(3, 5, 6), mask)
    with pytest.raises(
        ValueError, match=r"mask must be a bool tensor of shape \(B, S\) = \(2, 5\)"
    ):
        attention(query, keys, torch.ones(2, 5))
    with pytest.raises(ValueError, match="at least one True"):
        attention(query, keys, torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="query_size == key_size"):
        CrossAttention(8, 6, score="dot")
    with pytest.raises(ValueError, match="score must be one of"):
        CrossAttention(8, 6, score="cosine")
