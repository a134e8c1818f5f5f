"""Chapter 6's checkers accept the reference and reject planted mistakes, each with its
own sentence."""

import pytest
import torch

from rnncourse.exercises import check_combine, check_ssm_kernel, check_zoh
from rnncourse.exercises.linear_rnns import combine_reference
from rnncourse.nn.s4d import ssm_kernel, zoh

from ._helpers import _message, _not_solved


def test_references_pass(capsys):
    check_combine(combine_reference)
    check_zoh(zoh)
    check_ssm_kernel(ssm_kernel)
    check_ssm_kernel(
        lambda A_bar, B_bar, C, L: (  # the same kernel written with exp and log
            2
            * (C * B_bar)[..., None]
            .mul(torch.exp(torch.log(A_bar)[..., None] * torch.arange(L)))
            .sum(1)
            .real
        )
    )
    assert capsys.readouterr().out.count("correct on all") == 4


COMBINE_PLANTED = {
    "swapped order": (lambda a1, b1, a2, b2: (a2 * a1, b1 + a1 * b2), "wrong order"),
    "b1 not decayed": (
        lambda a1, b1, a2, b2: (a1 * a2, b2 + b1),
        "b1 was not multiplied by a2",
    ),
    "own decay": (
        lambda a1, b1, a2, b2: (a1 * a2, b1 * a1 + b2),
        "its own step's decay",
    ),
    "added decays": (
        lambda a1, b1, a2, b2: (a1 + a2, a2 * b1 + b2),
        "the decays were added",
    ),
    "b2 decayed": (
        lambda a1, b1, a2, b2: (a1 * a2, a2 * b1 + a2 * b2),
        "b2 was multiplied by a2",
    ),
    "results swapped": (lambda a1, b1, a2, b2: (a2 * b1 + b2, a1 * a2), "swapped"),
    "detached": (
        lambda a1, b1, a2, b2: tuple(
            x.detach() for x in combine_reference(a1, b1, a2, b2)
        ),
        "no gradient flows",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", COMBINE_PLANTED)
def test_combine_rejects(name):
    fn, expected = COMBINE_PLANTED[name]
    assert expected in _message(check_combine, fn)


def _zoh_with(A_bar, B_bar):
    def wrong(A, B, delta):
        dt = delta[:, None]
        return A_bar(A, dt), B_bar(A, B, dt)

    return wrong


ZOH_PLANTED = {
    "Euler": (
        _zoh_with(lambda A, dt: 1 + dt * A, lambda A, B, dt: dt * B),
        "Euler's method",
    ),
    "no delta in B_bar": (
        _zoh_with(
            lambda A, dt: torch.exp(dt * A),
            lambda A, B, dt: (torch.exp(dt * A) - 1) / (dt * A) * B,
        ),
        "lacks the factor delta",
    ),
    "delta twice in B_bar": (
        _zoh_with(
            lambda A, dt: torch.exp(dt * A),
            lambda A, B, dt: dt * B * (torch.exp(dt * A) - 1) / A,
        ),
        "one factor delta too many",
    ),
    "Mamba's shortcut": (
        _zoh_with(lambda A, dt: torch.exp(dt * A), lambda A, B, dt: B * dt),
        "first-order shortcut",
    ),
    "bilinear": (
        _zoh_with(
            lambda A, dt: (2 + dt * A) / (2 - dt * A),
            lambda A, B, dt: 2 * dt * B / (2 - dt * A),
        ),
        "bilinear",
    ),
    "no step in A_bar": (
        lambda A, B, delta: (A.exp(), (A.exp() - 1) / A * B),
        "left out the step size",
    ),
    "delta on the wrong axis": (
        lambda A, B, delta: zoh(A, B, delta.mean().expand_as(delta)),
        "A_bar is wrong at channel",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", ZOH_PLANTED)
def test_zoh_rejects(name):
    fn, expected = ZOH_PLANTED[name]
    assert expected in _message(check_zoh, fn)


def _powers(A_bar, L, first=0):
    return A_bar[..., None] ** torch.arange(first, first + L)


KERNEL_PLANTED = {
    "off by one power": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C * B_bar)[..., None] * _powers(A_bar, L, 1)).sum(1).real
        ),
        "one power ahead",
    ),
    "no B_bar": (
        lambda A_bar, B_bar, C, L: 2 * (C[..., None] * _powers(A_bar, L)).sum(1).real,
        "leaves out B_bar",
    ),
    "no factor 2": (
        lambda A_bar, B_bar, C, L: (
            ((C * B_bar)[..., None] * _powers(A_bar, L)).sum(1).real
        ),
        "half the right one",
    ),
    "modulus": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C * B_bar)[..., None] * _powers(A_bar, L)).abs().sum(1)
        ),
        "modulus",
    ),
    "real parts first": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C.real * B_bar.real)[..., None] * _powers(A_bar.real, L)).sum(1)
        ),
        "real parts before multiplying",
    ),
    "complex result": (
        lambda A_bar, B_bar, C, L: (
            2 * ((C * B_bar)[..., None] * _powers(A_bar, L)).sum(1)
        ),
        "is complex",
    ),
    "reversed": (
        lambda A_bar, B_bar, C, L: ssm_kernel(A_bar, B_bar, C, L).flip(-1),
        "reversed in time",
    ),
    "summed over channels": (
        lambda A_bar, B_bar, C, L: ssm_kernel(A_bar, B_bar, C, L).sum(0),
        "K has shape",
    ),
    "not solved": (_not_solved, "not solved yet"),
}


@pytest.mark.parametrize("name", KERNEL_PLANTED)
def test_ssm_kernel_rejects(name):
    fn, expected = KERNEL_PLANTED[name]
    assert expected in _message(check_ssm_kernel, fn)


@pytest.mark.parametrize(
    "checker,planted",
    [
        (check_combine, COMBINE_PLANTED),
        (check_zoh, ZOH_PLANTED),
        (check_ssm_kernel, KERNEL_PLANTED),
    ],
)
def test_each_planted_mistake_gets_its_own_message(checker, planted):
    messages = [_message(checker, fn) for fn, _ in planted.values()]
    assert len(set(messages)) == len(messages)
