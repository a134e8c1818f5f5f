"""What every checker test needs: the sentence a checker answers with, an unsolved
exercise, a shortcut that is right but off limits, and the tests every checker gets
(right answers pass, planted ones are refused each with its own sentence, odd return
values get a sentence).

``test_x = _rejecting(X_PLANTED, check_x)``, and likewise ``_accepting``,
``_distinct_usual_mistakes`` and ``_refusing_non_functions``, make the parametrised
tests every checker gets; pytest names each after the module's name for it."""

import functools

import pytest
import torch

from rnncourse.exercises import ExerciseError
from rnncourse.exercises.checker import fresh_copies


def _message(checker, fn) -> str:
    """The one sentence ``checker`` answers ``fn`` with; fails the test if it accepts
    ``fn``."""
    with pytest.raises(ExerciseError) as info:
        checker(fn)
    message = str(info.value)
    assert "\n" not in message and message.endswith("."), (
        "a checker answers in one plain sentence"
    )
    return message


@functools.cache
def _cached_message(checker, fn) -> str:
    """:func:`_message`, computed once per session for each checker and answer."""
    return _message(checker, fn)


def _not_solved(*args):
    """An exercise as the student version hands it out."""
    raise NotImplementedError()


def _shortcut_message(checker, fn, reference, args, called: str) -> str:
    """A shortcut gives the reference's values, yet ``checker`` refuses it, naming the
    function it calls; returns the sentence."""
    got, expected = fn(*fresh_copies(args)), reference(*fresh_copies(args))
    torch.testing.assert_close(got, expected)  # a right answer, but not by hand
    message = _message(checker, fn)
    assert f"your function calls {called}," in message
    assert "write the computation yourself" in message or "by hand" in message
    return message


def _accepting(right: dict, checker=None, says: str = "correct on all"):
    """A test that ``checker`` accepts each right answer of ``right`` (name -> answer,
    or name -> (checker, answer) when ``checker`` is None), printing ``says``."""

    @pytest.mark.parametrize("name", right)
    def test(name, capsys):
        check, fn = (checker, right[name]) if checker else right[name]
        check(fn)
        assert says in capsys.readouterr().out

    return test


def _rejecting(planted: dict, checker, message=_message):
    """A test that ``checker`` refuses each planted answer of ``planted`` (name ->
    (answer, part of the sentence, ...)) with a sentence that holds that part;
    ``message(checker, answer)`` gives the sentence."""

    @pytest.mark.parametrize("name", planted)
    def test(name):
        fn, expected = planted[name][:2]
        assert expected in message(checker, fn)

    return test


def _each_its_own_message(checker, answers, message=_message) -> None:
    """``checker`` refuses each of ``answers`` (the usual mistakes) with its own
    sentence; ``message(checker, answer)`` gives the sentence."""
    messages = [message(checker, answer) for answer in answers]
    assert len(set(messages)) == len(messages)


def _distinct_usual_mistakes(planted_by_checker: dict, kind: int, message=_message):
    """A test that each checker of ``planted_by_checker`` (checker -> its planted
    answers, name -> (answer, part of the sentence, kind)) refuses the planted answers
    of ``kind``, the usual mistakes, each with its own sentence."""

    @pytest.mark.parametrize("checker", planted_by_checker)
    def test(checker):
        planted = planted_by_checker[checker].values()
        _each_its_own_message(
            checker, [fn for fn, _, of in planted if of == kind], message
        )

    return test


def _refusing_non_functions(checkers, answer, says: str):
    """A test that each of ``checkers`` refuses ``answer``, which is no function, with a
    sentence that holds ``says``."""

    @pytest.mark.parametrize("checker", checkers)
    def test(checker):
        assert says in _message(checker, answer)

    return test


#: Odd return values, each with a part of the sentence it gets from every checker
#: ("." where the sentence depends on the exercise).
ODD_RETURNS = {
    "None": (lambda *a: None, "None"),
    "a generator": (lambda *a: (i for i in range(3)), "generator"),
    "a NumPy array": (lambda *a: torch.zeros(3).numpy(), "NumPy"),
    "NaN": (lambda *a: torch.full((3,), float("nan")), "."),
    "a tensor on another device": (lambda *a: torch.zeros(3, device="meta"), "."),
}
