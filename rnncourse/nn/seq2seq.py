"""An RNN encoder-decoder with Bahdanau attention, greedy decoding and beam search.

The encoder-decoder of Sutskever et al. (2014) and Cho et al. (2014) reads the
source into a fixed vector and writes the target from it; the attention of
Bahdanau et al. (2015) lets every decoder step look back at all the encoder's
states instead. Both are here, as one model with ``attention=None`` or a score
name ("additive", "dot", "general"), so they differ in nothing else.
The encoder is a bidirectional GRU (Cho et al. 2014), the decoder a GRU cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnncourse.nn._checks import check_token_ids
from rnncourse.nn.cross_attention import CrossAttention


@dataclass
class Seq2SeqConfig:
    src_vocab: int
    tgt_vocab: int
    embed_size: int = 32
    # per encoder direction; the decoder state has 2 * hidden_size units
    hidden_size: int = 64
    attn_size: int = 64
    # "additive", "dot", "general", or None: no attention
    attention: str | None = "additive"
    pad: int = 0  # the ids of the padding, start and end symbols
    sos: int = 1
    eos: int = 2


class Encoder(nn.Module):
    """A bidirectional GRU over the embedded source.

    src (B, S) int64, src_mask (B, S) bool (True on a prefix of each row) ->
    annotations h (B, S, 2H), where h_j = [forward h_j; backward h_j], zero on
    padding; and the summary [forward h_S; backward h_1] (B, 2H), the two final states.
    """

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.src_vocab, cfg.embed_size, padding_idx=cfg.pad)
        self.forward_rnn = nn.GRU(cfg.embed_size, cfg.hidden_size, batch_first=True)
        self.backward_rnn = nn.GRU(cfg.embed_size, cfg.hidden_size, batch_first=True)

    def forward(
        self, src: torch.Tensor, src_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        B, S = src.shape
        x = self.embed(src)  # (B, S, E)
        last = src_mask.sum(1) - 1  # (B,) the position of each sentence's last char
        # Each sentence is reversed within its own length, so that in both directions
        # the padding comes after the characters and cannot reach the states that
        # matter. (torch's packed sequences do the same, but their backward pass is
        # slow on a CPU.)
        flip = reverse_within_length(src_mask)[..., None]  # (B, S, 1) positions
        h_fwd, _ = self.forward_rnn(x)  # (B, S, H)
        # (B, S, H), the backward direction read on the flipped sentences
        h_bwd_flipped, _ = self.backward_rnn(x.gather(1, flip.expand_as(x)))
        h_bwd = h_bwd_flipped.gather(1, flip.expand_as(h_bwd_flipped))  # source order
        # (B, S, 2H), zero on padding
        h = torch.cat([h_fwd, h_bwd], dim=-1) * src_mask[..., None]
        rows = torch.arange(B)
        return h, torch.cat([h_fwd[rows, last], h_bwd[:, 0]], dim=-1)  # (B, 2H)


def reverse_within_length(mask: torch.Tensor) -> torch.Tensor:
    """mask (B, S) bool, True on a prefix of length L of each row -> positions (B, S)
    int64 that reverse the first L entries of the row and leave the padding in place."""
    j = torch.arange(mask.shape[1])  # (S,)
    L = mask.sum(1, keepdim=True)  # (B, 1)
    return torch.where(j < L, L - 1 - j, j)


@dataclass
class Memory:
    """What the decoder reads from the encoder, for B sentences (or B * K beams)."""

    keys: torch.Tensor  # (B, S, 2H) the annotations h_j
    # (B, S, A) the keys' part of the attention score; None without attention
    prepared: torch.Tensor | None
    mask: torch.Tensor  # (B, S) bool
    summary: torch.Tensor  # (B, 2H) the fixed context vector of the model without it

    def repeat(self, K: int) -> Memory:
        """Each sentence K times in a row, for K beams: (B, ...) -> (B * K, ...)."""
        rep = lambda t: None if t is None else t.repeat_interleave(K, dim=0)  # noqa: E731
        return Memory(
            rep(self.keys), rep(self.prepared), rep(self.mask), rep(self.summary)
        )


class Decoder(nn.Module):
    """One GRU cell step per target token, fed the previous token and a context vector.

    With attention the context c_i is recomputed at every step from the previous
    state s_{i-1}; without it, c_i is the encoder's summary at every step.
    """

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        D_k, D_s = 2 * cfg.hidden_size, 2 * cfg.hidden_size
        self.embed = nn.Embedding(cfg.tgt_vocab, cfg.embed_size, padding_idx=cfg.pad)
        self.attention = (
            CrossAttention(D_s, D_k, cfg.attn_size, cfg.attention)
            if cfg.attention
            else None
        )
        self.init = nn.Linear(D_k, D_s)
        self.cell = nn.GRUCell(cfg.embed_size + D_k, D_s)
        self.out = nn.Linear(D_s + D_k + cfg.embed_size, cfg.tgt_vocab)

    def start(self, memory: Memory) -> torch.Tensor:
        """The first state s_0 (B, D_s) from the encoder's summary."""
        # s_0 = tanh(W_s [forward h_S; backward h_1])
        return torch.tanh(self.init(memory.summary))

    def step(self, y_prev: torch.Tensor, s_prev: torch.Tensor, memory: Memory):
        """One decoder step.

        y_prev (B,) int64, s_prev (B, D_s) -> s_i (B, D_s), c_i (B, D_k),
        E y_{i-1} (B, E), alpha_i (B, S) or None.
        """
        e = self.embed(y_prev)  # (B, E)
        if self.attention is None:
            c, alpha = memory.summary, None
        else:
            # c_i = sum_j alpha_ij h_j, alpha_ij = softmax_j(a(s_{i-1}, h_j))
            c, alpha = self.attention(s_prev, memory.keys, memory.mask, memory.prepared)
        # s_i = GRU([E y_{i-1}; c_i], s_{i-1})
        s = self.cell(torch.cat([e, c], dim=-1), s_prev)
        return s, c, e, alpha

    def readout(
        self, s: torch.Tensor, c: torch.Tensor, e: torch.Tensor
    ) -> torch.Tensor:
        """(..., D_s), (..., D_k), (..., E) -> logits (..., V)."""
        # p(y_i | y_<i, x) = softmax(W_o [s_i; c_i; E y_{i-1}])
        return self.out(torch.cat([s, c, e], dim=-1))


