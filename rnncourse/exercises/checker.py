"""The checker framework: run a student's function against the reference, then say
in one plain sentence what differs.

A checker calls the student's function and the reference on the same inputs
(several shapes and edge cases), compares structure, shape, dtype, device, values
and, where asked, gradients, and recognises the usual mistakes by their outputs. A
wrong answer raises :class:`ExerciseError`, which IPython shows as its one
sentence rather than a traceback; an autograder (nbgrader) sees a failing cell.

A checker never crashes on a student's answer: whatever the student's function
raises, and whatever goes wrong while comparing what it returned, ends as an
:class:`ExerciseError` with one sentence.

Two rules can be put on the student's function while it runs (and only then):

- ``by_hand=True``: autograd is off limits (``torch.autograd.grad``,
  ``Tensor.backward``, ``torch.func``'s transforms, ``torch.autograd.functional``);
- ``forbidden=[...]``: the package's own implementation of the exercise and
  torch's fused equivalents are off limits.

Both patch the functions where they are defined, in every imported module that
holds them under some name (a notebook's ``from ... import name`` included), and
in the student's function's own globals, closure and defaults; everything is
restored afterwards, whatever happens.

Public API:

- :func:`check`: the whole comparison, case by case, with mistakes and gradients
  (``quiet=True`` leaves out its pass line, for a checker that prints its own);
- :class:`Group` and :func:`check_in_groups`: :func:`check` on groups of cases, each
  with its own tolerances (:data:`FLOAT32` for float32), and one pass line for all;
- :func:`refuse_overflow`: NaN or infinity on cases at the scale of real use, named as
  the overflow it is;
- :func:`fail`: raise the one-sentence :class:`ExerciseError`;
- :func:`require_function`: fail unless the answer is callable;
- :func:`whole_number`: an answer that counts, as a Python int, or a sentence;
- :func:`call_student`: call the student's function once, under the rules;
- :class:`Guard`: the rules in force for several calls (patch once, call often), with
  its sentence about shortcuts (``shortcut_sentence``) chosen by the exercise;
- :func:`autograd_forbidden`, :func:`forbid`: the rules as context managers;
- :class:`Dataflow`: which torch calls read which inputs, and the largest tensor made
  of them (the point of an exercise: a chunk in matrix form, a tile in blocks);
- :func:`fresh_copies`: copies of the arguments, safe to change in place;
- :func:`randn64`: seeded float64 normal draws, to build cases;
- :func:`comparing`: turn any error of a checker's own comparison into a sentence;
- :func:`kind_of`: how to name a value's type to a student.
"""

from __future__ import annotations

import copy
import functools
import inspect
import numbers
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, NoReturn, Sequence, Union

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

NOT_SOLVED = (
    "this exercise is not solved yet: replace `raise NotImplementedError()` with your "
    "code"
)

#: What autograd looks like from Python: all of it is off limits under ``by_hand``.
AUTOGRAD = (
    "torch.autograd.grad",
    "torch.autograd.backward",
    "torch.Tensor.backward",
    "torch.autograd.functional.jacobian",
    "torch.autograd.functional.hessian",
    "torch.autograd.functional.vjp",
    "torch.autograd.functional.jvp",
    "torch.autograd.functional.vhp",
    "torch.autograd.functional.hvp",
    "torch.autograd.forward_ad.make_dual",
    "torch.func.grad",
    "torch.func.grad_and_value",
    "torch.func.vjp",
    "torch.func.jvp",
    "torch.func.jacrev",
    "torch.func.jacfwd",
    "torch.func.hessian",
    "torch.func.linearize",
)

#: What follows "your function calls <name>, " when the student's function calls a
#: forbidden function (:class:`Guard`'s ``shortcut_sentence`` replaces it).
SHORTCUT_SENTENCE = (
    "which does the exercise for you: write the computation yourself with basic torch "
    "operations"
)

#: float32's tolerances: its rounding (about 6e-8) differs between equally right
#: orders of operations.
FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}

#: A forbidden function: ``(owner, "name")`` with the owner a module or a class, or
#: a dotted name such as ``"torch.nn.functional.softmax"`` (looked up among the
#: modules already imported, so naming an optional module imports nothing).
Target = Union[str, tuple]


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


# --- sentences ------------------------------------------------------------------


def _sentence(text: str) -> str:
    """``text`` on one line, without a final full stop."""
    return " ".join(str(text).split()).rstrip(" .")


def fail(exercise: str, message: str) -> NoReturn:
    """Raise the :class:`ExerciseError` ``"<exercise>: <message>."``, on one line."""
    raise ExerciseError(f"{exercise}: {_sentence(message)}.")


