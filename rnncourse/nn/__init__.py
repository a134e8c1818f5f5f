"""Layers: readable recurrent networks with the interfaces of their torch.nn twins."""

from rnncourse.nn.char_lm import CharLM
from rnncourse.nn.cross_attention import CrossAttention, masked_softmax
from rnncourse.nn.forecaster import Forecaster
from rnncourse.nn.gru import GRU, GRUCell, gru_cell
from rnncourse.nn.hgrn import HGRN, HGRU
from rnncourse.nn.hgrn2 import HGRN2, HGRU2
from rnncourse.nn.jordan import Jordan
from rnncourse.nn.lstm import LSTM, LSTMCell, lstm_cell, lstm_gates
from rnncourse.nn.lstm_lm import LSTMLM, LSTMConfig
from rnncourse.nn.mamba import MambaBlock, MambaState, MambaTagger
from rnncourse.nn.mamba_lm import Mamba, MambaConfig
from rnncourse.nn.mixer_lm import MixerLM, MixerLMState
from rnncourse.nn.registry import MODEL_CLASSES, build
from rnncourse.nn.retnet import MultiScaleRetention
from rnncourse.nn.retnet_lm import RetNet, RetNetConfig
from rnncourse.nn.rnn import RNN, RNNCell, elman_cell
from rnncourse.nn.rwkv import RWKV, RWKVConfig
from rnncourse.nn.s4d import S4D
from rnncourse.nn.selective_ssm import SelectiveSSM
from rnncourse.nn.seq2seq import Seq2Seq, Seq2SeqConfig, beam_step, teacher_forcing_loss
from rnncourse.nn.short_conv import ShortConvMixer, ShortConvolution, ShortConvState
from rnncourse.nn.tagger import Tagger
from rnncourse.nn.transformer import (
    CausalSelfAttention,
    KVCache,
    Transformer,
    TransformerConfig,
)

__all__ = [
    "RNN",
    "LSTM",
    "GRU",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "Jordan",
    "CharLM",
    "Forecaster",
    "elman_cell",
    "lstm_cell",
    "lstm_gates",
    "gru_cell",
    "CrossAttention",
    "masked_softmax",
    "Seq2Seq",
    "Seq2SeqConfig",
    "beam_step",
    "teacher_forcing_loss",
    "Tagger",
    "S4D",
    "SelectiveSSM",
    "MambaBlock",
    "MambaTagger",
    "HGRU",
    "HGRN",
    "HGRU2",
    "HGRN2",
    "MultiScaleRetention",
    "RWKV",
    "RWKVConfig",
    "MambaState",
    "MixerLM",
    "MixerLMState",
    "CausalSelfAttention",
    "KVCache",
    "Transformer",
    "TransformerConfig",
    "RetNet",
    "RetNetConfig",
    "Mamba",
    "MambaConfig",
    "LSTMLM",
    "LSTMConfig",
    "ShortConvolution",
    "ShortConvMixer",
    "ShortConvState",
    "MODEL_CLASSES",
    "build",
]
