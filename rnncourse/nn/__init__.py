"""Layers: readable recurrent networks with the interfaces of their torch.nn twins."""
from rnncourse.nn.char_lm import CharLM
from rnncourse.nn.forecaster import Forecaster
from rnncourse.nn.gru import GRU, GRUCell, gru_cell
from rnncourse.nn.jordan import Jordan
from rnncourse.nn.lstm import LSTM, LSTMCell, lstm_cell
from rnncourse.nn.rnn import RNN, RNNCell, elman_cell

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Jordan", "CharLM", "Forecaster", "elman_cell", "lstm_cell", "gru_cell"]
