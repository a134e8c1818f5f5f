"""The whole nbgrader loop, as an instructor runs it, on every chapter.

For each chapter: the unchanged student version gets zero on every autograded cell
without crashing the grader; and a submission with two planted faults, one plain
mistake and one answer that hands the work to the package's own solution (or to
torch's fused op, or to autograd where the exercise is by hand), loses exactly those
two exercises' points and keeps every other. (The faults are planted in exercises
that no other exercise of the chapter calls.) That the submission keeps the rest
shows that the reference solutions get full marks. (Each chapter runs twice under
nbgrader, so this is the slowest test.)
"""

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from grade import grade  # noqa: E402
from student_version import student_version  # noqa: E402

# chapter -> {an exercise's solution grade_id: the body planted in place of its
# solution}
PLANTED = {
    "01_rnn_basics": {
        "unroll": (  # keeps each state from before its step, not after
            "    h, hs = h0, []\n"
            "    for t in range(x.shape[1]):\n"
            "        hs.append(h)\n"
            "        h = rnn_step(x[:, t], h, W_xh, W_hh, b_h)\n"
            "    return torch.stack(hs, dim=1), h\n"
        ),
        "temperature_probs": (
            "    from rnncourse.nn.sampling import temperature_probs as ours\n"
            "    return ours(logits, temperature)\n"
        ),
    },
    "02_bptt": {
        "step_backward": (
            "    g = dh\n"  # forgets the tanh's derivative
            "    return g @ W_hh, g.T @ x, g.T @ h_prev, g.sum(dim=0)\n"
        ),
        "grad_h0": (  # autograd, where the exercise is backpropagation by hand
            "    h0 = h0.detach().requires_grad_()\n"
            "    h, loss = h0, 0\n"
            "    for t in range(x.shape[1]):\n"
            "        h = torch.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)\n"
            "        loss = loss + (h * dL_dh[:, t]).sum()\n"
            "    return torch.autograd.grad(loss, h0)[0]\n"
        ),
    },
    "03_vanishing_exploding": {
        "clip_by_norm": (  # each tensor clipped on its own
            "    return [g * min(1.0, max_norm / g.norm()) for g in grads]\n"
        ),
        "jacobian_product": (
            "    from rnncourse.probes import jacobian_product as ours\n"
            "    J = ours(hs, W_hh)\n"
            "    return J, torch.linalg.matrix_norm(J, ord=2)\n"
        ),
    },
    "04_lstm_gru": {
        "gru_cell": (  # the reset gate applied after the recurrent bias is left out
            "    x_r, x_z, x_n = (x_t @ W_ih.T + b_ih).chunk(3, dim=1)\n"
            "    h_r, h_z, h_n = (h_prev @ W_hh.T + b_hh).chunk(3, dim=1)\n"
            "    r_t, z_t = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)\n"
            "    return z_t * torch.tanh(x_n + r_t * h_n) + (1 - z_t) * h_prev\n"
        ),
        "lstm_cell": (  # torch's fused cell
            "    return torch.lstm_cell(\n"
            "        x_t, (h_prev, c_prev), W_ih, W_hh, b_ih, b_hh\n"
            "    )\n"
        ),
    },
    "05_seq2seq_attention": {
        "masked_softmax": "    return torch.softmax(scores, dim=-1)\n",
        "beam_step": (
            "    from rnncourse.nn.seq2seq import beam_step as ours\n"
            "    return ours(scores, log_probs, k)\n"
        ),
    },
    "06_linear_rnns": {
        "combine": "    return a1 * a2, a1 * b2 + b1\n",  # the steps in the wrong order
        "zoh": (
            "    from rnncourse.nn.s4d import zoh as ours\n"
            "    return ours(A, B, delta)\n"
        ),
    },
    "07_linear_attention": {
        "wkv_step": (  # ignores the running maximum p of the state it is given
            "    wkv = (torch.exp(p) * a + torch.exp(u + k) * v) / "
            "(torch.exp(p) * b + torch.exp(u + k))\n"
            "    a2 = torch.exp(-w) * a + torch.exp(k) * v\n"
            "    b2 = torch.exp(-w) * b + torch.exp(k)\n"
            "    return wkv, a2, b2, torch.zeros_like(p)\n"
        ),
        "linear_attention_recurrent": (
            "    from rnncourse.ops import linear_attention\n"
            "    log_gamma = torch.tensor([math.log(gamma)], dtype=q.dtype)\n"
            "    o = linear_attention(q[None, None], k[None, None], v[None, None],\n"
            "                         log_gamma, impl='recurrent')\n"
            "    return o[0, 0]\n"
        ),
    },
    "08_flash_attention": {
        "longest_naive": "    return int(math.sqrt(memory_bytes / (4 * B * H)))\n",
        "attention_tile": (
            "    import torch.nn.functional as F\n"
            "    R, T = q_i.shape[0], k.shape[0]\n"
            "    s = scale * q_i @ k.T\n"
            "    if causal:\n"
            "        rows = torch.arange(i0, i0 + R)[:, None]\n"
            "        later = torch.arange(T)[None, :] > rows\n"
            "        s = s.masked_fill(later, float('-inf'))\n"
            "    L = torch.logsumexp(s, dim=-1)\n"
            "    return F.softmax(s, dim=-1) @ v, L\n"
        ),
    },
    "09_choosing_architecture": {
        "cache_bytes": "    return config.n_layers * T * config.d_model * 4\n",
        "state_numbers": (
            "    from rnncourse.exercises.choosing_architecture import (\n"
            "        state_numbers_reference,\n"
            "    )\n"
            "    return state_numbers_reference(config)\n"
        ),
    },
}


def _plant(nb, bodies: dict[str, str]):
    """The reference notebook with some solutions replaced."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in bodies:
            cell.source = re.sub(
                r"[ \t]*### BEGIN SOLUTION\n.*?### END SOLUTION\n?",
                lambda _: bodies[grade_id],
                cell.source,
                flags=re.S,
            )
            # a planted body that does not parse would lose its points for the
            # wrong reason
            ast.parse(cell.source)
    return nb


def _points(nb) -> dict[str, float]:
    """Each autograded cell's grade_id and its points."""
    return {
        c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions")
    for chapter, bodies in PLANTED.items():
        reference = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
        for student, nb in {
            "unchanged": student_version(reference),
            "planted": _plant(reference, bodies),
        }.items():
            (submissions / student).mkdir(exist_ok=True)
            nbformat.write(nb, submissions / student / f"{chapter}.ipynb")
    rows = grade(submissions, tmp_path_factory.mktemp("course"))
    return {(row["student"], row["chapter"]): row for row in rows}


def test_every_chapter_with_exercises_is_graded():
    chapters = {
        path.stem
        for path in (ROOT / "notebooks").glob("*.ipynb")
        if _points(nbformat.read(path, as_version=4))
    }
    assert chapters == set(PLANTED)


@pytest.mark.parametrize("chapter", PLANTED)
def test_unchanged_student_version_gets_zero(graded, chapter):
    row = graded["unchanged", chapter]
    assert row["max_score"] > 0 and row["score"] == 0


@pytest.mark.parametrize("chapter", PLANTED)
def test_planted_faults_lose_exactly_their_exercises(graded, chapter):
    points = _points(
        nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    )
    row = graded["planted", chapter]
    lost = {f"check_{name}" for name in PLANTED[chapter]}
    assert {check: row[check] for check in points} == {
        check: 0 if check in lost else earned for check, earned in points.items()
    }
    assert row["score"] == row["max_score"] - sum(points[check] for check in lost)
