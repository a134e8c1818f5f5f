"""Chapter 7's checkers accept every right answer and reject planted wrong ones, each
with its own sentence: the usual mistakes, answers that overflow at the ranges real use
reaches, a chunk computed token by token, shapes the answer forgot, shortcuts and odd
return values."""

import math

import pytest
import torch

from rnncourse.exercises import (
    check_linear_attention_chunk,
    check_linear_attention_recurrent,
    check_wkv_step,
)
from rnncourse.exercises.checker import Dataflow
from rnncourse.exercises.linear_attention import (
    chunk_reference,
    recurrent_reference,
    wkv_step_reference,
)
from rnncourse.ops.linear_attention import (
    linear_attention,
    linear_attention_chunk,
    linear_attention_parallel,
    linear_attention_recurrent,
)
from rnncourse.ops.wkv4 import WKV4State, wkv4_loop

from ._helpers import _accepting, _each_its_own_message, _not_solved, _rejecting

pytestmark = pytest.mark.usefixtures("one_thread")


def _via(op, q, k, v, gamma, **kw):
    """One head through the package's op (a shortcut)."""
    return op(
        q[None, None],
        k[None, None],
        v[None, None],
        torch.tensor([math.log(gamma)], dtype=q.dtype),
        **kw,
    )


# --- right answers, written independently of the references -------------------------


def _state_loop(q, k, v, gamma):
    """The notebook's loop, with a broadcast outer product and q_t @ S."""
    S = q.new_zeros(k.shape[1], v.shape[1])
    outputs = []
    for t in range(q.shape[0]):
        S = gamma * S + k[t][:, None] * v[t][None, :]
        outputs.append(q[t] @ S)
    return torch.stack(outputs)


def _parallel(q, k, v, gamma):
    """The parallel form: ((Q K^T) * D) V, D from clamped exponents."""
    t = torch.arange(q.shape[0], dtype=q.dtype)
    gap = t[:, None] - t[None, :]
    D = torch.where(gap >= 0, gamma ** gap.clamp(min=0), torch.zeros_like(gap))
    return ((q @ k.T) * D) @ v


def _chunk_tril(q, k, v, S, gamma):
    """D as a lower triangle, the decays as diagonal matrices, einsum."""
    C = q.shape[0]
    i = torch.arange(C, dtype=q.dtype)
    D = torch.tril(gamma ** (i[:, None] - i[None, :]).clamp(min=0))
    o = torch.einsum("ij,jv->iv", (q @ k.T) * D, v)
    o = o + torch.diag(gamma ** (i + 1)) @ (q @ S)
    S_after = gamma**C * S + k.T @ torch.diag(gamma ** (C - 1 - i)) @ v
    return o, S_after


def _chunk_loop_built_D(q, k, v, S, gamma):
    """D built entry by entry in Python (not from q, k, v or S), then matrix form; the
    output accumulated in place."""
    C = q.shape[0]
    D = torch.zeros(C, C, dtype=q.dtype)
    for i in range(C):
        for j in range(i + 1):
            D[i, j] = gamma ** (i - j)
    powers = torch.tensor([gamma ** (i + 1) for i in range(C)], dtype=q.dtype)
    o = (q @ S).mul_(powers[:, None])
    o.add_(((q @ k.T) * D) @ v)
    to_end = torch.tensor([gamma ** (C - 1 - j) for j in range(C)], dtype=q.dtype)
    return o, gamma**C * S + (k * to_end[:, None]).T @ v


def _wkv_notebook(a, b, p, k, v, w, u):
    q = torch.maximum(p, u + k)
    e_state, e_token = torch.exp(p - q), torch.exp(u + k - q)
    wkv = (e_state * a + e_token * v) / (e_state * b + e_token)
    q = torch.maximum(p - w, k)
    e_state, e_token = torch.exp(p - w - q), torch.exp(k - q)
    return wkv, e_state * a + e_token * v, e_state * b + e_token, q