class Seq2Seq(nn.Module):
    """Encoder, decoder, and three ways to use them.

    ``forward(src, src_mask, tgt_in)`` trains with teacher forcing and returns
    logits (B, T, V) and alignment weights (B, T, S) (None without attention);
    ``greedy`` and ``beam_search`` translate.
    """

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        _check_source(src, src_mask, self.cfg.src_vocab)
        keys, summary = self.encoder(src, src_mask)
        prepared = (
            self.decoder.attention.prepare(keys) if self.decoder.attention else None
        )
        return Memory(keys, prepared, src_mask, summary)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor):
        """Teacher forcing: the decoder reads the true previous token tgt_in[:, i],
        tgt_in (B, T), not its own guess."""
        memory = self.encode(src, src_mask)
        check_token_ids(tgt_in, self.cfg.tgt_vocab, name="tgt_in")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(
                f"tgt_in must have shape (B, T) with B={src.shape[0]} like src, "
                f"got {tuple(tgt_in.shape)}"
            )
        s = self.decoder.start(memory)
        states, contexts, embeds, alphas = [], [], [], []
        for i in range(tgt_in.shape[1]):
            s, c, e, alpha = self.decoder.step(tgt_in[:, i], s, memory)
            states.append(s), contexts.append(c), embeds.append(e), alphas.append(alpha)
        # The readout needs no recurrence, so it runs once on all steps: (B, T, V).
        logits = self.decoder.readout(
            torch.stack(states, 1), torch.stack(contexts, 1), torch.stack(embeds, 1)
        )
        return logits, (torch.stack(alphas, 1) if self.decoder.attention else None)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_mask: torch.Tensor, max_len: int = 12):
        """Pick the most likely token at every step.

        Returns tokens (B, L) int64, ending in <eos> then padding (L <= max_len), and
        alignment weights (B, L, S) (None without attention).
        """
        memory = self.encode(src, src_mask)
        s = self.decoder.start(memory)
        y = torch.full((src.shape[0],), self.cfg.sos, dtype=torch.long)
        done = torch.zeros(src.shape[0], dtype=torch.bool)
        tokens, alphas = [], []
        for _ in range(max_len):
            s, c, e, alpha = self.decoder.step(y, s, memory)
            y = self.decoder.readout(s, c, e).argmax(-1)  # (B,)
            y = y.masked_fill(done, self.cfg.pad)  # a finished sentence only pads
            tokens.append(y), alphas.append(alpha)
            done = done | (y == self.cfg.eos)
            if done.all():
                break
        return torch.stack(tokens, 1), (
            torch.stack(alphas, 1) if self.decoder.attention else None
        )

    @torch.no_grad()
    def beam_search(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor,
        beam_size: int = 3,
        max_len: int = 12,
        alpha: float = 1.0,
        step: Callable | None = None,
    ) -> torch.Tensor:
        """Keep the ``beam_size`` most likely partial translations of each sentence.

        A finished beam (it produced <eos>) stays in the race at no further cost;
        at the end, the finished translation with the best length-normalised score,
        ``log p(y | x) / |y|^alpha``, wins (alpha = 0: no normalisation). Returns tokens
        (B, L) int64 like ``greedy``; beam_size=1 is greedy decoding. ``step``: the
        function that keeps the best extensions, ``beam_step`` unless given (chapter 5
        passes the student's own).
        """
        if beam_size < 1:
            raise ValueError(f"beam_size must be a positive integer, got {beam_size}")
        B, K, V = src.shape[0], beam_size, self.cfg.tgt_vocab
        memory = self.encode(src, src_mask).repeat(K)  # (B * K, ...)
        s = self.decoder.start(memory)  # (B * K, D_s)
        y = torch.full((B * K,), self.cfg.sos, dtype=torch.long)
        scores = torch.full((B, K), float("-inf"))
        # the K beams start identical: keep one, or the first step picks K copies
        scores[:, 0] = 0.0
        tokens = torch.zeros(B, K, 0, dtype=torch.long)
        done = torch.zeros(B, K, dtype=torch.bool)
        lengths = torch.zeros(B, K)
        only_pad = torch.full((V,), float("-inf"))
        # a finished beam continues with padding, at log-probability 0
        only_pad[self.cfg.pad] = 0.0
        for _ in range(max_len):
            s, c, e, _ = self.decoder.step(y, s, memory)
            log_probs = F.log_softmax(self.decoder.readout(s, c, e), dim=-1).view(
                B, K, V
            )
            log_probs = torch.where(done[..., None], only_pad, log_probs)
            scores, beam, token = (step or beam_step)(scores, log_probs, K)  # (B, K)
            tokens = torch.cat(
                [
                    tokens.gather(1, beam[..., None].expand(-1, -1, tokens.shape[2])),
                    token[..., None],
                ],
                2,
            )
            lengths = lengths.gather(1, beam) + ~done.gather(1, beam)
            done = done.gather(1, beam) | (token == self.cfg.eos)
            # each new beam continues its parent's state
            s = s[(torch.arange(B)[:, None] * K + beam).flatten()]
            y = token.flatten()
            if done.all():
                break
        best = (scores / lengths.clamp(min=1) ** alpha).argmax(1)  # (B,)
        return tokens[torch.arange(B), best]