def _quote(err: BaseException, limit: int = 200) -> str:
    """An exception's message, on one line and not too long, to quote in a sentence."""
    try:
        text = _sentence(str(err))
    except Exception:  # an exception that cannot even say what it is
        return "with a message that cannot be printed"
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _raised(err: BaseException) -> str:
    text = _quote(err)
    return f"{type(err).__name__} ({text})" if text else type(err).__name__


def kind_of(value: Any) -> str:
    """How to name the type of ``value`` to a student: "None", "a Python list",
    "a NumPy array", "a generator", "a tuple of 2 values", "a float"..."""
    if value is None:
        return "None"
    if isinstance(value, types.GeneratorType):
        return "a generator"
    if type(value).__module__.split(".")[0] == "numpy" and hasattr(value, "shape"):
        return "a NumPy array" if getattr(value, "ndim", 0) else "a NumPy number"
    if isinstance(value, list):
        return "a Python list"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} values"
    if isinstance(value, (bool, int, float, complex, str)):
        name = type(value).__name__
        return f"a Python {name}"
    return f"a {type(value).__name__}"


def _tensor_hint(value: Any) -> str:
    """What to do about a value that should have been a tensor."""
    if value is None:
        return ": the function needs a return statement that returns it"
    if isinstance(value, types.GeneratorType):
        return (
            ": a generator expression (or yield) only promises values, build the "
            "tensor with torch.stack or torch.cat"
        )
    if isinstance(value, list):
        return ": join a list of tensors with torch.stack or torch.cat"
    if kind_of(value).startswith("a NumPy"):
        return ": compute it with torch operations, so that gradients can flow"
    return ""


# --- arguments --------------------------------------------------------------------


