"""What every checker test needs: the sentence a checker answers with, and an unsolved exercise."""

import pytest

from rnncourse.exercises import ExerciseError


def _message(checker, fn) -> str:
    """The one sentence ``checker`` answers ``fn`` with; fails the test if it accepts ``fn``."""
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
