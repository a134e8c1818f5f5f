"""Layers: readable recurrent networks with the interfaces of their torch.nn twins."""
from rnncourse.nn.char_lm import CharLM
from rnncourse.nn.forecaster import Forecaster
from rnncourse.nn.jordan import Jordan
from rnncourse.nn.rnn import RNN, elman_cell

__all__ = ["RNN", "Jordan", "CharLM", "Forecaster", "elman_cell"]