def randn64(g: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    """Normal draws of ``shape`` (none: a 0-d tensor) from the generator ``g``, in
    float64, times ``scale``."""
    return torch.randn(shape, generator=g, dtype=torch.float64) * scale


def fresh_copies(args: tuple, grad: bool = False) -> tuple:
    """Copies of the arguments, so a function that changes its inputs in place harms
    nothing: tensors are cloned (floating ones requiring grad when ``grad``), modules
    deep-copied, lists, tuples and dicts copied, everything else passed as it is."""
    return tuple(_copy(a, grad) for a in args)


def _copy(value, grad: bool):
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(grad and value.is_floating_point())
    if isinstance(value, torch.nn.Module):
        return copy.deepcopy(value)
    if isinstance(value, list):
        return [_copy(v, False) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(_copy(v, False) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v, False) for k, v in value.items()}
    return value


def _through(leaves: tuple) -> tuple:
    """What the student gets in a gradient check: a copy of each leaf made by an
    operation, so that changing it in place is allowed and the gradient still
    reaches the leaf."""
    return tuple(
        a.clone() if isinstance(a, torch.Tensor) and a.requires_grad else a
        for a in leaves
    )


# --- the rules: autograd and shortcuts off limits while the student's code runs ----


def _lookup(path: str):
    """The object a dotted name names, through the modules already imported (the
    longest imported prefix, then attributes), or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj = module
        for part in parts[cut:]:
            obj = (
                vars(obj).get(part)
                if isinstance(obj, types.ModuleType)
                else getattr(obj, part, None)
            )
            if obj is None:
                return None
        return obj
    return None


def _name_of(owner) -> str:
    if isinstance(owner, types.ModuleType):
        return owner.__name__
    return f"{owner.__module__}.{owner.__qualname__}"


def _resolve(target: Target):
    """(owner, name, value, display name) of a target, or None if it does not exist."""
    if isinstance(target, str):
        owner_path, _, name = target.rpartition(".")
        owner = _lookup(owner_path)
        display = target
    else:
        owner, name = target
        display = f"{_name_of(owner)}.{name}"
    if owner is None:
        return None
    if isinstance(owner, types.ModuleType):
        value = vars(owner).get(name)
    else:
        value = getattr(owner, name, None)
    return None if value is None else (owner, name, value, display)


_MISSING = object()


class Guard:
    """The rules of an exercise, in force while the student's function runs.

    ``with Guard(exercise, fn, by_hand=..., forbidden=...) as guard:`` patches the
    off-limits functions once; ``guard.call(args, description)`` then runs ``fn``
    with them armed (they raise :class:`ExerciseError`), and disarms them when it
    returns, so that the reference and the checker's own code may use them. Leaving
    the block restores everything, even when the student's function raised.

    A forbidden function, called, fails with "your function calls <name>, " followed
    by ``shortcut_sentence`` (by default :data:`SHORTCUT_SENTENCE`: it does the
    exercise for the student).
    """

    def __init__(
        self,
        exercise: str,
        fn: Callable | None = None,
        *,
        by_hand: bool = False,
        forbidden: Sequence[Target] = (),
        namespaces: Sequence[dict] = (),
        shortcut_sentence: str = SHORTCUT_SENTENCE,
    ):
        self.exercise, self.fn = exercise, fn
        self.shortcut_sentence = shortcut_sentence
        self.rules = [(t, "by hand") for t in (AUTOGRAD if by_hand else ())] + [
            (t, "shortcut") for t in forbidden
        ]
        self.namespaces = list(namespaces)
        self.armed = False
        self.violation: ExerciseError | None = None
        self._undo: list[Callable[[], None]] = []
        # id of each forbidden function -> (the function, its sentence, its wrapper)
        self._originals: dict[int, tuple[Any, str, Callable]] = {}
        self._classes: list[tuple[type, str]] = []

    # -- the sentences
    def _sentence_for(self, display: str, kind: str) -> str:
        if kind == "by hand":
            return (
                f"your function calls {display}, but this exercise asks for the "
                "gradient by hand, not autograd: apply the chain rule yourself with "
                "tensor operations"
            )
        return f"your function calls {display}, {self.shortcut_sentence}"

    def _violate(self, sentence: str) -> NoReturn:
        err = ExerciseError(f"{self.exercise}: {_sentence(sentence)}.")
        if self.violation is None:
            self.violation = err  # kept even if the student's code catches it
        raise err

    # -- patching
    def _wrapper(self, original, sentence: str):
        guard = self

        def refuse_when_armed(*args, **kwargs):
            if guard.armed:
                guard._violate(sentence)
            return original(*args, **kwargs)

        try:
            functools.update_wrapper(refuse_when_armed, original)
        except Exception:  # an object without the usual attributes
            pass
        return refuse_when_armed

    def _set_attribute(self, owner, name: str, value) -> None:
        if isinstance(owner, types.ModuleType):
            self._set_item(vars(owner), name, value)
            return
        own = owner.__dict__.get(name, _MISSING)
        setattr(owner, name, value)
        if own is _MISSING:
            self._undo.append(lambda: delattr(owner, name))
        else:
            self._undo.append(lambda: setattr(owner, name, own))

    def _set_item(self, namespace: dict, key, value) -> None:
        old = namespace[key]
        namespace[key] = value

        def undo():
            if namespace.get(key) is value:
                namespace[key] = old

        self._undo.append(undo)

    def _patch_class(self, cls: type, sentence: str) -> None:
        """A forbidden class (a module such as torch.nn.LSTMCell): its forward
        refuses, so that building one is allowed but using it is not."""
        name = "forward" if hasattr(cls, "forward") else "__call__"
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, (staticmethod, classmethod)):
            patched = staticmethod(self._wrapper(getattr(cls, name), sentence))
        else:
            patched = self._wrapper(raw, sentence)
        self._set_attribute(cls, name, patched)
        self._classes.append((cls, sentence))

    def _student_namespaces(self) -> list[dict]:
        """The globals of the student's function (and of what it wraps)."""
        found, seen, todo = [], set(), [self.fn]
        while todo:
            obj = todo.pop()
            if obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, functools.partial):
                todo.append(obj.func)
            todo.append(getattr(obj, "__wrapped__", None))
            todo.append(getattr(obj, "__func__", None))
            if inspect.isfunction(obj):
                found.append(obj.__globals__)
                self._patch_function_state(obj)
        return found

    def _patch_function_state(self, fn: types.FunctionType) -> None:
        """Forbidden functions held in the closure or the defaults of ``fn``."""
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if id(contents) in self._originals:
                wrapper = self._originals[id(contents)][2]
                cell.cell_contents = wrapper
                self._undo.append(
                    lambda cell=cell, contents=contents: setattr(
                        cell, "cell_contents", contents
                    )
                )
        if fn.__defaults__ and any(id(d) in self._originals for d in fn.__defaults__):
            old = fn.__defaults__
            fn.__defaults__ = tuple(
                self._originals[id(d)][2] if id(d) in self._originals else d
                for d in old
            )
            self._undo.append(lambda: setattr(fn, "__defaults__", old))
        for key, value in (fn.__kwdefaults__ or {}).items():
            if id(value) in self._originals:
                self._set_item(fn.__kwdefaults__, key, self._originals[id(value)][2])

    def __enter__(self) -> Guard:
        try:
            for target, kind in self.rules:
                resolved = _resolve(target)
                if resolved is None:
                    continue  # not in this version of torch, or not imported
                owner, name, value, display = resolved
                sentence = self._sentence_for(display, kind)
                if id(value) in self._originals or any(
                    value is cls for cls, _ in self._classes
                ):
                    continue
                if isinstance(value, type):
                    self._patch_class(value, sentence)
                    continue
                wrapper = self._wrapper(value, sentence)
                self._originals[id(value)] = (value, sentence, wrapper)
                if isinstance(owner, types.ModuleType):  # even if not in sys.modules
                    self.namespaces.append(vars(owner))
                else:  # a method
                    raw = inspect.getattr_static(owner, name)
                    if isinstance(raw, (staticmethod, classmethod)):
                        wrapper = staticmethod(wrapper)
                    self._set_attribute(owner, name, wrapper)
            if self._originals:
                namespaces = [
                    vars(m)
                    for m in list(sys.modules.values())
                    if isinstance(m, types.ModuleType)
                ]
                for namespace in namespaces + self._student_namespaces():
                    self._replace_in(namespace)
                for namespace in self.namespaces:
                    self._replace_in(namespace)
        except BaseException:
            self._restore()
            raise
        return self

    def _replace_in(self, namespace: dict) -> None:
        try:
            hits = [k for k, v in namespace.items() if id(v) in self._originals]
        except RuntimeError:  # changed while we looked: look at a copy
            hits = [k for k, v in dict(namespace).items() if id(v) in self._originals]
        for key in hits:
            value = namespace[key]
            if id(value) in self._originals:
                self._set_item(namespace, key, self._originals[id(value)][2])

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        self.armed = False
        while self._undo:
            self._undo.pop()()

    # -- calling the student's function
    def refuse_if_forbidden(self, fn: Callable) -> None:
        """Fail when ``fn`` is itself a forbidden function (or wraps one, or is an
        instance of a forbidden class)."""
        seen, todo = set(), [fn]
        while todo:
            obj = todo.pop()
            if obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            if id(obj) in self._originals:
                self._violate(self._originals[id(obj)][1])
            for cls, sentence in self._classes:
                if obj is cls or isinstance(obj, cls):
                    self._violate(sentence)
            if isinstance(obj, functools.partial):
                todo.append(obj.func)
            todo.append(getattr(obj, "__wrapped__", None))
            todo.append(getattr(obj, "__func__", None))

    @contextmanager
    def armed_block(self) -> Iterator[None]:
        """The rules armed for the block; a violation the code caught still counts."""
        previous, self.armed, self.violation = self.armed, True, None
        try:
            yield
        except BaseException:
            if self.violation is not None:
                raise self.violation from None
            raise
        finally:
            self.armed = previous
        if self.violation is not None:
            raise self.violation

    def call(
        self,
        args: tuple,
        description: str = "",
        explain: Callable[[Exception], str | None] | None = None,
        fn: Callable | None = None,
    ):
        """Run the student's function on ``args`` under the rules and return what it
        returned. Whatever it raises becomes an :class:`ExerciseError`: "not solved
        yet" for the handed-out stub, otherwise "your function raised ...", with
        ``explain(err)`` (a hint, or None) appended."""
        fn = self.fn if fn is None else fn
        self.refuse_if_forbidden(fn)
        try:
            with self.armed_block():
                return fn(*args)
        except ExerciseError:
            raise
        except NotImplementedError as err:
            if not _quote(err):
                fail(self.exercise, NOT_SOLVED)
            _student_raised(self.exercise, err, description, explain)
        except Exception as err:  # the student's bug, in one sentence
            _student_raised(self.exercise, err, description, explain)


