"""RNN, LSTM and GRU against their torch twins: every option, packed input, gradients,
bad input.

The three layers share rnncourse/nn/recurrent.py, so one set of tests covers
what they share; test_rnn.py adds what only the Elman RNN has.
"""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnncourse.nn import GRU, LSTM, RNN

PAIRS = {
    "RNN": (RNN, torch.nn.RNN),
    "LSTM": (LSTM, torch.nn.LSTM),
    "GRU": (GRU, torch.nn.GRU),
}
OPTIONS = list(itertools.product([1, 2], [True, False], [False, True], [False, True]))


def _pair(kind, **kwargs):
    ours_cls, theirs_cls = PAIRS[kind]
    theirs = theirs_cls(5, 7, **kwargs)
    ours = ours_cls(5, 7, **kwargs)
    ours.load_state_dict(theirs.state_dict())  # strict: every parameter name must agree
    return ours, theirs


def _initial_state(kind, layers_dirs, B, proj_size=0):
    h0 = torch.randn(layers_dirs, B, proj_size or 7)
    return (h0, torch.randn(layers_dirs, B, 7)) if kind == "LSTM" else h0


def _assert_same(ours, theirs, atol=1e-6):
    if isinstance(
        theirs, torch.nn.utils.rnn.PackedSequence
    ):  # (a named tuple, so checked first)
        assert isinstance(ours, torch.nn.utils.rnn.PackedSequence)
        assert torch.equal(ours.batch_sizes, theirs.batch_sizes)
        torch.testing.assert_close(ours.data, theirs.data, rtol=0, atol=atol)
    elif isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_same(a, b, atol)
    else:
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=0, atol=atol)


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("num_layers,bias,batch_first,bidirectional", OPTIONS)
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_torch(kind, num_layers, bias, batch_first, bidirectional, with_state):
    torch.manual_seed(0)
    ours, theirs = _pair(
        kind,
        num_layers=num_layers,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
    )
    x = torch.randn((3, 6, 5) if batch_first else (6, 3, 5))
    state = (
        _initial_state(kind, num_layers * (1 + bidirectional), 3)
        if with_state
        else None
    )
    _assert_same(ours(x, state), theirs(x, state))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_projection_matches_torch(bidirectional, with_state):
    torch.manual_seed(1)
    ours, theirs = _pair(
        "LSTM", num_layers=2, proj_size=3, bidirectional=bidirectional, batch_first=True
    )
    x = torch.randn(4, 5, 5)
    state = (
        _initial_state("LSTM", 2 * (1 + bidirectional), 4, proj_size=3)
        if with_state
        else None
    )
    _assert_same(ours(x, state), theirs(x, state))


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_packed_sequences_match_torch(kind, bidirectional, enforce_sorted):
    torch.manual_seed(2)
    ours, theirs = _pair(kind, num_layers=2, bidirectional=bidirectional)
    lengths = (
        torch.tensor([6, 4, 4, 1]) if enforce_sorted else torch.tensor([3, 6, 1, 4])
    )
    x = torch.randn(6, 4, 5)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    state = _initial_state(kind, 2 * (1 + bidirectional), 4)
    for hx in (None, state):
        _assert_same(ours(packed, hx), theirs(packed, hx))


@pytest.mark.parametrize("kind", PAIRS)
def test_gradients_match_torch(kind):
    torch.manual_seed(3)
    ours, theirs = _pair(kind, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(2, 5, 5, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    (ours(x)[0] ** 2).sum().backward()
    (theirs(x_ref)[0] ** 2).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("kind", PAIRS)
def test_precomputed_input_gives_the_same_result(kind):
    torch.manual_seed(4)
    slow = PAIRS[kind][0](5, 7, num_layers=2, bidirectional=True)
    fast = PAIRS[kind][0](5, 7, num_layers=2, bidirectional=True, precompute_input=True)
    fast.load_state_dict(slow.state_dict())
    x = torch.randn(8, 3, 5)
    _assert_same(fast(x), slow(x), atol=1e-6)


@pytest.mark.parametrize("kind", PAIRS)
def test_unbatched_and_dropout(kind):
    torch.manual_seed(5)
    ours, theirs = _pair(kind, num_layers=2, dropout=0.5)
    x = torch.randn(4, 5)  # (T, D_in)
    ours.eval(), theirs.eval()
    _assert_same(ours(x), theirs(x))
    ours.train()
    assert not torch.allclose(ours(x)[0], theirs(x)[0])


@pytest.mark.parametrize("kind", PAIRS)
def test_parameter_names_and_shapes_match_torch(kind):
    kwargs = dict(
        num_layers=2, bidirectional=True, **({"proj_size": 3} if kind == "LSTM" else {})
    )
    ours, theirs = PAIRS[kind][0](5, 7, **kwargs), PAIRS[kind][1](5, 7, **kwargs)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in theirs.named_parameters()
    ]


def test_lstm_state_errors_name_the_expected_shapes():
    lstm = LSTM(5, 7, num_layers=2)
    x = torch.randn(4, 3, 5)
    with pytest.raises(ValueError, match=r"h_0 and c_0"):
        lstm(x, torch.zeros(2, 3, 7))
    with pytest.raises(ValueError, match=r"c_0 must have shape \(2, 3, 7\)"):
        lstm(x, (torch.zeros(2, 3, 7), torch.zeros(2, 3, 6)))


def test_bad_packed_input_and_projection():
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        GRU(5, 7)(pack_padded_sequence(torch.randn(4, 2, 6), torch.tensor([4, 2])))
    with pytest.raises(ValueError, match="proj_size"):
        LSTM(5, 7, proj_size=7)


CELLS = {
    "RNNCell": (torch.nn.RNNCell,),
    "LSTMCell": (torch.nn.LSTMCell,),
    "GRUCell": (torch.nn.GRUCell,),
}


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
def test_cells_match_torch(name, bias, batched, with_state):
    import rnncourse.nn as ours_nn

    torch.manual_seed(6)
    theirs = CELLS[name][0](5, 7, bias=bias)
    ours = getattr(ours_nn, name)(5, 7, bias=bias)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 5) if batched else torch.randn(5)
    shape = (3, 7) if batched else (7,)
    state = None
    if with_state:
        state = (
            (torch.randn(shape), torch.randn(shape))
            if name == "LSTMCell"
            else torch.randn(shape)
        )
    _assert_same(ours(x, state), theirs(x, state))


def test_cell_bad_input():
    from rnncourse.nn import LSTMCell

    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 5\)"):
        LSTMCell(5, 7)(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"the state must have shape \(3, 7\)"):
        LSTMCell(5, 7)(torch.randn(3, 5), (torch.zeros(3, 7), torch.zeros(2, 7)))
