"""RWKV-4: RNN mode (one token at a time with the state) equals the parallel forward;
the state's size; training lowers the loss; bad input."""

import pytest
import torch
import torch.nn.functional as F

from rnncourse.nn.rwkv import RWKV, RWKVConfig, state_numbers
from rnncourse.nn.sampling import token_by_token
from rnncourse.training import seed_everything


def _model(**options):
    seed_everything(0)
    return RWKV(RWKVConfig(vocab_size=11, d_model=16, n_layers=2, **options)).double()


def _scramble(model):
    """Random weights everywhere, so the check does not rest on the small initial
    embeddings."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def test_rnn_mode_equals_parallel_forward():
    model = _scramble(_model())
    idx = torch.randint(0, 11, (3, 25), generator=torch.Generator().manual_seed(1))
    logits, _ = model(idx)
    assert (token_by_token(model, idx) - logits).abs().max() < 1e-10


def test_two_pieces_equal_one_pass_and_naive_wkv_agrees():
    model = _scramble(_model())
    idx = torch.randint(0, 11, (2, 30), generator=torch.Generator().manual_seed(2))
    logits, _ = model(idx)
    first, state = model(idx[:, :12])
    second, _ = model(idx[:, 12:], state)
    assert (torch.cat([first, second], dim=1) - logits).abs().max() < 1e-10
    model.impl = "naive"  # the formula as written: the same numbers at these small keys
    assert (model(idx)[0] - logits).abs().max() < 1e-10


def test_state_size_is_fixed():
    model = _model()
    _, state = model(torch.zeros(2, 5, dtype=torch.long))
    assert state_numbers(state) == 2 * 2 * 5 * 16  # layers * batch * 5 d
    _, state = model(torch.zeros(2, 1, dtype=torch.long), state)
    assert state_numbers(state) == 2 * 2 * 5 * 16


def test_gradients_reach_every_parameter_and_training_lowers_the_loss():
    model = _model()
    # a repeating sequence: easy to learn
    idx = torch.arange(33).remainder(11)[None].repeat(4, 1)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        logits, _ = model(idx[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 11), idx[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        if not losses:
            assert all(
                p.grad is not None and p.grad.abs().sum() > 0
                for p in model.parameters()
            )
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_generate_continues_the_prompt():
    model = _model()
    out = model.generate(
        torch.tensor([1, 2, 3]), 7, generator=torch.Generator().manual_seed(0)
    )
    assert (
        out.shape == (7,)
        and out.dtype == torch.long
        and ((0 <= out) & (out < 11)).all()
    )


def test_state_of_the_wrong_depth_is_refused():
    model = _model()
    _, state = model(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="one LayerState per block \\(2\\), got 1"):
        model(torch.zeros(1, 1, dtype=torch.long), state[:1])