def _student_raised(exercise, err, description, explain) -> NoReturn:
    hint = None
    if explain is not None:
        try:
            hint = explain(err)
        except Exception:  # a hint is a courtesy; never let it crash the check
            hint = None
    fail(
        exercise,
        f"your function raised {_raised(err)} {description}"
        + (f": {hint}" if hint else ""),
    )


def require_function(exercise: str, fn: Any) -> None:
    """Fail unless the answer is something that can be called."""
    if not callable(fn):
        fail(exercise, f"expected a function, got {kind_of(fn)}")


def call_student(
    exercise: str,
    fn: Callable,
    args: tuple,
    description: str = "",
    *,
    by_hand: bool = False,
    forbidden: Sequence[Target] = (),
    explain: Callable[[Exception], str | None] | None = None,
):
    """Call ``fn(*args)`` once under the rules and return its result; every error
    becomes an :class:`ExerciseError` (see :meth:`Guard.call`)."""
    require_function(exercise, fn)
    with Guard(exercise, fn, by_hand=by_hand, forbidden=forbidden) as guard:
        return guard.call(args, description, explain)


@contextmanager
def autograd_forbidden(
    exercise: str, namespaces: Sequence[dict] = ()
) -> Iterator[None]:
    """Inside the block, autograd (torch.autograd.grad, Tensor.backward, torch.func's
    transforms, torch.autograd.functional) raises an :class:`ExerciseError` saying
    that the exercise asks for the gradient by hand; restored on leaving."""
    with Guard(exercise, by_hand=True, namespaces=namespaces) as guard:
        with guard.armed_block():
            yield


