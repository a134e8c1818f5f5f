"""The checker framework: it never crashes on an answer, enforces "by hand" and
forbidden shortcuts, and restores everything it patched."""

import functools
import sys
import types

import pytest
import torch
import torch.nn.functional as F

import rnncourse.exercises as exercises
import rnncourse.nn.sampling
from rnncourse.exercises import ExerciseError
from rnncourse.exercises.checker import (
    Case,
    Guard,
    Output,
    autograd_forbidden,
    call_student,
    check,
    comparing,
    fail,
    forbid,
    fresh_copies,
    kind_of,
    require_function,
)
from rnncourse.nn.sampling import temperature_probs

from ._helpers import _message, _not_solved, _rejecting

# --- a toy exercise: y = 2 x + 1, and its gradient -----------------------------------


def _cases(grad: bool = True) -> list[Case]:
    g = torch.Generator().manual_seed(0)
    return [
        Case(
            (torch.randn(*shape, generator=g, dtype=torch.float64),),
            f"(for x of shape {shape})",
            grad=grad,
        )
        for shape in [(3, 4), (1, 2), (5,)]
    ]


def _affine(x):
    return 2 * x + 1


def check_affine(fn) -> None:
    check("affine", fn, _affine, _cases(), [Output("y", ("row", "column"))])


def check_pair(fn) -> None:
    """A two-output exercise: (2 x + 1, x squared)."""
    check(
        "pair",
        fn,
        lambda x: (2 * x + 1, x * x),
        _cases(),
        [Output("y", ("row", "column")), Output("z", ("row", "column"))],
    )


def test_right_answers_pass(capsys):
    check_affine(lambda x: x + x + 1)
    check_pair(lambda x: (x * 2 + 1, x**2))
    check_pair(lambda x: [x * 2 + 1, x**2])  # a list of the right values is fine
    assert capsys.readouterr().out.count("correct on all 3") == 3


def test_an_answer_that_changes_its_argument_in_place_passes(capsys):
    def in_place(x):
        x.mul_(2)  # the argument itself, a leaf in a gradient check without copies
        x += 1
        return x

    check_affine(in_place)
    assert "correct" in capsys.readouterr().out


def test_the_inputs_of_each_call_are_fresh():
    seen = []

    def vandal(x):
        seen.append(x)
        out = 2 * x + 1
        with torch.no_grad():
            x.zero_()  # after use: the next call must not see it
        return out

    check_affine(vandal)
    assert len({id(x) for x in seen}) == len(seen)
    args = (torch.ones(2), [torch.zeros(1)], torch.nn.Linear(1, 1), 3)
    copies = fresh_copies(args, grad=True)
    assert copies[0] is not args[0] and copies[0].requires_grad
    assert copies[1][0] is not args[1][0] and copies[2] is not args[2]
    assert copies[3] == 3


