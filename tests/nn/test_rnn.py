"""rnncourse.nn.RNN against torch.nn.RNN: every constructor option, same weights, same
outputs."""

import itertools

import pytest
import torch

from rnncourse.nn import RNN

OPTIONS = list(
    itertools.product(
        [1, 2, 3], ["tanh", "relu"], [True, False], [False, True], [False, True]
    )
)


def _pair(num_layers, nonlinearity, bias, batch_first, bidirectional, dropout=0.0):
    kwargs = dict(
        num_layers=num_layers,
        nonlinearity=nonlinearity,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
        dropout=dropout,
    )
    theirs = torch.nn.RNN(5, 7, **kwargs)
    ours = RNN(5, 7, **kwargs)
    ours.load_state_dict(theirs.state_dict())  # strict: the parameter names must agree
    return ours, theirs


@pytest.mark.parametrize(
    "num_layers,nonlinearity,bias,batch_first,bidirectional", OPTIONS
)
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_torch(
    num_layers, nonlinearity, bias, batch_first, bidirectional, with_h0
):
    torch.manual_seed(0)
    ours, theirs = _pair(num_layers, nonlinearity, bias, batch_first, bidirectional)
    B, T = 3, 6
    x = torch.randn((B, T, 5) if batch_first else (T, B, 5))
    h0 = (
        torch.randn(num_layers * (2 if bidirectional else 1), B, 7) if with_h0 else None
    )
    out, h_n = ours(x, h0)
    ref_out, ref_h_n = theirs(x, h0)
    assert out.shape == ref_out.shape and h_n.shape == ref_h_n.shape
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-6)
    torch.testing.assert_close(h_n, ref_h_n, rtol=0, atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradients_match_torch(bidirectional):
    torch.manual_seed(1)
    ours, theirs = _pair(2, "tanh", True, True, bidirectional)
    x = torch.randn(2, 5, 5)
    (ours(x)[0] ** 2).sum().backward()
    (theirs(x)[0] ** 2).sum().backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("with_h0", [False, True])
def test_unbatched_input_matches_torch(with_h0):
    torch.manual_seed(2)
    ours, theirs = _pair(2, "tanh", True, False, True)
    x = torch.randn(4, 5)  # (T, D_in)
    h0 = torch.randn(4, 7) if with_h0 else None
    for a, b in zip(ours(x, h0), theirs(x, h0)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_dropout_acts_between_layers_only_in_training():
    torch.manual_seed(3)
    ours, theirs = _pair(3, "tanh", True, True, False, dropout=0.5)
    x = torch.randn(2, 4, 5)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], rtol=0, atol=1e-6)
    ours.train()
    assert not torch.allclose(ours(x)[0], theirs(x)[0])


def test_single_layer_dropout_warns_like_torch():
    with pytest.warns(UserWarning, match="dropout"):
        RNN(3, 4, dropout=0.3)


def test_parameter_shapes_and_init_match_torch():
    ours, theirs = (
        RNN(5, 7, num_layers=2, bidirectional=True),
        torch.nn.RNN(5, 7, num_layers=2, bidirectional=True),
    )
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in theirs.named_parameters()
    ]
    assert all(p.abs().max() <= 7**-0.5 for p in ours.parameters())


def test_float64_and_dtype_argument():
    ours = RNN(3, 4, dtype=torch.float64)
    out, h = ours(torch.randn(5, 2, 3, dtype=torch.float64))
    assert out.dtype == h.dtype == torch.float64


@pytest.mark.parametrize(
    "shape,match",
    [
        ((2, 3, 4, 5), r"\(T, B, D\) or \(T, D\) with D=5"),  # wrong rank
        ((6, 2, 4), r"5 features .* D=5"),  # wrong feature size
        ((0, 2, 5), "empty sequence"),
    ],
)
def test_bad_input_shapes(shape, match):
    with pytest.raises(ValueError, match=match):
        RNN(5, 7)(torch.randn(shape))


@pytest.mark.parametrize("h0_shape", [(1, 3, 7), (2, 2, 7), (2, 3, 6), (2, 7)])
def test_mismatched_h0_names_expected_shape(h0_shape):
    rnn = RNN(5, 7, num_layers=2)
    with pytest.raises(ValueError, match=r"hx must have shape \(2, 3, 7\)"):
        rnn(torch.randn(4, 3, 5), torch.randn(h0_shape))


def test_wrong_dtype_is_an_error_not_a_silent_cast():
    with pytest.raises(ValueError, match="dtype torch.float32"):
        RNN(5, 7)(torch.randn(4, 3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="dtype torch.float32"):
        RNN(5, 7)(torch.randn(4, 3, 5), torch.randn(1, 3, 7, dtype=torch.float64))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(5, 7, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        RNN(5, 7, num_layers=2, dropout=1.5)