@contextmanager
def forbid(
    exercise: str, targets: Sequence[Target], namespaces: Sequence[dict] = ()
) -> Iterator[None]:
    """Inside the block, each target raises an :class:`ExerciseError` asking the
    student to write it, wherever it is looked up (see :class:`Guard`)."""
    with Guard(exercise, forbidden=targets, namespaces=namespaces) as guard:
        with guard.armed_block():
            yield


@contextmanager
def comparing(exercise: str, description: str = "") -> Iterator[None]:
    """A checker's own comparison of the student's result: any error in it (a value
    of an odd type, a tensor on another device) becomes an :class:`ExerciseError`."""
    try:
        yield
    except ExerciseError:
        raise
    except Exception as err:
        fail(
            exercise,
            f"your result could not be compared with the expected one {description} "
            f"({_raised(err)}): return the values and types the exercise asks for",
        )


# --- the comparison -----------------------------------------------------------------


def _results(result, n_outputs: int) -> tuple:
    """The returned values as a tuple (a list counts as a tuple of several values)."""
    if isinstance(result, tuple):
        return result
    if isinstance(result, list) and n_outputs > 1:
        return tuple(result)
    return (result,)


def _matches(got: tuple, expected: tuple, rtol: float, atol: float) -> bool:
    return len(got) == len(expected) and all(
        isinstance(g, torch.Tensor)
        and g.device == e.device
        and g.shape == e.shape
        and g.dtype == e.dtype
        and torch.allclose(g.detach(), e.detach(), rtol=rtol, atol=atol, equal_nan=True)
        for g, e in zip(got, expected)
    )


def _tensors_like(got: tuple, expected: tuple) -> bool:
    """Whether ``got`` could be a usual mistake's output: tensors on the device of
    the expected ones (any other answer is explained without running the mistakes)."""
    devices = {e.device for e in expected if isinstance(e, torch.Tensor)}
    return all(isinstance(g, torch.Tensor) and g.device in devices for g in got)


def _mistake_gives(mistake: Mistake, case: Case, got: tuple, n: int, rtol, atol):
    try:
        planted = _results(mistake.fn(*fresh_copies(case.args)), n)
        return _matches(got, planted, rtol, atol)
    except Exception:  # a mistake that cannot run on this case explains nothing
        return False


def check(
    exercise: str,
    student_fn: Callable,
    reference_fn: Callable,
    cases: Sequence[Case],
    outputs: Sequence[Output],
    mistakes: Sequence[Mistake] = (),
    rtol: float = 1e-6,
    atol: float = 1e-8,
    *,
    by_hand: bool = False,
    forbidden: Sequence[Target] = (),
    explain: Callable[[Exception], str | None] | None = None,
    quiet: bool = False,
) -> None:
    """Compare ``student_fn`` with ``reference_fn`` on every case; print one pass
    line (none when ``quiet``) or raise :class:`ExerciseError`.

    ``outputs`` describes what the function returns: one entry for a single
    tensor, several for a tuple. Gradients (with respect to every floating
    tensor argument) are compared on cases with ``grad=True``. ``by_hand`` and
    ``forbidden`` put autograd and shortcuts off limits while the student's
    function runs (see :class:`Guard`); ``explain(err)`` may add a hint to the
    sentence about an error the student's function raised. ``quiet`` is for a
    checker that runs ``check`` for part of an exercise and prints one line at the
    end, for all its parts (whatever the student's function prints still shows).
    """
    require_function(exercise, student_fn)
    n = len(outputs)
    with Guard(exercise, student_fn, by_hand=by_hand, forbidden=forbidden) as guard:
        for case in cases:
            expected = _results(reference_fn(*fresh_copies(case.args)), n)
            result = guard.call(fresh_copies(case.args), case.description, explain)
            with comparing(exercise, case.description):
                got = _results(result, n)
                if not _matches(got, expected, rtol, atol):
                    for mistake in mistakes if _tensors_like(got, expected) else ():
                        if _mistake_gives(mistake, case, got, n, rtol, atol):
                            fail(exercise, mistake.message)
                    _describe_difference(
                        exercise, got, expected, outputs, case, rtol, atol
                    )
            if case.grad:
                _check_gradients(exercise, guard, reference_fn, case, n, rtol, atol)
    if not quiet:
        print(f"\u2705 {exercise}: correct on all {len(cases)} test cases.")


