"""The Mamba block and tagger: causal, both SSM kinds, in pieces with the state."""

import pytest
import torch

from rnncourse.nn.mamba import MambaBlock, MambaTagger
from rnncourse.nn.short_conv import ShortConvolution


@pytest.mark.parametrize("ssm", ["selective", "s4d"])
def test_tagger_is_causal(ssm):
    torch.manual_seed(0)
    model = MambaTagger(
        vocab_size=10, n_classes=8, d_model=8, n_layers=2, ssm=ssm, d_state=4
    )
    tokens = torch.randint(0, 10, (3, 20))
    changed = tokens.clone()
    changed[:, 12] = (changed[:, 12] + 1) % 10
    logits, logits_changed = model(tokens), model(changed)
    assert logits.shape == (3, 20, 8)
    # the past does not see the future
    torch.testing.assert_close(logits[:, :12], logits_changed[:, :12])
    assert not torch.allclose(logits[:, 12:], logits_changed[:, 12:])


def test_block_kinds_have_their_ssm():
    assert type(MambaBlock(4, "selective").ssm).__name__ == "SelectiveSSM"
    assert type(MambaBlock(4, "s4d").ssm).__name__ == "S4D"
    with pytest.raises(ValueError, match="'selective' or 's4d'"):
        MambaBlock(4, "lstm")


def test_block_fed_in_pieces_with_its_state_equals_the_whole():
    torch.manual_seed(0)
    block = MambaBlock(8, "selective", d_state=4).double()
    x = torch.randn(2, 11, 8, dtype=torch.float64)
    whole = block(x)
    out, state = block.forward_with_state(x[:, :5])
    pieces = [out]
    for t in range(5, 11):  # then one token at a time
        out, state = block.forward_with_state(x[:, t : t + 1], state)
        pieces.append(out)
    assert (torch.cat(pieces, dim=1) - whole).abs().max() < 1e-12
    assert state.conv.shape == (2, 3, 16) and state.ssm.shape == (2, 16, 4)
    with pytest.raises(ValueError, match="selective SSM"):
        MambaBlock(8, "s4d").forward_with_state(x.float())


def test_block_run_token_by_token_with_its_state_equals_the_whole():
    torch.manual_seed(1)
    block = MambaBlock(6, "selective", d_state=3, d_conv=3).double()
    x = torch.randn(3, 8, 6, dtype=torch.float64)
    state, steps = None, []
    for t in range(8):
        out, state = block.forward_with_state(x[:, t : t + 1], state)
        steps.append(out)
    assert (torch.cat(steps, dim=1) - block(x)).abs().max() < 1e-12
    last_inputs = block.in_proj(x)[:, -2:, :12]  # the convolution's last d_conv - 1
    assert torch.allclose(state.conv, last_inputs, rtol=0, atol=1e-12)


def test_block_convolution_is_the_short_convolution_initialised_as_torch_conv1d():
    """The causal convolution is ``ShortConvolution``, drawn from the generator where
    Mamba's ``nn.Conv1d`` is: a seeded block has the weights of Mamba's layout."""
    block = MambaBlock(4, "selective", d_state=2, d_conv=4)
    assert isinstance(block.short_conv, ShortConvolution)
    torch.manual_seed(3)
    block = MambaBlock(4, "selective", d_state=2, d_conv=4)
    torch.manual_seed(3)
    in_proj = torch.nn.Linear(4, 16)
    conv1d = torch.nn.Conv1d(8, 8, 4, groups=8, padding=3)
    assert torch.equal(block.in_proj.weight, in_proj.weight)
    assert torch.equal(block.short_conv.conv.weight, conv1d.weight)
    assert torch.equal(block.short_conv.conv.bias, conv1d.bias)
