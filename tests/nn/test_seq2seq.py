"""The encoder-decoder: shapes, padding, teacher forcing, greedy decoding and beam
search."""

import pytest
import torch

from rnncourse import seed_everything, train
from rnncourse.nn.seq2seq import (
    Seq2Seq,
    Seq2SeqConfig,
    beam_step,
    reverse_within_length,
    teacher_forcing_loss,
)


def _model(attention="additive", V_src=11, V_tgt=9):
    seed_everything(0)
    return Seq2Seq(
        Seq2SeqConfig(
            V_src, V_tgt, embed_size=8, hidden_size=6, attn_size=5, attention=attention
        )
    ).eval()


def _source(lengths=(7, 3, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    S = max(lengths)
    mask = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
    src = torch.randint(3, 11, (len(lengths), S), generator=g).masked_fill(~mask, 0)
    return src, mask


def test_reverse_within_length():
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    assert reverse_within_length(mask).tolist() == [[2, 1, 0, 3], [0, 1, 2, 3]]


def test_encoder_matches_torch_bidirectional_gru_on_each_sentence_alone():
    model = _model()
    src, mask = _source()
    h, summary = model.encoder(src, mask)
    gru = torch.nn.GRU(8, 6, batch_first=True, bidirectional=True)
    enc = model.encoder
    gru.load_state_dict(
        {
            **{k: v for k, v in enc.forward_rnn.state_dict().items()},
            **{k + "_reverse": v for k, v in enc.backward_rnn.state_dict().items()},
        }
    )
    for b, L in enumerate(mask.sum(1).tolist()):
        out, h_n = gru(enc.embed(src[b : b + 1, :L]))  # one sentence, no padding at all
        torch.testing.assert_close(h[b, :L], out[0])
        torch.testing.assert_close(summary[b], torch.cat([h_n[0, 0], h_n[1, 0]]))
        assert (h[b, L:] == 0).all()


@pytest.mark.parametrize("attention", ["additive", "dot", "general", None])
def test_teacher_forcing_shapes_and_padding(attention):
    model = _model(attention)
    src, mask = _source()
    tgt_in = torch.randint(3, 9, (3, 4))
    logits, alpha = model(src, mask, tgt_in)
    assert logits.shape == (3, 4, 9)
    if attention is None:
        assert alpha is None
    else:
        assert (
            alpha.shape == (3, 4, 7)
            and (alpha[~mask[:, None, :].expand_as(alpha)] == 0).all()
        )
        torch.testing.assert_close(alpha.sum(-1), torch.ones(3, 4))
    # whatever ids sit in the padding change nothing
    logits2, _ = model(src.masked_fill(~mask, 5), mask, tgt_in)
    torch.testing.assert_close(logits, logits2)


def test_the_no_attention_decoder_sees_only_the_final_states():
    model = _model(None)
    src, mask = _source(lengths=(6, 6))
    logits, _ = model(src, mask, torch.randint(3, 9, (2, 3)))
    memory = model.encode(src, mask)
    memory.keys = torch.randn_like(memory.keys)  # the annotations are not read
    s = model.decoder.start(memory)
    s, c, e, _ = model.decoder.step(torch.full((2,), 1), s, memory)
    torch.testing.assert_close(c, memory.summary)


@pytest.mark.parametrize("attention", ["additive", None])
def test_beam_width_one_is_greedy(attention):
    model = _model(attention)
    src, mask = _source(lengths=(7, 3, 5, 1, 6), seed=1)
    greedy, _ = model.greedy(src, mask, max_len=6)
    beam = model.beam_search(src, mask, beam_size=1, max_len=6)
    assert torch.equal(greedy, beam)


def test_beam_search_finds_a_sequence_at_least_as_likely_as_greedy():
    model = _model()
    src, mask = _source(lengths=(7, 3, 5, 1, 6), seed=2)

    def log_prob(tokens):  # log p(y | x) of each row, up to and including its <eos>
        tgt_in = torch.cat([torch.full((len(tokens), 1), 1), tokens[:, :-1]], 1)
        logits, _ = model(src, mask, tgt_in)
        lp = torch.log_softmax(logits, -1).gather(2, tokens[..., None])[..., 0]
        return (lp * (tokens != 0)).sum(1)

    greedy, _ = model.greedy(src, mask, max_len=5)
    beam = model.beam_search(src, mask, beam_size=4, max_len=5, alpha=0.0)
    pad = lambda t: torch.nn.functional.pad(t, (0, 5 - t.shape[1]))  # noqa: E731
    assert (log_prob(pad(beam)) >= log_prob(pad(greedy)) - 1e-5).all()


def test_beam_step_accumulates_log_probabilities():
    scores = torch.tensor([[0.0, -1.0]])
    log_probs = torch.log(torch.tensor([[[0.5, 0.5, 0.0], [0.9, 0.05, 0.05]]]))
    top, beam, token = beam_step(scores, log_probs, 3)
    torch.testing.assert_close(
        top, torch.tensor([[-0.6931, -0.6931, -1.1054]]), atol=1e-4, rtol=0
    )
    assert beam.tolist() == [[0, 0, 1]] and token[0, 2] == 0


def test_a_small_model_learns_to_reverse():
    seed_everything(0)
    model = Seq2Seq(Seq2SeqConfig(8, 8, embed_size=16, hidden_size=32, attn_size=16))
    g = torch.Generator().manual_seed(0)

    class Batch:
        def __init__(self):
            self.src = torch.randint(3, 8, (32, 5), generator=g)
            self.src_mask = torch.ones(32, 5, dtype=torch.bool)
            y = torch.cat([self.src.flip(1), torch.full((32, 1), 2)], 1)
            self.tgt_in, self.tgt_out = (
                torch.cat([torch.full((32, 1), 1), y[:, :-1]], 1),
                y,
            )

    history = train(
        model, teacher_forcing_loss, Batch, steps=300, lr=1e-2, progress=False
    )
    assert history.losses[-1] < 0.1 * history.losses[0]


def test_bad_input_names_the_expected_shape():
    model = _model()
    src, mask = _source()
    with pytest.raises(ValueError, match=r"src must hold token ids in \[0, 11\)"):
        model.greedy(src.float(), mask)
    with pytest.raises(
        ValueError, match=r"src_mask must be a bool tensor of shape \(B, S\) = \(3, 7\)"
    ):
        model.greedy(src, mask[:, :5])
    with pytest.raises(ValueError, match="True on a non-empty prefix"):
        model.greedy(src, mask.flip(1))
    with pytest.raises(
        ValueError, match=r"tgt_in must have shape \(B, T\) with B=3 like src"
    ):
        model(src, mask, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="beam_size must be a positive integer"):
        model.beam_search(src, mask, beam_size=0)
