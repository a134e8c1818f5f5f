"""Chapter 9's language models by configuration: ``build(config)`` makes the model a
configuration describes.

Every model maps token ids ``idx (B, T)`` to ``(logits (B, T, V), state)`` and takes the
state back with the next tokens; one configuration dataclass per model.
"""

from __future__ import annotations

import torch

from rnncourse.nn.lstm_lm import LSTMLM, LSTMConfig
from rnncourse.nn.mamba_lm import Mamba, MambaConfig
from rnncourse.nn.retnet_lm import RetNet, RetNetConfig
from rnncourse.nn.rwkv import RWKV, RWKVConfig
from rnncourse.nn.transformer import Transformer, TransformerConfig

#: The model class of each configuration class, for ``build``.
MODEL_CLASSES = {
    LSTMConfig: LSTMLM,
    TransformerConfig: Transformer,
    RetNetConfig: RetNet,
    RWKVConfig: RWKV,
    MambaConfig: Mamba,
}


def build(config) -> torch.nn.Module:
    """The model a configuration describes: ``build(RWKVConfig(V, 64, n_layers=2))`` is
    an ``RWKV``."""
    if type(config) not in MODEL_CLASSES:
        names = ", ".join(c.__name__ for c in MODEL_CLASSES)
        raise ValueError(
            f"expected a model configuration ({names}), got {type(config).__name__}"
        )
    return MODEL_CLASSES[type(config)](config)