def _describe_difference(exercise, got, expected, outputs, case, rtol, atol) -> None:
    where = case.description
    if len(got) == 1 and got[0] is None:
        fail(
            exercise,
            f"your function returned None {where}: end it with a return statement that "
            "returns the result",
        )
    if len(got) != len(expected):
        names = " and ".join(o.name for o in outputs)
        count = (
            kind_of(got[0])
            if len(got) == 1 and not isinstance(got[0], torch.Tensor)
            else len(got)
        )
        fail(
            exercise,
            f"expected {len(expected)} return value(s) ({names}), got {count} {where}",
        )
    for g, e, out in zip(got, expected, outputs):
        if not isinstance(g, torch.Tensor):
            fail(
                exercise,
                f"{out.name} should be a torch.Tensor, got {kind_of(g)} {where}"
                + _tensor_hint(g),
            )
        if g.device != e.device:
            fail(
                exercise,
                f"{out.name} is on the device {g.device} but should be on {e.device}, "
                f"like the inputs {where}: create new tensors on the inputs' device "
                "(device=x.device, or torch.zeros_like and its kin)",
            )
        if g.shape != e.shape:
            fail(
                exercise,
                f"{out.name} has shape {tuple(g.shape)} but should have shape "
                f"{tuple(e.shape)} {where}",
            )
        if g.dtype != e.dtype:
            fail(
                exercise,
                f"{out.name} has dtype {g.dtype} but should have {e.dtype} like the "
                f"inputs {where}",
            )
        g = g.detach()
        if not torch.isfinite(g).all() and torch.isfinite(e).all():
            fail(exercise, f"{out.name} contains NaN or infinity {where}")
        wrong = ~torch.isclose(g, e.detach(), rtol=rtol, atol=atol, equal_nan=True)
        if wrong.any():
            index = tuple(wrong.nonzero()[0].tolist())
            at = (
                ", ".join(f"{axis} {i}" for axis, i in zip(out.axes, index))
                or f"index {index}"
            )
            fail(
                exercise,
                f"{out.name} is wrong at {at} {where}: got {g[index].item():.6g}, "
                f"expected {e[index].item():.6g}",
            )
    fail(exercise, f"your result differs from the expected one {where}")


def _check_gradients(exercise, guard, reference_fn, case, n, rtol, atol) -> None:
    """Backpropagate the same random weighting of the outputs through both functions.

    The student's function gets copies made by an operation (not leaves), so that a
    right answer that changes its arguments in place still passes."""
    leaves_s, leaves_r = (
        fresh_copies(case.args, grad=True),
        fresh_copies(case.args, grad=True),
    )
    result = guard.call(_through(leaves_s), case.description)
    expected = _results(reference_fn(*leaves_r), n)
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(e.shape, generator=g, dtype=e.dtype) for e in expected]
    sum(((e * w).sum() for e, w in zip(expected, weights)), torch.zeros(())).backward()
    with comparing(exercise, case.description):
        got = _results(result, n)
        student_loss = sum(
            ((o * w).sum() for o, w in zip(got, weights) if o.requires_grad),
            torch.zeros(()),
        )
    if not student_loss.requires_grad:
        fail(
            exercise,
            "the values are right but no gradient flows through your function "
            f"{case.description}: build the result from the inputs with torch "
            "operations, without .detach(), .item() or NumPy",
        )
    try:
        student_loss.backward()
    except Exception as err:
        fail(
            exercise,
            "the values are right but backpropagating through your function failed "
            f"{case.description} ({_raised(err)}): avoid changing in place a tensor "
            "that the gradient still needs",
        )
    try:
        names = list(inspect.signature(reference_fn).parameters)
    except (TypeError, ValueError):
        names = []
    names += [f"argument {i + 1}" for i in range(len(names), len(leaves_r))]
    with comparing(exercise, case.description):
        for name, a_s, a_r in zip(names, leaves_s, leaves_r):
            if isinstance(a_r, torch.Tensor) and a_r.grad is not None:
                grad_s = (
                    a_s.grad if a_s.grad is not None else torch.zeros_like(a_r.grad)
                )
                if not torch.allclose(
                    grad_s, a_r.grad, rtol=rtol * 100, atol=atol * 100
                ):
                    fail(
                        exercise,
                        f"the values are right but the gradient with respect to {name} "
                        f"differs {case.description}: check for .detach(), in-place "
                        "changes or values copied out of the graph",
                    )


# --- cases in groups, and overflow named ------------------------------------------


@dataclass
class Group:
    """Cases compared with the same tolerances: float64 cases tightly, float32 cases
    more loosely (:data:`FLOAT32`: float32 rounding differs between equally right
    orders of operations). ``overflow``, when given, ends the sentence that explains
    NaN or infinity in the student's result on these cases, which sit at the scale of
    real use (see :func:`refuse_overflow`). ``outputs``, when given, replaces the
    outputs common to all groups (for cases that return another number of
    tensors)."""

    cases: Sequence[Case]
    rtol: float = 1e-6
    atol: float = 1e-8
    overflow: str | None = None
    outputs: Sequence[Output] | None = None


