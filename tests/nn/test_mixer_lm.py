"""Chapter 9's decoder models (transformer, RetNet and its hybrid, Mamba): forward and
backward on a tiny batch, causal, token-by-token generation with the state equals the
parallel forward, bad input."""

import pytest
import torch
import torch.nn.functional as F

from rnncourse.measure import state_tensors
from rnncourse.nn.mamba_lm import Mamba, MambaConfig
from rnncourse.nn.mixer_lm import MixerLMState
from rnncourse.nn.retnet_lm import RetNet, RetNetConfig
from rnncourse.nn.sampling import token_by_token
from rnncourse.nn.transformer import KVCache, Transformer, TransformerConfig
from rnncourse.training import seed_everything

V = 13
MODELS = {
    "transformer": lambda: Transformer(
        TransformerConfig(V, d_model=16, n_layers=2, n_heads=2)
    ),
    "retnet": lambda: RetNet(RetNetConfig(V, d_model=16, n_layers=2, n_heads=2)),
    "hybrid": lambda: RetNet(
        RetNetConfig(V, d_model=16, n_layers=3, n_heads=2, attention_layers=(1,))
    ),
    "mamba": lambda: Mamba(MambaConfig(V, d_model=16, n_layers=2, d_state=4)),
}


def _model(name):
    seed_everything(0)
    return MODELS[name]().double()


def _ids(B, T, seed=1):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", MODELS)
def test_forward_and_backward_reach_every_parameter(name):
    model = _model(name)
    idx = _ids(2, 9)
    logits, state = model(idx)
    assert (
        logits.shape == (2, 9, V)
        and isinstance(state, MixerLMState)
        and state.offset == 9
    )
    F.cross_entropy(logits[:, :-1].flatten(0, 1), idx[:, 1:].flatten()).backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing, f"no gradient reached {missing}"


@pytest.mark.parametrize("name", MODELS)
def test_token_by_token_with_the_state_equals_the_parallel_forward(name):
    model = _model(name)
    idx = _ids(3, 21)
    logits, _ = model(idx)
    assert (token_by_token(model, idx) - logits).abs().max() < 1e-10
    # in two pieces: a prompt, then the rest in one call
    first, state = model(idx[:, :8])
    second, _ = model(idx[:, 8:], state)
    assert (torch.cat([first, second], dim=1) - logits).abs().max() < 1e-10


@pytest.mark.parametrize("name", MODELS)
def test_causal(name):
    model = _model(name)
    idx = _ids(2, 15)
    changed = idx.clone()
    changed[:, 10] = (changed[:, 10] + 1) % V
    a, b = model(idx)[0], model(changed)[0]
    assert (a[:, :10] - b[:, :10]).abs().max() < 1e-12 and (
        a[:, 10:] - b[:, 10:]
    ).abs().max() > 1e-6


def test_transformer_attention_against_a_float64_softmax_loop():
    """Each attention head, recomputed position by position from the weights, with the
    rotation."""
    model = _model("transformer")
    layer = model.blocks[0].mixer
    x = torch.randn(
        2, 7, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    y, cache = layer(x)
    q, k, v = (
        t.view(2, 7, 2, 8).transpose(1, 2) for t in layer.qkv(x).chunk(3, dim=-1)
    )
    from rnncourse.nn.retnet import rotate

    q, k = rotate(q), rotate(k)
    out = torch.zeros_like(q)
    for t in range(7):
        weights = torch.softmax(
            q[:, :, t : t + 1] @ k[:, :, : t + 1].transpose(-1, -2) / 8**0.5, dim=-1
        )
        out[:, :, t] = (weights @ v[:, :, : t + 1])[:, :, 0]
    expected = layer.o_proj(out.transpose(1, 2).reshape(2, 7, 16))
    assert (y - expected).abs().max() < 1e-12
    assert isinstance(cache, KVCache) and cache.k.shape == (2, 2, 7, 8)


def test_state_sizes():
    """The transformer's cache grows with the tokens read; the others' states do not."""
    sizes = {}
    for name in MODELS:
        model = _model(name)
        _, short = model(_ids(1, 5))
        _, long = model(_ids(1, 50))
        sizes[name] = (
            sum(t.numel() for t in state_tensors(short)),
            sum(t.numel() for t in state_tensors(long)),
        )
    # layers * (k, v) * T * d
    assert sizes["transformer"] == (
        2 * 2 * 5 * 16,
        2 * 2 * 50 * 16,
    )
    # layers * (heads * d_h * d_h + conv window)
    assert sizes["retnet"][0] == sizes["retnet"][1] == 2 * (2 * 8 * 8 + 3 * 16)
    # layers * (conv window + E * N)
    assert sizes["mamba"][0] == sizes["mamba"][1] == 2 * (3 * 32 + 32 * 4)
    # only its attention block grows
    assert sizes["hybrid"][1] - sizes["hybrid"][0] == 2 * 45 * 16


def test_bad_input():
    model = _model("retnet")
    with pytest.raises(ValueError, match="attention_layers must name blocks 0..1"):
        RetNet(
            RetNetConfig(V, d_model=16, n_layers=2, n_heads=2, attention_layers=(2,))
        )
    with pytest.raises(ValueError, match="one entry per block"):
        model(_ids(1, 2), MixerLMState(2, []))


def test_generate():
    model = _model("mamba")
    out = model.generate(
        torch.tensor([1, 2, 3]), 6, generator=torch.Generator().manual_seed(0)
    )
    assert (
        out.shape == (6,) and out.dtype == torch.long and ((0 <= out) & (out < V)).all()
    )
