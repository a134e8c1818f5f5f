"""Layers: readable recurrent networks with the interfaces of their torch.nn twins."""
from rnncourse.nn.attention import Attention, masked_softmax
from rnncourse.nn.char_lm import CharLM
from rnncourse.nn.forecaster import Forecaster
from rnncourse.nn.jordan import Jordan
from rnncourse.nn.rnn import RNN, elman_cell
from rnncourse.nn.seq2seq import Seq2Seq, Seq2SeqConfig, beam_step, teacher_forcing_loss

__all__ = ["RNN", "Jordan", "CharLM", "Forecaster", "elman_cell", "Attention", "masked_softmax",
           "Seq2Seq", "Seq2SeqConfig", "beam_step", "teacher_forcing_loss"]
