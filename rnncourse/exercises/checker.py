"""The checker framework: run a student's function against the reference, then say
in one plain sentence what differs.

A checker calls the student's function and the reference on the same inputs
(several shapes and edge cases), compares structure, shape, dtype, values and,
where asked, gradients, and recognises the usual mistakes by their outputs. A
wrong answer raises :class:`ExerciseError`, which IPython shows as its one
sentence rather than a traceback; an autograder (nbgrader) sees a failing cell.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch


class ExerciseError(AssertionError):
    """A wrong answer. Notebooks show only its message, never a traceback."""

    def _render_traceback_(
        self,
    ) -> list[str]:  # IPython calls this instead of formatting a traceback
        return [f"\u274c {self}"]


@dataclass
class Case:
    """One test input: the arguments, and how to describe them to a student."""

    args: tuple
    description: str
    grad: bool = True  # whether to compare gradients on this case


@dataclass
class Mistake:
    """A usual wrong answer: its function, and the sentence that explains it."""

    fn: Callable
    message: str


@dataclass
class Output:
    """How to talk about one returned tensor: its name and the names of its axes."""

    name: str
    axes: Sequence[str] = field(default_factory=tuple)


def fail(exercise: str, message: str) -> None:
    raise ExerciseError(f"{exercise}: {message}.")


def check(
    exercise: str,
    student_fn: Callable,
    reference_fn: Callable,
    cases: Sequence[Case],
    outputs: Sequence[Output],
    mistakes: Sequence[Mistake] = (),
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Compare ``student_fn`` with ``reference_fn`` on every case; print one pass line or raise.

    ``outputs`` describes what the function returns: one entry for a single
    tensor, several for a tuple. Gradients (with respect to every floating
    tensor argument) are compared on cases with ``grad=True``.
    """
    if not callable(student_fn):
        fail(exercise, f"expected a function, got {type(student_fn).__name__}")
    for case in cases:
        expected = _as_tuple(reference_fn(*_fresh(case.args, grad=False)))
        got = _call(
            exercise, student_fn, _fresh(case.args, grad=False), case.description
        )
        if not _matches(got, expected, rtol, atol):
            for mistake in mistakes:
                if _matches(
                    _as_tuple(mistake.fn(*_fresh(case.args, grad=False))),
                    got,
                    rtol,
                    atol,
                ):
                    fail(exercise, mistake.message)
            _describe_difference(exercise, got, expected, outputs, case, rtol, atol)
        if case.grad:
            _check_gradients(exercise, student_fn, reference_fn, case, rtol, atol)
    print(f"\u2705 {exercise}: correct on all {len(cases)} test cases.")


def _fresh(args: tuple, grad: bool) -> tuple:
    """Copies of the arguments, so a function that changes its inputs in place harms nothing."""
    return tuple(
        a.detach().clone().requires_grad_(grad and a.is_floating_point())
        if isinstance(a, torch.Tensor)
        else a
        for a in args
    )


def _as_tuple(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def _call(exercise: str, fn: Callable, args: tuple, description: str) -> tuple:
    try:
        return _as_tuple(fn(*args))
    except NotImplementedError:
        fail(
            exercise,
            "this exercise is not solved yet: replace `raise NotImplementedError()` with your code",
        )
    except (
        Exception
    ) as err:  # the student's bug, reported in one sentence instead of a traceback
        fail(
            exercise, f"your function raised {type(err).__name__} ({err}) {description}"
        )


def _matches(got: tuple, expected: tuple, rtol: float, atol: float) -> bool:
    return len(got) == len(expected) and all(
        isinstance(g, torch.Tensor)
        and g.shape == e.shape
        and g.dtype == e.dtype
        and torch.allclose(g.detach(), e.detach(), rtol=rtol, atol=atol, equal_nan=True)
        for g, e in zip(got, expected)
    )


def _describe_difference(exercise, got, expected, outputs, case, rtol, atol) -> None:
    if len(got) != len(expected):
        names = " and ".join(o.name for o in outputs)
        fail(
            exercise,
            f"expected {len(expected)} return value(s) ({names}), got {len(got)} {case.description}",
        )
    for g, e, out in zip(got, expected, outputs):
        if not isinstance(g, torch.Tensor):
            fail(
                exercise,
                f"{out.name} should be a torch.Tensor, got {type(g).__name__} {case.description}",
            )
        if g.shape != e.shape:
            fail(
                exercise,
                f"{out.name} has shape {tuple(g.shape)} but should have shape {tuple(e.shape)} {case.description}",
            )
        if g.dtype != e.dtype:
            fail(
                exercise,
                f"{out.name} has dtype {g.dtype} but should have {e.dtype} like the inputs {case.description}",
            )
        g = g.detach()
        if not torch.isfinite(g).all() and torch.isfinite(e).all():
            fail(exercise, f"{out.name} contains NaN or infinity {case.description}")
        wrong = ~torch.isclose(g, e, rtol=rtol, atol=atol)
        if wrong.any():
            index = tuple(wrong.nonzero()[0].tolist())
            where = (
                ", ".join(f"{axis} {i}" for axis, i in zip(out.axes, index))
                or f"index {index}"
            )
            fail(
                exercise,
                f"{out.name} is wrong at {where} {case.description}: "
                f"got {g[index].item():.6g}, expected {e[index].item():.6g}",
            )


def _check_gradients(exercise, student_fn, reference_fn, case, rtol, atol) -> None:
    """Backpropagate the same random weighting of the outputs through both functions."""
    inputs_s, inputs_r = _fresh(case.args, grad=True), _fresh(case.args, grad=True)
    got = _call(exercise, student_fn, inputs_s, case.description)
    expected = _as_tuple(reference_fn(*inputs_r))
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(e.shape, generator=g, dtype=e.dtype) for e in expected]
    sum(((e * w).sum() for e, w in zip(expected, weights)), torch.zeros(())).backward()
    student_loss = sum(
        ((o * w).sum() for o, w in zip(got, weights) if o.requires_grad),
        torch.zeros(()),
    )
    if not student_loss.requires_grad:
        fail(
            exercise,
            f"the values are right but no gradient flows through your function {case.description}: "
            "build the result from the inputs with torch operations, without .detach(), .item() or NumPy",
        )
    student_loss.backward()
    names = list(inspect.signature(reference_fn).parameters)
    for name, a_s, a_r in zip(names, inputs_s, inputs_r):
        if isinstance(a_r, torch.Tensor) and a_r.grad is not None:
            grad_s = a_s.grad if a_s.grad is not None else torch.zeros_like(a_r.grad)
            if not torch.allclose(grad_s, a_r.grad, rtol=rtol * 100, atol=atol * 100):
                fail(
                    exercise,
                    f"the values are right but the gradient with respect to {name} differs "
                    f"{case.description}: check for .detach(), in-place changes or values copied out of the graph",
                )