class _Hostile(torch.Tensor):
    """A tensor subclass that raises on every operation: comparing it must not crash."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError("no operation for you")


def _generator(x):
    yield 2 * x + 1


def _raises_unprintable(x):
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("nope")

    raise Unprintable()


NEVER_CRASH = {
    "a string": (lambda x: "2x + 1", "should be a torch.Tensor, got a Python str"),
    "a number": (lambda x: 3.0, "got a Python float"),
    "NaN": (lambda x: torch.full_like(x, float("nan")), "contains NaN"),
    "a generator function": (_generator, "got a generator"),
    "a generator expression": (
        lambda x: (2 * v + 1 for v in x),
        "got a generator",
    ),
    "None": (lambda x: None, "returned None"),
    "a tuple of the wrong length": (
        lambda x: (2 * x + 1, x),
        "expected 1 return value(s) (y), got 2",
    ),
    "the wrong device": (lambda x: (2 * x + 1).to("meta"), "on the device meta"),
    "the wrong dtype": (lambda x: (2 * x + 1).float(), "dtype torch.float32"),
    "a Python list": (lambda x: (2 * x + 1).tolist(), "got a Python list"),
    "a NumPy array": (
        lambda x: (2 * x + 1).detach().numpy(),
        "got a NumPy array",
    ),
    "the wrong shape": (lambda x: (2 * x + 1).T, "has shape"),
    "wrong values": (lambda x: 2 * x, "y is wrong at row 0, column 0"),
    "a hostile tensor subclass": (
        lambda x: (2 * x + 1).as_subclass(_Hostile),
        "could not be compared",
    ),
    "an exception": (lambda x: {}["key"], "your function raised KeyError ('key')"),
    "a multi-line exception": (
        lambda x: (_ for _ in ()).throw(ValueError("first line\nsecond line")),
        "ValueError (first line second line)",
    ),
    "an unprintable exception": (_raises_unprintable, "cannot be printed"),
    "a NotImplementedError of torch's": (
        lambda x: (_ for _ in ()).throw(NotImplementedError("not for Meta")),
        "your function raised NotImplementedError (not for Meta)",
    ),
    "not solved": (_not_solved, "not solved yet"),
    "a gradient that cannot flow": (lambda x: (2 * x + 1).detach(), "no gradient"),
    "a backward pass that fails": (
        lambda x: (lambda e: (e.mul_(1), 2 * x + 1 + 0 * e)[1])(torch.exp(x)),
        "backpropagating through your function failed",
    ),
    "the wrong gradient": (
        lambda x: 2 * x.detach() + 1 + (x - x.detach()) * 3,
        "the gradient with respect to x differs",
    ),
}


@pytest.mark.parametrize("name", NEVER_CRASH)
def test_a_wrong_answer_gets_one_sentence_never_another_exception(name):
    fn, expected = NEVER_CRASH[name]
    message = _message(check_affine, fn)
    assert message.startswith("affine: ") and expected in message


TWO_OUTPUTS = {
    "one value": (lambda x: 2 * x + 1, "expected 2 return value(s) (y and z), got 1"),
    "three values": (
        lambda x: (2 * x + 1, x * x, x),
        "expected 2 return value(s) (y and z), got 3",
    ),
    "None": (lambda x: None, "returned None"),
    "a list inside": (
        lambda x: (2 * x + 1, (x * x).tolist()),
        "z should be a torch.Tensor, got a Python list",
    ),
    "a generator": (lambda x: (v for v in (2 * x + 1, x * x)), "got a generator"),
}


test_a_wrong_structure_gets_one_sentence = _rejecting(TWO_OUTPUTS, check_pair)


def test_not_a_function():
    assert "expected a function, got a Python int" in _message(check_affine, 3)
    with pytest.raises(ExerciseError, match="expected a function, got None"):
        require_function("affine", None)


def test_fail_and_comparing_give_one_line():
    with pytest.raises(ExerciseError) as info:
        fail("x", "first\n  second.")
    assert str(info.value) == "x: first second."
    with pytest.raises(ExerciseError, match="could not be compared"):
        with comparing("x", "(for a case)"):
            torch.zeros(2).to("meta").item()


def test_kind_of_names_the_usual_types():
    assert kind_of(None) == "None"
    assert kind_of([1]) == "a Python list"
    assert kind_of((1, 2)) == "a tuple of 2 values"
    assert kind_of(torch.zeros(2).numpy()) == "a NumPy array"
    assert kind_of(x for x in ()) == "a generator"
    assert kind_of(torch.zeros(1)) == "a Tensor"


def test_call_student_returns_the_result_and_reports_errors():
    assert call_student("e", lambda a, b: a + b, (1, 2)) == 3
    with pytest.raises(ExerciseError, match="raised ZeroDivisionError .*: a hint"):
        call_student(
            "e", lambda a: a / 0, (1,), "(for a=1)", explain=lambda e: "a hint"
        )


# --- "by hand": autograd off limits ------------------------------------------------


def _loss(x):
    return (x**3).sum()


AUTOGRAD_USES = {
    "torch.autograd.grad": lambda x: torch.autograd.grad(_loss(x), x)[0],
    "torch.Tensor.backward": lambda x: (_loss(x).backward(), x.grad)[1],
    "torch.autograd.backward": lambda x: (torch.autograd.backward(_loss(x)), x.grad)[1],
    "torch.func.grad": lambda x: torch.func.grad(_loss)(x),
    "torch.func.vjp": lambda x: torch.func.vjp(_loss, x)[1](torch.tensor(1.0))[0],
    "torch.func.jacrev": lambda x: torch.func.jacrev(_loss)(x),
    "torch.func.jacfwd": lambda x: torch.func.jacfwd(_loss)(x),
    "torch.autograd.functional.jacobian": lambda x: torch.autograd.functional.jacobian(
        _loss, x
    ),
    "torch.autograd.functional.vjp": lambda x: torch.autograd.functional.vjp(_loss, x)[
        1
    ],
}


def _leaf():
    return torch.tensor([1.0, -2.0], requires_grad=True)


def _gradient_works() -> bool:
    x = _leaf()
    _loss(x).backward()
    ok = torch.equal(x.grad, 3 * x.detach() ** 2)
    return ok and torch.equal(torch.autograd.grad(_loss(x), x)[0], x.grad)


@pytest.mark.parametrize("name", AUTOGRAD_USES)
def test_autograd_forbidden_refuses_each_way_in(name):
    originals = (torch.autograd.grad, torch.Tensor.backward, torch.func.grad)
    with pytest.raises(ExerciseError) as info:
        with autograd_forbidden("grad_cube"):
            AUTOGRAD_USES[name](_leaf())
    message = str(info.value)
    assert message.startswith("grad_cube: your function calls ")
    assert "asks for the gradient by hand, not autograd" in message
    assert (torch.autograd.grad, torch.Tensor.backward, torch.func.grad) == originals
    assert _gradient_works()


def test_autograd_forbidden_restores_everything_even_after_an_error():
    before = torch.autograd.grad
    with pytest.raises(ZeroDivisionError):
        with autograd_forbidden("x"):
            1 / 0
    assert torch.autograd.grad is before and _gradient_works()
    assert "backward" in torch.Tensor.__dict__  # put back, not deleted


def _grad_cube_cases():
    g = torch.Generator().manual_seed(1)
    return [
        Case((torch.randn(n, generator=g, dtype=torch.float64),), f"(for n={n})", False)
        for n in (1, 4)
    ]


def check_grad_cube(fn) -> None:
    """A by-hand exercise: the gradient of sum(x**3)."""
    check(
        "grad_cube",
        fn,
        lambda x: 3 * x**2,
        _grad_cube_cases(),
        [Output("dx", ("entry",))],
        by_hand=True,
    )


def _by_autograd(x):
    x = x.clone().requires_grad_()
    return torch.autograd.grad(_loss(x), x)[0]


def _autograd_then_hand(x):
    try:
        return _by_autograd(x)
    except Exception:  # a student who hides the refusal still fails
        return 3 * x**2


exec_namespace: dict = {}
exec(
    "from torch.autograd import grad\ndef by_name(x):\n    x = "
    "x.clone().requires_grad_()\n    return grad((x ** 3).sum(), x)[0]\n",
    exec_namespace,
)

BY_HAND_PLANTED = {
    "torch.autograd.grad": (_by_autograd, "torch.autograd.grad"),
    "Tensor.backward": (
        lambda x: (lambda y: (_loss(y).backward(), y.grad)[1])(
            x.clone().requires_grad_()
        ),
        "torch.Tensor.backward",
    ),
    "torch.func.grad": (lambda x: torch.func.grad(_loss)(x), "torch.func.grad"),
    "grad imported by name": (exec_namespace["by_name"], "torch.autograd.grad"),
    "autograd with the error caught": (_autograd_then_hand, "torch.autograd.grad"),
}


@pytest.mark.parametrize("name", BY_HAND_PLANTED)
def test_check_by_hand_rejects_autograd(name):
    fn, called = BY_HAND_PLANTED[name]
    message = _message(check_grad_cube, fn)
    assert f"your function calls {called}" in message
    assert "by hand, not autograd" in message
    assert _gradient_works()


def test_check_by_hand_accepts_the_gradient_by_hand(capsys):
    check_grad_cube(lambda x: 3 * x * x)
    assert "correct on all 2" in capsys.readouterr().out
    assert _gradient_works()


# --- forbidden shortcuts -------------------------------------------------------------


def check_temperature(fn) -> None:
    """A toy exercise whose shortcut is the package's temperature_probs."""
    g = torch.Generator().manual_seed(2)
    cases = [
        Case((torch.randn(2, 5, generator=g, dtype=torch.float64), t), f"(tau={t})")
        for t in (0.5, 2.0)
    ]
    check(
        "temperature",
        fn,
        lambda z, t: torch.softmax(z / t, dim=-1),
        cases,
        [Output("probs", ("row", "token"))],
        forbidden=[(rnncourse.nn.sampling, "temperature_probs")],
    )