def _overflowed(got, expected) -> bool:
    """Whether ``got`` holds NaN or infinity where ``expected``, a tensor of the same
    shape on the same device, is finite."""
    return (
        isinstance(got, torch.Tensor)
        and got.device == expected.device
        and got.shape == expected.shape
        and got.is_floating_point()
        and not torch.isfinite(got.detach()).all()
        and torch.isfinite(expected).all()
    )


def refuse_overflow(
    exercise: str,
    fn: Callable,
    reference_fn: Callable,
    cases: Sequence[Case],
    outputs: Sequence[Output],
    why: str,
    *,
    by_hand: bool = False,
    forbidden: Sequence[Target] = (),
    explain: Callable[[Exception], str | None] | None = None,
    strict: bool = False,
) -> None:
    """Run ``fn`` on each case (under the rules) and fail with "<output> contains NaN
    or infinity <case>: <why>" when it returns NaN or infinity where the reference's
    values are finite. Any other result, right or wrong, is left to :func:`check`;
    an error the function raises is explained by ``explain``, as in :func:`check`.

    ``strict`` blames everything that goes wrong on these cases on the overflow: an
    error the function raises ends its sentence with ``why`` (``explain`` is not
    asked), NaN or infinity in the student's gradient (on cases with ``grad=True``)
    fails as well, and each sentence adds that every expected value is finite."""
    finite = ", where every expected value is finite" if strict else ""
    hint = (lambda err: why) if strict else explain
    n = len(outputs)
    with Guard(exercise, fn, by_hand=by_hand, forbidden=forbidden) as guard:
        for case in cases:
            expected = _results(reference_fn(*fresh_copies(case.args)), n)
            result = guard.call(fresh_copies(case.args), case.description, hint)
            with comparing(exercise, case.description):
                got = _results(result, n)
                for g, e, out in zip(got, expected, outputs):
                    if _overflowed(g, e):
                        fail(
                            exercise,
                            f"{out.name} contains NaN or infinity {case.description}"
                            f"{finite}: {why}",
                        )
            if strict and case.grad:
                _refuse_overflowing_gradient(
                    exercise, guard, reference_fn, case, n, why
                )


def _gradients(fn: Callable, case: Case, n: int) -> list | None:
    """The gradients of a fixed random weighting of ``fn``'s outputs with respect to
    the case's floating tensors (None for the others), or None if there are none.
    ``fn`` gets copies made by an operation, which it may change in place."""
    leaves = fresh_copies(case.args, grad=True)
    result = _results(fn(*_through(leaves)), n)
    g = torch.Generator().manual_seed(0)
    loss = sum(
        (
            (r * torch.randn(r.shape, generator=g, dtype=r.dtype)).sum()
            for r in result
            if isinstance(r, torch.Tensor) and r.requires_grad
        ),
        torch.zeros(()),
    )
    if not loss.requires_grad:
        return None
    loss.backward()
    return [a.grad if isinstance(a, torch.Tensor) else None for a in leaves]


def _refuse_overflowing_gradient(exercise, guard, reference_fn, case, n, why) -> None:
    """Fail when the student's gradient on a case at the scale of real use holds NaN
    or infinity where the reference's is finite (values right or wrong: any other
    difference is left to :func:`check`)."""
    expected = _gradients(reference_fn, case, n)
    try:
        got = _gradients(lambda *given: guard.call(given, case.description), case, n)
    except ExerciseError:
        raise
    except Exception:  # a result that cannot be backpropagated: check says why
        return
    if got is None or expected is None:
        return
    for g, e in zip(got, expected):
        if (
            isinstance(g, torch.Tensor)
            and isinstance(e, torch.Tensor)
            and not torch.isfinite(g).all()
            and torch.isfinite(e).all()
        ):
            fail(
                exercise,
                f"your gradient contains NaN or infinity {case.description}, where "
                f"every expected value is finite: {why}",
            )


def check_in_groups(
    exercise: str,
    fn: Callable,
    reference_fn: Callable,
    groups: Sequence[Group],
    outputs: Sequence[Output],
    mistakes: Sequence[Mistake] = (),
    *,
    by_hand: bool = False,
    forbidden: Sequence[Target] = (),
    explain: Callable[[Exception], str | None] | None = None,
    strict: bool = False,
    quiet: bool = False,
) -> None:
    """:func:`check` on each group in turn, with the group's tolerances, after
    :func:`refuse_overflow` (``strict`` or not) where the group names an overflow;
    one pass line for all the cases at the end (none when ``quiet``)."""
    require_function(exercise, fn)
    for group in groups:
        named = outputs if group.outputs is None else group.outputs
        rules = {"by_hand": by_hand, "forbidden": forbidden, "explain": explain}
        if group.overflow:
            refuse_overflow(
                exercise,
                fn,
                reference_fn,
                group.cases,
                named,
                group.overflow,
                strict=strict,
                **rules,
            )
        check(
            exercise,
            fn,
            reference_fn,
            group.cases,
            named,
            mistakes,
            group.rtol,
            group.atol,
            quiet=True,
            **rules,
        )
    if not quiet:
        total = sum(len(group.cases) for group in groups)
        print(f"\u2705 {exercise}: correct on all {total} test cases.")


