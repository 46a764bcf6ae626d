import numpy as np
import pytest
import torch

import hitslite as h
from hitslite.steppers import Stepper


class Biased(Stepper):
    """A stepper plus a constant error per step (a planted bad level)."""

    def __init__(self, inner, bias):
        super().__init__()
        self.inner, self.bias, self.dt = inner, bias, inner.dt

    def forward(self, x):
        return self.inner(x) + self.bias


class Drift(Stepper):
    """x -> x + c dt: exact for x' = c, so linear interpolation between its states is exact."""

    def __init__(self, dt, c=0.3):
        super().__init__()
        self.dt, self.c = dt, c

    def forward(self, x):
        return x + self.c * self.dt


def naive_forecast(levels, x0, n_steps):
    """Algorithm 1 written as plain recursion, one state at a time (no batching)."""
    levels = sorted(levels, key=lambda s: -s.dt)
    h_ = levels[-1].dt
    strides = [round(s.dt / h_) for s in levels]
    known = {0: x0}

    def fill(level, j, x):
        """(j, x) is known: let every finer level step from it, recursively."""
        if level + 1 == len(levels):
            return
        finer = level + 1
        fill(finer, j, x)
        for m in range(1, (strides[level] - 1) // strides[finer] + 1):
            x = levels[finer](x)
            known.setdefault(j + m * strides[finer], x)
            fill(finer, j + m * strides[finer], x)

    x = x0
    coarse = [(0, x0)]
    for m in range(1, -(-n_steps // strides[0]) + 1):
        x = levels[0](x)
        known[m * strides[0]] = x
        coarse.append((m * strides[0], x))
    for j, xj in coarse[:-1]:
        fill(0, j, xj)
    return torch.stack([known[j] for j in range(n_steps + 1)], dim=1)


def test_hierarchy_of_repeated_rk4_reproduces_fine_rk4(gen):
    system = h.get_system("van_der_pol")
    x0 = system.sample_initial(8, gen)
    fine = h.RK4(system, 0.01)
    hier = h.Hierarchy([h.Repeated(fine, 2**k) for k in range(9)])
    pred = hier.forecast(x0, 1000)
    ref = h.rollout(fine, x0, 1000)
    assert float((pred.x - ref.x).abs().max()) <= 1e-10
    assert pred.meta["known"].all() and pred.dt == 0.01


def test_vectorised_forecast_equals_naive_composition(gen):
    torch.manual_seed(0)
    levels = [h.ResNetStepper(3, 0.01 * 2**k, hidden=[16, 16]).double() for k in (0, 2, 3, 6)]
    x0 = torch.randn(5, 3, generator=gen, dtype=torch.float64) * 0.1
    hier = h.Hierarchy(levels)
    with torch.no_grad():
        fast = hier.forecast(x0, 200, check_finite=False).x
        slow = naive_forecast(levels, x0, 200)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-12)


def test_levels_are_sorted_and_costs_counted():
    hier = h.Hierarchy([Drift(0.01), Drift(0.08), Drift(0.02)])
    assert hier.dts == [0.08, 0.02, 0.01] and hier.dt == 0.01
    cost = hier.cost(64)
    # coarse: 8 calls; 0.02: 3 calls from 8 sources; 0.01: 1 call from 32 sources
    assert cost == {"calls": 8 + 3 + 1, "evaluations": 8 + 3 * 8 + 32}


def test_interpolation_fills_the_output_grid_exactly_for_linear_motion():
    hier = h.Hierarchy([Drift(0.64), Drift(0.08)])
    x0 = torch.zeros(2, 1, dtype=torch.float64)
    traj = hier.forecast(x0, 100, dt=0.01)
    assert torch.allclose(traj.x[0, :, 0], 0.3 * traj.t, atol=1e-12)
    assert int(traj.meta["known"].sum()) == 13  # indices 0, 8, ..., 96 (and 104 beyond the horizon)


def test_interpolate_gaps_keeps_known_states_and_is_linear_between():
    from hitslite.trajectory import interpolate_gaps

    gen = torch.Generator().manual_seed(3)
    idx = torch.tensor([0, 3, 4, 10, 16])
    x = torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)
    out = interpolate_gaps(idx, x, 12)  # the horizon ends between two known indices
    assert out.shape == (2, 13, 3)
    assert torch.equal(out[:, idx[:4]], x[:, :4])  # bit for bit at known indices
    want = np.stack([[np.interp(np.arange(13), idx.numpy(), x[b, :, d].numpy()) for d in range(3)]
                     for b in range(2)]).transpose(0, 2, 1)
    assert np.allclose(out.numpy(), want, atol=1e-14)
    inf = x.clone()
    inf[:, -1] = float("inf")  # a non-finite state beyond the last needed interval does not leak back
    assert torch.isfinite(interpolate_gaps(idx, inf, 10)).all()


def test_hybrid_is_a_hierarchy_with_a_classical_finest_level(gen):
    system = h.get_system("hyperbolic")
    x0 = system.sample_initial(4, gen)
    fine = h.RK4(system, 0.01)
    coarse = h.Repeated(fine, 64)  # stands in for a trained 0.64 network
    hybrid = h.Hierarchy([coarse, fine])
    ref = h.rollout(fine, x0, 300)
    assert torch.allclose(hybrid.forecast(x0, 300).x, ref.x, atol=1e-12)
    assert hybrid.cost(300)["calls"] == 5 + 63  # versus 300 sequential RK4 steps


def test_bad_step_sizes_and_divergence_raise():
    with pytest.raises(ValueError, match="integer multiple"):
        h.Hierarchy([Drift(0.03), Drift(0.02)])
    with pytest.raises(ValueError, match="integer multiple"):
        h.Hierarchy([Drift(0.08), Drift(0.02)]).forecast(torch.zeros(1, 1), 10, dt=0.03)
    with pytest.raises(ValueError, match="repeated step sizes"):
        h.Hierarchy([Drift(0.02), Drift(0.02)])
    with pytest.raises(ValueError, match="x0 must be"):
        h.Hierarchy([Drift(0.02)]).forecast(torch.zeros(3), 10)
    blow = h.Hierarchy([Biased(Drift(0.04), float("inf")), Drift(0.01)])
    with pytest.raises(h.ForecastDivergedError, match="step 4"):
        blow.forecast(torch.zeros(2, 1), 20)


def test_level_selection_recovers_a_planted_range(gen):
    system = h.get_system("harmonic_oscillator")
    fine = h.RK4(system, 0.01)
    exact = [h.Repeated(fine, 2**k) for k in range(6)]
    # NNTS 0-1 drift a little every step, NNTS 4-5 are badly wrong: the best coupling is 2-3
    steppers = [Biased(exact[0], 2e-3), Biased(exact[1], 2e-3), exact[2], exact[3],
                Biased(exact[4], 0.2), Biased(exact[5], 0.2)]
    x0 = system.sample_initial(16, gen)
    val = h.rollout(fine, x0, 256)
    sel = h.select_levels(steppers, val)
    assert (sel.lower, sel.upper) == (2, 3), (sel.upper_scores, sel.lower_scores)
    assert sel.hierarchy.dts == [0.08, 0.04]
    assert sel.error == min(sel.lower_scores.values())
    with pytest.raises(ValueError, match="finest first"):
        h.select_levels(steppers[::-1], val)


def test_multiscale_beats_every_single_level_on_a_planted_case(gen):
    """Every level errs by the same bias per step: fine levels accumulate it over many steps, coarse
    levels interpolate across the rotation; the hierarchy beats each of them (HiTS Fig. 2 in miniature)."""
    from hitslite.metrics import integrated_mse

    system = h.get_system("harmonic_oscillator")
    fine = h.RK4(system, 0.01)
    levels = [Biased(h.Repeated(fine, 2**k), 1e-4) for k in range(6)]
    x0 = system.sample_initial(16, gen)
    truth = h.rollout(fine, x0, 512)
    multi = integrated_mse(h.Hierarchy(levels).forecast(x0, 512), truth)
    singles = [integrated_mse(h.Hierarchy([s]).forecast(x0, 512, dt=0.01), truth) for s in levels]
    assert multi < min(singles) / 3, (multi, singles)


class CountingStepper(Stepper):
    """A ResNet stepper that records the batch size of every call it serves."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.dt, self.calls = inner, inner.dt, []
        self.hidden, self.state_shape = inner.hidden, inner.state_shape

    def forward(self, x):
        self.calls.append(x.shape[0])
        return self.inner(x)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chunked_forecast_equals_the_unchunked_one_and_caps_every_call(gen, dtype):
    torch.manual_seed(0)
    inner = [h.ResNetStepper(3, 0.01 * 2**k, hidden=[32, 32]).to(dtype) for k in (0, 1, 3, 5)]
    levels = [CountingStepper(s) for s in inner]
    x0 = (torch.randn(7, 3, generator=gen, dtype=torch.float64) * 0.1).to(dtype)
    hier = h.Hierarchy(levels)
    with torch.no_grad():
        whole = hier.forecast(x0, 300, check_finite=False)
        largest = max(max(s.calls) for s in levels)
        for s in levels:
            s.calls.clear()
        chunked = hier.forecast(x0, 300, check_finite=False, chunk_size=10)
    assert largest > 10  # the unchunked forecast does batch beyond the cap
    assert max(max(s.calls) for s in levels) <= 10
    # per-row results do not depend on how rows are grouped, up to the summation order of the matmuls
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(chunked.x, whole.x, rtol=tol, atol=tol)
    assert torch.equal(chunked.meta["known"], whole.meta["known"])


def test_chunked_forecast_keeps_gradients_and_checks_its_argument(gen):
    torch.manual_seed(0)
    levels = [h.ResNetStepper(2, 0.01 * 2**k, hidden=[8]) for k in (0, 2)]
    x0 = torch.randn(4, 2, generator=gen) * 0.1
    hier = h.Hierarchy(levels)
    hier.forecast(x0, 16, chunk_size=3).x.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hier.parameters())
    for bad in (0, -1, 2.5, True):
        with pytest.raises((ValueError, TypeError), match="chunk_size"):
            hier.forecast(x0, 16, chunk_size=bad)


def test_chunk_size_for_a_memory_budget():
    levels = [h.ResNetStepper(3, 0.01 * 2**k, hidden=[64, 256, 64]) for k in (0, 1)]
    hier = h.Hierarchy(levels)
    per_state = (2 * 256 + 3) * 4  # float32: the widest layer in and out, plus the state
    assert h.multiscale.chunk_size_for(hier, 1000 * per_state) == 1000
    assert h.multiscale.chunk_size_for(hier, 1000 * per_state, dtype=torch.float64) == 500
    with pytest.raises(ValueError, match="memory_bytes"):
        h.multiscale.chunk_size_for(hier, 10)
    with pytest.raises(TypeError, match="hierarchy"):
        h.multiscale.chunk_size_for(levels[0], 1e6)