def _wkv_other_max(a, b, p, k, v, w, u):
    """Another stabilisation: the new exponent max(p, k), without the decay."""
    wkv = _wkv_notebook(a, b, p, k, v, w, u)[0]
    q = torch.maximum(p, k)
    e_state, e_token = torch.exp(p - w - q), torch.exp(k - q)
    return wkv, e_state * a + e_token * v, e_state * b + e_token, q


def _wkv_normalised(a, b, p, k, v, w, u):
    """Another: b' = 1 always, the denominator kept in p' = log D'."""
    wkv = _wkv_notebook(a, b, p, k, v, w, u)[0]
    log_D = torch.logaddexp(p - w + torch.log(b), k)
    a_new = torch.exp(p - w - log_D) * a + torch.exp(k - log_D) * v
    return wkv, a_new, torch.ones_like(b), log_D


def _wkv_detached_in_place(a, b, p, k, v, w, u):
    """The maximum taken as a constant (.detach()); the new state built in place; the
    decay applied to the argument w in place once it is no longer needed."""
    wkv = _wkv_notebook(a, b, p, k, v, w, u)[0]
    q = torch.maximum(p - w, k).detach()
    decay = torch.exp(p - w.neg_().neg_() - q)
    a_new = (decay * a).add_(torch.exp(k - q) * v)
    b_new = (decay * b).add_(torch.exp(k - q))
    return wkv, a_new, b_new, q


def _recurrent_notebook(q, k, v, gamma):
    S = torch.zeros(k.shape[1], v.shape[1], dtype=q.dtype)
    outputs = []
    for q_t, k_t, v_t in zip(q, k, v):
        S = gamma * S + torch.outer(k_t, v_t)
        outputs.append(S.T @ q_t)
    return torch.stack(outputs)


def _chunk_notebook(q, k, v, S, gamma):
    C = q.shape[0]
    i = torch.arange(C, dtype=q.dtype)
    distance = i[:, None] - i[None, :]
    D = torch.where(distance >= 0, gamma ** distance.clamp(min=0), 0.0)
    o = ((q @ k.T) * D) @ v + (gamma ** (i + 1))[:, None] * (q @ S)
    S_after = gamma**C * S + (k * (gamma ** (C - 1 - i))[:, None]).T @ v
    return o, S_after


def _rows_filled_in(q, k, v, gamma):
    """The outputs written row by row into a tensor made beforehand."""
    S = torch.zeros(k.shape[1], v.shape[1], dtype=q.dtype)
    o = torch.empty(q.shape[0], v.shape[1], dtype=q.dtype)
    for t in range(q.shape[0]):
        S = gamma * S + torch.outer(k[t], v[t])
        o[t] = S.T @ q[t]
    return o


RIGHT = {
    "recurrent, the notebook's": (
        check_linear_attention_recurrent,
        _recurrent_notebook,
    ),
    "recurrent, q_t @ S": (check_linear_attention_recurrent, _state_loop),
    "recurrent, rows filled in": (check_linear_attention_recurrent, _rows_filled_in),
    "recurrent, the parallel form": (check_linear_attention_recurrent, _parallel),
    "chunk, the notebook's": (
        check_linear_attention_chunk,
        lambda q, k, v, S, gamma: _chunk_notebook(q, k, v, S, gamma),
    ),
    "chunk, tril and diagonal matrices": (check_linear_attention_chunk, _chunk_tril),
    "chunk, D built in a loop": (check_linear_attention_chunk, _chunk_loop_built_D),
    "wkv_step, the notebook's": (check_wkv_step, _wkv_notebook),
    "wkv_step, max(p, k)": (check_wkv_step, _wkv_other_max),
    "wkv_step, b' = 1": (check_wkv_step, _wkv_normalised),
    "wkv_step, detached max, in place": (check_wkv_step, _wkv_detached_in_place),
}


test_right_answers_pass = _accepting(RIGHT)


def test_the_pass_line_is_printed_once(capsys):
    check_linear_attention_chunk(_chunk_tril)
    out = capsys.readouterr().out
    assert out.count("\u2705") == 1 and out.strip().endswith("in matrix form.")


