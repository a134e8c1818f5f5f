"""What every checker test needs: the sentence a checker answers with, an unsolved
exercise, and a shortcut that is right but off limits."""

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
