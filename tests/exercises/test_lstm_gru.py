"""Chapter 4's checkers accept the reference and reject planted mistakes, each with its
own sentence."""

import pytest
import torch

from rnncourse.exercises import (
    check_bidirectional,
    check_gru_cell,
    check_lstm_cell,
    check_sample,
)
from rnncourse.exercises.lstm_gru import (
    bidirectional_reference,
    gru_cell_reference,
    lstm_cell_reference,
    sample_reference,
    tiny_char_lm,
)
from rnncourse.nn import GRU, LSTM, gru_cell, lstm_cell
from rnncourse.nn import GRUCell as PackageGRUCell
from rnncourse.nn import LSTMCell as PackageLSTMCell
from rnncourse.nn.sampling import generate, temperature_probs

from ._helpers import _message, _not_solved, _shortcut_message


def test_references_pass(capsys):
    check_lstm_cell(lstm_cell_reference)
    check_gru_cell(gru_cell_reference)
    check_bidirectional(bidirectional_reference)
    check_sample(sample_reference)
    out = capsys.readouterr().out
    assert out.count("correct on all") == 4 and "frequencies" not in out


def _as_torch_cell(module, x, state, W_ih, W_hh, b_ih, b_hh):
    params = {"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh}
    return torch.func.functional_call(module, params, (x, state))


def _cell_case(G: int, states: int):
    g = torch.Generator().manual_seed(7)
    B, D_in, D_h = 3, 4, 5
    shapes = [(B, D_in)] + [(B, D_h)] * states
    shapes += [(G * D_h, D_in), (G * D_h, D_h), (G * D_h,), (G * D_h,)]
    return tuple(torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes)


def _lstm_by_torch(x, h, c, *weights):
    module = torch.nn.LSTMCell(x.shape[1], h.shape[1]).double()
    return _as_torch_cell(module, x, (h, c), *weights)


def _gru_by_torch(x, h, *weights):
    module = torch.nn.GRUCell(x.shape[1], h.shape[1]).double()
    return _as_torch_cell(module, x, h, *weights)


def test_the_cell_references_are_torchs_and_the_package_s_cells():
    args = _cell_case(4, 2)
    x, h, c, W_ih, W_hh, b_ih, b_hh = args
    expected = lstm_cell_reference(*args)
    torch.testing.assert_close(_lstm_by_torch(*args), expected)
    torch.testing.assert_close(lstm_cell(x @ W_ih.T + b_ih, h, c, W_hh, b_hh), expected)
    args = _cell_case(3, 1)
    x, h, W_ih, W_hh, b_ih, b_hh = args
    expected = gru_cell_reference(*args)
    torch.testing.assert_close(_gru_by_torch(*args), expected)
    torch.testing.assert_close(gru_cell(x @ W_ih.T + b_ih, h, W_hh, b_hh), expected)


def _lstm_with_rnn_tanh_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Right, but the candidate g comes from torch's fused Elman cell."""
    D_h = h.shape[1]
    W_ii, W_if, W_ig, W_io = W_ih.split(D_h)
    W_hi, W_hf, W_hg, W_ho = W_hh.split(D_h)
    b_i, b_f, b_g, b_o = (b_ih + b_hh).split(D_h)
    i = torch.sigmoid(x @ W_ii.T + h @ W_hi.T + b_i)
    f = torch.sigmoid(x @ W_if.T + h @ W_hf.T + b_f)
    o = torch.sigmoid(x @ W_io.T + h @ W_ho.T + b_o)
    g = torch.rnn_tanh_cell(x, h, W_ig, W_hg, b_g, torch.zeros_like(b_g))
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


LSTM_SHORTCUTS = {
    "torch.lstm_cell": (
        lambda x, h, c, *w: torch.lstm_cell(x, (h, c), *w),
        "torch.lstm_cell",
    ),
    "torch.nn.LSTMCell": (_lstm_by_torch, "torch.nn.LSTMCell"),
    "the package's lstm_cell": (
        lambda x, h, c, W_ih, W_hh, b_ih, b_hh: lstm_cell(
            x @ W_ih.T + b_ih, h, c, W_hh, b_hh
        ),
        "rnncourse.nn.lstm.lstm_cell",
    ),
    "the package's LSTMCell": (
        lambda x, h, c, *w: _as_torch_cell(
            PackageLSTMCell(x.shape[1], h.shape[1]).double(), x, (h, c), *w
        ),
        "rnncourse.nn.lstm.LSTMCell",
    ),
    "torch.rnn_tanh_cell for the candidate": (
        _lstm_with_rnn_tanh_cell,
        "torch.rnn_tanh_cell",
    ),
}

GRU_SHORTCUTS = {
    "torch.gru_cell": (
        lambda x, h, *w: torch.gru_cell(x, h, *w),
        "torch.gru_cell",
    ),
    "torch.nn.GRUCell": (_gru_by_torch, "torch.nn.GRUCell"),
    "the package's gru_cell": (
        lambda x, h, W_ih, W_hh, b_ih, b_hh: gru_cell(x @ W_ih.T + b_ih, h, W_hh, b_hh),
        "rnncourse.nn.gru.gru_cell",
    ),
    "the package's GRUCell": (
        lambda x, h, *w: _as_torch_cell(
            PackageGRUCell(x.shape[1], h.shape[1]).double(), x, h, *w
        ),
        "rnncourse.nn.gru.GRUCell",
    ),
}


@pytest.mark.parametrize("name", LSTM_SHORTCUTS)
def test_lstm_cell_rejects_shortcuts(name):
    fn, called = LSTM_SHORTCUTS[name]
    args = _cell_case(4, 2)
    _shortcut_message(check_lstm_cell, fn, lstm_cell_reference, args, called)


@pytest.mark.parametrize("name", GRU_SHORTCUTS)
def test_gru_cell_rejects_shortcuts(name):
    fn, called = GRU_SHORTCUTS[name]
    args = _cell_case(3, 1)
    _shortcut_message(check_gru_cell, fn, gru_cell_reference, args, called)


def test_the_bidirectional_reference_matches_torchs_bidirectional_gru():
    torch.manual_seed(0)
    layer = torch.nn.GRU(3, 4, batch_first=True, bidirectional=True).double()
    x, h0 = (
        torch.randn(2, 6, 3, dtype=torch.float64),
        torch.randn(2, 2, 4, dtype=torch.float64),
    )

    def cell(suffix):
        w = [
            getattr(layer, f"{name}_l0{suffix}")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        return lambda x_t, h: gru_cell_reference(x_t, h, *w)

    with torch.no_grad():
        expected, _ = layer(x, h0)
        got = bidirectional_reference(cell(""), cell("_reverse"), x, h0[0], h0[1])
    torch.testing.assert_close(got, expected)


# --- the LSTM cell ------------------------------------------------------------


def _lstm_by_gate(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Correct, written differently: one gate at a time, with einsum."""
    D_h = h.shape[1]

    def pre(k):
        rows = slice(k * D_h, (k + 1) * D_h)
        return (
            torch.einsum("bd,hd->bh", x, W_ih[rows])
            + torch.einsum("bk,hk->bh", h, W_hh[rows])
            + b_ih[rows]
            + b_hh[rows]
        )

    i, f, g, o = (
        torch.sigmoid(pre(0)),
        torch.sigmoid(pre(1)),
        torch.tanh(pre(2)),
        torch.sigmoid(pre(3)),
    )
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def _lstm(
    x,
    h,
    c,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    order="ifgo",
    sig=torch.sigmoid,
    tanh=torch.tanh,
    out=torch.tanh,
    keep=lambda f, c: f * c,
    transpose=False,
):
    a = x @ W_ih + h @ W_hh if transpose else x @ W_ih.T + h @ W_hh.T
    gates = dict(zip(order, (a + b_ih + b_hh).chunk(4, dim=1)))
    i, f, g, o = sig(gates["i"]), sig(gates["f"]), tanh(gates["g"]), sig(gates["o"])
    c_new = keep(f, c) + i * g
    return o * out(c_new), c_new


def test_lstm_cell_accepts_a_solution_written_differently(capsys):
    check_lstm_cell(_lstm_by_gate)
    check_lstm_cell(_lstm)
    assert capsys.readouterr().out.count("correct") == 2


LSTM_PLANTED = {
    "sigmoid and tanh swapped": (
        lambda *a: _lstm(*a, sig=torch.tanh, tanh=torch.sigmoid),
        "sigmoid and tanh are swapped",
    ),
    "forget gate missing": (
        lambda *a: _lstm(*a, keep=lambda f, c: 0),
        "as if the forget gate were missing",
    ),
    "gate order i, f, o, g": (
        lambda *a: _lstm(*a, order="ifog"),
        "in the order i, f, o, g",
    ),
    "gate order f, i, g, o": (
        lambda *a: _lstm(*a, order="figo"),
        "in the order f, i, g, o",
    ),
    "transposed weights": (
        lambda *a: _lstm(*a, transpose=True),
        "x_t @ W_ih.T and h_prev @ W_hh.T",
    ),
    "no tanh on the cell": (
        lambda *a: _lstm(*a, out=lambda c: c),
        "h_t = o_t * tanh(c_t)",
    ),
    "c_t from h": (
        lambda x, h, c, *w: _lstm(x, h, h, *w),
        "uses h_prev where the old cell belongs",
    ),
    "only one bias": (
        lambda x, h, c, Wi, Wh, bi, bh: _lstm(x, h, c, Wi, Wh, bi, 0 * bh),
        "leave out b_hh",
    ),
    "(c, h) returned": (lambda *a: _lstm(*a)[::-1], "(c_t, h_t)"),
    "detached": (lambda *a: tuple(t.detach() for t in _lstm(*a)), "no gradient flows"),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", LSTM_PLANTED)
def test_lstm_cell_rejects(name):
    fn, expected = LSTM_PLANTED[name]
    assert expected in _message(check_lstm_cell, fn)


# --- the GRU cell -------------------------------------------------------------


def _gru(
    x,
    h,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    order="rzn",
    sig=torch.sigmoid,
    tanh=torch.tanh,
    reset="torch",
    swap_z=False,
    transpose=False,
):
    xw = dict(zip(order, (x @ (W_ih if transpose else W_ih.T) + b_ih).chunk(3, dim=1)))
    hw = dict(zip(order, (h @ (W_hh if transpose else W_hh.T) + b_hh).chunk(3, dim=1)))
    r, z = sig(xw["r"] + hw["r"]), sig(xw["z"] + hw["z"])
    W_hn, b_hn = W_hh[2 * h.shape[1] :], b_hh[2 * h.shape[1] :]
    recurrent = {
        "torch": r * hw["n"],
        "paper": (r * h) @ W_hn.T + b_hn,
        "none": hw["n"],
    }[reset]
    n = tanh(xw["n"] + recurrent)
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


def _gru_interpolating(x, h, W_ih, W_hh, b_ih, b_hh):
    """Correct, written differently: h_t = n_t + z_t * (h_{t-1} - n_t), weights split
    with torch.split."""
    D_h = h.shape[1]
    W_ir, W_iz, W_in = W_ih.split(D_h)
    W_hr, W_hz, W_hn = W_hh.split(D_h)
    b_ir, b_iz, b_in = b_ih.split(D_h)
    b_hr, b_hz, b_hn = b_hh.split(D_h)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = torch.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    return n + z * (h - n)


def test_gru_cell_accepts_a_solution_written_differently(capsys):
    check_gru_cell(_gru_interpolating)
    check_gru_cell(_gru)
    assert capsys.readouterr().out.count("correct") == 2


GRU_PLANTED = {
    "reset before the product (Cho et al.)": (
        lambda *a: _gru(*a, reset="paper"),
        "Cho et al.'s paper",
    ),
    "z and 1 - z swapped": (
        lambda *a: _gru(*a, swap_z=True),
        "z_t and 1 - z_t are swapped",
    ),
    "sigmoid and tanh swapped": (
        lambda *a: _gru(*a, sig=torch.tanh, tanh=torch.sigmoid),
        "sigmoid and tanh are swapped",
    ),
    "transposed weights": (
        lambda *a: _gru(*a, transpose=True),
        "x_t @ W_ih.T and h_prev @ W_hh.T",
    ),
    "reset gate missing": (
        lambda *a: _gru(*a, reset="none"),
        "leaves out the reset gate",
    ),
    "gate order z, r, n": (lambda *a: _gru(*a, order="zrn"), "in the order z, r, n"),
    "float32": (lambda *a: _gru(*a).float(), "dtype torch.float32"),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", GRU_PLANTED)
def test_gru_cell_rejects(name):
    fn, expected = GRU_PLANTED[name]
    assert expected in _message(check_gru_cell, fn)


# --- the bidirectional wrapper -------------------------------------------------


def _run(cell, x, h):
    """States after each step of x (B, T, D_in), in reading order: (B, T, D_h)."""
    hs = []
    for t in range(x.shape[1]):
        h = cell(x[:, t], h)
        hs.append(h)
    return torch.stack(hs, dim=1)


def _bidirectional_by_flipping(cell_fw, cell_bw, x, h0_fw, h0_bw):
    """Correct, written differently: the backward pass reads the flipped sequence, then
    flips its outputs back."""
    return torch.cat(
        [_run(cell_fw, x, h0_fw), _run(cell_bw, x.flip(1), h0_bw).flip(1)], dim=2
    )


def test_bidirectional_accepts_a_solution_written_differently(capsys):
    check_bidirectional(_bidirectional_by_flipping)
    assert "correct" in capsys.readouterr().out


BIDIRECTIONAL_PLANTED = {
    "backward outputs not re-reversed": (
        lambda f, b, x, hf, hb: torch.cat([_run(f, x, hf), _run(b, x.flip(1), hb)], -1),
        "left in reading order",
    ),
    "halves swapped": (
        lambda f, b, x, hf, hb: torch.cat(
            [_run(b, x.flip(1), hb).flip(1), _run(f, x, hf)], -1
        ),
        "concatenated in the wrong order",
    ),
    "backward reads forward": (
        lambda f, b, x, hf, hb: torch.cat([_run(f, x, hf), _run(b, x, hb)], -1),
        "reads the sequence forward",
    ),
    "summed": (
        lambda f, b, x, hf, hb: _run(f, x, hf) + _run(b, x.flip(1), hb).flip(1),
        "summed the two directions",
    ),
    "forward only": (lambda f, b, x, hf, hb: _run(f, x, hf), "should have shape"),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", BIDIRECTIONAL_PLANTED)
def test_bidirectional_rejects(name):
    fn, expected = BIDIRECTIONAL_PLANTED[name]
    assert expected in _message(check_bidirectional, fn)


# --- sampling with temperature ------------------------------------------------


def _probs(logits, temperature):
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).double()
    return torch.softmax(logits / temperature, dim=-1)


@torch.no_grad()
def _sample(
    model,
    prompt,
    n,
    temperature,
    generator,
    probs=_probs,
    carry=True,
    late=False,
    with_prompt=False,
    draw=None,
):
    """A hand-written sampler: 1-D probabilities, the draw by torch.multinomial unless
    ``draw`` is given."""
    draw = draw or (lambda p: torch.multinomial(p, 1, generator=generator))
    logits, state = model(prompt[None])
    if late:
        logits, state = model(prompt[-1:][None], state)
    out = []
    for _ in range(n):
        next_id = draw(probs(logits[0, -1], temperature))  # (1,)
        out.append(next_id)
        logits, state = model(next_id[None], state if carry else None)
    ids = torch.cat(out)
    return torch.cat([prompt, ids]) if with_prompt else ids


def _inverse_cdf(generator):
    """Another correct way to draw: the first index whose cumulative probability exceeds
    a uniform number."""

    def draw(p):
        u = torch.rand(1, generator=generator, dtype=p.dtype)
        return torch.searchsorted(p.cumsum(-1), u).clamp(max=p.shape[-1] - 1)

    return draw


@torch.no_grad()
def _sample_rereading(model, prompt, n, temperature, generator):
    """Correct but slow: re-reads the whole text from scratch at every step."""
    text = prompt
    for _ in range(n):
        logits, _ = model(text[None])
        text = torch.cat(
            [
                text,
                torch.multinomial(
                    _probs(logits[0, -1], temperature), 1, generator=generator
                ),
            ]
        )
    return text[len(prompt) :]


def test_sample_accepts_solutions_written_differently(capsys):
    check_sample(_sample)
    check_sample(_sample_rereading)
    out = capsys.readouterr().out
    assert out.count("correct on all 4") == 2 and "frequencies" not in out


def test_sample_accepts_other_draws_with_the_right_frequencies(capsys):
    check_sample(lambda m, p, n, tau, g: _sample(m, p, n, tau, g, draw=_inverse_cdf(g)))
    assert (
        "correct on all 4 test cases, 3 of them by the frequencies"
        in capsys.readouterr().out
    )


def _multiplied(logits, temperature):
    return (
        _probs(logits, 0)
        if temperature == 0
        else torch.softmax(logits * temperature, dim=-1)
    )


SAMPLE_PLANTED = {
    "state not carried": (
        lambda *a: _sample(*a, carry=False),
        "forgets what it has read",
    ),
    "one step late": (lambda *a: _sample(*a, late=True), "starts one step late"),
    "temperature multiplied": (
        lambda *a: _sample(*a, probs=_multiplied),
        "multiplied the logits by the temperature",
    ),
    "prompt returned": (
        lambda *a: _sample(*a, with_prompt=True),
        "returned the prompt as well",
    ),
    "always the arg-max": (
        lambda *a: _sample(*a, probs=lambda z, tau: _probs(z, 0)),
        "always take the arg-max",
    ),
    "no greedy case": (
        lambda m, p, n, tau, g: _sample(
            m, p, n, tau, g, probs=lambda z, t: torch.softmax(z / t, -1)
        ),
        "temperature 0 means greedy",
    ),
    "global random state": (
        lambda m, p, n, tau, g: _sample(m, p, n, tau, None),
        "not reproducible",
    ),
    "other draws, temperature multiplied": (
        lambda m, p, n, tau, g: _sample(
            m, p, n, tau, g, probs=_multiplied, draw=_inverse_cdf(g)
        ),
        "do not follow softmax(logits / temperature)",
    ),
    "a list": (lambda *a: _sample(*a).tolist(), "got a Python list"),
    "not solved": (_not_solved, "not solved yet"),
}


SAMPLE_SHORTCUTS = {
    "model.generate": (
        lambda m, p, n, tau, g: m.generate(p, n, tau, g),
        "rnncourse.nn.char_lm.CharLM.generate",
    ),
    "the package's generate": (
        lambda m, p, n, tau, g: generate(m, p, n, tau, g),
        "rnncourse.nn.sampling.generate",
    ),
}


@pytest.mark.parametrize("name", SAMPLE_SHORTCUTS)
def test_sample_rejects_the_package_s_generation(name):
    fn, called = SAMPLE_SHORTCUTS[name]
    model, prompt = tiny_char_lm(), torch.tensor([1, 2])
    assert torch.equal(
        fn(model, prompt, 6, 1.0, torch.Generator().manual_seed(0)),
        sample_reference(model, prompt, 6, 1.0, torch.Generator().manual_seed(0)),
    )
    message = _message(check_sample, fn)
    assert f"your function calls {called}, which does the exercise for you" in message


def test_sample_may_use_the_package_s_temperature_probs(capsys):
    check_sample(_sample_with_package_probs)
    assert "correct on all 4" in capsys.readouterr().out


@torch.no_grad()
def _sample_with_package_probs(model, prompt_ids, n, temperature, generator):
    """The notebook's solution, with rnncourse.nn.sampling.temperature_probs."""
    logits, state = model(prompt_ids[None])
    ids = []
    for _ in range(n):
        probs = temperature_probs(logits[0, -1], temperature)
        nxt = torch.multinomial(probs, 1, generator=generator)
        ids.append(nxt)
        logits, state = model(nxt[None], state)
    return torch.cat(ids)


@pytest.mark.parametrize("name", SAMPLE_PLANTED)
def test_sample_rejects(name):
    fn, expected = SAMPLE_PLANTED[name]
    assert expected in _message(check_sample, fn)


@pytest.mark.parametrize(
    "checker,planted",
    [
        (check_lstm_cell, LSTM_PLANTED),
        (check_gru_cell, GRU_PLANTED),
        (check_bidirectional, BIDIRECTIONAL_PLANTED),
        (check_sample, SAMPLE_PLANTED),
    ],
)
def test_each_planted_mistake_gets_its_own_message(checker, planted):
    messages = [_message(checker, fn) for fn, _ in planted.values()]
    assert len(set(messages)) == len(messages)


def test_the_tiny_model_is_deterministic_and_leaves_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    a, b = tiny_char_lm(LSTM, 2, seed=3), tiny_char_lm(LSTM, 2, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert isinstance(tiny_char_lm(GRU).rnn, GRU)