def beam_step(scores: torch.Tensor, log_probs: torch.Tensor, k: int):
    """One step of beam search: the k best continuations among all K beams' next tokens.

    scores: (B, K) accumulated log-probabilities of the beams; log_probs: (B, K, V),
    each beam's log-probabilities of its next token. Returns the new scores (B, k),
    best first, and for each the beam it extends (B, k) and its token (B, k), int64.
    """
    B, K, V = log_probs.shape
    # log p(y_1..y_i | x) = log p(y_1..y_{i-1} | x) + log p(y_i | y_<i, x)
    candidates = (scores[:, :, None] + log_probs).reshape(B, K * V)  # (B, K*V)
    top, index = candidates.topk(k, dim=-1)  # (B, k)
    return top, index // V, index % V


def teacher_forcing_loss(model: Seq2Seq, batch) -> torch.Tensor:
    """Cross-entropy of each next target token, padding excluded.

    ``batch`` has src, src_mask, tgt_in, tgt_out.
    """
    logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
    return F.cross_entropy(
        logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=model.cfg.pad
    )


def _check_source(src: torch.Tensor, src_mask: torch.Tensor, vocab_size: int) -> None:
    check_token_ids(src, vocab_size, name="src", shape="(B, S)")
    if src_mask.shape != src.shape or src_mask.dtype != torch.bool:
        raise ValueError(
            f"src_mask must be a bool tensor of shape (B, S) = {tuple(src.shape)}, "
            f"got {src_mask.dtype} of shape {tuple(src_mask.shape)}"
        )
    lengths = src_mask.sum(1)
    if (lengths == 0).any() or not torch.equal(
        src_mask, torch.arange(src.shape[1]) < lengths[:, None]
    ):
        raise ValueError(
            "src_mask must be True on a non-empty prefix of each row (the characters) "
            "and False after it (the padding)"
        )
