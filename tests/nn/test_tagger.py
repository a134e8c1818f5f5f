"""The tagger: one label per step, the same with the course's GRU as with torch's."""

import pytest
import torch

from rnncourse.nn import GRU, LSTM
from rnncourse.nn.tagger import Tagger


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_course_and_torch_layers_agree(layers, bidirectional):
    torch.manual_seed(0)
    theirs = Tagger(
        5,
        3,
        hidden_size=6,
        num_layers=layers,
        bidirectional=bidirectional,
        rnn=torch.nn.GRU,
    )
    ours = Tagger(
        5, 3, hidden_size=6, num_layers=layers, bidirectional=bidirectional, rnn=GRU
    )
    ours.load_state_dict(theirs.state_dict())
    idx = torch.randint(0, 5, (4, 7))
    out = ours(idx)
    assert out.shape == (4, 7, 3)
    torch.testing.assert_close(out, theirs(idx), rtol=0, atol=1e-6)


def test_bidirectional_output_at_the_first_step_depends_on_the_future():
    torch.manual_seed(1)
    model = Tagger(5, 3, hidden_size=4, bidirectional=True, rnn=LSTM)
    a = torch.tensor([[1, 2, 3, 4]])
    b = torch.tensor([[1, 2, 3, 0]])
    assert not torch.allclose(model(a)[0, 0], model(b)[0, 0])
    left_to_right = Tagger(5, 3, hidden_size=4, rnn=LSTM)
    torch.testing.assert_close(left_to_right(a)[0, :3], left_to_right(b)[0, :3])