# --- answers that count -------------------------------------------------------------


def whole_number(exercise: str, got, where: str) -> int:
    """``got`` as a Python int: an int, a NumPy integer or a one-element integer tensor;
    anything else (a float, a bool) fails with a sentence."""
    if got is None:
        fail(
            exercise,
            f"your function returned None {where}: end it with a return statement that "
            "returns the number",
        )
    if (
        isinstance(got, torch.Tensor)
        and got.numel() == 1
        and not (got.is_floating_point() or got.is_complex() or got.dtype == torch.bool)
    ):
        return int(got.item())
    if isinstance(got, numbers.Integral) and not isinstance(got, bool):
        return int(got)
    if isinstance(got, (numbers.Real, torch.Tensor)) and not isinstance(got, bool):
        fail(
            exercise,
            f"expected a whole number (an int), got {kind_of(got)} {where}: int(...) "
            "or // gives one",
        )
    fail(exercise, f"expected a whole number (an int), got {kind_of(got)} {where}")


# --- what the student's function computes from what ---------------------------------


class Dataflow(TorchFunctionMode):
    """Which torch calls read the named input tensors, directly or through results
    computed from them.

    ``with Dataflow(q=q, k=k) as flow: fn(q, k)`` tags every tensor a torch function or
    tensor method returns with the names of the inputs it depends on (a tensor changed
    in place takes the tags of what was written into it); ``flow.ops`` counts the calls
    that read a tagged tensor and return or change a tensor (reading a shape or a dtype
    does not count), and ``flow.largest(*names)`` gives the shape of the largest
    floating-point tensor that depends on all of ``names`` (() if none). A loop over
    the steps of a sequence shows as calls that grow with its length; all the scores of
    a tile at once as one large tensor made of queries and keys. Values that leave
    torch (.tolist(), NumPy) are not followed: the gradient checks catch those.
    """

    def __init__(self, **sources: torch.Tensor):
        super().__init__()
        self.tags: dict[int, frozenset] = {
            id(t): frozenset([name]) for name, t in sources.items()
        }
        self.kept: list[torch.Tensor] = list(sources.values())  # ids stay unique
        self.ops = 0
        self._largest: dict[frozenset, tuple[int, tuple]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = tree_flatten((args, kwargs))[0]
        tags = frozenset().union(
            *(self.tags.get(id(t), ()) for t in inputs if isinstance(t, torch.Tensor))
        )
        if not tags:
            return out
        if func is torch.Tensor.__iter__:  # for row in q: each row is tagged
            rows = list(out)
            out, results = iter(rows), rows
        else:
            results = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        name = getattr(func, "__name__", "")
        if (
            args
            and isinstance(args[0], torch.Tensor)
            and (
                name.endswith("_") and not name.endswith("__") or name == "__setitem__"
            )
        ):
            results.append(args[0])  # changed in place
        if isinstance(kwargs.get("out"), torch.Tensor):
            results.append(kwargs["out"])
        if results:
            self.ops += 1
        for t in results:
            self._tag(t, tags)
        return out

    def _tag(self, t: torch.Tensor, tags: frozenset) -> None:
        tags = self.tags.get(id(t), frozenset()) | tags
        self.tags[id(t)] = tags
        self.kept.append(t)
        if t.is_floating_point() or t.is_complex():
            size = t.numel()
            if size > self._largest.get(tags, (0, ()))[0]:
                self._largest[tags] = (size, tuple(t.shape))

    def largest(self, *names: str) -> tuple:
        """The shape of the largest floating tensor computed from all of ``names``."""
        found = [value for tags, value in self._largest.items() if set(names) <= tags]
        return max(found, default=(0, ()))[1]


__all__ = [
    "AUTOGRAD",
    "FLOAT32",
    "NOT_SOLVED",
    "SHORTCUT_SENTENCE",
    "Case",
    "Dataflow",
    "ExerciseError",
    "Group",
    "Guard",
    "Mistake",
    "Output",
    "Target",
    "autograd_forbidden",
    "call_student",
    "check",
    "check_in_groups",
    "comparing",
    "fail",
    "forbid",
    "fresh_copies",
    "kind_of",
    "randn64",
    "refuse_overflow",
    "require_function",
    "whole_number",
]