def test_dataflow_follows_what_depends_on_what():
    q, k = torch.randn(3, 2), torch.randn(5, 2)
    with torch.no_grad(), Dataflow(q=q, k=k) as flow:
        mask = torch.zeros(3, 5) + 1  # depends on neither
        scores = (q @ k.T) * mask
        keys = k * 2
    assert flow.largest("q", "k") == tuple(scores.shape)
    assert flow.largest("k") == (3, 5) and keys.shape == (5, 2)
    assert flow.ops == 4  # the transpose, the product, the mask, k * 2


# --- exercise 1: the recurrent form ---------------------------------------------------


def _loop(update, read_first=False, extra=None):
    def fn(q, k, v, gamma):
        S = torch.zeros(k.shape[1], v.shape[1], dtype=q.dtype)
        out = []
        for t in range(q.shape[0]):
            if read_first:
                out.append(q[t] @ S)
            S = update(S, k[t], v[t], gamma)
            if not read_first:
                out.append(q[t] @ S + (0 if extra is None else extra(q[t], k[t], v[t])))
        return torch.stack(out)

    return fn


def _factorised(q, k, v, gamma):
    """D_ts = gamma^t / gamma^s: exact on paper, overflowing in float32 at T = 200."""
    t = torch.arange(q.shape[0], dtype=q.dtype)
    return ((q * (gamma**t)[:, None]) @ (k * (gamma**-t)[:, None]).T).tril() @ v


def _window(q, k, v, gamma, width=64):
    """Only the last 64 tokens: fine for a fast decay, wrong for gamma = 0.999."""
    t = torch.arange(q.shape[0], dtype=q.dtype)
    gap = t[:, None] - t[None, :]
    D = torch.where((gap >= 0) & (gap < width), gamma ** gap.clamp(min=0), 0.0)
    return ((q @ k.T) * D) @ v


