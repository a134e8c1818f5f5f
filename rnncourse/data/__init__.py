"""Offline data sets: generated on the spot or shipped with the package,
never downloaded."""

from rnncourse.data.dates import DateBatches, Tokenizer, date_splits, date_tokenizers
from rnncourse.data.mackey_glass import mackey_glass
from rnncourse.data.neighbour_sum import NeighbourSum, neighbour_sum
from rnncourse.data.recall import AssociativeRecall, associative_recall
from rnncourse.data.selective_copy import SelectiveCopy, selective_copy
from rnncourse.data.sine import SineWaves, sine_waves
from rnncourse.data.text import (
    CharCorpus,
    CharVocab,
    char_corpus,
    load_text,
    random_windows,
    truncated_windows,
)

__all__ = [
    "SineWaves",
    "sine_waves",
    "CharCorpus",
    "CharVocab",
    "char_corpus",
    "load_text",
    "random_windows",
    "truncated_windows",
    "DateBatches",
    "Tokenizer",
    "date_splits",
    "date_tokenizers",
    "mackey_glass",
    "NeighbourSum",
    "neighbour_sum",
    "SelectiveCopy",
    "selective_copy",
    "AssociativeRecall",
    "associative_recall",
]
