"""Exercise checkers: ``check_<name>(your_function)`` prints a pass line or says what is wrong.

The framework is in :mod:`rnncourse.exercises.checker`; each chapter's
checkers live in a module named after the chapter.
"""
from rnncourse.exercises.checker import ExerciseError
from rnncourse.exercises.rnn_basics import check_rnn_step, check_temperature_probs, check_unroll
from rnncourse.exercises.seq2seq_attention import check_additive_score, check_beam_step, check_masked_softmax

__all__ = ["ExerciseError", "check_rnn_step", "check_unroll", "check_temperature_probs",
           "check_additive_score", "check_masked_softmax", "check_beam_step"]