def _notebook(name: str, source: str) -> types.ModuleType:
    """A notebook-like namespace: a module in sys.modules (as IPython's __main__ is)
    whose code ran before the check."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(source, vars(module))
    return module


@pytest.fixture
def notebook():
    module = _notebook(
        "checker_test_notebook",
        "import torch\nfrom rnncourse.nn.sampling import temperature_probs\ndef "
        "answer(logits, temperature):\n    return temperature_probs(logits, "
        "temperature)\ndef helper(logits, temperature):\n    return "
        "temperature_probs(logits, temperature)\n",
    )
    yield module
    del sys.modules["checker_test_notebook"]


def _closure():
    shortcut = temperature_probs
    return lambda z, t: shortcut(z, t)


def _default(z, t, shortcut=temperature_probs):
    return shortcut(z, t)


def _caught(z, t):
    try:
        return temperature_probs(z, t)
    except Exception:
        return torch.softmax(z / t, dim=-1)


def _plain_dict_namespace():
    namespace: dict = {}
    exec(
        "from rnncourse.nn.sampling import temperature_probs as tp\ndef answer(z, "
        "t):\n    return tp(z, t)\n",
        namespace,
    )
    return namespace["answer"]


FORBIDDEN_PLANTED = {
    "the function itself": lambda nb: temperature_probs,
    "a partial of it": lambda nb: functools.partial(temperature_probs),
    "imported by name in this module": lambda nb: lambda z, t: temperature_probs(z, t),
    "through its module": lambda nb: (
        lambda z, t: rnncourse.nn.sampling.temperature_probs(z, t)
    ),
    "imported by name in a notebook": lambda nb: nb.answer,
    "a notebook's helper": lambda nb: lambda z, t: nb.helper(z, t),
    "imported by name in a plain namespace": lambda nb: _plain_dict_namespace(),
    "held in a closure": lambda nb: _closure(),
    "held in a default": lambda nb: _default,
    "with the error caught": lambda nb: _caught,
}


@pytest.mark.parametrize("name", FORBIDDEN_PLANTED)
def test_forbidden_shortcuts_are_rejected_however_they_are_reached(name, notebook):
    answer = FORBIDDEN_PLANTED[name](notebook)
    message = _message(check_temperature, answer)
    assert message == (
        "temperature: your function calls rnncourse.nn.sampling.temperature_probs, "
        "which does the exercise for you: write the computation yourself with basic "
        "torch operations."
    )
    # everything is put back: the module, this module, the notebook, the function
    assert rnncourse.nn.sampling.temperature_probs is temperature_probs
    assert notebook.temperature_probs is temperature_probs
    assert _default.__defaults__ == (temperature_probs,)
    assert torch.equal(notebook.answer(torch.zeros(1, 2), 1.0), torch.full((1, 2), 0.5))


def test_a_right_answer_passes_with_shortcuts_forbidden(capsys, notebook):
    check_temperature(lambda z, t: torch.softmax(z / t, dim=-1))
    check_temperature(lambda z, t: (z / t).exp() / (z / t).exp().sum(-1, keepdim=True))
    assert capsys.readouterr().out.count("correct on all 2") == 2
    assert notebook.temperature_probs is temperature_probs


def test_forbid_covers_torch_functions_methods_and_classes():
    x = torch.randn(2, 3)
    targets = [
        (torch, "softmax"),
        (F, "softmax"),
        (torch.Tensor, "softmax"),
        (torch.nn, "LSTMCell"),
        "torch.nn.functional.scaled_dot_product_attention",
        "a.module.nobody.imported.f",  # skipped, not an error
    ]
    cell = torch.nn.LSTMCell(3, 2)
    uses = [
        lambda: torch.softmax(x, -1),
        lambda: F.softmax(x, -1),
        lambda: x.softmax(-1),
        lambda: cell(x),
        lambda: F.scaled_dot_product_attention(x[None], x[None], x[None]),
    ]
    for use in uses:
        with pytest.raises(ExerciseError, match="write the computation yourself"):
            with forbid("attention", targets):
                use()
    for use in uses:  # all restored
        use()
    assert "softmax" not in torch.Tensor.__dict__
    assert "forward" in torch.nn.LSTMCell.__dict__


def test_everything_is_restored_when_the_student_s_function_raises():
    def patched():
        return (
            torch.autograd.grad,
            torch.Tensor.__dict__["backward"],
            torch.func.jacrev,
            rnncourse.nn.sampling.temperature_probs,
            vars(sys.modules[__name__])["temperature_probs"],
        )

    before = patched()
    assert "ZeroDivisionError" in _message(check_grad_cube, lambda x: x.shape[0] // 0)
    assert "KeyError" in _message(check_temperature, lambda z, t: {}[t])
    assert "not solved" in _message(check_temperature, _not_solved)
    assert patched() == before and _gradient_works()


def test_a_guard_lets_the_checker_use_what_the_student_may_not():
    with Guard("t", None, forbidden=[(torch, "lstm_cell")], by_hand=True) as guard:
        x = _leaf()
        _loss(x).backward()  # disarmed: the checker's own gradient
        with pytest.raises(ExerciseError, match="torch.lstm_cell"):
            guard.call((), fn=lambda: torch.lstm_cell(*[torch.zeros(1, 4)] * 3))
        with pytest.raises(ExerciseError, match="by hand"):
            guard.call((), fn=lambda: _loss(_leaf()).backward())
    assert _gradient_works()


# --- every chapter's checker, on the oddest answers ----------------------------------

ODD_ANSWERS = {
    "a tensor on another device": lambda *a: torch.zeros(3, 3, device="meta"),
    "a generator": lambda *a: (i for i in range(3)),
    "a NumPy array": lambda *a: torch.zeros(3, 3).numpy(),
}


@pytest.mark.parametrize(
    "checker", [name for name in exercises.__all__ if name.startswith("check_")]
)
def test_every_checker_answers_odd_answers_in_one_sentence(checker):
    for answer in ODD_ANSWERS.values():
        _message(getattr(exercises, checker), answer)