RECURRENT_PLANTED = {
    # the usual mistakes
    "decay after adding": (
        _loop(lambda S, k, v, g: g * (S + k[:, None] * v[None])),
        "decay is applied at the wrong step",
    ),
    "read before write": (
        _loop(lambda S, k, v, g: g * S + k[:, None] * v[None], read_first=True),
        "not counted",
    ),
    "current twice": (
        _loop(
            lambda S, k, v, g: g * S + k[:, None] * v[None],
            extra=lambda q, k, v: (q @ k) * v,
        ),
        "counted twice",
    ),
    "no decay": (
        _loop(lambda S, k, v, g: S + k[:, None] * v[None]),
        "decay is missing",
    ),
    "normalised": (
        lambda q, k, v, gamma: (
            _parallel(q, k, v, gamma) / (q * k.cumsum(0)).sum(-1, keepdim=True)
        ),
        "normaliser",
    ),
    "detached": (
        lambda q, k, v, gamma: _parallel(q, k, v, gamma).detach(),
        "no gradient flows",
    ),
    # range: powers that overflow float32, a sum cut short
    "gamma^t / gamma^s": (_factorised, "o contains NaN or infinity (in float32"),
    "a window of 64 tokens": (_window, "gamma=0.999"),
    # shapes: a state that needs K = V, a result that forgets float32
    "state of K x K": (
        lambda q, k, v, gamma: _loop(lambda S, k, v, g: g * S + torch.outer(k, k))(
            q, k, v, gamma
        ),
        "linear_attention_recurrent: ",
    ),
    "float64 always": (
        lambda q, k, v, gamma: _parallel(q.double(), k.double(), v.double(), gamma),
        "should have torch.float32",
    ),
    # shortcuts
    "the package's op": (
        lambda q, k, v, gamma: _via(linear_attention, q, k, v, gamma, impl="recurrent")[
            0, 0
        ],
        "your function calls rnncourse.ops.linear_attention.linear_attention,",
    ),
    "the package's parallel form": (
        lambda q, k, v, gamma: _via(linear_attention_parallel, q, k, v, gamma)[0][0, 0],
        "linear_attention_parallel",
    ),
    "the package's recurrent form": (
        lambda q, k, v, gamma: _via(linear_attention_recurrent, q, k, v, gamma)[0][
            0, 0
        ],
        "linear_attention_recurrent,",
    ),
    "the reference": (recurrent_reference, "recurrent_reference"),
    # odd answers
    "a list of outputs": (
        lambda q, k, v, gamma: list(_parallel(q, k, v, gamma)),
        "got a Python list",
    ),
    "a tuple": (
        lambda q, k, v, gamma: (_parallel(q, k, v, gamma), None),
        "expected 1 return value(s)",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


test_recurrent_rejects = _rejecting(RECURRENT_PLANTED, check_linear_attention_recurrent)


# --- exercise 2: one chunk ------------------------------------------------------------


def _one_chunk(q, k, v, S, gamma, lower=0, upper=False, cross=1, old=0, keys=-1):
    C = q.shape[0]
    rows = torch.arange(C, dtype=q.dtype)
    gap = rows[:, None] - rows[None, :]
    keep = (gap >= lower) | torch.tensor(upper)
    weights = torch.where(
        keep,
        torch.tensor(gamma, dtype=q.dtype) ** gap.abs(),
        torch.zeros((), dtype=q.dtype),
    )
    o = (q @ k.T * weights) @ v + gamma ** (rows + cross)[:, None] * (q @ S)
    S_new = (gamma ** (C + old) if old is not None else 1.0) * S + (
        gamma ** (C + keys - rows)[:, None] * k
    ).T @ v
    return o, S_new


def _token_by_token(q, k, v, S, gamma):
    """Right values, but the recurrence, one token at a time."""
    outputs = []
    for q_t, k_t, v_t in zip(q, k, v):
        S = gamma * S + torch.outer(k_t, v_t)
        outputs.append(S.T @ q_t)
    return torch.stack(outputs), S


def _state_summed_in_python(q, k, v, S, gamma):
    """The outputs in matrix form, the new state as a Python sum over the tokens."""
    o = _chunk_notebook(q, k, v, S, gamma)[0]
    C = q.shape[0]
    added = sum(gamma ** (C - 1 - j) * torch.outer(k[j], v[j]) for j in range(C))
    return o, gamma**C * S + added


def _masked_powers(q, k, v, S, gamma):
    """gamma^(i - j) for every pair, times a mask: inf * 0 above the diagonal."""
    C = q.shape[0]
    i = torch.arange(C, dtype=q.dtype)
    gap = i[:, None] - i[None, :]
    D = gamma**gap * (gap >= 0)
    o = ((q @ k.T) * D) @ v + (gamma ** (i + 1))[:, None] * (q @ S)
    return o, gamma**C * S + (k * (gamma ** (C - 1 - i))[:, None]).T @ v


def _ratio_of_powers(q, k, v, S, gamma):
    """D_ij = gamma^i / gamma^j below the diagonal."""
    C = q.shape[0]
    i = torch.arange(C, dtype=q.dtype)
    D = torch.tril(torch.outer(gamma**i, gamma**-i))
    o = ((q @ k.T) * D) @ v + (gamma ** (i + 1))[:, None] * (q @ S)
    return o, gamma**C * S + (k * (gamma ** (C - 1 - i))[:, None]).T @ v


def _chunk_length_from_keys(q, k, v, S, gamma):
    """The notebook's form with C read from the wrong axis of q."""
    C = q.shape[1]
    i = torch.arange(q.shape[0], dtype=q.dtype)
    gap = i[:, None] - i[None, :]
    D = torch.where(gap >= 0, gamma ** gap.clamp(min=0), 0.0)
    o = ((q @ k.T) * D) @ v + (gamma ** (i + 1))[:, None] * (q @ S)
    return o, gamma**C * S + (k * (gamma ** (C - 1 - i))[:, None]).T @ v


def _state_transposed(q, k, v, S, gamma):
    """S read as (V, K): works only when K = V."""
    o, S_after = _chunk_notebook(q, k, v, S, gamma)
    return o - (q @ S) + (q @ S.T), S_after


CHUNK_PLANTED = {
    # the usual mistakes
    "gamma^i from the state": (
        lambda *a: _one_chunk(*a, cross=0),
        "decayed one step too little: row i",
    ),
    "strict mask": (lambda *a: _one_chunk(*a, lower=1), "current token is not counted"),
    "no mask": (lambda *a: _one_chunk(*a, upper=True), "later tokens leak"),
    "old state kept": (lambda *a: _one_chunk(*a, old=None), "old state is not decayed"),
    "keys one step too far": (
        lambda *a: _one_chunk(*a, keys=0),
        "keys are decayed one step too much",
    ),
    "gamma^(C-1) on the state": (
        lambda *a: _one_chunk(*a, old=-1),
        "shrinks by gamma^C",
    ),
    # range: powers that overflow float32 in a chunk of 64
    "gamma^(i - j) times a mask": (_masked_powers, "o contains NaN or infinity"),
    "gamma^i / gamma^j": (_ratio_of_powers, "(in float32, for a chunk of C=64"),
    # the point: matrix form, not a loop over the chunk's tokens
    "token by token": (_token_by_token, "one token at a time"),
    "the state as a Python sum": (_state_summed_in_python, "one token at a time"),
    # shapes: the chunk length read from the wrong axis, a state that needs K = V
    "C from the key size": (_chunk_length_from_keys, "linear_attention_chunk: "),
    "S transposed": (_state_transposed, "your function raised RuntimeError"),
    # shortcuts
    "the package's chunk form": (
        lambda q, k, v, S, gamma: tuple(
            x[0, 0]
            for x in _via(
                linear_attention_chunk,
                q,
                k,
                v,
                gamma,
                initial_state=S[None, None],
                chunk_size=q.shape[0],
            )
        ),
        "your function calls rnncourse.ops.linear_attention.reference."
        "linear_attention_chunk,",
    ),
    "the reference": (chunk_reference, "chunk_reference"),
    # odd answers
    "S not returned": (
        lambda q, k, v, S, gamma: _chunk_notebook(q, k, v, S, gamma)[0],
        "expected 2 return value(s)",
    ),
    "three values": (
        lambda q, k, v, S, gamma: (*_chunk_notebook(q, k, v, S, gamma), gamma),
        "expected 2 return value(s) (o and S_after), got 3",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


test_chunk_rejects = _rejecting(CHUNK_PLANTED, check_linear_attention_chunk)


# --- exercise 3: the WKV step ---------------------------------------------------------


def _direct(a, b, p, k, v, w, u):
    """The recurrence on N and D themselves, without the running maximum."""
    N, D = a * p.exp(), b * p.exp()
    out = (N + (u + k).exp() * v) / (D + (u + k).exp())
    return (
        out,
        (-w).exp() * N + k.exp() * v,
        (-w).exp() * D + k.exp(),
        torch.zeros_like(p),
    )


def _stable_state_only(a, b, p, k, v, w, u):
    """The state kept with its maximum, but wkv computed from e^k as it stands."""
    e_p, e_token = p.exp(), (u + k).exp()
    wkv = (a * e_p + e_token * v) / (b * e_p + e_token)
    return (wkv, *_wkv_notebook(a, b, p, k, v, w, u)[1:])


def _variant(
    no_bonus=False, bonus_in_state=False, decay_in_output=False, keep_old=False
):
    def fn(a, b, p, k, v, w, u):
        p_out = p - w if decay_in_output else p
        bonus = 0 * u if no_bonus else u
        q = torch.maximum(p_out, bonus + k)
        wkv = ((p_out - q).exp() * a + (bonus + k - q).exp() * v) / (
            (p_out - q).exp() * b + (bonus + k - q).exp()
        )
        p_in = p if keep_old else p - w
        k_in = u + k if bonus_in_state else k
        q = torch.maximum(p_in, k_in)
        return (
            wkv,
            (p_in - q).exp() * a + (k_in - q).exp() * v,
            (p_in - q).exp() * b + (k_in - q).exp(),
            q,
        )

    return fn


def _python_max(a, b, p, k, v, w, u):
    """max() and math.exp, which take one channel at a time."""
    q = max(p, u + k)
    e_state, e_token = math.exp(p - q), math.exp(u + k - q)
    return (e_state * a + e_token * v) / (e_state * b + e_token), a, b, p


def _wkv_via_op(a, b, p, k, v, w, u):
    wkv, state = wkv4_loop(
        w, u, k[None, None], v[None, None], WKV4State(a[None], b[None], p[None])
    )
    return (wkv[0, 0], *(x[0] for x in state))


WKV_PLANTED = {
    # the usual mistakes, in another stabilisation than the reference's
    "no bonus": (_variant(no_bonus=True), "bonus u is missing"),
    "bonus in the state": (
        _variant(bonus_in_state=True),
        "bonus u went into the state",
    ),
    "decay in the output": (
        _variant(decay_in_output=True),
        "decay is applied at the wrong step",
    ),
    "state not decayed": (_variant(keep_old=True), "state is not decayed"),
    "detached": (
        lambda *args: tuple(x.detach() for x in _wkv_other_max(*args)),
        "no gradient flows",
    ),
    "wrong state, right wkv": (
        lambda a, b, p, k, v, w, u: (
            _wkv_notebook(a, b, p, k, v, w, u)[0],
            *_wkv_notebook(a, b, p, k, 2 * v, w, u)[1:],
        ),
        "the state after the token is wrong at channel",
    ),
    # range: e^k without the maximum overflows
    "no running maximum": (_direct, "running maximum is not used, and e^k overflows"),
    "maximum in the state only": (
        _stable_state_only,
        "your result holds inf or NaN (in float32",
    ),
    # shapes: Python's max works for one channel only
    "Python's max": (_python_max, "your function raised RuntimeError"),
    # shortcuts
    "the package's loop": (_wkv_via_op, "rnncourse.ops.wkv4.reference.wkv4_loop"),
    "the reference": (wkv_step_reference, "wkv_step_reference"),
    # odd answers
    "three values": (
        lambda *args: _wkv_notebook(*args)[:3],
        "expected 4 return values (wkv, a, b and p), got 3",
    ),
    "None": (lambda *args: None, "returned None"),
    "a NumPy p": (
        lambda *args: (*_wkv_notebook(*args)[:3], _wkv_notebook(*args)[3].numpy()),
        "p should be a torch.Tensor, got a NumPy array",
    ),
    "one number per call": (
        lambda *args: tuple(x.sum() for x in _wkv_notebook(*args)),
        "has shape ()",
    ),
    "on another device": (
        lambda *args: tuple(x.to("meta") for x in _wkv_notebook(*args)),
        "on the device meta",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


test_wkv_step_rejects = _rejecting(WKV_PLANTED, check_wkv_step)


# --- one sentence per mistake ---------------------------------------------------------

USUAL = [
    (
        check_linear_attention_recurrent,
        RECURRENT_PLANTED,
        ["decay after adding", "read before write", "current twice", "no decay"],
    ),
    (
        check_linear_attention_chunk,
        CHUNK_PLANTED,
        [
            "gamma^i from the state",
            "strict mask",
            "no mask",
            "old state kept",
            "keys one step too far",
        ],
    ),
    (
        check_wkv_step,
        WKV_PLANTED,
        ["no bonus", "bonus in the state", "decay in the output", "state not decayed"],
    ),
]


@pytest.mark.parametrize("checker,planted,names", USUAL, ids=["rec", "chunk", "wkv"])
def test_each_usual_mistake_gets_its_own_message(checker, planted, names):
    _each_its_own_message(checker, [planted[name][0] for name in names])
