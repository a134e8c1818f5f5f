"""Exercise checkers: ``check_<name>(your_function)`` prints a pass line or says what is
wrong.

The framework is in :mod:`rnncourse.exercises.checker`; each chapter's
checkers live in a module named after the chapter.
"""

from rnncourse.exercises.bptt import (
    check_grad_h0,
    check_step_backward,
    check_train_truncated,
)
from rnncourse.exercises.checker import ExerciseError
from rnncourse.exercises.choosing_architecture import (
    check_add_attention,
    check_cache_bytes,
    check_state_numbers,
)
from rnncourse.exercises.flash_attention import (
    check_attention_tile,
    check_longest_naive,
    check_online_softmax_update,
)
from rnncourse.exercises.linear_attention import (
    check_linear_attention_chunk,
    check_linear_attention_recurrent,
    check_wkv_step,
)
from rnncourse.exercises.linear_rnns import check_combine, check_ssm_kernel, check_zoh
from rnncourse.exercises.lstm_gru import (
    check_bidirectional,
    check_gru_cell,
    check_lstm_cell,
    check_sample,
)
from rnncourse.exercises.rnn_basics import (
    check_rnn_step,
    check_temperature_probs,
    check_unroll,
)
from rnncourse.exercises.seq2seq_attention import (
    check_additive_score,
    check_beam_step,
    check_masked_softmax,
)
from rnncourse.exercises.vanishing_exploding import (
    check_clip_by_norm,
    check_init_recurrent,
    check_jacobian_product,
)

__all__ = [
    "ExerciseError",
    "check_rnn_step",
    "check_unroll",
    "check_temperature_probs",
    "check_step_backward",
    "check_grad_h0",
    "check_train_truncated",
    "check_jacobian_product",
    "check_clip_by_norm",
    "check_init_recurrent",
    "check_lstm_cell",
    "check_gru_cell",
    "check_bidirectional",
    "check_sample",
    "check_additive_score",
    "check_masked_softmax",
    "check_beam_step",
    "check_combine",
    "check_zoh",
    "check_ssm_kernel",
    "check_linear_attention_recurrent",
    "check_linear_attention_chunk",
    "check_wkv_step",
    "check_online_softmax_update",
    "check_attention_tile",
    "check_longest_naive",
    "check_state_numbers",
    "check_cache_bytes",
    "check_add_attention",
]
