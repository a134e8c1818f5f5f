"""S4D: zero-order hold against a matrix exponential, and the three views (recurrence,
scan, convolution) against one another and against float64 references."""

import pytest
import torch

from rnncourse.nn.s4d import S4D, causal_convolution, ssm_kernel, zoh

F64 = torch.float64


def _model(H=3, N=4, dtype=F64, seed=0):
    torch.manual_seed(seed)
    model = S4D(H, N, dt_min=0.01, dt_max=0.5, dtype=dtype)
    with (
        torch.no_grad()
    ):  # move away from the symmetric initialisation, so every parameter matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_zoh_is_the_exact_solution_of_the_hold():
    # Van Loan: exp([[ΔA, ΔB], [0, 0]]) = [[Ā, B̄], [0, 1]] for one mode, the exact
    # solution under a held input
    torch.manual_seed(0)
    A = torch.complex(
        -torch.rand(3, 4, dtype=F64) - 0.1, 3 * torch.randn(3, 4, dtype=F64)
    )
    B = torch.randn(3, 4, dtype=torch.complex128)
    delta = torch.rand(3, dtype=F64) + 0.01
    A_bar, B_bar = zoh(A, B, delta)
    for h in range(3):
        for n in range(4):
            M = torch.zeros(2, 2, dtype=torch.complex128)
            M[0, 0], M[0, 1] = delta[h] * A[h, n], delta[h] * B[h, n]
            E = torch.linalg.matrix_exp(M)
            torch.testing.assert_close(A_bar[h, n], E[0, 0], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(B_bar[h, n], E[0, 1], rtol=1e-12, atol=1e-12)


def test_kernel_is_the_impulse_response():
    model = _model()
    L = 17
    impulse = torch.zeros(1, L, 3, dtype=F64)
    impulse[:, 0] = 1.0
    # take away the skip term D u
    response = model(impulse, view="recurrence") - model.D * impulse
    torch.testing.assert_close(response[0].T, model.kernel(L), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("L", [1, 2, 7, 64])
def test_fft_convolution_matches_a_direct_sum(L):
    torch.manual_seed(L)
    u, K = torch.randn(2, L, 3, dtype=F64), torch.randn(3, L, dtype=F64)
    direct = torch.stack(
        [sum(K[:, k] * u[:, t - k] for k in range(t + 1)) for t in range(L)], dim=1
    )
    torch.testing.assert_close(causal_convolution(u, K), direct, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("L", [1, 5, 63, 200])
@pytest.mark.parametrize("impl", ["loop", "parallel"])
def test_three_views_agree_in_float64(L, impl):
    model = _model()
    u = torch.randn(2, L, 3, dtype=F64)
    recurrence = model(u, view="recurrence")
    torch.testing.assert_close(
        model(u, view="scan", impl=impl), recurrence, rtol=1e-10, atol=1e-10
    )
    torch.testing.assert_close(
        model(u, view="convolution"), recurrence, rtol=1e-10, atol=1e-10
    )


def test_float32_views_agree_with_the_float64_reference():
    model64 = _model()
    model32 = _model(dtype=torch.float32)
    model32.load_state_dict({k: v.float() for k, v in model64.state_dict().items()})
    u = torch.randn(4, 100, 3, dtype=F64)
    reference = model64(u, view="recurrence")
    for view in S4D.views:
        torch.testing.assert_close(
            model32(u.float(), view=view).double(), reference, rtol=1e-4, atol=1e-4
        )


def test_gradients_agree_across_views():
    model = _model()
    u = torch.randn(2, 30, 3, dtype=F64, requires_grad=True)
    w = torch.randn(2, 30, 3, dtype=F64)
    grads = {}
    for view in S4D.views:
        model.zero_grad()
        u.grad = None
        (model(u, view=view) * w).sum().backward()
        grads[view] = [u.grad.clone()] + [p.grad.clone() for p in model.parameters()]
    for view in ("scan", "convolution"):
        for g, ref in zip(grads[view], grads["recurrence"]):
            torch.testing.assert_close(g, ref, rtol=1e-8, atol=1e-10)


def test_kernel_decays_and_is_real():
    K = ssm_kernel(*_model().discrete(), 500)
    assert K.dtype == F64 and K.shape == (3, 500)
    # Re(A) < 0: the memory fades
    assert K[:, -50:].abs().max() < 1e-2 * K[:, :50].abs().max()


def test_step_continues_the_recurrence():
    model = _model()
    u = torch.randn(2, 9, 3, dtype=F64)
    x = torch.zeros(2, 3, 4, dtype=torch.complex128)
    for t in range(5):
        _, x = model.step(u[:, t], x)
    y_t, _ = model.step(u[:, 5], x)
    torch.testing.assert_close(y_t, model(u, view="recurrence")[:, 5])


def test_bad_input():
    model = _model(dtype=torch.float32)
    with pytest.raises(ValueError, match="3 features"):
        model(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="dtype torch.float32"):
        model(torch.randn(2, 5, 3, dtype=F64))
    with pytest.raises(ValueError, match="empty sequence"):
        model(torch.randn(2, 0, 3))
    with pytest.raises(ValueError, match="must be batched"):
        model(torch.randn(5, 3))
    with pytest.raises(ValueError, match="view must be one of"):
        model(torch.randn(2, 5, 3), view="fourier")
    with pytest.raises(ValueError, match=r"must have shape \(2, 3, 4\)"):
        model.step(torch.randn(2, 3), torch.zeros(2, 3, 5, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"u_t must have shape \(B, H\)"):
        model.step(torch.randn(2, 4), torch.zeros(2, 3, 4, dtype=torch.complex64))
