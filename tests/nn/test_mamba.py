"""The Mamba block and tagger: causal, both SSM kinds, clear errors for bad tokens."""

import pytest
import torch

from rnncourse.nn.mamba import MambaBlock, MambaTagger


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
    torch.testing.assert_close(
        logits[:, :12], logits_changed[:, :12]
    )  # the past does not see the future
    assert not torch.allclose(logits[:, 12:], logits_changed[:, 12:])


def test_block_kinds_have_their_ssm():
    assert type(MambaBlock(4, "selective").ssm).__name__ == "SelectiveSSM"
    assert type(MambaBlock(4, "s4d").ssm).__name__ == "S4D"
    with pytest.raises(ValueError, match="'selective' or 's4d'"):
        MambaBlock(4, "lstm")


def test_bad_tokens():
    model = MambaTagger(vocab_size=10, n_classes=8, d_model=8)
    with pytest.raises(ValueError, match="int64 tensor of shape"):
        model(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"ids in \[0, 10\)"):
        model(torch.full((2, 5), 10))
    with pytest.raises(ValueError, match="non-empty"):
        model(torch.zeros(2, 0, dtype=torch.long))


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
