"""The saved-activation count grows linearly with the sequence length, as BPTT's stored states do."""
import torch
import torch.nn.functional as F

from rnncourse.cost import saved_bytes, step_cost
from rnncourse.nn import CharLM


def test_saved_bytes_counts_one_stored_tensor_once():
    x = torch.randn(100, requires_grad=True)
    loss, nbytes = saved_bytes(lambda: (x * x).sum())  # x is saved twice, counted once
    assert nbytes == 400 and loss.requires_grad


def test_memory_of_a_step_grows_linearly_with_T():
    model = CharLM(10, hidden_size=16, embed_size=4)

    def loss_fn(model, x):
        logits, _ = model(x)
        return F.cross_entropy(logits.flatten(0, 1), x.flatten())

    sizes = {T: step_cost(model, loss_fn, torch.randint(0, 10, (2, T)), repeats=1)[1] for T in (10, 20, 40)}
    per_step = (sizes[40] - sizes[20]) / 20
    assert per_step > 0
    assert abs((sizes[20] - sizes[10]) / 10 - per_step) < 1e-9 * per_step + 1  # exactly linear
    assert all(p.grad is None for p in model.parameters())
