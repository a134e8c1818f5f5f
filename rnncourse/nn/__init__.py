"""Layers: readable recurrent networks with the interfaces of their torch.nn twins."""
from rnncourse.nn.char_lm import CharLM
from rnncourse.nn.forecaster import Forecaster
from rnncourse.nn.gru import GRU, gru_cell
from rnncourse.nn.jordan import Jordan
from rnncourse.nn.lstm import LSTM, lstm_cell
from rnncourse.nn.rnn import RNN, elman_cell

__all__ = ["RNN", "LSTM", "GRU", "Jordan", "CharLM", "Forecaster", "elman_cell", "lstm_cell", "gru_cell"]
